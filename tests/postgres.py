"""A throw-away PostgreSQL server for the tests: initdb into a temporary directory, start, stop.

Used two ways:
* ``python -m tests.postgres start`` prints ``AUTOPOST_TEST_PG=<url>`` and ``PGTEST_DIR=<dir>``
  (``.ci/run`` exports them), ``python -m tests.postgres stop <dir>`` stops it and removes it;
* the ``pg_server`` fixture (tests/conftest.py) starts one for the session when
  ``AUTOPOST_TEST_PG`` is not set, and skips the PostgreSQL tests with the reason when it
  cannot (in CI, ``CI=true``, it fails instead: there they must run).

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user.
The cluster trusts local connections and does not fsync: it holds nothing worth keeping.
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest


def find_bindir() -> Path | None:
    """The directory of initdb and pg_ctl: $PG_BINDIR, the PATH, or the newest Debian install."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def start() -> tuple[str, Path]:
    """Start a fresh cluster; returns (its URL, its directory). Raises RuntimeError saying why not."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL found (initdb is not on the PATH nor in /usr/lib/postgresql/*/bin; "
                           "set PG_BINDIR)")
    home = Path(tempfile.mkdtemp(prefix="autopost-pg-"))
    data = home / "data"
    if os.geteuid() == 0:
        try:
            shutil.chown(home, "postgres")
        except (LookupError, OSError) as exc:
            shutil.rmtree(home, ignore_errors=True)
            raise RuntimeError(f"running as root, but there is no `postgres` user to run the server: {exc}") from None
    port = _free_port()
    steps = [
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--no-sync", "--locale=C"],
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w", "-t", "30", "-o",
         f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
         " -c full_page_writes=off -c max_connections=200", "start"],
    ]
    for argv in steps:
        done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = (home / "log").read_text(errors="replace") if (home / "log").exists() else ""
            stop(home)
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip() or done.stdout.strip()} {log}")
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", home


def stop(home: Path) -> None:
    bindir = find_bindir()
    data = home / "data"
    if bindir and (data / "postmaster.pid").exists():
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)
    shutil.rmtree(home, ignore_errors=True)


def wait_ready(url: str, timeout: float = 10.0) -> None:
    import psycopg

    end = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


_databases = itertools.count(1)
# Read at import: the tests' clean environment removes every AUTOPOST_ variable later.
_GIVEN_SERVER = os.environ.get("AUTOPOST_TEST_PG", "")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a PostgreSQL server: $AUTOPOST_TEST_PG (.ci/run's), else one started for the session.

    Locally the PostgreSQL tests skip, saying why, when no server can be started; in CI
    (CI=true) they fail instead, so they never pass there by not running.
    """
    url = os.environ.get("AUTOPOST_TEST_PG") or _GIVEN_SERVER
    home = None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed: pip install -e '.[postgres]'")
    if not url:
        try:
            url, home = start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            _unavailable(f"no PostgreSQL server could be started for the tests: {exc}")
    try:
        wait_ready(url)
    except Exception as exc:  # noqa: BLE001  any failure to reach it means the same: no server
        _unavailable(f"the PostgreSQL server {url} cannot be reached: {exc}")
    yield url
    if home is not None:
        stop(home)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    import psycopg

    name = f"autopost_test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(pg_server)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        url, home = start()
        print(f"AUTOPOST_TEST_PG={url}")
        print(f"PGTEST_DIR={home}")
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        stop(Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m tests.postgres start | stop DIR")
