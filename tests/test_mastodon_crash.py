"""The service killed with SIGKILL while posting to Mastodon: restart, and the status is there once.

Before the instance accepts (the request held unanswered), after it accepts (its answer
swallowed by a proxy), and after it accepts on a busy account whose recent statuses no
longer show it, where only the Idempotency-Key (from the delivery, stable across
processes) keeps the retry from posting twice.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import run_cli, wait_for, write_env
from tests.fakes.feed import rss_feed
from tests.fakes.holding_proxy import HoldingProxy
from tests.fakes.mastodon import TOKEN, FakeMastodon

NOW = datetime.now(timezone.utc)
OLD = {"title": "Old article", "link": "https://blog.example.com/old/", "guid": "old",
       "pubDate": NOW - timedelta(hours=5), "description": "Old."}
NEW = {"title": "Crash-proof article", "link": "https://blog.example.com/new/", "guid": "new",
       "pubDate": NOW - timedelta(minutes=5), "description": "New."}
NEW_URL = NEW["link"]


@pytest.fixture
def fake():
    server = FakeMastodon()
    yield server
    server.close()


def _env(tmp_path, feed_server, instance: str) -> str:
    feed_server.serve("/feed.xml", rss_feed([OLD]))
    path = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                         AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1",
                         MASTODON_INSTANCE=instance, MASTODON_ACCESS_TOKEN=TOKEN))
    assert run_cli("--env-file", path, "poll").code == 0          # first sight: nothing posted
    return path


def _run_until(env_file: str, condition) -> None:
    service = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, "run"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(condition)
    finally:
        service.send_signal(signal.SIGKILL)
        service.communicate(timeout=10)


def _ours(fake: FakeMastodon) -> list[dict]:
    return [s for s in fake.statuses if NEW_URL in s["text"]]


def _delivery(env_file: str) -> dict:
    story = json.loads(run_cli("--env-file", env_file, "status", "--json", NEW_URL).out)["posts"][0]
    [delivery] = story["deliveries"]
    return {**delivery, "attempts_seen": story["attempts"]}


def test_kill_while_the_instance_holds_the_request(tmp_path, feed_server, fake):
    env_file = _env(tmp_path, feed_server, fake.base_url)
    fake.hang_next(path="/api/v1/statuses")
    feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))

    _run_until(env_file, lambda: fake.posted())
    assert fake.statuses == []                                  # held, never made

    result = run_cli("--env-file", env_file, "poll")            # restart: recover, then deliver
    assert result.code == 0, result.out + result.err
    assert run_cli("--env-file", env_file, "poll").code == 0
    [status] = _ours(fake)
    delivery = _delivery(env_file)
    assert (delivery["state"], delivery["remote_id"]) == ("sent", status["id"])
    assert any("crash" in a["detail"] for a in delivery["attempts_seen"])


def test_kill_after_the_instance_accepted_but_before_the_ledger_knew(tmp_path, feed_server, fake):
    proxy = HoldingProxy(fake.base_url)
    try:
        env_file = _env(tmp_path, feed_server, proxy.base_url)
        proxy.hold(lambda method, path: method == "POST" and path == "/api/v1/statuses")
        feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))

        _run_until(env_file, lambda: proxy.held)
        [status] = _ours(fake)                                  # on Mastodon; the ledger says "sending"

        result = run_cli("--env-file", env_file, "poll")
        assert result.code == 0, result.out + result.err
        assert run_cli("--env-file", env_file, "poll").code == 0
        assert _ours(fake) == [status]
        assert len(fake.posted()) == 1                          # found by find_existing: not sent again
        delivery = _delivery(env_file)
        assert (delivery["state"], delivery["remote_id"]) == ("sent", status["id"])
    finally:
        proxy.close()


def test_kill_after_accepting_on_a_busy_account_the_key_keeps_it_once(tmp_path, feed_server, fake):
    proxy = HoldingProxy(fake.base_url)
    try:
        env_file = _env(tmp_path, feed_server, proxy.base_url)
        proxy.hold(lambda method, path: method == "POST" and path == "/api/v1/statuses")
        feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))

        _run_until(env_file, lambda: proxy.held)
        [status] = _ours(fake)
        for i in range(40):                                     # the one page find_existing reads moves on
            fake.add_status(f"A note {i}")

        result = run_cli("--env-file", env_file, "poll")
        assert result.code == 0, result.out + result.err

        assert _ours(fake) == [status]                          # the retry was answered with the same status
        first, retry = (r.headers["idempotency-key"] for r in fake.posted()[:1] + fake.posted()[-1:])
        assert len(fake.posted()) == 2 and first == retry
        delivery = _delivery(env_file)
        assert (delivery["state"], delivery["remote_id"]) == ("sent", status["id"])
    finally:
        proxy.close()
