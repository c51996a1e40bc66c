"""The poll cycle is wired once (bot/app.py), and both `autopost poll` and the service use it."""
from __future__ import annotations

import ast
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.app import App
from bot.config import settings_from
from bot.store import Store
from tests.conftest import network_env, wait_for
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)
BOT = Path(__file__).resolve().parent.parent / "bot"


def item(n: int, hours_ago: float) -> dict:
    return {"title": f"Article {n}", "link": f"https://blog.example.com/{n}/", "guid": f"post-{n}",
            "pubDate": NOW - timedelta(hours=hours_ago), "description": f"Summary {n}."}


def x_settings(feed_url: str, db: Path, fake_x):
    return settings_from({"AUTOPOST_FEEDS": feed_url, "AUTOPOST_DB": str(db), "AUTOPOST_PLATFORMS": "twitter",
                          "AUTOPOST_REQUEST_TIMEOUT": "2", "AUTOPOST_MIN_GAP": "0", **network_env(fake_x=fake_x)})


def test_a_feed_poll_that_queues_a_post_wakes_the_delivery_lanes(tmp_path, feed_server, fake_x):
    feed_server.serve("/feed.xml", rss_feed([item(1, 50)]))
    settings = x_settings(feed_server.url(), tmp_path / "ledger.db", fake_x)
    store = Store(settings.db_path)
    app = App(settings, store, stopping=threading.Event())
    try:
        assert app.recover() == []
        assert app.poll_feed(settings.feeds[0]).new_posts == ()          # first sight: backfill only
        # A lane's own pass comes once an hour here: only the poll's nudge can deliver in time.
        app.start_lanes(3600)
        feed_server.serve("/feed.xml", rss_feed([item(2, 0.1), item(1, 50)]))
        outcome = app.poll_feed(settings.feeds[0])
        assert [p.url for p in outcome.new_posts] == ["https://blog.example.com/2/"]
        wait_for(lambda: len(fake_x.posts) == 1, seconds=10)
        wait_for(lambda: len(store.deliveries(states=("sent",))) == 1, seconds=10)
    finally:
        app.stop()
        app.close()
        store.close()
    assert "https://blog.example.com/2/" in fake_x.posts[0]["text"]


def test_one_cycle_recovers_before_it_polls_and_delivers(tmp_path, feed_server, fake_x):
    feed_server.serve("/feed.xml", rss_feed([item(1, 50)]))
    settings = x_settings(feed_server.url(), tmp_path / "ledger.db", fake_x)
    store = Store(settings.db_path)
    App(settings, store).cycle()
    feed_server.serve("/feed.xml", rss_feed([item(2, 0.1), item(1, 50)]))
    seen: list[str] = []
    result = App(settings, store, explain=True).cycle(on_done=lambda outcome: seen.append(outcome.url))
    assert seen == [settings.feeds[0]]
    assert [state for _, state in result.delivered.outcomes] == ["sent"]
    assert len(fake_x.posts) == 1
    # A crash left a delivery `sending` (claimed, never answered): the next cycle reconciles it first;
    # X refuses a duplicate, so the delivery is sent again rather than left hanging.
    feed_server.serve("/feed.xml", rss_feed([item(3, 0.05), item(2, 0.1), item(1, 50)]))
    App(settings, store).poller.poll(settings.feeds[0])
    (pending,) = store.deliveries(states=("pending",))
    assert store.claim(pending.id) is not None
    result = App(settings, store).cycle()
    assert [(d.id, state) for d, state in result.recovered] == [(pending.id, "pending")]
    assert store.get_delivery(pending.id).state == "sent"
    assert len(fake_x.posts) == 2
    store.close()


def _calls(module: str) -> set[str]:
    tree = ast.parse((BOT / module).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "app":
                continue                    # the App's own steps are what these modules should call
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_cli_and_service_do_not_wire_the_cycle_themselves():
    for module in ("cli.py", "service.py"):
        calls = _calls(module)
        assert not calls & {"Poller", "Lanes", "poll_feeds", "recover", "run_due", "poll_all"}, module
        assert "App" in calls, module
