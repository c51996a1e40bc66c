"""Checking one configuration value: the error that names its variable, and the small parsers
every settings parser uses (the core's in ``bot/config.py``, each network's in its own module).

Imports nothing of the project's but its error base, so a network's description can use it
without importing ``bot.config`` (which loops over the networks).
"""
from __future__ import annotations

import re

from bot.models import AutopostError


class ConfigError(AutopostError):
    """The configuration is unusable; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
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
