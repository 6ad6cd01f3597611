"""Resumable, verified downloads of Zenodo-style records (one URL per file, known size and MD5).

Each archive is streamed to ``<dest>/<name>.part`` (resumed with an HTTP Range request after an
interruption), hashed while streaming, and renamed to ``<dest>/<name>`` only when size and MD5 match.
A sidecar ``<name>.md5`` caches the checksum together with size and mtime so that later runs can skip
multi-gigabyte files without re-hashing them.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from asc.data.archive import file_lock
from asc.progress import show_progress

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_DISK_MARGIN = 256 << 20  # head-room left on the disk besides the archives themselves
_RETRY_STATUS = {408, 429}  # client errors that are worth retrying; all 5xx are too
_USER_AGENT = "asc-downloader/1.0 (+urllib)"
_BYTE_BAR: dict[str, Any] = {"unit": "B", "unit_scale": True, "unit_divisor": 1024}


@dataclass(frozen=True)
class Archive:
    name: str  # file name, e.g. "TAU-urban-acoustic-scenes-2020-mobile-development.meta.zip"
    bytes: int
    md5: str

    def __post_init__(self) -> None:
        # The name becomes a path under dest: refuse anything that is not a plain file name.
        if not self.name or "/" in self.name or "\\" in self.name or self.name in {".", ".."}:
            raise ValueError(f"archive name must be a plain file name, got {self.name!r}")
        if self.bytes < 0:
            raise ValueError(f"{self.name}: negative size {self.bytes}")
        if not re.fullmatch(r"[0-9a-f]{32}", self.md5):
            raise ValueError(f"{self.name}: md5 must be 32 lower-case hex digits, got {self.md5!r}")


class DownloadError(RuntimeError):
    """A download failed for good (after retries, or at once for errors a retry cannot fix)."""


class _Transient(Exception):
    """An error worth retrying: connection trouble, timeout, truncated body, 5xx."""


def archives_from_config(files: Mapping[str, Any], selected: Sequence[str]) -> list[Archive]:
    """Build archives from a config table ``{prefix, [suffix], <key>: {bytes, md5}, ...}``.

    The file name is ``prefix + key + suffix`` (suffix defaults to ".zip"); ``selected`` lists keys.
    """
    prefix = str(files.get("prefix", ""))
    suffix = str(files.get("suffix", ".zip"))
    table = {str(k): v for k, v in files.items() if isinstance(v, Mapping)}
    if isinstance(selected, str):  # a bare string would otherwise be iterated character by character
        selected = [selected]
    keys = list(dict.fromkeys(str(s) for s in selected))
    unknown = [k for k in keys if k not in table]
    if unknown:
        raise ValueError(f"unknown archive name(s) {unknown}; valid names: {', '.join(table)}")
    out = []
    for key in keys:
        spec = table[key]
        if "bytes" not in spec or "md5" not in spec:
            raise ValueError(f"archive {key!r} needs both 'bytes' and 'md5' in the config")
        out.append(Archive(f"{prefix}{key}{suffix}", int(spec["bytes"]), str(spec["md5"]).lower()))
    return out


def fetch(
    archives: Sequence[Archive],
    base_url: str,
    dest: Path,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool | None = None,
    url_template: str = "{base_url}/{name}?download=1",
) -> list[Path]:
    """Download every archive into dest (verified), skipping those already verified; returns final paths.

    ``retries`` is the number of consecutive tries *without progress* before giving up on a file (a try
    that adds bytes to the part file resets the count, so a flaky link still finishes a 2 GB file).
    """
    if retries < 1:
        raise ValueError(f"retries must be >= 1, got {retries}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    show = show_progress(progress)
    base_url = base_url.rstrip("/")
    unique = list({a.name: a for a in archives}.values())

    # One fetch per folder at a time: parallel Hydra jobs would otherwise write the same part files.
    with file_lock(dest / ".fetch.lock"):
        todo = []
        for a in unique:
            if _verified(dest / a.name, a):
                log.info("skipped %s (already downloaded and verified)", a.name)
            else:
                todo.append(a)
        _check_disk(todo, dest)
        done = sum(a.bytes for a in unique) - sum(a.bytes - _usable_part(dest, a) for a in todo)
        with _bar(sum(a.bytes for a in unique), done, "download", show, leave=True) as overall:
            for a in todo:
                url = url_template.format(base_url=base_url, name=urllib.parse.quote(a.name))
                _download(a, url, dest, overall, retries=retries, backoff=backoff, timeout=timeout, show=show)
    return [dest / a.name for a in archives]


def _bar(total: int, initial: int, desc: str, show: bool, *, leave: bool) -> Any:
    return tqdm(total=total, initial=initial, desc=desc, leave=leave, disable=not show, **_BYTE_BAR)


def _label(name: str) -> str:
    # "TAU-urban-...-development.audio.1.zip" -> "audio.1.zip": the shared dataset prefix only eats bar width.
    _, _, rest = name.partition(".")
    return rest if len(name) > 28 and "." in rest else name


def _disk_free(path: Path) -> int:
    """Free bytes on the file system holding path (module-level so tests can patch it)."""
    return shutil.disk_usage(path).free


def _md5_update(h: Any, path: Path) -> Any:
    """Feed a file into a hash object; the only place that re-reads files (tests patch it)."""
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h


def _part(dest: Path, a: Archive) -> Path:
    return dest / f"{a.name}.part"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _usable_part(dest: Path, a: Archive) -> int:
    size = _size(_part(dest, a))
    return size if size <= a.bytes else 0


def _check_disk(todo: Sequence[Archive], dest: Path) -> None:
    if not todo:
        return
    missing = sum(a.bytes - _usable_part(dest, a) for a in todo)
    need, free = missing + _DISK_MARGIN, _disk_free(dest)
    if free < need:
        raise DownloadError(
            f"not enough free disk space in {dest}: need {_human(need)} ({need} bytes: {_human(missing)} still to "
            f"download for {len(todo)} archive(s) + {_human(_DISK_MARGIN)} margin), available {_human(free)} "
            f"({free} bytes)"
        )


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".md5")


def _write_sidecar(path: Path, md5: str) -> None:
    st = path.stat()
    side = _sidecar(path)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps({"md5": md5, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}) + "\n")
    os.replace(tmp, side)


def _verified(path: Path, a: Archive) -> bool:
    """True when path holds the archive. Cheap checks first: size, then the cached MD5 (if size and
    mtime still match); only without a valid cache is the file hashed, once."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != a.bytes:
        log.warning("%s has %d bytes, expected %d: downloading it again", a.name, st.st_size, a.bytes)
        path.unlink()
        return False
    try:
        cached = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        cached = None
    if cached == {"md5": a.md5, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}:
        return True
    log.info("verifying %s (no valid checksum cache)", a.name)
    actual = _md5_update(hashlib.md5(), path).hexdigest()
    if actual != a.md5:
        log.warning("%s: md5 %s, expected %s: downloading it again", a.name, actual, a.md5)
        path.unlink()
        _sidecar(path).unlink(missing_ok=True)
        return False
    _write_sidecar(path, actual)
    return True


def _download(
    a: Archive,
    url: str,
    dest: Path,
    overall: Any,
    *,
    retries: int,
    backoff: float,
    timeout: float,
    show: bool,
) -> None:
    part, final = _part(dest, a), dest / a.name
    failures, refetched = 0, False
    while True:
        before = _size(part)
        try:
            actual = _attempt(a, url, part, timeout=timeout, show=show, overall=overall)
        except _Transient as e:
            failures = 0 if _size(part) > before else failures + 1
            if failures >= retries:
                raise DownloadError(f"giving up on {url} after {retries} tries without progress: {e}") from e
            delay = min(backoff * 2 ** max(failures - 1, 0), 60.0)
            log.warning("%s: %s; retrying in %.2f s", a.name, e, delay)
            time.sleep(delay)
            continue
        if actual != a.md5:
            # The bytes on disk are wrong somewhere; a resume cannot fix that, only a fresh copy can.
            part.unlink(missing_ok=True)
            overall.update(-a.bytes)
            if refetched:
                raise DownloadError(
                    f"checksum mismatch for {a.name}: expected md5 {a.md5}, got {actual} "
                    f"(also after downloading the whole file again from {url})"
                )
            log.warning("%s: md5 %s, expected %s; downloading the whole file again", a.name, actual, a.md5)
            refetched, failures = True, 0
            continue
        os.replace(part, final)
        _write_sidecar(final, actual)
        log.info("downloaded %s (%d bytes, md5 ok)", a.name, a.bytes)
        return


def _attempt(a: Archive, url: str, part: Path, *, timeout: float, show: bool, overall: Any) -> str:
    """One request; appends to the part file and returns the MD5 of the complete file."""
    offset = _size(part)
    if offset > a.bytes:  # not a prefix of this archive (and never counted in the bars): start over
        part.unlink()
        offset = 0
    h = hashlib.md5()
    if offset:
        _md5_update(h, part)  # hash the existing prefix once, then continue with the new bytes
    if offset == a.bytes:  # complete part left by a run that stopped before the rename
        return h.hexdigest()

    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        log.info("resuming %s at %d of %d bytes", a.name, offset, a.bytes)
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:  # the server cannot serve our range: the part is stale
            part.unlink()
            overall.update(-offset)
            raise _Transient(f"HTTP 416 for bytes={offset}-, restarting from scratch") from e
        if e.code >= 500 or e.code in _RETRY_STATUS:
            raise _Transient(f"HTTP {e.code} {e.reason}") from e
        raise DownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
    except (OSError, http.client.HTTPException) as e:  # URLError, refused, reset, timeout
        raise _Transient(f"{type(e).__name__}: {e}") from e

    with resp:
        if resp.status == 206:
            start = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not start or int(start.group(1)) != offset:
                raise DownloadError(
                    f"{url}: bad Content-Range {resp.headers.get('Content-Range')!r} for {offset}-"
                )
        elif offset:  # 200: the server ignored the Range header and sends the whole file
            log.info("%s: server ignored the range request, starting over", a.name)
            overall.update(-offset)
            offset, h = 0, hashlib.md5()
        length = resp.headers.get("Content-Length")
        if length is not None and int(length) != a.bytes - offset:
            raise DownloadError(
                f"{url}: server announces {length} bytes, expected {a.bytes - offset} ({a.name} has {a.bytes} "
                f"bytes); wrong URL or stale size table?"
            )
        with (
            open(part, "ab" if offset else "wb") as f,
            _bar(a.bytes, offset, _label(a.name), show, leave=False) as bar,
        ):
            try:
                while chunk := resp.read(_CHUNK):
                    if offset + len(chunk) > a.bytes:
                        raise DownloadError(f"{url}: body longer than the expected {a.bytes} bytes")
                    f.write(chunk)
                    h.update(chunk)
                    offset += len(chunk)
                    bar.update(len(chunk))
                    overall.update(len(chunk))
            except (OSError, http.client.HTTPException) as e:
                raise _Transient(f"connection lost after {offset} of {a.bytes} bytes: {e}") from e
            if offset == a.bytes:
                f.flush()
                os.fsync(f.fileno())  # the rename must not outlive the data on a crash
    if offset < a.bytes:
        raise _Transient(f"truncated body: {offset} of {a.bytes} bytes")
    return h.hexdigest()
