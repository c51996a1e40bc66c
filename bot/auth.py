"""`autopost auth ...`: connect an account once, and store its tokens in the env file.

Each flow takes its inputs and outputs as parameters (``input_fn``, ``print_fn``,
``open_browser``) so tests drive it end to end against the fake servers; the
CLI passes ``input``/``getpass``, ``print`` and ``webbrowser.open``. Tokens are
written with :func:`bot.envfile.update_env_file` and never printed or logged;
every endpoint honours the ``*_API_BASE`` settings.

What each flow relies on:

X, OAuth 1.0a PIN flow (docs.x.com/fundamentals/authentication/oauth-1-0a/pin-based-oauth
and .../api-reference): ``POST oauth/request_token`` signed with the app's keys and
``oauth_callback=oob``; the user opens ``GET oauth/authorize?oauth_token=…``, approves,
and is shown a 7-digit PIN instead of being redirected; ``POST oauth/access_token``
signed with the request token and ``oauth_verifier=PIN`` gives ``oauth_token``,
``oauth_token_secret``, ``user_id`` and ``screen_name``. All three live on the API
host (``https://api.x.com/oauth/...``). Done with tweepy's ``OAuth1UserHandler``,
whose ``_get_oauth_url`` hard-codes ``https://api.twitter.com/oauth/``: a subclass
points it at ``TWITTER_API_BASE`` and adds the timeout tweepy does not set.

LinkedIn, OAuth 2.0 authorization code flow
(learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow):
the browser goes to ``https://www.linkedin.com/oauth/v2/authorization`` with
``response_type=code``, ``client_id``, ``redirect_uri`` (must exactly match one of the
app's "Authorized redirect URLs"), ``state`` and space-separated ``scope``; LinkedIn
redirects back with ``code`` and ``state`` (or ``error``/``error_description``, e.g.
``user_cancelled_authorize``). ``POST /oauth/v2/accessToken`` with a form body
(``grant_type=authorization_code``, ``code``, ``client_id``, ``client_secret``,
``redirect_uri``; LinkedIn says never to put the secret in a URL) answers
``access_token`` and ``expires_in`` (60 days). Refresh tokens are only for approved
partners, so the owner re-runs this flow before expiry. ``GET /v2/userinfo``
(OpenID Connect, scopes ``openid profile``) gives ``sub``: the author is
``urn:li:person:{sub}``. Posting needs ``w_member_social``.

A Page is posted to from a separate app whose only product is the Community
Management API (marketing/community-management/community-management-api-migration-guide:
it grants ``w_organization_social`` for content and ``rw_organization_admin`` for
Page access management, and LinkedIn lets no other product share its app), so that
flow asks for exactly those two scopes, never ``openid``/``profile``: the author is
the Page given with ``--organization`` (or already in LINKEDIN_AUTHOR), and the new
token is checked with ``GET /rest/organizationAcls?q=roleAssignee``
(organizations/organization-access-control-by-role), which says whether the member
who signed in holds a role that may post as that Page.

Facebook: ``GET /{version}/oauth/access_token?grant_type=fb_exchange_token&client_id&
client_secret&fb_exchange_token`` turns a short-lived user token into a ~60-day one
(developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived).
We send those parameters as a POST form instead, as Facebook's own PHP SDK did
(``BaseFacebook::setExtendedAccessToken`` → ``_oauthRequest``, a POST), so no secret
is ever in a URL. ``GET /me/accounts`` (developers.facebook.com/docs/pages/getting-started)
lists the user's Pages with ``id``, ``name``, ``access_token`` and ``tasks``
(posting needs ``CREATE_CONTENT``); read with the Graph method override (POST +
``method=GET``) for the same reason. A Page token obtained from a long-lived user
token does not expire (it dies only if the user changes password, loses the Page
role or removes the app).
"""
from __future__ import annotations

import html
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.config import Settings, read_env_file
from bot.envfile import update_env_file
from bot.http import check_api_base, is_loopback, new_session
from bot.models import AutopostError, utcnow
from bot.platforms.base import PlatformError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

LINKEDIN_OAUTH_BASE = "https://www.linkedin.com"
# The redirect listener's port: the URL http://127.0.0.1:8765/callback must be listed in
# the LinkedIn app's "Authorized redirect URLs", so it is fixed unless the owner picks another.
LINKEDIN_REDIRECT_PORT = 8765
LINKEDIN_REDIRECT_PATH = "/callback"
LINKEDIN_SCOPES = ("openid", "profile", "w_member_social")
# The Community Management API app: posting as the Page, and reading the member's role on it.
LINKEDIN_ORGANIZATION_SCOPES = ("w_organization_social", "rw_organization_admin")
LINKEDIN_WAIT_SECONDS = 300.0
FACEBOOK_PAGE_FIELDS = "id,name,access_token,tasks"


class AuthFlowError(AutopostError):
    """An `autopost auth` flow could not finish; the message says why and what to do."""

    def __init__(self, network: str, message: str):
        self.network = network
        super().__init__(f"{network}: {message}")


@dataclass(frozen=True)
class Connected:
    """What a flow stored: the account it posts as and the variables written."""

    network: str
    account: str
    written: tuple[str, ...]


# ───────────────────────────────────────────────────────────────────── X

def _x_handler_class() -> Any:
    import tweepy

    class XOAuthHandler(tweepy.OAuth1UserHandler):
        """tweepy's handler with its OAuth endpoints under our base URL, and a timeout."""

        def __init__(self, *args: Any, base_url: str, timeout: float, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.base_url = base_url.rstrip("/")
            self.timeout = timeout
            self.screen_name = ""

        def _get_oauth_url(self, endpoint: str) -> str:
            return f"{self.base_url}/oauth/{endpoint}"

        def _get_request_token(self, access_type: str | None = None) -> Any:
            url = self._get_oauth_url("request_token")
            if access_type:
                url += f"?x_auth_access_type={access_type}"
            from bot import http

            # tweepy's OAuth1Session is a plain requests session: route it through our
            # transport so the whole exchange, not each read, is bounded.
            http.install(self.oauth)
            with http.deadline(self.timeout):
                return self.oauth.fetch_request_token(url, timeout=self.timeout)

        def get_access_token(self, verifier: str | None = None) -> tuple[str, str]:
            # tweepy's own, plus the timeout and the screen name X sends beside the token.
            from requests_oauthlib import OAuth1Session

            self.oauth = OAuth1Session(self.consumer_key, client_secret=self.consumer_secret,
                                       resource_owner_key=self.request_token["oauth_token"],
                                       resource_owner_secret=self.request_token["oauth_token_secret"],
                                       verifier=verifier, callback_uri=self.callback)
            from bot import http

            http.install(self.oauth)
            with http.deadline(self.timeout):
                answer = self.oauth.fetch_access_token(self._get_oauth_url("access_token"), timeout=self.timeout)
            self.access_token = answer["oauth_token"]
            self.access_token_secret = answer["oauth_token_secret"]
            self.screen_name = answer.get("screen_name", "")
            return self.access_token, self.access_token_secret

    return XOAuthHandler


def network_settings(settings: Settings, name: str) -> Any:
    """``name``'s settings; its defaults when none of its variables is set (auth exists to set them)."""
    from bot.platforms.registry import network

    return settings.networks.get(name) or network(name).parse({})


def app_key(network: str, variable: str, value: str | None, prompt: str, ask: Callable[[str], str]) -> str:
    """An app key from the settings, else typed at a prompt; without it `auth` cannot start (exit 2)."""
    from bot.cli import UsageError

    if value:
        return value
    try:
        value = ask(prompt).strip()
    except EOFError:                                   # no terminal, nothing on standard input
        value = ""
    if not value:
        raise UsageError(f"auth {network} needs {variable}: set it in the env file or type it when asked; "
                         "nothing was changed")
    return value


def auth_twitter(settings: Settings, env_path: str | Path, *, input_fn: Callable[[str], str] = input,
                 print_fn: Callable[..., None] = print) -> Connected:
    """PIN flow: print the authorise URL, read the PIN, store the user's access token and secret."""
    x = network_settings(settings, "twitter")
    if not x.api_key or not x.api_secret:
        raise AuthFlowError("twitter", "set TWITTER_API_KEY and TWITTER_API_SECRET (your app's \"API Key and "
                                       "Secret\" from the X developer portal) in the env file first")
    handler = _x_handler_class()(x.api_key, x.api_secret, callback="oob",
                                 base_url=x.api_base, timeout=settings.request_timeout)
    try:
        url = handler.get_authorization_url()
    except Exception as exc:  # noqa: BLE001  tweepy wraps everything in TweepyException
        raise AuthFlowError("twitter", "X refused to start authorisation: " + _x_reason(exc) +
                            ". Check TWITTER_API_KEY and TWITTER_API_SECRET, and that the app's user "
                            "authentication settings allow OAuth 1.0a with Read and write permissions") from None
    print_fn("1. Open this address in a browser where you are signed in to X as the account to post as:")
    print_fn(f"   {url}")
    print_fn("2. Press \"Authorize app\"; X then shows a PIN.")
    pin = "".join(input_fn("3. Type the PIN here: ").split())
    if not pin:
        raise AuthFlowError("twitter", "no PIN entered; nothing was changed. Run `autopost auth twitter` again")
    try:
        token, token_secret = handler.get_access_token(pin)
    except Exception as exc:  # noqa: BLE001  requests, requests-oauthlib or a malformed answer
        raise AuthFlowError("twitter", "X did not accept the PIN: " + _x_reason(exc) +
                            ". A PIN works once and only for the address just printed; run "
                            "`autopost auth twitter` again") from None
    written = ("TWITTER_ACCESS_TOKEN", "TWITTER_ACCESS_TOKEN_SECRET")
    update_env_file(env_path, dict(zip(written, (token, token_secret))))
    account = f"@{handler.screen_name}" if handler.screen_name else "the authorised X account"
    print_fn(f"Saved {' and '.join(written)} for {account} in {env_path}. "
             f"X user tokens do not expire; next, run `autopost check`.")
    return Connected("twitter", account, written)


def _x_reason(exc: BaseException) -> str:
    """Why an OAuth call to X failed, in words that carry no credential."""
    import requests
    from requests_oauthlib.oauth1_session import TokenMissing, TokenRequestDenied

    cause = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc   # tweepy wraps
    if isinstance(cause, TokenRequestDenied):
        return f"HTTP {cause.status_code}: {_short(cause.response.text)}"
    if isinstance(cause, TokenMissing):
        return "the answer held no token"
    if isinstance(cause, requests.Timeout):
        return "no answer in time"
    if isinstance(cause, requests.RequestException):
        return f"cannot reach X ({cause.__class__.__name__})"
    return cause.__class__.__name__


# ─────────────────────────────────────────────────────────────── LinkedIn

def linkedin_oauth_base(settings: Settings, explicit: str | None = None) -> str:
    """Where LinkedIn's /oauth/v2/ endpoints are: www.linkedin.com, not the API host.

    In order: ``explicit`` (the CLI's value of ``LINKEDIN_OAUTH_BASE``), a
    ``linkedin_oauth_base`` setting if the config has one, the API base when it
    is a loopback address (the fakes serve both), else www.linkedin.com.
    """
    linkedin = network_settings(settings, "linkedin")
    base = explicit or linkedin.oauth_base
    if base:
        problem = check_api_base(base)
        if problem:
            raise AuthFlowError("linkedin", f"LINKEDIN_OAUTH_BASE {problem}")
        return base.rstrip("/")
    if is_loopback(urlsplit(linkedin.api_base).hostname or ""):
        return str(linkedin.api_base).rstrip("/")
    return LINKEDIN_OAUTH_BASE


def auth_linkedin(settings: Settings, env_path: str | Path, *, client_id: str, client_secret: str,
                  organization: str | None = None, open_browser: Callable[[str], Any] | None = None,
                  print_fn: Callable[..., None] = print, port: int = LINKEDIN_REDIRECT_PORT,
                  oauth_base: str | None = None, wait_seconds: float = LINKEDIN_WAIT_SECONDS,
                  clock: Callable[[], datetime] = utcnow) -> Connected:
    """Authorization code flow with a one-shot listener on 127.0.0.1; stores token, author and expiry."""
    if not client_id or not client_secret:
        raise AuthFlowError("linkedin", "the app's Client ID and Client Secret are needed (LinkedIn developer "
                                        "portal → your app → Auth)")
    linkedin = network_settings(settings, "linkedin")
    if not organization and linkedin.author.startswith("urn:li:organization:"):
        organization = linkedin.author          # renewing a Page's token: the same flow again
    org_id = _organization_id(organization) if organization else None
    base = linkedin_oauth_base(settings, oauth_base)
    scopes = LINKEDIN_ORGANIZATION_SCOPES if org_id else LINKEDIN_SCOPES
    state = secrets.token_urlsafe(24)

    with _RedirectListener(port, state) as listener:
        redirect_uri = listener.redirect_uri
        url = f"{base}/oauth/v2/authorization?" + urlencode(
            {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state,
             "scope": " ".join(scopes)})
        print_fn(f"The LinkedIn app must list {redirect_uri} under Auth → Authorized redirect URLs.")
        print_fn("Open this address in a browser where you are signed in to LinkedIn"
                 + (" (opening it now):" if open_browser is not None else ":"))
        print_fn(f"   {url}")
        print_fn(f"Waiting up to {wait_seconds / 60:g} minutes for LinkedIn to send the browser back…")
        if open_browser is not None:
            try:
                open_browser(url)
            except Exception as exc:  # noqa: BLE001  no browser here: the printed address still works
                log.debug("could not open a browser: %s", exc.__class__.__name__)
        try:
            code = listener.wait(wait_seconds)
        except AuthFlowError as exc:
            if org_id and "unauthorized_scope_error" in str(exc):
                raise AuthFlowError("linkedin", f"{str(exc).removeprefix('linkedin: ')}. Posting as a Page "
                                                f"needs a LinkedIn app whose only product is the Community "
                                                f"Management API, approved by LinkedIn (README: \"LinkedIn "
                                                f"Page\")") from None
            raise

    token, expires_in = _linkedin_exchange(base, code, client_id, client_secret, redirect_uri,
                                           settings.request_timeout)
    from bot.platforms.linkedin import LinkedInPlatform

    if org_id:
        author = f"urn:li:organization:{org_id}"
        page = LinkedInPlatform(access_token=token, author=author, base_url=linkedin.api_base,
                                version=linkedin.version, timeout=settings.request_timeout, clock=clock)
        try:
            who = page.verify()                      # GET /rest/organizationAcls?q=roleAssignee
        except PlatformError as exc:
            raise AuthFlowError("linkedin", f"the new token cannot post as Page {org_id}: {exc.message}. "
                                            f"Nothing was saved") from None
    else:
        member = LinkedInPlatform(access_token=token, author="", base_url=linkedin.api_base,
                                  version=linkedin.version, timeout=settings.request_timeout,
                                  clock=clock)
        try:
            author = member.author()                 # GET /v2/userinfo → urn:li:person:{sub}
            who = member.verify()                    # "Name (urn:li:person:…)", from the same answer
        except PlatformError as exc:
            raise AuthFlowError("linkedin", f"the new token could not read your profile (/v2/userinfo): "
                                            f"{exc.message}. The app needs the product \"Sign In with LinkedIn "
                                            f"using OpenID Connect\"") from None
    updates = {"LINKEDIN_ACCESS_TOKEN": token, "LINKEDIN_AUTHOR": author}
    expires = None
    if expires_in:
        expires = (clock() + timedelta(seconds=expires_in)).date()
        updates["LINKEDIN_TOKEN_EXPIRES"] = expires.isoformat()
    update_env_file(env_path, updates)
    account = f"organization {org_id}: {who}" if org_id else who
    print_fn(f"Saved {', '.join(updates)} in {env_path}: posting as {account}.")
    if expires:
        print_fn(f"The token expires on {expires.isoformat()} (LinkedIn tokens last 60 days): run "
                 f"`autopost auth linkedin` again before then; `autopost check` warns 7 days ahead.")
    print_fn("Next, run `autopost check`.")
    return Connected("linkedin", account, tuple(updates))


def _organization_id(organization: str) -> str:
    value = organization.strip()
    value = value.removeprefix("urn:li:organization:")
    if not value.isdigit():
        raise AuthFlowError("linkedin", f"--organization {organization!r} is not a Page id: use the number in "
                                        f"the Page admin URL linkedin.com/company/ID/admin")
    return value


def _linkedin_exchange(base: str, code: str, client_id: str, client_secret: str, redirect_uri: str,
                       timeout: float) -> tuple[str, int | None]:
    import requests

    url = f"{base}/oauth/v2/accessToken"
    log.debug("POST %s", url)
    try:
        # A form body, as LinkedIn requires: the code and the secret stay out of every URL.
        response = new_session().post(url, data={"grant_type": "authorization_code", "code": code,
                                                 "client_id": client_id, "client_secret": client_secret,
                                                 "redirect_uri": redirect_uri}, timeout=timeout)
    except requests.RequestException as exc:
        raise AuthFlowError("linkedin", f"cannot reach {base} to exchange the code "
                                        f"({exc.__class__.__name__}); run the command again") from None
    body = _json_object(response)
    token = body.get("access_token")
    if response.status_code != 200 or not isinstance(token, str) or not token:
        said = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        hint = (" Check the Client Secret." if response.status_code == 401 else
                " Run `autopost auth linkedin` again (a code works once, for 30 minutes).")
        raise AuthFlowError("linkedin", f"LinkedIn would not exchange the code: {_short(str(said))}.{hint}")
    expires_in = body.get("expires_in")
    return token, int(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else None


class _RedirectListener:
    """A one-shot HTTP server on 127.0.0.1 that waits for LinkedIn's redirect and checks its state."""

    def __init__(self, port: int, state: str):
        self._state = state
        self._done = threading.Event()
        self._code: str | None = None
        self._error: str | None = None
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != LINKEDIN_REDIRECT_PATH or listener._done.is_set():
                    return self._page(404, "Not found.")
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if not secrets.compare_digest(query.get("state", ""), listener._state):
                    # Not the answer to our request (CSRF, or an old tab): stop, take nothing from it.
                    listener._finish(error="the browser came back with a wrong or missing state, so the "
                                           "answer was ignored; run `autopost auth linkedin` again")
                    return self._page(400, "This answer does not belong to the running `autopost auth "
                                           "linkedin`; nothing was saved.")
                if "error" in query:
                    said = query.get("error_description") or query["error"]
                    listener._finish(error=f"LinkedIn did not authorise the app: {_short(said)} "
                                           f"({query['error']})")
                    return self._page(200, f"LinkedIn did not authorise autopost: {said}. "
                                           f"You can close this tab.")
                if not query.get("code"):
                    listener._finish(error="LinkedIn sent the browser back without a code")
                    return self._page(400, "No authorisation code in this answer.")
                listener._finish(code=query["code"])
                return self._page(200, "autopost is connected to LinkedIn. You can close this tab "
                                       "and return to the terminal.")

            def _page(self, status: int, text: str) -> None:
                payload = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>autopost</title></head>"
                           f"<body><p>{html.escape(text)}</p></body></html>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass                                 # the query holds the code: never log it

        try:
            self._server = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise AuthFlowError("linkedin", f"cannot listen on 127.0.0.1:{port} for LinkedIn's redirect "
                                            f"({exc.strerror or exc.__class__.__name__}); pick a free port "
                                            f"with --port and add http://127.0.0.1:PORT{LINKEDIN_REDIRECT_PATH} "
                                            f"to the app's Authorized redirect URLs") from None
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_address[1]}{LINKEDIN_REDIRECT_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="linkedin-redirect", daemon=True)

    def __enter__(self) -> _RedirectListener:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _finish(self, *, code: str | None = None, error: str | None = None) -> None:
        self._code, self._error = code, error
        self._done.set()

    def wait(self, seconds: float) -> str:
        if not self._done.wait(seconds):
            raise AuthFlowError("linkedin", f"LinkedIn did not send the browser back within {seconds / 60:g} "
                                            f"minutes; nothing was saved. If the browser runs on another "
                                            f"machine, forward the port first (ssh -L "
                                            f"{self._server.server_address[1]}:127.0.0.1:"
                                            f"{self._server.server_address[1]} server)")
        if self._error:
            raise AuthFlowError("linkedin", self._error)
        assert self._code is not None
        return self._code


# ─────────────────────────────────────────────────────────────── Facebook

def auth_facebook(settings: Settings, env_path: str | Path, *, user_token: str, app_id: str | None = None,
                  app_secret: str | None = None, input_fn: Callable[[str], str] = input,
                  print_fn: Callable[..., None] = print) -> Connected:
    """Exchange a short-lived user token, pick a Page, store its (non-expiring) Page token."""
    facebook = network_settings(settings, "facebook")
    app_id = app_id or facebook.app_id
    app_secret = app_secret or facebook.app_secret
    if not app_id or not app_secret:
        raise AuthFlowError("facebook", "set FACEBOOK_APP_ID and FACEBOOK_APP_SECRET (Meta app dashboard → "
                                        "App settings → Basic) in the env file, or pass them")
    if not user_token.strip():
        raise AuthFlowError("facebook", "no user access token given: create one in the Graph API Explorer "
                                        "with pages_show_list, pages_read_engagement and pages_manage_posts")
    graph = f"{facebook.graph_base.rstrip('/')}/{facebook.graph_version}"
    session = new_session()
    timeout = settings.request_timeout

    exchanged = _graph_call(session, f"{graph}/oauth/access_token", timeout, {
        "grant_type": "fb_exchange_token", "client_id": app_id, "client_secret": app_secret,
        "fb_exchange_token": user_token.strip()}, step="exchange the user token for a long-lived one")
    long_token = exchanged.get("access_token")
    if not isinstance(long_token, str) or not long_token:
        raise AuthFlowError("facebook", "Graph answered the token exchange without an access_token")

    from bot.platforms.facebook import appsecret_proof

    accounts = _graph_call(session, f"{graph}/me/accounts", timeout, {
        "method": "GET", "fields": FACEBOOK_PAGE_FIELDS, "limit": "100", "access_token": long_token,
        "appsecret_proof": appsecret_proof(long_token, app_secret)}, step="list your Pages (/me/accounts)")
    pages = [p for p in accounts.get("data") or [] if isinstance(p, dict) and p.get("id") and p.get("access_token")]
    if not pages:
        raise AuthFlowError("facebook", "this Facebook user manages no Page the app may use: the user token "
                                        "needs pages_show_list, pages_read_engagement and pages_manage_posts, "
                                        "granted for the Page when the Explorer asked")

    print_fn("Pages this account manages:")
    for number, page in enumerate(pages, 1):
        can_post = "CREATE_CONTENT" in (page.get("tasks") or ["CREATE_CONTENT"])
        print_fn(f"  {number}. {page.get('name') or '(unnamed)'} (id {page['id']})"
                 + ("" if can_post else " — you cannot post here (no CREATE_CONTENT task)"))
    page = pages[0] if len(pages) == 1 else pages[_pick(len(pages), input_fn) - 1]
    if "CREATE_CONTENT" not in (page.get("tasks") or ["CREATE_CONTENT"]):
        print_fn("Warning: your role on this Page does not include creating content; posts will be refused.")

    updates = {"FACEBOOK_PAGE_ID": str(page["id"]), "FACEBOOK_PAGE_TOKEN": page["access_token"]}
    existing = _existing_keys(env_path)
    if "FACEBOOK_APP_ID" not in existing:
        updates["FACEBOOK_APP_ID"] = app_id
    if "FACEBOOK_APP_SECRET" not in existing:
        updates["FACEBOOK_APP_SECRET"] = app_secret
    update_env_file(env_path, updates)
    account = f"{page.get('name') or 'Page'} ({page['id']})"
    print_fn(f"Saved {', '.join(updates)} in {env_path}: posting to {account}. A Page token made from a "
             f"long-lived user token does not expire; it stops working if you change your Facebook password, "
             f"lose your role on the Page or remove the app. Next, run `autopost check`.")
    return Connected("facebook", account, tuple(updates))


def _pick(count: int, input_fn: Callable[[str], str], tries: int = 3) -> int:
    for _ in range(tries):
        answer = input_fn(f"Number of the Page to post to (1-{count}): ").strip()
        if answer.isdigit() and 1 <= int(answer) <= count:
            return int(answer)
    raise AuthFlowError("facebook", "no Page chosen; nothing was saved")


def _existing_keys(env_path: str | Path) -> set[str]:
    path = Path(env_path)
    return set(read_env_file(path)) if path.is_file() else set()


def _graph_call(session: requests.Session, url: str, timeout: float, form: dict[str, str], *,
                step: str) -> dict[str, Any]:
    """One Graph POST with the parameters in the body; a Graph error becomes an AuthFlowError."""
    import requests

    log.debug("facebook: POST %s", url)
    try:
        response = session.post(url, data=form, timeout=timeout)
    except requests.RequestException as exc:
        raise AuthFlowError("facebook", f"cannot {step}: Graph unreachable ({exc.__class__.__name__})") from None
    body = _json_object(response)
    error = body.get("error")
    if isinstance(error, dict):
        code: Any = error.get("code")             # Graph's number, or anything a broken answer holds
        hint = {1: " Check FACEBOOK_APP_SECRET.", 101: " Check FACEBOOK_APP_ID.",
                190: " The user token is invalid or expired (Explorer tokens last about an hour): make a new one."
                }.get(code, "")
        raise AuthFlowError("facebook", f"cannot {step}: {_short(str(error.get('message') or 'Graph error'))} "
                                        f"(code {code}).{hint}")
    if response.status_code != 200:
        raise AuthFlowError("facebook", f"cannot {step}: Graph answered HTTP {response.status_code}")
    return body


# ───────────────────────────────────────────────────────────────── helpers

def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"
