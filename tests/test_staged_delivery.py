"""Staged publishing in the core, through Instagram's real adapter and its fake over HTTP.

A network that publishes in steps records its progress (the container id) in the ledger
before the step that posts; a retry or crash recovery resumes from it. Not ready yet keeps
the delivery pending without losing an attempt or holding the lane; a post the network
cannot carry (no usable image) is skipped; the daily publishing limit is a rate limit.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import settings_from
from bot.delivery import Deliverer, messages_for
from bot.models import FetchResult, Post
from bot.service import build_platforms
from bot.store import MIGRATIONS, Store
from tests.conftest import network_env
from tests.fakes.instagram import jpeg

FEED = "https://blog.example.com/feed/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


class World:
    def __init__(self, target, clock, fake, **overrides):
        self.clock = clock
        values = {"AUTOPOST_FEEDS": FEED, "AUTOPOST_ALLOW_PRIVATE_NETWORKS": "true",
                  **network_env(fake_instagram=fake), **overrides}
        self.settings = settings_from(values)
        self.store = Store(target, clock=clock)
        self.deliverer = self.new_deliverer()
        self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", [],
                                  platforms=self.settings.platforms, backfill=0, max_age=None)
        self.count = 0

    def new_deliverer(self) -> Deliverer:
        return Deliverer(self.store, self.settings, build_platforms(self.settings, clock=self.clock),
                         clock=self.clock, rng=lambda: 0.5)

    def new_posts(self, *images: str | None) -> list[Post]:
        posts = []
        for image in images:
            self.count += 1
            posts.append(Post(feed_url=FEED, key=f"p{self.count}", url=f"https://blog.example.com/{self.count}/",
                              title=f"Article number {self.count}", summary=f"What article {self.count} says.",
                              image_url=image, published=self.clock() - timedelta(minutes=60 - self.count)))
        return self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", posts,
                                         platforms=self.settings.platforms, backfill=0, max_age=None)

    def deliveries(self):
        return sorted((d for r in self.store.post_records(limit=0) for d in r.deliveries), key=lambda d: d.id)


@pytest.fixture
def images(feed_server):
    feed_server.serve("/cover.jpg", jpeg(1080, 1080), content_type="image/jpeg")
    feed_server.serve("/cover.png", PNG, content_type="image/png")
    return {"jpeg": feed_server.url("/cover.jpg"), "png": feed_server.url("/cover.png")}


@pytest.fixture
def world(tmp_path, clock, fake_instagram):
    return lambda **overrides: World(tmp_path / "ledger.db", clock, fake_instagram, **overrides)


def test_a_post_is_published_with_its_image_and_its_container_recorded(world, fake_instagram, images):
    w = world()
    w.new_posts(images["jpeg"])

    report = w.deliverer.run_due()

    assert [state for _, state in report.outcomes] == ["sent"]
    (media,) = fake_instagram.media
    assert fake_instagram.image_fetches == [images["jpeg"]]       # the fake fetched it from the feed server
    (d,) = w.deliveries()
    assert d.state == "sent" and d.remote_id == media["id"] and d.remote_url == media["permalink"]
    assert d.progress == media["container"]                       # recorded before media_publish
    assert "https://blog.example.com/1/" in media["caption"]


def test_not_ready_waits_without_losing_an_attempt_or_holding_the_lane(world, fake_instagram, images, clock):
    fake_instagram.finish_after = 1            # the first status check of each container: IN_PROGRESS
    w = world()
    w.new_posts(images["jpeg"], images["jpeg"])

    first = w.deliverer.run_due()

    assert [state for _, state in first.outcomes] == ["in-progress", "in-progress"]   # the second was not held
    assert fake_instagram.media == [] and len(fake_instagram.containers) == 2
    for d in w.deliveries():
        assert (d.state, d.attempts) == ("pending", 0)
        assert d.progress in fake_instagram.containers
        assert d.next_attempt_at == clock() + timedelta(seconds=60)
    assert w.store.network_state("instagram").state == "healthy"
    assert w.deliverer.run_due().outcomes == []                   # not due before retry_at

    clock.advance(seconds=61)
    second = w.deliverer.run_due()

    assert [state for _, state in second.outcomes] == ["sent", "sent"]
    assert len(fake_instagram.containers) == 2                    # resumed, no new container
    assert sorted(m["container"] for m in fake_instagram.media) == sorted(fake_instagram.containers)
    assert [d.attempts for d in w.deliveries()] == [1, 1]


@pytest.mark.parametrize("image, words", [
    (None, "the entry has no image"),
    ("png", "the image is PNG"),
])
def test_an_entry_without_a_usable_image_is_skipped_and_the_next_goes_out(world, fake_instagram, images,
                                                                          image, words):
    w = world()
    w.new_posts(images.get(image) if image else None, images["jpeg"])

    report = w.deliverer.run_due()

    assert [state for _, state in report.outcomes] == ["skipped", "sent"]
    skipped = w.deliveries()[0]
    assert skipped.state == "skipped" and skipped.error.startswith("no image for Instagram")
    assert words in skipped.error
    if image == "png":
        assert "INSTAGRAM_IMAGE_URL_TEMPLATE" in skipped.error
    assert len(fake_instagram.containers) == 1 and len(fake_instagram.media) == 1   # no container for it
    assert w.store.network_state("instagram").state == "healthy"
    assert w.deliverer.run_due().outcomes == []                   # never retried
    assert w.store.count_problems() == 0


def test_the_daily_publishing_limit_waits_as_rate_limited(world, fake_instagram, images, clock):
    fake_instagram.limit_total = 1
    w = world()
    w.new_posts(images["jpeg"], images["jpeg"])

    report = w.deliverer.run_due()

    assert [state for _, state in report.outcomes] == ["sent", "rate-limited"]
    waiting = w.deliveries()[1]
    assert (waiting.state, waiting.attempts) == ("pending", 0)
    assert "publishing limit" in waiting.error
    assert w.store.network_state("instagram").rate_limited_until == clock() + timedelta(hours=1)
    assert len(fake_instagram.media) == 1 and len(fake_instagram.containers) == 1

    clock.advance(hours=25)                                       # the first post left the window
    assert [state for _, state in w.deliverer.run_due().outcomes] == ["sent"]
    assert len(fake_instagram.media) == 2


@pytest.fixture(params=["sqlite", "postgres"])
def any_world(request, tmp_path, clock, fake_instagram):
    """The same world on a SQLite file and on a PostgreSQL database (shared: leases apply)."""
    target = tmp_path / "ledger.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return lambda **overrides: World(target, clock, fake_instagram, **overrides)


@pytest.mark.parametrize("container", ["FINISHED", "PUBLISHED", "EXPIRED"])
def test_recovery_resumes_from_the_recorded_container(any_world, fake_instagram, images, container, clock):
    w = any_world()
    (post,) = w.new_posts(images["jpeg"])
    (d,) = w.deliveries()
    claimed = w.store.claim(d.id)
    adapter = w.deliverer.platforms["instagram"]
    (message,) = messages_for(w.store.get_post(post.id), "instagram", w.settings)
    container_id = adapter.create_container(message)
    w.store.set_progress(claimed.id, container_id)
    assert adapter.container_status(container_id) == "FINISHED"
    if container == "PUBLISHED":
        adapter.publish_container(container_id)                   # the crash came after media_publish
    elif container == "EXPIRED":
        fake_instagram.expire(container_id)
    # the service died here: the row is `sending` with its container recorded
    clock.advance(seconds=w.store.lease.total_seconds() + 1)      # on a shared ledger, its lease runs out

    restarted = w.new_deliverer()
    assert [state for _, state in restarted.recover()] == ["pending"]
    report = restarted.run_due()

    assert [state for _, state in report.outcomes] == ["sent"]
    (media,) = fake_instagram.media                               # one post, whatever the container said
    (after,) = w.deliveries()
    assert after.state == "sent" and after.remote_url == media["permalink"]
    if container == "EXPIRED":
        assert media["container"] != container_id and after.progress == media["container"]
    else:
        assert media["container"] == container_id


def test_the_progress_column_is_a_migration_of_its_own(tmp_path, clock):
    # Migration 4 (later migrations follow it); an existing ledger gains the column on open.
    assert [number for number, script in enumerate(MIGRATIONS, start=1) if "ADD COLUMN progress" in script] == [4]
    store = Store(tmp_path / "ledger.db", clock=clock)
    assert store.schema_version() == len(MIGRATIONS)


def test_progress_is_recorded_and_read_back_on_postgres(pg_url, clock):
    store = Store(pg_url, clock=clock)
    post = store.add_post(FEED, Post(feed_url=FEED, key="k", url="https://blog.example.com/pg/", title="t",
                                     published=None))
    delivery = store.add_manual_delivery(post.id, "instagram")
    assert delivery.progress is None

    store.set_progress(delivery.id, "18000000000000123")

    assert store.get_delivery(delivery.id).progress == "18000000000000123"
    store.close()
