"""The fast route for RSS 2.0: the standard library's XML parser reads the document,
feedparser's rules make the values.

``read(text)`` takes the UTF-8 document that ``bot.feeds`` prepared and returns what
``feedparser.parse`` would have returned for the fields the project uses (the entry dicts
``feeds._post_from_entry`` reads), or None: then the caller parses the document with
feedparser, the named stack. None is returned for every document shape whose values this
module does not reproduce exactly, decided per document before anything is used:

* a document that is not well-formed XML (feedparser's loose parser and the "only whole
  entries" rule handle those), a DOCTYPE or an entity declaration;
* anything but RSS 2.0 (Atom, RSS 1.0/RDF, RSS 0.9x without a version 2 attribute); a base URI
  (feedparser's ``xml:base`` or ``base`` attribute on any element) anywhere but on ``<rss>``;
* characters feedparser rewrites after parsing: C1 controls (mapped to windows-1252) and
  UTF-8 that reads as Latin-1 (feedparser re-decodes it);
* in an item: a text element with child elements, a repeated title/link/guid/description/
  date/author, an RSS ``<author>`` (feedparser splits "mail (name)"), an Atom element, a
  feedburner link, an iTunes category or keyword (feedparser makes tags of them), a date in a
  form other than RFC 822 or W3C-DTF, a media element without a url attribute.

Why not fastfeedparser (0.6.x), the parser issue 18 names: on the corpus it gives other values
than feedparser for ids (an entry without a guid gets its link as id), links (no feedburner
origLink), authors (first creator instead of feedparser's choice), dates (another reading of
non-RFC dates), descriptions (synthesised from the content when absent) and Atom XHTML
content (serialised with namespaces); ``bench/fastfeedparser_parity.py`` shows each. A parser
alone, with feedparser's rules written out here, gives the same Posts (tests/test_fastparse.py).

The parser is ``xml.etree.ElementTree``'s (expat, in C), not lxml: it reads a 267 KB feed as
fast as lxml does (4-5 ms here), and importing it costs nearly nothing, where importing lxml
cost every start that reads a feed ~55 M instructions (15-25 ms; ``inspect`` among them).
No document with a DOCTYPE or an entity declaration reaches it (refused below), so neither
entity expansion nor external entities can happen.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Container
from urllib.parse import urljoin

from bot.patterns import lazy

from xml.etree.ElementTree import ParseError, XMLParser

_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_DC = "http://purl.org/dc/elements/1.1/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_MEDIA = ("http://search.yahoo.com/mrss/", "http://search.yahoo.com/mrss")
# RSS 2.0 item elements read here; any other element without a namespace is refused, as
# feedparser matches names case-blind and maps many (summary, author, lastBuildDate ...).
_RSS_ITEM = {"title", "link", "guid", "description", "pubDate", "comments", "category", "enclosure", "source"}
# Namespaces (as feedparser compares them: lower-cased) whose elements feedparser maps onto
# the fields the project reads, and the local names read here; the others are refused.
_ATOM = "http://www.w3.org/2005/atom"
# atom:updated in an item is feedparser's "updated", as dc:date is (Medium writes it).
_READ = {_CONTENT: {"encoded"}, _DC: {"creator", "date", "subject"}, _ATOM: {"updated"}}
_REFUSED = {"http://purl.org/dc/terms/": None, "http://www.w3.org/2005/atom": None, "http://purl.org/atom/ns#": None,
            "http://rssnamespace.org/feedburner/ext/1.0": None, "http://www.w3.org/1999/xhtml": None,
            "http://www.w3.org/1999/02/22-rdf-syntax-ns#": None, "http://purl.org/rss/1.0/": None,
            "http://www.itunes.com/dtds/podcast-1.0.dtd": {"author", "summary", "category", "keywords", "name",
                                                           "email", "owner"},
            _MEDIA[0]: {"title", "description", "category", "keywords"},
            _MEDIA[1]: {"title", "description", "category", "keywords"}}
# feedparser's sanitiser's element list (feedparser/sanitizer.py, acceptable_elements): a plain
# text field that "looks like HTML" with only these tags is read as HTML (mixin.looks_like_html).
_HTML_ELEMENTS = frozenset(
    "a abbr acronym address area article aside audio b big blockquote br button canvas caption center "
    "cite code col colgroup command datagrid datalist dd del details dfn dialog dir div dl dt em "
    "event-source fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6 header hr i img input "
    "ins kbd keygen label legend li m map menu meter multicol nav nextid noscript ol optgroup option "
    "output p pre progress q s samp section select small sound source spacer span strike strong sub sup "
    "table tbody td textarea tfoot th thead time tr tt u ul var video".split())
# In the UTF-8 bytes: a C1 control (U+0080-U+009F), or a Latin-1 character that can lead a UTF-8
# sequence (U+00C2-U+00F4) followed by one that can continue it (U+0080-U+00BF).
# Written to begin with the one byte every match holds, \xc2, so the engine scans for it at C speed:
# the plain alternation \xc2[\x80-\x9f]|\xc3[\x82-\xb4]\xc2[\x80-\xbf] took 2 ms over a 267 KB feed.
_C1_OR_LATIN1_UTF8 = re.compile(rb"\xc2(?:[\x80-\x9f]|(?<=\xc3[\x82-\xb4]\xc2)[\x80-\xbf])")
# A character reference to U+0080-U+00FF: only through one can references make what the check above
# looks for (a C1 control, or a Latin-1 character before or after one from U+0080-U+00BF).
_LATIN1_REFERENCE = re.compile(rb"&#(?:0*(?:12[89]|1[3-9][0-9]|2[0-4][0-9]|25[0-5])|[xX]0*[89a-fA-F][0-9a-fA-F]);")
_REFERENCE = re.compile(rb"&#(?:([0-9]+)|[xX]([0-9a-fA-F]+));")
_URIFIXER = lazy("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")   # feedparser/urls.py
_RFC822 = lazy(r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov"
               r"|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (GMT|UTC|UT|Z|[+-]\d{4})")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_W3CDTF = lazy(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


# feedparser names an element of a namespace it does not know by the prefix the document declared
# for it (the first such declaration it met), and an element of a default namespace it does not
# know by its local name alone: such an element is read as RSS's own, or as dc:, media: ... when
# the document binds that prefix to another namespace (feedparser/parsers/strict.py,
# startElementNS; mixin.track_namespace). The prefixes feedparser has handlers for:
_HANDLED_PREFIXES = frozenset({"cc", "content", "creativecommons", "dc", "dcterms", "feedburner", "georss", "gml",
                               "itunes", "media", "psc", "xhtml"})
# Namespaces read by their own URI: by this module, or by feedparser under one of those prefixes
# for fields this project does not read (mixin.namespaces).
_OWN_NAMESPACES = frozenset({
    "http://creativecommons.org/ns#license", "http://web.resource.org/cc/", "http://www.georss.org/georss",
    "http://cyber.law.harvard.edu/rss/creativecommonsrssmodule.html", "http://www.opengis.net/gml",
    "http://backend.userland.com/creativecommonsrssmodule", "http://podlove.org/simple-chapters"})
# Namespaces whose elements feedparser reads as RSS's or Atom's own (prefix "" in mixin.namespaces).
_PLAIN_NAMESPACES = frozenset({
    "http://backend.userland.com/rss", "http://blogs.law.harvard.edu/tech/rss", "http://example.com/necho",
    "http://example.com/newformat#", "http://my.netscape.com/rdf/simple/0.9/", "http://purl.org/atom/ns#",
    "http://purl.org/echo/", "http://purl.org/pie/", "http://purl.org/rss/1.0/", "http://purl.org/rss/1.0/modules/rss091#",
    "http://www.w3.org/2005/atom", "uri/of/echo/namespace#"})
_DECLARATION = re.compile(rb"""xmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")


class Refused(Exception):
    """This document's shape is not one this module reproduces; feedparser reads it."""


class Result:
    """A document the fast route reads: the channel's values and its items, not yet read.

    ``entry(item)`` reads one item; it raises ``Refused`` for an item shape it does not
    reproduce, and then the whole document goes to feedparser. ``digests`` holds a digest of
    each item's bytes as written (None when the items cannot be cut out with certainty; an item
    whose digest is None is never remembered), ``scope`` the bytes before the channel's first
    child (namespace declarations): an item with the same bytes in the same scope reads the same.
    An item is None when ``read`` was told its digest is known and did not read it again.
    """

    def __init__(self, feed: dict, items: list, digests: list[bytes | None] | None, scope: bytes,
                 base: str = ""):
        self.feed = feed
        self.items = items
        self.digests = digests
        self.scope = scope
        self.base = base


_ITEM_START = re.compile(rb"<item[\s>/]")
# What may follow the last item when the known items are left out of the parser's reading: the
# channel's end tag and the root's, nothing else (no comment, no element that could hide a quote).
_END = re.compile(rb"</channel>[ \t\r\n]*</rss>[ \t\r\n]*\Z")
_ITEM_END = re.compile(rb"</item>[ \t\r\n]*\Z")


def digest(chunk: bytes) -> bytes:
    # SHA-256 (the body hash's, hardware-assisted on current CPUs) read the bench feed in about
    # half the time of BLAKE2b; 16 bytes of it are plenty to tell items apart.
    return hashlib.sha256(chunk).digest()[:16]


def read(text: bytes, known: Container[bytes] = ()) -> Result | None:
    """The channel and items of an RSS 2.0 document, or None when feedparser must read it.

    ``known``: digests of items read before in this scope (see ``Result``); such an item is not
    read again and is None in ``Result.items``. Only the rest of the document is parsed.
    """
    if b"<!DOCTYPE" in text and _declaration_in_prolog(text):
        return None
    if known and _borrowed_namespaces(text) == set():
        # a declaration anywhere changes how feedparser names the elements after it, in any item
        document = _read_known(text, known)
        if document is not None:
            return document
    return _read(text)


def _declaration_in_prolog(text: bytes) -> bool:
    """Whether "<!DOCTYPE" is written before the root element, however far in: a DOCTYPE's
    attribute defaults would apply to every item, and feedparser cuts out whatever looks like one
    there, even inside a comment or a processing instruction (sanitizer.replace_doctype). The
    prolog holds only the XML declaration, comments, processing instructions and white space."""
    at = 0
    while True:
        at = text.find(b"<", at)
        if at < 0:
            return True                  # no root element: not well-formed, the parser refuses it
        if text.startswith(b"<!--", at):
            at = text.find(b"-->", at + 4)
        elif text.startswith(b"<?", at):
            at = text.find(b"?>", at + 2)
        else:
            return text.find(b"<!DOCTYPE", 0, at + 9) >= 0
        if at < 0:
            return True                  # not well-formed: the parser refuses it
        at += 2


def _read(text: bytes) -> Result | None:
    if b"<!ENTITY" in text:
        return None
    # feedparser takes a base URI from an xml:base or a plain base attribute of any element
    # (mixin.unknown_starttag, names lower-cased); anything that looks like one is counted.
    bases = _base_attributes(text)
    if (b"\xc2" in text or b"\xc3" in text) and _C1_OR_LATIN1_UTF8.search(text):
        return None
    if b"&#" in text and _latin1_by_reference(text):
        return None                      # the same characters, written as character references
    root = _parse(text)
    if root is None:
        return None
    borrowed = _borrowed_namespaces(text)
    if borrowed is None or (borrowed and any(_split(element.tag)[0] in borrowed for element in root.iter())):
        return None
    try:
        base = _root_base(root, bases)
        feed, items = _read_rss(root, base)
    except Refused:
        return None
    # Every item element starts with "<item" in the bytes; when nothing else does (no "<item"
    # in a CDATA section or a comment), the bytes between two starts are one item's.
    starts = [m.start() for m in _ITEM_START.finditer(text)]
    digests = None
    channel = text.find(b"<channel")
    scope = text[:text.find(b">", channel) + 1] if channel >= 0 else b""
    if len(starts) == len(items) and channel >= 0:
        ends = starts[1:] + [text.rfind(b"</channel")]
        digests = [_remembered(text, start, end, bases) for start, end in zip(starts, ends)]
    return Result(feed, items, digests, scope, base)


def _borrowed_namespaces(text: bytes) -> set[str] | None:
    """The namespaces (lower-cased) whose elements feedparser reads as RSS's or under one of its
    handled prefixes, though this module does not know them; None when a declaration's value
    holds a reference (its namespace is not the bytes)."""
    borrowed: set[str] = set()
    if b"xmlns" not in text:
        return borrowed
    for match in _DECLARATION.finditer(text):
        prefix = match.group(1)
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if b"&" in value:
            return None
        uri = value.decode("utf-8", "replace").lower()
        if not uri or uri in _OWN_NAMESPACES or uri in _READ or uri in _REFUSED or uri in _MEDIA:
            continue
        if (prefix is None or prefix.decode("utf-8", "replace").lower() in _HANDLED_PREFIXES
                or uri in _PLAIN_NAMESPACES or "backend.userland.com/rss" in uri):
            borrowed.add(uri)
    return borrowed


def _latin1_by_reference(text: bytes) -> bool:
    """Whether character references make what ``_C1_OR_LATIN1_UTF8`` looks for: a C1 control, or
    U+00C2-U+00F4 before U+0080-U+00BF, one of them (at least) written as a reference. Only the
    neighbours of each reference to U+0080-U+00FF are looked at, not the whole document re-made."""
    for match in _LATIN1_REFERENCE.finditer(text):
        start, end = match.span()
        number = _number(_REFERENCE.match(text, start))
        if number <= 0x9F:
            return True
        if 0xC2 <= number <= 0xF4:
            following = _REFERENCE.match(text, end)
            if following is not None and 0x80 <= _number(following) <= 0xBF:
                return True
            if following is None and text[end:end + 1] == b"\xc2" and b"\x80" <= text[end + 1:end + 2] <= b"\xbf":
                return True
        if number <= 0xBF and start >= 2 and text[start - 2] == 0xC3 and 0x82 <= text[start - 1] <= 0xB4:
            return True
    return False


def _number(match: Any) -> int:
    return int(match.group(1), 10) if match.group(1) else int(match.group(2), 16)


def _parse(text: bytes) -> Any:
    """The document's root element, or None when it is not well-formed XML."""
    parser = XMLParser()
    try:
        parser.feed(text)
        return parser.close()
    except (ParseError, ValueError):
        return None


def _remembered(text: bytes, start: int, end: int, bases: int) -> bytes | None:
    """The digest of the item at ``text[start:end]``, when it may be left out of a later reading.

    Leaving it out keeps the rest well-formed and read the same when the bytes are one whole
    item element and white space (the channel's other children are never left out), and hold
    nothing the document-wide checks look for: the document passed them, so only a base
    attribute is left to look for, and only when the document has one.
    """
    chunk = text[start:end]
    if not _ITEM_END.search(chunk) or (bases and _base_attributes(chunk)):
        return None
    return digest(chunk)


def _read_known(text: bytes, known: Container[bytes]) -> Result | None:
    """``read`` with the known items left out of the parser's reading, or None when that is not sure.

    The items are cut at each "<item" and the last at the channel's end tag. What the parser reads is
    the head, the new items and the end: when it is well-formed, its "<item"s are all items of
    the channel and its end is the channel's own, the cuts are between children of the channel,
    and a known item (one whole element that read alike before, see ``_remembered``) put back at
    its cut leaves the document well-formed with the same channel: the whole document reads as
    the part read, with the known items in their places.
    """
    starts = [m.start() for m in _ITEM_START.finditer(text)]
    end = text.rfind(b"</channel")
    if not starts or end < starts[-1] or not _END.match(text, end):
        return None
    digests: list[bytes | None] = []
    part = [text[:starts[0]]]
    for start, stop in zip(starts, starts[1:] + [end]):
        chunk = text[start:stop]
        key = digest(chunk)
        if key in known:
            digests.append(key)
        else:
            digests.append(None)
            part.append(chunk)
    if len(part) == len(starts) + 1:
        return None                          # nothing known: the whole document is read
    part.append(text[end:])
    document = _read(b"".join(part))
    if document is None or document.digests is None or len(document.scope) > len(part[0]):
        return None
    fresh = iter(zip(document.items, document.digests))
    items: list[Any] = []
    for index, known_digest in enumerate(digests):
        if known_digest is None:
            item, digests[index] = next(fresh)
        else:
            item = None
        items.append(item)
    return Result(document.feed, items, digests, document.scope, document.base)


def entry(item: Any, base: str = "") -> dict:
    """feedparser's entry values for one item (raises ``Refused``); ``base`` is ``Result.base``."""
    return _item(item, base)


_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _base_attributes(text: bytes) -> int:
    """How many places look like a ``base`` attribute (any case, any prefix): "base" not preceded
    by a name character and followed by "=". More than there are is harmless (refused)."""
    low = text.lower()
    count = 0
    at = low.find(b"base")
    while at >= 0:
        after = at + 4
        while after < len(low) and low[after] in b" \t\r\n":
            after += 1
        if after < len(low) and low[after] == 0x3D and (at == 0 or low[at - 1] not in _NAME_BYTES):
            count += 1
        at = low.find(b"base", at + 4)
    return count


def _root_base(root: Any, bases: int) -> str:
    """The base URI feedparser resolves links against: only an xml:base on <rss> is followed here."""
    if not bases:
        return ""
    value = root.get("{http://www.w3.org/XML/1998/namespace}base")
    if bases != 1 or value is None or not value:
        raise Refused("a base URI below <rss>")
    return _uri(value)            # feedparser: the first base is joined to "" (no document URL)


def _split(tag: Any) -> tuple[str, str]:
    """(namespace lower-cased, local name) of an element tag; ("#", "") for comments and the like."""
    if not isinstance(tag, str):
        return "#", ""
    if tag[0] == "{":
        namespace, local = tag[1:].split("}", 1)
        return namespace.lower(), local
    return "", tag


def _refused(namespace: str, local: str) -> bool:
    if namespace not in _REFUSED:
        return False
    names = _REFUSED[namespace]
    return names is None or local.lower() in names


def _read_rss(root: Any, base: str = "") -> tuple[dict, list]:
    if root.tag != "rss" or not (root.get("version") or "").startswith("2.") or len(root) != 1:
        raise Refused("not RSS 2.0")
    channel = root[0]
    if channel.tag != "channel":
        raise Refused("no channel")
    feed: dict = {}
    items: list = []
    titles = links = 0
    # feedparser's feed language: the root's xml:lang (or lang), "_" read as "-"; then each
    # channel <language> or <dc:language>, in document order, replaces it (mixin.unknown_starttag,
    # _end_language). An empty one is left to feedparser.
    root_lang = root.get(_XML_LANG, root.get("lang"))
    if root_lang:
        feed["language"] = root_lang.replace("_", "-")
    for child in channel:
        namespace, local = _split(child.tag)
        if namespace == "#":
            continue
        if namespace == "":
            if local == "item":
                items.append(child)
                continue
            if local.lower() in ("item", "entry"):
                raise Refused("an item spelled differently")
            if local == "title":
                titles += 1
                value = _text(child)
                feed["title"] = value
                feed["title_detail"] = {"type": _plain_type(value), "value": value}
            elif local == "link":
                links += 1
                feed["link"] = _uri(_text(child), base)
            elif local == "language" and not len(child):
                feed["language"] = _language(child)
            elif local.lower() in ("title", "link", "language"):
                raise Refused(f"channel element {local}")
            elif len(child) and local not in ("image", "textInput", "cloud", "skipHours", "skipDays"):
                raise Refused(f"channel element {local} with elements inside")
        elif namespace in ("http://www.w3.org/2005/atom", "http://purl.org/atom/ns#"):
            if local != "link" or (child.get("rel") or "alternate").lower() == "alternate":
                raise Refused(f"Atom {local} on the channel")
        elif namespace in _REFUSED or namespace == _DC:
            if namespace == _DC and local == "language" and not len(child):
                feed["language"] = _language(child)
            elif local.lower() in ("title", "link", "item", "entry", "language"):
                raise Refused(f"channel element {child.tag}")
        elif len(child):
            raise Refused(f"channel element {child.tag} with elements inside")
    if titles > 1 or links > 1:
        raise Refused("channel with two titles or links")
    return feed, items


def _item(item: Any, base: str = "") -> dict:
    values: dict[str, str] = {}
    entry: dict = {}
    tags: list[dict] = []
    enclosures: list[dict] = []
    guid_is_link = False
    for child in item:
        namespace, local = _split(child.tag)
        if namespace == "#":
            continue
        if namespace == "":
            if local not in _RSS_ITEM:
                raise Refused(f"item element {local}")
            name = local
        elif namespace in _MEDIA:
            if _refused(namespace, local):
                raise Refused(f"item element {child.tag}")
            _media(child, entry)
            continue
        elif local in _READ.get(namespace, ()):
            name = "dc_" + local if namespace == _DC else ("dc_date" if namespace == _ATOM else local)
        elif namespace in _READ or _refused(namespace, local):
            raise Refused(f"item element {child.tag}")
        else:
            if len(child):
                raise Refused(f"item element {child.tag} with elements inside")
            continue
        if name in ("category", "dc_subject"):
            term = _text(child)
            if term:
                tags.append({"term": term, "scheme": child.get("domain"), "label": None})
        elif name == "enclosure":
            # feedparser lower-cases attribute names and renames url to href (_start_enclosure)
            attrs = _attrs(child)
            if "url" in attrs:
                attrs["href"] = attrs.pop("url")
            enclosures.append(attrs)
        elif name in ("comments", "source"):
            _text(child)
        elif name in values:
            raise Refused(f"two {local} in one item")
        else:
            values[name] = _text(child)
            if name == "guid":
                guid_is_link = _attrs(child).get("ispermalink", "true") == "true"
    if "title" in values:
        entry["title"] = values["title"]
        entry["title_detail"] = {"type": _plain_type(values["title"]), "value": values["title"]}
    if "guid" in values:
        entry["id"] = _uri(values["guid"], base) if guid_is_link else values["guid"]
    if "link" in values:
        entry["link"] = _uri(_link_text(values["link"]), base)
    elif guid_is_link and "guid" in values:
        entry["link"] = entry["id"]
    if "description" in values:
        entry["summary"] = values["description"]
        entry["summary_detail"] = {"type": "text/html", "value": values["description"]}
    if "encoded" in values:
        entry["content"] = [{"type": "text/html", "value": values["encoded"]}]
        # feedparser copies the content into "summary" when there is no description (_end_content)
        entry.setdefault("summary", values["encoded"])
    if "dc_creator" in values:
        creator = values["dc_creator"]
        if "@" in creator:
            raise Refused("an author with a mail address")   # feedparser splits it (_sync_author_detail)
        if creator:
            entry["author"] = creator
            entry["author_detail"] = {"name": creator}
    if "pubDate" in values:
        entry["published_parsed"] = _date(values["pubDate"])
    if "dc_date" in values:
        entry["updated_parsed"] = _date(values["dc_date"])
    if tags:
        entry["tags"] = tags
    if enclosures:
        entry["enclosures"] = enclosures
    return entry


def _attrs(element: Any) -> dict:
    attrs = {}
    for name, value in element.attrib.items():
        local = name.rsplit("}", 1)[-1].lower()
        attrs[local] = value.lower() if local in ("rel", "type") else value
    return attrs


# How deep media elements are read inside each other; deeper ones are left to feedparser (a
# document nesting thousands would otherwise exhaust the recursion limit here).
_MEDIA_DEPTH = 20


def _media(element: Any, entry: dict, depth: int = 0) -> None:
    """media:content and media:thumbnail, in a media:group or not, as feedparser lists them."""
    if depth > _MEDIA_DEPTH:
        raise Refused("media elements nested too deep")
    namespace, local = _split(element.tag)
    if namespace not in _MEDIA:
        if len(element):
            raise Refused(f"{element.tag} inside a media element")
        return
    if _refused(namespace, local):
        raise Refused(f"media element {local}")
    if local in ("content", "thumbnail"):
        if not element.get("url"):
            raise Refused("media element without url")
        entry.setdefault("media_" + local, []).append(_attrs(element))
    elif local.lower() in ("content", "thumbnail"):
        raise Refused(f"media element {local}")
    for child in element:
        _media(child, entry, depth + 1)


def _language(element: Any) -> str:
    value = _text(element)
    if not value:
        raise Refused("an empty language")
    return value


def _text(element: Any) -> str:
    """The element's text as feedparser's pop() gives it: stripped, no markup inside."""
    if len(element):
        raise Refused(f"markup inside {element.tag}")
    return (element.text or "").strip()


def _link_text(value: str) -> str:
    # feedparser/mixin.py pop(): "query variables in urls in link elements are improperly
    # converted from `?a=1&b=2` to `?a=1&b;=2`"; it undoes that the same way.
    value = value.replace("&amp;", "&")
    return re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value)


def _uri(value: str, base: str = "") -> str:
    """feedparser's resolve_uri (urls._urljoin)."""
    value = _URIFIXER.sub(r"\1\3", value)
    try:
        return urljoin(base, value)
    except ValueError:
        return ""


def _plain_type(value: str) -> str:
    """feedparser/mixin.py looks_like_html: RSS plain text that looks like HTML is HTML."""
    if not (re.search(r"</(\w+)>", value) or re.search(r"&#?\w+;", value)):
        return "text/plain"
    if any(t.lower() not in _HTML_ELEMENTS for t in re.findall(r"</?(\w+)", value)):
        return "text/plain"
    import html.entities

    if any(e not in html.entities.entitydefs for e in re.findall(r"&(\w+);", value)):
        return "text/plain"
    return "text/html"


def _date(value: str) -> tuple | None:
    """An RFC 822 or W3C-DTF date as a UTC tuple; any other form is left to feedparser."""
    if not value:
        return None
    rfc822 = _RFC822.fullmatch(value)
    if rfc822:
        # What feedparser's _parse_date_rfc822 reads in this one form: a four-digit year as
        # written (0099 is the year 99; only a year of one or two digits is two-digit), and the
        # offset is +-HHMM (minutes above 59 included) or zero for the named zones.
        day, month, year, hour, minute, second, zone = rfc822.groups()
        offset = 0 if zone.isalpha() else int(zone[0] + "1") * (int(zone[1:3]) * 3600 + int(zone[3:]) * 60)
        try:
            moment = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                              tzinfo=timezone.utc) - timedelta(seconds=offset)
        except (ValueError, OverflowError):     # an offset past year 1 or 9999: feedparser's None
            raise Refused(f"date {value!r}") from None
        return moment.timetuple()[:6]
    if _W3CDTF.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            raise Refused(f"date {value!r}") from None
        return moment.timetuple()[:6]
    raise Refused(f"date {value!r}")
