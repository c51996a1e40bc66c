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

_sessions = threading.local()


@dataclass(frozen=True)
class FeedOutcome:
    url: str
    new_posts: tuple[Post, ...] = ()
    unchanged: bool = False
    error: str | None = None


def _session():
    """One keep-alive HTTP session per worker thread (requests sessions are not thread-safe)."""
    if not hasattr(_sessions, "session"):
        from bot.platforms.base import new_session

        _sessions.session = new_session()
    return _sessions.session


def _max_age(settings: Settings) -> timedelta | None:
    return timedelta(seconds=settings.max_age) if settings.max_age else None


def fetch_and_parse(url: str, settings: Settings, store: Store):
    """Fetch one feed with the ledger's validators; returns (fetch result, parsed feed or None if unchanged)."""
    result = feeds.fetch(url, store.feed_state(url), timeout=settings.request_timeout,
                         max_bytes=settings.max_feed_bytes, session=_session())
    if result.unchanged:
        return result, None
    parsed = feeds.parse(result.body, feed_url=url, base_url=result.final_url or url,
                         content_type=result.content_type)
    if parsed.warning:
        log.warning("feed %s is malformed but usable: %s", url, parsed.warning)
    return result, parsed


def poll_feed(url: str, settings: Settings, store: Store) -> FeedOutcome:
    try:
        result, parsed = fetch_and_parse(url, settings, store)
    except AutopostError as exc:
        store.record_fetch_error(url, str(exc))
        log.error("feed %s: %s", url, exc)
        return FeedOutcome(url=url, error=str(exc))
    if parsed is None:
        store.record_unchanged(url, result)
        log.debug("feed %s unchanged", url)
        return FeedOutcome(url=url, unchanged=True)
    queued = store.record_entries(url, result, parsed.title, parsed.posts, platforms=settings.platforms,
                                  backfill=settings.backfill, max_age=_max_age(settings))
    for post in queued:
        log.info("new post %s from %s", post.url, url)
    return FeedOutcome(url=url, new_posts=tuple(queued))


def poll_feeds(settings: Settings, store: Store) -> list[FeedOutcome]:
    """Poll every feed, a bounded number at once, so one slow feed never delays the others."""
    workers = min(settings.fetch_concurrency, len(settings.feeds))
    if workers <= 1:
        return [poll_feed(url, settings, store) for url in settings.feeds]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
        return list(pool.map(lambda url: poll_feed(url, settings, store), settings.feeds))


def peek_new(settings: Settings, store: Store) -> tuple[list[Post], list[FeedOutcome]]:
    """What a poll would queue now, writing nothing to the ledger (dry run)."""
    new, outcomes = [], []
    for url in settings.feeds:
        try:
            _, parsed = fetch_and_parse(url, settings, store)
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
