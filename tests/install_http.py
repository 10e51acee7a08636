"""A loopback HTTP file server with Range support and fault modes, for download tests.

Faults (set on `server.faults` before a request): `cut_after` bytes of the body for the first `cut_times`
GETs, then the connection is dropped; `ignore_range` answers 200 with the whole file; `extra_length` adds to
Content-Length (a server that announces more than it sends). Unknown paths answer 404. Every GET is recorded
(path, Range header, status, body bytes sent), before it is answered.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Faults:
    cut_after: int | None = None
    cut_times: int = 1
    ignore_range: bool = False
    extra_length: int = 0


@dataclass
class Request:
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class FileServer:
    files: dict[str, bytes] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    requests: list[Request] = field(default_factory=list)

    def start(self) -> FileServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="file-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    @property
    def bytes_sent(self) -> int:
        return sum(r.sent for r in self.requests)


_RANGE = re.compile(r"bytes=(\d+)-$")


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            name = self.path.lstrip("/")
            data = server.files.get(name)
            wanted = self.headers.get("Range")
            if data is None:  # every request is recorded before it is answered: tests read the log at once
                server.requests.append(Request(name, wanted, 404, 0))
                self._answer(404, b"not found", {})
                return
            faults = server.faults
            start = 0
            match = _RANGE.match(wanted or "")
            if match and not faults.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    server.requests.append(Request(name, wanted, 416, 0))
                    self._answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
            status = 206 if start else 200
            body = data[start:]
            headers = {"Content-Length": str(len(body) + faults.extra_length), "ETag": '"v1"'}
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            cut = faults.cut_after if faults.cut_after is not None and faults.cut_times > 0 else None
            if cut is not None:
                faults.cut_times -= 1
                body = body[:cut]
            server.requests.append(Request(name, wanted, status, len(body)))
            self.send_response(status)
            for key, value in {"Content-Type": "application/gzip", **headers}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if cut is not None or faults.extra_length:
                self.close_connection = True

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
