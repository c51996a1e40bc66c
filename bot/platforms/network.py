"""What a network is, as data: the description each network module exports as ``NETWORK``.

The rest of the program (config, compose, delivery, service, cli, auth) loops over
these descriptions (``bot/platforms/registry.py`` lists them) and names no network.
A description is cheap to import: it holds plain values and functions, and the
adapter (with its heavy libraries: requests, tweepy) is imported only by ``build``.
"""
from __future__ import annotations

import argparse
import importlib
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Protocol

if TYPE_CHECKING:
    from bot.platforms.base import Platform

CARD_FIELDS = ("title", "description", "image_url")


class SettingsView(Protocol):
    """What adapters' builders need of ``bot.config.Settings`` (so this package never imports it)."""

    @property
    def request_timeout(self) -> float: ...

    def secrets(self) -> tuple[str, ...]: ...

    def network(self, name: str) -> Any: ...


class TextRules(NamedTuple):
    """How a network wants its text: what ``bot.compose`` needs to write a valid message."""

    limit: int                                        # counted by ``length``
    length: Callable[[str], int]                      # the network's own count
    default_template: str
    # A count never below ``length``, used while fitting (X's cautious emoji count); None: ``length``.
    fit_length: Callable[[str], int] | None = None
    # Where a long value may be cut once, cheaply, before exact fitting: (text, budget) -> index;
    # None: the budget in characters.
    pretrim_at: Callable[[str, int], int] | None = None
    escape: Callable[[str], str] | None = None        # applied to the template's words and every value
    hashtag: Callable[[str], str] | None = None       # a "#Tag" as written in escaped text; None: as is
    defuse_mentions: Callable[[str], str] | None = None   # None: the network needs no defusing
    url_in_text: bool = False                         # the link is in the text (else sent as a card)
    card_fields: tuple[str, ...] = CARD_FIELDS        # Message fields the network's card uses
    max_hashtags: int | None = None                   # the network's own cap on hashtags; None: none


class AuthFlow(NamedTuple):
    """``autopost auth NAME``: its help, its arguments, and the function that runs it.

    ``run(settings, network_settings, env_path, args)`` gets the core Settings, the
    network's settings object (None when none of its variables is set) and the parsed
    arguments; it raises ``bot.errors.UsageError``-like AutopostErrors to refuse.
    """

    help: str
    epilog: str
    run: Callable[[Any, Any, Path, argparse.Namespace], None]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


class Network(NamedTuple):
    """One network, described once."""

    name: str                                         # "twitter": AUTOPOST_PLATFORMS, --platform, the ledger
    label: str                                        # "X": how the owner calls it
    variables: tuple[str, ...]                        # every variable it reads (TEMPLATE, DAILY_CAP are core's)
    secrets: tuple[str, ...]                          # those never shown
    credentials: tuple[str, ...]                      # all set: the network is configured (enabled by default)
    parse: Callable[[Mapping[str, str]], Any]         # raw values -> its settings; ConfigError names the variable
    adapter: str                                      # "module:function(settings, *, timeout, clock)": built lazily
    text: TextRules
    api_base: str = ""                                # default API base
    api_version: str = ""                             # default API version, when it pins one
    rejects_duplicates: bool = False                  # a blind retry after a crash cannot post twice
    token_expires: Callable[[Any], date | None] | None = None   # its settings -> when its token expires
    # A token the service renews by itself, checked daily: (adapter, its settings, env file, today) ->
    # its settings with the new token (saved to the env file and used by the adapter from now on),
    # or None when no refresh is due; raises PlatformError when the network refuses.
    refresh_token: Callable[[Any, Any, Path, date], Any] | None = None
    auth: AuthFlow | None = None
    # A line for `check` about this network's running costs; (core settings) -> text or None.
    check_note: Callable[[Any], str | None] | None = None
    # Extra lines for `preview` (core settings, network settings, the post, the feeds' posts) -> lines.
    preview_note: Callable[[Any, Any, Any, Any], list[str]] | None = None

    @property
    def prefix(self) -> str:
        """Every variable of the network starts with it: ``TWITTER_``."""
        return self.name.upper() + "_"

    def build(self, settings: Any, *, timeout: float,
              clock: Callable[[], datetime] | None = None) -> Platform:
        """The adapter, importing its module (and its heavy libraries) only now."""
        module, function = self.adapter.split(":")
        factory = getattr(importlib.import_module(module), function)
        adapter: Platform = factory(settings, timeout=timeout, clock=clock)
        return adapter
