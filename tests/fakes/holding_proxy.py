"""A loopback proxy in front of a fake network that can swallow answers.

``hold(predicate)`` lets the next matching request reach the network, which
accepts it, and then never answers the client: the moment "the network posted
it but autopost never heard back", which a crash test needs. The Host header
is passed through unchanged, so OAuth 1.0a signatures still verify.
"""
from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class HoldingProxy:
    def __init__(self, target_base_url: str):
        target = urlsplit(target_base_url)
        self.target = (target.hostname, target.port)
        self.held: list[tuple[str, str]] = []              # (method, path) answered by the network, swallowed
        self._holds: list[Callable[[str, str], bool]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def hold(self, predicate: Callable[[str, str], bool]) -> None:
        """Swallow the answer to the next request for which predicate(method, path) is true."""
        with self._lock:
            self._holds.append(predicate)

    def _take_hold(self, method: str, path: str) -> bool:
        with self._lock:
            for predicate in self._holds:
                if predicate(method, path):
                    self._holds.remove(predicate)
                    return True
        return False

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def _handler_for(proxy: HoldingProxy):
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True      # headers and body go out at once: no 40 ms delayed-ACK stall
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            connection = http.client.HTTPConnection(*proxy.target, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            if proxy._take_hold(self.command, self.path):
                proxy.held.append((self.command, self.path))
                proxy._release.wait(30)
                self.close_connection = True
                return
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler
