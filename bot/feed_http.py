"""The HTTP/1.1 client of feed polls: keep-alive GETs on the standard library's ``http.client``.

A poll of an unchanged feed is one conditional GET and nothing else, so at thousands of
feeds a cycle costs what its client spends per request. requests spends about 0.9 ms of CPU
on a GET answered 304 (preparing the request, merging session settings, urllib3's pools
and response wrapping); ``http.client`` under this module about 0.15 ms (issue 18,
``bench/run.py``). The network APIs, images and webhooks keep requests: those are few.

What the feed fetch needs of a client, and only that:

* the deadline and the guard of ``bot.http``: every connection is dialled through
  ``http.dial_checked`` (the guard judges each address, the deadline watches the socket), and
  a kept-alive connection is judged again by its peer before it carries a request;
* keep-alive per worker (one client per thread: it is not thread-safe), with a connection that
  the server closed while idle noticed before use, and a request that finds it closed anyway
  sent once more on a new connection (a GET may be repeated);
* answers read strictly (``_Response``): interim 1xx answers skipped, a body cut short or
  framed two ways refused, so a broken answer is never taken for a whole feed;
* ``gzip`` and ``deflate`` bodies decoded as they stream, in bounded steps, so the body
  limit applies to decoded bytes and a small bomb never expands in memory at once;
* what requests would take from the environment, taken once as requests takes it: proxies
  (``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY``; https through a CONNECT tunnel), the CA
  bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, else certifi's) and ``~/.netrc``
  credentials for a URL that carries none.

Redirects are the caller's (``bot.feeds``): each hop is a request of its own here.
"""
from __future__ import annotations

import base64
import http.client
import os
import select
import socket
import ssl
import threading
import zlib
from collections import OrderedDict
from typing import Any, Iterator
from urllib.parse import quote, unquote, urlsplit

from bot import http as transport

MAX_CONNECTIONS = 10         # kept-alive connections per client (per poll worker), least recently used dropped


class DecodeError(Exception):
    """The body's Content-Encoding could not be undone."""


class ProxyRefused(OSError):
    """A proxy this client will not speak to (``str()`` says why, in the owner's words)."""


class BrokenAnswer(http.client.HTTPException):
    """An answer whose framing cannot be trusted (``str()`` says why): reading on would take a
    broken body for a whole one, or wait for an end that never comes."""


class _Response(http.client.HTTPResponse):
    """http.client's answer, strict where its leniency would read a broken answer as a good one."""

    # _read_status, _check_close, _read_next_chunk_size, _close_conn: http.client's own steps (3.8 to 3.13),
    # not in its type stubs.
    def _read_status(self) -> tuple[str, int, str]:
        # RFC 9110 §15.2: any number of 1xx interim answers (102, 103 Early Hints ...) may come
        # before the final one, asked for or not; http.client skips 100 only, and a 103 taken
        # as final was an empty feed, its real answer left on the connection.
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200:
                return version, status, reason
            http.client.parse_headers(self.fp)      # its headers (bounded by http.client): not wanted

    def begin(self) -> None:
        super().begin()
        fields = self.headers.get_all("Transfer-Encoding") or []
        codings = [part.strip().lower() for field in fields for part in field.split(",")]
        codings = [coding for coding in codings if coding not in ("", "identity")]   # identity: none (RFC 2616)
        if codings and codings != ["chunked"]:
            # A coding we do not undo (gzip as a transfer coding) or chunked not alone: http.client
            # would read to a close a kept-alive server never sends, and hand over coded bytes.
            raise BrokenAnswer(f"Transfer-Encoding {', '.join(fields)!r} is not supported")
        if codings and not self.chunked:        # "chunked " or "identity, chunked": http.client wants it exact
            self.chunked, self.chunk_left, self.length = True, None, None
            self.will_close = self._check_close()  # type: ignore[attr-defined]
        lengths = {part.strip() for field in self.headers.get_all("Content-Length") or [] for part in field.split(",")}
        if self.chunked or not lengths or self.status in (204, 304):
            return
        # RFC 9112 §6.3: differing or invalid lengths are unrecoverable (http.client took the first, or
        # none); the same length said twice ("426, 426") is that length.
        if len(lengths) > 1:
            raise BrokenAnswer("conflicting Content-Length")
        (length,) = lengths
        if not (length.isascii() and length.isdigit()):
            raise BrokenAnswer("invalid Content-Length")
        if self.length is None:
            self.length = int(length)
            self.will_close = self._check_close()  # type: ignore[attr-defined]

    def _read_next_chunk_size(self) -> int:
        size = super()._read_next_chunk_size()  # type: ignore[misc]
        if size < 0:            # int("-5", 16) is -5: http.client would read backwards into the framing
            self._close_conn()  # type: ignore[attr-defined]
            raise ValueError("negative chunk size")     # a broken body (IncompleteRead) to http.client
        return size


class Answer:
    """One response: status, reason and headers; the body streams, decoded, from ``chunks``."""

    def __init__(self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection):
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers
        self._response = response
        self._connection = connection

    def chunks(self, size: int) -> Iterator[bytes]:
        """The decoded body in pieces of at most about ``size`` bytes."""
        decoder = None              # chosen at the first byte: a 304 may name an encoding and send nothing
        while True:
            data = self._response.read1(size)
            if not data:
                break
            decoder = decoder or _decoder(self.headers.get("Content-Encoding", ""))
            yield from decoder(data, size)
        if self._response.length:
            # read1 ends quietly when the connection closes before the declared length: a body
            # cut short must not be taken, parsed and hashed as the whole feed.
            raise http.client.IncompleteRead(b"", self._response.length)
        if decoder is not None:
            yield from decoder(b"", size)
        self._response.read()       # marks the answer complete (read1 leaves an empty one open): kept alive

    def read(self) -> bytes:
        return b"".join(self.chunks(64 * 1024))

    def close(self) -> None:
        """Done with the answer: a body read to its end leaves the connection kept alive; one left
        unread closes it, so no half-read connection carries the next request."""
        if not self._response.isclosed():
            self._connection.close()
        self._response.close()


class FeedClient:
    """Kept-alive connections for one poll worker's feed GETs."""

    def __init__(self) -> None:
        import urllib.request

        self._bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
        self._proxies = {scheme: proxy for scheme, proxy in urllib.request.getproxies().items() if scheme != "no"}
        self._netrc = os.path.exists(os.environ.get("NETRC") or os.path.expanduser("~/.netrc"))
        from bot.logs import register_secrets

        # A proxy may echo its password back (a 407's reason, a tunnel's refusal): the error is
        # scrubbed of it like of any configured secret.
        register_secrets(unquote(urlsplit(_with_scheme(proxy)).password or "") for proxy in self._proxies.values())
        self._connections: OrderedDict[tuple[str, str, int, str], http.client.HTTPConnection] = OrderedDict()

    def get(self, url: str, headers: dict[str, str], timeout: float) -> Answer:
        """Send one GET (no redirect followed) and read the answer's status and headers.

        Credentials go in ``headers`` (see ``credentials``), never in the request line: the URL's
        userinfo and fragment are not sent, so neither a server's log nor a proxy sees them.
        Raises ``OSError`` (``socket.gaierror``, refused, timed out, ``ssl.SSLError``),
        ``http.client.HTTPException`` or ``bot.http.AddressRefused``.
        """
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # Percent-encoded as requests sends it: a space or a non-ASCII letter cannot go in a request line.
        target = quote(target, safe="!#$%&'()*+,/:;=?@[]~")
        proxy = self._proxy_for(url)
        if proxy and scheme == "http":
            # A plain-http request through a proxy names the whole URL (without its userinfo).
            target = f"http://{_host_port(host, parts.port)}{target}"
            headers = {**headers, **(_proxy_credentials(urlsplit(_with_scheme(proxy))) or {})}
        key = (scheme, host, port, proxy or "")
        connection = self._connections.pop(key, None)
        reused = connection is not None and connection.sock is not None
        if connection is None or (reused and _closed_by_peer(connection)):
            if connection is not None:
                connection.close()
            connection = self._connect(scheme, host, port, proxy, timeout)
            reused = False
        self._keep(key, connection)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            return self._send(connection, host, target, headers, guarded=not proxy)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed a kept-alive connection as the request went out: once more, anew.
            connection.close()
            if not reused:
                raise
        except BaseException:
            connection.close()          # a request cut half-way leaves http.client unable to send another
            raise
        try:
            return self._send(connection, host, target, headers, guarded=not proxy)
        except BaseException:
            connection.close()
            raise

    def credentials(self, url: str) -> dict[str, str]:
        """The Authorization header for ``url``: Basic from its userinfo, else from ~/.netrc (as requests)."""
        parts = urlsplit(url)
        if parts.username is not None:
            user, password = unquote(parts.username), unquote(parts.password or "")
        elif self._netrc:
            from requests.utils import get_netrc_auth   # requests' own reading of the file

            found = get_netrc_auth(url)
            if not found:
                return {}
            user, password = found
            from bot.logs import register_secrets

            register_secrets([password])        # a server may echo it back in its error
        else:
            return {}
        return {"Authorization": "Basic " + _base64(f"{user}:{password}")}

    def close(self) -> None:
        while self._connections:
            self._connections.popitem()[1].close()

    def _send(self, connection: http.client.HTTPConnection, host: str, target: str, headers: dict[str, str],
              *, guarded: bool) -> Answer:
        if connection.sock is not None:
            transport.watch(connection.sock)
            if guarded:
                transport.check_reused(host, connection.sock)
        connection.request("GET", target, headers=headers)
        return Answer(connection.getresponse(), connection)

    def _keep(self, key: tuple[str, str, int, str], connection: http.client.HTTPConnection) -> None:
        self._connections[key] = connection
        while len(self._connections) > MAX_CONNECTIONS:
            self._connections.popitem(last=False)[1].close()

    def _connect(self, scheme: str, host: str, port: int, proxy: str | None,
                 timeout: float) -> http.client.HTTPConnection:
        dial = _guarded_dial
        tls = scheme == "https"
        tunnel: tuple[str, int, dict[str, str] | None] | None = None
        if proxy:
            proxy_parts = urlsplit(_with_scheme(proxy))
            proxy_scheme = proxy_parts.scheme.lower()
            shown = f"{proxy_scheme}://{_host_port(proxy_parts.hostname or '', proxy_parts.port)}"
            # Never plain HTTP, and its Proxy-Authorization, to a proxy the owner named otherwise.
            if proxy_scheme not in ("http", "https"):
                raise ProxyRefused(f"the proxy {shown} is not an http:// or https:// proxy, "
                                   "the only kinds feed polls use")
            if tls and proxy_scheme == "https":
                # A tunnel inside TLS to the proxy is beyond http.client: its CONNECT would go in clear.
                raise ProxyRefused(f"https feeds cannot go through an https:// proxy ({shown}); "
                                   "give HTTPS_PROXY the proxy's http:// address")
            # The proxy makes the connection: the guard does not apply (README), the deadline does.
            dial = _watched_dial
            if tls:                                          # an https feed: TLS to it inside a CONNECT tunnel
                tunnel = (host, port, _proxy_credentials(proxy_parts))
            host = proxy_parts.hostname or ""
            port = proxy_parts.port or (443 if proxy_scheme == "https" else 80)
            tls = tls or proxy_scheme == "https"           # an https proxy of plain-http feeds: TLS to it
        connection: http.client.HTTPConnection
        if tls:
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        if tunnel:
            connection.set_tunnel(tunnel[0], tunnel[1], headers=tunnel[2])
        connection._create_connection = dial  # type: ignore[attr-defined]
        connection.response_class = _Response
        return connection

    def _tls(self) -> ssl.SSLContext:
        return _tls_context(self._bundle)

    def _proxy_for(self, url: str) -> str | None:
        if not self._proxies:
            return None
        from requests.utils import select_proxy, should_bypass_proxies   # the choice requests makes

        if should_bypass_proxies(url, no_proxy=None):
            return None
        return select_proxy(url, self._proxies)


_tls_contexts: dict[str | None, ssl.SSLContext] = {}
_tls_lock = threading.Lock()


def _tls_context(bundle: str | None) -> ssl.SSLContext:
    """One context per CA bundle for the whole process, made at the first https connection.

    Loading a bundle costs milliseconds and megabytes, and a context serves every thread. Under
    a lock: the service starts a poll of every feed at once, and a hundred threads missing a
    cache together loaded a hundred bundles (tens of MB at start)."""
    context = _tls_contexts.get(bundle)
    if context is None:
        with _tls_lock:
            context = _tls_contexts.get(bundle)
            if context is None:
                if bundle is None:
                    import certifi           # requests' own default

                    context = ssl.create_default_context(cafile=certifi.where())
                elif os.path.isdir(bundle):
                    context = ssl.create_default_context(capath=bundle)
                else:
                    context = ssl.create_default_context(cafile=bundle)
                _tls_contexts[bundle] = context
    return context


def _guarded_dial(address: tuple[str, int], timeout: float | None, source_address: Any = None) -> socket.socket:
    """http.client's connect, through the guard of the exchange in flight (always one for a feed)."""
    host, port = address
    exchange_guard = transport.current_guard()
    if exchange_guard is None:
        return _watched_dial(address, timeout, source_address)
    return transport.dial_checked(host.strip("[]"), port, exchange_guard, timeout, source_address)


def _watched_dial(address: tuple[str, int], timeout: float | None, source_address: Any = None) -> socket.socket:
    sock = socket.create_connection(address, timeout, source_address)
    transport.watch(sock)
    return sock


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection that is readable was closed by the server (or says something
    unasked): either way it cannot carry a request."""
    sock = connection.sock
    # Over TLS, bytes the server sent unasked (a body after a 304) may already sit decrypted in the
    # TLS layer, where poll cannot see them: the next answer would begin with them.
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        # poll, not select: select refuses a descriptor past 1023 (a service with many feeds and
        # workers), and every connection would be taken for closed and dialled anew at each poll.
        idle = select.poll()
        idle.register(sock, select.POLLIN)
        return bool(idle.poll(0))
    except (OSError, ValueError):
        return True


def _decoder(encoding: str) -> Any:
    """A function (data, size) -> decoded pieces of at most ``size`` bytes; b"" ends the body."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return lambda data, size: [data] if data else []
    if encoding in ("gzip", "x-gzip"):
        return _Inflater(zlib.MAX_WBITS | 16).decode
    if encoding == "deflate":
        return _Inflater(zlib.MAX_WBITS).decode
    raise DecodeError(f"the server sent the body as {encoding!r}, which was not asked for")


class _Inflater:
    """gzip (every member) or deflate (zlib-wrapped, or raw as some servers send it), in bounded steps."""

    def __init__(self, wbits: int):
        self._gzip = wbits & 16 != 0
        self._wbits = wbits
        self._inflate = zlib.decompressobj(wbits)
        self._started = False
        self._head = b""            # deflate's first byte while it arrived alone

    def decode(self, data: bytes, size: int) -> Iterator[bytes]:
        if not data:
            if self._head or (self._started and not self._inflate.eof):
                raise DecodeError("the compressed body ended before its end")
            return
        if not self._started and not self._gzip:
            data, self._head = self._head + data, b""
            if len(data) < 2:       # a zlib header is two bytes: one alone passes for either kind
                self._head = data
                return
            try:                # a zlib header, or raw deflate: the first bytes tell
                zlib.decompressobj(self._wbits).decompress(data[:64], 1)
            except zlib.error:
                self._wbits = -zlib.MAX_WBITS
                self._inflate = zlib.decompressobj(self._wbits)
        self._started = True
        try:
            while data:
                piece = self._inflate.decompress(data, size)
                data = self._inflate.unconsumed_tail
                if piece:
                    yield piece
                if self._inflate.eof:
                    rest = self._inflate.unused_data
                    if not self._gzip or not rest.strip(b"\0"):
                        return
                    self._inflate = zlib.decompressobj(self._wbits)   # the next gzip member
                    data = rest
        except zlib.error as exc:
            raise DecodeError(f"the body could not be decoded ({exc})") from None


def _base64(text: str) -> str:
    try:
        raw = text.encode("latin-1")        # what requests sends, and most servers expect
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _proxy_credentials(proxy: Any) -> dict[str, str] | None:
    if proxy.username is None:
        return None
    pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
    return {"Proxy-Authorization": "Basic " + _base64(pair)}


def _host_port(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def _with_scheme(proxy: str) -> str:
    return proxy if "://" in proxy else f"http://{proxy}"
