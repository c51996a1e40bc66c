"""The `autopost` command: argument parsing, exit codes, printing; no business logic.

Exit codes: 0 success; 2 nothing was done (usage or configuration error, the ledger
held by another process, `auth` without the app keys); 1 the command ran and something
failed, or a delivery still needs attention.
"""
from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Sequence, TextIO

from bot import __version__
from bot.errors import AutopostError
from bot.values import plain_text

if TYPE_CHECKING:                       # imported for real only by the commands that run
    from datetime import datetime

    from bot.config import Settings
    from bot.models import Delivery, FeedState, NetworkState, Post, PostRecord
    from bot.platforms.network import Network
    from bot.poller import FeedOutcome
    from bot.store import Store

EXAMPLES = {
    "run": "autopost --env-file /etc/autopost/autopost.env run",
    "poll": "autopost poll --dry-run",
    "preview": "autopost preview https://blog.example.com/2026/11/hello-world/ --platform NAME",
    "repost": "autopost repost https://blog.example.com/2026/11/hello-world/ --platform NAME",
    "status": "autopost status --limit 5   |   autopost status https://blog.example.com/2026/11/hello-world/"
              "   |   autopost status --pending",
    "skip": "autopost skip https://blog.example.com/2026/11/hello-world/ --platform NAME",
    "check": "autopost check   |   autopost check --platform NAME",
    # Each network's own example is under `autopost auth NAME --help` (its description's AuthFlow).
    "auth": "autopost --env-file /etc/autopost/autopost.env auth NAME",
}


class UsageError(AutopostError):
    """The command line asks for something that cannot be done; exit 2."""


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, sized without shutil. argparse makes a formatter at every ``add_argument`` (to
    check the metavar), so on every start, not only for --help; its own imports shutil for the
    terminal's width, and shutil imports zlib, bz2 and lzma: ~1.5 ms of every command."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _terminal_width() - 2)


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written (the examples keep their lines)."""


def _terminal_width() -> int:
    """The columns shutil.get_terminal_size gives: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autopost",
        description=("Post every new article of a blog's feed to X, LinkedIn, a Facebook Page, Bluesky, "
                     "Mastodon and Instagram, exactly once."),
        epilog="Example: autopost --env-file autopost.env poll --dry-run",
        formatter_class=RawDescriptionHelpFormatter)
    _global_options(parser, default_env_file=None, default_verbose=False)
    parser.add_argument("--version", action="version", version=f"autopost {__version__}")
    # The same options on every command, defaulting to SUPPRESS there, so one given before
    # the command is kept and one given after it (`autopost poll --env-file x`) wins.
    anywhere = argparse.ArgumentParser(add_help=False, formatter_class=HelpFormatter)
    _global_options(anywhere, default_env_file=argparse.SUPPRESS, default_verbose=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=[anywhere],
                                   epilog=f"Example: {EXAMPLES[name]}",
                                   formatter_class=RawDescriptionHelpFormatter)

    command("run", "run the service in the foreground (what systemd starts)")
    poll = command("poll", "one cycle: fetch every feed, deliver what is due, exit (for cron and tests)")
    poll.add_argument("--dry-run", action="store_true", help="show what would be posted; write and post nothing")
    preview = command("preview", "show the message each network would get for a post; posts nothing")
    preview.add_argument("url", nargs="?", help="the post's URL (default: the newest post of the feeds)")
    preview.add_argument("--platform", action="append", metavar="NAME",
                         help="only this network, enabled or not; repeat for several (default: every enabled network)")
    repost = command("repost", "post one post again now, as a new manual delivery")
    repost.add_argument("url", help="the post's URL, canonical or as in the feed")
    repost.add_argument("--platform", action="append", metavar="NAME",
                        help="network to post to; repeat for several (default: every enabled network)")
    repost.add_argument("--dry-run", action="store_true", help="show the messages; post nothing")
    status = command("status", "recent posts and each network's delivery state, links and errors")
    status.add_argument("url", nargs="?", help="show this post's whole story: when seen, why skipped, every attempt")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--limit", type=int, default=20, metavar="N", help="posts to show (default 20; 0 = all)")
    status.add_argument("--pending", action="store_true",
                        help="show only the queue: deliveries pending, blocked or uncertain, with when each is due")
    skip = command("skip", "cancel a post's queued deliveries on purpose (recorded as `skipped: by owner`)")
    skip.add_argument("url", help="the post's URL, canonical or as in the feed")
    skip.add_argument("--platform", action="append", metavar="NAME",
                      help="only the delivery to this network; repeat for several (default: every network)")
    check = command("check", "validate the config, fetch and parse each feed once, verify each network's credentials")
    check.add_argument("--platform", action="append", metavar="NAME",
                       help="verify only this network; repeat for several (default: every enabled network)")
    auth = command("auth", "connect an account: get its tokens and store them in the env file")
    networks = auth.add_subparsers(dest="network", metavar="NETWORK", required=True)
    words = sys.argv[1:] if argv is None else argv
    # The networks' descriptions are read only for `auth`: `--help` and the other commands start
    # without importing any network module.
    for network in _registered() if "auth" in words else ():
        if network.auth is None:
            continue
        flow = networks.add_parser(network.name, parents=[anywhere], help=network.auth.help,
                                   epilog=network.auth.epilog, formatter_class=HelpFormatter)
        if network.auth.arguments:
            network.auth.arguments(flow)
    from bot import ledger_cmd

    ledger_cmd.add_parser(commands, [anywhere])
    return parser


def _global_options(parser: argparse.ArgumentParser, *, default_env_file: object,
                    default_verbose: object) -> None:
    parser.add_argument("--env-file", metavar="PATH", default=default_env_file,
                        help="env file with the settings (default: $AUTOPOST_ENV_FILE, else ./.env if present)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default_verbose,
                        help="log at DEBUG level")


def main(argv: Sequence[str] | None = None) -> int:
    # The cycle collector waits while the command starts (see bot/launch.py, which turns it off
    # before this module is even imported), and collects for the commands that run long or
    # over much. The caller's setting is back when the command returns.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if collecting:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser(argv).parse_args(argv)
    if args.command in LONG_COMMANDS:
        gc.enable()
    from bot.config import ConfigError, load_settings   # after parsing: `--help` stays instant

    previous = _cut_calls_on_ctrl_c()
    try:
        if args.command == "ledger":                 # moves rows; needs no feeds nor credentials
            from bot import ledger_cmd

            return ledger_cmd.run(args)
        # `auth` exists to fill in credentials, so it must load without them.
        settings = load_settings(args.env_file, require_credentials=args.command != "auth")
        if args.command != "check":                  # `check` lists them as its findings
            for warning in settings.warnings:
                print(f"autopost: warning: {warning}", file=sys.stderr)
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
        return 2 if _refused(exc) else 1
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


def _cut_calls_on_ctrl_c() -> Any:
    """Ctrl-C cuts every HTTP call at once (worker threads included) before KeyboardInterrupt
    unwinds, so no thread pool waits on a slow server. Returns the handler it replaced."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: object) -> None:
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


def _refused(exc: AutopostError) -> bool:
    """Another service holds the ledger, or `ledger copy` was asked what it cannot do: nothing was
    done, like a usage error."""
    ledger_cmd = sys.modules.get("bot.ledger_cmd")
    if ledger_cmd is not None and isinstance(exc, ledger_cmd.LedgerCommandError):
        return True
    service = sys.modules.get("bot.service")       # only a command that imported it can be refused
    return service is not None and isinstance(exc, service.AlreadyRunning)


# --------------------------------------------------------------------- commands

def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.service import Service

    Service(settings).run()
    return 0


def cmd_poll(settings: Settings, args: argparse.Namespace) -> int:
    from bot import poller
    from bot.service import warn_if_env_file_is_readable

    warn_if_env_file_is_readable(settings.env_file)

    if args.dry_run or settings.dry_run:
        store = _store(settings, read_only=True)
        posts, outcomes = poller.peek_new(settings, store)
        for outcome in outcomes:
            _print_feed_outcomes([outcome])
            _print_entries(outcome)
        _show_messages(settings, posts)
        print(f"dry run: {len(posts)} post(s) would be posted; nothing was posted or recorded.")
        return 1 if any(o.error for o in outcomes) else 0

    from contextlib import nullcontext

    from bot.app import App, make_alerter
    from bot.service import ledger_lock

    with ledger_lock(settings.db_path) if not settings.db_url else nullcontext():
        store = _store(settings)
        app = App(settings, store, on_event=make_alerter(settings), explain=True)
        try:
            # Each feed's line as it finishes, not all at the end: a slow feed shows as the one waited for.
            cycle = app.cycle(on_done=_FeedProgress(settings.feeds).done)
        finally:
            app.close()
    recovered, outcomes, report = cycle.recovered, cycle.feeds, cycle.delivered
    for delivery, state in report.outcomes:
        post = store.get_post(delivery.post_id)
        detail = delivery.remote_url or delivery.error or ""
        print(f"{delivery.platform:9} {state:12} {post.url}  {detail}".rstrip())
    uncertain = [d for d, state in recovered if state == "uncertain"]
    for delivery in uncertain:
        print(f"{delivery.platform:9} {'uncertain':12} {store.get_post(delivery.post_id).url}  "
              "interrupted by a crash; check the network, then `autopost repost URL` if it is missing")
    # Every poll while a delivery stays failed, blocked or uncertain exits 1, not only the first:
    # cron mails on each run until the owner looks (`autopost status`) and reposts or skips.
    waiting = store.count_problems()
    if waiting:
        print(f"{waiting} deliver{'y needs' if waiting == 1 else 'ies need'} attention "
              "(failed, blocked or uncertain): see `autopost status`")
    return 1 if any(o.error for o in outcomes) or report.problems or uncertain or waiting else 0


def cmd_preview(settings: Settings, args: argparse.Namespace) -> int:
    from bot import feeds

    candidates = _current_posts(settings)
    if args.url:
        wanted = feeds.canonical_url(args.url)
        # The ledger is read only for a post the feeds no longer show: opening it (or making an
        # empty one in memory, when there is no file yet) is no part of the common preview.
        post = next((p for p in candidates if p.url == wanted), None) \
            or _store(settings, read_only=True).find_post(wanted)
        if post is None:
            raise UsageError(f"no post with URL {args.url} in the feeds or the ledger")
    else:
        post = _newest(candidates)
        if post is None:
            print("no posts found in the configured feeds", file=sys.stderr)
            return 1
    if args.platform:
        names = tuple(dict.fromkeys(args.platform))
        _known_networks(names)
        for name in names:
            if name not in settings.platforms:
                print(f"{name} is not enabled: shown only, autopost posts nothing there "
                      f"(enabled: {', '.join(settings.platforms)})")
        settings = settings._replace(platforms=names)
    _show_messages(settings, [post])
    _print_notes(settings, post, candidates)
    return 0


def _print_notes(settings: Settings, post: Post, candidates: Sequence[Post]) -> None:
    """Each shown network's own notes on this post (X: what it, and a month of the feed, would cost)."""
    from bot.platforms.registry import CONSOLE, NETWORKS

    for network in NETWORKS:
        if network.preview_note and {network.name, CONSOLE} & set(settings.platforms):
            for line in network.preview_note(settings, settings.networks.get(network.name), post, candidates):
                print(line)


def cmd_repost(settings: Settings, args: argparse.Namespace) -> int:
    from bot import feeds
    from bot.delivery import Deliverer
    from bot.app import build_platforms

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
        _show_messages(settings._replace(platforms=names), [post])
        return 0
    # No ledger lock: the claim of a delivery is atomic, so a repost can run beside the service.
    chosen = settings._replace(platforms=names)
    store = _store(settings)
    post = store.find_post(wanted) or _find_in_feeds(settings, store, wanted)
    if post is None:
        raise UsageError(f"{args.url} is neither in the ledger nor in any configured feed")
    deliverer = Deliverer(store, chosen, build_platforms(chosen))
    failed = False
    for name in names:
        delivery = store.add_manual_delivery(_ledger_id(post), name)
        state = deliverer.deliver(delivery)
        done = store.get_delivery(delivery.id)
        print(f"{name:9} {state:12} {done.remote_url or done.remote_id or done.error or ''}".rstrip())
        if state == "in-progress":
            # The network is still preparing it; its progress is in the ledger, and the service
            # (or the next `poll`) finishes it: not a failure.
            print(f"{'':9} {'':12} the service (or the next `autopost poll`) finishes it after "
                  f"{_when(done.next_attempt_at)}")
        failed |= state not in ("sent", "in-progress")
    return 1 if failed else 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from bot import feeds

    store = _store(settings, read_only=True)
    url = feeds.canonical_url(args.url) if args.url else None
    records = store.post_records(limit=None if url else args.limit, url=url)
    if url and not records:
        raise UsageError(f"no post with URL {args.url} in the ledger")
    if url and args.pending:
        raise UsageError("--pending shows the whole queue; give it no URL")
    networks = [store.network_state(n) for n in settings.platforms]
    problems = store.count_problems()
    if args.pending:
        _print_queue(store, as_json=args.json)
        return 1 if problems else 0
    feed_states = _feeds_in_order(settings, store)
    if args.json:
        import json

        print(json.dumps(_status_json(store, records, networks, with_attempts=bool(url), feeds=feed_states),
                         indent=2, ensure_ascii=False))
        return 1 if problems else 0
    now = store.clock()
    for state, configured in feed_states:
        print(plain_text(f"feed {state.url}{'' if configured else ' (no longer configured)'}: "
                         f"last polled {_when(state.last_polled_at)}"
                         + (f" — ERROR: {state.last_error}" if state.last_error else "")))
    for feed_url, held, last in store.bursts():
        print(f"feed {feed_url}: BURST: {held} entr{'y' if held == 1 else 'ies'} held back (skipped: burst),"
              f" last on {_when(last)}; `autopost repost URL` posts one on purpose")
    for network in networks:
        line = f"network {network.platform}: {network.state}"
        if network.state != "healthy":             # blocked, or failing: its recent calls did not get through
            line += f" since {_when(network.since)}: {network.reason}"
        if network.rate_limited_until and network.rate_limited_until > now:
            line += f" (rate-limited until {_when(network.rate_limited_until)})"
        print(line)
    _print_leases(store)
    print()
    for record in records:
        _print_record(record)
        if url:
            for attempt in store.attempts(_ledger_id(record.post)):
                print(f"    {_when(attempt.at)}  {attempt.platform:9} {attempt.outcome:12} {attempt.detail}")
            _print_texts(record)
    if not records:
        print("no posts recorded yet")
    elif not url and args.limit and len(records) == args.limit:
        total = store.count_posts()
        if total > len(records):
            print(f"\n{len(records)} of {total} posts; `autopost status --limit 0` shows all")
    if problems:
        print(f"\n{problems} deliver{'y needs' if problems == 1 else 'ies need'} attention "
              "(failed, blocked or uncertain): see the errors above; `autopost repost URL` posts again.")
    return 1 if problems else 0


def cmd_skip(settings: Settings, args: argparse.Namespace) -> int:
    from bot import feeds

    names = tuple(dict.fromkeys(args.platform)) if args.platform else None
    _known_networks(names or ())
    post = None
    if settings.db_url or settings.db_path.exists():   # never create a ledger only to find it empty
        store = _store(settings)
        post = store.find_post(feeds.canonical_url(args.url))
    if post is None:
        raise UsageError(f"no post with URL {args.url} in the ledger")
    # No ledger lock, as for repost: each row changes only if it is still waiting.
    skipped = store.skip_deliveries(_ledger_id(post), names)
    for delivery in skipped:
        print(f"{delivery.platform:9} {'skipped':12} {post.url}  by owner")
    if not skipped:
        print(f"autopost: nothing to skip: {post.url} has no pending, blocked, uncertain or failed delivery"
              + (f" to {', '.join(names)}" if names else ""), file=sys.stderr)
        return 2                                      # nothing was done, as for a usage error
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from bot.delivery import Deliverer
    from bot.app import build_platforms, make_alerter, try_verify
    from bot.service import warn_if_env_file_is_readable

    warn_if_env_file_is_readable(settings.env_file)

    names = tuple(dict.fromkeys(args.platform or settings.platforms))
    _known_networks(names)
    unknown = [n for n in names if n not in settings.platforms]
    if unknown:
        raise UsageError(f"--platform {unknown[0]} is not enabled; enabled: {', '.join(settings.platforms)}")
    # An existing ledger learns each network's verified or blocked state (held posts are released
    # by a check that passes), with the alerts such a change sends. Where there is no ledger yet,
    # the check runs on a scratch one in memory: it creates no file and alerts no one.
    ledger_exists = bool(settings.db_url) or settings.db_path.exists()
    store = _store(settings, read_only=not ledger_exists)
    print(f"config: {'OK' if not settings.warnings else 'WARNING'} ({len(settings.feeds)} feed(s), "
          f"networks: {', '.join(settings.platforms)}, ledger: {settings.ledger})")
    for finding in settings.warnings:
        print(f"config: warning: {finding}")
    healthy = _check_feeds(settings, store)
    settings = settings._replace(platforms=names)
    deliverer = Deliverer(store, settings, build_platforms(settings),
                          on_event=make_alerter(settings) if ledger_exists else None)
    for name in settings.platforms:
        ok, text = try_verify(deliverer, name)
        healthy &= ok
        print(f"{name}: {text}")
        note = _check_note(name, settings)
        if note:
            print(f"{name}: {note}")
        warning = _expiry_warning(name, settings, store.clock())
        if warning:
            print(f"{name}: warning: {warning}")
    return 0 if healthy and not settings.warnings else 1


def cmd_auth(settings: Settings, args: argparse.Namespace) -> int:
    """Run one network's auth flow; secrets are typed at hidden prompts, never taken from argv."""
    from pathlib import Path

    from bot.platforms.registry import network

    env_path = settings.env_file or Path(".env")
    flow = network(args.network).auth
    assert flow is not None, "the parser offers only networks with an auth flow"
    flow.run(settings, settings.networks.get(args.network), env_path, args)
    print(_keep_private(env_path))
    return 0


def _keep_private(env_path: str | os.PathLike[str]) -> str:
    """The env file now holds tokens: make it readable by its owner only, and say so."""
    real = os.path.realpath(env_path)
    mode = os.stat(real).st_mode & 0o777
    if mode & 0o077:
        os.chmod(real, mode & 0o700 | 0o600)
        return (f"{env_path} holds your tokens: its mode is now 0600 (it was {mode:04o}), "
                "so only its owner can read it.")
    return f"{env_path} holds your tokens and is readable only by its owner (mode {mode:04o})."


# The service, one poll of what may be thousands of feeds, and the copy of a whole ledger.
LONG_COMMANDS = frozenset({"run", "poll", "ledger"})
COMMANDS = {"run": cmd_run, "poll": cmd_poll, "preview": cmd_preview, "repost": cmd_repost,
            "status": cmd_status, "skip": cmd_skip, "check": cmd_check, "auth": cmd_auth}


# ---------------------------------------------------------------------- helpers

def _print_leases(store: Store) -> None:
    """On a shared (PostgreSQL) ledger: which service (host:pid) holds which feed and delivery."""
    if not store.shared:
        return
    leases = store.leases()
    for kind, what, holder, until in leases:
        print(f"{kind} {what}: held by {holder} until {_when(until)}")
    if not leases:
        print("no service holds a feed or a delivery now")


def _leases_json(store: Store) -> list[dict[str, Any]]:
    """What _print_leases says, for `status --json` (always empty on a SQLite ledger)."""
    if not store.shared:
        return []
    leases = []
    for kind, what, holder, until in store.leases():
        where = dict(zip(("platform", "url"), what.split(" ", 1))) if kind == "delivery" else {"url": what}
        leases.append({"kind": kind, **where, "holder": holder, "until": _iso(until)})
    return leases


def _store(settings: Settings, *, read_only: bool = False) -> Store:
    """Open the ledger; a command that only reads never creates one."""
    from bot.store import open_ledger

    return open_ledger(settings, read_only=read_only)


def _ledger_id(post: Post) -> int:
    assert post.id is not None, "a post read from or added to the ledger has its row id"
    return post.id


def _registered() -> tuple[Network, ...]:
    from bot.platforms.registry import NETWORKS

    return NETWORKS


def _known_networks(names: Sequence[str]) -> None:
    from bot.platforms.registry import PLATFORM_NAMES

    for name in names:
        if name not in PLATFORM_NAMES:
            raise UsageError(f"--platform {name}: no such network; choose from {', '.join(PLATFORM_NAMES)}")


def _check_feeds(settings: Settings, store: Store) -> bool:
    """Fetch each feed once and parse it; True when every one can be read.

    The request is conditional on the ledger's validators (a polite client, and a 304 proves
    the feed answers), but never on its body hash: an unchanged body is parsed and counted.
    Nothing is written to the ledger.
    """
    from bot import feeds
    from bot.models import FeedState

    from bot.urls import display_url

    healthy = True
    for real in settings.feeds:
        url = display_url(real)       # the ledger's key and what is shown; the real one is fetched
        known = store.feed_state(url)
        try:
            result = feeds.fetch(real, FeedState(url=url, etag=known.etag, last_modified=known.last_modified),
                                 timeout=settings.request_timeout, max_bytes=settings.max_feed_bytes,
                                 allow_private_networks=settings.allow_private_networks)
            if result.body is None:
                print(f"feed {url}: OK, not modified since the last poll ({_when(known.last_polled_at)})")
                continue
            parsed = feeds.parse(result.body, feed_url=url, base_url=display_url(result.final_url or real),
                                 content_type=result.content_type)
        except AutopostError as exc:
            healthy = False
            print(plain_text(f"feed {url}: FAILED: {exc}"))
            continue
        count = len(parsed.posts)
        line = f"feed {url}: OK, {count} entr{'y' if count == 1 else 'ies'}"
        newest = _newest(parsed.posts)
        if newest:
            line += f", newest: {newest.title or newest.url}"
            if newest.published:
                line += f" ({_when(newest.published)})"
        print(plain_text(line))              # a malformed but usable feed: feeds.parse has logged why
    return healthy


def _newest(posts: Sequence[Post]) -> Post | None:
    """The newest by date when any has one, else the feed's first (almost always its newest)."""
    dated = [(p.published, p) for p in posts if p.published]
    if dated:
        return max(dated, key=lambda pair: pair[0])[1]
    return posts[0] if posts else None


def _expiry_warning(name: str, settings: Settings, now: datetime) -> str | None:
    from bot.service import expiry_warning, token_expiries

    expires = token_expiries(settings).get(name)
    return expiry_warning(name, expires, now.date()) if expires else None


def _check_note(name: str, settings: Settings) -> str | None:
    from bot.platforms.registry import CONSOLE, network

    if name == CONSOLE:
        return None
    note = network(name).check_note
    return note(settings) if note else None


def _current_posts(settings: Settings) -> list[Post]:
    """Every entry the feeds show now, fetched whole (no validators); a feed that fails is reported."""
    from bot import feeds

    from bot.urls import display_url

    posts: list[Post] = []
    for real in settings.feeds:
        url = display_url(real)
        try:
            result = feeds.fetch(real, None, timeout=settings.request_timeout, max_bytes=settings.max_feed_bytes,
                                 allow_private_networks=settings.allow_private_networks)
            assert result.body is not None                # no validators given: always a body
            posts.extend(feeds.parse(result.body, feed_url=url, base_url=display_url(result.final_url or real),
                                     content_type=result.content_type).posts)
        except AutopostError as exc:
            print(f"feed {url}: {exc}", file=sys.stderr)
    return posts


def _find_in_feeds(settings: Settings, store: Store | None, url: str) -> Post | None:
    """Look an unknown URL up in the current feeds and record it (unless store is None) for a repost."""
    post = next((p for p in _current_posts(settings) if p.url == url), None)
    if post is None or store is None:
        return post
    return store.add_post(post.feed_url, post)


def _show_messages(settings: Settings, posts: Sequence[Post]) -> None:
    from bot.delivery import messages_for
    from bot.platforms.console import ConsolePlatform

    console = ConsolePlatform(sys.stdout)
    for post in posts:
        print(f"=== {post.title or '(untitled)'} — {post.url}")
        for platform in settings.platforms:
            for message in messages_for(post, platform, settings):
                console.publish(message)


def _print_feed_outcomes(outcomes: Sequence[FeedOutcome]) -> None:
    for outcome in outcomes:
        if outcome.error:
            print(plain_text(f"feed {outcome.url}: ERROR: {outcome.error}"))
        elif outcome.unchanged:
            print(f"feed {outcome.url}: unchanged")
        else:
            print(f"feed {outcome.url}: {len(outcome.new_posts)} new post(s)")
        if outcome.burst:
            print(f"feed {outcome.url}: BURST: {outcome.burst} more new entries held back (skipped: burst); "
                  "`autopost repost URL` posts one on purpose")


def _print_entries(outcome: FeedOutcome) -> None:
    """What happened to each entry the feed showed for the first time; deliveries follow."""
    for post in outcome.new_posts:
        print(plain_text(f"    queued: {post.title or '(untitled)'} — {post.url}"))
    for post, reason in outcome.skipped:
        print(plain_text(f"    skipped ({reason}): {post.title or '(untitled)'} — {post.url}"))


class _FeedProgress:
    """Prints each feed's outcome as it finishes; on a terminal, also a live line on standard
    error saying which feeds are still pending (erased before each outcome line)."""

    def __init__(self, urls: Sequence[str], stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        from bot.urls import display_url

        self.pending = [display_url(url) for url in urls]     # outcomes carry the display form
        self.total = len(self.pending)
        self.live = self.stream.isatty()
        self._draw()

    def done(self, outcome: FeedOutcome) -> None:
        self._erase()
        _print_feed_outcomes([outcome])
        _print_entries(outcome)
        sys.stdout.flush()
        if outcome.url in self.pending:
            self.pending.remove(outcome.url)
        self._draw()

    def _draw(self) -> None:
        if not self.live or not self.pending:
            return
        import shutil

        more = f" and {len(self.pending) - 1} more" if len(self.pending) > 1 else ""
        text = (f"polling: {self.total - len(self.pending)} of {self.total} feeds done; "
                f"waiting for {self.pending[0]}{more}")
        self.stream.write("\r" + text[:shutil.get_terminal_size().columns - 1])
        self.stream.flush()

    def _erase(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def _print_record(record: PostRecord) -> None:
    from bot.store import FUTURE_SLACK

    post = record.post
    # Listed, as the ledger orders it, by the earlier of its date and when it was seen: an entry
    # dated ahead stands where it was seen, and its own date is said plainly below.
    ahead = post.published is not None and post.published > record.first_seen + FUTURE_SLACK
    shown = record.first_seen if ahead or post.published is None else post.published
    # A ledger written before feed text was cleaned may still hold control characters.
    print(plain_text(f"{_when(shown)}  {post.title or '(untitled)'}"))
    print(f"    {post.url or '(no link of its own)'}")
    if ahead:
        print(f"    dated {_when(post.published)}, ahead of when it was seen: due then, not before")
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
        if d.state == "skipped":
            line += f"  skipped: {d.error or 'by owner'}"
        elif d.error and d.state != "sent":
            line += f"  — {d.error}"
        print(plain_text(line))


def _feeds_in_order(settings: Settings, store: Store) -> list[tuple[FeedState, bool]]:
    """(feed state, configured?) in configuration order, then the ledger's feeds no longer configured."""
    from bot.urls import display_url

    shown = [display_url(url) for url in settings.feeds]      # the ledger keys feeds by this form
    configured = [(store.feed_state(url), True) for url in dict.fromkeys(shown)]
    # A ledger written before feed URLs were masked may still key a feed by its real URL.
    gone = [(state._replace(url=display_url(state.url)), False) for state in store.feed_states()
            if state.url not in shown]
    return configured + gone


def _due(delivery: Delivery, now: datetime) -> str:
    if delivery.state == "blocked":
        return "when the network verifies again"
    if delivery.state == "uncertain":
        return "when you decide: `autopost repost URL` or `autopost skip URL`"
    if delivery.next_attempt_at is None or delivery.next_attempt_at <= now:
        return "now"
    return _when(delivery.next_attempt_at)


def _due_json(delivery: Delivery, now: datetime) -> dict[str, Any]:
    """`_due` for a program: "due" an ISO 8601 time, or null when due now (then "due_now" is true)
    or when it waits on something other than the clock ("waits_for" says what)."""
    waits_for = {"blocked": "the network to verify again",
                 "uncertain": "the owner: `autopost repost URL` or `autopost skip URL`"}.get(delivery.state)
    later = delivery.next_attempt_at is not None and delivery.next_attempt_at > now
    return {"due": _iso(delivery.next_attempt_at) if later and waits_for is None else None,
            "due_now": waits_for is None and not later, "waits_for": waits_for}


def _print_queue(store: Store, *, as_json: bool) -> None:
    """What is still to go out, soonest first within publication order, and when."""
    now = store.clock()
    queued = store.deliveries(states=("pending", "blocked", "uncertain"))
    posts = {d.post_id: store.get_post(d.post_id) for d in queued}
    if as_json:
        import json

        print(json.dumps({"pending": [
            {"url": posts[d.post_id].url, "title": posts[d.post_id].title, "platform": d.platform,
             "kind": d.kind, "state": d.state, **_due_json(d, now), "next_attempt": _iso(d.next_attempt_at),
             "attempts": d.attempts, "error": d.error} for d in queued]}, indent=2, ensure_ascii=False))
        return
    for d in queued:
        post = posts[d.post_id]
        print(f"{d.platform:9} {d.state:10} due {_due(d, now)}  {post.title or '(untitled)'}")
        print(f"    {post.url}" + (f"  — {d.error}" if d.error else ""))
    print(f"{len(queued)} deliver{'y' if len(queued) == 1 else 'ies'} queued" if queued else "nothing queued")


def _print_texts(record: PostRecord) -> None:
    """The text each network received (or was to receive), as composed for it."""
    for d in record.deliveries:
        if d.text:
            print(f"    ── text {'sent to' if d.state == 'sent' else 'composed for'} {d.platform}:")
            for line in d.text.splitlines():
                print(f"       {line}".rstrip())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _status_json(store: Store, records: Sequence[PostRecord], networks: Sequence[NetworkState], *,
                 with_attempts: bool, feeds: Sequence[tuple[FeedState, bool]] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "feeds": [{"url": f.url, "last_polled": _iso(f.last_polled_at), "error": f.last_error,
                   "configured": configured}
                  for f, configured in (feeds if feeds is not None else [(f, True) for f in store.feed_states()])],
        "networks": [{"platform": n.platform, "state": n.state, "since": _iso(n.since), "reason": n.reason,
                      "rate_limited_until": _iso(n.rate_limited_until)}
                     for n in networks],
        "leases": _leases_json(store),
        "posts": [],
    }
    for record in records:
        post = record.post
        item: dict[str, Any] = {
            "url": post.url, "title": post.title, "feed": post.feed_url, "published": _iso(post.published),
            "first_seen": _iso(record.first_seen), "skipped": record.skipped,
            "deliveries": [{"platform": d.platform, "kind": d.kind, "state": d.state, "attempts": d.attempts,
                            "remote_id": d.remote_id, "remote_url": d.remote_url, "error": d.error,
                            "next_attempt": _iso(d.next_attempt_at), "updated": _iso(d.updated_at)}
                           for d in record.deliveries],
        }
        if with_attempts:
            for delivery, entry in zip(record.deliveries, item["deliveries"]):
                entry["text"] = delivery.text
            item["attempts"] = [{"platform": a.platform, "at": _iso(a.at), "outcome": a.outcome,
                                 "detail": a.detail} for a in store.attempts(_ledger_id(post))]
        data["posts"].append(item)
    return data
