"""One way to turn a failed exchange into a network's TransientError (bot.http.transient)."""
from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest
import requests

from bot import http
from bot.platforms.base import TransientError
from tests.fakes.trickle import trickle  # noqa: F401  (fixture)

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
