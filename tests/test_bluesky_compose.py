"""Bluesky's messages as the composer writes them: never over 300 graphemes or 3000 bytes, the
link never cut, and every facet on exactly the link or tag text it names.

Properties over composed messages (not over hand-made texts: tests/platforms/test_bluesky.py
has those), then every entry of the 19 real feeds in ../shared/corpus.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from bot.compose import ComposeOptions, compose, hashtags
from bot.models import Post
from bot.platforms import bluesky
from tests.conftest import CORPUS

LINK = "https://blog.example.com/2026/11/a-post_(draft)?x=1&y=é"
TEMPLATES = (None, "{title} {url}\n\n{summary}\n{hashtags}", "{url} {hashtags} {title} — {author}",
             "{title}\n{summary} {url}")

# Pieces that make fitting and facets hard: wide and joined graphemes, marks, URLs and
# tag-like words inside the feed's own text, punctuation that ends links and tags.
_PIECES = st.sampled_from([
    "日本語", "🇯🇵", "👨\u200d👩\u200d👧\u200d👦", "café", "e\u0301", "ก\u0e49", " ", "word", "(", ")", ".",
    ",", "!", "—", "…", "#Python", "#日本", "#2026", "＃全角", "@someone", "me@example.com",
    "https://example.org/page", "http://例え.jp/パス", "1\ufe0f\u20e3", "\u200d", "\ufe0f",
])
_TEXT = st.one_of(st.text(max_size=400), st.lists(_PIECES, max_size=120).map("".join))


def post(title: str, summary: str = "", categories=(), author: str = "", url: str = LINK) -> Post:
    return Post(feed_url="https://blog.example.com/feed", key="k", url=url, title=title, summary=summary,
                author=author, categories=tuple(categories))


def spans(text: str) -> dict[tuple[int, int], dict]:
    """Each facet by the UTF-8 byte range it covers."""
    return {(f["index"]["byteStart"], f["index"]["byteEnd"]): f["features"][0] for f in bluesky.facets(text)}


def byte_span(text: str, start: int, end: int) -> tuple[int, int]:
    return len(text[:start].encode("utf-8")), len(text[:end].encode("utf-8"))


def assert_valid(message, categories=(), options: ComposeOptions | None = None) -> None:
    """What Bluesky would accept, and what a reader should get: checked without the composer's help."""
    options = options or ComposeOptions()
    text = message.text
    data = text.encode("utf-8")
    assert len(data) <= bluesky.MAX_TEXT_BYTES and bluesky.grapheme_length(text) <= bluesky.LIMIT
    assert message.length == bluesky.length(text) <= message.limit == 300
    assert message.link == message.post_url == LINK or message.link.startswith(message.post_url)
    found = spans(text)
    for (start, end), feature in found.items():
        covered = data[start:end].decode("utf-8")           # never inside a character
        if feature["$type"].endswith("#link"):
            assert covered == feature["uri"]
        else:
            assert covered[0] in "#\uff03" and covered[1:] == feature["tag"]
    # Our link, where the template shows it, is whole and is one link facet exactly on it.
    if message.link in text:
        at = text.index(message.link)
        assert found.get(byte_span(text, at, at + len(message.link))) == \
            {"$type": "app.bsky.richtext.facet#link", "uri": message.link}
    # Every hashtag the composer added from the categories is a tag facet exactly on it.
    for tag in hashtags(categories, limit=options.hashtags_max, extra=options.hashtags_extra):
        for at in (i for i in range(len(text)) if text.startswith(tag, i)):
            after = text[at + len(tag):at + len(tag) + 1]
            if (at == 0 or text[at - 1].isspace()) and (not after or after.isspace()):
                assert found.get(byte_span(text, at, at + len(tag))) == \
                    {"$type": "app.bsky.richtext.facet#tag", "tag": tag[1:]}, (tag, text)


@settings(max_examples=300, deadline=None)
@given(title=_TEXT, summary=st.one_of(_TEXT, st.text(max_size=1500)), author=st.text(max_size=40),
       categories=st.lists(st.one_of(st.text(max_size=30), st.sampled_from(
           ["Machine Learning", "c++", "日本語", "adwords_api", "Été", "2026", "🇯🇵 travel"])), max_size=6),
       template=st.sampled_from(TEMPLATES), utm=st.sampled_from([None, "utm_source={platform}"]))
def test_property_a_composed_bluesky_post_fits_keeps_its_link_and_its_facets_land(
        title, summary, author, categories, template, utm):
    options = ComposeOptions(utm=utm)
    message = compose(post(title, summary, categories, author), "bluesky", template, options)
    assert_valid(message, categories, options)
    if template and "{url}" in template:
        assert message.link in message.text                   # never cut, never dropped
    if utm:
        assert "utm_source=bluesky" in message.link


@settings(max_examples=100, deadline=None)
@given(unit=st.sampled_from(["👨\u200d👩\u200d👧\u200d👦", "🇯🇵", "e\u0301", "ก\u0e49", "語", "é", "a"]),
       repeat=st.integers(min_value=50, max_value=900))
def test_property_long_titles_stop_at_whichever_limit_comes_first(unit, repeat):
    """300 graphemes or 3000 bytes, whichever comes first, and nothing lost that would fit."""
    message = compose(post(unit * repeat, categories=["Python"]), "bluesky", "{title}")
    assert_valid(message)
    kept = message.text.removesuffix("…")
    if kept != message.text:
        # One more unit would not have fitted with the ellipsis.
        assert not bluesky.fits(kept + unit + "…")


# --------------------------------------------------------------------------- the 19 real feeds

FEEDS = CORPUS / "feeds"
FILES = sorted(p.name for p in FEEDS.glob("*") if p.suffix in (".xml", ".json") and p.name != "manifest.json") \
    if FEEDS.is_dir() else []


@pytest.mark.skipif(not FILES, reason=f"feed corpus not found at {FEEDS} (CI puts ../shared beside the clone)")
def test_the_corpus_has_19_feeds():
    assert len(FILES) == 19


@pytest.mark.parametrize("name", FILES or ["(no corpus)"])
def test_every_corpus_entry_is_posted_to_bluesky_as_the_pds_accepts_it(name, fake_pds):
    """Each entry goes through the real adapter to the fake PDS, which checks the record as the
    lexicon does (graphemes, bytes, facets on their text, the card); with a template that puts the
    link and every part in the text, the facets are checked too."""
    if not FILES:
        pytest.skip(f"feed corpus not found at {FEEDS}")
    from bot.feeds import parse

    path = FEEDS / name
    posts = parse(path.read_bytes(), feed_url=path.as_uri()).posts
    sky = bluesky.BlueskyPlatform(pds=fake_pds.base_url, handle=fake_pds.handle,
                                  app_password=fake_pds.app_password, timeout=10)
    rich = "{title} {url}\n\n{summary}\n{hashtags} {author} {feed_title}"
    posted: list[str] = []
    for entry in posts:
        for template in (None, rich):
            message = compose(entry, "bluesky", template, ComposeOptions(utm="utm_source={platform}"))
            assert message.length <= 300 and bluesky.fits(message.text), (entry.url, message.text)
            found = spans(message.text)
            data = message.text.encode("utf-8")
            for (start, end), feature in found.items():
                covered = data[start:end].decode("utf-8")
                assert covered == feature.get("uri") or covered[1:] == feature.get("tag"), (entry.url, covered)
            if template:
                at = message.text.index(message.link)
                assert found[byte_span(message.text, at, at + len(message.link))]["uri"] == message.link
        # The default message, posted: the fake PDS refuses what Bluesky would refuse.
        message = compose(entry, "bluesky", None, ComposeOptions(utm="utm_source={platform}"))
        published = sky.publish(message._replace(image_url=None))
        posted.append(published.remote_id)
    # One record each, entries that share a link (15-scriptingnews: a day's page) included.
    assert len(set(posted)) == len(fake_pds.records) == len(posts)
