#!/usr/bin/env python3
"""How long composing takes on hostile feed text: one row per text shape, one column per network.

Run from the repository root::

    .venv/bin/python bench/compose_bench.py                  # every shape at 10,000 characters
    .venv/bin/python bench/compose_bench.py --sizes 300,3000 --repeat 1 --budget 5

Every field of the post (title, summary, author, feed title) holds the shape, so
each is trimmed and fitted. A cell is the best of ``--repeat`` runs in
milliseconds; ``x`` marks one over the 50 ms target, ``>N s`` one stopped after
``--budget`` seconds (a regression to backtracking would otherwise run for
minutes). ``weigh`` is ``weighted_length`` of the raw shape, URL extraction included.
Timings live here, never in tests.
"""
from __future__ import annotations

import argparse
import functools
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.compose import compose
from bot.models import Post
from bot.twitter_text import weighted_length

TARGET_MS = 50.0
NETWORKS = ("twitter", "linkedin", "facebook")


def _repeat(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


SHAPES = {
    "ab.ab.ab...": lambda n: _repeat("ab.", n),
    "a" * 5: lambda n: "a" * n,
    "a-a-a-...": lambda n: _repeat("a-", n),
    "a.b-a.b-...": lambda n: _repeat("a.b-", n),
    "a.a.a...a.com": lambda n: _repeat("a.", n - 3) + "com",
    "https://x.com/a x300": lambda n: _repeat("https://x.com/a ", n),
    "x.com/ab.ab.ab...": lambda n: "https://x.com/" + _repeat("ab.", n - 14),
    "Cyrillic words": lambda n: _repeat("привет мир. ", n),
    "Cyrillic, dots": lambda n: _repeat("я" * 50 + ".", n),
    "CJK": lambda n: _repeat("中文字", n),
    "emoji": lambda n: _repeat("\U0001F600", n),
    "@@@": lambda n: "@" * n,
    "###": lambda n: "#" * n,
    "plain words": lambda n: _repeat("lorem ipsum dolor. ", n),
}


class _OverBudget(Exception):
    pass


def _timed(function, budget: float) -> float | None:
    """Seconds ``function()`` took, or None if stopped after ``budget`` seconds."""
    def stop(signum, frame):
        raise _OverBudget

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        start = time.perf_counter()
        function()
        return time.perf_counter() - start
    except _OverBudget:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _best(function, repeat: int, budget: float) -> str:
    times = []
    for _ in range(repeat):
        seconds = _timed(function, budget)
        if seconds is None:
            return f">{budget:g} s"
        times.append(seconds * 1000)
    best = min(times)
    return f"{best:.1f}" + (" x" if best > TARGET_MS else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated field lengths (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per cell; the best is shown")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds before a call is stopped")
    args = parser.parse_args(argv)

    header = f"{'shape':22} {'chars':>6} " + " ".join(f"{name:>10}" for name in NETWORKS + ("weigh",))
    print(header)
    print("-" * len(header))
    worst = 0.0
    for size in (int(s) for s in args.sizes.split(",")):
        for name, make in SHAPES.items():
            text = make(size)
            post = Post(feed_url="https://blog.example.com/feed", key="k", url="https://blog.example.com/x/",
                        title=text, summary=text, author=text, feed_title=text)
            cells = [_best(functools.partial(compose, post, network), args.repeat, args.budget)
                     for network in NETWORKS]
            cells.append(_best(functools.partial(weighted_length, text), args.repeat, args.budget))
            for cell in cells[:-1]:
                worst = max(worst, float("inf") if cell.startswith(">") else float(cell.split()[0]))
            print(f"{name:22} {len(text):>6} " + " ".join(f"{cell:>10}" for cell in cells))
    print(f"\nslowest compose: {worst:.1f} ms (target: under {TARGET_MS:g} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
