"""Storage faults are stated in one line naming the file, never a traceback, and the
service does not pretend to be alive on a ledger it cannot use.

Faults are real, each made the most honest way available on a test machine:
* a full disk: SQLite's ``PRAGMA max_page_count`` set to the ledger's current size on
  every connection, so any write needing a new page fails with SQLITE_FULL, exactly
  the error a full disk gives ("database or disk is full");
* a read-only directory: the directory and file made read-only, and the command run
  as an unprivileged user (nobody) when the tests run as root, for whom modes mean nothing;
* a corrupted ledger: its bytes overwritten.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.config import settings_from
from bot.service import Service
from bot.store import StorageError
from tests.conftest import run_cli, write_env
from tests.fakes.feed import rss_feed
from tests.test_alerts import receiver  # noqa: F401  (fixture)

NOW = datetime.now(timezone.utc)


def item(n: int) -> dict:
    return {"title": f"Article {n} " + "x" * 300, "link": f"https://blog.example.com/{n}/", "guid": f"post-{n}",
            "pubDate": NOW - timedelta(minutes=n), "description": "Summary " * 200}


def corrupt(db: Path, garbage: bytes) -> None:
    """Replace the ledger by garbage; its write-ahead log goes too (a stopped process leaves none).

    A new file (new inode): connections the in-process CLI runs left open must not serve
    the old pages from their shared WAL index."""
    spare = db.with_name("garbage.tmp")
    spare.write_bytes(garbage)
    os.replace(spare, db)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def one_line(result) -> str:
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.startswith("autopost:")]
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.fixture
def ledger(tmp_path, feed_server):
    feed_server.serve("/feed.xml", rss_feed([item(100)]))
    db = tmp_path / "ledger.db"
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(db),
                    AUTOPOST_PLATFORMS="console", AUTOPOST_BACKFILL="0")
    assert run_cli("--env-file", str(env), "poll").code == 0
    return env, db


def test_a_full_disk_is_one_line_naming_the_ledger(ledger, feed_server, monkeypatch):
    env, db = ledger
    real_connect = sqlite3.connect

    def connect_to_a_full_disk(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return con

    monkeypatch.setattr(sqlite3, "connect", connect_to_a_full_disk)
    feed_server.serve("/feed.xml", rss_feed([item(n) for n in range(1, 40)] + [item(100)]))
    result = run_cli("--env-file", str(env), "poll")
    assert result.code == 1
    line = one_line(result)
    assert str(db) in line and "disk is full" in line and "free some space" in line
    status = run_cli("--env-file", str(env), "status")                   # reading still works
    assert status.code == 0 and "Traceback" not in status.err


def test_a_corrupted_ledger_is_one_line_for_every_command(ledger):
    env, db = ledger
    corrupt(db, b"this is not a SQLite file at all " * 200)
    for command in (["poll"], ["status"], ["status", "--json"], ["check"]):
        result = run_cli("--env-file", str(env), *command)
        assert result.code == 1, (command, result)
        line = one_line(result)
        assert str(db) in line and "damaged" in line and "backup" in line, line


def test_run_on_a_corrupted_ledger_alerts_and_exits_non_zero(ledger, receiver):
    env, db = ledger
    hook = receiver()
    corrupt(db, b"garbage " * 1000)
    with open(env, "a") as handle:
        handle.write(f"AUTOPOST_ALERT_WEBHOOK={hook.url}\n")
    service = subprocess.run([sys.executable, "-m", "bot", "--env-file", str(env), "run"],
                             capture_output=True, text=True, timeout=30)
    assert service.returncode == 1
    assert "Traceback" not in service.stderr
    assert f"autopost: the ledger {db} is damaged" in service.stderr
    assert [body["event"] for _, body, _ in hook.received] == ["ledger-failed"]


def test_a_storage_fault_while_running_stops_the_service_with_an_alert(tmp_path):
    settings = settings_from({"AUTOPOST_FEEDS": "http://127.0.0.1/feed.xml", "AUTOPOST_DB": str(tmp_path / "l.db")})
    service = Service(settings)
    alerts = []
    service._alert = lambda *event: alerts.append(event)

    def job():
        raise StorageError(f"the ledger {tmp_path / 'l.db'} cannot be written: the disk is full")

    service._guarded(job)()
    assert service.stopping.is_set() and service._wake.is_set()
    assert service.fatal and "disk is full" in service.fatal
    assert alerts == [("ledger-failed", "autopost", "", service.fatal)]


def test_sqlite_errors_in_a_job_count_as_storage_faults(tmp_path):
    settings = settings_from({"AUTOPOST_FEEDS": "http://127.0.0.1/feed.xml", "AUTOPOST_DB": str(tmp_path / "l.db")})
    service = Service(settings)

    def job():
        raise sqlite3.DatabaseError("database disk image is malformed")

    service._guarded(job)()
    assert service.fatal and "malformed" in service.fatal


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX users")
def test_status_works_on_a_read_only_ledger_and_poll_says_why_it_cannot(feed_server):
    base = Path(tempfile.mkdtemp(prefix="autopost-ro-"))         # outside pytest's 0700 tree: nobody can enter
    try:
        os.chmod(base, 0o755)
        data = base / "data"
        data.mkdir()
        db = data / "ledger.db"
        feed_server.serve("/feed.xml", rss_feed([item(1)]))
        env = write_env(base / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(db),
                        AUTOPOST_PLATFORMS="console", AUTOPOST_BACKFILL="1")
        assert run_cli("--env-file", str(env), "poll").code == 0
        os.chmod(env, 0o644)
        os.chmod(db, 0o444)
        os.chmod(data, 0o555)
        as_user = (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else [])

        def autopost(*args):
            return subprocess.run([*as_user, sys.executable, "-m", "bot", "--env-file", str(env), *args],
                                  capture_output=True, text=True, timeout=30, cwd=base)

        status = autopost("status")
        assert status.returncode == 0, status.stderr
        assert "https://blog.example.com/1/" in status.stdout
        poll = autopost("poll")
        assert poll.returncode == 1
        assert "Traceback" not in poll.stderr
        [line] = [x for x in poll.stderr.splitlines() if x.startswith("autopost:")]
        assert str(db) in line and "read-only" in line and "AUTOPOST_DB" in line
    finally:
        os.chmod(base / "data", 0o755)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_a_network_failing_every_call_is_not_called_healthy(tmp_path, feed_server, fake_linkedin):
    """Done-when of the issue: `status` tells the truth about a network that cannot be reached."""
    from tests.conftest import network_env

    feed_server.serve("/feed.xml", rss_feed([item(100)]))
    closed = feed_server.url("/").rsplit(":", 1)[0] + ":9"          # discard port: nothing listens
    values = network_env(fake_linkedin=fake_linkedin)
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                    AUTOPOST_BACKFILL="1", AUTOPOST_REQUEST_TIMEOUT="1", **{**values, "LINKEDIN_API_BASE": closed})
    assert run_cli("--env-file", str(env), "poll").code == 0                # a retry is queued, not a problem
    status = run_cli("--env-file", str(env), "status")
    assert "network linkedin: failing since" in status.out, status.out
    assert "network linkedin: healthy" not in status.out

    with open(env, "a") as handle:
        handle.write(f"LINKEDIN_API_BASE={fake_linkedin.base_url}\n")
    assert run_cli("--env-file", str(env), "check").code == 0
    assert "network linkedin: healthy" in run_cli("--env-file", str(env), "status").out


def test_a_post_the_network_accepted_while_the_disk_was_full_is_recorded_once_space_returns(
        tmp_path, feed_server, fake_graph, monkeypatch):
    from tests.conftest import network_env

    long = {"title": "Long", "link": "https://blog.example.com/long/", "guid": "long",
            "pubDate": NOW - timedelta(minutes=3), "description": " ".join(f"word{n}" for n in range(8000))}
    feed_server.serve("/feed.xml", rss_feed([item(100)]))
    env = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        AUTOPOST_RETRY_BASE="0", AUTOPOST_SUMMARY_MAX="0",   # the whole text: a record too big for a full disk
                        **network_env(fake_graph=fake_graph)))
    assert run_cli("--env-file", env, "poll").code == 0
    feed_server.serve("/feed.xml", rss_feed([long, item(100)]))
    fake_graph.fail_next(2, http_status=500)                   # queued and retried: recorded while there is room
    run_cli("--env-file", env, "poll")
    assert fake_graph.posts == []

    real_connect = sqlite3.connect

    def connect_to_a_full_disk(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        con.execute(f"PRAGMA max_page_count = {con.execute('PRAGMA page_count').fetchone()[0]}")
        return con

    with monkeypatch.context() as disk:
        disk.setattr(sqlite3, "connect", connect_to_a_full_disk)
        full = run_cli("--env-file", env, "poll")
    assert full.code == 1 and "disk is full" in one_line(full)
    assert len(fake_graph.posts) == 1                           # Facebook took it; the ledger could not say so

    again = run_cli("--env-file", env, "poll")                  # space is back: recovered, not posted again
    assert again.code == 0, again
    assert len(fake_graph.posts) == 1
    status = run_cli("--env-file", env, "status", "--json")
    [post] = [p for p in json.loads(status.out)["posts"] if p["url"] == long["link"]]
    assert [d["state"] for d in post["deliveries"]] == ["sent"]
