"""A fake Mastodon instance on 127.0.0.1 that answers as Mastodon documents and records what it got.

Endpoints (docs.joinmastodon.org, methods/*): ``POST /api/v1/statuses`` (form or
JSON; ``Idempotency-Key`` honoured as PostStatusService does: per account, kept
for an hour, a repeated key answers the status already made and posts nothing),
``GET /api/v2/instance`` (``configuration.statuses``), ``GET
/api/v1/accounts/verify_credentials``, ``GET /api/v1/accounts/:id/statuses``
(``limit`` ≤ 40, ``exclude_replies``, ``exclude_reblogs``; newest first; the link
card appears only after the status was first shown, as Mastodon fetches it in the
background), ``POST /api/v1/apps``, ``GET /oauth/authorize`` (stands for the
logged-in owner approving: answers the out-of-band page showing the code) and
``POST /oauth/token``.

Like Mastodon it wants ``Authorization: Bearer <token>`` (401 ``The access token
is invalid``), checks the token's scopes (403 ``This action is outside the
authorized scopes``; ``read`` covers ``read:*``, ``write`` covers ``write:*``),
refuses a blank or too long status with 422 and Mastodon's words, and sends
``X-RateLimit-*`` headers.

Tests steer it with ``fail_next`` (any status and ``error``), ``rate_limit_next``
(429 with or without ``X-RateLimit-Reset``), ``hang_next``, ``trickle_next``,
``garbage_next``, ``html_next``, ``drop_answer_next`` (the status is made, the
connection closed unanswered: a lost answer), ``revoke``/``restore``, and assert on
``statuses`` and ``requests``.
"""
from __future__ import annotations

import html
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.server import FakeHandler, FakeServer, bind

TOKEN = "masto-test-token-4b1d2c9e0a"
USERNAME = "blog"
DISPLAY_NAME = "Example Blog"
ACCOUNT_ID = "109876543210987654"
SCOPES = frozenset({"write:statuses", "read:accounts", "read:statuses"})
# The scopes a Mastodon 4.x server knows (api/oauth-scopes), for app registration.
KNOWN_SCOPES = frozenset({
    "read", "write", "push", "follow", "profile", "admin:read", "admin:write",
    "read:accounts", "read:blocks", "read:bookmarks", "read:favourites", "read:filters", "read:follows",
    "read:lists", "read:mutes", "read:notifications", "read:search", "read:statuses",
    "write:accounts", "write:blocks", "write:bookmarks", "write:conversations", "write:favourites",
    "write:filters", "write:follows", "write:lists", "write:media", "write:mutes",
    "write:notifications", "write:reports", "write:statuses",
})
OOB = "urn:ietf:wg:oauth:2.0:oob"
RATE_LIMIT = 300
IDEMPOTENCY_SECONDS = 3600

_INVALID_TOKEN = "The access token is invalid"
_OUTSIDE_SCOPES = "This action is outside the authorized scopes"
_HTML_ERROR = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
               b"Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
_URL = re.compile(r"https?://[^\s<>\"]+")


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str                      # with the query string, exactly as sent
    headers: dict[str, str]        # names in lower case
    form: dict[str, Any] = field(default_factory=dict)   # form fields or the JSON body


@dataclass
class _Plan:
    kind: str                      # error | hang | trickle | garbage | html | drop
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None        # only a request to this path takes the plan
    interval: float = 0.2


class FakeMastodon(FakeServer):
    thread_name = "fake-mastodon"

    def __init__(self, *, token: str = TOKEN, scopes: frozenset[str] = SCOPES,
                 max_characters: int | None = 500, url_length: int | None = 23,
                 v2_instance: bool = True, clock: Callable[[], datetime] | None = None):
        self.tokens: dict[str, frozenset[str]] = {token: frozenset(scopes)}
        self.max_characters = max_characters
        self.url_length = url_length
        self.v2_instance = v2_instance
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.statuses: list[dict[str, Any]] = []     # oldest first, as stored (card filled when shown)
        self.requests: list[Recorded] = []
        self.apps: dict[str, dict[str, Any]] = {}    # client_id -> app
        self.codes: dict[str, dict[str, Any]] = {}   # authorization code -> grant
        self._idempotency: dict[str, tuple[str, datetime]] = {}
        self._plans: list[_Plan] = []
        self._revoked = False
        self._lock = threading.Lock()
        self._ids = itertools.count(113000000000000001)
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    def posted(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith("/api/v1/statuses")]

    # -- steering ----------------------------------------------------------------

    def fail_next(self, status: int, error: str | None = None, *, headers: dict[str, str] | None = None,
                  path: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests (to ``path``, if given) with ``status`` and ``{"error": ...}``."""
        body = {"error": error} if error is not None else None
        with self._lock:
            self._plans += [_Plan("error", status, body, dict(headers or {}), path) for _ in range(times)]

    def rate_limit_next(self, reset: str | None = None, *, path: str | None = None) -> None:
        """429 Too many requests, with ``X-RateLimit-Reset: reset`` when given."""
        headers = {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": "0"}
        if reset is not None:
            headers["X-RateLimit-Reset"] = reset
        self.fail_next(429, "Too many requests", headers=headers, path=path)

    def hang_next(self, times: int = 1, *, path: str | None = None) -> None:
        """Hold the next request open, unanswered, until the fake is closed."""
        with self._lock:
            self._plans.append(_Plan("hang", path=path))

    def trickle_next(self, interval: float = 0.2, *, path: str | None = None) -> None:
        """Answer the next request properly, but one byte every ``interval`` seconds."""
        with self._lock:
            self._plans.append(_Plan("trickle", path=path, interval=interval))

    def garbage_next(self, status: int = 200, *, path: str | None = None) -> None:
        """Answer with a JSON content type and a body cut in the middle."""
        with self._lock:
            self._plans.append(_Plan("garbage", status, path=path))

    def html_next(self, status: int = 502, *, path: str | None = None) -> None:
        """Answer with a proxy's HTML error page."""
        with self._lock:
            self._plans.append(_Plan("html", status, path=path))

    def drop_answer_next(self, *, path: str = "/api/v1/statuses") -> None:
        """Do the next request to ``path`` (a status is made), then close the connection unanswered."""
        with self._lock:
            self._plans.append(_Plan("drop", path=path))

    def revoke(self) -> None:
        """Every token is refused with 401 until restore()."""
        with self._lock:
            self._revoked = True

    def restore(self) -> None:
        with self._lock:
            self._revoked = False

    def add_status(self, text: str, *, card_url: str | None = None, in_reply_to_id: str | None = None,
                   reblog: bool = False, visibility: str = "public") -> str:
        """A status the account made earlier (e.g. before a crash); returns its id."""
        with self._lock:
            status = self._store(text, visibility, None)
            status["in_reply_to_id"] = in_reply_to_id
            status["_reblog"] = reblog
            if card_url is not None:
                status["_card_url"] = card_url
            return status["id"]

    def authorize(self, url: str) -> str:
        """What the owner does in a browser: open the authorization URL, read the code shown."""
        import urllib.request

        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback: never a proxy
        with direct.open(url, timeout=5) as page:
            text = page.read().decode("utf-8")
        match = re.search(r'class="oauth-code"[^>]*value="([^"]+)"', text)
        if not match:
            raise AssertionError(f"no code on the authorization page: {text[:200]}")
        return match.group(1)

    # -- answering -------------------------------------------------------------------

    def _take_plan(self, path: str) -> _Plan | None:
        for index, plan in enumerate(self._plans):
            if plan.path is None or urlsplit(path).path == plan.path:
                return self._plans.pop(index)
        return None

    def _store(self, text: str, visibility: str, language: str | None) -> dict[str, Any]:
        status_id = str(next(self._ids))
        base = self.base_url
        status = {
            "id": status_id,
            "created_at": self.clock().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": visibility,
            "language": language,
            "uri": f"{base}/users/{USERNAME}/statuses/{status_id}",
            "url": f"{base}/@{USERNAME}/{status_id}",
            "content": _content(text),
            "text": text,
            "reblog": None,
            "card": None,
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "poll": None,
        }
        links = _URL.findall(text)
        if links:
            status["_card_url"] = links[0].rstrip(".,;:!?)")
        self.statuses.append(status)
        return status

    def _shown(self, status: dict[str, Any]) -> dict[str, Any]:
        """A status as the API shows it: private fields dropped, account filled in."""
        shown = {k: v for k, v in status.items() if not k.startswith("_") and k != "text"}
        shown["account"] = self._account()
        if status.get("_reblog"):
            shown["reblog"] = {"id": "1", "content": "<p>someone else's status</p>"}
        return shown

    def _account(self) -> dict[str, Any]:
        base = self.base_url
        return {"id": ACCOUNT_ID, "username": USERNAME, "acct": USERNAME, "display_name": DISPLAY_NAME,
                "locked": False, "bot": True, "url": f"{base}/@{USERNAME}",
                "statuses_count": len(self.statuses)}

    def _answer(self, method: str, path: str, form: dict[str, Any],
                headers: dict[str, str]) -> tuple[int, Any, dict[str, str]] | _Plan:
        with self._lock:
            self.requests.append(Recorded(method, path, headers, form))
            plan = self._take_plan(path)
            if plan is not None and plan.kind != "drop":
                if plan.kind == "trickle":
                    return _Plan("trickle", interval=plan.interval,
                                 body=self._mastodon(method, path, form, headers))
                return plan
            answer = self._mastodon(method, path, form, headers)
            return _Plan("drop") if plan is not None else answer

    def _scoped(self, headers: dict[str, str], *needed: str,
                optional: bool = False) -> tuple[int, Any, dict[str, str]] | None:
        """None when the request may go on; else the 401/403 answer."""
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token and optional:
            return None
        if not token or token not in self.tokens or self._revoked:
            return 401, {"error": _INVALID_TOKEN}, {}
        granted = self.tokens[token]
        if not any(n in granted or n.split(":")[0] in granted for n in needed):
            return 403, {"error": _OUTSIDE_SCOPES}, {}
        return None

    def _mastodon(self, method: str, path: str, form: dict[str, Any],
                  headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = parts.path
        if method == "GET" and route == "/api/v2/instance":
            if not self.v2_instance:
                return 404, {"error": "Record not found"}, {}
            statuses: dict[str, Any] = {"max_media_attachments": 4}
            if self.max_characters is not None:
                statuses["max_characters"] = self.max_characters
            if self.url_length is not None:
                statuses["characters_reserved_per_url"] = self.url_length
            host = urlsplit(self.base_url).hostname
            return 200, {"domain": host, "title": "Fake Mastodon", "version": "4.5.0",
                         "configuration": {"statuses": statuses,
                                           "urls": {"streaming": f"ws://{host}"}}}, {}
        if method == "GET" and route == "/api/v1/accounts/verify_credentials":
            refused = self._scoped(headers, "profile", "read:accounts")
            return refused or (200, {**self._account(), "source": {"privacy": "public"}}, {})
        match = re.fullmatch(r"/api/v1/accounts/([^/]+)/statuses", route)
        if method == "GET" and match:
            refused = self._scoped(headers, "read:statuses", optional=True)
            if refused:
                return refused
            if match.group(1) != ACCOUNT_ID:
                return 404, {"error": "Record not found"}, {}
            signed_in = bool(headers.get("authorization"))
            limit = min(int(query.get("limit") or 20), 40)
            shown = []
            for status in reversed(self.statuses):
                if query.get("exclude_replies") == "true" and status["in_reply_to_id"]:
                    continue
                if query.get("exclude_reblogs") == "true" and status.get("_reblog"):
                    continue
                if not signed_in and status["visibility"] not in ("public", "unlisted"):
                    continue
                if status.get("_card_url") and status["card"] is None:
                    # The background fetch has finished by the time anyone lists statuses.
                    status["card"] = {"url": status["_card_url"], "title": "An article", "description": "",
                                      "type": "link", "provider_name": "", "image": None}
                shown.append(self._shown(status))
            return 200, shown[:limit], {}
        if method == "POST" and route == "/api/v1/statuses":
            return self._post_status(form, headers)
        if method == "POST" and route == "/api/v1/apps":
            return self._register(form)
        if method == "GET" and route == "/oauth/authorize":
            return self._authorize_page(query)
        if method == "POST" and route == "/oauth/token":
            return self._token(form)
        return 404, {"error": "Record not found"}, {}

    def _post_status(self, form: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        refused = self._scoped(headers, "write:statuses")
        if refused:
            return refused
        key = headers.get("idempotency-key")
        now = self.clock()
        if key:
            earlier = self._idempotency.get(key)
            if earlier and now - earlier[1] < timedelta(seconds=IDEMPOTENCY_SECONDS):
                status = next(s for s in self.statuses if s["id"] == earlier[0])
                return 200, self._shown(status), {}
        text = str(form.get("status") or "")
        if not text.strip():
            return 422, {"error": "Validation failed: Text can't be blank"}, {}
        visibility = str(form.get("visibility") or "public")
        if visibility not in ("public", "unlisted", "private", "direct"):
            return 422, {"error": "Validation failed: Visibility is not included in the list"}, {}
        limit = self.max_characters or 500
        from bot.platforms.mastodon import length     # the counting rule is tested on its own table
        if length(text, self.url_length or 23) > limit:
            return 422, {"error": f"Validation failed: Text character limit of {limit} exceeded"}, {}
        status = self._store(text, visibility, form.get("language") or None)
        if key:
            self._idempotency[key] = (status["id"], now)
        return 200, self._shown(status), {}

    def _register(self, form: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        name = str(form.get("client_name") or "").strip()
        if not name:
            return 422, {"error": "Validation failed: Application name can't be blank"}, {}
        redirects = form.get("redirect_uris") or ""
        redirects = redirects if isinstance(redirects, list) else str(redirects).split()
        if not redirects or not all(r == OOB or re.match(r"[a-z][a-z0-9+.-]*://", r) for r in redirects):
            return 422, {"error": "Validation failed: Redirect URI must be an absolute URI."}, {}
        scopes = str(form.get("scopes") or "read").split()
        if not set(scopes) <= KNOWN_SCOPES:
            return 422, {"error": "Validation failed: Scopes doesn't match configured on the server."}, {}
        client_id, client_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        app = {"id": str(len(self.apps) + 563419), "name": name, "website": form.get("website"),
               "scopes": scopes, "redirect_uri": "\n".join(redirects), "redirect_uris": redirects,
               "client_id": client_id, "client_secret": client_secret, "client_secret_expires_at": 0}
        self.apps[client_id] = app
        return 200, app, {}

    def _authorize_page(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        app = self.apps.get(query.get("client_id", ""))
        if app is None or query.get("redirect_uri") not in app["redirect_uris"]:
            return 400, "<p>The redirect uri included is not valid, or the client is unknown.</p>", {}
        if query.get("response_type") != "code":
            return 400, "<p>The authorization server does not support this response type.</p>", {}
        scopes = query.get("scope", "read").replace("+", " ").split()
        if not set(scopes) <= set(app["scopes"]):
            return 400, "<p>The requested scope is invalid, unknown, or malformed.</p>", {}
        code = secrets.token_urlsafe(32)
        self.codes[code] = {"client_id": app["client_id"], "scopes": frozenset(scopes),
                            "redirect_uri": query["redirect_uri"]}
        page = (f'<html><body><p>Copy this authorization code and paste it to the application.</p>'
                f'<input class="oauth-code" readonly type="text" value="{html.escape(code)}"></body></html>')
        return 200, page, {}

    def _token(self, form: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        app = self.apps.get(str(form.get("client_id") or ""))
        if app is None or form.get("client_secret") != app["client_secret"]:
            return 401, {"error": "invalid_client",
                         "error_description": "Client authentication failed due to unknown client, no client "
                                              "authentication included, or unsupported authentication method."}, {}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "The authorization grant type is not supported."}, {}
        grant = self.codes.pop(str(form.get("code") or ""), None)
        if grant is None or grant["client_id"] != app["client_id"] or grant["redirect_uri"] != form.get(
                "redirect_uri"):
            return 400, {"error": "invalid_grant",
                         "error_description": "The provided authorization grant is invalid, expired, revoked, "
                                             "does not match the redirection URI used in the authorization "
                                             "request, or was issued to another client."}, {}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = grant["scopes"]
        return 200, {"access_token": token, "token_type": "Bearer", "scope": " ".join(sorted(grant["scopes"])),
                     "created_at": int(time.time())}, {}


def _content(text: str) -> str:
    """The text as Mastodon renders it: paragraphs, line breaks, links with a shortened display."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        out, position = [], 0
        for match in _URL.finditer(paragraph):
            url = match.group().rstrip(".,;:!?)")
            scheme, rest = url.split("://", 1)
            out.append(html.escape(paragraph[position:match.start()], quote=False))
            out.append(f'<a href="{html.escape(url)}" rel="nofollow noopener" target="_blank">'
                       f'<span class="invisible">{scheme}://</span>'
                       f'<span class="ellipsis">{html.escape(rest[:30])}</span></a>')
            position = match.start() + len(url)
        out.append(html.escape(paragraph[position:], quote=False))
        paragraphs.append("<p>" + "".join(out).replace("\n", "<br />") + "</p>")
    return "".join(paragraphs)


class _Handler(FakeHandler):
    fake: FakeMastodon
    protocol_version = "HTTP/1.0"

    def respond(self, method: str, path: str, body: bytes) -> None:
        raw = body.decode("utf-8", "replace")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form: dict[str, Any]
        if content_type == "application/json" and raw:
            try:
                form = json.loads(raw)
            except ValueError:
                self._send(400, b'{"error":"Error occurred while parsing request parameters"}',
                           "application/json; charset=utf-8", {})
                return
        else:
            form = {k: (v if k.endswith("[]") else v[-1]) for k, v in
                    parse_qs(raw, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.fake._answer(method, self.path, form, headers)
        if isinstance(answer, _Plan):
            self._planned(answer)
            return
        status, body, extra = answer
        if isinstance(body, str):
            self._send(status, body.encode(), "text/html; charset=utf-8", extra)
        else:
            self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)

    def _planned(self, plan: _Plan) -> None:
        if plan.kind == "hang":
            self.fake._released.wait(timeout=30)
            return
        if plan.kind == "drop":
            self.close_connection = True
            return
        if plan.kind == "garbage":
            self._send(plan.status, b'{"id": "1130', "application/json; charset=utf-8", {})
            return
        if plan.kind == "html":
            self._send(plan.status, _HTML_ERROR, "text/html", {})
            return
        if plan.kind == "trickle":
            status, body, extra = plan.body
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                for byte in payload:
                    if self.fake._released.wait(plan.interval):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:
                pass
            return
        body = json.dumps(plan.body).encode() if plan.body is not None else b""
        self._send(plan.status, body, "application/json; charset=utf-8", plan.headers)

    def _send(self, status: int, payload: bytes, content_type: str, extra: dict[str, str]) -> None:
        limits: dict[str, str] = {}
        if "X-RateLimit-Limit" not in extra:
            reset = (datetime.now(timezone.utc) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            limits = {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(RATE_LIMIT - 1),
                      "X-RateLimit-Reset": reset}
        self.send_body(status, payload, {"Content-Type": content_type, **limits, **extra})


@pytest.fixture
def fake_mastodon():
    fake = FakeMastodon()
    yield fake
    fake.close()
