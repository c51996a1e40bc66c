"""The Facebook Page adapter against the fake Graph API, over real HTTP on 127.0.0.1."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import ConfigError, settings_from
from bot.models import Message, Published
from bot.platforms.base import (
    AuthError,
    DuplicateError,
    PermanentError,
    RateLimited,
    TransientError,
    create_platform,
)
from bot.platforms.facebook import DEFAULT_THROTTLE_BACKOFF, FacebookPlatform, appsecret_proof
from tests.fakes.facebook import PAGE_ID, PAGE_NAME, PAGE_TOKEN, USER_ID, USER_TOKEN, FakeGraph, fake_graph  # noqa: F401

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)
APP_SECRET = "fake-APP-secret-91c0e2"
POST_URL = "https://blog.example.com/2026/11/hello-world/"
LINK = POST_URL + "?utm_source=facebook&utm_medium=social"


def message(text: str = "Hello world: a new post on the blog", link: str = LINK,
            post_url: str = POST_URL) -> Message:
    return Message(network="facebook", text=text, link=link, post_url=post_url)


def adapter(fake: FakeGraph, *, token: str = PAGE_TOKEN, app_secret: str = "",
            timeout: float = 5.0) -> FacebookPlatform:
    return FacebookPlatform(page_id=fake.page_id, page_token=token, app_secret=app_secret,
                            base_url=fake.base_url, version="v25.0", timeout=timeout,
                            clock=lambda: NOW)


@pytest.fixture
def facebook(fake_graph):
    return adapter(fake_graph)


# -- success -------------------------------------------------------------------

def test_publish_posts_text_and_link_and_returns_the_post(fake_graph, facebook):
    published = facebook.publish(message())

    assert len(fake_graph.posts) == 1
    post = fake_graph.posts[0]
    assert post["message"] == "Hello world: a new post on the blog"
    assert post["link"] == LINK
    assert published == Published(remote_id=post["id"], url=f"https://www.facebook.com/{post['id']}")
    assert published.remote_id.startswith(f"{PAGE_ID}_")

    sent = fake_graph.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"/v25.0/{PAGE_ID}/feed")
    assert sent.form["access_token"] == PAGE_TOKEN
    assert "appsecret_proof" not in sent.form


def test_publish_sends_the_text_unchanged(fake_graph, facebook):
    text = "Ünïcode & ampersands #tags\n\nsecond paragraph " + "x" * 3000
    facebook.publish(message(text=text))
    assert fake_graph.posts[0]["message"] == text


def test_verify_returns_the_page_name(fake_graph, facebook):
    assert facebook.verify() == PAGE_NAME
    paths = [(r.method, r.path) for r in fake_graph.requests]
    assert paths == [("GET", f"/v25.0/{PAGE_ID}?fields=name"), ("GET", "/v25.0/me?fields=id")]
    assert all(r.headers["authorization"] == f"Bearer {PAGE_TOKEN}" for r in fake_graph.requests)


def test_from_settings_builds_the_adapter(fake_graph):
    settings = settings_from({
        "AUTOPOST_FEEDS": "https://blog.example.com/feed.xml",
        "FACEBOOK_PAGE_ID": PAGE_ID,
        "FACEBOOK_PAGE_TOKEN": PAGE_TOKEN,
        "FACEBOOK_GRAPH_BASE": fake_graph.base_url + "/",
        "FACEBOOK_GRAPH_VERSION": "v25.0",
    })
    platform = create_platform("facebook", settings, clock=lambda: NOW)
    assert platform.name == "facebook"
    assert platform.verify() == PAGE_NAME
    assert fake_graph.requests[0].path.startswith("/v25.0/")


@pytest.mark.parametrize("page_id, token, variable", [
    ("", PAGE_TOKEN, "FACEBOOK_PAGE_ID"),
    (PAGE_ID, "  ", "FACEBOOK_PAGE_TOKEN"),
])
def test_missing_credentials_fail_at_construction(page_id, token, variable):
    with pytest.raises(ConfigError) as caught:
        FacebookPlatform(page_id=page_id, page_token=token)
    assert caught.value.variable == variable


def test_repr_masks_secrets(fake_graph):
    text = repr(adapter(fake_graph, app_secret=APP_SECRET))
    assert PAGE_TOKEN not in text and APP_SECRET not in text
    assert "****" in text and PAGE_ID in text


# -- every error code mapped ------------------------------------------------------

ERROR_TABLE = [
    # code, subcode, http status, is_transient, expected exception
    (190, 460, 400, None, AuthError),          # password changed
    (190, 463, 400, None, AuthError),          # expired
    (190, None, 400, None, AuthError),
    (102, None, 400, None, AuthError),
    (10, None, 403, None, AuthError),
    (200, None, 403, None, AuthError),
    (230, None, 400, None, AuthError),
    (299, None, 400, None, AuthError),
    (506, None, 400, None, DuplicateError),
    (368, 1390008, 400, None, PermanentError),
    (1, None, 500, None, TransientError),
    (2, None, 503, True, TransientError),
    (2, None, 400, None, TransientError),
    (1234, None, 400, True, TransientError),   # unknown code, but Graph says it is transient
    (1234, None, 502, None, TransientError),   # unknown code on a 5xx
    (4, None, 400, None, RateLimited),
    (17, None, 400, None, RateLimited),
    (32, None, 400, None, RateLimited),
    (341, None, 400, None, RateLimited),
    (613, None, 400, None, RateLimited),
    (80001, 2446079, 400, None, RateLimited),
    (100, None, 400, None, PermanentError),
    (1609005, None, 400, None, TransientError),  # "Error Posting Link": the scraper could not fetch it yet
    (100, 1609005, 400, None, TransientError),
    (1234, None, 400, None, PermanentError),   # unknown → permanent
]


@pytest.mark.parametrize("code, subcode, status, transient, expected", ERROR_TABLE)
def test_publish_maps_graph_error_codes(fake_graph, facebook, code, subcode, status, transient, expected):
    fake_graph.fail_next(code, subcode=subcode, http_status=status, is_transient=transient)
    with pytest.raises(expected) as caught:
        facebook.publish(message())
    error = caught.value
    assert type(error) is expected
    assert error.platform == "facebook"
    assert error.code == code
    assert error.status == status
    assert fake_graph.posts == []


def test_auth_error_carries_facebooks_user_message_and_what_to_do(fake_graph, facebook):
    fake_graph.fail_next(190, subcode=460, user_msg="Your session has expired. Please log in again.")
    with pytest.raises(AuthError) as caught:
        facebook.publish(message())
    text = str(caught.value)
    assert "Your session has expired. Please log in again." in text
    assert "password" in text and "FACEBOOK_PAGE_TOKEN" in text


def test_permission_error_names_the_permissions(fake_graph, facebook):
    fake_graph.fail_next(200, http_status=403)
    with pytest.raises(AuthError) as caught:
        facebook.publish(message())
    assert "pages_manage_posts" in str(caught.value)


def test_unknown_error_keeps_message_and_fbtrace_id(fake_graph, facebook):
    fake_graph.fail_next(4242, message="(#4242) Something odd happened")
    with pytest.raises(PermanentError) as caught:
        facebook.publish(message())
    assert "(#4242) Something odd happened" in str(caught.value)
    assert "AbCfake4242" in str(caught.value)


def test_revoked_token_then_restored(fake_graph, facebook):
    fake_graph.revoke(subcode=460)
    with pytest.raises(AuthError):
        facebook.verify()
    with pytest.raises(AuthError):
        facebook.publish(message())
    fake_graph.restore()
    assert facebook.verify() == PAGE_NAME
    facebook.publish(message())
    assert len(fake_graph.posts) == 1


def test_duplicate_names_the_earlier_post_when_found(fake_graph, facebook):
    earlier = fake_graph.add_post(LINK, "Hello world")
    fake_graph.fail_next(506)
    with pytest.raises(DuplicateError) as caught:
        facebook.publish(message())
    assert caught.value.remote_id == earlier
    assert caught.value.remote_url == f"https://www.facebook.com/{earlier}"


def test_duplicate_without_earlier_post_still_duplicate(fake_graph, facebook):
    fake_graph.fail_next(506)
    with pytest.raises(DuplicateError) as caught:
        facebook.publish(message())
    assert caught.value.remote_id is None


# -- throttling ----------------------------------------------------------------

def test_throttle_honours_estimated_time_to_regain_access(fake_graph, facebook):
    usage = {PAGE_ID: [{"type": "pages", "call_count": 100, "total_cputime": 12, "total_time": 20,
                        "estimated_time_to_regain_access": 19}]}
    fake_graph.fail_next(80001, headers={"X-Business-Use-Case-Usage": json.dumps(usage),
                                         "X-App-Usage": '{"call_count":5,"total_cputime":1,"total_time":1}'})
    with pytest.raises(RateLimited) as caught:
        facebook.publish(message())
    assert caught.value.retry_at == NOW + timedelta(minutes=19)


def test_throttle_takes_the_longest_estimate(fake_graph, facebook):
    usage = {PAGE_ID: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}],
             "555": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 42}]}
    fake_graph.fail_next(32, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    with pytest.raises(RateLimited) as caught:
        facebook.publish(message())
    assert caught.value.retry_at == NOW + timedelta(minutes=42)


@pytest.mark.parametrize("headers", [
    {},
    {"X-App-Usage": '{"call_count":100,"total_cputime":30,"total_time":40}'},
    {"X-Business-Use-Case-Usage": "not json"},
    {"X-Business-Use-Case-Usage": json.dumps({PAGE_ID: [{"type": "pages", "call_count": 100,
                                                         "estimated_time_to_regain_access": 0}]})},
])
def test_throttle_without_estimate_backs_off_by_default(fake_graph, facebook, headers):
    fake_graph.fail_next(4, headers=headers)
    with pytest.raises(RateLimited) as caught:
        facebook.publish(message())
    assert caught.value.retry_at == NOW + DEFAULT_THROTTLE_BACKOFF


def test_plain_429_without_error_body_is_rate_limited(fake_graph, facebook):
    fake_graph.garbage_next(http_status=429)
    with pytest.raises(RateLimited) as caught:
        facebook.publish(message())
    assert caught.value.retry_at == NOW + DEFAULT_THROTTLE_BACKOFF


# -- transport failures -----------------------------------------------------------

def test_hang_is_transient(fake_graph):
    fake_graph.hang_next()
    with pytest.raises(TransientError) as caught:
        adapter(fake_graph, timeout=0.3).publish(message())
    assert "did not answer" in str(caught.value)


@pytest.mark.parametrize("status", [200, 502])
def test_garbage_body_is_transient(fake_graph, facebook, status):
    fake_graph.garbage_next(http_status=status)
    with pytest.raises(TransientError):
        facebook.publish(message())


def test_unreachable_graph_is_transient():
    fake = FakeGraph()
    base = fake.base_url
    fake.close()
    platform = FacebookPlatform(page_id=PAGE_ID, page_token=PAGE_TOKEN, base_url=base, timeout=2)
    with pytest.raises(TransientError):
        platform.verify()


# -- appsecret_proof ---------------------------------------------------------------

def test_appsecret_proof_is_hmac_sha256_of_the_token():
    expected = hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert appsecret_proof(PAGE_TOKEN, APP_SECRET) == expected


def test_appsecret_proof_accepted_on_every_call():
    fake = FakeGraph(app_secret=APP_SECRET)
    try:
        platform = adapter(fake, app_secret=APP_SECRET)
        published = platform.publish(message())
        assert platform.verify() == PAGE_NAME
        assert platform.find_existing(POST_URL) == Published(
            remote_id=published.remote_id, url=published.url, note="already on the Page")
        proof = appsecret_proof(PAGE_TOKEN, APP_SECRET)
        assert all(r.form.get("appsecret_proof") == proof for r in fake.requests)
        # Reads go as POST with Graph's method override, so the proof stays out of the URL.
        reads = fake.requests[1:]
        assert all(r.method == "POST" and r.form["method"] == "GET" for r in reads)
    finally:
        fake.close()


@pytest.mark.parametrize("configured_secret", ["wrong-secret", ""])
def test_wrong_or_missing_appsecret_proof_is_rejected(configured_secret):
    fake = FakeGraph(app_secret=APP_SECRET)
    try:
        with pytest.raises(AuthError) as caught:
            adapter(fake, app_secret=configured_secret).publish(message())
        assert "appsecret_proof" in str(caught.value)
        assert "FACEBOOK_APP_SECRET" in str(caught.value)
        assert fake.posts == []
    finally:
        fake.close()


# -- find_existing ---------------------------------------------------------------

def test_find_existing_matches_through_the_shim(fake_graph, facebook):
    earlier = fake_graph.add_post(LINK, "Hello world")
    fake_graph.add_post("https://blog.example.com/2026/10/older/", "Older")

    found = facebook.find_existing(POST_URL)

    assert found == Published(remote_id=earlier, url=f"https://www.facebook.com/{earlier}",
                              note="already on the Page")
    sent = fake_graph.requests[-1]
    assert sent.path.startswith(f"/v25.0/{PAGE_ID}/posts?")
    assert "attachments%7Burl%2Cunshimmed_url%7D" in sent.path and "limit=25" in sent.path


def test_find_existing_uses_unshimmed_url_when_given():
    fake = FakeGraph(unshimmed_urls=True)
    try:
        earlier = fake.add_post("http://www.blog.example.com/2026/11/hello-world?utm_campaign=x")
        assert adapter(fake).find_existing(POST_URL).remote_id == earlier
    finally:
        fake.close()


def test_find_existing_finds_what_publish_posted(fake_graph, facebook):
    published = facebook.publish(message())
    assert facebook.find_existing(POST_URL).remote_id == published.remote_id


def test_find_existing_none_when_absent(fake_graph, facebook):
    fake_graph.add_post("https://blog.example.com/2026/11/hello-world-part-2/")
    fake_graph.add_post("https://elsewhere.example.org/2026/11/hello-world/")
    fake_graph.add_post("", "a status without a link")
    assert facebook.find_existing(POST_URL) is None


def test_find_existing_maps_errors(fake_graph, facebook):
    fake_graph.fail_next(190, subcode=463)
    with pytest.raises(AuthError):
        facebook.find_existing(POST_URL)


# -- user token instead of a Page token --------------------------------------------

def test_verify_detects_a_user_token(fake_graph):
    with pytest.raises(AuthError) as caught:
        adapter(fake_graph, token=USER_TOKEN).verify()
    text = str(caught.value)
    assert "user access token" in text and "/me/accounts" in text
    assert USER_ID in text and PAGE_NAME in text
    assert USER_TOKEN not in text


def test_publish_with_a_user_token_is_an_auth_error(fake_graph):
    with pytest.raises(AuthError):
        adapter(fake_graph, token=USER_TOKEN).publish(message())
    assert fake_graph.posts == []


def test_unknown_token_is_an_auth_error(fake_graph):
    with pytest.raises(AuthError):
        adapter(fake_graph, token="EAAG-not-a-real-token").verify()


# -- secrets stay out of URLs, logs and messages ----------------------------------------

def _exercise_everything(platform: FacebookPlatform, fake: FakeGraph) -> list[str]:
    """Run every operation and failure; return the text of every error raised."""
    texts = []
    platform.publish(message())
    platform.verify()
    platform.find_existing(POST_URL)
    for code in (190, 200, 506, 368, 2, 4, 80001, 4242):
        fake.fail_next(code, message=f"(#{code}) echoing {PAGE_TOKEN} back")
        try:
            platform.publish(message())
        except Exception as exc:     # noqa: BLE001 - collecting every message
            texts.append(str(exc))
            texts.append(repr(exc))
    fake.garbage_next()
    try:
        platform.verify()
    except Exception as exc:         # noqa: BLE001
        texts.append(str(exc))
    return texts


@pytest.mark.parametrize("app_secret", ["", APP_SECRET])
def test_no_secret_in_any_url_log_or_message(caplog, app_secret):
    fake = FakeGraph(app_secret=app_secret or None)
    caplog.set_level(logging.DEBUG)          # urllib3 included: it logs every request line
    # by name too: logging set up by an earlier test in the process (bot.logs) holds urllib3 at WARNING
    caplog.set_level(logging.DEBUG, logger="urllib3")
    try:
        platform = adapter(fake, app_secret=app_secret)
        texts = _exercise_everything(platform, fake)
    finally:
        fake.close()

    secrets = [PAGE_TOKEN] + ([APP_SECRET, appsecret_proof(PAGE_TOKEN, APP_SECRET)] if app_secret else [])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST" in logged and "127.0.0.1" in logged      # the log really was captured
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for secret in secrets:
        assert secret not in logged
        assert all(secret not in r.path for r in fake.requests)
        assert all(secret not in text for text in texts)
    assert len(texts) == 17
