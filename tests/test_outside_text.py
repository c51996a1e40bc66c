"""What comes from outside (a configured URL, a feed's text) can neither crash autopost, leak a
feed's credentials, nor reach the owner's terminal or the posts as control characters."""
from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from bot import feeds
from bot.config import ConfigError, settings_from
from tests.conftest import network_env, write_env
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)


def autopost(env_file: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "--env-file", env_file, *args], capture_output=True,
                          text=True, timeout=60)


def _rss(title_xml: str, link: str = "https://blog.example.com/1/") -> bytes:
    """RSS whose title is written as given (character references and all)."""
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>"
            "<title>Blog &#x202e;News</title><link>https://blog.example.com/</link>"
            f"<item><title>{title_xml}</title><link>{link}</link><guid>g1</guid>"
            f"<pubDate>{(NOW - timedelta(minutes=3)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            "<description>Body &#x1b;[1mbold&#x1b;[0m &#x7;&#x202e;txet</description>"
            "<category>tag&#x1b;[31m</category></item></channel></rss>").encode()


# --------------------------------------------------------------------------- malformed URLs

@pytest.mark.parametrize("variable, value", [
    ("AUTOPOST_FEEDS", "http://[::1:bad/x"),
    ("AUTOPOST_FEEDS", "https://blog.example.com:notaport/feed"),
    ("AUTOPOST_ALERT_WEBHOOK", "http://[::1/x"),
    ("MASTODON_INSTANCE", "http://[zz"),
    ("TWITTER_API_BASE", "http://[zz"),
])
def test_a_malformed_url_is_a_configuration_error_naming_its_variable(tmp_path, variable, value):
    values = {"AUTOPOST_FEEDS": "https://blog.example.com/feed", "AUTOPOST_DB": str(tmp_path / "l.db"),
              variable: value}
    with pytest.raises(ConfigError) as caught:
        settings_from(values, require_credentials=False)
    assert caught.value.variable == variable
    env_file = str(write_env(tmp_path / "autopost.env", **values))
    for command in ("check", "poll", "status"):
        done = autopost(env_file, command)
        assert done.returncode == 2, (command, done.stderr)
        assert variable in done.stderr and "Traceback" not in done.stderr


def test_fetching_a_malformed_url_is_a_feed_error_not_a_traceback():
    with pytest.raises(feeds.FeedError, match="not a valid URL"):
        feeds.fetch("http://[::1:bad/x", None, timeout=1)


# --------------------------------------------------------------------------- feed credentials

def test_a_feed_password_and_query_secret_are_masked_everywhere_and_never_stored(tmp_path, feed_server):
    feed_server.serve("/private/feed.xml", _rss("Members only"))
    feed_server.respond("/private/broken.xml", 500)
    port = feed_server.url().split(":")[2].split("/")[0]
    good = f"http://feeduser:FEEDPASSWORD777@127.0.0.1:{port}/private/feed.xml?key=QUERYKEY888&page=1"
    bad = f"http://feeduser:FEEDPASSWORD777@127.0.0.1:{port}/private/broken.xml?token=QUERYTOKEN999"
    db = tmp_path / "ledger.db"
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=f"{good} {bad}", AUTOPOST_DB=str(db),
                             AUTOPOST_BACKFILL="1"))
    output = ""
    for args in (("check",), ("poll",), ("status",), ("status", "--json"), ("poll",)):
        done = autopost(env_file, *args)
        output += done.stdout + done.stderr
    assert "Members only" in output and "HTTP 500" in output          # both feeds were polled
    for secret in ("FEEDPASSWORD777", "QUERYKEY888", "QUERYTOKEN999"):
        assert secret not in output
        for ledger_file in tmp_path.glob("ledger.db*"):          # the WAL too
            assert secret.encode() not in ledger_file.read_bytes(), ledger_file
    assert f"http://feeduser:****@127.0.0.1:{port}/private/feed.xml?key=****&page=1" in output
    with sqlite3.connect(db) as ledger:
        stored = sorted(row[0] for row in ledger.execute("SELECT url FROM feeds"))
    assert stored == sorted([f"http://feeduser:****@127.0.0.1:{port}/private/feed.xml?key=****&page=1",
                             f"http://feeduser:****@127.0.0.1:{port}/private/broken.xml?token=****"])
    # The real URL is what is fetched: the password goes as Basic auth, the key in the query.
    auth = base64.b64encode(b"feeduser:FEEDPASSWORD777").decode()
    sent = feed_server.requests_to("/private/feed.xml")
    assert sent and all(r.headers.get("Authorization") == f"Basic {auth}" for r in sent)
    status = json.loads(autopost(env_file, "status", "--json").stdout)
    assert [f["url"] for f in status["feeds"]][0].startswith("http://feeduser:****@")


# --------------------------------------------------------------------------- control characters

HOSTILE_TITLE = ("ESC &#x1b;[31mRED&#x1b;[0m and &#x1b;]0;PWNED-TITLE&#x7; end "
                 "&#x202e;evil&#x202c; &#x2066;iso&#x2069;")


def _dirty(text: str) -> list[str]:
    bad = [c for c in text if c in "\x1b\x07\x9b\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
    return bad + [m for m in ("[31m", "[0m", "]0;", "[1m") if m in text]


def test_feed_text_is_plain_text_in_the_post():
    body = _rss(HOSTILE_TITLE).replace(b"<title>ESC", b"<title>\x1b[32mraw ESC", 1)
    parsed = feeds.parse(body, feed_url="https://blog.example.com/feed")
    post = parsed.posts[0]
    assert post.title == "raw ESC RED and end evil iso"
    assert post.summary == "Body bold txet"
    assert list(post.categories) == ["tag"]
    assert post.feed_title == parsed.title == "Blog News"


def test_control_characters_reach_neither_terminal_nor_network(tmp_path, feed_server, fake_x):
    feed_server.serve("/feed.xml", _rss(HOSTILE_TITLE))
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1",
                             AUTOPOST_PLATFORMS="twitter", **network_env(fake_x)))
    poll = autopost(env_file, "poll")
    status = autopost(env_file, "status")
    assert "PWNED" not in poll.stdout + status.stdout           # the OSC payload goes with its sequence
    assert "RED and end evil iso" in poll.stdout + poll.stderr
    assert "RED and end evil iso" in status.stdout
    assert len(fake_x.posts) == 1
    for text in (poll.stdout, poll.stderr, status.stdout, status.stderr, fake_x.posts[0]["text"]):
        assert _dirty(text) == [], text


@pytest.mark.parametrize("raw, clean", [
    ("a\x1b[1;31mb\x1b[0mc", "abc"),                     # CSI, whole
    ("a\x1b]0;title\x07b", "ab"),                         # OSC ended by BEL
    ("a\x1b]8;;https://x.example/\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),   # OSC 8 hyperlink, ST
    ("a\x1bMb\x1b(Bc", "abc"),                            # other ESC sequences
    ("a\x9b2Jb\x9d0;t\x9cc", "abc"),                      # their C1 forms
    ("a\x00\x07\x08\x7f\x85b", "ab"),                     # lone C0/C1 controls
    ("a\u202eb\u2066c\u2069d\u202ae", "abcde"),           # bidi overrides and isolates
    ("tab\tand\nnewline ok – ünïcode ✓", "tab\tand\nnewline ok – ünïcode ✓"),
])
def test_plain_text_removes_escape_sequences_and_controls_whole(raw, clean):
    from bot.values import plain_text

    assert plain_text(raw) == clean


def test_status_masks_a_feed_a_ledger_of_an_earlier_version_keyed_by_its_real_url(tmp_path, feed_server):
    from bot.store import Store

    feed_server.serve("/feed.xml", _rss("Public"))
    db = tmp_path / "ledger.db"
    store = Store(db)                        # an earlier version stored the feed under its real URL
    store.record_fetch_error("https://feeduser:OLDPASSWORD555@blog.example.com/feed", "HTTP 500")
    store.close()
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(db)))
    output = "".join(autopost(env_file, *args).stdout for args in (("status",), ("status", "--json")))
    assert "https://feeduser:****@blog.example.com/feed (no longer configured)" in output
    assert "OLDPASSWORD555" not in output


def test_a_protected_feeds_relative_links_carry_no_credentials_into_posts(tmp_path, feed_server, fake_x):
    feed_server.serve("/private/feed.xml", rss_feed([
        {"title": "Members only", "link": "/2026/11/members/", "guid": "m1", "pubDate": NOW - timedelta(minutes=5),
         "image": "/img/cover.jpg"}]))
    port = feed_server.url().split(":")[2].split("/")[0]
    env_file = str(write_env(tmp_path / "autopost.env",
                             AUTOPOST_FEEDS=f"http://feeduser:FEEDPASSWORD777@127.0.0.1:{port}/private/feed.xml",
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1",
                             AUTOPOST_PLATFORMS="twitter", **network_env(fake_x=fake_x)))
    assert autopost(env_file, "poll").returncode == 0
    (sent,) = [post["text"] for post in fake_x.posts]
    assert f"http://127.0.0.1:{port}/2026/11/members/" in sent
    assert "feeduser" not in sent and "****" not in sent
