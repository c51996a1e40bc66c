"""`autopost run` and `poll` when a feed or a network stalls: each holds only itself, and
SIGTERM / Ctrl-C stop the process within AUTOPOST_SHUTDOWN_GRACE, without a traceback.

The stalls are real loopback servers that trickle one byte every 0.2 s; the service is
a real process, as systemd runs it.
"""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import network_env, run_cli, wait_for, write_env
from tests.fakes.feed import rss_feed
from tests.fakes.trickle import TrickleServer

NOW = datetime.now(timezone.utc)
GRACE = 2.0


def item(n: int, minutes_ago: float) -> dict:
    return {"title": f"Article {n}", "link": f"https://blog.example.com/{n}/", "guid": f"post-{n}",
            "pubDate": NOW - timedelta(minutes=minutes_ago), "description": f"Summary {n}."}


def start(env_file, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "--env-file", str(env_file), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(service: subprocess.Popen, sig=signal.SIGTERM) -> tuple[float, str]:
    """Signal the process; return how long it took to exit and its stderr."""
    began = time.monotonic()
    service.send_signal(sig)
    try:
        _, err = service.communicate(timeout=GRACE + 5)
    finally:
        service.kill()
    return time.monotonic() - began, err


@pytest.fixture
def trickling():
    server = TrickleServer(mode="body", content_type="application/json")
    try:
        yield server
    finally:
        server.close()


def delivery_states(db) -> dict[tuple[str, str], str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT p.url, d.platform, d.state FROM deliveries d JOIN posts p ON p.id = d.post_id")
        return {(url, platform): state for url, platform, state in rows}


def test_a_hanging_feed_delays_no_other_feed_and_sigterm_still_stops_in_time(tmp_path, feed_server, trickling):
    trickling.content_type = "application/rss+xml"
    feed_server.serve("/feed.xml", rss_feed([item(1, 60)]))
    db = tmp_path / "ledger.db"
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=f"{trickling.url('/feed.xml')} {feed_server.url()}",
                    AUTOPOST_DB=str(db), AUTOPOST_POLL_INTERVAL="1", AUTOPOST_REQUEST_TIMEOUT="60",
                    AUTOPOST_SHUTDOWN_GRACE=str(GRACE), AUTOPOST_PLATFORMS="console")
    service = start(env, "run")
    try:
        wait_for(lambda: trickling.requests and len(feed_server.requests) >= 1)
        wait_for(lambda: db.exists() and delivery_states(db) == {} and len(feed_server.requests) >= 2)
        feed_server.serve("/feed.xml", rss_feed([item(2, 1), item(1, 60)]))
        appeared = time.monotonic()
        # One poll interval (1 s + jitter) plus delivery; the hanging feed holds its 60 s alone.
        wait_for(lambda: delivery_states(db).get(("https://blog.example.com/2/", "console")) == "sent",
                 seconds=10)
        assert time.monotonic() - appeared < 1.1 + 3
        assert len(trickling.requests) == 1, "the hanging feed is still on its first fetch"
    finally:
        took, err = stop(service)
    assert service.returncode == 0, err
    assert took < GRACE + 1.5, err
    assert "Traceback" not in err and "JobLookupError" not in err
    assert "autopost stopped" in err or "still running at shutdown" in err


def test_a_hanging_feed_shows_as_a_feed_error_once_its_deadline_passes(tmp_path, feed_server, trickling):
    trickling.content_type = "application/rss+xml"
    feed_server.serve("/feed.xml", rss_feed([item(1, 60)]))
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=f"{trickling.url('/feed.xml')} {feed_server.url()}",
                    AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1h",
                    AUTOPOST_REQUEST_TIMEOUT="1", AUTOPOST_SHUTDOWN_GRACE=str(GRACE), AUTOPOST_PLATFORMS="console")
    service = start(env, "run")
    try:
        def feed_error() -> str:
            status = run_cli("--env-file", str(env), "status", "--json")
            feeds = json.loads(status.out)["feeds"] if status.out.strip().startswith("{") else []
            return " ".join(str(f.get("error") or "") for f in feeds)

        wait_for(lambda: "timed out after 1 s" in feed_error(), seconds=10)
    finally:
        took, err = stop(service)
    assert service.returncode == 0, err


def test_a_trickling_network_delays_no_other_network(tmp_path, feed_server, trickling, fake_linkedin, fake_graph):
    feed_server.serve("/feed.xml", rss_feed([item(1, 60)]))
    values = network_env(None, fake_linkedin, fake_graph)
    from tests.fakes import twitter
    values.update(TWITTER_API_BASE=trickling.base_url, TWITTER_API_KEY=twitter.CREDENTIALS["api_key"],
                  TWITTER_API_SECRET=twitter.CREDENTIALS["api_secret"],
                  TWITTER_ACCESS_TOKEN=twitter.CREDENTIALS["access_token"],
                  TWITTER_ACCESS_TOKEN_SECRET=twitter.CREDENTIALS["access_token_secret"])
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                    AUTOPOST_POLL_INTERVAL="1", AUTOPOST_REQUEST_TIMEOUT="60", AUTOPOST_SHUTDOWN_GRACE=str(GRACE),
                    **values)
    service = start(env, "run")
    try:
        wait_for(lambda: len(feed_server.requests) >= 1)
        feed_server.serve("/feed.xml", rss_feed([item(2, 2), item(1, 60)]))
        wait_for(lambda: fake_linkedin.posts and fake_graph.posts)
        wait_for(lambda: any(b"/2/tweets" in r for r in trickling.requests))    # X now holds article 2
        feed_server.serve("/feed.xml", rss_feed([item(3, 1), item(2, 2), item(1, 60)]))
        appeared = time.monotonic()
        wait_for(lambda: len(fake_linkedin.posts) == 2 and len(fake_graph.posts) == 2, seconds=10)
        assert time.monotonic() - appeared < 1.1 + 3
    finally:
        took, err = stop(service)
    # SIGTERM with X's answer still trickling: stopped within the grace, no traceback.
    assert service.returncode == 0, err
    assert took < GRACE + 1.5, err
    assert "Traceback" not in err


@pytest.mark.parametrize("feeds", [1, 3])
def test_ctrl_c_stops_poll_within_the_grace_with_one_line(tmp_path, trickling, feeds):
    trickling.content_type = "application/rss+xml"
    # Three feeds, two fetch workers: a pool with fetches in flight and one still queued.
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FETCH_CONCURRENCY="2",
                    AUTOPOST_FEEDS=" ".join(trickling.url(f"/feed{n}.xml") for n in range(feeds)),
                    AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_REQUEST_TIMEOUT="60",
                    AUTOPOST_SHUTDOWN_GRACE=str(GRACE), AUTOPOST_PLATFORMS="console")
    poll = start(env, "poll")
    try:
        wait_for(lambda: len(trickling.requests) >= min(feeds, 2))
    finally:
        took, err = stop(poll, signal.SIGINT)
    assert poll.returncode == 130
    assert took < GRACE + 1.5
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("autopost:")]
    assert lines == ["autopost: interrupted; stopping (a delivery cut short is checked at the next start)"]
