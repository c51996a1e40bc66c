"""No secret ever reaches the owner's terminal or logs, even at DEBUG."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

from tests.conftest import network_env, write_env
from tests.fakes import facebook, linkedin, twitter
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)
SECRETS = [*twitter.CREDENTIALS.values(), linkedin.TOKEN, facebook.PAGE_TOKEN]


def autopost(env_file: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bot", "--env-file", env_file, *args], capture_output=True,
                          text=True, timeout=60)
    return done.stdout + done.stderr


def test_a_full_poll_at_debug_prints_no_secret(tmp_path, feed_server, fake_x, fake_linkedin, fake_graph):
    item = {"title": "Secret-free", "link": "https://blog.example.com/1/", "guid": "1",
            "pubDate": NOW - timedelta(minutes=3), "description": "Hello.", "image": fake_x.base_url + "/img/ok.png"}
    feed_server.serve("/feed.xml", rss_feed([item]))
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1",
                             AUTOPOST_LOG_LEVEL="DEBUG", TWITTER_ATTACH_IMAGE="true",
                             **network_env(fake_x, fake_linkedin, fake_graph)))
    fake_linkedin.fail_next(401)                                    # an error path too
    output = autopost(env_file, "-v", "poll")
    output += autopost(env_file, "-v", "check")
    output += autopost(env_file, "status", "--json")
    output += autopost(env_file, "preview")
    assert "DEBUG" in output and "sent" in output                   # it did run, verbosely
    assert len(fake_x.posts) == 1
    leaked = [secret for secret in SECRETS if secret in output]
    assert leaked == []


def test_json_logs_are_one_object_a_line_with_event_fields(tmp_path, feed_server):
    import json

    item = {"title": "Hello", "link": "https://blog.example.com/1/", "guid": "1",
            "pubDate": NOW - timedelta(minutes=3), "description": "Hi."}
    feed_server.serve("/feed.xml", rss_feed([item]))
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1",
                             AUTOPOST_LOG_FORMAT="json"))
    done = subprocess.run([sys.executable, "-m", "bot", "--env-file", env_file, "poll"], capture_output=True,
                          text=True, timeout=60)
    records = [json.loads(line) for line in done.stderr.splitlines()]
    sent = [r for r in records if r.get("event") == "sent"]
    assert sent == [dict(sent[0], event="sent", platform="console", post_url="https://blog.example.com/1/",
                         state="sent")]
    new = [r for r in records if r.get("event") == "new-post"]
    assert new[0]["feed"] == feed_server.url()
