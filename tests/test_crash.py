"""A service killed with SIGKILL in the middle of posting: restart, and every network has the post once."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import wait_for, network_env, run_cli, write_env
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)
OLD = {"title": "Old article", "link": "https://blog.example.com/old/", "guid": "old",
       "pubDate": NOW - timedelta(hours=5), "description": "Old."}
NEW = {"title": "Crash-proof article", "link": "https://blog.example.com/new/", "guid": "new",
       "pubDate": NOW - timedelta(minutes=5), "description": "New."}



def posted_to(fake_x, fake_linkedin, fake_graph) -> dict[str, bool]:
    return {
        "twitter": any(r["method"] == "POST" and r["path"] == "/2/tweets" for r in fake_x.requests),
        "linkedin": any(m == "POST" and p.startswith("/rest/posts") for m, p in fake_linkedin.requests),
        "facebook": any(r.method == "POST" and r.path.endswith("/feed") for r in fake_graph.requests),
    }


@pytest.fixture
def env_file(tmp_path, feed_server, fake_x, fake_linkedin, fake_graph):
    feed_server.serve("/feed.xml", rss_feed([OLD]))
    path = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                         AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1",
                         AUTOPOST_REQUEST_TIMEOUT="30",
                         **network_env(fake_x, fake_linkedin, fake_graph)))
    assert run_cli("--env-file", path, "poll").code == 0          # first sight: nothing posted
    return path


def test_kill_while_every_network_holds_the_request(env_file, feed_server, fake_x, fake_linkedin, fake_graph):
    service = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, "run"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Let start-up verification through, then hold the next post request on every network.
        wait_for(lambda: fake_graph.requests and fake_linkedin.requests and fake_x.requests)
        time.sleep(0.3)
        fake_x.hang_next(path="/2/tweets")
        fake_linkedin.hang_next(path="/rest/posts")
        fake_graph.hang_next()
        feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))
        wait_for(lambda: all(posted_to(fake_x, fake_linkedin, fake_graph).values()))
    finally:
        service.send_signal(signal.SIGKILL)
        service.communicate(timeout=10)
    assert (fake_x.posts, fake_linkedin.posts, fake_graph.posts) == ([], [], [])

    result = run_cli("--env-file", env_file, "poll")                # restart: recover, then deliver
    assert result.code == 0, result.out + result.err
    assert len(fake_x.posts) == len(fake_linkedin.posts) == len(fake_graph.posts) == 1
    again = run_cli("--env-file", env_file, "poll")
    assert again.code == 0
    assert len(fake_x.posts) == len(fake_linkedin.posts) == len(fake_graph.posts) == 1
    story = json.loads(run_cli("--env-file", env_file, "status", "--json", "https://blog.example.com/new/").out)
    deliveries = {d["platform"]: d for d in story["posts"][0]["deliveries"]}
    assert {p: d["state"] for p, d in deliveries.items()} == {"twitter": "sent", "linkedin": "sent",
                                                              "facebook": "sent"}
    assert deliveries["twitter"]["remote_id"] == fake_x.posts[0]["id"]
    assert deliveries["linkedin"]["remote_id"] == fake_linkedin.posts[0]["id"]
    assert deliveries["facebook"]["remote_id"] == fake_graph.posts[0]["id"]
    assert any("crash" in a["detail"] for a in story["posts"][0]["attempts"])


def test_kill_after_every_network_accepted_but_before_the_ledger_knew(
        tmp_path, feed_server, fake_x, fake_linkedin, fake_graph):
    from tests.fakes.holding_proxy import HoldingProxy

    proxies = {name: HoldingProxy(fake.base_url) for name, fake in
               (("twitter", fake_x), ("linkedin", fake_linkedin), ("facebook", fake_graph))}
    try:
        values = network_env(fake_x, fake_linkedin, fake_graph)
        values.update(TWITTER_API_BASE=proxies["twitter"].base_url, LINKEDIN_API_BASE=proxies["linkedin"].base_url,
                      FACEBOOK_GRAPH_BASE=proxies["facebook"].base_url)
        feed_server.serve("/feed.xml", rss_feed([OLD]))
        env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                                 AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1", **values))
        assert run_cli("--env-file", env_file, "poll").code == 0
        proxies["twitter"].hold(lambda method, path: method == "POST" and path == "/2/tweets")
        proxies["linkedin"].hold(lambda method, path: method == "POST" and path.startswith("/rest/posts"))
        proxies["facebook"].hold(lambda method, path: method == "POST" and path.endswith("/feed"))
        service = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, "run"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))
            wait_for(lambda: all(proxy.held for proxy in proxies.values()))
        finally:
            service.send_signal(signal.SIGKILL)
            service.communicate(timeout=10)
        # Every network has the post; the ledger still says "sending".
        assert len(fake_x.posts) == len(fake_linkedin.posts) == len(fake_graph.posts) == 1

        result = run_cli("--env-file", env_file, "poll")
        assert result.code == 0, result.out + result.err
        assert len(fake_x.posts) == len(fake_linkedin.posts) == len(fake_graph.posts) == 1
        story = json.loads(run_cli("--env-file", env_file, "status", "--json",
                                   "https://blog.example.com/new/").out)["posts"][0]
        deliveries = {d["platform"]: d for d in story["deliveries"]}
        assert {p: d["state"] for p, d in deliveries.items()} == {"twitter": "sent", "linkedin": "sent",
                                                                  "facebook": "sent"}
        assert deliveries["twitter"]["remote_id"] == fake_x.posts[0]["id"]
        assert deliveries["linkedin"]["remote_id"] == fake_linkedin.posts[0]["id"]
        assert deliveries["facebook"]["remote_id"] == fake_graph.posts[0]["id"]
    finally:
        for proxy in proxies.values():
            proxy.close()


# --------------------------------------------------------------------------- Bluesky

def _bluesky_env(tmp_path, feed_server, pds_base_url: str, fake_pds) -> str:
    from tests.conftest import network_env

    values = {**network_env(fake_pds=fake_pds), "BLUESKY_PDS": pds_base_url}
    feed_server.serve("/feed.xml", rss_feed([OLD]))
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1",
                             AUTOPOST_REQUEST_TIMEOUT="30", **values))
    assert run_cli("--env-file", env_file, "poll").code == 0          # first sight: nothing posted
    return env_file


def _bluesky_story(env_file: str) -> dict:
    story = json.loads(run_cli("--env-file", env_file, "status", "--json", "https://blog.example.com/new/").out)
    return story["posts"][0]


def test_bluesky_killed_before_the_pds_accepts_posts_once(tmp_path, feed_server, fake_pds):
    env_file = _bluesky_env(tmp_path, feed_server, fake_pds.base_url, fake_pds)
    service = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, "run"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: fake_pds.calls("com.atproto.server.getSession"))     # start-up verification
        fake_pds.hang_next("com.atproto.repo.createRecord")                   # never reaches the repository
        feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))
        wait_for(lambda: fake_pds.calls("com.atproto.repo.createRecord"))
    finally:
        service.send_signal(signal.SIGKILL)
        service.communicate(timeout=10)
    assert fake_pds.records == {}

    result = run_cli("--env-file", env_file, "poll")                    # restart: recover, then deliver
    assert result.code == 0, result.out + result.err
    assert run_cli("--env-file", env_file, "poll").code == 0
    (record,) = fake_pds.records.values()
    assert record["value"]["embed"]["external"]["uri"] == "https://blog.example.com/new/"
    story = _bluesky_story(env_file)
    (delivery,) = story["deliveries"]
    assert (delivery["state"], delivery["remote_id"]) == ("sent", record["uri"])
    assert any("crash" in a["detail"] for a in story["attempts"])


def _kill_once_held(env_file: str, proxy, publish_new) -> None:
    """Run the service, publish a new entry, and SIGKILL the service once the proxy holds the
    network's answer: the network acted and autopost never heard back."""
    service = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", env_file, "run"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        publish_new()
        wait_for(lambda: proxy.held)
    finally:
        service.send_signal(signal.SIGKILL)
        service.communicate(timeout=10)


def test_bluesky_killed_after_the_pds_accepted_posts_once(tmp_path, feed_server, fake_pds):
    from tests.fakes.holding_proxy import HoldingProxy

    proxy = HoldingProxy(fake_pds.base_url)
    try:
        env_file = _bluesky_env(tmp_path, feed_server, proxy.base_url, fake_pds)
        proxy.hold(lambda method, path: method == "POST" and path.endswith("/com.atproto.repo.createRecord"))
        _kill_once_held(env_file, proxy, lambda: feed_server.serve("/feed.xml", rss_feed([NEW, OLD])))
        # Bluesky has the post; the ledger still says "sending".
        assert len(fake_pds.records) == 1

        result = run_cli("--env-file", env_file, "poll")
        assert result.code == 0, result.out + result.err
        assert run_cli("--env-file", env_file, "poll").code == 0
        (record,) = fake_pds.records.values()
        (delivery,) = _bluesky_story(env_file)["deliveries"]
        assert (delivery["state"], delivery["remote_id"]) == ("sent", record["uri"])
        assert len(fake_pds.calls("com.atproto.repo.createRecord")) == 1       # found, not sent again
    finally:
        proxy.close()


def test_bluesky_killed_after_the_pds_accepted_and_unreadable_on_restart_posts_once(
        tmp_path, feed_server, fake_pds):
    """The lookup fails on restart: the record key makes the blind retry safe (rejects_duplicates)."""
    from tests.fakes.holding_proxy import HoldingProxy

    proxy = HoldingProxy(fake_pds.base_url)
    try:
        env_file = _bluesky_env(tmp_path, feed_server, proxy.base_url, fake_pds)
        proxy.hold(lambda method, path: method == "POST" and path.endswith("/com.atproto.repo.createRecord"))
        _kill_once_held(env_file, proxy, lambda: feed_server.serve("/feed.xml", rss_feed([NEW, OLD])))
        assert len(fake_pds.records) == 1
        fake_pds.fail_next(503, None, nsid="com.atproto.repo.getRecord")     # recovery cannot look

        result = run_cli("--env-file", env_file, "poll")
        assert result.code == 0, result.out + result.err
        (record,) = fake_pds.records.values()
        (delivery,) = _bluesky_story(env_file)["deliveries"]
        assert (delivery["state"], delivery["remote_id"]) == ("sent", record["uri"])
        assert len(fake_pds.calls("com.atproto.repo.createRecord")) == 2       # refused: the key is taken
    finally:
        proxy.close()


# --------------------------------------------------------------------------- Instagram

def _instagram_env(tmp_path, feed_server, graph_base: str, fake_instagram) -> str:
    from tests.fakes.instagram import jpeg

    feed_server.serve("/cover.jpg", jpeg(1080, 1080), content_type="image/jpeg")
    feed_server.serve("/feed.xml", rss_feed([OLD]))
    values = network_env(fake_instagram=fake_instagram)
    values["INSTAGRAM_GRAPH_BASE"] = graph_base
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_POLL_INTERVAL="1", **values))
    assert run_cli("--env-file", env_file, "poll").code == 0
    return env_file


@pytest.mark.parametrize("held", ["status", "publish"])
def test_instagram_killed_between_the_container_and_the_publish_posts_once(tmp_path, feed_server, fake_instagram,
                                                                           held):
    """Killed while Instagram answers the container's status (nothing published yet), or after
    media_publish went through unheard: the recorded container says which, and the post is made once."""
    from tests.fakes.holding_proxy import HoldingProxy

    proxy = HoldingProxy(fake_instagram.base_url)
    try:
        env_file = _instagram_env(tmp_path, feed_server, proxy.base_url, fake_instagram)
        if held == "status":
            proxy.hold(lambda method, path: method == "GET" and path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
                       in fake_instagram.containers)
        else:
            proxy.hold(lambda method, path: method == "POST" and path.endswith("/media_publish"))
        _kill_once_held(env_file, proxy, lambda: feed_server.serve(
            "/feed.xml", rss_feed([{**NEW, "image": feed_server.url("/cover.jpg")}, OLD])))
        (container_id,) = fake_instagram.containers
        assert len(fake_instagram.media) == (1 if held == "publish" else 0)

        result = run_cli("--env-file", env_file, "poll")               # restart: recover, resume, deliver
        assert result.code == 0, result.out + result.err
        again = run_cli("--env-file", env_file, "poll")
        assert again.code == 0

        (media,) = fake_instagram.media                                # one post
        assert media["container"] == container_id                      # the recorded container, no second one
        assert list(fake_instagram.containers) == [container_id]
        story = json.loads(run_cli("--env-file", env_file, "status", "--json",
                                   "https://blog.example.com/new/").out)["posts"][0]
        (delivery,) = story["deliveries"]
        assert delivery["state"] == "sent" and delivery["remote_id"] == media["id"]
        assert any("resuming from its recorded progress" in a["detail"] for a in story["attempts"])
    finally:
        proxy.close()
