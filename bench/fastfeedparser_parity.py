#!/usr/bin/env python3
"""How far fastfeedparser 0.6.x's entries are from feedparser's, field by field, on the corpus.

Each fastfeedparser entry is given the shape the project reads from feedparser (title_detail,
summary_detail, content, published_parsed ...) and turned into a Post by the same code
(``bot.feeds._post_from_entry``); the Posts are compared with the feedparser path's.
Prints, per feed, the fields that differ and one example. Needs ``pip install fastfeedparser``.
"""
from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus" / "feeds"

FIELDS = ("key", "url", "title", "summary", "author", "categories", "image_url", "published")


def as_feedparser_entry(entry: dict) -> dict:
    out = dict(entry)
    if entry.get("description"):
        out["summary"] = entry["description"]
        out["summary_detail"] = {"type": "text/html", "value": entry["description"]}
    out["title_detail"] = {"type": "text/plain"}
    for name in ("published", "updated"):
        if entry.get(name):
            moment = datetime.fromisoformat(entry[name])
            out[name + "_parsed"] = moment.utctimetuple()
    out["enclosures"] = [{"href": e.get("url"), "type": e.get("type")} for e in entry.get("enclosures") or ()]
    return out


def main() -> int:
    import fastfeedparser

    from bot import feeds

    broken: Counter = Counter()
    for path in sorted(CORPUS.glob("*.xml")):
        body = path.read_bytes()
        url = path.as_uri()
        reference = feeds.parse(body, feed_url=url).posts
        try:
            parsed = fastfeedparser.parse(feeds._as_utf8(body, ""))
        except Exception as exc:  # noqa: BLE001
            print(f"{path.name}: fastfeedparser refused it: {exc}")
            broken["refused"] += 1
            continue
        site = feeds._site_base(parsed.feed.get("link"), None, url)
        ours = [feeds._post_from_entry(as_feedparser_entry(e), feed_url=url, feed_title="", site=site, base=url)
                for e in parsed.entries]
        if len(ours) != len(reference):
            print(f"{path.name}: {len(ours)} entries, feedparser {len(reference)}")
        differing: dict[str, tuple] = {}
        for mine, theirs in zip(ours, reference):
            for field in FIELDS:
                a, b = getattr(mine, field), getattr(theirs, field)
                if a != b and field not in differing:
                    differing[field] = (a, b)
        for field, (a, b) in differing.items():
            broken[field] += 1
            print(f"{path.name}: {field}: fastfeedparser {str(a)[:90]!r} / feedparser {str(b)[:90]!r}")
        if not differing and len(ours) == len(reference):
            print(f"{path.name}: identical")
    print("feeds with a differing field:", dict(broken))
    return 0


if __name__ == "__main__":
    sys.exit(main())
