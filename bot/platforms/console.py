"""The reference adapter: writes each message to standard output instead of a network.

It is what runs when no network is configured, and what every network is
replaced by in a dry run, so a new user sees exactly what would be posted.
"""
from __future__ import annotations

import hashlib
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Callable, TextIO

from bot.models import Message, Published

if TYPE_CHECKING:
    from bot.config import Settings


class ConsolePlatform:
    name = "console"

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream

    def publish(self, message: Message) -> Published:
        out = self._stream or sys.stdout
        counted = f"{message.length}/{message.limit}" if message.limit else str(message.length)
        lines = [f"── {message.network} ({counted}) ──", message.text]
        if message.link and message.link not in message.text:
            lines.append(f"[link] {message.link}")
        if message.network == "linkedin" and message.title:
            lines.append(f"[card] {message.title} — {message.description}".rstrip(" —"))
        if message.image_url:
            lines.append(f"[image] {message.image_url}")
        out.write("\n".join(lines) + "\n\n")
        out.flush()
        digest = hashlib.sha256(f"{message.network}\n{message.text}".encode()).hexdigest()[:12]
        return Published(remote_id=f"console-{digest}")

    def verify(self) -> str:
        return "standard output (nothing is posted)"

    def find_existing(self, post_url: str) -> Published | None:
        return None


def from_settings(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> ConsolePlatform:
    return ConsolePlatform()
