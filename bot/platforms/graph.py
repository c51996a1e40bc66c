"""What Facebook Pages and Instagram share of Meta's Graph API: token codes, throttling windows, integers.

Both adapters read Graph's error object and its ``X-Business-Use-Case-Usage``
header the same way (https://developers.facebook.com/docs/graph-api/guides/error-handling,
https://developers.facebook.com/docs/graph-api/overview/rate-limiting/). Their
throttle code sets differ (341 is an app limit Facebook documents for Pages),
so each keeps its own. Only the standard library: the description modules stay
cheap to import.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

# 190 = token expired/revoked/invalid; 102 = session, same recovery per the docs.
TOKEN_CODES = frozenset({102, 190})
# 80000-80099 are the Business Use Case limits (80001 = Pages, 80002 = Instagram).
BUC_THROTTLE_RANGE = range(80000, 80100)

# Without estimated_time_to_regain_access nothing says when the quota comes
# back. An hour lets the rolling one-hour app/user window empty completely and
# takes a good bite out of the 24-hour Page window; calling sooner would only
# spend another throttled call, and Graph will say again (usually with an
# estimate) if we are still over.
DEFAULT_THROTTLE_BACKOFF = timedelta(hours=1)


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def regain_access_minutes(header: str | None) -> float | None:
    """The longest ``estimated_time_to_regain_access`` in X-Business-Use-Case-Usage, in minutes."""
    if not header:
        return None
    import json

    try:
        usage = json.loads(header)
    except ValueError:
        return None
    longest = None
    for entries in usage.values() if isinstance(usage, dict) else ():
        for entry in entries if isinstance(entries, list) else ():
            value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                longest = max(longest or 0, value)
    return longest


def throttle_wait(header: str | None) -> timedelta:
    """How long a throttled caller waits: Graph's estimate from the BUC header, else an hour."""
    minutes = regain_access_minutes(header)
    return timedelta(minutes=minutes) if minutes else DEFAULT_THROTTLE_BACKOFF
