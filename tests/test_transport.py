"""One way to turn a failed exchange into a network's TransientError (bot.http.transient)."""
from __future__ import annotations

import ast
import socket
import time
from pathlib import Path

import pytest
import requests

from bot import http
from bot.platforms.base import TransientError
from tests.fakes.trickle import TrickleServer, trickle  # noqa: F401  (fixture)

PLATFORMS = Path(__file__).resolve().parent.parent / "bot" / "platforms"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_transient_and_names_the_far_end():
    with pytest.raises(TransientError) as caught, http.transport_errors("twitter", "X", 1.0, "POST /2/tweets"):
        requests.post(f"http://127.0.0.1:{_closed_port()}/2/tweets?token=s3cret", timeout=1.0)
    assert caught.value.platform == "twitter"
    assert caught.value.message == "POST /2/tweets: cannot reach X (ConnectionError)"
    assert "s3cret" not in str(caught.value)               # the exception's text (with the URL) is not shown


def test_a_trickling_answer_is_cut_at_the_deadline_and_transient(trickle):  # noqa: F811
    session = http.new_session()
    with pytest.raises(TransientError) as caught:
        with http.transport_errors("facebook", "Graph", 0.4):
            session.get(trickle.url("/v21.0/me"), timeout=0.4)
    assert caught.value.message == "Graph did not answer in time (timed out after 0.4 s)"


def test_a_body_cut_off_while_it_arrives_is_transient():
    error = http.transient("mastodon", "the instance", 2, ConnectionResetError("reset by peer"))
    assert isinstance(error, TransientError)
    assert error.message == "the connection to the instance failed while reading (ConnectionResetError)"


def test_an_answer_over_the_cap_is_transient_and_reading_stops(feed_server):
    feed_server.serve("/xrpc/big", b"{" + b" " * (1024 * 1024), content_type="application/json")
    with requests.get(feed_server.url("/xrpc/big"), stream=True, timeout=5) as response:
        with pytest.raises(TransientError) as caught:
            http.read_answer(response, platform="bluesky", who="Bluesky", max_bytes=1024 * 1024,
                             deadline=time.monotonic() + 5, timeout=5)
    assert caught.value.platform == "bluesky"
    assert caught.value.message == "Bluesky's answer was larger than 1 MB"
    assert caught.value.status == 200


def test_an_answer_at_the_cap_is_read_whole(feed_server):
    body = b"[" + b" " * (1024 * 1024 - 2) + b"]"
    feed_server.serve("/api/v1/statuses", body, content_type="application/json")
    with requests.get(feed_server.url("/api/v1/statuses"), stream=True, timeout=5) as response:
        assert http.read_answer(response, platform="mastodon", who="the instance", max_bytes=1024 * 1024,
                                deadline=time.monotonic() + 5, timeout=5) == body


def test_a_dripping_answer_is_cut_at_the_readers_own_deadline():
    # A plain session (no watchdog): only read_answer's deadline check can end this body.
    server = TrickleServer(mode="body", interval=0.05)
    try:
        with requests.get(server.url("/graph"), stream=True, timeout=2) as response:
            with pytest.raises(TransientError) as caught:
                http.read_answer(response, platform="instagram", who="Instagram", max_bytes=1024 * 1024,
                                 deadline=time.monotonic() + 0.3, timeout=0.3)
    finally:
        server.close()
    assert caught.value.message == "Instagram's answer took longer than 0.3s to arrive"


def _handlers_that_map_requests_errors(path: Path) -> list[int]:
    """Lines where a module catches a requests/urllib3 exception and raises TransientError itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught = ast.unparse(node.type)
            raises = [ast.unparse(n) for n in ast.walk(node) if isinstance(n, ast.Raise)]
            if ("requests" in caught or "urllib3" in caught or "OSError" in caught) and \
                    any("TransientError(" in r for r in raises):
                found.append(node.lineno)
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in PLATFORMS.glob("*.py")))
def test_no_adapter_maps_transport_errors_by_itself(module):
    assert _handlers_that_map_requests_errors(PLATFORMS / module) == []
