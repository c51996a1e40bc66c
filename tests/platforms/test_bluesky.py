"""Bluesky: settings, text rules, facets, record keys, and the adapter against a fake PDS over HTTP."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.config import ConfigError
from bot.models import Message, Published
from bot.platforms import bluesky
from bot.platforms.base import AuthError, DuplicateError, PermanentError, RateLimited, TransientError
from bot.platforms.bluesky import (
    BlueskyPlatform,
    BlueskySettings,
    facets,
    grapheme_length,
    is_tid,
    parse_settings,
    record_key,
    tid,
    tid_parts,
)
from tests.fakes.bluesky import ACCOUNT_PASSWORD, APP_PASSWORD, DID, HANDLE, FakePDS, fake_pds  # noqa: F401

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
POST_URL = "https://blog.example.com/2026/11/hello-world/"
LINK = POST_URL + "?utm_source=bluesky"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000


def message(text: str = "Hello world: a new post on the blog\n\n#Python #WebDev", *, link: str = LINK,
            post_url: str = POST_URL, image_url: str | None = None) -> Message:
    return Message(network="bluesky", text=text, link=link, post_url=post_url, title="Hello world",
                   description="A first post, about beginnings.", image_url=image_url)


def adapter(fake: FakePDS, *, password: str = APP_PASSWORD, timeout: float = 5.0, clock=None) -> BlueskyPlatform:
    return BlueskyPlatform(pds=fake.base_url, handle=HANDLE, app_password=password, timeout=timeout,
                           clock=clock or (lambda: NOW))


@pytest.fixture
def sky(fake_pds):
    return adapter(fake_pds)


# -- settings ------------------------------------------------------------------------------

GOOD = {"BLUESKY_HANDLE": "@YourBlog.bsky.social", "BLUESKY_APP_PASSWORD": " abcd-efgh-ij23-kl45 "}


def test_settings_are_read_and_normalised():
    settings = parse_settings(GOOD)
    assert settings == BlueskySettings(handle="yourblog.bsky.social", app_password="abcd-efgh-ij23-kl45",
                                       pds="https://bsky.social")
    assert "abcd" not in repr(settings)
    assert settings.secrets() == ("abcd-efgh-ij23-kl45",)
    # shown in lowercase by Bluesky; typed in capitals it is still the same app password
    assert parse_settings({**GOOD, "BLUESKY_APP_PASSWORD": "ABCD-EFGH-IJ23-KL45"}).app_password == "abcd-efgh-ij23-kl45"
    assert parse_settings({**GOOD, "BLUESKY_PDS": "http://127.0.0.1:2583/"}).pds == "http://127.0.0.1:2583"
    assert bluesky.SECRETS == ("BLUESKY_APP_PASSWORD",)
    assert set(bluesky.VARIABLES) == {"BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "BLUESKY_PDS"}


@pytest.mark.parametrize("values, variable, words", [
    ({"BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop"}, "BLUESKY_HANDLE", "required"),
    ({**GOOD, "BLUESKY_HANDLE": "me@example.com"}, "BLUESKY_HANDLE", "e-mail"),
    ({**GOOD, "BLUESKY_HANDLE": "justaname"}, "BLUESKY_HANDLE", "not a valid handle"),
    ({"BLUESKY_HANDLE": "a.bsky.social"}, "BLUESKY_APP_PASSWORD", "app password"),
    ({**GOOD, "BLUESKY_APP_PASSWORD": "hunter2-my-real-password"}, "BLUESKY_APP_PASSWORD", "never use the account password"),
    ({**GOOD, "BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-mno0"}, "BLUESKY_APP_PASSWORD", "xxxx-xxxx-xxxx-xxxx"),
    ({**GOOD, "BLUESKY_APP_PASSWORD": "abcdefghijklmnop"}, "BLUESKY_APP_PASSWORD", "create an app password"),
    ({**GOOD, "BLUESKY_PDS": "http://pds.example.com"}, "BLUESKY_PDS", "only allowed for loopback"),
    ({**GOOD, "BLUESKY_PDS": "ftp://pds.example.com"}, "BLUESKY_PDS", "http(s) URL"),
    ({**GOOD, "BLUESKY_TEMPLATE": "{title} {link}"}, "BLUESKY_TEMPLATE", "unknown placeholder"),
])
def test_settings_errors_name_their_variable(values, variable, words):
    from bot.config import settings_from

    # Through the core, as the service reads them: BLUESKY_TEMPLATE is checked there.
    with pytest.raises(ConfigError) as caught:
        settings_from({"AUTOPOST_FEEDS": "feed.xml", **values})
    assert caught.value.variable == variable
    assert words in str(caught.value)
    secret = values.get("BLUESKY_APP_PASSWORD", "").strip()
    if secret and variable == "BLUESKY_APP_PASSWORD":
        assert secret not in str(caught.value)


# -- text rules ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, graphemes", [
    ("", 0),
    ("abc", 3),
    ("e\u0301", 1),                                  # e + combining acute
    ("👨\u200d👩\u200d👧\u200d👦", 1),                 # ZWJ family
    ("🇯🇵🇫🇷", 2),                                     # two flags
    ("1\ufe0f\u20e3", 1),                            # keycap
    ("한국어", 3),
    ("\u1100\u1161\u11a8", 1),                       # conjoining jamo: one syllable
])
def test_graphemes_are_counted_as_bluesky_counts_them(text, graphemes):
    assert grapheme_length(text) == graphemes


def test_the_length_folds_the_3000_byte_limit_into_300():
    family = "👨\u200d👩\u200d👧\u200d👦"                   # 25 bytes, one grapheme
    assert bluesky.length("a" * 300) == 300 and bluesky.fits("a" * 300)
    assert bluesky.length("a" * 301) == 301 and not bluesky.fits("a" * 301)
    assert bluesky.length(family * 120) == 300 and bluesky.fits(family * 120)
    assert bluesky.length(family * 121) > 300 and not bluesky.fits(family * 121)
    assert bluesky.URL_IN_TEXT is False and "{url}" not in bluesky.DEFAULT_TEMPLATE


@pytest.mark.parametrize("title", [
    "👨\u200d👩\u200d👧\u200d👦" * 100,              # 700 characters, 100 graphemes, 2,500 bytes
    "ก\u0e49" * 280,                                  # Thai with its tone mark: 560 characters, 280 graphemes
])
def test_a_title_that_fits_in_graphemes_is_kept_whole_however_many_characters(title):
    from bot.compose import compose
    from bot.models import Post

    post = Post(feed_url="f", key="k", url=POST_URL, title=title)
    sent = compose(post, "bluesky")
    assert sent.text == title and bluesky.fits(sent.text)


@pytest.mark.parametrize("text, budget, expected", [
    ("a" * 400, 301, 302),
    ("a" * 40, 301, 40),                                  # never over: the whole text
    ("é" * 2000, 301, 302),                               # 2 bytes each: graphemes pass first
    ("👨\u200d👩\u200d👧\u200d👦" * 200, 301, 7 * 120 + 1),  # 25 bytes each: bytes pass first, at the 121st
])
def test_the_cheap_first_cut_counts_as_bluesky_counts(text, budget, expected):
    at = bluesky.length_exceeded_at(text, budget)
    assert at == expected
    if at < len(text):
        assert bluesky.length(text[:at]) > budget or bluesky.length(text[:at + 6]) > budget
        assert bluesky.length(text[:at - 1]) <= budget


def test_bluesky_is_described_once_and_the_core_reads_it(fake_pds):
    from bot import config, delivery
    from bot.platforms.base import create_platform
    from bot.platforms.registry import network

    # Variables set in the real environment, not only in an env file, are read.
    settings = config.load_settings(environ={
        "AUTOPOST_FEEDS": "feed.xml", "BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": APP_PASSWORD,
        "BLUESKY_PDS": fake_pds.base_url, "BLUESKY_TEMPLATE": "{title}\\n{url}", "BLUESKY_DAILY_CAP": "4"})
    assert settings.platforms == ("bluesky",)              # its credentials alone enable it
    assert settings.templates == {"bluesky": "{title}\n{url}"} and settings.daily_caps == {"bluesky": 4}
    assert settings.secrets() == (APP_PASSWORD,)
    assert network("bluesky").text.limit == 300 and "bluesky" in delivery.REJECTS_DUPLICATES
    assert {"BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "BLUESKY_PDS", "BLUESKY_TEMPLATE",
            "BLUESKY_DAILY_CAP"} <= set(config.VARIABLES)
    assert "BLUESKY_ALLOW_MENTIONS" not in config.VARIABLES     # "@name" notifies nobody without a facet
    assert "BLUESKY_APP_PASSWORD" in config.SECRET_VARIABLES
    sky = create_platform("bluesky", settings)
    assert isinstance(sky, BlueskyPlatform) and sky.pds == fake_pds.base_url
    assert sky.verify() == f"@{HANDLE} ({DID})"


# -- facets --------------------------------------------------------------------------------

def _slices(text: str) -> list[tuple[str, str, int, int]]:
    """Each facet as (feature, the text its byte range covers, byteStart, byteEnd)."""
    data = text.encode("utf-8")
    out = []
    for facet in facets(text):
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        feature = facet["features"][0]
        value = feature.get("uri") or feature.get("tag")
        out.append((value, data[start:end].decode("utf-8"), start, end))
    return out


@pytest.mark.parametrize("text, expected", [
    ("see https://example.com/a", [("https://example.com/a", "https://example.com/a", 4, 25)]),
    # 🇯🇵 is 8 bytes, 日本語 9: the offsets count bytes, not characters (7 and 11 here)
    ("日本語 🇯🇵 https://example.com/x", [("https://example.com/x", "https://example.com/x", 19, 40)]),
    ("👨\u200d👩\u200d👧\u200d👦 #Python", [("Python", "#Python", 26, 33)]),
    ("café #Été. done", [("Été", "#Été", 6, 12)]),
    ("end: https://example.com/a.", [("https://example.com/a", "https://example.com/a", 5, 26)]),
    ("(https://example.com/b)", [("https://example.com/b", "https://example.com/b", 1, 22)]),
    ("https://en.wikipedia.org/wiki/C_(language)",
     [("https://en.wikipedia.org/wiki/C_(language)", "https://en.wikipedia.org/wiki/C_(language)", 0, 42)]),
    ("#1 #2026 x#not #ok! #c++", [("ok", "#ok", 15, 18), ("c++", "#c++", 20, 24)]),
    ("＃全角 tag", [("全角", "＃全角", 0, 9)]),
    ("a https://blog.example.com/p?x=1#frag #Tag",
     [("https://blog.example.com/p?x=1#frag", "https://blog.example.com/p?x=1#frag", 2, 37), ("Tag", "#Tag", 38, 42)]),
    ("#" + "a" * 64 + " #" + "b" * 65, [("a" * 64, "#" + "a" * 64, 0, 65)]),
    ("no links, no tags: me@example.com, #", []),
    ("#see(https://example.com/c)", [("https://example.com/c", "https://example.com/c", 5, 26)]),
])
def test_facets_land_exactly_on_links_and_tags(text, expected):
    assert _slices(text) == expected
    for facet in facets(text):
        assert facet["$type"] == "app.bsky.richtext.facet"
        assert facet["features"][0]["$type"] in ("app.bsky.richtext.facet#link", "app.bsky.richtext.facet#tag")


# -- record keys ---------------------------------------------------------------------------

def test_tid_encoding_matches_the_spec():
    assert tid(0, 0) == "2222222222222"
    # atproto.com/specs/tid and interop-test-files/syntax: 3jzfcijpj2z2a is a valid TID
    assert is_tid("3jzfcijpj2z2a") and tid(*tid_parts("3jzfcijpj2z2a")) == "3jzfcijpj2z2a"
    for bad in ("3jzfcijpj2z21", "0000000000000", "3jzfcijpj2z2aa", "3jzfcijpj2z2", "3jzf-cij-pj2z-2a",
                "zzzzzzzzzzzzz", "kjzfcijpj2z2a", "3JZFCIJPJ2Z2A"):
        assert not is_tid(bad), bad
    # the top bit stays 0, so the largest TID starts with "b" (the syntax allows up to "j")
    assert tid(2 ** 53 - 1, 1023) == "bzzzzzzzzzzzz"
    with pytest.raises(ValueError):
        tid(2 ** 53, 0)


def test_record_keys_are_valid_stable_tids_in_the_past():
    keys = {record_key(f"https://blog.example.com/post/{n}") for n in range(2000)}
    assert len(keys) == 2000 and all(is_tid(k) for k in keys)
    assert record_key(POST_URL) == record_key(POST_URL)
    assert record_key(POST_URL) != record_key(POST_URL, salt="delivery 2")
    for key in list(keys)[:200]:
        micros, _ = tid_parts(key)
        moment = datetime.fromtimestamp(micros / 1e6, tz=timezone.utc)
        assert datetime(2023, 1, 1, tzinfo=timezone.utc) <= moment < datetime(2024, 3, 1, tzinfo=timezone.utc)


# -- publish -------------------------------------------------------------------------------

def test_publish_logs_in_and_creates_the_record(fake_pds, sky):
    published = sky.publish(message())

    rkey = record_key(POST_URL)
    assert published == Published(remote_id=f"at://{DID}/app.bsky.feed.post/{rkey}",
                                  url=f"https://bsky.app/profile/{HANDLE}/post/{rkey}")
    login = fake_pds.calls("com.atproto.server.createSession")[0].json()
    assert login == {"identifier": HANDLE, "password": APP_PASSWORD}
    sent = fake_pds.calls("com.atproto.repo.createRecord")[0]
    assert sent.headers["authorization"].startswith("Bearer ") and sent.headers["authorization"].count(".") == 2
    body = sent.json()
    assert (body["repo"], body["collection"], body["rkey"]) == (DID, "app.bsky.feed.post", rkey)
    record = fake_pds.records[rkey]["value"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == "Hello world: a new post on the blog\n\n#Python #WebDev"
    assert record["createdAt"] == "2026-11-20T12:00:00.000Z"
    assert [f["features"][0]["tag"] for f in record["facets"]] == ["Python", "WebDev"]
    assert record["embed"] == {"$type": "app.bsky.embed.external",
                               "external": {"uri": LINK, "title": "Hello world",
                                            "description": "A first post, about beginnings."}}
    assert "langs" not in record


def test_publish_sets_langs_when_the_language_is_known(fake_pds, sky):
    sky.publish(message(), language="en-GB")
    assert fake_pds.records[record_key(POST_URL)]["value"]["langs"] == ["en-GB"]


def test_publish_with_a_link_in_the_text_makes_it_a_link(fake_pds, sky):
    text = "日本語のタイトル 🇯🇵 " + LINK
    sky.publish(message(text))
    (facet,) = fake_pds.records[record_key(POST_URL)]["value"]["facets"]
    assert facet["features"][0] == {"$type": "app.bsky.richtext.facet#link", "uri": LINK}
    assert text.encode()[facet["index"]["byteStart"]:facet["index"]["byteEnd"]] == LINK.encode()


def test_publish_uploads_the_thumbnail(fake_pds, sky, feed_server):
    feed_server.serve("/cover.png", PNG, content_type="image/png")
    sky.publish(message(image_url=feed_server.url("/cover.png")))

    (upload,) = fake_pds.calls("com.atproto.repo.uploadBlob")
    assert upload.body == PNG and upload.headers["content-type"] == "image/png"
    assert upload.headers["authorization"].startswith("Bearer ")
    thumb = fake_pds.records[record_key(POST_URL)]["value"]["embed"]["external"]["thumb"]
    assert thumb["$type"] == "blob" and thumb["size"] == len(PNG) and thumb["mimeType"] == "image/png"
    assert thumb["ref"]["$link"] in fake_pds.blobs
    # the image host never sees a Bluesky token
    assert all("authorization" not in {k.lower() for k in r.headers} for r in feed_server.requests)


def test_a_thumbnail_over_1_mb_is_left_out_with_a_log_line(fake_pds, sky, feed_server, caplog):
    feed_server.serve("/huge.jpg", b"\xff\xd8" + b"\x00" * 1_000_001, content_type="image/jpeg")
    with caplog.at_level(logging.WARNING, logger="bot.platforms.bluesky"):
        sky.publish(message(image_url=feed_server.url("/huge.jpg")))

    assert fake_pds.calls("com.atproto.repo.uploadBlob") == []
    external = fake_pds.records[record_key(POST_URL)]["value"]["embed"]["external"]
    assert "thumb" not in external and external["uri"] == LINK
    assert "without its thumbnail" in caplog.text and "limit" in caplog.text


def test_a_thumbnail_the_pds_refuses_is_left_out(fake_pds, sky, feed_server, caplog):
    feed_server.serve("/cover.png", PNG, content_type="image/png")
    fake_pds.fail_next(400, "InvalidRequest", "Unsupported image type", nsid="com.atproto.repo.uploadBlob")
    with caplog.at_level(logging.WARNING, logger="bot.platforms.bluesky"):
        sky.publish(message(image_url=feed_server.url("/cover.png")))
    assert "thumb" not in fake_pds.records[record_key(POST_URL)]["value"]["embed"]["external"]
    assert "Unsupported image type" in caplog.text


def test_a_thumbnail_upload_outage_retries_the_whole_post(fake_pds, sky, feed_server):
    feed_server.serve("/cover.png", PNG, content_type="image/png")
    fake_pds.fail_next(503, None, nsid="com.atproto.repo.uploadBlob")
    with pytest.raises(TransientError):
        sky.publish(message(image_url=feed_server.url("/cover.png")))
    assert fake_pds.records == {}


def test_the_fake_refuses_a_thumb_it_did_not_issue_and_facets_off_target(fake_pds, sky):
    """The fake checks what the PDS checks, so the happy-path tests above mean something."""
    sky.publish(message(link=""))           # logs in
    bad = {"$type": "app.bsky.feed.post", "text": "日本 #Tag", "createdAt": "2026-11-20T12:00:00.000Z",
           "facets": [{"index": {"byteStart": 2, "byteEnd": 8},
                       "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Tag"}]}]}
    assert "cuts a character" in fake_pds.check_post(bad) or "covers" in fake_pds.check_post(bad)
    bad["facets"][0]["index"] = {"byteStart": 7, "byteEnd": 11}
    assert fake_pds.check_post(bad) is None
    bad["embed"] = {"$type": "app.bsky.embed.external",
                    "external": {"uri": LINK, "title": "", "description": "",
                                 "thumb": {"$type": "blob", "ref": {"$link": "bafkreinotissued"},
                                           "mimeType": "image/png", "size": 10}}}
    assert "Could not find blob" in fake_pds.check_post(bad)
    assert "300 graphemes" in fake_pds.check_post({**bad, "embed": None, "facets": [], "text": "é" * 301})


def test_a_text_over_the_limit_is_refused_with_blueskys_words(fake_pds, sky):
    with pytest.raises(PermanentError) as caught:
        sky.publish(message("x" * 301))
    assert "300 graphemes" in caught.value.message and caught.value.code == "InvalidRequest"
    assert fake_pds.records == {}


# -- exactly once ---------------------------------------------------------------------------

def test_a_retry_after_a_lost_answer_posts_once(fake_pds, sky):
    fake_pds.drop_after_create_next()
    with pytest.raises(TransientError):
        sky.publish(message())
    assert len(fake_pds.records) == 1

    with pytest.raises(DuplicateError) as caught:
        sky.publish(message())
    rkey = record_key(POST_URL)
    assert len(fake_pds.records) == 1
    assert caught.value.remote_id == f"at://{DID}/app.bsky.feed.post/{rkey}"
    assert caught.value.remote_url == f"https://bsky.app/profile/{HANDLE}/post/{rkey}"
    # both attempts asked for the same key; the second was refused as the PDS refuses it
    keys = [r.json()["rkey"] for r in fake_pds.calls("com.atproto.repo.createRecord")]
    assert keys == [rkey, rkey]


def test_a_real_outage_on_create_stays_transient(fake_pds, sky):
    fake_pds.fail_next(500, "InternalServerError", "Internal Server Error", nsid="com.atproto.repo.createRecord")
    with pytest.raises(TransientError):
        sky.publish(message())
    assert fake_pds.calls("com.atproto.repo.getRecord")       # it looked, and found nothing
    sky.publish(message())
    assert len(fake_pds.records) == 1


def test_an_explicit_already_exists_answer_is_a_duplicate(fake_pds, sky):
    fake_pds.add_record(record_key(POST_URL), {"$type": "app.bsky.feed.post", "text": message().text,
                                               "createdAt": "2026-11-19T10:00:00.000Z"})
    fake_pds.fail_next(409, "RecordAlreadyExists", "Record already exists", nsid="com.atproto.repo.createRecord")
    with pytest.raises(DuplicateError):
        sky.publish(message())


def test_entries_that_share_a_link_each_get_their_own_post_once(fake_pds, sky):
    """A feed that gives several entries one link (a day's page): the URL's key holds the first."""
    first, second = message("Morning note"), message("Evening note, another entry")
    assert sky.publish(first).remote_id.endswith(record_key(POST_URL))
    # The URL's key answers as the PDS answers a taken key; the second key is accepted, its answer lost.
    fake_pds.fail_next(500, "InternalServerError", "Internal Server Error", nsid="com.atproto.repo.createRecord")
    fake_pds.drop_after_create_next()
    with pytest.raises(TransientError):
        sky.publish(second)
    assert len(fake_pds.records) == 2
    with pytest.raises(DuplicateError) as caught:
        sky.publish(second)                                   # the retry finds it: no second copy
    salted = record_key(POST_URL, salt=second.text)
    assert caught.value.remote_id.endswith("/" + salted)
    assert sorted(fake_pds.records) == sorted([record_key(POST_URL), salted])
    assert fake_pds.records[salted]["value"]["text"] == second.text
    with pytest.raises(DuplicateError):
        sky.publish(first)                                    # and the first is still itself
    assert len(fake_pds.records) == 2


def test_find_existing_reads_the_posts_record(fake_pds, sky):
    assert sky.find_existing(POST_URL) is None
    sky.publish(message())
    fresh = adapter(fake_pds)                     # after a crash: a new process, no session
    found = fresh.find_existing(POST_URL)
    rkey = record_key(POST_URL)
    assert found == Published(remote_id=f"at://{DID}/app.bsky.feed.post/{rkey}",
                              url=f"https://bsky.app/profile/{HANDLE}/post/{rkey}", note="already on Bluesky")
    assert fresh.find_existing("https://blog.example.com/another/") is None
    lookup = fake_pds.calls("com.atproto.repo.getRecord")[-2]
    assert lookup.query == {"repo": HANDLE, "collection": "app.bsky.feed.post", "rkey": rkey}


def test_find_existing_raises_when_it_cannot_look(fake_pds, sky):
    fake_pds.fail_next(503, None, nsid="com.atproto.repo.getRecord")
    with pytest.raises(TransientError):
        sky.find_existing(POST_URL)


# -- sessions -------------------------------------------------------------------------------

def test_the_session_is_reused(fake_pds, sky):
    sky.publish(message())
    sky.publish(message(post_url="https://blog.example.com/second/"))
    assert fake_pds.logins == 1


def test_an_expired_access_token_is_refreshed_and_the_call_made_once_more(fake_pds, sky):
    sky.publish(message())
    fake_pds.expire_access()
    sky.publish(message(post_url="https://blog.example.com/second/"))

    assert (fake_pds.logins, fake_pds.refreshes) == (1, 1)
    creates = fake_pds.calls("com.atproto.repo.createRecord")
    assert len(creates) == 3 and len(fake_pds.records) == 2
    assert creates[1].headers["authorization"] != creates[2].headers["authorization"]
    (refresh,) = fake_pds.calls("com.atproto.server.refreshSession")
    assert refresh.headers["authorization"] != creates[0].headers["authorization"]


def test_an_expired_refresh_token_logs_in_again(fake_pds, sky):
    sky.publish(message())
    fake_pds.expire_access()
    fake_pds.expire_refresh()
    sky.publish(message(post_url="https://blog.example.com/second/"))
    assert fake_pds.logins == 2 and len(fake_pds.records) == 2


def test_expired_twice_in_a_row_is_an_auth_error(fake_pds, sky):
    sky.publish(message())
    fake_pds.fail_next(400, "ExpiredToken", "Token has expired", nsid="com.atproto.repo.createRecord", times=2)
    with pytest.raises(AuthError):
        sky.publish(message(post_url="https://blog.example.com/second/"))
    assert fake_pds.refreshes == 1


# -- errors ---------------------------------------------------------------------------------

def test_a_wrong_password_is_an_auth_error_that_says_how_to_fix_it(fake_pds):
    sky = adapter(fake_pds, password="zzzz-zzzz-zzzz-zzzz")
    with pytest.raises(AuthError) as caught:
        sky.publish(message())
    assert "Invalid identifier or password" in caught.value.message
    assert "app password" in caught.value.message and "zzzz" not in caught.value.message
    assert fake_pds.records == {}


def test_the_account_password_is_never_accepted_by_the_fake(fake_pds):
    with pytest.raises(AuthError):
        adapter(fake_pds, password=ACCOUNT_PASSWORD).verify()


@pytest.mark.parametrize("status, error, expected", [
    (401, "AuthenticationRequired", AuthError),
    (400, "InvalidToken", AuthError),
    (401, "AccountTakedown", AuthError),
    (400, "InvalidRequest", PermanentError),
    (400, "BlobTooLarge", PermanentError),
    (500, "InternalServerError", TransientError),
    (502, "UpstreamFailure", TransientError),
    (503, None, TransientError),
])
def test_each_error_is_mapped(fake_pds, sky, status, error, expected):
    sky.verify()                                   # logged in: the fault hits the create itself
    fake_pds.fail_next(status, error, f"fake {error} message", nsid="com.atproto.repo.createRecord")
    with pytest.raises(expected) as caught:
        sky.publish(message())
    assert type(caught.value) is expected
    if expected is PermanentError:
        assert f"{error}: fake {error} message" in caught.value.message
    assert len(fake_pds.records) == 0 or expected is TransientError


def test_a_takedown_blocks(fake_pds, sky):
    sky.verify()
    fake_pds.takedown()
    with pytest.raises(AuthError) as caught:
        sky.publish(message())
    assert "taken down" in caught.value.message


def test_429_is_rate_limited_until_the_reset(fake_pds, sky):
    reset = int((NOW + timedelta(minutes=7)).timestamp())
    fake_pds.rate_limit_next(reset, nsid="com.atproto.repo.createRecord")
    with pytest.raises(RateLimited) as caught:
        sky.publish(message())
    assert caught.value.retry_at == NOW + timedelta(minutes=7)


def test_429_without_a_reset_backs_off(fake_pds, sky):
    fake_pds.rate_limit_next(None, nsid="com.atproto.server.createSession")
    with pytest.raises(RateLimited) as caught:
        sky.publish(message())
    assert caught.value.retry_at == NOW + bluesky.DEFAULT_THROTTLE_BACKOFF


@pytest.mark.parametrize("steer", ["garbage", "html", "html400"])
def test_garbage_and_html_pages_are_transient(fake_pds, sky, steer):
    sky.verify()
    if steer == "garbage":
        fake_pds.garbage_next("com.atproto.repo.createRecord")
    else:
        fake_pds.html_next("com.atproto.repo.createRecord", status=400 if steer == "html400" else 502)
    with pytest.raises(TransientError):
        sky.publish(message())


def test_a_hang_is_cut_off_at_the_timeout(fake_pds):
    sky = adapter(fake_pds, timeout=0.5)
    sky.verify()
    fake_pds.hang_next("com.atproto.repo.createRecord")
    started = time.monotonic()
    with pytest.raises(TransientError):
        sky.publish(message())
    assert time.monotonic() - started < 0.5 + 1


def test_a_trickle_is_cut_off_at_the_timeout(fake_pds):
    sky = adapter(fake_pds, timeout=0.5)
    sky.verify()
    fake_pds.trickle_next("com.atproto.repo.createRecord")
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        sky.publish(message())
    assert time.monotonic() - started < 0.5 + 1
    assert "longer than" in caught.value.message


def test_an_unreachable_pds_is_transient():
    fake = FakePDS()
    url = fake.base_url
    fake.close()
    with pytest.raises(TransientError):
        BlueskyPlatform(pds=url, handle=HANDLE, app_password=APP_PASSWORD, timeout=1).publish(message())


# -- verify and construction ------------------------------------------------------------------

def test_verify_returns_the_account(fake_pds, sky):
    assert sky.verify() == f"@{HANDLE} ({DID})"
    assert [r.nsid for r in fake_pds.requests] == ["com.atproto.server.createSession",
                                                   "com.atproto.server.getSession"]
    assert sky.verify() == f"@{HANDLE} ({DID})"
    assert fake_pds.logins == 1


def test_from_settings_and_repr_hide_the_password(fake_pds):
    settings = parse_settings({"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": APP_PASSWORD,
                               "BLUESKY_PDS": fake_pds.base_url})
    sky = BlueskyPlatform.from_settings(settings, timeout=5)
    assert (sky.pds, sky.handle, sky.timeout) == (fake_pds.base_url, HANDLE, 5)
    assert APP_PASSWORD not in repr(sky) and "****" in repr(sky)
    assert sky.verify().startswith(f"@{HANDLE}")
    assert bluesky.from_settings(settings, timeout=5).handle == HANDLE


# -- properties and secrets -------------------------------------------------------------------

_PIECES = st.sampled_from([
    "日本語", "🇯🇵", "👨\u200d👩\u200d👧\u200d👦", "café", "e\u0301", " ", "\n", "word", "(", ")", ".", "—",
    "https://blog.example.com/2026/11/post?x=1&y=é", "https://例え.jp/パス", "#Python", "#日本", "#Été",
    "＃全角", "#2026", "#a_b", "@someone", "1\ufe0f\u20e3",
])


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=25))
def test_every_facet_covers_exactly_its_link_or_tag(pieces):
    text = "".join(pieces)
    data = text.encode("utf-8")
    previous_end = 0
    for facet in facets(text):
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        assert previous_end <= start < end <= len(data)
        covered = data[start:end].decode("utf-8")           # never cuts a character
        feature = facet["features"][0]
        if feature["$type"].endswith("#link"):
            assert covered == feature["uri"] and covered.startswith("https://")
        else:
            assert covered in ("#" + feature["tag"], "\uff03" + feature["tag"])
            assert not feature["tag"].isdigit()
        previous_end = end


def test_no_secret_reaches_an_error_or_the_log(fake_pds, caplog):
    with caplog.at_level(logging.DEBUG):
        sky = adapter(fake_pds)
        sky.publish(message())
        tokens = (sky._access, sky._refresh)
        fake_pds.expire_access()
        sky.publish(message(post_url="https://blog.example.com/second/"))
        tokens += (sky._access, sky._refresh)
        fake_pds.fail_next(400, "InvalidRequest", f"echoing {sky._access} back",
                           nsid="com.atproto.repo.createRecord")
        with pytest.raises(PermanentError) as caught:
            sky.publish(message(post_url="https://blog.example.com/third/"))
    for secret in (APP_PASSWORD, *tokens):
        assert secret not in caplog.text
    assert sky._access not in caught.value.message and "****" in caught.value.message
