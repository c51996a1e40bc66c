"""Never twice, never lost: retries, rate limits, blocked networks, pacing and caps.

Real adapters talk real HTTP to the fake networks; time is the injected clock.
"""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from bot.config import settings_from
from bot.delivery import Deliverer, backoff
from bot.models import FetchResult, Post
from bot.service import build_platforms
from bot.store import Store
from tests.conftest import network_env

FEED = "https://blog.example.com/feed/"


class World:
    """A ledger, the three fake networks and a Deliverer over them."""

    def __init__(self, tmp_path, clock, fakes, **overrides):
        self.clock = clock
        values = {"AUTOPOST_FEEDS": FEED, "AUTOPOST_RETRY_BASE": "30", "AUTOPOST_RETRY_MAX": "1h",
                  **network_env(**fakes), **overrides}
        self.settings = settings_from(values)
        self.store = Store(tmp_path / "ledger.db", clock=clock)
        self.rng_values: list[float] = []
        self.deliverer = Deliverer(self.store, self.settings, build_platforms(self.settings, clock=clock),
                                   clock=clock, rng=self._rng)
        self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", [],
                                  platforms=self.settings.platforms, backfill=0, max_age=None)
        self.count = 0

    def _rng(self) -> float:
        return self.rng_values.pop(0) if self.rng_values else 0.5

    def new_posts(self, n: int = 1) -> list[Post]:
        posts = []
        for _ in range(n):
            self.count += 1
            posts.append(Post(feed_url=FEED, key=f"p{self.count}", url=f"https://blog.example.com/{self.count}/",
                              title=f"Article number {self.count}", summary=f"What article {self.count} says.",
                              published=self.clock() - timedelta(minutes=60 - self.count)))
        return self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", posts,
                                         platforms=self.settings.platforms, backfill=0, max_age=None)

    def deliveries(self, platform: str):
        return [d for r in self.store.post_records(limit=0) for d in r.deliveries if d.platform == platform]


@pytest.fixture
def world(tmp_path, clock, fake_x, fake_linkedin, fake_graph):
    def make(**overrides):
        return World(tmp_path, clock, {"fake_x": fake_x, "fake_linkedin": fake_linkedin,
                                       "fake_graph": fake_graph}, **overrides)
    return make


def test_every_network_gets_the_post_once(world, fake_x, fake_linkedin, fake_graph):
    w = world()
    w.new_posts(1)
    report = w.deliverer.run_due()
    assert sorted(state for _, state in report.outcomes) == ["sent", "sent", "sent"]
    assert len(fake_x.posts) == len(fake_linkedin.posts) == len(fake_graph.posts) == 1
    assert "https://blog.example.com/1/" in fake_x.posts[0]["text"]
    assert fake_graph.posts[0]["link"] == "https://blog.example.com/1/"
    (x,) = w.deliveries("twitter")
    assert x.remote_id == fake_x.posts[0]["id"]
    assert x.remote_url == f"https://x.com/autopost_blog/status/{x.remote_id}"
    assert w.deliverer.run_due().outcomes == []                  # nothing more to do
    assert len(fake_x.posts) == 1


def test_transient_errors_back_off_then_post_once(world, fake_x, clock):
    w = world(AUTOPOST_PLATFORMS="twitter")
    w.new_posts(1)
    fake_x.fail_next(500, times=2)
    w.rng_values = [0.5, 0.25]
    start = clock()
    assert w.deliverer.run_due().outcomes[0][1] == "retry"
    (d,) = w.deliveries("twitter")
    assert d.next_attempt_at == start + timedelta(seconds=15)        # 0.5 × 30 s
    assert w.deliverer.run_due().outcomes == []                      # not due yet
    clock.advance(seconds=15)
    assert w.deliverer.run_due().outcomes[0][1] == "retry"
    (d,) = w.deliveries("twitter")
    assert d.next_attempt_at == clock() + timedelta(seconds=15)      # 0.25 × 60 s
    clock.advance(seconds=15)
    assert w.deliverer.run_due().outcomes[0][1] == "sent"
    (d,) = w.deliveries("twitter")
    assert d.state == "sent" and d.attempts == 3
    assert len(fake_x.posts) == 1


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_stays_within_full_jitter_bounds(attempt):
    rng = random.Random(attempt)
    for _ in range(50):
        delay = backoff(attempt, 30, 3600, rng.random)
        assert 0 <= delay <= min(3600, 30 * 2 ** (attempt - 1))


def test_too_many_transient_errors_fail_with_the_last_error(world, fake_x, clock):
    w = world(AUTOPOST_PLATFORMS="twitter", AUTOPOST_MAX_ATTEMPTS="3")
    w.new_posts(1)
    fake_x.fail_next(503, times=3)
    for _ in range(3):
        w.deliverer.run_due()
        clock.advance(hours=1)
    (d,) = w.deliveries("twitter")
    assert d.state == "failed" and d.attempts == 3
    assert "gave up after 3 attempts" in d.error and "Service Unavailable" in d.error
    assert fake_x.posts == []


def test_rate_limit_waits_for_reset_without_counting(world, fake_x, fake_graph, clock):
    w = world(AUTOPOST_PLATFORMS="twitter,facebook")
    w.new_posts(2)
    reset = clock() + timedelta(minutes=12)
    fake_x.fail_next(429, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))})
    report = w.deliverer.run_due()
    states = sorted((d.platform, s) for d, s in report.outcomes)
    assert states == [("facebook", "sent"), ("facebook", "sent"), ("twitter", "rate-limited")]
    first, second = w.deliveries("twitter")[::-1]
    assert first.state == "pending" and first.attempts == 0 and first.next_attempt_at == reset
    clock.advance(minutes=5)
    assert w.deliverer.run_due().outcomes == []                     # the whole network waits
    clock.advance(minutes=7)
    w.deliverer.run_due()
    assert [p["text"].split(" https")[0] for p in fake_x.posts] == ["Article number 1", "Article number 2"]
    assert all(d.state == "sent" and d.attempts == 1 for d in w.deliveries("twitter"))


def test_revoked_token_blocks_one_network_and_recovers_in_order(world, fake_x, fake_linkedin, fake_graph, clock):
    w = world(AUTOPOST_MIN_GAP="10m")
    fake_linkedin.revoke()
    w.new_posts(1)
    w.deliverer.run_due()
    assert [d.state for d in w.deliveries("linkedin")] == ["blocked"]
    assert [d.state for d in w.deliveries("twitter")] == ["sent"]
    assert w.store.network_state("linkedin").state == "blocked"
    assert "token" in w.store.network_state("linkedin").reason.lower()
    clock.advance(minutes=15)
    w.new_posts(2)                                                  # held without calling LinkedIn
    calls = len(fake_linkedin.requests)
    w.deliverer.run_due()
    assert len(fake_linkedin.requests) == calls
    assert sorted(d.state for d in w.deliveries("linkedin")) == ["blocked"] * 3
    fake_linkedin.restore()
    assert "Example Member" in w.deliverer.verify("linkedin")
    assert w.store.network_state("linkedin").state == "healthy"
    sent_times = []
    for _ in range(4):
        w.deliverer.run_due()
        sent_times += [clock()] * (len(fake_linkedin.posts) - len(sent_times))
        clock.advance(minutes=10)
    assert [p["commentary"].split("\n")[0] for p in fake_linkedin.posts] == [
        "Article number 1", "Article number 2", "Article number 3"]
    assert [b - a for a, b in zip(sent_times, sent_times[1:])] == [timedelta(minutes=10)] * 2
    assert len(fake_x.posts) == 3 and len(fake_graph.posts) == 3


def test_held_posts_older_than_max_age_fail_instead_of_going_out_stale(world, fake_graph, clock):
    w = world(AUTOPOST_PLATFORMS="facebook", AUTOPOST_MAX_AGE="1d")
    fake_graph.revoke()
    w.new_posts(1)
    w.deliverer.run_due()
    clock.advance(days=2)
    fake_graph.restore()
    w.deliverer.verify("facebook")
    (d,) = w.deliveries("facebook")
    assert d.state == "failed" and "too old to post late" in d.error
    assert fake_graph.posts == []


def test_min_gap_spaces_a_burst_oldest_first(world, fake_x, clock):
    w = world(AUTOPOST_PLATFORMS="twitter", AUTOPOST_MIN_GAP="10m")
    w.new_posts(5)
    start = clock()
    posted_at = {}
    for _ in range(60):                                             # one pass a minute for an hour
        w.deliverer.run_due()
        for post in fake_x.posts:
            posted_at.setdefault(post["id"], clock())
        clock.advance(minutes=1)
    assert [p["text"].split(" https")[0] for p in fake_x.posts] == [f"Article number {n}" for n in range(1, 6)]
    assert sorted(posted_at.values()) == [start + timedelta(minutes=10 * n) for n in range(5)]


def test_daily_cap_makes_the_rest_wait_and_drops_nothing(world, fake_x, clock):
    w = world(AUTOPOST_PLATFORMS="twitter", TWITTER_DAILY_CAP="2")
    w.new_posts(3)
    w.deliverer.run_due()
    assert len(fake_x.posts) == 2
    clock.advance(hours=23)
    w.deliverer.run_due()
    assert len(fake_x.posts) == 2
    (waiting,) = [d for d in w.deliveries("twitter") if d.state == "pending"]
    assert waiting.next_attempt_at is not None
    clock.advance(hours=1, seconds=1)
    w.deliverer.run_due()
    assert len(fake_x.posts) == 3


def test_duplicate_is_recorded_as_sent_never_posted_again(world, fake_x, fake_linkedin):
    w = world(AUTOPOST_PLATFORMS="twitter,linkedin")
    w.new_posts(1)
    from bot.delivery import messages_for
    post = w.store.get_post(w.deliveries("twitter")[0].post_id)
    fake_x.add_existing_post(messages_for(post, "twitter", w.settings)[0].text)
    w.deliverer.run_due()
    w.deliverer.run_due()
    assert len(fake_x.posts) == 1
    (d,) = w.deliveries("twitter")
    assert d.state == "sent"
    (attempt,) = [a for a in w.store.attempts(post.id) if a.platform == "twitter"]
    assert attempt.outcome == "duplicate" and "already on the network" in attempt.detail


def test_permanent_error_fails_with_the_networks_words(world, fake_graph):
    w = world(AUTOPOST_PLATFORMS="facebook")
    w.new_posts(1)
    fake_graph.fail_next(368)
    report = w.deliverer.run_due()
    assert report.problems
    (d,) = w.deliveries("facebook")
    assert d.state == "failed" and d.attempts == 1
    w.deliverer.run_due()
    assert fake_graph.posts == []                                   # never retried automatically


@pytest.mark.parametrize("status", [402, 403])
def test_x_credits_depleted_holds_the_post_and_says_the_credits_are_spent(world, fake_x, status):
    from tests.fakes.twitter import PROBLEM_CREDITS

    w = world(AUTOPOST_PLATFORMS="twitter")
    w.new_posts(1)
    fake_x.fail_next(status, dict(PROBLEM_CREDITS, status=status), path="/2/tweets")
    w.deliverer.run_due()
    (d,) = w.deliveries("twitter")
    assert d.state == "blocked" and "API credits are spent" in d.error
    assert w.store.network_state("twitter").state == "blocked"
    assert fake_x.posts == []


@pytest.mark.parametrize("scopes", [{"w_organization_social"}, {"w_organization_social", "rw_organization_admin"}])
def test_a_linkedin_page_token_verifies_and_posts_without_being_blocked(world, fake_linkedin, scopes):
    # A Community Management API token: no openid, perhaps no rw_organization_admin either.
    from tests.fakes.linkedin import ORG_TOKEN

    fake_linkedin.token_scopes[ORG_TOKEN] = set(scopes)
    w = world(AUTOPOST_PLATFORMS="linkedin", LINKEDIN_ACCESS_TOKEN=ORG_TOKEN,
              LINKEDIN_AUTHOR="urn:li:organization:2414183")
    assert "urn:li:organization:2414183" in w.deliverer.verify("linkedin")
    w.new_posts(1)
    w.deliverer.run_due()
    (d,) = w.deliveries("linkedin")
    assert d.state == "sent"
    assert [p["author"] for p in fake_linkedin.posts] == ["urn:li:organization:2414183"]


def test_facebook_link_not_yet_fetchable_is_retried_with_backoff(world, fake_graph, clock):
    # 1609005 "Error posting link": Facebook's scraper could not fetch the article yet.
    w = world(AUTOPOST_PLATFORMS="facebook")
    w.new_posts(1)
    fake_graph.fail_next(1609005, times=2)
    w.deliverer.run_due()
    (d,) = w.deliveries("facebook")
    assert d.state == "pending" and d.attempts == 1 and d.next_attempt_at > clock()
    assert "could not fetch the link yet" in d.error
    clock.advance(hours=1)
    w.deliverer.run_due()
    (d,) = w.deliveries("facebook")
    assert d.state == "pending" and d.attempts == 2
    clock.advance(hours=1)
    w.deliverer.run_due()
    (d,) = w.deliveries("facebook")
    assert d.state == "sent" and len(fake_graph.posts) == 1


def test_facebook_retry_after_a_timeout_checks_before_posting_again(world, fake_graph, clock):
    w = world(AUTOPOST_PLATFORMS="facebook")
    w.new_posts(1)
    fake_graph.add_post("https://blog.example.com/1/", "posted, but the answer was lost")
    fake_graph.fail_next(2, http_status=500)                        # transient: try again
    w.deliverer.run_due()
    clock.advance(hours=1)
    w.deliverer.run_due()
    (d,) = w.deliveries("facebook")
    assert d.state == "sent" and d.remote_id == fake_graph.posts[0]["id"]
    assert len(fake_graph.posts) == 1


def test_a_hanging_network_does_not_delay_the_others(world, fake_x, fake_graph, fake_linkedin):
    w = world(AUTOPOST_REQUEST_TIMEOUT="1")
    w.new_posts(1)
    fake_linkedin.hang_next()
    report = w.deliverer.run_due()
    states = dict((d.platform, s) for d, s in report.outcomes)
    assert states == {"twitter": "sent", "facebook": "sent", "linkedin": "retry"}


def test_reserved_characters_and_hashtags_reach_linkedin_whole(world, fake_linkedin):
    w = world(AUTOPOST_PLATFORMS="linkedin")
    title = "C++ (part #2) [draft] <b> _x_ ~y~ @z"
    post = Post(feed_url=FEED, key="cpp", url="https://blog.example.com/cpp/", title=title,
                summary="Templates {everywhere} | pipes * stars \\ backslash", categories=("C++", "machine learning"),
                published=w.clock())
    w.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", [post], platforms=("linkedin",),
                           backfill=0, max_age=None)
    w.deliverer.run_due()
    (stored,) = fake_linkedin.posts
    (sent,) = w.deliveries("linkedin")
    assert stored["commentary"] == sent.text                       # LinkedIn cut nothing
    assert "{hashtag|\\#|Cpp}" in stored["commentary"] and "{hashtag|\\#|MachineLearning}" in stored["commentary"]
    assert stored["content"]["article"]["title"] == title


def test_a_manual_repost_that_goes_through_unblocks_the_network(world, fake_x):
    w = world(AUTOPOST_PLATFORMS="twitter")
    fake_x.revoke()
    w.new_posts(2)
    w.deliverer.run_due()
    assert w.store.network_state("twitter").state == "blocked"
    fake_x.restore()
    first = w.deliveries("twitter")[-1]
    manual = w.store.add_manual_delivery(first.post_id, "twitter")
    assert w.deliverer.deliver(manual) == "sent"
    assert w.store.network_state("twitter").state == "healthy"
    w.deliverer.run_due()
    assert len(fake_x.posts) == 2                                   # the repost, and the other held post
    assert {d.state for d in w.deliveries("twitter")} == {"sent"}
    assert [a.outcome for a in w.store.attempts(first.post_id)][-2:] == ["sent", "resolved"]
