"""One poll of the configured feeds: fetch, parse, record new entries in the ledger.

Shared by `autopost poll` and the service's scheduled job. A feed that fails
is recorded with its error and never stops the others; an unchanged feed (304
or identical body) costs one ledger write and no parsing.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from bot import feeds
from bot.config import Settings
from bot.models import AutopostError, Post
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedOutcome:
    url: str
    new_posts: tuple[Post, ...] = ()
    unchanged: bool = False
    error: str | None = None


def _max_age(settings: Settings) -> timedelta | None:
    return timedelta(seconds=settings.max_age) if settings.max_age else None


class Poller:
    """Polls the configured feeds with a bounded pool of workers that lives as long as the poller.

    Each worker keeps one keep-alive HTTP session (requests sessions are not
    thread-safe), so a long-running service reuses its connections.
    """

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None

    def poll_all(self) -> list[FeedOutcome]:
        """Poll every feed, a bounded number at once, so one slow feed never delays the others."""
        feeds_ = self.settings.feeds
        if len(feeds_) == 1 or self.settings.fetch_concurrency == 1:
            return [self.poll(url) for url in feeds_]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(self.settings.fetch_concurrency, len(feeds_)),
                                            thread_name_prefix="poll")
        return list(self._pool.map(self.poll, feeds_))

    def poll(self, url: str) -> FeedOutcome:
        """Fetch, parse and record one feed; a failure is recorded on the feed, never raised."""
        settings, store = self.settings, self.store
        try:
            result, parsed = self.fetch_and_parse(url)
        except AutopostError as exc:
            store.record_fetch_error(url, str(exc))
            log.error("feed %s: %s", url, exc, extra={"event": "feed-error", "feed": url})
            return FeedOutcome(url=url, error=str(exc))
        if parsed is None:
            store.record_unchanged(url, result)
            log.debug("feed %s unchanged", url)
            return FeedOutcome(url=url, unchanged=True)
        queued = store.record_entries(url, result, parsed.title, parsed.posts, platforms=settings.platforms,
                                      backfill=settings.backfill, max_age=_max_age(settings))
        for post in queued:
            log.info("new post %s from %s", post.url, url, extra={"event": "new-post", "feed": url,
                                                                   "post_url": post.url})
        return FeedOutcome(url=url, new_posts=tuple(queued))

    def fetch_and_parse(self, url: str):
        """Fetch one feed with the ledger's validators; returns (result, parsed feed or None if unchanged)."""
        settings = self.settings
        result = feeds.fetch(url, self.store.feed_state(url), timeout=settings.request_timeout,
                             max_bytes=settings.max_feed_bytes, session=self._session(),
                             allow_private_networks=settings.allow_private_networks)
        if result.unchanged:
            return result, None
        parsed = feeds.parse(result.body, feed_url=url, base_url=result.final_url or url,
                             content_type=result.content_type)
        if parsed.warning:
            log.warning("feed %s is malformed but usable: %s", url, parsed.warning)
        return result, parsed

    def _session(self):
        if not hasattr(self._local, "session"):
            from bot.http import new_session

            self._local.session = new_session()
        return self._local.session

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def poll_feeds(settings: Settings, store: Store) -> list[FeedOutcome]:
    """One poll of every feed (for `autopost poll`); the service keeps a Poller instead."""
    poller = Poller(settings, store)
    try:
        return poller.poll_all()
    finally:
        poller.close()


def peek_new(settings: Settings, store: Store) -> tuple[list[Post], list[FeedOutcome]]:
    """What a poll would queue now, writing nothing to the ledger (dry run)."""
    poller = Poller(settings, store)
    new, outcomes = [], []
    for url in settings.feeds:
        try:
            _, parsed = poller.fetch_and_parse(url)
        except AutopostError as exc:
            outcomes.append(FeedOutcome(url=url, error=str(exc)))
            continue
        if parsed is None:
            outcomes.append(FeedOutcome(url=url, unchanged=True))
            continue
        plan = store.plan_entries(url, parsed.posts, backfill=settings.backfill, max_age=_max_age(settings))
        posts = tuple(post for post, skipped in plan if skipped is None)
        new.extend(posts)
        outcomes.append(FeedOutcome(url=url, new_posts=posts))
    return new, outcomes
