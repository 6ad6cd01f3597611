"""Split ("spanned") zip archives as Info-ZIP's ``zip -s`` writes them, read in place: FSD50K's audio on Zenodo
(``FSD50K.dev_audio.z01``-``z05`` + ``.zip``, ``FSD50K.eval_audio.z01`` + ``.zip``).

Format (APPNOTE 4.3; Info-ZIP zip 3.0): a split archive of n+1 files is parts ``<stem>.z01`` … ``<stem>.zNN``
followed by ``<stem>.zip``, the last "disk", which holds the end of the central directory. The first part may
start with the spanning signature ``PK\\x07\\x08``. Each central-directory entry carries the number of the disk
where its local header starts and that header's offset *within that disk* (zip64 extra field when over 4 GiB);
a member's data may run on into the next part. The end record (zip64 when needed) names the disk count and where
the central directory starts. The standard library's ``zipfile`` reads none of this correctly (it ignores the
disk numbers, or refuses a zip64 archive of more than one disk).

Design: **read in place, never join on disk.** The parts are presented as one virtual file (their bytes end to
end, :class:`_Joined`) followed by a rewritten central directory whose offsets are absolute in that file and whose
disk numbers are 0 — what ``zip -s 0`` writes, but held in memory (a few MB for FSD50K's 41k clips). ``zipfile``
then opens it as an ordinary zip and does the rest: member names, decompression and the CRC-32 check of every
member. Joining on disk (``zip -s 0``) would write the 18 GB of dev audio a second time (parts + joined file +
extracted WAVs ≈ 3x); read in place the disk holds the parts and the extracted audio only, and with
``dataset.delete_archives`` the parts go once extracted. Extraction itself (lock, temporary names then rename, no
path traversal) is :func:`asc.data.archive.extract` with :func:`open_split` as its opener. Torch-free.
"""

from __future__ import annotations

import bisect
import io
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

from asc.core.errors import InputError

SPAN = b"PK\x07\x08"  # spanning signature at the start of the first part
LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"
END = b"PK\x05\x06"
END64 = b"PK\x06\x06"
LOCATOR64 = b"PK\x06\x07"
_END = struct.Struct(
    "<4s4H2LH"
)  # signature, this disk, CD disk, entries here, entries, CD size, CD offset, comment
_LOCATOR = struct.Struct("<4sLQL")  # signature, disk of the zip64 end record, its offset there, disks
_END64 = struct.Struct(
    "<4sQ2H2L4Q"
)  # signature, size, versions, this disk, CD disk, entries x2, CD size, offset
_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # a central-directory entry's fixed 46 bytes (APPNOTE 4.3.12)
_FULL32, _FULL16 = 0xFFFFFFFF, 0xFFFF
_ZIP64 = 0x0001  # the zip64 extended-information extra field


def part_paths(final: Path, parts: int) -> list[Path]:
    """The files of a split archive in disk order: ``<stem>.z01`` … ``<stem>.z{parts:02d}``, then ``final``
    (``<stem>.zip``) itself."""
    final = Path(final)
    return [final.with_suffix(f".z{i:02d}") for i in range(1, parts + 1)] + [final]


class _Joined(io.RawIOBase):
    """Read-only, seekable view of byte sources end to end: files (by path; opened on first read, closed with
    the view) and in-memory bytes."""

    def __init__(self, sources: list[Path | bytes]) -> None:
        super().__init__()
        self._sources = sources
        self._sizes = [len(s) if isinstance(s, bytes) else s.stat().st_size for s in sources]
        self._starts = [sum(self._sizes[:i]) for i in range(len(sources))]
        self._size = sum(self._sizes)
        self._files: dict[int, IO[bytes]] = {}
        self._pos = 0

    @property
    def starts(self) -> list[int]:
        """Offset of each source in the joined bytes."""
        return list(self._starts)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            k = bisect.bisect_right(self._starts, self._pos) - 1
            within = self._pos - self._starts[k]
            n = min(len(view) - done, self._sizes[k] - within)
            source = self._sources[k]
            if isinstance(source, bytes):
                view[done : done + n] = source[within : within + n]
            else:
                if k not in self._files:
                    self._files[k] = open(source, "rb")  # closed with the view (close)
                f = self._files[k]
                f.seek(within)
                n = f.readinto(view[done : done + n]) or 0
                if n == 0:
                    raise InputError(f"{source} ended early (changed while being read?); download it again")
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        super().close()


class SplitZipFile(zipfile.ZipFile):
    """A ``zipfile.ZipFile`` over the parts of a split archive (:func:`open_split`); closing it closes them."""

    _joined: _Joined

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._joined.close()


def open_split(final: Path, parts: int) -> SplitZipFile:
    """Open the split archive whose last file is ``final`` (``<stem>.zip``) and whose ``parts`` parts
    (``<stem>.z01`` …) lie beside it, as an ordinary ZipFile: member offsets absolute, every read CRC-checked.
    Raises FileNotFoundError when ``final`` is missing, InputError (one line, naming the file) when a part is
    missing or the files are not one split archive of ``parts`` + 1 disks (e.g. a part of another archive's set)."""
    files = part_paths(final, parts)
    if not Path(final).is_file():
        raise FileNotFoundError(final)
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise InputError(
            f"{final.name} is split into {parts + 1} files, but {', '.join(missing)} is not beside it in "
            f"{final.parent}; download it (dataset.archives must list every part)"
        )
    joined = _Joined(list(files))
    try:
        cd_start, cd_size, entries = _central_directory(joined, files)
        joined.seek(cd_start)
        directory = _absolute(joined.read(cd_size), joined.starts, final)
        tail = directory + _end_records(joined.starts[-1] + files[-1].stat().st_size, len(directory), entries)
        whole = _Joined([*files, tail])
        joined.close()
        zf = SplitZipFile(io.BufferedReader(whole, buffer_size=1 << 16))
    except (struct.error, zipfile.BadZipFile) as err:
        joined.close()
        raise InputError(
            f"{final} and its parts are not a readable split zip ({err}); download them again"
        ) from None
    except BaseException:
        joined.close()
        raise
    zf._joined = whole
    return zf


def _central_directory(joined: _Joined, files: list[Path]) -> tuple[int, int, int]:
    """(start of the central directory in the joined bytes, its size, its entries) from the end record(s) of
    the last file; InputError when the archive's disk count is not the number of files."""
    final = files[-1]
    size = final.stat().st_size
    with open(final, "rb") as f:
        f.seek(max(size - (_END.size + _FULL16), 0))
        tail = f.read()
    at = tail.rfind(END)
    if at < 0 or len(tail) - at < _END.size:
        raise InputError(
            f"{final} has no zip end record; it is not the .zip of a split archive (download it again)"
        )
    _, disk, cd_disk, _, entries, cd_size, cd_offset, _ = _END.unpack_from(tail, at)
    if _FULL16 in (disk, cd_disk, entries) or _FULL32 in (cd_size, cd_offset):
        locator = tail[at - _LOCATOR.size : at]
        if at < _LOCATOR.size or not locator.startswith(LOCATOR64):
            raise InputError(f"{final}: zip64 end locator missing; download it again")
        _, end_disk, end_offset, disks = _LOCATOR.unpack(locator)
        joined.seek(joined.starts[end_disk] + end_offset)
        record = _END64.unpack(joined.read(_END64.size))
        if record[0] != END64:
            raise InputError(f"{final}: zip64 end record missing; download it again")
        disk, cd_disk, entries, cd_size, cd_offset = record[4], record[5], record[7], record[8], record[9]
    if disk + 1 != len(files) or cd_disk > disk:
        raise InputError(
            f"{final} ends a split archive of {disk + 1} file(s), but {len(files)} were given "
            f"({files[0].name} … {final.name}): a part of another archive's set, or the wrong count of parts"
        )
    return joined.starts[cd_disk] + cd_offset, cd_size, entries


def _absolute(directory: bytes, starts: list[int], final: Path) -> bytes:
    """The central directory with every entry on disk 0 at its absolute offset (always in a zip64 extra field,
    which ``zipfile`` reads; sizes kept as they were)."""
    out, at = [], 0
    while at < len(directory):
        fields = list(_ENTRY.unpack_from(directory, at))
        if fields[0] != CENTRAL:
            raise InputError(f"{final}: central directory damaged at byte {at}; download the archive again")
        n_name, n_extra, n_comment = fields[12:15]
        name = directory[at + _ENTRY.size : at + _ENTRY.size + n_name]
        extra = directory[at + _ENTRY.size + n_name : at + _ENTRY.size + n_name + n_extra]
        comment = directory[
            at + _ENTRY.size + n_name + n_extra : at + _ENTRY.size + n_name + n_extra + n_comment
        ]
        kept, sizes, offset, disk = _split_extra(extra, fields[11], fields[10], fields[18], fields[15])
        if disk >= len(starts):
            raise InputError(
                f"{final}: member {name.decode('cp437')!r} lies on disk {disk + 1}, but the archive has "
                f"{len(starts)} files"
            )
        zip64 = struct.pack(f"<{len(sizes) + 1}Q", *sizes, starts[disk] + offset)
        extra = kept + struct.pack("<2H", _ZIP64, len(zip64)) + zip64
        fields[13], fields[15], fields[18] = len(extra), 0, _FULL32
        out.append(_ENTRY.pack(*fields) + name + extra + comment)
        at += _ENTRY.size + n_name + n_extra + n_comment
    return b"".join(out)


def _split_extra(
    extra: bytes, size: int, compressed: int, offset: int, disk: int
) -> tuple[bytes, list, int, int]:
    """(the extra fields other than zip64, [size, compressed size] as far as the zip64 field carries them, the
    header offset, the disk) — each value from the zip64 field where the fixed field is all ones (APPNOTE 4.5.3)."""
    kept, sizes, at = b"", [], 0
    while at + 4 <= len(extra):
        kind, n = struct.unpack_from("<2H", extra, at)
        block = extra[at + 4 : at + 4 + n]
        if kind != _ZIP64:
            kept += extra[at : at + 4 + n]
        else:
            pos = 0
            for value, wide in ((size, 8), (compressed, 8)):
                if value == _FULL32:
                    sizes.append(struct.unpack_from("<Q", block, pos)[0])
                    pos += wide
            if offset == _FULL32:
                offset = struct.unpack_from("<Q", block, pos)[0]
                pos += 8
            if disk == _FULL16:
                disk = struct.unpack_from("<L", block, pos)[0]
        at += 4 + n
    return kept, sizes, offset, disk


def _end_records(cd_start: int, cd_size: int, entries: int) -> bytes:
    """A zip64 end record, its locator and the end record for one disk, the central directory at ``cd_start``."""
    record = _END64.pack(END64, _END64.size - 12, 45, 45, 0, 0, entries, entries, cd_size, cd_start)
    locator = _LOCATOR.pack(LOCATOR64, 0, cd_start + cd_size, 1)
    short = min(entries, _FULL16)
    return record + locator + _END.pack(END, 0, 0, short, short, _FULL32, _FULL32, 0)
