"""A fake Bluesky PDS on 127.0.0.1 speaking the XRPC endpoints the adapter uses.

Endpoints (under ``/xrpc/``), answering as the reference PDS does
(bluesky-social/atproto, packages/pds):

- ``com.atproto.server.createSession`` {identifier, password} → accessJwt,
  refreshJwt, did, handle, active. Only the app password logs in (the account
  password answers as a wrong one would, since the adapter must never send it);
  wrong: 401 ``AuthenticationRequired`` "Invalid identifier or password".
- ``com.atproto.server.refreshSession`` (bearer: the refresh token) → a new
  pair; the old refresh token is revoked. Expired or revoked: 400 ``ExpiredToken``.
- ``com.atproto.server.getSession`` (bearer: access) → handle, did, active.
- ``com.atproto.repo.uploadBlob`` (bearer, raw body, Content-Type) → ``{"blob":
  {"$type": "blob", "ref": {"$link": cid}, "mimeType", "size"}}``.
- ``com.atproto.repo.createRecord`` (bearer) validates the record as the
  app.bsky.feed.post lexicon requires (text ≤ 300 graphemes and ≤ 3000 bytes,
  createdAt, langs, facets whose UTF-8 byte ranges lie inside the text and,
  stricter than the PDS, land exactly on the link's URI or ``#tag`` text,
  the external embed with a thumb this fake issued, ≤ 1,000,000 bytes,
  image/*), requires a TID rkey, and answers an rkey that exists with HTTP 500
  ``InternalServerError`` as the PDS does (MST "There is already a value at key").
- ``com.atproto.repo.getRecord`` (no login) → uri, cid, value; or 400 ``RecordNotFound``.

An expired access token is answered 400 ``ExpiredToken`` "Token has expired",
as packages/pds/src/auth-verifier.ts does. Graphemes are counted with the
composer's segmentation (the stdlib has none); tests check that counter
against known clusters separately.

Tests steer the next answers with ``fail_next`` (any status and XRPC error,
headers), ``hang_next``, ``trickle_next``, ``garbage_next``, ``html_next``,
``drop_after_create_next``, and the tokens with ``expire_access`` /
``expire_refresh``; ``takedown`` suspends the account.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakes.server import FakeHandler, FakeServer, bind

HANDLE = "autopost-test.bsky.social"
DID = "did:plc:7iza6de2dwap2sbkpav7c6c6"
APP_PASSWORD = "k2xq-7fma-vd3n-p4ws"
ACCOUNT_PASSWORD = "the account password, never used"

_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    nsid: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Plan:
    kind: str                      # "error" | "hang" | "trickle" | "garbage" | "html" | "drop"
    nsid: str | None = None        # only for this endpoint; None: the next request of any
    status: int = 400
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FakePDS(FakeServer):
    thread_name = "fake-pds"

    def __init__(self, *, handle: str = HANDLE, did: str = DID, app_password: str = APP_PASSWORD):
        self.handle = handle
        self.did = did
        self.app_password = app_password
        self.records: dict[str, dict[str, Any]] = {}   # rkey -> {"uri", "cid", "value"}
        self.blobs: dict[str, dict[str, Any]] = {}     # cid -> {"mimeType", "size"}
        self.requests: list[Recorded] = []
        self.logins = 0
        self.refreshes = 0
        self.taken_down = False
        self._access: dict[str, bool] = {}             # token -> still valid
        self._refresh: dict[str, bool] = {}
        self._plans: list[_Plan] = []
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    # -- steering -------------------------------------------------------------

    def fail_next(self, status: int, error: str | None, message: str = "", *, nsid: str | None = None,
                  headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests (to ``nsid``, if given) with an XRPC error."""
        body = {"error": error, "message": message} if error else {}
        with self._lock:
            for _ in range(times):
                self._plans.append(_Plan("error", nsid, status, body, dict(headers or {})))

    def rate_limit_next(self, reset_epoch: int | None, *, nsid: str | None = None) -> None:
        headers = {"RateLimit-Limit": "5000", "RateLimit-Remaining": "0", "RateLimit-Policy": "5000;w=3600"}
        if reset_epoch is not None:
            headers["RateLimit-Reset"] = str(reset_epoch)
        self.fail_next(429, "RateLimitExceeded", "Rate Limit Exceeded", nsid=nsid, headers=headers)

    def hang_next(self, nsid: str | None = None) -> None:
        """Hold the next request open, unanswered, until the fake is closed."""
        self._plan(_Plan("hang", nsid))

    def trickle_next(self, nsid: str | None = None) -> None:
        """Answer 200 with a JSON body sent one byte every 0.1 s."""
        self._plan(_Plan("trickle", nsid, 200))

    def garbage_next(self, nsid: str | None = None, status: int = 200) -> None:
        """Answer with bytes that are not JSON."""
        self._plan(_Plan("garbage", nsid, status))

    def html_next(self, nsid: str | None = None, status: int = 502) -> None:
        """Answer with a proxy's HTML error page."""
        self._plan(_Plan("html", nsid, status))

    def drop_after_create_next(self) -> None:
        """Create the next record, then close the connection without answering."""
        self._plan(_Plan("drop", "com.atproto.repo.createRecord"))

    def expire_access(self) -> None:
        """Every access token issued so far is now expired (the refresh tokens still work)."""
        with self._lock:
            self._access = dict.fromkeys(self._access, False)

    def expire_refresh(self) -> None:
        with self._lock:
            self._refresh = dict.fromkeys(self._refresh, False)

    def takedown(self) -> None:
        with self._lock:
            self.taken_down = True

    def add_record(self, rkey: str, value: dict[str, Any]) -> str:
        """A post made earlier (e.g. before a crash); returns its at:// URI."""
        with self._lock:
            return self._store(rkey, value)["uri"]

    def calls(self, nsid: str) -> list[Recorded]:
        return [r for r in self.requests if r.nsid == nsid]

    def _plan(self, plan: _Plan) -> None:
        with self._lock:
            self._plans.append(plan)

    # -- answering ------------------------------------------------------------

    def _answer(self, request: Recorded) -> tuple[int, Any, dict[str, str]] | _Plan:
        with self._lock:
            self.requests.append(request)
            for i, plan in enumerate(self._plans):
                if plan.nsid in (None, request.nsid):
                    del self._plans[i]
                    if plan.kind == "error":
                        return plan.status, plan.body, plan.headers
                    if plan.kind == "drop":
                        self._xrpc(request)       # the record is made; only the answer is lost
                    return plan
            return self._xrpc(request)

    def _xrpc(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        routes = {
            ("POST", "com.atproto.server.createSession"): self._create_session,
            ("POST", "com.atproto.server.refreshSession"): self._refresh_session,
            ("GET", "com.atproto.server.getSession"): self._get_session,
            ("POST", "com.atproto.repo.uploadBlob"): self._upload_blob,
            ("POST", "com.atproto.repo.createRecord"): self._create_record,
            ("GET", "com.atproto.repo.getRecord"): self._get_record,
        }
        route = routes.get((r.method, r.nsid))
        if route is None:
            return _err(501, "MethodNotImplemented", "Method Not Implemented")
        return route(r)

    def _bearer(self, r: Recorded, tokens: dict[str, bool]) -> tuple[int, Any, dict] | None:
        auth = r.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _err(401, "AuthMissing", "Authentication Required")
        token = auth[7:]
        if token not in tokens:
            return _err(400, "InvalidToken", "Token could not be verified")
        if not tokens[token]:
            return _err(400, "ExpiredToken", "Token has expired")
        if self.taken_down:
            return _err(401, "AccountTakedown", "Account has been taken down")
        return None

    def _issue(self) -> dict[str, Any]:
        n = next(self._serial)
        access, refresh = _jwt(self.did, "com.atproto.appPass", n), _jwt(self.did, "com.atproto.refresh", n)
        self._access[access] = True
        self._refresh[refresh] = True
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did,
                "active": True}

    def _create_session(self, r: Recorded):
        body = _json_object(r.body)
        if body is None or not isinstance(body.get("identifier"), str) or not isinstance(body.get("password"), str):
            return _err(400, "InvalidRequest", "Input must have the property \"identifier\"")
        if body["identifier"].lower() not in (self.handle, self.did) or body["password"] != self.app_password:
            return _err(401, "AuthenticationRequired", "Invalid identifier or password")
        if self.taken_down:
            return _err(401, "AccountTakedown", "Account has been taken down")
        self.logins += 1
        return 200, self._issue(), {}

    def _refresh_session(self, r: Recorded):
        auth = r.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token not in self._refresh:
            return _err(400, "InvalidToken", "Token could not be verified")
        if not self._refresh[token]:
            return _err(400, "ExpiredToken", "Token has been revoked")
        if self.taken_down:
            return _err(401, "AccountTakedown", "Account has been taken down")
        self._refresh[token] = False
        self.refreshes += 1
        return 200, self._issue(), {}

    def _get_session(self, r: Recorded):
        refused = self._bearer(r, self._access)
        if refused:
            return refused
        return 200, {"handle": self.handle, "did": self.did, "active": True, "emailConfirmed": True}, {}

    def _upload_blob(self, r: Recorded):
        refused = self._bearer(r, self._access)
        if refused:
            return refused
        mime = r.headers.get("content-type", "").split(";")[0].strip()
        if not r.body:
            return _err(400, "InvalidRequest", "Request encoding (Content-Type) required but not provided")
        cid = "bafkrei" + base64.b32encode(hashlib.sha256(r.body).digest()).decode().lower().rstrip("=")[:52]
        self.blobs[cid] = {"mimeType": mime, "size": len(r.body)}
        return 200, {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(r.body)}}, {}

    def _create_record(self, r: Recorded):
        refused = self._bearer(r, self._access)
        if refused:
            return refused
        body = _json_object(r.body)
        if body is None:
            return _err(400, "InvalidRequest", "Request body must be a JSON object")
        if body.get("repo") not in (self.did, self.handle):
            return _err(401, "AuthenticationRequired", "Authentication Required")
        if body.get("collection") != "app.bsky.feed.post":
            return _err(400, "InvalidRequest", "fake PDS: only app.bsky.feed.post")
        rkey = body.get("rkey")
        if rkey is None:
            return _err(400, "InvalidRequest", "fake PDS: the adapter must choose the record key")
        if not isinstance(rkey, str) or not _TID.match(rkey):
            return _err(400, "InvalidRequest", f"Invalid record key: {rkey!r} is not a valid TID")
        problem = self.check_post(body.get("record"))
        if problem:
            return _err(400, "InvalidRequest", f"Invalid app.bsky.feed.post record: {problem}")
        if rkey in self.records:
            # packages/repo/src/mst/mst.ts throws a plain Error; xrpc-server hides it behind a 500.
            return _err(500, "InternalServerError", "Internal Server Error")
        stored = self._store(rkey, body["record"])
        return 200, {"uri": stored["uri"], "cid": stored["cid"],
                     "commit": {"cid": "bafyreicommit" + rkey, "rev": rkey}, "validationStatus": "valid"}, {}

    def _get_record(self, r: Recorded):
        repo, collection, rkey = (r.query.get(k) for k in ("repo", "collection", "rkey"))
        if repo not in (self.did, self.handle):
            return _err(400, "InvalidRequest", f"Could not find repo: {repo}")
        uri = f"at://{self.did}/{collection}/{rkey}"
        if collection != "app.bsky.feed.post" or rkey not in self.records:
            return _err(400, "RecordNotFound", f"Could not locate record: {uri}")
        return 200, dict(self.records[rkey]), {}

    def _store(self, rkey: str, value: dict[str, Any]) -> dict[str, Any]:
        cid = "bafyrei" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:52]
        stored = {"uri": f"at://{self.did}/app.bsky.feed.post/{rkey}", "cid": cid, "value": value}
        self.records[rkey] = stored
        return stored

    # -- the lexicon ----------------------------------------------------------

    def check_post(self, record: Any) -> str | None:
        """What the app.bsky.feed.post lexicon (and this fake's stricter facet rule) refuses, or None."""
        from bot.compose import grapheme_boundaries

        if not isinstance(record, dict):
            return "Record must be an object"
        if record.get("$type") != "app.bsky.feed.post":
            return "Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str):
            return "Record must have the property \"text\""
        data = text.encode("utf-8")
        if len(data) > 3000:
            return "Record/text must not be longer than 3000 characters"
        if text and len(grapheme_boundaries(text)) - 1 > 300:
            return "Record/text must not be longer than 300 graphemes"
        created = record.get("createdAt")
        if not isinstance(created, str) or not _DATETIME.match(created):
            return "Record/createdAt must be an valid atproto datetime"
        try:
            datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return "Record/createdAt must be an valid atproto datetime"
        langs = record.get("langs")
        if langs is not None:
            if not isinstance(langs, list) or len(langs) > 3:
                return "Record/langs must not have more than 3 elements"
            if not all(isinstance(lang, str) and _LANGUAGE.match(lang) for lang in langs):
                return "Record/langs must be valid language codes"
        for i, facet in enumerate(record.get("facets") or []):
            problem = _check_facet(facet, data)
            if problem:
                return f"Record/facets/{i}: {problem}"
        embed = record.get("embed")
        if embed is not None:
            return self._check_embed(embed)
        return None

    def _check_embed(self, embed: Any) -> str | None:
        if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.external":
            return "Record/embed: fake PDS expects app.bsky.embed.external"
        external = embed.get("external")
        if not isinstance(external, dict):
            return "Record/embed must have the property \"external\""
        for key in ("uri", "title", "description"):
            if not isinstance(external.get(key), str):
                return f"Record/embed/external must have the property \"{key}\""
        if not re.match(r"^https?://[^\s]+$", external["uri"]):
            return "Record/embed/external/uri must be a uri"
        thumb = external.get("thumb")
        if thumb is None:
            return None
        if not isinstance(thumb, dict) or thumb.get("$type") != "blob" or not isinstance(thumb.get("ref"), dict):
            return "Record/embed/external/thumb should be a blob ref"
        issued = self.blobs.get(thumb["ref"].get("$link"))
        if issued is None:
            return "Could not find blob: the thumb's ref was not uploaded"
        if thumb.get("size") != issued["size"] or thumb.get("mimeType") != issued["mimeType"]:
            return "Record/embed/external/thumb does not match the uploaded blob"
        if issued["size"] > 1_000_000:
            return "Record/embed/external/thumb is too big: maxSize 1000000"
        if not issued["mimeType"].startswith("image/"):
            return "Record/embed/external/thumb mimeType is not accepted (image/*)"
        return None


def _check_facet(facet: Any, data: bytes) -> str | None:
    if not isinstance(facet, dict) or not isinstance(facet.get("index"), dict):
        return "must have the property \"index\""
    start, end = facet["index"].get("byteStart"), facet["index"].get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(data):
        return f"byte range {start}..{end} is not inside the {len(data)}-byte text"
    try:
        covered = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return f"byte range {start}..{end} cuts a character"
    features = facet.get("features")
    if not isinstance(features, list) or not features:
        return "must have features"
    for feature in features:
        kind = feature.get("$type") if isinstance(feature, dict) else None
        if kind == "app.bsky.richtext.facet#link":
            if covered != feature.get("uri"):
                return f"link facet covers {covered!r}, not its uri {feature.get('uri')!r}"
        elif kind == "app.bsky.richtext.facet#tag":
            tag = feature.get("tag")
            if not isinstance(tag, str) or tag.startswith("#") or covered[1:] != tag or covered[:1] not in "#\uff03":
                return f"tag facet covers {covered!r}, not #{tag}"
        else:
            return f"unexpected facet feature {kind!r}"
    return None


def _jwt(did: str, scope: str, serial: int) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    now = int(time.time())
    header = part({"typ": "at+jwt" if scope != "com.atproto.refresh" else "refresh+jwt", "alg": "HS256"})
    payload = part({"scope": scope, "sub": did, "aud": "did:web:fake.pds.invalid", "iat": now,
                    "exp": now + 7200, "jti": f"fake-{scope}-{serial}"})
    signature = base64.urlsafe_b64encode(hashlib.sha256(f"{header}.{payload}".encode()).digest()).decode().rstrip("=")
    return f"{header}.{payload}.{signature}"


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _err(status: int, error: str, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"error": error, "message": message}, {}


class _Handler(FakeHandler):
    fake: FakePDS
    protocol_version = "HTTP/1.0"

    def respond(self, method: str, path: str, raw: bytes) -> None:
        parts = urlsplit(self.path)
        nsid = parts.path[len("/xrpc/"):] if parts.path.startswith("/xrpc/") else parts.path
        request = Recorded(method, nsid, dict(parse_qsl(parts.query, keep_blank_values=True)),
                           {k.lower(): v for k, v in self.headers.items()}, raw)
        answer = self.fake._answer(request)
        if isinstance(answer, _Plan):
            if answer.kind == "hang":
                self.fake._released.wait(timeout=30)
                return
            if answer.kind == "drop":
                self.close_connection = True
                return                      # the connection closes with no answer at all
            if answer.kind == "trickle":
                payload = json.dumps({"uri": f"at://{self.fake.did}/app.bsky.feed.post/x", "cid": "x"}).encode()
                self._trickle(payload)
                return
            if answer.kind == "garbage":
                self._send(answer.status, b"\x00\x9f{not json", "application/json", {})
                return
            if answer.kind == "html":
                self._send(answer.status, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                           "text/html", {})
                return
        status, body, extra = answer
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)

    def _trickle(self, payload: bytes) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.flush()
            for byte in payload:
                if self.fake._released.wait(0.1):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:
            pass

    def _send(self, status: int, payload: bytes, content_type: str, extra: dict[str, str]) -> None:
        self.send_body(status, payload, {"Content-Type": content_type, **extra})


@pytest.fixture
def fake_pds():
    fake = FakePDS()
    yield fake
    fake.close()
