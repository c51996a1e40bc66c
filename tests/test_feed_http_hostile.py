"""The feed client against hostile and broken servers, proxies and redirects (bot/feed_http.py, bot/feeds.py).

Every answer here is written byte for byte: the raw HTTP/1.1 server of tests/test_feed_http.py
for keep-alive exchanges, and ``Scripted`` for a server that must do something no well-behaved
server does (close half-way, never read). The promise under test: a bad server gets a FeedError
sentence, within the deadline, with bounded memory; a secret never shows in it; a public feed
never leads a fetch into a private address.
"""
from __future__ import annotations

import base64
import gzip
import socket
import threading
import time
import zlib
from typing import Callable

import pytest

from bot import http
from bot.feed_http import FeedClient
from bot.feeds import FeedError, fetch
from bot.models import FeedState
from tests.fakes.feed import rss_feed
from tests.fakes.server import read_head
from tests.test_private_networks import PUBLIC, public_blog  # noqa: F401  (fixture)
from tests.test_feed_http import (BODY, CERT, Request, _poller, _tls_server_context, answer, conditional,  # noqa: F401
                                  raw_server, use_proxies)



class Scripted:
    """127.0.0.1: each connection's request head is read, then ``script(sock)`` does what it likes."""

    def __init__(self, script: Callable[[socket.socket], None]):
        self.script = script
        self.received: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/feed.xml") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(10)
            head = read_head(sock)
            if head is None:
                return
            self.received.append(head)
            self.script(sock)
        except OSError:
            pass

    def close(self) -> None:
        self._listener.close()
        for sock in self._socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def scripted():
    servers: list[Scripted] = []

    def start(script: Callable[[socket.socket], None]) -> Scripted:
        servers.append(Scripted(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def send_and_close(data: bytes) -> Callable[[socket.socket], None]:
    def script(sock: socket.socket) -> None:
        sock.sendall(data)
        sock.close()
    return script


def feed_error(url: str, timeout: float = 5, **kwargs) -> str:
    """The FeedError a fetch ends in, checked to come within the deadline (plus scheduling slack)."""
    started = time.monotonic()
    with pytest.raises(FeedError) as caught:
        fetch(url, None, timeout=timeout, allow_private_networks=kwargs.pop("allow_private_networks", True), **kwargs)
    assert time.monotonic() - started < timeout + 1
    return str(caught.value)


def redirect_to(location: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()


# --------------------------------------------------------------------------- framing


def test_a_body_cut_short_of_its_content_length_is_an_error_not_a_shorter_feed(scripted):
    # The connection closes after 100 of the 1000 bytes announced: a truncated feed must never be
    # parsed (and hashed, and its missing entries taken for gone) as if it were whole.
    server = scripted(send_and_close(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + BODY[:100]))
    assert feed_error(server.url()) == "the connection broke before the whole body arrived"


def test_a_gzip_body_cut_short_of_its_content_length_is_an_error(scripted):
    packed = gzip.compress(BODY)
    server = scripted(send_and_close(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                                     % (len(packed) + 50) + packed))
    assert feed_error(server.url()) == "the connection broke before the whole body arrived"


def test_a_body_without_a_length_ends_with_the_connection(scripted):
    server = scripted(send_and_close(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY))
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY


def test_conflicting_content_lengths_are_refused(raw_server):
    # Which one frames the body? Taking the first (5) parsed a 5-byte feed and left the rest
    # on the connection. RFC 9112 §6.3: an unrecoverable error.
    server = raw_server(lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: %d\r\n\r\n"
                        % len(BODY) + BODY)
    assert feed_error(server.url()) == "the server's answer is not valid HTTP: conflicting Content-Length"


@pytest.mark.parametrize("value", ["abc", "-1", "1e3"])
def test_a_content_length_that_is_not_a_number_is_refused(raw_server, value):
    server = raw_server(lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n" % value.encode() + BODY)
    assert feed_error(server.url(), timeout=3) == "the server's answer is not valid HTTP: invalid Content-Length"


def test_a_content_length_repeated_with_the_same_value_frames_the_body(raw_server):
    # RFC 9112 §6.3 lets a recipient take "426, 426" as 426; read as "unknown" it waited for a
    # close that a kept-alive connection never sends, and the poll timed out.
    server = raw_server(lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: %d, %d\r\n\r\n"
                        % (len(BODY), len(BODY)) + BODY)
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY


@pytest.mark.parametrize("coding", ["gzip, chunked", "chunked, gzip", "compress"])
def test_a_transfer_coding_other_than_chunked_is_named_not_waited_for(raw_server, coding):
    server = raw_server(lambda request: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n" % coding.encode()
                        + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n")
    assert feed_error(server.url()) == \
        f"the server's answer is not valid HTTP: Transfer-Encoding {coding!r} is not supported"


@pytest.mark.parametrize("coding", [b"chunked ", b"identity, chunked", b"Chunked"])
def test_chunked_said_loosely_is_read_as_chunked(raw_server, coding):
    server = raw_server(lambda request: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n" % coding
                        + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n")
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY


def test_transfer_encoding_identity_is_no_coding(scripted):
    server = scripted(send_and_close(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n" + BODY))
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY


def test_a_negative_chunk_size_is_a_broken_body_not_a_wait(raw_server):
    server = raw_server(lambda request: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n")
    assert feed_error(server.url()) == "the connection broke before the whole body arrived"


def test_chunked_bodies_with_trailers_are_read(raw_server):
    server = raw_server(lambda request: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\nX-Trailer: yes\r\n\r\n")
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY


@pytest.mark.parametrize("interim", [
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n",
])
def test_interim_answers_are_skipped_for_the_final_one(raw_server, interim):
    # RFC 9110 §15.2: a client must accept 1xx answers it did not expect. Taken as final, a 103
    # was an empty feed at every poll (and its real answer was left on the connection).
    server = raw_server(lambda request: interim + answer(200, BODY))
    result = fetch(server.url(), None, timeout=5, allow_private_networks=True)
    assert (result.status, result.body) == (200, BODY)


@pytest.mark.parametrize("reply, problem", [
    (BODY, "the server's answer is not valid HTTP (its first line is not an HTTP/1.x status line)"),  # HTTP/0.9
    (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(1000)) + b"\r\n",
     "the server's answer is not valid HTTP (got more than 100 headers)"),                  # endless headers
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (5 * 1024 * 1024) + b"\r\n\r\n",
     "the server's answer is not valid HTTP (a header line is too long)"),                  # a 5 MB header line
    (b"HTTP/2.0 200 OK\r\n\r\n", "the server's answer is not valid HTTP (unknown protocol HTTP/2.0)"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "the server's answer is not valid HTTP (its first line is not an HTTP/1.x status line)"),
])
def test_answers_that_are_not_http_are_named(scripted, reply, problem):
    server = scripted(send_and_close(reply))
    assert feed_error(server.url()) == problem


def test_a_servers_reason_phrase_is_shown_short_and_without_control_characters(raw_server):
    # The reason phrase is the server's own text: up to 64 KB of it went into status, the
    # ledger and the alert webhook, escape sequences and all.
    server = raw_server(lambda request: b"HTTP/1.1 503 \x1b[31mdown\x1b[0m\x07 " + b"x" * 60000
                        + b"\r\nContent-Length: 0\r\n\r\n")
    problem = feed_error(server.url())
    assert problem.startswith("HTTP 503 down xxx") and problem.endswith("…")
    assert len(problem) < 200 and "\x1b" not in problem and "\x07" not in problem


FORGED = answer(200, rss_feed([{"title": "Forged", "link": "https://blog.example.com/forged/"}]))


@pytest.mark.parametrize("tls, leftover", [
    # The 304 drags a whole forged answer behind it: the next poll on the kept-alive connection
    # must read the server's real answer to its own request, not the leftover.
    (False, FORGED),
    # Over TLS the unasked bytes may sit decrypted in the TLS layer, where the idle check's
    # poll cannot see them: the next poll read them as its answer ("not valid HTTP").
    (True, b"x" * 12000),
], ids=["plain", "tls"])
def test_bytes_after_a_304_never_answer_the_next_poll(raw_server, monkeypatch, tls, leftover):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERT))

    def reply(request: Request) -> bytes:
        if request.headers.get("If-None-Match") == '"v1"':
            return answer(304, headers={"ETag": '"v1"'}) + leftover
        return answer(200, BODY, {"ETag": '"v1"'})

    server = raw_server(reply, _tls_server_context() if tls else None)
    client = FeedClient()
    try:
        state = FeedState(url=server.url(), etag='"v1"')
        assert fetch(server.url(), state, timeout=5, client=client, allow_private_networks=True).status == 304
        assert fetch(server.url(), None, timeout=5, client=client, allow_private_networks=True).body == BODY
    finally:
        client.close()


def test_a_raw_deflate_body_whose_first_byte_arrives_alone_is_decoded(scripted):
    # One byte cannot tell a zlib header from raw deflate: guessed from it, the body was refused.
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    packed = packer.compress(BODY) + packer.flush()

    def script(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(packed)
                     + packed[:1])
        time.sleep(0.3)
        sock.sendall(packed[1:])

    server = scripted(script)
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY


def test_a_gzip_bomb_stops_at_the_body_limit(raw_server):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), 9)        # 64 MB from about 64 KB
    server = raw_server(lambda request: answer(200, bomb, {"Content-Encoding": "gzip"}))
    assert feed_error(server.url(), max_bytes=1024 * 1024) == "body larger than 1 MB, stopped reading"


# --------------------------------------------------------------------------- the deadline


def _drip(data: bytes, every: float) -> Callable[[socket.socket], None]:
    def script(sock: socket.socket) -> None:
        for byte in data:
            sock.sendall(bytes([byte]))
            time.sleep(every)
    return script


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-Slow: yes\r\n" * 20,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 40,
])
def test_a_trickling_answer_is_cut_at_the_deadline(scripted, data):
    server = scripted(_drip(data, 0.1))
    assert feed_error(server.url(), timeout=1) == "timed out after 1 s"


def test_a_server_that_never_answers_is_cut_at_the_deadline(scripted):
    server = scripted(lambda sock: time.sleep(5))
    assert feed_error(server.url(), timeout=1) == "timed out after 1 s"


def test_a_tls_handshake_that_never_completes_is_cut_at_the_deadline(scripted):
    listener = socket.create_server(("127.0.0.1", 0))      # accepts (the backlog does), never speaks TLS
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/feed.xml"
        assert feed_error(url, timeout=1) == "timed out after 1 s"
    finally:
        listener.close()


def test_a_connection_reset_mid_body_is_named(scripted):
    def reset(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + BODY[:100])
        time.sleep(0.1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")   # close with RST
        sock.close()

    server = scripted(reset)
    assert feed_error(server.url()) == "cannot connect: connection reset"


def test_a_cycle_polls_every_feed_of_many_hosts_while_some_hang(tmp_path, raw_server):
    # More hosts than a worker keeps connections to, and a few feeds that never answer: each of
    # those ends at its deadline, every other feed is polled, twice over (new, then unchanged).
    hang = threading.Event()

    def reply(request: Request) -> bytes | None:
        number = int(request.target.split("/")[1])
        if number % 10 == 3:
            hang.wait(10)
            return None
        return conditional(request)

    servers = [raw_server(reply) for _ in range(12)]
    urls = [servers[n % 12].url(f"/{n}/feed.xml") for n in range(60)]
    from bot.config import settings_from
    from bot.poller import Poller
    from bot.store import Store

    settings = settings_from({"AUTOPOST_FEEDS": ",".join(urls), "AUTOPOST_PLATFORMS": "console",
                              "AUTOPOST_DB": str(tmp_path / "ledger.db"), "AUTOPOST_REQUEST_TIMEOUT": "1",
                              "AUTOPOST_ALLOW_PRIVATE_NETWORKS": "true"})
    store = Store(tmp_path / "ledger.db")
    poller = Poller(settings, store)
    try:
        first, second = poller.poll_all(), poller.poll_all()
    finally:
        hang.set()
        poller.close()
        store.close()
    for outcomes in (first, second):
        failed = {o.url for o in outcomes if o.error}
        assert failed == {u for n, u in enumerate(urls) if n % 10 == 3}
        assert {o.error for o in outcomes if o.error} == {"timed out after 1 s"}
    assert all(o.unchanged for o in second if not o.error)


def test_kept_alive_connections_survive_descriptors_past_1023(raw_server):
    import os

    held = list(os.pipe())
    try:
        while held[-1] < 1100:                  # what a busy service holds: the sockets come after
            held.append(os.dup(held[0]))
        server = raw_server(conditional)
        client = FeedClient()
        try:
            state = FeedState(url=server.url(), etag='"v1"')
            for _ in range(3):
                fetch(server.url(), state, timeout=5, client=client, allow_private_networks=True)
        finally:
            client.close()
    finally:
        for descriptor in held:
            os.close(descriptor)
    assert server.connections == 1 and len(server.requests) == 3


def test_a_failed_poll_leaves_its_connection_unused(raw_server):
    def reply(request: Request) -> bytes:
        if len(server.requests) == 1:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\nabcde"
        return conditional(request)

    server = raw_server(reply)
    client = FeedClient()
    try:
        with pytest.raises(FeedError):
            fetch(server.url(), None, timeout=5, client=client, allow_private_networks=True)
        assert fetch(server.url(), None, timeout=5, client=client, allow_private_networks=True).body == BODY
    finally:
        client.close()
    assert [r.connection for r in server.requests] == [0, 1]


# --------------------------------------------------------------------------- the guard


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "[::1]",
                                  "localhost", "0"])
def test_a_public_feed_redirecting_to_loopback_in_any_spelling_is_refused(raw_server, public_blog, host):
    inside = raw_server(lambda request: answer(200, b"<rss>secret</rss>"))
    outside = raw_server(lambda request: redirect_to(f"http://{host}:{inside.port}/admin"))
    url = outside.url().replace("127.0.0.1", "blog.example")
    problem = feed_error(url, allow_private_networks=False)
    assert problem.startswith("refused to fetch from ") and "address): feed " in problem
    assert inside.requests == []


@pytest.mark.parametrize("address, kind", [
    ("2002:a00:5::1", "private"),           # 6to4 carrying 10.0.0.5
    ("2002:7f00:1::1", "loopback"),         # 6to4 carrying 127.0.0.1
    ("fec0::1", "private"),                 # site-local
    ("64:ff9b::a00:5", "reserved"),         # NAT64 carrying 10.0.0.5
])
def test_a_public_feed_redirecting_to_an_ipv6_way_into_private_space_is_refused(raw_server, public_blog, monkeypatch,
                                                                                 address, kind):
    resolve = http.NETWORK.resolve
    monkeypatch.setattr(http.NETWORK, "resolve",
                        lambda host, port: [address] if host == "inside.example" else resolve(host, port))
    outside = raw_server(lambda request: redirect_to("http://inside.example/admin"))
    problem = feed_error(outside.url().replace("127.0.0.1", "blog.example"), allow_private_networks=False)
    assert problem.startswith(f"refused to fetch from inside.example ({address}, a {kind} address)")
    assert address not in public_blog


def test_a_redirect_out_of_http_is_shown_short_and_plain(raw_server):
    server = raw_server(lambda request: redirect_to("gopher://blog.example/\x1b[2J" + "x" * 5000 + "?key=k3y-value-7"))
    problem = feed_error(server.url())
    assert problem.startswith("redirected to a URL that is not http(s): gopher://blog.example/xxx")
    assert problem.endswith("…") and len(problem) < 200 and "\x1b" not in problem


def test_a_location_with_spaces_and_encoded_line_breaks_injects_no_header(raw_server):
    def reply(request: Request) -> bytes:
        if request.target == "/feed.xml":
            return redirect_to("/a b%0d%0aX-Injected: 1")
        return answer(200, BODY)

    server = raw_server(reply)
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY
    assert server.requests[1].target == "/a%20b%0d%0aX-Injected:%201"
    assert "X-Injected" not in server.requests[1].headers


def test_a_kept_alive_loopback_connection_is_refused_to_a_public_feed_redirected_onto_it(raw_server, public_blog):
    # Feed A lives on loopback (allowed); feed B is public and redirects to A's host and port,
    # where the worker's client holds a kept-alive connection: B's guard still judges it.
    inside = raw_server(conditional)
    outside = raw_server(lambda request: redirect_to(inside.url("/admin")))
    client = FeedClient()
    try:
        assert fetch(inside.url(), None, timeout=5, client=client).status == 200
        with pytest.raises(FeedError, match=r"^refused to fetch from 127\.0\.0\.1 \(127\.0\.0\.1, a loopback"):
            fetch(outside.url().replace("127.0.0.1", "blog.example"), None, timeout=5, client=client)
        assert fetch(inside.url(), None, timeout=5, client=client).status == 200
    finally:
        client.close()
    assert [r.target for r in inside.requests] == ["/feed.xml", "/feed.xml"]


def test_a_guard_refusal_shows_the_feed_without_its_password_or_key(raw_server, public_blog):
    # The refusal names the feed; fetched outside the service (whose configuration registers
    # the URL's secrets with the log filter), the raw URL put its password in the message.
    outside = raw_server(lambda request: redirect_to("http://127.0.0.1:1/admin"))
    url = f"http://owner:pa55word-9@blog.example:{outside.port}/feed.xml?key=k3y-value-7"
    problem = feed_error(url, allow_private_networks=False)
    assert "pa55word-9" not in problem and "k3y-value-7" not in problem
    assert f"feed http://owner:****@blog.example:{outside.port}/feed.xml?key=**** is on a public" in problem


# --------------------------------------------------------------------------- credentials and proxies


def test_an_https_proxy_is_spoken_to_over_tls_and_never_sees_credentials_in_clear(raw_server, monkeypatch):
    # HTTP_PROXY=https://... asks for TLS to the proxy: its password went over plain TCP instead.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERT))
    proxy = raw_server(conditional, _tls_server_context())
    use_proxies(monkeypatch, HTTP_PROXY=f"https://squid:hunter-22@127.0.0.1:{proxy.port}")
    result = fetch("http://blog.example/feed.xml", None, timeout=5)
    assert result.body == BODY
    [request] = proxy.requests
    assert request.target == "http://blog.example/feed.xml"
    assert request.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"squid:hunter-22").decode()


def test_an_https_feed_is_not_sent_through_an_https_proxy_in_clear(scripted, monkeypatch):
    # A tunnel inside TLS to the proxy is not something http.client does: the CONNECT and its
    # Proxy-Authorization went out in clear. Refused, in words, before a byte is sent.
    proxy = scripted(lambda sock: None)
    use_proxies(monkeypatch, HTTPS_PROXY=f"https://squid:hunter-22@127.0.0.1:{proxy.port}")
    problem = feed_error("https://blog.example/feed.xml")
    assert problem == (f"cannot connect: https feeds cannot go through an https:// proxy (https://127.0.0.1:"
                       f"{proxy.port}); give HTTPS_PROXY the proxy's http:// address")
    assert proxy.received == []


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_a_proxy_that_is_not_http_never_gets_plain_http_and_its_password(scripted, monkeypatch, scheme):
    proxy = scripted(lambda sock: None)
    use_proxies(monkeypatch, HTTP_PROXY=f"{scheme}://squid:hunter-22@127.0.0.1:{proxy.port}")
    problem = feed_error("http://blog.example/feed.xml")
    assert problem == (f"cannot connect: the proxy {scheme}://127.0.0.1:{proxy.port} is not an http:// or https:// "
                       "proxy, the only kinds feed polls use")
    assert proxy.received == []


def test_a_proxy_password_echoed_by_the_proxy_never_reaches_the_error(raw_server, monkeypatch):
    proxy = raw_server(lambda request: b"HTTP/1.1 407 you sent squid:hunter-22\r\nContent-Length: 0\r\n\r\n")
    address = f"http://squid:hunter-22@127.0.0.1:{proxy.port}"
    use_proxies(monkeypatch, HTTP_PROXY=address, HTTPS_PROXY=address)
    for url in ("http://blog.example/feed.xml", "https://blog.example/feed.xml"):
        problem = feed_error(url)
        assert "407" in problem and "hunter-22" not in problem


def test_a_proxys_refusal_of_the_tunnel_is_shown_short_and_plain(raw_server, monkeypatch):
    proxy = raw_server(lambda request: b"HTTP/1.1 403 \x1b]0;owned\x07" + b"no " * 20000 + b"\r\nContent-Length: 0\r\n\r\n")
    use_proxies(monkeypatch, HTTPS_PROXY=f"http://127.0.0.1:{proxy.port}")
    problem = feed_error("https://blog.example/feed.xml")
    assert problem.startswith("cannot connect: Tunnel connection failed: 403 no no")
    assert problem.endswith("…") and len(problem) < 200 and "\x1b" not in problem


def test_a_netrc_password_echoed_by_the_server_never_reaches_the_error(raw_server, tmp_path, monkeypatch):
    server = raw_server(lambda request: b"HTTP/1.1 401 wrong password n3trc-pass for reader\r\n"
                        b"Content-Length: 0\r\n\r\n")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password n3trc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    problem = feed_error(server.url())
    assert problem.startswith("HTTP 401 wrong password ") and "n3trc-pass" not in problem
    assert server.requests[0].headers["Authorization"] == "Basic " + base64.b64encode(b"reader:n3trc-pass").decode()



def test_no_password_follows_an_https_feed_down_to_http(raw_server, tmp_path, monkeypatch):
    # netrc's credentials were attached again at the plain-http hop: in clear, on the server's word.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERT))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password n3trc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    plain = raw_server(conditional)
    secure = raw_server(lambda request: redirect_to(plain.url()), _tls_server_context())
    for url in (secure.url(), secure.url().replace("https://", "https://owner:s3cret@")):
        assert fetch(url, None, timeout=5, allow_private_networks=True).body == BODY
    assert all("Authorization" in request.headers for request in secure.requests)
    assert [request.headers.get("Authorization") for request in plain.requests] == [None, None]


# --------------------------------------------------------------------------- name lookups


@pytest.fixture
def slow_dns(monkeypatch):
    """slow.example takes 3 s to resolve: a resolver that does not answer, as the watchdog sees it."""
    real_resolve = http.NETWORK.resolve

    def resolve(host: str, port: int) -> list[str]:
        if host == "slow.example":
            time.sleep(3)
            return [PUBLIC]
        return real_resolve(host, port)

    monkeypatch.setattr(http.NETWORK, "resolve", resolve)


def test_a_name_lookup_that_hangs_is_cut_at_the_deadline(slow_dns):
    # The watchdog cuts sockets, and a lookup has none: the poll waited for the resolver.
    assert feed_error("http://slow.example/feed.xml", timeout=1) == "timed out after 1 s"


def test_a_redirect_to_a_name_that_hangs_is_cut_at_the_deadline(raw_server, slow_dns):
    server = raw_server(lambda request: redirect_to("http://slow.example/feed.xml"))
    assert feed_error(server.url(), timeout=1) == "timed out after 1 s"


def test_stopping_autopost_ends_a_hanging_name_lookup(slow_dns):
    timer = threading.Timer(0.3, http.abort_all)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(FeedError, match="^interrupted: autopost was stopping$"):
            fetch("http://slow.example/feed.xml", None, timeout=20)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 2
