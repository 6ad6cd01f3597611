"""One archive over HTTP: streamed to ``<dest>/<name>.part``, resumed with an HTTP Range request after an
interruption, retried with backoff while tries make progress, hashed while streaming, and renamed to
``<dest>/<name>`` only when size and MD5 match.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from asc.core.disk import explain_full_disk
from asc.core.progress import progress_bar
from asc.data import checksums
from asc.data.checksums import Archive

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 429}  # client errors that are worth retrying; all 5xx are too
_USER_AGENT = "asc-downloader/1.0 (+urllib)"
_BYTE_BAR: dict[str, Any] = {"unit": "B", "unit_scale": True, "unit_divisor": 1024}


class DownloadError(RuntimeError):
    """A download failed for good (after retries, or at once for errors a retry cannot fix)."""


class _Transient(Exception):
    """An error worth retrying: connection trouble, timeout, truncated body, 5xx."""


def byte_bar(total: int, initial: int, desc: str, show: bool, *, leave: bool) -> Any:
    """A tqdm bar counting bytes (KiB, MiB, ...) when ``show``, else one the log's heartbeat reports."""
    return progress_bar(total=total, initial=initial, desc=desc, leave=leave, show=show, **_BYTE_BAR)


def _label(name: str) -> str:
    # "TAU-urban-...-development.audio.1.zip" -> "audio.1.zip": the shared dataset prefix only eats bar width.
    _, _, rest = name.partition(".")
    return rest if len(name) > 28 and "." in rest else name


def download_archive(
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
    """Download ``a`` from url into dest, retrying while tries make progress, and fetching the whole file
    again once if its MD5 is wrong; ``overall`` is the bar of all archives, kept in step."""
    part, final = checksums.part_path(dest, a), dest / a.name
    failures, refetched = 0, False
    while True:
        before = checksums.file_size(part)
        try:
            actual = _attempt(a, url, part, timeout=timeout, show=show, overall=overall)
        except _Transient as e:
            failures = 0 if checksums.file_size(part) > before else failures + 1
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
        checksums.write_sidecar(final, actual)
        log.info("downloaded %s (%d bytes, md5 ok)", a.name, a.bytes)
        return


def _read(resp: Any, size: int, offset: int, total: int) -> bytes:
    try:
        return resp.read(size)
    except (OSError, http.client.HTTPException) as e:
        raise _Transient(f"connection lost after {offset} of {total} bytes: {e}") from e


def _request(a: Archive, url: str, part: Path, offset: int, *, timeout: float, overall: Any) -> Any:
    """Open ``url`` from byte ``offset`` (a Range request when resuming); _Transient for what a retry may cure
    (a stale range: the part is deleted; 5xx, throttling, network errors), DownloadError for the rest."""
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        log.info("resuming %s at %d of %d bytes", a.name, offset, a.bytes)
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
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


def _starts_over(resp: Any, a: Archive, url: str, offset: int, *, overall: Any) -> bool:
    """Whether the response sends the whole file although we resumed at ``offset`` (it ignored the range: the
    ``overall`` bar is set back by ``offset``); DownloadError for a partial response at another offset or a length that does not add up to the archive's."""
    over = False
    if resp.status == 206:
        start = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
        if not start or int(start.group(1)) != offset:
            raise DownloadError(
                f"{url}: bad Content-Range {resp.headers.get('Content-Range')!r} for {offset}-"
            )
    elif offset:
        log.info("%s: server ignored the range request, starting over", a.name)
        overall.update(-offset)
        over, offset = True, 0
    length = resp.headers.get("Content-Length")
    if length is not None and int(length) != a.bytes - offset:
        raise DownloadError(
            f"{url}: server announces {length} bytes, expected {a.bytes - offset} ({a.name} has {a.bytes} "
            f"bytes); wrong URL or stale size table?"
        )
    return over


def _attempt(a: Archive, url: str, part: Path, *, timeout: float, show: bool, overall: Any) -> str:
    """One request; appends to the part file and returns the MD5 of the complete file."""
    offset = checksums.file_size(part)
    if offset > a.bytes:  # not a prefix of this archive (and never counted in the bars): start over
        part.unlink()
        offset = 0
    h = hashlib.md5()
    if offset:
        checksums.md5_update(h, part)  # hash the existing prefix once, then continue with the new bytes
    if offset == a.bytes:  # complete part left by a run that stopped before the rename
        return h.hexdigest()

    resp = _request(a, url, part, offset, timeout=timeout, overall=overall)
    with resp:
        if _starts_over(resp, a, url, offset, overall=overall):  # 200: the server ignored the Range header
            offset, h = 0, hashlib.md5()
        # A full disk or quota is no network fault to retry: one line naming the folder (asc.core.disk).
        with (
            explain_full_disk(part.parent, f"the download {part.name}", need=a.bytes - offset),
            open(part, "ab" if offset else "wb") as f,
            byte_bar(a.bytes, offset, _label(a.name), show, leave=False) as bar,
        ):
            while chunk := _read(resp, checksums.CHUNK, offset, a.bytes):
                if offset + len(chunk) > a.bytes:
                    raise DownloadError(f"{url}: body longer than the expected {a.bytes} bytes")
                f.write(chunk)
                h.update(chunk)
                offset += len(chunk)
                bar.update(len(chunk))
                overall.update(len(chunk))
            if offset == a.bytes:
                f.flush()
                os.fsync(f.fileno())  # the rename must not outlive the data on a crash
    if offset < a.bytes:
        raise _Transient(f"truncated body: {offset} of {a.bytes} bytes")
    return h.hexdigest()
