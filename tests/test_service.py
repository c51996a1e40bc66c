"""`autopost run` as a real process: signals, the single-instance lock, and crashes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import wait_for, run_cli, write_env
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)


def item(n: int, hours_ago: float) -> dict:
    return {"title": f"Article {n}", "link": f"https://blog.example.com/{n}/", "guid": f"post-{n}",
            "pubDate": NOW - timedelta(hours=hours_ago), "description": f"Summary {n}."}


def start(env_file: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)



@pytest.fixture
def env_file(tmp_path, feed_server):
    feed_server.serve("/feed.xml", rss_feed([item(1, 5)]))
    return str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                         AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1h"))


def test_sigterm_stops_promptly_with_exit_0(env_file, feed_server):
    with open(env_file, "a", encoding="utf-8") as env:            # a secret, so its mode matters
        env.write("AUTOPOST_ALERT_WEBHOOK=http://127.0.0.1:9/hooks/not-a-real-secret\n")
    service = start(env_file, "run")
    try:
        wait_for(lambda: feed_server.requests)                      # it polled on start
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=10)
    finally:
        service.kill()
    assert service.returncode == 0, err
    assert "autopost starting" in err and "autopost stopped" in err
    assert "can be read by other users" in err                      # the env file is 0644 here
    assert "not-a-real-secret" not in err


def test_a_private_env_file_gives_no_warning(env_file, feed_server):
    os.chmod(env_file, 0o600)
    service = start(env_file, "run")
    try:
        wait_for(lambda: feed_server.requests)
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=10)
    finally:
        service.kill()
    assert "can be read by other users" not in err


def test_a_second_run_on_the_same_ledger_refuses(env_file, feed_server):
    first = start(env_file, "run")
    try:
        wait_for(lambda: feed_server.requests)
        second = start(env_file, "run")
        _, err = second.communicate(timeout=10)
        assert second.returncode == 2         # refused: nothing was done
        assert "already using the ledger" in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=10)
    assert first.returncode == 0


def test_a_killed_service_releases_its_lock(env_file, feed_server):
    first = start(env_file, "run")
    wait_for(lambda: feed_server.requests)
    first.kill()
    first.communicate(timeout=10)
    result = run_cli("--env-file", env_file, "poll")
    assert result.code == 0, result.err


def test_start_up_warns_of_an_expiring_linkedin_token_and_alerts(tmp_path, feed_server, fake_linkedin):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.conftest import network_env

    alerts = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            alerts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        feed_server.serve("/feed.xml", rss_feed([item(1, 5)]))
        expires = (datetime.now(timezone.utc) + timedelta(days=3)).date().isoformat()
        env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                                 AUTOPOST_DB=str(tmp_path / "ledger.db"), LINKEDIN_TOKEN_EXPIRES=expires,
                                 AUTOPOST_ALERT_WEBHOOK=f"http://127.0.0.1:{hook.server_address[1]}/hook",
                                 **network_env(fake_linkedin=fake_linkedin)))
        service = start(env_file, "run")
        try:
            wait_for(lambda: feed_server.requests and alerts)
            service.send_signal(signal.SIGTERM)
            _, err = service.communicate(timeout=10)
        finally:
            service.kill()
    finally:
        hook.shutdown()
    assert "LinkedIn token expires in 3 days" in err or "linkedin token expires in 3 days" in err.lower()
    assert alerts[0]["event"] == "token-expiring" and alerts[0]["platform"] == "linkedin"


def test_a_dry_run_service_shows_posts_and_writes_nothing(tmp_path, feed_server):
    import sqlite3

    feed_server.serve("/feed.xml", rss_feed([item(1, 5)]))
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1"))
    assert run_cli("--env-file", env_file, "poll").code == 0          # the real ledger has seen item 1
    feed_server.serve("/feed.xml", rss_feed([item(2, 1), item(1, 5)]))
    service_env = dict(os.environ, AUTOPOST_DRY_RUN="true")
    service = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=service_env)
    try:
        wait_for(lambda: len(feed_server.requests) >= 4)              # a few polls of its own
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=10)
    finally:
        service.kill()
    assert service.returncode == 0, err
    assert out.count("Article 2 https://blog.example.com/2/") == 1      # shown once, as X would get it
    assert "Article 1 " not in out                                      # the real ledger's history counts
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        assert db.execute("SELECT COUNT(*) FROM posts WHERE url LIKE '%/2/'").fetchone()[0] == 0
    real = run_cli("--env-file", env_file, "poll")                      # nothing was eaten
    assert "Article 2 https://blog.example.com/2/" in real.out
