"""A feed on a public address cannot lead autopost into the owner's private network (SSRF).

The tests cannot use a public address, so they change what the machine's DNS would
say, and only that: ``http.NETWORK.resolve`` answers a public address
(93.184.215.14) for ``blog.example``, and ``http.NETWORK.dial`` routes that address
to the loopback feed server, as a NAT in front of a real blog would. The guard sees
exactly what it sees in production, a public address for the blog and whatever its
redirects and images name, and judges that. Names that resolve into private space
(``intranet.example`` → 10.0.0.5) must be refused before anything is dialled.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot import http
from bot.feeds import FeedError, fetch
from tests.conftest import network_env, run_cli, write_env
from tests.fakes.feed import rss_feed

PUBLIC = "93.184.215.14"


@pytest.fixture
def public_blog(monkeypatch):
    """blog.example resolves to a public address that is routed to 127.0.0.1; intranet.example to 10.0.0.5."""
    dialled: list[str] = []
    real_resolve, real_dial = http.NETWORK.resolve, http.NETWORK.dial

    def resolve(host: str, port: int) -> list[str]:
        return {"blog.example": [PUBLIC], "intranet.example": ["10.0.0.5"]}.get(host) or real_resolve(host, port)

    def dial(address: str, port: int, *args):
        dialled.append(address)
        return real_dial("127.0.0.1" if address == PUBLIC else address, port, *args)

    monkeypatch.setattr(http.NETWORK, "resolve", resolve)
    monkeypatch.setattr(http.NETWORK, "dial", dial)
    return dialled


def public_url(feed_server, path: str = "/feed.xml") -> str:
    return feed_server.url(path).replace("127.0.0.1", "blog.example")


def test_a_public_feed_is_fetched(feed_server, public_blog):
    feed_server.serve("/feed.xml", b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    assert fetch(public_url(feed_server), None, timeout=2).status == 200
    assert public_blog == [PUBLIC]


def test_a_public_feed_redirecting_to_loopback_is_refused_naming_feed_and_address(feed_server, public_blog):
    feed_server.redirect("/feed.xml", feed_server.url("/internal-admin"))
    feed_server.serve("/internal-admin", b"<rss version='2.0'><channel><title>secret</title></channel></rss>")
    url = public_url(feed_server)
    with pytest.raises(FeedError) as caught:
        fetch(url, None, timeout=2)
    message = str(caught.value)
    assert "127.0.0.1" in message and "loopback" in message and url in message
    assert feed_server.requests_to("/internal-admin") == []


def test_a_name_resolving_into_a_private_network_is_never_dialled(feed_server, public_blog):
    port = feed_server.url().split(":")[2].split("/")[0]
    feed_server.redirect("/feed.xml", f"http://intranet.example:{port}/admin")
    with pytest.raises(FeedError, match=r"10\.0\.0\.5, a private address"):
        fetch(public_url(feed_server), None, timeout=2)
    assert "10.0.0.5" not in public_blog


def test_allow_private_networks_lets_the_redirect_through(feed_server, public_blog):
    feed_server.redirect("/feed.xml", feed_server.url("/internal-admin"))
    feed_server.serve("/internal-admin", b"<rss version='2.0'><channel><title>ok</title></channel></rss>")
    result = fetch(public_url(feed_server), None, timeout=2, allow_private_networks=True)
    assert result.status == 200 and b"ok" in result.body


def test_a_feed_configured_on_loopback_may_redirect_on_loopback(feed_server):
    feed_server.redirect("/feed.xml", "/moved.xml")
    feed_server.serve("/moved.xml", b"<rss version='2.0'><channel><title>lan</title></channel></rss>")
    assert fetch(feed_server.url(), None, timeout=2).status == 200


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.1.1", "private"),
    ("172.16.0.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("fd12:3456::1", "unique-local"), ("::ffff:127.0.0.1", "loopback"), ("0.0.0.0", "reserved"),
    ("100.64.0.1", "private"), ("93.184.215.14", None), ("2606:4700::1111", None),
])
def test_address_kinds(address, kind):
    assert http.address_kind(address) == kind


def test_an_image_on_loopback_named_by_a_public_feed_is_not_fetched(feed_server, public_blog):
    feed_server.serve("/img.png", b"\x89PNG fake", content_type="image/png")
    with http.images_for(public_url(feed_server)), pytest.raises(http.ImageProblem, match="loopback"):
        http.download_image(http.new_session(), feed_server.url("/img.png"), timeout=2, types=("image/png",))
    assert feed_server.requests_to("/img.png") == []
    with http.images_for(feed_server.url()):             # the same image, named by a loopback feed
        assert http.download_image(http.new_session(), feed_server.url("/img.png"), timeout=2,
                                   types=("image/png",))[0] == b"\x89PNG fake"


def test_end_to_end_a_public_feeds_loopback_image_is_never_uploaded(tmp_path, feed_server, public_blog,
                                                                     fake_linkedin):
    feed_server.serve("/img.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, content_type="image/png")
    item = {"title": "Hello", "link": "https://blog.example.com/1/", "guid": "1",
            "pubDate": datetime.now(timezone.utc) - timedelta(minutes=2), "description": "Hi.",
            "image": feed_server.url("/img.png")}
    feed_server.serve("/feed.xml", rss_feed([item]))
    env = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=public_url(feed_server),
                        AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1",
                        **network_env(fake_linkedin=fake_linkedin)))
    result = run_cli("--env-file", env, "poll")
    assert result.code == 0, result
    [post] = fake_linkedin.posts
    assert "thumbnail" not in post["content"]["article"]
    assert feed_server.requests_to("/img.png") == []
    assert "127.0.0.1" in result.err and "loopback" in result.err


def test_every_checked_address_is_tried_in_turn(feed_server, monkeypatch):
    # A name whose first address does not answer (IPv6 without a route, a dead mirror) still works.
    feed_server.serve("/feed.xml", b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    tried = []
    real_dial = http.NETWORK.dial

    def dial(address, port, *args):
        tried.append(address)
        if address == "127.0.0.2":
            raise ConnectionRefusedError(111, "Connection refused")
        return real_dial(address, port, *args)

    monkeypatch.setattr(http.NETWORK, "resolve", lambda host, port: ["127.0.0.2", "127.0.0.1"])
    monkeypatch.setattr(http.NETWORK, "dial", dial)
    assert fetch(feed_server.url(), None, timeout=2).status == 200
    assert tried == ["127.0.0.2", "127.0.0.1"]


def test_check_follows_allow_private_networks_as_the_service_does(tmp_path, feed_server, public_blog):
    """A feed the service may poll (redirected into the LAN, allowed) is one `check` reports OK,
    also when the ledger knows it and check asks conditionally."""
    feed_server.redirect("/feed.xml", feed_server.url("/internal.xml"))
    feed_server.serve("/internal.xml", rss_feed([{"title": "Hello", "link": "https://blog.example.com/hello/"}]))
    env = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=public_url(feed_server),
                        AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_ALLOW_PRIVATE_NETWORKS="true"))
    assert run_cli("--env-file", env, "poll").code == 0
    result = run_cli("--env-file", env, "check")
    assert "refused" not in result.out, result.out
    assert f"feed {public_url(feed_server)}: OK" in result.out
