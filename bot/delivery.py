"""Claiming due deliveries, calling adapters, retries, backoff and crash recovery.

State machine of one delivery (a row of ``deliveries``)::

    pending ──claim──► sending ──► sent        posted, or the network says it already has it
       ▲                  │   ├──► failed      permanent error, too many attempts, or too old to post late
       │                  │   ├──► blocked     the network refused our credentials; held until it verifies again
       │                  │   ├──► skipped     the network cannot carry this post (no image where it needs one)
       └── retry at T ◄───┘   └──► uncertain   interrupted by a crash and impossible to check

Crash reasoning. The claim (``sending``, attempt + 1) is committed *before*
the network call and the outcome right *after* it, so a crash can only leave a
row in ``sending``, and such a row means "the call may or may not have
reached the network". At start-up each one is reconciled:

* the adapter's ``find_existing`` finds the post on the network → ``sent``,
  with its remote id: nothing is posted again;
* it looked and did not find it (the adapter read the account's recent posts),
  or the network rejects a duplicate itself (its description's
  ``rejects_duplicates``: it refuses the same content a second time) → back to
  ``pending``: a retry either posts once or is told "duplicate", which is
  recorded as ``sent``.
  Composition is deterministic, so the retry sends the very same text;
* it could not look (the lookup failed) on a network that accepts the same
  link twice: posting again could make a duplicate and not posting could lose
  the post, so the row becomes ``uncertain`` and the owner decides with
  ``autopost repost``.

The same lookup runs before a retry after a transient error on such a
network, since a timeout can hide a post the network did make.

A network that publishes in steps (its adapter has ``resume``, see
``bot.platforms.base.StagedPlatform``) records its progress in the row
(``progress``, committed before the step that posts). A row that holds it is
resumed from it, on the next attempt and after a crash alike: the network's own
record of that step says whether the post exists. ``InProgress`` (not ready yet)
keeps the row pending until its ``retry_at`` without counting an attempt, and
``Unsuitable`` (the post cannot go there, e.g. no image) settles it as ``skipped``.

A network's own state (``networks`` table) is ``healthy``, ``failing`` (its
last call timed out, was reset or answered 5xx: it still gets its retries, but
`status` does not call it healthy) or ``blocked`` (it refused our credentials).

Networks are independent: each has its own worker, so a slow or failing
network never delays another; within a network deliveries go out one at a
time, oldest post first, spaced by ``AUTOPOST_MIN_GAP`` and bounded by the
network's daily cap.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping

from bot import http
from bot.compose import ComposeOptions, compose
from bot.config import Settings
from bot.logs import scrub
from bot.models import Delivery, Message, Post, Published, utcnow
from bot.platforms.base import (
    AuthError, DuplicateError, InProgress, PermanentError, Platform, PlatformError, RateLimited, TransientError,
    StagedPlatform, Unsuitable, staged,
)
from bot.platforms.network import TextRules
from bot.platforms.registry import CONSOLE, NAMES, NETWORKS

if TYPE_CHECKING:                 # the ledger is handed in: `preview` composes without one
    from bot.store import Store

log = logging.getLogger(__name__)

# Networks whose own duplicate check makes a blind retry safe after a crash (and the console).
REJECTS_DUPLICATES = frozenset({n.name for n in NETWORKS if n.rejects_duplicates} | {CONSOLE})
# Problem states a user must look at; `status` and `poll` exit 1 on them.
PROBLEM_STATES = frozenset({"failed", "blocked", "uncertain"})
DAY = timedelta(hours=24)


class CycleReport:
    """What one delivery pass did, for exit codes and logs."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[Delivery, str]] = []   # (delivery as finished, state)

    @property
    def problems(self) -> list[tuple[Delivery, str]]:
        return [(d, s) for d, s in self.outcomes if s in PROBLEM_STATES]


def _fields(event: str, platform: str, post_url: str, state: str) -> dict[str, str]:
    """The structured fields of a delivery log line (keys of AUTOPOST_LOG_FORMAT=json)."""
    return {"event": event, "platform": platform, "post_url": post_url, "state": state}


def messages_for(post: Post, platform: str, settings: Settings, rules: TextRules | None = None) -> list[Message]:
    """The messages one delivery sends: one per network, or one for every network for the console stand-in.

    ``rules``: the platform's own text rules, as its adapter reported them (else its description's).
    """
    networks = NAMES if platform == CONSOLE else (platform,)
    return [compose(post, network, settings.templates.get(network),
                    ComposeOptions(hashtags_max=settings.hashtags_max, hashtags_extra=settings.hashtags_extra,
                                   utm=settings.utm, allow_mentions=network in settings.allow_mentions,
                                   summary_max=settings.summary_max),
                    rules if network == platform else None)
            for network in networks]


def delivery_key(delivery: Delivery) -> str:
    """``Message.key`` for ``delivery``: its ledger id and creation time (another ledger's row of the
    same id was made at another time), the same on every try of it."""
    made = delivery.created_at.isoformat(timespec="microseconds") if delivery.created_at else ""
    return f"{delivery.id}@{made}"


def backoff(attempt: int, base: float, cap: float, rng: Callable[[], float] | None = None) -> float:
    """Seconds to wait before the next try: exponential with full jitter (0..min(cap, base·2^(n-1))).
    ``rng``: random.random unless a test gives its own."""
    if rng is None:
        import random           # here: the commands that retry nothing (preview) start without it

        rng = random.random
    return rng() * min(cap, base * 2 ** max(attempt - 1, 0))


class Lanes:
    """One delivery worker per network for the service: a slow network holds only its own lane.

    Each lane runs its network's due deliveries every ``interval`` seconds, or at once
    when ``nudge()`` says new posts are queued; ``stop()`` lets the call in flight finish
    and starts no other. ``guard`` wraps each pass (the service's error handling).
    """

    def __init__(self, deliverer: Deliverer, interval: float,
                 guard: Callable[[Callable[[], object]], Callable[[], object]] = lambda job: job):
        self.deliverer = deliverer
        self.interval = interval
        self._guard = guard
        self._wake = {name: threading.Event() for name in deliverer.platforms}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name in self._wake:
            thread = threading.Thread(target=self._lane, args=(name,), name=f"lane-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def nudge(self) -> None:
        for wake in self._wake.values():
            wake.set()

    def stop(self) -> None:
        self.deliverer.stopping.set()
        self.nudge()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _lane(self, name: str) -> None:
        stopping, wake = self.deliverer.stopping, self._wake[name]
        run = self._guard(lambda: self.deliverer.run_network(name))
        while not stopping.is_set():
            run()
            wake.wait(self.interval)
            wake.clear()


class Deliverer:
    def __init__(self, store: Store, settings: Settings, platforms: Mapping[str, Platform], *,
                 clock: Callable[[], datetime] = utcnow, rng: Callable[[], float] | None = None,
                 on_event: Callable[[str, str, str, str], object] | None = None,
                 stopping: threading.Event | None = None):
        self.store = store
        self.settings = settings
        self.platforms = dict(platforms)
        self.clock = clock
        self.rng = rng
        self.on_event = on_event or (lambda event, platform, post_url, message: None)
        self.stopping = stopping or threading.Event()      # set: finish the call in flight, start no other
        self._rules: dict[str, TextRules | None] = {}       # each adapter's own text rules, asked once

    # ----------------------------------------------------------------- passes

    def run_due(self) -> CycleReport:
        """Deliver everything due now: networks in parallel, each network in order."""
        report = CycleReport()
        names = list(self.platforms)
        if len(names) <= 1:
            for name in names:
                report.outcomes += self._run_network(name)
            return report
        # Daemon threads, not a pool: Ctrl-C must be able to leave one stuck in a call behind.
        results: dict[str, list[tuple[Delivery, str]]] = {}
        errors: list[BaseException] = []

        def lane(name: str) -> None:
            try:
                results[name] = self._run_network(name)
            except BaseException as exc:  # noqa: BLE001  re-raised in the calling thread
                errors.append(exc)

        threads = [threading.Thread(target=lane, args=(name,), name=f"deliver-{name}", daemon=True)
                   for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        for name in names:
            report.outcomes += results.get(name, [])
        return report

    def run_network(self, platform: str) -> list[tuple[Delivery, str]]:
        """Deliver what is due on one network now (one lane of the service)."""
        return self._run_network(platform)

    def _run_network(self, platform: str) -> list[tuple[Delivery, str]]:
        outcomes: list[tuple[Delivery, str]] = []
        now = self.clock()
        state = self.store.network_state(platform)
        due = self.store.deliveries(states=("pending",), platform=platform, due_by=now)
        if not due:
            return outcomes
        if state.state == "blocked":
            # Hold new work without calling a network that refused our credentials.
            self.store.release([d.id for d in due], state="blocked", detail=f"held: {state.reason}")
            return [(d, "blocked") for d in due]
        if state.rate_limited_until and state.rate_limited_until > now:
            return outcomes
        for delivery in due:
            if self.stopping.is_set():
                break
            if delivery.kind == "auto":
                wait_until = self._paced_until(platform)
                if wait_until:
                    self.store.release([delivery.id], next_attempt_at=wait_until)
                    break
            final = self.deliver(delivery)
            outcomes.append((self.store.get_delivery(delivery.id), final))
            if final in ("blocked", "rate-limited"):
                break
        return outcomes

    def _paced_until(self, platform: str) -> datetime | None:
        """When this network may next receive an automatic post, or None for now."""
        cap = self.settings.daily_caps.get(platform)
        if not cap and not self.settings.min_gap:
            return None                       # the common case reads nothing
        now = self.clock()
        recent = self.store.sent_since(platform, now - DAY)
        wait = []
        if recent and self.settings.min_gap:
            wait.append(recent[-1] + timedelta(seconds=self.settings.min_gap))
        if cap and len(recent) >= cap:
            wait.append(recent[-cap] + DAY)
        later = max(wait, default=None)
        return later if later and later > now else None

    def _shared_pacing(self, delivery: Delivery) -> dict[str, Any]:
        """What the claim itself checks on a shared ledger, so pacing holds across services; and
        one post at a time to a network that accepts duplicates, so that a crashed service's
        post stays within the few recent posts recovery looks up (Store.claim)."""
        if not self.store.shared:
            return {}
        pacing: dict[str, Any] = {"exclusive": delivery.platform not in REJECTS_DUPLICATES}
        if delivery.kind == "auto":
            pacing.update(min_gap=self.settings.min_gap, daily_cap=self.settings.daily_caps.get(delivery.platform))
        return pacing

    # ------------------------------------------------------------ one attempt

    def deliver(self, delivery: Delivery) -> str:
        """Claim one pending delivery, publish it and record the outcome. Returns the state reached."""
        claimed = self.store.claim(delivery.id, **self._shared_pacing(delivery))
        if claimed is None:
            return "skipped"                        # another worker took it
        post = self.store.get_post(claimed.post_id)
        platform = claimed.platform
        adapter = self.platforms[platform]
        steps = staged(adapter)
        try:
            messages = [m._replace(key=delivery_key(claimed))
                        for m in messages_for(post, platform, self.settings, self._text_rules(platform))]
            # A timeout may hide a post the network made; where it does not
            # reject duplicates itself, look before posting again. A staged network's
            # recorded progress says that itself (resume).
            earlier = (adapter.find_existing(post.url)
                       if claimed.attempts > 1 and platform not in REJECTS_DUPLICATES
                       and not (steps and claimed.progress) else None)
            # Images named by the post may reach only where its feed may (bot/http.py's guard).
            with http.images_for(post.feed_url, allow_private_networks=self.settings.allow_private_networks):
                if earlier:
                    published = earlier
                elif steps is not None:
                    published = self._publish_staged(steps, claimed, messages[-1])
                else:
                    published = [adapter.publish(message) for message in messages][-1]
        except InProgress as exc:
            # Under way on the network: look again later, without holding this lane or losing an attempt.
            self.store.set_progress(claimed.id, exc.progress)
            self.store.finish(claimed.id, "pending", outcome="in-progress", detail=exc.message,
                              next_attempt_at=exc.retry_at, uncount_attempt=True)
            log.info("%s to %s is in progress (%s); looking again at %s", post.url, platform, exc.message,
                     exc.retry_at.isoformat(timespec="seconds"),
                     extra=_fields("in-progress", platform, post.url, "pending"))
            return "in-progress"
        except RateLimited as exc:
            self.store.set_rate_limited(platform, exc.retry_at)
            self.store.finish(claimed.id, "pending", outcome="rate-limited", detail=exc.message,
                              next_attempt_at=exc.retry_at, uncount_attempt=True)
            log.warning("%s rate-limited until %s", platform, exc.retry_at.isoformat(),
                        extra=_fields("rate-limited", platform, post.url, "pending"))
            return "rate-limited"
        except DuplicateError as exc:
            note = Published(remote_id=exc.remote_id or "", url=exc.remote_url) if exc.remote_id else None
            self.store.finish(claimed.id, "sent", outcome="duplicate",
                              detail=f"already on the network: {exc.message}", published=note)
            return "sent"
        except TransientError as exc:
            self._failing(platform, exc.message)
            return self._retry_or_fail(claimed, exc.message, post)
        except AuthError as exc:
            self.store.finish(claimed.id, "blocked", outcome="blocked", detail=exc.message)
            if self.store.set_network_state(platform, "blocked", exc.message):
                self.on_event("blocked", platform, post.url, exc.message)
            log.error("%s refused our credentials: %s", platform, exc.message,
                      extra=_fields("blocked", platform, post.url, "blocked"))
            return "blocked"
        except Unsuitable as exc:
            self.store.finish(claimed.id, "skipped", outcome="skipped", detail=exc.message)
            log.warning("%s skipped on %s: %s", post.url, platform, exc.message,
                        extra=_fields("skipped", platform, post.url, "skipped"))
            return "skipped"
        except PermanentError as exc:
            return self._fail(claimed, exc.message, post)
        except PlatformError as exc:                 # a subclass we do not know: treat as permanent
            return self._fail(claimed, exc.message, post)
        except Exception as exc:                     # a bug must not leave the row in `sending`
            log.exception("unexpected error delivering %s to %s", post.url, platform)
            return self._fail(claimed, scrub(f"internal error: {exc.__class__.__name__}: {exc}"), post)
        self.store.finish(claimed.id, "sent", outcome="sent", detail=published.url or published.remote_id,
                          published=published, text=messages[-1].text)
        if claimed.kind == "manual":
            self.store.resolve_siblings(claimed)     # never post it again when a held copy is released
        network = self.store.network_state(platform).state
        if network == "blocked":
            self._unblock(platform, "a post went through")  # e.g. a manual repost after a new token
        elif network == "failing":
            self.store.set_network_state(platform, "healthy")
        log.info("sent %s to %s: %s", post.url, platform, published.url or published.remote_id,
                 extra=_fields("sent", platform, post.url, "sent"))
        return "sent"

    def _text_rules(self, platform: str) -> TextRules | None:
        """The adapter's own text rules (optional ``text_rules()``: e.g. an instance's limit), asked
        once per adapter and again after each verification (the service's hourly re-check);
        None: its description's. A failure to ask is the attempt's failure."""
        if platform not in self._rules:
            ask = getattr(self.platforms[platform], "text_rules", None)
            self._rules[platform] = ask() if ask is not None else None
        return self._rules[platform]
    def _publish_staged(self, adapter: StagedPlatform, delivery: Delivery, message: Message) -> Published:
        """Publish in steps; the network's progress is committed before the step that posts."""
        def record(progress: str) -> None:
            self.store.set_progress(delivery.id, progress)

        if delivery.progress:
            return adapter.resume(delivery.progress, message, on_progress=record)
        return adapter.publish(message, on_progress=record)

    def _retry_or_fail(self, delivery: Delivery, error: str, post: Post) -> str:
        if delivery.attempts >= self.settings.max_attempts:
            return self._fail(delivery, f"gave up after {delivery.attempts} attempts: {error}", post)
        delay = backoff(delivery.attempts, self.settings.retry_base, self.settings.retry_max, self.rng)
        retry_at = self.clock() + timedelta(seconds=delay)
        self.store.finish(delivery.id, "pending", outcome="retry", detail=error, next_attempt_at=retry_at)
        log.warning("%s to %s failed (%s); retrying at %s", post.url, delivery.platform, error,
                    retry_at.isoformat(timespec="seconds"),
                    extra=_fields("retry", delivery.platform, post.url, "pending"))
        return "retry"

    def _fail(self, delivery: Delivery, error: str, post: Post) -> str:
        self.store.finish(delivery.id, "failed", outcome="failed", detail=error)
        self.on_event("failed", delivery.platform, post.url, error)
        log.error("%s to %s failed: %s", post.url, delivery.platform, error,
                  extra=_fields("failed", delivery.platform, post.url, "failed"))
        return "failed"

    # ------------------------------------------------- health and recovery

    def verify(self, platform: str) -> str:
        """Verify a network's credentials; on success release what was held for it.

        Raises the adapter's PlatformError when verification fails, after
        recording the network as blocked for an AuthError.
        """
        self._rules.pop(platform, None)      # asked again at the next delivery: they may have changed
        try:
            account = self.platforms[platform].verify()
        except AuthError as exc:
            if self.store.set_network_state(platform, "blocked", exc.message):
                self.on_event("blocked", platform, "", exc.message)
            raise
        except PlatformError as exc:
            self._failing(platform, exc.message)
            raise
        state = self.store.network_state(platform).state
        if state == "blocked":
            self._unblock(platform, f"credentials verify again as {account}")
        else:
            if state == "failing":
                self.store.set_network_state(platform, "healthy")
            self.release_held(platform)
        return account

    def _failing(self, platform: str, reason: str) -> None:
        """A network that does not answer (timeouts, resets, 5xx) is not healthy; blocked stays blocked."""
        if self.store.network_state(platform).state != "blocked":
            self.store.set_network_state(platform, "failing", reason)

    def _unblock(self, platform: str, why: str) -> None:
        self.store.set_network_state(platform, "healthy")
        self.on_event("recovered", platform, "", why)
        self.release_held(platform)

    def release_held(self, platform: str) -> int:
        """Send held deliveries back to pending, oldest first; too-old ones fail instead of going out stale."""
        held = self.store.deliveries(states=("blocked",), platform=platform)
        if not held:
            return 0
        now = self.clock()
        max_age = self.settings.max_age
        stale: list[Delivery] = []
        fresh: list[Delivery] = []
        for delivery in held:
            post = self.store.get_post(delivery.post_id)
            published = post.published or (delivery.created_at or now)
            (stale if max_age and published < now - timedelta(seconds=max_age) else fresh).append(delivery)
        self.store.release([d.id for d in stale], state="failed", detail="too old to post late")
        # One after another in publication order; pacing in _run_network spaces them.
        self.store.release([d.id for d in fresh], next_attempt_at=now, detail="released: network verifies again")
        log.info("%s verifies again: %d held deliveries queued, %d too old", platform, len(fresh), len(stale))
        return len(fresh)

    def recover(self) -> list[tuple[Delivery, str]]:
        """Reconcile deliveries left in `sending` by a crash (see the module docstring)."""
        outcomes = []
        # Every `sending` row on SQLite; on a shared ledger only those whose lease expired.
        for delivery in self.store.interrupted():
            post = self.store.get_post(delivery.post_id)
            adapter = self.platforms.get(delivery.platform)
            if adapter is not None and delivery.progress and staged(adapter):
                # The network's own record of the step it reached says what happened: resume from it.
                self.store.release([delivery.id], detail="interrupted by a crash after the network started it; "
                                                         "resuming from its recorded progress")
                log.warning("recovered interrupted delivery of %s to %s: resuming", post.url, delivery.platform,
                            extra=_fields("recovered", delivery.platform, post.url, "pending"))
                outcomes.append((delivery, "pending"))
                continue
            found, looked = None, False
            if adapter is not None:
                try:
                    found, looked = adapter.find_existing(post.url), True
                except PlatformError as exc:
                    log.warning("cannot check %s for %s after a crash: %s", delivery.platform, post.url, exc)
            if found:
                self.store.finish(delivery.id, "sent", outcome="sent", detail="found on the network after a crash",
                                  published=found)
                state = "sent"
            elif looked or delivery.platform in REJECTS_DUPLICATES:
                self.store.release([delivery.id], detail="interrupted by a crash and not on the network; retrying")
                state = "pending"
            else:
                self.store.release([delivery.id], state="uncertain",
                                   detail="interrupted by a crash and the network could not be checked; "
                                          "run `autopost repost URL` if the post is missing")
                state = "uncertain"
            log.warning("recovered interrupted delivery of %s to %s: %s", post.url, delivery.platform, state,
                        extra=_fields("recovered", delivery.platform, post.url, state))
            outcomes.append((delivery, state))
        return outcomes
