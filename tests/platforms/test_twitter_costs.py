"""What X costs under pay-per-use: the arithmetic behind `preview` and `check`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.platforms.twitter_costs import (
    cost_lines,
    history_days,
    post_cost,
    posts_per_day,
    reverify_line,
    reverify_reads_per_day,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def days_ago(*days: float) -> list[datetime]:
    return [NOW - timedelta(days=d) for d in days]


@pytest.mark.parametrize("dates, per_month", [
    (days_ago(*range(5, 300, 10)), 3.0),        # every 10 days for ten months: 9 in the last 90 days
    (days_ago(1, 11, 21), 1.0),                 # a short feed: its 3 entries, over 90 days all the same
    (days_ago(200, 300), 0.0),                  # a blog that stopped posting
    (days_ago(0.1), 1 / 3),                     # one entry today is one in 90 days, not 30 a month
    (days_ago(-5, 3), 2 / 3),                   # a future date counts as now
])
def test_posting_rate_is_the_entries_of_the_last_90_days_over_90_days(dates, per_month):
    assert posts_per_day(dates + [None], NOW) * 30 == pytest.approx(per_month)


def test_a_burst_counts_only_what_the_burst_guard_lets_out():
    # 200 entries a minute apart (a re-import), and one the day before: polled every 5 minutes
    # with AUTOPOST_BURST_LIMIT=5, at most 5 of each poll's 5 new entries go out.
    burst = [NOW - timedelta(minutes=m) for m in range(200)] + days_ago(1)
    assert posts_per_day(burst, NOW) == pytest.approx(201 / 90)                 # no guard: every one
    guarded = posts_per_day(burst, NOW, poll_interval=300, burst_limit=5)
    assert guarded == pytest.approx(201 / 90)                                  # 5 a poll: all fit
    tight = posts_per_day(burst, NOW, poll_interval=3600, burst_limit=5)
    assert tight * 90 == 4 * 5 + 1                                             # 60 a poll, 5 let out
    text = "\n".join(cost_lines(has_url=True, per_day=tight, daily_cap=None, reverify_interval=3600,
                                history=history_days(burst, NOW)))
    assert "about 7.0 post(s) a month) that is about $1.40 a month on X" in text
    assert "go back only 1 day(s), not 90: counted over those days alone it would be about $126.00 a month" in text


def test_a_feed_with_90_days_of_history_says_nothing_of_its_span():
    assert history_days(days_ago(1, 100), NOW) is None
    assert history_days(days_ago(1, 30), NOW) == pytest.approx(30)
    text = "\n".join(cost_lines(has_url=True, per_day=0.1, daily_cap=None, reverify_interval=3600, history=None))
    assert "go back only" not in text


def test_no_dates_no_rate():
    assert posts_per_day([None, None], NOW) is None


def test_a_post_with_a_link_costs_what_x_charges_for_one():
    assert post_cost(True) == 0.20 and post_cost(False) == 0.015


@pytest.mark.parametrize("interval, reads", [(3600, 24), (1800, 48), (86400, 1)])
def test_reverify_reads_a_day(interval, reads):
    assert reverify_reads_per_day(interval) == reads
    assert f"{reads} X read(s) a day" in reverify_line(interval)


def test_the_hourly_reverify_line_names_the_interval_and_the_monthly_range():
    line = reverify_line(3600)
    assert "every 1h (AUTOPOST_REVERIFY_INTERVAL)" in line
    assert "about $0.72–$7.20 a month at $0.001–0.01 a read" in line


def test_cost_lines_at_the_feeds_rate_without_a_cap():
    lines = cost_lines(has_url=True, per_day=0.5, daily_cap=None, reverify_interval=3600)
    text = "\n".join(lines)
    assert "about $0.20 for this one (its text has a link; $0.015 without one)" in text
    assert "At the feed's rate over its last 90 days (about 15.0 post(s) a month) that is about $3.00 a month on X" in text
    assert "TWITTER_DAILY_CAP is unset: nothing bounds the bill" in text
    assert "adds 24 read(s) a day" in text


def test_cost_lines_with_a_cap_bound_the_month():
    lines = cost_lines(has_url=True, per_day=10, daily_cap=2, reverify_interval=3600)
    text = "\n".join(lines)
    assert "that is about $12.00 a month on X" in text           # 2 a day × 30 × $0.20, not 300 posts
    assert "TWITTER_DAILY_CAP=2 bounds it: at most 2 automatic X post(s), about $0.40, in any 24 hours" in text


def test_cost_lines_without_a_link_or_dates():
    text = "\n".join(cost_lines(has_url=False, per_day=None, daily_cap=None, reverify_interval=3600))
    assert "about $0.015 for this one (its text has no link; $0.20 with one)" in text
    assert "no monthly estimate" in text
