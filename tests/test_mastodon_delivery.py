"""Mastodon through delivery, over real HTTP to the fake instance: the instance's own limit,
and an Idempotency-Key that comes from the delivery, so a retry cannot post twice."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.compose import compose
from bot.config import settings_from
from bot.delivery import Deliverer, delivery_key
from bot.models import FetchResult, Post
from bot.platforms.mastodon import idempotency_key, length
from bot.service import build_platforms
from bot.store import Store
from tests.fakes.mastodon import TOKEN, FakeMastodon

FEED = "https://blog.example.com/feed/"
LONG_TITLE = "How we moved a busy blog to a new publishing stack without losing a single reader on the way"
LONG_SUMMARY = " ".join(f"Sentence {i} of a summary that is longer than any small instance allows." for i in range(12))


class World:
    """A ledger, one fake instance and a Deliverer posting to it."""

    def __init__(self, tmp_path, clock, fake: FakeMastodon, **overrides: str):
        self.clock = clock
        self.settings = settings_from({"AUTOPOST_FEEDS": FEED, "AUTOPOST_PLATFORMS": "mastodon",
                                       "MASTODON_INSTANCE": fake.base_url, "MASTODON_ACCESS_TOKEN": TOKEN,
                                       **overrides})
        self.store = Store(tmp_path / "ledger.db", clock=clock)
        self.deliverer = Deliverer(self.store, self.settings, build_platforms(self.settings, clock=clock),
                                   clock=clock, rng=lambda: 0.5)
        self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", [],
                                  platforms=self.settings.platforms, backfill=0, max_age=None)
        self.count = 0

    def new_post(self, title: str = LONG_TITLE, summary: str = LONG_SUMMARY) -> Post:
        self.count += 1
        post = Post(feed_url=FEED, key=f"p{self.count}", url=f"https://blog.example.com/{self.count}/",
                    title=title, summary=summary, categories=("Publishing", "Static Sites"),
                    published=self.clock() - timedelta(minutes=5))
        self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", [post],
                                  platforms=self.settings.platforms, backfill=0, max_age=None)
        return post

    def delivery(self, post: Post):
        [record] = self.store.post_records(limit=None, url=post.url)
        [delivery] = record.deliveries
        return delivery


@pytest.fixture
def instance(clock):
    fakes: list[FakeMastodon] = []

    def make(**options) -> FakeMastodon:
        fakes.append(FakeMastodon(clock=clock, **options))
        return fakes[-1]

    yield make
    for fake in fakes:
        fake.close()


def test_a_200_character_instance_gets_statuses_fitted_to_200(tmp_path, clock, instance):
    fake = instance(max_characters=200, url_length=30)
    w = World(tmp_path, clock, fake, AUTOPOST_SUMMARY_MAX="0")
    first, second = w.new_post(), w.new_post()
    # Fitted to the usual 500, these would be refused by this instance.
    assert compose(first, "mastodon").length > 200

    report = w.deliverer.run_due()

    assert [state for _, state in report.outcomes] == ["sent", "sent"]
    assert len(fake.statuses) == 2
    for status, post in zip(fake.statuses, (first, second)):
        counted = length(status["text"], 30)
        assert 150 < counted <= 200                # the instance's room, used and not exceeded
        assert post.url in status["text"].split()  # the link whole, counted as the instance's 30
    instance_calls = [r for r in fake.requests if r.path == "/api/v2/instance"]
    assert len(instance_calls) == 1                # asked once per adapter, not per post


def test_an_instance_that_cannot_say_its_limit_is_retried_not_posted_blind(tmp_path, clock, instance):
    fake = instance(max_characters=200)
    w = World(tmp_path, clock, fake)
    post = w.new_post()
    fake.fail_next(503, "There was a temporary problem serving your request, please try again",
                   path="/api/v2/instance")

    assert [state for _, state in w.deliverer.run_due().outcomes] == ["retry"]
    assert fake.statuses == []
    clock.advance(minutes=5)
    assert [state for _, state in w.deliverer.run_due().outcomes] == ["sent"]
    assert len(fake.statuses) == 1 and length(fake.statuses[0]["text"]) <= 200
    assert w.delivery(post).state == "sent"


def test_an_instance_without_v2_gets_the_usual_500(tmp_path, clock, instance):
    fake = instance(v2_instance=False)
    w = World(tmp_path, clock, fake, AUTOPOST_SUMMARY_MAX="0")
    w.new_post()
    assert [state for _, state in w.deliverer.run_due().outcomes] == ["sent"]
    assert 400 < length(fake.statuses[0]["text"]) <= 500


def test_the_idempotency_key_is_the_deliverys_and_holds_when_the_lookup_misses(tmp_path, clock, instance):
    fake = instance()
    w = World(tmp_path, clock, fake)
    post = w.new_post(title="A short title", summary="A short summary.")
    fake.drop_answer_next()                      # the instance posts it; the answer is lost

    assert [state for _, state in w.deliverer.run_due().outcomes] == ["retry"]
    assert len(fake.statuses) == 1
    made = fake.statuses[0]["id"]
    # A busy account: 40 statuses since, so the one page find_existing reads no longer shows it.
    for i in range(40):
        fake.add_status(f"Note {i}")
    clock.advance(minutes=5)

    assert [state for _, state in w.deliverer.run_due().outcomes] == ["sent"]

    assert [s["id"] for s in fake.statuses if post.url in s["text"]] == [made]   # still one status
    delivery = w.delivery(post)
    assert delivery.remote_id == made
    keys = [r.headers["idempotency-key"] for r in fake.posted()]
    assert keys == [idempotency_key(post.url, "", delivery_key(delivery))] * 2


def test_each_delivery_has_its_own_key(tmp_path, clock, instance):
    fake = instance()
    w = World(tmp_path, clock, fake)
    post = w.new_post(title="A short title", summary="A short summary.")
    w.deliverer.run_due()
    repost = w.store.add_manual_delivery(post.id or w.delivery(post).post_id, "mastodon")

    assert w.deliverer.deliver(repost) == "sent"

    assert len(fake.statuses) == 2               # a repost on purpose is a new status, same text or not
    first, second = (r.headers["idempotency-key"] for r in fake.posted())
    assert first != second


def test_a_changed_limit_is_learnt_at_the_next_verification(tmp_path, clock, instance):
    fake = instance(max_characters=300)
    w = World(tmp_path, clock, fake, AUTOPOST_SUMMARY_MAX="0")
    w.new_post()
    w.deliverer.run_due()
    assert 250 < length(fake.statuses[0]["text"]) <= 300

    fake.max_characters = 150                    # the instance's admins lower it
    assert w.deliverer.verify("mastodon").startswith("@")   # what the service does every hour
    w.new_post()
    assert [state for _, state in w.deliverer.run_due().outcomes] == ["sent"]
    assert 100 < length(fake.statuses[1]["text"]) <= 150
