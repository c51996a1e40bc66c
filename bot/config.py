"""Env file and environment → one frozen ``Settings``.

Every value is validated here, once, before any command does anything; each
error names the variable and says what is wrong, without echoing a secret.

No ``from __future__ import annotations`` here: ``Settings`` is a NamedTuple, which compiles
each annotation written as a string (36 of them) at every start (see bot/models.py).
"""

import os
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from bot.platforms.registry import CONSOLE, NETWORKS, PLATFORM_NAMES
from bot.urls import display_url, url_secrets
from bot.patterns import lazy
from bot.values import (  # noqa: F401  (re-exported: modules and tests import them from here)
    ConfigError, parse_bool, parse_duration, parse_int, repr_without, split_list, url_problem,
)

# The core's secrets; each network names its own (its description's ``secrets``).
CORE_SECRET_VARIABLES = (
    "AUTOPOST_ALERT_WEBHOOK",          # Slack and Discord webhook URLs carry their secret in the path
)
# Variables whose values are never printed, logged or put in an error message.
SECRET_VARIABLES = CORE_SECRET_VARIABLES + tuple(v for n in NETWORKS for v in n.secrets)

# What the core reads for every network, by the network's prefix: its template, its daily
# cap, and (where its text rules defuse mentions) whether mentions are allowed.
PER_NETWORK = ("TEMPLATE", "DAILY_CAP")

# Every variable autopost reads, and so every name the env file may hold: a name with one
# of PREFIXES that is not here is a typo, reported with the closest of these. A new core
# variable is added here; a network's come from its description. tests/test_config.py
# fails while one read by settings_from is missing.
CORE_VARIABLES: tuple[str, ...] = (
    "AUTOPOST_FEEDS", "AUTOPOST_DB", "AUTOPOST_ENV_FILE", "AUTOPOST_POLL_INTERVAL", "AUTOPOST_PLATFORMS",
    "AUTOPOST_DRY_RUN", "AUTOPOST_BACKFILL", "AUTOPOST_MAX_AGE", "AUTOPOST_REQUEST_TIMEOUT",
    "AUTOPOST_MAX_FEED_BYTES", "AUTOPOST_FETCH_CONCURRENCY", "AUTOPOST_LOG_LEVEL", "AUTOPOST_LOG_FORMAT",
    "AUTOPOST_HASHTAGS_MAX", "AUTOPOST_HASHTAGS_EXTRA", "AUTOPOST_UTM", "AUTOPOST_RETRY_BASE",
    "AUTOPOST_RETRY_MAX", "AUTOPOST_MAX_ATTEMPTS", "AUTOPOST_MIN_GAP", "AUTOPOST_REVERIFY_INTERVAL",
    "AUTOPOST_ALERT_WEBHOOK", "AUTOPOST_HTTP", "AUTOPOST_BURST_LIMIT", "AUTOPOST_SUMMARY_MAX",
    "AUTOPOST_SHUTDOWN_GRACE", "AUTOPOST_ALLOW_PRIVATE_NETWORKS",
)


def _network_variables() -> tuple[str, ...]:
    names: list[str] = []
    for network in NETWORKS:
        names += network.variables
        names += (network.prefix + suffix for suffix in PER_NETWORK)
        if network.text.defuse_mentions is not None:
            names.append(network.prefix + "ALLOW_MENTIONS")
    return tuple(dict.fromkeys(names))


VARIABLES: tuple[str, ...] = CORE_VARIABLES + _network_variables()
PREFIXES: tuple[str, ...] = ("AUTOPOST_", *(network.prefix for network in NETWORKS))


class Settings(NamedTuple):
    feeds: tuple[str, ...]
    db_path: Path = Path("autopost.db")
    db_url: str = ""  # AUTOPOST_DB when it is a postgresql:// URL (has a secret)
    env_file: Path | None = None
    poll_interval: float = 300.0
    platforms: tuple[str, ...] = ("console",)
    dry_run: bool = False
    backfill: int = 0
    max_age: float | None = 7 * 86400.0          # None: no age limit
    burst_limit: int = 5                         # more new entries in one poll is a burst; 0: no guard
    request_timeout: float = 30.0
    max_feed_bytes: int = 10 * 1024 * 1024
    fetch_concurrency: int = 8
    shutdown_grace: float = 10.0                 # seconds `run` and `poll` take to stop after SIGTERM / Ctrl-C
    allow_private_networks: bool = False         # feeds and images may reach private addresses
    log_level: str = "INFO"
    log_format: str = "text"

    # composition
    templates: Mapping[str, str] = MappingProxyType({})   # network -> template, only those set
    hashtags_max: int = 3
    hashtags_extra: tuple[str, ...] = ()
    utm: str | None = None
    allow_mentions: tuple[str, ...] = ()         # networks whose mentions are left as written
    summary_max: int = 300                        # characters of {summary}; 0: no limit

    # delivery
    retry_base: float = 30.0
    retry_max: float = 3600.0
    max_attempts: int = 8
    min_gap: float = 0.0
    reverify_interval: float = 3600.0
    daily_caps: Mapping[str, int] = MappingProxyType({})  # network -> cap, only those set
    alert_webhook: str | None = None
    http_listen: tuple[str, int] | None = None   # AUTOPOST_HTTP: /healthz and /metrics; None: off

    # network -> that network's settings object (its description's ``parse``), for each network
    # that is enabled or has any of its variables set
    networks: Mapping[str, Any] = MappingProxyType({})

    # What the env file holds that autopost does not read (a misspelt name), one line each.
    warnings: tuple[str, ...] = ()

    def secrets(self) -> tuple[str, ...]:
        """Every configured secret value, for the log filter that masks them."""
        values = [self.alert_webhook or "", *url_secrets(self.db_url)]
        for feed in self.feeds:
            values += url_secrets(feed)
        for settings in self.networks.values():
            values += settings.secrets()
        return tuple(v for v in values if v)

    def network(self, name: str) -> Any:
        """``name``'s settings object; a ConfigError when it was never configured."""
        try:
            return self.networks[name]
        except KeyError:
            raise ConfigError("AUTOPOST_PLATFORMS", f"{name} is not configured") from None

    @property
    def ledger(self) -> str:
        """AUTOPOST_DB as it may be shown: the file, or the PostgreSQL URL with its password masked."""
        if not self.db_url:
            return str(self.db_path)
        from bot.store import masked

        return masked(self.db_url)

    def __repr__(self) -> str:
        # A feed URL may carry a password or a key (?token=): shown as status shows it.
        shown = self._replace(feeds=tuple(display_url(feed) for feed in self.feeds))
        return repr_without(shown, "db_url", "alert_webhook")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse an env file, refusing lines python-dotenv cannot read (it would skip them silently)."""
    return {key: value for key, value, _ in read_env_bindings(path)}


# "http:/host/feed", "https:blog/feed": a URL scheme without its two slashes.
_MISSING_SLASH = lazy(r"(?i)^((?:https?|file):)(?!//)")
# Anything that starts like a URL ("mysql://", "postgresql:/", "postgresq://").
_URL_LIKE = lazy(r"^[A-Za-z][A-Za-z0-9+.-]+:/")

MAX_ENV_FILE_BYTES = 1024 * 1024

_OPENING_QUOTE = lazy(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(['\"])")


def read_env_bindings(path: Path) -> list[tuple[str, str, int]]:
    """Each ``KEY=value`` of an env file as (key, value, line number), in file order."""
    import io

    variable = "--env-file"
    try:
        # Not /dev/zero, not a FIFO that never ends: an env file is a regular file of a few KB.
        if path.exists() and not path.is_dir() and not path.is_file():
            raise ConfigError(variable, f"env file {path} is not a regular file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_ENV_FILE_BYTES + 1)
        if len(raw) > MAX_ENV_FILE_BYTES:
            raise ConfigError(variable, f"env file {path} is larger than {MAX_ENV_FILE_BYTES // 1024 // 1024} MB: "
                                        "not an env file")
    except FileNotFoundError:
        raise ConfigError(variable, f"env file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(variable, f"env file {path} is a directory, not a file") from None
    except PermissionError:
        raise ConfigError(variable, f"cannot read env file {path}: permission denied") from None
    except OSError as exc:
        raise ConfigError(variable, f"cannot read env file {path}: {exc.strerror or exc.__class__.__name__}") from None
    # Never the bytes themselves in the message: the line may hold a secret.
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(variable, f"env file {path} is saved as UTF-16; save it as UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(variable, f"{path}, line {line}: not UTF-8 text; save the file as UTF-8") from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise ConfigError(variable, f"{path}, line {line}: holds a NUL byte, which no setting can contain; "
                                    "save the file as plain text")
    bindings: list[tuple[str, str, int]] = []
    for binding in dotenv_parser().parse_stream(io.StringIO(text)):
        if binding.error:
            # The line may hold a secret: say where and which variable, never the value.
            where = f"{path}, line {binding.original.line}"
            quoted = _OPENING_QUOTE.match(binding.original.string)
            if quoted:
                name, mark = quoted.group(1), quoted.group(2)
                if mark in binding.original.string[quoted.end():].rstrip("\n"):
                    raise ConfigError(variable, f"{where}: the value of {name} has text after its closing "
                                                f"quote ({mark}); put the whole value inside the quotes")
                raise ConfigError(variable, f"{where}: the value of {name} opens a quote "
                                            f"({mark}) that is never closed")
            raise ConfigError(variable, f"{where}: not a KEY=value line")
        if binding.key is not None:
            bindings.append((binding.key, binding.value or "", binding.original.line))
    return bindings


@cache
def dotenv_parser() -> Any:
    """python-dotenv's parser module, ``dotenv.parser``, loaded without the rest of its package.

    ``import dotenv.parser`` runs the package's ``__init__`` first, which imports its env-file
    writer and with it tempfile, shutil and random: ~4 ms of every start, to read a file of a
    few lines. ``parser.py`` imports nothing of its package, so a copy of it is loaded by
    itself, for this module alone: a later ``import dotenv`` (the service's reload) is the
    usual one, with its own.
    """
    import sys

    loaded = sys.modules.get("dotenv.parser")
    if loaded is not None:
        return loaded
    import importlib.util

    package = importlib.util.find_spec("dotenv")
    folders = list(package.submodule_search_locations or ()) if package else []
    spec = importlib.util.spec_from_file_location("dotenv.parser", os.path.join(folders[0], "parser.py")) \
        if folders and os.path.isfile(os.path.join(folders[0], "parser.py")) else None
    if spec is None or spec.loader is None:         # not laid out as files (a zip): the usual import
        import dotenv.parser

        return dotenv.parser
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unknown_variables(bindings: list[tuple[str, str, int]], path: Path) -> tuple[str, ...]:
    """A warning for each name with autopost's prefixes that autopost does not read, naming the
    line and the closest known name: a misspelt variable must not be silently ignored."""
    warnings = []
    for key, _, line in bindings:
        if key in VARIABLES or not (key.startswith(PREFIXES) or _misspelt_prefix(key)):
            continue
        import difflib              # only for a name that needs a hint: not on every start

        close = difflib.get_close_matches(key, VARIABLES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{path}, line {line}: unknown variable {key}, ignored{hint}")
    return tuple(warnings)


def _misspelt_prefix(key: str) -> bool:
    """TWITER_API_KEY, AUTOPST_FEEDS: a prefix one letter from one of ours is a typo of it, not
    another program's setting (an env file may hold those too, e.g. TZ or PYTHONUNBUFFERED)."""
    head, underscore, _ = key.partition("_")
    if not underscore:
        return False
    return any(_one_edit_apart(head + "_", prefix) for prefix in PREFIXES)


def _one_edit_apart(a: str, b: str) -> bool:
    """One letter added, dropped, changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# Values that name files to read: relative ones are relative to the env file that holds them,
# like the env file's other inputs. AUTOPOST_DB is not among them: the ledger is state, and a
# relative one stays in the working directory (the systemd unit's StateDirectory), where
# existing installations keep it.
_PATH_VARIABLES = ("AUTOPOST_FEEDS",)


def _relative_to(env_file: Path, variable: str, value: str) -> str:
    """``value`` with each relative file path in it made relative to the env file's directory.

    Joined, not resolved: an env file in the current directory leaves its paths as written,
    so a ledger that recorded a feed by its path still recognises it.
    """
    folder = os.path.dirname(env_file)
    if not folder:
        return value

    def moved(item: str) -> str:
        # A URL, or a mistyped one (http:/…) that settings_from refuses: not a path to move.
        if "://" in item or _MISSING_SLASH.match(item) or os.path.isabs(os.path.expanduser(item)):
            return item
        return os.path.join(folder, item)

    return ",".join(moved(item) for item in split_list(value))


def find_env_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get("AUTOPOST_ENV_FILE"):
        return Path(environ["AUTOPOST_ENV_FILE"])
    default = Path(".env")
    return default if default.is_file() else None


def load_settings(env_file: str | None = None, environ: Mapping[str, str] | None = None, *,
                  require_credentials: bool = True) -> Settings:
    """Read the env file (if any) and the environment; real environment variables win.

    ``require_credentials=False`` is for `autopost auth`, which exists to fill them in.
    """
    environ = os.environ if environ is None else environ
    path = find_env_file(env_file, environ)
    bindings = read_env_bindings(path) if path else []
    values: dict[str, str] = {key: value for key, value, _ in bindings}
    if path:
        for variable in _PATH_VARIABLES:
            if variable in values:
                values[variable] = _relative_to(path, variable, values[variable])
    values.update({k: v for k, v in environ.items() if _is_ours(k)})
    settings = settings_from(values, env_file=path, require_credentials=require_credentials)
    warnings = unknown_variables(bindings, path) if path else ()
    return settings._replace(warnings=warnings) if warnings else settings


def _is_ours(key: str) -> bool:
    return key.startswith(PREFIXES)


def settings_from(values: Mapping[str, str], env_file: Path | None = None, *,
                  require_credentials: bool = True) -> Settings:
    """Validate raw variables into Settings. Raises ConfigError naming the first bad variable."""
    def get(name: str, default: str = "") -> str:
        return values.get(name, default).strip()

    feeds = split_list(get("AUTOPOST_FEEDS"))
    if not feeds:
        raise ConfigError("AUTOPOST_FEEDS", "is required: one or more feed URLs or file paths, "
                                            "separated by commas or spaces")
    for number, feed in enumerate(feeds, start=1):
        scheme = _MISSING_SLASH.match(feed)
        if scheme:
            # Read as a file path it would be shown and stored whole, a password included: never echoed.
            raise ConfigError("AUTOPOST_FEEDS", f"feed {number} starts with {scheme.group(1)!r} but not "
                                                f"{scheme.group(1) + '//'!r}: a URL needs two slashes")
        if "://" in feed and not feed.lower().startswith(("http://", "https://", "file://")):
            raise ConfigError("AUTOPOST_FEEDS", f"{display_url(feed)!r} is neither an http(s) URL nor a file path")
        problem = url_problem(feed) if "://" in feed else None
        if not problem and feed.lower().startswith(("http://", "https://")) and not urlsplit(feed).hostname:
            problem = "has no host name"
        if problem:
            raise ConfigError("AUTOPOST_FEEDS", f"{display_url(feed)!r} {problem}")

    platforms = _platforms(values, get("AUTOPOST_PLATFORMS"), require_credentials)

    templates = {}
    for network in NETWORKS:
        variable = network.prefix + "TEMPLATE"
        if variable in values and values[variable].strip():
            from bot import compose   # only when a template is set: keeps the CLI's start fast

            template = values[variable].replace("\\n", "\n")
            problem = compose.check_template(template)
            if problem:
                raise ConfigError(variable, problem)
            templates[network.name] = template

    caps = {}
    for network in NETWORKS:
        variable = network.prefix + "DAILY_CAP"
        if get(variable):
            caps[network.name] = parse_int(get(variable), variable, minimum=1)

    allow_mentions = tuple(
        network.name for network in NETWORKS
        if network.text.defuse_mentions is not None
        and parse_bool(get(network.prefix + "ALLOW_MENTIONS", "false"), network.prefix + "ALLOW_MENTIONS"))

    # Each network's own variables, validated by its own description: for the networks that
    # are enabled, and for any whose variables are set (a typo there is caught before it matters).
    networks = {network.name: network.parse(values) for network in NETWORKS
                if network.name in platforms or any(get(v) for v in network.variables)}

    log_level = get("AUTOPOST_LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError("AUTOPOST_LOG_LEVEL", f"{log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    log_format = get("AUTOPOST_LOG_FORMAT", "text").lower()
    if log_format not in ("text", "json"):
        raise ConfigError("AUTOPOST_LOG_FORMAT", f"{log_format!r} is not text or json")

    max_age = parse_duration(get("AUTOPOST_MAX_AGE", "7d"), "AUTOPOST_MAX_AGE")
    interval = parse_duration(get("AUTOPOST_POLL_INTERVAL", "300"), "AUTOPOST_POLL_INTERVAL")
    if interval < 1:
        raise ConfigError("AUTOPOST_POLL_INTERVAL", "must be at least 1 second")
    timeout = parse_duration(get("AUTOPOST_REQUEST_TIMEOUT", "30"), "AUTOPOST_REQUEST_TIMEOUT")
    if timeout <= 0:
        raise ConfigError("AUTOPOST_REQUEST_TIMEOUT", "must be more than 0 seconds")

    grace = parse_duration(get("AUTOPOST_SHUTDOWN_GRACE", "10"), "AUTOPOST_SHUTDOWN_GRACE")
    if grace <= 0:
        raise ConfigError("AUTOPOST_SHUTDOWN_GRACE", "must be more than 0 seconds")

    utm = get("AUTOPOST_UTM") or None
    if utm and ("=" not in utm or any(c.isspace() for c in utm)):
        raise ConfigError("AUTOPOST_UTM", "must be a query string such as utm_source={platform}&utm_medium=social")

    webhook = get("AUTOPOST_ALERT_WEBHOOK") or None
    if webhook and not webhook.lower().startswith(("http://", "https://")):
        raise ConfigError("AUTOPOST_ALERT_WEBHOOK", "must be an http(s) URL")
    if webhook and url_problem(webhook):
        raise ConfigError("AUTOPOST_ALERT_WEBHOOK", url_problem(webhook) or "")

    http_listen = None
    if get("AUTOPOST_HTTP"):
        match = re.fullmatch(r"([A-Za-z0-9.\-]+):(\d{1,5})", get("AUTOPOST_HTTP"))
        if not match or int(match.group(2)) > 65535:
            raise ConfigError("AUTOPOST_HTTP", f"{get('AUTOPOST_HTTP')!r} is not HOST:PORT, e.g. 127.0.0.1:9464")
        http_listen = (match.group(1), int(match.group(2)))
        import importlib.util

        if importlib.util.find_spec("prometheus_client") is None:
            raise ConfigError("AUTOPOST_HTTP", "needs the metrics extra: pip install 'autopost[metrics]'")

    return Settings(
        feeds=feeds,
        **_ledger_settings(get("AUTOPOST_DB") or "autopost.db"),
        env_file=env_file,
        poll_interval=interval,
        platforms=platforms,
        dry_run=parse_bool(get("AUTOPOST_DRY_RUN", "false"), "AUTOPOST_DRY_RUN"),
        backfill=parse_int(get("AUTOPOST_BACKFILL", "0"), "AUTOPOST_BACKFILL"),
        max_age=max_age or None,
        burst_limit=parse_int(get("AUTOPOST_BURST_LIMIT", "5"), "AUTOPOST_BURST_LIMIT"),
        request_timeout=timeout,
        max_feed_bytes=parse_int(get("AUTOPOST_MAX_FEED_BYTES", str(10 * 1024 * 1024)),
                                 "AUTOPOST_MAX_FEED_BYTES", minimum=1024),
        fetch_concurrency=parse_int(get("AUTOPOST_FETCH_CONCURRENCY", "8"), "AUTOPOST_FETCH_CONCURRENCY",
                                    minimum=1),
        shutdown_grace=grace,
        allow_private_networks=parse_bool(get("AUTOPOST_ALLOW_PRIVATE_NETWORKS", "false"),
                                          "AUTOPOST_ALLOW_PRIVATE_NETWORKS"),
        log_level=log_level,
        log_format=log_format,
        templates=templates,
        hashtags_max=parse_int(get("AUTOPOST_HASHTAGS_MAX", "3"), "AUTOPOST_HASHTAGS_MAX"),
        hashtags_extra=split_list(get("AUTOPOST_HASHTAGS_EXTRA")),
        utm=utm,
        allow_mentions=allow_mentions,
        summary_max=parse_int(get("AUTOPOST_SUMMARY_MAX", "300"), "AUTOPOST_SUMMARY_MAX"),
        retry_base=parse_duration(get("AUTOPOST_RETRY_BASE", "30"), "AUTOPOST_RETRY_BASE"),
        retry_max=parse_duration(get("AUTOPOST_RETRY_MAX", "1h"), "AUTOPOST_RETRY_MAX"),
        max_attempts=parse_int(get("AUTOPOST_MAX_ATTEMPTS", "8"), "AUTOPOST_MAX_ATTEMPTS", minimum=1),
        min_gap=parse_duration(get("AUTOPOST_MIN_GAP", "0"), "AUTOPOST_MIN_GAP"),
        reverify_interval=parse_duration(get("AUTOPOST_REVERIFY_INTERVAL", "1h"), "AUTOPOST_REVERIFY_INTERVAL"),
        daily_caps=caps,
        alert_webhook=webhook,
        http_listen=http_listen,
        networks=networks,
    )


def _platforms(values: Mapping[str, str], raw: str, require_credentials: bool = True) -> tuple[str, ...]:
    """The enabled networks: as listed, else every network with credentials, else console."""
    def missing(network: str) -> list[str]:
        described = next(n for n in NETWORKS if n.name == network)
        return [v for v in described.credentials if not values.get(v, "").strip()]

    if not raw:
        found = tuple(n.name for n in NETWORKS if not missing(n.name))
        return found or (CONSOLE,)
    names = tuple(dict.fromkeys(n.lower() for n in split_list(raw)))
    for name in names:
        if name not in PLATFORM_NAMES:
            raise ConfigError("AUTOPOST_PLATFORMS",
                              f"unknown network {name!r}; choose from {', '.join(PLATFORM_NAMES)}")
        if name != CONSOLE and require_credentials:
            lacking = missing(name)
            if lacking:
                raise ConfigError(lacking[0], f"is required because AUTOPOST_PLATFORMS enables {name} "
                                              f"(missing: {', '.join(lacking)})")
    return names


def _ledger_settings(value: str) -> dict[str, Any]:
    """AUTOPOST_DB: a SQLite file (db_path), or a PostgreSQL URL (db_url; its password is a secret)."""
    if _URL_LIKE.match(value) and not value.startswith(("postgresql://", "postgres://")):
        # A misspelt scheme would be taken for a file name, and a file name is shown whole.
        raise ConfigError("AUTOPOST_DB", "looks like a URL but is not a postgresql:// one; give a SQLite file "
                                         "path or postgresql://user:password@host/database")
    if value.startswith(("postgresql://", "postgres://")):
        # Checked here, not by the driver, whose error would quote the URL with its password.
        # Several hosts (h1:5432,h2:5432) are libpq's own syntax, which urlsplit cannot read.
        netloc = value.partition("://")[2].split("/", 1)[0]
        problem = None if "," in netloc.rpartition("@")[2] else url_problem(value)
        if not problem and re.search(r"%(?![0-9A-Fa-f]{2})", value):
            problem = "has a % that is not followed by two hex digits (write a literal % as %25)"
        if problem:
            raise ConfigError("AUTOPOST_DB", f"the PostgreSQL URL {problem}")
        return {"db_url": value}
    return {"db_path": Path(value)}


