"""Facebook Page adapter: one Graph API call per operation, every error code mapped.

What this module relies on, from Meta's documentation (checked 2026):

- Publishing: ``POST /{version}/{page_id}/feed`` with ``message`` and ``link``,
  authorised by a *Page* access token with ``pages_manage_posts``; the answer
  is ``{"id": "{page_id}_{post_id}"}``.
  https://developers.facebook.com/docs/pages-api/posts
  https://developers.facebook.com/docs/graph-api/reference/page/feed/
- Errors: ``{"error": {"message", "type", "code", "error_subcode",
  "error_user_title", "error_user_msg", "fbtrace_id", "is_transient"}}``, mostly
  with HTTP 400 whatever the cause, so we map ``error.code``, never the status.
  1/2 = temporary, 4/17/341 = throttled, 10 and 200-299 = permission,
  190 (and 102) = token expired/invalid, 368 = blocked for a policy
  violation, 506 = duplicate post.
  https://developers.facebook.com/docs/graph-api/guides/error-handling
- 1609005 "Error Posting Link" (as the code, or as the subcode of code 100):
  Facebook's scraper could not fetch the link, e.g. a CDN not yet serving a
  fresh article. The same request succeeds once the page is reachable, so it is
  transient. https://developers.facebook.com/docs/marketing-api/error-reference
- Throttling: ``X-App-Usage`` reports percentages only (no time), while
  ``X-Business-Use-Case-Usage`` (what Page tokens are counted against) is
  ``{"<object id>": [{"type": "pages", "call_count": 100, ...,
  "estimated_time_to_regain_access": <minutes>}]}``. Page-level limits run
  over a rolling 24-hour window, app/user limits over a rolling hour.
  https://developers.facebook.com/docs/graph-api/overview/rate-limiting/
  https://developers.facebook.com/blog/post/2016/06/16/page-level-rate-limits/
- ``appsecret_proof`` = hex HMAC-SHA256 of the access token keyed with the app
  secret, sent as a request parameter.
  https://developers.facebook.com/docs/graph-api/guides/secure-requests
- Versions live about two years; the changelog lists each one's end date.
  https://developers.facebook.com/docs/graph-api/changelog/versions/

Secrets never travel in a URL (where urllib3's debug log, proxies and access
logs would keep them): writes carry the token in the form body; reads carry it
in an ``Authorization: Bearer`` header, or, when an app secret is configured,
as a ``POST`` with ``method=GET`` whose body holds the token and the proof,
because Graph reads ``appsecret_proof`` only as a parameter and a GET's only
parameters are in its URL. That override is how Facebook's own PHP SDK sent
every Graph call ("method override as we always do a POST", BaseFacebook.php).
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from bot.models import Message, Published, utcnow
from bot.http import transport_errors
from bot.urls import identity
from bot.platforms.base import (
    AuthError,
    DuplicateError,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    mask,
    new_session,
)

from bot.platforms.graph import DEFAULT_THROTTLE_BACKOFF  # noqa: F401  (this module's interface: the wait without an estimate)
from bot.platforms.graph import BUC_THROTTLE_RANGE, TOKEN_CODES, as_int, throttle_wait
from bot.platforms.network import AuthFlow, Network, TextRules
from bot.values import ConfigError, repr_without

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import requests

log = logging.getLogger(__name__)

# Graph's throttling codes: 4 app, 17 user, 32 page, 341 app limit, 613 custom
# limit; the Business Use Case limits and token codes are in bot.platforms.graph.
_THROTTLE_CODES = frozenset({4, 17, 32, 341, 613})
_TRANSIENT_CODES = frozenset({1, 2})
_DUPLICATE_CODE = 506
_POLICY_BLOCK_CODE = 368
# "Error Posting Link": the scraper could not fetch the article (yet).
_LINK_SCRAPE_CODE = 1609005


_RECENT_POSTS_FIELDS = "id,permalink_url,attachments{url,unshimmed_url},created_time"
_RECENT_POSTS_LIMIT = 25

# Facebook wraps outgoing links in its click shim; bot.urls.identity compares what is inside.
_SHIM_HOSTS = frozenset({"l.facebook.com", "lm.facebook.com", "l.messenger.com"})

_TOKEN_ADVICE = {
    458: "the app was removed from the account that issued the token",
    459: "Facebook wants that account to log in at https://www.facebook.com to clear a checkpoint first",
    460: "the password of the account that issued the token was changed",
    463: "the token has expired",
    464: "the account that issued the token is not confirmed",
    467: "the token is no longer valid (logged out, or the Page role was removed)",
    492: "the account that issued the token lost its role on the Page",
}
_NEW_TOKEN = ("Create a new Page access token (GET /me/accounts with a long-lived user token from "
              "an account that can create content on the Page) and set FACEBOOK_PAGE_TOKEN.")
_PERMISSION_ADVICE = ("Make sure the app has pages_manage_posts and pages_read_engagement, the account "
                      "that made the token can create content on the Page, and that FACEBOOK_PAGE_TOKEN "
                      "is a Page access token; then create a new one.")


# -- the description (cheap: requests loads when an adapter is built) ----------------------

DEFAULT_GRAPH_BASE = "https://graph.facebook.com"
# Graph API versions live about two years; pinned, and overridable.
DEFAULT_FACEBOOK_GRAPH_VERSION = "v25.0"   # released 2026-02-18, served until 2028-07-29


class FacebookSettings(NamedTuple):
    page_id: str = ""
    page_token: str = ""
    app_id: str = ""
    app_secret: str = ""
    graph_base: str = DEFAULT_GRAPH_BASE
    graph_version: str = DEFAULT_FACEBOOK_GRAPH_VERSION

    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.page_token, self.app_secret) if v)

    def __repr__(self) -> str:
        return repr_without(self, "page_token", "app_secret")


def parse_settings(values: Mapping[str, str]) -> FacebookSettings:
    """Validate Facebook's variables; ConfigError names the first bad one."""
    import re

    from bot.platforms.twitter import api_base

    def get(name: str) -> str:
        return (values.get(name) or "").strip()

    base = api_base(get("FACEBOOK_GRAPH_BASE") or DEFAULT_GRAPH_BASE, "FACEBOOK_GRAPH_BASE")
    version = get("FACEBOOK_GRAPH_VERSION") or DEFAULT_FACEBOOK_GRAPH_VERSION
    if not re.fullmatch(r"v\d+\.\d+", version):
        raise ConfigError("FACEBOOK_GRAPH_VERSION", "must look like v25.0")
    return FacebookSettings(page_id=get("FACEBOOK_PAGE_ID"), page_token=get("FACEBOOK_PAGE_TOKEN"),
                            app_id=get("FACEBOOK_APP_ID"), app_secret=get("FACEBOOK_APP_SECRET"),
                            graph_base=base, graph_version=version)


def _utf16_length(text: str) -> int:
    # Facebook's front end counts in JavaScript: UTF-16 code units.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _auth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app-id", help="the Meta app's ID (default: FACEBOOK_APP_ID); the app secret is read "
                                         "from FACEBOOK_APP_SECRET or asked for")


def _run_auth(settings: Any, network: FacebookSettings | None, env_path: Path, args: argparse.Namespace) -> None:
    import getpass

    from bot import auth
    from bot.platforms.facebook_auth import auth_facebook

    network = network or FacebookSettings()
    app_id = auth.app_key("facebook", "FACEBOOK_APP_ID (or --app-id)", args.app_id or network.app_id,
                          "Meta app ID: ", input)
    app_secret = auth.app_key("facebook", "FACEBOOK_APP_SECRET", network.app_secret,
                              "Meta app secret (not shown): ", getpass.getpass)
    user_token = getpass.getpass("User access token from the Graph API Explorer (not shown): ")
    auth_facebook(settings, env_path, user_token=user_token, app_id=app_id,
                       app_secret=app_secret, input_fn=input, print_fn=print)


NETWORK = Network(
    name="facebook",
    label="Facebook",
    variables=("FACEBOOK_PAGE_ID", "FACEBOOK_PAGE_TOKEN", "FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET",
               "FACEBOOK_GRAPH_BASE", "FACEBOOK_GRAPH_VERSION"),
    secrets=("FACEBOOK_PAGE_TOKEN", "FACEBOOK_APP_SECRET"),
    credentials=("FACEBOOK_PAGE_ID", "FACEBOOK_PAGE_TOKEN"),
    parse=parse_settings,
    adapter="bot.platforms.facebook:from_settings",
    api_base=DEFAULT_GRAPH_BASE,
    api_version=DEFAULT_FACEBOOK_GRAPH_VERSION,
    # Graph posts the same link twice; after a crash the Page's recent posts are read instead.
    rejects_duplicates=False,
    text=TextRules(limit=63206, length=_utf16_length, default_template="{title}\n\n{summary}"),
    auth=AuthFlow(help="Facebook: exchange a Graph API Explorer token, pick a Page",
                  epilog="Example: autopost auth facebook", run=_run_auth, arguments=_auth_arguments),
)


class FacebookPlatform:
    """Posts to one Facebook Page through the Graph API."""

    name = "facebook"

    def __init__(self, *, page_id: str, page_token: str, app_secret: str = "",
                 base_url: str = DEFAULT_GRAPH_BASE,
                 version: str = DEFAULT_FACEBOOK_GRAPH_VERSION, timeout: float = 30.0,
                 clock: Callable[[], datetime] | None = None):
        if not page_id or not page_id.strip():
            raise ConfigError("FACEBOOK_PAGE_ID", "is required: the numeric id of the Page to post to")
        if not page_token or not page_token.strip():
            raise ConfigError("FACEBOOK_PAGE_TOKEN", "is required: a Page access token for that Page")
        self.page_id = page_id.strip()
        self._token = page_token.strip()
        self._app_secret = app_secret or ""
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.timeout = timeout
        self._clock = clock or utcnow
        self._session = new_session()

    def __repr__(self) -> str:
        return (f"FacebookPlatform(page_id={self.page_id!r}, page_token={mask(self._token)!r}, "
                f"app_secret={mask(self._app_secret)!r}, base_url={self.base_url!r}, "
                f"version={self.version!r})")

    # -- the Platform interface ---------------------------------------------

    def publish(self, message: Message) -> Published:
        """Post the text with the link as a card; return the post id and its URL."""
        fields = {"message": message.text}
        if message.link:
            fields["link"] = message.link
        try:
            body = self._request("POST", f"{self.page_id}/feed", fields)
        except DuplicateError as exc:
            # Graph refuses the same status twice in a row and says no more;
            # name the earlier post when it can be found so the ledger links it.
            earlier = self._find_quietly(message.post_url or message.link)
            if earlier:
                exc.remote_id, exc.remote_url = earlier.remote_id, earlier.url
            raise
        post_id = body.get("id")
        if not isinstance(post_id, str) or not post_id:
            raise TransientError(self.name, "Graph accepted the post but its answer had no post id",
                                 status=200)
        return Published(remote_id=post_id, url=_post_url(post_id))

    def verify(self) -> str:
        """Return the Page's name; refuse a token that is not this Page's own.

        A user token can read a Page's name, so reading it proves nothing. With
        a Page access token Graph's ``/me`` *is* the Page; with a user token
        it is that user (and with another Page's token, that other Page).
        """
        page = self._request("GET", self.page_id, {"fields": "name"})
        me = self._request("GET", "me", {"fields": "id"})
        page_name = str(page.get("name") or self.page_id)
        page_node_id = str(page.get("id") or self.page_id)
        token_owner = str(me.get("id") or "")
        if token_owner != page_node_id:
            raise AuthError(
                self.name,
                f"FACEBOOK_PAGE_TOKEN is not a Page access token for {page_name!r} ({page_node_id}): "
                f"it acts as {token_owner or 'someone else'}, so it is a user access token or another "
                f"Page's token. Get this Page's token from GET /me/accounts (with a long-lived user "
                f"token) and set FACEBOOK_PAGE_TOKEN to it.",
            )
        return page_name

    def find_existing(self, post_url: str) -> Published | None:
        """Find a recent Page post whose link card points at ``post_url``."""
        wanted = identity(_unshim(post_url), keep_fragment=False)
        body = self._request("GET", f"{self.page_id}/posts",
                             {"fields": _RECENT_POSTS_FIELDS, "limit": str(_RECENT_POSTS_LIMIT)})
        posts = body.get("data")
        if not isinstance(posts, list):
            raise TransientError(self.name, "Graph's list of Page posts had no data array", status=200)
        for post in posts:
            if not isinstance(post, dict) or not isinstance(post.get("id"), str):
                continue
            if any(identity(_unshim(link), keep_fragment=False) == wanted for link in _attachment_links(post)):
                return Published(remote_id=post["id"], url=_post_url(post["id"]),
                                 note="already on the Page")
        return None

    # -- HTTP ---------------------------------------------------------------

    def _request(self, method: str, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Make one Graph call and return its JSON object, or raise the mapped error."""
        url = f"{self.base_url}/{self.version}/{path}"
        headers: dict[str, str] = {}
        query: dict[str, str] | None = None
        form: dict[str, str] | None = None
        if method == "GET" and not self._app_secret:
            query = dict(params)
            headers["Authorization"] = f"Bearer {self._token}"
        else:
            form = dict(params)
            form["access_token"] = self._token
            if self._app_secret:
                form["appsecret_proof"] = appsecret_proof(self._token, self._app_secret)
            if method == "GET":
                form["method"] = "GET"      # Graph's method override: a read, sent as POST
        http_method = "GET" if query is not None else "POST"
        log.debug("facebook: %s %s", http_method, url)
        with transport_errors(self.name, "Graph", self.timeout):
            response = self._session.request(http_method, url, params=query, data=form,
                                             headers=headers, timeout=self.timeout)
        log.debug("facebook: %s %s -> %s", http_method, url, response.status_code)

        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            raise self._error(response, body["error"])
        if not isinstance(body, dict):
            if response.status_code == 429:
                raise RateLimited(self.name, "Graph answered 429 Too Many Requests",
                                  retry_at=self._retry_at(response.headers), status=429)
            raise TransientError(self.name, f"Graph answered HTTP {response.status_code} without "
                                            f"a JSON object", status=response.status_code)
        if response.status_code >= 400:
            raise TransientError(self.name, f"Graph answered HTTP {response.status_code} without "
                                            f"an error object", status=response.status_code)
        return body

    def _error(self, response: requests.Response, error: Mapping[str, Any]) -> PlatformError:
        """Turn Graph's error object into our exception, by ``error.code``."""
        status = response.status_code
        code = as_int(error.get("code"))
        subcode = as_int(error.get("error_subcode"))
        developer_text = self._scrub(str(error.get("message") or "").strip())
        user_text = self._scrub(str(error.get("error_user_msg") or "").strip())
        trace = str(error.get("fbtrace_id") or "").strip()
        said = user_text or developer_text or f"error code {code}"
        kw: dict[str, Any] = {"status": status, "code": code}

        if code in _THROTTLE_CODES or (code is not None and code in BUC_THROTTLE_RANGE) or (
                code is None and status == 429):
            return RateLimited(self.name, f"throttled by Facebook: {said}",
                               retry_at=self._retry_at(response.headers), **kw)
        if code in TOKEN_CODES:
            reason = _TOKEN_ADVICE.get(subcode or 0, "the Page access token is expired, revoked or invalid")
            return AuthError(self.name, f"{said} ({reason}). {_NEW_TOKEN}", **kw)
        if code == 10 or (code is not None and 200 <= code <= 299):
            return AuthError(self.name, f"{said}. {_PERMISSION_ADVICE}", **kw)
        if code == 100 and "appsecret_proof" in developer_text:
            # A wrong or missing app secret is a credential problem: hold the
            # deliveries until `autopost check` passes again.
            return AuthError(self.name, f"{said}. Check FACEBOOK_APP_SECRET: it must be the secret of the "
                                        f"app that issued the Page token (or empty if the app does not "
                                        f"require appsecret_proof).", **kw)
        if code == _DUPLICATE_CODE:
            return DuplicateError(self.name, f"Facebook already has this post: {said}", **kw)
        if code == _POLICY_BLOCK_CODE:
            # Facebook's advice is to wait, but a policy block lasts days and
            # needs a person to look at the Page; retrying blindly makes it worse.
            return PermanentError(self.name, f"Facebook blocked posting for a policy violation: {said}"
                                             f"{_trace(trace)}", **kw)
        if _LINK_SCRAPE_CODE in (code, subcode):
            return TransientError(self.name, f"Facebook could not fetch the link yet ({said}); it will be "
                                             f"tried again{_trace(trace)}", **kw)
        if code in _TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
            return TransientError(self.name, f"temporary Facebook error: {said}{_trace(trace)}", **kw)
        return PermanentError(self.name, f"Facebook refused the request (code {code}"
                                         f"{f', subcode {subcode}' if subcode else ''}): "
                                         f"{said}{_trace(trace)}", **kw)

    def _retry_at(self, headers: Mapping[str, str]) -> datetime:
        return self._clock() + throttle_wait(headers.get("X-Business-Use-Case-Usage"))

    def _scrub(self, text: str) -> str:
        """Facebook's words go into the ledger and logs: make sure no secret rides along."""
        for secret in (self._token, self._app_secret,
                       appsecret_proof(self._token, self._app_secret) if self._app_secret else ""):
            if secret:
                text = text.replace(secret, "****")
        return text

    def _find_quietly(self, post_url: str) -> Published | None:
        if not post_url:
            return None
        try:
            return self.find_existing(post_url)
        except PlatformError:
            return None


def appsecret_proof(token: str, app_secret: str) -> str:
    """Hex HMAC-SHA256 of the access token, keyed with the app secret."""
    import hmac

    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def _post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"


def _trace(fbtrace_id: str) -> str:
    return f" (fbtrace_id {fbtrace_id})" if fbtrace_id else ""


def _attachment_links(post: Mapping[str, Any]) -> list[str]:
    """Every link a post's attachments point at, shims unwrapped."""
    attachments = post.get("attachments")
    items = attachments.get("data") if isinstance(attachments, dict) else None
    links = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        for key in ("unshimmed_url", "url"):
            if isinstance(item.get(key), str) and item[key]:
                links.append(_unshim(item[key]))
    return links


def _unshim(url: str) -> str:
    """``https://l.facebook.com/l.php?u=<target>&h=...`` → ``<target>``."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() in _SHIM_HOSTS and parts.path == "/l.php":
        target = dict(parse_qsl(parts.query)).get("u")
        if target:
            return target
    return url


def from_settings(settings: FacebookSettings, *, timeout: float = 30.0,
                  clock: Callable[[], datetime] | None = None) -> FacebookPlatform:
    return FacebookPlatform(
        page_id=settings.page_id,
        page_token=settings.page_token,
        app_secret=settings.app_secret,
        base_url=settings.graph_base,
        version=settings.graph_version,
        timeout=timeout,
        clock=clock,
    )
