"""Building each network's message from a Post: templates, exact length rules, hashtags, escaping.

Pure functions: no I/O, no clock, no settings lookups. X's own way of counting
lives in ``bot/twitter_text.py``. Sections, in order:

1. templates (placeholders, validation, rendering);
2. grapheme clusters and the places where a field may be cut;
3. hashtags from categories; UTM tagging (escaping and hashtag forms are the networks' text rules);
4. fitting a message into its network's limit, and ``compose`` itself.
"""
from __future__ import annotations

import re
import string
import unicodedata
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

from bot.models import Message, Post
from bot.platforms.network import TextRules
from bot.platforms.registry import NETWORKS
from bot.platforms.registry import network as described
from bot.twitter_text import MAX_URL_LENGTH, is_pictographic, url_spans
from bot.patterns import lazy

FIELDS = ("title", "url", "summary", "hashtags", "author", "feed_title")

# Each network's default template and limit (counted as that network counts), from its description.
DEFAULT_TEMPLATES = {n.name: n.text.default_template for n in NETWORKS}
LIMITS = {n.name: n.text.limit for n in NETWORKS}

ELLIPSIS = "\u2026"
CARD_DESCRIPTION_MAX = 300     # a link card's description: a short teaser, not the whole summary
HASHTAG_MAX_CHARS = 40         # a longer "tag" is a sentence, not a hashtag: dropped


class ComposeOptions(NamedTuple):
    hashtags_max: int = 3
    hashtags_extra: tuple[str, ...] = ()
    utm: str | None = None
    allow_mentions: bool = False
    summary_max: int = 300          # characters of {summary}; 0: the whole summary


# --------------------------------------------------------------------------- templates

def check_template(template: str) -> str | None:
    """What is wrong with a template, or None."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"malformed template ({exc}); write literal braces as {{{{ and }}}}"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            return f"unknown placeholder {{{name}}}; use {', '.join('{' + f + '}' for f in FIELDS)}"
        if spec or conversion:
            return f"placeholder {{{name}}} takes no format options"
    return None


def _segments(template: str) -> tuple[tuple[str, str | None], ...]:
    """(literal text, field name or None) pairs; ``{{``/``}}`` already turned into braces."""
    return tuple((literal, name) for literal, name, _, _ in string.Formatter().parse(template))


def _fields_in(segments: Sequence[tuple[str, str | None]]) -> set[str]:
    return {name for _, name in segments if name}


# --------------------------------------------------------------------------- grapheme clusters
#
# The stdlib has no grapheme segmentation, so this is UAX #29's extended grapheme cluster
# rules, simplified: CR LF; Hangul syllable sequences (GB6-8); no break before Extend,
# ZWJ or SpacingMark (GB9, GB9a; Extend includes combining marks, variation selectors,
# skin-tone modifiers, tag characters and the keycap mark); ZWJ + pictographic (GB11);
# regional indicators in pairs (GB12/13). Left out: Prepend (GB9b) and Indic conjuncts
# (GB9c, Unicode 15.1), so a cut may fall after a virama; never inside an emoji or
# after a lone base that is followed by its combining marks.

_OTHER, _CONTROL, _EXTEND, _ZWJ, _SPACING, _RI, _L, _V, _T, _LV, _LVT = range(11)


def _break_class(char: str) -> int:
    code = ord(char)
    if code == 0x200D:
        return _ZWJ
    if 0x1F1E6 <= code <= 0x1F1FF:
        return _RI
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F or code == 0x200C:
        return _EXTEND
    category = unicodedata.category(char)
    if category in ("Mn", "Me"):
        return _EXTEND
    if category == "Mc" or code in (0x0E33, 0x0EB3):
        return _SPACING
    if category in ("Cc", "Zl", "Zp", "Cf", "Cs"):
        return _CONTROL
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return _L
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return _V
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return _T
    if 0xAC00 <= code <= 0xD7A3:
        return _LV if (code - 0xAC00) % 28 == 0 else _LVT
    return _OTHER


def _joined(before: int, after: int, after_char: str, regional_run: int) -> bool:
    """Whether no grapheme boundary lies between two characters of these classes."""
    if before == _CONTROL or after == _CONTROL:
        return False
    if after in (_EXTEND, _ZWJ, _SPACING):
        return True
    if before == _L and after in (_L, _V, _LV, _LVT):
        return True
    if before in (_LV, _V) and after in (_V, _T):
        return True
    if before in (_LVT, _T) and after == _T:
        return True
    if before == _ZWJ and is_pictographic(after_char):
        return True
    if before == _RI and after == _RI:
        return regional_run % 2 == 1
    return False


# Characters of break class Other only (letters, CJK, kana, punctuation, symbols, emoji; no
# marks, joiners, controls or Hangul): between two of them there is always a boundary, so
# runs of them skip the walk character by character. tests/test_twitter_text.py checks
# every one of them against _break_class.
PLAIN_CHARS = (r"\x20-\x7e\xa0-\xac\xae-\u02ff\u0370-\u0482\u048a-\u052f\u1e00-\u1fff\u2010-\u2027"
               r"\u2030-\u205e\u2070-\u20cf\u2100-\u2bff\u3000-\u3029\u3041-\u3096\u309b-\u9fff\uff00-\uffef"
               r"\U0001F000-\U0001F1E5\U0001F200-\U0001F3FA\U0001F400-\U0001FAFF")
_PLAIN_RUN = lazy("[" + PLAIN_CHARS + "]{2,}")
# PLAIN_CHARS' Latin-1 part. The full class takes ~2 ms to compile (the regex compiler marks
# its ~33,000 BMP code points, CJK's among them, one at a time), paid by the first text
# composed in every process; this one ~0.1 ms. Text with few characters beyond Latin-1
# (typographic quotes, dashes, an ellipsis) walks those one by one instead: the same
# boundaries, as the walk alone finds every one of them (tests/test_twitter_text.py).
_LATIN1_PLAIN_RUN = lazy(r"[\x20-\x7e\xa0-\xac\xae-\xff]{2,}")
_FEW_BEYOND_LATIN1 = 64


def grapheme_boundaries(text: str) -> list[int]:
    """Every index where ``text`` may be cut without breaking a grapheme cluster (0 and len included)."""
    if text.isascii() and "\r\n" not in text:
        # Only CR LF joins two ASCII characters (no ASCII character extends or joins).
        return list(range(len(text) + 1))
    beyond_latin1 = len(text) - len(text.encode("latin-1", "ignore"))
    runs = _PLAIN_RUN if beyond_latin1 > _FEW_BEYOND_LATIN1 else _LATIN1_PLAIN_RUN
    boundaries = [0]
    state: tuple[int | None, int] = (None, 0)
    position = 0
    for run in runs.finditer(text):
        start, end = run.span()
        # The run's first character still needs checking against the one before it.
        state = _walk_boundaries(text, position, start + 1, state, boundaries)
        boundaries.extend(range(start + 1, end))
        state, position = (_OTHER, 0), end
    _walk_boundaries(text, position, len(text), state, boundaries)
    if text:
        boundaries.append(len(text))
    return boundaries


def _walk_boundaries(text: str, start: int, end: int, state: tuple[int | None, int],
                     boundaries: list[int]) -> tuple[int | None, int]:
    """Add the boundaries before ``text[start:end]``'s characters; ``state`` is the break class
    of the character before ``start`` (None at the beginning) and the count of regional
    indicators in a row that ends there. Returns the same after ``end``."""
    previous, regional_run = state
    for index in range(start, end):
        char = text[index]
        current = _break_class(char)
        if previous is not None:
            if char == "\n" and text[index - 1] == "\r":
                pass
            elif not _joined(previous, current, char, regional_run):
                boundaries.append(index)
        regional_run = regional_run + 1 if current == _RI else 0
        previous = current
    return previous, regional_run


_HASHTAG_SPAN = lazy(r"[#\uFF03][\w\u200C\u00B7]+")
_EXPLICIT_URL_SPAN = lazy(r"https?://\S+", re.IGNORECASE)


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans no cut may fall inside: URLs (as X sees them, and anything http(s)://...) and hashtags."""
    spans = list(url_spans(text))
    spans += [m.span() for m in _EXPLICIT_URL_SPAN.finditer(text)]
    spans += [m.span() for m in _HASHTAG_SPAN.finditer(text)]
    return spans


_SPACE_AFTER_WORD = lazy(r"(?<=\S)\s")
NARROW_CHARS = r"\x00-\u0377\u0400-\u052f"
_MAYBE_WIDE_RUN = lazy("[^" + NARROW_CHARS + "]+")


def _cut_points(text: str, upto: int | None = None) -> tuple[list[int], list[int]]:
    """Where ``text`` may end early: (word boundaries, grapheme boundaries), ascending, excluding 0 and len.

    A word boundary is before a space, or between two graphemes when either is wide
    (CJK ideographs, kana, fullwidth forms: scripts written without spaces). With
    ``upto``, only the points up to it: the text after it is still read for the URLs
    and hashtags that cross it, but not walked character by character.
    """
    inside = bytearray(len(text) + 1)
    for start, end in _protected_spans(text):
        if end > start + 1:
            inside[start + 1:end] = b"\x01" * (end - start - 1)
    if upto is not None and upto < len(text):
        # A boundary at p depends on the characters before p and at p only.
        bounds = [p for p in grapheme_boundaries(text[:upto + 1]) if p <= upto]
    else:
        bounds = grapheme_boundaries(text)
    graphemes = [p for p in bounds if 0 < p < len(text) and not inside[p]]
    last = graphemes[-1] + 1 if graphemes else 0
    # Found with regular expressions rather than asked of every grapheme: \s is str.isspace,
    # and no character of ASCII, Latin, IPA or Cyrillic is wide (a test checks).
    spaced = {m.start() for m in _SPACE_AFTER_WORD.finditer(text, 0, last)}
    wide: set[int] = set()
    for run in _MAYBE_WIDE_RUN.finditer(text, 0, last):
        widths = map(unicodedata.east_asian_width, run.group())
        wide.update(i for i, width in enumerate(widths, run.start()) if width in ("W", "F"))
    words = [p for p in graphemes
             if p in spaced
             or (p in wide or p - 1 in wide) and not text[p].isspace() and not text[p - 1].isspace()]
    return words, graphemes


_TRAILING_JUNK = " \t\n,;:-\u2013\u2014\u00b7/|"


def _shortened(text: str, position: int) -> str:
    """``text`` cut at ``position`` (a cut point), with trailing spaces and separators dropped."""
    return text[:position].rstrip(_TRAILING_JUNK)


# --------------------------------------------------------------------------- cleaning feed text

_INVALID_TEXT = lazy("[\uFEFF\uFFFE\uFFFF\u2028\u2029]")   # twitter-text rejects the first three
_SURROGATE = lazy(r"[\ud800-\udfff]")                           # general category Cs
_CONTROL_CHARS = lazy(r"[\x00-\x1f\x7f-\x9f]")                      # general category Cc
_WHITESPACE_RUN = lazy(r"\s+")


def clean_text(text: str) -> str:
    """Feed text as one NFC line: control characters and lone surrogates gone, whitespace runs one space."""
    text = unicodedata.normalize("NFC", text or "")
    text = _CONTROL_CHARS.sub(" ", _SURROGATE.sub("", text))
    text = _INVALID_TEXT.sub(" ", text)
    return _WHITESPACE_RUN.sub(" ", text).strip()


# --------------------------------------------------------------------------- hashtags

# Categories blogs get by default rather than by choice.
_DEFAULT_CATEGORIES = {"uncategorized", "uncategorised", "general", "misc", "miscellaneous", "other",
                       "others", "untagged", "none", "default", "unsorted", "blog", "post", "posts"}
# Names whose symbols carry the meaning; anything else loses its symbols.
_SPELLED_OUT = {"c++": "Cpp", "c#": "CSharp", "f#": "FSharp", ".net": "DotNet", "asp.net": "AspNet",
                "node.js": "NodeJs", "vue.js": "VueJs", "next.js": "NextJs"}


def _is_tag_char(char: str) -> bool:
    return char == "_" or unicodedata.category(char)[0] in ("L", "M") or unicodedata.category(char) == "Nd"


def _camel_case(category: str) -> str:
    """``machine learning``, ``adwords_api``, ``adwords-api`` → ``MachineLearning``, ``AdwordsApi``.

    Letters, marks and digits only: ``_`` and ``-`` separate words like a space, so a
    snake_case or kebab-case category reads like the others.
    """
    spelled = _SPELLED_OUT.get(category.strip().casefold())
    if spelled:
        return spelled
    words, word = [], []
    for char in category:
        if char != "_" and _is_tag_char(char):
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return "".join(w[:1].upper() + w[1:] for w in words)


def _existing_hashtags(text: str) -> set[str]:
    # "#adwords_api" in the text is the tag "#AdwordsApi" would repeat.
    return {m.group(0)[1:].replace("_", "").casefold() for m in _HASHTAG_SPAN.finditer(text)}


def hashtags(categories: Iterable[str], *, limit: int, extra: Iterable[str] = (), text: str = "") -> list[str]:
    """Hashtags (``#Name``) from a post's categories: at most ``limit`` of them, then the ``extra`` ones.

    CamelCase, Unicode letters/marks/digits only (``adwords_api`` → ``#AdwordsApi``, ``c++`` → ``#Cpp``, ``C#`` →
    ``#CSharp``, other symbols dropped), never purely numeric, default categories such as
    "Uncategorized" dropped, duplicates dropped case-insensitively, and none whose word is
    already a hashtag in ``text``.
    """
    seen = _existing_hashtags(text)
    chosen: list[str] = []

    def take(raw: str, budget: int | None) -> None:
        if budget is not None and budget <= 0:
            return
        raw = unicodedata.normalize("NFC", raw or "").strip().lstrip("#\uFF03")
        if budget is not None and raw.casefold() in _DEFAULT_CATEGORIES:
            return          # the owner's own AUTOPOST_HASHTAGS_EXTRA are never "defaults"
        name = _camel_case(raw)
        key = name.casefold()
        # A tag needs a letter: digits alone are not one on the networks, and marks alone (a
        # variation selector) show nothing after the "#".
        if not any(unicodedata.category(char)[0] == "L" for char in name) \
                or len(name) > HASHTAG_MAX_CHARS or key in seen:
            return
        seen.add(key)
        chosen.append("#" + name)

    for category in categories:
        take(category, limit - len(chosen))
    for tag in extra:
        take(tag, None)
    return chosen


# --------------------------------------------------------------------------- UTM tagging

def tagged_url(url: str, utm: str | None, network: str) -> str:
    """``url`` with the UTM query appended (``{platform}`` → network), query and fragment kept."""
    if not utm:
        return url
    addition = utm.replace("{platform}", network).lstrip("?&")
    base, hash_mark, fragment = url.partition("#")
    if "?" not in base:
        joiner = "?"
    elif base.endswith(("?", "&")):
        joiner = ""
    else:
        joiner = "&"
    return f"{base}{joiner}{addition}{hash_mark}{fragment}"


# --------------------------------------------------------------------------- rendering and fitting

_FEED_FIELDS = ("title", "summary", "author", "feed_title")


class _Field(NamedTuple):
    """A feed value as shown: the kept text, and whether it was cut (then it ends with …)."""

    text: str
    cut: bool = False

    def shown(self) -> str:
        return self.text + ELLIPSIS if self.cut and self.text else self.text


def _tidy(text: str) -> str:
    """Remove the gaps empty fields leave: spaces at line ends, doubled spaces, 3+ newlines."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n[ \t]+", "\n", text)
    text = re.sub(r" {2,}", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _render(segments: Sequence[tuple[str, str | None]], fields: Mapping[str, _Field], tags: Sequence[str], link: str,
            rules: TextRules, options: ComposeOptions) -> str:
    escape = rules.escape
    out = []
    for literal, name in segments:
        out.append(escape(literal) if escape else literal)
        if not name:
            continue
        if name == "url":
            value = link
        elif name == "hashtags":
            value = " ".join(rules.hashtag(t) if rules.hashtag else t for t in tags)
        else:
            value = fields[name].shown()
            if rules.defuse_mentions and not options.allow_mentions:
                value = rules.defuse_mentions(value)
        if escape and not (name == "hashtags" and rules.hashtag):
            value = escape(value)
        out.append(value)
    return _tidy("".join(out))


def _fit_length(rules: TextRules) -> Callable[[str], int]:
    return rules.fit_length or rules.length


def _longest_fitting(candidates: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """The longest candidate (ascending list) that fits, by binary search; every answer is checked,
    so a rare non-monotonic count (a word turning into a URL) can cost length, never the limit."""
    low, high = 0, len(candidates) - 1
    best = -1
    while low <= high:
        middle = (low + high) // 2
        if fits(candidates[middle]):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    if best >= 0:
        return candidates[best]
    return None


def _shorten(name: str, fields: dict[str, _Field], fits_with: Callable[[dict[str, _Field]], bool]) -> dict[str, _Field]:
    """The field cut at the longest word (else grapheme) boundary that lets the message fit; else empty."""
    original = fields[name]
    text = original.text

    def fits(length: int) -> bool:
        return fits_with({**fields, name: _Field(text[:length], cut=True)})

    words, graphemes = _cut_points(text)
    word_kept = _longest_fitting(_shortened_lengths(text, words), fits)
    kept = word_kept
    # Text without spaces (a 400-letter word, Thai, a URL-free run) falls back to graphemes;
    # so does text whose only spaces are early, when graphemes keep much more.
    if word_kept is None or word_kept < len(text) // 2:
        grapheme_kept = _longest_fitting(_shortened_lengths(text, graphemes), fits)
        if grapheme_kept is not None and (word_kept is None or grapheme_kept > 2 * word_kept):
            kept = grapheme_kept
    return {**fields, name: _Field(text[:kept], cut=True) if kept else _Field("")}


def _shortened_lengths(text: str, points: Sequence[int]) -> list[int]:
    """``len(_shortened(text, p))`` for the ascending cut points, without zeros or repeats
    (points that shorten to the same text). Lengths, not texts: a copy of the text for
    every point made a 3,000-character field cost 40 ms."""
    lengths: list[int] = []
    kept = previous = 0
    for point in points:
        # Only the piece since the previous point is new; if it is all junk, the cut is as before.
        stripped = text[previous:point].rstrip(_TRAILING_JUNK)
        if stripped:
            kept = previous + len(stripped)
        previous = point
        if kept and (not lengths or lengths[-1] != kept):
            lengths.append(kept)
    return lengths


def _pretrimmed(text: str, rules: TextRules) -> _Field:
    """A very long value cut once, cheaply, to about what could ever fit, before the exact fitting."""
    budget = rules.limit + 1
    if len(text) <= budget:
        return _Field(text)
    if rules.pretrim_at:
        # X weighs a URL 23 and a family emoji 2, however many characters they hold: cut
        # where the weight, not the character count, passes the limit.
        budget = rules.pretrim_at(text, budget)
        if budget >= len(text):
            return _Field(text)
    window = text[: budget + MAX_URL_LENGTH + 64]     # so a URL crossing the budget is seen whole
    words, graphemes = _cut_points(window, upto=budget)
    for points in (words, graphemes):
        usable = [p for p in points if p <= budget]
        if usable:
            kept = _shortened(window, usable[-1])
            if kept:
                return _Field(kept, cut=True)
    return _Field("")


def _fit(segments: Sequence[tuple[str, str | None]], fields: dict[str, _Field], tags: list[str], link: str,
         rules: TextRules, options: ComposeOptions) -> str | None:
    """The rendered text after shortening summary, then title, then dropping hashtags, then
    shortening author and feed title; None if even that is over the limit."""
    limit, length = rules.limit, _fit_length(rules)
    used = _fields_in(segments)

    def fits_with(candidate: dict[str, _Field], candidate_tags: Sequence[str] = tags) -> bool:
        return length(_render(segments, candidate, candidate_tags, link, rules, options)) <= limit

    if fits_with(fields):
        return _render(segments, fields, tags, link, rules, options)
    for name in ("summary", "title"):
        if name in used and fields[name].text:
            fields = _shorten(name, fields, fits_with)
            if fits_with(fields):
                return _render(segments, fields, tags, link, rules, options)
    tags = list(tags)
    while tags and "hashtags" in used:
        tags.pop()
        if fits_with(fields, tags):
            return _render(segments, fields, tags, link, rules, options)
    for name in ("author", "feed_title"):
        if name in used and fields[name].text:
            fields = _shorten(name, fields, lambda f: fits_with(f, tags))
            if fits_with(fields, tags):
                return _render(segments, fields, tags, link, rules, options)
    return None


# A sentence ends with . ! ? … (or CJK 。！？), perhaps inside closing quotes or brackets.
_SENTENCE_END = lazy("[.!?\u2026\u3002\uFF01\uFF1F][\"'\u201D\u2019\u00BB)\\]]*$")


def teaser(summary: str, limit: int) -> tuple[str, bool]:
    """``summary`` in at most ``limit`` characters, and whether it was cut short (then add …).

    Both networks that show {summary} fold a post after a few lines, so the
    summary is a teaser: cut at the last sentence end that falls in the last third
    of ``limit`` (kept whole, no …), else at the last word that leaves room for …,
    else, for text without spaces, at a grapheme. Never inside a URL or hashtag.
    """
    if limit <= 0 or len(summary) <= limit:
        return summary, False
    window = summary[: limit + MAX_URL_LENGTH + 64]       # a URL crossing the limit is seen whole
    words, graphemes = _cut_points(window, upto=limit)
    third = limit - limit // 3
    for point in reversed(words):
        if point > limit:
            continue
        if point < third:
            break
        head = window[:point].rstrip()
        if _SENTENCE_END.search(head):
            return head, False
    for points in (words, graphemes):
        usable = [p for p in points if p <= limit - 1]
        if usable and _shortened(window, usable[-1]):
            return _shortened(window, usable[-1]), True
    return "", True


def _card_description(summary: str) -> str:
    """The summary shortened to at most CARD_DESCRIPTION_MAX characters at a word boundary."""
    if len(summary) <= CARD_DESCRIPTION_MAX:
        return summary
    words, graphemes = _cut_points(summary[: CARD_DESCRIPTION_MAX + 1])
    for points in (words, graphemes):
        usable = [p for p in points if p <= CARD_DESCRIPTION_MAX - 1]
        if usable and _shortened(summary, usable[-1]):
            return _shortened(summary, usable[-1]) + ELLIPSIS
    return ""


_DEFAULT_OPTIONS = ComposeOptions()


def compose(post: Post, network: str, template: str | None = None,
            options: ComposeOptions = _DEFAULT_OPTIONS, rules: TextRules | None = None) -> Message:
    """The message ``network`` gets for ``post``: filled template, fitted to the network's limit.

    ``rules`` replaces the network's described text rules where an account's own differ
    (a self-hosted server's own limit): what its adapter's ``text_rules()`` said.

    Fitting shortens the summary first, then the title (at a word boundary, or a grapheme
    boundary where there are no spaces, ending with …), then drops hashtags from the last.
    The URL is never cut or dropped; where the network's rules put it in the text, the
    template always carries it.
    """
    if network not in LIMITS:
        raise ValueError(f"no message rules for network {network!r}; choose from {', '.join(LIMITS)}")
    rules = rules or described(network).text
    template = template or rules.default_template
    problem = check_template(template)
    if problem:
        raise ValueError(f"{network} template: {problem}")
    segments = _segments(template)
    if rules.url_in_text and "url" not in _fields_in(segments):
        # Where the link lives in the text, a template without it would post a dead end.
        segments = segments + ((" ", "url"),)

    link = tagged_url(post.url, options.utm, network)
    raw = {"title": clean_text(post.title), "summary": clean_text(post.summary),
           "author": clean_text(post.author), "feed_title": clean_text(post.feed_title)}
    if not raw["title"] and "summary" not in _fields_in(segments):
        # An untitled note (microblog posts, status updates) speaks through its text;
        # without this, a network that puts the link in the text would get a bare link.
        raw["title"] = raw["summary"]
    tags = hashtags(post.categories, limit=options.hashtags_max, extra=options.hashtags_extra,
                    text=f"{raw['title']} {raw['summary']}")
    if rules.max_hashtags is not None:
        # The network counts every hashtag in the text, the title's and summary's own included.
        written = len(_existing_hashtags(f"{raw['title']} {raw['summary']}"))
        tags = tags[:max(rules.max_hashtags - written, 0)]
    # Only the fields that can be shown are worth trimming (the title is the fallback's).
    shown = _fields_in(segments) | {"title"}
    fields = {name: _pretrimmed(value, rules) if name in shown else _Field(value) for name, value in raw.items()}
    short, cut = teaser(raw["summary"], options.summary_max)
    if cut or short != raw["summary"]:
        # AUTOPOST_SUMMARY_MAX first; the network's own limit may still shorten it below.
        fields["summary"] = _Field(short, cut=True) if cut else _Field(short)
        if "summary" in shown and len(short) > rules.limit + 1:
            fields["summary"] = _pretrimmed(short, rules)

    text = _fit(segments, fields, tags, link, rules, options)
    if text is None:
        # The template's own words are too long: fall back to the essentials.
        fallback = _segments("{title} {url}" if "url" in _fields_in(segments) else "{title}")
        text = _fit(fallback, fields, [], link, rules, options)
    if text is None:
        text = link if "url" in _fields_in(segments) else ""

    return Message(
        network=network,
        text=text,
        link=link,
        post_url=post.url,
        title=raw["title"] if "title" in rules.card_fields else "",
        description=_card_description(raw["summary"]) if "description" in rules.card_fields else "",
        image_url=post.image_url if "image_url" in rules.card_fields else None,
        length=rules.length(text),
        limit=rules.limit,
        language=post.language,
    )
