"""Every real feed in ../shared/corpus/feeds normalises into clean Posts.

The corpus is 19 feeds written by real publishing software and copied byte for byte (see its
SOURCES.md for where each came from and what is tricky about it). CI has ``../shared`` beside
the clone; without it these tests are skipped, saying why.
"""
from __future__ import annotations

import json
import re
from datetime import timezone
from pathlib import Path

import pytest

from bot.feeds import parse

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"
FILES = sorted(p.name for p in CORPUS.glob("*") if p.suffix in (".xml", ".json") and p.name != "manifest.json") \
    if CORPUS.is_dir() else []

# Markup that must never reach a social network, and character references left undecoded.
LEFTOVER_TAG = re.compile(r"</?(?:p|br|div|img|li|script|style)\b[^>]*>",
                          re.IGNORECASE)
LEFTOVER_ENTITY = re.compile(r"&(?:#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);", re.IGNORECASE)
URL = re.compile(r"https?://[^\s<>\"]+")

# Posts whose text really contains a character reference, decoded exactly once: this Blogger
# post quotes an XML API response whose element text is escaped HTML ("&lt;a href=…&gt;").
LITERAL_REFERENCES = {
    "http://googleadsdeveloper.blogspot.com/2016/05/upcoming-changes-to-adwords-policy-names.html": {"&lt;", "&gt;"},
}


def manifest() -> dict[str, int]:
    return {entry["file"]: entry["items"] for entry in json.loads((CORPUS / "manifest.json").read_text("utf-8"))}


def parsed(name: str):
    path = CORPUS / name
    return parse(path.read_bytes(), feed_url=path.as_uri())


pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feed corpus not found at {CORPUS} "
                                                            "(CI puts ../shared beside the clone)")


def test_corpus_has_the_feeds_the_issue_names():
    names = set(FILES)
    assert len(names) == 19
    assert {"10-rss10-rdf-biorxiv.xml", "12-dvbbs-rss2-gb2312-chinese.xml", "14-jsonfeed-1.1.json",
            "19-jsonfeed-1.1-escaped-slashes.json"} <= names


@pytest.mark.parametrize("name", FILES or ["(no corpus)"])
def test_feed_normalises_to_clean_posts(name):
    feed = parsed(name)
    posts = feed.posts

    assert len(posts) == manifest()[name]
    keys = [post.key for post in posts]
    assert all(key.strip() for key in keys)
    assert len(set(keys)) == len(keys), "keys must be unique within the feed"
    for post in posts:
        assert URL.fullmatch(post.url), post.url
        assert post.image_url is None or URL.fullmatch(post.image_url), post.image_url
        assert post.published is None or post.published.tzinfo == timezone.utc
        texts = {"title": post.title, "summary": post.summary, "author": post.author,
                 "feed_title": post.feed_title, **{f"category {c!r}": c for c in post.categories}}
        for field, text in texts.items():
            assert not LEFTOVER_TAG.search(text), f"{field} of {post.url} keeps markup: {text[:200]!r}"
            leftovers = set(LEFTOVER_ENTITY.findall(text)) - LITERAL_REFERENCES.get(post.url, set())
            assert not leftovers, f"{field} of {post.url} keeps entities {leftovers}: {text[:200]!r}"
            assert text == " ".join(text.split()), f"{field} of {post.url} has loose whitespace"
            assert "\ufffd" not in text, f"{field} of {post.url} was decoded with the wrong charset"
        assert post.title or post.summary, f"{post.url} has neither title nor text"


# --------------------------------------------------------------------------- each feed's trap (SOURCES.md)


def titles(name: str) -> list[str]:
    return [post.title for post in parsed(name).posts]


def test_wordpress_entities_in_titles_are_decoded():
    assert "Huge Fall Sale: 20% of All Trainers & Most Power Meters, $100 off Fenix 5, GoPro Hero6 deal!" \
        in titles("02-wordpress-rss2-entities.xml")
    assert any("’" in t or "–" in t for t in titles("02-wordpress-rss2-entities.xml"))


@pytest.mark.parametrize("name, untitled", [("03-wordpress-rss2-untitled-notes.xml", 4),
                                            ("15-scriptingnews-rss2-untitled.xml", 39)])
def test_untitled_entries_keep_their_text_and_link(name, untitled):
    posts = [p for p in parsed(name).posts if not p.title]
    assert len(posts) == untitled
    assert all(p.summary and p.url for p in posts)


def test_gb2312_feed_is_decoded_and_keyed_by_link():
    posts = parsed("12-dvbbs-rss2-gb2312-chinese.xml").posts
    assert posts[0].title == "建国35周年纪念，华表，和平鸽"
    assert any("★★" in p.title for p in posts)
    assert all(p.key == p.url for p in posts)               # no guid: the canonical link is the key


def test_iso_8859_1_feed_without_guid_uses_feedburner_orig_link():
    posts = parsed("17-iso-8859-1-rss2-noguid.xml").posts
    assert posts[0].title == "Mãe de utente é a nova presidente da Raríssimas"
    assert all(p.url.startswith("https://www.jn.pt/") for p in posts)     # not feeds.jn.pt/~r/…
    assert all(p.key == p.url for p in posts)


def test_blogger_via_feedburner_uses_the_original_link():
    posts = parsed("07-blogger-atom.xml").posts
    assert all(p.url.startswith("http://googleadsdeveloper.blogspot.com/") for p in posts)
    assert "adwords_api" in posts[0].categories


def test_rss10_rdf_feed():
    posts = parsed("10-rss10-rdf-biorxiv.xml").posts
    assert len(posts) == 30
    assert all(p.url.startswith("http://biorxiv.org/") and p.published for p in posts)


def test_guardian_takes_the_widest_media_content():
    post = parsed("11-guardian-rss2-media-content.xml").posts[0]
    assert "w=460" in post.image_url
    assert post.categories[:2] == ("Donald Trump", "State of the Union address")


def test_substack_enclosure_image_and_emoji_titles():
    posts = parsed("09-substack-rss2-emoji.xml").posts
    assert all(p.image_url and p.image_url.startswith("https://substackcdn.com/") for p in posts)
    assert any("❄️" in t for t in titles("09-substack-rss2-emoji.xml"))


def test_reddit_hex_entity_emoji_is_decoded():
    assert any("😅" in t for t in titles("16-reddit-atom-emoji.xml"))


def test_podcast_audio_enclosures_are_not_images():
    posts = parsed("13-podcast-squarespace-atp.xml").posts
    assert not any(p.image_url and p.image_url.endswith(".mp3") for p in posts)


@pytest.mark.parametrize("name", ["14-jsonfeed-1.1.json", "19-jsonfeed-1.1-escaped-slashes.json"])
def test_json_feeds_keep_tags_and_images(name):
    document = json.loads((CORPUS / name).read_text("utf-8"))
    posts = parsed(name).posts
    for item, post in zip(document["items"], posts):
        assert post.key == item["id"]
        assert post.categories == tuple(dict.fromkeys(item.get("tags") or ()))
        assert post.image_url and "\\/" not in post.image_url
        assert post.url == item["url"]


def test_movable_type_text_summary_entities_are_decoded():
    posts = parsed("01-movabletype-atom-cyrillic.xml").posts
    assert posts[1].summary.startswith("ZXLightControl v.1.0.0 Уменьшено до 50%")


# --------------------------------------------------------------------------- the same posts as before

BASELINE = Path(__file__).resolve().parent / "data" / "corpus-baseline.json"


def baseline() -> dict[str, list[list]]:
    """Per feed, [key, url, title, published] of every entry, as the parser gave them before
    identity, link and decoding rules were tightened (recorded from that parser, not by hand)."""
    return json.loads(BASELINE.read_text("utf-8"))


def as_rows(posts) -> list[list]:
    return [[p.key, p.url, p.title, p.published.isoformat() if p.published else None] for p in posts]


@pytest.mark.parametrize("name", FILES or ["(no corpus)"])
def test_feed_parses_to_exactly_the_posts_it_gave_before(name):
    assert as_rows(parsed(name).posts) == baseline()[name]


def test_every_corpus_entry_is_still_posted_none_newly_skipped(tmp_path, clock):
    from bot.models import FetchResult
    from bot.store import Store

    # The clock stands after the newest entry of the corpus: none is dated in the future.
    store = Store(tmp_path / "ledger.db", clock=clock)
    expected = baseline()
    for name in FILES:
        posts = parsed(name).posts
        url = (CORPUS / name).as_uri()
        queued = store.record_entries(url, FetchResult(url=url, status=200), name, posts, platforms=("console",),
                                      backfill=len(posts), max_age=None, burst_limit=5)
        assert sorted(as_rows(queued)) == sorted(expected[name]), name
        assert queued.burst == 0
        # The same document again: nothing new (identity holds for every entry).
        again = store.record_entries(url, FetchResult(url=url, status=200), name, posts, platforms=("console",),
                                     backfill=len(posts), max_age=None, burst_limit=5)
        assert list(again) == [], name
    assert not [r for r in store.post_records(limit=0) if r.skipped]
    store.close()


@pytest.mark.parametrize("name", FILES or ["(no corpus)"])
@pytest.mark.parametrize("limit, url_length", [(500, 23), (200, 30)])
def test_every_entry_composes_for_mastodon_within_the_instances_limit(name, limit, url_length):
    """As delivery composes for an instance: its limit, as Mastodon counts; the link whole; no mention."""
    from functools import partial

    from bot.compose import compose
    from bot.platforms import mastodon

    rules = mastodon.NETWORK.text._replace(limit=limit, length=partial(mastodon.length, url_length=url_length))
    for post in parsed(name).posts:
        message = compose(post, "mastodon", rules=rules)
        assert message.length == mastodon.length(message.text, url_length) <= limit, post.url
        assert any(message.text[start:end] == post.url for start, end, _ in mastodon._url_entities(message.text)), \
            f"{post.url} is not whole in {message.text!r}"
        assert mastodon._mention_entities(message.text) == [], post.url
        assert post.title[:20] in message.text or not post.title or limit < 500, post.url
