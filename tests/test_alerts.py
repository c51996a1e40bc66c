"""bot.alerts against a local webhook receiver over real HTTP: delivered, or logged and never raised."""
from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.alerts import Alerter, ExpiryReminder, expiry_alert_due, expiry_message

# Slack and Discord webhook URLs carry their secret in the path.
SECRET_PATH = "/hooks/T000/B000/sEcReT-hook-path-4f9a"


class Receiver:
    """A webhook that records JSON bodies; ``status`` steers the answer, ``hang`` holds requests open."""

    def __init__(self, status: int = 200, hang: bool = False):
        self.status = status
        self.hang = hang
        self.received: list[tuple[str, dict, str]] = []      # (path, body, content type)
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                receiver.received.append((self.path, json.loads(raw), self.headers.get("Content-Type", "")))
                if receiver.hang:
                    receiver._release.wait(timeout=10)
                    return
                payload = b'{"ok": true}' if receiver.status < 300 else b"internal error"
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{SECRET_PATH}?token=qUeRy-secret-77"

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(**options) -> Receiver:
        made.append(Receiver(**options))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _assert_no_secret(text: str) -> None:
    assert "sEcReT-hook-path-4f9a" not in text
    assert "qUeRy-secret-77" not in text


def test_an_event_arrives_as_json_with_the_four_fields_and_a_readable_line(receiver, caplog):
    hook = receiver()
    alert = Alerter(hook.url, timeout=2)

    with caplog.at_level(logging.DEBUG, logger="bot.alerts"):
        assert alert("failed", "twitter", "https://blog.example.com/a", "403 Forbidden: duplicate") is True

    [(path, body, content_type)] = hook.received
    assert path == SECRET_PATH + "?token=qUeRy-secret-77"
    assert content_type == "application/json"
    assert {k: body[k] for k in ("event", "platform", "post_url", "message")} == {
        "event": "failed", "platform": "twitter", "post_url": "https://blog.example.com/a",
        "message": "403 Forbidden: duplicate"}
    assert body["text"] == body["content"] == \
        "autopost: twitter failed: 403 Forbidden: duplicate (https://blog.example.com/a)"
    _assert_no_secret(caplog.text)
    _assert_no_secret(repr(alert))


def test_it_is_the_deliverers_on_event_callback(receiver):
    hook = receiver()
    alert = Alerter(hook.url, timeout=2)

    alert(event="blocked", platform="linkedin", post_url="", message="token revoked")

    assert hook.received[0][1]["event"] == "blocked"
    assert hook.received[0][1]["post_url"] == ""


def test_a_500_is_logged_as_a_warning_not_raised(receiver, caplog):
    hook = receiver(status=500)
    alert = Alerter(hook.url, timeout=2)

    with caplog.at_level(logging.WARNING, logger="bot.alerts"):
        assert alert("recovered", "facebook", "", "verifies again") is False

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "500" in record.getMessage() and "facebook" in record.getMessage()
    assert "http://127.0.0.1:" in record.getMessage()
    _assert_no_secret(caplog.text)


def test_a_webhook_that_hangs_times_out_and_is_logged(receiver, caplog):
    hook = receiver(hang=True)
    alert = Alerter(hook.url, timeout=0.2)

    with caplog.at_level(logging.WARNING, logger="bot.alerts"):
        assert alert("failed", "twitter", "https://blog.example.com/a", "gave up") is False

    assert "did not answer within 0.2s" in caplog.text
    _assert_no_secret(caplog.text)


def test_an_unreachable_webhook_is_logged(caplog):
    with socket.socket() as sock:                       # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    alert = Alerter(f"http://127.0.0.1:{port}{SECRET_PATH}", timeout=2)

    with caplog.at_level(logging.WARNING, logger="bot.alerts"):
        assert alert("failed", "twitter", "", "x") is False

    assert "cannot reach http://127.0.0.1" in caplog.text
    assert "ConnectionError" in caplog.text
    _assert_no_secret(caplog.text)


def test_credentials_in_the_webhook_netloc_are_not_shown():
    alert = Alerter("https://user:pa55word@ntfy.example.com/autopost", timeout=1)

    assert alert.destination == "https://ntfy.example.com"
    assert "pa55word" not in repr(alert)


def test_a_non_http_url_is_refused():
    with pytest.raises(ValueError, match="http"):
        Alerter("ftp://example.com/hook", timeout=1)


@pytest.mark.parametrize("today, due", [
    (date(2027, 1, 17), None), (date(2027, 1, 18), 7), (date(2027, 1, 19), None), (date(2027, 1, 22), 3),
    (date(2027, 1, 24), 1), (date(2027, 1, 25), None), (date(2027, 1, 26), None),
])
def test_expiry_alerts_are_due_7_3_and_1_days_before(today, due):
    assert expiry_alert_due(date(2027, 1, 25), today) == due


def test_the_reminder_alerts_once_per_alert_day():
    reminder = ExpiryReminder()
    expires = date(2027, 1, 25)

    assert reminder.due("linkedin", expires, date(2027, 1, 18)) == 7
    assert reminder.due("linkedin", expires, date(2027, 1, 18)) is None      # the next hourly check
    assert reminder.due("linkedin", None, date(2027, 1, 18)) is None
    assert reminder.due("linkedin", expires, date(2027, 1, 22)) == 3
    assert reminder.due("linkedin", date(2027, 3, 26), date(2027, 3, 19)) == 7   # renewed token
    assert expiry_message("linkedin", expires, 1) == \
        "linkedin token expires in 1 day (2027-01-25): run `autopost auth linkedin` to renew it"


def test_a_revoked_token_is_alerted_and_so_is_its_recovery(receiver, tmp_path, feed_server, fake_linkedin):
    """End to end: `autopost poll` holds the post, alerts "blocked"; `check` after a new token alerts "recovered"."""
    from datetime import datetime, timedelta, timezone

    from tests.conftest import network_env, run_cli, write_env
    from tests.fakes.feed import rss_feed

    hook = receiver()
    item = {"title": "Hello", "link": "https://blog.example.com/1/", "guid": "1",
            "pubDate": datetime.now(timezone.utc) - timedelta(minutes=2), "description": "Hi."}
    feed_server.serve("/feed.xml", rss_feed([item]))
    env_file = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(),
                             AUTOPOST_DB=str(tmp_path / "ledger.db"), AUTOPOST_BACKFILL="1",
                             AUTOPOST_ALERT_WEBHOOK=hook.url, **network_env(fake_linkedin=fake_linkedin)))
    fake_linkedin.revoke()
    assert run_cli("--env-file", env_file, "poll").code == 1
    assert [body["event"] for _, body, _ in hook.received] == ["blocked"]
    assert hook.received[0][1]["platform"] == "linkedin"
    fake_linkedin.restore()
    assert run_cli("--env-file", env_file, "check").code == 0
    assert [body["event"] for _, body, _ in hook.received] == ["blocked", "recovered"]
    assert run_cli("--env-file", env_file, "poll").code == 0
    assert len(fake_linkedin.posts) == 1
