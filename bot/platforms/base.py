"""The one small interface every network adapter implements, and its errors.

Exceptions raised by adapters and handled only in ``bot/delivery.py``::

    AutopostError
     └── PlatformError                platform, status, code, message
          ├── RateLimited(retry_at)   429 or the network's throttling code: retry at retry_at
          ├── TransientError          5xx, timeout, reset, garbage body: back off and retry
          │    └── InProgress(progress, retry_at)  a staged publish not ready yet: look again, no attempt lost
          ├── AuthError               token expired/revoked/lacking permission: hold as blocked
          ├── DuplicateError          the network already has this content: treat as sent
          └── PermanentError          any other 4xx: the request is wrong; never retried
               └── Unsuitable         the post cannot go to this network (no image): skipped

Adapters never sleep, retry, truncate or reword: they make one call and say
exactly what happened.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Callable, Protocol

# The HTTP toolbox lives in bot.http; these names stay importable from here.
from bot.http import (  # noqa: F401
    MAX_IMAGE_BYTES, USER_AGENT, ImageProblem, check_api_base, download_image, is_loopback, new_session,
)
from bot.models import AutopostError, Message, Published

if TYPE_CHECKING:
    from bot.platforms.network import SettingsView as Settings


MAX_MESSAGE = 1000       # characters of a network's words kept in an error


class PlatformError(AutopostError):
    """A network call did not succeed. Carries the network's own words."""

    def __init__(self, platform: str, message: str, *, status: int | None = None,
                 code: str | int | None = None):
        from bot.logs import scrub

        # The network's own words may echo our credentials (proxies and gateways do): never keep them.
        message = scrub(message)
        if len(message) > MAX_MESSAGE:
            # A gateway's whole error page would fill the log, the ledger's history and `status`.
            message = f"{message[:MAX_MESSAGE].rstrip()} … ({len(message) - MAX_MESSAGE} more characters not shown)"
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


class InProgress(TransientError):
    """A staged publish is under way on the network and not ready yet: look again at ``retry_at``.

    ``progress`` is the network's token of how far it got; delivery keeps the row pending at
    ``retry_at``, counts no failed attempt, and hands ``progress`` back to ``resume``.
    """

    def __init__(self, platform: str, message: str, *, progress: str, retry_at: datetime, **kw: Any) -> None:
        super().__init__(platform, message, **kw)
        self.progress = progress
        self.retry_at = retry_at


class Unsuitable(PermanentError):
    """This post cannot go to this network at all (e.g. it has no image where the network needs
    one): delivery settles it as ``skipped`` with these words, never retried, never blocking."""


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


class StagedPlatform(Platform, Protocol):
    """A network that publishes in steps (e.g. a media container made first, then published).

    ``on_progress(token)`` is called before the step that posts, with what a later attempt
    needs to continue; delivery commits it to the ledger. A delivery that holds such a token
    (a retry, or one interrupted by a crash) is handed to ``resume`` instead of ``publish``.
    """

    def publish(self, message: Message, *,
                on_progress: Callable[[str], None] | None = None) -> Published: ...

    def resume(self, progress: str, message: Message, *,
               on_progress: Callable[[str], None] | None = None) -> Published: ...


def staged(adapter: Platform) -> StagedPlatform | None:
    """The adapter as a staged one when it publishes in steps (it has ``resume``), else None."""
    return adapter if callable(getattr(adapter, "resume", None)) else None  # type: ignore[return-value]


def create_platform(name: str, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Platform:
    """Build the adapter for ``name`` from settings, importing its module only now."""
    from bot.logs import register_secrets
    from bot.platforms.registry import CONSOLE, network

    register_secrets(settings.secrets())        # whatever the network echoes back is scrubbed of them
    if name == CONSOLE:
        from bot.platforms.console import ConsolePlatform

        return ConsolePlatform()
    return network(name).build(settings.network(name), timeout=settings.request_timeout, clock=clock)


def mask(secret: str | None) -> str:
    """How a secret is shown anywhere a person could read it."""
    return "****" if secret else ""


EXPIRY_WARNING_DAYS = 7


def token_expiry_sentence(label: str, name: str, expires: date, today: date) -> str | None:
    """A warning sentence from EXPIRY_WARNING_DAYS before a token's expiry, else None.

    One wording for every network's token, whether the service or an adapter says it.
    """
    days, when = (expires - today).days, expires.isoformat()
    if days > EXPIRY_WARNING_DAYS:
        return None
    if days < 0:
        return f"{label} token expired on {when}: run `autopost auth {name}`"
    if days == 0:
        return f"{label} token expires today ({when}): run `autopost auth {name}`"
    unit = "day" if days == 1 else "days"
    return f"{label} token expires in {days} {unit} ({when}): run `autopost auth {name}`"
