"""Both parse routes for the tests of feed parsing: feedparser alone, and the fast route.

Imported by a test module, ``parse_route`` runs each of its tests twice. "feedparser" turns the
fast route off. "fast" turns it on and reads every XML document the test
parses by both routes: the Posts, feed title and warning, or the error, must be identical,
so every hostile document of the module is also a parity case.
"""
from __future__ import annotations

import pytest

from bot import feeds

READ_FAST: list[str] = []        # feed URLs of documents the fast route read itself


@pytest.fixture(autouse=True, params=["feedparser", "fast"])
def parse_route(request, monkeypatch):
    if request.param == "feedparser":
        monkeypatch.setattr(feeds, "FAST_PARSER", False)
        yield "feedparser"
        return
    monkeypatch.setattr(feeds, "FAST_PARSER", True)
    original = feeds._parse_xml_feed

    def both_routes(body, **kwargs):
        kwargs.pop("fast", None)
        results = []
        for fast in (True, False):
            try:
                results.append(original(body, fast=fast, **kwargs))
            except feeds.FeedError as exc:
                results.append(str(exc))          # an error's words: the routes must agree on them too
        fast_result, reference = results
        assert fast_result == reference, f"the fast route differs from feedparser on {body[:300]!r}"
        if from_fast_route(body):
            READ_FAST.append(kwargs.get("feed_url", ""))
        if isinstance(fast_result, str):
            raise feeds.FeedError(kwargs.get("feed_url", ""), fast_result)
        return fast_result

    monkeypatch.setattr(feeds, "_parse_xml_feed", both_routes)
    yield "fast"


def from_fast_route(body: bytes, content_type: str = "") -> bool:
    """Whether the fast route reads this document itself (rather than handing it to feedparser)."""
    from bot import fastparse

    text = feeds._as_utf8(body, content_type)
    document = fastparse.read(text) if text is not body else None
    if document is None:
        return False
    try:
        for item in document.items:
            fastparse.entry(item, document.base)
    except fastparse.Refused:
        return False
    return True
