"""A server that echoes our credentials never gets them out of autopost.

Proxies and API gateways echo the request's Authorization header (and sometimes its
form) in their error pages. Each fake network here answers 401, 400, 429, 500 or 200
with a body that carries every credential autopost sent, bare and as the headers
look on the wire; then every output a user or a machine sees is searched: what
`poll`, `check`, `status` and `status --json` print and log, the ledger file (and its
write-ahead log), and every request the alert webhook received.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import network_env, run_cli, write_env
from tests.fakes import facebook, linkedin, twitter
from tests.fakes.feed import rss_feed
from tests.test_alerts import receiver  # noqa: F401  (fixture)

NOW = datetime.now(timezone.utc)
OLD = {"title": "Old", "link": "https://blog.example.com/old/", "guid": "old",
       "pubDate": NOW - timedelta(days=1), "description": "Old."}
NEW = {"title": "New", "link": "https://blog.example.com/new/", "guid": "new",
       "pubDate": NOW - timedelta(minutes=5), "description": "New."}

SECRETS = (twitter.CREDENTIALS["api_key"], twitter.CREDENTIALS["api_secret"], twitter.CREDENTIALS["access_token"],
           twitter.CREDENTIALS["access_token_secret"], linkedin.TOKEN, facebook.PAGE_TOKEN)

ECHO = (f'upstream said: Authorization: OAuth oauth_consumer_key="{twitter.CREDENTIALS["api_key"]}", '
        f'oauth_token="{twitter.CREDENTIALS["access_token"]}", oauth_signature="c2lnbmF0dXJl"\n'
        f"authorization: Bearer {linkedin.TOKEN}\n"
        f"POST /feed?access_token={facebook.PAGE_TOKEN}&message=hi\n"
        f"and bare: {' '.join(SECRETS)}")


def script_echo(status: int, fake_x, fake_linkedin, fake_graph) -> None:
    """The next call to each network is answered with ``status`` and the echo."""
    fake_x.fail_next(status, body={"title": "Echo", "detail": ECHO, "type": "about:blank", "status": status})
    fake_linkedin.fail_next(status, body={"status": status, "message": ECHO, "serviceErrorCode": 0})
    code = {401: 190, 400: 100, 429: 4, 500: 2, 200: 1}[status]
    fake_graph.fail_next(code, http_status=status, message=ECHO)


def leaks(text: str) -> list[str]:
    found = [secret for secret in SECRETS if secret in text]
    for shape in ("Bearer li-", "oauth_consumer_key=\"fake", "access_token=EAAG"):
        if shape in text:
            found.append(shape)
    return found


@pytest.mark.parametrize("status", [401, 400, 429, 500, 200])
def test_echoed_credentials_appear_nowhere(status, tmp_path, feed_server, fake_x, fake_linkedin, fake_graph,
                                          receiver):
    hook = receiver()
    feed_server.serve("/feed.xml", rss_feed([OLD]))
    db = tmp_path / "ledger.db"
    env = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(db),
                        AUTOPOST_REQUEST_TIMEOUT="5", AUTOPOST_ALERT_WEBHOOK=hook.url, AUTOPOST_MAX_ATTEMPTS="1",
                        **network_env(fake_x, fake_linkedin, fake_graph)))
    assert run_cli("--env-file", env, "poll").code == 0                    # first sight: nothing to post

    feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))
    script_echo(status, fake_x, fake_linkedin, fake_graph)
    outputs = [run_cli("--env-file", env, "-v", "poll")]
    script_echo(status, fake_x, fake_linkedin, fake_graph)
    outputs.append(run_cli("--env-file", env, "-v", "check"))
    outputs.append(run_cli("--env-file", env, "status"))
    outputs.append(run_cli("--env-file", env, "status", "--json"))
    outputs.append(run_cli("--env-file", env, "status", NEW["link"]))

    # The echo did reach autopost: every network's delivery of NEW holds an error, not a post.
    state = json.loads(outputs[3].out)
    assert state and fake_x.posts == [] and fake_linkedin.posts == [] and fake_graph.posts == []

    for result in outputs:
        assert leaks(result.out) == [] and leaks(result.err) == [], result
    ledger = b"".join(p.read_bytes() for p in Path(tmp_path).glob("ledger.db*"))
    assert leaks(ledger.decode("utf-8", "replace")) == []
    assert leaks(json.dumps([body for _, body, _ in hook.received])) == []
    if status in (401, 400):
        assert hook.received, "a blocked or failed network is alerted"


def test_a_networks_long_error_is_cut_where_the_owner_reads_it(tmp_path, feed_server, fake_x, fake_linkedin,
                                                             fake_graph):
    """A gateway's whole error page (here 20,000 characters after an echoed credential) is kept to
    its first 1,000 characters in the error, the log, the ledger's history and `status`."""
    feed_server.serve("/feed.xml", rss_feed([OLD]))
    db = tmp_path / "ledger.db"
    env = str(write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(db),
                        AUTOPOST_REQUEST_TIMEOUT="5", AUTOPOST_MAX_ATTEMPTS="1",
                        **network_env(fake_x, fake_linkedin, fake_graph)))
    assert run_cli("--env-file", env, "poll").code == 0
    feed_server.serve("/feed.xml", rss_feed([NEW, OLD]))
    page = ECHO + " " + "lorem ipsum " * 1700
    fake_x.fail_next(400, body={"title": "Bad", "detail": page, "type": "about:blank", "status": 400})
    fake_linkedin.fail_next(400, body={"status": 400, "message": page, "serviceErrorCode": 0})
    fake_graph.fail_next(100, http_status=400, message=page)

    outputs = [run_cli("--env-file", env, "poll"), run_cli("--env-file", env, "status", NEW["link"])]

    import sqlite3

    details = [row[0] for row in sqlite3.connect(db).execute("SELECT detail FROM attempts")]
    assert len(details) == 3
    for detail in details:
        assert "more characters not shown" in detail and len(detail) < 1200
        assert leaks(detail) == []
    for result in outputs:
        assert max(len(line) for line in (result.out + result.err).splitlines()) < 1300
        assert "more characters not shown" in result.out + result.err
