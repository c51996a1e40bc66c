"""The env file holds secrets: `auth` leaves it 0600 and says so; `poll` and `check` warn like `run`."""
from __future__ import annotations

import getpass
import stat

import pytest

from tests.conftest import run_cli, write_env
from tests.fakes.facebook import APP_ID, APP_SECRET, PAGE_TOKEN, USER_TOKEN, FakeGraph
from tests.fakes.feed import rss_feed


@pytest.fixture
def graph():
    fake = FakeGraph(app_secret=APP_SECRET)
    yield fake
    fake.close()


def test_auth_makes_a_readable_env_file_private_and_says_so(tmp_path, graph, monkeypatch):
    env = tmp_path / "autopost.env"                 # as `cp config.example.env autopost.env` leaves it
    env.write_text(f"AUTOPOST_FEEDS=https://blog.example.com/feed.xml\nFACEBOOK_GRAPH_BASE={graph.base_url}\n"
                   f"FACEBOOK_APP_ID={APP_ID}\nFACEBOOK_APP_SECRET={APP_SECRET}\n")
    env.chmod(0o644)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": USER_TOKEN)

    result = run_cli("--env-file", str(env), "auth", "facebook")

    assert result.code == 0, result
    assert PAGE_TOKEN in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "its mode is now 0600 (it was 0644)" in result.out


def test_auth_on_a_private_env_file_says_it_stays_private(tmp_path, graph, monkeypatch):
    env = tmp_path / "autopost.env"
    env.write_text(f"AUTOPOST_FEEDS=https://blog.example.com/feed.xml\nFACEBOOK_GRAPH_BASE={graph.base_url}\n"
                   f"FACEBOOK_APP_ID={APP_ID}\nFACEBOOK_APP_SECRET={APP_SECRET}\n")
    env.chmod(0o600)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": USER_TOKEN)
    result = run_cli("--env-file", str(env), "auth", "facebook")
    assert result.code == 0 and "readable only by its owner (mode 0600)" in result.out


@pytest.mark.parametrize("command", [["poll"], ["poll", "--dry-run"], ["check"]])
@pytest.mark.parametrize("mode, warned", [(0o644, True), (0o640, True), (0o600, False)])
def test_poll_and_check_warn_about_a_readable_env_file_holding_a_secret(tmp_path, feed_server, command, mode,
                                                                       warned):
    feed_server.serve("/feed.xml", rss_feed([]))
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                    AUTOPOST_DB=str(tmp_path / "l.db"), AUTOPOST_PLATFORMS="console",
                    AUTOPOST_ALERT_WEBHOOK="http://127.0.0.1:9/hooks/not-a-real-token-4f2a")
    env.chmod(mode)
    result = run_cli("--env-file", str(env), *command)
    assert ("can be read by other users" in result.err) is warned, result.err
    if warned:
        assert "it holds AUTOPOST_ALERT_WEBHOOK" in result.err
    assert "not-a-real-token-4f2a" not in result.out + result.err


@pytest.mark.parametrize("command", [["poll", "--dry-run"], ["check"]])
def test_a_readable_env_file_without_a_secret_is_not_warned_about(tmp_path, feed_server, command):
    feed_server.serve("/feed.xml", rss_feed([]))
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),   # as examples/autopost.env
                    AUTOPOST_DB=str(tmp_path / "l.db"), AUTOPOST_PLATFORMS="console", AUTOPOST_ALERT_WEBHOOK="")
    env.chmod(0o644)
    result = run_cli("--env-file", str(env), *command)
    assert "can be read by other users" not in result.err, result.err
