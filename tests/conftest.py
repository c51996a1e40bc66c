"""Shared fixtures: an injected clock, a clean environment, and the CLI run in-process."""
from __future__ import annotations

import io
import os
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.fakes.feed import feed_server  # noqa: F401  (fixture)
from tests.postgres import pg_server, pg_url  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No test, nor any process a test starts, sees the developer's own autopost variables or .env file."""
    from bot.config import PREFIXES     # AUTOPOST_ and every registered network's prefix

    for key in list(os.environ):
        if key.startswith(PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> Result:
    """Run `autopost ARGV` in this process, as a user would, capturing what it prints."""
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:            # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return Result(code, out.getvalue(), err.getvalue())


def wait_for(condition, seconds: float = 20.0) -> None:
    """Wait for something a separate process does; fails the test if it never happens."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def write_env(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()), encoding="utf-8")
    return path


# The fake networks' fixtures, for tests that post through the real adapters.
from tests.fakes.bluesky import fake_pds  # noqa: E402,F401
from tests.fakes.facebook import fake_graph  # noqa: E402,F401
from tests.fakes.instagram import fake_instagram  # noqa: E402,F401
from tests.fakes.linkedin import fake_linkedin  # noqa: E402,F401
from tests.fakes.twitter import fake_x  # noqa: E402,F401


def network_env(fake_x=None, fake_linkedin=None, fake_graph=None, fake_pds=None,
                fake_instagram=None) -> dict[str, str]:
    """Env variables that point autopost's adapters at the running fakes."""
    from tests.fakes import bluesky, facebook, linkedin, twitter

    values: dict[str, str] = {}
    if fake_x is not None:
        values.update(TWITTER_API_BASE=fake_x.base_url, TWITTER_API_KEY=twitter.CREDENTIALS["api_key"],
                      TWITTER_API_SECRET=twitter.CREDENTIALS["api_secret"],
                      TWITTER_ACCESS_TOKEN=twitter.CREDENTIALS["access_token"],
                      TWITTER_ACCESS_TOKEN_SECRET=twitter.CREDENTIALS["access_token_secret"])
    if fake_linkedin is not None:
        values.update(LINKEDIN_API_BASE=fake_linkedin.base_url, LINKEDIN_ACCESS_TOKEN=linkedin.TOKEN,
                      LINKEDIN_AUTHOR=f"urn:li:person:{linkedin.MEMBER_SUB}")
    if fake_graph is not None:
        values.update(FACEBOOK_GRAPH_BASE=fake_graph.base_url, FACEBOOK_PAGE_ID=facebook.PAGE_ID,
                      FACEBOOK_PAGE_TOKEN=facebook.PAGE_TOKEN)
    if fake_pds is not None:
        values.update(BLUESKY_PDS=fake_pds.base_url, BLUESKY_HANDLE=bluesky.HANDLE,
                      BLUESKY_APP_PASSWORD=bluesky.APP_PASSWORD)
    if fake_instagram is not None:
        from tests.fakes import instagram

        values.update(INSTAGRAM_GRAPH_BASE=fake_instagram.base_url, INSTAGRAM_ACCOUNT_ID=instagram.ACCOUNT_ID,
                      INSTAGRAM_ACCESS_TOKEN=instagram.TOKEN)
    return values
