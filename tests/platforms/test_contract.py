"""The adapter contract: every network with a fake goes through the same faults, over HTTP,
through ``Deliverer`` (the real code path), and must end each one in the state listed.

Adding a network is one ``Contract`` entry in ``CONTRACTS``: its fake's fixture, the env
that points autopost at it, the path of its publishing call, how its fake answers an error
status in the network's own words, how it says "duplicate", and the states it legitimately
ends in where they differ from ``EXPECTED``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

import pytest

from bot.config import settings_from
from bot.delivery import Deliverer, delivery_key, messages_for
from bot.models import FetchResult, Post
from bot.platforms.facebook import DEFAULT_FACEBOOK_GRAPH_VERSION
from bot.app import build_platforms
from bot.store import Store
from tests.conftest import network_env
from bot.platforms.registry import NAMES
from bot.platforms.instagram import DEFAULT_GRAPH_VERSION as INSTAGRAM_GRAPH_VERSION
from tests.fakes import bluesky, facebook, instagram, mastodon, twitter
from tests.fakes.bluesky import fake_pds  # noqa: F401  (fixture)
from tests.fakes.instagram import fake_instagram  # noqa: F401  (fixture)
from tests.fakes.mastodon import fake_mastodon  # noqa: F401  (fixture)
from tests.fakes.server import FakeServer

FEED = "https://blog.example.com/feed/"
RESET_AFTER = timedelta(minutes=20)       # what a "429 with reset headers" announces

# What each fault must end in: the state `deliver` returns, the delivery's state in the ledger,
# and how many posts the network holds afterwards.
EXPECTED: dict[str, tuple[str, str, int]] = {
    "401": ("blocked", "blocked", 0),
    "403": ("blocked", "blocked", 0),
    "429 with reset": ("rate-limited", "pending", 0),
    "429 without reset": ("rate-limited", "pending", 0),
    "500": ("retry", "pending", 0),
    "503": ("retry", "pending", 0),
    "hang": ("retry", "pending", 0),
    "trickle": ("retry", "pending", 0),
    "garbage JSON": ("retry", "pending", 0),
    "HTML error page": ("retry", "pending", 0),
    "duplicate answer": ("sent", "sent", 1),
    "answer lost": ("retry", "pending", 1),
    "crash between send and record": ("sent", "sent", 1),
}


@dataclass(frozen=True)
class Contract:
    """How one network's fake is driven through the table."""

    name: str
    fixture: str                                          # the fake's pytest fixture
    env: Callable[[Any], dict[str, str]]                  # variables pointing autopost at the fake
    publish_path: str                                     # the request that makes the post
    posts: Callable[[Any], int]                           # how many posts the fake holds
    error: Callable[[Any, int, dict[str, str]], None]     # next publish answers this status, in its words
    reset_headers: Callable[[datetime], dict[str, str]]   # a 429's headers announcing "again at" this time
    duplicate: Callable[[Any], None] | None = None        # scripted duplicate answer; None: it says so itself
    expected: dict[str, tuple[str, str, int]] = field(default_factory=dict)   # where it differs
    post: Callable[[pytest.FixtureRequest], dict[str, Any]] = lambda request: {}   # what its post needs (an image)


# -- the networks ------------------------------------------------------------------------

_X_BODIES = {401: twitter.PROBLEM_UNAUTHORIZED, 403: twitter.PROBLEM_OAUTH1_PERMISSIONS,
             429: twitter.PROBLEM_TOO_MANY, 500: twitter.PROBLEM_SERVER, 503: twitter.PROBLEM_SERVER}


def _x_error(fake: twitter.FakeX, status: int, headers: dict[str, str]) -> None:
    fake.fail_next(status, _X_BODIES[status], headers, path="/2/tweets")


def _x_reset(when: datetime) -> dict[str, str]:
    return {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(when.timestamp()))}


def _linkedin_error(fake: Any, status: int, headers: dict[str, str]) -> None:
    body = None if status != 503 else {"status": 503, "message": "Service Unavailable"}
    fake.fail_next(status, body, headers, path="/rest/posts")


def _linkedin_reset(when: datetime) -> dict[str, str]:
    from email.utils import format_datetime

    return {"Retry-After": format_datetime(when, usegmt=True)}


# Graph's own codes: 190 invalid token, 200 permission missing, 32 Page rate limit, 2 and 1
# service trouble (developers.facebook.com/docs/graph-api/guides/error-handling).
_GRAPH_CODES = {401: 190, 403: 200, 429: 32, 500: 2, 503: 1}


def _graph_error(fake: facebook.FakeGraph, status: int, headers: dict[str, str]) -> None:
    fake.fail_next(_GRAPH_CODES[status], http_status=status, headers=headers)


def _graph_reset(when: datetime) -> dict[str, str]:
    minutes = int(RESET_AFTER.total_seconds() // 60)
    usage = {facebook.PAGE_ID: [{"type": "pages", "call_count": 100, "total_cputime": 10, "total_time": 10,
                                 "estimated_time_to_regain_access": minutes}]}
    return {"X-Business-Use-Case-Usage": json.dumps(usage)}


# XRPC errors as a PDS names them (atproto.com/specs/xrpc: error names; account takedown).
_PDS_ERRORS = {401: "AuthenticationRequired", 403: "AccountTakedown", 429: "RateLimitExceeded",
               500: "InternalServerError", 503: "UpstreamFailure"}


def _pds_error(fake: Any, status: int, headers: dict[str, str]) -> None:
    fake.fail_next(status, _PDS_ERRORS[status], f"fake {status}", nsid="com.atproto.repo.createRecord",
                   headers=headers)


def _pds_reset(when: datetime) -> dict[str, str]:
    return {"RateLimit-Limit": "5000", "RateLimit-Remaining": "0", "RateLimit-Reset": str(int(when.timestamp()))}


# Mastodon's own words for each status (its API answers ``{"error": ...}``: docs.joinmastodon.org,
# entities/Error; the 503 is Api::BaseController's for a race or a storage failure), and its
# rate-limit headers (api/rate-limits): X-RateLimit-Reset is an ISO 8601 timestamp. The fake
# adds a Reset five minutes from the wall clock to any answer without X-RateLimit-Limit, so a
# 429 "without reset" names Limit and Remaining itself.
_MASTODON_ERRORS = {401: "The access token is invalid", 403: "This action is outside the authorized scopes",
                    429: "Too many requests", 500: "Internal Server Error",
                    503: "There was a temporary problem serving your request, please try again"}


def _mastodon_error(fake: mastodon.FakeMastodon, status: int, headers: dict[str, str]) -> None:
    if status == 429:
        headers = {"X-RateLimit-Limit": str(mastodon.RATE_LIMIT), "X-RateLimit-Remaining": "0", **headers}
    fake.fail_next(status, _MASTODON_ERRORS[status], headers=headers, path="/api/v1/statuses")


def _mastodon_reset(when: datetime) -> dict[str, str]:
    return {"X-RateLimit-Reset": when.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


# Instagram answers errors in Graph's shape (bot/platforms/instagram.py's docstring): 190 an
# invalid token, 10 a permission missing, 4 the app's throttle, 2 and 1 service trouble.
_INSTAGRAM_CODES = {401: 190, 403: 10, 429: 4, 500: 2, 503: 1}
_INSTAGRAM_PUBLISH = f"/{INSTAGRAM_GRAPH_VERSION}/{instagram.ACCOUNT_ID}/media_publish"


def _instagram_error(fake: instagram.FakeInstagram, status: int, headers: dict[str, str]) -> None:
    # The fake's fail_next answers whatever request comes next (the quota check comes first):
    # the same Graph error, aimed at media_publish through the shared base.
    code = _INSTAGRAM_CODES[status]
    error = {"message": instagram._TEXT.get(code, f"(#{code}) Fake Instagram error"), "type": "OAuthException",
             "code": code, "fbtrace_id": f"AfakeIG{code}"}
    FakeServer.answer_next(fake, status, {"error": error}, headers, path=_INSTAGRAM_PUBLISH)


def _instagram_reset(when: datetime) -> dict[str, str]:
    minutes = int(RESET_AFTER.total_seconds() // 60)
    usage = {instagram.ACCOUNT_ID: [{"type": "instagram", "call_count": 100, "total_cputime": 10, "total_time": 10,
                                     "estimated_time_to_regain_access": minutes}]}
    return {"X-Business-Use-Case-Usage": json.dumps(usage)}


def _instagram_image(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Instagram posts an image: the blog serves one that passes its rules (JPEG, 1:1)."""
    feed_server = request.getfixturevalue("feed_server")
    feed_server.serve("/cover.jpg", instagram.jpeg(1080, 1080), content_type="image/jpeg")
    return {"image_url": feed_server.url("/cover.jpg")}


CONTRACTS = [
    Contract("twitter", "fake_x", lambda fake: network_env(fake_x=fake), "/2/tweets",
             lambda fake: len(fake.posts), _x_error, _x_reset),
    Contract("linkedin", "fake_linkedin", lambda fake: network_env(fake_linkedin=fake), "/rest/posts",
             lambda fake: len(fake.posts), _linkedin_error, _linkedin_reset),
    # Graph takes the same link twice; its duplicate answer (#506) is for the same message text.
    Contract("facebook", "fake_graph", lambda fake: network_env(fake_graph=fake),
             f"/{DEFAULT_FACEBOOK_GRAPH_VERSION}/{facebook.PAGE_ID}/feed", lambda fake: len(fake.posts),
             _graph_error, _graph_reset,
             duplicate=lambda fake: fake.fail_next(506)),
    # A record key derived from the delivery: the PDS refuses the same key twice by itself.
    Contract("bluesky", "fake_pds", lambda fake: {"BLUESKY_PDS": fake.base_url, "BLUESKY_HANDLE": bluesky.HANDLE,
                                                  "BLUESKY_APP_PASSWORD": bluesky.APP_PASSWORD},
             "/xrpc/com.atproto.repo.createRecord", lambda fake: len(fake.records), _pds_error, _pds_reset),
    # Mastodon posts the same text twice; the Idempotency-Key derived from the delivery makes it
    # answer the status already made instead (bot/platforms/mastodon.py): it says so itself.
    Contract("mastodon", "fake_mastodon",
             lambda fake: {"MASTODON_INSTANCE": fake.base_url, "MASTODON_ACCESS_TOKEN": mastodon.TOKEN},
             "/api/v1/statuses", lambda fake: len(fake.statuses), _mastodon_error, _mastodon_reset),
    # The faults hit media_publish, the one call of the three that posts (the container before it
    # posts nothing; bot/platforms/instagram.py). A container still IN_PROGRESS is its own state
    # ("in-progress", pending, no attempt spent: tests/test_staged_delivery.py), not a fault here.
    Contract("instagram", "fake_instagram",
             lambda fake: {**network_env(fake_instagram=fake), "AUTOPOST_ALLOW_PRIVATE_NETWORKS": "true"},
             _INSTAGRAM_PUBLISH, lambda fake: len(fake.media), _instagram_error, _instagram_reset,
             post=_instagram_image,
             # No duplicate answer exists: neither Meta's content-publishing page nor its error-code
             # table (both cited in bot/platforms/instagram.py) names a refusal of the same image and
             # caption. What guards a retry is the container id in the ledger ("answer lost",
             # "crash between send and record"); a post made outside the ledger's container record,
             # as here, is published a second time.
             expected={"duplicate answer": ("sent", "sent", 2)}),
]
# A network joins the table once it is registered (a row for an unregistered one could not run).
CONTRACTS = [contract for contract in CONTRACTS if contract.name in NAMES]


# -- the world each row runs in -------------------------------------------------------------

class World:
    def __init__(self, contract: Contract, fake: Any, tmp_path, clock, request: pytest.FixtureRequest):
        self.contract, self.fake, self.clock = contract, fake, clock
        self.settings = settings_from({"AUTOPOST_FEEDS": FEED, "AUTOPOST_PLATFORMS": contract.name,
                                       "AUTOPOST_REQUEST_TIMEOUT": "0.5", "AUTOPOST_RETRY_BASE": "30",
                                       **contract.env(fake)})
        self.store = Store(tmp_path / "ledger.db", clock=clock)
        self.deliverer = self.fresh_deliverer()
        self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", [],
                                  platforms=self.settings.platforms, backfill=0, max_age=None)
        post = Post(feed_url=FEED, key="p1", url="https://blog.example.com/contract/",
                    title="What the contract table checks", summary="Every network, the same faults.",
                    published=clock() - timedelta(minutes=5), **contract.post(request))
        (self.post,) = self.store.record_entries(FEED, FetchResult(url=FEED, status=200), "Blog", [post],
                                                 platforms=self.settings.platforms, backfill=0, max_age=None)
        (self.delivery,) = self.store.deliveries(states=("pending",))

    def fresh_deliverer(self) -> Deliverer:
        """A new process's deliverer: new adapters over the same ledger."""
        return Deliverer(self.store, self.settings, build_platforms(self.settings, clock=self.clock),
                         clock=self.clock, rng=lambda: 0.5)   # backoff jitter fixed: retries wait

    def publish_directly(self) -> None:
        """The network accepts the post outside autopost's bookkeeping (what a crash leaves behind).

        An earlier try of this delivery made it, so it carries the delivery's key as that try's
        message did (a network may derive its own duplicate guard from it: Mastodon's
        Idempotency-Key)."""
        adapter = self.deliverer.platforms[self.contract.name]
        for message in messages_for(self.store.get_post(self.delivery.post_id), self.contract.name, self.settings):
            adapter.publish(message._replace(key=delivery_key(self.delivery)))

    def state(self) -> str:
        return self.store.get_delivery(self.delivery.id).state


def _arrange(world: World, fault: str) -> Callable[[], str]:
    """Set the fault up; return what runs the delivery (normally ``deliver`` once).

    The generic faults are the shared base's (``FakeServer``), called as such: a fake may
    define its own steering under the same names with another signature.
    """
    contract, fake, path = world.contract, world.fake, world.contract.publish_path
    deliver = lambda: world.deliverer.deliver(world.delivery)          # noqa: E731
    if fault.split()[0].isdigit():
        status = int(fault.split()[0])
        headers = contract.reset_headers(world.clock() + RESET_AFTER) if fault == "429 with reset" else {}
        contract.error(fake, status, headers)
    elif fault == "hang":
        FakeServer.hang_next(fake, path=path)
    elif fault == "trickle":
        FakeServer.trickle_next(fake, 0.05, path=path)
    elif fault == "garbage JSON":
        FakeServer.garbage_json_next(fake, path=path)
    elif fault == "HTML error page":
        FakeServer.html_page_next(fake, 502, path=path)
    elif fault == "answer lost":
        FakeServer.drop_next(fake, path=path)
    elif fault == "duplicate answer":
        world.publish_directly()               # the post is already there ...
        if contract.duplicate is not None:
            contract.duplicate(fake)           # ... and this network's duplicate answer is scripted
    elif fault == "crash between send and record":
        assert world.store.claim(world.delivery.id) is not None      # `sending` committed, then the call ...
        world.publish_directly()                                      # ... reached the network; then SIGKILL

        def after_restart() -> str:
            deliverer = world.fresh_deliverer()
            (_, recovered), = deliverer.recover()
            if recovered == "pending":         # not found, and the network rejects duplicates: retry
                return deliverer.deliver(world.delivery)
            return recovered
        return after_restart
    else:
        raise AssertionError(f"no arrangement for {fault!r}")
    return deliver


@pytest.mark.parametrize("fault", list(EXPECTED))
@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda contract: contract.name)
def test_every_network_ends_each_fault_in_its_state(contract, fault, request, tmp_path, clock):
    fake = request.getfixturevalue(contract.fixture)
    world = World(contract, fake, tmp_path, clock, request)
    run = _arrange(world, fault)
    returned, state, posts = contract.expected.get(fault, EXPECTED[fault])
    assert run() == returned
    assert world.state() == state
    assert contract.posts(fake) == posts
    delivery = world.store.get_delivery(world.delivery.id)
    if state == "pending":                     # a retry or a rate limit waits, it does not spin
        assert delivery.next_attempt_at is not None and delivery.next_attempt_at > clock()
    if fault == "429 with reset":
        assert delivery.next_attempt_at == clock() + RESET_AFTER
    if state in ("blocked",):
        assert world.store.network_state(contract.name).state == "blocked"


def test_a_lost_answer_is_posted_once_after_the_retry(request, tmp_path, clock):
    """The row "answer lost" leaves a retry; the retry must not post a second time anywhere."""
    for contract in CONTRACTS:
        fake = request.getfixturevalue(contract.fixture)
        (tmp_path / contract.name).mkdir()
        world = World(contract, fake, tmp_path / contract.name, clock, request)
        FakeServer.drop_next(fake, path=contract.publish_path)
        assert world.deliverer.deliver(world.delivery) == "retry"
        clock.advance(hours=2)
        assert world.deliverer.deliver(world.delivery) == "sent", contract.name
        assert contract.posts(fake) == 1, contract.name
