"""The one small interface every network adapter implements, and its errors.

Exceptions raised by adapters and handled only in ``bot/delivery.py``::

    AutopostError
     └── PlatformError                platform, status, code, message
          ├── RateLimited(retry_at)   429 or the network's throttling code: retry at retry_at
          ├── TransientError          5xx, timeout, reset, garbage body: back off and retry
          ├── AuthError               token expired/revoked/lacking permission: hold as blocked
          ├── DuplicateError          the network already has this content: treat as sent
          └── PermanentError          any other 4xx: the request is wrong; never retried

Adapters never sleep, retry, truncate or reword: they make one call and say
exactly what happened.
"""
from __future__ import annotations

import importlib
import ipaddress
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Protocol
from urllib.parse import urlsplit

from bot import __version__
from bot.models import AutopostError, Message, Published

if TYPE_CHECKING:
    import requests

    from bot.config import Settings

NETWORKS = ("twitter", "linkedin", "facebook")
PLATFORM_NAMES = NETWORKS + ("console",)

# An explicit registry (no discovery by file name); modules load lazily so the
# CLI never imports tweepy for a command that does not post.
_MODULES = {
    "twitter": "bot.platforms.twitter",
    "linkedin": "bot.platforms.linkedin",
    "facebook": "bot.platforms.facebook",
    "console": "bot.platforms.console",
}

USER_AGENT = f"autopost/{__version__} (self-hosted feed-to-social poster)"


class PlatformError(AutopostError):
    """A network call did not succeed. Carries the network's own words."""

    def __init__(self, platform: str, message: str, *, status: int | None = None,
                 code: str | int | None = None):
        self.platform = platform
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{platform}: {message}")


class RateLimited(PlatformError):
    def __init__(self, platform: str, message: str, *, retry_at: datetime, **kw: Any) -> None:
        super().__init__(platform, message, **kw)
        self.retry_at = retry_at


class TransientError(PlatformError):
    pass


class AuthError(PlatformError):
    pass


class DuplicateError(PlatformError):
    def __init__(self, platform: str, message: str, *, remote_id: str | None = None,
                 remote_url: str | None = None, **kw: Any) -> None:
        super().__init__(platform, message, **kw)
        self.remote_id = remote_id
        self.remote_url = remote_url


class PermanentError(PlatformError):
    pass


class Platform(Protocol):
    name: str

    def publish(self, message: Message) -> Published:
        """Post the message; return the remote id and public URL."""

    def verify(self) -> str:
        """Return the account this adapter posts as, for `autopost check`."""

    def find_existing(self, post_url: str) -> Published | None:
        """Find an earlier post of this URL (crash recovery).

        None means "looked and not there", or, on a network that rejects
        duplicates itself, "cannot look". Raise PlatformError when the lookup
        fails on a network that does not reject duplicates.
        """


def create_platform(name: str, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Platform:
    """Build the adapter for ``name`` from settings, importing its module only now."""
    module = importlib.import_module(_MODULES[name])
    return module.from_settings(settings, clock=clock)


def check_api_base(url: str) -> str | None:
    """Return what is wrong with an API base URL, or None if it is acceptable.

    Plain http is allowed only for loopback hosts: tokens must never cross a
    network in clear text, but the project's tests run fakes on 127.0.0.1.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL such as https://api.example.com"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "plain http:// is only allowed for loopback hosts (127.0.0.1, localhost, ::1); use https://"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_session() -> requests.Session:
    """One HTTP session per adapter or poll worker: keep-alive and our User-Agent."""
    import os
    import urllib.request

    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    # requests re-reads proxies, the CA bundle and ~/.netrc from the environment on
    # every request: half the CPU of an unchanged poll. Read them once here instead;
    # proxies (with their no_proxy exceptions) and netrc keep requests' own handling.
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = bool(urllib.request.getproxies() or os.environ.get("NETRC")
                             or os.path.exists(os.path.expanduser("~/.netrc")))
    return session


MAX_IMAGE_BYTES = 5 * 1024 * 1024     # X's limit for images, and within LinkedIn's media guidelines


class ImageProblem(Exception):
    """Why an image was left out of a post; never fatal, the post goes out without it."""


def download_image(session: requests.Session, url: str, *, timeout: float, types: tuple[str, ...],
                   max_bytes: int = MAX_IMAGE_BYTES) -> tuple[bytes, str]:
    """The image's bytes and content type, checked before any upload. Raises ImageProblem.

    Called on the adapter's session without credentials: a token only ever
    goes to its own network, never to the blog's image host.
    """
    import time

    import requests

    if urlsplit(url).scheme not in ("http", "https"):
        raise ImageProblem("the image URL is not http(s)")
    limit = f"{max_bytes / 1024 / 1024:g} MB"
    # The per-read timeout alone lets a server drip bytes forever; bound the whole download.
    deadline = time.monotonic() + 3 * timeout
    try:
        with session.get(url, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise ImageProblem(f"download answered {response.status_code}")
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type not in types:
                raise ImageProblem(f"content type {content_type or 'missing'!r} is not one of {', '.join(types)}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ImageProblem(f"{int(declared)} bytes is over the {limit} limit for images")
            received = bytearray()
            for chunk in response.iter_content(64 * 1024):
                received += chunk
                if len(received) > max_bytes:
                    raise ImageProblem(f"over the {limit} limit for images")
                if time.monotonic() > deadline:
                    raise ImageProblem(f"download took longer than {3 * timeout:g} s")
    except requests.Timeout as exc:
        raise ImageProblem(f"no answer within {timeout:g} s ({exc.__class__.__name__})") from None
    except requests.RequestException as exc:
        raise ImageProblem(f"download failed ({exc.__class__.__name__})") from None
    if not received:
        raise ImageProblem("the download was empty")
    return bytes(received), content_type


def mask(secret: str | None) -> str:
    """How a secret is shown anywhere a person could read it."""
    return "****" if secret else ""
