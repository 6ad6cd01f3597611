"""Test helpers: a local HTTP file server with fault injection, and small zips in the TAU layout.

No network is used: the server listens on 127.0.0.1 on a free port, in a thread, and serves in-memory bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import wave
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOP = "TAU-urban-acoustic-scenes-2020-mobile-development"
PREFIX = f"{TOP}."


@dataclass
class Faults:
    """Per-file misbehaviour; the counters are consumed request by request."""

    cut_after: int | None = None  # send only this many body bytes, then close the connection ...
    cut_times: int = 0  # ... on this many requests
    corrupt_times: int = 0  # flip a byte in the body on this many requests (a large number = always)
    fail_503: int = 0  # answer 503 this many times first
    ignore_range: bool = False  # answer 200 with the whole file even to Range requests


@dataclass
class Seen:
    path: str
    range: str | None
    status: int
    sent: int = 0  # body bytes written


@dataclass
class FileServer:
    files: dict[str, bytes]
    faults: dict[str, Faults] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def __enter__(self) -> FileServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for it, and the default 0.5 s per test adds up.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/files"

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        name = path.rsplit("/", 1)[-1]
        rng = h.headers.get("Range")
        seen = Seen(path, rng, 0)
        self.requests.append(seen)
        f = self.faults.setdefault(name, Faults())
        if name not in self.files:
            seen.status = 404
            h.send_error(404)
            return
        if f.fail_503 > 0:
            f.fail_503 -= 1
            seen.status = 503
            h.send_error(503)
            return
        data = self.files[name]
        if f.corrupt_times > 0:
            f.corrupt_times -= 1
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not f.ignore_range:
            start = int(m.group(1))
            if start >= len(data):
                seen.status = 416
                h.send_error(416)
                return
        body = data[start:]
        seen.status = 206 if start else 200
        h.send_response(seen.status)
        h.send_header("Content-Length", str(len(body)))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if f.cut_times > 0 and f.cut_after is not None:
            f.cut_times -= 1
            body = body[: f.cut_after]
            h.close_connection = True
        seen.sent = len(body)  # recorded before writing: the client may finish before this thread resumes
        h.wfile.write(body)
        h.wfile.flush()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tiny_wav(n_samples: int = 2000, seed: int = 0) -> bytes:
    """A short 24-bit mono 44.1 kHz WAV (the TAU format), deterministic noise-like content."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(44100)
        w.writeframes(bytes((i * 37 + seed * 101) % 251 for i in range(3 * n_samples)))
    return buf.getvalue()


def make_zip(members: dict[str, bytes], *, compress: bool = False) -> bytes:
    """Zip bytes with members written in order, names used verbatim (even unsafe ones)."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


META_CSV = (
    b"filename\tscene_label\tidentifier\tsource_label\n"
    b"audio/airport-lisbon-1000-40000-a.wav\tairport\tlisbon-1000\ta\n"
    b"audio/bus-paris-10-400-s1.wav\tbus\tparis-10\ts1\n"
)


def tau_meta_zip() -> bytes:
    return make_zip(
        {
            f"{TOP}/": b"",
            f"{TOP}/meta.csv": META_CSV,
            f"{TOP}/evaluation_setup/fold1_train.csv": b"filename\tscene_label\naudio/airport-lisbon-1000-40000-a.wav\tairport\n",
            f"{TOP}/evaluation_setup/fold1_evaluate.csv": b"filename\tscene_label\naudio/bus-paris-10-400-s1.wav\tbus\n",
            f"{TOP}/evaluation_setup/fold1_test.csv": b"filename\naudio/bus-paris-10-400-s1.wav\n",
        },
        compress=True,
    )


def tau_audio_zip() -> bytes:
    return make_zip(
        {
            f"{TOP}/audio/airport-lisbon-1000-40000-a.wav": tiny_wav(seed=1),
            f"{TOP}/audio/bus-paris-10-400-s1.wav": tiny_wav(seed=2),
        }
    )


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
