"""What a poll keeps and writes (issue 18): the deadline watchdog forgets finished exchanges, a
changed feed looks up only its own entries, and one `autopost poll` cycle records its unchanged
feeds in one transaction."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

import bot.store as store_module
from bot import http
from bot.config import settings_from
from bot.models import FetchResult, Post
from bot.poller import Poller
from bot.store import Store
from tests.fakes.feed import rss_feed

FEED = "https://blog.example.com/feed/"
RESULT = FetchResult(url=FEED, status=200, body=b"x", etag='"v1"', body_hash="h1")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, clock, tmp_path):
    target = request.getfixturevalue("pg_url") if request.param == "postgres" else tmp_path / "ledger.db"
    s = Store(target, clock=clock)
    yield s
    s.close()


def entry(n: int, clock, *, url: str | None = None, key: str | None = None) -> Post:
    return Post(feed_url=FEED, key=key or f"guid-{n}", url=url or f"https://blog.example.com/{n}/",
                title=f"Article {n}", published=clock() - timedelta(hours=1000 - n))


def record(store, posts, **kwargs):
    return store.record_entries(FEED, RESULT, "Example", posts, platforms=("twitter",), backfill=0,
                                max_age=kwargs.get("max_age"))


def settings_for(tmp_path, urls, **values):
    return settings_from({"AUTOPOST_FEEDS": " ".join(urls), "AUTOPOST_PLATFORMS": "console",
                          "AUTOPOST_DB": str(tmp_path / "ledger.db"), "AUTOPOST_ALLOW_PRIVATE_NETWORKS": "true",
                          **values})


# --------------------------------------------------------------------------- the watchdog


def test_the_deadline_watchdog_keeps_only_exchanges_in_flight(tmp_path, feed_server):
    """Thousands of unchanged polls leave nothing behind: a long-running service stays flat."""
    feed_server.serve("/feed.xml", rss_feed([{"title": "One", "link": "https://blog.example.com/1/"}]))
    settings = settings_for(tmp_path, [feed_server.url()])
    store = Store(tmp_path / "ledger.db")
    poller = Poller(settings, store)
    try:
        assert not poller.poll(feed_server.url()).error
        most = 0
        for _ in range(2000):
            outcome = poller.poll(feed_server.url())
            assert outcome.unchanged and not outcome.error
            most = max(most, len(http._WATCHDOG._heap))
    finally:
        poller.close()
        store.close()
    assert most == 0, f"{most} finished exchanges still held by the watchdog"
    assert len(feed_server.requests_to("/feed.xml")) == 2001


def test_an_exchange_cut_by_its_deadline_leaves_the_watchdog_too(feed_server):
    feed_server.hang("/slow.xml")
    session = http.new_session()
    import requests

    with pytest.raises(requests.Timeout):
        session.get(feed_server.url("/slow.xml"), timeout=0.3)
    assert len(http._WATCHDOG._heap) == 0


# --------------------------------------------------------------------------- a changed feed


def test_known_entries_of_a_changed_feed_cost_no_identity(store, clock, monkeypatch):
    record(store, [entry(n, clock) for n in range(200)])
    new = entry(200, clock)
    seen: list[str] = []
    real = store_module.identity

    def counting(url: str, **kwargs):
        seen.append(url)
        return real(url, **kwargs)

    monkeypatch.setattr(store_module, "identity", counting)
    clock.advance(minutes=10)
    queued = record(store, [new] + [entry(n, clock) for n in range(200)])
    assert [post.url for post in queued] == [new.url]
    assert set(seen) == {new.url}, "identities were computed for entries the ledger already knows"


def test_a_document_longer_than_one_query_chunk_is_looked_up_whole(store, clock):
    many = [entry(n, clock) for n in range(1000)]          # more keys than one IN (...) holds
    record(store, many)
    clock.advance(minutes=10)
    assert [p.url for p in record(store, [entry(1000, clock)] + many)] == ["https://blog.example.com/1000/"]
    clock.advance(minutes=10)
    assert record(store, [entry(1000, clock)] + many) == []


def test_a_known_entry_whose_link_changed_is_identified_by_its_new_link(store, clock):
    """The stored identity stands for a known entry only while its link is the one recorded.

    Entry A moves to the link entry C had; a new entry B has that link too (over http). The
    link is then shared by two entries of the document, so it identifies neither: B is new.
    Taking A's old stored identity would make the link look unique and match B to C.
    """
    a = entry(1, clock, key="a", url="https://blog.example.com/a/")
    c = entry(2, clock, key="c", url="https://blog.example.com/c/")
    record(store, [a, c])
    clock.advance(minutes=10)
    moved = entry(1, clock, key="a", url="https://blog.example.com/c/")
    b = entry(3, clock, key="b", url="http://blog.example.com/c")
    assert [p.key for p in record(store, [b, moved])] == ["b"]


# --------------------------------------------------------------------------- unchanged feeds in one cycle


def _serve(feed_server, count):
    for n in range(count):
        feed_server.serve(f"/f{n}.xml", rss_feed([{"title": f"Feed {n}", "link": f"https://blog.example.com/{n}/"}]))
    return [feed_server.url(f"/f{n}.xml") for n in range(count)]


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_one_poll_cycle_records_its_unchanged_feeds_in_one_transaction(tmp_path, feed_server, clock,
                                                                         concurrency):
    urls = _serve(feed_server, 6)
    feed_server.respond("/broken.xml", 500)
    settings = settings_for(tmp_path, urls + [feed_server.url("/broken.xml")],
                            AUTOPOST_FETCH_CONCURRENCY=concurrency)
    store = Store(tmp_path / "ledger.db", clock=clock)
    poller = Poller(settings, store)
    try:
        poller.poll_all()
        # Feed 0 failed last time (it keeps its validators), feed 1 changes: both must come out right.
        store.record_fetch_error(urls[0], "HTTP 503 Service Unavailable")
        feed_server.serve("/f1.xml", rss_feed([{"title": "New", "link": "https://blog.example.com/new/"},
                                               {"title": "Feed 1", "link": "https://blog.example.com/1/"}]))
        clock.advance(minutes=5)
        statements: list[str] = []
        store._db.raw.set_trace_callback(statements.append)
        outcomes = poller.poll_all()
        store._db.raw.set_trace_callback(None)
    finally:
        poller.close()
    assert [o.unchanged for o in outcomes] == [True, False, True, True, True, True, False]
    assert [len(o.new_posts) for o in outcomes[:2]] == [0, 1] and outcomes[-1].error
    unchanged = [i for i, s in enumerate(statements) if s.startswith("UPDATE feeds SET last_polled_at")
                 and "last_error = NULL" in s]
    assert len(unchanged) == 5
    begins = [i for i, s in enumerate(statements) if s.startswith("BEGIN")]
    commits = [i for i, s in enumerate(statements) if s == "COMMIT"]
    # One transaction holds all five, and it is the cycle's last.
    assert begins[-1] < unchanged[0] and unchanged[-1] < commits[-1]
    assert not [i for i in begins + commits if unchanged[0] < i < unchanged[-1]]
    for url in [urls[0]] + urls[2:]:
        state = store.feed_state(url)
        assert state.last_polled_at == clock() and state.last_error is None and state.etag
    assert store.feed_state(feed_server.url("/broken.xml")).last_error
    store.close()


def test_a_feed_polled_on_its_own_is_recorded_at_once(tmp_path, feed_server, clock):
    """The service polls each feed on its own schedule: its unchanged poll is written right away."""
    urls = _serve(feed_server, 1)
    store = Store(tmp_path / "ledger.db", clock=clock)
    poller = Poller(settings_for(tmp_path, urls), store)
    try:
        poller.poll(urls[0])
        clock.advance(minutes=5)
        assert poller.poll(urls[0]).unchanged
        row = sqlite3.connect(tmp_path / "ledger.db").execute("SELECT last_polled_at FROM feeds").fetchone()
    finally:
        poller.close()
        store.close()
    assert row[0] == clock().isoformat()
