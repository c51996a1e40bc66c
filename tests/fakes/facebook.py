"""A fake Graph API on 127.0.0.1 that speaks just enough of it for the Page adapter.

It implements, under any ``/vNN.N/`` prefix:

- ``POST /{page_id}/feed`` (form fields ``message``, ``link``) → ``{"id": "{page_id}_{n}"}``
- ``GET /{page_id}?fields=name`` → ``{"name", "id"}``
- ``GET /{page_id}/posts?fields=...&limit=N`` → newest first, each link attachment
  wrapped in an ``l.facebook.com/l.php?u=...`` shim with ``fbclid`` added, as Facebook does
- ``GET /me?fields=id`` → whoever the token belongs to (the Page, or a user)
- ``POST /oauth/access_token`` (form: ``grant_type=fb_exchange_token``, ``client_id``,
  ``client_secret``, ``fb_exchange_token``) → ``{"access_token", "token_type": "bearer",
  "expires_in": 5183944}``, a long-lived user token (developers.facebook.com/docs/
  facebook-login/guides/access-tokens/get-long-lived; Facebook's PHP SDK sent this
  same call as a POST). Wrong app id: code 101; wrong secret: code 1; bad token: 190.
- ``GET /me/accounts?fields=id,name,access_token,tasks`` with a *user* token → the
  Pages that user manages, each with its Page token and tasks (``pages``, ``add_page``).

A read may also arrive as ``POST`` with ``method=GET`` (Graph's method override).
The token is taken from the form field ``access_token`` or an
``Authorization: Bearer`` header, never from the URL (a token in the query string
is answered with a 400 so a leak fails loudly). With ``app_secret`` set, every call
must carry the matching ``appsecret_proof``.

Errors use Graph's shape and, like Graph, mostly HTTP 400. Tests steer the next
answers with ``fail_next``, ``hang_next``, ``garbage_next``, ``revoke``/``restore``.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.fakes.graph import graph_error, GraphHandler, Recorded, recorded
from tests.fakes.server import FakeHandler, FakeServer, bind

PAGE_ID = "104857600123"
PAGE_TOKEN = "EAAG-fake-PAGE-token-7f3a9c"
PAGE_NAME = "Autopost Test Page"
USER_ID = "100000777"
USER_TOKEN = "EAAG-fake-USER-token-2b8d41"
LONG_USER_TOKEN = "EAAG-fake-LONG-user-token-6e5f09"
APP_ID = "1234567890123456"
APP_SECRET = "fb-fake-APP-secret-a1b2c3d4"
PAGE_TASKS = ("ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE")

_THROTTLE_TEXT = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "There have been too many calls to this Page account. Wait a bit and try again.",
}
_ERROR_TEXT = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    10: "(#10) Application does not have permission for this action",
    100: "(#100) Invalid parameter",
    190: "Error validating access token: The session has been invalidated because the user "
         "changed their password or Facebook has changed the session for security reasons.",
    200: "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts "
         "as an admin with sufficient administrative permission",
    368: "It looks like you were misusing this feature by going too fast.",
    506: "(#506) Duplicate status message",
    1609005: "Error posting link",
    **_THROTTLE_TEXT,
}




class FakeGraph(FakeServer):
    thread_name = "fake-graph"

    def __init__(self, *, page_id: str = PAGE_ID, page_token: str = PAGE_TOKEN,
                 page_name: str = PAGE_NAME, app_secret: str | None = None,
                 user_tokens: dict[str, str] | None = None, unshimmed_urls: bool = False,
                 app_id: str = APP_ID):
        self.page_id = page_id
        self.page_token = page_token
        self.page_name = page_name
        self.app_secret = app_secret
        self.user_tokens = dict(user_tokens if user_tokens is not None else {USER_TOKEN: USER_ID})
        self.unshimmed_urls = unshimmed_urls   # Graph's unshimmed_url field; off = only shims
        self.app_id = app_id
        self.oauth_app_secret = app_secret or APP_SECRET   # what /oauth/access_token checks
        self.long_user_token = LONG_USER_TOKEN
        # What /me/accounts lists for a user token, in order.
        self.pages: list[dict[str, Any]] = [{"id": page_id, "name": page_name, "access_token": page_token,
                                             "category": "Blogger", "tasks": list(PAGE_TASKS)}]
        self.posts: list[dict[str, Any]] = []  # accepted posts, oldest first
        self._revoked_subcode: int | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(9000001)
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    @property
    def requests(self) -> list[Recorded]:
        """Every request as received (headers in lower case, the form decoded), faulted ones included."""
        return recorded(self.received)

    # -- steering -------------------------------------------------------------

    def fail_next(self, code: int, subcode: int | None = None, http_status: int = 400,
                  headers: dict[str, str] | None = None, times: int = 1,
                  is_transient: bool | None = None, message: str | None = None,
                  user_msg: str | None = None) -> None:
        """Answer the next ``times`` requests with Graph error ``code``."""
        error: dict[str, Any] = {
            "message": message or _ERROR_TEXT.get(code, f"(#{code}) Fake Graph error"),
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": f"AbCfake{code}",
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        if is_transient is not None:
            error["is_transient"] = is_transient
        if user_msg is not None:
            error["error_user_title"] = "Fake title"
            error["error_user_msg"] = user_msg
        self.answer_next(http_status, {"error": error}, headers, times,
                         content_type="application/json; charset=UTF-8")

    def garbage_next(self, http_status: int = 200) -> None:  # type: ignore[override]
        """Answer the next request with an HTML page instead of JSON."""
        self.answer_next(http_status, b"<html><body>Sorry, something went wrong.</body></html>",
                         content_type="text/html; charset=utf-8")

    def revoke(self, subcode: int = 460) -> None:
        """Every token is now refused with 190 (default: password changed) until restore()."""
        with self._lock:
            self._revoked_subcode = subcode

    def restore(self) -> None:
        with self._lock:
            self._revoked_subcode = None

    def add_post(self, link: str, message: str = "") -> str:
        """A post made earlier (e.g. before a crash); returns its id."""
        with self._lock:
            return self._store(message, link)

    def add_page(self, page_id: str, name: str, token: str, tasks: tuple[str, ...] = PAGE_TASKS) -> None:
        """Another Page the user manages, listed by /me/accounts after the existing ones."""
        with self._lock:
            self.pages.append({"id": page_id, "name": name, "access_token": token, "category": "Blogger",
                               "tasks": list(tasks)})

    # -- answering ------------------------------------------------------------

    def _store(self, message: str, link: str) -> str:
        post_id = f"{self.page_id}_{next(self._ids)}"
        self.posts.append({"id": post_id, "message": message, "link": link,
                           "created_time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")})
        return post_id

    def _answer(self, method: str, path: str, query: dict[str, str], form: dict[str, str],
                headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            return self._graph(method, path, query, form, headers)

    def _graph(self, method, path, query, form, headers):
        parts = [p for p in urlsplit(path).path.split("/") if p]
        if not parts or not parts[0].startswith("v"):
            return _error(400, 2500, "Unknown path components: /" + "/".join(parts))
        node, edge = (parts[1:] + [None, None])[:2]
        if {"access_token", "appsecret_proof", "client_secret", "fb_exchange_token"} & set(query):
            return _error(400, 100, "(#100) fake Graph: secrets must not travel in the URL")
        if method == "POST" and form.get("method", "").upper() == "GET":
            method, query = "GET", {k: v for k, v in form.items() if k != "method"}
        if node == "oauth" and edge == "access_token":
            return self._exchange(form or query)

        token = form.get("access_token") or ""
        auth = headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not token:
            return _error(400, 104, "An access token is required to request this resource.")
        if self._revoked_subcode is not None:
            return _error(400, 190, _ERROR_TEXT[190], subcode=self._revoked_subcode)
        if token == self.page_token:
            actor = self.page_id
        elif token in self.user_tokens:
            actor = self.user_tokens[token]
        else:
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.app_secret:
            proof = form.get("appsecret_proof") or ""
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not proof:
                return _error(400, 100, "API calls from the server require an appsecret_proof argument")
            if not hmac.compare_digest(proof, expected):
                return _error(400, 100, "Invalid appsecret_proof provided in the API argument")

        if method == "POST" and node == self.page_id and edge == "feed":
            if actor != self.page_id:
                return _error(403, 200, _ERROR_TEXT[200])
            message, link = form.get("message", ""), form.get("link", "")
            if not message and not link:
                return _error(400, 100, "(#100) Missing message or attachment")
            if link and not link.startswith(("http://", "https://")):
                return _error(400, 100, "(#100) The link parameter is not a valid URL")
            return 200, {"id": self._store(message, link)}, {}
        if method == "GET" and node == "me" and edge == "accounts":
            if actor == self.page_id:
                return _error(400, 100, "(#100) Tried accessing nonexisting field (accounts) on node type (Page)")
            return 200, {"data": [dict(page) for page in self.pages],
                         "paging": {"cursors": {"before": "QVFIUfake", "after": "QVFIUfake"}}}, {}
        if method == "GET" and node == "me" and edge is None:
            return 200, {"id": actor}, {}
        if method == "GET" and node == self.page_id and edge is None:
            return 200, {"name": self.page_name, "id": self.page_id}, {}
        if method == "GET" and node == self.page_id and edge == "posts":
            limit = int(query.get("limit") or 25)
            return 200, {"data": [self._public(p) for p in reversed(self.posts)][:limit]}, {}
        return _error(400, 100, f"Unsupported {method.lower()} request. Object with ID '{node}' does not "
                                f"exist, cannot be loaded due to missing permissions, or does not support "
                                f"this operation.", subcode=33)

    def _exchange(self, params: dict[str, str]):
        """``oauth/access_token`` with ``grant_type=fb_exchange_token``: a long-lived user token."""
        if params.get("grant_type") != "fb_exchange_token":
            return _error(400, 100, "(#100) fake Graph supports only grant_type=fb_exchange_token")
        if params.get("client_id") != self.app_id:
            return _error(400, 101, "Error validating application. Invalid application ID.")
        if params.get("client_secret") != self.oauth_app_secret:
            return _error(400, 1, "Error validating client secret.")
        short = params.get("fb_exchange_token", "")
        if self._revoked_subcode is not None:
            return _error(400, 190, _ERROR_TEXT[190], subcode=self._revoked_subcode)
        if short not in self.user_tokens:
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        self.user_tokens[self.long_user_token] = self.user_tokens[short]
        return 200, {"access_token": self.long_user_token, "token_type": "bearer", "expires_in": 5183944}, {}

    def _public(self, post: dict[str, Any]) -> dict[str, Any]:
        """A stored post as /posts shows it: link shimmed, fbclid added by Facebook."""
        shown: dict[str, Any] = {
            "id": post["id"],
            "created_time": post["created_time"],
            "permalink_url": f"https://www.facebook.com/{post['id'].replace('_', '/posts/')}",
        }
        if post["link"]:
            clicked = post["link"] + ("&" if "?" in post["link"] else "?") + "fbclid=IwAR0fake"
            attachment = {"url": f"https://l.facebook.com/l.php?u={quote(clicked, safe='')}&h=AT0fake&s=1"}
            if self.unshimmed_urls:
                attachment["unshimmed_url"] = post["link"]
            shown["attachments"] = {"data": [attachment]}
        return shown


def _error(status: int, code: int, message: str, *, subcode: int | None = None) -> tuple[int, Any, dict]:
    return graph_error(status, code, message, trace_prefix="AbCfake", subcode=subcode)


class _Handler(GraphHandler):
    fake: FakeGraph


@pytest.fixture
def fake_graph():
    fake = FakeGraph()
    yield fake
    fake.close()
