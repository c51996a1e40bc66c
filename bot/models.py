"""The plain values passed between modules.

Every module talks to every other through these immutable records, never
through dicts, database rows or HTTP responses. Datetimes are always aware and
in UTC.

They are ``typing.NamedTuple``s, not frozen dataclasses: on Python 3.11 a frozen
dataclass compiles six methods when its class is made (about 1.5 ms each class),
and every command's start makes some 25 of these classes; a NamedTuple costs a
fifth of that. A copy with one field changed is ``value._replace(field=...)``.
Unlike the other modules, this one has no ``from __future__ import annotations``:
NamedTuple compiles each annotation written as a string (as that import makes them
all) into a ForwardRef, another ~6 M instructions of every start for these classes.
"""

from datetime import datetime, timezone
from typing import NamedTuple

from bot.errors import AutopostError  # noqa: F401  (re-exported: modules import it from here)


def utcnow() -> datetime:
    """The default clock; modules take a ``clock`` parameter so tests can inject time."""
    return datetime.now(timezone.utc)


class Post(NamedTuple):
    """One feed entry, normalised: clean plain text, canonical absolute URL."""

    feed_url: str
    key: str                      # guid/id, else canonical link, else hash of title+content
    url: str                      # canonical: absolute, tracking parameters removed, percent-encoded
    title: str = ""
    summary: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    image_url: str | None = None
    feed_title: str = ""
    published: datetime | None = None   # UTC; None when the feed gives no date at all
    id: int | None = None               # the ledger's row id, once stored
    language: str = ""                  # the feed's own BCP-47 tag ("de-DE"), "" when it gives none


class Message(NamedTuple):
    """What one network receives for one post, already valid for that network.

    ``network`` is the network whose rules shaped the text (the console
    adapter stands in for several networks, so it can differ from the
    platform that publishes it). ``link`` travels beside the text where the
    network builds a card from it (LinkedIn article, Facebook link); on X the
    URL is inside ``text`` and ``link`` is still set for reference.
    """

    network: str
    text: str
    link: str
    post_url: str                 # the canonical post URL, for find_existing
    title: str = ""               # card title (LinkedIn article)
    description: str = ""         # card description (LinkedIn article)
    image_url: str | None = None
    length: int = 0               # as the network counts it
    limit: int = 0
    # Set by delivery: the same on every try of one delivery, different for any other (a
    # repost, another ledger), so a network's idempotency key can make a retry exactly-once.
    key: str = ""
    language: str = ""            # the post's BCP-47 tag, "" when unknown (Bluesky's ``langs``)


class Published(NamedTuple):
    """Where a message landed: the network's id for it and its public URL."""

    remote_id: str
    url: str | None = None
    note: str = ""                # e.g. "already on the network"


class Delivery(NamedTuple):
    """One (post, network) pair in the ledger."""

    id: int
    post_id: int
    platform: str
    kind: str                     # "auto" | "manual"
    state: str                    # pending | sending | sent | failed | blocked | uncertain
    attempts: int = 0
    next_attempt_at: datetime | None = None
    text: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    progress: str | None = None   # a staged network's token of how far it got (Store.set_progress)


class FeedState(NamedTuple):
    """What the ledger remembers of a feed between polls."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_polled_at: datetime | None = None
    last_error: str | None = None
    seen_before: bool = False     # False until the first successful poll


class FetchResult(NamedTuple):
    """The outcome of one fetch: new validators, and the body unless unchanged."""

    url: str
    status: int                   # 200, or 304 when the server said "not modified"
    body: bytes | None = None     # None when unchanged
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    content_type: str = ""
    final_url: str = ""           # after redirects, to resolve relative links

    @property
    def unchanged(self) -> bool:
        return self.body is None


class ParsedFeed(NamedTuple):
    """A parsed feed: its title and its entries as posts, in the feed's own order."""

    title: str = ""
    posts: tuple[Post, ...] = ()
    warning: str | None = None    # set when the feed was malformed but still usable


class Attempt(NamedTuple):
    """One try at a delivery, as `status URL` shows it."""

    delivery_id: int
    platform: str
    at: datetime
    outcome: str                  # sent | retry | rate-limited | failed | blocked | duplicate | uncertain ...
    detail: str = ""


class PostRecord(NamedTuple):
    """A post as the ledger knows it: when seen, why skipped, where it went."""

    post: Post
    first_seen: datetime
    skipped: str | None = None    # None, "backfill", "too old"
    deliveries: tuple[Delivery, ...] = ()


class NetworkState(NamedTuple):
    """A network's health in the ledger: blocked by an auth error, or rate-limited."""

    platform: str
    state: str = "healthy"        # healthy | blocked
    since: datetime | None = None
    reason: str | None = None
    rate_limited_until: datetime | None = None
