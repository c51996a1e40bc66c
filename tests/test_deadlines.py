"""AUTOPOST_REQUEST_TIMEOUT bounds the whole HTTP exchange, not each read.

Every case talks to a real loopback server that trickles one byte every 0.2 s,
either through the status line and headers or through the body: each read comes
in time, so only a wall-clock deadline ends the exchange. Each must end within
the timeout + 1 s.
"""
from __future__ import annotations

import time

import pytest

from bot import http
from bot.alerts import Alerter
from bot.auth import AuthFlowError
from bot.platforms.linkedin_auth import _linkedin_exchange
from bot.platforms.twitter_auth import auth_twitter
from bot.config import settings_from
from bot.feeds import FeedError, fetch
from bot.models import Message
from bot.platforms.base import PlatformError, TransientError, create_platform
from tests.fakes import facebook, linkedin, twitter
from tests.fakes.trickle import TrickleServer, trickle  # noqa: F401  (fixture)

TIMEOUT = 0.5
BOUND = TIMEOUT + 1.0


class Elapsed:
    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self.start
        return False


def test_a_trickling_feed_is_cut_off_at_its_deadline(trickle):
    trickle.content_type = "application/rss+xml"
    with Elapsed() as elapsed, pytest.raises(FeedError, match="timed out after 0.5 s"):
        fetch(trickle.url("/feed.xml"), None, timeout=TIMEOUT)
    assert elapsed.seconds < BOUND
    assert trickle.requests, "the server was reached"


def test_a_trickling_tls_handshake_is_cut_off_at_its_deadline():
    # CPython bounds a whole TLS handshake by the socket timeout; this guards that the
    # handshake stays bounded (the watchdog cannot reach the socket while it is being wrapped).
    server = TrickleServer(mode="tls")
    try:
        with Elapsed() as elapsed, pytest.raises(FeedError, match="timed out after 0.5 s"):
            fetch(f"https://127.0.0.1:{server.port}/feed.xml", None, timeout=TIMEOUT)
        assert elapsed.seconds < BOUND
    finally:
        server.close()


def test_a_trickling_image_is_cut_off_at_its_deadline(trickle):
    with http.images_for("http://127.0.0.1/feed.xml"), Elapsed() as elapsed, \
            pytest.raises(http.ImageProblem, match="within 0.5 s"):
        http.download_image(http.new_session(), trickle.url("/img.png"), timeout=TIMEOUT, types=("image/png",))
    assert elapsed.seconds < BOUND


def _settings(**values):
    base = {"AUTOPOST_FEEDS": "http://127.0.0.1/feed.xml", "AUTOPOST_REQUEST_TIMEOUT": str(TIMEOUT)}
    return settings_from({**base, **values})


NETWORK_ENV = {
    "twitter": lambda url: dict(TWITTER_API_BASE=url, TWITTER_API_KEY=twitter.CREDENTIALS["api_key"],
                                TWITTER_API_SECRET=twitter.CREDENTIALS["api_secret"],
                                TWITTER_ACCESS_TOKEN=twitter.CREDENTIALS["access_token"],
                                TWITTER_ACCESS_TOKEN_SECRET=twitter.CREDENTIALS["access_token_secret"]),
    "linkedin": lambda url: dict(LINKEDIN_API_BASE=url, LINKEDIN_ACCESS_TOKEN=linkedin.TOKEN,
                                 LINKEDIN_AUTHOR=f"urn:li:person:{linkedin.MEMBER_SUB}"),
    "facebook": lambda url: dict(FACEBOOK_GRAPH_BASE=url, FACEBOOK_PAGE_ID=facebook.PAGE_ID,
                                 FACEBOOK_PAGE_TOKEN=facebook.PAGE_TOKEN),
}


@pytest.mark.parametrize("network", ["twitter", "linkedin", "facebook"])
def test_a_trickling_network_api_is_cut_off_at_its_deadline(trickle, network):
    trickle.content_type = "application/json"
    settings = _settings(AUTOPOST_PLATFORMS=network, **NETWORK_ENV[network](trickle.base_url))
    adapter = create_platform(network, settings)
    link = "https://blog.example.com/posts/hello/"
    message = Message(network=network, text=f"Hello {link}", link=link, post_url=link)
    with Elapsed() as elapsed, pytest.raises(TransientError):
        adapter.publish(message)
    assert elapsed.seconds < BOUND
    if trickle.mode == "headers":             # verify is a GET: once is enough to show it is bounded too
        with Elapsed() as elapsed, pytest.raises(PlatformError):
            adapter.verify()
        assert elapsed.seconds < BOUND


def test_a_trickling_alert_webhook_is_cut_off_at_its_deadline(trickle, caplog):
    alert = Alerter(trickle.url("/hook"), timeout=TIMEOUT)
    with Elapsed() as elapsed:
        assert alert("failed", "twitter", "https://blog.example.com/p/", "gave up") is False
    assert elapsed.seconds < BOUND
    assert "did not answer within 0.5s" in caplog.text


def test_a_trickling_oauth_token_endpoint_is_cut_off_at_its_deadline(trickle):
    with Elapsed() as elapsed, pytest.raises(AuthFlowError, match="cannot reach"):
        _linkedin_exchange(trickle.base_url, "code", "client-id", "client-secret",
                           "http://127.0.0.1:1/callback", TIMEOUT)
    assert elapsed.seconds < BOUND


def test_a_trickling_x_oauth_endpoint_is_cut_off_at_its_deadline(trickle, tmp_path):
    settings = settings_from({"AUTOPOST_FEEDS": "http://127.0.0.1/feed.xml", "AUTOPOST_REQUEST_TIMEOUT": "0.5",
                              "TWITTER_API_BASE": trickle.base_url, "TWITTER_API_KEY": "ck-1234",
                              "TWITTER_API_SECRET": "cs-1234"}, require_credentials=False)
    with Elapsed() as elapsed, pytest.raises(AuthFlowError, match="no answer in time"):
        auth_twitter(settings, tmp_path / "autopost.env", input_fn=lambda _: "", print_fn=lambda *a: None)
    assert elapsed.seconds < BOUND


def test_a_deadline_cut_inside_a_body_without_length_is_not_taken_for_a_whole_answer(trickle):
    # The cut ends a close-delimited body like a normal end: the exchange must still fail.
    with pytest.raises(http.deadline_error(0).__class__):
        with http.deadline(0.5):
            response = http.new_session().get(trickle.url("/x"), timeout=0.5, stream=True)
            for _ in response.iter_content(1):
                pass
