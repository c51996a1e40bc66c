"""The long-running process: scheduler jobs, signals, the single-instance lock.

It only wires APScheduler jobs to the poller, the ledger and delivery; the
work itself lives in those modules.
"""
from __future__ import annotations

import fcntl
import functools
import logging
import os
import signal
import sqlite3
import threading
import time
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from bot import http
from bot.alerts import Alerter, ExpiryReminder, expiry_message
from bot.app import App, build_platforms, make_alerter
from bot.config import Settings
from bot.delivery import Deliverer
from bot.models import AutopostError, utcnow
from bot.platforms.base import PlatformError, token_expiry_sentence
from bot.poller import FeedOutcome
from bot.store import StorageError, Store, ledger_target, open_ledger
from bot.urls import display_url

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from bot.health import Health

log = logging.getLogger(__name__)

__all__ = ["build_platforms", "make_alerter"]   # they moved to bot.app; callers may still import them here

DELIVERY_INTERVAL = 15          # seconds between a lane's passes over its due deliveries


class AlreadyRunning(AutopostError):
    pass


# One descriptor per ledger file (device, inode) for the life of the process; see ledger_lock.
_LOCK_FDS: dict[tuple[int, int], int] = {}
_LOCK_FDS_GUARD = threading.Lock()


@contextmanager
def ledger_lock(db_path: Path) -> Iterator[None]:
    """Hold an OS lock on the ledger file itself; the kernel drops it if the process dies.

    The lock is an flock(2) on the file, so it follows the file, not its name: a
    symlink, a hard link, a relative path or a bind mount of its directory all reach
    the same inode and the same lock. SQLite's own locks are fcntl(2) locks, which
    flock does not touch; but closing *any* descriptor of the file drops the
    process's fcntl locks, so the descriptor stays open until the process ends
    (and is reused by the next lock of the same ledger).
    """
    from bot.store import storage_error

    with _LOCK_FDS_GUARD:
        try:
            stat = os.stat(db_path)
            fd = _LOCK_FDS.get((stat.st_dev, stat.st_ino))
        except OSError:
            fd = None
        if fd is None:
            try:
                fd = os.open(db_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise storage_error(str(db_path), exc) from None
            stat = os.fstat(fd)
            _LOCK_FDS[(stat.st_dev, stat.st_ino)] = fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        real = os.path.realpath(db_path)
        also = f" (the file {real})" if real != os.path.abspath(db_path) else ""
        raise AlreadyRunning(f"another autopost process is already using the ledger {db_path}{also}; "
                             "stop it first") from None
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def add_lease_recovery(scheduler: Any, guard: Callable[[Callable[[], object]], Callable[[], None]],
                       deliverer: Deliverer, settings: Settings) -> None:
    """On a shared ledger, reconcile the deliveries of a service that died (its leases expired)
    as start-up recovery does, every poll interval (at most a minute)."""
    if deliverer.store.shared and not settings.dry_run:
        scheduler.add_job(guard(deliverer.recover), "interval", seconds=min(60.0, settings.poll_interval),
                          id="recover-leases")


def check_expiry(settings: Settings, reminder: ExpiryReminder, alert: Alerter | None, today: date) -> None:
    """Warn (and alert) 7, 3 and 1 days before a known token expiry; once per day and token."""
    for name, expires in token_expiries(settings).items():
        days = reminder.due(name, expires, today)
        if days:
            message = expiry_message(name, expires, days)
            log.warning("%s", message, extra={"event": "token-expiring", "platform": name})
            if alert:
                alert("token-expiring", name, "", message)


class TokenRenewal:
    """The daily job that renews the tokens a network can renew itself (its ``refresh_token`` hook).

    A renewed token is written to the env file by the network and used by its adapter at once;
    ``current`` then holds the settings with the new expiry, so the expiry warnings follow it.
    A refusal is logged and tried again the next day: ``check_expiry`` warns from 7 days
    before the old token runs out, as for any other token.
    """

    def __init__(self, deliverer: Deliverer):
        self.deliverer = deliverer
        self.renewed: dict[str, Any] = {}
        self._last_day: date | None = None

    def daily(self, today: date) -> None:
        """``run`` at most once a day (the job that calls it runs every AUTOPOST_REVERIFY_INTERVAL)."""
        if self._last_day != today:
            self._last_day = today
            self.run(today)

    def current(self) -> Settings:
        """The settings with every renewed network's settings in place."""
        settings = self.deliverer.settings
        if not self.renewed:
            return settings
        return settings._replace(networks={**settings.networks, **self.renewed})

    def run(self, today: date) -> None:
        from bot.platforms.registry import NETWORKS

        settings = self.current()
        for network in NETWORKS:
            adapter = self.deliverer.platforms.get(network.name)
            if network.refresh_token is None or adapter is None or network.name not in settings.networks:
                continue
            if settings.env_file is None:
                log.warning("%s token cannot be renewed: there is no env file to save it in", network.label,
                            extra={"event": "token-refresh", "platform": network.name})
                continue
            try:
                renewed = network.refresh_token(adapter, settings.networks[network.name], settings.env_file, today)
            except PlatformError as exc:
                log.warning("could not renew the %s token (tried again tomorrow): %s", network.label, exc.message,
                            extra={"event": "token-refresh-failed", "platform": network.name})
                continue
            if renewed is not None:
                self.renewed[network.name] = renewed
                log.info("%s token renewed and saved to %s", network.label, settings.env_file,
                         extra={"event": "token-refreshed", "platform": network.name})


def token_expiries(settings: Settings) -> dict[str, date]:
    """Each enabled network's known token expiry, by its description's hook."""
    from bot.platforms.registry import NETWORKS

    found = {}
    for network in NETWORKS:
        if network.token_expires and network.name in settings.platforms and network.name in settings.networks:
            expires = network.token_expires(settings.networks[network.name])
            if expires is not None:
                found[network.name] = expires
    return found


def log_token_expiry(deliverer: Deliverer) -> None:
    """At start-up, say when a token is within a week of expiring (by each network's expiry hook)."""
    for name, expires in token_expiries(deliverer.settings).items():
        warning = expiry_warning(name, expires, deliverer.clock().date())
        if warning:
            log.warning("%s", warning, extra={"event": "token-expiry", "platform": name})


def expiry_warning(name: str, expires: date, today: date) -> str | None:
    """A warning sentence from EXPIRY_WARNING_DAYS before a token's expiry, else None."""
    from bot.platforms.registry import network

    return token_expiry_sentence(network(name).label, name, expires, today)


def warn_if_env_file_is_readable(path: Path | None) -> None:
    """An env file that holds a secret (a token, an app secret, a webhook, a database password)
    should be readable by its owner only; one holding none (the example's) is no one's concern."""
    if not (path and path.exists() and path.stat().st_mode & 0o077):
        return
    held = _secrets_held(path)
    if held:
        log.warning("%s can be read by other users of this machine; it holds %s: chmod 600 %s",
                    path, ", ".join(held), path)


def _secrets_held(path: Path) -> list[str]:
    """The names (never the values) of the secret variables the env file sets."""
    from dotenv import dotenv_values

    from bot.config import SECRET_VARIABLES
    from bot.urls import url_secrets

    values = dotenv_values(path)
    held = [name for name in SECRET_VARIABLES if values.get(name)]
    if url_secrets(values.get("AUTOPOST_DB") or ""):
        held.append("AUTOPOST_DB (its password)")
    return held


def verify_all(deliverer: Deliverer) -> None:
    """Verify every network and log the outcome; a network that verifies again is released."""
    for name in deliverer.platforms:
        verify_one(deliverer, name)


def verify_one(deliverer: Deliverer, name: str) -> None:
    try:
        account = deliverer.verify(name)
    except PlatformError as exc:
        log.error("%s: cannot verify credentials: %s", name, exc.message,
                  extra={"event": "verify-failed", "platform": name})
    else:
        log.info("%s: posting as %s", name, account, extra={"event": "verified", "platform": name})


class Service:
    """The long-running process.

    Jobs: one interval job per feed (a slow feed holds only its own schedule), an
    hourly re-verify, and one delivery lane per network (``delivery.Lanes``), nudged
    when a poll queues new posts. SIGTERM/SIGINT stop it within
    ``AUTOPOST_SHUTDOWN_GRACE``: no new work starts, the calls in flight get most
    of the grace, then they are cut (``http.abort_all``); anything still running at
    the end is left to start-up recovery. A ledger that cannot be read or written
    stops the service with an alert and a non-zero exit, so a supervisor sees it.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.clock = clock
        self.stopping = threading.Event()
        self.fatal: str | None = None
        self._alert: Alerter | None = None
        self._wake = threading.Event()
        self._running = 0
        self._running_lock = threading.Condition()

    def run(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        settings = self.settings
        # A PostgreSQL ledger is shared by design: its services coordinate through leases.
        with ledger_lock(settings.db_path) if not settings.db_url else nullcontext():
            alert = self._alert = make_alerter(settings)
            try:
                # A dry run works on a copy: it must never mark a post as seen or sent.
                store = (Store.scratch_of(ledger_target(settings), clock=self.clock) if settings.dry_run
                         else open_ledger(settings, clock=self.clock))
            except StorageError as exc:
                if alert:                              # a supervisor restarting us in a loop is not enough
                    alert("ledger-failed", "autopost", "", str(exc))
                raise
            reminder = ExpiryReminder()
            app = App(settings, store, clock=self.clock, stopping=self.stopping, on_event=alert)
            deliverer = app.deliverer
            log.info("autopost starting: %d feed(s) %s; networks %s; ledger %s%s", len(settings.feeds),
                     ", ".join(map(display_url, settings.feeds)), ", ".join(settings.platforms), settings.ledger,
                     " (dry run)" if settings.dry_run else "")
            warn_if_env_file_is_readable(settings.env_file)
            app.recover()

            log_token_expiry(deliverer)

            # A worker for every job, so a job still running never keeps another one waiting.
            workers = len(settings.feeds) + len(settings.platforms) + 2
            scheduler = BackgroundScheduler(
                timezone="UTC", executors={"default": ThreadPoolExecutor(workers)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
            health, http = self._serve_health(store, scheduler)
            if health:
                app.on_polled = lambda outcome: _record_poll(health, outcome)
            now = self.clock()
            for number, url in enumerate(settings.feeds):
                scheduler.add_job(self._guarded(functools.partial(app.poll_feed, url)), "interval",
                                  seconds=settings.poll_interval, jitter=min(30, settings.poll_interval / 10),
                                  next_run_time=now, id=f"feed-{number}", name=f"poll {display_url(url)}")
            # Each network verifies on its own: one that does not answer delays no other.
            for name in deliverer.platforms:
                scheduler.add_job(self._guarded(functools.partial(verify_one, deliverer, name)), "interval",
                                  seconds=settings.reverify_interval, next_run_time=now, id=f"verify-{name}")
            renewal = TokenRenewal(deliverer)

            def renew_and_check_expiry() -> None:
                # Renew first (once a day), so that a renewed token is not warned about.
                today = self.clock().date()
                renewal.daily(today)
                check_expiry(renewal.current(), reminder, alert, today)

            scheduler.add_job(self._guarded(renew_and_check_expiry),
                              "interval", seconds=settings.reverify_interval, next_run_time=now, id="expiry")
            add_lease_recovery(scheduler, self._guarded, deliverer, settings)

            def stop(signum: int, _frame: object) -> None:
                log.info("received %s: finishing the calls in flight (at most %g s), taking no new work",
                         signal.Signals(signum).name, settings.shutdown_grace)
                self.stopping.set()
                self._wake.set()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            scheduler.start()
            app.start_lanes(DELIVERY_INTERVAL, self._guarded)
            while not self._wake.wait(1.0):
                pass
            self.stopping.set()
            if http:
                http.shutdown()
            scheduler.shutdown(wait=False)
            app.stop()
            if not self._wait_for_jobs(settings.shutdown_grace):
                log.warning("a call was still running at shutdown; its delivery is recovered at next start")
                logging.shutdown()
                os._exit(1 if self.fatal else 0)       # a thread stuck in a call must not hold the process
            app.close()
            store.close()
            log.info("autopost stopped")
        if self.fatal:
            raise ServiceFailed(self.fatal)

    def _serve_health(self, store: Store, scheduler: Any) -> tuple[Health | None, ThreadingHTTPServer | None]:
        """/healthz and /metrics when AUTOPOST_HTTP is set (prometheus-client loads only then)."""
        if not self.settings.http_listen:
            return None, None
        from bot import health as health_module

        health = health_module.Health(self.settings, store, clock=self.clock,
                                      running=lambda: scheduler.running and not self.stopping.is_set())
        return health, health_module.serve(health, *self.settings.http_listen)

    def _guarded(self, job: Callable[[], object]) -> Callable[[], None]:
        """Wrap a job: skip it once stopping, count it while it runs, never let it kill the scheduler.

        A storage fault is not a job failure that the next run may fix: it stops the service.
        """
        def run() -> None:
            if self.stopping.is_set():
                return
            with self._running_lock:
                self._running += 1
            try:
                job()
            except StorageError as exc:
                self._fail(str(exc))
            except sqlite3.Error as exc:
                self._fail(f"the ledger {self.settings.db_path} failed: {exc}")
            except Exception:
                log.exception("scheduled job failed; it runs again at its next time")
            finally:
                with self._running_lock:
                    self._running -= 1
                    self._running_lock.notify_all()
        return run

    def _fail(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
            log.error("stopping: %s", message, extra={"event": "ledger-failed"})
            if self._alert:
                self._alert("ledger-failed", "autopost", "", message)
        self.stopping.set()
        self._wake.set()

    def _wait_for_jobs(self, grace: float) -> bool:
        """Wait for the jobs in flight: most of the grace as they are, the rest after cutting their calls."""
        end = time.monotonic() + grace
        soft = end - min(1.0, grace / 2)
        with self._running_lock:
            if self._running_lock.wait_for(lambda: self._running == 0, timeout=max(0.0, soft - time.monotonic())):
                return True
        http.abort_all()
        with self._running_lock:
            return self._running_lock.wait_for(lambda: self._running == 0,
                                               timeout=max(0.0, end - time.monotonic()))


def _record_poll(health: Health, outcome: FeedOutcome) -> None:
    health.record_polls([outcome])


class ServiceFailed(AutopostError):
    """The service stopped because it could not go on (its ledger failed)."""
