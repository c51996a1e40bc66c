"""The fast route (bot/fastparse.py, lxml) gives exactly feedparser's Posts, or hands the document back.

Parity over the whole corpus and over generated RSS 2.0 documents; each shape the fast route
refuses is shown to be one where feedparser's values differ from a plain reading.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import fastparse, feeds
from tests.parse_routes import from_fast_route


CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"
FILES = sorted(p.name for p in CORPUS.glob("*.xml")) if CORPUS.is_dir() else []


def both(body: bytes, url: str = "https://blog.example.com/feed.xml", content_type: str = ""):
    kwargs = dict(feed_url=url, base_url=url, content_type=content_type)
    return (feeds._parse_xml_feed(body, fast=True, **kwargs), feeds._parse_xml_feed(body, fast=False, **kwargs))


@pytest.mark.skipif(not FILES, reason=f"feed corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", FILES or ["(no corpus)"])
def test_corpus_feed_gives_the_same_posts_on_both_routes(name):
    body = (CORPUS / name).read_bytes()
    fast, reference = both(body, (CORPUS / name).as_uri())
    assert fast.title == reference.title
    assert fast.warning == reference.warning
    assert len(fast.posts) == len(reference.posts)
    for mine, theirs in zip(fast.posts, reference.posts):
        assert mine == theirs


@pytest.mark.skipif(not FILES, reason=f"feed corpus not found at {CORPUS}")
def test_the_fast_route_reads_the_plain_rss_feeds_of_the_corpus_itself():
    read = {name for name in FILES if from_fast_route((CORPUS / name).read_bytes())}
    # WordPress, Hugo (xml:base on <rss>), Ghost, Medium, Substack and the Guardian (media:content)
    # are plain RSS 2.0; the podcast has iTunes authors, the Portuguese feed feedburner links.
    assert read == {"02-wordpress-rss2-entities.xml", "03-wordpress-rss2-untitled-notes.xml", "05-hugo-rss2.xml",
                    "06-ghost-rss2.xml", "08-medium-rss2.xml", "09-substack-rss2-emoji.xml",
                    "11-guardian-rss2-media-content.xml"}
    # Atom and RSS 1.0 always go to feedparser.
    assert not {name for name in read if "atom" in name or "rdf" in name}


def rss(items: str, channel: str = "<title>Blog</title><link>https://blog.example.com/</link>",
        namespaces: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            f'xmlns:media="http://search.yahoo.com/mrss/" {namespaces}><channel>{channel}{items}</channel></rss>'
            ).encode("utf-8")


ITEM = ('<item><title>{title}</title><link>https://blog.example.com/a?x=1&amp;y=2</link>'
        '<guid isPermaLink="false">id-1</guid><pubDate>{date}</pubDate>'
        '<description>{description}</description>{extra}</item>')


def item(title="Hello &amp; welcome", date="Tue, 03 Nov 2026 10:00:00 +0100",
         description="&lt;p&gt;Text &amp;amp; more&lt;/p&gt;", extra="") -> str:
    return ITEM.format(title=title, date=date, description=description, extra=extra)


# Documents the fast route reads itself: each must give feedparser's exact values.
READ = {
    "plain": rss(item()),
    "title that looks like HTML": rss(item(title="Caf&amp;eacute; &lt;b&gt;bold&lt;/b&gt;")),
    "title with a lone tag": rss(item(title="a &lt;b&gt; c")),
    "title with an unknown entity": rss(item(title="Q&amp;A &amp;foo; x")),
    "W3C date in dc:date": rss(item(date="").replace("<pubDate></pubDate>", "<dc:date>2026-11-03T10:00:00.5+02:00</dc:date>")),
    "guid as link": rss("<item><title>t</title><guid>https://blog.example.com/p/1</guid></item>"),
    "guid as link, then a link": rss("<item><guid>https://blog.example.com/p/1</guid><title>t</title>"
                                     "<link>https://blog.example.com/p/other</link></item>"),
    "link with a broken query": rss("<item><title>t</title><link>https://blog.example.com/?a=1&amp;amp;b=2&amp;c;=3</link></item>"),
    "extra slashes": rss("<item><title>t</title><link>https:////blog.example.com/p</link></item>"),
    "content before description": rss("<item><title>t</title><content:encoded>&lt;p&gt;Body&lt;/p&gt;&lt;img src='/i.png'&gt;"
                                      "</content:encoded><description>Short</description><link>/rel</link></item>"),
    "content only": rss("<item><title>t</title><link>https://b.example.com/x</link>"
                        "<content:encoded><![CDATA[<p>Only <b>body</b></p>]]></content:encoded></item>"),
    "media in a group, widest first": rss(item(extra='<media:group><media:content url="https://i.example.com/s.jpg" width="140"/>'
                                                      '<media:content url="https://i.example.com/l.jpg" width="460" medium="image"/>'
                                                      '</media:group><media:thumbnail url="https://i.example.com/t.jpg"/>')),
    "enclosures": rss(item(extra='<enclosure url="https://i.example.com/a.mp3" type="audio/mpeg" length="1"/>'
                                 '<enclosure URL="https://i.example.com/b.png" TYPE="IMAGE/PNG"/>')),
    "categories and subjects in order": rss(item(extra="<category>Zeta</category><dc:subject>alpha</dc:subject>"
                                                       "<category domain='x'> Beta </category><category></category>")),
    "creator": rss(item(extra="<dc:creator><![CDATA[Ann Example]]></dc:creator>")),
    "empty values": rss("<item><title></title><link></link><guid></guid><description></description></item>"),
    "no entries": rss(""),
    "unknown namespace": rss(item(extra="<x:foo>bar</x:foo>"), namespaces='xmlns:x="https://x.example/ns"'),
    "atom:updated (Medium)": rss(item(date="").replace("<pubDate></pubDate>", "<atom:updated>2026-11-03T10:00:00.532Z</atom:updated>"),
                                 namespaces='xmlns:atom="http://www.w3.org/2005/Atom"'),
    "xml:base on rss, relative links": rss("<item><title>t</title><link>/p/1</link><guid>p/2</guid></item>"
                                           "<item><title>u</title><guid>//other.example/x</guid></item>",
                                           channel="<title>Blog</title><link>/home</link>").replace(
        b'<rss version="2.0"', b'<rss version="2.0" xml:base="https://base.example/blog/"'),
    "comments": rss(item(extra="<!-- a comment --><comments>https://blog.example.com/c</comments>")),
    "DOCTYPE text in a comment after the root's start": rss(item(extra="<!--\n<!DOCTYPE a -->")),
    "an RFC 822 date in the year 99 written with four digits": rss(item(date="Tue, 03 Nov 0099 10:00:00 GMT")),
    "an element of an unknown namespace under a prefix feedparser has no use for": rss(
        "<item><title>t</title><link>https://blog.example.com/1</link><x:title xmlns:x='urn:x'>x</x:title></item>"),
    "character references to Latin-1 and other characters": rss(item(title="Caf&#233; x&#160;&#8217;s &#xE9;t&#xe9;")),
}


@pytest.mark.parametrize("case", sorted(READ))
def test_documents_the_fast_route_reads_give_feedparsers_values(case):
    body = READ[case]
    assert from_fast_route(body), f"{case}: the fast route should read this document itself"
    fast, reference = both(body)
    assert fast == reference


# Shapes the fast route hands to feedparser, because feedparser's values there are not what a
# plain reading of the elements gives (or are not reproduced here).
REFUSED = {
    "Atom": b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>',
    "RSS 1.0": b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"/>',
    "RSS 0.91": rss(item()).replace(b'version="2.0"', b'version="0.91"'),
    "not well-formed": rss(item()).replace(b"</channel>", b""),
    "a DOCTYPE": rss(item()).replace(b"<rss", b"<!DOCTYPE rss [<!ENTITY e 'x'>]><rss", 1),
    "xml:base on the channel": rss(item()).replace(b"<channel>", b'<channel xml:base="https://other.example/">'),
    "a plain base attribute (feedparser follows it)": rss(item()).replace(b"<item>", b'<item BASE="https://o.example/">'),
    "two base URIs": rss(item()).replace(b"<item>", b'<item xml:base="https://o.example/">').replace(
        b'<rss version="2.0"', b'<rss version="2.0" xml:base="https://base.example/"'),
    "C1 control (feedparser maps it to windows-1252)": rss(item(title="a \u0093quoted\u0094 b")),
    "UTF-8 read as Latin-1 (feedparser re-decodes it)": rss(item(title="Caf\u00c3\u00a9")),
    "RSS author (feedparser splits mail and name)": rss(item(extra="<author>a@example.com (Ann)</author>")),
    "dc:creator with a mail address": rss(item(extra="<dc:creator>ann@example.com</dc:creator>")),
    "dc:date and atom:updated (feedparser keeps the last)": rss(
        item(extra="<dc:date>2026-11-01T10:00:00Z</dc:date><atom:updated>2026-11-02T10:00:00Z</atom:updated>"),
        namespaces='xmlns:atom="http://www.w3.org/2005/Atom"'),
    "an Atom link in an item": rss(item(extra='<atom:link rel="alternate" href="https://b.example/x"/>'),
                                   namespaces='xmlns:atom="http://www.w3.org/2005/Atom"'),
    "two titles": rss(item(extra="<title>second</title>")),
    "Title spelled in capitals": rss(item(extra="<Summary>x</Summary>")),
    "feedburner origLink": rss(item(extra="<feedburner:origLink>https://b.example/x</feedburner:origLink>"),
                               namespaces='xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'),
    "iTunes keywords (feedparser makes tags)": rss(item(extra="<itunes:keywords>a, b</itunes:keywords>"),
                                                   namespaces='xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'),
    "media:title (feedparser's entry title)": rss(item(extra="<media:title>other</media:title>")),
    "an RFC 822 date without seconds": rss(item(date="Tue, 03 Nov 2026 10:00 GMT")),
    "a date in another form": rss(item(date="2026-11-03")),
    "markup inside a title": rss(item(title="<b xmlns='http://www.w3.org/1999/xhtml'>x</b>")),
    "media:thumbnail without url": rss(item(extra="<media:thumbnail>https://i.example.com/t.jpg</media:thumbnail>")),
    # A DOCTYPE's attribute defaults apply to every item (here a base URI on another host);
    # feedparser cuts a DOCTYPE that starts a line and reads what is left loosely.
    "a DOCTYPE after 4 KB of comment": rss("<item><title>t</title><link>/p/1</link></item>").replace(
        b"<rss", b"<!--" + b"x" * 5000 + b'--><!DOCTYPE rss [<!ATTLIST item xml:base CDATA "https://evil.example/">]><rss', 1),
    "a DOCTYPE on its own line after 4 KB of white space": rss(item()).replace(
        b"<rss", b" " * 5000 + b'\n<!DOCTYPE rss [<!ATTLIST guid isPermaLink CDATA "false">]>\n<rss', 1),
    # feedparser cuts what looks like a DOCTYPE out of the prolog, here the end of a comment with it.
    "DOCTYPE text in a comment before the root": rss(item()).replace(b"<rss", b"<!--\n<!DOCTYPE a -->\n<rss", 1),
    "DOCTYPE text in a processing instruction before the root": rss(item()).replace(
        b"<rss", b" " * 5000 + b"<?pi \n<!DOCTYPE a ?>\n<rss", 1),
    # feedparser maps C1 controls to windows-1252 and re-decodes UTF-8 read as Latin-1 in the
    # text, whether the document wrote the characters or character references to them.
    "a character reference to a C1 control": rss(item(title="a&#133;b &#x93;c&#x0094;")),
    "UTF-8 read as Latin-1 in character references": rss(item(title="Caf&#195;&#169;")),
    "UTF-8 read as Latin-1, half of it a character reference": rss(item(title="Caf\u00c3&#169;")),
    # feedparser names an element of a namespace it does not know by the prefix declared for it,
    # and an element of such a default namespace by its local name: RSS's own.
    "a link of an unknown default namespace": rss(
        "<item><title>t</title><link xmlns='urn:x'>https://evil.example/</link></item>"),
    "an item of an unknown default namespace in a media group": rss(
        "<item><title>t</title><media:group><item xmlns='urn:x'/></media:group></item>"),
    "the dc prefix bound to another namespace": rss(
        "<item><title>t</title><link>https://blog.example.com/1</link><dc:creator xmlns:dc='urn:x'>Bob</dc:creator></item>"),
    "an element of the UserLand RSS namespace": rss(
        "<item><link>https://blog.example.com/1</link><u:title xmlns:u='http://backend.userland.com/rss2'>u</u:title></item>"),
    "an RFC 822 date that leaves year 1 by its offset": rss(item(date="Mon, 01 Jan 0001 00:00:00 +0500")),
    "a W3C date that leaves year 9999 by its offset": rss(item(date="").replace(
        "<pubDate></pubDate>", "<dc:date>9999-12-31T23:00:00-05:00</dc:date>")),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_shapes_the_fast_route_hands_to_feedparser(case):
    body = REFUSED[case]
    assert not from_fast_route(body), f"{case}: should go to feedparser"
    # and then the result is feedparser's, whichever route was asked for
    try:
        fast, reference = both(body)
    except feeds.FeedError:
        return
    assert fast == reference


def test_media_groups_nested_past_the_recursion_limit_are_read_as_feedparser_reads_them():
    body = rss(item(extra="<media:group>" * 5000 + '<media:content url="https://i.example.com/a.jpg"/>'
                    + "</media:group>" * 5000))
    assert not from_fast_route(body)
    fast, reference = both(body)
    assert fast == reference


def test_the_fast_route_needs_no_optional_package(tmp_path):
    # Every install reads plain RSS 2.0 on the fast route: lxml (once its parser) blocked here.
    feed = tmp_path / "plain.xml"
    feed.write_bytes(READ["plain"])
    probe = ("import sys; sys.modules['lxml'] = None\n"
             "from bot import fastparse, feeds\n"
             "document = fastparse.read(feeds._as_utf8(open(sys.argv[1], 'rb').read(), ''))\n"
             "print(len(document.items), 'lxml' in sys.modules and sys.modules['lxml'] is not None)")
    result = subprocess.run([sys.executable, "-c", probe, str(feed)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(READ["plain"].count(b"<item>")), "False"]


# --------------------------------------------------------------------------- remembered Posts


def entry_item(n: int, title: str | None = None) -> str:
    return (f"<item><title>{title or f'Post {n}'}</title><link>https://blog.example.com/{n}</link>"
            f"<guid isPermaLink='false'>p{n}</guid><pubDate>Tue, 03 Nov 2026 1{n}:00:00 GMT</pubDate>"
            f"<description>&lt;p&gt;Text of post {n}&lt;/p&gt;</description></item>")


def parse_url(body: bytes, url: str):
    return feeds.parse(body, feed_url=url, base_url=url)


def test_a_changed_feed_reuses_the_posts_of_its_unchanged_entries(monkeypatch):
    monkeypatch.setattr(feeds, "_memo", {})
    url = "https://blog.example.com/changed.xml"
    first = parse_url(rss(entry_item(2) + entry_item(1)), url).posts
    body = rss(entry_item(3) + entry_item(2) + entry_item(1))
    second = parse_url(body, url).posts
    assert second[1] is first[0] and second[2] is first[1]
    assert second[0].title == "Post 3"
    fast, reference = both(body, url)
    assert fast.posts == reference.posts


def test_an_edited_entry_and_a_renamed_feed_get_new_posts(monkeypatch):
    monkeypatch.setattr(feeds, "_memo", {})
    url = "https://blog.example.com/edited.xml"
    first = parse_url(rss(entry_item(2) + entry_item(1)), url).posts
    edited = parse_url(rss(entry_item(2, title="Post 2, corrected") + entry_item(1)), url).posts
    assert edited[0].title == "Post 2, corrected" and edited[1] is first[1]
    renamed = parse_url(rss(entry_item(2) + entry_item(1), channel="<title>New name</title>"), url).posts
    assert [p.feed_title for p in renamed] == ["New name", "New name"]


def test_remembered_posts_are_bounded(monkeypatch):
    monkeypatch.setattr(feeds, "_memo", {})
    monkeypatch.setattr(feeds, "MEMO_MAX_POSTS", 3)
    body = rss(entry_item(2) + entry_item(1))
    for name in ("a", "b", "c"):
        parse_url(body, f"https://blog.example.com/{name}.xml")
    assert list(feeds._memo) == ["https://blog.example.com/c.xml"]
    assert sum(len(posts) for _, posts in feeds._memo.values()) <= 3


def test_feedparser_documents_are_not_remembered(monkeypatch):
    monkeypatch.setattr(feeds, "_memo", {})
    parse_url(REFUSED["RSS author (feedparser splits mail and name)"], "https://blog.example.com/fp.xml")
    assert feeds._memo == {}


def test_an_item_quoting_item_markup_turns_remembering_off_not_wrong(monkeypatch):
    monkeypatch.setattr(feeds, "_memo", {})
    url = "https://blog.example.com/quoting.xml"
    quoting = ("<item><title>About RSS</title><link>https://blog.example.com/rss</link><guid>https://blog.example.com/rss</guid>"
               "<content:encoded><![CDATA[<pre><item><title>x</title></item></pre>]]></content:encoded></item>")
    body = rss(entry_item(2) + quoting + entry_item(1))
    document = fastparse.read(feeds._as_utf8(body, ""))
    assert document.digests is None                 # three items, four "<item"
    fast, reference = both(body, url)
    assert fast == reference and len(fast.posts) == 3
    assert url not in feeds._memo


def test_the_same_item_under_other_namespace_declarations_is_read_again(monkeypatch):
    monkeypatch.setattr(feeds, "_memo", {})
    url = "https://blog.example.com/ns.xml"
    # A prefix of feedparser's own (dc:) bound elsewhere is read by its name: "x" is no such prefix.
    with_creator = entry_item(1).replace("</item>", "<x:creator>Ann</x:creator></item>")
    first = parse_url(rss(with_creator, namespaces='xmlns:x="http://purl.org/dc/elements/1.1/"'), url).posts
    other = rss(with_creator, namespaces='xmlns:x="https://other.example/dc"')
    second = parse_url(other, url).posts
    assert first[0].author == "Ann" and second[0].author == ""
    assert second == both(other, url)[1].posts


def test_a_document_without_items_but_html_near_the_top_gets_feedparsers_error():
    body = rss("", channel="<title>Blog</title><description><![CDATA[<html>hi</html>]]></description>")
    for fast in (True, False):
        with pytest.raises(feeds.FeedError, match="HTML page"):
            feeds._parse_xml_feed(body, feed_url="https://blog.example.com/feed", base_url=None, fast=fast)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from([b"\xc2", b"\xc3", b"\x80", b"\x9f", b"\xa0", b"\xb4", b"\xb5", b"\x82", b"\xbf",
                                 b"a", b"\xc0"]), max_size=14).map(b"".join))
def test_the_c1_and_latin1_check_finds_exactly_what_its_plain_form_finds(text):
    import re

    plain = re.compile(rb"\xc2[\x80-\x9f]|\xc3[\x82-\xb4]\xc2[\x80-\xbf]")
    assert bool(fastparse._C1_OR_LATIN1_UTF8.search(text)) == bool(plain.search(text))


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(["a", "\u00c3", "\u00a9", "\u00c2", "\u0085", "&#195;", "&#xA9;", "&#x000c3;", "&#160;",
                                 "&#133;", "&#8217;", "&#65;", "&#xf5;", "&#xBF;", "&#194;", "&amp;", "&#", ";"]),
                max_size=8).map("".join))
def test_character_references_are_checked_as_if_written_out(text):
    import re

    body = text.encode("utf-8")
    if fastparse._C1_OR_LATIN1_UTF8.search(body):
        return                                    # the byte check refuses it first
    written = re.sub(rb"&#(?:([0-9]+)|[xX]([0-9a-fA-F]+));",
                     lambda m: chr(int(m.group(1)) if m.group(1) else int(m.group(2), 16)).encode(), body)
    assert fastparse._latin1_by_reference(body) == bool(fastparse._C1_OR_LATIN1_UTF8.search(written))


def _by_feedparser(value: str) -> tuple | None:
    """What feedparser reads a date as: the fast route's reference (not email.utils, which reads
    a four-digit year below 100 as two-digit)."""
    from feedparser.datetimes import _parse_date

    parts = _parse_date(value)
    return tuple(parts[:6]) if parts else None


@given(st.builds("{}{} {} {:04d} {:02d}:{:02d}:{:02d} {}".format,
                 st.sampled_from(["", "Tue, ", "Sun, "]), st.integers(0, 39).map(str) | st.just("07"),
                 st.sampled_from(["Jan", "Feb", "Jun", "Nov", "Dec"]), st.integers(0, 2100) | st.sampled_from([1, 99, 9999]),
                 st.integers(0, 25), st.integers(0, 61), st.integers(0, 61),
                 st.sampled_from(["GMT", "UTC", "UT", "Z"]) | st.builds("{}{:02d}{:02d}".format,
                                                                         st.sampled_from("+-"), st.integers(0, 23),
                                                                         st.integers(0, 99))))
def test_rfc822_dates_read_as_feedparser_reads_them(value):
    # Four-digit years below 100 (0099 is the year 99 for feedparser), minutes above 59 in the
    # offset, -0000, impossible days and times, an offset that leaves the years datetime holds.
    expected = _by_feedparser(value)
    try:
        mine = fastparse._date(value)
    except fastparse.Refused:
        return                      # feedparser reads the document: its value, whatever it is
    assert mine == expected
