"""The loopback plumbing every fake in tests/fakes/ shares.

``FakeServer`` runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1, port 0, in a daemon
thread, records every request (``received``), and plays canned faults the test asks for
before the fake's own answer: a status with headers and body, a hang, a trickle, garbage
JSON, an HTML error page, or "drop after handling" (the fake does the work, e.g. stores
the post, and the client never hears back: the lost answer a crash test needs).

A fake subclasses ``FakeServer`` and gives it a handler class derived from ``FakeHandler``
(``handler()``), whose ``respond(method, path, raw)`` is the network's own behaviour.
``before_faults`` lets a fake answer first what a real service checks before anything
else (a bad signature is X's 401 whatever else is planned).
"""
from __future__ import annotations

import io
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

def read_head(sock: socket.socket) -> bytes | None:
    """A request's head (request line and headers, up to its blank line, perhaps more) read from a
    raw socket; None when the client closes first. For the fakes that speak HTTP by hand."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            return None
        head += data
    return head


HANG_LIMIT_SECONDS = 30          # a held request lets go by itself if a test forgets to close
GARBAGE_JSON = b'{"data": {"id": "17", "text": '          # cut off mid-object
HTML_ERROR_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                   b"<body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>")


@dataclass
class Received:
    """One request as the fake received it."""

    method: str
    path: str                      # with the query string, as sent
    headers: dict[str, str]
    body: bytes


@dataclass
class Fault:
    """One answer the test asked for, replacing the fake's own."""

    kind: str                      # "answer" | "hang" | "trickle" | "drop"
    path: str | None = None        # only requests whose path starts with this
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    interval: float = 0.2          # trickle: seconds between bytes


class FakeServer:
    """A loopback HTTP server with request recording and canned faults; subclass it."""

    poll_interval = 0.05           # shutdown() waits up to one interval, once per test
    thread_name = "fake-server"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._faults: list[Fault] = []
        self._fault_lock = threading.Lock()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, client_address: None   # clients that gave up
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": self.poll_interval},
                                        name=self.thread_name, daemon=True)
        self._thread.start()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The handler class, bound to this fake; override with a ``FakeHandler`` subclass."""
        return bind(FakeHandler, self)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- canned faults ----------------------------------------------------------

    def fault_next(self, fault: Fault) -> None:
        with self._fault_lock:
            self._faults.append(fault)

    def answer_next(self, status: int, body: bytes | str | Any = b"", headers: dict[str, str] | None = None,
                    times: int = 1, *, path: str | None = None, content_type: str = "application/json") -> None:
        """Answer the next ``times`` requests (under ``path``) with this status, headers and body."""
        raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else
                                                     json.dumps(body).encode())
        self.fault_next(Fault("answer", path, status, raw, {"Content-Type": content_type, **(headers or {})},
                              times))

    def hang_next(self, times: int = 1, *, path: str | None = None) -> None:
        """Hold the next request(s) open, unanswered, until the fake closes."""
        self.fault_next(Fault("hang", path, times=times))

    def trickle_next(self, interval: float = 0.2, *, path: str | None = None) -> None:
        """Answer the next request one byte every ``interval`` seconds, for ever (a deadline must cut it)."""
        self.fault_next(Fault("trickle", path, interval=interval))

    def garbage_json_next(self, status: int = 200, *, path: str | None = None) -> None:
        """A success status with a JSON body cut off mid-object."""
        self.answer_next(status, GARBAGE_JSON, path=path)

    def html_page_next(self, status: int = 502, *, path: str | None = None) -> None:
        """An HTML error page, as a proxy or load balancer in front of the API sends."""
        self.answer_next(status, HTML_ERROR_PAGE, path=path, content_type="text/html")

    def drop_next(self, *, path: str | None = None) -> None:
        """Handle the next request (under ``path``) fully, then close the connection unanswered."""
        self.fault_next(Fault("drop", path))

    def take_fault(self, path: str) -> Fault | None:
        with self._fault_lock:
            for fault in self._faults:
                if fault.path is None or path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def record(self, request: Received) -> None:
        with self._fault_lock:
            self.received.append(request)


class FakeHandler(BaseHTTPRequestHandler):
    """Reads, records, plays a planned fault or calls ``respond``; subclasses answer as the network."""

    fake: FakeServer
    disable_nagle_algorithm = True      # headers and body go out at once: no 40 ms delayed-ACK stall
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:   # keep test output quiet
        pass

    def do_GET(self) -> None:           # noqa: N802 (http.server's naming)
        self.dispatch("GET")

    def do_POST(self) -> None:          # noqa: N802
        self.dispatch("POST")

    def do_PUT(self) -> None:           # noqa: N802
        self.dispatch("PUT")

    def do_DELETE(self) -> None:        # noqa: N802
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self.fake.record(Received(method, self.path, dict(self.headers.items()), raw))
        try:
            if self.before_faults(method, path, raw):
                return
            fault = self.fake.take_fault(path)
            if fault is None:
                self.respond(method, path, raw)
            else:
                self.play(fault, method, path, raw)
        except (BrokenPipeError, ConnectionResetError):
            pass                                 # the client gave up (a timeout test)

    # -- for subclasses -----------------------------------------------------------

    def before_faults(self, method: str, path: str, raw: bytes) -> bool:
        """Answer what the real service checks before anything else; True when answered."""
        return False

    def respond(self, method: str, path: str, raw: bytes) -> None:
        self.send_body(404, b"not found", {"Content-Type": "text/plain"})

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if not any(name.lower() == "content-length" for name in headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass                                 # the client gave up (a timeout test)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
        self.send_body(status, b"" if payload is None else json.dumps(payload).encode(),
                       {"Content-Type": content_type, **(headers or {})})

    # -- faults -------------------------------------------------------------------

    def play(self, fault: Fault, method: str, path: str, raw: bytes) -> None:
        if fault.kind == "answer":
            self.send_body(fault.status, fault.body, fault.headers)
        elif fault.kind == "hang":
            self.fake._released.wait(HANG_LIMIT_SECONDS)
            self.close_connection = True
        elif fault.kind == "trickle":
            self._trickle(fault.interval)
        elif fault.kind == "drop":
            self._drop(method, path, raw)
        else:
            raise ValueError(f"unknown fault {fault.kind!r}")

    def _trickle(self, interval: float) -> None:
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.flush()
            while not self.fake._released.wait(interval):
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            pass                                 # the client's deadline cut it, as it should

    def _drop(self, method: str, path: str, raw: bytes) -> None:
        """The fake does its work; its answer goes nowhere and the connection closes."""
        real, self.wfile = self.wfile, io.BytesIO()
        try:
            self.respond(method, path, raw)
        finally:
            self.wfile = real
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def bind(handler: type[FakeHandler], fake: FakeServer) -> type[FakeHandler]:
    """``handler`` bound to one fake (the handler classes are made per server)."""
    return type(handler.__name__, (handler,), {"fake": fake})
