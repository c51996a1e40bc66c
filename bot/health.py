"""`/healthz` and `/metrics` for monitors, served by `autopost run` when AUTOPOST_HTTP is set.

- ``/healthz``: 200 ``ok`` while the scheduler runs and the ledger takes a write lock;
  503 with the reason otherwise (stopping, not started, ledger locked or unwritable).
- ``/metrics``: Prometheus text format (prometheus-client, the ecosystem's library):

  ==========================================  ==============================================
  ``autopost_polls_total{feed}``              polls of each feed since start
  ``autopost_feed_errors_total{feed}``        polls that failed, by feed
  ``autopost_deliveries{network,state}``      deliveries in the ledger by network and state
  ``autopost_queue_depth``                    deliveries pending, blocked or uncertain
  ``autopost_seconds_since_last_poll{feed}``  since the last successful poll of each feed
  ``autopost_seconds_since_last_post{network}``  since the last post sent to each network
  ``autopost_token_expiry_seconds{network}``  until a token with a known expiry expires
  ==========================================  ==============================================

The ledger-derived values are read at scrape time, so they are never stale; the poll
counters live in this process (a restart resets them, as Prometheus expects of counters).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, time, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.poller import FeedOutcome
    from bot.store import Store

log = logging.getLogger(__name__)

QUEUED_STATES = ("pending", "blocked", "uncertain")
LEDGER_LOCK_TIMEOUT = 2.0        # seconds /healthz waits for the ledger's write lock


class Health:
    """What a monitor asks: is the service working, and the numbers behind it."""

    def __init__(self, settings: Settings, store: Store, *, running: Callable[[], bool],
                 clock: Callable[[], datetime]):
        self.settings = settings
        self.store = store
        self.running = running
        self.clock = clock
        self.registry = CollectorRegistry()
        self.polls = Counter("autopost_polls", "Polls of each feed since start", ["feed"],
                             registry=self.registry)
        self.feed_errors = Counter("autopost_feed_errors", "Polls of each feed that failed", ["feed"],
                                   registry=self.registry)
        self._last_success: dict[str, datetime] = {}
        self._lock = threading.Lock()
        from bot.urls import display_url

        for feed in map(display_url, settings.feeds):   # every configured feed shows, at 0, from the start
            self.polls.labels(feed)
            self.feed_errors.labels(feed)
        self.registry.register(_LedgerCollector(self))

    def record_polls(self, outcomes: Sequence[FeedOutcome]) -> None:
        now = self.clock()
        for outcome in outcomes:
            self.polls.labels(outcome.url).inc()
            if outcome.error:
                self.feed_errors.labels(outcome.url).inc()
            else:
                with self._lock:
                    self._last_success[outcome.url] = now

    def last_successes(self) -> dict[str, datetime]:
        with self._lock:
            return dict(self._last_success)

    def problem(self) -> str | None:
        """None when healthy, else why not (one line)."""
        if not self.running():
            return "the scheduler is not running"
        if self.settings.dry_run:
            return None                      # a dry run writes no ledger
        if self.store.shared:                # PostgreSQL: the server answers, or it does not
            from bot.store import StorageError

            try:
                self.store.schema_version()
            except StorageError as exc:
                return str(exc)
            return None
        try:
            db = sqlite3.connect(str(self.settings.db_path), timeout=LEDGER_LOCK_TIMEOUT)
            try:
                db.execute("BEGIN IMMEDIATE")     # the write lock a delivery needs; nothing is written
                db.execute("ROLLBACK")
            finally:
                db.close()
        except sqlite3.Error as exc:
            return f"the ledger {self.settings.db_path} is not writable: {exc}"
        return None

    def metrics(self) -> bytes:
        return generate_latest(self.registry)


class _LedgerCollector(Collector):
    def __init__(self, health: Health):
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        health = self.health
        store, settings, now = health.store, health.settings, health.clock()
        counts = store.delivery_counts()
        deliveries = GaugeMetricFamily("autopost_deliveries", "Deliveries in the ledger by network and state",
                                       labels=["network", "state"])
        for (network, state), count in sorted(counts.items()):
            deliveries.add_metric([network, state], count)
        yield deliveries
        yield GaugeMetricFamily("autopost_queue_depth", "Deliveries pending, blocked or uncertain",
                                value=sum(c for (_, state), c in counts.items() if state in QUEUED_STATES))
        since_poll = GaugeMetricFamily("autopost_seconds_since_last_poll",
                                       "Seconds since the last successful poll of each feed", labels=["feed"])
        for feed, moment in sorted(health.last_successes().items()):
            since_poll.add_metric([feed], (now - moment).total_seconds())
        yield since_poll
        since_post = GaugeMetricFamily("autopost_seconds_since_last_post",
                                       "Seconds since the last post sent to each network", labels=["network"])
        for network, moment in sorted(store.last_sent_at().items()):
            since_post.add_metric([network], (now - moment).total_seconds())
        yield since_post
        expiry = GaugeMetricFamily("autopost_token_expiry_seconds",
                                   "Seconds until a token with a known expiry date expires", labels=["network"])
        from bot.service import token_expiries

        for network, day in sorted(token_expiries(settings).items()):
            expires = datetime.combine(day, time.min, tzinfo=timezone.utc)
            expiry.add_metric([network], (expires - now).total_seconds())
        yield expiry


def serve(health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoints on a daemon thread; ``shutdown()`` the returned server to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:                              # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                problem = health.problem()
                self._send(503 if problem else 200, (problem or "ok").encode() + b"\n",
                           "text/plain; charset=utf-8")
            elif path == "/metrics":
                self._send(200, health.metrics(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found: try /healthz or /metrics\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:   # scrapes every 15 s: keep the log quiet
            log.debug("http: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log.info("serving /healthz and /metrics on http://%s:%d", host, server.server_address[1])
    return server
