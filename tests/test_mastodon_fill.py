"""Mastodon fill: whatever the feed says, a status is never over the instance's limit as
Mastodon counts it (grapheme clusters, each URL as characters_reserved_per_url, a remote
mention as @user), the link is never cut, and no one is mentioned by accident.

The limit is the instance's (``MastodonPlatform.text_rules()``): the usual 500 and 23,
a small instance's 200, a large one's 5,000 with 30 per URL.
"""
from __future__ import annotations

import re
import unicodedata
from functools import partial

from hypothesis import given, settings, strategies as st

from bot.compose import ELLIPSIS, ComposeOptions, clean_text, compose
from bot.models import Post
from bot.platforms import mastodon
from bot.platforms.mastodon import length
from tests.test_compose import cut_is_clean

LINKS = ["https://blog.example.com/2024/05/a_post_(draft)", "https://blog.example.com/p?id=42&lang=en",
         "https://例え.jp/記事/1", "http://localhost:8080/post/", "https://blog.example.com/a-post/#comments"]
INSTANCES = [(500, 23), (200, 23), (200, 30), (5000, 30), (120, 23)]
TEMPLATES = [None, "{title} {url}", "{title}\n{summary}\n{hashtags}", "{feed_title}: {title} by {author}\n\n{url}"]


def rules_of(instance):
    limit, url_length = instance
    return mastodon.NETWORK.text._replace(limit=limit, length=partial(length, url_length=url_length))


def post(title, summary="", categories=(), author="", url=LINKS[0]):
    return Post(feed_url="https://blog.example.com/feed", key="k", url=url, title=title, summary=summary,
                author=author, categories=tuple(categories), feed_title="Blog")


def link_is_whole(text, link):
    """The link stands in the text as one URL, as Mastodon's extractor finds it."""
    return any(text[start:end] == link for start, end, _ in mastodon._url_entities(text))


_MIXED = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)
_WORDS = st.lists(st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüß", min_size=1, max_size=12),
    st.sampled_from(["@alice", "@bob@mastodon.social", "me@example.com", "https://example.org/x",
                     "example.com", "#Tag", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F1EF\U0001F1F5",
                     "日本語のテキスト", "e\u0301", "(see https://en.wikipedia.org/wiki/A_(b))"]),
), max_size=120).map(" ".join)


@settings(max_examples=250, deadline=None)
@given(title=st.one_of(_MIXED, _WORDS), summary=st.one_of(st.text(max_size=1500), _WORDS),
       cats=st.lists(st.text(max_size=30), max_size=6), author=st.text(max_size=40),
       instance=st.sampled_from(INSTANCES), template=st.sampled_from(TEMPLATES),
       link=st.sampled_from(LINKS), utm=st.sampled_from([None, "utm_source={platform}"]), allow=st.booleans())
def test_property_never_over_the_instances_limit_and_the_link_whole(title, summary, cats, author, instance,
                                                                    template, link, utm, allow):
    rules = rules_of(instance)
    message = compose(post(title, summary, cats, author, link), "mastodon", template,
                      ComposeOptions(utm=utm, allow_mentions=allow, summary_max=0), rules)

    limit, url_length = instance
    assert message.length == length(message.text, url_length) <= limit == message.limit
    assert message.post_url == link and link_is_whole(message.text, message.link)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in message.text)
    if not allow:
        assert mastodon._mention_entities(message.text) == []


@settings(max_examples=150, deadline=None)
@given(title=st.text(min_size=1, max_size=300), instance=st.sampled_from(INSTANCES))
def test_property_title_is_whole_or_cut_cleanly(title, instance):
    """The title a reader sees is the feed's (NFC, one line), or a clean prefix of it and …"""
    long_title = title * (1 + instance[0] // max(1, len(title)))
    expected = clean_text(long_title)
    message = compose(post(long_title), "mastodon", "{title}\n{url}", ComposeOptions(allow_mentions=True),
                      rules_of(instance))
    head = message.text.split("\n")[0]
    if head == message.link or not expected.strip():
        return
    if head.endswith(ELLIPSIS) and head != expected:
        kept = head[:-1]
        assert expected.startswith(kept) and cut_is_clean(expected, kept)
    else:
        assert head == expected


@settings(max_examples=100, deadline=None)
@given(words=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10), min_size=150,
                      max_size=300))
def test_property_a_shortened_status_uses_the_room(words):
    """Cut at a word: the next word would not have fitted."""
    title = " ".join(words)
    rules = rules_of((500, 23))
    message = compose(post(title), "mastodon", "{title} {url}", ComposeOptions(), rules)
    if message.text == f"{title} {message.link}":
        assert length(message.text) <= 500
        return
    kept = message.text[: -len(f"{ELLIPSIS} {message.link}")]
    assert title.startswith(kept) and message.text.endswith(f"{ELLIPSIS} {message.link}")
    following = title.find(" ", len(kept) + 1)
    longer = title[: following if following > 0 else len(title)]
    assert length(f"{longer}{ELLIPSIS} {message.link}") > 500


def test_a_long_title_on_a_small_instance_keeps_the_link():
    message = compose(post("word " * 300), "mastodon", None, ComposeOptions(), rules_of((120, 23)))
    assert message.length <= 120 and link_is_whole(message.text, message.link)
    assert unicodedata.is_normalized("NFC", message.text)


# --------------------------------------------------------------------------- cheap URL patterns
#
# Text without the few characters beyond Latin-1 that Mastodon's URL patterns name (or that
# match an ASCII letter ignoring case) is searched with their cheap Latin-1 cuts (issue 18).
# The full patterns are the oracle.
_FULL_SCHEME = mastodon._SCHEME.pattern
_EVERY_CHAR = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def test_the_latin1_host_class_matches_as_the_full_one_outside_the_ruled_out_chars():
    full = mastodon._HOST_RUN.compiled()
    cut = mastodon._LATIN1_HOST_RUN.compiled()
    differ = set(full.sub("", _EVERY_CHAR)) ^ set(cut.sub("", _EVERY_CHAR))
    assert differ and differ <= mastodon._NEEDS_FULL_URL_PATTERNS


def test_the_latin1_scheme_matches_as_the_full_one_outside_the_ruled_out_chars():
    full = re.compile(_FULL_SCHEME, re.IGNORECASE)
    cut = mastodon._LATIN1_SCHEME.compiled()
    words = ["http", "https", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher", "gemini", "ftp"]
    for word in words:
        for spelt in (word, word.upper(), word.title(), word.replace("s", "\u017f").replace("i", "\u0131")):
            for before in ["", " ", "a", "Z", "0", "@", "$", "#", "_", "\u00e9", "\uff20", "\uff03", "\ufeff", "\u212a"]:
                text = before + spelt + "://x"
                if mastodon._NEEDS_FULL_URL_PATTERNS.isdisjoint(text):
                    assert [m.span() for m in cut.finditer(text)] == [m.span() for m in full.finditer(text)], text
    # The look-behind's class: every character before a scheme.
    lookbehind_full = re.compile(_FULL_SCHEME.split(")", 1)[0] + ")!", re.IGNORECASE)
    lookbehind_cut = re.compile(mastodon._LATIN1_SCHEME.pattern.split(")", 1)[0] + ")!")
    spaced = "!".join(_EVERY_CHAR)            # the "!" after character i is at 2 i + 1
    differ = {_EVERY_CHAR[m.start() // 2] for m in lookbehind_full.finditer(spaced)} ^ \
        {_EVERY_CHAR[m.start() // 2] for m in lookbehind_cut.finditer(spaced)}
    assert differ and differ <= mastodon._NEEDS_FULL_URL_PATTERNS


_URL_PIECES = st.one_of(st.sampled_from([
    "https://", "HTTPS://", "httpſ://", "gemini://", "ssb://", "ftp://", "://", "a", "Z", "1", ".", ".", "-", "_", "/",
    "?", "=", "&", "#", "@", "$", "(", ")", ":", ":8080", " ", "\n", "\u3000", "\u00e9", "\u4e2d", "\u00a0",
    "example", ".com", ".jp", ".xn--p1ai", "\u4f8b\u3048", "localhost", "\u2019", "\u2014", "\u2026",
    "\uff20", "\uff03", "\ufeff", "\u202a", "\u200e", "\u0130", "\u0131", "\u212a", "\U0001F600"]), st.characters())


@settings(max_examples=500, deadline=None)
@given(st.lists(_URL_PIECES, max_size=20).map("".join))
def test_url_entities_with_the_latin1_patterns_are_those_of_the_full_ones(text):
    full, cut = (mastodon._SCHEME, mastodon._HOST_RUN), (mastodon._LATIN1_SCHEME, mastodon._LATIN1_HOST_RUN)
    found = mastodon._url_entities(text)
    try:
        mastodon._LATIN1_SCHEME, mastodon._LATIN1_HOST_RUN = full
        assert found == mastodon._url_entities(text)         # every text, read with the full patterns
    finally:
        mastodon._LATIN1_SCHEME, mastodon._LATIN1_HOST_RUN = cut
