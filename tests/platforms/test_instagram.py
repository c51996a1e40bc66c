"""Instagram: settings, caption rules, JPEG checks, and the staged adapter against a fake over HTTP."""
from __future__ import annotations

import logging
import threading
from datetime import date, timedelta

import pytest

from bot.config import ConfigError
from bot.models import Message, Published
from bot.platforms import instagram
from bot.platforms.base import AuthError, ImageProblem, PermanentError, RateLimited, TransientError
from bot.platforms.instagram import (
    InstagramPlatform,
    InstagramSettings,
    NotReady,
    check_caption,
    check_image,
    image_url_for,
    jpeg_dimensions,
    parse_settings,
)
from tests.conftest import wait_for
from tests.fakes.instagram import (
    ACCOUNT_ID,
    APP_SECRET,
    EXPIRES_IN,
    REFRESHED_PREFIX,
    SHORT_TOKEN,
    TOKEN,
    USERNAME,
    FakeInstagram,
    fake_instagram,  # noqa: F401
    jpeg,
)

POST_URL = "https://blog.example.com/2026/11/hello-world/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def message(image_url: str | None, *, text: str | None = None, post_url: str = POST_URL) -> Message:
    return Message(network="instagram", text=text or f"Hello world\n\nA first post.\n\n{post_url}\n\n#Python",
                   link=post_url, post_url=post_url, title="Hello world", image_url=image_url)


def adapter(fake: FakeInstagram, clock, *, timeout: float = 5.0, template: str | None = None) -> InstagramPlatform:
    return InstagramPlatform(account_id=ACCOUNT_ID, access_token=TOKEN, base_url=fake.base_url,
                             image_url_template=template, timeout=timeout, clock=clock)


@pytest.fixture
def ig(fake_instagram, clock):
    return adapter(fake_instagram, clock)


@pytest.fixture
def cover(feed_server):
    feed_server.serve("/cover.jpg", jpeg(1080, 1080), content_type="image/jpeg")
    return feed_server.url("/cover.jpg")


# -- settings ------------------------------------------------------------------------------

GOOD = {"INSTAGRAM_ACCOUNT_ID": f" {ACCOUNT_ID} ", "INSTAGRAM_ACCESS_TOKEN": f" {TOKEN} "}


def test_settings_are_read_with_their_defaults():
    settings = parse_settings({**GOOD, "INSTAGRAM_TOKEN_EXPIRES": "2027-01-31",
                               "INSTAGRAM_IMAGE_URL_TEMPLATE": "https://img.example.com/{url}?format=jpg&w=1080"})
    assert settings == InstagramSettings(account_id=ACCOUNT_ID, access_token=TOKEN,
                                         graph_base="https://graph.instagram.com", graph_version="v25.0",
                                         template=None,
                                         image_url_template="https://img.example.com/{url}?format=jpg&w=1080",
                                         token_expires=date(2027, 1, 31))
    assert TOKEN not in repr(settings)
    assert parse_settings({**GOOD, "INSTAGRAM_GRAPH_BASE": "http://127.0.0.1:8080/"}).graph_base == "http://127.0.0.1:8080"
    assert instagram.SECRETS == ("INSTAGRAM_ACCESS_TOKEN",)
    assert set(instagram.SECRETS) <= set(instagram.VARIABLES)


@pytest.mark.parametrize("values, variable, words", [
    ({"INSTAGRAM_ACCESS_TOKEN": TOKEN}, "INSTAGRAM_ACCOUNT_ID", "required"),
    ({**GOOD, "INSTAGRAM_ACCOUNT_ID": "@example.blog"}, "INSTAGRAM_ACCOUNT_ID", "numeric id"),
    ({"INSTAGRAM_ACCOUNT_ID": ACCOUNT_ID}, "INSTAGRAM_ACCESS_TOKEN", "autopost auth instagram"),
    ({**GOOD, "INSTAGRAM_ACCESS_TOKEN": "IGAA secret with spaces"}, "INSTAGRAM_ACCESS_TOKEN", "spaces"),
    ({**GOOD, "INSTAGRAM_GRAPH_BASE": "http://graph.example.com"}, "INSTAGRAM_GRAPH_BASE", "only allowed for loopback"),
    ({**GOOD, "INSTAGRAM_GRAPH_VERSION": "25"}, "INSTAGRAM_GRAPH_VERSION", "v25.0"),
    ({**GOOD, "INSTAGRAM_TEMPLATE": "{title} {link}"}, "INSTAGRAM_TEMPLATE", "unknown placeholder"),
    ({**GOOD, "INSTAGRAM_IMAGE_URL_TEMPLATE": "https://img.example.com/x.jpg"}, "INSTAGRAM_IMAGE_URL_TEMPLATE", "{url}"),
    ({**GOOD, "INSTAGRAM_IMAGE_URL_TEMPLATE": "http://img.example.com/{url}"}, "INSTAGRAM_IMAGE_URL_TEMPLATE", "https"),
    ({**GOOD, "INSTAGRAM_IMAGE_URL_TEMPLATE": "https://i.example.com/{url}?w={width}"},
     "INSTAGRAM_IMAGE_URL_TEMPLATE", "no placeholder other"),
    ({**GOOD, "INSTAGRAM_TOKEN_EXPIRES": "next month"}, "INSTAGRAM_TOKEN_EXPIRES", "ISO date"),
])
def test_settings_errors_name_their_variable(values, variable, words):
    with pytest.raises(ConfigError) as caught:
        parse_settings(values)
    assert caught.value.variable == variable and words in str(caught.value)
    if variable == "INSTAGRAM_ACCESS_TOKEN" and values.get(variable):
        assert values[variable].strip() not in str(caught.value)


def test_the_image_url_template_percent_encodes_the_url():
    url = "https://blog.example.com/img/café cover.png?v=2&x=1"
    assert image_url_for(url, None) == url
    assert image_url_for(url, "https://img.example.com/{url}?format=jpg&w=1080") == (
        "https://img.example.com/https%3A%2F%2Fblog.example.com%2Fimg%2Fcaf%C3%A9%20cover.png%3Fv%3D2%26x%3D1"
        "?format=jpg&w=1080")


# -- caption rules -------------------------------------------------------------------------

@pytest.mark.parametrize("text, units", [
    ("", 0), ("abc", 3), ("é", 1), ("日本語", 3),
    ("😀", 2),                                   # outside the BMP: two UTF-16 units
    ("👨\u200d👩\u200d👧", 8),
])
def test_length_counts_utf16_units(text, units):
    assert instagram.length(text) == units


def test_captions_within_the_limits_pass_and_excess_is_named():
    assert check_caption("a" * 2200) is None
    assert check_caption("a" * 2201) == "the caption has 2201 characters (limit 2200)"
    assert check_caption("😀" * 1101).startswith("the caption has 2202 characters")
    tags = " ".join(f"#tag{n}" for n in range(31))
    assert check_caption(" ".join(f"#tag{n}" for n in range(30))) is None
    assert check_caption(tags) == "the caption has 31 hashtags (limit 30)"
    mentions = " ".join(f"@user{n}" for n in range(21))
    assert check_caption(mentions) == "the caption has 21 @mentions (limit 20)"
    # an e-mail address, a URL's #fragment and /@path are neither tags nor mentions
    assert check_caption("mail me@example.com, see https://x.example/@me/p#frag " + " ".join(
        f"@u{n}" for n in range(20))) is None
    both = check_caption("x" * 2300 + " " + tags)
    assert "2331" not in both and "characters" in both and "31 hashtags" in both


def test_the_default_template_keeps_the_url_in_its_own_paragraph():
    assert instagram.DEFAULT_TEMPLATE == "{title}\n\n{summary}\n\n{url}\n\n{hashtags}"
    assert instagram.URL_IN_TEXT is True


# -- images --------------------------------------------------------------------------------

@pytest.mark.parametrize("width, height", [(1080, 1080), (1080, 1350), (1910, 1000), (400, 500), (1, 1)])
def test_jpegs_within_the_ratio_are_accepted(width, height):
    assert check_image(jpeg(width, height), "image/jpeg") == (width, height)


def test_dimensions_come_from_the_sof_segment_past_other_segments():
    assert jpeg_dimensions(jpeg(1234, 987, progressive=True, pad=300)) == (1234, 987)
    assert jpeg_dimensions(b"\xff\xd8\xff\xd9") is None
    assert jpeg_dimensions(PNG) is None


@pytest.mark.parametrize("data, content_type, words", [
    (PNG, "image/png", "PNG"),
    (PNG, "image/jpeg", "PNG (served as image/jpeg)"),           # the bytes decide, not the header
    (b"GIF89a" + b"\x00" * 20, "", "GIF"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", "WebP"),
    (b"<!DOCTYPE html><p>not found</p>", "text/html", "HTML"),
    (b"", "image/jpeg", "empty"),
    (jpeg(1080, 1351), "image/jpeg", "taller than Instagram's 4:5"),
    (jpeg(1911, 1000), "image/jpeg", "wider than Instagram's 1.91:1"),
    (jpeg(0, 100), "image/jpeg", "0×100"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9", "image/jpeg", "dimensions"),
    (jpeg(1080, 1080) + b"\x00" * (8 * 1024 * 1024), "image/jpeg", "8 MB"),
])
def test_unusable_images_say_why(data, content_type, words):
    with pytest.raises(ImageProblem) as caught:
        check_image(data, content_type)
    assert words in str(caught.value)
    if "JPEG only" in str(caught.value):
        assert "INSTAGRAM_IMAGE_URL_TEMPLATE" in str(caught.value)


# -- publishing ----------------------------------------------------------------------------

def test_publish_creates_checks_and_publishes_once(fake_instagram, ig, cover, feed_server):
    recorded = []
    published = ig.publish(message(cover), on_container=recorded.append)

    (media,) = fake_instagram.media
    assert published == Published(remote_id=media["id"], url=media["permalink"])
    assert media["caption"] == message(cover).text
    assert recorded == [media["container"]]
    container = fake_instagram.containers[recorded[0]]
    assert container["image_url"] == cover and container["alt_text"] == "Hello world"
    assert fake_instagram.image_fetches == [cover]          # the fake fetched the image itself
    # our own check downloaded it first, without any token
    assert feed_server.requests_to("/cover.jpg") and all(
        "authorization" not in {k.lower() for k in r.headers} for r in feed_server.requests)
    calls = [(r.method, r.path.split("?")[0]) for r in fake_instagram.requests]
    assert calls == [("GET", f"/v25.0/{ACCOUNT_ID}/content_publishing_limit"),
                     ("POST", f"/v25.0/{ACCOUNT_ID}/media"),
                     ("GET", f"/v25.0/{recorded[0]}"),
                     ("POST", f"/v25.0/{ACCOUNT_ID}/media_publish"),
                     ("GET", f"/v25.0/{media['id']}")]
    publish_call = fake_instagram.requests[3]
    assert publish_call.form["creation_id"] == recorded[0] and publish_call.form["access_token"] == TOKEN
    # reads carry the token in the header, never in the URL
    assert all(TOKEN not in r.path for r in fake_instagram.requests)


def test_the_image_template_is_what_instagram_fetches(fake_instagram, clock, feed_server):
    feed_server.serve("/cdn/https%3A%2F%2Fblog.example.com%2Fa.png", jpeg(1080, 1080), content_type="image/jpeg")
    ig = adapter(fake_instagram, clock, template=feed_server.base_url + "/cdn/{url}")
    ig.publish(message("https://blog.example.com/a.png"))
    assert fake_instagram.image_fetches == [feed_server.base_url + "/cdn/https%3A%2F%2Fblog.example.com%2Fa.png"]
    assert len(fake_instagram.media) == 1


def test_an_in_progress_container_is_not_waited_for_and_resumes_once(fake_instagram, ig, cover, clock):
    fake_instagram.finish_after = 2
    with pytest.raises(NotReady) as caught:
        ig.publish(message(cover))
    container_id = caught.value.container_id
    assert isinstance(caught.value, TransientError) and caught.value.retry_at == clock() + timedelta(seconds=60)
    assert fake_instagram.media == []

    with pytest.raises(NotReady):
        ig.resume(container_id, message(cover))            # second check: still in progress
    published = ig.resume(container_id, message(cover))     # third: FINISHED → published
    assert len(fake_instagram.media) == 1 and published.remote_id == fake_instagram.media[0]["id"]
    again = ig.resume(container_id, message(cover))         # a repeat finds it, never posts twice
    assert len(fake_instagram.media) == 1 and again.remote_id == published.remote_id
    assert len(fake_instagram.containers) == 1


def test_a_crash_after_media_publish_is_reconciled_from_the_container(fake_instagram, clock, cover):
    before = adapter(fake_instagram, clock)
    recorded = []
    before.publish(message(cover), on_container=recorded.append)   # the answer "was lost"
    after = adapter(fake_instagram, clock)                            # a new process
    found = after.resume(recorded[0], message(cover))
    assert len(fake_instagram.media) == 1
    assert found.remote_id == fake_instagram.media[0]["id"] and found.url == fake_instagram.media[0]["permalink"]
    assert "container" in found.note


def test_a_crash_before_media_publish_publishes_the_finished_container(fake_instagram, ig, cover):
    container_id = ig.create_container(message(cover))
    assert ig.container_status(container_id) == "FINISHED"
    published = ig.resume(container_id, message(cover))
    assert [m["container"] for m in fake_instagram.media] == [container_id]
    assert published.remote_id == fake_instagram.media[0]["id"]


def test_an_expired_container_is_replaced_by_a_new_one(fake_instagram, ig, cover):
    old = ig.create_container(message(cover))
    fake_instagram.expire(old)
    assert ig.container_status(old) == "EXPIRED"
    ig.resume(old, message(cover))
    (media,) = fake_instagram.media
    assert media["container"] != old and len(fake_instagram.containers) == 2


def test_an_errored_container_is_replaced_unless_the_image_is_at_fault(fake_instagram, ig, cover):
    first = ig.create_container(message(cover))
    fake_instagram.break_container(first)                          # Instagram's own failure: try again
    ig.resume(first, message(cover))
    assert len(fake_instagram.media) == 1

    second = ig.create_container(message(cover, post_url="https://blog.example.com/second/"))
    fake_instagram.break_container(second, "ERROR: 2207052 The media could not be fetched")
    with pytest.raises(PermanentError) as caught:
        ig.resume(second, message(cover, post_url="https://blog.example.com/second/"))
    assert "2207052" in caught.value.message and len(fake_instagram.media) == 1


def test_a_published_container_whose_post_is_not_found_is_still_sent(fake_instagram, ig, cover):
    text = "Hello world, no link here"
    container_id = ig.create_container(message(cover, text=text))
    assert ig.container_status(container_id) == "FINISHED"
    ig.publish_container(container_id)
    found = ig.resume(container_id, message(cover, text=text))
    assert found.remote_id == container_id and found.url is None and len(fake_instagram.media) == 1


def test_the_fake_refuses_a_second_publish_of_a_container(fake_instagram, ig, cover):
    container_id = ig.create_container(message(cover))
    assert ig.container_status(container_id) == "FINISHED"
    ig.publish_container(container_id)
    assert ig.container_status(container_id) == "PUBLISHED"
    with pytest.raises(PermanentError):
        ig.publish_container(container_id)
    assert len(fake_instagram.media) == 1


def test_publishing_an_unfinished_container_is_not_ready(fake_instagram, ig, cover):
    fake_instagram.finish_after = 5
    container_id = ig.create_container(message(cover))
    with pytest.raises(NotReady) as caught:
        ig.publish_container(container_id)
    assert caught.value.container_id == container_id and fake_instagram.media == []


def test_a_lost_permalink_still_reports_the_post(fake_instagram, ig, cover):
    container_id = ig.create_container(message(cover))
    ig.container_status(container_id)
    fake_instagram.fail_permalinks = True
    published = ig.publish_container(container_id)
    assert published == Published(remote_id=fake_instagram.media[0]["id"], url=None)


# -- images refused ------------------------------------------------------------------------

def test_an_entry_without_an_image_is_refused_before_any_call(fake_instagram, ig):
    with pytest.raises(PermanentError) as caught:
        ig.publish(message(None))
    assert caught.value.message.startswith("no image for Instagram")
    assert fake_instagram.requests == []


def test_a_png_is_refused_before_any_container_is_made(fake_instagram, ig, feed_server):
    feed_server.serve("/cover.png", PNG, content_type="image/png")
    with pytest.raises(PermanentError) as caught:
        ig.publish(message(feed_server.url("/cover.png")))
    assert caught.value.message.startswith("no image for Instagram") and "PNG" in caught.value.message
    assert fake_instagram.requests == []


@pytest.mark.parametrize("path, body, words", [
    ("/missing.jpg", None, "404"),
    ("/tall.jpg", jpeg(1000, 2000), "taller"),
])
def test_unusable_images_are_not_retried(fake_instagram, ig, feed_server, path, body, words):
    if body is None:
        feed_server.respond(path, 404, b"not found")
    else:
        feed_server.serve(path, body, content_type="image/jpeg")
    with pytest.raises(PermanentError) as caught:
        ig.publish(message(feed_server.url(path)))
    assert caught.value.message.startswith("no image for Instagram") and words in caught.value.message
    assert fake_instagram.containers == {}


def test_an_image_host_that_is_down_is_retried_not_skipped(fake_instagram, ig, feed_server):
    feed_server.respond("/cover.jpg", 503, b"busy")
    with pytest.raises(TransientError) as caught:
        ig.publish(message(feed_server.url("/cover.jpg")))
    assert type(caught.value) is TransientError and "503" in caught.value.message
    assert fake_instagram.requests == []


@pytest.mark.parametrize("body, code, subcode", [
    (PNG, 36001, 2207005),
    (jpeg(1000, 2000), 36003, 2207009),
])
def test_the_fake_refuses_what_instagram_refuses(fake_instagram, ig, feed_server, body, code, subcode):
    """Skipping our own check: the fake says no as Instagram does, and we keep its words."""
    feed_server.serve("/x.jpg", body, content_type="image/jpeg")
    with pytest.raises(PermanentError) as caught:
        ig.create_container(message(feed_server.url("/x.jpg")))
    assert caught.value.code == code and f"subcode {subcode}" in caught.value.message
    assert fake_instagram.containers == {}


def test_an_image_instagram_cannot_fetch_is_permanent_with_its_words(fake_instagram, ig, feed_server):
    feed_server.respond("/gone.jpg", 404)
    with pytest.raises(PermanentError) as caught:
        ig.create_container(message(feed_server.url("/gone.jpg")))
    assert "could not be fetched" in caught.value.message and caught.value.code == 9004


# -- the daily limit -----------------------------------------------------------------------

def test_the_daily_limit_waits_instead_of_failing(clock, feed_server, cover):
    fake = FakeInstagram(clock=clock, limit_total=3)
    try:
        ig = adapter(fake, clock)
        for n in range(3):
            ig.publish(message(cover, post_url=f"https://blog.example.com/{n}/"))
        assert ig.publishing_limit() == (3, 3)
        with pytest.raises(RateLimited) as caught:
            ig.publish(message(cover, post_url="https://blog.example.com/4/"))
        assert caught.value.retry_at == clock() + timedelta(hours=1) and "3 of 3" in caught.value.message
        assert len(fake.containers) == 3                      # no container made for nothing

        # a container made before the limit was reached: media_publish says 9/2207042
        container_id = ig.create_container(message(cover, post_url="https://blog.example.com/5/"))
        assert ig.container_status(container_id) == "FINISHED"
        with pytest.raises(RateLimited) as refused:
            ig.publish_container(container_id)
        assert refused.value.code == 9 and "maximum number of posts" in refused.value.message

        clock.advance(hours=24, seconds=1)
        assert ig.publishing_limit() == (0, 3)
        ig.resume(container_id, message(cover, post_url="https://blog.example.com/5/"))
        assert len(fake.media) == 4
    finally:
        fake.close()


# -- verify and find_existing --------------------------------------------------------------

def test_verify_names_the_account(ig, fake_instagram):
    assert ig.verify() == f"@{USERNAME}"
    (call,) = fake_instagram.requests
    assert call.path == "/v25.0/me?fields=user_id%2Cusername"
    assert call.headers["authorization"] == f"Bearer {TOKEN}"


def test_verify_refuses_a_token_of_another_account(fake_instagram, clock):
    other = InstagramPlatform(account_id="17841400000000099", access_token=TOKEN, base_url=fake_instagram.base_url,
                              clock=clock)
    with pytest.raises(AuthError) as caught:
        other.verify()
    assert ACCOUNT_ID in caught.value.message and TOKEN not in caught.value.message


def test_find_existing_matches_the_url_in_a_caption(fake_instagram, ig):
    assert ig.find_existing(POST_URL) is None
    fake_instagram.add_media("Older post\n\nhttps://blog.example.com/older/")
    media_id = fake_instagram.add_media("Hello\n\nhttp://www.blog.example.com/2026/11/hello-world?utm_source=ig.")
    found = ig.find_existing(POST_URL)
    assert found is not None and found.remote_id == media_id and found.note == "already on Instagram"
    assert ig.find_existing("https://blog.example.com/2026/11/hello") is None


# -- tokens --------------------------------------------------------------------------------

def test_refresh_gives_a_new_token_that_the_adapter_uses(fake_instagram, ig, clock, tmp_path, cover):
    env = tmp_path / ".env"
    env.write_text(f"# mine\nINSTAGRAM_ACCOUNT_ID={ACCOUNT_ID}\nINSTAGRAM_ACCESS_TOKEN={TOKEN}\n", encoding="utf-8")
    fresh = ig.refresh_and_save(env)
    assert fresh.token.startswith("IGAAfake-REFRESHED") and fresh.expires_in == EXPIRES_IN
    assert fresh.expires == (clock() + timedelta(seconds=EXPIRES_IN)).date()
    assert fresh.token not in repr(fresh)
    assert env.read_text() == (f"# mine\nINSTAGRAM_ACCOUNT_ID={ACCOUNT_ID}\nINSTAGRAM_ACCESS_TOKEN={fresh.token}\n"
                               f"INSTAGRAM_TOKEN_EXPIRES={fresh.expires.isoformat()}\n")
    (call,) = fake_instagram.requests
    assert call.path.startswith("/refresh_access_token?") and "grant_type=ig_refresh_token" in call.path
    ig.publish(message(cover))                                  # the old token is gone; the new one works
    assert fake_instagram.requests[-1].headers["authorization"] == f"Bearer {fresh.token}"


def test_a_call_refused_while_the_token_is_renewed_is_asked_again_with_the_new_one(fake_instagram, clock):
    """Instagram drops the old token when it answers the refresh, a moment before the adapter holds
    the new one: a call refused in that gap (the service verifies while its token job runs) waits
    for the swap and is asked again, instead of failing the network's credentials."""
    verified = threading.Event()

    def refresh_clock():
        if threading.current_thread().name == "token-job":
            verified.wait(0.5)          # the refresh has its answer and has not swapped the token yet
        return clock()

    ig = InstagramPlatform(account_id=ACCOUNT_ID, access_token=TOKEN, base_url=fake_instagram.base_url,
                           timeout=5.0, clock=refresh_clock)
    job = threading.Thread(target=ig.refresh_token, name="token-job")
    job.start()
    try:
        wait_for(lambda: TOKEN not in fake_instagram.tokens, seconds=5)
        assert ig.verify() == f"@{USERNAME}"
    finally:
        verified.set()
        job.join(5)
    assert ig.access_token == f"{REFRESHED_PREFIX}1"
    assert [r.headers["authorization"] for r in fake_instagram.requests if "/me" in r.path] == [
        f"Bearer {TOKEN}", f"Bearer {REFRESHED_PREFIX}1"]


def test_a_refused_refresh_is_an_auth_error_without_the_token(fake_instagram, ig, tmp_path):
    fake_instagram.revoke()
    env = tmp_path / ".env"
    env.write_text(f"INSTAGRAM_ACCESS_TOKEN={TOKEN}\n")
    with pytest.raises(AuthError) as caught:
        ig.refresh_and_save(env)
    assert TOKEN not in str(caught.value) and env.read_text() == f"INSTAGRAM_ACCESS_TOKEN={TOKEN}\n"


@pytest.mark.parametrize("expires, due", [(None, True), (date(2026, 12, 20), True), (date(2026, 12, 21), False)])
def test_refresh_is_due_30_days_ahead(expires, due):
    assert instagram.refresh_due(expires, date(2026, 11, 20)) is due


def test_a_short_token_is_exchanged_and_the_account_saved(fake_instagram, clock, tmp_path):
    fake_instagram.tokens.clear()
    env = tmp_path / ".env"
    account = instagram.connect(env, SHORT_TOKEN, APP_SECRET, base_url=fake_instagram.base_url, clock=clock)
    assert account == f"@{USERNAME}"
    expires = (clock() + timedelta(seconds=EXPIRES_IN)).date().isoformat()
    assert env.read_text() == (f"INSTAGRAM_ACCOUNT_ID={ACCOUNT_ID}\nINSTAGRAM_ACCESS_TOKEN={TOKEN}\n"
                               f"INSTAGRAM_TOKEN_EXPIRES={expires}\n")
    (exchange, me) = fake_instagram.requests
    assert exchange.path.startswith("/access_token?") and "grant_type=ig_exchange_token" in exchange.path


def test_a_wrong_app_secret_is_refused_and_never_echoed(fake_instagram, clock, tmp_path):
    with pytest.raises(PermanentError) as caught:
        instagram.exchange_token(SHORT_TOKEN, "wrong-secret-value", base_url=fake_instagram.base_url, clock=clock)
    assert "client secret" in caught.value.message
    assert "wrong-secret-value" not in str(caught.value) and SHORT_TOKEN not in str(caught.value)


def test_write_token_keeps_the_rest_of_the_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text("AUTOPOST_FEEDS=https://blog.example.com/feed\nINSTAGRAM_ACCESS_TOKEN=old\n")
    instagram.write_token(env, "IGAAnew", date(2027, 1, 19))
    assert env.read_text() == ("AUTOPOST_FEEDS=https://blog.example.com/feed\nINSTAGRAM_ACCESS_TOKEN=IGAAnew\n"
                               "INSTAGRAM_TOKEN_EXPIRES=2027-01-19\n")


# -- error mapping -------------------------------------------------------------------------

@pytest.mark.parametrize("code, subcode, status, expected", [
    (190, 463, 400, AuthError),
    (10, None, 400, AuthError),
    (200, None, 403, AuthError),
    (25, 2207050, 400, AuthError),
    (4, None, 400, RateLimited),
    (17, None, 400, RateLimited),
    (32, None, 400, RateLimited),
    (613, None, 400, RateLimited),
    (9, 2207042, 400, RateLimited),
    (4, 2207051, 400, PermanentError),                 # spam restriction: not a throttle
    (9004, 2207052, 400, PermanentError),
    (36001, 2207005, 400, PermanentError),
    (36003, 2207009, 400, PermanentError),
    (36000, 2207004, 400, PermanentError),
    (352, 2207026, 400, PermanentError),
    (100, None, 400, PermanentError),
    (-2, 2207003, 400, TransientError),
    (-1, 2207001, 400, TransientError),
    (1, None, 400, TransientError),
    (2, None, 500, TransientError),
    (9007, 2207027, 400, TransientError),
])
def test_graph_errors_are_mapped_by_code(fake_instagram, ig, code, subcode, status, expected):
    fake_instagram.fail_next(code, subcode, http_status=status, message=f"Fake words for {code} ({TOKEN})")
    with pytest.raises(expected) as caught:
        ig.publishing_limit()
    assert type(caught.value) is expected or (expected is TransientError and isinstance(caught.value, TransientError))
    assert f"Fake words for {code}" in caught.value.message and caught.value.code == code
    assert TOKEN not in str(caught.value)


def test_throttling_waits_for_the_time_meta_names(fake_instagram, ig, clock):
    fake_instagram.fail_next(4, headers={"X-Business-Use-Case-Usage":
                                         '{"1784": [{"type": "instagram", "estimated_time_to_regain_access": 7}]}'})
    with pytest.raises(RateLimited) as caught:
        ig.publishing_limit()
    assert caught.value.retry_at == clock() + timedelta(minutes=7)


@pytest.mark.parametrize("steer, expected", [
    (lambda f: f.garbage_next(), TransientError),
    (lambda f: f.html_next(502), TransientError),
    (lambda f: f.html_next(500), TransientError),
    (lambda f: f.html_next(401), AuthError),
    (lambda f: f.hang_next(), TransientError),
])
def test_garbage_html_and_hangs_are_transient(fake_instagram, clock, steer, expected):
    ig = adapter(fake_instagram, clock, timeout=0.5)
    steer(fake_instagram)
    with pytest.raises(expected):
        ig.verify()


def test_a_429_without_a_body_is_rate_limited(fake_instagram, ig, clock):
    fake_instagram.garbage_next(429)
    with pytest.raises(RateLimited) as caught:
        ig.verify()
    assert caught.value.retry_at == clock() + timedelta(hours=1)


def test_no_token_in_logs_or_repr(fake_instagram, ig, cover, caplog):
    from bot.logs import NOISY_LOGGERS

    # The two token endpoints take the token in their URL (Meta documents only that form);
    # urllib3 logs URLs at DEBUG, and the service keeps it at WARNING.
    assert "urllib3" in NOISY_LOGGERS
    with caplog.at_level(logging.DEBUG, logger="bot"):
        ig.publish(message(cover))
        fake_instagram.fail_next(190, 463, message=f"Error validating access token {TOKEN}")
        with pytest.raises(AuthError):
            ig.verify()
        ig.refresh_token()
    assert TOKEN not in caplog.text and TOKEN not in repr(ig) and "****" in repr(ig)
    assert ig.access_token not in caplog.text


def test_the_container_is_handed_over_before_anything_is_published(fake_instagram, ig, cover):
    """A crash while delivery records the container id (here: the callback dies) posts nothing."""
    class Killed(Exception):
        pass

    def crash(container_id):
        assert fake_instagram.containers[container_id]["state"] == "IN_PROGRESS"
        raise Killed

    with pytest.raises(Killed):
        ig.publish(message(cover), on_container=crash)
    assert fake_instagram.media == [] and len(fake_instagram.containers) == 1
    assert not any(r.path.endswith("/media_publish") for r in fake_instagram.requests)


@pytest.mark.parametrize("status, expected", [
    ("ERROR: 2207001 Instagram server error", TransientError),
    ("ERROR: 2207052 The media could not be fetched from this URI", PermanentError),
])
def test_a_container_that_fails_at_once(fake_instagram, ig, cover, status, expected):
    def broken(container_id):
        fake_instagram.break_container(container_id, status)

    with pytest.raises(expected) as caught:
        ig.publish(message(cover), on_container=broken)
    assert type(caught.value) is expected
    assert status.split()[1] in caught.value.message and fake_instagram.media == []


def test_a_container_instagram_forgot_is_settled_by_the_accounts_media(fake_instagram, ig, cover):
    earlier = fake_instagram.add_media(f"Hello\n\n{POST_URL}")
    assert ig.resume("18999999999999999", message(cover)).remote_id == earlier
    assert len(fake_instagram.media) == 1

    other = message(cover, post_url="https://blog.example.com/other/")
    published = ig.resume("18999999999999998", other)
    assert len(fake_instagram.media) == 2 and published.remote_id == fake_instagram.media[-1]["id"]
