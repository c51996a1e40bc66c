"""The ledger: first sight, backfill, age limits, and never the same post twice."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from bot.models import FetchResult, Post
from bot.store import SCHEMA_VERSION, Store

FEED = "https://blog.example.com/feed/"
RESULT = FetchResult(url=FEED, status=200, body=b"x", etag='"v1"', body_hash="h1")


def post(n: int, clock, *, days_ago: float | None = None, key: str | None = None, url: str | None = None,
         title: str | None = None) -> Post:
    published = clock() - timedelta(days=days_ago if days_ago is not None else (100 - n) / 24)
    return Post(feed_url=FEED, key=key or f"guid-{n}", url=url or f"https://blog.example.com/{n}/",
                title=title or f"Article {n}", published=published)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, clock, tmp_path):
    """The same tests on both ledgers: a SQLite file, and a new PostgreSQL database."""
    target = request.getfixturevalue("pg_url") if request.param == "postgres" else tmp_path / "ledger.db"
    s = Store(target, clock=clock)
    yield s
    s.close()


def record(store, posts, *, platforms=("twitter", "facebook"), backfill=0, max_age=timedelta(days=7)):
    return store.record_entries(FEED, RESULT, "Example", posts, platforms=platforms, backfill=backfill,
                                max_age=max_age)


def states(store):
    return {(r.post.url, r.skipped) for r in store.post_records(limit=0)}


def test_first_sight_posts_nothing_and_records_everything(store, clock):
    entries = [post(n, clock) for n in range(20)]
    assert record(store, entries) == []
    records = store.post_records(limit=0)
    assert len(records) == 20
    assert {r.skipped for r in records} == {"backfill"}
    assert all(r.deliveries == () for r in records)


def test_backfill_posts_exactly_the_newest(store, clock):
    entries = [post(n, clock) for n in range(20)]        # higher n = newer
    queued = record(store, entries, backfill=2)
    assert [p.url for p in queued] == ["https://blog.example.com/18/", "https://blog.example.com/19/"]
    for r in store.post_records(limit=0):
        expected = 2 if r.post.url in {p.url for p in queued} else 0
        assert len(r.deliveries) == expected
        assert all(d.state == "pending" and d.kind == "auto" for d in r.deliveries)


def test_new_entry_later_gives_one_delivery_per_network_once(store, clock):
    record(store, [post(1, clock)])
    clock.advance(minutes=5)
    queued = record(store, [post(2, clock, days_ago=0), post(1, clock)])
    assert [p.url for p in queued] == ["https://blog.example.com/2/"]
    assert record(store, [post(2, clock, days_ago=0), post(1, clock)]) == []
    deliveries = store.deliveries(states=("pending",))
    assert sorted(d.platform for d in deliveries) == ["facebook", "twitter"]


def test_old_entries_are_skipped_as_too_old(store, clock):
    record(store, [post(1, clock)])
    queued = record(store, [post(2, clock, days_ago=30), post(3, clock, days_ago=1)])
    assert [p.url for p in queued] == ["https://blog.example.com/3/"]
    assert ("https://blog.example.com/2/", "too old") in states(store)


def test_edited_redated_or_restored_entries_are_not_posted_again(store, clock):
    record(store, [post(1, clock)])
    record(store, [post(2, clock, days_ago=0), post(1, clock)])
    edited = post(2, clock, days_ago=-1, title="Article 2 (updated)")
    assert record(store, [edited]) == []                       # edited and re-dated; 1 removed
    assert record(store, [edited, post(1, clock)]) == []       # 1 restored
    new_guid_same_link = post(2, clock, key="https://blog.example.com/?p=2")
    assert record(store, [new_guid_same_link]) == []           # guid rewritten, same article
    assert len(store.deliveries(states=("pending",))) == 2


def test_shared_links_do_not_hide_distinct_entries(store, clock):
    record(store, [post(1, clock, url="https://blog.example.com/")])
    queued = record(store, [post(2, clock, days_ago=0, url="https://blog.example.com/"),
                            post(3, clock, days_ago=0, url="https://blog.example.com/")])
    assert len(queued) == 2


def test_second_auto_delivery_is_impossible(store, clock):
    record(store, [post(1, clock)])
    record(store, [post(2, clock, days_ago=0)])
    delivery = store.deliveries(states=("pending",), platform="twitter")[0]
    with pytest.raises(store.integrity_errors):
        with store.transaction() as db:
            store._insert_delivery(db, delivery.post_id, "twitter", "auto", clock())
    manual = store.add_manual_delivery(delivery.post_id, "twitter")     # a repost is allowed
    assert manual.kind == "manual"


def test_claim_counts_the_attempt_once(store, clock):
    record(store, [post(1, clock)])
    record(store, [post(2, clock, days_ago=0)], platforms=("twitter",))
    delivery = store.deliveries(states=("pending",))[0]
    claimed = store.claim(delivery.id)
    assert claimed.state == "sending" and claimed.attempts == 1
    assert store.claim(delivery.id) is None                     # already taken


def test_plan_writes_nothing(store, clock):
    plan = store.plan_entries(FEED, [post(1, clock), post(2, clock)], backfill=1, max_age=None)
    assert [(p.key, skipped) for p, skipped in plan] == [("guid-1", "backfill"), ("guid-2", None)]
    assert store.post_records(limit=0) == []


def test_an_empty_ledger_plans_without_computing_identities(store, clock, monkeypatch):
    import bot.store

    def no_identity(url, **_):
        raise AssertionError(f"identity({url!r}) computed for an empty ledger")

    entries = [post(1, clock), post(2, clock), post(1, clock, url="https://blog.example.com/other/")]
    with monkeypatch.context() as patched:
        patched.setattr(bot.store, "identity", no_identity)
        plan = store.plan_entries(FEED, entries, backfill=5, max_age=None)
    # The same key twice in one document still counts once (the first), as with a ledger.
    assert [(p.key, p.url, skipped) for p, skipped in plan] == [
        ("guid-1", "https://blog.example.com/1/", None), ("guid-2", "https://blog.example.com/2/", None)]


def test_one_post_of_another_feed_makes_identities_count_again(store, clock):
    # The shortcut is for a ledger without any post: a post known from another feed is still known.
    store.record_entries("https://other.example.com/feed/", RESULT, "Other", [post(1, clock, key="o-1")],
                         platforms=("twitter",), backfill=0, max_age=None)
    plan = store.plan_entries(FEED, [post(1, clock), post(2, clock)], backfill=5, max_age=None)
    assert [p.key for p, _ in plan] == ["guid-2"]


def test_schema_version_and_reopen(tmp_path, clock):
    path = tmp_path / "ledger.db"
    Store(path, clock=clock).close()
    again = Store(path, clock=clock)
    assert again._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_ledger_gains_identities_and_still_knows_its_posts(tmp_path, clock):
    from bot.store import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO feeds (url, first_polled_at) VALUES (?, ?)", (FEED, "2026-11-01T00:00:00+00:00"))
    db.execute("INSERT INTO posts (feed_id, entry_key, url, first_seen_at) VALUES (1, ?, ?, ?)",
               ("http://blog.example.com/?p=1", "http://blog.example.com/1/", "2026-11-01T00:00:00+00:00"))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(path, clock=clock)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    moved = Post(feed_url=FEED, key="https://www.blog.example.com/?p=1", url="https://www.blog.example.com/1",
                 title="Article 1", published=clock())
    assert record(store, [moved]) == []
    assert store.find_post("https://blog.example.com/1").key == "http://blog.example.com/?p=1"
    store.close()


def _ledger_at_version_5(path, feeds: list[tuple[str, str | None]]) -> None:
    from bot.store import MIGRATIONS

    db = sqlite3.connect(path)
    for script in MIGRATIONS[:5]:
        db.executescript(script)
    for url, error in feeds:
        db.execute("INSERT INTO feeds (url, first_polled_at, etag, last_error) VALUES (?, ?, ?, ?)",
                   (url, "2026-11-01T00:00:00+00:00", '"v7"', error))
    db.execute("PRAGMA user_version = 5")
    db.commit()
    db.close()


def test_an_older_ledger_keeps_no_feed_password_and_the_feed_keeps_its_history(tmp_path, clock):
    """Version 1 keyed a private feed by its real URL: the upgrade keys it by the display form,
    which is how the feed is polled now, so it is the same feed (validators kept), not a new one."""
    path = tmp_path / "old.db"
    real = "https://reader:s3cret@blog.example.com/feed.xml?key=k3y"
    _ledger_at_version_5(path, [(real, f"GET {real}: HTTP 503"), (FEED, None)])

    store = Store(path, clock=clock)
    state = store.feed_state("https://reader:****@blog.example.com/feed.xml?key=****")
    store.close()

    assert state.etag == '"v7"' and state.seen_before
    assert state.last_error == "GET https://reader:****@blog.example.com/feed.xml?key=****: HTTP 503"
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("old.db*"))
    assert b"s3cret" not in raw and b"k3y" not in raw


def test_an_older_row_whose_display_form_is_taken_keeps_its_history_apart(tmp_path, clock):
    path = tmp_path / "old.db"
    shown = "https://reader:****@blog.example.com/feed.xml"
    _ledger_at_version_5(path, [("https://reader:s3cret@blog.example.com/feed.xml", None), (shown, None)])
    store = Store(path, clock=clock)
    urls = [state.url for state in store.feed_states()]
    store.close()
    assert urls == [f"{shown} (recorded before feed passwords were masked, row 1)", shown]


def test_a_burst_queues_the_newest_and_holds_the_rest(store, clock):
    record(store, [post(1, clock)])
    flood = [post(n, clock, days_ago=n / 100) for n in range(10, 30)]
    queued = store.record_entries(
        FEED, RESULT, "Example", flood, platforms=("twitter",), backfill=0, max_age=timedelta(days=7), burst_limit=5)
    assert [p.key for p in queued] == [f"guid-{n}" for n in (14, 13, 12, 11, 10)]
    assert queued.burst == 15
    assert sum(1 for r in store.post_records(limit=0) if r.skipped == "burst") == 15
    assert store.bursts()[0][:2] == (FEED, 15)


def test_a_future_entry_is_due_at_its_date_and_sorted_by_when_it_was_seen(store, clock):
    record(store, [post(1, clock)])
    ahead = clock() + timedelta(days=2)
    soon = clock() + timedelta(minutes=9)
    record(store, [Post(feed_url=FEED, key="f", url="https://blog.example.com/f/", title="F", published=ahead),
                   Post(feed_url=FEED, key="s", url="https://blog.example.com/s/", title="S", published=soon)])
    due = {r.post.key: {d.next_attempt_at for d in r.deliveries} for r in store.post_records(limit=0)}
    assert due["f"] == {ahead} and due["s"] == {clock()}
    clock.advance(hours=1)
    record(store, [Post(feed_url=FEED, key="n", url="https://blog.example.com/n/", title="N", published=clock())])
    # Seen at the same moment, f and s sort by that moment, below a post that came later.
    assert [r.post.key for r in store.post_records(limit=3)] in (["n", "f", "s"], ["n", "s", "f"])


def test_a_sqlite_ledger_never_imports_the_postgresql_driver(tmp_path):
    """The `postgres` extra is optional: SQLite commands must not load (or need) psycopg."""
    import subprocess
    import sys

    code = ("import sys; from bot.store import Store; s = Store(sys.argv[1]); s.close();"
            " from bot.cli import main; sys.exit(1 if 'psycopg' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ledger.db")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr



def test_the_ledger_keeps_the_feeds_language_and_compose_carries_it(store, clock):

    from bot.compose import compose

    queued = record(store, [post(1, clock)._replace(language="de-DE"), post(2, clock)], backfill=2)
    stored = {p.key: store.get_post(p.id) for p in queued}
    assert {key: p.language for key, p in stored.items()} == {"guid-1": "de-DE", "guid-2": ""}
    assert store.find_post("https://blog.example.com/1/").language == "de-DE"
    assert compose(stored["guid-1"], "bluesky").language == "de-DE"
    assert compose(stored["guid-2"], "bluesky").language == ""


def test_status_on_an_older_ledger_says_a_writing_command_upgrades_it(tmp_path):
    from tests.conftest import run_cli, write_env

    _ledger_at_version_5(tmp_path / "old.db", [(FEED, None)])
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=FEED, AUTOPOST_DB=str(tmp_path / "old.db"))
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 1
    assert "is from an older autopost (schema 5, this one reads" in result.err
    assert "this command only reads it, so run one that writes (`autopost poll`) once to upgrade it" in result.err
    assert "read-only" not in result.err               # the file is writable: status only opens it so
