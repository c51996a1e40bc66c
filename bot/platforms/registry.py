"""The networks autopost posts to: one line each.

Adding a network is its module (with ``NETWORK``, its description: see
``bot/platforms/network.py``) and one line in ``NETWORKS`` below. Nothing else
in ``bot/`` names a network; config, compose, delivery, service, cli and auth
loop over this tuple. Importing it is cheap: each module keeps its heavy
libraries (requests, tweepy) for when its adapter is built.
"""
from __future__ import annotations

from bot.platforms import bluesky, facebook, instagram, linkedin, mastodon, twitter
from bot.platforms.network import Network

NETWORKS: tuple[Network, ...] = (
    twitter.NETWORK,
    linkedin.NETWORK,
    facebook.NETWORK,
    mastodon.NETWORK,
    bluesky.NETWORK,
    instagram.NETWORK,
)

# Not a network: the stand-in that prints each message (no network configured, or a dry run).
CONSOLE = "console"

NAMES: tuple[str, ...] = tuple(n.name for n in NETWORKS)
PLATFORM_NAMES: tuple[str, ...] = NAMES + (CONSOLE,)
_BY_NAME = {n.name: n for n in NETWORKS}


def network(name: str) -> Network:
    """The description of ``name``; KeyError for a name that is not a network."""
    return _BY_NAME[name]


def networks() -> tuple[Network, ...]:
    return NETWORKS
