"""X's weighted length against twitter-text's own conformance cases (copied into tests/data)."""
import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from bot.compose import grapheme_boundaries
from bot.twitter_text import cautious_weighted_length, url_spans, weighted_length, weighted_length_v2

DATA = Path(__file__).parent / "data"


def cases(name):
    doc = json.loads((DATA / f"twitter-text-{name}.json").read_text(encoding="utf-8"))
    return [pytest.param(c["text"], c["expected"]["weightedLength"], id=c["description"][:60])
            for c in doc["cases"]]


@pytest.mark.parametrize("text, expected", cases("weighted-v3") + cases("weighted-directional"))
def test_v3_conformance_cases(text, expected):
    assert weighted_length(text) == expected


@pytest.mark.parametrize("text, expected", cases("weighted-v2"))
def test_v2_conformance_cases_without_emoji_parsing(text, expected):
    assert weighted_length_v2(text) == expected


def test_every_emoji_of_emoji_12_counts_two():
    doc = json.loads((DATA / "twitter-text-emoji.json").read_text(encoding="utf-8"))
    wrong = [t for t in doc["texts"] if weighted_length(t) != doc["expected"]]
    assert wrong == []
    assert len(doc["texts"]) > 3000


@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("abc", 3),
    ("café", 4),                      # NFC and NFD count alike
    ("cafe\u0301", 4),
    ("日本語", 6),
    ("\u00a9 2024", 6),               # © alone is text (weight 1), not an emoji
    ("\u00a9\ufe0f", 2),              # with VS16 it is an emoji
    ("\u2764\ufe0e", 4),              # VS15 asks for text: two code points of weight 2
    ("\u2764\ufe0f", 2),
    ("1\ufe0f\u20e3", 2),             # keycap
    ("\U0001F1EF\U0001F1F5", 2),      # flag
    ("\U0001F44D\U0001F3FD", 2),      # skin tone
    ("\U0001F3F3\ufe0f\u200d\U0001F308", 2),   # rainbow flag (ZWJ)
    ("see example.com now", 31),       # a URL without protocol still counts 23
    ("ASP.NET rocks", 29),
    ("node.js", 7),                    # .js is not a TLD
    ("https://example.com/" + "a" * 500, 23),
    ("https://example.com/post_(1)", 23),
])
def test_weighted_length_table(text, expected):
    assert weighted_length(text) == expected


@pytest.mark.parametrize("text, urls", [
    ("Hi http://test.co", ["http://test.co"]),
    ("x https://blog.example.com/a_(b)?utm_source=x&y=1#frag y", ["https://blog.example.com/a_(b)?utm_source=x&y=1#frag"]),
    ("no urls here", []),
    ("mail me at a@b.com", []),        # preceded by @: not a URL
])
def test_url_extraction(text, urls):
    assert [text[s:e] for s, e in url_spans(text)] == urls


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_safe_count_never_below_exact_count_and_v2_never_below_v3(text):
    assert weighted_length(text) <= cautious_weighted_length(text) <= weighted_length_v2(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_grapheme_boundaries_cover_the_text(text):
    bounds = grapheme_boundaries(text)
    assert bounds == sorted(set(bounds))
    if text:
        assert bounds[0] == 0 and bounds[-1] == len(text)


@pytest.mark.parametrize("text, clusters", [
    ("e\u0301a", ["e\u0301", "a"]),
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467", ["\U0001F468\u200d\U0001F469\u200d\U0001F467"]),
    ("\U0001F1EF\U0001F1F5\U0001F1FA\U0001F1F8", ["\U0001F1EF\U0001F1F5", "\U0001F1FA\U0001F1F8"]),
    ("1\ufe0f\u20e3x", ["1\ufe0f\u20e3", "x"]),
    ("\U0001F44D\U0001F3FD!", ["\U0001F44D\U0001F3FD", "!"]),
    ("\u1100\u1161\u11a8", ["\u1100\u1161\u11a8"]),        # Hangul jamo L V T
    ("\r\n", ["\r\n"]),
    ("\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", [
        "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"]),
])
def test_grapheme_clusters(text, clusters):
    bounds = grapheme_boundaries(text)
    assert [text[a:b] for a, b in zip(bounds, bounds[1:])] == clusters
