"""Checking one configuration value: the error that names its variable, and the small parsers
every settings parser uses (the core's in ``bot/config.py``, each network's in its own module).

Imports nothing of the project's but its error base, so a network's description can use it
without importing ``bot.config`` (which loops over the networks).
"""
from __future__ import annotations

import re
from typing import Any

from bot.models import AutopostError
from bot.patterns import lazy


def repr_without(record: Any, *hidden: str) -> str:
    """``repr`` of a NamedTuple with the ``hidden`` fields (its secrets) left out, so a settings
    object in a log line, a traceback or a test failure never shows a token."""
    shown = ", ".join(f"{name}={value!r}" for name, value in zip(record._fields, record) if name not in hidden)
    return f"{type(record).__name__}({shown})"


def url_problem(url: str) -> str | None:
    """What makes ``url`` unreadable as a URL ("" never), or None.

    urlsplit raises ValueError for a bracketed host that is not an IPv6 address (http://[zz) and
    ``.port`` for a port that is no number: checked once when the configuration loads, so no
    later fetch or request meets the error as a traceback.
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        _ = parts.port, parts.hostname          # each parses on access, and may raise
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    return None


class ConfigError(AutopostError):
    """The configuration is unusable; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


_DURATION = lazy(r"^\s*(-?\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_duration(value: str, variable: str) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h`` or ``7d``."""
    match = _DURATION.match(value)
    if not match:
        raise ConfigError(variable, f"{value!r} is not a duration; use seconds (90) or 90s, 5m, 1h, 7d")
    if match.group(1).startswith("-"):
        raise ConfigError(variable, f"must be positive, got {value.strip()}")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_bool(value: str, variable: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(variable, f"{value!r} is not true or false")


def parse_int(value: str, variable: str, *, minimum: int = 0) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(variable, f"{value!r} is not a whole number") from None
    if number < minimum:
        raise ConfigError(variable, f"must be at least {minimum}, got {number}")
    return number


def split_list(value: str) -> tuple[str, ...]:
    return tuple(item for item in re.split(r"[\s,]+", value) if item)


# Feed text is shown in the owner's terminal (poll, status) and posted: a terminal escape
# sequence in a title could recolour, retitle or rewrite the screen, and a bidi override turns
# the text around in every network's post. Whole sequences go first, so no "[31m" is left:
# CSI (ESC [ params final), OSC (ESC ] ... BEL or ESC \), any other ESC x; then every other
# C0/C1 control (tab and newline are whitespace and collapse below) and the bidi embedding,
# override and isolate controls U+202A-U+202E, U+2066-U+2069.
_ESCAPE_SEQUENCE = lazy(
    r"\x1b\[[0-?]*[ -/]*[@-~]?|\x9b[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?")
_CONTROL = lazy("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str) -> str:
    """``text`` without terminal escape sequences, control characters and bidi controls."""
    if text.isprintable():
        return text
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
