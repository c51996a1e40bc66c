"""A fake X API v2 on 127.0.0.1 that checks OAuth 1.0a signatures like X does.

It speaks the parts of the API autopost uses, with X's status codes,
rate-limit headers and error bodies, and records what it accepted:

- ``POST /2/tweets`` → 201 ``{"data": {"id", "text"}}``; the same text twice
  is X's 403 duplicate problem.
- ``GET /2/users/me`` → ``{"data": {"id", "name", "username"}}``.
- ``GET /2/users/{id}/tweets`` → newest first, with ``entities.urls[]``
  (``url`` as t.co, ``expanded_url`` as posted) when ``tweet.fields``
  asks for entities.
- ``POST /2/media/upload`` (multipart ``media`` + ``media_category``) →
  ``{"data": {"id", "media_key", ...}}``; over 5 MB is a 400.
- ``GET /img/...``: images for download tests, served without auth:
  ``ok.png``, ``missing.png`` (404), ``huge.png`` (20 MB, declared),
  ``huge-unsized.png`` (20 MB, no Content-Length), ``page.html`` (text/html),
  ``slow.png`` (hangs until the test ends).

Every API request must carry a valid HMAC-SHA1 signature made with the
credentials the fake accepts (verified with oauthlib's resource endpoint,
nonces may not repeat); otherwise the answer is X's 401. Tests steer it with
``fail_next``, ``hang_next``, ``garbage_next``, ``revoke``/``restore`` and
``accept_credentials``.
"""
from __future__ import annotations

import email.parser
import email.policy
import hmac
import itertools
import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.server import FakeHandler, FakeServer, bind
from oauthlib.oauth1 import RequestValidator, ResourceEndpoint

# Distinctive values, so a test can search logs and messages for them.
CREDENTIALS = {
    "api_key": "fakeConsumerKeyAbc123XyZ",
    "api_secret": "fakeConsumerSecretQwErTy987654321",
    "access_token": "1500000000000000001-fakeAccessTokenZzZ",
    "access_token_secret": "fakeAccessTokenSecretMnB456",
}

# Error bodies as X sends them.
PROBLEM_UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                        "detail": "Unauthorized"}
PROBLEM_DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.",
                     "type": "about:blank", "title": "Forbidden", "status": 403}
PROBLEM_OAUTH1_PERMISSIONS = {
    "title": "Forbidden", "status": 403,
    "detail": ("Your client app is not configured with the appropriate oauth1 app permissions "
               "for this endpoint."),
    "type": "https://api.twitter.com/2/problems/oauth1-permissions",
}
PROBLEM_CLIENT_FORBIDDEN = {
    "client_id": "27000000",
    "detail": ("When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
               "tokens from a Twitter developer App that is attached to a Project. You can create a "
               "project via the developer portal."),
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden", "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled", "type": "https://api.twitter.com/2/problems/client-forbidden",
}
PROBLEM_TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                    "status": 429}
PROBLEM_SERVER = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank",
                  "status": 503}
PROBLEM_CREDITS = {"title": "Payment Required", "detail": "credits depleted",
                   "type": "https://api.x.com/2/problems/credits-depleted", "status": 402}

# A valid 1×1 transparent PNG.
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
HUGE_IMAGE_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
HANG_LIMIT_SECONDS = 30  # a hung handler lets go by itself if a test forgets to close


class _Validator(RequestValidator):
    """oauthlib's checks, fed with the one app and token this fake accepts."""

    def __init__(self, fake: FakeX):
        super().__init__()
        self._fake = fake
        self._nonces: set[tuple[str, str, str, str | None]] = set()

    enforce_ssl = False                      # the fake speaks plain http on loopback
    nonce_length = (8, 64)
    dummy_client = "dummy-client"
    dummy_access_token = "dummy-access-token"

    # X's keys and tokens contain '-' and vary in length: accept any shape, check by value.
    def check_client_key(self, client_key):
        return bool(client_key)

    def check_access_token(self, request_token):
        return bool(request_token)

    def check_nonce(self, nonce):
        return bool(nonce) and nonce.isalnum()

    def validate_client_key(self, client_key, request):
        return _same(client_key, self._fake.credentials["api_key"])

    def get_client_secret(self, client_key, request):
        if _same(client_key, self._fake.credentials["api_key"]):
            return self._fake.credentials["api_secret"]
        return "dummy-secret"

    def validate_access_token(self, client_key, token, request):
        return _same(token, self._fake.credentials["access_token"])

    def get_access_token_secret(self, client_key, token, request):
        if _same(token, self._fake.credentials["access_token"]):
            return self._fake.credentials["access_token_secret"]
        return "dummy-token-secret"

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request,
                                     request_token=None, access_token=None):
        key = (client_key, timestamp, nonce, access_token)
        with self._fake._lock:
            if key in self._nonces:
                return False
            self._nonces.add(key)
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class FakeX(FakeServer):
    thread_name = "fake-x"

    def __init__(self, *, username: str = "autopost_blog", user_id: str = "1500000000000000001",
                 **credentials: str):
        self.credentials = dict(CREDENTIALS, **credentials)
        self.username = username
        self.user_id = user_id
        self.posts: list[dict[str, Any]] = []          # accepted posts, oldest first
        self.uploads: list[dict[str, Any]] = []        # accepted media
        self.requests: list[dict[str, Any]] = []       # every request: method, path, signed
        self.image_requests: list[str] = []
        self.revoked = False
        self._lock = threading.Lock()
        self._ids = itertools.count(1800000000000000001)
        self._endpoint = ResourceEndpoint(_Validator(self))
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    # -- steering -------------------------------------------------------------

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` API requests (optionally only those under ``path``) with ``status``."""
        if body is None:
            body = _default_problem(status)
        self.answer_next(status, body, headers, times, path=path, content_type="application/problem+json")

    def garbage_next(self, body: bytes = b"<html>upstream glitch</html>", status: int = 200,
                     times: int = 1, *, path: str | None = None) -> None:
        """Answer a 2xx (by default) with a body that is not the JSON X sends."""
        self.answer_next(status, body, times=times, path=path, content_type="text/html")

    def revoke(self) -> None:
        """Every API request is X's 401 from now on (a revoked or regenerated token)."""
        self.revoked = True

    def restore(self) -> None:
        self.revoked = False

    def accept_credentials(self, **credentials: str) -> None:
        """Accept these credentials from now on (others get 401), e.g. after a rotation."""
        with self._lock:
            self.credentials.update(credentials)
        self.revoked = False

    def add_existing_post(self, text: str) -> dict[str, Any]:
        """A post made earlier (e.g. before a crash) that the timeline shows."""
        with self._lock:
            return self._store_post(text, [])

    # -- internals --------------------------------------------------------------

    def _signature_ok(self, method: str, uri: str, headers: dict[str, str], body: bytes) -> bool:
        content_type = headers.get("Content-Type", "")
        # OAuth 1.0a signs the body only when it is form-encoded (RFC 5849 §3.4.1.3).
        signed_body = body.decode() if content_type.startswith("application/x-www-form-urlencoded") else None
        auth = {"Authorization": headers["Authorization"]} if "Authorization" in headers else {}
        valid, _ = self._endpoint.validate_protected_resource_request(uri, http_method=method,
                                                                      body=signed_body, headers=auth)
        return valid

    def _store_post(self, text: str, media_ids: list[str]) -> dict[str, Any]:
        post = {"id": str(next(self._ids)), "text": text, "media_ids": list(media_ids),
                "urls": re.findall(r"https?://\S+", text)}
        self.posts.append(post)
        return post


def _default_problem(status: int) -> dict[str, Any]:
    return {401: PROBLEM_UNAUTHORIZED, 402: PROBLEM_CREDITS, 403: PROBLEM_DUPLICATE,
            429: PROBLEM_TOO_MANY}.get(status) or (
        PROBLEM_SERVER if status >= 500 else
        {"title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
         "type": "https://api.twitter.com/2/problems/invalid-request", "status": status})


def _rate_headers() -> dict[str, str]:
    reset = str(int(time.time()) + 900)
    return {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "99", "x-rate-limit-reset": reset,
            "x-user-limit-24hour-limit": "17", "x-user-limit-24hour-remaining": "16",
            "x-user-limit-24hour-reset": str(int(time.time()) + 86400)}


class _Handler(FakeHandler):
    fake: FakeX

    def before_faults(self, method: str, path: str, raw: bytes) -> bool:
        """Images need no auth; every API call is checked for its signature before anything else."""
        fake = self.fake
        if path.startswith("/img/"):
            fake.image_requests.append(path)
            self._image(path)
            return True
        headers = {k: v for k, v in self.headers.items()}
        uri = f"http://{self.headers.get('Host')}{self.path}"
        signed = fake._signature_ok(method, uri, headers, raw)
        fake.requests.append({"method": method, "path": path, "signed": signed})
        if not signed or fake.revoked:
            self._json(401, PROBLEM_UNAUTHORIZED)
            return True
        return False

    def respond(self, method: str, path: str, raw: bytes) -> None:
        fake = self.fake
        route = (method, path)
        if route == ("POST", "/2/tweets"):
            return self._create_post(raw)
        if route == ("GET", "/2/users/me"):
            return self._json(200, {"data": {"id": fake.user_id, "name": "Autopost Blog",
                                             "username": fake.username}})
        match = re.fullmatch(r"/2/users/(\d+)/tweets", path)
        if method == "GET" and match:
            return self._timeline(match.group(1))
        if route == ("POST", "/2/media/upload"):
            return self._upload(raw)
        return self._json(404, {"title": "Not Found Error", "type":
                                "https://api.twitter.com/2/problems/resource-not-found",
                                "detail": f"Could not find {path}", "status": 404})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_body(status, body, headers)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        content_type = "application/problem+json" if status >= 400 else "application/json; charset=utf-8"
        self._send(status, json.dumps(payload).encode(),
                   {"Content-Type": content_type, **_rate_headers(), **(headers or {})})

    # -- endpoints ----------------------------------------------------

    def _create_post(self, body: bytes) -> None:
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        text = request.get("text") if isinstance(request, dict) else None
        media = request.get("media") if isinstance(request, dict) else None
        media_ids = (media.get("media_ids") or []) if isinstance(media, dict) else []
        if not isinstance(text, str) or not text.strip():
            return self._json(400, {"errors": [{"message": "text: must not be empty"}],
                                    "title": "Invalid Request", "type":
                                    "https://api.twitter.com/2/problems/invalid-request",
                                    "detail": "One or more parameters to your request was invalid."})
        known_media = {upload["id"] for upload in self.fake.uploads}
        if any(media_id not in known_media for media_id in media_ids):
            return self._json(400, {"title": "Invalid Request", "status": 400, "detail":
                                    "Your media IDs are invalid.", "type":
                                    "https://api.twitter.com/2/problems/invalid-request"})
        with self.fake._lock:
            if any(post["text"] == text for post in self.fake.posts):
                duplicate = True
            else:
                duplicate = False
                post = self.fake._store_post(text, media_ids)
        if duplicate:
            return self._json(403, PROBLEM_DUPLICATE)
        self._json(201, {"data": {"id": post["id"], "text": text,
                                  "edit_history_tweet_ids": [post["id"]]}})

    def _timeline(self, user_id: str) -> None:
        query = parse_qs(urlsplit(self.path).query)
        with_entities = "entities" in ",".join(query.get("tweet.fields", [])).split(",")
        limit = int((query.get("max_results") or ["10"])[0])
        posts = [] if user_id != self.fake.user_id else list(reversed(self.fake.posts))[:limit]
        data = []
        for post in posts:
            item = {"id": post["id"], "text": post["text"], "edit_history_tweet_ids": [post["id"]]}
            if with_entities and post["urls"]:
                item["entities"] = {"urls": [
                    {"start": post["text"].index(url), "end": post["text"].index(url) + len(url),
                     "url": f"https://t.co/fake{n}", "expanded_url": url,
                     "display_url": url.split("://", 1)[-1][:25]}
                    for n, url in enumerate(post["urls"])]}
            data.append(item)
        if not data:
            return self._json(200, {"meta": {"result_count": 0}})
        self._json(200, {"data": data, "meta": {"result_count": len(data), "newest_id": data[0]["id"],
                                                "oldest_id": data[-1]["id"]}})

    def _upload(self, body: bytes) -> None:
        fields = _multipart(self.headers.get("Content-Type", ""), body)
        media = fields.get("media")
        if media is None or not media[0]:
            return self._json(400, {"title": "Invalid Request", "status": 400, "detail":
                                    "media: must be present", "type":
                                    "https://api.twitter.com/2/problems/invalid-request"})
        content, content_type = media
        if len(content) > MAX_UPLOAD_BYTES:
            return self._json(400, {"title": "Invalid Request", "status": 400, "detail":
                                    "File size exceeds 5242880 bytes.", "type":
                                    "https://api.twitter.com/2/problems/invalid-request"})
        category = fields.get("media_category", (b"", ""))[0].decode()
        media_id = str(next(self.fake._ids))
        with self.fake._lock:
            self.fake.uploads.append({"id": media_id, "bytes": content, "content_type": content_type,
                                 "media_category": category})
        self._json(200, {"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(content),
                                  "expires_after_secs": 86400,
                                  "image": {"image_type": content_type, "w": 1, "h": 1}}})

    def _image(self, path: str) -> None:
        if path == "/img/ok.png":
            return self._send(200, PNG_1PX, {"Content-Type": "image/png"})
        if path == "/img/page.html":
            return self._send(200, b"<html>not an image</html>", {"Content-Type": "text/html"})
        if path == "/img/slow.png":
            self.fake._released.wait(HANG_LIMIT_SECONDS)
            self.close_connection = True
            return
        if path in ("/img/huge.png", "/img/huge-unsized.png"):
            return self._huge(declare_length=path == "/img/huge.png")
        self._send(404, b"<html>Not Found</html>", {"Content-Type": "text/html"})

    def _huge(self, *, declare_length: bool) -> None:
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            if declare_length:
                self.send_header("Content-Length", str(HUGE_IMAGE_BYTES))
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"\0" * (256 * 1024)
            for _ in range(HUGE_IMAGE_BYTES // len(chunk)):
                self.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading, as it should



def _multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str]]:
    """Form fields of a multipart/form-data body: name → (bytes, content type)."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = (part.get_payload(decode=True) or b"", part.get_content_type())
    return fields


@pytest.fixture
def fake_x():
    fake = FakeX()
    try:
        yield fake
    finally:
        fake.close()
