"""One ledger, one service, whatever the path: the lock follows the real file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import wait_for, write_env
from tests.fakes.feed import rss_feed


def start(env_file, *args: str, cwd=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "--env-file", str(env_file), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


@pytest.mark.parametrize("alias", ["symlink", "hardlink", "relative", "dotdot"])
def test_a_second_run_through_another_path_to_the_same_ledger_refuses(tmp_path, feed_server, alias):
    feed_server.serve("/feed.xml", rss_feed([]))
    real_dir = tmp_path / "data"
    real_dir.mkdir()
    ledger = real_dir / "ledger.db"
    ledger.touch()
    other_dir = tmp_path / "elsewhere"
    other_dir.mkdir()
    if alias == "symlink":
        other = other_dir / "link.db"
        other.symlink_to(ledger)
    elif alias == "hardlink":
        other = other_dir / "hard.db"
        os.link(ledger, other)
    elif alias == "relative":
        other = "data/ledger.db"               # relative to the second process's working directory
    else:
        other = "../data/./ledger.db"
    common = dict(AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_POLL_INTERVAL="1h", AUTOPOST_PLATFORMS="console")
    first_env = write_env(tmp_path / "first.env", AUTOPOST_DB=str(ledger), **common)
    second_env = write_env(tmp_path / "second.env", AUTOPOST_DB=str(other), **common)
    first = start(first_env, "run")
    try:
        wait_for(lambda: feed_server.requests)
        cwd = tmp_path if alias == "relative" else other_dir
        second = start(second_env, "run", cwd=cwd)
        _, err = second.communicate(timeout=15)
        assert second.returncode == 2, err          # refused: nothing was done
        assert "already using the ledger" in err
        poll = start(second_env, "poll", cwd=cwd)                       # poll takes the same lock
        _, err = poll.communicate(timeout=15)
        assert poll.returncode == 2 and "already using the ledger" in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=15)
    assert first.returncode == 0
