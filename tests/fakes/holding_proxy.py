"""A loopback proxy in front of a fake network that can swallow answers.

``hold(predicate)`` lets the next matching request reach the network, which
accepts it, and then never answers the client: the moment "the network posted
it but autopost never heard back", which a crash test needs. The Host header
is passed through unchanged, so OAuth 1.0a signatures still verify.
"""
from __future__ import annotations

import http.client
import threading
from typing import Callable
from urllib.parse import urlsplit

from tests.fakes.server import FakeHandler, FakeServer, bind

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class HoldingProxy(FakeServer):
    thread_name = "holding-proxy"

    def __init__(self, target_base_url: str):
        target = urlsplit(target_base_url)
        self.target = (target.hostname, target.port)
        self.held: list[tuple[str, str]] = []              # (method, path) answered by the network, swallowed
        self._holds: list[Callable[[str, str], bool]] = []
        self._lock = threading.Lock()
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

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



class _Handler(FakeHandler):
    fake: HoldingProxy

    def respond(self, method: str, path: str, body: bytes) -> None:
        proxy = self.fake
        connection = http.client.HTTPConnection(*proxy.target, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        if proxy._take_hold(self.command, self.path):
            proxy.held.append((self.command, self.path))
            proxy._released.wait(30)
            self.close_connection = True
            return
        self.send_body(answer.status, data, {name: value for name, value in answer.getheaders()
                                             if name.lower() not in HOP_BY_HOP})
