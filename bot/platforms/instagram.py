"""Instagram: settings, caption rules, JPEG checking and the adapter, in one module.

The Instagram API with Instagram Login (Business Login for Instagram): host
``graph.instagram.com``, permissions ``instagram_business_basic`` and
``instagram_business_content_publish``, a professional (business or creator)
account, no Facebook Page. What this module relies on, from Meta's Instagram
Platform documentation (developers.facebook.com/documentation/instagram-platform/…,
checked 2026-11):

- Content publishing (…/content-publishing): "We cURL media used in publishing
  attempts, so the media must be hosted on a publicly accessible server at the
  time of the attempt"; ``alt_text`` exists for image posts since 2025-03-24.
- ``POST /<API_VERSION>/<IG_ID>/media`` with ``image_url``, ``caption``,
  ``alt_text`` creates an IG Container and answers ``{"id": <container id>}``;
  containers expire after 24 hours; at most 400 containers per rolling 24 hours
  (…/reference/ig-user/media).
- ``GET /<API_VERSION>/<IG_CONTAINER_ID>?fields=status_code,status``:
  ``status_code`` is EXPIRED ("not published within 24 hours"), ERROR ("failed
  to complete the publishing process"), FINISHED ("ready to be published"),
  IN_PROGRESS, PUBLISHED; ``status`` carries the error subcode on ERROR
  (…/reference/ig-container).
- ``POST /<IG_ID>/media_publish`` with ``creation_id`` answers ``{"id": <media id>}``;
  ``GET /<IG_MEDIA_ID>?fields=permalink`` gives the post's URL.
- ``GET /<IG_ID>/content_publishing_limit?fields=quota_usage,config`` answers
  ``{"data": [{"quota_usage": 2, "config": {"quota_total": 50,
  "quota_duration": 86400}}]}`` (…/reference/ig-user/content_publishing_limit).
  The total is read, never assumed: Meta has changed it (25, then 50) before.
- ``GET /me?fields=user_id,username``: ``user_id`` is the professional
  account's id (the ``<IG_ID>`` above), ``username`` its handle.
- ``GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token
  &access_token=…`` refreshes a long-lived token "at least 24 hours old but
  [that] has not expired"; the new one is valid 60 days; the answer is
  ``{"access_token", "token_type": "bearer", "expires_in": <seconds>}``
  (…/reference/refresh_access_token). ``GET /access_token?grant_type=
  ig_exchange_token&client_secret=…&access_token=<short-lived>`` exchanges a
  one-hour token for a 60-day one (…/reference/access_token). Both are
  unversioned and documented only as GETs with query parameters, so those two
  calls (and only those) carry a token in their URL; nothing here logs a URL's
  query, and urllib3 stays at WARNING (bot/logs.py).
- Errors (…/instagram-graph-api/reference/error-codes): Graph's shape
  ``{"error": {"message", "type", "code", "error_subcode", "is_transient",
  "error_user_title", "error_user_msg", "fbtrace_id"}}``, HTTP 400 whatever the
  cause, so we map ``code``/``error_subcode``. The table lists -2/2207003 (took
  too long to download the media: try again), -2/2207020 (container expired:
  make a new one), -1/2207001, -1/2207032, -1/2207053 (server error, try again),
  4/2207051 (publishing suspected to be spam: restricted), 9/2207042 (daily
  publishing limit reached) and 36000/2207004 (image over 8 MiB). Further rows
  used here, as Meta's table and clients' code name them: 9004/2207052 (the
  media could not be fetched from the URI), 36001/2207005 (image format not
  supported), 36003/2207009 (aspect ratio not supported), 352/2207026 (video
  format), 9007/2207027 ("Media ID is not available": not ready to publish yet),
  24/2207006 and 24/2207008 (container not found or expired), 25/2207050
  (account inactive, checkpointed or restricted). 190 is an invalid or expired
  token; 4, 17, 32, 613 are Graph's throttling codes
  (developers.facebook.com/docs/graph-api/guides/error-handling).
- Image rules (…/reference/ig-user/media, image specifications): JPEG only,
  at most 8 MB, aspect ratio between 4:5 and 1.91:1.
- Caption: at most 2,200 characters, 30 hashtags and 20 @ tags.

Exactly once. Publishing is three calls, and only the last one posts:
``create_container`` → ``container_status`` until FINISHED → ``publish_container``.
Delivery records the container id in the ledger before ``publish_container`` (or
passes ``on_container`` to ``publish``); after a crash, ``resume`` asks the
container itself what happened: PUBLISHED → the post is live (found in the
account's recent media by its URL), FINISHED → publish it now, IN_PROGRESS →
``NotReady`` again, EXPIRED or ERROR → a new container. A container that was
never published shows nowhere and expires by itself, so a crash before
``media_publish`` can never make a second post.
"""
from __future__ import annotations

import argparse
import logging
import re
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, TypeGuard
from urllib.parse import quote

from bot.values import ConfigError, repr_without
from bot.models import Message, Published, utcnow
from bot.http import read_answer, transport_errors
from bot.platforms.base import (
    AuthError,
    ImageProblem,
    InProgress,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    Unsuitable,
    check_api_base,
    download_image,
    mask,
    new_session,
)
from bot.platforms.graph import BUC_THROTTLE_RANGE, TOKEN_CODES, as_int, throttle_wait
from bot.platforms.network import AuthFlow, Network, TextRules
from bot.patterns import lazy

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

NAME = "instagram"

# -------------------------------------------------------------------------- settings

DEFAULT_GRAPH_BASE = "https://graph.instagram.com"
# Graph versions live about two years (developers.facebook.com/docs/graph-api/changelog):
# v25.0 was released 2026-02-18 and is served until 2028-07-29, as for Facebook.
DEFAULT_GRAPH_VERSION = "v25.0"
VARIABLES = ("INSTAGRAM_ACCOUNT_ID", "INSTAGRAM_ACCESS_TOKEN", "INSTAGRAM_GRAPH_BASE", "INSTAGRAM_GRAPH_VERSION",
             "INSTAGRAM_TEMPLATE", "INSTAGRAM_IMAGE_URL_TEMPLATE", "INSTAGRAM_TOKEN_EXPIRES")
SECRETS = ("INSTAGRAM_ACCESS_TOKEN",)
CREDENTIALS = ("INSTAGRAM_ACCOUNT_ID", "INSTAGRAM_ACCESS_TOKEN")   # what enabling Instagram requires

TOKEN_ADVICE = ("run `autopost auth instagram` with a new short-lived token from your Meta app "
                "(Instagram → API setup with Instagram login → Generate token)")


class InstagramSettings(NamedTuple):
    account_id: str
    access_token: str
    graph_base: str = DEFAULT_GRAPH_BASE
    graph_version: str = DEFAULT_GRAPH_VERSION
    template: str | None = None
    image_url_template: str | None = None
    token_expires: date | None = None

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def __repr__(self) -> str:
        return repr_without(self, "access_token")


def parse_settings(values: Mapping[str, str]) -> InstagramSettings:
    """Read and check Instagram's variables; every error names its variable and never echoes a secret."""
    def get(key: str) -> str:
        return (values.get(key) or "").strip()

    account = get("INSTAGRAM_ACCOUNT_ID")
    if not account:
        raise ConfigError("INSTAGRAM_ACCOUNT_ID", "is required: the professional account's numeric id "
                                                  "(`autopost auth instagram` writes it)")
    if not account.isdigit():
        raise ConfigError("INSTAGRAM_ACCOUNT_ID", "must be the account's numeric id (user_id from GET /me), "
                                                  "not its @username")
    token = get("INSTAGRAM_ACCESS_TOKEN")
    if not token:
        raise ConfigError("INSTAGRAM_ACCESS_TOKEN", f"is required: {TOKEN_ADVICE}")
    if any(c.isspace() for c in token):
        raise ConfigError("INSTAGRAM_ACCESS_TOKEN", f"contains spaces; paste the token alone, or {TOKEN_ADVICE}")

    base = get("INSTAGRAM_GRAPH_BASE") or DEFAULT_GRAPH_BASE
    problem = check_api_base(base)
    if problem:
        raise ConfigError("INSTAGRAM_GRAPH_BASE", problem)

    version = get("INSTAGRAM_GRAPH_VERSION") or DEFAULT_GRAPH_VERSION
    if not re.fullmatch(r"v\d{1,3}\.\d", version):
        raise ConfigError("INSTAGRAM_GRAPH_VERSION", f"must look like {DEFAULT_GRAPH_VERSION}")

    template = values.get("INSTAGRAM_TEMPLATE")
    if template is not None and template.strip():
        from bot.compose import check_template

        problem = check_template(template)
        if problem:
            raise ConfigError("INSTAGRAM_TEMPLATE", problem)
    else:
        template = None

    image_template = get("INSTAGRAM_IMAGE_URL_TEMPLATE") or None
    if image_template:
        problem = check_image_url_template(image_template)
        if problem:
            raise ConfigError("INSTAGRAM_IMAGE_URL_TEMPLATE", problem)

    expires = None
    if get("INSTAGRAM_TOKEN_EXPIRES"):
        try:
            expires = date.fromisoformat(get("INSTAGRAM_TOKEN_EXPIRES")[:10])
        except ValueError:
            raise ConfigError("INSTAGRAM_TOKEN_EXPIRES", "must be an ISO date such as 2027-01-31") from None
    return InstagramSettings(account_id=account, access_token=token, graph_base=base.rstrip("/"),
                             graph_version=version, template=template, image_url_template=image_template,
                             token_expires=expires)


def check_image_url_template(template: str) -> str | None:
    """What is wrong with INSTAGRAM_IMAGE_URL_TEMPLATE, or None."""
    if template.count("{url}") != 1:
        return "must contain {url} exactly once, e.g. https://img.example.com/{url}?format=jpg&w=1080"
    rest = template.replace("{url}", "")
    if "{" in rest or "}" in rest:
        return "may contain no placeholder other than {url}"
    if not template.lower().startswith("https://"):
        return "must be an https:// URL: Instagram fetches the image from a public server"
    return None


def image_url_for(image_url: str, template: str | None) -> str:
    """The URL Instagram is given: the entry's image, through the image service if one is set."""
    if not template:
        return image_url
    return template.replace("{url}", quote(image_url, safe=""))


# -------------------------------------------------------------------------- caption rules

LIMIT = 2200                    # caption characters
MAX_HASHTAGS = 30
MAX_MENTIONS = 20
# Links in captions are not clickable: the URL is there to be read and copied,
# so it stays whole and gets its own paragraph.
DEFAULT_TEMPLATE = "{title}\n\n{summary}\n\n{url}\n\n{hashtags}"
URL_IN_TEXT = True
# Instagram finds an earlier post by its caption (find_existing), so a repeat is
# never refused by the network itself.
REJECTS_DUPLICATES = False

_URL = lazy(r"https?://\S+", re.IGNORECASE)
_HASHTAG = lazy(r"(?<![\w#&])[#\uFF03](\w+)")
_MENTION = lazy(r"(?<![\w@])@([A-Za-z0-9._]+)")


def length(text: str) -> int:
    """Caption length in UTF-16 code units.

    Meta says "2200 characters" without saying what a character is. An emoji
    outside the Basic Multilingual Plane is one code point but two UTF-16 units
    (what the Instagram apps count); counting units is the stricter reading, so
    a caption that fits here fits whichever way the server counts.
    """
    return len(text.encode("utf-16-le")) // 2


def hashtags_in(text: str) -> list[str]:
    return _HASHTAG.findall(_URL.sub(" ", text))


def mentions_in(text: str) -> list[str]:
    return [m for m in _MENTION.findall(_URL.sub(" ", text)) if m.strip(".")]


def check_caption(text: str) -> str | None:
    """What in the caption exceeds Instagram's limits, or None when it fits."""
    problems = []
    size = length(text)
    if size > LIMIT:
        problems.append(f"{size} characters (limit {LIMIT})")
    tags = len(hashtags_in(text))
    if tags > MAX_HASHTAGS:
        problems.append(f"{tags} hashtags (limit {MAX_HASHTAGS})")
    mentions = len(mentions_in(text))
    if mentions > MAX_MENTIONS:
        problems.append(f"{mentions} @mentions (limit {MAX_MENTIONS})")
    return "the caption has " + ", ".join(problems) if problems else None


# -------------------------------------------------------------------------- images

MAX_IMAGE_BYTES = 8 * 1024 * 1024      # "It should be less than 8 MiB" (error 36000/2207004)
MIN_RATIO = (4, 5)                     # width:height, the tallest accepted
MAX_RATIO = (191, 100)                 # 1.91:1, the widest accepted
# Types the download accepts before the bytes are looked at: the bytes decide.
_DOWNLOAD_TYPES = ("image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp", "image/gif",
                   "image/avif", "image/heic", "image/bmp", "application/octet-stream", "binary/octet-stream")
NO_IMAGE = "no image for Instagram"
# download_image's words (bot/platforms/base.py) for an image host that is down or slow.
_IMAGE_HOST_DOWN = ("download answered 5", "no answer within", "download failed", "download took longer")
_TEMPLATE_HINT = ("; set INSTAGRAM_IMAGE_URL_TEMPLATE to an image service that serves it as a JPEG "
                  "(e.g. https://img.example.com/{url}?format=jpg&w=1080&h=1080&fit=cover)")
# SOF markers that carry dimensions: C0-C3, C5-C7, C9-CB, CD-CF (C4 is DHT, C8 JPG, CC DAC).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def sniff(data: bytes) -> str:
    """The image format from its first bytes; "unknown" when none matches."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:5].lower() in (b"<!doc", b"<html") or data[:5] == b"<?xml" or data[:4] == b"<svg":
        return "HTML or SVG text"
    return "unknown"


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's SOF segment, or None when there is none before the scan."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None                       # not at a marker: a corrupt stream
        marker = data[i + 1]
        if marker == 0xFF:                    # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            i += 2                            # standalone markers carry no length
            continue
        if marker in (0xD9, 0xDA):            # end of image, start of scan: no frame header seen
            return None
        size = int.from_bytes(data[i + 2:i + 4], "big")
        if size < 2:
            return None
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        i += 2 + size
    return None


def check_image(data: bytes, content_type: str = "") -> tuple[int, int]:
    """(width, height) of an image Instagram will take; else ImageProblem saying why not."""
    if not data:
        raise ImageProblem("the image is empty")
    kind = sniff(data)
    if kind != "JPEG":
        served = f" (served as {content_type})" if content_type else ""
        raise ImageProblem(f"the image is {kind}{served}; Instagram accepts JPEG only{_TEMPLATE_HINT}")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageProblem(f"the image is {len(data) / 1024 / 1024:.1f} MB, over Instagram's 8 MB limit"
                           f"{_TEMPLATE_HINT}")
    size = jpeg_dimensions(data)
    if size is None:
        raise ImageProblem("the JPEG's dimensions cannot be read (no frame header): it is damaged")
    width, height = size
    if not width or not height:
        raise ImageProblem(f"the JPEG says it is {width}×{height} pixels")
    if width * MIN_RATIO[1] < height * MIN_RATIO[0]:
        raise ImageProblem(f"the image is {width}×{height}, taller than Instagram's 4:5{_TEMPLATE_HINT}")
    if width * MAX_RATIO[1] > height * MAX_RATIO[0]:
        raise ImageProblem(f"the image is {width}×{height}, wider than Instagram's 1.91:1{_TEMPLATE_HINT}")
    return width, height


# -------------------------------------------------------------------------- tokens

TOKEN_LIFETIME = timedelta(days=60)
# Refresh when fewer than this many days are left: well after the 24 hours a
# token must have lived, well before `autopost check` starts warning (7 days).
REFRESH_WITHIN = timedelta(days=30)


class NewToken(NamedTuple):
    token: str
    expires_in: int                   # seconds, as Instagram said
    expires: date                     # the day it runs out, from our clock

    def __repr__(self) -> str:
        return repr_without(self, "token")


def refresh_due(expires: date | None, today: date) -> bool:
    """Whether the service should refresh the token today (unknown expiry: yes, it costs one call)."""
    return expires is None or expires - today <= REFRESH_WITHIN


def write_token(env_path: str | Path, token: str, expires: date | None) -> None:
    """Store the token (and its expiry) in the env file atomically, as `autopost auth` does."""
    from bot.envfile import update_env_file

    updates = {"INSTAGRAM_ACCESS_TOKEN": token}
    if expires is not None:
        updates["INSTAGRAM_TOKEN_EXPIRES"] = expires.isoformat()
    update_env_file(env_path, updates)


# -------------------------------------------------------------------------- the description

def _auth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", help="the short-lived token from the Meta app (default: asked for, not shown)")


def _run_auth(settings: Any, network: InstagramSettings | None, env_path: Path, args: argparse.Namespace) -> None:
    """`autopost auth instagram`: a short-lived token → a 60-day one, with the account's id, saved 0600."""
    import getpass

    from bot import auth

    short = args.token or auth.app_key(NAME, "a short-lived token", None,
                                       "Short-lived token from the Meta app (not shown): ", getpass.getpass)
    secret = auth.app_key(NAME, "the Instagram app secret", None,
                          "Instagram app secret (Meta app → Instagram → API setup with Instagram login → "
                          "Business login settings; not shown): ", getpass.getpass)
    base = network.graph_base if network else DEFAULT_GRAPH_BASE
    version = network.graph_version if network else DEFAULT_GRAPH_VERSION
    account = connect(env_path, short, secret, base_url=base, version=version,
                      timeout=getattr(settings, "request_timeout", 30.0))
    print(f"Instagram: connected as {account}; INSTAGRAM_ACCOUNT_ID, INSTAGRAM_ACCESS_TOKEN and "
          f"INSTAGRAM_TOKEN_EXPIRES saved to {env_path} (the service refreshes the token before it expires)")


def _refresh(adapter: Any, network: InstagramSettings, env_path: Path, today: date) -> InstagramSettings | None:
    """The service's daily token job: refresh when due, save to the env file, use the new token at once."""
    if not refresh_due(network.token_expires, today):
        return None
    fresh = adapter.refresh_and_save(env_path)
    return network._replace(access_token=fresh.token, token_expires=fresh.expires)


def _preview_note(settings: Any, network: InstagramSettings | None, post: Any, candidates: Any) -> list[str]:
    """Which image Instagram would be given for this post (it is checked only when it is sent)."""
    if not post.image_url:
        return [f"instagram image: none in this entry: it would be skipped ({NO_IMAGE})"]
    template = network.image_url_template if network else None
    if template:
        fetched = image_url_for(post.image_url, template)
        return [f"instagram image: {post.image_url}",
                f"  Instagram fetches it through INSTAGRAM_IMAGE_URL_TEMPLATE: {fetched}"]
    return [f"instagram image: {post.image_url} (must be a JPEG, 4:5 to 1.91:1, at most 8 MB)"]


NETWORK = Network(
    name=NAME,
    label="Instagram",
    variables=VARIABLES,
    secrets=SECRETS,
    credentials=CREDENTIALS,
    parse=parse_settings,
    adapter="bot.platforms.instagram:from_settings",
    api_base=DEFAULT_GRAPH_BASE,
    api_version=DEFAULT_GRAPH_VERSION,
    # A post is found again by its caption (find_existing); a container recorded in the ledger
    # (the delivery's progress) says by its own status whether it was published (resume).
    rejects_duplicates=REJECTS_DUPLICATES,
    text=TextRules(
        limit=LIMIT,
        length=length,
        default_template=DEFAULT_TEMPLATE,
        url_in_text=URL_IN_TEXT,               # not clickable, but kept whole to be read and copied
        max_hashtags=MAX_HASHTAGS,
    ),
    token_expires=lambda settings: settings.token_expires,
    refresh_token=_refresh,
    preview_note=_preview_note,
    auth=AuthFlow(help="Instagram: exchange a short-lived token for a 60-day one",
                  epilog="Example: autopost auth instagram", run=_run_auth, arguments=_auth_arguments),
)


# -------------------------------------------------------------------------- the adapter

CONTAINER_STATES = ("FINISHED", "IN_PROGRESS", "PUBLISHED", "EXPIRED", "ERROR")
NOT_READY_DELAY = timedelta(seconds=60)         # when to look at an IN_PROGRESS container again
# The publishing window is a rolling 24 hours; nothing says when the oldest post
# leaves it, so look again in an hour rather than guess a whole day.
LIMIT_BACKOFF = timedelta(hours=1)
_RECENT_MEDIA = 50
_MAX_ANSWER_BYTES = 1024 * 1024

_THROTTLE_CODES = frozenset({4, 17, 32, 613})
_LIMIT_CODE, _LIMIT_SUBCODE = 9, 2207042
_SPAM_SUBCODE = 2207051
_ACCOUNT_SUBCODE = 2207050
_NOT_READY_SUBCODE = 2207027
# Instagram could not use the image or the request: a new attempt would fail the same way.
_MEDIA_SUBCODES = frozenset({2207052, 2207004, 2207005, 2207009, 2207026, 2207023})
_MEDIA_CODES = frozenset({9004, 36000, 36001, 36003, 352})
# Instagram's own "try again": its download timed out, or its servers failed.
_RETRY_SUBCODES = frozenset({2207003, 2207001, 2207032, 2207053, 2207008})
# The container is gone: only a new one can go on.
_GONE_SUBCODES = frozenset({2207020})


class NotReady(InProgress):
    """The container is still IN_PROGRESS: store ``container_id`` and call ``resume`` at ``retry_at``."""

    def __init__(self, container_id: str, retry_at: datetime, message: str = ""):
        super().__init__(NAME, message or f"Instagram is still processing the image (container {container_id})",
                         progress=container_id, retry_at=retry_at, code="IN_PROGRESS")
        self.container_id = container_id


class InstagramPlatform:
    """Posts the entry's image with a caption to one professional Instagram account."""

    name = NAME

    def __init__(self, *, account_id: str, access_token: str, base_url: str = DEFAULT_GRAPH_BASE,
                 version: str = DEFAULT_GRAPH_VERSION, image_url_template: str | None = None,
                 timeout: float = 30.0, clock: Callable[[], datetime] | None = None,
                 session: requests.Session | None = None):
        if not account_id or not account_id.strip():
            raise ConfigError("INSTAGRAM_ACCOUNT_ID", "is required: the professional account's numeric id")
        if not access_token or not access_token.strip():
            raise ConfigError("INSTAGRAM_ACCESS_TOKEN", f"is required: {TOKEN_ADVICE}")
        self.account_id = account_id.strip()
        self._token = access_token.strip()
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.image_url_template = image_url_template
        self.timeout = timeout
        self._clock = clock or utcnow
        self._session = session or new_session()
        self._old_tokens: list[str] = []        # scrubbed from Instagram's words after a refresh
        # Held from the refresh's request to the token swap: Instagram drops the old token when it
        # answers, before this adapter holds the new one, and a call refused in that gap must wait.
        self._refreshing = threading.RLock()

    @classmethod
    def from_settings(cls, settings: InstagramSettings, *, timeout: float,
                      clock: Callable[[], datetime] | None = None) -> InstagramPlatform:
        return cls(account_id=settings.account_id, access_token=settings.access_token,
                   base_url=settings.graph_base, version=settings.graph_version,
                   image_url_template=settings.image_url_template, timeout=timeout, clock=clock)

    def __repr__(self) -> str:
        return (f"InstagramPlatform(account_id={self.account_id!r}, access_token={mask(self._token)!r}, "
                f"base_url={self.base_url!r}, version={self.version!r})")

    @property
    def access_token(self) -> str:
        """The token in use (changes after ``refresh_token``); never print it."""
        return self._token

    # -- the Platform interface ---------------------------------------------

    def publish(self, message: Message, *, on_container: Callable[[str], None] | None = None,
                on_progress: Callable[[str], None] | None = None) -> Published:
        """Check the image, create the container and publish it when Instagram is ready.

        ``on_container(container_id)`` is called as soon as the container exists,
        before anything can be published: the place for delivery to record it.
        Raises ``NotReady`` (a TransientError carrying the container id) when
        Instagram is still processing, and PermanentError starting "no image for
        Instagram" when the entry has no usable image.
        """
        image_url = self.check_message_image(message)
        used, total = self.publishing_limit()
        if used >= total:
            raise RateLimited(self.name, f"Instagram's publishing limit is used up ({used} of {total} posts in "
                                         f"24 hours); waiting", retry_at=self._clock() + LIMIT_BACKOFF,
                              code=_LIMIT_CODE)
        container_id = self.create_container(message, image_url=image_url)
        for record in (on_container, on_progress):     # on_progress: delivery's name (base.StagedPlatform)
            if record is not None:
                record(container_id)
        return self._finish(container_id, message, created_now=True, on_progress=on_progress or on_container)

    def verify(self) -> str:
        """"@username" of the account the token posts as; refuses a token for another account."""
        body = self._request("GET", "me", {"fields": "user_id,username"})
        user_id = str(body.get("user_id") or "")
        username = str(body.get("username") or "")
        if not user_id:
            raise TransientError(self.name, "GET /me answered without the account's user_id", status=200)
        if user_id != self.account_id:
            raise AuthError(self.name, f"INSTAGRAM_ACCESS_TOKEN belongs to @{username or '?'} (account {user_id}), "
                                       f"not to INSTAGRAM_ACCOUNT_ID {self.account_id}; set "
                                       f"INSTAGRAM_ACCOUNT_ID={user_id} or {TOKEN_ADVICE}")
        return f"@{username}" if username else user_id

    def find_existing(self, post_url: str) -> Published | None:
        """A recent post whose caption (or permalink) contains ``post_url``."""
        if not post_url:
            return None
        wanted = _comparable(post_url)
        body = self._request("GET", f"{self.account_id}/media",
                             {"fields": "id,caption,permalink,timestamp", "limit": str(_RECENT_MEDIA)})
        media = body.get("data")
        if not isinstance(media, list):
            raise TransientError(self.name, "the account's media list had no data array", status=200)
        for item in media:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            caption = str(item.get("caption") or "")
            permalink = item.get("permalink") if isinstance(item.get("permalink"), str) else None
            found = any(_comparable(url) == wanted for url in _URL.findall(caption))
            if found or (permalink and _comparable(permalink) == wanted):
                return Published(remote_id=item["id"], url=permalink, note="already on Instagram")
        return None

    # -- staged publishing --------------------------------------------------

    def check_message_image(self, message: Message) -> str:
        """The URL Instagram will fetch, after checking what it serves; PermanentError "no image …" if unusable."""
        if not message.image_url:
            raise Unsuitable(self.name, f"{NO_IMAGE}: the entry has no image (enclosure, media:content, "
                                            f"JSON Feed image or an image in its content)", code="no-image")
        url = image_url_for(message.image_url, self.image_url_template)
        try:
            data, content_type = download_image(self._session, url, timeout=self.timeout, types=_DOWNLOAD_TYPES,
                                                max_bytes=MAX_IMAGE_BYTES)
            check_image(data, content_type)
        except ImageProblem as exc:
            if str(exc).startswith(_IMAGE_HOST_DOWN):
                # The blog's image server is down or slow: the post is not without an image, yet.
                raise TransientError(self.name, f"could not check the image for Instagram: {url}: {exc}") from None
            raise Unsuitable(self.name, f"{NO_IMAGE}: {url}: {exc}", code="no-image") from None
        return url

    def create_container(self, message: Message, *, image_url: str | None = None) -> str:
        """``POST /{ig-user-id}/media``: the container id. Posts nothing yet."""
        url = image_url or image_url_for(message.image_url or "", self.image_url_template)
        if not url:
            raise Unsuitable(self.name, f"{NO_IMAGE}: the entry has no image", code="no-image")
        fields = {"image_url": url, "caption": message.text}
        alt = (getattr(message, "image_alt", None) or message.title or "").strip()
        if alt:
            fields["alt_text"] = alt
        body = self._request("POST", f"{self.account_id}/media", fields)
        container_id = body.get("id")
        if not isinstance(container_id, str) or not container_id:
            raise TransientError(self.name, "Instagram answered the container request without an id", status=200)
        log.info("instagram: container %s created for %s", container_id, message.post_url)
        return container_id

    def container_status(self, container_id: str) -> str:
        """``status_code`` of a container: FINISHED, IN_PROGRESS, PUBLISHED, EXPIRED or ERROR."""
        return self._container(container_id)[0]

    def _container(self, container_id: str) -> tuple[str, str]:
        body = self._request("GET", container_id, {"fields": "status_code,status"})
        status_code = str(body.get("status_code") or "")
        if status_code not in CONTAINER_STATES:
            raise TransientError(self.name, f"container {container_id} answered an unknown status_code "
                                            f"{status_code or '(none)'!r}", status=200)
        return status_code, self._scrub(str(body.get("status") or ""))

    def publish_container(self, container_id: str) -> Published:
        """``POST /{ig-user-id}/media_publish``, then the media's permalink. This is the call that posts."""
        try:
            body = self._request("POST", f"{self.account_id}/media_publish", {"creation_id": container_id})
        except PlatformError as exc:
            if exc.code == 9007 or _subcode(exc) == _NOT_READY_SUBCODE:
                raise NotReady(container_id, self._clock() + NOT_READY_DELAY,
                               f"Instagram says container {container_id} is not ready: {exc.message}") from None
            raise
        media_id = body.get("id")
        if not isinstance(media_id, str) or not media_id:
            # Published or not? Only the container can say; delivery resumes it.
            raise TransientError(self.name, f"media_publish of container {container_id} answered without a "
                                            f"media id", status=200)
        log.info("instagram: container %s published as media %s", container_id, media_id)
        return self._published(media_id)

    def _published(self, media_id: str, note: str = "") -> Published:
        """The post is live whatever happens now: a failed permalink read only leaves the URL out."""
        try:
            body = self._request("GET", media_id, {"fields": "permalink"})
        except PlatformError as exc:
            log.warning("instagram: media %s is published but its permalink could not be read: %s",
                        media_id, exc.message)
            return Published(remote_id=media_id, url=None, note=note)
        permalink = body.get("permalink")
        return Published(remote_id=media_id, url=permalink if isinstance(permalink, str) else None, note=note)

    def publishing_limit(self) -> tuple[int, int]:
        """(posts published in the rolling window, how many the window allows)."""
        body = self._request("GET", f"{self.account_id}/content_publishing_limit", {"fields": "quota_usage,config"})
        data = body.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
        used = entry.get("quota_usage") if entry else None
        config = entry.get("config") if entry else None
        total = config.get("quota_total") if isinstance(config, dict) else None
        if not _is_count(used) or not _is_count(total):
            raise TransientError(self.name, "content_publishing_limit answered without quota_usage and "
                                            "config.quota_total", status=200)
        return int(used), int(total)

    def resume(self, container_id: str, message: Message, *,
               on_progress: Callable[[str], None] | None = None) -> Published:
        """Finish a delivery whose container id the ledger holds, by asking the container what happened.

        A container Instagram no longer knows (code 100 or 24: long gone) says
        nothing; then the account's recent media decide, and only when the post
        is not there is a new container made.
        """
        try:
            return self._finish(container_id, message, created_now=False, on_progress=on_progress)
        except PermanentError as exc:
            if exc.code not in (24, 100) or exc.message.startswith(NO_IMAGE):
                raise
        earlier = self.find_existing(message.post_url or message.link)
        if earlier is not None:
            return earlier
        log.info("instagram: container %s is unknown to Instagram and the post is not on the account; "
                 "creating a new container", container_id)
        return self.publish(message, on_progress=on_progress)

    def _finish(self, container_id: str, message: Message, *, created_now: bool,
                on_progress: Callable[[str], None] | None = None) -> Published:
        status, detail = self._container(container_id)
        if status == "FINISHED":
            return self.publish_container(container_id)
        if status == "IN_PROGRESS":
            raise NotReady(container_id, self._clock() + NOT_READY_DELAY)
        if status == "PUBLISHED":
            earlier = self.find_existing(message.post_url or message.link)
            if earlier is not None:
                return Published(remote_id=earlier.remote_id, url=earlier.url,
                                 note=f"published from container {container_id}")
            # Live, but not among the recent media by its URL (a template without {url}):
            # never post again; the container id stands in for the media id.
            return Published(remote_id=container_id, url=None,
                             note=f"container {container_id} is published; its post was not found by URL")
        detail_words = f" ({detail})" if detail else ""
        if status == "ERROR" and _permanent_container_error(detail):
            source = message.image_url or "the image"
            raise PermanentError(self.name, f"Instagram could not prepare the post from {source}{detail_words}",
                                 code="ERROR")
        if created_now:
            # A fresh container that failed on Instagram's side: the next attempt makes a new one
            # (delivery's attempt limit bounds how often).
            raise TransientError(self.name, f"container {container_id} is {status} at once{detail_words}",
                                 code=status)
        log.info("instagram: container %s is %s%s; creating a new one", container_id, status, detail_words)
        return self.publish(message, on_progress=on_progress)

    # -- tokens ---------------------------------------------------------------

    def refresh_token(self) -> NewToken:
        """``GET /refresh_access_token``: a new 60-day token, which this adapter uses from now on."""
        with self._refreshing:
            body = self._request("GET", "refresh_access_token", {"grant_type": "ig_refresh_token"},
                                 versioned=False, token_in_query=True)
            fresh = self._new_token(body, "refresh_access_token")
            self._old_tokens.append(self._token)
            self._token = fresh.token
        return fresh

    def exchange_token(self, short_token: str, app_secret: str) -> NewToken:
        """``GET /access_token`` with ``ig_exchange_token``: a one-hour token for a 60-day one."""
        return exchange_token(short_token, app_secret, base_url=self.base_url, timeout=self.timeout,
                              clock=self._clock, session=self._session)

    def refresh_and_save(self, env_path: str | Path) -> NewToken:
        """Refresh the token and write it back to the env file; the service's daily expiry hook."""
        fresh = self.refresh_token()
        write_token(env_path, fresh.token, fresh.expires)
        log.info("instagram: access token refreshed; it now expires on %s", fresh.expires.isoformat())
        return fresh

    def _renewed_since(self, secret: str) -> bool:
        """Whether the token is no longer ``secret``, once a refresh under way has swapped it."""
        with self._refreshing:
            return secret != self._token

    def _new_token(self, body: Mapping[str, Any], call: str) -> NewToken:
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token.strip():
            raise TransientError(self.name, f"{call} answered without an access_token", status=200)
        seconds = int(expires_in) if _is_count(expires_in) else int(TOKEN_LIFETIME.total_seconds())
        return NewToken(token=token.strip(), expires_in=seconds,
                        expires=(self._clock() + timedelta(seconds=seconds)).date())

    # -- HTTP -----------------------------------------------------------------

    def _request(self, method: str, path: str, params: Mapping[str, str], *, versioned: bool = True,
                 token_in_query: bool = False, token: str | None = None) -> dict[str, Any]:
        """One Graph call; its JSON object, or the mapped exception.

        The token goes in the form body of a POST, or the Authorization header
        of a GET; only the two token endpoints take it in the query (see above).
        """
        url = f"{self.base_url}/{self.version}/{path}" if versioned else f"{self.base_url}/{path}"
        secret = token or self._token
        headers = {"Accept": "application/json"}
        query: dict[str, str] | None = None
        form: dict[str, str] | None = None
        if method == "GET":
            query = dict(params)
            if token_in_query:
                query["access_token"] = secret
            else:
                headers["Authorization"] = f"Bearer {secret}"
        else:
            form = {**params, "access_token": secret}
        log.debug("instagram: %s %s", method, url)
        deadline = time.monotonic() + self.timeout
        with transport_errors(self.name, "Instagram", self.timeout, path):
            with self._session.request(method, url, params=query, data=form, headers=headers,
                                       timeout=self.timeout, stream=True) as response:
                raw = read_answer(response, platform=self.name, who="Instagram", max_bytes=_MAX_ANSWER_BYTES,
                                  deadline=deadline, timeout=self.timeout)
        status = response.status_code
        log.debug("instagram: %s %s -> %s", method, url, status)
        import json

        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = self._error(status, body["error"], response.headers)
            if isinstance(error, AuthError) and token is None and self._renewed_since(secret):
                # The token was renewed while this call was under way (the service's daily job):
                # a refusal of the old one is asked again with the new one; nothing was done.
                return self._request(method, path, params, versioned=versioned, token_in_query=token_in_query)
            raise error
        if status == 429:
            raise RateLimited(self.name, "Instagram answered 429 Too Many Requests",
                              retry_at=self._retry_at(response.headers), status=429)
        if status >= 400 or not isinstance(body, dict):
            what = "an error page" if status >= 400 else "something that is not a JSON object"
            if status in (401, 403):
                raise AuthError(self.name, f"Instagram answered {path} with HTTP {status}", status=status)
            raise TransientError(self.name, f"Instagram answered {path} with HTTP {status} and {what}",
                                 status=status)
        return body

    def _error(self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> PlatformError:
        """Instagram's error object → our exception, by code and subcode, with Instagram's words."""
        code = as_int(error.get("code"))
        subcode = as_int(error.get("error_subcode"))
        developer = self._scrub(str(error.get("message") or "").strip())
        user = self._scrub(str(error.get("error_user_msg") or "").strip())
        trace = str(error.get("fbtrace_id") or "").strip()
        said = developer or user or f"error code {code}"
        if user and developer and user != developer:
            said = f"{developer}: {user}"
        ref = f" (code {code}{f', subcode {subcode}' if subcode else ''}{f', fbtrace_id {trace}' if trace else ''})"
        kw: dict[str, Any] = {"status": status, "code": code}

        if code == _LIMIT_CODE or subcode == _LIMIT_SUBCODE:
            return _with_subcode(RateLimited(self.name, f"Instagram's daily publishing limit is reached: {said}{ref}",
                                             retry_at=self._clock() + LIMIT_BACKOFF, **kw), subcode)
        if subcode == _SPAM_SUBCODE:
            # A spam restriction lasts and needs a person; retrying blindly makes it worse.
            return _with_subcode(PermanentError(self.name, f"Instagram restricted publishing: {said}{ref}", **kw),
                                 subcode)
        if code in _THROTTLE_CODES or (code is not None and code in BUC_THROTTLE_RANGE) or (
                code is None and status == 429):
            return _with_subcode(RateLimited(self.name, f"throttled by Instagram: {said}{ref}",
                                             retry_at=self._retry_at(headers), **kw), subcode)
        if code in TOKEN_CODES:
            return _with_subcode(AuthError(self.name, f"Instagram refused the access token: {said}{ref}. "
                                                      f"{TOKEN_ADVICE}", **kw), subcode)
        if code == 10 or (code is not None and 200 <= code <= 299):
            return _with_subcode(AuthError(self.name, f"Instagram refused a permission: {said}{ref}. The token "
                                                      f"needs instagram_business_basic and "
                                                      f"instagram_business_content_publish; {TOKEN_ADVICE}", **kw),
                                 subcode)
        if subcode == _ACCOUNT_SUBCODE or code == 25:
            return _with_subcode(AuthError(self.name, f"the Instagram account cannot publish: {said}{ref}. Sign in "
                                                      f"to the Instagram app and complete what it asks", **kw), subcode)
        if code == 9007 or subcode == _NOT_READY_SUBCODE:
            return _with_subcode(TransientError(self.name, f"Instagram is not ready: {said}{ref}", **kw), subcode)
        if subcode in _MEDIA_SUBCODES or code in _MEDIA_CODES:
            return _with_subcode(PermanentError(self.name, f"Instagram could not use the image: {said}{ref}", **kw),
                                 subcode)
        if subcode in _RETRY_SUBCODES or subcode in _GONE_SUBCODES or code in (1, 2, -1, -2) \
                or error.get("is_transient") is True or status >= 500:
            return _with_subcode(TransientError(self.name, f"temporary Instagram error: {said}{ref}", **kw), subcode)
        return _with_subcode(PermanentError(self.name, f"Instagram refused the request: {said}{ref}", **kw), subcode)

    def _retry_at(self, headers: Mapping[str, str]) -> datetime:
        return self._clock() + throttle_wait(headers.get("X-Business-Use-Case-Usage"))

    def _scrub(self, text: str) -> str:
        """Instagram's words go into the ledger and logs: no token rides along."""
        for secret in (self._token, *self._old_tokens):
            if secret:
                text = text.replace(secret, "****")
        return text


def exchange_token(short_token: str, app_secret: str, *, base_url: str = DEFAULT_GRAPH_BASE, timeout: float = 30.0,
                   clock: Callable[[], datetime] | None = None,
                   session: requests.Session | None = None) -> NewToken:
    """A one-hour Instagram token → a 60-day one (for `autopost auth instagram`). Secrets never in errors."""
    if not short_token or not short_token.strip():
        raise ConfigError("INSTAGRAM_ACCESS_TOKEN", f"no short-lived token given: {TOKEN_ADVICE}")
    if not app_secret or not app_secret.strip():
        raise ConfigError("auth instagram", "the Instagram app secret is needed (Meta app → Instagram → "
                                            "API setup with Instagram login → Business login settings)")
    # An adapter that only knows the short token: its scrubbing keeps both secrets out of errors.
    client = InstagramPlatform(account_id="me", access_token=short_token, base_url=base_url, timeout=timeout,
                               clock=clock, session=session)
    client._old_tokens.append(app_secret.strip())
    body = client._request("GET", "access_token", {"grant_type": "ig_exchange_token",
                                                   "client_secret": app_secret.strip()},
                           versioned=False, token_in_query=True)
    return client._new_token(body, "access_token")


def connect(env_path: str | Path, short_token: str, app_secret: str, *, base_url: str = DEFAULT_GRAPH_BASE,
            version: str = DEFAULT_GRAPH_VERSION, timeout: float = 30.0,
            clock: Callable[[], datetime] | None = None) -> str:
    """`autopost auth instagram`: exchange, learn the account, save id, token and expiry; "@username"."""
    from bot.envfile import update_env_file

    fresh = exchange_token(short_token, app_secret, base_url=base_url, timeout=timeout, clock=clock)
    probe = InstagramPlatform(account_id="me", access_token=fresh.token, base_url=base_url, version=version,
                              timeout=timeout, clock=clock)
    body = probe._request("GET", "me", {"fields": "user_id,username"})
    user_id, username = str(body.get("user_id") or ""), str(body.get("username") or "")
    if not user_id.isdigit():
        raise TransientError(NAME, "GET /me answered without the account's user_id; nothing was saved", status=200)
    update_env_file(env_path, {"INSTAGRAM_ACCOUNT_ID": user_id, "INSTAGRAM_ACCESS_TOKEN": fresh.token,
                               "INSTAGRAM_TOKEN_EXPIRES": fresh.expires.isoformat()})
    return f"@{username}" if username else user_id


def from_settings(settings: InstagramSettings, *, timeout: float = 30.0,
                  clock: Callable[[], datetime] | None = None) -> InstagramPlatform:
    return InstagramPlatform.from_settings(settings, timeout=timeout, clock=clock)


# -------------------------------------------------------------------------- helpers

def _with_subcode(exc: PlatformError, subcode: int | None) -> PlatformError:
    exc.subcode = subcode      # type: ignore[attr-defined]
    return exc


def _subcode(exc: PlatformError) -> int | None:
    return getattr(exc, "subcode", None)


def _permanent_container_error(detail: str) -> bool:
    """Whether an ERROR container's ``status`` names a problem a new container would repeat."""
    numbers = {int(n) for n in re.findall(r"\d{4,}", detail)}
    return bool(numbers & (_MEDIA_SUBCODES | _MEDIA_CODES))


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _comparable(url: str) -> str:
    """A URL reduced to what identifies the article: no scheme, www., trailing slash or punctuation."""
    url = url.strip().rstrip(".,;:!?)\"'")
    url = re.sub(r"^https?://", "", url, flags=re.IGNORECASE)
    url = re.sub(r"^www\.", "", url, flags=re.IGNORECASE)
    url = url.split("#", 1)[0]
    if "?" in url:
        path, query = url.split("?", 1)
        kept = [p for p in query.split("&") if p and not p.lower().startswith(("utm_", "igshid=", "fbclid="))]
        url = path + ("?" + "&".join(kept) if kept else "")
    host, _, path = url.partition("/")
    return host.lower() + "/" + path.rstrip("/")
