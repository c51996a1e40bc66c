"""What the fake Facebook Graph and the fake Instagram Graph share: Graph's error body and the handler.

Both speak Meta's Graph API: an error is ``{"error": {"message", "type", "code",
"error_subcode", "error_user_title", "error_user_msg", "fbtrace_id"}}``
(https://developers.facebook.com/docs/graph-api/guides/error-handling), and a
request's form, query and lower-cased headers go to the fake's ``_answer``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.server import FakeHandler


@dataclass
class Recorded:
    """One request as a Graph fake received it."""

    method: str
    path: str                      # with the query string, exactly as sent
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)


def recorded(received: Iterable[Any]) -> list[Recorded]:
    """The server base's raw requests with lower-cased headers and the form decoded, faulted ones included."""
    return [Recorded(r.method, r.path, {k.lower(): v for k, v in r.headers.items()},
                     dict(parse_qsl(r.body.decode("utf-8", "replace"), keep_blank_values=True)))
            for r in list(received)]


def graph_error(status: int, code: int, message: str, *, trace_prefix: str, subcode: int | None = None,
                user_msg: str | None = None, user_title: str | None = None) -> tuple[int, Any, dict]:
    """(status, body, headers) of a Graph error; its fbtrace_id is ``trace_prefix`` and the code."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "fbtrace_id": f"{trace_prefix}{code}"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_title is not None:
        error["error_user_title"] = user_title
    if user_msg is not None:
        error["error_user_msg"] = user_msg
    return status, {"error": error}, {}


class GraphHandler(FakeHandler):
    """Hands each request to ``fake._answer(method, path, query, form, headers)`` and sends its JSON."""

    def respond(self, method: str, path: str, raw: bytes) -> None:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.fake._answer(method, self.path, query, form, headers)
        self.send_json(status, body, extra, content_type="application/json; charset=UTF-8")
