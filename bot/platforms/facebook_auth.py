"""`autopost auth facebook`: a Graph API Explorer token exchanged for a Page's token.

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

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.auth import AuthFlowError, Connected, _existing_keys, _json_object, _short, network_settings
from bot.config import Settings
from bot.envfile import update_env_file
from bot.http import new_session

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

FACEBOOK_PAGE_FIELDS = "id,name,access_token,tasks"



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
