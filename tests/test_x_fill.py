"""X fill: a tweet is counted as twitter-text 3.x counts it and filled to within one word of 280.

Checked against twitter-text's own conformance file (validate.yml, in the shared corpus) and
its emoji set (tests/data/twitter-text-emoji.json), then by properties of composed tweets.
"""
import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import bot.twitter_text as tt
from bot.compose import _TRAILING_JUNK, ELLIPSIS, LIMITS, _cut_points, compose, grapheme_boundaries
from bot.models import Post
from bot.twitter_text import (cautious_weighted_length, known_sequences, url_spans, weighted_length,
                              weighted_length_v2)
from tests.conftest import CORPUS

VALIDATE = CORPUS / "twitter-text" / "validate.yml"
EMOJI = json.loads((Path(__file__).parent / "data" / "twitter-text-emoji.json").read_text(encoding="utf-8"))["texts"]
LINK = "https://blog.example.com/2024/05/a-post"
LIMIT = LIMITS["twitter"]


# --------------------------------------------------------------------------- the conformance file

_YAML_ESCAPE = re.compile(r'\\(U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[n"\\t])')


def _yaml_string(raw):
    """A YAML scalar as validate.yml writes them: double-quoted with escapes, or plain."""
    raw = raw.strip()
    if not raw.startswith('"'):
        return {"true": True, "false": False}.get(raw, int(raw) if raw.lstrip("-").isdigit() else raw)
    simple = {"n": "\n", '"': '"', "\\": "\\", "t": "\t"}
    return _YAML_ESCAPE.sub(lambda m: simple.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), raw[1:-1])


def validate_cases():
    """{section: [case, ...]} from validate.yml (no YAML library among the project's tools; the
    file uses a small regular subset: sections of ``- description/text/expected`` items)."""
    sections, case, nested = {}, None, None
    for line in VALIDATE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.strip() == "tests:":
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().lstrip("- ").partition(":")
        if indent == 2:
            current = sections.setdefault(key, [])
        elif line.strip().startswith("- "):
            case = {key: _yaml_string(value)}
            current.append(case)
        elif indent == 6 and key == "expected" and not value.strip():
            case["expected"] = nested = {}
        elif indent == 6:
            case[key] = _yaml_string(value)
        else:
            nested[key] = _yaml_string(value)
    return sections


CONFORMANCE = validate_cases()


def test_the_conformance_file_is_read_whole():
    assert min(len(CONFORMANCE[s]) for s in ("WeightedTweetsWithDiscountedEmojiCounterTest", "urls")) > 10
    assert sum(len(cases) for cases in CONFORMANCE.values()) == VALIDATE.read_text().count("- description:")


def _params(*sections):
    return [pytest.param(case, id=f"{section}: {case['description'][:50]}")
            for section in sections for case in CONFORMANCE[section]]


@pytest.mark.parametrize("case", _params("WeightedTweetsWithDiscountedEmojiCounterTest",
                                         "UnicodeDirectionalMarkerCounterTest"))
def test_conformance_weighted_length_v3(case):
    assert weighted_length(case["text"]) == case["expected"]["weightedLength"]
    # Every sequence in these cases is one twitter-text knows: the fitting count agrees.
    assert cautious_weighted_length(case["text"]) == case["expected"]["weightedLength"]


@pytest.mark.parametrize("case", _params("WeightedTweetsCounterTest"))
def test_conformance_weighted_length_v2(case):
    assert weighted_length_v2(case["text"]) == case["expected"]["weightedLength"]


@pytest.mark.parametrize("case", _params("urls_without_protocol"))
def test_conformance_urls(case):
    # A valid URL is one URL, the whole text (counted 23). (The "urls" section checks
    # isValidUrl, a syntax check X's counting does not use: user info, IP addresses.)
    whole = url_spans(case["text"]) == [(0, len(case["text"]))]
    assert whole == case["expected"]
    if case["expected"]:
        assert weighted_length(case["text"]) == 23


@pytest.mark.parametrize("case", _params("WeightedTweetsWithDiscountedEmojiCounterTest"))
def test_conformance_texts_fit_a_tweet(case):
    """Each conformance text as a title: the tweet never passes 280 and is filled to within one word."""
    text = re.sub(r"\s+", " ", case["text"]).strip()
    if "@" in text or "#" in text:
        pytest.skip("mentions are defused and hashtags kept whole: another rule")
    message = compose(Post(feed_url="f", key="k", url=LINK, title=text), "twitter")
    assert weighted_length(message.text) <= LIMIT
    assert_within_one_word(text, message.text)


# --------------------------------------------------------------------------- the emoji set

def test_known_sequences_are_twitter_texts_joined_emoji():
    joined = {t for t in EMOJI if tt._OPEN_ENDED_SEQUENCE.search(t)}
    assert known_sequences() == joined
    assert len(joined) > 1500


def test_every_emoji_of_the_set_counts_two_when_fitting():
    assert [t for t in EMOJI if cautious_weighted_length(t) != 2] == []


@pytest.mark.parametrize("text, exact, cautious", [
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466", 2, 2),     # family: known
    ("\U0001F3F3\ufe0f\u200d\U0001F308", 2, 2),                                # rainbow flag: known
    ("\U0001F1EF\U0001F1F5", 2, 2),                                            # Japan: known
    ("\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", 2, 2),   # Scotland
    ("1\ufe0f\u20e3", 2, 2),
    ("\U0001F44D\U0001F3FD", 2, 2),                                            # thumbs up, skin tone
    # Unknown to the set: counted code point by code point when fitting.
    ("\U0001F468\u200d\U0001F996", 2, 5),                                      # man + ZWJ + T-rex
    ("\U0001F1E6\U0001F1E6", 2, 4),                                            # no such flag
    ("\u2615\U0001F3FD", 2, 4),                                                # coffee cannot take a skin tone
])
def test_joined_sequences_known_and_unknown(text, exact, cautious):
    assert weighted_length(text) == exact
    assert cautious_weighted_length(text) == cautious


# --------------------------------------------------------------------------- filling a tweet

def _tweet_for(title):
    return compose(Post(feed_url="f", key="k", url=LINK, title=title), "twitter").text


def assert_within_one_word(title, tweet):
    """``tweet`` is ``title`` (whole, or cut and ended with …) and the link; if cut, the title up
    to the end of the next word would not have fitted."""
    if tweet == f"{title} {LINK}":
        return
    assert tweet.endswith(f"{ELLIPSIS} {LINK}"), tweet
    kept = tweet[: -len(f"{ELLIPSIS} {LINK}")]
    assert title.startswith(kept)
    # The next word that adds something: a cut drops trailing separators ("url:" ends as "url").
    following = len(kept)
    while True:
        following = title.find(" ", following + 1)
        longer = title if following < 0 else title[:following].rstrip(_TRAILING_JUNK)
        if following < 0 or len(longer) > len(kept):
            break
    candidate = f"{longer} {LINK}" if longer == title else f"{longer}{ELLIPSIS} {LINK}"
    assert cautious_weighted_length(candidate) > LIMIT, (kept, longer)


FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"
RAINBOW = "\U0001F3F3\ufe0f\u200d\U0001F308"


@pytest.mark.parametrize("title", [
    f"Family {FAMILY} " * 40,               # was cut at 162 of 280
    f"Pride {RAINBOW} " * 40,               # at 182
    "Japan \U0001F1EF\U0001F1F5 " * 40,     # at 232
    "Key 1\ufe0f\u20e3 " * 60,
    "\U0001F3F4\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F Wales " * 40,
])
def test_emoji_sequence_titles_fill_the_tweet(title):
    title = title.strip()
    tweet = _tweet_for(title)
    assert LIMIT - 9 <= weighted_length(tweet) <= LIMIT
    assert_within_one_word(title, tweet)


def test_text_without_spaces_ends_within_one_grapheme():
    title = FAMILY * 200
    tweet = _tweet_for(title)
    kept = tweet[: -len(f"{ELLIPSIS} {LINK}")]
    assert weighted_length(tweet) <= LIMIT
    assert cautious_weighted_length(title[: len(kept) + len(FAMILY)] + f"{ELLIPSIS} {LINK}") > LIMIT


def test_unknown_sequences_are_never_under_counted():
    # X may split a ZWJ sequence its set lacks into its parts: 2 + 1 + 2 for man, ZWJ, T-rex.
    title = " ".join(["\U0001F468\u200d\U0001F996"] * 100)
    tweet = _tweet_for(title)
    parts = tweet.replace("\U0001F468\u200d\U0001F996", "\U0001F468 \U0001F996")   # as X may count it: 5 each
    assert weighted_length(parts) <= LIMIT
    assert_within_one_word(title, tweet)


@pytest.mark.parametrize("title", [
    "https://example.com/" + "a" * 400,          # longer than the whole tweet in characters
    "https://example.com/" + "a" * 3000,
    "example.com/" + "b" * 300,                   # no protocol: still a URL X counts 23
    "https://example.com/x",
])
def test_a_title_that_is_a_url_counts_23_and_is_kept(title):
    tweet = _tweet_for(title)
    assert tweet == f"{title} {LINK}"
    assert weighted_length(tweet) == 23 + 1 + 23


# Words a title is made of: plain and accented words, CJK (weight 2 each), URLs (23 however
# long), known emoji of every kind (one to ten code points, weight 2).
_EMOJI_WORDS = st.sampled_from(EMOJI)
_WORDS = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüß", min_size=1, max_size=14),
    st.text(alphabet="日本語中文漢字かなカナ", min_size=1, max_size=6),
    st.lists(_EMOJI_WORDS, min_size=1, max_size=4).map("".join),
    st.builds(lambda w, e: w + e, st.text(alphabet="abcxyz", min_size=1, max_size=6), _EMOJI_WORDS),
    st.sampled_from(["example.com", "docs.python.org/3/", "https://x.org/" + "p" * 60, "t.co"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=120).map(" ".join))
def test_property_shortened_tweet_is_within_one_word_of_280_and_never_over(title):
    tweet = _tweet_for(title)
    assert weighted_length(tweet) <= LIMIT
    assert cautious_weighted_length(tweet) <= LIMIT
    assert_within_one_word(title, tweet)


# Graphemes of scripts written without spaces and without wide characters, so that no point
# in the text is a word boundary: marks, keycaps, Devanagari and Thai clusters.
_GRAPHEMES = st.sampled_from(["a", "b", "\u00e9", "\u0436", "e\u0301\u0301", "1\ufe0f\u20e3", "\u0915\u094d\u0937",
                              "\u0915\u093f", "\u0e01\u0e33", "\u00a9\ufe0f"])


@settings(max_examples=100, deadline=None)
@given(st.lists(_GRAPHEMES, min_size=100, max_size=400).map("".join))
def test_property_text_without_spaces_ends_within_one_grapheme(title):
    title = unicodedata.normalize("NFC", title)
    assert _cut_points(title)[0] == []
    tweet = _tweet_for(title)
    assert weighted_length(tweet) <= LIMIT
    if tweet == f"{title} {LINK}":
        return
    kept = tweet[: -len(f"{ELLIPSIS} {LINK}")]
    assert title.startswith(kept)
    following = next(b for b in grapheme_boundaries(title) if b > len(kept))
    assert cautious_weighted_length(title[:following] + f"{ELLIPSIS} {LINK}") > LIMIT
