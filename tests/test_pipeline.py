"""End to end over real HTTP: a served feed, `autopost poll`, the ledger, `status`."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot import feeds, poller
from bot.config import settings_from
from bot.store import Store
from tests.conftest import run_cli, write_env
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)


def item(n: int, *, hours_ago: float | None = None, **extra) -> dict:
    return {"title": f"Article {n}", "link": f"https://blog.example.com/{n}/", "guid": f"post-{n}",
            "pubDate": NOW - timedelta(hours=hours_ago if hours_ago is not None else 100 - n),
            "description": f"<p>Summary of article {n}.</p>", **extra}


@pytest.fixture
def env(tmp_path, feed_server):
    def make(**values):
        values = {"AUTOPOST_FEEDS": feed_server.url(), "AUTOPOST_DB": str(tmp_path / "ledger.db"),
                  "AUTOPOST_REQUEST_TIMEOUT": "2", **values}
        return str(write_env(tmp_path / "autopost.env", **values))
    return make


def status(env_file: str) -> dict:
    result = run_cli("--env-file", env_file, "status", "--json", "--limit", "0")
    return json.loads(result.out)


def test_new_entry_is_posted_once_per_network(env, feed_server, tmp_path):
    feed_server.serve("/feed.xml", rss_feed([item(1), item(2)]))
    env_file = env()
    first = run_cli("--env-file", env_file, "poll")
    assert first.code == 0
    assert "console" not in first.out                        # first sight posts nothing
    assert "    skipped (backfill): Article 1 — https://blog.example.com/1/" in first.out
    feed_server.serve("/feed.xml", rss_feed([item(3, hours_ago=1), item(1), item(2)]))
    second = run_cli("--env-file", env_file, "poll")
    assert second.code == 0, second.err
    assert second.out.count("Article 3 https://blog.example.com/3/") == 1     # the X-style message
    assert "console   sent" in second.out
    third = run_cli("--env-file", env_file, "poll")
    assert "Article 3" not in third.out
    posts = {p["url"]: p for p in status(env_file)["posts"]}
    assert [d["state"] for d in posts["https://blog.example.com/3/"]["deliveries"]] == ["sent"]
    assert posts["https://blog.example.com/1/"]["skipped"] == "backfill"


def test_every_enabled_network_gets_exactly_one_delivery(tmp_path, feed_server, clock):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    settings = settings_from({
        "AUTOPOST_FEEDS": feed_server.url(), "AUTOPOST_PLATFORMS": "twitter,linkedin,facebook",
        "TWITTER_API_KEY": "k", "TWITTER_API_SECRET": "s", "TWITTER_ACCESS_TOKEN": "t",
        "TWITTER_ACCESS_TOKEN_SECRET": "ts", "LINKEDIN_ACCESS_TOKEN": "l", "FACEBOOK_PAGE_ID": "1",
        "FACEBOOK_PAGE_TOKEN": "p", "AUTOPOST_MAX_AGE": "0"})
    store = Store(tmp_path / "ledger.db")
    poller.poll_feeds(settings, store)
    feed_server.serve("/feed.xml", rss_feed([item(2, hours_ago=0), item(1)]))
    outcome = poller.poll_feeds(settings, store)[0]
    assert [p.url for p in outcome.new_posts] == ["https://blog.example.com/2/"]
    assert poller.poll_feeds(settings, store)[0].new_posts == ()
    pending = store.deliveries(states=("pending",))
    assert sorted(d.platform for d in pending) == ["facebook", "linkedin", "twitter"]


def test_backfill_and_too_old(env, feed_server):
    items = [item(n, hours_ago=24 * (20 - n)) for n in range(20)]     # 19 newest ... 0 is 20 days old
    feed_server.serve("/feed.xml", rss_feed(items))
    env_file = env(AUTOPOST_BACKFILL="2")
    result = run_cli("--env-file", env_file, "poll")
    assert result.code == 0
    posted = [line for line in result.out.splitlines() if line.startswith("console")]
    assert [line.split()[-1] for line in posted] == ["https://blog.example.com/18/", "https://blog.example.com/19/"]
    feed_server.serve("/feed.xml", rss_feed([item(30, hours_ago=24 * 9), item(31, hours_ago=2)] + items))
    run_cli("--env-file", env_file, "poll")
    posts = {p["url"]: p for p in status(env_file)["posts"]}
    assert posts["https://blog.example.com/30/"]["skipped"] == "too old"
    assert posts["https://blog.example.com/31/"]["deliveries"][0]["state"] == "sent"
    assert sum(1 for p in posts.values() if p["deliveries"]) == 3


def test_edited_and_restored_entries_are_not_posted_again(env, feed_server):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    run_cli("--env-file", env_file, "poll")
    feed_server.serve("/feed.xml", rss_feed([item(2, hours_ago=1), item(1)]))
    assert "Article 2" in run_cli("--env-file", env_file, "poll").out
    edited = item(2, hours_ago=0, title="Article 2, corrected")
    for body in (rss_feed([edited, item(1)]), rss_feed([item(1)]), rss_feed([edited, item(1)])):
        feed_server.serve("/feed.xml", body)
        result = run_cli("--env-file", env_file, "poll")
        assert result.code == 0
        assert "console" not in result.out


def test_conditional_get_and_no_parse_when_unchanged(env, feed_server, monkeypatch):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    parses = []
    real_parse = feeds.parse
    monkeypatch.setattr(feeds, "parse", lambda *a, **kw: parses.append(1) or real_parse(*a, **kw))
    run_cli("--env-file", env_file, "poll")
    assert len(parses) == 1
    result = run_cli("--env-file", env_file, "poll")
    assert "unchanged" in result.out
    second = feed_server.requests[-1]
    assert second.status == 304
    assert "If-None-Match" in second.headers or "if-none-match" in {k.lower() for k in second.headers}
    assert len(parses) == 1                                  # a 304 is never parsed


def test_same_body_without_validators_is_not_parsed(env, feed_server, monkeypatch):
    feed_server.serve("/feed.xml", rss_feed([item(1)]), validators=False)
    env_file = env()
    parses = []
    real_parse = feeds.parse
    monkeypatch.setattr(feeds, "parse", lambda *a, **kw: parses.append(1) or real_parse(*a, **kw))
    run_cli("--env-file", env_file, "poll")
    assert "unchanged" in run_cli("--env-file", env_file, "poll").out
    assert len(parses) == 1


FAULTS = {
    "server error": lambda s: s.respond("/feed.xml", 500, b"oops"),
    "timeout": lambda s: s.hang("/feed.xml"),
    "html page": lambda s: s.serve("/feed.xml", b"<!DOCTYPE html><html><head><title>Blog</title></head>"
                                                b"<body><p>Welcome</p></body></html>", content_type="text/html"),
    "garbage": lambda s: s.serve("/feed.xml", bytes(range(256)) * 8, content_type="application/octet-stream"),
    "too big": lambda s: s.serve("/feed.xml", b"<rss>" + b" " * 300_000 + b"</rss>"),
    "redirect loop": lambda s: (s.redirect("/feed.xml", "/b"), s.redirect("/b", "/feed.xml")),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_feed_faults_are_reported_and_recovered(env, feed_server, fault):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env(AUTOPOST_REQUEST_TIMEOUT="0.5", AUTOPOST_MAX_FEED_BYTES="100000")
    run_cli("--env-file", env_file, "poll")
    FAULTS[fault](feed_server)
    failed = run_cli("--env-file", env_file, "poll")
    assert failed.code == 1
    assert "ERROR" in failed.out
    report = status(env_file)
    assert report["feeds"][0]["error"]
    assert all(not p["deliveries"] for p in report["posts"])
    text = run_cli("--env-file", env_file, "status").out
    assert "ERROR" in text
    feed_server.serve("/feed.xml", rss_feed([item(2, hours_ago=1), item(1)]))
    recovered = run_cli("--env-file", env_file, "poll")
    assert recovered.code == 0
    assert "Article 2" in recovered.out
    assert status(env_file)["feeds"][0]["error"] is None


def test_one_failing_feed_does_not_stop_the_others(tmp_path, feed_server):
    feed_server.serve("/good.xml", rss_feed([item(1)]))
    feed_server.respond("/bad.xml", 500)
    env_file = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=f"{feed_server.url('/bad.xml')} "
                             f"{feed_server.url('/good.xml')}", AUTOPOST_DB=str(tmp_path / "l.db")))
    run_cli("--env-file", env_file, "poll")
    feed_server.serve("/good.xml", rss_feed([item(2, hours_ago=1), item(1)]))
    result = run_cli("--env-file", env_file, "poll")
    assert result.code == 1
    assert "Article 2" in result.out


def test_dry_run_writes_nothing(env, feed_server, tmp_path):
    feed_server.serve("/feed.xml", rss_feed([item(1), item(2)]))
    env_file = env(AUTOPOST_BACKFILL="1")
    result = run_cli("--env-file", env_file, "poll", "--dry-run")
    assert result.code == 0
    assert "Article 2 https://blog.example.com/2/" in result.out
    assert "nothing was posted" in result.out
    assert not (tmp_path / "ledger.db").exists()
    real = run_cli("--env-file", env_file, "poll")               # the dry run ate nothing
    assert "Article 2 https://blog.example.com/2/" in real.out
