"""Building each network's message from a Post (first, simple version).

Pure functions: no I/O, no clock, no settings lookups.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

from bot.models import Message, Post

FIELDS = ("title", "url", "summary", "hashtags", "author", "feed_title")

DEFAULT_TEMPLATES = {
    "twitter": "{title} {url} {hashtags}",
    "linkedin": "{title}\n\n{summary}\n\n{hashtags}",
    "facebook": "{title}\n\n{summary}",
}

LIMITS = {"twitter": 280, "linkedin": 3000, "facebook": 63206}


@dataclass(frozen=True)
class ComposeOptions:
    hashtags_max: int = 3
    hashtags_extra: tuple[str, ...] = ()
    utm: str | None = None
    allow_mentions: bool = False


def check_template(template: str) -> str | None:
    """What is wrong with a template, or None."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"malformed template ({exc}); write literal braces as {{{{ and }}}}"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            return f"unknown placeholder {{{name}}}; use {', '.join('{' + f + '}' for f in FIELDS)}"
        if spec or conversion:
            return f"placeholder {{{name}}} takes no format options"
    return None


def compose(post: Post, network: str, template: str | None = None,
            options: ComposeOptions = ComposeOptions()) -> Message:
    template = template or DEFAULT_TEMPLATES[network]
    values = {
        "title": post.title, "url": post.url, "summary": post.summary,
        "hashtags": "", "author": post.author, "feed_title": post.feed_title,
    }
    text = template.format(**values).strip()
    return Message(network=network, text=text, link=post.url, post_url=post.url, title=post.title,
                   description=post.summary, image_url=post.image_url, length=len(text),
                   limit=LIMITS[network])
