"""Mastodon through the command line, as a new user meets it: `auth mastodon`, `check`,
`preview`, `poll`, `status` and `repost`, against the fake instance over real HTTP."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import read_env_file
from tests.conftest import run_cli, write_env
from tests.fakes.feed import rss_feed
from tests.fakes.mastodon import TOKEN, USERNAME, FakeMastodon

NOW = datetime.now(timezone.utc)
POST_URL = "https://blog.example.com/2026/11/federated/"
ITEMS = [
    {"title": "Posting to the fediverse, once", "link": POST_URL, "guid": "fedi",
     "pubDate": NOW - timedelta(hours=1), "description": "<p>How a blog reaches Mastodon. Ask @alice@example.social.</p>",
     "categories": ["Fediverse", "Blogging"]},
    {"title": "Older news", "link": "https://blog.example.com/older/", "guid": "older",
     "pubDate": NOW - timedelta(hours=30), "description": "Earlier."},
]


@pytest.fixture
def fake():
    server = FakeMastodon()
    yield server
    server.close()


@pytest.fixture
def env_file(tmp_path, feed_server, fake):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    return str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                         AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1",
                         MASTODON_INSTANCE=fake.base_url, MASTODON_ACCESS_TOKEN=TOKEN))


def _auth(env, *args: str, fake: FakeMastodon | None = None, code: str | None = None):
    """`autopost auth mastodon` in its own process; the owner opens the printed address and types
    the code the instance shows (or ``code``)."""
    process = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", str(env), "auth", "mastodon", *args],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    shown: list[str] = []
    try:
        while True:
            line = process.stdout.readline()
            if not line:
                break
            shown.append(line)
            if line.strip().startswith("http") and "/oauth/authorize" in line:
                typed = code if code is not None else fake.authorize(line.strip())
                process.stdin.write(typed + "\n")
                process.stdin.flush()
                break
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, "".join(shown) + out, err


def test_auth_mastodon_stores_a_token_that_check_verifies(tmp_path, feed_server, fake):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"))
    env.chmod(0o644)

    code, out, err = _auth(env, "--instance", fake.base_url + "/", fake=fake)

    assert code == 0, out + err
    stored = read_env_file(env)
    assert stored["MASTODON_INSTANCE"] == fake.base_url
    token = stored["MASTODON_ACCESS_TOKEN"]
    assert fake.tokens[token] == {"write:statuses", "read:accounts", "read:statuses"}
    assert token not in out + err
    assert f"for @{USERNAME}@127.0.0.1" in out
    assert stat.S_IMODE(env.stat().st_mode) == 0o600 and "0600" in out
    assert env.read_text().startswith(f"AUTOPOST_FEEDS={feed_server.url()}\n")    # the rest kept as it was
    [app] = fake.apps.values()
    assert app["scopes"] == ["write:statuses", "read:accounts", "read:statuses"]
    assert app["client_secret"] not in out + err

    check = run_cli("--env-file", str(env), "check")
    assert check.code == 0, check.out + check.err
    assert f"mastodon: OK, posts as @{USERNAME}@127.0.0.1" in check.out


def test_auth_mastodon_takes_the_instance_from_the_env_file(tmp_path, fake):
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="feed.xml", MASTODON_INSTANCE=fake.base_url)
    code, out, err = _auth(env, fake=fake)
    assert code == 0, out + err
    assert read_env_file(env)["MASTODON_ACCESS_TOKEN"] in fake.tokens


def test_auth_mastodon_with_a_wrong_code_changes_nothing(tmp_path, fake):
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="feed.xml")
    before = env.read_text()
    code, out, err = _auth(env, "--instance", fake.base_url, code="not-the-code")
    assert code == 1
    assert "the instance refused the code: invalid_grant" in err
    assert env.read_text() == before


def test_auth_mastodon_without_an_instance_exits_2_naming_it(tmp_path):
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="feed.xml")
    result = run_cli("--env-file", str(env), "auth", "mastodon")
    assert result.code == 2
    assert "auth mastodon needs --instance URL" in result.err
    bad = run_cli("--env-file", str(env), "auth", "mastodon", "--instance", "http://mastodon.example")
    assert bad.code == 2 and "--instance" in bad.err and "https" in bad.err
    assert env.read_text() == "AUTOPOST_FEEDS=feed.xml\n"


def test_auth_help_lists_mastodon():
    result = run_cli("auth", "mastodon", "--help")
    assert result.code == 0 and "--instance" in result.out
    assert "Example: autopost auth mastodon --instance https://mastodon.social" in result.out


def test_check_fails_on_a_revoked_token(env_file, fake):
    fake.revoke()
    result = run_cli("--env-file", env_file, "check")
    assert result.code == 1
    assert "mastodon: FAILED" in result.out and "The access token is invalid" in result.out
    assert TOKEN not in result.out + result.err


def test_preview_shows_the_status_mastodon_would_get(env_file, fake):
    result = run_cli("--env-file", env_file, "preview")
    assert result.code == 0, result.err
    assert "── mastodon (" in result.out and "/500)" in result.out
    assert POST_URL in result.out and "#Fediverse #Blogging" in result.out
    assert "@\u2060alice@example.social" in result.out          # no one is notified by an automated post
    assert fake.posted() == []


def test_poll_posts_once_and_status_shows_it(env_file, fake):
    assert run_cli("--env-file", env_file, "poll").code == 0
    assert run_cli("--env-file", env_file, "poll").code == 0
    assert len(fake.statuses) == 1
    status = fake.statuses[0]
    assert status["text"].startswith("Posting to the fediverse, once\n\n") and POST_URL in status["text"]
    assert status["visibility"] == "public"

    shown = run_cli("--env-file", env_file, "status")
    assert shown.code == 0, shown.out + shown.err
    assert "mastodon" in shown.out and status["url"] in run_cli("--env-file", env_file, "status", POST_URL).out
    story = json.loads(run_cli("--env-file", env_file, "status", "--json", POST_URL).out)["posts"][0]
    [delivery] = story["deliveries"]
    assert (delivery["platform"], delivery["state"], delivery["remote_id"]) == ("mastodon", "sent", status["id"])


def test_repost_platform_mastodon_makes_a_new_status(env_file, fake):
    assert run_cli("--env-file", env_file, "poll").code == 0
    assert len(fake.statuses) == 1

    # Within the instance's idempotency hour, with the same text: a repost is a new delivery.
    result = run_cli("--env-file", env_file, "repost", POST_URL, "--platform", "mastodon")

    assert result.code == 0, result.out + result.err
    assert len(fake.statuses) == 2 and fake.statuses[1]["text"] == fake.statuses[0]["text"]
    assert result.out.startswith("mastodon") and fake.statuses[1]["url"] in result.out
    story = json.loads(run_cli("--env-file", env_file, "status", "--json", POST_URL).out)["posts"][0]
    assert sorted((d["kind"], d["state"]) for d in story["deliveries"]) == [("auto", "sent"), ("manual", "sent")]


def test_repost_dry_run_shows_and_posts_nothing(env_file, fake):
    result = run_cli("--env-file", env_file, "repost", POST_URL, "--platform", "mastodon", "--dry-run")
    assert result.code == 0, result.err
    assert "── mastodon (" in result.out and fake.posted() == []
