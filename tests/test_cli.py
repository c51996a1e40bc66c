"""The command line as a user meets it: help, preview, status, repost, check."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import pytest

from bot.cli import COMMANDS
from tests.conftest import network_env, run_cli, write_env
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)
ITEMS = [
    {"title": "Rust 2.0 &amp; you", "link": "https://blog.example.com/rust/?utm_source=rss", "guid": "rust",
     "pubDate": NOW - timedelta(hours=1), "description": "<p>What changes.</p>", "categories": ["Rust", "Programming"],
     "image": "https://blog.example.com/rust.jpg"},
    {"title": "Older news", "link": "https://blog.example.com/older/", "guid": "older",
     "pubDate": NOW - timedelta(hours=30), "description": "Earlier."},
]


@pytest.fixture
def env_file(tmp_path, feed_server):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    return str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                         AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1"))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(command):
    result = run_cli(command, "--help")
    assert result.code == 0
    assert "Example: autopost" in result.out


def test_top_level_help_lists_every_command():
    result = run_cli("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert command in result.out


def test_unknown_command_is_a_usage_error():
    assert run_cli("publish").code == 2


def test_preview_shows_each_network_with_its_count(env_file, tmp_path):
    result = run_cli("--env-file", env_file, "preview")
    assert result.code == 0, result.err
    assert "Rust 2.0 & you" in result.out                     # the newest post, entities decoded
    for network, limit in (("twitter", 280), ("linkedin", 3000), ("facebook", 63206)):
        assert f"── {network} (" in result.out and f"/{limit})" in result.out
    assert "https://blog.example.com/rust/" in result.out
    assert "utm_source" not in result.out
    assert "[image] https://blog.example.com/rust.jpg" in result.out
    assert not (tmp_path / "ledger.db").exists()               # preview posts and records nothing


def test_preview_states_what_x_costs_at_the_feeds_rate(tmp_path, feed_server):
    # Every 3 days for five months: 50 entries, 30 of them in the last 90 days.
    items = [{"title": f"Post {n}", "link": f"https://blog.example.com/{n}/", "guid": str(n),
              "pubDate": NOW - timedelta(days=3 * n, hours=1), "description": "Text."} for n in range(50)]
    feed_server.serve("/feed.xml", rss_feed(items))
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                    AUTOPOST_DB=str(tmp_path / "ledger.db"))

    result = run_cli("--env-file", str(env), "preview")

    assert result.code == 0, result.err
    assert "── X cost" in result.out
    assert "about $0.20 for this one (its text has a link; $0.015 without one)" in result.out
    assert "about 10.0 post(s) a month) that is about $2.00 a month on X" in result.out
    assert "TWITTER_DAILY_CAP is unset" in result.out
    assert "adds 24 read(s) a day" in result.out

    write_env(env, AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "ledger.db"),
              TWITTER_DAILY_CAP="1", AUTOPOST_REVERIFY_INTERVAL="6h")
    capped = run_cli("--env-file", str(env), "preview").out
    assert "TWITTER_DAILY_CAP=1 bounds it: at most 1 automatic X post(s), about $0.20, in any 24 hours" in capped
    assert "adds 4 read(s) a day" in capped


def test_preview_without_x_says_nothing_of_its_cost(env_file, fake_linkedin):
    with open(env_file, "a", encoding="utf-8") as env:
        env.write("".join(f"{k}={v}\n" for k, v in network_env(fake_linkedin=fake_linkedin).items()))
    result = run_cli("--env-file", env_file, "preview")
    assert result.code == 0 and "── linkedin" in result.out and "X cost" not in result.out


def test_check_says_what_the_hourly_reverify_costs_on_x(tmp_path, feed_server, fake_x):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                    AUTOPOST_DB=str(tmp_path / "ledger.db"), **network_env(fake_x=fake_x))

    result = run_cli("--env-file", str(env), "check")

    assert result.code == 0, result.out + result.err
    assert ("twitter: re-checking the credentials every 1h (AUTOPOST_REVERIFY_INTERVAL) costs 24 X read(s) "
            "a day, about $0.72–$7.20 a month") in result.out


def test_check_creates_no_ledger_but_tells_an_existing_one_what_it_verified(tmp_path, feed_server, fake_x):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    ledger = tmp_path / "autopost.db"
    env = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(ledger),
                        **network_env(fake_x=fake_x)))
    fake_x.revoke()

    result = run_cli("--env-file", env, "check")

    assert result.code == 1 and "twitter: FAILED" in result.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autopost.env"]   # no ledger, no -wal, no -shm
    fake_x.restore()
    assert run_cli("--env-file", env, "poll").code == 0                     # now there is a ledger
    fake_x.revoke()
    assert run_cli("--env-file", env, "check").code == 1
    networks = json.loads(run_cli("--env-file", env, "status", "--json").out)["networks"]
    assert [(n["platform"], n["state"]) for n in networks] == [("twitter", "blocked")]


def test_preview_of_a_given_url_and_an_unknown_one(env_file):
    assert "Older news" in run_cli("--env-file", env_file, "preview", "https://blog.example.com/older/").out
    unknown = run_cli("--env-file", env_file, "preview", "https://blog.example.com/nope/")
    assert unknown.code == 2
    assert "no post" in unknown.err


def test_preview_reads_the_ledger_only_for_a_post_the_feeds_no_longer_show(env_file, tmp_path):
    (tmp_path / "ledger.db").write_bytes(b"not a ledger at all " * 100)
    shown = run_cli("--env-file", env_file, "preview")
    assert shown.code == 0, shown.err
    assert "Rust 2.0 & you" in shown.out
    assert "Older news" in run_cli("--env-file", env_file, "preview", "https://blog.example.com/older/").out
    gone = run_cli("--env-file", env_file, "preview", "https://blog.example.com/gone/")
    assert gone.code == 1 and "ledger.db" in gone.err           # only then is the ledger read


def test_status_tells_a_posts_whole_story(env_file):
    run_cli("--env-file", env_file, "poll")
    result = run_cli("--env-file", env_file, "status", "https://blog.example.com/rust/")
    assert result.code == 0
    assert "console   sent" in result.out
    lines = result.out.splitlines()
    assert lines.index("    ── text sent to console:") > 0
    assert "sent" in lines[lines.index("    ── text sent to console:") - 1]          # the attempt line
    assert "       Rust 2.0 & you" in lines                                          # the text as sent
    older = run_cli("--env-file", env_file, "status", "--json", "https://blog.example.com/older/")
    story = json.loads(older.out)["posts"][0]
    assert story["skipped"] == "backfill" and story["attempts"] == []


def test_status_json_shape_and_limit(env_file):
    run_cli("--env-file", env_file, "poll")
    data = json.loads(run_cli("--env-file", env_file, "status", "--json", "--limit", "1").out)
    assert set(data) >= {"feeds", "posts"}
    assert set(data["feeds"][0]) >= {"url", "last_polled", "error", "configured"}
    (post,) = data["posts"]
    assert set(post) == {"url", "title", "feed", "published", "first_seen", "skipped", "deliveries"}
    assert set(post["deliveries"][0]) == {"platform", "kind", "state", "attempts", "remote_id", "remote_url",
                                          "error", "next_attempt", "updated"}
    assert post["published"].endswith("+00:00")
    everything = json.loads(run_cli("--env-file", env_file, "status", "--json", "--limit", "0").out)
    assert [p["url"] for p in everything["posts"]] == ["https://blog.example.com/rust/",
                                                       "https://blog.example.com/older/"]


def test_repost_posts_again_as_manual(env_file):
    run_cli("--env-file", env_file, "poll")
    result = run_cli("--env-file", env_file, "repost", "https://blog.example.com/rust/?utm_source=rss")
    assert result.code == 0, result.err
    assert "console   sent" in result.out
    deliveries = json.loads(run_cli("--env-file", env_file, "status", "--json").out)["posts"][0]["deliveries"]
    assert [(d["kind"], d["state"]) for d in deliveries] == [("auto", "sent"), ("manual", "sent")]


def test_repost_of_an_entry_never_recorded_looks_it_up_in_the_feed(env_file):
    result = run_cli("--env-file", env_file, "repost", "https://blog.example.com/older/")
    assert result.code == 0, result.err
    assert "Older news" in result.out


def test_repost_of_an_unknown_url_exits_2(env_file):
    result = run_cli("--env-file", env_file, "repost", "https://elsewhere.example.com/x/")
    assert result.code == 2
    assert "neither in the ledger nor in any configured feed" in result.err


def test_repost_to_a_network_not_enabled_exits_2(env_file):
    result = run_cli("--env-file", env_file, "repost", "https://blog.example.com/rust/", "--platform", "twitter")
    assert result.code == 2


def test_check_reports_each_network(env_file):
    result = run_cli("--env-file", env_file, "check")
    assert result.code == 0
    assert "config: OK" in result.out
    assert "console: OK" in result.out


def test_from_nothing_to_a_verified_check_with_auth_facebook(tmp_path, feed_server, fake_graph):
    """The README's path for a new user: env file with the feed, `auth facebook`, then `check`."""
    import subprocess
    import sys

    from tests.fakes import facebook

    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    env_file = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                         AUTOPOST_DB=str(tmp_path / "ledger.db"), FACEBOOK_GRAPH_BASE=fake_graph.base_url,
                         FACEBOOK_APP_ID=facebook.APP_ID, FACEBOOK_APP_SECRET=facebook.APP_SECRET)
    auth = subprocess.run([sys.executable, "-m", "bot", "--env-file", str(env_file), "auth", "facebook"],
                          input=facebook.USER_TOKEN + "\n", capture_output=True, text=True, timeout=60,
                          start_new_session=True)              # no terminal: getpass reads standard input
    assert auth.returncode == 0, auth.stdout + auth.stderr
    assert facebook.PAGE_TOKEN not in auth.stdout + auth.stderr
    assert f"FACEBOOK_PAGE_ID={facebook.PAGE_ID}" in env_file.read_text()
    check = run_cli("--env-file", str(env_file), "check")
    assert check.code == 0, check.out + check.err
    assert f"facebook: OK, posts as {facebook.PAGE_NAME}" in check.out


@pytest.mark.parametrize("argv", [
    ("--env-file", "{env}", "poll", "--dry-run"),
    ("poll", "--dry-run", "--env-file", "{env}"),
    ("poll", "--env-file", "{env}", "--dry-run"),
])
def test_global_options_before_or_after_the_command(env_file, argv):
    result = run_cli(*(a.format(env=env_file) for a in argv))
    assert result.code == 0, result.err
    assert "Rust 2.0 & you" in result.out


def test_verbose_after_the_command_logs_at_debug(env_file):
    import logging

    run_cli("--env-file", env_file, "status")
    assert logging.getLogger().level == logging.INFO
    result = run_cli("status", "-v", "--env-file", env_file)
    assert result.code == 0, result.err
    assert logging.getLogger().level == logging.DEBUG


def test_an_option_after_the_command_wins_over_one_before(env_file, tmp_path):
    result = run_cli("--env-file", str(tmp_path / "missing.env"), "poll", "--dry-run", "--env-file", env_file)
    assert result.code == 0, result.err
    after_auth = run_cli("auth", "facebook", "--env-file", str(tmp_path / "missing.env"))
    assert after_auth.code == 2 and "missing.env" in after_auth.err     # `auth NETWORK` takes them too


@pytest.mark.parametrize("limit, words", [("100000", "larger than 100000 bytes"), ("2097152", "larger than 2 MB")])
def test_a_feed_over_the_size_limit_is_named_in_the_units_configured(tmp_path, feed_server, limit, words):
    many = [{"title": f"Post {i}", "link": f"https://blog.example.com/{i}/", "guid": str(i), "pubDate": NOW,
             "description": "x" * 2000} for i in range(int(limit) // 1500)]
    feed_server.serve("/feed.xml", rss_feed(many))
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                    AUTOPOST_MAX_FEED_BYTES=limit)
    result = run_cli("--env-file", str(env), "poll")
    assert result.code == 1
    assert words in result.out
    assert "KB" not in result.out and "." not in words


def test_ledger_copy_asked_the_impossible_is_a_usage_error_and_copies_nothing(tmp_path):
    from bot.store import Store

    source = tmp_path / "ledger.db"
    Store(source).close()
    same = run_cli("ledger", "copy", str(source), str(source))
    assert same.code == 2 and "same ledger" in same.err
    missing = run_cli("ledger", "copy", str(tmp_path / "missing.db"), str(tmp_path / "copy.db"))
    assert missing.code == 2 and "no ledger at" in missing.err
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("command", [("poll",), ("run",)])
def test_a_command_refused_because_another_service_holds_the_ledger_exits_2(env_file, tmp_path, command):
    import subprocess

    # Another process, as in life: within one process the lock's descriptor is shared.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from bot.service import ledger_lock\n"
                               "with ledger_lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()",
         str(tmp_path / "ledger.db")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        result = run_cli("--env-file", env_file, *command)
    finally:
        holder.communicate("")
    assert result.code == 2
    assert "another autopost process is already using the ledger" in result.err


def test_poll_exits_1_for_as_long_as_a_delivery_stays_blocked(tmp_path, feed_server, fake_x):
    from tests.conftest import network_env

    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        AUTOPOST_BACKFILL="1", AUTOPOST_PLATFORMS="twitter", **network_env(fake_x=fake_x)))
    fake_x.revoke()
    first = run_cli("--env-file", env, "poll")
    assert first.code == 1
    for _ in range(2):                          # nothing new happens, the delivery is still held
        again = run_cli("--env-file", env, "poll")
        assert again.code == 1, again.out
        assert "1 delivery needs attention" in again.out
    fake_x.restore()
    healed = run_cli("--env-file", env, "poll")
    assert healed.code == 0, healed.out
    assert "attention" not in healed.out


def test_auth_twitter_without_the_app_keys_exits_2_naming_them(tmp_path):
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="f.xml")
    result = run_cli("--env-file", str(env), "auth", "twitter")
    assert result.code == 2
    assert "auth twitter needs TWITTER_API_KEY and TWITTER_API_SECRET" in result.err
    write_env(env, AUTOPOST_FEEDS="f.xml", TWITTER_API_KEY="k")
    only_secret = run_cli("--env-file", str(env), "auth", "twitter")
    assert only_secret.code == 2
    assert "needs TWITTER_API_SECRET (" in only_secret.err


@pytest.mark.parametrize("network, variable", [("linkedin", "LINKEDIN_CLIENT_ID"), ("facebook", "FACEBOOK_APP_ID")])
def test_auth_without_an_app_key_and_no_answer_exits_2_naming_it(tmp_path, monkeypatch, network, variable):
    import io

    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="f.xml")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))       # no terminal, nothing typed
    result = run_cli("--env-file", str(env), "auth", network)
    assert result.code == 2
    assert f"auth {network} needs {variable}" in result.err
    assert env.read_text() == "AUTOPOST_FEEDS=f.xml\n"


def _ledger(path, clock, feed_url, count, platforms=("console",)):
    """A ledger with ``count`` queued posts of ``feed_url``, as a poll at ``clock()`` leaves it."""
    from bot.models import FetchResult, Post
    from bot.store import Store

    store = Store(path, clock=clock)
    site = feed_url.rsplit("/", 1)[0]       # each feed's own articles: one article in two feeds is one post
    posts = [Post(feed_url=feed_url, key=f"k{i}", url=f"{site}/{i}/", title=f"Post {i}",
                  published=clock() - timedelta(hours=count - i)) for i in range(count)]
    store.record_entries(feed_url, FetchResult(url=feed_url, status=200, body=b"x"), "Blog", posts,
                         platforms=platforms, backfill=count, max_age=None)
    return store


def test_status_pending_shows_only_the_queue_with_when_each_is_due(tmp_path, clock):
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="https://blog.example.com/feed",
                    AUTOPOST_DB=str(tmp_path / "l.db"), AUTOPOST_PLATFORMS="console")
    store = _ledger(tmp_path / "l.db", clock, "https://blog.example.com/feed", 4)
    first, second, third, fourth = store.deliveries(states=("pending",))
    clock.advance(hours=1)
    store.finish(first.id, "sent", outcome="sent")
    store.release([second.id], next_attempt_at=datetime(2099, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    store.release([third.id], state="blocked", detail="token revoked")
    store.release([fourth.id], state="uncertain")
    result = run_cli("--env-file", str(env), "status", "--pending")
    assert result.code == 1, result.err                         # blocked and uncertain need attention
    assert "Post 0" not in result.out                           # sent: not in the queue
    lines = result.out.splitlines()
    assert lines[0] == "console   pending    due 2099-01-02 03:04:05 UTC  Post 1"
    assert lines[2] == "console   blocked    due when the network verifies again  Post 2"
    assert lines[3] == "    https://blog.example.com/2/  — token revoked"
    assert lines[4].startswith("console   uncertain  due when you decide")
    assert lines[-1] == "3 deliveries queued"
    queue = json.loads(run_cli("--env-file", str(env), "status", "--pending", "--json").out)["pending"]
    whens = [(q["state"], q["due"], q["due_now"], q["waits_for"]) for q in queue]
    assert whens[0] == ("pending", "2099-01-02T03:04:05+00:00", False, None)     # ISO 8601, not prose
    assert whens[1] == ("blocked", None, False, "the network to verify again")
    assert whens[2][:3] == ("uncertain", None, False) and "autopost skip URL" in whens[2][3]
    store.release([second.id], next_attempt_at=clock() - timedelta(minutes=5))
    queue = json.loads(run_cli("--env-file", str(env), "status", "--pending", "--json").out)["pending"]
    assert [(q["url"], q["state"], q["due"], q["due_now"]) for q in queue][0] == (
        "https://blog.example.com/1/", "pending", None, True)
    store.skip_deliveries(store.find_post("https://blog.example.com/2/").id)
    store.skip_deliveries(store.find_post("https://blog.example.com/3/").id)
    store.skip_deliveries(store.find_post("https://blog.example.com/1/").id)
    empty = run_cli("--env-file", str(env), "status", "--pending")
    assert empty.code == 0 and empty.out == "nothing queued\n"


def test_skip_cancels_queued_deliveries_on_purpose(tmp_path, feed_server, fake_x):
    from tests.conftest import network_env

    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        AUTOPOST_BACKFILL="1", AUTOPOST_PLATFORMS="twitter,console", **network_env(fake_x=fake_x)))
    fake_x.revoke()
    assert run_cli("--env-file", env, "poll").code == 1           # X blocked, console sent
    skipped = run_cli("--env-file", env, "skip", "https://blog.example.com/rust/?utm_source=rss",
                      "--platform", "twitter")
    assert skipped.code == 0, skipped.err
    assert skipped.out == "twitter   skipped      https://blog.example.com/rust/  by owner\n"
    story = run_cli("--env-file", env, "status", "https://blog.example.com/rust/")
    assert story.code == 0                                        # nothing needs attention any more
    assert "twitter   skipped    attempts 1  skipped: by owner" in story.out
    assert "console   sent" in story.out                          # the sent one is untouched
    fake_x.restore()
    assert run_cli("--env-file", env, "poll").code == 0
    assert fake_x.posts == []                                     # never posted after the skip
    again = run_cli("--env-file", env, "skip", "https://blog.example.com/rust/")
    assert again.code == 2 and "nothing to skip" in again.err
    assert run_cli("--env-file", env, "skip", "https://blog.example.com/nope/").code == 2
    assert run_cli("--env-file", env, "skip", "https://blog.example.com/rust/", "--platform", "myspace").code == 2


def test_status_says_how_many_posts_it_cut_and_orders_feeds_as_configured(tmp_path, clock):
    feeds = ["https://b.example.com/feed", "https://a.example.com/feed"]
    store = _ledger(tmp_path / "l.db", clock, feeds[1], 3)
    _ledger(tmp_path / "l.db", clock, "https://gone.example.com/feed", 2)
    store.record_fetch_error(feeds[0], "HTTP 500")
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=" ".join(feeds), AUTOPOST_DB=str(tmp_path / "l.db"))
    result = run_cli("--env-file", str(env), "status", "--limit", "2")
    lines = result.out.splitlines()
    assert [line.split(":")[0] + ":" + line.split(":")[1] for line in lines[:3]] == [
        "feed https://b.example.com/feed", "feed https://a.example.com/feed",
        "feed https://gone.example.com/feed (no longer configured)"]
    assert lines[-1] == "2 of 5 posts; `autopost status --limit 0` shows all"
    everything = run_cli("--env-file", str(env), "status", "--limit", "0")
    assert " of 5 posts" not in everything.out
    exact = run_cli("--env-file", str(env), "status", "--limit", "5")
    assert " of 5 posts" not in exact.out
    data = json.loads(run_cli("--env-file", str(env), "status", "--json").out)
    assert [(f["url"], f["configured"]) for f in data["feeds"]] == [
        (feeds[0], True), (feeds[1], True), ("https://gone.example.com/feed", False)]


def test_check_fetches_each_feed_once_and_reports_it(tmp_path, feed_server):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    feed_server.respond("/broken.xml", 500)
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=f"{feed_server.url()} {feed_server.url('/broken.xml')}",
                        AUTOPOST_DB=str(tmp_path / "l.db")))
    result = run_cli("--env-file", env, "check")
    assert result.code == 1
    assert f"feed {feed_server.url()}: OK, 2 entries, newest: Rust 2.0 & you (" in result.out
    assert f"feed {feed_server.url('/broken.xml')}: FAILED: " in result.out and "500" in result.out
    assert "console: OK" in result.out                                # the networks are still checked
    assert len(feed_server.requests_to("/feed.xml")) == 1
    assert len(feed_server.requests_to("/broken.xml")) == 1
    assert json.loads(run_cli("--env-file", env, "status", "--json").out)["posts"] == []   # nothing recorded


def test_check_asks_conditionally_and_a_304_is_ok(env_file, feed_server):
    assert run_cli("--env-file", env_file, "poll").code == 0
    result = run_cli("--env-file", env_file, "check")
    assert result.code == 0, result.out
    assert f"feed {feed_server.url()}: OK, not modified since the last poll" in result.out
    last = feed_server.requests_to("/feed.xml")[-1]
    assert last.headers.get("If-None-Match")


def test_check_and_preview_limited_to_one_network(tmp_path, feed_server, fake_x, fake_graph):
    from tests.conftest import network_env

    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        AUTOPOST_PLATFORMS="twitter,facebook", **network_env(fake_x=fake_x, fake_graph=fake_graph)))
    fake_x.revoke()
    both = run_cli("--env-file", env, "check")
    assert both.code == 1 and "twitter: FAILED" in both.out and "facebook: OK" in both.out
    only = run_cli("--env-file", env, "check", "--platform", "facebook")
    assert only.code == 0, only.out
    assert "facebook: OK" in only.out and "twitter" not in only.out.split("\n", 1)[1]
    assert run_cli("--env-file", env, "check", "--platform", "linkedin").code == 2     # not enabled
    preview = run_cli("--env-file", env, "preview", "--platform", "facebook")
    assert preview.code == 0
    assert "── facebook (" in preview.out and "── twitter (" not in preview.out


def test_preview_shows_a_network_that_is_not_enabled(env_file):
    result = run_cli("--env-file", env_file, "preview", "--platform", "twitter")
    assert result.code == 0, result.err
    assert "twitter is not enabled: shown only, autopost posts nothing there" in result.out
    assert "── twitter (" in result.out and "── linkedin (" not in result.out
    assert run_cli("--env-file", env_file, "preview", "--platform", "myspace").code == 2


def test_poll_prints_each_feed_as_it_finishes(tmp_path, feed_server):
    feed_server.hang("/slow.xml")                          # configured first, finishes last (timeout)
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=f"{feed_server.url('/slow.xml')} {feed_server.url()}",
                    AUTOPOST_DB=str(tmp_path / "l.db"), AUTOPOST_REQUEST_TIMEOUT="1")
    result = run_cli("--env-file", str(env), "poll")
    assert result.code == 1
    lines = [line for line in result.out.splitlines() if line.startswith("feed ")]
    assert lines[0] == f"feed {feed_server.url()}: 0 new post(s)"
    assert lines[1].startswith(f"feed {feed_server.url('/slow.xml')}: ERROR: ")
    assert "\r" not in result.err                          # not a terminal: no live line


def test_the_live_progress_line_shows_what_is_pending_on_a_terminal(capsys):
    import io

    from bot.cli import _FeedProgress
    from bot.poller import FeedOutcome

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = _FeedProgress(["https://a.example/feed", "https://b.example/feed", "https://c.example/feed"],
                             stream=terminal)
    assert terminal.getvalue().endswith("polling: 0 of 3 feeds done; waiting for https://a.example/feed and 2 more")
    progress.done(FeedOutcome(url="https://b.example/feed", unchanged=True))
    assert capsys.readouterr().out == "feed https://b.example/feed: unchanged\n"
    assert terminal.getvalue().endswith("\r\033[K\rpolling: 1 of 3 feeds done; waiting for https://a.example/feed "
                                        "and 1 more")
    progress.done(FeedOutcome(url="https://a.example/feed", unchanged=True))
    progress.done(FeedOutcome(url="https://c.example/feed", error="HTTP 500"))
    assert terminal.getvalue().endswith("\r\033[K")        # nothing pending: the live line is gone


def test_status_shows_a_network_failing_on_connection_errors(tmp_path, feed_server, fake_x):
    import socket

    from tests.conftest import network_env

    with socket.socket() as probe:                          # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    values = {**network_env(fake_x=fake_x), "TWITTER_API_BASE": f"http://127.0.0.1:{closed}"}
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        AUTOPOST_BACKFILL="1", AUTOPOST_PLATFORMS="twitter", AUTOPOST_RETRY_BASE="0", **values))
    run_cli("--env-file", env, "poll")
    status = run_cli("--env-file", env, "status")
    network = next(line for line in status.out.splitlines() if line.startswith("network twitter"))
    assert network.startswith("network twitter: failing since ")
    assert "cannot reach X" in network
    data = json.loads(run_cli("--env-file", env, "status", "--json").out)
    assert data["networks"][0]["state"] == "failing"
    assert "cannot reach X" in data["networks"][0]["reason"]


@pytest.mark.parametrize("command", [("poll",), ("check",)])
def test_a_malformed_feed_is_reported_once(tmp_path, feed_server, command):
    feed_server.serve("/feed.xml", rss_feed(ITEMS).replace(b"Older news", b"Older & news"))
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"))
    result = run_cli("--env-file", str(env), *command)
    assert result.code == 0, result.out + result.err
    assert (result.out + result.err).count("is malformed") == 1, result.out + result.err


@pytest.mark.parametrize("dry_run", [False, True])
def test_poll_says_what_happened_to_each_new_entry(tmp_path, feed_server, dry_run):
    feed_server.serve("/feed.xml", rss_feed(ITEMS + [
        {"title": "Ancient", "link": "https://blog.example.com/ancient/", "guid": "ancient",
         "pubDate": NOW - timedelta(days=30)}]))
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                    AUTOPOST_BACKFILL="3")
    result = run_cli("--env-file", str(env), "poll", *(["--dry-run"] if dry_run else []))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"feed {feed_server.url()}: 2 new post(s)"
    assert lines[1:4] == ["    queued: Older news — https://blog.example.com/older/",
                          "    queued: Rust 2.0 & you — https://blog.example.com/rust/",
                          "    skipped (too old): Ancient — https://blog.example.com/ancient/"]
    if not dry_run:
        assert "console   sent         https://blog.example.com/rust/" in result.out
    feed_server.serve("/feed.xml", rss_feed(ITEMS + [
        {"title": "Ancient", "link": "https://blog.example.com/ancient/", "guid": "ancient",
         "pubDate": NOW - timedelta(days=30)},
        {"title": "Backlog", "link": "https://blog.example.com/backlog/", "guid": "backlog",
         "pubDate": NOW - timedelta(days=2)}]))
    env = write_env(tmp_path / "b.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "m.db"))
    first_sight = run_cli("--env-file", str(env), "poll", *(["--dry-run"] if dry_run else []))
    assert "    skipped (backfill): Backlog — https://blog.example.com/backlog/" in first_sight.out.splitlines()


def test_bluesky_through_check_preview_poll_status_and_repost(tmp_path, feed_server, fake_pds):
    from tests.fakes.bluesky import DID, HANDLE

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 500
    feed_server.serve("/cover.png", png, content_type="image/png")
    items = [{**ITEMS[0], "image": feed_server.url("/cover.png")}, ITEMS[1]]
    feed_server.serve("/feed.xml", rss_feed(items))
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        AUTOPOST_BACKFILL="1", **network_env(fake_pds=fake_pds)))

    check = run_cli("--env-file", env, "check")
    assert check.code == 0, check.out + check.err
    assert f"bluesky: OK, posts as @{HANDLE} ({DID})" in check.out

    preview = run_cli("--env-file", env, "preview")
    assert preview.code == 0, preview.err
    assert "── bluesky (34/300) ──\nRust 2.0 & you\n\n#Rust #Programming\n" in preview.out
    assert "[link] https://blog.example.com/rust/" in preview.out
    assert fake_pds.records == {}                                  # preview posts nothing

    # The first try is refused: the delivery fails, and `repost` is how the owner sends it.
    fake_pds.fail_next(400, "InvalidRequest", "Invalid app.bsky.feed.post record: refused for the test",
                       nsid="com.atproto.repo.createRecord")
    assert run_cli("--env-file", env, "poll").code == 1
    status = run_cli("--env-file", env, "status", "https://blog.example.com/rust/")
    assert "bluesky   failed" in status.out and "refused for the test" in status.out

    repost = run_cli("--env-file", env, "repost", "https://blog.example.com/rust/", "--platform", "bluesky")
    assert repost.code == 0, repost.out + repost.err
    (record,) = fake_pds.records.values()
    rkey = record["uri"].rsplit("/", 1)[-1]
    assert f"bluesky   sent         https://bsky.app/profile/{HANDLE}/post/{rkey}" in repost.out
    external = record["value"]["embed"]["external"]
    assert external["uri"] == "https://blog.example.com/rust/" and external["thumb"]["size"] == len(png)
    assert record["value"]["text"] == "Rust 2.0 & you\n\n#Rust #Programming"

    # Once there, a repost of the same message finds it on Bluesky instead of posting it twice.
    again = run_cli("--env-file", env, "repost", "https://blog.example.com/rust/", "--platform", "bluesky")
    assert again.code == 0 and len(fake_pds.records) == 1
    story = json.loads(run_cli("--env-file", env, "status", "--json", "https://blog.example.com/rust/").out)
    deliveries = [(d["kind"], d["state"], d["remote_id"]) for d in story["posts"][0]["deliveries"]]
    # The manual post settles the failed automatic one (resolve_siblings): nothing is left to fix.
    assert deliveries == [("auto", "sent", None), ("manual", "sent", record["uri"]),
                          ("manual", "sent", record["uri"])]
    assert run_cli("--env-file", env, "status").code == 0


def test_bluesky_check_with_a_wrong_app_password_fails_and_says_how_to_fix_it(tmp_path, feed_server, fake_pds):
    feed_server.serve("/feed.xml", rss_feed(ITEMS))
    wrong = "zzzz-zzzz-zzzz-zzzz"
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        **{**network_env(fake_pds=fake_pds), "BLUESKY_APP_PASSWORD": wrong}))
    check = run_cli("--env-file", env, "check")
    assert check.code == 1
    assert "bluesky: FAILED" in check.out and "App passwords" in check.out + check.err
    assert wrong not in check.out + check.err


def test_instagram_through_check_preview_poll_status_and_repost(tmp_path, feed_server, fake_instagram):
    from tests.fakes.instagram import USERNAME, jpeg

    feed_server.serve("/cover.jpg", jpeg(1080, 1350), content_type="image/jpeg")
    cover = feed_server.url("/cover.jpg")
    items = [{**ITEMS[0], "image": cover}, {**ITEMS[1], "pubDate": NOW - timedelta(hours=2)}]
    feed_server.serve("/feed.xml", rss_feed(items))
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        AUTOPOST_BACKFILL="2", **network_env(fake_instagram=fake_instagram)))

    check = run_cli("--env-file", env, "check")
    assert check.code == 0, check.out + check.err
    assert f"instagram: OK, posts as @{USERNAME}" in check.out

    preview = run_cli("--env-file", env, "preview")
    assert preview.code == 0, preview.err
    assert "── instagram (" in preview.out and "/2200) ──\nRust 2.0 & you\n\nWhat changes.\n\n" in preview.out
    assert "\nhttps://blog.example.com/rust/\n\n#Rust #Programming" in preview.out
    assert f"instagram image: {cover} (must be a JPEG" in preview.out
    assert fake_instagram.containers == {}                          # preview posts nothing
    older = run_cli("--env-file", env, "preview", "https://blog.example.com/older/")
    assert "instagram image: none in this entry: it would be skipped" in older.out

    # The first try is refused: the delivery fails, and `repost` is how the owner sends it.
    fake_instagram.fail_next(100, message="(#100) refused for the test")
    assert run_cli("--env-file", env, "poll").code == 1
    status = run_cli("--env-file", env, "status")
    assert "instagram failed" in status.out and "refused for the test" in status.out
    assert "skipped: no image for Instagram" in status.out            # the entry without an image
    assert fake_instagram.media == []

    repost = run_cli("--env-file", env, "repost", "https://blog.example.com/rust/", "--platform", "instagram")
    assert repost.code == 0, repost.out + repost.err
    (media,) = fake_instagram.media
    assert f"instagram sent         {media['permalink']}" in repost.out
    assert fake_instagram.image_fetches == [cover]
    assert media["caption"].startswith("Rust 2.0 & you\n\nWhat changes.\n\nhttps://blog.example.com/rust/")
    story = json.loads(run_cli("--env-file", env, "status", "--json", "https://blog.example.com/rust/").out)
    deliveries = [(d["kind"], d["state"]) for d in story["posts"][0]["deliveries"]]
    assert deliveries == [("auto", "sent"), ("manual", "sent")]
    assert run_cli("--env-file", env, "status").code == 0


def test_instagram_repost_of_an_image_still_processing_is_finished_by_the_next_poll(tmp_path, feed_server,
                                                                                   fake_instagram):
    from tests.fakes.instagram import jpeg

    feed_server.serve("/cover.jpg", jpeg(1080, 1080), content_type="image/jpeg")
    feed_server.serve("/feed.xml", rss_feed([{**ITEMS[0], "image": feed_server.url("/cover.jpg")}]))
    env = str(write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                        **network_env(fake_instagram=fake_instagram)))
    assert run_cli("--env-file", env, "poll").code == 0                  # first sight: nothing posted
    fake_instagram.finish_after = 1                                       # Instagram is still processing it

    repost = run_cli("--env-file", env, "repost", "https://blog.example.com/rust/", "--platform", "instagram")

    assert repost.code == 0, repost.out + repost.err
    assert "instagram in-progress" in repost.out and "finishes it after" in repost.out
    assert fake_instagram.media == [] and len(fake_instagram.containers) == 1
    story = json.loads(run_cli("--env-file", env, "status", "--json", "https://blog.example.com/rust/").out)
    (manual,) = [d for d in story["posts"][0]["deliveries"] if d["kind"] == "manual"]
    assert manual["state"] == "pending" and manual["attempts"] == 0

    # Past its retry time the next poll resumes the recorded container: one post, one container.
    import sqlite3
    with sqlite3.connect(tmp_path / "l.db") as db:
        db.execute("UPDATE deliveries SET next_attempt_at = '2000-01-01T00:00:00+00:00' WHERE kind = 'manual'")
    assert run_cli("--env-file", env, "poll").code == 0
    (media,) = fake_instagram.media
    assert media["container"] == next(iter(fake_instagram.containers))



@pytest.mark.parametrize("columns", [60, 160])
def test_help_fits_the_terminal_width_in_columns(monkeypatch, columns):
    # The help formatter sizes itself without shutil, as shutil.get_terminal_size would.
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_cli("--help")
    assert result.code == 0
    options = result.out[result.out.index("positional arguments:"):].splitlines()
    widest = max(map(len, options))
    assert widest <= columns - 2
    if columns > 100:
        assert widest > 80          # a wide terminal gets long lines, not 80-column ones
