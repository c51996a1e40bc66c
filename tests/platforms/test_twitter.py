"""The X adapter against the fake X API over real HTTP on 127.0.0.1."""
from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import settings_from
from bot.models import Message
from bot.platforms.base import (
    AuthError,
    DuplicateError,
    PermanentError,
    RateLimited,
    TransientError,
    create_platform,
)
from bot.platforms.twitter import TwitterPlatform, from_settings
from tests.fakes.twitter import (
    CREDENTIALS,
    PNG_1PX,
    PROBLEM_CLIENT_FORBIDDEN,
    PROBLEM_CREDITS,
    PROBLEM_OAUTH1_PERMISSIONS,
    fake_x,  # noqa: F401  (the fixture)
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
POST_URL = "https://blog.example/2026/05/hello-world"


def platform_for(fake, **overrides) -> TwitterPlatform:
    options = dict(CREDENTIALS, base_url=fake.base_url, timeout=5.0, clock=lambda: NOW)
    options.update(overrides)
    return TwitterPlatform(**options)


def message(text: str = f"Hello world {POST_URL}", image_url: str | None = None) -> Message:
    return Message(network="twitter", text=text, link=POST_URL, post_url=POST_URL, image_url=image_url)


def epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


# -- success ------------------------------------------------------------------

def test_publish_posts_the_text_as_given_and_links_the_post_under_the_account(fake_x):
    text = "Hello world 👋 — “quotes” & #tags\nsecond line " + POST_URL
    published = platform_for(fake_x).publish(message(text))

    assert [post["text"] for post in fake_x.posts] == [text]
    assert fake_x.posts[0]["media_ids"] == []
    assert published.remote_id == fake_x.posts[0]["id"]
    assert published.url == f"https://x.com/{fake_x.username}/status/{published.remote_id}"
    assert all(request["signed"] for request in fake_x.requests)


def test_publish_attaches_the_image_uploaded_through_the_v2_media_endpoint(fake_x):
    platform = platform_for(fake_x, attach_image=True)
    platform.publish(message(image_url=f"{fake_x.base_url}/img/ok.png"))

    [upload] = fake_x.uploads
    assert upload["bytes"] == PNG_1PX
    assert upload["content_type"] == "image/png"
    assert upload["media_category"] == "tweet_image"
    assert fake_x.posts[0]["media_ids"] == [upload["id"]]


def test_images_are_left_alone_unless_attaching_is_switched_on(fake_x):
    platform_for(fake_x).publish(message(image_url=f"{fake_x.base_url}/img/ok.png"))

    assert fake_x.image_requests == [] and fake_x.uploads == []
    assert fake_x.posts[0]["media_ids"] == []


@pytest.mark.parametrize("image, reason", [
    ("missing.png", "404"),
    ("huge.png", "5 MB"),
    ("huge-unsized.png", "5 MB"),
    ("page.html", "text/html"),
    ("slow.png", "answer within 0.3 s"),
])
def test_an_image_that_cannot_be_used_never_costs_the_post(fake_x, caplog, image, reason):
    caplog.set_level(logging.WARNING, logger="bot.platforms.twitter")
    platform = platform_for(fake_x, attach_image=True, timeout=0.3)
    platform.verify()

    published = platform.publish(message(image_url=f"{fake_x.base_url}/img/{image}"))

    assert fake_x.uploads == []
    assert fake_x.posts[0]["media_ids"] == [] and published.remote_id == fake_x.posts[0]["id"]
    warning = next(r.getMessage() for r in caplog.records if "without the image" in r.getMessage())
    assert image in warning and reason in warning


def test_an_upload_x_refuses_never_costs_the_post(fake_x, caplog):
    caplog.set_level(logging.WARNING, logger="bot.platforms.twitter")
    fake_x.fail_next(400, {"title": "Invalid Request", "detail": "Unsupported media type.",
                           "type": "https://api.twitter.com/2/problems/invalid-request"},
                     path="/2/media/upload")

    platform_for(fake_x, attach_image=True).publish(message(image_url=f"{fake_x.base_url}/img/ok.png"))

    assert fake_x.posts[0]["media_ids"] == []
    assert "Unsupported media type." in caplog.text


def test_the_username_is_looked_up_once_and_cached(fake_x):
    platform = platform_for(fake_x)
    assert platform.verify() == f"@{fake_x.username}"
    first = platform.publish(message("one " + POST_URL))
    second = platform.publish(message("two " + POST_URL))

    assert [r["path"] for r in fake_x.requests].count("/2/users/me") == 1
    assert first.url.startswith(f"https://x.com/{fake_x.username}/status/")
    assert second.url.startswith(f"https://x.com/{fake_x.username}/status/")


def test_without_a_username_the_post_links_to_the_web_status_url(fake_x):
    fake_x.fail_next(503, path="/2/users/me")
    platform = platform_for(fake_x)

    first = platform.publish(message("one " + POST_URL))
    second = platform.publish(message("two " + POST_URL))

    assert first.url == f"https://x.com/i/web/status/{first.remote_id}"
    assert second.url == f"https://x.com/i/web/status/{second.remote_id}"
    assert [r["path"] for r in fake_x.requests].count("/2/users/me") == 1   # tried once, not per post
    assert len(fake_x.posts) == 2


# -- every failure mapped ------------------------------------------------------

@pytest.mark.parametrize("headers, expected", [
    ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": epoch(NOW + timedelta(minutes=7))},
     NOW + timedelta(minutes=7)),
    ({"x-rate-limit-remaining": "12", "x-rate-limit-reset": epoch(NOW + timedelta(minutes=7)),
      "x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": epoch(NOW + timedelta(hours=9))},
     NOW + timedelta(hours=9)),
    ({"x-rate-limit-remaining": "12", "x-rate-limit-reset": epoch(NOW + timedelta(minutes=7)),
      "x-app-limit-24hour-remaining": "0", "x-app-limit-24hour-reset": epoch(NOW + timedelta(hours=20))},
     NOW + timedelta(hours=20)),
    ({"x-rate-limit-reset": epoch(NOW + timedelta(minutes=3))}, NOW + timedelta(minutes=3)),
    ({}, NOW + timedelta(minutes=15)),
    ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": epoch(NOW - timedelta(hours=1))},
     NOW + timedelta(minutes=1)),
], ids=["15-minute", "user-24-hour", "app-24-hour", "reset-only", "no-headers", "reset-in-the-past"])
def test_429_retries_when_the_exhausted_window_reopens(fake_x, headers, expected):
    fake_x.fail_next(429, headers=headers, path="/2/tweets")

    with pytest.raises(RateLimited) as caught:
        platform_for(fake_x).publish(message())

    assert caught.value.retry_at == expected
    assert caught.value.status == 429 and "Too Many Requests" in caught.value.message
    assert fake_x.posts == []


@pytest.mark.parametrize("status, body, error, words", [
    (500, None, TransientError, "Service Unavailable"),
    (503, b"<html>over capacity</html>", TransientError, "over capacity"),
    (401, None, AuthError, "TWITTER_ACCESS_TOKEN"),
    (403, PROBLEM_OAUTH1_PERMISSIONS, AuthError,
     "regenerate the access token with Read and Write permission"),
    (403, PROBLEM_CLIENT_FORBIDDEN, AuthError, "attached to a Project"),
    (402, PROBLEM_CREDITS, AuthError, "API credits are spent"),
    (402, {"title": "Payment Required", "status": 402}, AuthError, "API credits are spent"),
    (403, dict(PROBLEM_CREDITS, status=403, title="Forbidden"), AuthError, "API credits are spent"),
    (403, {"title": "Forbidden", "type": "about:blank", "status": 403,
           "detail": "You are not permitted to perform this action."},
     PermanentError, "You are not permitted to perform this action."),
    (400, {"errors": [{"parameters": {"text": [""]}, "message": "Tweet text is too long."}],
           "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
           "type": "https://api.twitter.com/2/problems/invalid-request"},
     PermanentError, "One or more parameters to your request was invalid."),
    (404, None, PermanentError, "404"),
])
def test_each_failure_becomes_the_error_delivery_acts_on(fake_x, status, body, error, words):
    fake_x.fail_next(status, body, path="/2/tweets")

    with pytest.raises(error) as caught:
        platform_for(fake_x).publish(message())

    assert type(caught.value) is error
    assert caught.value.status == status and caught.value.platform == "twitter"
    assert words in str(caught.value)
    assert fake_x.posts == []


def test_the_same_text_twice_is_a_duplicate(fake_x):
    platform = platform_for(fake_x)
    platform.publish(message())

    with pytest.raises(DuplicateError) as caught:
        platform.publish(message())

    assert "duplicate content" in caught.value.message
    assert len(fake_x.posts) == 1


@pytest.mark.parametrize("body, status", [
    (b"<html>upstream glitch</html>", 200),
    (b"", 201),
    (b'{"data": {}}', 201),
    (b'["not", "an", "object"]', 201),
], ids=["html", "empty", "no-id", "list"])
def test_a_garbage_or_empty_2xx_is_transient_not_a_crash(fake_x, body, status):
    fake_x.garbage_next(body, status=status, path="/2/tweets")

    with pytest.raises(TransientError):
        platform_for(fake_x).publish(message())


def test_a_hanging_server_times_out_as_transient(fake_x):
    fake_x.hang_next(path="/2/tweets")

    with pytest.raises(TransientError) as caught:
        platform_for(fake_x, timeout=0.3).publish(message())

    assert "0.3 s" in caught.value.message


def test_a_closed_port_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    platform = TwitterPlatform(**CREDENTIALS, base_url=f"http://127.0.0.1:{port}", timeout=0.3)

    with pytest.raises(TransientError):
        platform.publish(message())


@pytest.mark.parametrize("wrong", ["api_key", "api_secret", "access_token", "access_token_secret"])
def test_wrong_credentials_fail_the_signature_check(fake_x, wrong):
    platform = platform_for(fake_x, **{wrong: "not-the-right-value-42"})

    with pytest.raises(AuthError) as caught:
        platform.publish(message())

    assert fake_x.requests[-1] == {"method": "POST", "path": "/2/tweets", "signed": False}
    assert "401" in caught.value.message
    assert fake_x.posts == []


def test_a_revoked_token_is_an_auth_error_until_restored(fake_x):
    platform = platform_for(fake_x)
    fake_x.revoke()
    with pytest.raises(AuthError):
        platform.verify()
    with pytest.raises(AuthError):
        platform.publish(message())

    fake_x.restore()
    assert platform.verify() == f"@{fake_x.username}"
    platform.publish(message())
    assert len(fake_x.posts) == 1


def test_rotated_credentials_work_and_the_old_ones_do_not(fake_x):
    old = platform_for(fake_x)
    fake_x.accept_credentials(access_token_secret="rotatedSecret0001")

    with pytest.raises(AuthError):
        old.publish(message("old " + POST_URL))
    platform_for(fake_x, access_token_secret="rotatedSecret0001").publish(message("new " + POST_URL))
    assert [post["text"] for post in fake_x.posts] == ["new " + POST_URL]


# -- find_existing -------------------------------------------------------------

def test_find_existing_matches_the_expanded_link_of_a_recent_post(fake_x):
    fake_x.add_existing_post("Something else https://blog.example/other")
    earlier = fake_x.add_existing_post(f"Hello world {POST_URL}/?utm_source=twitter&utm_medium=social")
    fake_x.add_existing_post("A post without links")

    found = platform_for(fake_x).find_existing(POST_URL)

    assert found is not None
    assert found.remote_id == earlier["id"]
    assert found.url == f"https://x.com/{fake_x.username}/status/{earlier['id']}"


def test_find_existing_is_none_when_nothing_links_to_the_post(fake_x):
    fake_x.add_existing_post("Something else https://blog.example/other")

    assert platform_for(fake_x).find_existing(POST_URL) is None


@pytest.mark.parametrize("status, body", [(403, PROBLEM_CLIENT_FORBIDDEN), (401, None)])
def test_find_existing_is_none_when_x_refuses_to_list_posts(fake_x, status, body):
    fake_x.add_existing_post(f"Hello world {POST_URL}")
    fake_x.fail_next(status, body, path=f"/2/users/{fake_x.user_id}/tweets")

    assert platform_for(fake_x).find_existing(POST_URL) is None


def test_find_existing_lets_a_rate_limit_through(fake_x):
    fake_x.fail_next(429, headers={"x-rate-limit-remaining": "0",
                                   "x-rate-limit-reset": epoch(NOW + timedelta(minutes=5))},
                     path=f"/2/users/{fake_x.user_id}/tweets")

    with pytest.raises(RateLimited):
        platform_for(fake_x).find_existing(POST_URL)


# -- secrets and settings -------------------------------------------------------

SIGNING_LOGGERS = ("tweepy", "tweepy.client", "oauthlib", "oauthlib.oauth1.rfc5849",
                   "requests_oauthlib", "requests_oauthlib.oauth1_auth", "urllib3")


def test_no_secret_or_signature_reaches_the_logs_even_at_debug(fake_x, caplog):
    caplog.set_level(logging.DEBUG)
    for name in SIGNING_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    platform = platform_for(fake_x, attach_image=True)
    # Building the adapter quietens them; someone setting DEBUG again afterwards must not undo that.
    for name in SIGNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)

    errors = []
    platform.verify()
    platform.publish(message(image_url=f"{fake_x.base_url}/img/ok.png"))
    platform.find_existing(POST_URL)
    for failure in (lambda: platform.publish(message()),                       # duplicate
                    lambda: platform_for(fake_x, api_secret="wrong").verify()):  # bad signature
        with pytest.raises(Exception) as caught:
            failure()
        errors.append(caught.value)

    assert "X API request: POST /2/tweets" in caplog.text        # our DEBUG lines are there
    visible = caplog.text + repr(platform) + "".join(f"{e!s}{e!r}" for e in errors)
    for secret in CREDENTIALS.values():
        assert secret not in visible
    for leak in ("oauth_signature", "oauth_consumer_key", "Authorization", "OAuth "):
        assert leak not in visible


def test_from_settings_routes_every_call_to_the_configured_base(fake_x):
    settings = settings_from({
        "AUTOPOST_FEEDS": "https://blog.example/feed.xml",
        "TWITTER_API_KEY": CREDENTIALS["api_key"],
        "TWITTER_API_SECRET": CREDENTIALS["api_secret"],
        "TWITTER_ACCESS_TOKEN": CREDENTIALS["access_token"],
        "TWITTER_ACCESS_TOKEN_SECRET": CREDENTIALS["access_token_secret"],
        "TWITTER_API_BASE": fake_x.base_url + "/",
        "TWITTER_ATTACH_IMAGE": "true",
        "AUTOPOST_REQUEST_TIMEOUT": "0.3",
    })
    platform = create_platform("twitter", settings, clock=lambda: NOW)

    assert isinstance(platform, TwitterPlatform) and platform.name == "twitter"
    assert platform.verify() == f"@{fake_x.username}"
    fake_x.hang_next(path="/2/tweets")
    with pytest.raises(TransientError):
        from_settings(settings.network("twitter"), timeout=settings.request_timeout).publish(
            message(image_url=f"{fake_x.base_url}/img/ok.png"))
    assert len(fake_x.uploads) == 1


@pytest.mark.parametrize("variable, option", [
    ("TWITTER_API_KEY", "api_key"), ("TWITTER_ACCESS_TOKEN_SECRET", "access_token_secret")])
def test_an_empty_credential_is_refused_at_construction_by_name(variable, option):
    with pytest.raises(ValueError, match=variable):
        TwitterPlatform(**dict(CREDENTIALS, **{option: ""}))
