"""One poll of the configured feeds: fetch, parse, record new entries in the ledger.

Shared by `autopost poll` and the service's scheduled job. A feed that fails
is recorded with its error and never stops the others; an unchanged feed (304
or identical body) costs one ledger write and no parsing (one write for all the unchanged
feeds of a whole cycle of `poll_all`).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, NamedTuple

from bot import feeds
from bot.alerts import burst_message
from bot.config import Settings
from bot.models import AutopostError, FetchResult, ParsedFeed, Post
from bot.store import Store
from bot.urls import display_url

if TYPE_CHECKING:
    from bot.feed_http import FeedClient

log = logging.getLogger(__name__)


class FeedOutcome(NamedTuple):
    url: str
    new_posts: tuple[Post, ...] = ()
    unchanged: bool = False
    error: str | None = None
    burst: int = 0                # new entries held back as a burst (recorded as skipped)
    # Entries seen for the first time and not queued, with why (backfill, too old, burst ...);
    # filled only for a poller asked to explain (`autopost poll` and its dry run).
    skipped: tuple[tuple[Post, str], ...] = ()


def _max_age(settings: Settings) -> timedelta | None:
    return timedelta(seconds=settings.max_age) if settings.max_age else None


class Poller:
    """Polls the configured feeds with a bounded pool of workers that lives as long as the poller.

    Each worker keeps one FeedClient (its keep-alive connections; not thread-safe), so a
    long-running service reuses its connections.
    """

    def __init__(self, settings: Settings, store: Store, *, explain: bool = False,
                 alert: Callable[[str, str, str, str], object] | None = None):
        self.settings = settings
        self.store = store
        self.explain = explain       # also say which new entries are skipped and why (one more query)
        self._local = threading.local()         # each worker's own FeedClient (keep-alive connections)
        self._clients: list[FeedClient] = []   # all of them, closed with the poller
        self._clients_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._alert = alert
        self._alert_lock = threading.Lock()

    def poll_all(self, on_done: Callable[[FeedOutcome], None] | None = None) -> list[FeedOutcome]:
        """Poll every feed, a bounded number at once, so one slow feed never delays the others.

        Returns the outcomes in configuration order; ``on_done`` hears of each as it finishes
        (in the calling thread), so `autopost poll` can tell what it does as it goes.
        """
        feeds_ = self.settings.feeds
        # The bookkeeping of the cycle's unchanged feeds is written at its end, in one transaction.
        unchanged: list[tuple[str, FetchResult, datetime]] = []
        try:
            if len(feeds_) == 1 or self.settings.fetch_concurrency == 1:
                outcomes = []
                for url in feeds_:
                    outcomes.append(self.poll(url, unchanged))
                    if on_done:
                        on_done(outcomes[-1])
                return outcomes
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=min(self.settings.fetch_concurrency, len(feeds_)),
                                                thread_name_prefix="poll")
            futures = [self._pool.submit(self.poll, url, unchanged) for url in feeds_]
            if on_done:
                for future in as_completed(futures):
                    on_done(future.result())
            return [future.result() for future in futures]
        finally:
            self.store.record_unchanged_all(unchanged)

    def poll(self, url: str, unchanged: list[tuple[str, FetchResult, datetime]] | None = None) -> FeedOutcome:
        """Fetch, parse and record one feed; a failure is recorded on the feed, never raised.

        An unchanged feed is recorded at once, or appended to ``unchanged`` for poll_all to record.
        """
        settings, store = self.settings, self.store
        # The real URL is only fetched: the ledger, the log and the outcome see its display form,
        # without a password or ?key= secret (the ledger keys feeds by that form).
        real, url = url, display_url(url)
        # On a shared ledger one service polls a feed per interval: the others leave it alone.
        if not store.lease_feed(url, ttl=settings.poll_interval * 0.8):
            return FeedOutcome(url=url, unchanged=True)
        try:
            result, parsed = self.fetch_and_parse(real)
        except AutopostError as exc:
            store.record_fetch_error(url, str(exc))
            log.error("feed %s: %s", url, exc, extra={"event": "feed-error", "feed": url})
            return FeedOutcome(url=url, error=str(exc))
        if parsed is None:
            if unchanged is None:
                store.record_unchanged(url, result)
            else:
                unchanged.append((url, result, store.clock()))
            log.debug("feed %s unchanged", url)
            return FeedOutcome(url=url, unchanged=True)
        skipped: tuple[tuple[Post, str], ...] = ()
        if self.explain:           # the same plan record_entries follows
            plan = store.plan_entries(url, parsed.posts, backfill=settings.backfill, max_age=_max_age(settings),
                                      burst_limit=settings.burst_limit)
            skipped = tuple((post, reason) for post, reason in plan if reason is not None)
        queued = store.record_entries(url, result, parsed.title, parsed.posts, platforms=settings.platforms,
                                      backfill=settings.backfill, max_age=_max_age(settings),
                                      burst_limit=settings.burst_limit)
        for post in queued:
            log.info("new post %s from %s", post.url, url, extra={"event": "new-post", "feed": url,
                                                                   "post_url": post.url})
        if queued.burst:
            self._report_burst(url, len(queued), queued.burst)
        return FeedOutcome(url=url, new_posts=tuple(queued), burst=queued.burst, skipped=skipped)

    def _report_burst(self, url: str, posted: int, held: int) -> None:
        """A WARNING and an alert: a flood of "new" entries is news the owner needs today."""
        message = burst_message(url, posted, held)
        log.warning("%s", message, extra={"event": "burst", "feed": url})
        with self._alert_lock:
            if self._alert is None and self.settings.alert_webhook:
                from bot.service import make_alerter   # service imports this module

                self._alert = make_alerter(self.settings)
            alert = self._alert
        if alert is not None:
            alert("burst", "feed", url, message)

    def fetch_and_parse(self, url: str) -> tuple[FetchResult, ParsedFeed | None]:
        """Fetch one feed with the ledger's validators; returns (result, parsed feed or None if unchanged)."""
        settings = self.settings
        shown = display_url(url)
        # A file feed needs no HTTP client (loading one costs a CLI run on a file tens of ms).
        client = None if feeds.local_path(url) is not None else self._client()
        result = feeds.fetch(url, self.store.feed_state(shown), timeout=settings.request_timeout,
                             max_bytes=settings.max_feed_bytes, client=client,
                             allow_private_networks=settings.allow_private_networks)
        if result.body is None:                    # unchanged: a 304, or the same bytes as last time
            return result, None
        parsed = feeds.parse(result.body, feed_url=shown, base_url=display_url(result.final_url or url),
                             content_type=result.content_type)
        # A malformed but usable feed is logged once, by feeds.parse, which knows why.
        return result, parsed

    def _client(self) -> FeedClient:
        client = getattr(self._local, "client", None)
        if client is None:
            from bot.feed_http import FeedClient

            client = self._local.client = FeedClient()
            with self._clients_lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        self._local = threading.local()


def poll_feeds(settings: Settings, store: Store,
               on_done: Callable[[FeedOutcome], None] | None = None) -> list[FeedOutcome]:
    """One poll of every feed (for `autopost poll`); the service keeps a Poller instead."""
    poller = Poller(settings, store, explain=on_done is not None)
    try:
        return poller.poll_all(on_done)
    finally:
        poller.close()


def peek_new(settings: Settings, store: Store) -> tuple[list[Post], list[FeedOutcome]]:
    """What a poll would queue now, writing nothing to the ledger (dry run)."""
    poller = Poller(settings, store)
    new: list[Post] = []
    outcomes: list[FeedOutcome] = []
    for real in settings.feeds:
        url = display_url(real)
        try:
            _, parsed = poller.fetch_and_parse(real)
        except AutopostError as exc:
            outcomes.append(FeedOutcome(url=url, error=str(exc)))
            continue
        if parsed is None:
            outcomes.append(FeedOutcome(url=url, unchanged=True))
            continue
        plan = store.plan_entries(url, parsed.posts, backfill=settings.backfill, max_age=_max_age(settings),
                                  burst_limit=settings.burst_limit)
        posts = tuple(post for post, skipped in plan if skipped is None)
        new.extend(posts)
        outcomes.append(FeedOutcome(url=url, new_posts=posts,
                                    burst=sum(1 for _, skipped in plan if skipped == "burst"),
                                    skipped=tuple((post, reason) for post, reason in plan if reason is not None)))
    return new, outcomes
