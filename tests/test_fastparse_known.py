"""A changed feed: the items of the last parse are left out of the parser's reading (fastparse._read_known).

Each case parses a first document, then a second one with the memo of the first, and compares
the second with a reading that remembers nothing and with feedparser's: the Posts and the feed
title must be identical. Where the second document is one the byte scan cannot be sure of, the
whole document is read (and the values are still feedparser's).
"""
from __future__ import annotations

import pytest

from bot import fastparse, feeds
from tests.test_fastparse import rss


URL = "https://blog.example.com/feed.xml"


@pytest.fixture(autouse=True)
def empty_memo(monkeypatch):
    monkeypatch.setattr(feeds, "_memo", {})


@pytest.fixture
def parsed_sizes(monkeypatch):
    """The sizes of the documents the XML parser is handed."""
    sizes: list[int] = []
    real = fastparse._parse

    def parse(text):
        sizes.append(len(text))
        return real(text)

    monkeypatch.setattr(fastparse, "_parse", parse)
    return sizes


def parse(body: bytes):
    return feeds._parse_xml_feed(body, feed_url=URL, base_url=URL, fast=True)


def changed(first: bytes, second: bytes):
    """The second document parsed after the first, checked against fresh and feedparser readings."""
    parse(first)
    remembered = dict(feeds._memo)
    result = parse(second)
    feeds._memo.clear()
    fresh = parse(second)
    reference = feeds._parse_xml_feed(second, feed_url=URL, base_url=URL, fast=False)
    assert result == fresh == reference
    feeds._memo.clear()
    feeds._memo.update(remembered)
    return result


def entry_item(n: int, title: str | None = None) -> str:
    return (f"<item><title>{title or f'Post {n}'}</title><link>https://blog.example.com/{n}</link>"
            f"<guid isPermaLink='false'>p{n}</guid><pubDate>Tue, 03 Nov 2026 {n % 24:02d}:00:00 GMT</pubDate>"
            f"<description>&lt;p&gt;Text of post {n}&lt;/p&gt;</description></item>")


def items(*numbers: int, sep: str = "\n") -> str:
    return "".join(entry_item(n) + sep for n in numbers)


def test_only_the_new_item_and_the_channel_go_to_the_parser(parsed_sizes):
    first = rss(items(*range(20, 0, -1)))
    second = rss(items(*range(21, 1, -1)))
    parse(first)
    parsed_sizes.clear()
    parse(second)
    assert parsed_sizes == [len(second) - len(items(*range(20, 1, -1)))]      # the head, one item, the end
    posts = changed(first, second).posts
    assert [p.title for p in posts] == [f"Post {n}" for n in range(21, 1, -1)]
    document = fastparse.read(feeds._as_utf8(second, ""), feeds._memo[URL][1])
    assert document.items[0] is not None and all(item is None for item in document.items[1:])


def test_the_posts_of_known_items_are_the_remembered_ones():
    first = rss(items(3, 2, 1))
    before = parse(first).posts
    after = parse(rss(items(4, 3, 2, 1))).posts
    assert after[1] is before[0] and after[3] is before[2]


def test_an_item_changed_in_the_middle():
    first = rss(items(5, 4, 3, 2, 1))
    second = rss(items(5, 4) + entry_item(3, title="Post 3, corrected") + "\n" + items(2, 1))
    posts = changed(first, second).posts
    assert [p.title for p in posts][2] == "Post 3, corrected"


def test_an_item_removed_and_two_swapped():
    first = rss(items(5, 4, 3, 2, 1))
    posts = changed(first, rss(items(5, 3, 1, 2))).posts
    assert [p.title for p in posts] == ["Post 5", "Post 3", "Post 1", "Post 2"]


def test_no_new_item_at_all_and_every_item_new():
    first = rss(items(3, 2, 1))
    assert len(changed(first, rss(items(3, 2, 1), channel="<title>Blog</title><link>https://blog.example.com/</link>"
                                                          "<description>now described</description>")).posts) == 3
    assert [p.title for p in changed(first, rss(items(9, 8))).posts] == ["Post 9", "Post 8"]


def test_a_channel_field_changed():
    first = rss(items(3, 2, 1))
    renamed = changed(first, rss(items(4, 3, 2, 1), channel="<title>New name</title>"
                                                            "<link>https://blog.example.com/</link>"))
    assert {p.feed_title for p in renamed.posts} == {"New name"}
    moved = changed(first, rss(items(4, 3, 2, 1), channel="<title>Blog</title><link>https://other.example.org/</link>"))
    assert len(moved.posts) == 4


def test_a_channel_element_after_a_known_item_is_read():
    first = rss(items(3, 2, 1))
    # A second title among the items: feedparser's title is the last one; the fast route refuses it.
    second = rss(items(3) + "<title>Late title</title>" + items(2, 1))
    assert changed(first, second).title == "Late title"
    second = rss(items(3) + "<language>de</language>" + items(2, 1))
    assert {p.language for p in changed(first, second).posts} == {"de"}


def test_namespace_declarations_changed(parsed_sizes):
    with_creator = entry_item(1).replace("</item>", "<dc:creator>Ann</dc:creator></item>")
    first = rss(items(2) + with_creator)
    second = rss(items(3, 2) + with_creator, namespaces='xmlns:x="https://x.example/"')
    parse(first)
    parsed_sizes.clear()
    parse(second)
    assert parsed_sizes[-1] == len(second)            # another scope: the known items are read again
    assert changed(first, second).posts[-1].author == "Ann"


def test_a_new_item_quoting_a_known_one_in_a_cdata_section():
    first = rss(items(2, 1))
    known = entry_item(1) + "\n"
    quoting = ("<item><title>Quoting</title><link>https://blog.example.com/q</link><guid>q</guid>"
               "<content:encoded><![CDATA[<pre>" + known + "<item>]]></content:encoded></item>")
    # The scan cuts at the quoted "<item"s: what the parser is handed holds more "<item"s than items.
    second = rss(quoting + "\n" + items(2))
    posts = changed(first, second).posts
    assert [p.title for p in posts] == ["Quoting", "Post 2"]
    assert "Post 1" not in [p.title for p in posts]


def test_a_known_item_inside_a_comment_is_not_an_item():
    first = rss(items(2, 1))
    second = rss("<!--" + items(1) + "<item>x</item>-->" + items(2))
    assert [p.title for p in changed(first, second).posts] == ["Post 2"]


def test_a_document_with_more_than_the_channel_after_the_last_item():
    first = rss(items(2, 1))
    second = rss(items(3, 2, 1)).replace(b"</rss>", b"</rss><!-- cached -->")
    assert len(changed(first, second).posts) == 3
    assert fastparse._read_known(feeds._as_utf8(second, ""), feeds._memo[URL][1]) is None


def test_a_known_item_followed_by_text_or_a_comment_is_not_left_out():
    first = rss(items(2, 1, sep="<!-- c -->"))
    parse(first)
    assert all(digest is None for digest in fastparse.read(feeds._as_utf8(first, "")).digests)
    assert len(changed(first, rss(items(3, 2, 1, sep="<!-- c -->"))).posts) == 3


def test_a_known_item_then_a_broken_new_one_goes_to_feedparser():
    first = rss(items(2, 1))
    second = rss("<item><title>Cut off</title>" + items(2, 1))
    assert fastparse.read(feeds._as_utf8(second, ""), feeds._memo.get(URL, ((), {}))[1]) is None
    parse(first)
    assert fastparse.read(feeds._as_utf8(second, ""), feeds._memo[URL][1]) is None
    changed(first, second)


def test_a_base_attribute_in_a_known_item():
    xml_base = 'xml:base="https://blog.example.com/base/"'
    relative = entry_item(1).replace("https://blog.example.com/1", "one")
    first = rss(items(2) + relative, namespaces=xml_base)
    posts = changed(first, rss(items(3, 2) + relative, namespaces=xml_base)).posts
    assert posts[-1].url == "https://blog.example.com/base/one"
    with_base = entry_item(1).replace("<title>", '<title xml:base="https://elsewhere.example/">')
    second = changed(rss(items(2) + with_base), rss(items(3, 2) + with_base))
    assert len(second.posts) == 3


def _as_utf8_through_str(body: bytes) -> bytes:
    """What _as_utf8 did for every UTF-8 document: decode, rename the declared charset, encode."""
    import re

    text = body.decode("utf-8").lstrip()
    return re.sub(r"^(<\?xml\b[^>]*?\bencoding\s*=\s*)([\"'])[A-Za-z0-9._:\-]+\2", r"\1\2utf-8\2",
                  text, count=1).encode("utf-8")


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0" encoding="UTF-8"?><rss/>',
    b"<?xml version='1.0' encoding='us-ascii' standalone='yes'?><rss>caf\xc3\xa9</rss>",
    b'<?xml version="1.0" encoding = "utf-8"?>\n<rss><title>\xe2\x80\x99</title></rss>',
    b'<?xml version="1.0" encoding="UTF-8"?><!-- encoding="x" --><rss/>',
])
def test_a_utf8_document_is_renamed_in_place_as_through_str(body):
    text = feeds._as_utf8(body, "")
    assert text == _as_utf8_through_str(body) and text is not body


def test_a_document_that_is_not_utf8_or_starts_otherwise_still_goes_through_str():
    latin = b'<?xml version="1.0" encoding="UTF-8"?><rss>caf\xe9</rss>'
    assert feeds._as_utf8(latin, "") == '<?xml version="1.0" encoding="utf-8"?><rss>caf\ufffd</rss>'.encode()
    spaced = b'\n <?xml version="1.0" encoding="UTF-8"?><rss/>'
    assert feeds._as_utf8(spaced, "") == _as_utf8_through_str(spaced)
    bom = b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><rss/>'
    assert feeds._as_utf8(bom, "") == _as_utf8_through_str(bom[3:])


def test_a_known_item_binding_a_prefix_that_a_new_item_uses():
    # feedparser names an element of an unknown namespace by the first prefix the document bound to
    # it, wherever: the known item's dc makes the new item's foo:creator feedparser's dc:creator.
    known = "<item><title>K</title><link>https://blog.example.com/k</link><x:o xmlns:dc='urn:x'/></item>\n"
    new = ("<item><title>N</title><link>https://blog.example.com/n</link>"
           "<foo:creator xmlns:foo='urn:x'>Bob</foo:creator></item>\n")
    result = changed(rss(known, namespaces="xmlns:x='urn:o'"), rss(known + new, namespaces="xmlns:x='urn:o'"))
    assert [post.author for post in result.posts] == ["", "Bob"]
