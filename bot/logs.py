"""Logging set-up: text or one JSON object a line, with every configured secret masked.

``scrub`` is the one filter for text that came from outside (a network's error body,
a feed's error, an echoing proxy): every configured secret, and anything shaped like
a credential (an ``Authorization`` header, ``Bearer …``, an OAuth 1.0a header,
``oauth_token=``, ``access_token=`` and their kin), becomes ``****``. Errors are
scrubbed where they are built (``PlatformError``, ``FeedError``), so what is logged,
stored in the ledger, printed or sent to the webhook is already clean; the log
handler scrubs every line once more.
"""
from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timezone
from typing import IO, Iterable

from bot.patterns import lazy

# These libraries log credentials at DEBUG (tweepy: request headers; oauthlib and
# requests-oauthlib: keys, tokens, signatures; urllib3: URLs). They stay at WARNING
# whatever AUTOPOST_LOG_LEVEL says.
NOISY_LOGGERS = ("tweepy", "oauthlib", "requests_oauthlib", "urllib3", "apscheduler.scheduler",
                 "apscheduler.executors.default")

# Fields that log calls may pass with extra={...}; they become JSON keys.
EVENT_FIELDS = ("event", "feed", "post_url", "platform", "state")


_registered: set[str] = set()
_registered_sorted: list[str] = []
_registry_lock = threading.Lock()

# Credential shapes, whoever's they are. The name is kept, the value goes.
_SHAPES = (
    # An echoed header: "Authorization: Bearer x", "authorization": "OAuth oauth_…", Proxy-Authorization=…
    (lazy(r"""(?i)((?:proxy-)?authorization\\?["']?\s*[:=]\s*\\?["']?)(?:\\.|[^\r\n"'\\])+"""),
     r"\1****"),
    (lazy(r"""(?i)\bOAuth\s+oauth_\w+\s*=\s*\\?"[^"\\]*\\?"(?:\s*,\s*\w+\s*=\s*\\?"[^"\\]*\\?")*"""),
     "OAuth ****"),
    (lazy(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{16,}=*"), r"\1 ****"),
    (lazy(r"""(?i)(["']?\b(?:oauth_(?:consumer_key|token|token_secret|signature|verifier|nonce)|access_token|"""
          r"""refresh_token|id_token|client_secret|app_secret|consumer_secret|input_token|fb_exchange_token|"""
          r"""api_key|api_secret|appsecret_proof)\\?["']?\s*[:=]\s*\\?["']?)[^"'&\s,;}<>\\]+"""), r"\1****"),
)


def register_secrets(values: Iterable[str]) -> None:
    """Add configured secrets to those ``scrub`` removes (process-wide: any thread, any module)."""
    global _registered_sorted
    fresh = {v for v in values if v and len(v) >= 4} - _registered
    if not fresh:
        return
    with _registry_lock:
        _registered.update(fresh)
        # Longest first, so a secret that contains another is masked whole.
        _registered_sorted = sorted(_registered, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without any configured secret or credential-shaped value."""
    if not text:
        return text
    for secret in (*sorted(secrets, key=len, reverse=True), *_registered_sorted):
        if secret in text:
            text = text.replace(secret, "****")
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


class SecretMask(logging.Filter):
    """Replaces every configured secret value with **** in the final message and traceback."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        return scrub(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
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
        import json

        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (),
                  stream: IO[str] | None = None) -> None:
    secrets = tuple(secrets)
    register_secrets(secrets)
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
