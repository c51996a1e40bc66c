"""LinkedIn: article posts with thumbnails through the versioned Posts API.

One call per ``publish``: an optional thumbnail upload, then ``POST /rest/posts``.
The commentary arrives already escaped in LinkedIn's "little" text format and
within 3000 characters; it is sent as is (adapters never truncate or reword).

LinkedIn documentation this module relies on (learn.microsoft.com/linkedin/...):

- Posts API, marketing/community-management/shares/posts-api: ``POST /rest/posts``
  needs ``Linkedin-Version: YYYYMM`` and ``X-Restli-Protocol-Version: 2.0.0``;
  answers 201 with the post URN in ``x-restli-id``. ``w_member_social`` posts as
  a member; ``w_organization_social`` as a page, for ADMINISTRATOR,
  CONTENT_ADMIN or DIRECT_SPONSORED_CONTENT_POSTER roles. The API does not
  scrape the link: the article card shows only the title, description and
  thumbnail sent with it.
- Images API, .../shares/images-api: ``POST /rest/images?action=initializeUpload``
  with ``{"initializeUploadRequest": {"owner": URN}}`` gives ``value.uploadUrl``
  and ``value.image``; the bytes are PUT to ``uploadUrl``. LinkedIn's media
  guidelines: JPG, GIF or PNG, at most 5 MB here.
- little text format, .../shares/little-text-format: ``| { } @ [ ] ( ) < > # * _ ~ \\``
  are reserved; an unescaped one silently cuts the stored commentary.
- Versioning, marketing/versioning and marketing/integrations/migrations: monthly
  versions, each served for at least a year; a sunset (or not yet released)
  version answers 426 ``NONEXISTENT_VERSION`` "Requested version … is not active".
- Error handling, shared/api-guide/concepts/error-handling: bodies are
  ``{"status", "serviceErrorCode", "code", "message"}``; 401 for expired or
  revoked tokens (``EXPIRED_ACCESS_TOKEN``, ``REVOKED_ACCESS_TOKEN``), 403
  ``ACCESS_DENIED`` "Not enough permissions to access: …".
- Duplicates: 422 "Content is a duplicate of urn:li:share:…" (code
  ``DUPLICATE_POST``), as seen in public issue reports; LinkedIn's own check
  is what makes a retry after a crash safe, so ``find_existing`` returns None.
- Rate limits, shared/api-guide/concepts/rate-limits: daily limits reset at
  midnight UTC; a 429 carries no rate-limit or Retry-After headers.
- Sign In with LinkedIn using OpenID Connect, consumer/integrations/self-serve/
  sign-in-with-linkedin-v2: ``GET /v2/userinfo`` gives ``sub`` (the member id,
  ``urn:li:person:{sub}``) and ``name``; it is unversioned and needs ``openid``
  (and ``profile`` for the name), which only the "Sign In with LinkedIn using
  OpenID Connect" product grants.
- Posting as a Page: the Community Management API product grants
  ``w_organization_social`` (content) and ``rw_organization_admin`` (Page
  access management) and must be the only product on its app
  (marketing/community-management/community-management-api-migration-guide), so
  such a token has no ``openid``: the author is the configured Page, never
  /v2/userinfo.
- Organization Access Control by Role, .../community-management/organizations/
  organization-access-control-by-role: ``GET /rest/organizationAcls?q=roleAssignee``
  (optionally ``&role=…&state=APPROVED``) lists the authenticated member's roles as
  ``elements`` of ``{"organization", "role", "state", "roleAssignee"}``; it needs
  ``rw_organization_admin`` or ``r_organization_admin``, as does the Organization
  Lookup API (``GET /rest/organizations/{id}``, .../organization-lookup-api).
  ``verify`` asks the ACL finder whether the member holds a posting role on the
  Page; a token with ``w_organization_social`` alone gets 403 there, which proves
  the token is alive but cannot say the role, so that is reported, not blocked.
"""
from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple
from urllib.parse import urlsplit

from bot.models import Message, Published, utcnow
from bot.http import transport_errors
from bot.platforms.base import (
    AuthError,
    DuplicateError,
    ImageProblem,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    download_image,
    mask,
    new_session,
    token_expiry_sentence,
)

from bot.platforms.network import AuthFlow, Network, TextRules
from bot.values import ConfigError, repr_without
from bot.patterns import lazy

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import requests

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.linkedin.com"
POST_URL = "https://www.linkedin.com/feed/update/{urn}/"
REAUTH_HINT = "run `autopost auth linkedin` or paste a new LINKEDIN_ACCESS_TOKEN"
VERSIONING_DOCS = "https://learn.microsoft.com/en-us/linkedin/marketing/versioning"

# LinkedIn accepts JPG, GIF and PNG images.
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif")

# The URN LinkedIn names in a duplicate answer; posts are shares or ugcPosts.
_DUPLICATE_URN = lazy(r"urn:li:(?:share|ugcPost):\d+")
_ORGANIZATION = "urn:li:organization:"
# Roles that may post as a Page (Posts API; the ACL enum spells CONTENT_ADMINISTRATOR).
POSTING_ROLES = ("ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "CONTENT_ADMIN", "DIRECT_SPONSORED_CONTENT_POSTER")
ACL_PERMISSION = "rw_organization_admin (the Community Management API's Page access) to read your Page roles"


# -- the description (cheap: requests loads when an adapter is built) ----------------------

# LinkedIn serves each monthly version for about a year and answers 426 after; pinned, and overridable.
DEFAULT_LINKEDIN_VERSION = "202607"   # newest listed in LinkedIn's version changelog; sunsets about July 2027


class LinkedInSettings(NamedTuple):
    access_token: str = ""
    author: str = ""
    api_base: str = DEFAULT_BASE_URL
    version: str = DEFAULT_LINKEDIN_VERSION
    token_expires: date | None = None
    oauth_base: str | None = None      # None: https://www.linkedin.com (the API base if it is loopback)
    client_id: str = ""
    client_secret: str = ""

    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.access_token, self.client_secret) if v)

    def __repr__(self) -> str:
        return repr_without(self, "access_token", "client_secret")


def parse_settings(values: Mapping[str, str]) -> LinkedInSettings:
    """Validate LinkedIn's variables; ConfigError names the first bad one."""
    from bot.platforms.twitter import api_base

    def get(name: str) -> str:
        return (values.get(name) or "").strip()

    base = api_base(get("LINKEDIN_API_BASE") or DEFAULT_BASE_URL, "LINKEDIN_API_BASE")
    author = get("LINKEDIN_AUTHOR")
    if author and not re.fullmatch(r"urn:li:(person|organization):[A-Za-z0-9_-]+", author):
        raise ConfigError("LINKEDIN_AUTHOR", "must be urn:li:person:ID or urn:li:organization:ID")
    expires = None
    if get("LINKEDIN_TOKEN_EXPIRES"):
        try:
            expires = date.fromisoformat(get("LINKEDIN_TOKEN_EXPIRES")[:10])
        except ValueError:
            raise ConfigError("LINKEDIN_TOKEN_EXPIRES", "must be an ISO date such as 2027-01-31") from None
    oauth_base = api_base(get("LINKEDIN_OAUTH_BASE"), "LINKEDIN_OAUTH_BASE") if get("LINKEDIN_OAUTH_BASE") else None
    version = get("LINKEDIN_VERSION") or DEFAULT_LINKEDIN_VERSION
    if not re.fullmatch(r"20\d{4}(\.\d{2})?", version):
        raise ConfigError("LINKEDIN_VERSION", "must be a version month such as 202607")
    return LinkedInSettings(access_token=get("LINKEDIN_ACCESS_TOKEN"), author=author, api_base=base,
                            version=version, token_expires=expires, oauth_base=oauth_base,
                            client_id=get("LINKEDIN_CLIENT_ID"), client_secret=get("LINKEDIN_CLIENT_SECRET"))


# -- text rules: LinkedIn "little" text -------------------------------------------------

# learn.microsoft.com/linkedin/marketing/community-management/shares/little-text-format:
# "Characters reserved for little elements must be escaped to be treated as plaintext";
# unescaped, LinkedIn cuts the commentary at the first one and still reports success.
LINKEDIN_RESERVED = "\\|{}@[]()<>#*_~"
# A translation table, not re.sub with a template: fitting escapes the whole text at every
# try, and a template expansion per "@" made 3,000 "@@@..." cost 80 ms.
_LINKEDIN_ESCAPES = str.maketrans({char: "\\" + char for char in LINKEDIN_RESERVED})


def linkedin_escape(text: str) -> str:
    """Backslash-escape every reserved character (one pass, so backslashes are escaped first)."""
    return text.translate(_LINKEDIN_ESCAPES)


def linkedin_hashtag(tag: str) -> str:
    """A hashtag as the Posts API writes it: ``{hashtag|\\#|Technology}`` (HashtagTemplate).

    The ``#`` inside the template is escaped like any reserved character:
    that is the form the API returns for a ``#tag`` it converted itself, and
    the form the issue and several working integrations use; the docs page's
    own example drops the backslash.
    """
    return "{hashtag|\\#|" + linkedin_escape(tag.lstrip("#")) + "}"



def _utf16_length(text: str) -> int:
    # LinkedIn's front end counts in JavaScript: UTF-16 code units.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _auth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", help="the app's Client ID (default: LINKEDIN_CLIENT_ID); "
                                            "the Client Secret is read from LINKEDIN_CLIENT_SECRET or asked for")
    parser.add_argument("--organization", metavar="ID", help="post as this LinkedIn Page (its numeric id)")
    parser.add_argument("--port", type=int, default=8765, help="port of the redirect listener on 127.0.0.1 "
                        "(default 8765; register http://127.0.0.1:PORT/callback in the app)")
    parser.add_argument("--no-browser", action="store_true", help="only print the address; open no browser")


def _run_auth(settings: Any, network: LinkedInSettings | None, env_path: Path, args: argparse.Namespace) -> None:
    import getpass
    import webbrowser

    from bot import auth
    from bot.platforms.linkedin_auth import auth_linkedin

    network = network or LinkedInSettings()
    client_id = auth.app_key("linkedin", "LINKEDIN_CLIENT_ID (or --client-id)",
                             args.client_id or network.client_id, "LinkedIn app Client ID: ", input)
    client_secret = auth.app_key("linkedin", "LINKEDIN_CLIENT_SECRET", network.client_secret,
                                 "LinkedIn app Client Secret (not shown): ", getpass.getpass)
    auth_linkedin(settings, env_path, client_id=client_id, client_secret=client_secret,
                       organization=args.organization, port=args.port, print_fn=print,
                       open_browser=None if args.no_browser else webbrowser.open)


NETWORK = Network(
    name="linkedin",
    label="LinkedIn",
    variables=("LINKEDIN_ACCESS_TOKEN", "LINKEDIN_AUTHOR", "LINKEDIN_API_BASE", "LINKEDIN_VERSION",
               "LINKEDIN_TOKEN_EXPIRES", "LINKEDIN_OAUTH_BASE", "LINKEDIN_CLIENT_ID", "LINKEDIN_CLIENT_SECRET"),
    secrets=("LINKEDIN_ACCESS_TOKEN", "LINKEDIN_CLIENT_SECRET"),
    credentials=("LINKEDIN_ACCESS_TOKEN",),
    parse=parse_settings,
    adapter="bot.platforms.linkedin:from_settings",
    api_base=DEFAULT_BASE_URL,
    api_version=DEFAULT_LINKEDIN_VERSION,
    # LinkedIn answers 422 "duplicate" to the same commentary, so a blind retry after a crash is safe.
    rejects_duplicates=True,
    token_expires=lambda settings: settings.token_expires,
    text=TextRules(
        limit=3000,
        length=_utf16_length,
        default_template="{title}\n\n{summary}\n\n{hashtags}",
        escape=linkedin_escape,
        hashtag=linkedin_hashtag,
    ),
    auth=AuthFlow(help="LinkedIn: browser sign-in, redirect to 127.0.0.1",
                  epilog="Example: autopost auth linkedin --client-id 86abcdefghijkl --organization 2414183",
                  run=_run_auth,
                  arguments=_auth_arguments),
)


class LinkedInPlatform:
    name = "linkedin"

    def __init__(self, *, access_token: str, author: str = "", base_url: str = DEFAULT_BASE_URL,
                 version: str = DEFAULT_LINKEDIN_VERSION, token_expires: date | None = None,
                 timeout: float = 30.0, clock: Callable[[], datetime] | None = None):
        if not access_token:
            raise ValueError("LINKEDIN_ACCESS_TOKEN is empty")
        self._token = access_token
        self._author = author
        self._base_url = base_url.rstrip("/")
        self._version = version
        self._token_expires = token_expires
        self._timeout = timeout
        self._clock = clock or utcnow
        self._session = new_session()
        self._member_name: str | None = None

    def __repr__(self) -> str:
        return (f"LinkedInPlatform(author={self._author!r}, base_url={self._base_url!r}, "
                f"version={self._version!r}, access_token={mask(self._token)!r})")

    # ── the Platform interface ──────────────────────────────────────────

    def publish(self, message: Message) -> Published:
        author = self.author()
        body: dict[str, Any] = {
            "author": author,
            "commentary": message.text,
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if message.link:
            # The Posts API does not scrape the link: what we send is all the card shows.
            article: dict[str, str] = {"source": message.link}
            if message.title:
                article["title"] = message.title
            if message.description:
                article["description"] = message.description
            thumbnail = self._thumbnail(message.image_url, author) if message.image_url else None
            if thumbnail:
                article["thumbnail"] = thumbnail
            body["content"] = {"article": article}

        permission = self._write_permission(author)
        response = self._request("POST", "/rest/posts", json=body, permission=permission)
        urn = response.headers.get("x-restli-id", "").strip()
        if not urn.startswith("urn:li:"):
            # Maybe posted, maybe not: a retry is safe because LinkedIn rejects the duplicate.
            raise TransientError(self.name, f"LinkedIn answered {response.status_code} without a post id",
                                 status=response.status_code)
        return Published(remote_id=urn, url=POST_URL.format(urn=urn))

    def verify(self) -> str:
        """The member's name for a person author; for a Page, the role the token's member holds there."""
        author = self.author()
        if author.startswith(_ORGANIZATION):
            return self._verify_organization(author)
        if self._member_name is None:
            self._userinfo()
        return f"{self._member_name or 'LinkedIn member'} ({author})"

    def _verify_organization(self, author: str) -> str:
        """Can this token post as ``author``? Asked of the ACL finder, never of /rest/organizations."""
        try:
            roles = self.organization_roles()
        except AuthError as exc:
            if exc.status != 403:
                raise
            # The token is valid (a dead one is 401) but its scopes do not cover the
            # ACL finder, e.g. w_organization_social alone: posting will tell.
            return (f"{author} (your role on the Page not checked: the token lacks "
                    f"rw_organization_admin; posts need w_organization_social)")
        held = [role for org, role in roles if org == author]
        posting = [role for role in held if role in POSTING_ROLES]
        if posting:
            return f"{author} (you are {posting[0]} of the Page)"
        pages = sorted({org for org, role in roles if role in POSTING_ROLES})
        others = f"; you may post as {', '.join(pages)}" if pages else ""
        what = f"only {', '.join(held)}" if held else "no role"
        raise AuthError(self.name, f"the member who authorised this token has {what} on {author}: posting "
                                   f"as a Page needs ADMINISTRATOR, CONTENT_ADMINISTRATOR or "
                                   f"DIRECT_SPONSORED_CONTENT_POSTER (a Page super admin grants it){others}",
                        status=403)

    def organization_roles(self) -> list[tuple[str, str]]:
        """(organization URN, role) for every APPROVED role of the token's member."""
        data = self._json(self._request("GET", "/rest/organizationAcls", permission=ACL_PERMISSION,
                                        params={"q": "roleAssignee", "state": "APPROVED", "count": "100"}))
        elements = data.get("elements")
        if not isinstance(elements, list):
            elements = []
        roles = []
        for element in elements:
            if not isinstance(element, dict):
                continue
            org, role = element.get("organization"), element.get("role")
            if isinstance(org, str) and isinstance(role, str) and element.get("state", "APPROVED") == "APPROVED":
                roles.append((org, role))
        return roles

    def find_existing(self, post_url: str) -> Published | None:
        # LinkedIn offers no cheap lookup by link; its duplicate check protects a retry.
        return None

    # ── LinkedIn specifics ───────────────────────────────────────────────

    def author(self) -> str:
        """LINKEDIN_AUTHOR; else the token's member (/v2/userinfo), or for a Community
        Management token (no openid) the one Page its member may post as."""
        if not self._author:
            try:
                sub = self._userinfo()
            except AuthError as exc:
                if exc.status != 403:
                    raise
                self._author = self._only_page(exc)
                log.info("LINKEDIN_AUTHOR is not set: posting as %s, the one Page the token's member "
                         "may post as (from /rest/organizationAcls)", self._author)
                return self._author
            self._author = f"urn:li:person:{sub}"
            log.info("LINKEDIN_AUTHOR is not set: posting as %s, the token's member (from /v2/userinfo)",
                     self._author)
        return self._author

    def _only_page(self, userinfo_refusal: AuthError) -> str:
        try:
            roles = self.organization_roles()
        except AuthError:
            raise userinfo_refusal from None
        pages = sorted({org for org, role in roles if role in POSTING_ROLES})
        if len(pages) == 1:
            return pages[0]
        choice = f"one of {', '.join(pages)}" if pages else "urn:li:organization:ID of your Page"
        raise AuthError(self.name, f"LINKEDIN_AUTHOR is not set and this token cannot name a member "
                                   f"(/v2/userinfo refused): set LINKEDIN_AUTHOR to {choice}", status=403)

    def token_expiry_warning(self, today: date) -> str | None:
        """A warning sentence from EXPIRY_WARNING_DAYS before LINKEDIN_TOKEN_EXPIRES, else None."""
        if self._token_expires is None:
            return None
        return token_expiry_sentence("LinkedIn", self.name, self._token_expires, today)

    def _userinfo(self) -> str:
        data = self._json(self._request("GET", "/v2/userinfo", versioned=False,
                                        permission="openid and profile"))
        sub = data.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TransientError(self.name, "LinkedIn userinfo answered without a member id (sub)")
        name = data.get("name") or " ".join(filter(None, (data.get("given_name"), data.get("family_name"))))
        self._member_name = name or None
        return sub

    @staticmethod
    def _write_permission(author: str) -> str:
        if author.startswith(_ORGANIZATION):
            return ("w_organization_social, with the ADMINISTRATOR, CONTENT_ADMIN or "
                    "DIRECT_SPONSORED_CONTENT_POSTER role on the page")
        return "w_member_social"

    # ── thumbnails ───────────────────────────────────────────────────────

    def _thumbnail(self, image_url: str, owner: str) -> str | None:
        """Upload the post's image and return its URN; None (logged) on any failure.

        A missing thumbnail only makes the card plainer, so no failure here may
        stop the post itself.
        """
        try:
            # No Authorization on the download: the token only ever goes to LinkedIn.
            content, _ = download_image(self._session, image_url, timeout=self._timeout, types=IMAGE_TYPES)
            data = self._json(self._request(
                "POST", "/rest/images", params={"action": "initializeUpload"},
                json={"initializeUploadRequest": {"owner": owner}},
                permission=self._write_permission(owner)))
            value = data["value"] if isinstance(data.get("value"), dict) else {}
            upload_url, image_urn = value.get("uploadUrl"), value.get("image")
            if not isinstance(upload_url, str) or not isinstance(image_urn, str):
                raise _SkipThumbnail("LinkedIn's initializeUpload answer has no uploadUrl or image")
            self._upload(upload_url, content)
            return image_urn
        except (_SkipThumbnail, ImageProblem, PlatformError) as exc:
            reason = exc.message if isinstance(exc, PlatformError) else str(exc)
            log.warning("LinkedIn: posting without a thumbnail (image %s): %s", image_url, reason)
            return None

    def _upload(self, upload_url: str, content: bytes) -> None:
        parts, base = urlsplit(upload_url), urlsplit(self._base_url)
        host = (parts.hostname or "").lower()
        # LinkedIn's docs PUT with the bearer token; send it only to LinkedIn itself.
        trusted = (parts.scheme, parts.netloc) == (base.scheme, base.netloc) or (
            parts.scheme == "https" and (host == "linkedin.com" or host.endswith(".linkedin.com")))
        headers = {"Authorization": f"Bearer {self._token}"} if trusted else {}
        headers["Content-Type"] = "application/octet-stream"
        import requests

        log.debug("PUT %s", _without_query(upload_url))
        try:
            response = self._session.put(upload_url, data=content, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise _SkipThumbnail(f"image upload failed ({exc.__class__.__name__})") from None
        if not 200 <= response.status_code < 300:
            raise _SkipThumbnail(f"image upload answered {response.status_code}")

    # ── HTTP ─────────────────────────────────────────────────────────────

    def _request(self, method: str, path: str, *, permission: str, versioned: bool = True,
                 params: dict[str, str] | None = None, json: Any = None) -> requests.Response:
        """One call to LinkedIn; any answer but 2xx becomes the matching PlatformError."""
        url = self._base_url + path
        headers = {"Authorization": f"Bearer {self._token}"}
        if versioned:
            headers["LinkedIn-Version"] = self._version
            headers["X-Restli-Protocol-Version"] = "2.0.0"
        log.debug("%s %s", method, url)
        with transport_errors(self.name, "LinkedIn", self._timeout, f"{method} {path}"):
            response = self._session.request(method, url, params=params, json=json, headers=headers,
                                             timeout=self._timeout)
        if 200 <= response.status_code < 300:
            return response
        raise self._error(response, permission)

    def _error(self, response: requests.Response, permission: str) -> PlatformError:
        status = response.status_code
        body = _error_body(response)
        code = body.get("code") or body.get("serviceErrorCode")
        said = str(body.get("message") or response.reason or "no message").strip()
        kw = {"status": status, "code": code}

        if status == 401:
            kind = str(body.get("code") or "").upper()
            if "EXPIRED" in kind or "expired" in said.lower():
                when = f" on {self._token_expires.isoformat()}" if self._token_expires else ""
                text = f"token expired{when} — {REAUTH_HINT}"
            elif "REVOKED" in kind or "revoked" in said.lower():
                text = f"token was revoked — {REAUTH_HINT}"
            else:
                text = f"token rejected ({said}) — {REAUTH_HINT}"
            return AuthError(self.name, text, **kw)
        if status == 403:
            return AuthError(self.name, f"permission missing: the token needs {permission} "
                                        f"(LinkedIn: {said})", **kw)
        if status == 422 and ("duplicate" in said.lower() or code == "DUPLICATE_POST"):
            match = _DUPLICATE_URN.search(said) or _DUPLICATE_URN.search(response.text or "")
            urn = match.group(0) if match else None
            return DuplicateError(self.name, f"LinkedIn already has this post ({urn or 'id not given'})",
                                  remote_id=urn, remote_url=POST_URL.format(urn=urn) if urn else None, **kw)
        if status == 429:
            retry_at = self._retry_at(response.headers.get("Retry-After"))
            return RateLimited(self.name, f"daily limit reached (LinkedIn: {said}); "
                                          f"retry at {retry_at.isoformat()}", retry_at=retry_at, **kw)
        if status == 426:
            return PermanentError(self.name, f"API version {self._version} is retired or not active "
                                             f"(LinkedIn: {said}); set LINKEDIN_VERSION to a current "
                                             f"version, see {VERSIONING_DOCS}", **kw)
        if status >= 500:
            return TransientError(self.name, f"LinkedIn server error {status}: {said}", **kw)
        return PermanentError(self.name, f"LinkedIn refused the request ({status}): {said}", **kw)

    def _retry_at(self, retry_after: str | None) -> datetime:
        """Retry-After when given; otherwise the next midnight UTC, when daily limits reset."""
        now = self._clock()
        if retry_after:
            value = retry_after.strip()
            if value.isdigit():
                return now + timedelta(seconds=int(value))
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        tomorrow = now.astimezone(timezone.utc).date() + timedelta(days=1)
        return datetime.combine(tomorrow, time(0), tzinfo=timezone.utc)

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TransientError(self.name, f"LinkedIn answered {response.status_code} with a body "
                                            f"that is not a JSON object", status=response.status_code)
        return data


class _SkipThumbnail(Exception):
    """Why the post goes out without a thumbnail."""


def _error_body(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _without_query(url: str) -> str:
    # Upload URLs carry signed query strings: keep them out of the log.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def from_settings(settings: LinkedInSettings, *, timeout: float = 30.0,
                  clock: Callable[[], datetime] | None = None) -> LinkedInPlatform:
    return LinkedInPlatform(
        access_token=settings.access_token,
        author=settings.author,
        base_url=settings.api_base,
        version=settings.version,
        token_expires=settings.token_expires,
        timeout=timeout,
        clock=clock,
    )
