"""The poll cycle and the delivery run, wired once.

`autopost poll` runs one whole cycle (``App.cycle``: recover → re-verify the blocked
networks → poll every feed → deliver what is due). `autopost run` keeps one ``App``
for its life: it recovers at start (``App.recover``), its scheduler polls each feed on
its own (``App.poll_feed``, which nudges the delivery lanes when a poll queues new
posts) and the lanes deliver (``App.start_lanes``). Both go through the same poller,
deliverer and recovery, so a change to the cycle is made here once.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping

from bot.alerts import Alerter
from bot.config import Settings
from bot.delivery import CycleReport, Deliverer, Lanes
from bot.models import Delivery, utcnow
from bot.platforms.base import Platform, PlatformError, create_platform
from bot.poller import FeedOutcome, Poller
from bot.store import Store

log = logging.getLogger(__name__)

Guard = Callable[[Callable[[], object]], Callable[[], object]]


def build_platforms(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> dict[str, Platform]:
    """The adapters of the enabled networks; every one is the console in a dry run."""
    if settings.dry_run:
        from bot.platforms.console import ConsolePlatform

        return {name: ConsolePlatform() for name in settings.platforms}
    return {name: create_platform(name, settings, clock=clock) for name in settings.platforms}


def make_alerter(settings: Settings) -> Alerter | None:
    """The webhook that hears of failures, blocked and recovered networks, expiring tokens."""
    if not settings.alert_webhook:
        return None
    return Alerter(settings.alert_webhook, timeout=min(settings.request_timeout, 10.0))


def try_verify(deliverer: Deliverer, name: str) -> tuple[bool, str]:
    """Verify one network; (True, "OK, posts as …") or (False, "FAILED: why"). Never raises."""
    try:
        return True, f"OK, posts as {deliverer.verify(name)}"
    except PlatformError as exc:
        return False, f"FAILED: {exc.message}"


@dataclass
class CycleResult:
    """What one whole cycle did: recovered deliveries, each feed's outcome, the delivery report."""
    recovered: list[tuple[Delivery, str]] = field(default_factory=list)
    feeds: list[FeedOutcome] = field(default_factory=list)
    delivered: CycleReport = field(default_factory=CycleReport)


class App:
    """One ledger's poller and deliverer, wired together.

    ``platforms`` defaults to the enabled networks' adapters (the console in a dry run);
    ``on_event`` is the alert hook (failures, blocked networks, bursts); ``explain`` asks
    the poller to say which new entries it skipped and why (for `autopost poll`).
    ``on_polled`` hears of each feed's outcome as the service polls it (health metrics).
    """

    def __init__(self, settings: Settings, store: Store, *, clock: Callable[[], datetime] = utcnow,
                 platforms: Mapping[str, Platform] | None = None,
                 on_event: Callable[[str, str, str, str], object] | None = None,
                 stopping: threading.Event | None = None, explain: bool = False):
        self.settings = settings
        self.store = store
        self.deliverer = Deliverer(store, settings,
                                   build_platforms(settings, clock=clock) if platforms is None else platforms,
                                   clock=clock, stopping=stopping, on_event=on_event)
        self.poller = Poller(settings, store, explain=explain, alert=on_event)
        self.on_polled: Callable[[FeedOutcome], None] | None = None
        self.lanes: Lanes | None = None

    def recover(self) -> list[tuple[Delivery, str]]:
        """Reconcile what a crash left in `sending`; done before any new delivery."""
        return self.deliverer.recover()

    def cycle(self, on_done: Callable[[FeedOutcome], None] | None = None) -> CycleResult:
        """One whole cycle for a run that ends (cron): recover, re-verify, poll every feed, deliver."""
        result = CycleResult(recovered=self.recover())
        for name in self.deliverer.platforms:
            if self.store.network_state(name).state == "blocked":
                try_verify(self.deliverer, name)      # cron mode has no periodic re-verify
        result.feeds = self.poller.poll_all(on_done)
        result.delivered = self.deliverer.run_due()
        return result

    def poll_feed(self, url: str) -> FeedOutcome:
        """Poll one feed (the service's per-feed job); new posts wake the delivery lanes at once."""
        outcome = self.poller.poll(url)
        if self.on_polled:
            self.on_polled(outcome)
        # Post now, not at the lane's next pass; on a shared ledger another service's poll may
        # have queued the posts, so every poll looks at the queue.
        if (outcome.new_posts or self.store.shared) and self.lanes is not None:
            self.lanes.nudge()
        return outcome

    def start_lanes(self, interval: float, guard: Guard = lambda job: job) -> Lanes:
        """One delivery lane per network, each passing over its due deliveries every ``interval`` s."""
        self.lanes = Lanes(self.deliverer, interval, guard)
        self.lanes.start()
        return self.lanes

    def stop(self) -> None:
        """Take no new delivery; a call in flight finishes (or is cut by the caller)."""
        if self.lanes is not None:
            self.lanes.stop()
        else:
            self.deliverer.stopping.set()

    def close(self) -> None:
        self.poller.close()
