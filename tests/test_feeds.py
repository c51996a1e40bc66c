"""bot.feeds: fetching over real HTTP on 127.0.0.1 (and from files), parsing into Posts."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.feeds import FeedError, canonical_url, fetch, parse, strip_boilerplate
from bot.models import FeedState, FetchResult
from bot.platforms.base import USER_AGENT
from tests.fakes.feed import atom_feed, feed_server, json_feed, rss_feed  # noqa: F401
from tests.parse_routes import parse_route  # noqa: F401  (every test on both parse routes)

DATA = Path(__file__).parent / "data"
FEED_URL = "https://blog.example.com/feed/"

ITEMS = [
    {"title": "Second post", "link": "https://blog.example.com/2026/11/second/", "guid": "p-2",
     "pubDate": datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc), "description": "<p>Two</p>",
     "categories": ["News"], "image": "https://blog.example.com/two.jpg"},
    {"title": "First post", "link": "https://blog.example.com/2026/11/first/", "guid": "p-1",
     "pubDate": datetime(2026, 11, 10, 9, 0, tzinfo=timezone.utc), "description": "<p>One</p>"},
]


def state_after(result: FetchResult) -> FeedState:
    """What the ledger would remember after this fetch."""
    return FeedState(url=result.url, etag=result.etag, last_modified=result.last_modified,
                     body_hash=result.body_hash, seen_before=True)


# --------------------------------------------------------------------------- fetch over HTTP


def test_first_fetch_returns_body_validators_and_our_user_agent(feed_server):
    body = rss_feed(ITEMS)
    feed_server.serve("/feed.xml", body)

    result = fetch(feed_server.url(), None, timeout=5)

    assert result.status == 200 and result.body == body and not result.unchanged
    assert result.etag and result.last_modified and len(result.body_hash) == 64
    assert result.content_type.startswith("application/rss+xml")
    assert result.final_url == feed_server.url()
    sent = feed_server.requests[0].headers
    assert sent["User-Agent"] == USER_AGENT
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


def test_second_fetch_is_conditional_and_304_means_unchanged(feed_server):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    first = fetch(feed_server.url(), None, timeout=5)

    second = fetch(feed_server.url(), state_after(first), timeout=5)

    sent = feed_server.requests[1].headers
    assert sent["If-None-Match"] == first.etag
    assert sent["If-Modified-Since"] == first.last_modified
    assert feed_server.requests[1].status == 304
    assert second.status == 304 and second.body is None and second.unchanged
    assert (second.etag, second.last_modified, second.body_hash) == (first.etag, first.last_modified, first.body_hash)


def test_same_body_without_validators_is_unchanged(feed_server):
    feed_server.serve("/feed.xml", rss_feed(ITEMS), validators=False)
    first = fetch(feed_server.url(), None, timeout=5)
    assert first.etag is None and first.last_modified is None

    second = fetch(feed_server.url(), state_after(first), timeout=5)

    assert feed_server.requests[1].status == 200
    assert "If-None-Match" not in feed_server.requests[1].headers
    assert second.status == 200 and second.body is None and second.unchanged
    assert second.body_hash == first.body_hash


def test_changed_feed_returns_new_body_and_new_validators(feed_server):
    feed_server.serve("/feed.xml", rss_feed(ITEMS[1:]))
    first = fetch(feed_server.url(), None, timeout=5)
    feed_server.serve("/feed.xml", rss_feed(ITEMS))

    second = fetch(feed_server.url(), state_after(first), timeout=5)

    assert second.body == rss_feed(ITEMS)
    assert second.etag != first.etag and second.body_hash != first.body_hash


def test_gzip_body_is_decoded(feed_server):
    body = rss_feed(ITEMS)
    feed_server.serve("/feed.xml", body, compress=True)

    result = fetch(feed_server.url(), None, timeout=5)

    assert result.body == body
    assert [p.title for p in parse(result.body, feed_url=result.url).posts] == ["Second post", "First post"]


def test_redirect_is_followed_and_final_url_reported(feed_server):
    feed_server.serve("/new-feed.xml", rss_feed(ITEMS))
    feed_server.redirect("/feed.xml", "/new-feed.xml")

    result = fetch(feed_server.url(), None, timeout=5)

    assert result.body == rss_feed(ITEMS)
    assert result.final_url == feed_server.url("/new-feed.xml")


@pytest.mark.parametrize("status, expected", [
    (500, "HTTP 500 Internal Server Error"),
    (503, "HTTP 503 Service Unavailable"),
    (404, "HTTP 404 Not Found"),
    (410, "HTTP 410 Gone"),
    (403, "HTTP 403 Forbidden"),
])
def test_http_error_is_a_feed_error_naming_the_status(feed_server, status, expected):
    feed_server.respond("/feed.xml", status, b"<h1>oops</h1>", {"Content-Type": "text/html"})

    with pytest.raises(FeedError) as caught:
        fetch(feed_server.url(), None, timeout=5)

    assert str(caught.value) == expected
    assert caught.value.url == feed_server.url()


def test_server_that_never_answers_times_out(feed_server):
    feed_server.hang("/feed.xml")

    with pytest.raises(FeedError, match=r"^timed out after 0\.3 s$"):
        fetch(feed_server.url(), None, timeout=0.3)
    assert feed_server.requests[0].path == "/feed.xml"


def test_redirect_loop_stops_after_five(feed_server):
    feed_server.redirect("/a.xml", "/b.xml")
    feed_server.redirect("/b.xml", "/a.xml")

    with pytest.raises(FeedError, match=r"^more than 5 redirects$"):
        fetch(feed_server.url("/a.xml"), None, timeout=5)
    assert len(feed_server.requests) == 6          # the first request and five redirects


def test_body_over_the_limit_is_cut_off(feed_server):
    feed_server.serve("/feed.xml", b"<rss>" + b"x" * 5000 + b"</rss>")

    with pytest.raises(FeedError, match=r"^body larger than 1000 bytes, stopped reading$"):
        fetch(feed_server.url(), None, timeout=5, max_bytes=1000)


def test_limit_counts_decoded_bytes_of_a_gzip_body(feed_server):
    # 200 KB of feed that compresses to a few hundred bytes: the limit is on what we would parse.
    feed_server.serve("/feed.xml", b"<rss>" + b" " * 200_000 + b"</rss>", compress=True)

    with pytest.raises(FeedError, match=r"^body larger than 64 KB, stopped reading$"):
        fetch(feed_server.url(), None, timeout=5, max_bytes=64 * 1024)


def test_default_limit_is_described_in_megabytes(feed_server):
    # Content-Length says 11 MB: refused before reading a byte of it.
    feed_server.respond("/feed.xml", 200, b"", {"Content-Length": str(11 * 1024 * 1024)})
    with pytest.raises(FeedError, match=r"^body larger than 10 MB, stopped reading$"):
        fetch(feed_server.url(), None, timeout=0.5)


def test_connection_refused_is_a_feed_error():
    from tests.fakes.feed import FeedServer

    server = FeedServer()
    url = server.url()
    server.close()                                   # nothing listens on that port any more

    with pytest.raises(FeedError, match=r"^cannot connect: "):
        fetch(url, None, timeout=2)


def test_html_page_is_a_clear_error(feed_server):
    page = b"<!DOCTYPE html>\n<html><head><title>My blog</title></head><body><p>Hello</p></body></html>"
    feed_server.serve("/feed.xml", page, content_type="text/html; charset=utf-8")
    result = fetch(feed_server.url(), None, timeout=5)

    with pytest.raises(FeedError, match=r"^this is an HTML page, not a feed"):
        parse(result.body, feed_url=result.url, base_url=result.final_url, content_type=result.content_type)


@pytest.mark.parametrize("body", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
    b"this is not xml at all, just words",
    b"<rss><channel><title>cut off",
])
def test_garbage_is_a_clear_error(body):
    with pytest.raises(FeedError, match=r"^not a feed: "):
        parse(body, feed_url=FEED_URL)


@pytest.mark.parametrize("body", [b"", b"  \n\t "])
def test_empty_body_is_a_clear_error(feed_server, body):
    feed_server.respond("/feed.xml", 200, body)
    result = fetch(feed_server.url(), None, timeout=5)

    with pytest.raises(FeedError, match=r"^the feed is empty"):
        parse(result.body, feed_url=result.url)


# --------------------------------------------------------------------------- fetch from files


def test_local_path_and_file_url_are_read(tmp_path):
    feed = tmp_path / "my feed.xml"
    feed.write_bytes(rss_feed(ITEMS))

    by_path = fetch(str(feed), None)
    by_url = fetch(feed.as_uri(), None)

    assert by_path.body == by_url.body == rss_feed(ITEMS)
    assert by_path.final_url == feed.as_uri()
    unchanged = fetch(str(feed), state_after(by_path))
    assert unchanged.body is None and unchanged.status == 200


def test_missing_file_is_a_feed_error(tmp_path):
    with pytest.raises(FeedError, match=r"^file not found: .*missing\.xml$"):
        fetch(str(tmp_path / "missing.xml"), None)


def test_file_over_the_limit_is_refused(tmp_path):
    feed = tmp_path / "big.xml"
    feed.write_bytes(b"x" * 5000)
    with pytest.raises(FeedError, match=r"larger than 1000 bytes"):
        fetch(str(feed), None, max_bytes=1000)


# --------------------------------------------------------------------------- one article set, four formats

EXPECTED = [
    dict(key="https://blog.example.com/?p=101",
         url="https://blog.example.com/2026/11/apple-m5-chips/",          # relative link resolved
         title="Apple’s M5 chips & the Mac…",                             # entities decoded once
         summary="Apple’s new chips are fast.",                           # […] and "The post …" gone
         author="Jane Doe", categories=("Hardware", "Apple"),             # "hardware" deduplicated
         image_url="https://blog.example.com/img/m5.jpg",
         published=datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc)),
    dict(key="https://blog.example.com/?p=102",
         url="https://blog.example.com/2026/11/rust-2/?ref=home#more",    # utm_* removed
         title="Rust 2.0 is out: what changed",
         summary="Rust 2.0 ships today – with async closures.",           # "Continue reading →" gone
         author="Sam Lee", categories=("Programming", "Rust"),
         image_url="https://cdn.example.com/rust.png",                    # first <img> of the content
         published=datetime(2026, 11, 5, 14, 0, tzinfo=timezone.utc)),
    dict(key="https://blog.example.com/?p=103",
         url="https://blog.example.com/2026/11/caf%C3%A9%20au%20lait/",   # percent-encoded
         title="Café culture & IDN domains", summary="Short note.", author="Jane Doe",
         categories=("News",), image_url=None,
         published=datetime(2026, 11, 9, 10, 15, tzinfo=timezone.utc)),
]


@pytest.mark.parametrize("name", ["feed-rss2.xml", "feed-atom.xml", "feed-rss1.rdf", "feed-jsonfeed.json"])
def test_every_format_normalises_to_the_same_posts(name):
    parsed = parse((DATA / name).read_bytes(), feed_url=FEED_URL)

    assert parsed.title == "Example Tech News" and parsed.warning is None
    got = [{field: getattr(post, field) for field in EXPECTED[0]} for post in parsed.posts]
    assert got == EXPECTED
    assert all(post.feed_title == "Example Tech News" and post.feed_url == FEED_URL for post in parsed.posts)


@pytest.mark.parametrize("build", [rss_feed, atom_feed, json_feed])
def test_builders_round_trip_in_document_order(build):
    posts = parse(build(ITEMS), feed_url=FEED_URL).posts

    assert [(p.key, p.title, p.url) for p in posts] == [
        ("p-2", "Second post", "https://blog.example.com/2026/11/second/"),
        ("p-1", "First post", "https://blog.example.com/2026/11/first/")]
    assert posts[0].categories == ("News",) and posts[0].image_url == "https://blog.example.com/two.jpg"
    assert posts[0].published == datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- text


def rss_item(item_xml: str, *, namespaces: str = "", channel_link: str = "https://blog.example.com/") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {namespaces}><channel>'
            f"<title>T</title><link>{channel_link}</link><item>{item_xml}</item></channel></rss>").encode()


def atom_entry(entry_xml: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
            '<link href="https://blog.example.com/"/><id>urn:feed</id>'
            f"<entry><id>urn:1</id><link href=\"https://blog.example.com/1\"/>{entry_xml}</entry></feed>").encode()


def only_post(body: bytes):
    posts = parse(body, feed_url=FEED_URL).posts
    assert len(posts) == 1
    return posts[0]


@pytest.mark.parametrize("body, title", [
    # A plain-text title is taken literally: no tag is stripped, nothing is executed downstream.
    (rss_item("<title>&lt;script&gt;alert(1)&lt;/script&gt; in titles</title><link>https://b.example/1</link>"),
     "<script>alert(1)</script> in titles"),
    (rss_item("<title>Why a&lt;b matters</title><link>https://b.example/1</link>"), "Why a<b matters"),
    (atom_entry('<title type="text">&lt;script&gt;x()&lt;/script&gt; &amp; a&lt;b</title>'),
     "<script>x()</script> & a<b"),
])
def test_plain_text_title_keeps_literal_angle_brackets(body, title):
    assert only_post(body).title == title


@pytest.mark.parametrize("body, title", [
    (atom_entry('<title type="html">&lt;b&gt;Bold&lt;/b&gt; move &amp;amp; more</title>'), "Bold move & more"),
    (rss_item("<title><![CDATA[<em>Hello</em>   <br/>world]]></title><link>https://b.example/1</link>"),
     "Hello world"),
    (atom_entry('<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">An <i>XHTML</i> title</div></title>'),
     "An XHTML title"),
])
def test_html_title_is_stripped_to_text(body, title):
    assert only_post(body).title == title


@pytest.mark.parametrize("body", [
    rss_item("<title><![CDATA[Q&amp;amp;A with the team]]></title><link>https://b.example/1</link>"),
    json_feed([{"guid": "1", "link": "https://b.example/1", "title": "Q&amp;amp;A with the team"}]),
])
def test_double_escaped_entity_is_decoded_once_only(body):
    assert only_post(body).title == "Q&amp;A with the team"


def test_summary_falls_back_to_content_and_drops_scripts_and_styles():
    post = only_post(rss_item(
        "<title>T</title><link>https://b.example/1</link>"
        "<content:encoded><![CDATA[<style>p{color:red}</style><p>Body&nbsp;text</p><script>evil()</script>"
        "<p>line<br>two</p>]]></content:encoded>",
        namespaces='xmlns:content="http://purl.org/rss/1.0/modules/content/"'))
    assert post.summary == "Body text line two"


@pytest.mark.parametrize("text, clean", [
    ("Great news. […] The post Great news appeared first on Example Blog.", "Great news."),
    ("Great news [...]", "Great news"),
    ("Great news. Continue reading →", "Great news."),
    ("Great news. Continue reading Great news →", "Great news."),
    ("Great news. Read more »", "Great news."),
    ("I will continue reading", "I will continue reading"),      # a sentence, not a link label
    ("The post office is open", "The post office is open"),
])
def test_wordpress_boilerplate_is_removed(text, clean):
    assert strip_boilerplate(text) == clean


def test_entry_without_title_or_text_still_yields_a_post_with_its_link():
    post = only_post(rss_item("<link>https://blog.example.com/2026/11/photo/</link>"))
    assert (post.title, post.summary) == ("", "")
    assert post.url == post.key == "https://blog.example.com/2026/11/photo/"


def test_entry_without_any_link_has_no_url_and_a_key_from_its_title():
    # Never the site's home page in its place: the ledger records it as "skipped: no link".
    post = only_post(rss_item("<title>Note</title><description>Just a note.</description>"))
    assert post.url == ""
    assert post.key.startswith("sha256:") and post.summary == "Just a note."
    # Text that changes at every poll is still the same entry.
    again = only_post(rss_item("<title>Note</title><description>Edited note.</description>"))
    assert again.key == post.key


def test_feedburner_orig_link_is_preferred():
    post = only_post(rss_item(
        "<title>T</title><link>http://feedproxy.google.com/~r/blog/~3/abc/post.html</link>"
        "<guid isPermaLink=\"false\">g-1</guid>"
        "<feedburner:origLink>https://blog.example.com/2026/11/post.html?utm_source=feedburner</feedburner:origLink>",
        namespaces='xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'))
    assert post.url == "https://blog.example.com/2026/11/post.html"


def test_relative_link_resolves_against_where_the_feed_came_from_never_the_channel_link():
    body = rss_item("<title>T</title><link>2026/11/post/</link>", channel_link="https://blog.example.com/news/")
    assert only_post(body).url == "https://blog.example.com/feed/2026/11/post/"
    no_channel_link = rss_item("<title>T</title><link>/2026/11/post/</link>", channel_link="")
    posts = parse(no_channel_link, feed_url="https://feeds.example.net/x.xml", base_url="https://blog.example.org/feed").posts
    assert posts[0].url == "https://blog.example.org/2026/11/post/"


def test_duplicate_guids_get_distinct_stable_keys():
    body = ('<rss version="2.0"><channel><title>T</title><link>https://s.example/</link>'
            "<item><description>newer</description><link>https://s.example/#a</link><guid>https://s.example/#a</guid>"
            "<pubDate>Sun, 25 Jun 2017 12:32:31 GMT</pubDate></item>"
            "<item><description>older</description><link>https://s.example/#a</link><guid>https://s.example/#a</guid>"
            "<pubDate>Sun, 25 Jun 2017 12:27:31 GMT</pubDate></item>"
            "<item><description>older</description><link>https://s.example/#a</link><guid>https://s.example/#a</guid>"
            "<pubDate>Sun, 25 Jun 2017 12:27:31 GMT</pubDate></item>"       # an exact copy: dropped
            "</channel></rss>").encode()
    posts = parse(body, feed_url=FEED_URL).posts
    # The older entry keeps the plain guid (what an earlier poll recorded); the newer one is new.
    assert [(p.summary, p.key) for p in posts] == [
        ("newer", "https://s.example/#a#2017-06-25T12:32:31+00:00"), ("older", "https://s.example/#a")]


def test_bozo_feed_with_entries_is_used_with_a_warning():
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            b"<link>https://b.example/</link><item><title>Caf&eacute; &amp; more</title>"
            b"<link>https://b.example/1</link></item></channel></rss>")
    parsed = parse(body, feed_url=FEED_URL)
    assert parsed.warning and "malformed" in parsed.warning
    assert [p.url for p in parsed.posts] == ["https://b.example/1"]


def test_images_from_media_thumbnail_enclosure_and_content():
    media = 'xmlns:media="http://search.yahoo.com/mrss/"'
    thumb = only_post(rss_item('<title>T</title><link>https://b.example/1</link>'
                               '<media:content url="https://b.example/talk.mp3" type="audio/mpeg"/>'
                               '<media:thumbnail url="/thumb.jpg"/>', namespaces=media))
    assert thumb.image_url == "https://blog.example.com/thumb.jpg"
    enclosure = only_post(rss_item('<title>T</title><link>https://b.example/1</link>'
                                   '<enclosure url="https://b.example/ep.mp3" type="audio/mpeg" length="1"/>'))
    assert enclosure.image_url is None
    pixel = only_post(rss_item('<title>T</title><link>https://b.example/1</link><description><![CDATA['
                               '<img src="https://stats.example/p.gif" width="1" height="1">'
                               '<img src="pics/a b.png">]]></description>'))
    assert pixel.image_url == "https://blog.example.com/pics/a%20b.png"


def test_published_falls_back_to_updated_then_none():
    updated = only_post(atom_entry("<title>T</title><updated>2026-11-03T10:00:00+02:00</updated>"))
    assert updated.published == datetime(2026, 11, 3, 8, 0, tzinfo=timezone.utc)
    assert only_post(atom_entry("<title>T</title>")).published is None


@pytest.mark.parametrize("body, message", [
    (b'{"version": "https://jsonfeed.org/version/1.1", "title": "x"}', 'without an "items" list'),
    (b'{"items": [', "invalid JSON"),
    (b"[1, 2]", None),
])
def test_json_that_is_not_a_json_feed_is_a_clear_error(body, message):
    with pytest.raises(FeedError, match=r"^not a feed") as caught:
        parse(body, feed_url=FEED_URL, content_type="application/json")
    if message:
        assert message in str(caught.value)


def test_json_feed_item_fields():
    body = (b'{"version": "https://jsonfeed.org/version/1", "title": "J", "home_page_url": "https:\\/\\/j.example\\/",'
            b' "author": {"name": "Feed Author"}, "items": [{"id": "urn:x", "external_url": "https://elsewhere.example/a",'
            b' "content_text": "Plain  text\\n body", "banner_image": "\\/b.png", "date_modified": "2026-11-04T10:00:00"}]}')
    post = only_post(body)
    assert post.url == "https://elsewhere.example/a" and post.key == "urn:x"
    assert post.summary == "Plain text body" and post.author == "Feed Author"
    assert post.image_url == "https://j.example/b.png"
    assert post.published == datetime(2026, 11, 4, 10, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- canonical URLs


@pytest.mark.parametrize("url, canonical", [
    ("https://b.example/p?utm_source=rss&utm_medium=feed&id=7", "https://b.example/p?id=7"),
    ("https://b.example/p?fbclid=abc&gclid=def&mc_cid=1&mc_eid=2", "https://b.example/p"),
    ("https://b.example/p?UTM_Campaign=x&q=a+b#top", "https://b.example/p?q=a+b#top"),
    ("https://b.example/p?utm_source=x#frag", "https://b.example/p#frag"),
    ("https://bücher.example/straße/ä ö?q=ü x", "https://xn--bcher-kva.example/stra%C3%9Fe/%C3%A4%20%C3%B6?q=%C3%BC%20x"),
    ("https://b.example/already%20encoded/100%", "https://b.example/already%20encoded/100%25"),
    ("HTTPS://B.Example:443", "https://b.example/"),
    ("http://b.example:8080/x", "http://b.example:8080/x"),
    ("  https://b.example/x\n", "https://b.example/x"),
    ("https://substackcdn.com/image/fetch/$s_!LUUy!,f_auto/https%3A%2F%2Fs3%2Fx.heic",
     "https://substackcdn.com/image/fetch/$s_!LUUy!,f_auto/https%3A%2F%2Fs3%2Fx.heic"),
])
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_canonical_url_resolves_against_base():
    assert canonical_url("../x y", "https://b.example/a/b/") == "https://b.example/a/x%20y"
    assert canonical_url("//cdn.example/i.png", "https://b.example/") == "https://cdn.example/i.png"


def test_link_a_browser_cannot_open_leaves_the_entry_without_a_link():
    post = only_post(rss_item('<title>T</title><link>javascript:alert(1)</link><guid isPermaLink="false">g-9</guid>'))
    assert post.url == "" and post.key == "g-9"


def test_scripts_and_styles_in_html_never_reach_the_text():
    from bot.feeds import parse

    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://b.example/</link>'
            b'<item><title>Hi</title><link>/a/</link><guid>1</guid><description>&lt;script&gt;alert(1)'
            b'&lt;/script&gt;&lt;style&gt;p{color:red}&lt;/style&gt;&lt;p&gt;Hello &lt;img src="/i.png"&gt;&lt;/p&gt;'
            b'</description></item></channel></rss>')
    (post,) = parse(body, feed_url="https://b.example/feed").posts
    assert post.summary == "Hello"
    assert (post.url, post.image_url) == ("https://b.example/a/", "https://b.example/i.png")


# --------------------------------------------------------------------------- decoding and held-back text


def _rss_bytes(title: bytes, *, declaration: bytes = b'<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (declaration + b'<rss version="2.0"><channel><title>T</title><link>https://b.example/</link>'
            b"<item><title>" + title + b"</title><link>https://b.example/1</link><guid>1</guid></item>"
            b"<item><title>Caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu</title><link>https://b.example/2</link><guid>2</guid></item>"
            b"</channel></rss>")


def test_one_invalid_byte_spoils_only_its_own_entry():
    posts = parse(_rss_bytes(b"Bad \xff byte"), feed_url=FEED_URL).posts
    assert [p.title for p in posts] == ["Bad \ufffd byte", "Café déjà vu"]


def test_the_declared_charset_wins_over_the_http_one_and_the_http_one_over_the_default():
    latin = (b'<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>T</title>'
             b"<item><title>Ol\xe1 S\xe3o Paulo</title><link>https://b.example/1</link></item></channel></rss>")
    assert parse(latin, feed_url=FEED_URL, content_type="text/xml; charset=utf-8").posts[0].title == "Olá São Paulo"
    undeclared = latin.replace(b' encoding="ISO-8859-1"', b"")
    assert parse(undeclared, feed_url=FEED_URL,
                 content_type="application/rss+xml; charset=iso-8859-1").posts[0].title == "Olá São Paulo"
    gb = ('<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>T</title>'
          "<item><title>投资</title><link>https://b.example/1</link></item></channel></rss>").encode("gb2312")
    assert parse(gb, feed_url=FEED_URL).posts[0].title == "投资"


@pytest.mark.parametrize("title, held", [
    ("Café déjà vu", False), ("&lt;b&gt; is bold", False), ("«CAFÉ»", False), ("„Gruß“", False),
    ("SÃO PAULO", False), ("Naïve façade – 50 €", False),
    ("CafÃ© dÃ©jÃ vu", True), ("Itâ€™s here", True), ("ÐŸÑ€Ð¸Ð²ÐµÑ‚", True), ("Laugh &lol9;", True),
    ("Bad \ufffd byte", True),
])
def test_text_that_cannot_go_out(title, held):
    from bot.feeds import text_problem
    from bot.models import Post

    problem = text_problem(Post(feed_url=FEED_URL, key="k", url="https://b.example/1", title=title))
    assert (problem is not None) is held
    if held:
        assert problem.startswith("undecodable text: the title")


def test_a_malformed_document_keeps_only_complete_entries():
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            b"<link>https://b.example/</link>"
            b"<item><title>Whole</title><link>https://b.example/1</link></item>"
            b"<item><guid isPermaLink=\"false\">g</guid><link>https://b.example/2</link></item>"
            b"<item><title>Half</title><description><![CDATA[cut here")
    posts = parse(body, feed_url=FEED_URL).posts
    assert [(p.title, p.url) for p in posts] == [("Whole", "https://b.example/1"), ("", "https://b.example/2")]


def test_xml_base_resolves_an_entry_link():
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xml:base="https://b.example/blog/">'
            b"<channel><title>T</title><link>javascript:void(0)</link>"
            b"<item><title>A</title><link>posts/a</link></item></channel></rss>")
    assert parse(body, feed_url=FEED_URL).posts[0].url == "https://b.example/blog/posts/a"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_feeds_with_or_without_a_byte_order_mark(codec):
    doc = ('<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>T</title>'
           "<item><title>Olá 投资</title><link>https://b.example/1</link></item></channel></rss>")
    assert parse(doc.encode(codec), feed_url=FEED_URL).posts[0].title == "Olá 投资"
