"""What posting to X costs under its pay-per-use pricing, for `preview` and `check`.

X's API is billed per call from prepaid credits (docs.x.com/x-api/getting-started/pricing,
2026): "Content: Create" $0.015 a request, "Content: Create (with URL)" $0.200;
reads per resource returned, "User: Read" $0.010, and "Owned Reads" (an app
reading its own user's data) $0.001, so one credential check (GET /2/users/me)
costs $0.001–0.01. "Prices are subject to change": these are estimates to plan a
budget with, not a bill; the developer console shows the real balance. The
default X template always carries the article's link, so nearly every automatic
post is the $0.20 kind.

Pure arithmetic: the caller passes the entries' dates, the clock and the settings.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

POST_WITH_URL_USD = 0.20
POST_WITHOUT_URL_USD = 0.015
READ_USD = (0.001, 0.01)           # per read, low and high
READS_PER_VERIFY = 1               # a credential check is one GET /2/users/me
RATE_WINDOW = timedelta(days=90)   # "recent": the feed's last three months
DAYS_PER_MONTH = 30


def post_cost(has_url: bool) -> float:
    return POST_WITH_URL_USD if has_url else POST_WITHOUT_URL_USD


def posts_per_day(published: Iterable[datetime | None], now: datetime, *, poll_interval: float = 300.0,
                  burst_limit: int = 0) -> float | None:
    """The feed's posting rate over its last RATE_WINDOW (90 days), from its entries' dates; None
    if no entry has a date.

    The entries of the window are counted over the whole window, as the README promises, even
    when the feed goes back less far (``history_days`` says how far, so the caller can say so).
    An entry dated in the future counts as now. Entries the burst guard would hold back are not
    counted: of the entries that appear within one poll interval of each other, at most
    ``burst_limit`` go out (0: no guard). Backfill holds back what the feed holds at first sight,
    so the estimate is of what comes after, at the rate of the feed's history.
    """
    dates = [min(d, now) for d in published if d is not None]
    if not dates:
        return None
    recent = sorted(d for d in dates if d >= now - RATE_WINDOW)
    return _posted(recent, poll_interval, burst_limit) / (RATE_WINDOW / timedelta(days=1))


def history_days(published: Iterable[datetime | None], now: datetime) -> float | None:
    """How many days back the feed's dated entries go, when less than the RATE_WINDOW; else None."""
    dates = [min(d, now) for d in published if d is not None]
    if not dates or now - min(dates) >= RATE_WINDOW:
        return None
    return (now - min(dates)) / timedelta(days=1)


def _posted(dates: list[datetime], poll_interval: float, burst_limit: int) -> int:
    """How many of ``dates`` (sorted) would be posted: one poll sees what appeared since the last."""
    if burst_limit <= 0:
        return len(dates)
    count, start, seen = 0, None, 0
    for moment in dates:
        if start is None or (moment - start).total_seconds() >= poll_interval:
            count += min(seen, burst_limit)
            start, seen = moment, 0
        seen += 1
    return count + min(seen, burst_limit)


def reverify_reads_per_day(reverify_interval: float) -> float:
    """X reads a day that re-checking the credentials every ``reverify_interval`` seconds costs."""
    return READS_PER_VERIFY * 86400 / reverify_interval


def _usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.3f}"


def _reads(per_day: float) -> str:
    low, high = (per_day * DAYS_PER_MONTH * price for price in READ_USD)
    return f"{_usd(low)}–{_usd(high)} a month"


def reverify_line(reverify_interval: float) -> str:
    """``check``'s sentence on what the service's credential re-checks cost on X."""
    per_day = reverify_reads_per_day(reverify_interval)
    return (f"re-checking the credentials every {_duration(reverify_interval)} "
            f"(AUTOPOST_REVERIFY_INTERVAL) costs {per_day:g} X read(s) a day, about {_reads(per_day)} "
            f"at ${READ_USD[0]:g}–{READ_USD[1]:g} a read")


def cost_lines(*, has_url: bool, per_day: float | None, daily_cap: int | None,
               reverify_interval: float, history: float | None = None) -> list[str]:
    """``preview``'s estimate: per post, per month at the feed's rate, the cap's bound, the reads."""
    each = post_cost(has_url)
    other = post_cost(not has_url)
    lines = [f"X bills each post: about {_usd(each)} for this one (its text "
             f"{'has a link' if has_url else 'has no link'}; {_usd(other)} "
             f"{'without' if has_url else 'with'} one)."]
    if per_day is None:
        lines.append("The feed's entries carry no dates, so no monthly estimate.")
    else:
        monthly = per_day * DAYS_PER_MONTH
        capped = monthly if daily_cap is None else min(monthly, daily_cap * DAYS_PER_MONTH)
        lines.append(f"At the feed's rate over its last 90 days (about {monthly:.1f} post(s) a month) that is "
                     f"about {_usd(capped * each)} a month on X.")
        if history is not None:
            # A feed that keeps only its newest entries says little about 90 days: say so, and what
            # the same entries over the days they do cover would come to.
            short = monthly * (RATE_WINDOW / timedelta(days=1)) / max(history, 1.0)
            short = short if daily_cap is None else min(short, daily_cap * DAYS_PER_MONTH)
            lines.append(f"The feed's dated entries go back only {history:.0f} day(s), not 90: counted over "
                         f"those days alone it would be about {_usd(short * each)} a month.")
    if daily_cap is None:
        lines.append("TWITTER_DAILY_CAP is unset: nothing bounds the bill if the feed floods; "
                     "TWITTER_DAILY_CAP=N allows at most N automatic X posts in any 24 hours.")
    else:
        lines.append(f"TWITTER_DAILY_CAP={daily_cap} bounds it: at most {daily_cap} automatic X post(s), "
                     f"about {_usd(daily_cap * each)}, in any 24 hours "
                     f"({_usd(daily_cap * each * DAYS_PER_MONTH)} a month at most).")
    per_day_reads = reverify_reads_per_day(reverify_interval)
    lines.append(f"The service's credential re-check adds {per_day_reads:g} read(s) a day, "
                 f"about {_reads(per_day_reads)}.")
    return lines


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
