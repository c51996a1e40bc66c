"""The ledger, on SQLite (the default) or PostgreSQL: schema, migrations and every SQL statement.

Every (post, network) pair is one row in ``deliveries``; a unique index makes a
second automatic delivery of the same post to the same network impossible, so
the promise "never twice" does not rest on application code alone.

All timestamps are stored as ISO 8601 text in UTC.

Both databases run the same statements: the SQL is portable (``ON CONFLICT``,
``RETURNING``), and a thin dialect layer (``_PgConnection``) turns ``?`` into
psycopg's placeholders, ``INSERT OR IGNORE`` into ``ON CONFLICT DO NOTHING``, and
``INTEGER PRIMARY KEY`` into an identity column. The schema version is
``PRAGMA user_version`` on SQLite and the ``schema_version`` table on PostgreSQL,
where migrations run under ``pg_advisory_xact_lock`` so that services starting
together migrate once. psycopg is imported only for a ``postgresql://`` ledger.

A PostgreSQL ledger is *shared*: several services work on it at once. A claimed
delivery carries a lease (its holder, host:pid, and an expiry); a feed's poll is
leased too (``lease_feed``); an expired ``sending`` lease is handed to whichever
service asks ``interrupted()`` first, which reconciles it as start-up recovery does.
"""
from __future__ import annotations

import json
import os
import re
import socket
from collections import Counter
import sqlite3
import threading
from functools import lru_cache
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, cast

from bot.models import (
    Attempt, AutopostError, Delivery, FeedState, FetchResult, NetworkState, Post, PostRecord, Published, utcnow,
)
from bot.urls import identity, is_web_url, path_identity

# An entry dated further ahead than this is a scheduled post leaking early (or a clock that
# runs fast): it is queued for its own date, not posted now.
FUTURE_SLACK = timedelta(minutes=10)

# SQLite's smallest limit on host parameters in one statement is 999.
_CHUNK = 400


class Recorded(list):
    """The posts one poll queued (a list, oldest first), and how many more were held as a burst."""

    burst: int = 0

# Each migration runs in one transaction together with its version bump.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        title TEXT,
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,
        first_polled_at TEXT,
        last_polled_at TEXT,
        last_error TEXT
    );
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES feeds(id),
        entry_key TEXT NOT NULL,
        url TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        image_url TEXT,
        feed_title TEXT NOT NULL DEFAULT '',
        published_at TEXT,
        first_seen_at TEXT NOT NULL,
        skipped TEXT,
        UNIQUE (feed_id, entry_key)
    );
    CREATE INDEX posts_by_url ON posts (url);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        post_id INTEGER NOT NULL REFERENCES posts(id),
        platform TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'auto',
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        text TEXT,
        remote_id TEXT,
        remote_url TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX deliveries_one_auto ON deliveries (post_id, platform) WHERE kind = 'auto';
    CREATE INDEX deliveries_by_state ON deliveries (state, platform, next_attempt_at);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
    CREATE TABLE networks (
        platform TEXT PRIMARY KEY,
        state TEXT NOT NULL DEFAULT 'healthy',
        since TEXT,
        reason TEXT,
        rate_limited_until TEXT
    );
    """,
    # 2: identity across feeds and schemes (bot/urls.py): the link's and the guid's identity,
    # filled for existing rows by _fill_identities.
    """
    ALTER TABLE posts ADD COLUMN ident TEXT;
    ALTER TABLE posts ADD COLUMN key_ident TEXT;
    CREATE INDEX posts_by_ident ON posts (ident);
    CREATE INDEX posts_by_key_ident ON posts (key_ident);
    """,
    # 3: leases, for several services on one (PostgreSQL) ledger: who sends a delivery and
    # until when, who polls a feed and until when. Unused (NULL) on a SQLite ledger.
    """
    ALTER TABLE deliveries ADD COLUMN lease_holder TEXT;
    ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
    ALTER TABLE feeds ADD COLUMN lease_holder TEXT;
    ALTER TABLE feeds ADD COLUMN lease_until TEXT;
    """,
    # 4: a network that publishes in steps records how far it got (its progress token, e.g. a
    # media container's id) before the step that posts, so a later attempt or crash recovery
    # continues from it instead of starting again.
    """
    ALTER TABLE deliveries ADD COLUMN progress TEXT;
    """,
    # 5: the feed's language, so a delivery sent later (a retry, a repost) still tells the
    # network what language the post is in (Bluesky's ``langs``).
    """
    ALTER TABLE posts ADD COLUMN language TEXT NOT NULL DEFAULT '';
    """,
    # 6: feeds recorded under their real URL before feed passwords and ?key= values were masked
    # take their display form (_mask_feed_urls): no secret stays in the ledger, and the feed keeps
    # its history instead of starting again as a feed never seen.
    "",
)

SCHEMA_VERSION = len(MIGRATIONS)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds") if moment else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _moment(text: str) -> datetime:
    """A timestamp from a NOT NULL column."""
    return datetime.fromisoformat(text)


def _rowid(cursor: sqlite3.Cursor | _PgCursor) -> int:
    assert cursor.lastrowid is not None, "an INSERT sets the row id"
    return cursor.lastrowid


def is_postgres(target: str | Path) -> bool:
    """Whether AUTOPOST_DB names a PostgreSQL ledger rather than a SQLite file."""
    return str(target).startswith(("postgresql://", "postgres://"))


def masked(target: str | Path) -> str:
    """The ledger as it may be shown: a PostgreSQL URL with its password (in the userinfo or a
    ?password= parameter) as ****, even a URL too malformed to parse."""
    text = str(target)
    if not is_postgres(text):
        return text
    from bot.urls import display_url

    return display_url(text)


def default_holder() -> str:
    """This service's name in leases and in `status`: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class StorageError(AutopostError):
    """The ledger cannot be used: the message names the file, what is wrong and what to do."""


def storage_error(path: str, exc: BaseException, *, read_only: bool = False) -> StorageError:
    """One sentence for a failing ledger: which file, what is wrong, what to do."""
    text = str(exc)
    low = text.lower()
    where = Path(path).parent.resolve()
    if "full" in low or getattr(exc, "errno", None) == 28:
        problem = (f"cannot be written: the disk is full ({text}); free some space on it, then run autopost "
                   "again (a post a network already accepted is recorded then)")
    elif "readonly" in low or "read-only" in low or getattr(exc, "errno", None) in (13, 30) \
            or "unable to open" in low:
        problem = (f"cannot be {'read' if read_only else 'written'}: the file or its directory {where} is "
                   f"read-only or not accessible to this user ({text}); make both writable by the user "
                   "running autopost, or point AUTOPOST_DB at a writable place")
    elif "not a database" in low or "malformed" in low or "corrupt" in low:
        problem = (f"is damaged ({text}); restore it from a backup, or move it aside to start a new ledger "
                   "(every entry the feeds show now is then recorded as seen, not posted)")
    elif "locked" in low or "busy" in low:
        problem = f"is busy ({text}); another program holds it: stop it and run autopost again"
    elif "disk i/o" in low:
        problem = ("cannot be read or written: disk I/O error; check that the disk is not full and is "
                   "healthy (dmesg), then run autopost again")
    else:
        problem = f"failed: {text}"
    return StorageError(f"the ledger {path} {problem}")


class _Connection:
    """The sqlite3 connection, with every storage fault turned into a StorageError naming the file."""

    def __init__(self, raw: sqlite3.Connection, path: str, read_only: bool):
        self.raw = raw
        self._path = path
        self._read_only = read_only

    def execute(self, sql: str, params: tuple | list | dict = ()) -> sqlite3.Cursor:
        try:
            return self.raw.execute(sql, params)
        except sqlite3.IntegrityError:
            raise                            # the ledger's own rules, not a fault of the file
        except sqlite3.DatabaseError as exc:
            raise storage_error(self._path, exc, read_only=self._read_only) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def rollback_quietly(self) -> None:
        if self.raw.in_transaction:          # SQLite may have rolled back itself (disk full)
            try:
                self.raw.execute("ROLLBACK")
            except sqlite3.Error:
                pass


def _pg_sql_uncached(sql: str) -> tuple[str, bool]:
    """SQLite's statement in PostgreSQL's words; and whether it returns the new row's id."""
    text = sql.replace("%", "%%").replace("?", "%s")
    if text.lstrip().upper().startswith("INSERT OR IGNORE INTO"):
        text = text.replace("INSERT OR IGNORE INTO", "INSERT INTO", 1) + " ON CONFLICT DO NOTHING"
    text = text.replace("INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    returns_id = bool(re.match(r"\s*INSERT INTO (posts|deliveries|attempts|feeds) ", text)) \
        and "RETURNING" not in text and "ON CONFLICT" not in text
    if returns_id:
        text += " RETURNING id"
    return text, returns_id


_pg_sql = lru_cache(maxsize=512)(_pg_sql_uncached)


class _PgRow:
    """A row that answers to a column's name and to its position, as sqlite3.Row does."""

    __slots__ = ("_values", "_names")

    def __init__(self, values: Sequence[Any], names: dict[str, int]):
        self._values = tuple(values)
        self._names = names

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def _pg_rows(cursor: Any) -> Callable[[Sequence[Any]], _PgRow]:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: _PgRow(values, names)


class _PgCursor:
    """What the store uses of a sqlite3 cursor, over a psycopg one."""

    def __init__(self, cursor: Any, returns_id: bool):
        self._cursor = cursor
        self.rowcount: int = cursor.rowcount
        self.lastrowid: int | None = cursor.fetchone()[0] if returns_id else None

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor.fetchall())


class _PgConnection:
    """A psycopg connection speaking the store's SQLite-flavoured SQL; faults become StorageErrors."""

    def __init__(self, url: str):
        import psycopg

        self._psycopg = psycopg
        self._url = url
        try:
            self.raw = psycopg.connect(url, autocommit=True, row_factory=_pg_rows, connect_timeout=10,
                                       application_name="autopost")
        except psycopg.Error as exc:
            raise self.fail(exc) from None

    def fail(self, exc: BaseException) -> StorageError:
        text = str(exc).strip()
        from bot.urls import url_secrets

        for secret in sorted(url_secrets(self._url), key=len, reverse=True):
            text = text.replace(secret, "****")
        return StorageError(f"the ledger {masked(self._url)} failed: {text}; check that the PostgreSQL server "
                            "is running and reachable, and the URL's user, password and database")

    def execute(self, sql: str, params: tuple | list | dict = ()) -> _PgCursor:
        text, returns_id = _pg_sql(sql)
        try:
            return _PgCursor(self.raw.execute(text, params or None), returns_id)
        except self._psycopg.IntegrityError:
            raise                            # the ledger's own rules, not a fault of the server
        except self._psycopg.Error as exc:
            raise self.fail(exc) from None

    @property
    def in_transaction(self) -> bool:
        return bool(self.raw.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE)

    def begin(self) -> None:
        self.execute("BEGIN")

    def rollback_quietly(self) -> None:
        if self.in_transaction:
            try:
                self.raw.execute("ROLLBACK")
            except self._psycopg.Error:
                pass

    def close(self) -> None:
        self.raw.close()


class Store:
    """The ledger. One connection shared by the service's threads behind a lock."""

    # What a delivery's lease lasts unless the service says otherwise (open_ledger does).
    LEASE = 120.0

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = utcnow, read_only: bool = False,
                 holder: str | None = None, lease: float | None = None):
        """Open (and migrate) the ledger; ``read_only`` never writes, so `status` works on a read-only file.

        ``path`` is a SQLite file or a ``postgresql://`` URL. ``holder`` names this process in the
        leases of a shared ledger (host:pid by default), ``lease`` is how long, in seconds, a
        claimed delivery stays this process's before another service may reconcile it.

        Raises StorageError naming the file when it cannot be opened, read or written.
        """
        self.clock = clock
        self.holder = holder or default_holder()
        self.lease = timedelta(seconds=lease if lease is not None else self.LEASE)
        self._lock = threading.RLock()
        self.shared = is_postgres(path)
        if self.shared:
            import psycopg

            self.url = str(path)
            self.path = masked(self.url)
            self.read_only = False
            self.integrity_errors: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
            # Either connection: the store's SQL runs on both (see the module docstring).
            self._db: Any = _PgConnection(self.url)
            self._migrate()
            return
        self.url = ""
        self.path = str(path)
        self.integrity_errors = (sqlite3.IntegrityError,)
        self.read_only = read_only and self.path != ":memory:"
        try:
            self._db = _Connection(self._connect(), self.path, self.read_only)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise storage_error(self.path, exc, read_only=self.read_only) from None
        self._db.raw.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        if self.read_only:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                raise StorageError(f"the ledger {self.path} is from an older autopost (schema {version}, this "
                                   f"one reads {SCHEMA_VERSION}); this command only reads it, so run one that "
                                   "writes (`autopost poll`) once to upgrade it")
            return
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")  # a sent post must survive a power cut
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        uri = Path(self.path).resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                                 timeout=10)
            db.execute("PRAGMA user_version").fetchone()
            return db
        except sqlite3.OperationalError:
            # A WAL ledger in a read-only directory cannot get its shared-memory file: read the
            # file as it stands (what a stopped service left; a live one could not write there).
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None,
                                   check_same_thread=False)

    @classmethod
    def scratch_copy(cls, path: str | Path, *, clock: Callable[[], datetime] = utcnow) -> Store:
        """An in-memory copy of the ledger at ``path`` (empty if there is none): a dry run
        sees what was already posted, and whatever it does is gone when it ends."""
        store = cls(":memory:", clock=clock)
        if Path(path).exists():
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            with store._lock:
                source.backup(store._db.raw)
            source.close()
            store._migrate()
        return store

    @classmethod
    def scratch_of(cls, target: str | Path, *, clock: Callable[[], datetime] = utcnow) -> Store:
        """scratch_copy for a SQLite file or a PostgreSQL URL (read, never written)."""
        if not is_postgres(target):
            return cls.scratch_copy(target, clock=clock)
        source = cls(target, clock=clock)
        try:
            store = cls(":memory:", clock=clock)
            copy_ledger(source, store)
        finally:
            source.close()
        return store

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        """One atomic unit of work; nested calls join the outer transaction."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.begin()
            try:
                yield self._db
            except BaseException:
                self._db.rollback_quietly()
                raise
            try:
                self._db.execute("COMMIT")
            except StorageError:
                self._db.rollback_quietly()
                raise

    def _read(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        """Run a query under the lock, so no thread reads inside another thread's transaction."""
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise storage_error(self.path, exc, read_only=self.read_only) from None

    def schema_version(self) -> int:
        if not self.shared:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if not self._read("SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_version'"
                          " AND table_schema = current_schema()"):
            return 0
        rows = self._read("SELECT version FROM schema_version")
        return int(rows[0][0]) if rows else 0

    def _migrate(self) -> None:
        if self.shared:
            self._migrate_shared()
            return
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                # executescript would commit on its own; run statements inside our transaction.
                with self.transaction() as db:
                    for statement in filter(str.strip, script.split(";")):
                        db.execute(statement)
                    if number in _DATA_STEPS:
                        _DATA_STEPS[number](db)
                    db.execute(f"PRAGMA user_version = {number}")

    # Any constant: the key of the advisory lock under which PostgreSQL ledgers migrate.
    _MIGRATION_LOCK = 0x6175746F706F7374          # "autopost"

    def _migrate_shared(self) -> None:
        """Migrate a PostgreSQL ledger in one transaction, under an advisory lock: a second
        service starting at the same moment waits, then finds the schema current."""
        with self.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (self._MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = row[0] if row else 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                if number in _DATA_STEPS:
                    _DATA_STEPS[number](db)
                db.execute("UPDATE schema_version SET version = ?", (number,))

    # ------------------------------------------------------------------ feeds

    def feed_state(self, url: str) -> FeedState:
        rows = self._read("SELECT * FROM feeds WHERE url = ?", (url,))
        if not rows:
            return FeedState(url=url)
        row = rows[0]
        return FeedState(url=url, etag=row["etag"], last_modified=row["last_modified"],
                         body_hash=row["body_hash"], last_polled_at=_dt(row["last_polled_at"]),
                         last_error=row["last_error"], seen_before=row["first_polled_at"] is not None)

    def feed_states(self) -> list[FeedState]:
        urls = [r["url"] for r in self._read("SELECT url FROM feeds ORDER BY id")]
        return [self.feed_state(url) for url in urls]

    def _feed_id(self, db: _Connection, url: str) -> int:
        db.execute("INSERT OR IGNORE INTO feeds (url) VALUES (?)", (url,))
        return db.execute("SELECT id FROM feeds WHERE url = ?", (url,)).fetchone()[0]

    def record_fetch_error(self, url: str, error: str) -> None:
        with self.transaction() as db:
            self._feed_id(db, url)
            db.execute("UPDATE feeds SET last_polled_at = ?, last_error = ? WHERE url = ?",
                       (_iso(self.clock()), error, url))

    def record_unchanged(self, url: str, result: FetchResult) -> None:
        """A 304 or an identical body: the only write an unchanged poll costs, one statement.

        The feed's row exists: only a stored validator or body hash makes a fetch "unchanged".
        """
        with self._lock:
            self._db.execute(
                "UPDATE feeds SET last_polled_at = ?, last_error = NULL,"
                " etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified) WHERE url = ?",
                (_iso(self.clock()), result.etag, result.last_modified, url))

    def record_unchanged_all(self, polls: Sequence[tuple[str, FetchResult, datetime]]) -> None:
        """record_unchanged for the unchanged feeds of one poll cycle, each at its own time, in one
        transaction: one commit (one fsync) for thousands of feeds instead of one each."""
        if not polls:
            return
        with self.transaction() as db:
            for url, result, at in polls:
                db.execute(
                    "UPDATE feeds SET last_polled_at = ?, last_error = NULL,"
                    " etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified) WHERE url = ?",
                    (_iso(at), result.etag, result.last_modified, url))

    def record_entries(self, url: str, result: FetchResult, feed_title: str, posts: Sequence[Post], *,
                       platforms: Iterable[str], backfill: int, max_age: timedelta | None,
                       burst_limit: int = 0) -> Recorded:
        """Record a fetched feed and its entries; queue deliveries for the new ones.

        Returns the posts newly queued, with ``burst`` set to how many new entries were held
        back as a burst. Everything happens in one transaction: a crash leaves either all of
        this poll or none of it.
        """
        now = self.clock()
        queued = Recorded()
        platforms = tuple(platforms)
        with self.transaction() as db:
            self._one_recorder(db)
            feed_id = self._feed_id(db, url)
            for post, skipped in self._plan(db, url, posts, backfill, max_age, now, burst_limit):
                post_id = self._insert_post(db, feed_id, post, now, skipped)
                if skipped == "burst":
                    queued.burst += 1
                if skipped is None:
                    # A post dated ahead waits for its date; one dated now goes out now.
                    due = post.published if post.published and post.published > now + FUTURE_SLACK else now
                    for platform in platforms:
                        self._insert_delivery(db, post_id, platform, "auto", now, due=due)
                    queued.append(_with_id(post, post_id))
            db.execute(
                "UPDATE feeds SET title = ?, etag = ?, last_modified = ?, body_hash = ?, last_polled_at = ?,"
                " last_error = NULL, first_polled_at = COALESCE(first_polled_at, ?) WHERE id = ?",
                (feed_title, result.etag, result.last_modified, result.body_hash, _iso(now), _iso(now), feed_id))
        return queued

    # The advisory lock under which new entries are recorded on a shared ledger.
    _RECORD_LOCK = 0x6175746F706F7374 + 1

    def _one_recorder(self, db: _Connection) -> None:
        """On a shared ledger, record new entries one service at a time, as SQLite's write lock does.

        Whether an entry is already known looks at every feed's posts (the same article in two
        feeds, a blog that moved): two services recording two feeds at once under READ
        COMMITTED would each miss the other's post and queue it twice.
        """
        if self.shared:
            db.execute("SELECT pg_advisory_xact_lock(?)", (self._RECORD_LOCK,))

    def plan_entries(self, url: str, posts: Sequence[Post], *, backfill: int,
                     max_age: timedelta | None, burst_limit: int = 0) -> list[tuple[Post, str | None]]:
        """What record_entries would do, writing nothing (for dry runs)."""
        with self._lock:
            return self._plan(self._db, url, posts, backfill, max_age, self.clock(), burst_limit)

    def _plan(self, db: _Connection, url: str, posts: Sequence[Post], backfill: int,
              max_age: timedelta | None, now: datetime, burst_limit: int = 0) -> list[tuple[Post, str | None]]:
        """The unseen entries, oldest first, each with why it is skipped (None: post it).

        On first sight of a feed only its newest ``backfill`` entries are
        posted: pointing autopost at a blog must not flood its followers. Later,
        more than ``burst_limit`` new postable entries in one poll is a burst (a
        re-import, rewritten guids): the newest ``burst_limit`` are posted, the
        rest recorded as ``burst``. An entry without a link of its own, or whose
        text did not decode, is recorded and never posted.
        """
        from bot.feeds import text_problem    # the text side of parsing; feeds never imports the store

        row = db.execute("SELECT id, first_polled_at FROM feeds WHERE url = ?", (url,)).fetchone()
        first_sight = row is None or row["first_polled_at"] is None
        fresh = self._unknown(db, row["id"] if row else None, posts, max_age, now)
        unfit: dict[str, str] = {}
        for post in fresh:
            problem = "no link" if not is_web_url(post.url) else text_problem(post)
            if problem:
                unfit[post.key] = problem
        to_backfill = {p.key for p in _newest([p for p in fresh if p.key not in unfit], backfill)}
        plan = []
        # Oldest first, so ledger ids (and so delivery order) follow publication order.
        for post in reversed(_newest(fresh, len(fresh))):
            if post.key in unfit:
                skipped = unfit[post.key]
            elif first_sight and post.key not in to_backfill:
                skipped = "backfill"
            elif max_age is not None and post.published and post.published < now - max_age:
                skipped = "too old"
            else:
                skipped = None
            plan.append((post, skipped))
        postable = [post for post, skipped in plan if skipped is None]
        if not first_sight and burst_limit > 0 and len(postable) > burst_limit:
            keep = {p.key for p in _newest(postable, burst_limit)}
            plan = [(post, "burst" if skipped is None and post.key not in keep else skipped)
                    for post, skipped in plan]
        return plan

    def _unknown(self, db: _Connection, feed_id: int | None, posts: Sequence[Post],
                 max_age: timedelta | None = None, now: datetime | None = None) -> list[Post]:
        """The entries the ledger has never seen before.

        An entry is a post already known when (DESIGN.md, "Identity"):
        * this feed showed its key (guid) before;
        * its link, or its guid when that is a URL, has the identity (bot/urls.py: no scheme,
          no ``www.``, no trailing slash, no trackers or cache-busters) of a post of any feed:
          a blog that moved to https, or an article in the main and a category feed, is one post;
        * this feed showed the same title at the same link path within ``max_age``: a link
          whose query string or a guid that changes at every poll is still one post.
        A link identifies a post only where it is unique in the document: some feeds give
        every entry the same link (the blog's home page).
        """
        # Only this document's keys are looked up, and a known entry whose link is the one it was
        # recorded with takes the identity stored with it: an unchanged entry costs no identity().
        recorded: dict[str, tuple[str, str]] = {}
        if feed_id is not None:
            keys = sorted({post.key for post in posts})
            for chunk in _chunks(keys):
                for row in db.execute(f"SELECT entry_key, url, ident FROM posts WHERE feed_id = ?"
                                      f" AND entry_key IN ({','.join('?' * len(chunk))})", (feed_id, *chunk)):
                    recorded[row[0]] = (row[1], row[2] or "")
        known_keys = set(recorded)
        candidates = [post for post in posts if post.key not in known_keys]
        if not candidates:
            return []
        if db.execute("SELECT 1 FROM posts LIMIT 1").fetchone() is None:
            # A ledger without posts knows no identity and no title, so the checks below would
            # find nothing: every entry is new (each key once). A new user's first poll and the
            # dry runs before it skip computing each entry's identities (issue 18).
            fresh = []
            for post in candidates:
                if post.key not in known_keys:
                    known_keys.add(post.key)
                    fresh.append(post)
            return fresh

        def link_identity(post: Post) -> str:
            if not post.url:
                return ""
            stored = recorded.get(post.key)
            return stored[1] if stored is not None and stored[0] == post.url else identity(post.url)

        link_idents = {post.key: link_identity(post) for post in posts}
        ident_counts = Counter(link_idents.values())
        wanted: dict[str, set[str]] = {}
        for post in candidates:
            mine = {_key_ident(post.key)}
            if link_idents[post.key] and ident_counts[link_idents[post.key]] == 1:
                mine.add(link_idents[post.key])
            wanted[post.key] = {ident for ident in mine if ident}
        known_idents = _existing(db, "SELECT ident, key_ident FROM posts WHERE ident IN ({0}) OR key_ident IN ({0})",
                                 sorted(set().union(*wanted.values())), pairs=True)
        titled: set[tuple[str, str]] = set()
        titles = sorted({post.title for post in candidates if post.title and post.url})
        if feed_id is not None and titles:
            since = _iso(now - max_age) if max_age is not None and now is not None else ""
            for chunk in _chunks(titles):
                for row in db.execute(
                        f"SELECT title, url FROM posts WHERE feed_id = ? AND first_seen_at >= ?"
                        f" AND title IN ({','.join('?' * len(chunk))})", (feed_id, since, *chunk)):
                    if row[1]:
                        titled.add((row[0], path_identity(row[1])))
        fresh = []
        for post in candidates:
            if wanted[post.key] & known_idents:
                continue
            if post.title and post.url and (post.title, path_identity(post.url)) in titled:
                continue
            if post.key in known_keys:
                continue                       # the same entry twice in one feed counts once
            known_keys.add(post.key)
            fresh.append(post)
        return fresh

    def _insert_post(self, db: _Connection, feed_id: int, post: Post, now: datetime,
                     skipped: str | None) -> int:
        cursor = db.execute(
            "INSERT INTO posts (feed_id, entry_key, url, title, summary, author, categories, image_url,"
            " feed_title, published_at, first_seen_at, skipped, ident, key_ident, language)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (feed_id, post.key, post.url, post.title, post.summary, post.author,
             json.dumps(list(post.categories), ensure_ascii=False), post.image_url, post.feed_title,
             _iso(post.published), _iso(now), skipped, identity(post.url) or None, _key_ident(post.key),
             post.language))
        return _rowid(cursor)

    def add_post(self, feed_url: str, post: Post) -> Post:
        """Record one post without queuing anything (a manual repost of an unseen entry)."""
        with self.transaction() as db:
            self._one_recorder(db)
            feed_id = self._feed_id(db, feed_url)
            row = db.execute("SELECT id FROM posts WHERE feed_id = ? AND (entry_key = ? OR url = ?)",
                             (feed_id, post.key, post.url)).fetchone()
            post_id = row[0] if row else self._insert_post(db, feed_id, post, self.clock(), "manual only")
        return _with_id(post, post_id)

    # ------------------------------------------------------------------ posts

    def find_post(self, url: str) -> Post | None:
        """The post with this URL, else the newest with the same identity (https for http ...)."""
        if not url:
            return None
        rows = self._read("SELECT p.*, f.url AS feed_url FROM posts p JOIN feeds f ON f.id = p.feed_id"
                          " WHERE p.url = ? ORDER BY p.id DESC LIMIT 1", (url,))
        if not rows:
            rows = self._read("SELECT p.*, f.url AS feed_url FROM posts p JOIN feeds f ON f.id = p.feed_id"
                              " WHERE p.ident = ? ORDER BY p.id DESC LIMIT 1", (identity(url),))
        return _post(rows[0]) if rows else None

    def get_post(self, post_id: int) -> Post:
        return _post(self._read("SELECT p.*, f.url AS feed_url FROM posts p JOIN feeds f ON f.id = p.feed_id"
                                " WHERE p.id = ?", (post_id,))[0])

    def post_records(self, limit: int | None = 20, url: str | None = None) -> list[PostRecord]:
        """Posts newest first, each with its deliveries; ``limit`` None or 0 means all."""
        sql = ("SELECT p.*, f.url AS feed_url FROM posts p JOIN feeds f ON f.id = p.feed_id"
               + (" WHERE p.url = ? OR p.ident = ?" if url else "")
               # A date ahead of when the post was seen does not pin it at the top.
               + " ORDER BY CASE WHEN p.published_at < p.first_seen_at THEN p.published_at"
                 " ELSE p.first_seen_at END DESC, p.id DESC")
        params: tuple = (url, identity(url)) if url else ()
        if limit:
            sql += " LIMIT ?"
            params += (limit,)
        rows = self._read(sql, params)
        by_post: dict[int, list[Delivery]] = {row["id"]: [] for row in rows}
        if by_post:
            marks = ",".join("?" * len(by_post))
            for d in self._read(f"SELECT * FROM deliveries WHERE post_id IN ({marks}) ORDER BY id",
                                      tuple(by_post)):
                by_post[d["post_id"]].append(_delivery(d))
        return [PostRecord(post=_post(row), first_seen=_moment(row["first_seen_at"]), skipped=row["skipped"],
                           deliveries=tuple(by_post[row["id"]])) for row in rows]

    def bursts(self) -> list[tuple[str, int, datetime]]:
        """Per feed: how many entries were held back as a burst, and when the last one was seen."""
        rows = self._read("SELECT f.url, COUNT(*), MAX(p.first_seen_at) FROM posts p JOIN feeds f ON f.id = p.feed_id"
                          " WHERE p.skipped = 'burst' GROUP BY f.id, f.url ORDER BY f.id")
        return [(r[0], r[1], _moment(r[2])) for r in rows]

    def count_problems(self) -> int:
        """Deliveries a person must look at: failed, blocked or uncertain."""
        return self._read("SELECT COUNT(*) FROM deliveries WHERE state IN ('failed', 'blocked', 'uncertain')")[0][0]

    def attempts(self, post_id: int) -> list[Attempt]:
        rows = self._read(
            "SELECT a.*, d.platform FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE d.post_id = ? ORDER BY a.id", (post_id,))
        return [Attempt(delivery_id=r["delivery_id"], platform=r["platform"], at=_moment(r["at"]),
                        outcome=r["outcome"], detail=r["detail"]) for r in rows]

    # ------------------------------------------------------------- deliveries

    def _insert_delivery(self, db: _Connection, post_id: int, platform: str, kind: str,
                         now: datetime, *, due: datetime | None = None) -> int:
        cursor = db.execute(
            "INSERT INTO deliveries (post_id, platform, kind, state, next_attempt_at, created_at, updated_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?, ?)", (post_id, platform, kind, _iso(due or now), _iso(now), _iso(now)))
        return _rowid(cursor)

    def add_manual_delivery(self, post_id: int, platform: str) -> Delivery:
        with self.transaction() as db:
            delivery_id = self._insert_delivery(db, post_id, platform, "manual", self.clock())
        return self.get_delivery(delivery_id)

    def get_delivery(self, delivery_id: int) -> Delivery:
        return _delivery(self._read("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))[0])

    def deliveries(self, *, states: Iterable[str], platform: str | None = None,
                   due_by: datetime | None = None, kind: str | None = None) -> list[Delivery]:
        """Deliveries in the given states, oldest post first (publication order)."""
        states = tuple(states)
        sql = (f"SELECT d.* FROM deliveries d JOIN posts p ON p.id = d.post_id"
               f" WHERE d.state IN ({','.join('?' * len(states))})")
        params: list = list(states)
        if platform:
            sql += " AND d.platform = ?"
            params.append(platform)
        if kind:
            sql += " AND d.kind = ?"
            params.append(kind)
        if due_by is not None:
            sql += " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
            params.append(_iso(due_by))
        sql += " ORDER BY COALESCE(p.published_at, p.first_seen_at), p.id, d.id"
        return [_delivery(r) for r in self._read(sql, params)]

    def claim(self, delivery_id: int, *, min_gap: float = 0.0, daily_cap: int | None = None,
              exclusive: bool = False) -> Delivery | None:
        """Mark a pending delivery as being sent, counting the attempt; committed before the call.

        On a shared ledger the row is taken with ``SELECT … FOR UPDATE SKIP LOCKED``: a delivery
        another service is claiming at this moment is passed over at once rather than waited
        for, and the claim carries this service's lease. With ``min_gap`` or ``daily_cap`` (an
        automatic post) the claim also holds the network's pacing across every service: under
        a per-network advisory lock it is refused while another service is sending to that
        network, or within ``min_gap`` seconds of its last post, or once the cap is reached.
        ``exclusive`` (a network that accepts the same post twice) refuses the claim while any
        other delivery to that network is ``sending``, even one whose lease expired: recovery
        finds a post cut short by a crash among the network's most recent posts only (Facebook
        reads its Page's last 25), so nothing may push it out of that window before it is
        reconciled.
        """
        now = self.clock()
        with self.transaction() as db:
            if self.shared:
                row = db.execute("SELECT platform FROM deliveries WHERE id = ? AND state = 'pending'"
                                 " FOR UPDATE SKIP LOCKED", (delivery_id,)).fetchone()
                if row is None or ((min_gap or daily_cap or exclusive)
                                   and not self._pace_allows(db, row[0], now, min_gap, daily_cap, exclusive)):
                    return None
            changed = db.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?,"
                " lease_holder = ?, lease_until = ? WHERE id = ? AND state = 'pending'",
                (_iso(now), self.holder if self.shared else None, _iso(now + self.lease) if self.shared else None,
                 delivery_id)).rowcount
        return self.get_delivery(delivery_id) if changed else None

    def _pace_allows(self, db: _Connection, platform: str, now: datetime, min_gap: float,
                     daily_cap: int | None, exclusive: bool = False) -> bool:
        """Whether one more automatic post may go to ``platform`` now, whichever service sends it.

        The advisory lock (held to the end of the claim's transaction) makes the check and
        the claim one step across services."""
        db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"autopost network {platform}",))
        if exclusive and db.execute("SELECT id FROM deliveries WHERE platform = ? AND state = 'sending' LIMIT 1",
                                    (platform,)).fetchone():
            return False
        # A post in flight elsewhere counts as sent now: its outcome is not recorded yet.
        in_flight = db.execute("SELECT COUNT(*) FROM deliveries WHERE platform = ? AND state = 'sending'"
                               " AND kind = 'auto' AND lease_until >= ?", (platform, _iso(now))).fetchone()[0]
        if min_gap and in_flight:
            return False
        sent = [_moment(r[0]) for r in db.execute(
            "SELECT a.at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.platform = ?"
            " AND a.outcome = 'sent' AND a.at >= ? ORDER BY a.at", (platform, _iso(now - timedelta(days=1))))]
        if min_gap and sent and sent[-1] + timedelta(seconds=min_gap) > now:
            return False
        return not (daily_cap and len(sent) + in_flight >= daily_cap)

    def interrupted(self) -> list[Delivery]:
        """The deliveries left in ``sending`` by a service that is gone, for recovery to reconcile.

        On SQLite (one service, under the ledger lock) that is every ``sending`` row. On a shared
        ledger it is those whose lease expired (or that have none): each is taken over with this
        service's lease, under ``FOR UPDATE SKIP LOCKED``, so exactly one service reconciles it.
        """
        if not self.shared:
            return self.deliveries(states=("sending",))
        now = self.clock()
        with self.transaction() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM deliveries WHERE state = 'sending' AND (lease_until IS NULL OR lease_until < ?)"
                " ORDER BY id FOR UPDATE SKIP LOCKED", (_iso(now),)).fetchall()]
            for delivery_id in ids:
                db.execute("UPDATE deliveries SET lease_holder = ?, lease_until = ? WHERE id = ?",
                           (self.holder, _iso(now + self.lease), delivery_id))
        return [self.get_delivery(delivery_id) for delivery_id in ids]

    def lease_feed(self, url: str, holder: str | None = None, ttl: float = 60.0) -> bool:
        """Take (or renew) the lease on polling ``url`` for ``ttl`` seconds; False while another
        service holds it. Always True on SQLite, where one service polls (and writes nothing)."""
        if not self.shared:
            return True
        holder = holder or self.holder
        now = self.clock()
        with self.transaction() as db:
            self._feed_id(db, url)
            return bool(db.execute(
                "UPDATE feeds SET lease_holder = ?, lease_until = ? WHERE url = ?"
                " AND (lease_holder IS NULL OR lease_holder = ? OR lease_until < ?)",
                (holder, _iso(now + timedelta(seconds=ttl)), url, holder, _iso(now))).rowcount)

    def leases(self) -> list[tuple[str, str, str, datetime]]:
        """Who holds what now: (``delivery``/``feed``, what, holder, until), for `status`."""
        now = _iso(self.clock())
        rows = self._read(
            "SELECT d.platform, p.url, d.lease_holder, d.lease_until FROM deliveries d JOIN posts p"
            " ON p.id = d.post_id WHERE d.state = 'sending' AND d.lease_holder IS NOT NULL ORDER BY d.id")
        held = [("delivery", f"{r[0]} {r[1]}", r[2], _moment(r[3])) for r in rows]
        rows = self._read("SELECT url, lease_holder, lease_until FROM feeds WHERE lease_holder IS NOT NULL"
                          " AND lease_until >= ? ORDER BY id", (now,))
        return held + [("feed", r[0], r[1], _moment(r[2])) for r in rows]

    def finish(self, delivery_id: int, state: str, *, outcome: str, detail: str = "",
               published: Published | None = None, text: str | None = None,
               next_attempt_at: datetime | None = None, uncount_attempt: bool = False) -> None:
        """Record what one attempt ended in, and its line in the attempt history."""
        now = _iso(self.clock())
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, updated_at = ?, last_error = ?, lease_holder = NULL,"
                " lease_until = NULL, next_attempt_at = ?, text = COALESCE(?, text),"
                " remote_id = COALESCE(?, remote_id), remote_url = COALESCE(?, remote_url),"
                " attempts = attempts - ? WHERE id = ?",
                (state, now, None if state == "sent" else (detail or None), _iso(next_attempt_at), text,
                 published.remote_id if published else None, published.url if published else None,
                 1 if uncount_attempt else 0, delivery_id))
            db.execute("INSERT INTO attempts (delivery_id, at, outcome, detail) VALUES (?, ?, ?, ?)",
                       (delivery_id, now, outcome, detail))

    def set_progress(self, delivery_id: int, progress: str) -> None:
        """Record (committed at once) how far a staged network got with this delivery, before it posts."""
        with self.transaction() as db:
            db.execute("UPDATE deliveries SET progress = ?, updated_at = ? WHERE id = ?",
                       (progress, _iso(self.clock()), delivery_id))

    def release(self, delivery_ids: Iterable[int], *, state: str = "pending",
                next_attempt_at: datetime | None = None, detail: str = "") -> None:
        """Move deliveries back to waiting (or to another state) without counting an attempt."""
        now = _iso(self.clock())
        with self.transaction() as db:
            for delivery_id in delivery_ids:
                db.execute("UPDATE deliveries SET state = ?, next_attempt_at = ?, updated_at = ?, lease_holder = NULL,"
                           " lease_until = NULL, last_error = COALESCE(NULLIF(?, ''), last_error) WHERE id = ?",
                           (state, _iso(next_attempt_at or self.clock()), now, detail, delivery_id))
                if detail:
                    db.execute("INSERT INTO attempts (delivery_id, at, outcome, detail) VALUES (?, ?, ?, ?)",
                               (delivery_id, now, state, detail))

    def resolve_siblings(self, delivery: Delivery) -> int:
        """A repost went out: the same post's unfinished deliveries to that network are done too."""
        now = _iso(self.clock())
        with self.transaction() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM deliveries WHERE post_id = ? AND platform = ? AND id != ?"
                " AND state IN ('pending', 'blocked', 'failed', 'uncertain')",
                (delivery.post_id, delivery.platform, delivery.id))]
            for sibling in ids:
                db.execute("UPDATE deliveries SET state = 'sent', next_attempt_at = NULL, updated_at = ?"
                           " WHERE id = ?", (now, sibling))
                db.execute("INSERT INTO attempts (delivery_id, at, outcome, detail) VALUES (?, ?, 'resolved', ?)",
                           (sibling, now, f"posted by the manual repost (delivery {delivery.id})"))
        return len(ids)

    def sent_since(self, platform: str, since: datetime) -> list[datetime]:
        """When this network last received posts (for pacing and daily caps)."""
        rows = self._read(
            "SELECT a.at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE d.platform = ? AND a.outcome = 'sent' AND a.at >= ? ORDER BY a.at",
            (platform, _iso(since)))
        return [_moment(r[0]) for r in rows]

    # --------------------------------------------------------------- networks

    def network_state(self, platform: str) -> NetworkState:
        rows = self._read("SELECT * FROM networks WHERE platform = ?", (platform,))
        if not rows:
            return NetworkState(platform=platform)
        row = rows[0]
        return NetworkState(platform=platform, state=row["state"], since=_dt(row["since"]),
                            reason=row["reason"], rate_limited_until=_dt(row["rate_limited_until"]))

    def set_network_state(self, platform: str, state: str, reason: str | None = None) -> bool:
        """Record healthy/blocked; returns True when the state changed."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO networks (platform) VALUES (?)", (platform,))
            changed = db.execute(
                "UPDATE networks SET state = ?, since = ?, reason = ? WHERE platform = ? AND state != ?",
                (state, _iso(self.clock()), reason, platform, state)).rowcount
            if not changed and reason:
                db.execute("UPDATE networks SET reason = ? WHERE platform = ?", (reason, platform))
        return bool(changed)

    def set_rate_limited(self, platform: str, until: datetime | None) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO networks (platform) VALUES (?)", (platform,))
            db.execute("UPDATE networks SET rate_limited_until = ? WHERE platform = ?", (_iso(until), platform))

    # ------------------------------------------------------------ the queue

    SKIPPABLE = ("pending", "blocked", "uncertain", "failed")

    def skip_deliveries(self, post_id: int, platforms: Iterable[str] | None = None, *,
                        reason: str = "by owner") -> list[Delivery]:
        """Cancel a post's unfinished deliveries on purpose (all, or those to ``platforms``).

        One atomic update per row, guarded by its state, so a delivery the service has just
        claimed (``sending``) is left alone. Returns the deliveries skipped, as they are now.
        """
        now = _iso(self.clock())
        marks = ",".join("?" * len(self.SKIPPABLE))
        sql = f"SELECT id FROM deliveries WHERE post_id = ? AND state IN ({marks})"
        params: list = [post_id, *self.SKIPPABLE]
        if platforms is not None:
            names = tuple(platforms)
            sql += f" AND platform IN ({','.join('?' * len(names))})"
            params += names
        skipped = []
        with self.transaction() as db:
            for (delivery_id,) in db.execute(sql, params).fetchall():
                changed = db.execute(
                    f"UPDATE deliveries SET state = 'skipped', next_attempt_at = NULL, last_error = ?,"
                    f" updated_at = ? WHERE id = ? AND state IN ({marks})",
                    (reason, now, delivery_id, *self.SKIPPABLE)).rowcount
                if changed:
                    db.execute("INSERT INTO attempts (delivery_id, at, outcome, detail) VALUES (?, ?, 'skipped', ?)",
                               (delivery_id, now, reason))
                    skipped.append(delivery_id)
        return [self.get_delivery(delivery_id) for delivery_id in skipped]

    def count_posts(self) -> int:
        return self._read("SELECT COUNT(*) FROM posts")[0][0]

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """How many deliveries each (network, state) has (for /metrics)."""
        rows = self._read("SELECT platform, state, COUNT(*) FROM deliveries GROUP BY platform, state")
        return {(r[0], r[1]): r[2] for r in rows}

    def last_sent_at(self) -> dict[str, datetime]:
        """When each network last received a post (for /metrics)."""
        rows = self._read("SELECT d.platform, MAX(a.at) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
                          " WHERE a.outcome = 'sent' GROUP BY d.platform")
        return {r[0]: _moment(r[1]) for r in rows}


def _newest(posts: Sequence[Post], count: int) -> list[Post]:
    """The ``count`` newest posts, newest first.

    By date when every entry has one; otherwise in the feed's own order,
    which for almost every feed is newest first.
    """
    if count <= 0:
        return []
    if all(p.published for p in posts):
        posts = sorted(posts, key=lambda p: cast(datetime, p.published), reverse=True)
    return list(posts[:count])


def _key_ident(key: str) -> str | None:
    """The identity of a guid that is itself a web URL (many feeds use the permalink), else None."""
    return identity(key) if is_web_url(key) else None


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _existing(db: _Connection, sql: str, values: Sequence[str], *, pairs: bool = False) -> set[str]:
    """Which of ``values`` the query finds, a chunk at a time; ``sql`` has ``{0}`` for the marks."""
    found: set[str] = set()
    for chunk in _chunks(values):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(sql.format(marks), (*chunk, *chunk) if pairs else tuple(chunk)):
            found.update(value for value in row if value)
    return found


def _fill_identities(db: _Connection) -> None:
    """Migration 2: the identity of every post recorded before identities were stored."""
    rows = db.execute("SELECT id, url, entry_key FROM posts").fetchall()
    for row in rows:
        db.execute("UPDATE posts SET ident = ?, key_ident = ? WHERE id = ?",
                   (identity(row[1]) or None, _key_ident(row[2]), row[0]))


def _mask_feed_urls(db: _Connection) -> None:
    """Migration 6: a feed row keyed by a URL with a secret is keyed by its display form."""
    from bot.urls import display_url, url_secrets

    if isinstance(db, _Connection):
        db.execute("PRAGMA secure_delete = ON")      # the old values are overwritten in the file, not freed
    for feed_id, url, error in db.execute("SELECT id, url, last_error FROM feeds").fetchall():
        shown = display_url(url)
        if shown == url:
            continue
        if db.execute("SELECT 1 FROM feeds WHERE url = ?", (shown,)).fetchone():
            # A build between the two already polled it under its display form: that row goes on;
            # this one keeps its history, told apart (and still without the secret).
            shown = f"{shown} (recorded before feed passwords were masked, row {feed_id})"
        for secret in sorted(url_secrets(url), key=len, reverse=True):
            error = error.replace(secret, "****") if error else error
        db.execute("UPDATE feeds SET url = ?, last_error = ? WHERE id = ?", (shown, error, feed_id))


_DATA_STEPS: dict[int, Callable[[_Connection], None]] = {2: _fill_identities, 6: _mask_feed_urls}


def _with_id(post: Post, post_id: int) -> Post:
    return post._replace(id=post_id)


def _post(row: sqlite3.Row) -> Post:
    return Post(feed_url=row["feed_url"], key=row["entry_key"], url=row["url"], title=row["title"],
                summary=row["summary"], author=row["author"], categories=tuple(json.loads(row["categories"])),
                image_url=row["image_url"], feed_title=row["feed_title"], published=_dt(row["published_at"]),
                id=row["id"], language=row["language"] or "")


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(id=row["id"], post_id=row["post_id"], platform=row["platform"], kind=row["kind"],
                    state=row["state"], attempts=row["attempts"], next_attempt_at=_dt(row["next_attempt_at"]),
                    text=row["text"], remote_id=row["remote_id"], remote_url=row["remote_url"],
                    error=row["last_error"], created_at=_dt(row["created_at"]), updated_at=_dt(row["updated_at"]),
                    progress=row["progress"])


# The ledger's tables, parents first, as `ledger copy` moves them.
_TABLES = ("feeds", "posts", "deliveries", "attempts", "networks")


def copy_ledger(source: Store, destination: Store) -> dict[str, int]:
    """Copy every row of ``source`` into ``destination`` (SQLite ↔ PostgreSQL), ids kept.

    Both are open, so both are migrated to this version's schema. Refuses a destination
    that holds anything: merging two histories could post a post twice. Returns the rows
    copied per table. One transaction on the destination: all of it, or nothing.
    """
    for table in _TABLES:
        if destination._read(f"SELECT COUNT(*) FROM {table}")[0][0]:
            raise StorageError(f"the ledger {destination.path} is not empty (its {table} table has rows); "
                               "copy into a new, empty database or file")
    copied: dict[str, int] = {}
    with destination.transaction() as db:
        for table in _TABLES:
            rows = source._read(f"SELECT * FROM {table}" + (" ORDER BY platform" if table == "networks"
                                                            else " ORDER BY id"))
            copied[table] = len(rows)
            if not rows:
                continue
            columns = rows[0].keys()
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            if destination.shared:
                text, _ = _pg_sql(sql.replace("INSERT INTO", "INSERT  INTO"))   # no RETURNING for a copy
                db.raw.cursor().executemany(text, [tuple(row) for row in rows])
            else:
                db.raw.executemany(sql, [tuple(row) for row in rows])
        if destination.shared:
            # Identity columns do not see ids written explicitly: start them after the copied ones.
            for table in _TABLES[:-1]:
                db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                           f" COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}")
    return copied


def open_ledger(settings: Any, *, clock: Callable[[], datetime] = utcnow, read_only: bool = False) -> Store:
    """The configured ledger (AUTOPOST_DB: a file, or a PostgreSQL URL), its lease fitted to the settings.

    A delivery's lease outlasts any call it covers: a call is cut at AUTOPOST_REQUEST_TIMEOUT
    (bot/http.py), so twice that plus a margin can only expire for a service that is gone.
    """
    target = ledger_target(settings)
    lease = 2 * float(settings.request_timeout) + 5
    if read_only and not is_postgres(target) and not Path(target).exists():
        return Store(":memory:", clock=clock)
    return Store(target, clock=clock, read_only=read_only, lease=lease)


def ledger_target(settings: Any) -> str:
    """AUTOPOST_DB as given: the PostgreSQL URL, or the SQLite file's path."""
    return str(getattr(settings, "db_url", "") or settings.db_path)
