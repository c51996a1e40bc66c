"""A fake of X's OAuth 1.0a PIN flow on 127.0.0.1, signatures checked with oauthlib.

The three endpoints, as X documents them (docs.x.com, "OAuth 1.0a: PIN-based
authorization" and "POST oauth/request_token"):

- ``POST /oauth/request_token`` with ``oauth_callback=oob`` in the signed
  Authorization header → ``oauth_token=…&oauth_token_secret=…&oauth_callback_confirmed=true``.
- ``GET /oauth/authorize?oauth_token=…`` → the page a signed-in user sees after
  approving the app, showing a 7-digit PIN (the ``oauth_verifier``);
  :meth:`FakeXOAuth.deny` makes the user press "Cancel" instead.
- ``POST /oauth/access_token`` signed with the request token and carrying the
  PIN as ``oauth_verifier`` → ``oauth_token=…&oauth_token_secret=…&user_id=…&screen_name=…``.
  A request token works once.

Signatures, timestamps and nonces are checked by oauthlib's
``RequestTokenEndpoint`` and ``AccessTokenEndpoint``; a bad one gets X's 401
``{"errors": [{"code": 32, "message": "Could not authenticate you."}]}``.

With ``api=FakeX.base_url`` every other path is forwarded, Host header and all,
to the fake X API, so one base URL serves the whole "auth, then check" story
(the OAuth 1.0a signature covers the host, which the forwarding keeps).
"""
from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.server import FakeHandler, FakeServer, bind
from oauthlib.oauth1 import AccessTokenEndpoint, RequestTokenEndpoint, RequestValidator

from tests.fakes.twitter import CREDENTIALS

USER_ID = "1500000000000000001"
SCREEN_NAME = "autopost_blog"
COULD_NOT_AUTHENTICATE = {"errors": [{"code": 32, "message": "Could not authenticate you."}]}


class _Validator(RequestValidator):
    """oauthlib's questions, answered from the fake's one app and its request tokens."""

    enforce_ssl = False                        # plain http on loopback
    dummy_client = "dummy-client"
    dummy_request_token = "dummy-request-token"

    def __init__(self, fake: FakeXOAuth):
        super().__init__()
        self._fake = fake
        self._nonces: set[tuple[str, str, str]] = set()

    # X's keys and tokens vary in shape: accept any non-empty value, check by value below.
    def check_client_key(self, client_key):
        return bool(client_key)

    def check_request_token(self, request_token):
        return bool(request_token)

    def check_nonce(self, nonce):
        return bool(nonce) and nonce.isalnum()

    def check_verifier(self, verifier):
        return bool(re.fullmatch(r"\d{7}", verifier or ""))

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request, request_token=None,
                                     access_token=None):
        key = (client_key, timestamp, nonce)
        with self._fake._lock:
            if key in self._nonces:
                return False
            self._nonces.add(key)
        return True

    def validate_client_key(self, client_key, request):
        return client_key == self._fake.api_key

    def get_client_secret(self, client_key, request):
        return self._fake.api_secret if client_key == self._fake.api_key else "dummy-secret"

    def get_default_realms(self, client_key, request):
        return []

    def validate_requested_realms(self, client_key, realms, request):
        return True

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        return redirect_uri == "oob"           # the PIN flow; autopost never uses a callback URL

    def save_request_token(self, token, request):
        with self._fake._lock:
            self._fake.request_tokens[token["oauth_token"]] = {
                "secret": token["oauth_token_secret"], "verifier": None, "used": False}

    def validate_request_token(self, client_key, token, request):
        entry = self._fake.request_tokens.get(token)
        return entry is not None and not entry["used"]

    def get_request_token_secret(self, client_key, token, request):
        entry = self._fake.request_tokens.get(token)
        return entry["secret"] if entry else "dummy-token-secret"

    def validate_verifier(self, client_key, token, verifier, request):
        entry = self._fake.request_tokens.get(token)
        return bool(entry and entry["verifier"] and secrets.compare_digest(entry["verifier"], verifier))

    def invalidate_request_token(self, client_key, request_token, request):
        with self._fake._lock:
            if request_token in self._fake.request_tokens:
                self._fake.request_tokens[request_token]["used"] = True

    def get_realms(self, token, request):
        return []

    def save_access_token(self, token, request):
        # oauthlib encodes this very dict after saving it: answer as X does.
        token.clear()
        token.update({"oauth_token": self._fake.access_token,
                      "oauth_token_secret": self._fake.access_token_secret,
                      "user_id": self._fake.user_id, "screen_name": self._fake.screen_name})
        self._fake.issued += 1


class FakeXOAuth(FakeServer):
    poll_interval = 0.02
    thread_name = "fake-x-oauth"

    def __init__(self, *, api: str | None = None, api_key: str = CREDENTIALS["api_key"],
                 api_secret: str = CREDENTIALS["api_secret"], access_token: str = CREDENTIALS["access_token"],
                 access_token_secret: str = CREDENTIALS["access_token_secret"], user_id: str = USER_ID,
                 screen_name: str = SCREEN_NAME):
        self.api = api
        self.api_key = api_key
        self.api_secret = api_secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret
        self.user_id = user_id
        self.screen_name = screen_name
        self.request_tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []     # {"method", "path", "status"}
        self.issued = 0                              # access tokens handed out
        self.denied = False
        self._lock = threading.Lock()
        validator = _Validator(self)
        self._request_endpoint = RequestTokenEndpoint(validator)
        self._access_endpoint = AccessTokenEndpoint(validator)
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    def deny(self) -> None:
        """The user presses "Cancel" on the authorise page: no PIN is shown."""
        self.denied = True

    def pin_for(self, request_token: str) -> str | None:
        entry = self.request_tokens.get(request_token)
        return entry["verifier"] if entry else None

    # -- answering ------------------------------------------------------------

    def _token_call(self, endpoint: str, uri: str, method: str, headers: dict[str, str],
                    body: str) -> tuple[int, str, bytes]:
        auth = {"Authorization": headers["Authorization"]} if "Authorization" in headers else {}
        form = body if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded") else None
        if endpoint == "request_token":
            _, text, status = self._request_endpoint.create_request_token_response(
                uri, http_method=method, body=form, headers=auth)
        else:
            _, text, status = self._access_endpoint.create_access_token_response(
                uri, http_method=method, body=form, headers=auth)
        if status == 200:
            return 200, "text/html; charset=utf-8", text.encode()   # X really labels it text/html
        return 401, "application/json", json.dumps(COULD_NOT_AUTHENTICATE).encode()

    def _authorize_page(self, query: dict[str, list[str]]) -> bytes:
        token = (query.get("oauth_token") or [""])[0]
        with self._lock:
            entry = self.request_tokens.get(token)
            if entry is None or entry["used"]:
                return b"<html><body><h2>This page is no longer valid.</h2></body></html>"
            if self.denied:
                return b"<html><body><p>You have not signed in to the app.</p></body></html>"
            entry["verifier"] = entry["verifier"] or f"{secrets.randbelow(10**7):07d}"
            pin = entry["verifier"]
        return (f'<html><body><p>Next, return to the app and enter this PIN to complete the authorization '
                f'process:</p><div id="oauth_pin"><p><kbd aria-labelledby="code-desc"><code>{pin}</code>'
                f'</kbd></p></div></body></html>').encode()


class _Handler(FakeHandler):
    fake: FakeXOAuth

    def respond(self, method: str, path: str, body: bytes) -> None:
        parts = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        if self.fake.api and not parts.path.startswith("/oauth/"):
            return self._forward(method, body)
        uri = f"http://{self.headers.get('Host')}{self.path}"
        if (method, parts.path) == ("POST", "/oauth/request_token"):
            status, kind, payload = self.fake._token_call("request_token", uri, method, headers, body.decode())
        elif (method, parts.path) == ("POST", "/oauth/access_token"):
            status, kind, payload = self.fake._token_call("access_token", uri, method, headers, body.decode())
        elif (method, parts.path) == ("GET", "/oauth/authorize"):
            status, kind, payload = 200, "text/html; charset=utf-8", self.fake._authorize_page(parse_qs(parts.query))
        else:
            status, kind = 404, "application/json"
            payload = json.dumps({"errors": [{"code": 34, "message": "Sorry, that page does not exist."}]}).encode()
        with self.fake._lock:
            self.fake.requests.append({"method": method, "path": parts.path, "status": status})
        self._send(status, kind, payload)

    def _forward(self, method: str, body: bytes) -> None:
        target = urlsplit(self.fake.api)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            # Host unchanged: the fake API recomputes the signed URI from it.
            connection.request(method, self.path, body=body or None,
                               headers={k: v for k, v in self.headers.items()})
            answer = connection.getresponse()
            payload = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            connection.close()

    def _send(self, status: int, kind: str, payload: bytes) -> None:
        self.send_body(status, payload, {"Content-Type": kind})


def read_pin(page: str) -> str | None:
    """The PIN on an authorise page, as the user reads it."""
    match = re.search(r"<code>(\d{7})</code>", page)
    return match.group(1) if match else None


@pytest.fixture
def fake_x_oauth():
    fake = FakeXOAuth()
    yield fake
    fake.close()

