"""/healthz and /metrics: scraped from a running service, and 503 with the reason when unhealthy."""
from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import ConfigError, settings_from
from bot.health import Health, serve
from bot.poller import FeedOutcome
from bot.store import Store
from tests.conftest import wait_for, write_env
from tests.fakes.feed import rss_feed

NOW = datetime.now(timezone.utc)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_a_running_service_serves_healthz_and_metrics(tmp_path, feed_server):
    feed_server.serve("/feed.xml", rss_feed([
        {"title": "New", "link": "https://blog.example.com/new/", "guid": "new", "pubDate": NOW - timedelta(hours=1)},
        {"title": "Old", "link": "https://blog.example.com/old/", "guid": "old", "pubDate": NOW - timedelta(hours=2)},
    ]))
    feed_server.respond("/broken.xml", 500)
    port = _free_port()
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=f"{feed_server.url()} {feed_server.url('/broken.xml')}",
                    AUTOPOST_DB=str(tmp_path / "l.db"), AUTOPOST_BACKFILL="1", AUTOPOST_POLL_INTERVAL="1h",
                    AUTOPOST_HTTP=f"127.0.0.1:{port}", AUTOPOST_PLATFORMS="console",
                    LINKEDIN_TOKEN_EXPIRES=(NOW + timedelta(days=10)).date().isoformat())
    service = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", str(env), "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/healthz") == (200, "ok\n"))
        wait_for(lambda: "autopost_seconds_since_last_post{" in _get(base + "/metrics")[1])
        status, metrics = _get(base + "/metrics")
    finally:
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=20)
    assert service.returncode == 0, err
    assert status == 200
    assert f'autopost_polls_total{{feed="{feed_server.url()}"}} 1.0' in metrics
    assert f'autopost_feed_errors_total{{feed="{feed_server.url("/broken.xml")}"}} 1.0' in metrics
    assert f'autopost_feed_errors_total{{feed="{feed_server.url()}"}} 0.0' in metrics
    assert 'autopost_deliveries{network="console",state="sent"} 1.0' in metrics
    assert "autopost_queue_depth 0.0" in metrics
    assert f'autopost_seconds_since_last_poll{{feed="{feed_server.url()}"}}' in metrics
    assert f'autopost_seconds_since_last_poll{{feed="{feed_server.url("/broken.xml")}"}}' not in metrics  # never ok
    assert 'autopost_seconds_since_last_post{network="console"}' in metrics
    assert "autopost_token_expiry_seconds" in metrics and 'network="linkedin"' not in metrics  # not enabled


@pytest.fixture
def health_server(tmp_path):
    settings = settings_from({"AUTOPOST_FEEDS": "https://blog.example.com/feed", "AUTOPOST_DB": str(tmp_path / "l.db"),
                              "AUTOPOST_PLATFORMS": "console"})
    store = Store(settings.db_path)
    running = {"value": True}
    health = Health(settings, store, running=lambda: running["value"],
                    clock=lambda: datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc))
    server = serve(health, "127.0.0.1", 0)
    yield health, f"http://127.0.0.1:{server.server_address[1]}", running
    server.shutdown()
    server.server_close()
    store.close()


def test_healthz_is_503_with_the_reason_when_the_scheduler_stops(health_server):
    health, base, running = health_server
    assert _get(base + "/healthz") == (200, "ok\n")
    running["value"] = False
    assert _get(base + "/healthz") == (503, "the scheduler is not running\n")
    assert _get(base + "/nothing")[0] == 404


def test_healthz_is_503_while_the_ledger_cannot_be_written(health_server, tmp_path):
    health, base, _ = health_server
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")                       # another process holds the ledger
    try:
        status, text = _get(base + "/healthz")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert status == 503
    assert text.startswith(f"the ledger {tmp_path / 'l.db'} is not writable: database is locked")
    assert _get(base + "/healthz") == (200, "ok\n")


def test_polls_and_failures_are_counted_per_feed(health_server):
    health, base, _ = health_server
    health.record_polls([FeedOutcome(url="https://blog.example.com/feed"),
                         FeedOutcome(url="https://blog.example.com/feed", error="HTTP 500")])
    metrics = _get(base + "/metrics")[1]
    assert 'autopost_polls_total{feed="https://blog.example.com/feed"} 2.0' in metrics
    assert 'autopost_feed_errors_total{feed="https://blog.example.com/feed"} 1.0' in metrics
    assert 'autopost_seconds_since_last_poll{feed="https://blog.example.com/feed"} 0.0' in metrics


def test_token_expiry_is_in_seconds_for_an_enabled_network(tmp_path):
    settings = settings_from({"AUTOPOST_FEEDS": "f", "AUTOPOST_DB": str(tmp_path / "l.db"),
                              "AUTOPOST_PLATFORMS": "linkedin", "LINKEDIN_ACCESS_TOKEN": "t",
                              "LINKEDIN_TOKEN_EXPIRES": "2026-11-22"})
    store = Store(settings.db_path)
    health = Health(settings, store, running=lambda: True,
                    clock=lambda: datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc))   # 1.5 days before
    assert 'autopost_token_expiry_seconds{network="linkedin"} 129600.0' in health.metrics().decode()
    store.close()


@pytest.mark.parametrize("value", ["9464", "127.0.0.1", "127.0.0.1:port", "127.0.0.1:70000", "http://x:1"])
def test_autopost_http_must_be_host_and_port(value):
    with pytest.raises(ConfigError) as caught:
        settings_from({"AUTOPOST_FEEDS": "f", "AUTOPOST_HTTP": value})
    assert caught.value.variable == "AUTOPOST_HTTP"


def test_autopost_http_is_off_by_default():
    assert settings_from({"AUTOPOST_FEEDS": "f"}).http_listen is None
    assert settings_from({"AUTOPOST_FEEDS": "f", "AUTOPOST_HTTP": "127.0.0.1:9464"}).http_listen == ("127.0.0.1", 9464)


def test_the_health_endpoint_without_the_metrics_extra_is_a_clear_config_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "prometheus_client" else real(name, *a))
    with pytest.raises(ConfigError, match=r"AUTOPOST_HTTP: needs the metrics extra: pip install 'autopost\[metrics\]'"):
        settings_from({"AUTOPOST_FEEDS": "https://blog.example.com/feed", "AUTOPOST_HTTP": "127.0.0.1:9464"})
