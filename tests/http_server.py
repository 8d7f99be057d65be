"""A local, range-capable HTTP server for the remote-input tests (127.0.0.1 only, never the internet).

``RangeServer(folder)`` serves the files of ``folder`` with ``Range: bytes=...`` support (single
and multipart ranges, HEAD), HTTP/1.1 keep-alive, and bookkeeping: ``body_bytes`` (bytes of file
content sent, by file name), ``requests`` (count). It answers at most ``max_requests`` requests
(then 503, counted in ``refused``), and drops the connection half-way through the body of the
next ``drops`` answers larger than 1 KiB after the first ``drop_skip`` such answers (fault
injection: ``drop_skip=2`` spares the two header reads of a pair and hits a tile read). Use as a context manager: the
server thread starts on enter and stops on exit. Every file lives under a random path prefix,
so no client-side cache (GDAL's) carries over between two servers.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DROP_MIN_BYTES = 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # s an idle keep-alive connection is held

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        server: RangeServer = self.server.owner
        if not server.admit():
            self._reply(503, b"too many requests", body)
            return
        path = server.resolve(self.path)
        if path is None:
            self._reply(404, b"not found", body)
            return
        with open(path, "rb") as f:
            data = f.read()
        ranges = self._ranges(len(data))
        if ranges is None:
            self._reply(200, data, body, name=os.path.basename(path))
        elif not ranges:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif len(ranges) == 1:
            start, end = ranges[0]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self._send(data[start:end + 1], body, os.path.basename(path), "application/octet-stream")
        else:
            boundary = secrets.token_hex(8)
            parts = b"".join(f"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes "
                             f"{s}-{e}/{len(data)}\r\n\r\n".encode() + data[s:e + 1] + b"\r\n" for s, e in ranges)
            self.send_response(206)
            self._send(parts + f"--{boundary}--\r\n".encode(), body, os.path.basename(path),
                       f"multipart/byteranges; boundary={boundary}")

    def _ranges(self, size: int):
        """None: no Range header; []: unsatisfiable; else [(start, end inclusive), ...]."""
        header = self.headers.get("Range")
        if not header or not header.startswith("bytes="):
            return None
        out = []
        for spec in header[len("bytes="):].split(","):
            m = re.fullmatch(r"\s*(\d*)-(\d*)\s*", spec)
            if not m or (not m.group(1) and not m.group(2)):
                return []
            if m.group(1):
                start, end = int(m.group(1)), int(m.group(2)) if m.group(2) else size - 1
            else:
                start, end = max(0, size - int(m.group(2))), size - 1
            if start < size:
                out.append((start, min(end, size - 1)))
        return out

    def _reply(self, status: int, payload: bytes, body: bool, name: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self._send(payload, body, name, "application/octet-stream")

    def _send(self, payload: bytes, body: bool, name: str | None, kind: str) -> None:
        server: RangeServer = self.server.owner
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not body:
            return
        if name is not None and len(payload) > DROP_MIN_BYTES and server.take_drop():
            half = payload[:len(payload) // 2]
            self.wfile.write(half)
            self.wfile.flush()
            server.count(name, len(half))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)
        if name is not None:
            server.count(name, len(payload))


class RangeServer:
    """See the module docstring. ``url(name)``: the address of a file of ``folder``."""

    def __init__(self, folder, max_requests: int = 400, drops: int = 0, drop_skip: int = 0):
        self.folder = os.fspath(folder)
        self.max_requests = max_requests
        self.drops = drops
        self.drop_skip = drop_skip
        self.requests = 0
        self.refused = 0
        self.dropped = 0
        self.body_bytes: dict[str, int] = {}
        self.prefix = secrets.token_hex(6)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RangeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def url(self, name: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{self.prefix}/{name}"

    def resolve(self, request_path: str) -> str | None:
        path = request_path.split("?", 1)[0]
        head = f"/{self.prefix}/"
        if not path.startswith(head):
            return None
        name = path[len(head):]
        full = os.path.join(self.folder, name)
        if "/" in name or name.startswith(".") or not os.path.isfile(full):
            return None
        return full

    def admit(self) -> bool:
        with self._lock:
            self.requests += 1
            if self.requests > self.max_requests:
                self.refused += 1
                return False
            return True

    def take_drop(self) -> bool:
        with self._lock:
            if self.drop_skip > 0:
                self.drop_skip -= 1
                return False
            if self.drops > 0:
                self.drops -= 1
                self.dropped += 1
                return True
            return False

    def count(self, name: str, nbytes: int) -> None:
        with self._lock:
            self.body_bytes[name] = self.body_bytes.get(name, 0) + nbytes
