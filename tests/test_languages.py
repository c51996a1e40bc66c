"""The feed's own language reaches Bluesky as the record's ``langs`` (issue 14, point 5)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot.feeds import language_tag, parse
from tests.conftest import network_env, run_cli, write_env
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)
ITEM = {"title": "Neues aus Rust", "link": "https://blog.example.com/rust/", "guid": "rust",
        "pubDate": NOW - timedelta(hours=1), "description": "Was sich ändert."}


@pytest.mark.parametrize("value, tag", [
    ("de-DE", "de-DE"), ("en", "en"), (" en-gb \n", "en-gb"), ("zh-Hant-TW", "zh-Hant-TW"),
    ("es-419", "es-419"), ("English", "English"),      # letters only: plausible, a network may judge
    ("en_US", ""), ("de DE", ""), ("e", ""), ("", ""), ("-en", ""), ("en-", ""), ("en--gb", ""),
    ("<b>en</b>", ""), ("en-abcdefghi", ""), ("\u00e9n", ""), (None, ""), (42, ""), (["en"], ""),
])
def test_only_a_plausible_language_tag_is_kept(value, tag):
    assert language_tag(value) == tag


def _poll_to_bluesky(tmp_path, feed_server, fake_pds, body: bytes, *, content_type: str | None = None) -> dict:
    kwargs = {"content_type": content_type} if content_type else {}
    feed_server.serve("/feed", body, **kwargs)
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url("/feed"),
                        AUTOPOST_DB=str(tmp_path / "l.db"), AUTOPOST_BACKFILL="1",
                        **network_env(fake_pds=fake_pds)))
    poll = run_cli("--env-file", env, "poll")
    assert poll.code == 0, poll.out + poll.err
    (record,) = fake_pds.records.values()
    return record["value"]


def test_a_feed_in_german_gives_the_bluesky_record_its_language(tmp_path, feed_server, fake_pds):
    record = _poll_to_bluesky(tmp_path, feed_server, fake_pds, rss_feed([ITEM], language="de-DE"))
    assert record["langs"] == ["de-DE"]
    assert record["text"].startswith("Neues aus Rust")


def test_a_feed_without_a_language_sends_no_langs(tmp_path, feed_server, fake_pds):
    record = _poll_to_bluesky(tmp_path, feed_server, fake_pds, rss_feed([ITEM]))
    assert "langs" not in record


def test_a_feed_language_that_is_no_tag_sends_no_langs(tmp_path, feed_server, fake_pds):
    record = _poll_to_bluesky(tmp_path, feed_server, fake_pds, rss_feed([ITEM], language="de_DE"))
    assert "langs" not in record


def test_a_json_feed_language_reaches_bluesky(tmp_path, feed_server, fake_pds):
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "Blog", "language": "fr-CA",
                "items": [{"id": "rust", "url": "https://blog.example.com/rust/", "title": "Du nouveau",
                           "content_text": "Quoi de neuf.", "date_published": ITEM["pubDate"].isoformat()}]}
    record = _poll_to_bluesky(tmp_path, feed_server, fake_pds, json.dumps(document).encode(),
                              content_type="application/feed+json")
    assert record["langs"] == ["fr-CA"]


@pytest.mark.parametrize("fast", [True, False])
def test_both_xml_routes_read_the_language_and_a_changed_one_is_not_remembered(fast):
    from bot import feeds

    url = f"https://blog.example.com/feed-{fast}.xml"
    german = feeds._parse_xml_feed(rss_feed([ITEM], language="de-DE"), feed_url=url, base_url=None, fast=fast)
    assert [p.language for p in german.posts] == ["de-DE"]
    # The same item bytes under a new channel language: the remembered Post must not be reused.
    english = feeds._parse_xml_feed(rss_feed([ITEM], language="en"), feed_url=url, base_url=None, fast=fast)
    assert [p.language for p in english.posts] == ["en"]
    atom = parse(b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="nl"><title>t</title>'
                 b'<entry><id>x</id><title>a</title><link href="https://blog.example.com/a/"/></entry></feed>',
                 feed_url=url)
    assert [p.language for p in atom.posts] == ["nl"]

