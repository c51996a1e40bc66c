#!/usr/bin/env python3
"""autopost benchmark (issue 16): the ledger on PostgreSQL next to SQLite, with 1 and 3 services.

Run from the repository root, after ``pip install -e '.[test,postgres]'``::

    .venv/bin/python bench/postgres_bench.py            # 3,000 feeds, 3,000 claims; about 2 minutes
    .venv/bin/python bench/postgres_bench.py --quick    # 500 feeds, 500 claims

It uses the PostgreSQL server named by ``AUTOPOST_TEST_PG`` (a URL), else starts a
throw-away one as the tests do (tests/postgres.py), with fsync off: the figures are the
ledger's own cost, not a disk's. Each "service" is a separate process with its own
ledger connection, as `autopost run` is. Two measures:

* **claims per second**: N pending deliveries; every service walks the due list in the
  same order, as a delivery lane does, and claims and finishes each one it can get
  (``Store.claim``: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` and a lease). Counted: the
  claims that succeeded, all services together, per second of wall time.
* **a poll cycle of F unchanged feeds** (the feed server answers 304): every service polls
  every configured feed (bench/run.py's feed server and Poller, 8 fetch workers each);
  on PostgreSQL each feed's poll is leased, so a feed is fetched by one service only.
  Measured: the wall time until every service finished its cycle, and the fetches the
  feed server saw.

Prints a table (the README's "Running several services" has one) and writes
``bench/postgres_results.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
for entry in (str(REPO), str(REPO / "bench")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import run as base  # noqa: E402  bench/run.py: the feed server, feed bodies, settings

FEED_ENTRIES = 5             # entries per feed: the cycle measures polls, not parsing


# =========================================================================== helpers

def new_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def run_services(count: int, target, args: tuple) -> list:
    """Run ``target(number, barrier, queue, *args)`` in ``count`` processes; their results."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count + 1)
    queue = context.Queue()
    processes = [context.Process(target=target, args=(number, barrier, queue, *args)) for number in range(count)]
    for process in processes:
        process.start()
    barrier.wait()
    results = [queue.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return results


# =========================================================================== claims

def seed_deliveries(target: str, count: int) -> None:
    from datetime import datetime, timedelta, timezone

    from bot.models import FetchResult, Post
    from bot.store import Store

    store = Store(target)
    feed = "https://blog.example.com/feed/"
    result = FetchResult(url=feed, status=200)
    store.record_entries(feed, result, "Blog", [], platforms=("console",), backfill=0, max_age=None)
    now = datetime.now(timezone.utc)
    posts = [Post(feed_url=feed, key=f"p{i}", url=f"https://blog.example.com/{i}/", title=f"Article {i}",
                  published=now - timedelta(seconds=count - i)) for i in range(count)]
    store.record_entries(feed, result, "Blog", posts, platforms=("console",), backfill=0, max_age=None)
    store.close()


def claim_worker(number: int, barrier, queue, target: str) -> None:
    from bot.models import Published
    from bot.store import Store

    store = Store(target, holder=f"bench:{number}")
    due = store.deliveries(states=("pending",), platform="console")
    barrier.wait()
    start = time.perf_counter()
    claimed = 0
    for delivery in due:
        if store.claim(delivery.id) is None:
            continue                                 # another service has it
        store.finish(delivery.id, "sent", outcome="sent", published=Published(remote_id=str(delivery.id)))
        claimed += 1
    queue.put({"claimed": claimed, "start": start, "end": time.perf_counter()})
    store.close()


def bench_claims(target: str, services: int, count: int) -> dict:
    seed_deliveries(target, count)
    results = run_services(services, claim_worker, (target,))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    claimed = sum(r["claimed"] for r in results)
    if claimed != count:
        raise RuntimeError(f"{claimed} claims for {count} deliveries")
    return {"claims": claimed, "wall_s": wall, "per_s": claimed / wall,
            "per_service": [r["claimed"] for r in results]}


# =========================================================================== poll cycle

def seed_feeds(db: Path, server, urls: list[str]) -> None:
    """Every feed recorded as a first poll would, without 3,000 parses (as bench/run.py seeds)."""
    from bot import feeds
    from bot.models import FetchResult
    from bot.store import Store

    store = Store(db)
    template = feeds.parse(base.feed_body(0, server.gen, FEED_ENTRIES, server.t0), feed_url=urls[0]).posts

    def rename(text, fid):
        return text.replace("blog0.example.com", f"blog{fid}.example.com") if text else text

    for fid, url in enumerate(urls):
        body = base.feed_body(fid, server.gen, FEED_ENTRIES, server.t0)
        posts = [p._replace(feed_url=url, key=rename(p.key, fid), url=rename(p.url, fid),
                         image_url=rename(p.image_url, fid), feed_title=f"Bench Blog {fid}") for p in template]
        store.record_entries(url, FetchResult(url=url, status=200, body=body,
                                              etag=base.feed_etag(fid, server.gen, FEED_ENTRIES),
                                              body_hash=hashlib.sha256(body).hexdigest()),
                             f"Bench Blog {fid}", posts, platforms=("console",), backfill=0, max_age=None)
    store.close()


def poll_worker(number: int, barrier, queue, target: str, urls: list[str]) -> None:
    from bot.store import Store

    settings = base.make_settings(urls, Path("unused.db"), AUTOPOST_DB=target)
    store = Store(target, holder=f"bench:{number}")
    poller = base.PollerApi(settings, store)
    barrier.wait()
    start = time.perf_counter()
    outcomes = poller.cycle()
    end = time.perf_counter()
    queue.put({"start": start, "end": end, "errors": sum(1 for o in outcomes if o.error)})
    poller.close()
    store.close()


def bench_cycle(target: str, services: int, server, urls: list[str]) -> dict:
    before = server.set()["requests"]
    results = run_services(services, poll_worker, (target, urls))
    fetched = server.set()["requests"] - before
    if any(r["errors"] for r in results):
        raise RuntimeError(f"poll errors: {results}")
    return {"wall_s": max(r["end"] for r in results) - min(r["start"] for r in results), "fetches": fetched}


# =========================================================================== main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 feeds and 500 claims")
    parser.add_argument("--json", default=str(REPO / "bench" / "postgres_results.json"))
    args = parser.parse_args()
    feeds_n = claims_n = 500 if args.quick else 3000

    from tests import postgres

    pg_home = None
    pg = os.environ.get("AUTOPOST_TEST_PG")
    if not pg:
        pg, pg_home = postgres.start()
    postgres.wait_ready(pg)
    tmp = Path(tempfile.mkdtemp(prefix="autopost-pgbench-"))
    server = base.FeedServerProc(int(time.time()) - 86400)
    results: dict = {"feeds": feeds_n, "claims": claims_n, "machine": base.machine()}
    try:
        from bot.store import Store, copy_ledger

        rows = []
        claims = {}
        base.say("claims: SQLite, 1 service")
        claims["sqlite-1"] = bench_claims(str(tmp / "claims.db"), 1, claims_n)
        for services in (1, 3):
            base.say(f"claims: PostgreSQL, {services} service(s)")
            claims[f"postgres-{services}"] = bench_claims(new_database(pg, f"bench_claims_{services}"), services,
                                                          claims_n)
        results["claims_per_s"] = claims

        urls = [server.url(fid, FEED_ENTRIES) for fid in range(feeds_n)]
        seeded = tmp / "feeds.db"
        base.say(f"seeding {feeds_n} feeds")
        seed_feeds(seeded, server, urls)
        cycles = {}
        sqlite_db = tmp / "cycle.db"
        sqlite_db.write_bytes(seeded.read_bytes())
        base.say("poll cycle: SQLite, 1 service")
        bench_cycle(str(sqlite_db), 1, server, urls)                 # warm: sessions, page cache
        cycles["sqlite-1"] = bench_cycle(str(sqlite_db), 1, server, urls)
        for services in (1, 3):
            target = new_database(pg, f"bench_cycle_{services}")
            source, destination = Store(seeded), Store(target)
            copy_ledger(source, destination)
            source.close()
            destination.close()
            base.say(f"poll cycle: PostgreSQL, {services} service(s)")
            cycles[f"postgres-{services}-first"] = bench_cycle(target, services, server, urls)
            # The next cycle: the leases of the first have run out (as after a poll interval).
            new_database_leases_expire(target)
            cycles[f"postgres-{services}"] = bench_cycle(target, services, server, urls)
        results["poll_cycle"] = cycles

        for key, label in (("sqlite-1", "SQLite, 1 service"), ("postgres-1", "PostgreSQL, 1 service"),
                           ("postgres-3", "PostgreSQL, 3 services")):
            rows.append((label, f"{claims[key]['per_s']:,.0f}",
                         f"{cycles[key]['wall_s']:.2f} s ({cycles[key]['fetches']:,} fetches)"))
        print(f"| ledger | claims per second ({claims_n:,} deliveries) | poll cycle, {feeds_n:,} unchanged feeds |")
        print("|---|---|---|")
        for row in rows:
            print(f"| {' | '.join(row)} |")
        print(f"claims per service with 3 services: {claims['postgres-3']['per_service']}")
        Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if pg_home is not None:
            postgres.stop(pg_home)
    return 0


def new_database_leases_expire(target: str) -> None:
    import psycopg

    with psycopg.connect(target, autocommit=True) as db:
        db.execute("UPDATE feeds SET lease_until = '2000-01-01T00:00:00+00:00'")


if __name__ == "__main__":
    sys.exit(main())
