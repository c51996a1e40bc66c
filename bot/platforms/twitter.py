"""The X (Twitter) adapter: one post through the X API v2, signed with OAuth 1.0a.

Posting goes through tweepy's ``Client.create_tweet`` (it builds the request
body), but every request leaves through this module's ``_request``: tweepy's
own ``Client.request`` talks only to ``https://api.twitter.com``, sets no
timeout, sleeps on rate limits when asked to and logs request headers at
DEBUG. Our subclass keeps tweepy's endpoint helpers and replaces that one
method, so ``TWITTER_API_BASE`` and ``AUTOPOST_REQUEST_TIMEOUT`` apply to
every call and no status code escapes the mapping below.

X API v2 documentation relied on (docs.x.com):

- ``POST /2/tweets`` (x-api/posts/manage-tweets): JSON ``{"text", "media":
  {"media_ids": [...]}}``, answers 201 ``{"data": {"id", "text"}}``.
- ``GET /2/users/me`` (x-api/users/lookup/quickstart/authenticated-lookup):
  ``{"data": {"id", "name", "username"}}``.
- ``GET /2/users/:id/tweets`` with ``tweet.fields=entities``: each post's
  ``entities.urls[].expanded_url`` is the link behind the t.co one;
  ``max_results`` is 5..100.
- ``POST /2/media/upload`` (x-api/media/image-or-subtitle-media-upload):
  multipart ``media`` (raw bytes) + ``media_category=tweet_image``, answers
  ``{"data": {"id", "media_key", ...}}``; images are limited to 5 MB.
- Rate limits (fundamentals/rate-limits): ``x-rate-limit-limit``,
  ``-remaining``, ``-reset`` (Unix epoch seconds) on every answer, 429 when
  exhausted; ``POST /2/tweets`` also has a 24-hour window reported in
  ``x-user-limit-24hour-{limit,remaining,reset}`` and
  ``x-app-limit-24hour-{limit,remaining,reset}``.
- Errors are RFC 7807 problems ``{"title", "detail", "type", "status"}`` or
  ``{"errors": [{"code", "message"}]}``. Observed bodies: a duplicate is 403
  ``{"detail": "You are not allowed to create a Tweet with duplicate
  content.", "type": "about:blank", "title": "Forbidden"}``; a read-only
  token is 403 ``type .../2/problems/oauth1-permissions``; an app outside a
  Project or plan is 403 ``type .../2/problems/client-forbidden``; bad
  credentials are 401 ``{"title": "Unauthorized", "type": "about:blank"}``;
  an account out of pay-per-use credits is 402, and sometimes 403, with
  ``type https://api.x.com/2/problems/credits-depleted`` (problem types are
  listed in x-api/fundamentals/response-codes-and-errors; the 403 form is seen
  in public integrations), so the type decides, not the status.
"""
from __future__ import annotations

import functools
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

from bot.models import Message, Published, utcnow
from bot.http import transport_errors
from bot.urls import identity
from bot.values import ConfigError, parse_bool, repr_without
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
)

from bot.platforms.network import AuthFlow, Network, TextRules

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import requests

log = logging.getLogger(__name__)

PLATFORM = "twitter"
DEFAULT_BASE_URL = "https://api.x.com"
PUBLIC_BASE = "https://x.com"

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# How many recent posts find_existing reads. Reads are billed per post on
# pay-per-use plans; the post being reconciled after a crash is among the
# newest, so a short page is enough.
RECENT_POSTS_TO_SCAN = 20
# When X says 429 without saying until when: its windows are 15 minutes.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)
# A reset time already in the past (clock skew) must not turn into a retry loop.
MIN_RATE_LIMIT_WAIT = timedelta(minutes=1)

CREDENTIAL_VARIABLES = ("TWITTER_API_KEY", "TWITTER_API_SECRET",
                        "TWITTER_ACCESS_TOKEN", "TWITTER_ACCESS_TOKEN_SECRET")
FIX_CREDENTIALS = ("check TWITTER_API_KEY, TWITTER_API_SECRET, TWITTER_ACCESS_TOKEN and "
                   "TWITTER_ACCESS_TOKEN_SECRET against the app's Keys and tokens page in the "
                   "X developer portal; if they were regenerated or revoked, copy the new ones")
FIX_WRITE_PERMISSION = ("in the X developer portal set the app's permissions to Read and Write, then "
                        "regenerate the access token with Read and Write permission and update "
                        "TWITTER_ACCESS_TOKEN and TWITTER_ACCESS_TOKEN_SECRET")
FIX_CLIENT_ACCESS = ("in the X developer portal attach the app to a Project whose plan includes "
                     "this endpoint, then regenerate the keys and tokens")
FIX_CREDITS = ("the X developer account's API credits are spent, and X refuses every post until they "
               "are topped up in the X developer console; held posts go out once `autopost check` passes")

# tweepy, oauthlib and requests-oauthlib log the consumer key, the tokens, the
# signature base string, the signature and the whole Authorization header at
# DEBUG (and oauthlib's endpoints at INFO). See _quiet_signing_loggers.
SIGNING_LOGGERS = ("tweepy", "oauthlib", "requests_oauthlib")


# -- the description (cheap: tweepy and requests load when an adapter is built) -------------

class TwitterSettings(NamedTuple):
    api_key: str = ""
    api_secret: str = ""
    access_token: str = ""
    access_token_secret: str = ""
    api_base: str = DEFAULT_BASE_URL
    attach_image: bool = False

    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.api_key, self.api_secret, self.access_token, self.access_token_secret) if v)

    def __repr__(self) -> str:
        return repr_without(self, "api_key", "api_secret", "access_token", "access_token_secret")


def parse_settings(values: Mapping[str, str]) -> TwitterSettings:
    """Validate X's variables; ConfigError names the first bad one."""
    def get(name: str) -> str:
        return (values.get(name) or "").strip()

    return TwitterSettings(
        api_key=get("TWITTER_API_KEY"), api_secret=get("TWITTER_API_SECRET"),
        access_token=get("TWITTER_ACCESS_TOKEN"), access_token_secret=get("TWITTER_ACCESS_TOKEN_SECRET"),
        api_base=api_base(get("TWITTER_API_BASE") or DEFAULT_BASE_URL, "TWITTER_API_BASE"),
        attach_image=parse_bool(get("TWITTER_ATTACH_IMAGE") or "false", "TWITTER_ATTACH_IMAGE"),
    )


def api_base(value: str, variable: str) -> str:
    """A configured API base, checked (https, or http for a loopback host), without its trailing slash."""
    from bot.http import check_api_base

    problem = check_api_base(value)
    if problem:
        raise ConfigError(variable, problem)
    return value.rstrip("/")


# X counts with twitter-text (bot/twitter_text.py), loaded on first count: the CLI's start stays fast.
def _weighted_length(text: str) -> int:
    from bot.twitter_text import weighted_length
    return weighted_length(text)


def _cautious_length(text: str) -> int:
    from bot.twitter_text import cautious_weighted_length
    return cautious_weighted_length(text)


def _weight_exceeded_at(text: str, budget: int) -> int:
    from bot.twitter_text import weight_exceeded_at
    return weight_exceeded_at(text, budget)


def _defuse_mentions(text: str) -> str:
    from bot.twitter_text import defuse_mentions
    return defuse_mentions(text)


def _auth_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _run_auth(settings: Any, network: TwitterSettings | None, env_path: Path, args: argparse.Namespace) -> None:
    from bot.platforms.twitter_auth import auth_twitter
    from bot.cli import UsageError

    network = network or TwitterSettings()
    # X's PIN flow cannot start without the app's keys, and they are not asked for.
    missing = [name for name, value in (("TWITTER_API_KEY", network.api_key),
                                        ("TWITTER_API_SECRET", network.api_secret)) if not value]
    if missing:
        raise UsageError(f"auth twitter needs {' and '.join(missing)} (the app's \"API Key and Secret\" "
                         f"from the X developer portal) in {env_path} or the environment; nothing was changed")
    auth_twitter(settings, env_path, input_fn=input, print_fn=print)


def _check_note(settings: Any) -> str | None:
    from bot.platforms.twitter_costs import reverify_line
    return reverify_line(settings.reverify_interval)


def _preview_note(settings: Any, network: Any, post: Any, candidates: Any) -> list[str]:
    """What this post, and a month of the feed, would cost on X (pay-per-use)."""
    from bot.delivery import messages_for
    from bot.platforms import twitter_costs
    from bot.twitter_text import url_spans

    (message,) = messages_for(post, PLATFORM, settings)
    lines = twitter_costs.cost_lines(
        has_url=bool(url_spans(message.text)),
        per_day=twitter_costs.posts_per_day([p.published for p in candidates], utcnow(),
                                            poll_interval=settings.poll_interval,
                                            burst_limit=settings.burst_limit),
        history=twitter_costs.history_days([p.published for p in candidates], utcnow()),
        daily_cap=settings.daily_caps.get(PLATFORM), reverify_interval=settings.reverify_interval)
    return ["── X cost (estimate; the X developer console has the real prices)", *(f"  {line}" for line in lines)]


NETWORK = Network(
    name=PLATFORM,
    label="X",
    variables=(*CREDENTIAL_VARIABLES, "TWITTER_API_BASE", "TWITTER_ATTACH_IMAGE"),
    secrets=CREDENTIAL_VARIABLES,
    credentials=CREDENTIAL_VARIABLES,
    parse=parse_settings,
    adapter="bot.platforms.twitter:from_settings",
    api_base=DEFAULT_BASE_URL,
    # X refuses the same text twice ("duplicate content"), so a blind retry after a crash is safe.
    rejects_duplicates=True,
    text=TextRules(
        limit=280,
        length=_weighted_length,
        fit_length=_cautious_length,
        pretrim_at=_weight_exceeded_at,
        default_template="{title} {url} {hashtags}",
        defuse_mentions=_defuse_mentions,      # X's automation rules forbid unsolicited automated mentions
        url_in_text=True,                      # on X the link lives in the text; X builds the card from it
    ),
    auth=AuthFlow(help="X: print an authorise address, read the PIN (needs TWITTER_API_KEY/SECRET)",
                  epilog="Example: autopost auth twitter", run=_run_auth, arguments=_auth_arguments),
    check_note=_check_note,
    preview_note=_preview_note,
)


class TwitterPlatform:
    """Posts to one X account with OAuth 1.0a user-context credentials."""

    name = "twitter"

    def __init__(self, *, api_key: str, api_secret: str, access_token: str,
                 access_token_secret: str, base_url: str = DEFAULT_BASE_URL,
                 timeout: float = 30.0, attach_image: bool = False,
                 clock: Callable[[], datetime] | None = None):
        credentials = (api_key, api_secret, access_token, access_token_secret)
        for variable, value in zip(CREDENTIAL_VARIABLES, credentials):
            if not value:
                raise ValueError(f"{variable} is empty: X needs all four OAuth 1.0a credentials")
        import requests
        from requests_oauthlib import OAuth1

        _quiet_signing_loggers()
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._attach_image = attach_image
        self._clock = clock or utcnow
        self._session = new_session()
        # decoding=None keeps header values as str, as tweepy's OAuth1UserHandler does.
        self._oauth = OAuth1(api_key, client_secret=api_secret, resource_owner_key=access_token,
                             resource_owner_secret=access_token_secret, decoding=None)
        self._api_key = api_key
        # tweepy only builds requests here; signing happens in _request, so it
        # never holds the credentials. Raw responses: we parse (and distrust) them.
        self._client = _routed_client_class()(self, return_type=requests.Response, wait_on_rate_limit=False)
        self._username: str | None = None
        self._user_id: str | None = None
        self._account_lookup_tried = False

    def __repr__(self) -> str:
        return (f"TwitterPlatform(base_url={self._base_url!r}, api_key={mask(self._api_key)!r}, "
                f"timeout={self._timeout}, attach_image={self._attach_image})")

    # -- the Platform interface -------------------------------------------

    def publish(self, message: Message) -> Published:
        media_ids = None
        if self._attach_image and message.image_url:
            media_id = self._upload_image(message.image_url)
            media_ids = [media_id] if media_id else None
        response = self._client.create_tweet(text=message.text, media_ids=media_ids, user_auth=True)
        data = _data_object(self._json(response, "POST /2/tweets"), "POST /2/tweets")
        post_id = data.get("id")
        if not isinstance(post_id, str) or not post_id.isdigit():
            raise TransientError(PLATFORM, f"X answered {response.status_code} to POST /2/tweets "
                                           f"without a post id", status=response.status_code)
        # The post exists from here on: nothing below may raise, or delivery
        # would retry a post that is already public.
        log.info("posted to X: id %s%s", post_id, " with an image" if media_ids else "")
        return Published(remote_id=post_id, url=self._post_url(post_id))

    def verify(self) -> str:
        response = self._client.get_me(user_auth=True)
        data = _data_object(self._json(response, "GET /2/users/me"), "GET /2/users/me")
        username, user_id = data.get("username"), data.get("id")
        if not isinstance(username, str) or not username or not isinstance(user_id, str):
            raise TransientError(PLATFORM, "X answered GET /2/users/me without a username and id",
                                 status=response.status_code)
        self._username, self._user_id = username, user_id
        return f"@{username}"

    def find_existing(self, post_url: str) -> Published | None:
        """The newest of our recent posts that links to ``post_url``, else None.

        None also when X refuses to answer (401/403: e.g. a plan without read
        access): the caller cannot learn more here. Rate limits and network
        trouble still raise, since asking again later may well succeed.
        """
        try:
            if self._user_id is None:
                self.verify()
            response = self._client.get_users_tweets(
                self._user_id, user_auth=True, max_results=RECENT_POSTS_TO_SCAN,
                tweet_fields=["entities"], exclude=["retweets", "replies"])
        except (AuthError, PermanentError) as exc:
            log.info("X will not list the account's recent posts, so an earlier post of %s "
                     "cannot be looked up: %s", post_url, exc.message)
            return None
        body = self._json(response, "GET /2/users/:id/tweets")
        posts = body.get("data") or []
        if not isinstance(posts, list):
            raise TransientError(PLATFORM, "X answered GET /2/users/:id/tweets with a malformed list")
        wanted = identity(post_url, keep_fragment=False)
        for post in posts:
            if not isinstance(post, dict) or not isinstance(post.get("id"), str):
                continue
            entities = post.get("entities")
            urls = entities.get("urls") if isinstance(entities, dict) else None
            for entity in urls if isinstance(urls, list) else []:
                if not isinstance(entity, dict):
                    continue
                linked = entity.get("expanded_url") or entity.get("unwound_url")
                if isinstance(linked, str) and identity(linked, keep_fragment=False) == wanted:
                    return Published(remote_id=post["id"], url=self._post_url(post["id"]),
                                     note="already on X")
        return None

    # -- HTTP ---------------------------------------------------------------

    def _request(self, method: str, route: str, *, params: dict | None = None,
                 json: Any = None, data: dict | None = None, files: dict | None = None) -> requests.Response:
        """One signed call to the X API; a 2xx response or one of base.py's errors.

        Only the method and route are logged: headers carry the signature.
        """
        url = self._base_url + route
        log.debug("X API request: %s %s", method, route)
        with transport_errors(PLATFORM, "X", self._timeout, f"{method} {route}"):
            response = self._session.request(method, url, params=params, json=json, data=data,
                                             files=files, auth=self._oauth, timeout=self._timeout)
        log.debug("X API answer: %s %s -> %s", method, route, response.status_code)
        if 200 <= response.status_code < 300:
            return response
        raise self._error_for(response, f"{method} {route}")

    def _error_for(self, response: requests.Response, what: str) -> PlatformError:
        """Map a non-2xx answer to the exception delivery acts on, in X's own words."""
        status = response.status_code
        problem = _problem(response)
        said = problem.text or response.reason or "no explanation"
        words = f"{what}: X answered {status}: {said}"
        if status == 429:
            return RateLimited(PLATFORM, words, retry_at=self._retry_at(response.headers),
                               status=status, code=problem.code)
        if status >= 500:
            return TransientError(PLATFORM, words, status=status, code=problem.code)
        if status == 401:
            return AuthError(PLATFORM, f"{words}. To fix: {FIX_CREDENTIALS}.",
                             status=status, code=problem.code)
        if status == 402 or problem.type.endswith("/credits-depleted"):
            return AuthError(PLATFORM, f"{words}. To fix: {FIX_CREDITS}.", status=status, code=problem.code)
        if status == 403:
            if problem.is_duplicate:
                return DuplicateError(PLATFORM, words, status=status, code=problem.code)
            if problem.type.endswith("/oauth1-permissions") or "permission" in said.lower():
                return AuthError(PLATFORM, f"{words}. To fix: {FIX_WRITE_PERMISSION}.",
                                 status=status, code=problem.code)
            if problem.type.endswith("/client-forbidden"):
                return AuthError(PLATFORM, f"{words}. To fix: {FIX_CLIENT_ACCESS}.",
                                 status=status, code=problem.code)
        return PermanentError(PLATFORM, words, status=status, code=problem.code)

    def _retry_at(self, headers: Mapping[str, str]) -> datetime:
        """When the exhausted window reopens; the latest one if several are exhausted."""
        now = self._clock()
        windows = (("x-rate-limit-remaining", "x-rate-limit-reset"),
                   ("x-user-limit-24hour-remaining", "x-user-limit-24hour-reset"),
                   ("x-app-limit-24hour-remaining", "x-app-limit-24hour-reset"))
        exhausted = [_epoch(headers.get(reset)) for remaining, reset in windows
                     if (headers.get(remaining) or "").strip() == "0"]
        resets = [moment for moment in exhausted if moment is not None]
        if not resets:
            # No window says it is empty (e.g. a usage cap): the 15-minute reset is the best hint.
            fallback = _epoch(headers.get("x-rate-limit-reset"))
            resets = [fallback] if fallback else []
        if not resets:
            return now + DEFAULT_RATE_LIMIT_WAIT
        return max(max(resets), now + MIN_RATE_LIMIT_WAIT)

    def _json(self, response: requests.Response, what: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientError(PLATFORM, f"{what}: X answered {response.status_code} with a body "
                                           f"that is not a JSON object", status=response.status_code)
        return body

    def _post_url(self, post_id: str) -> str:
        username = self._known_username()
        if username:
            return f"{PUBLIC_BASE}/{username}/status/{post_id}"
        return f"{PUBLIC_BASE}/i/web/status/{post_id}"

    def _known_username(self) -> str | None:
        """The cached username, asking X once per adapter if it is not known yet."""
        if self._username is None and not self._account_lookup_tried:
            self._account_lookup_tried = True
            try:
                self.verify()
            except Exception as exc:  # noqa: BLE001  the post is already out: never fail because of its link
                log.info("could not learn the X username for post links (%s); using /i/web/status links",
                         getattr(exc, "message", exc.__class__.__name__))
        return self._username

    # -- images -------------------------------------------------------------

    def _upload_image(self, image_url: str) -> str | None:
        """The media id of the post's image on X, or None (and a log line saying why).

        An image never costs the post: every failure here is logged and the
        post goes out without it.
        """
        try:
            content, content_type = download_image(self._session, image_url, timeout=self._timeout,
                                                   types=IMAGE_TYPES)
            response = self._request("POST", "/2/media/upload",
                                     data={"media_category": "tweet_image"},
                                     files={"media": ("image", content, content_type)})
            data = _data_object(self._json(response, "POST /2/media/upload"), "POST /2/media/upload")
            media_id = data.get("id") or data.get("media_id_string")
            if not isinstance(media_id, str) or not media_id:
                raise ImageProblem("X answered the upload without a media id")
            return media_id
        except ImageProblem as exc:
            reason = str(exc)
        except PlatformError as exc:
            reason = f"upload refused: {exc.message}"
        except Exception as exc:  # noqa: BLE001  an odd URL or a broken server must not stop the post
            reason = f"{exc.__class__.__name__}"
        log.warning("posting to X without the image %s: %s", image_url, reason)
        return None

@functools.cache
def _routed_client_class() -> type:
    """The client class, made on first use: tweepy loads only when an X adapter is built."""
    import tweepy

    class _RoutedClient(tweepy.Client):
        """tweepy's Client with its one network method replaced by the adapter's.

        tweepy 4.17 builds ``"https://api.twitter.com" + route`` inside
        ``BaseClient.request``, with no timeout; overriding that method keeps
        tweepy's endpoint helpers (create_tweet, get_me, get_users_tweets) while
        the base URL, timeout, signing and error mapping are ours.
        """

        def __init__(self, adapter: TwitterPlatform, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._adapter = adapter

        def request(self, method: str, route: str, params: dict[str, Any] | None = None,
                    json: dict[str, Any] | None = None, user_auth: bool = False) -> Any:
            return self._adapter._request(method, route, params=params, json=json)

    return _RoutedClient


class _Problem:
    """The readable parts of an X error body, whichever of its two shapes it has."""

    def __init__(self, text: str = "", type_: str = "", code: str | int | None = None):
        self.text = text
        self.type = type_
        self.code = code

    @property
    def is_duplicate(self) -> bool:
        # v2 says it in words; v1.1-style bodies use code 187 "Status is a duplicate."
        return "duplicate content" in self.text.lower() or str(self.code) == "187"


def _problem(response: requests.Response) -> _Problem:
    try:
        body = response.json()
    except ValueError:
        snippet = re.sub(r"\s+", " ", response.text or "").strip()[:200]
        return _Problem(snippet)
    if not isinstance(body, dict):
        return _Problem(str(body)[:200])
    type_: str = body["type"] if isinstance(body.get("type"), str) else ""
    detail: str = body["detail"] if isinstance(body.get("detail"), str) else ""
    title: str = body["title"] if isinstance(body.get("title"), str) else ""
    code: str | int | None = type_.rsplit("/", 1)[-1] if type_ and type_ != "about:blank" else None
    messages = []
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            if isinstance(message, str):
                messages.append(message)
            if code is None and error.get("code") is not None:
                code = error.get("code")
    text = detail or "; ".join(messages) or title
    if title and detail and title.lower() not in detail.lower():
        text = f"{title}: {detail}"
    return _Problem(text, type_, code)


def _data_object(body: dict, what: str) -> dict:
    data = body.get("data")
    if not isinstance(data, dict):
        raise TransientError(PLATFORM, f"{what}: X's answer has no data object")
    return data


def _epoch(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(int(str(value).strip()), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


class _BelowWarning(logging.Filter):
    """Drops records under WARNING, whatever level the logger is later set to."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_BELOW_WARNING = _BelowWarning()


def _quiet_signing_loggers() -> None:
    """Keep tweepy's, oauthlib's and requests-oauthlib's DEBUG/INFO lines out of our logs.

    They print the consumer key, the tokens, the signature and the whole
    Authorization header. Two layers, because each alone can be undone:
    the package loggers are set to WARNING (cheap: records are never made),
    and a filter on every one of their existing loggers drops records under
    WARNING even if someone later sets a level of DEBUG on them (as
    ``AUTOPOST_LOG_LEVEL=DEBUG`` setups or tests may do). Warnings and errors
    still get through.
    """
    for name in SIGNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in SIGNING_LOGGERS:
            if _BELOW_WARNING not in logger.filters:
                logger.addFilter(_BELOW_WARNING)


def from_settings(settings: TwitterSettings, *, timeout: float = 30.0,
                  clock: Callable[[], datetime] | None = None) -> TwitterPlatform:
    return TwitterPlatform(
        api_key=settings.api_key,
        api_secret=settings.api_secret,
        access_token=settings.access_token,
        access_token_secret=settings.access_token_secret,
        base_url=settings.api_base,
        timeout=timeout,
        attach_image=settings.attach_image,
        clock=clock,
    )
