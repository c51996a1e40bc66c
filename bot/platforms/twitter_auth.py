"""`autopost auth twitter`: X's OAuth 1.0a PIN flow (loaded only by `auth`: it needs tweepy).

X, OAuth 1.0a PIN flow (docs.x.com/fundamentals/authentication/oauth-1-0a/pin-based-oauth
and .../api-reference): ``POST oauth/request_token`` signed with the app's keys and
``oauth_callback=oob``; the user opens ``GET oauth/authorize?oauth_token=…``, approves,
and is shown a 7-digit PIN instead of being redirected; ``POST oauth/access_token``
signed with the request token and ``oauth_verifier=PIN`` gives ``oauth_token``,
``oauth_token_secret``, ``user_id`` and ``screen_name``. All three live on the API
host (``https://api.x.com/oauth/...``). Done with tweepy's ``OAuth1UserHandler``,
whose ``_get_oauth_url`` hard-codes ``https://api.twitter.com/oauth/``: a subclass
points it at ``TWITTER_API_BASE`` and adds the timeout tweepy does not set.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.auth import AuthFlowError, Connected, _short, network_settings
from bot.config import Settings
from bot.envfile import update_env_file


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
