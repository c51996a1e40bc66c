"""Nothing embarrassing is ever posted: floods, moves, one article in two feeds, entries without
identity, broken and hostile documents, bad bytes, dates in the future.

Each test serves feeds over HTTP from 127.0.0.1, runs `autopost poll` against the fake X,
LinkedIn and Facebook servers, and counts every publishing request each network received
(a request a network refuses as a duplicate still costs; on X it is billed).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import network_env, run_cli, write_env
from tests.fakes.feed import rss_feed
from tests.parse_routes import parse_route  # noqa: F401  (every test on both parse routes)
from tests.test_alerts import Receiver

NOW = datetime.now(timezone.utc)


def item(n: int, *, hours_ago: float | None = None, base: str = "https://blog.example.com", **extra) -> dict:
    return {"title": f"Article {n}", "link": f"{base}/{n}/", "guid": f"post-{n}",
            "pubDate": NOW - timedelta(hours=hours_ago if hours_ago is not None else 100 - n),
            "description": f"<p>Summary of article {n}.</p>", **extra}


def sent(fake_x, fake_linkedin, fake_graph) -> dict[str, int]:
    """Publishing requests each network received, accepted or not."""
    return {
        "twitter": sum(1 for r in fake_x.requests if r["method"] == "POST" and r["path"] == "/2/tweets"),
        "linkedin": sum(1 for m, p in fake_linkedin.requests if m == "POST" and p.startswith("/rest/posts")),
        "facebook": sum(1 for r in fake_graph.requests if r.method == "POST" and r.path.endswith("/feed")),
    }


def each(count: int) -> dict[str, int]:
    return {"twitter": count, "linkedin": count, "facebook": count}


@pytest.fixture
def networks(fake_x, fake_linkedin, fake_graph):
    return lambda: sent(fake_x, fake_linkedin, fake_graph)


@pytest.fixture
def env(tmp_path, feed_server, fake_x, fake_linkedin, fake_graph):
    def make(**values):
        values = {"AUTOPOST_FEEDS": feed_server.url(), "AUTOPOST_DB": str(tmp_path / "ledger.db"),
                  "AUTOPOST_REQUEST_TIMEOUT": "5", **network_env(fake_x, fake_linkedin, fake_graph), **values}
        return str(write_env(tmp_path / "autopost.env", **values))
    return make


def poll(env_file: str):
    result = run_cli("--env-file", env_file, "poll")
    assert result.code == 0, result.out + result.err
    return result


def status(env_file: str) -> list[dict]:
    return json.loads(run_cli("--env-file", env_file, "status", "--json", "--limit", "0").out)["posts"]


def skipped(env_file: str) -> dict[str, str]:
    return {p["title"]: p["skipped"] for p in status(env_file) if p["skipped"]}


# --------------------------------------------------------------------------- 1. flood guard


def test_a_flood_of_new_entries_posts_only_the_newest_five_and_tells_the_owner(env, feed_server, networks,
                                                                                 fake_x, caplog):
    hook = Receiver()
    try:
        old = [item(n, hours_ago=200 + n) for n in range(3)]
        feed_server.serve("/feed.xml", rss_feed(old))
        env_file = env(AUTOPOST_ALERT_WEBHOOK=hook.url)
        poll(env_file)
        # A re-import: 200 entries the ledger has never seen, all recent.
        flood = [item(n, hours_ago=(n - 99) / 10) for n in range(100, 300)]
        feed_server.serve("/feed.xml", rss_feed(flood + old))
        with caplog.at_level(logging.WARNING):
            result = poll(env_file)
        assert networks() == each(5)
        tweeted = {p["text"].split("\n")[0] for p in fake_x.posts}
        assert all(any(f"Article {n}" in t for t in tweeted) for n in range(100, 105))   # the newest five
        assert f"feed {feed_server.url()}: BURST: 195" in result.out
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(feed_server.url() in w and "195" in w for w in warnings), warnings
        bursts = [body for _, body, _ in hook.received if body["event"] == "burst"]
        assert len(bursts) == 1 and feed_server.url() in bursts[0]["text"] and "195" in bursts[0]["message"]
        held = [p for p in status(env_file) if p["skipped"] == "burst"]
        assert len(held) == 195
        assert "BURST: 195 entries held back" in run_cli("--env-file", env_file, "status").out

        # Nothing more goes out by itself, and a held entry still goes out on purpose.
        assert poll(env_file) and networks() == each(5)
        repost = run_cli("--env-file", env_file, "repost", held[0]["url"])
        assert repost.code == 0, repost.out + repost.err
        assert networks() == each(6)
    finally:
        hook.close()


def test_burst_limit_zero_turns_the_guard_off(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1, hours_ago=300)]))
    env_file = env(AUTOPOST_BURST_LIMIT="0")
    poll(env_file)
    feed_server.serve("/feed.xml", rss_feed([item(n, hours_ago=1) for n in range(10, 18)] + [item(1, hours_ago=300)]))
    result = poll(env_file)
    assert networks() == each(8)
    assert "BURST" not in result.out


# --------------------------------------------------------------------------- 2. a blog that moves


def test_a_blog_that_moves_to_https_and_www_is_the_same_blog(env, feed_server, networks):
    def entries(scheme_host: str, slash: str) -> list[dict]:
        return [
            {"title": f"Article {n}", "link": f"{scheme_host}/{n}{slash}", "guid": f"{scheme_host}/?p={n}",
             "pubDate": NOW - timedelta(hours=n), "description": f"Article {n}."}
            for n in (1, 2, 3)
        ] + [
            # Here only the guid (a permalink itself) still says which article it is.
            {"title": "Article 7", "link": f"{scheme_host}/2026/renamed-{slash}", "guid": f"{scheme_host}/?p=7",
             "pubDate": NOW - timedelta(hours=7), "description": "Article 7."}
        ]
    old = entries("http://blog.example.com", "/")
    feed_server.serve("/feed.xml", rss_feed(old[1:]))           # first sight: 2, 3, 7 recorded, not posted
    env_file = env()
    poll(env_file)
    feed_server.serve("/feed.xml", rss_feed(old))               # 1 is new: posted
    poll(env_file)
    assert networks() == each(1)
    for moved in (entries("https://blog.example.com", "/"), entries("https://www.blog.example.com", ""),
                  entries("http://www.blog.example.com", "/")):
        feed_server.serve("/feed.xml", rss_feed(moved))
        poll(env_file)
        assert networks() == each(1)
    # The one that was posted is known by its new address too.
    assert run_cli("--env-file", env_file, "status", "https://www.blog.example.com/1").code == 0


# --------------------------------------------------------------------------- 3. one article, two feeds


def test_one_article_in_two_feeds_is_delivered_once_per_network(env, feed_server, networks):
    main, category = feed_server.url("/feed.xml"), feed_server.url("/category/news/feed.xml")
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    feed_server.serve("/category/news/feed.xml", rss_feed([item(1)], title="News"))
    env_file = env(AUTOPOST_FEEDS=f"{main},{category}")
    poll(env_file)
    new = item(2, hours_ago=1)
    # The category feed carries the article with its own guid and a tracked, http link.
    in_category = dict(new, guid="tag:blog.example.com,2026:2", link="http://blog.example.com/2/?utm_source=rss")
    feed_server.serve("/feed.xml", rss_feed([new, item(1)]))
    feed_server.serve("/category/news/feed.xml", rss_feed([in_category, item(1)], title="News"))
    poll(env_file)
    poll(env_file)
    assert networks() == each(1)


# --------------------------------------------------------------------------- 4. entries without identity


def test_entries_without_guid_or_link_are_never_posted(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    poll(env_file)
    for n in range(4):
        note = {"title": "Now playing", "description": f"Track {n} of the day", "pubDate": NOW - timedelta(minutes=5)}
        bare = {"description": f"Untitled note, version {n}", "pubDate": NOW - timedelta(minutes=5)}
        feed_server.serve("/feed.xml", rss_feed([note, bare, item(1)]))
        poll(env_file)
    assert networks() == each(0)
    reasons = [p["skipped"] for p in status(env_file) if not p["url"]]
    assert reasons and set(reasons) == {"no link"}
    assert len([p for p in status(env_file) if p["title"] == "Now playing"]) == 1   # recorded once
    assert "skipped: no link" in run_cli("--env-file", env_file, "status").out


def test_a_cache_busting_query_or_a_changing_guid_does_not_make_a_new_post(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    poll(env_file)
    for n, query in enumerate(("v=1", "v=2", "ver=3.1", "_=1764490000123", "1764490001", "cb=8")):
        busted = {"title": "Weekly links", "link": f"https://blog.example.com/weekly-links/?{query}",
                  "pubDate": NOW - timedelta(hours=1), "description": "Links."}
        renamed = {"title": "Release notes", "link": f"https://blog.example.com/release/?from={n}",
                   "guid": f"urn:uuid:{n}", "pubDate": NOW - timedelta(hours=1), "description": "Notes."}
        feed_server.serve("/feed.xml", rss_feed([busted, renamed, item(1)]))
        poll(env_file)
    assert networks() == each(2)


def test_parameters_that_name_a_post_and_different_paths_keep_posts_apart(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    poll(env_file)
    same_title = [{"title": "Weekly links", "link": link, "pubDate": NOW - timedelta(hours=h), "description": d}
                  for h, (link, d) in enumerate([
                      ("https://blog.example.com/?p=123", "One."), ("https://blog.example.com/?p=124", "Two."),
                      ("https://blog.example.com/news.php?id=9", "Three."),
                      ("https://blog.example.com/news.php?article=10", "Four."),
                      ("https://blog.example.com/2026/11/weekly-links/", "Five.")], start=1)]
    feed_server.serve("/feed.xml", rss_feed(same_title + [item(1)]))
    poll(env_file)
    assert networks() == each(5)
    feed_server.serve("/feed.xml", rss_feed(same_title + [item(1)]))
    poll(env_file)
    assert networks() == each(5)


# --------------------------------------------------------------------------- 5. the feed's link is not the entry's


GHOST_ITEMS = (
    "<item><title><![CDATA[Time to think remix]]></title><description><![CDATA[<p>A new remix.</p>]]>"
    "</description><link>http://blog.example.com/time-to-think-remix/</link>"
    "<guid isPermaLink=\"false\">g-2</guid><pubDate>{new}</pubDate></item>"
    "<item><title><![CDATA[Hello, Ghostium!]]></title><description><![CDATA[<p>Welcome to the theme, "
    "a long introduction that goes on and on.</p>]]></description>"
    "<link>http://blog.example.com/hello-ghostium/</link><guid isPermaLink=\"false\">g-1</guid>"
    "<pubDate>Mon, 01 Jun 2015 10:00:00 GMT</pubDate></item>"
)


def ghost_feed(new: datetime) -> bytes:
    from email.utils import format_datetime

    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Blog</title>'
            "<link>http://blog.example.com/</link><description>d</description>"
            + GHOST_ITEMS.format(new=format_datetime(new)) + "</channel></rss>").encode()


def test_a_truncated_feed_never_posts_its_half_entry_with_the_home_page(env, feed_server, networks):
    full = ghost_feed(NOW - timedelta(days=1))
    feed_server.serve("/feed.xml", full)
    env_file = env(AUTOPOST_MAX_AGE="0")
    poll(env_file)
    cut = full[:full.index(b"a long introduction")]            # mid-item, inside a CDATA section
    feed_server.serve("/feed.xml", cut)
    poll(env_file)
    feed_server.serve("/feed.xml", full)
    poll(env_file)
    assert networks() == each(0)
    assert all(p["url"] != "http://blog.example.com/" for p in status(env_file))


def test_a_javascript_channel_link_never_stands_in_for_an_entry_link(env, feed_server, networks,
                                                                     fake_x, fake_linkedin, fake_graph):
    def feed(entries: str) -> bytes:
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Blog</title>'
                "<link>javascript:alert(document.cookie)</link><description>d</description>"
                + entries + "</channel></rss>").encode()
    old = "<item><title>Old</title><link>https://blog.example.com/old/</link><guid>old</guid></item>"
    feed_server.serve("/feed.xml", feed(old))
    env_file = env()
    poll(env_file)
    stamp = f"<pubDate>{(NOW - timedelta(minutes=5)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
    feed_server.serve("/feed.xml", feed(
        f"<item><title>No link here</title><guid isPermaLink=\"false\">n-1</guid>{stamp}</item>"
        f"<item><title>Relative link</title><link>2026/relative/</link><guid isPermaLink=\"false\">r-1</guid>{stamp}</item>"
        + old))
    poll(env_file)
    assert networks() == each(1)                       # the relative link, resolved against the feed's URL
    everything = json.dumps([fake_x.posts, fake_linkedin.posts, fake_graph.posts])
    assert "javascript" not in everything
    assert f"{feed_server.base_url}/2026/relative/" in everything
    assert skipped(env_file)["No link here"] == "no link"


def test_a_local_feed_file_never_posts_a_file_link(env, tmp_path, networks):
    path = tmp_path / "feed.xml"
    path.write_bytes(rss_feed([item(1)]))
    env_file = env(AUTOPOST_FEEDS=str(path))
    poll(env_file)
    relative = {"title": "Local", "link": "2026/local/", "guid": "l-1", "pubDate": NOW - timedelta(minutes=5),
                "description": "Written on disk."}
    path.write_bytes(rss_feed([relative, item(1)]))
    poll(env_file)
    assert networks() == each(0)
    assert skipped(env_file)["Local"] == "no link"


# --------------------------------------------------------------------------- 6. bad bytes


def test_one_bad_byte_does_not_garble_the_feed(env, feed_server, networks, fake_x, fake_linkedin, fake_graph):
    old = rss_feed([item(1)])
    feed_server.serve("/feed.xml", old)
    env_file = env()
    poll(env_file)
    body = rss_feed([item(2, hours_ago=1, title="Café déjà vu", description="Crème brûlée"),
                     item(3, hours_ago=2, title="Broken BYTE here"), item(1)])
    body = body.replace(b"Broken BYTE here", b"Broken \xff here")
    feed_server.serve("/feed.xml", body, content_type="application/rss+xml")
    poll(env_file)
    assert networks() == each(1)
    everything = json.dumps([fake_x.posts, fake_linkedin.posts, fake_graph.posts], ensure_ascii=False)
    assert "Café déjà vu" in everything and "Ã" not in everything
    reason = skipped(env_file)["Broken \ufffd here"]
    assert reason.startswith("undecodable text")
    assert "skipped: undecodable text" in run_cli("--env-file", env_file, "status").out


def test_refused_entities_and_mojibake_are_held_back(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    poll(env_file)
    stamp = (NOW - timedelta(minutes=5)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    # Billion laughs: the XML parser refuses the expansion and the reference is left in the text.
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    laughs = ('<?xml version="1.0" encoding="UTF-8"?>'
              f'<!DOCTYPE rss [{entities}]>'
              '<rss version="2.0"><channel><title>Blog</title><link>https://blog.example.com/</link>'
              f"<item><title>Laugh &lol9;</title><link>https://blog.example.com/laugh/</link><pubDate>{stamp}</pubDate></item>"
              f"<item><title>CafÃ© dÃ©jÃ vu</title><link>https://blog.example.com/cafe/</link><pubDate>{stamp}</pubDate></item>"
              f"<item><title>It’s fine</title><link>https://blog.example.com/fine/</link><pubDate>{stamp}</pubDate></item>"
              "<item><title>Article 1</title><link>https://blog.example.com/1/</link><guid isPermaLink=\"false\">post-1</guid></item>"
              "</channel></rss>").encode()
    feed_server.serve("/feed.xml", laughs)
    poll(env_file)
    assert networks() == each(1)
    reasons = skipped(env_file)
    assert "&lol9;" in reasons["Laugh &lol9;"] and reasons["Laugh &lol9;"].startswith("undecodable text")
    assert reasons["CafÃ© dÃ©jÃ vu"].startswith("undecodable text")


# --------------------------------------------------------------------------- 7. the future


def test_an_entry_dated_in_the_future_waits_for_its_date_and_is_not_pinned_on_top(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    poll(env_file)
    ahead = NOW + timedelta(days=3)
    feed_server.serve("/feed.xml", rss_feed([item(9, pubDate=ahead), item(1)]))
    poll(env_file)
    assert networks() == each(0)
    scheduled = next(p for p in status(env_file) if p["title"] == "Article 9")
    assert scheduled["skipped"] is None
    assert {d["state"] for d in scheduled["deliveries"]} == {"pending"}
    assert {d["next_attempt"] for d in scheduled["deliveries"]} == {ahead.replace(microsecond=0).isoformat()}
    feed_server.serve("/feed.xml", rss_feed([item(10, pubDate=datetime.now(timezone.utc)), item(9, pubDate=ahead),
                                             item(1)]))
    poll(env_file)
    assert networks() == each(1)
    assert [p["title"] for p in status(env_file)][:2] == ["Article 10", "Article 9"]


def test_an_entry_dated_2099_is_listed_by_when_it_was_seen_and_says_its_date(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    poll(env_file)
    far = datetime(2099, 1, 1, tzinfo=timezone.utc)
    feed_server.serve("/feed.xml", rss_feed([item(9, pubDate=far), item(1)]))
    poll(env_file)
    feed_server.serve("/feed.xml", rss_feed([item(10, pubDate=datetime.now(timezone.utc)), item(9, pubDate=far),
                                             item(1)]))
    poll(env_file)
    assert [p["title"] for p in status(env_file)][:2] == ["Article 10", "Article 9"]
    text = run_cli("--env-file", env_file, "status").out
    assert text.index("Article 10") < text.index("Article 9")
    heading = next(line for line in text.splitlines() if line.endswith("  Article 9"))
    assert not heading.startswith("2099")                         # listed by when it was seen
    assert "    dated 2099-01-01 00:00:00 UTC, ahead of when it was seen: due then, not before" in text


def test_a_clock_a_few_minutes_fast_is_not_the_future(env, feed_server, networks):
    feed_server.serve("/feed.xml", rss_feed([item(1)]))
    env_file = env()
    poll(env_file)
    feed_server.serve("/feed.xml", rss_feed([item(2, pubDate=datetime.now(timezone.utc) + timedelta(minutes=4)),
                                             item(1)]))
    poll(env_file)
    assert networks() == each(1)


def test_a_future_entry_goes_out_on_its_own_date(tmp_path, feed_server, clock, fake_x, fake_linkedin, fake_graph):
    from bot import poller
    from bot.config import settings_from
    from bot.delivery import Deliverer
    from bot.service import build_platforms
    from bot.store import Store

    settings = settings_from({"AUTOPOST_FEEDS": feed_server.url(), "AUTOPOST_MAX_AGE": "0",
                              **network_env(fake_x, fake_linkedin, fake_graph)})
    store = Store(tmp_path / "ledger.db", clock=clock)
    deliverer = Deliverer(store, settings, build_platforms(settings, clock=clock), clock=clock)
    feed_server.serve("/feed.xml", rss_feed([item(1, pubDate=clock() - timedelta(days=1))]))
    poller.poll_feeds(settings, store)
    feed_server.serve("/feed.xml", rss_feed([item(2, pubDate=clock() + timedelta(days=2)),
                                             item(1, pubDate=clock() - timedelta(days=1))]))
    poller.poll_feeds(settings, store)
    deliverer.run_due()
    assert sent(fake_x, fake_linkedin, fake_graph) == each(0)
    clock.advance(days=1, hours=23)
    deliverer.run_due()
    assert sent(fake_x, fake_linkedin, fake_graph) == each(0)
    clock.advance(hours=1)
    deliverer.run_due()
    assert sent(fake_x, fake_linkedin, fake_graph) == each(1)
    store.close()
