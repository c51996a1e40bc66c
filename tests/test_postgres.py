"""The ledger on PostgreSQL: leases, claims, shared pacing, migrations, the URL's secret, `ledger copy`.

Against a real server (tests/postgres.py); the store's own behaviour on both backends is
tests/test_store.py, parametrised.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import settings_from
from bot.delivery import Deliverer
from bot.models import FetchResult, Post
from bot.service import build_platforms
from bot.store import SCHEMA_VERSION, StorageError, Store, masked
from tests.conftest import network_env, run_cli, write_env

psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed: pip install -e '.[postgres]'")

FEED = "https://blog.example.com/feed/"
RESULT = FetchResult(url=FEED, status=200, body=b"x", etag='"v1"', body_hash="h1")
PASSWORD = "s3cret-Pg-pass"


def queue(store: Store, clock, n: int = 1, platforms=("twitter",)) -> list[Post]:
    """A feed seen before, then ``n`` new posts queued."""
    store.record_entries(FEED, RESULT, "Blog", [], platforms=platforms, backfill=0, max_age=None)
    posts = [Post(feed_url=FEED, key=f"p{i}", url=f"https://blog.example.com/{i}/", title=f"Article {i}",
                  published=clock() - timedelta(minutes=30 - i)) for i in range(n)]
    return store.record_entries(FEED, RESULT, "Blog", posts, platforms=platforms, backfill=0, max_age=None)


@pytest.fixture
def two(pg_url, clock):
    """Two services' stores on one ledger, each with its own name."""
    a = Store(pg_url, clock=clock, holder="host-a:1", lease=30)
    b = Store(pg_url, clock=clock, holder="host-b:2", lease=30)
    yield a, b
    a.close()
    b.close()


def test_a_feed_poll_is_leased_to_one_service_until_the_lease_expires(two, clock):
    a, b = two
    assert a.lease_feed(FEED, ttl=60)
    assert not b.lease_feed(FEED, ttl=60)           # a holds it
    assert a.lease_feed(FEED, ttl=60)               # its holder renews it
    clock.advance(seconds=61)                       # a died (or stopped polling): the lease lapses
    assert b.lease_feed(FEED, ttl=60)
    assert not a.lease_feed(FEED, ttl=60)
    assert [(kind, what, holder) for kind, what, holder, _ in a.leases()] == [("feed", FEED, "host-b:2")]


def test_sqlite_polls_are_not_leased_and_write_nothing(tmp_path, clock):
    store = Store(tmp_path / "ledger.db", clock=clock)
    assert store.lease_feed(FEED) and store.lease_feed(FEED, holder="other:1")
    assert store.feed_states() == []
    store.close()


def test_a_row_another_service_is_claiming_is_skipped_not_waited_for(two, clock, pg_url):
    a, b = two
    queue(a, clock, 2)
    first, second = a.deliveries(states=("pending",))
    with psycopg.connect(pg_url) as other:                # another service, mid-claim: holds the row
        other.execute("SELECT id FROM deliveries WHERE id = %s FOR UPDATE", (first.id,))
        assert b.claim(first.id) is None                 # at once: SKIP LOCKED, no wait for the lock
        assert b.claim(second.id).state == "sending"
    claimed = a.claim(first.id)
    assert claimed.state == "sending" and claimed.attempts == 1
    assert a.claim(first.id) is None and b.claim(first.id) is None


def test_a_claim_carries_its_holder_and_an_expired_one_goes_to_exactly_one_service(two, clock, pg_url):
    a, b = two
    c = Store(pg_url, clock=clock, holder="host-c:3", lease=30)
    queue(a, clock, 1)
    delivery = a.deliveries(states=("pending",))[0]
    a.claim(delivery.id)
    assert [(kind, holder) for kind, _, holder, _ in b.leases()] == [("delivery", "host-a:1")]
    assert b.interrupted() == [] and c.interrupted() == []      # a is alive as far as anyone knows
    clock.advance(seconds=31)
    taken = b.interrupted()
    assert [d.id for d in taken] == [delivery.id]
    assert c.interrupted() == []                                  # b reconciles it, not c too
    assert [holder for _, _, holder, _ in c.leases()] == ["host-b:2"]
    b.release([delivery.id], detail="retrying")
    assert b.get_delivery(delivery.id).state == "pending" and b.leases() == []
    c.close()


def test_sqlite_recovery_still_takes_every_sending_row(tmp_path, clock):
    store = Store(tmp_path / "ledger.db", clock=clock)
    queue(store, clock, 1)
    delivery = store.deliveries(states=("pending",))[0]
    store.claim(delivery.id)
    assert [d.id for d in store.interrupted()] == [delivery.id]     # no lease to wait for: one service
    store.close()


def test_a_dead_services_delivery_is_reconciled_by_another_as_start_up_recovery_does(
        pg_url, clock, fake_x, fake_graph):
    settings = settings_from({"AUTOPOST_FEEDS": FEED, "AUTOPOST_DB": pg_url, "AUTOPOST_PLATFORMS": "twitter,facebook",
                              **network_env(fake_x=fake_x, fake_graph=fake_graph)})
    dead = Store(pg_url, clock=clock, holder="gone:1", lease=30)
    queue(dead, clock, 1, platforms=("twitter", "facebook"))
    for delivery in dead.deliveries(states=("pending",)):
        dead.claim(delivery.id)
    dead.close()                                      # ... and never finished: the process died
    fake_graph.fail_next(500, http_status=500, times=5)      # Facebook's page cannot be read just now
    alive = Store(pg_url, clock=clock, holder="alive:2", lease=30)
    deliverer = Deliverer(alive, settings, build_platforms(settings, clock=clock), clock=clock)
    assert deliverer.recover() == []                  # the leases have not expired: hands off
    clock.advance(seconds=31)
    outcomes = {d.platform: state for d, state in deliverer.recover()}
    # X rejects duplicates itself: retry. Facebook accepts the same link twice and could not be
    # checked: uncertain, for the owner to decide. Exactly what start-up recovery does.
    assert outcomes == {"twitter": "pending", "facebook": "uncertain"}
    assert deliverer.recover() == []
    deliverer.run_due()
    assert len(fake_x.posts) == 1 and fake_graph.posts == []
    alive.close()


def test_min_gap_holds_across_services(pg_url, clock):
    a = Store(pg_url, clock=clock, holder="a:1", lease=30)
    b = Store(pg_url, clock=clock, holder="b:2", lease=30)
    queue(a, clock, 3)
    first, second, third = a.deliveries(states=("pending",))
    assert a.claim(first.id, min_gap=60)
    assert b.claim(second.id, min_gap=60) is None        # a is sending to that network now
    a.finish(first.id, "sent", outcome="sent")
    clock.advance(seconds=30)
    assert b.claim(second.id, min_gap=60) is None        # 30 s after a's post: too soon
    clock.advance(seconds=31)
    assert b.claim(second.id, min_gap=60).state == "sending"
    b.finish(second.id, "sent", outcome="sent")
    clock.advance(hours=1)
    assert a.claim(third.id, daily_cap=2) is None        # two today, whichever service sent them
    assert a.claim(third.id).state == "sending"          # a manual or uncapped claim is not paced
    a.close()
    b.close()


def test_services_starting_together_on_an_empty_database_migrate_it_once(pg_url, clock):
    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_one() -> None:
        try:
            stores.append(Store(pg_url, clock=clock))
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [s.schema_version() for s in stores] == [SCHEMA_VERSION] * 4
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    for store in stores:
        store.close()


def with_password(url: str, password: str = PASSWORD) -> str:
    return url.replace("postgres@", f"postgres:{password}@", 1)


def test_the_urls_password_is_a_secret_in_settings_and_is_masked_when_shown(pg_url):
    url = with_password(pg_url)
    settings = settings_from({"AUTOPOST_FEEDS": FEED, "AUTOPOST_DB": url})
    assert settings.db_url == url and PASSWORD in settings.secrets()
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in settings.ledger and "postgres:****@" in settings.ledger
    assert masked(url) == settings.ledger


@pytest.mark.parametrize("url", [
    "postgresql://u:s3cr%40t@[zz/autopost",                 # a bracket the URL parser refuses
    "postgresql://u:s3cr%40t@db.example:notaport/autopost",  # a port that is no number
])
def test_a_malformed_postgresql_url_is_a_configuration_error_that_masks_its_password(tmp_path, url):
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, AUTOPOST_DB=url)
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 2
    assert "AUTOPOST_DB: the PostgreSQL URL is not a valid URL" in result.err
    assert "s3cr" not in result.out + result.err
    assert "s3cr" not in masked(url) and "u:****@" in masked(url)


def test_libpq_multi_host_urls_are_accepted():
    settings = settings_from({"AUTOPOST_FEEDS": FEED, "AUTOPOST_DB": "postgresql://u:s3cret@h1:5432,h2:5433/autopost"})
    assert "s3cret" in settings.secrets() and "s3cret" not in settings.ledger


def test_a_password_given_as_a_parameter_is_masked_too():
    url = "postgresql://db.example/autopost?user=u&password=s3cret"
    assert "s3cret" in settings_from({"AUTOPOST_FEEDS": FEED, "AUTOPOST_DB": url}).secrets()
    assert "s3cret" not in masked(url)


def test_a_driver_error_never_shows_the_password(pg_server):
    dead = with_password(pg_server).rsplit(":", 1)[0] + ":1/postgres"    # nothing listens on port 1
    with pytest.raises(StorageError) as caught:
        Store(dead)
    assert PASSWORD not in str(caught.value) and "****" in str(caught.value)


def test_status_and_errors_mask_the_password(tmp_path, pg_url, pg_server):
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, AUTOPOST_DB=with_password(pg_url))
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 0, result.err
    assert PASSWORD not in result.out + result.err
    assert "no service holds a feed or a delivery now" in result.out
    env = write_env(tmp_path / "dead.env", AUTOPOST_FEEDS=FEED,
                    AUTOPOST_DB=with_password(pg_server).rsplit(":", 1)[0] + ":1/postgres")
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 1
    assert PASSWORD not in result.out + result.err and "****" in result.err


def test_status_names_the_service_holding_a_delivery(tmp_path, pg_url, clock):
    store = Store(pg_url, holder="worker-7:4242")
    queue(store, clock, 1)
    store.claim(store.deliveries(states=("pending",))[0].id)
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, AUTOPOST_DB=pg_url)
    result = run_cli("--env-file", str(env), "status")
    assert "delivery twitter https://blog.example.com/0/: held by worker-7:4242 until" in result.out
    store.close()


def test_status_json_names_the_services_holding_feeds_and_deliveries(tmp_path, pg_url, clock):
    store = Store(pg_url, holder="worker-7:4242")
    queue(store, clock, 1)
    store.claim(store.deliveries(states=("pending",))[0].id)
    other = Store(pg_url, holder="worker-9:99")
    assert other.lease_feed(FEED, ttl=600)
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, AUTOPOST_DB=pg_url)
    result = run_cli("--env-file", str(env), "status", "--json")
    assert result.code == 0, result.err
    leases = json.loads(result.out)["leases"]
    assert [{k: v for k, v in lease.items() if k != "until"} for lease in leases] == [
        {"kind": "delivery", "platform": "twitter", "url": "https://blog.example.com/0/", "holder": "worker-7:4242"},
        {"kind": "feed", "url": FEED, "holder": "worker-9:99"}]
    assert all(datetime.fromisoformat(lease["until"]) > datetime.now(timezone.utc) for lease in leases)
    other.close()
    store.close()


def test_status_json_of_a_sqlite_ledger_has_no_leases(tmp_path):
    """The key is there on both ledgers; one SQLite ledger has one service and no leases."""
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, AUTOPOST_DB=str(tmp_path / "ledger.db"))
    Store(tmp_path / "ledger.db").close()
    result = run_cli("--env-file", str(env), "status", "--json")
    assert json.loads(result.out)["leases"] == []


def test_ledger_copy_moves_the_history_to_postgresql_and_back(tmp_path, pg_url, clock):
    source = tmp_path / "ledger.db"
    store = Store(source, clock=clock)
    queue(store, clock, 3, platforms=("twitter", "facebook"))
    first = store.deliveries(states=("pending",))[0]
    store.claim(first.id)
    store.finish(first.id, "sent", outcome="sent", detail="https://x.com/i/1")
    store.set_network_state("facebook", "blocked", "token revoked")
    before = store.post_records(limit=0)
    store.close()

    result = run_cli("ledger", "copy", str(source), pg_url)
    assert result.code == 0, result.err
    assert "3 posts, 6 deliveries" in result.out
    moved = Store(pg_url, clock=clock)
    assert moved.post_records(limit=0) == before
    assert moved.network_state("facebook").reason == "token revoked"
    assert moved.attempts(first.post_id)[0].detail == "https://x.com/i/1"
    # New rows after the copy get new ids: the identity columns continue after the copied ones.
    later = moved.add_manual_delivery(first.post_id, "twitter")
    assert later.id == 7
    moved.close()

    back = tmp_path / "back.db"
    assert run_cli("ledger", "copy", pg_url, str(back)).code == 0
    again = Store(back, clock=clock)
    assert len(again.post_records(limit=0)) == 3
    assert again.get_delivery(7).kind == "manual"
    again.close()


def test_ledger_copy_refuses_a_destination_that_holds_anything(tmp_path, pg_url, clock):
    source = tmp_path / "ledger.db"
    store = Store(source, clock=clock)
    queue(store, clock, 1)
    store.close()
    assert run_cli("ledger", "copy", str(source), pg_url).code == 0
    result = run_cli("ledger", "copy", str(source), pg_url)
    assert result.code == 1 and "is not empty" in result.err
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT COUNT(*) FROM posts").fetchone() == (1,)
    # ... and a SQLite destination the same way.
    assert run_cli("ledger", "copy", pg_url, str(source)).code == 1
    assert sqlite3.connect(source).execute("SELECT COUNT(*) FROM posts").fetchone() == (1,)


def test_ledger_copy_hides_the_password_and_needs_no_configuration(tmp_path, pg_server):
    missing = tmp_path / "none.db"
    result = run_cli("ledger", "copy", with_password(pg_server).rsplit(":", 1)[0] + ":1/postgres", str(missing))
    assert result.code == 1 and PASSWORD not in result.out + result.err
    assert run_cli("ledger", "copy", str(missing), str(tmp_path / "x.db")).code != 0


def test_two_services_record_new_entries_one_at_a_time(two, clock, pg_url):
    """The same article in two feeds, recorded by two services at once, is still one post."""
    a, b = two
    other = "https://blog.example.com/category/news/feed/"
    for store, url in ((a, FEED), (b, other)):
        store.record_entries(url, RESULT, "Blog", [], platforms=("twitter",), backfill=0, max_age=None)
    article = Post(feed_url=FEED, key="p1", url="https://blog.example.com/1/", title="Article 1",
                   published=clock() - timedelta(minutes=5))
    done: list = []
    with psycopg.connect(pg_url) as holder:           # a third service is recording right now
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (Store._RECORD_LOCK,))
        threads = [threading.Thread(target=lambda s=s, u=u: done.append(
            s.record_entries(u, RESULT, "Blog", [article._replace(feed_url=u)], platforms=("twitter",),
                             backfill=0, max_age=None))) for s, u in ((a, FEED), (b, other))]
        for thread in threads:
            thread.start()
        threads[0].join(0.3)
        assert done == []                              # both wait for the recorder before them
    for thread in threads:
        thread.join(10)
    assert sorted(len(queued) for queued in done) == [0, 1]
    assert len(a.deliveries(states=("pending",))) == 1


def test_a_network_that_takes_duplicates_gets_one_post_at_a_time_until_a_crash_is_reconciled(two, clock):
    """Facebook's lookup sees its Page's recent posts only: nothing may bury a post cut short by a crash."""
    a, b = two
    queue(a, clock, 2, platforms=("facebook",))
    first, second = a.deliveries(states=("pending",))
    assert a.claim(first.id, exclusive=True)
    assert b.claim(second.id, exclusive=True) is None      # a is posting to the Page
    clock.advance(minutes=10)                              # a died: its lease expired ...
    assert b.claim(second.id, exclusive=True) is None      # ... but its post is not reconciled yet
    assert [d.id for d in b.interrupted()] == [first.id]
    b.finish(first.id, "sent", outcome="sent", detail="found on the network after a crash")
    assert b.claim(second.id, exclusive=True).state == "sending"


def test_a_dry_run_reads_a_copy_of_the_shared_ledger_and_writes_nothing(pg_url, clock):
    store = Store(pg_url, clock=clock)
    queue(store, clock, 2)
    scratch = Store.scratch_of(pg_url, clock=clock)
    assert not scratch.shared and len(scratch.post_records(limit=0)) == 2
    delivery = scratch.deliveries(states=("pending",))[0]
    scratch.claim(delivery.id)
    scratch.close()
    assert store.get_delivery(delivery.id).state == "pending"       # the real ledger is untouched
    store.close()


def test_healthz_on_a_shared_ledger_asks_the_server(pg_url, pg_server, clock):
    from bot.health import Health

    settings = settings_from({"AUTOPOST_FEEDS": FEED, "AUTOPOST_DB": pg_url})
    store = Store(pg_url, clock=clock)
    assert Health(settings, store, clock=clock, running=lambda: True).problem() is None
    store._db.raw.close()                           # the server went away
    problem = Health(settings, store, clock=clock, running=lambda: True).problem()
    assert problem and "the ledger postgresql://" in problem
