"""`autopost auth linkedin`: LinkedIn's OAuth 2.0 authorization-code flow, for a member or a Page.

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
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.auth import AuthFlowError, Connected, RedirectListener, _json_object, _short, network_settings
from bot.config import Settings
from bot.envfile import update_env_file
from bot.http import check_api_base, is_loopback, new_session
from bot.models import utcnow
from bot.platforms.base import PlatformError

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

    with RedirectListener(port, state, network="linkedin", label="LinkedIn",
                          path=LINKEDIN_REDIRECT_PATH) as listener:
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
