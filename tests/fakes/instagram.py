"""A fake Instagram API with Instagram Login on 127.0.0.1, enough for the Instagram adapter.

Under any ``/vNN.N/`` prefix:

- ``POST /{ig_id}/media`` (form: ``image_url``, ``caption``, ``alt_text``, ``access_token``):
  fetches ``image_url`` itself, as Instagram cURLs it, and refuses what Instagram
  refuses: a fetch that fails (9004/2207052), an image over 8 MiB (36000/2207004),
  anything but JPEG by its first bytes (36001/2207005), an aspect ratio outside
  4:5 … 1.91:1 (36003/2207009). Otherwise → ``{"id": <container id>}``.
- ``GET /{container_id}?fields=status_code,status``: IN_PROGRESS for the first
  ``finish_after`` checks, then FINISHED; PUBLISHED once published; EXPIRED or
  ERROR when a test says so.
- ``POST /{ig_id}/media_publish`` (``creation_id``): publishes a FINISHED
  container once. IN_PROGRESS → 9007/2207027 "Media ID is not available";
  EXPIRED → -2/2207020; a second publish of the same container is refused
  (the real answer is not documented; the fake's is code 100, and the adapter
  never depends on it: it asks the container's status first). The
  ``limit_total`` publications per rolling 24 hours → 9/2207042.
- ``GET /{media_id}?fields=permalink``, ``GET /{ig_id}/media?fields=…&limit=N``
  (newest first), ``GET /{ig_id}/content_publishing_limit?fields=quota_usage,config``,
  ``GET /me?fields=user_id,username``.
- Unversioned: ``GET /refresh_access_token?grant_type=ig_refresh_token&access_token=…``
  and ``GET /access_token?grant_type=ig_exchange_token&client_secret=…&access_token=…``.

The token of every other call must come in the form body or an ``Authorization:
Bearer`` header: one in the URL is answered 400 so a leak fails loudly.
Errors use Graph's shape with HTTP 400. Tests steer the next answers with
``fail_next``, ``hang_next``, ``garbage_next``, ``revoke``/``restore``,
``expire``, ``break_container``.
"""
from __future__ import annotations

import itertools
import threading
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest

from tests.fakes.graph import graph_error, GraphHandler, Recorded, recorded
from tests.fakes.server import FakeHandler, FakeServer, bind

ACCOUNT_ID = "17841400000000042"
USERNAME = "example.blog"
TOKEN = "IGAAfake-LONG-token-5b7e21"
SHORT_TOKEN = "IGAAfake-SHORT-token-0c9d33"
APP_SECRET = "ig-fake-APP-secret-77aa19"
REFRESHED_PREFIX = "IGAAfake-REFRESHED-token-"
EXPIRES_IN = 5184000                  # 60 days, as the token endpoints answer

_TEXT = {
    190: "Error validating access token: Session has expired.",
    4: "Application request limit reached",
    17: "User request limit reached",
    32: "Page request limit reached",
    613: "Calls to this api have exceeded the rate limit.",
    9: "Application request limit reached",
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
}




class FakeInstagram(FakeServer):
    thread_name = "fake-instagram"

    def __init__(self, *, account_id: str = ACCOUNT_ID, token: str = TOKEN, username: str = USERNAME,
                 finish_after: int = 0, limit_total: int = 50,
                 clock: Callable[[], datetime] | None = None):
        self.account_id = account_id
        self.tokens = {token}
        self.username = username
        self.finish_after = finish_after    # status checks that answer IN_PROGRESS before FINISHED
        self.limit_total = limit_total
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.containers: dict[str, dict[str, Any]] = {}
        self.media: list[dict[str, Any]] = []       # published, oldest first
        self.image_fetches: list[str] = []
        self.refreshes = 0
        self.fail_permalinks = False        # reading a media's permalink answers 500 (it is published all the same)
        self._revoked = False
        self._lock = threading.Lock()
        self._ids = itertools.count(18000000000000001)
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    @property
    def requests(self) -> list[Recorded]:
        """Every request as received (headers in lower case, the form decoded), faulted ones included."""
        return recorded(self.received)

    # -- steering -------------------------------------------------------------

    def fail_next(self, code: int, subcode: int | None = None, *, http_status: int = 400, message: str | None = None,
                  user_msg: str | None = None, times: int = 1, headers: dict[str, str] | None = None,
                  is_transient: bool | None = None) -> None:
        error: dict[str, Any] = {"message": message or _TEXT.get(code, f"(#{code}) Fake Instagram error"),
                                 "type": "OAuthException", "code": code, "fbtrace_id": f"AfakeIG{code}"}
        if subcode is not None:
            error["error_subcode"] = subcode
        if user_msg is not None:
            error["error_user_title"] = "Fake title"
            error["error_user_msg"] = user_msg
        if is_transient is not None:
            error["is_transient"] = is_transient
        self.answer_next(http_status, {"error": error}, headers, times, content_type="application/json; charset=UTF-8")

    def garbage_next(self, http_status: int = 200) -> None:  # type: ignore[override]
        """Not JSON at all."""
        self.answer_next(http_status, b"\x00\x01not json{")

    def html_next(self, http_status: int = 502) -> None:
        """A proxy's HTML error page."""
        self.answer_next(http_status, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                         content_type="text/html; charset=utf-8")

    def revoke(self) -> None:
        with self._lock:
            self._revoked = True

    def restore(self) -> None:
        with self._lock:
            self._revoked = False

    def expire(self, container_id: str) -> None:
        with self._lock:
            self.containers[container_id]["state"] = "EXPIRED"

    def break_container(self, container_id: str, status: str = "ERROR: 2207001 Instagram server error") -> None:
        with self._lock:
            self.containers[container_id]["state"] = "ERROR"
            self.containers[container_id]["status"] = status

    def add_media(self, caption: str, *, at: datetime | None = None) -> str:
        """A post published earlier (by hand, or before a crash)."""
        with self._lock:
            return self._publish_media(caption, at or self.clock(), container_id=None)

    def published_from(self, container_id: str) -> list[dict[str, Any]]:
        return [m for m in self.media if m["container"] == container_id]

    # -- answering ------------------------------------------------------------

    def _answer(self, method, path, query, form, headers):
        parts = [p for p in urlsplit(path).path.split("/") if p]
        if parts and parts[0] in ("refresh_access_token", "access_token"):
            with self._lock:
                return self._token_endpoint(parts[0], query)
        if "access_token" in query or "client_secret" in query:
            return _error(400, 100, "(#100) fake Instagram: tokens must not travel in the URL")
        if not parts or not parts[0].startswith("v"):
            return _error(400, 2500, "Unknown path components: /" + "/".join(parts))
        token = form.get("access_token") or ""
        auth = headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        with self._lock:
            if not token:
                return _error(400, 104, "An access token is required to request this resource.")
            if self._revoked or token not in self.tokens:
                return _error(400, 190, "Error validating access token: Session has expired.", subcode=463)
        node, edge = (parts[1:] + [None, None])[:2]
        if method == "POST" and node == self.account_id and edge == "media":
            return self._create(form)          # fetches the image: outside the lock
        with self._lock:
            return self._api(method, node, edge, query, form)

    def _create(self, form):
        image_url = form.get("image_url", "")
        if not image_url:
            return _error(400, 100, "(#100) The parameter image_url is required")
        self.image_fetches.append(image_url)
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback only, never a proxy
            with opener.open(image_url, timeout=5) as response:
                data = response.read(MAX_IMAGE_BYTES + 1)
        except Exception:  # noqa: BLE001  whatever went wrong, Instagram says the same
            return _error(400, 9004, "The media could not be fetched from this URI: " + image_url,
                          subcode=2207052, user_title="Media download has failed.")
        problem = _refusal(data)
        if problem:
            return problem
        with self._lock:
            container_id = str(next(self._ids))
            self.containers[container_id] = {"id": container_id, "state": "IN_PROGRESS", "checks": 0,
                                             "caption": form.get("caption", ""), "alt_text": form.get("alt_text"),
                                             "image_url": image_url, "status": ""}
            return 200, {"id": container_id}, {}

    def _api(self, method, node, edge, query, form):
        if method == "GET" and node == "me" and edge is None:
            return 200, {"user_id": self.account_id, "username": self.username, "id": "9876543210"}, {}
        if method == "POST" and node == self.account_id and edge == "media_publish":
            return self._publish(form.get("creation_id", ""))
        if method == "GET" and node == self.account_id and edge == "content_publishing_limit":
            return 200, {"data": [{"quota_usage": self._used(),
                                   "config": {"quota_total": self.limit_total, "quota_duration": 86400}}]}, {}
        if method == "GET" and node == self.account_id and edge == "media":
            limit = int(query.get("limit") or 25)
            return 200, {"data": [self._public(m) for m in reversed(self.media)][:limit]}, {}
        if method == "GET" and node in self.containers and edge is None:
            container = self.containers[node]
            if container["state"] == "IN_PROGRESS":
                container["checks"] += 1
                if container["checks"] > self.finish_after:
                    container["state"] = "FINISHED"
            body = {"id": node, "status_code": container["state"]}
            if container["state"] == "ERROR":
                body["status"] = container["status"]
            return 200, body, {}
        media = next((m for m in self.media if m["id"] == node), None)
        if method == "GET" and media is not None and edge is None and self.fail_permalinks:
            return _error(500, 2, "An unexpected error has occurred. Please retry your request later.")
        if method == "GET" and media is not None and edge is None:
            return 200, {"id": node, "permalink": media["permalink"]}, {}
        return _error(400, 100, f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, "
                                f"cannot be loaded due to missing permissions, or does not support this operation",
                      subcode=33)

    def _publish(self, creation_id: str):
        container = self.containers.get(creation_id)
        if container is None:
            return _error(400, 24, f"The media with id {creation_id} cannot be found", subcode=2207006)
        if container["state"] == "PUBLISHED":
            return _error(400, 100, f"(#100) fake Instagram: container {creation_id} is already published")
        if container["state"] == "EXPIRED":
            return _error(400, -2, "The media you are trying to access has expired. Please try to upload again.",
                          subcode=2207020)
        if container["state"] == "IN_PROGRESS":
            return _error(400, 9007, "Media ID is not available", subcode=2207027)
        if container["state"] == "ERROR":
            return _error(400, 9007, "Media ID is not available", subcode=2207027)
        if self._used() >= self.limit_total:
            return _error(400, 9, "Application request limit reached", subcode=2207042,
                          user_msg="You reached maximum number of posts that is allowed to be published by "
                                   "Content Publishing API.")
        container["state"] = "PUBLISHED"
        return 200, {"id": self._publish_media(container["caption"], self.clock(), creation_id)}, {}

    def _publish_media(self, caption: str, at: datetime, container_id: str | None) -> str:
        media_id = str(next(self._ids))
        self.media.append({"id": media_id, "caption": caption, "timestamp": at, "container": container_id,
                           "permalink": f"https://www.instagram.com/p/Cfake{media_id[-6:]}/"})
        return media_id

    def _used(self) -> int:
        since = self.clock() - timedelta(hours=24)
        return sum(1 for m in self.media if m["timestamp"] > since and m["container"] is not None)

    def _public(self, media: dict[str, Any]) -> dict[str, Any]:
        return {"id": media["id"], "caption": media["caption"], "permalink": media["permalink"],
                "timestamp": media["timestamp"].strftime("%Y-%m-%dT%H:%M:%S+0000")}

    def _token_endpoint(self, endpoint: str, query: dict[str, str]):
        token = query.get("access_token", "")
        if endpoint == "refresh_access_token":
            if query.get("grant_type") != "ig_refresh_token":
                return _error(400, 100, "(#100) grant_type must be ig_refresh_token")
            if self._revoked or token not in self.tokens:
                return _error(400, 190, "Error validating access token: Session has expired.", subcode=463)
            self.refreshes += 1
            fresh = f"{REFRESHED_PREFIX}{self.refreshes}"
            self.tokens.discard(token)
            self.tokens.add(fresh)
            return 200, {"access_token": fresh, "token_type": "bearer", "expires_in": EXPIRES_IN}, {}
        if query.get("grant_type") != "ig_exchange_token":
            return _error(400, 100, "(#100) grant_type must be ig_exchange_token")
        if query.get("client_secret") != APP_SECRET:
            return _error(400, 101, "Error validating client secret.")
        if token != SHORT_TOKEN:
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        self.tokens.add(TOKEN)
        return 200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": EXPIRES_IN}, {}


MAX_IMAGE_BYTES = 8 * 1024 * 1024


def jpeg(width: int, height: int, *, progressive: bool = False, pad: int = 0) -> bytes:
    """A minimal JPEG: SOI, an APP0 (JFIF) segment, a SOF0/SOF2 frame header, EOI."""
    app0 = b"\xff\xe0" + (16).to_bytes(2, "big") + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = b"\xff\xfe" + (2 + pad).to_bytes(2, "big") + b"x" * pad if pad else b""
    sof = (b"\xff" + (b"\xc2" if progressive else b"\xc0") + (17).to_bytes(2, "big") + b"\x08"
           + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x03"
           + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01")
    return b"\xff\xd8" + app0 + comment + sof + b"\xff\xd9"


def _refusal(data: bytes):
    """What Instagram answers for an image it will not take, or None."""
    if len(data) > MAX_IMAGE_BYTES:
        return _error(400, 36000, "The image size is too large.", subcode=2207004,
                      user_msg="The image is too large to download. It should be less than 8 MiB.")
    if data[:3] != b"\xff\xd8\xff":
        return _error(400, 36001, "The image format is not supported.", subcode=2207005,
                      user_msg="The image format is not supported. Supported formats are: JPEG")
    size = _dimensions(data)
    if size is None:
        return _error(400, 36001, "The image format is not supported.", subcode=2207005)
    width, height = size
    if width * 5 < height * 4 or width * 100 > height * 191:
        return _error(400, 36003, f"The submitted image with aspect ratio ('{width}/{height}') cannot be "
                                  f"published. Please submit an image with a valid aspect ratio.", subcode=2207009)
    return None


def _dimensions(data: bytes) -> tuple[int, int] | None:
    # Written apart from the adapter's parser on purpose: the fake must not share its bugs.
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        length = (data[pos + 2] << 8) | data[pos + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (data[pos + 7] << 8) | data[pos + 8], (data[pos + 5] << 8) | data[pos + 6]
        pos += 2 + length
    return None


def _error(status: int, code: int, message: str, *, subcode: int | None = None, user_msg: str | None = None,
           user_title: str | None = None) -> tuple[int, Any, dict]:
    return graph_error(status, code, message, trace_prefix="AfakeIG", subcode=subcode, user_msg=user_msg,
                       user_title=user_title)


class _Handler(GraphHandler):
    fake: FakeInstagram


@pytest.fixture
def fake_instagram(clock):
    fake = FakeInstagram(clock=clock)
    yield fake
    fake.close()
