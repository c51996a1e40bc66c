"""A fake LinkedIn API on 127.0.0.1 that answers as LinkedIn documents and records what it got.

Endpoints: ``POST /rest/posts``, ``POST /rest/images?action=initializeUpload``,
the upload ``PUT /upload/{id}`` (the ``uploadUrl`` points back here),
``GET /v2/userinfo``, ``GET /rest/organizations/{id}``,
``GET /rest/organizationAcls?q=roleAssignee``, and images to download
under ``/img/`` (``ok.png``, ``missing.png`` → 404, ``huge.png`` → over 5 MB,
``page.html`` → not an image).

Tokens carry the scopes they were granted, and each call needs what LinkedIn
says it needs, answering 403 ``ACCESS_DENIED`` otherwise: ``/v2/userinfo``
needs ``openid`` (Sign In with LinkedIn using OpenID Connect); posting as a
member ``w_member_social``; posting as a Page ``w_organization_social`` and a
posting role on it (ADMINISTRATOR, CONTENT_ADMINISTRATOR or
DIRECT_SPONSORED_CONTENT_POSTER); ``/rest/organizations/{id}`` and
``/rest/organizationAcls`` ``rw_organization_admin`` or ``r_organization_admin``
(learn.microsoft.com/linkedin/marketing/community-management/organizations/
organization-access-control-by-role and .../organization-lookup-api).
An app is either a member app ("Share on LinkedIn" + "Sign In with LinkedIn
using OpenID Connect": ``TOKEN``) or a Community Management API app, which
LinkedIn allows no other product beside (``community_app()``: ``ORG_TOKEN``).

OAuth 2.0 authorization code flow (served on www.linkedin.com by LinkedIn, here
on the same fake; learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow):
``GET /oauth/v2/authorization?response_type=code&client_id&redirect_uri&state&scope``
stands for the member approving: it answers 302 to ``redirect_uri?code=…&state=…``
(or ``?error=user_cancelled_authorize&…`` after ``deny_authorization()``, or
``error=unauthorized_scope_error`` for a scope the app lacks); an unknown
client_id or an unregistered redirect_uri gets an error page, never a redirect.
``POST /oauth/v2/accessToken`` (form: grant_type=authorization_code, code,
client_id, client_secret, redirect_uri) answers ``{"access_token", "expires_in":
5184000, "scope", "token_type", "id_token"}``; a code works once and only with
its redirect_uri; a wrong secret is 401 ``invalid_client``. The token it issues
is ``token``, the one the API endpoints accept.

Like LinkedIn it checks ``Authorization: Bearer``, ``LinkedIn-Version`` (426
``NONEXISTENT_VERSION`` for one it does not serve) and ``X-Restli-Protocol-Version:
2.0.0`` on ``/rest/`` calls, validates the post body, rejects a duplicate
commentary with 422 "Content is a duplicate of urn:li:share:…", and stores the
commentary cut at the first unescaped reserved character of the little text
format, which is what LinkedIn silently does.

Tests steer it with ``fail_next``, ``hang_next``, ``garbage_next``, ``revoke``
and ``restore``, and assert on ``posts``, ``images`` and ``requests``.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.fakes.server import FakeHandler, FakeServer, bind

TOKEN = "li-test-token-9f3c1e77d2"
ORG_TOKEN = "li-org-token-4b81d0e5aa"
CLIENT_ID = "86fakeClientId7x"
CLIENT_SECRET = "li-fake-CLIENT-secret-5d0c2a"
TOKEN_LIFETIME = 5184000          # 60 days, what LinkedIn answers as expires_in
# Scopes an app with "Share on LinkedIn" and "Sign In with LinkedIn using OpenID Connect"
# may ask for.
MEMBER_SCOPES = frozenset({"openid", "profile", "email", "w_member_social"})
# Scopes of an app whose only product is the Community Management API (its migration
# guide: Page access management rw_organization_admin; content w_organization_social,
# r_organization_social, w_member_social).
COMMUNITY_SCOPES = frozenset({"w_organization_social", "r_organization_social", "rw_organization_admin",
                              "w_member_social"})
GRANTED_SCOPES = MEMBER_SCOPES
# Roles that may post as a Page (Posts API: ADMINISTRATOR, CONTENT_ADMIN(ISTRATOR),
# DIRECT_SPONSORED_CONTENT_POSTER).
POSTING_ROLES = frozenset({"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"})
ADMIN_READ_SCOPES = frozenset({"rw_organization_admin", "r_organization_admin"})
MEMBER_SUB = "782bbtaQ"
MEMBER_NAME = "Example Member"
ORGANIZATIONS = {"2414183": "Devtestco", "5515715": "Other Page"}
# The member's roles: org id -> role (all APPROVED).
ROLES = {"2414183": "ADMINISTRATOR", "5515715": "ANALYST"}
# Marketing versions LinkedIn's migrations page and changelog listed as active (mid 2026).
VERSIONS = ("202601", "202602", "202603", "202605", "202606", "202607")

# A 1x1 transparent PNG.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082")
OVER_FIVE_MB = 5 * 1024 * 1024 + 1

# little text format: these are reserved and must be backslash-escaped to be text.
RESERVED = set("|{}@[]()<>#*_~\\")
# ...except where they open a valid little element, which LinkedIn keeps.
_HASHTAG = re.compile(r"#[^\W_]+")
_MENTION = re.compile(r"@\[(?:[^\]\\]|\\.)+\]\(urn:li:(?:person|organization):[A-Za-z0-9_-]+\)")
_HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\#\|[^{}|]+\}")

# Bodies as LinkedIn's error-handling guide shapes them. The serviceErrorCode numbers
# are illustrative; the adapter keys on ``code`` and the message, never on them.
_DEFAULT_ERRORS = {
    400: {"status": 400, "code": "ILLEGAL_ARGUMENT", "message": "Bad request"},
    401: {"status": 401, "serviceErrorCode": 65601, "code": "EXPIRED_ACCESS_TOKEN",
          "message": "The token used in the request has expired"},
    403: {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
          "message": "Not enough permissions to access: partnerApiPostsExternal.CREATE.20260701"},
    404: {"status": 404, "code": "NOT_FOUND", "message": "Not Found"},
    426: {"status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version 202401 is not active"},
    429: {"status": 429, "code": "TOO_MANY_REQUESTS",
          "message": "Resource level throttle APPLICATION DAY limit for calls to this resource is reached."},
    500: {"status": 500, "code": "INTERNAL_SERVER_ERROR", "message": "Internal Server Error"},
}


def little_truncate(commentary: str) -> str:
    """The commentary as LinkedIn stores it: cut at the first unescaped reserved character."""
    i = 0
    while i < len(commentary):
        char = commentary[i]
        if char == "\\":
            if i + 1 < len(commentary):
                i += 2
                continue
            return commentary[:i]
        if char in RESERVED:
            for element in (_HASHTAG, _MENTION, _HASHTAG_TEMPLATE):
                match = element.match(commentary, i)
                if match:
                    i = match.end()
                    break
            else:
                return commentary[:i]
            continue
        i += 1
    return commentary


class FakeLinkedIn(FakeServer):
    poll_interval = 0.02
    thread_name = "fake-linkedin"

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.org_token = ORG_TOKEN
        self.token_scopes: dict[str, set[str]] = {token: set(MEMBER_SCOPES), ORG_TOKEN: set(COMMUNITY_SCOPES)}
        self.roles = dict(ROLES)
        self.member_sub = MEMBER_SUB
        self.member_name = MEMBER_NAME
        self.organizations = dict(ORGANIZATIONS)
        self.versions = set(VERSIONS)
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.redirect_uris: set[str] | None = None     # registered redirect URLs; None: any loopback one
        self.granted_scopes = set(GRANTED_SCOPES)
        self.token_lifetime = TOKEN_LIFETIME
        self.authorizations: list[dict[str, str]] = []  # query of each authorization request
        self.exchanges: list[dict[str, str]] = []       # form of each token request (secrets included)
        self._codes: dict[str, dict[str, str]] = {}    # code -> {"redirect_uri", "scope", "client_id"}
        self._deny = False
        self.posts: list[dict[str, Any]] = []          # accepted posts, commentary as stored
        self.images: dict[str, bytes] = {}             # image URN -> uploaded bytes
        self._pending: dict[str, str] = {}             # upload id -> image URN awaiting its PUT
        self._revoked = False
        self._ids = itertools.count(7141138937766391808)
        self._lock = threading.Lock()
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path with query) of every request, faulted ones included."""
        return [(r.method, r.path) for r in self.received]

    def image_url(self, name: str = "ok.png") -> str:
        return f"{self.base_url}/img/{name}"

    # ── steering ─────────────────────────────────────────────────────────

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` requests (under ``path``, if given) with this error."""
        if body is None:
            body = dict(_DEFAULT_ERRORS.get(status, {"status": status, "message": f"error {status}"}))
        self.answer_next(status, body, headers, times, path=path)

    def garbage_next(self, *, path: str | None = None) -> None:
        """Answer the next request with 200 and an HTML body, as a broken proxy would."""
        self.answer_next(200, b"<html><body>Bad gateway, maybe</body></html>", path=path, content_type="text/html")

    def revoke(self) -> None:
        """Every authenticated call answers 401 REVOKED_ACCESS_TOKEN until ``restore()``."""
        self._revoked = True

    def restore(self) -> None:
        self._revoked = False

    def community_app(self) -> None:
        """The app being authorised is a Community Management API app: only its scopes exist."""
        self.granted_scopes = set(COMMUNITY_SCOPES)

    def deny_authorization(self) -> None:
        """The member presses "Cancel" on the consent screen of the next authorization."""
        self._deny = True

    # ── LinkedIn's behaviour ─────────────────────────────────────────────

    def _author_allowed(self, urn: str, scopes: set[str]) -> bool:
        if urn == f"urn:li:person:{self.member_sub}":
            return "w_member_social" in scopes
        prefix = "urn:li:organization:"
        org_id = urn[len(prefix):] if urn.startswith(prefix) else ""
        return ("w_organization_social" in scopes and org_id in self.organizations
                and self.roles.get(org_id) in POSTING_ROLES)

    def _create_post(self, body: Any, scopes: set[str]) -> tuple[int, Any, dict[str, str]]:
        problem = _post_problem(body)
        if problem:
            return 422, {"status": 422, "code": "UNPROCESSABLE_ENTITY", "message": problem}, {}
        if not self._author_allowed(body["author"], scopes):
            return 403, _DEFAULT_ERRORS[403], {}
        article = (body.get("content") or {}).get("article")
        if article and "thumbnail" in article and article["thumbnail"] not in self.images:
            return 422, {"status": 422, "code": "UNPROCESSABLE_ENTITY",
                         "message": f"ERROR :: /content/article/thumbnail :: {article['thumbnail']} "
                                    f"is not an uploaded image"}, {}
        stored = dict(body, commentary=little_truncate(body["commentary"]))
        with self._lock:
            for post in self.posts:
                if post["author"] == stored["author"] and post["commentary"] == stored["commentary"]:
                    # As LinkedIn answers it (public issue reports), URN inside the message.
                    return 422, {
                        "errorDetailType": "com.linkedin.common.error.BadRequest",
                        "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
                                   f"Content is a duplicate of {post['id']}",
                        "errorDetails": {"inputErrors": [{"description": "Duplicate post is detected",
                                                          "input": {}, "code": "DUPLICATE_POST"}]},
                        "status": 422}, {}
            stored["id"] = f"urn:li:share:{next(self._ids)}"
            self.posts.append(stored)
        return 201, None, {"x-restli-id": stored["id"]}

    def _initialize_upload(self, body: Any, scopes: set[str]) -> tuple[int, Any, dict[str, str]]:
        owner = (body or {}).get("initializeUploadRequest", {}).get("owner") if isinstance(body, dict) else None
        if not isinstance(owner, str):
            return 422, {"status": 422, "code": "UNPROCESSABLE_ENTITY",
                         "message": "ERROR :: /initializeUploadRequest/owner :: field is required"}, {}
        if not self._author_allowed(owner, scopes):
            return 403, _DEFAULT_ERRORS[403], {}
        with self._lock:
            upload_id = f"D4E10AQ{next(self._ids)}"
            urn = f"urn:li:image:{upload_id}"
            self._pending[upload_id] = urn
        return 200, {"value": {"uploadUrlExpiresAt": 1790000000000,
                               "uploadUrl": f"{self.base_url}/upload/{upload_id}?sig=signed",
                               "image": urn}}, {}


    # ── OAuth 2.0 ────────────────────────────────────────────────────────

    def _authorize(self, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        """The member's browser at the consent screen: an error page, or a redirect back."""
        params = {k: v[0] for k, v in query.items()}
        with self._lock:
            self.authorizations.append(params)
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id:
            return 400, b"<html><body>Bummer, something went wrong. (invalid client_id)</body></html>", {}
        registered = (redirect_uri in self.redirect_uris if self.redirect_uris is not None
                      else urlsplit(redirect_uri).hostname in ("127.0.0.1", "localhost"))
        if not registered:
            return 400, b"<html><body>The redirect_uri does not match the registered value</body></html>", {}
        answer: dict[str, str] = {}
        scopes = params.get("scope", "").split()
        missing = [scope for scope in scopes if scope not in self.granted_scopes]
        if params.get("response_type") != "code":
            answer = {"error": "invalid_request", "error_description": "response_type must be code"}
        elif missing:
            answer = {"error": "unauthorized_scope_error",
                      "error_description": f'Scope "{missing[0]}" is not authorized for your application'}
        elif self._deny:
            self._deny = False
            answer = {"error": "user_cancelled_authorize",
                      "error_description": "The user cancelled the authorization"}
        else:
            code = f"AQ{next(self._ids)}fakeCode"
            with self._lock:
                self._codes[code] = {"redirect_uri": redirect_uri, "scope": " ".join(scopes),
                                     "client_id": self.client_id}
            answer = {"code": code}
        if "state" in params:
            answer["state"] = params["state"]
        location = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(answer)
        return 302, b"", {"Location": location}

    def _acls(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """The roleAssignee finder: the authenticated member's roles, filtered by role and state."""
        params = {k: v[0] for k, v in query.items()}
        if params.get("q") != "roleAssignee":
            return 400, {"status": 400, "code": "ILLEGAL_ARGUMENT", "message": "fake: only q=roleAssignee"}
        elements = [{"roleAssignee": f"urn:li:person:{self.member_sub}", "role": role, "state": "APPROVED",
                     "organization": f"urn:li:organization:{org_id}"}
                    for org_id, role in self.roles.items()
                    if params.get("role") in (None, role) and params.get("state") in (None, "APPROVED")]
        return 200, {"paging": {"count": 10, "start": 0, "total": len(elements), "links": []},
                     "elements": elements}

    def _exchange(self, form: dict[str, str], content_type: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.exchanges.append(form)
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request",
                         "error_description": "Content-Type must be application/x-www-form-urlencoded"}, {}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "grant_type must be authorization_code"}, {}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}, {}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return 400, {"error": "invalid_request",
                         "error_description": "Unable to retrieve access token: appid/redirect uri/code "
                                              "verifier does not match authorization code. Or authorization "
                                              "code expired. Or external member binding exists"}, {}
        # The token holds what was granted, no more: a Community Management app's token
        # cannot read /v2/userinfo, a member app's cannot post as a Page.
        scopes = set(grant["scope"].split())
        token = self.token if scopes <= MEMBER_SCOPES else self.org_token
        with self._lock:
            self.token_scopes[token] = scopes
        return 200, {"access_token": token, "expires_in": self.token_lifetime, "scope": grant["scope"],
                     "token_type": "Bearer", "id_token": "eyJhbGciOiJSUzI1NiJ9.fake.fake"}, {}


def _post_problem(body: Any) -> str | None:
    """What LinkedIn's schema validation would say about a post body, or None."""
    if not isinstance(body, dict):
        return "ERROR :: / :: body must be a JSON object"
    allowed = {"author", "commentary", "visibility", "distribution", "lifecycleState",
               "isReshareDisabledByAuthor", "content", "contentLandingPage", "adContext"}
    unknown = set(body) - allowed
    if unknown:
        return f"ERROR :: /{sorted(unknown)[0]} :: unrecognized field found but not allowed"
    author = body.get("author")
    if not isinstance(author, str) or not re.fullmatch(r"urn:li:(person|organization):[A-Za-z0-9_-]+", author):
        return "ERROR :: /author :: is not a person or organization URN"
    commentary = body.get("commentary")
    if not isinstance(commentary, str):
        return "ERROR :: /commentary :: field is required"
    if len(commentary) > 3000:
        return "ERROR :: /commentary :: length exceeds 3000 characters"
    if body.get("visibility") not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN"):
        return "ERROR :: /visibility :: must be PUBLIC, CONNECTIONS or LOGGED_IN"
    distribution = body.get("distribution")
    if not isinstance(distribution, dict) or distribution.get("feedDistribution") not in ("MAIN_FEED", "NONE"):
        return "ERROR :: /distribution/feedDistribution :: field is required"
    for key in ("targetEntities", "thirdPartyDistributionChannels"):
        if not isinstance(distribution.get(key, []), list):
            return f"ERROR :: /distribution/{key} :: must be an array"
    if body.get("lifecycleState") != "PUBLISHED":
        return "ERROR :: /lifecycleState :: must be PUBLISHED"
    if not isinstance(body.get("isReshareDisabledByAuthor", False), bool):
        return "ERROR :: /isReshareDisabledByAuthor :: must be a boolean"
    content = body.get("content")
    if content is not None:
        article = content.get("article") if isinstance(content, dict) else None
        if not isinstance(article, dict):
            return "ERROR :: /content :: only article content is supported by this fake"
        if not isinstance(article.get("source"), str) or not article["source"].startswith(("http://", "https://")):
            return "ERROR :: /content/article/source :: must be an http(s) URL"
        for key in ("title", "description"):
            if key in article and not isinstance(article[key], str):
                return f"ERROR :: /content/article/{key} :: must be a string"
        if "thumbnail" in article and not str(article["thumbnail"]).startswith("urn:li:image:"):
            return "ERROR :: /content/article/thumbnail :: must be an image URN"
        unknown = set(article) - {"source", "title", "description", "thumbnail", "thumbnailAltText"}
        if unknown:
            return f"ERROR :: /content/article/{sorted(unknown)[0]} :: unrecognized field found but not allowed"
    return None


class _Handler(FakeHandler):
    fake: FakeLinkedIn

    def respond(self, method: str, path: str, raw: bytes) -> None:
        self._route(method, path, parse_qs(urlsplit(self.path).query), raw)

    def _route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> None:
        if path.startswith("/img/") and method == "GET":
            return self._image(path[len("/img/"):])
        if path == "/oauth/v2/authorization" and method == "GET":
            status, payload, headers = self.fake._authorize(query)
            return self._send(status, payload, "text/html; charset=utf-8", headers)
        if path == "/oauth/v2/accessToken" and method == "POST":
            if "client_secret" in query or "code" in query:
                return self._json(400, {"error": "invalid_request",
                                        "error_description": "fake: secrets must travel in the body"})
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            return self._json(*self.fake._exchange(form, self.headers.get("Content-Type", "")))
        problem = self._auth_problem(path)
        if problem:
            return self._json(*problem)
        scopes = self.fake.token_scopes.get(self.headers.get("Authorization", "")[len("Bearer "):], set())
        if path == "/v2/userinfo" and method == "GET":
            if "openid" not in scopes:
                return self._json(*_denied("userinfo.GET.NO_VERSION"))
            return self._json(200, {"sub": self.fake.member_sub, "name": self.fake.member_name,
                                    "given_name": self.fake.member_name.split()[0],
                                    "family_name": self.fake.member_name.split()[-1],
                                    "locale": {"country": "US", "language": "en"}})
        if path == "/rest/organizationAcls" and method == "GET":
            if not scopes & ADMIN_READ_SCOPES:
                return self._json(*_denied("organizationAcls.FINDER-roleAssignee." + VERSIONS[-1]))
            return self._json(*self.fake._acls(query))
        if path.startswith("/rest/organizations/") and method == "GET":
            if not scopes & ADMIN_READ_SCOPES:
                return self._json(*_denied("organizations.GET." + VERSIONS[-1]))
            org_id = path.rsplit("/", 1)[-1]
            if org_id not in self.fake.organizations:
                return self._json(404, _DEFAULT_ERRORS[404])
            return self._json(200, {"id": int(org_id), "localizedName": self.fake.organizations[org_id],
                                    "vanityName": self.fake.organizations[org_id].lower()})
        if path.startswith("/upload/") and method == "PUT":
            upload_id = path.rsplit("/", 1)[-1]
            with self.fake._lock:
                urn = self.fake._pending.pop(upload_id, None)
                if urn and raw:
                    self.fake.images[urn] = raw
            if not urn or not raw:
                return self._json(400, {"status": 400, "message": "Unknown upload or empty body"})
            return self._send(201, b"", "text/plain")
        body = self._body(raw)
        if path == "/rest/posts" and method == "POST":
            if body is _INVALID:
                return self._json(400, {"status": 400, "code": "ILLEGAL_ARGUMENT",
                                        "message": "Invalid JSON in request body"})
            return self._json(*self.fake._create_post(body, scopes))
        if path == "/rest/images" and method == "POST" and query.get("action") == ["initializeUpload"]:
            if body is _INVALID:
                return self._json(400, {"status": 400, "message": "Invalid JSON in request body"})
            return self._json(*self.fake._initialize_upload(body, scopes))
        return self._json(404, _DEFAULT_ERRORS[404])

    def _auth_problem(self, path: str) -> tuple[int, Any] | None:
        given = self.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or given[len("Bearer "):] not in self.fake.token_scopes:
            return 401, {"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                         "message": "Invalid access token"}
        if self.fake._revoked:
            return 401, {"status": 401, "serviceErrorCode": 65602, "code": "REVOKED_ACCESS_TOKEN",
                         "message": "The token used in the request has been revoked by the user"}
        if path.startswith("/rest/"):
            version = self.headers.get("LinkedIn-Version")
            if not version:
                return 400, {"status": 400, "code": "VERSION_MISSING",
                             "message": "A version must be present. Please specify a version by adding "
                                        "the LinkedIn-Version header."}
            if version not in self.fake.versions:
                return 426, {"status": 426, "code": "NONEXISTENT_VERSION",
                             "message": f"Requested version {version} is not active"}
            if self.headers.get("X-Restli-Protocol-Version") != "2.0.0":
                return 400, {"status": 400, "code": "ILLEGAL_ARGUMENT",
                             "message": "X-Restli-Protocol-Version: 2.0.0 is required"}
        return None

    def _image(self, name: str) -> None:
        if name == "ok.png":
            return self._send(200, PNG_BYTES, "image/png")
        if name == "huge.png":
            return self._send(200, b"\0" * OVER_FIVE_MB, "image/png")
        if name == "page.html":
            return self._send(200, b"<html>not an image</html>", "text/html")
        return self._send(404, b"not found", "text/plain")

    @staticmethod
    def _body(raw: bytes) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return _INVALID

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self._send(status, payload, "application/json", headers)

    def _send(self, status: int, payload: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_body(status, payload, {"Content-Type": content_type, **(headers or {})})


_INVALID = object()


def _denied(resource: str) -> tuple[int, Any]:
    return 403, {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
                 "message": f"Not enough permissions to access: {resource}"}


@pytest.fixture
def fake_linkedin():
    fake = FakeLinkedIn()
    yield fake
    fake.close()
