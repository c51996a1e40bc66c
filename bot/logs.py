"""Logging set-up: text or one JSON object a line, with every configured secret masked."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, Iterable

# These libraries log credentials at DEBUG (tweepy: request headers; oauthlib and
# requests-oauthlib: keys, tokens, signatures; urllib3: URLs). They stay at WARNING
# whatever AUTOPOST_LOG_LEVEL says.
NOISY_LOGGERS = ("tweepy", "oauthlib", "requests_oauthlib", "urllib3", "apscheduler.scheduler",
                 "apscheduler.executors.default")

# Fields that log calls may pass with extra={...}; they become JSON keys.
EVENT_FIELDS = ("event", "feed", "post_url", "platform", "state")


class SecretMask(logging.Filter):
    """Replaces every configured secret value with **** in the final message and traceback."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.mask(record.getMessage())
            record.args = None
            if record.exc_info:
                record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EVENT_FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_text or record.exc_info:
            data["traceback"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (),
                  stream: IO[str] | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SecretMask(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.autopost = True  # type: ignore[attr-defined]  # marks the handlers this function owns
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "autopost", False)]:
        root.removeHandler(old)   # calling twice (tests, `run` after `check`) must not double every line
    root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
