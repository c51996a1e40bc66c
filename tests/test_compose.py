"""The message each network gets: templates, limits as each network counts, hashtags, escaping."""
import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from bot.compose import (DEFAULT_TEMPLATES, clean_text, ELLIPSIS, LIMITS, ComposeOptions, check_template, compose,
                         hashtags, tagged_url)
from bot.platforms.linkedin import linkedin_escape
from bot.twitter_text import measure, url_spans, weighted_length
from bot.models import Post

URL = "https://blog.example.com/2024/05/a_post_(draft)"
RESERVED = set("\\|{}@[]()<>#*_~")


def post(title="A title", summary="A summary.", categories=(), url=URL, author="Ann", feed_title="Blog"):
    return Post(feed_url="https://blog.example.com/feed", key="k", url=url, title=title, summary=summary,
                author=author, categories=tuple(categories), feed_title=feed_title)


def linkedin_unescape(text):
    """What a LinkedIn reader sees: escapes resolved, hashtag templates shown as #Name.

    Strict: an unescaped reserved character outside a hashtag template is an error,
    because LinkedIn would cut the post there.
    """
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            assert i + 1 < len(text) and text[i + 1] in RESERVED, f"stray backslash at {i}"
            out.append(text[i + 1])
            i += 2
        elif text.startswith("{hashtag|\\#|", i):
            end = text.index("}", i)
            name = text[i + len("{hashtag|\\#|"):end]
            out.append("#" + re.sub(r"\\(.)", r"\1", name))
            i = end + 1
        else:
            assert char not in RESERVED, f"unescaped {char!r} at {i} in {text!r}"
            out.append(char)
            i += 1
    return "".join(out)


def visible(message):
    """The text a reader of that network sees."""
    if message.network == "linkedin":
        return linkedin_unescape(message.text)
    return message.text.replace("\u2060", "")


# --------------------------------------------------------------------------- templates

@pytest.mark.parametrize("template, problem", [
    ("{title} {url}", None),
    ("{title}\n\n{summary} {{not a field}}", None),
    ("{titel}", "unknown placeholder {titel}"),
    ("{title", "malformed template"),
    ("{title:>10}", "takes no format options"),
    ("{}", "unknown placeholder {}"),
])
def test_check_template(template, problem):
    result = check_template(template)
    assert (result is None) if problem is None else (problem in result)


def test_default_templates():
    assert DEFAULT_TEMPLATES["twitter"] == "{title} {url} {hashtags}"
    message = compose(post(categories=["Python"]), "twitter")
    assert message.text == f"A title {URL} #Python"
    assert (message.length, message.limit) == (weighted_length(message.text), 280)


@pytest.mark.parametrize("network, expected", [
    ("twitter", f"A title {URL}"),
    ("linkedin", "A title\n\nA summary."),
    ("facebook", "A title\n\nA summary."),
])
def test_each_network_default(network, expected):
    message = compose(post(), network)
    assert visible(message) == expected
    assert message.post_url == URL and message.link == URL
    assert message.title == "A title" and message.description == "A summary."


def test_literal_braces_and_newlines_in_custom_template():
    message = compose(post(), "facebook", "{{new}} {title}\nby {author} on {feed_title}")
    assert message.text == "{new} A title\nby Ann on Blog"


def test_x_template_without_url_still_carries_the_link():
    assert compose(post(), "twitter", "{title}").text == f"A title {URL}"


def test_empty_fields_leave_no_gaps():
    assert compose(post(summary="   "), "linkedin").text == "A title"
    assert compose(post(title="", summary=""), "twitter").text == URL


# --------------------------------------------------------------------------- fitting

LONG_WORDS = " ".join(f"word{i}" for i in range(200))


@pytest.mark.parametrize("network", list(LIMITS))
@pytest.mark.parametrize("title, summary", [
    (LONG_WORDS, LONG_WORDS * 30),
    ("x" * 400, ""),                                         # one 400-character word
    ("", LONG_WORDS * 30),
    ("日本語のタイトル" * 60, "中文摘要没有空格" * 1500),        # CJK, no spaces
    ("Cafe\u0301 " * 90, "e\u0301" * 9000),                  # NFD combining marks
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467" * 150, ""),  # ZWJ family emoji
    ("\U0001F1EF\U0001F1F5" * 200, "1\ufe0f\u20e3" * 200),   # flags, keycaps
    ("مرحبا بالعالم " * 40, "שלום עולם " * 900),              # right-to-left
    ("#(@_*~)[]{}<>|\\ " * 60, "#tag @user (x) a_b " * 900),  # reserved characters everywhere
    ("Tom &amp; Jerry &lt;3", "Fish &amp; chips"),            # entities stay as the feed gave them
])
def test_fits_the_limit_and_keeps_the_link(network, title, summary):
    message = compose(post(title=title, summary=summary, categories=["Machine Learning", "c++"]), network)
    assert message.length == measure(network, message.text) <= LIMITS[network]
    if network == "twitter":
        assert URL in message.text and (message.text.index(URL), message.text.index(URL) + len(URL)) \
            in url_spans(message.text)
    shown = visible(message)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in shown)


def test_summary_gives_way_before_title_and_hashtags_last():
    title = "A title that stays"
    message = compose(post(title=title, summary=LONG_WORDS * 2), "linkedin",
                      "{title}\n\n{summary}\n\n{hashtags}")
    assert visible(message).startswith(title + "\n\n")
    x = compose(post(title=LONG_WORDS, categories=["One", "Two"]), "twitter")
    assert x.text.endswith("#One #Two") and ELLIPSIS in x.text


def test_cut_at_word_boundary_with_ellipsis():
    message = compose(post(title="alpha beta gamma " * 30), "twitter")
    head = message.text.split(" " + URL)[0]
    assert head.endswith(ELLIPSIS) and head[:-1].split(" ")[-1] in ("alpha", "beta", "gamma")


@pytest.mark.parametrize("title, forbidden_ending", [
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467" * 150, "\u200d"),   # never half a ZWJ family
    ("q\u0301" * 300, "q"),                                              # never a base without its mark
    ("\U0001F1EF\U0001F1F5" * 200, None),                                # flags stay in pairs
])
def test_no_broken_grapheme_at_the_cut(title, forbidden_ending):
    message = compose(post(title=title, summary=""), "twitter")
    head = message.text.split(" " + URL)[0]
    assert head.endswith(ELLIPSIS)
    kept = head[:-1]
    if forbidden_ending:
        assert not kept.endswith(forbidden_ending)
    assert unicodedata.normalize("NFC", title).startswith(kept)
    if "\U0001F1EF" in title:
        assert len(kept) % 2 == 0


def test_never_cuts_inside_a_url_or_hashtag_in_the_title():
    title = ("see https://example.org/a/very/long/path #SomeHashtag " * 20).strip()
    message = compose(post(title=title), "twitter")
    for part in message.text.split():
        if part.startswith("https://example.org"):
            assert part.rstrip(ELLIPSIS) == "https://example.org/a/very/long/path"
        if part.startswith("#Some"):
            assert part.rstrip(ELLIPSIS) == "#SomeHashtag"


@pytest.mark.parametrize("raw, cleaned", [
    ("  Two\n\nlines\t here ", "Two lines here"),
    ("cafe\u0301", "caf\u00e9"),                   # NFC
    ("bell\x07 and \ufeffBOM\ufffe", "bell and BOM"),  # controls; characters X refuses
    ("lone \ud800 surrogate", "lone surrogate"),
    ("   ", ""),
])
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned


# --------------------------------------------------------------------------- summary teaser

SENTENCE = "This sentence is about forty characters. "       # 41 with its space


def summary_of(message):
    """The {summary} part of a default Facebook message (title, blank line, summary)."""
    return message.text.split("\n\n", 1)[1]


def test_a_long_summary_is_a_teaser_on_linkedin_and_facebook():
    long = SENTENCE * 46                                         # 1,886 characters, as a Hugo feed sends
    for network in ("linkedin", "facebook"):
        message = compose(post(summary=long), network)
        shown = visible(message).split("\n\n")[1]
        assert len(shown) <= 300
        assert shown == (SENTENCE * 7).strip()                   # 7 sentences end at 286, in the last third
        assert not shown.endswith(ELLIPSIS)


def test_without_a_sentence_end_in_the_last_third_the_cut_is_at_a_word_with_an_ellipsis():
    text = "Short one. " + "word " * 100                         # the only full stop is at 10
    shown = summary_of(compose(post(summary=text), "facebook"))
    assert shown.endswith("word" + ELLIPSIS) and len(shown) <= 300 and len(shown) >= 290
    assert shown.startswith("Short one. word")


def test_summary_max_is_the_owners_choice():
    text = SENTENCE * 3 + "And then a long tail without any full stop at all going on and on and on"
    shown = summary_of(compose(post(summary=text), "facebook", options=ComposeOptions(summary_max=120)))
    assert shown == (SENTENCE * 2).strip()                       # ends at 81, in the last third (80-120)
    whole = summary_of(compose(post(summary=text), "facebook", options=ComposeOptions(summary_max=0)))
    assert whole == text


@pytest.mark.parametrize("text", ["A summary.", "Exactly three hundred " + "x" * 278])
def test_a_summary_within_the_limit_is_unchanged(text):
    assert len(text) <= 300
    assert summary_of(compose(post(summary=text), "facebook")) == text


def test_a_teaser_without_spaces_is_cut_at_a_character_and_never_inside_a_url():
    cjk = "長い文章です" * 80                                     # no sentence end, no spaces
    shown = summary_of(compose(post(summary=cjk), "facebook"))
    assert shown.endswith(ELLIPSIS) and len(shown) <= 300
    url = "https://example.com/" + "a" * 60
    text = "word " * 50 + url + " tail"                          # the URL crosses 300
    shown = summary_of(compose(post(summary=text), "facebook"))
    assert url not in shown and "https" not in shown and shown.endswith("word" + ELLIPSIS)


def test_summary_max_reaches_the_message_from_the_settings():
    from bot.config import settings_from
    from bot.delivery import messages_for

    settings = settings_from({"AUTOPOST_FEEDS": "https://blog.example.com/feed", "AUTOPOST_SUMMARY_MAX": "100"})
    assert settings_from({"AUTOPOST_FEEDS": "https://blog.example.com/feed"}).summary_max == 300
    (message,) = messages_for(post(summary="word " * 100), "facebook", settings)
    assert len(summary_of(message)) <= 100 and summary_of(message).endswith(ELLIPSIS)


# --------------------------------------------------------------------------- mentions

@pytest.mark.parametrize("allow, expected", [
    (False, "Thanks @\u2060alice and @\u2060bob_2"),
    (True, "Thanks @alice and @bob_2"),
])
def test_no_accidental_mentions_on_x(allow, expected):
    message = compose(post(title="Thanks @alice and @bob_2"), "twitter",
                      options=ComposeOptions(allow_mentions=allow))
    assert message.text.startswith(expected)


@pytest.mark.parametrize("title, expected", [
    ("Write to me@example.com", "Write to me@example.com"),        # an address, not a mention
    ("Thanks @alice!", "Thanks @\u2060alice!"),
    ("(@alice) and RT @bob", "(@\u2060alice) and RT @\u2060bob"),
    ("RT@alice says", "RT@\u2060alice says"),                       # twitter-text: still a mention
    ("x@alice 1@alice _@alice #@alice", "x@alice 1@alice _@alice #@alice"),
    ("@alice@example.com and @élan", "@alice@example.com and @élan"),
    ("\uFF20alice", "\uFF20\u2060alice"),
])
def test_only_real_mentions_are_defused_as_twitter_text_finds_them(title, expected):
    assert compose(post(title=title), "twitter").text.startswith(expected + " ")


MENTION_CASES = json.loads((Path(__file__).parent / "data" / "twitter-text-mentions.json")
                           .read_text(encoding="utf-8"))["tests"]


@pytest.mark.parametrize("case", MENTION_CASES, ids=[c["text"][:30] for c in MENTION_CASES])
def test_defused_exactly_what_twitter_text_extracts_as_mentions(case):
    from bot.platforms.registry import network

    defused = network("twitter").text.defuse_mentions(case["text"])
    assert re.findall("[@\uFF20]\u2060([A-Za-z0-9_]+)", defused) == case["expected"]
    assert defused.replace("\u2060", "") == case["text"]                  # nothing else changes


def test_mentions_escaped_on_linkedin():
    assert compose(post(title="Hi @alice"), "linkedin").text.startswith("Hi \\@alice")


# --------------------------------------------------------------------------- hashtags

@pytest.mark.parametrize("categories, kwargs, expected", [
    (["machine learning", "Python"], {}, ["#MachineLearning", "#Python"]),
    (["c++", "C#", ".NET"], {}, ["#Cpp", "#CSharp", "#DotNet"]),
    (["Uncategorized", "2024", "general", "café au lait"], {}, ["#CaféAuLait"]),
    (["python", "Python", "PYTHON"], {}, ["#Python"]),
    (["a", "b", "c", "d"], {"limit": 2}, ["#A", "#B"]),
    (["a"], {"extra": ("#Blog", "A", "news")}, ["#A", "#Blog", "#News"]),
    (["日本語", "हिन्दी"], {}, ["#日本語", "#हिन्दी"]),
    (["rust lang"], {"text": "Why #RustLang"}, []),
    (["!!!", "", "x" * 41, "snake_case"], {}, ["#SnakeCase"]),
    (["adwords_api", "adwords-api", "Google_Ads-API"], {}, ["#AdwordsApi", "#GoogleAdsAPI"]),
    (["__", "_2024_", "web_"], {}, ["#Web"]),
    (["adwords_api"], {"text": "About #adwords_api"}, []),
    # marks alone (a variation selector, a combining accent) show nothing after the "#"
    (["\ufe0f", "\u0301\u0301", "2\ufe0f", "e\u0301"], {}, ["#É"]),
])
def test_hashtags(categories, kwargs, expected):
    kwargs = {"limit": 3, **kwargs}
    assert hashtags(categories, **kwargs) == expected


def test_linkedin_hashtags_use_the_template_form():
    message = compose(post(categories=["Machine Learning", "snake_case"]), "linkedin")
    assert message.text.endswith("{hashtag|\\#|MachineLearning} {hashtag|\\#|SnakeCase}")
    assert visible(message).endswith("#MachineLearning #SnakeCase")


# --------------------------------------------------------------------------- LinkedIn escaping

@pytest.mark.parametrize("plain, escaped", [
    ("a (b)", "a \\(b\\)"),
    ("\\", "\\\\"),
    ("\\(", "\\\\\\("),
    ("x_y*z~ <a> [b] {c} #d @e |f", "x\\_y\\*z\\~ \\<a\\> \\[b\\] \\{c\\} \\#d \\@e \\|f"),
    ("plain text, ok!", "plain text, ok!"),
])
def test_linkedin_escape(plain, escaped):
    assert linkedin_escape(plain) == escaped
    assert linkedin_unescape(escaped) == plain


def test_linkedin_url_in_custom_template_survives():
    message = compose(post(), "linkedin", "{title} {url}")
    assert visible(message) == f"A title {URL}"


# --------------------------------------------------------------------------- UTM

@pytest.mark.parametrize("url, utm, expected", [
    ("https://e.com/a", None, "https://e.com/a"),
    ("https://e.com/a", "utm_source={platform}&utm_medium=social",
     "https://e.com/a?utm_source=twitter&utm_medium=social"),
    ("https://e.com/a?x=1#top", "utm_source={platform}", "https://e.com/a?x=1&utm_source=twitter#top"),
    ("https://e.com/a?", "utm_source={platform}", "https://e.com/a?utm_source=twitter"),
])
def test_tagged_url(url, utm, expected):
    assert tagged_url(url, utm, "twitter") == expected


def test_utm_per_network_and_post_url_untouched():
    options = ComposeOptions(utm="utm_source={platform}")
    for network in LIMITS:
        message = compose(post(), network, options=options)
        assert message.link == f"{URL}?utm_source={network}" and message.post_url == URL
    assert f"{URL}?utm_source=twitter" in compose(post(), "twitter", options=options).text


# --------------------------------------------------------------------------- card

def test_card_description_is_short_and_plain():
    message = compose(post(summary="Fish & (chips) " * 100), "linkedin")
    assert len(message.description) <= 300 and message.description.endswith(ELLIPSIS)
    assert message.description.startswith("Fish & (chips)")


# --------------------------------------------------------------------------- properties

texts = st.text(max_size=400)
categories = st.lists(st.text(max_size=30), max_size=6)


def cut_is_clean(original, kept):
    """Independent of the module's segmentation: nothing that belongs to the last kept
    character (a combining mark, joiner, variation selector, skin tone, tag, second flag
    letter) is left behind at the cut."""
    if not kept or len(kept) >= len(original):
        return True
    following = original[len(kept)]
    if unicodedata.category(following) in ("Mn", "Me", "Mc") or following == "\u200d":
        return False
    if 0x1F3FB <= ord(following) <= 0x1F3FF or 0xE0020 <= ord(following) <= 0xE007F:
        return False
    if kept[-1] == "\u200d":
        return False
    regional = len(kept) - len(kept.rstrip("".join(chr(c) for c in range(0x1F1E6, 0x1F200))))
    return regional % 2 == 0 or not 0x1F1E6 <= ord(following) <= 0x1F1FF


@settings(max_examples=200, deadline=None)
@given(title=texts, summary=st.text(max_size=1500), cats=categories, author=st.text(max_size=40),
       network=st.sampled_from(sorted(LIMITS)), utm=st.sampled_from([None, "utm_source={platform}"]),
       allow=st.booleans())
def test_property_any_text_fits_and_stays_valid(title, summary, cats, author, network, utm, allow):
    template = {"twitter": None, "linkedin": "{title}\n\n{summary}\n\n{hashtags}\n{url}",
                "facebook": "{title} {author}\n\n{summary}\n{hashtags}",
                "bluesky": "{title} {url}\n\n{summary}\n{hashtags}", "instagram": None}.get(network)
    message = compose(post(title=title, summary=summary, categories=cats, author=author), network, template,
                      ComposeOptions(utm=utm, allow_mentions=allow))
    assert message.length == measure(network, message.text) <= LIMITS[network]
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in message.text)
    shown = visible(message)                      # for LinkedIn: fails on any unescaped reserved char
    if network != "facebook":
        assert message.link in shown              # these templates carry the URL
    if network == "twitter":
        start = message.text.index(message.link)
        assert (start, start + len(message.link)) in url_spans(message.text)


@settings(max_examples=200, deadline=None)
@given(title=st.text(min_size=1, max_size=400), network=st.sampled_from(sorted(LIMITS)))
def test_property_title_is_whole_or_cut_cleanly(title, network):
    """The title a reader sees is the feed's title (NFC, one line), or a clean prefix of it plus …"""
    long_title = title * (1 + 3000 // max(1, len(title))) if network == "linkedin" else title * 3
    expected = clean_text(long_title)
    if network != "linkedin":
        expected = expected.replace("\u2060", "")   # a word joiner is invisible, as visible() shows
    message = compose(post(title=long_title, summary=""), network, "{title}\n{url}",
                      ComposeOptions(allow_mentions=True))
    head = visible(message).split("\n")[0]
    if head == message.link or not expected.strip():
        return                                    # title dropped, or nothing to show
    if head.endswith(ELLIPSIS) and head != expected:
        kept = head[:-1]
        assert expected.startswith(kept)
        assert cut_is_clean(expected, kept)
    else:
        assert head == expected


def test_an_untitled_note_speaks_through_its_text_on_x():
    note = Post(feed_url="f", key="n", url="https://blog.example.com/notes/42/", title="",
                summary="Shipping the new release tonight. Thanks to everyone who tested it!")
    x = compose(note, "twitter")
    assert x.text == "Shipping the new release tonight. Thanks to everyone who tested it! https://blog.example.com/notes/42/"
    linkedin = compose(note, "linkedin")                # its template shows the summary already
    assert linkedin.text.count("Shipping the new release tonight") == 1


# Composing a typical post (typographic quotes and dashes, an ellipsis, an ASCII link) for
# every network compiles none of the costly Unicode patterns: text that cannot tell them from
# their cheap cuts gets the cuts (issue 18; tests/test_twitter_text.py and
# tests/test_mastodon_fill.py prove they match alike). A fresh process: this one's patterns
# may have been compiled by other tests.
_COMPILED_PROBE = """
import json
from bot import compose as c, twitter_text as t
from bot.models import Post
from bot.platforms import mastodon as m
from bot.platforms.registry import networks
post = Post(feed_url="https://blog.example.com/feed", key="k", url="https://blog.example.com/2026/11/25/a-post/",
            title="Apple\\u2019s M5 MacBook Pro review: fast, quiet & expensive \\u2014 and more",
            summary="The M5 MacBook Pro is the fastest laptop we\\u2019ve tested this year. It is also the most "
                    "expensive\\u2026 " * 12, author="Ann", categories=("Reviews", "Apple", "Laptops"), feed_title="Blog")
texts = [c.compose(post, network.name).text for network in networks()]
costly = {"grapheme runs": c._PLAIN_RUN, "emoji": t._EMOJI, "weights": t._HEAVY_RUN, "TLD run": t._TLD_RUN,
          "punycode": t._PUNYCODE_LABEL, "t.co": t._TCO_URL, "mentions": t._MENTION,
          "path with parens": t._ASCII_PARENS_AFTER_DOMAIN, "full path": t._AFTER_DOMAIN,
          "Mastodon scheme": m._SCHEME, "Mastodon host": m._HOST_RUN}
costly.update({"URL word " + name: p for name, p in zip(t._WordPatterns._fields, t._FULL_WORD_PATTERNS)})
print(json.dumps({"compiled": sorted(name for name, p in costly.items() if p.is_compiled),
                  "cheap": t._LATIN1_WORD_PATTERNS.label.is_compiled and t._ASCII_AFTER_DOMAIN.is_compiled,
                  "links": sum("https://blog.example.com/2026/11/25/a-post/" in text for text in texts)}))
"""


def test_composing_a_typical_post_compiles_none_of_the_costly_unicode_patterns():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", _COMPILED_PROBE], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["compiled"] == []
    assert facts["cheap"] is True and facts["links"] >= 3        # the link was read, by the cheap patterns
