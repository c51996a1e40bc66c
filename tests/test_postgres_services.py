"""Several `autopost run` on one PostgreSQL ledger: each post once on each network, the work shared.

Real processes, a real PostgreSQL server (tests/postgres.py), the fake networks over HTTP
behind a proxy that makes every post take a little while, as a real network does: so
each service has calls in flight, and a SIGKILL lands in the middle of them.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import network_env, run_cli, wait_for, write_env
from tests.fakes.feed import rss_feed
from tests.fakes.holding_proxy import HoldingProxy

NOW = datetime.now(timezone.utc)
OLD = {"title": "Old article", "link": "https://blog.example.com/old/", "guid": "old",
       "pubDate": NOW - timedelta(hours=5), "description": "Old."}
COUNT = 60


def new_posts() -> list[dict]:
    return [{"title": f"Article number {n}", "link": f"https://blog.example.com/p/{n}/", "guid": f"p{n}",
             "pubDate": NOW - timedelta(minutes=60 - n), "description": f"Body {n}."} for n in range(COUNT)]


class SlowProxy(HoldingProxy):
    """Every POST answers ``delay`` seconds after the network took it."""

    delay = 0.06

    def _take_hold(self, method: str, path: str) -> bool:
        if method == "POST":
            time.sleep(self.delay)
        return super()._take_hold(method, path)


@pytest.fixture
def proxies(fake_x, fake_linkedin, fake_graph):
    made = {name: SlowProxy(fake.base_url) for name, fake in
            (("twitter", fake_x), ("linkedin", fake_linkedin), ("facebook", fake_graph))}
    yield made
    for proxy in made.values():
        proxy.close()


@pytest.fixture
def env_file(tmp_path, pg_url, feed_server, fake_x, fake_linkedin, fake_graph, proxies):
    values = network_env(fake_x, fake_linkedin, fake_graph)
    values.update(TWITTER_API_BASE=proxies["twitter"].base_url, LINKEDIN_API_BASE=proxies["linkedin"].base_url,
                  FACEBOOK_GRAPH_BASE=proxies["facebook"].base_url)
    feed_server.serve("/feed.xml", rss_feed([OLD]))
    path = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=pg_url,
                         AUTOPOST_POLL_INTERVAL="1", AUTOPOST_REQUEST_TIMEOUT="1", AUTOPOST_BURST_LIMIT="0",
                         AUTOPOST_PLATFORMS="twitter,linkedin,facebook", **values))
    assert run_cli("--env-file", path, "poll").code == 0          # first sight: nothing posted
    return path


def start_services(env_file: str, tmp_path: Path, count: int = 3) -> list[tuple[subprocess.Popen, Path]]:
    services = []
    for number in range(count):
        log = tmp_path / f"service-{number}.log"
        with open(log, "w") as sink:
            services.append((subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, "run"],
                                              stdout=subprocess.DEVNULL, stderr=sink), log))
    return services


def stop_services(services) -> None:
    for process, _ in services:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _ in services:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sent_lines(log: Path) -> int:
    return sum(1 for line in log.read_text(errors="replace").splitlines() if " sent https://" in line)


def once_each(fake_x, fake_linkedin, fake_graph) -> dict[str, list[int]]:
    """Per network: how many times each of the new posts is on it."""
    texts = {"twitter": [str(p) for p in fake_x.posts], "linkedin": [str(p) for p in fake_linkedin.posts],
             "facebook": [str(p) for p in fake_graph.posts]}
    return {name: [sum(f"/p/{n}/" in text for text in values) for n in range(COUNT)]
            for name, values in texts.items()}


def ledger_rows(pg_url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(pg_url) as db:
        return db.execute(sql).fetchall()


def all_delivered(fake_x, fake_linkedin, fake_graph) -> bool:
    return len(fake_x.posts) >= COUNT and len(fake_linkedin.posts) >= COUNT and len(fake_graph.posts) >= COUNT


def test_three_services_deliver_every_post_once_on_every_network_and_share_the_work(
        env_file, tmp_path, pg_url, feed_server, fake_x, fake_linkedin, fake_graph):
    services = start_services(env_file, tmp_path)
    try:
        wait_for(lambda: all("autopost starting" in log.read_text() for _, log in services))
        feed_server.serve("/feed.xml", rss_feed([*reversed(new_posts()), OLD]))
        wait_for(lambda: all_delivered(fake_x, fake_linkedin, fake_graph), 60)
        wait_for(lambda: not ledger_rows(pg_url, "SELECT id FROM deliveries WHERE state = 'sending'"))
        time.sleep(1.5)                      # a second chance for any service to post twice
    finally:
        stop_services(services)
    counts = once_each(fake_x, fake_linkedin, fake_graph)
    assert counts == {name: [1] * COUNT for name in counts}
    assert ledger_rows(pg_url, "SELECT state, COUNT(*) FROM deliveries GROUP BY state") == [("sent", 3 * COUNT)]
    shares = [sent_lines(log) for _, log in services]
    assert sum(shares) == 3 * COUNT
    assert all(share > 0 for share in shares), shares          # every service took part


def test_a_service_killed_mid_delivery_leaves_nothing_sending_and_nothing_twice(
        env_file, tmp_path, pg_url, feed_server, fake_x, fake_linkedin, fake_graph):
    services = start_services(env_file, tmp_path)
    victim, victim_log = services[0]
    try:
        wait_for(lambda: all("autopost starting" in log.read_text() for _, log in services))
        feed_server.serve("/feed.xml", rss_feed([*reversed(new_posts()), OLD]))
        wait_for(lambda: sent_lines(victim_log) >= 3, 30)
        # Killed at a moment it holds a call (each takes 0.06 s at the proxy): a loaded machine
        # can otherwise land the kill between two of its passes, with nothing in flight.
        wait_for(lambda: ledger_rows(pg_url, f"SELECT id FROM deliveries WHERE state = 'sending'"
                                             f" AND lease_holder LIKE '%:{victim.pid}'"), 30)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        orphaned = ledger_rows(pg_url, f"SELECT id FROM deliveries WHERE state = 'sending'"
                                       f" AND lease_holder LIKE '%:{victim.pid}'")
        wait_for(lambda: all_delivered(fake_x, fake_linkedin, fake_graph), 60)
        # The killed service's leases expire (2 x request timeout + 5 s), then the others reconcile them.
        wait_for(lambda: not ledger_rows(pg_url, "SELECT id FROM deliveries WHERE state <> 'sent'"), 40)
        time.sleep(1.5)
    finally:
        stop_services(services)
    counts = once_each(fake_x, fake_linkedin, fake_graph)
    assert counts == {name: [1] * COUNT for name in counts}
    assert ledger_rows(pg_url, "SELECT state, COUNT(*) FROM deliveries GROUP BY state") == [("sent", 3 * COUNT)]
    assert orphaned, "the kill should land while the service had a call in flight"
    recovered = sum(log.read_text().count("recovered interrupted delivery") for _, log in services[1:])
    assert recovered >= len(orphaned)


def test_two_services_starting_at_once_on_an_empty_database_migrate_it_once(
        tmp_path, pg_url, feed_server):
    from bot.store import SCHEMA_VERSION

    feed_server.serve("/feed.xml", rss_feed([OLD]))
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=pg_url,
                             AUTOPOST_POLL_INTERVAL="1", AUTOPOST_PLATFORMS="console"))
    services = start_services(env_file, tmp_path, count=2)
    try:
        wait_for(lambda: all("autopost starting" in log.read_text() for _, log in services))
        assert all(process.poll() is None for process, _ in services)
    finally:
        stop_services(services)
    assert ledger_rows(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    for _, log in services:
        assert "Traceback" not in log.read_text() and "ERROR" not in log.read_text()
