"""The one HTTP toolbox: session, user agent, whole-exchange deadline, private-address guard, image download,
and transport errors as a network's ``TransientError`` (``transport_errors``).

Deadline. ``requests`` only bounds each socket read, so a server that sends one
byte every few seconds is never timed out. Every exchange made on a session from
``new_session()`` (or a session passed through ``install()``) therefore runs under
a wall-clock deadline: one shared watchdog thread shuts down the exchange's
sockets when the deadline passes, which ends any read in progress (connect,
headers trickled line by line, body), and the exchange raises ``DeadlineExceeded``
(a ``requests.Timeout``, so every caller's timeout handling applies). A call's
``timeout=`` is its whole-exchange deadline; code that streams a body opens
``deadline(seconds)`` around the request and the reading, and the inner request
then runs under that outer deadline.

Guard. Feeds and the images they name are fetched under ``guarded(...)``: every
new connection resolves its host, refuses loopback, private, link-local and
unique-local (any non-global) address unless the guard allows private networks,
and connects to the very address it checked, so a DNS answer cannot change
between check and connect. A reused keep-alive connection is checked by its peer
address. API calls to the networks (configured bases) are not guarded.

Name resolution and dialling go through ``NETWORK``, so a test can say
"blog.example resolves to a public address" and route that address to a loopback
server, the way a NAT would: the guard then judges exactly what it judges in
production.

``requests`` is imported inside functions: the CLI must start fast.
"""
from __future__ import annotations

import heapq
import ipaddress
import itertools
import os
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from bot import __version__

if TYPE_CHECKING:
    import socket       # imported where a socket is made: the CLI's commands that make none start without it

    import requests

USER_AGENT = f"autopost/{__version__} (self-hosted feed-to-social poster)"
MAX_IMAGE_BYTES = 5 * 1024 * 1024     # X's limit for images, and within LinkedIn's media guidelines


# --------------------------------------------------------------------------- addresses


def check_api_base(url: str) -> str | None:
    """Return what is wrong with an API base URL, or None if it is acceptable.

    Plain http is allowed only for loopback hosts: tokens must never cross a
    network in clear text, but the project's tests run fakes on 127.0.0.1.
    """
    from bot.values import url_problem

    problem = url_problem(url)
    if problem:
        return problem
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL such as https://api.example.com"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "plain http:// is only allowed for loopback hosts (127.0.0.1, localhost, ::1); use https://"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1024)     # checked at every request of every poll; a pure function of the text
def address_kind(address: str) -> str | None:
    """What makes an address private ("loopback", "private", ...), or None for a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        # 6to4 (2002::/16) is delivered to the IPv4 address it carries: judged as that address.
        if ip.sixtofour is not None and address_kind(str(ip.sixtofour)):
            return address_kind(str(ip.sixtofour))
        if ip.is_site_local:            # fec0::/10: deprecated, yet still routed inside a site
            return "private"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.IPv6Network("fc00::/7"):
        return "unique-local"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "private"
    return None


class Network:
    """Name resolution and dialling; a test replaces these two methods (see the module docstring)."""

    def resolve(self, host: str, port: int) -> list[str]:
        import socket

        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def dial(self, address: str, port: int, timeout: float | None,
             source_address: Any = None, socket_options: Any = None) -> socket.socket:
        # The address is one the guard checked: no name to resolve, so no urllib3 to import for it.
        import socket

        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect((address, port))
        except BaseException:
            sock.close()
            raise
        return sock


NETWORK = Network()


class Guard:
    """Which addresses a fetch may reach: public ones, and private ones only when allowed.

    Whether the feed itself lives in private space is decided only when a private address
    turns up, so a poll reusing a connection to a public host costs no name lookup.
    """

    def __init__(self, origin: str, allow_private: bool | None):
        self.origin = origin                   # the configured feed URL, named in refusals
        self._allow_private = allow_private    # None: the origin's own addresses decide, on first need

    @property
    def allow_private(self) -> bool:
        if self._allow_private is None:
            self._allow_private = _in_private_space(urlsplit(self.origin).hostname or "")
        return self._allow_private

    def check(self, host: str, address: str) -> None:
        kind = address_kind(address)
        if kind and not self.allow_private:
            from bot.urls import display_url      # the feed URL's password and ?key= never go in an error

            raise AddressRefused(
                f"refused to fetch from {host} ({address}, a {kind} address): feed {display_url(self.origin)} is on "
                "a public address, so it may not lead into a private network; set AUTOPOST_ALLOW_PRIVATE_NETWORKS=true "
                "if this is intended")


def _in_private_space(host: str) -> bool:
    try:
        return address_kind(host) is not None          # an address literal needs no lookup
    except ValueError:
        pass
    try:
        return any(address_kind(a) for a in resolve(host, 0))
    except OSError:
        return False


def guard_for(feed_url: str | None, *, allow_private_networks: bool = False) -> Guard:
    """The guard for a feed and its images: private space is open when the feed itself lives there."""
    if allow_private_networks:
        return Guard(feed_url or "", True)
    return Guard(feed_url or "", None if urlsplit(feed_url or "").hostname else False)


class AddressRefused(OSError):
    """A guarded fetch would have reached a private address."""


# --------------------------------------------------------------------------- deadline


class _Exchange:
    """One exchange in flight: its deadline, the sockets it uses, and its guard."""

    def __init__(self, seconds: float, guard: Guard | None):
        self.seconds = seconds
        self.due = time.monotonic() + seconds
        self.guard = guard
        self.expired = False
        self.aborted = False         # cut because autopost is stopping, not because the deadline passed
        self.refused: AddressRefused | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = False
        self.entry: tuple[float, int, _Exchange] | None = None     # its place in the watchdog's heap

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _shutdown(sock)
            elif sock not in self._sockets:
                self._sockets.append(sock)

    def expire(self, *, abort: bool = False) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            self.aborted = self.aborted or abort
            for sock in self._sockets:
                _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._sockets.clear()


def _shutdown(sock: socket.socket) -> None:
    import socket

    try:
        # socket.socket's own shutdown also works on an SSLSocket's descriptor without touching TLS state.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """One daemon thread expiring exchanges whose deadline passed.

    The heap holds only exchanges in flight: one leaves it when it finishes (``discard``), so
    a service that polls for months keeps no trace of its past exchanges. The thread is woken
    only for an exchange due before it would wake anyway: one notify per request would hand the
    GIL to the watchdog at every poll.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Exchange]] = []
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._wake_at = float("inf")      # when the thread wakes by itself (inf: only when notified)

    def add(self, exchange: _Exchange) -> None:
        entry = (exchange.due, next(self._count), exchange)
        with self._cond:
            heapq.heappush(self._heap, entry)
            exchange.entry = entry
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadline", daemon=True)
                self._thread.start()
            if exchange.due < self._wake_at:
                self._wake_at = exchange.due
                self._cond.notify()

    def discard(self, exchange: _Exchange) -> None:
        """A finished exchange leaves the heap (if the thread has not already taken it out)."""
        entry = exchange.entry
        if entry is None:
            return
        with self._cond:
            heap = self._heap
            for index, item in enumerate(heap):
                if item is entry:
                    last = heap.pop()
                    if index < len(heap):
                        heap[index] = last
                        heapq.heapify(heap)     # a handful of exchanges in flight: cheap
                    break

    def abort_all(self) -> int:
        with self._cond:
            exchanges = [entry[2] for entry in self._heap]
        for exchange in exchanges:
            exchange.expire(abort=True)
        return len(exchanges)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._wake_at = float("inf")
                    self._cond.wait()
                due, _, exchange = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._wake_at = due
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            exchange.expire()


_WATCHDOG = _Watchdog()
_local = threading.local()


def abort_all() -> int:
    """Cut every exchange in flight now (shutdown): each raises "interrupted" in its own thread."""
    return _WATCHDOG.abort_all()


_refusing = threading.Event()


def stop_all() -> None:
    """The process is leaving (Ctrl-C): cut every exchange in flight and start no other."""
    _refusing.set()
    abort_all()


def _current() -> _Exchange | None:
    return getattr(_local, "exchange", None)


def dial_checked(host: str, port: int, guard: Guard, timeout: float | None, source_address: Any = None,
                 socket_options: Any = None) -> socket.socket:
    """A connection to ``host`` at an address ``guard`` accepts, watched by the exchange in flight.

    Every address the name resolves to is checked before any is dialled (then each in turn, an
    AAAA first on a host without IPv6), and the very address checked is the one connected to.
    Raises ``socket.gaierror``, ``AddressRefused`` or the dial's ``OSError``.
    """
    addresses = resolve(host, port)
    for address in addresses:
        guard.check(host, address)
    error: OSError = OSError(f"{host} has no address")
    for address in addresses:
        try:
            sock = NETWORK.dial(address, port, timeout, source_address, socket_options)
        except OSError as exc:
            error = exc
            continue
        watch(sock)
        return sock
    raise error


def resolve(host: str, port: int) -> list[str]:
    """``NETWORK.resolve``, within the deadline of the exchange in flight.

    The watchdog cuts sockets, and a name lookup has none: a resolver that does not answer held
    the poll for as long as the system's resolver retries (seconds per server and attempt), past
    the deadline and past Ctrl-C. The lookup runs in a thread of its own that the exchange stops
    waiting for; it ends when the resolver gives up. Raises TimeoutError (``socket.timeout``) when the deadline
    passes (the exchange is then expired: ``deadline()`` says so).
    """
    exchange = _current()
    if exchange is None:
        return NETWORK.resolve(host, port)
    done = threading.Event()
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(NETWORK.resolve(host, port))
        except BaseException as exc:  # noqa: BLE001  (handed to the waiting exchange)
            outcome.append(exc)
        done.set()

    threading.Thread(target=lookup, name="http-resolve", daemon=True).start()
    while not done.wait(min(0.1, max(exchange.due - time.monotonic(), 0.001))):
        if exchange.expired or time.monotonic() >= exchange.due:   # the deadline, or autopost stopping
            exchange.expire()
            raise TimeoutError(f"no address for {host} within the deadline")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def check_reused(host: str, sock: socket.socket) -> None:
    """A kept-alive connection about to carry a guarded exchange: its peer is judged like a new one."""
    exchange = _current()
    if exchange is None or exchange.guard is None:
        return
    try:
        address = sock.getpeername()[0]
    except OSError:
        return
    try:
        exchange.guard.check(host, address)
    except AddressRefused as exc:
        exchange.refused = exc
        raise


def current_guard() -> Guard | None:
    """The guard of the exchange in flight in this thread, if any."""
    exchange = _current()
    return exchange.guard if exchange is not None else None


def watch(sock: socket.socket) -> None:
    """The exchange in flight, if any, cuts ``sock`` when its deadline passes."""
    exchange = _current()
    if exchange is not None:
        exchange.watch(sock)


@contextmanager
def deadline(seconds: float, *, guard: Guard | None = None) -> Iterator[None]:
    """Run an HTTP exchange (request and body reading) under a wall-clock deadline.

    Nested calls share the outer deadline (and take the outer guard unless they bring one).
    Raises ``DeadlineExceeded`` when the deadline cut the exchange, ``AddressRefused``
    when the guard refused an address.
    """
    if _refusing.is_set():
        raise deadline_error(seconds, aborted=True)
    outer = _current()
    if outer is not None and guard is None:
        yield
        return
    if outer is not None:
        seconds = min(seconds, max(outer.due - time.monotonic(), 0.001))
    exchange = _Exchange(seconds, guard if guard is not None else None)
    _local.exchange = exchange
    _WATCHDOG.add(exchange)
    try:
        yield
    except Exception as exc:
        if exchange.refused is not None:
            raise exchange.refused from None
        if exchange.expired and not isinstance(exc, (AddressRefused,)):
            raise deadline_error(seconds, aborted=exchange.aborted) from None
        raise
    finally:
        exchange.finish()
        _WATCHDOG.discard(exchange)
        _local.exchange = outer
    if exchange.refused is not None:
        raise exchange.refused
    if exchange.expired:
        # A body without a declared length ends at the cut as if complete: it is not.
        raise deadline_error(seconds, aborted=exchange.aborted)


@contextmanager
def guarded(guard: Guard, seconds: float) -> Iterator[None]:
    """A deadline whose connections are checked by ``guard``."""
    with deadline(seconds, guard=guard):
        yield


_deadline_class: type | None = None


def deadline_error(seconds: float, *, aborted: bool = False) -> Exception:
    """A ``requests.Timeout`` saying which deadline passed."""
    global _deadline_class
    if _deadline_class is None:
        import requests

        class DeadlineExceeded(requests.exceptions.Timeout):
            """The whole exchange took longer than its deadline."""

        _deadline_class = DeadlineExceeded
    error = _deadline_class("interrupted: autopost is stopping" if aborted
                            else f"no complete answer within {seconds:g} s (whole-exchange deadline)")
    error.aborted = aborted
    return error


def is_deadline(exc: BaseException) -> bool:
    return _deadline_class is not None and isinstance(exc, _deadline_class)


def transport_errors_caught() -> tuple[type[BaseException], ...]:
    """The exceptions a failed exchange raises: requests', urllib3's (a streamed body cut off), OSError."""
    import requests
    import urllib3

    return (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


def transient(platform: str, who: str, timeout: float, exc: BaseException, what: str = "") -> Exception:
    """A failed exchange with a network as that network's ``TransientError``.

    Every adapter's transport failures end here, so a timeout, a refused or reset
    connection, or a body cut off while it arrives is always a transient error that
    delivery retries with backoff, worded the same way for every network. ``who``
    names the far end ("X", "Graph", "the instance"), ``what`` the call ("POST
    /2/tweets"). Only the exception's class is shown: its text may carry the URL,
    and a URL may carry a token.
    """
    import requests

    from bot.platforms.base import TransientError

    prefix = f"{what}: " if what else ""
    kind = exc.__class__.__name__
    if isinstance(exc, requests.Timeout):
        if getattr(exc, "aborted", False):
            return TransientError(platform, f"{prefix}interrupted: autopost is stopping")
        return TransientError(platform, f"{prefix}{who} did not answer in time (timed out after {timeout:g} s)")
    if isinstance(exc, requests.ConnectionError):
        return TransientError(platform, f"{prefix}cannot reach {who} ({kind})")
    if isinstance(exc, requests.RequestException):
        return TransientError(platform, f"{prefix}the request to {who} failed ({kind})")
    return TransientError(platform, f"{prefix}the connection to {who} failed while reading ({kind})")


@contextmanager
def transport_errors(platform: str, who: str, timeout: float, what: str = "") -> Iterator[None]:
    """Run one exchange (request and reading); its transport failure raises ``transient(...)``."""
    try:
        yield
    except transport_errors_caught() as exc:
        raise transient(platform, who, timeout, exc, what) from None


def read_answer(response: requests.Response, *, platform: str, who: str, max_bytes: int, deadline: float,
                timeout: float) -> bytes:
    """A streamed API answer's whole body, cut off at ``max_bytes`` and at ``deadline`` (``time.monotonic()``).

    ``read1`` returns what has arrived, so a server dripping bytes is noticed at
    the deadline even between socket reads (the session's watchdog ends the
    exchange too; this check words it as the network's answer). ``who`` names the
    far end ("Bluesky", "the instance"); ``timeout`` is the deadline's length, for
    the message. Both refusals are the network's ``TransientError``.
    """
    from bot.platforms.base import TransientError

    raw = response.raw
    reader = getattr(raw, "read1", None)
    received = bytearray()
    while True:
        chunk = reader(64 * 1024, decode_content=True) if reader else raw.read(1024, decode_content=True)
        if not chunk:
            return bytes(received)
        received += chunk
        if len(received) > max_bytes:
            raise TransientError(platform, f"{who}'s answer was larger than {max_bytes / 1024 / 1024:g} MB",
                                 status=response.status_code)
        if time.monotonic() > deadline:
            raise TransientError(platform, f"{who}'s answer took longer than {timeout:g}s to arrive",
                                 status=response.status_code)


# --------------------------------------------------------------------------- sessions


def _timeout_seconds(timeout: Any) -> float | None:
    if isinstance(timeout, (int, float)):
        return float(timeout)
    if isinstance(timeout, tuple) and timeout and all(isinstance(t, (int, float)) for t in timeout):
        return float(max(timeout))
    return None


_classes: dict[str, Any] = {}


def _transport() -> dict[str, Any]:
    """Our urllib3 connection classes and requests adapter, built once on first use."""
    if _classes:
        return _classes
    import socket

    import requests
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class _Watched(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            exchange = _current()
            if exchange is not None and exchange.guard is not None and not getattr(self, "proxy", None):
                sock = self._guarded_conn(exchange)
            else:
                sock = super()._new_conn()
            if exchange is not None:
                exchange.watch(sock)
            return sock

        def _guarded_conn(self, exchange: _Exchange) -> socket.socket:
            from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

            assert exchange.guard is not None, "only a guarded exchange comes here"
            try:
                return dial_checked(self._dns_host.strip("[]"), self.port, exchange.guard, self.timeout,
                                    self.source_address, self.socket_options)
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            except AddressRefused as exc:
                exchange.refused = exc
                raise NewConnectionError(self, str(exc)) from exc
            except socket.timeout as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc

        def connect(self) -> None:
            super().connect()
            exchange = _current()
            if exchange is not None:
                exchange.watch(self.sock)        # after TLS, the wrapped socket

        def request(self, *args: Any, **kwargs: Any) -> None:
            exchange = _current()
            if exchange is not None and self.sock is not None:
                exchange.watch(self.sock)
                if not getattr(self, "proxy", None):
                    check_reused(self.host, self.sock)
            return super().request(*args, **kwargs)

    class WatchedHTTPConnection(_Watched, HTTPConnection):
        pass

    class WatchedHTTPSConnection(_Watched, HTTPSConnection):
        pass

    class WatchedHTTPPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class WatchedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    pools = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}

    class WatchedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            manager.pool_classes_by_scheme = pools
            return manager

    class Session(requests.Session):
        """A requests session whose every call runs under its ``timeout=`` as a whole-exchange deadline."""

        def request(self, method: str | bytes, url: str | bytes, *args: Any,
                    **kwargs: Any) -> requests.Response:
            seconds = _timeout_seconds(kwargs.get("timeout"))
            if seconds is None:
                return super().request(method, url, *args, **kwargs)
            with deadline(seconds):
                return super().request(method, url, *args, **kwargs)

    _classes.update(adapter=WatchedAdapter, session=Session)
    return _classes


def install(session: requests.Session) -> requests.Session:
    """Route a session made elsewhere (tweepy's OAuth1Session, ...) through the watched transport.

    Its calls are bounded only inside ``deadline()``; sessions from ``new_session`` bound themselves.
    """
    adapter = _transport()["adapter"]
    session.mount("https://", adapter())
    session.mount("http://", adapter())
    return session


def new_session() -> requests.Session:
    """One HTTP session per adapter or poll worker: keep-alive, our User-Agent, whole-exchange deadlines."""
    import urllib.request

    session = _transport()["session"]()
    install(session)
    session.headers["User-Agent"] = USER_AGENT
    # requests re-reads proxies, the CA bundle and ~/.netrc from the environment on
    # every request: half the CPU of an unchanged poll. Read them once here instead;
    # proxies (with their no_proxy exceptions) and netrc keep requests' own handling.
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    # A no_proxy list alone (getproxies() names it "no") routes nothing through a proxy.
    proxies = [scheme for scheme in urllib.request.getproxies() if scheme != "no"]
    session.trust_env = bool(proxies or os.environ.get("NETRC") or os.path.exists(os.path.expanduser("~/.netrc")))
    return session


# --------------------------------------------------------------------------- images


class ImageProblem(Exception):
    """Why an image was left out of a post; never fatal, the post goes out without it."""


_image_guard = threading.local()


@contextmanager
def images_for(feed_url: str | None, *, allow_private_networks: bool = False) -> Iterator[None]:
    """Images downloaded in this block belong to a post of ``feed_url``: they follow that feed's guard."""
    outer = getattr(_image_guard, "guard", None)
    _image_guard.guard = guard_for(feed_url, allow_private_networks=allow_private_networks)
    try:
        yield
    finally:
        _image_guard.guard = outer


def download_image(session: requests.Session, url: str, *, timeout: float, types: tuple[str, ...],
                   max_bytes: int = MAX_IMAGE_BYTES) -> tuple[bytes, str]:
    """The image's bytes and content type, checked before any upload. Raises ImageProblem.

    Called on the adapter's session without credentials: a token only ever
    goes to its own network, never to the blog's image host. The whole download
    is bounded by ``timeout``; its addresses by the post's feed (``images_for``),
    public ones only when no feed is known.
    """
    import requests

    if urlsplit(url).scheme not in ("http", "https"):
        raise ImageProblem("the image URL is not http(s)")
    limit = f"{max_bytes / 1024 / 1024:g} MB"
    guard = getattr(_image_guard, "guard", None) or Guard("(unknown feed)", False)
    try:
        with deadline(timeout, guard=guard), session.get(url, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise ImageProblem(f"download answered {response.status_code}")
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type not in types:
                raise ImageProblem(f"content type {content_type or 'missing'!r} is not one of {', '.join(types)}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ImageProblem(f"{int(declared)} bytes is over the {limit} limit for images")
            received = bytearray()
            for chunk in response.iter_content(64 * 1024):
                received += chunk
                if len(received) > max_bytes:
                    raise ImageProblem(f"over the {limit} limit for images")
    except AddressRefused as exc:
        raise ImageProblem(str(exc)) from None
    except requests.Timeout as exc:
        raise ImageProblem(f"no complete answer within {timeout:g} s ({exc.__class__.__name__})") from None
    except requests.RequestException as exc:
        raise ImageProblem(f"download failed ({exc.__class__.__name__})") from None
    if not received:
        raise ImageProblem("the download was empty")
    return bytes(received), content_type

