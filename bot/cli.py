"""The `autopost` command: argument parsing, exit codes, printing; no business logic.

Exit codes: 0 success; 2 usage or configuration error (nothing was done);
1 the command ran and something failed.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING, Sequence

from bot import __version__
from bot.errors import AutopostError

if TYPE_CHECKING:                       # imported for real only by the commands that run
    from datetime import datetime

    from bot.config import Settings
    from bot.models import PostRecord

EXAMPLES = {
    "run": "autopost --env-file /etc/autopost/autopost.env run",
    "poll": "autopost poll --dry-run",
    "preview": "autopost preview https://blog.example.com/2026/11/hello-world/",
    "repost": "autopost repost https://blog.example.com/2026/11/hello-world/ --platform twitter",
    "status": "autopost status --limit 5   |   autopost status https://blog.example.com/2026/11/hello-world/",
    "check": "autopost check",
    "auth": "autopost --env-file /etc/autopost/autopost.env auth linkedin --client-id 86abcdefghijkl",
}


class UsageError(AutopostError):
    """The command line asks for something that cannot be done; exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autopost",
        description="Post every new article of a blog's feed to X, LinkedIn and a Facebook Page, exactly once.",
        epilog="Example: autopost --env-file autopost.env poll --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-file", metavar="PATH", help="env file with the settings (default: "
                        "$AUTOPOST_ENV_FILE, else ./.env if present)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument("--version", action="version", version=f"autopost {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text,
                                   epilog=f"Example: {EXAMPLES[name]}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    command("run", "run the service in the foreground (what systemd starts)")
    poll = command("poll", "one cycle: fetch every feed, deliver what is due, exit (for cron and tests)")
    poll.add_argument("--dry-run", action="store_true", help="show what would be posted; write and post nothing")
    preview = command("preview", "show the message each network would get for a post; posts nothing")
    preview.add_argument("url", nargs="?", help="the post's URL (default: the newest post of the feeds)")
    repost = command("repost", "post one post again now, as a new manual delivery")
    repost.add_argument("url", help="the post's URL, canonical or as in the feed")
    repost.add_argument("--platform", action="append", metavar="NAME",
                        help="network to post to; repeat for several (default: every enabled network)")
    repost.add_argument("--dry-run", action="store_true", help="show the messages; post nothing")
    status = command("status", "recent posts and each network's delivery state, links and errors")
    status.add_argument("url", nargs="?", help="show this post's whole story: when seen, why skipped, every attempt")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--limit", type=int, default=20, metavar="N", help="posts to show (default 20; 0 = all)")
    command("check", "validate the config and verify each network's credentials")
    auth = command("auth", "connect an account: get its tokens and store them in the env file")
    networks = auth.add_subparsers(dest="network", metavar="NETWORK", required=True)
    networks.add_parser("twitter", help="X: print an authorise address, read the PIN (needs TWITTER_API_KEY/SECRET)",
                        epilog="Example: autopost auth twitter")
    linkedin = networks.add_parser("linkedin", help="LinkedIn: browser sign-in, redirect to 127.0.0.1",
                                   epilog="Example: autopost auth linkedin --client-id 86abcdefghijkl "
                                          "--organization 2414183")
    linkedin.add_argument("--client-id", help="the app's Client ID (default: LINKEDIN_CLIENT_ID); "
                                              "the Client Secret is read from LINKEDIN_CLIENT_SECRET or asked for")
    linkedin.add_argument("--organization", metavar="ID", help="post as this LinkedIn Page (its numeric id)")
    linkedin.add_argument("--port", type=int, default=8765, help="port of the redirect listener on 127.0.0.1 "
                          "(default 8765; register http://127.0.0.1:PORT/callback in the app)")
    linkedin.add_argument("--no-browser", action="store_true", help="only print the address; open no browser")
    facebook = networks.add_parser("facebook", help="Facebook: exchange a Graph API Explorer token, pick a Page",
                                   epilog="Example: autopost auth facebook")
    facebook.add_argument("--app-id", help="the Meta app's ID (default: FACEBOOK_APP_ID); the app secret is read "
                                           "from FACEBOOK_APP_SECRET or asked for")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bot.config import ConfigError, load_settings   # after parsing: `--help` stays instant

    previous = _cut_calls_on_ctrl_c()
    try:
        # `auth` exists to fill in credentials, so it must load without them.
        settings = load_settings(args.env_file, require_credentials=args.command != "auth")
        from bot.logs import setup_logging

        setup_logging("DEBUG" if args.verbose else settings.log_level, settings.log_format, settings.secrets())
        return COMMANDS[args.command](settings, args)
    except ConfigError as exc:
        print(f"autopost: configuration error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"autopost: {exc}", file=sys.stderr)
        return 2
    except AutopostError as exc:
        from bot.logs import scrub

        print(f"autopost: {scrub(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("autopost: interrupted; stopping (a delivery cut short is checked at the next start)",
              file=sys.stderr)
        _stop_within(getattr(locals().get("settings"), "shutdown_grace", 10.0))
        return 130
    except BrokenPipeError:                           # output piped into `head`: stop quietly
        sys.stdout = open(os.devnull, "w")            # so the interpreter's final flush cannot fail too
        return 1
    except EOFError:                                  # input closed at a prompt (e.g. no terminal)
        print("autopost: no answer to the prompt; nothing was changed", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _cut_calls_on_ctrl_c():
    """Ctrl-C cuts every HTTP call at once (worker threads included) before KeyboardInterrupt
    unwinds, so no thread pool waits on a slow server. Returns the handler it replaced."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        from bot import http

        http.stop_all()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, interrupt)


def _stop_within(grace: float) -> None:
    """After Ctrl-C: cut the calls in flight, give worker threads the grace, then leave regardless."""
    import threading
    import time

    from bot import http

    http.abort_all()
    end = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, end - time.monotonic()))
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        sys.stderr.flush()
        os._exit(130)          # a worker still busy would hold the interpreter's exit


# --------------------------------------------------------------------- commands

def cmd_run(settings: Settings, args) -> int:
    from bot.service import Service

    Service(settings).run()
    return 0


def cmd_poll(settings: Settings, args) -> int:
    from bot import poller
    from bot.service import warn_if_env_file_is_readable

    warn_if_env_file_is_readable(settings.env_file)

    if args.dry_run or settings.dry_run:
        store = _store(settings, read_only=True)
        posts, outcomes = poller.peek_new(settings, store)
        _print_feed_outcomes(outcomes)
        _show_messages(settings, posts)
        print(f"dry run: {len(posts)} post(s) would be posted; nothing was posted or recorded.")
        return 1 if any(o.error for o in outcomes) else 0

    from bot.delivery import Deliverer
    from bot.service import build_platforms, ledger_lock, make_alerter

    with ledger_lock(settings.db_path):
        store = _store(settings)
        deliverer = Deliverer(store, settings, build_platforms(settings), on_event=make_alerter(settings))
        recovered = deliverer.recover()
        for name in settings.platforms:
            if store.network_state(name).state == "blocked":
                _try_verify(deliverer, name)         # cron mode has no periodic re-verify
        outcomes = poller.poll_feeds(settings, store)
        report = deliverer.run_due()
    _print_feed_outcomes(outcomes)
    for delivery, state in report.outcomes:
        post = store.get_post(delivery.post_id)
        detail = delivery.remote_url or delivery.error or ""
        print(f"{delivery.platform:9} {state:12} {post.url}  {detail}".rstrip())
    uncertain = [d for d, state in recovered if state == "uncertain"]
    for delivery in uncertain:
        print(f"{delivery.platform:9} {'uncertain':12} {store.get_post(delivery.post_id).url}  "
              "interrupted by a crash; check the network, then `autopost repost URL` if it is missing")
    return 1 if any(o.error for o in outcomes) or report.problems or uncertain else 0


def cmd_preview(settings: Settings, args) -> int:
    from bot import feeds

    store = _store(settings, read_only=True)
    candidates = _current_posts(settings)
    if args.url:
        wanted = feeds.canonical_url(args.url)
        post = next((p for p in candidates if p.url == wanted), None) or store.find_post(wanted)
        if post is None:
            raise UsageError(f"no post with URL {args.url} in the feeds or the ledger")
    else:
        dated = [p for p in candidates if p.published]
        post = max(dated, key=lambda p: p.published) if dated else (candidates[0] if candidates else None)
        if post is None:
            print("no posts found in the configured feeds", file=sys.stderr)
            return 1
    _show_messages(settings, [post])
    return 0


def cmd_repost(settings: Settings, args) -> int:
    from dataclasses import replace

    from bot import feeds
    from bot.delivery import Deliverer
    from bot.service import build_platforms

    names = tuple(dict.fromkeys(args.platform or settings.platforms))
    unknown = [n for n in names if n not in settings.platforms]
    if unknown:
        raise UsageError(f"--platform {unknown[0]} is not enabled; enabled: {', '.join(settings.platforms)}")
    wanted = feeds.canonical_url(args.url)
    if args.dry_run:
        store = _store(settings, read_only=True)
        post = store.find_post(wanted) or _find_in_feeds(settings, None, wanted)
        if post is None:
            raise UsageError(f"{args.url} is neither in the ledger nor in any configured feed")
        _show_messages(replace(settings, platforms=names), [post])
        return 0
    # No ledger lock: the claim of a delivery is atomic, so a repost can run beside the service.
    chosen = replace(settings, platforms=names)
    store = _store(settings)
    post = store.find_post(wanted) or _find_in_feeds(settings, store, wanted)
    if post is None:
        raise UsageError(f"{args.url} is neither in the ledger nor in any configured feed")
    deliverer = Deliverer(store, chosen, build_platforms(chosen))
    failed = False
    for name in names:
        delivery = store.add_manual_delivery(post.id, name)
        state = deliverer.deliver(delivery)
        done = store.get_delivery(delivery.id)
        print(f"{name:9} {state:12} {done.remote_url or done.remote_id or done.error or ''}".rstrip())
        failed |= state != "sent"
    return 1 if failed else 0


def cmd_status(settings: Settings, args) -> int:
    from bot import feeds

    store = _store(settings, read_only=True)
    url = feeds.canonical_url(args.url) if args.url else None
    records = store.post_records(limit=None if url else args.limit, url=url)
    if url and not records:
        raise UsageError(f"no post with URL {args.url} in the ledger")
    networks = [store.network_state(n) for n in settings.platforms]
    problems = store.count_problems()
    if args.json:
        import json

        print(json.dumps(_status_json(store, records, networks, with_attempts=bool(url)), indent=2,
                         ensure_ascii=False))
        return 1 if problems else 0
    now = store.clock()
    for state in store.feed_states():
        print(f"feed {state.url}: last polled {_when(state.last_polled_at)}"
              + (f" — ERROR: {state.last_error}" if state.last_error else ""))
    for network in networks:
        line = f"network {network.platform}: {network.state}"
        if network.state != "healthy":             # blocked, or failing: its recent calls did not get through
            line += f" since {_when(network.since)}: {network.reason}"
        if network.rate_limited_until and network.rate_limited_until > now:
            line += f" (rate-limited until {_when(network.rate_limited_until)})"
        print(line)
    print()
    for record in records:
        _print_record(record)
        if url:
            for attempt in store.attempts(record.post.id):
                print(f"    {_when(attempt.at)}  {attempt.platform:9} {attempt.outcome:12} {attempt.detail}")
    if not records:
        print("no posts recorded yet")
    if problems:
        print(f"\n{problems} deliver{'y needs' if problems == 1 else 'ies need'} attention "
              "(failed, blocked or uncertain): see the errors above; `autopost repost URL` posts again.")
    return 1 if problems else 0


def cmd_check(settings: Settings, args) -> int:
    from bot.delivery import Deliverer
    from bot.service import build_platforms, make_alerter, warn_if_env_file_is_readable

    warn_if_env_file_is_readable(settings.env_file)

    store = _store(settings)
    print(f"config: OK ({len(settings.feeds)} feed(s), networks: {', '.join(settings.platforms)}, "
          f"ledger: {settings.db_path})")
    deliverer = Deliverer(store, settings, build_platforms(settings), on_event=make_alerter(settings))
    healthy = True
    for name in settings.platforms:
        ok, text = _try_verify(deliverer, name)
        healthy &= ok
        print(f"{name}: {text}")
        warning = _expiry_warning(deliverer.platforms[name], store.clock())
        if warning:
            print(f"{name}: warning: {warning}")
    return 0 if healthy else 1


def cmd_auth(settings: Settings, args) -> int:
    """Run one network's auth flow; secrets are typed at hidden prompts, never taken from argv."""
    import getpass
    import webbrowser
    from pathlib import Path

    from bot import auth

    env_path = settings.env_file or Path(".env")
    if args.network == "twitter":
        auth.auth_twitter(settings, env_path, input_fn=input, print_fn=print)
    elif args.network == "linkedin":
        client_id = args.client_id or settings.linkedin_client_id or input("LinkedIn app Client ID: ").strip()
        client_secret = (settings.linkedin_client_secret
                         or getpass.getpass("LinkedIn app Client Secret (not shown): ").strip())
        auth.auth_linkedin(settings, env_path, client_id=client_id, client_secret=client_secret,
                           organization=args.organization, port=args.port, print_fn=print,
                           open_browser=None if args.no_browser else webbrowser.open)
    else:
        app_id = args.app_id or settings.facebook_app_id or input("Meta app ID: ").strip()
        app_secret = settings.facebook_app_secret or getpass.getpass("Meta app secret (not shown): ").strip()
        user_token = getpass.getpass("User access token from the Graph API Explorer (not shown): ")
        auth.auth_facebook(settings, env_path, user_token=user_token, app_id=app_id,
                           app_secret=app_secret, input_fn=input, print_fn=print)
    print(_keep_private(env_path))
    return 0


def _keep_private(env_path) -> str:
    """The env file now holds tokens: make it readable by its owner only, and say so."""
    real = os.path.realpath(env_path)
    mode = os.stat(real).st_mode & 0o777
    if mode & 0o077:
        os.chmod(real, mode & 0o700 | 0o600)
        return (f"{env_path} holds your tokens: its mode is now 0600 (it was {mode:04o}), "
                "so only its owner can read it.")
    return f"{env_path} holds your tokens and is readable only by its owner (mode {mode:04o})."


COMMANDS = {"run": cmd_run, "poll": cmd_poll, "preview": cmd_preview, "repost": cmd_repost,
            "status": cmd_status, "check": cmd_check, "auth": cmd_auth}


# ---------------------------------------------------------------------- helpers

def _store(settings: Settings, *, read_only: bool = False):
    """Open the ledger; a command that only reads never creates one."""
    from bot.store import Store

    if read_only and not settings.db_path.exists():
        return Store(":memory:")
    return Store(settings.db_path, read_only=read_only)


def _try_verify(deliverer, name: str) -> tuple[bool, str]:
    from bot.platforms.base import PlatformError

    try:
        return True, f"OK, posts as {deliverer.verify(name)}"
    except PlatformError as exc:
        return False, f"FAILED: {exc.message}"


def _expiry_warning(adapter, now: datetime) -> str | None:
    warn = getattr(adapter, "token_expiry_warning", None)
    return warn(now.date()) if warn else None


def _current_posts(settings: Settings) -> list:
    """Every entry the feeds show now, fetched whole (no validators); a feed that fails is reported."""
    from bot import feeds

    posts = []
    for url in settings.feeds:
        try:
            result = feeds.fetch(url, None, timeout=settings.request_timeout, max_bytes=settings.max_feed_bytes,
                                 allow_private_networks=settings.allow_private_networks)
            posts.extend(feeds.parse(result.body, feed_url=url, base_url=result.final_url or url,
                                     content_type=result.content_type).posts)
        except AutopostError as exc:
            print(f"feed {url}: {exc}", file=sys.stderr)
    return posts


def _find_in_feeds(settings: Settings, store, url: str):
    """Look an unknown URL up in the current feeds and record it (unless store is None) for a repost."""
    post = next((p for p in _current_posts(settings) if p.url == url), None)
    if post is None or store is None:
        return post
    return store.add_post(post.feed_url, post)


def _show_messages(settings: Settings, posts) -> None:
    from bot.delivery import messages_for
    from bot.platforms.console import ConsolePlatform

    console = ConsolePlatform(sys.stdout)
    for post in posts:
        print(f"=== {post.title or '(untitled)'} — {post.url}")
        for platform in settings.platforms:
            for message in messages_for(post, platform, settings):
                console.publish(message)


def _print_feed_outcomes(outcomes) -> None:
    for outcome in outcomes:
        if outcome.error:
            print(f"feed {outcome.url}: ERROR: {outcome.error}")
        elif outcome.unchanged:
            print(f"feed {outcome.url}: unchanged")
        else:
            print(f"feed {outcome.url}: {len(outcome.new_posts)} new post(s)")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def _print_record(record: PostRecord) -> None:
    post = record.post
    print(f"{_when(post.published or record.first_seen)}  {post.title or '(untitled)'}")
    print(f"    {post.url}")
    if record.skipped:
        print(f"    skipped: {record.skipped} (first seen {_when(record.first_seen)})")
    for d in record.deliveries:
        line = f"    {d.platform:9} {d.state:10} attempts {d.attempts}"
        if d.kind != "auto":
            line += f" ({d.kind})"
        if d.remote_url or d.remote_id:
            line += f"  {d.remote_url or d.remote_id}"
        if d.state == "pending" and d.next_attempt_at:
            line += f"  next attempt {_when(d.next_attempt_at)}"
        if d.error and d.state != "sent":
            line += f"  — {d.error}"
        print(line)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _status_json(store, records, networks, *, with_attempts: bool) -> dict:
    data = {
        "feeds": [{"url": f.url, "last_polled": _iso(f.last_polled_at), "error": f.last_error}
                  for f in store.feed_states()],
        "networks": [{"platform": n.platform, "state": n.state, "since": _iso(n.since), "reason": n.reason,
                      "rate_limited_until": _iso(n.rate_limited_until)} for n in networks],
        "posts": [],
    }
    for record in records:
        post = record.post
        item = {
            "url": post.url, "title": post.title, "feed": post.feed_url, "published": _iso(post.published),
            "first_seen": _iso(record.first_seen), "skipped": record.skipped,
            "deliveries": [{"platform": d.platform, "kind": d.kind, "state": d.state, "attempts": d.attempts,
                            "remote_id": d.remote_id, "remote_url": d.remote_url, "error": d.error,
                            "next_attempt": _iso(d.next_attempt_at), "updated": _iso(d.updated_at)}
                           for d in record.deliveries],
        }
        if with_attempts:
            item["attempts"] = [{"platform": a.platform, "at": _iso(a.at), "outcome": a.outcome,
                                 "detail": a.detail} for a in store.attempts(post.id)]
        data["posts"].append(item)
    return data
