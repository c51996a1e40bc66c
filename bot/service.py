"""The long-running process: scheduler jobs, signals, the single-instance lock.

It only wires APScheduler jobs to the poller, the ledger and delivery; the
work itself lives in those modules.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from bot.alerts import Alerter, ExpiryReminder, expiry_message
from bot.config import Settings
from bot.delivery import Deliverer
from bot.models import AutopostError, utcnow
from bot.platforms.base import PlatformError, create_platform
from bot.poller import Poller
from bot.store import Store

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from bot.health import Health

log = logging.getLogger(__name__)

DELIVERY_INTERVAL = 15          # seconds between passes over due deliveries
SHUTDOWN_GRACE = 8              # seconds the call in flight may take after SIGTERM


class AlreadyRunning(AutopostError):
    pass


@contextmanager
def ledger_lock(db_path: Path) -> Iterator[None]:
    """Hold an OS lock beside the ledger; the kernel drops it if the process dies."""
    lock_path = Path(f"{db_path}.lock")
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(f"another autopost process is already using the ledger {db_path} "
                             f"(lock file {lock_path}); stop it first") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def build_platforms(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> dict:
    """The adapters of the enabled networks; every one is the console in a dry run."""
    if settings.dry_run:
        from bot.platforms.console import ConsolePlatform

        return {name: ConsolePlatform() for name in settings.platforms}
    return {name: create_platform(name, settings, clock=clock) for name in settings.platforms}


def make_alerter(settings: Settings) -> Alerter | None:
    """The webhook that hears of failures, blocked and recovered networks, expiring tokens."""
    if not settings.alert_webhook:
        return None
    return Alerter(settings.alert_webhook, timeout=min(settings.request_timeout, 10.0))


def check_expiry(settings: Settings, reminder: ExpiryReminder, alert: Alerter | None, today: date) -> None:
    """Warn (and alert) 7, 3 and 1 days before a known token expiry; once per day and token."""
    expires = settings.linkedin_token_expires
    if "linkedin" not in settings.platforms or expires is None:
        return
    days = reminder.due("linkedin", expires, today)
    if days:
        message = expiry_message("linkedin", expires, days)
        log.warning("%s", message, extra={"event": "token-expiring", "platform": "linkedin"})
        if alert:
            alert("token-expiring", "linkedin", "", message)


def log_token_expiry(deliverer: Deliverer) -> None:
    """At start-up, say when a token is within a week of expiring (LinkedIn's last 60 days)."""
    today = deliverer.clock().date()
    for name, adapter in deliverer.platforms.items():
        warning = adapter.token_expiry_warning(today) if hasattr(adapter, "token_expiry_warning") else None
        if warning:
            log.warning("%s", warning, extra={"event": "token-expiry", "platform": name})


def warn_if_env_file_is_readable(path: Path | None) -> None:
    """The env file holds the networks' tokens: only its owner should read it."""
    if path and path.exists() and path.stat().st_mode & 0o077:
        log.warning("%s can be read by other users of this machine; it holds your tokens: chmod 600 %s",
                    path, path)


def verify_all(deliverer: Deliverer) -> None:
    """Verify every network and log the outcome; a network that verifies again is released."""
    for name in deliverer.platforms:
        try:
            account = deliverer.verify(name)
        except PlatformError as exc:
            log.error("%s: cannot verify credentials: %s", name, exc.message,
                      extra={"event": "verify-failed", "platform": name})
        else:
            log.info("%s: posting as %s", name, account, extra={"event": "verified", "platform": name})


class Service:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.clock = clock
        self.stopping = threading.Event()
        self._running = 0
        self._running_lock = threading.Condition()

    def run(self) -> None:
        from apscheduler.schedulers.blocking import BlockingScheduler

        settings = self.settings
        with ledger_lock(settings.db_path):
            # A dry run works on a copy: it must never mark a post as seen or sent.
            store = (Store.scratch_copy(settings.db_path, clock=self.clock) if settings.dry_run
                     else Store(settings.db_path, clock=self.clock))
            alert = make_alerter(settings)
            reminder = ExpiryReminder()
            deliverer = Deliverer(store, settings, build_platforms(settings, clock=self.clock), clock=self.clock,
                                  stopping=self.stopping, on_event=alert)
            log.info("autopost starting: %d feed(s) %s; networks %s; ledger %s%s", len(settings.feeds),
                     ", ".join(settings.feeds), ", ".join(settings.platforms), settings.db_path,
                     " (dry run)" if settings.dry_run else "")
            warn_if_env_file_is_readable(settings.env_file)
            deliverer.recover()

            def reverify() -> None:
                verify_all(deliverer)
                check_expiry(settings, reminder, alert, self.clock().date())

            reverify()
            log_token_expiry(deliverer)

            scheduler = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
            now = self.clock()
            poller = Poller(settings, store)
            health, http = self._serve_health(store, scheduler)

            def poll() -> None:
                outcomes = poller.poll_all()
                if health:
                    health.record_polls(outcomes)
                if any(outcome.new_posts for outcome in outcomes):
                    scheduler.modify_job("deliver", next_run_time=self.clock())   # post now, not in 15 s

            scheduler.add_job(self._guarded(poll), "interval",
                              seconds=settings.poll_interval, jitter=min(30, settings.poll_interval / 10),
                              next_run_time=now, id="poll")
            scheduler.add_job(self._guarded(deliverer.run_due), "interval", seconds=DELIVERY_INTERVAL,
                              next_run_time=now, id="deliver")
            scheduler.add_job(self._guarded(reverify), "interval",
                              seconds=settings.reverify_interval, id="reverify")

            def stop(signum: int, _frame: object) -> None:
                log.info("received %s: finishing the call in flight, taking no new work",
                         signal.Signals(signum).name)
                self.stopping.set()
                scheduler.shutdown(wait=False)

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            scheduler.start()
            self._wait_for_jobs(SHUTDOWN_GRACE)
            if http:
                http.shutdown()
            poller.close()
            store.close()
            log.info("autopost stopped")

    def _serve_health(self, store: Store, scheduler: Any) -> tuple[Health | None, ThreadingHTTPServer | None]:
        """/healthz and /metrics when AUTOPOST_HTTP is set (prometheus-client loads only then)."""
        if not self.settings.http_listen:
            return None, None
        from bot import health as health_module

        health = health_module.Health(self.settings, store, clock=self.clock,
                                      running=lambda: scheduler.running and not self.stopping.is_set())
        return health, health_module.serve(health, *self.settings.http_listen)

    def _guarded(self, job: Callable[[], object]) -> Callable[[], None]:
        """Wrap a job: skip it once stopping, count it while it runs, never let it kill the scheduler."""
        def run() -> None:
            if self.stopping.is_set():
                return
            with self._running_lock:
                self._running += 1
            try:
                job()
            except Exception:
                log.exception("scheduled job failed; it runs again at its next time")
            finally:
                with self._running_lock:
                    self._running -= 1
                    self._running_lock.notify_all()
        return run

    def _wait_for_jobs(self, seconds: float) -> None:
        with self._running_lock:
            if not self._running_lock.wait_for(lambda: self._running == 0, timeout=seconds):
                log.warning("a job was still running at shutdown; its delivery is recovered at next start")
