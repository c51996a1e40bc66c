"""A loopback server that answers every request one byte at a time, for ever.

Each byte comes well within any per-read timeout, so only a wall-clock deadline
ends the exchange. ``mode`` says where the trickle starts: ``"headers"`` (the
status line and headers themselves, line by line), ``"body"`` (headers at once,
announcing a large body that then trickles) or ``"tls"`` (for an https:// client:
a TLS handshake record whose 16 KB trickle in, so the handshake never completes). Any path answers, so it stands in
for a feed, an image, a network's API base, a webhook or an OAuth endpoint.
"""
from __future__ import annotations

import socket
import threading

import pytest

from tests.fakes.server import read_head


class TrickleServer:
    def __init__(self, *, mode: str = "body", interval: float = 0.2, content_type: str = "image/png"):
        self.mode = mode
        self.interval = interval
        self.content_type = content_type
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                if self.mode == "tls":
                    stream = b"\x16\x03\x03\x40\x00" + b"\x00" * 16384
                    for i in range(len(stream)):
                        if self._stop.wait(self.interval):
                            return
                        conn.sendall(stream[i:i + 1])
                    return
                request = read_head(conn)
                if request is None:
                    return
                self.requests.append(request)
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: {self.content_type}\r\n"
                        "Content-Length: 1000000\r\n").encode()
                if self.mode == "body":
                    conn.sendall(head + b"\r\n")
                    stream = b"x" * 1_000_000
                else:
                    stream = head + b"".join(b"X-Slow-%d: y\r\n" % i for i in range(100_000))
                for i in range(len(stream)):
                    if self._stop.wait(self.interval):
                        return
                    conn.sendall(stream[i:i + 1])
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(2)


@pytest.fixture(params=["headers", "body"])
def trickle(request):
    server = TrickleServer(mode=request.param)
    try:
        yield server
    finally:
        server.close()
