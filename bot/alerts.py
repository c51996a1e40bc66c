"""Alerts: a small JSON POST to ``AUTOPOST_ALERT_WEBHOOK`` when something needs the owner.

Events (``event``): ``failed`` (a delivery gave up), ``blocked`` (a network
refused our credentials), ``recovered`` (it verifies again),
``token-expiring`` (a token is 7, 3 or 1 days from expiry) and ``burst`` (one
poll of a feed found more new entries than ``AUTOPOST_BURST_LIMIT``; its
``platform`` is ``feed`` and its ``post_url`` the feed's URL). The body is::

    {"event": "blocked", "platform": "linkedin", "post_url": "",
     "message": "...", "text": "autopost: linkedin blocked: ...", "content": "..."}

``event``, ``platform``, ``post_url`` and ``message`` are the contract; ``text``
and ``content`` repeat everything as one readable line because that is the
field Slack incoming webhooks and Matrix hook bridges show (``text``) and the
one Discord webhooks require (``content``); both ignore fields they do not
know, and ntfy shows the whole body as the notification.

An alert that cannot be delivered (connection refused, timeout, any non-2xx)
is logged at WARNING and dropped: alerting must never stop or slow posting
beyond its own timeout. The webhook URL itself is a credential (Slack's and
Discord's carry their secret in the path), so only its scheme and host are
ever logged.
"""
from __future__ import annotations

import logging
import threading
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

# Days before a token's expiry on which an alert goes out.
EXPIRY_ALERT_DAYS = (7, 3, 1)
DEFAULT_TIMEOUT = 10.0


def expiry_alert_due(expires: date, today: date) -> int | None:
    """The days left when today is an alert day (7, 3 or 1 days before ``expires``), else None."""
    days = (expires - today).days
    return days if days in EXPIRY_ALERT_DAYS else None


class ExpiryReminder:
    """Remembers which expiry alerts went out, so an hourly check alerts once per alert day."""

    def __init__(self) -> None:
        self._sent: set[tuple[str, date, int]] = set()

    def due(self, platform: str, expires: date | None, today: date) -> int | None:
        if expires is None:
            return None
        days = expiry_alert_due(expires, today)
        if days is None or (platform, expires, days) in self._sent:
            return None
        self._sent.add((platform, expires, days))
        return days


def expiry_message(platform: str, expires: date, days: int) -> str:
    unit = "day" if days == 1 else "days"
    return (f"{platform} token expires in {days} {unit} ({expires.isoformat()}): "
            f"run `autopost auth {platform}` to renew it")


def burst_message(feed_url: str, posted: int, held: int) -> str:
    return (f"feed {feed_url} showed {posted + held} new entries at once (a re-import or changed "
            f"permalinks?): posted the newest {posted}, held back {held} as skipped: burst; "
            "`autopost status` lists them, `autopost repost URL` posts one on purpose")


class Alerter:
    """Posts each event to the webhook. Its call signature is ``Deliverer``'s ``on_event``."""

    def __init__(self, webhook_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None):
        if not webhook_url.lower().startswith(("http://", "https://")):
            raise ValueError("AUTOPOST_ALERT_WEBHOOK must be an http(s) URL")
        if session is None:
            from bot.http import new_session

            session = new_session()
        self._url = webhook_url
        self._timeout = timeout
        self._session = session
        self._lock = threading.Lock()
        parts = urlsplit(webhook_url)
        self.destination = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"   # never the path or query

    def __repr__(self) -> str:
        return f"Alerter(destination={self.destination!r}, timeout={self._timeout!r})"

    def __call__(self, event: str, platform: str, post_url: str, message: str) -> bool:
        """Send one alert; True if the webhook accepted it. Never raises."""
        import requests

        from bot.logs import scrub

        message = scrub(message)           # the last door before text leaves the machine
        summary = f"autopost: {platform} {event}: {message}" + (f" ({post_url})" if post_url else "")
        body = {"event": event, "platform": platform, "post_url": post_url, "message": message,
                "text": summary, "content": summary[:2000]}    # Discord caps content at 2000 characters
        fields = {"event": "alert-failed", "platform": platform}
        try:
            with self._lock:                # delivery threads share one session
                response = self._session.post(self._url, json=body, timeout=self._timeout)
        except requests.Timeout:
            log.warning("alert %r for %s not delivered: %s did not answer within %gs", event, platform,
                        self.destination, self._timeout, extra=fields)
            return False
        except requests.RequestException as exc:
            log.warning("alert %r for %s not delivered: cannot reach %s (%s)", event, platform,
                        self.destination, exc.__class__.__name__, extra=fields)
            return False
        except Exception as exc:  # noqa: BLE001  an alert must never break delivery
            log.warning("alert %r for %s not delivered: %s", event, platform, exc.__class__.__name__,
                        extra=fields)
            return False
        if not 200 <= response.status_code < 300:
            log.warning("alert %r for %s not delivered: %s answered %s %s", event, platform,
                        self.destination, response.status_code, response.reason or "", extra=fields)
            return False
        log.debug("alert %r for %s delivered to %s", event, platform, self.destination)
        return True
