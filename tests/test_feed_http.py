"""The feed polls' own HTTP/1.1 client (bot/feed_http.py), on real loopback sockets.

The shared feed server speaks HTTP/1.0, one request per connection; what keep-alive, a
proxy and the encodings need is played here by a raw HTTP/1.1 server whose every answer
the test writes: it records each request with the connection that carried it.
"""
from __future__ import annotations

import base64
import gzip
import socket
import ssl
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from bot import feeds
from bot.feed_http import _Inflater
from bot.feeds import FeedError, fetch
from bot.models import FeedState
from bot.poller import Poller
from bot.store import Store
from tests.fakes.feed import rss_feed
from tests.fakes.server import read_head

ITEMS = [{"title": "First post", "link": "https://blog.example.com/first/"}]
BODY = rss_feed(ITEMS)


@dataclass
class Request:
    connection: int            # which accepted connection carried it, from 0
    line: str                  # the request line, e.g. "GET /feed.xml HTTP/1.1"
    headers: dict[str, str]

    @property
    def target(self) -> str:
        return self.line.split(" ")[1]


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Other'}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if status != 304:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body if status != 304 else b"")


class RawServer:
    """HTTP/1.1 on 127.0.0.1 that keeps connections open; ``reply(request)`` writes each answer
    (bytes), or None to close the connection without one."""

    def __init__(self, reply: Callable[[Request], bytes | None], tls: ssl.SSLContext | None = None):
        self.reply = reply
        self.tls = tls
        self.requests: list[Request] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._connections = 0
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/feed.xml") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    @property
    def connections(self) -> int:
        return self._connections

    def close_idle(self) -> None:
        """The server's idle timeout: every open connection closed, unannounced."""
        for sock in self._open:
            try:
                sock.shutdown(socket.SHUT_RDWR)     # close() alone waits for the reader's file to go
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.close_idle()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            number, self._connections = self._connections, self._connections + 1
            self._open.append(sock)
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        if self.tls:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                sock.close()                       # the client refused our certificate
                return
        reader = sock.makefile("rb")
        try:
            while True:
                line = reader.readline().decode("latin-1").rstrip("\r\n")
                if not line:
                    return
                headers = {}
                while (header := reader.readline().decode("latin-1").rstrip("\r\n")):
                    name, _, value = header.partition(":")
                    headers[name.strip()] = value.strip()
                request = Request(number, line, headers)
                self.requests.append(request)
                data = self.reply(request)
                if data is None:
                    return
                sock.sendall(data)
        except OSError:
            return
        finally:
            sock.close()


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(reply: Callable[[Request], bytes | None], tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(reply, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def conditional(request: Request) -> bytes:
    """A feed with an ETag that answers 304 to a matching If-None-Match."""
    if request.headers.get("If-None-Match") == '"v1"':
        return answer(304, headers={"ETag": '"v1"'})
    return answer(200, BODY, {"ETag": '"v1"', "Content-Type": "application/rss+xml"})


# --------------------------------------------------------------------------- keep-alive


def _poller(tmp_path, url: str) -> tuple[Poller, Store]:
    from bot.config import settings_from

    settings = settings_from({"AUTOPOST_FEEDS": url, "AUTOPOST_PLATFORMS": "console",
                              "AUTOPOST_DB": str(tmp_path / "ledger.db"), "AUTOPOST_ALLOW_PRIVATE_NETWORKS": "true"})
    store = Store(tmp_path / "ledger.db")
    return Poller(settings, store), store


def test_unchanged_polls_ride_one_kept_alive_connection(tmp_path, raw_server):
    server = raw_server(conditional)
    poller, store = _poller(tmp_path, server.url())
    try:
        assert poller.poll(server.url()).new_posts or True
        outcomes = [poller.poll(server.url()) for _ in range(5)]
    finally:
        poller.close()
        store.close()
    assert all(o.unchanged and not o.error for o in outcomes)
    assert len(server.requests) == 6 and server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_before_use(tmp_path, raw_server):
    server = raw_server(conditional)
    poller, store = _poller(tmp_path, server.url())
    try:
        poller.poll(server.url())
        server.close_idle()                      # its keep-alive timeout passed between two polls
        outcome = poller.poll(server.url())
    finally:
        poller.close()
        store.close()
    assert outcome.unchanged and not outcome.error
    assert server.connections == 2 and len(server.requests) == 2


def test_a_request_that_finds_its_kept_alive_connection_closed_is_sent_once_more(tmp_path, raw_server):
    def reply(request: Request) -> bytes | None:
        # The server drops the connection as the second request on it arrives (the race an
        # idle check cannot see): the GET goes again on a new connection.
        on_connection = [r for r in server.requests if r.connection == request.connection]
        return None if len(on_connection) == 2 else conditional(request)

    server = raw_server(reply)
    poller, store = _poller(tmp_path, server.url())
    try:
        poller.poll(server.url())
        outcome = poller.poll(server.url())
    finally:
        poller.close()
        store.close()
    assert outcome.unchanged and not outcome.error
    assert [r.connection for r in server.requests] == [0, 0, 1]


def test_a_poll_cut_by_its_timeout_leaves_a_client_that_polls_on(raw_server):
    import time

    def reply(request: Request) -> bytes:
        if len(server.requests) == 2:
            time.sleep(1.0)                   # the second poll's answer comes too late
        return conditional(request)

    server = raw_server(reply)
    from bot.feed_http import FeedClient

    client = FeedClient()
    try:
        fetch(server.url(), None, timeout=5, client=client, allow_private_networks=True)
        with pytest.raises(FeedError, match="timed out"):
            fetch(server.url(), None, timeout=0.3, client=client, allow_private_networks=True)
        assert fetch(server.url(), None, timeout=5, client=client, allow_private_networks=True).body == BODY
    finally:
        client.close()


def test_a_new_connection_closed_without_an_answer_is_an_error_not_a_retry(raw_server):
    server = raw_server(lambda request: None)
    with pytest.raises(FeedError, match=r"^the server closed the connection without an answer$"):
        fetch(server.url(), None, timeout=5, allow_private_networks=True)
    assert len(server.requests) == 1


def test_a_refused_body_closes_its_connection_and_the_next_poll_opens_a_new_one(raw_server):
    server = raw_server(lambda request: answer(200, b"<rss>" + b"x" * 5000 + b"</rss>"))
    from bot.feed_http import FeedClient

    client = FeedClient()
    try:
        with pytest.raises(FeedError, match="body larger than 1000 bytes"):
            fetch(server.url(), None, timeout=5, max_bytes=1000, client=client, allow_private_networks=True)
        assert fetch(server.url(), None, timeout=5, client=client, allow_private_networks=True).status == 200
    finally:
        client.close()
    assert server.connections == 2


# --------------------------------------------------------------------------- encodings


def _encoded(body: bytes, encoding: str) -> Callable[[Request], bytes]:
    return lambda request: answer(200, body, {"Content-Encoding": encoding, "Content-Type": "application/rss+xml"})


@pytest.mark.parametrize("encoding, encode", [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),                                              # zlib-wrapped, as the RFC says
    ("deflate", lambda data: zlib.compress(data)[2:-4]),                     # raw deflate, as some servers send
    ("gzip", lambda data: gzip.compress(data[:100]) + gzip.compress(data[100:])),   # two gzip members
])
def test_encoded_bodies_are_decoded(raw_server, encoding, encode):
    server = raw_server(_encoded(encode(BODY), encoding))
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY


@pytest.mark.parametrize("body, encoding, problem", [
    (b"this is not gzip at all", "gzip", r"^the body could not be decoded \("),
    (gzip.compress(BODY)[:-30], "gzip", r"^the compressed body ended before its end$"),
    (BODY, "br", r"^the server sent the body as 'br', which was not asked for$"),
])
def test_a_body_that_cannot_be_decoded_is_a_plain_feed_error(raw_server, body, encoding, problem):
    server = raw_server(_encoded(body, encoding))
    with pytest.raises(FeedError, match=problem):
        fetch(server.url(), None, timeout=5, allow_private_networks=True)


def test_a_small_bomb_is_inflated_in_bounded_steps():
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))           # 20 MB in about 20 KB
    inflater = _Inflater(zlib.MAX_WBITS | 16)
    sizes = [len(piece) for piece in inflater.decode(bomb, 64 * 1024)]
    assert max(sizes) <= 64 * 1024 and sum(sizes) == 20 * 1024 * 1024


# --------------------------------------------------------------------------- what requests took from the environment


def use_proxies(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Proxies set in the environment (HTTP_PROXY=..., HTTPS_PROXY=...), with no NO_PROXY left over
    from the machine's own to exempt the feed."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def test_a_feed_goes_through_the_configured_proxy_with_its_credentials(raw_server, monkeypatch):
    proxy = raw_server(conditional)
    use_proxies(monkeypatch, HTTP_PROXY=f"http://squid:p%40ss@127.0.0.1:{proxy.port}")

    result = fetch("http://blog.example/feed.xml?page=1", None, timeout=5)

    assert result.body == BODY
    [request] = proxy.requests
    assert request.target == "http://blog.example/feed.xml?page=1"        # absolute form, to the proxy
    assert request.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"squid:p@ss").decode()


def test_no_proxy_sends_a_feed_directly(raw_server, monkeypatch):
    server = raw_server(conditional)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        unused = sock.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY
    assert server.requests[0].target == "/feed.xml"


def test_netrc_credentials_go_to_their_host_only(raw_server, tmp_path, monkeypatch):
    other = raw_server(conditional)
    server = raw_server(lambda request: answer(302, headers={"Location": f"http://localhost:{other.port}/feed.xml"}))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    assert fetch(server.url(), None, timeout=5, allow_private_networks=True).body == BODY

    assert server.requests[0].headers["Authorization"] == "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert "Authorization" not in other.requests[0].headers       # another host: not sent on


def test_url_credentials_follow_a_redirect_on_the_same_origin_and_stop_at_another(raw_server):
    elsewhere = raw_server(conditional)
    moves = {"/feed.xml": "/moved.xml", "/moved.xml": f"http://localhost:{elsewhere.port}/feed.xml"}

    def reply(request: Request) -> bytes:
        return answer(301, headers={"Location": moves[request.target]})

    server = raw_server(reply)
    url = f"http://reader:s3cret@127.0.0.1:{server.port}/feed.xml"

    assert fetch(url, None, timeout=5, allow_private_networks=True).body == BODY

    basic = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert [r.headers.get("Authorization") for r in server.requests] == [basic, basic]
    assert "Authorization" not in elsewhere.requests[0].headers
    assert all("s3cret" not in r.line for r in server.requests + elsewhere.requests)


def test_a_redirect_out_of_http_is_refused(raw_server):
    server = raw_server(lambda request: answer(302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(FeedError, match=r"^redirected to a URL that is not http\(s\): file:///etc/passwd$"):
        fetch(server.url(), None, timeout=5, allow_private_networks=True)


def test_a_path_with_spaces_and_letters_beyond_ascii_is_sent_percent_encoded(raw_server):
    server = raw_server(conditional)
    fetch(server.url("/nouvelles fraîches.xml"), None, timeout=5, allow_private_networks=True)
    assert server.requests[0].target == "/nouvelles%20fra%C3%AEches.xml"


def test_validators_go_out_and_a_304_keeps_the_known_hash(raw_server):
    server = raw_server(conditional)
    state = FeedState(url=server.url(), etag='"v1"', body_hash="abc")
    result = feeds.fetch(server.url(), state, timeout=5, allow_private_networks=True)
    assert (result.status, result.body, result.body_hash) == (304, None, "abc")
    assert server.requests[0].headers["If-None-Match"] == '"v1"'


# --------------------------------------------------------------------------- TLS

CERT = Path(__file__).parent / "data" / "tls" / "localhost.pem"     # self-signed, for 127.0.0.1 and localhost


def _tls_server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT, CERT.with_suffix(".key"))
    return context


def test_a_certificate_no_authority_vouches_for_is_refused(raw_server, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = raw_server(conditional, _tls_server_context())
    with pytest.raises(FeedError, match=r"^cannot connect: TLS certificate not valid \(self.signed certificate\)$"):
        fetch(server.url(), None, timeout=5, allow_private_networks=True)
    assert server.requests == []


def test_the_ca_bundle_requests_would_use_is_trusted_and_tls_connections_are_kept_alive(raw_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERT))
    server = raw_server(conditional, _tls_server_context())
    from bot.feed_http import FeedClient

    client = FeedClient()
    try:
        first = fetch(server.url(), None, timeout=5, client=client, allow_private_networks=True)
        second = fetch(server.url(), FeedState(url=server.url(), etag='"v1"'), timeout=5, client=client,
                       allow_private_networks=True)
    finally:
        client.close()
    assert first.body == BODY and second.status == 304
    assert server.connections == 1


def test_a_304_that_names_an_encoding_it_does_not_use_is_still_unchanged(raw_server):
    server = raw_server(lambda request: answer(304, headers={"ETag": '"v1"', "Content-Encoding": "br"}))
    state = FeedState(url=server.url(), etag='"v1"', body_hash="abc")
    assert fetch(server.url(), state, timeout=5, allow_private_networks=True).status == 304


def test_the_ca_bundle_is_loaded_once_however_many_workers_start_together(monkeypatch):
    """The service starts a poll of every feed at once; each worker's first https connection
    asks for the TLS context at the same moment. One bundle is loaded, not one per worker (a
    hundred of them were tens of MB and seconds of CPU at start)."""
    import bot.feed_http as feed_http

    made = []
    real = ssl.create_default_context

    def slow_context(*args, **kwargs):
        made.append(kwargs)
        import time

        time.sleep(0.05)                     # loading a real bundle takes a while: the race is open
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", slow_context)
    monkeypatch.setattr(feed_http, "_tls_contexts", {})
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERT))
    clients = [feed_http.FeedClient() for _ in range(30)]
    assert made == []                        # a client of plain-http feeds never needs one
    contexts = []
    threads = [threading.Thread(target=lambda c=client: contexts.append(c._tls())) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and len({id(context) for context in contexts}) == 1


class TunnelProxy:
    """An HTTP proxy that answers CONNECT and then relays bytes both ways, as a real one does."""

    def __init__(self):
        self.connects: list[tuple[str, dict[str, str]]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = read_head(client)
        if head is None:
            return
        lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        self.connects.append((lines[0], headers))
        port = int(lines[0].split()[1].rsplit(":", 1)[1])
        upstream = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (source, sink):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)


def test_an_https_feed_goes_through_an_http_proxy_in_a_tunnel_with_tls_inside(raw_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERT))
    server = raw_server(conditional, _tls_server_context())
    proxy = TunnelProxy()
    use_proxies(monkeypatch, HTTPS_PROXY=f"http://squid:p%40ss@127.0.0.1:{proxy.port}")
    try:
        result = fetch(f"https://localhost:{server.port}/feed.xml", None, timeout=5)
    finally:
        proxy.close()
    assert result.body == BODY
    [(line, headers)] = proxy.connects
    assert line == f"CONNECT localhost:{server.port} HTTP/1.0"
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"squid:p@ss").decode()
    [request] = server.requests                       # the GET itself travelled inside the TLS tunnel
    assert request.target == "/feed.xml" and "Proxy-Authorization" not in request.headers
