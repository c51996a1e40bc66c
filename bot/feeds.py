"""Fetching a feed (HTTP with validators, or a local file) and parsing it into ``Post`` values.

Two halves, both used by the service and the CLI:

* ``fetch(url, state)`` gets the bytes: a conditional GET with the stored ``ETag`` and
  ``Last-Modified``, one wall-clock deadline for the whole exchange, at most 5 redirects, every
  address checked by the private-network guard (``bot/http.py``) and a body limit read in a
  stream. A 304, or a body whose sha256 equals the last one, comes back with ``body=None``
  so callers skip parsing. Local paths and ``file://`` URLs work the same way.
* ``parse(body, feed_url=...)`` turns the bytes into a ``ParsedFeed``: RSS 0.9x/1.0/2.0 and
  Atom through feedparser, JSON Feed 1.0/1.1 with ``json`` (feedparser 6.0.x has no JSON Feed
  support: it returns no entries and ``bozo=True``). Each entry becomes a ``Post`` with clean
  plain text and one canonical, clickable URL.

Every failure is a ``FeedError`` whose message is a sentence a blog owner can act on; it is
what ``autopost status`` shows next to the feed.

The HTTP client (``bot.feed_http``) and ``feedparser`` are imported inside the functions that
use them: the CLI must start fast for commands that never touch a feed.
"""
from __future__ import annotations

import errno
import hashlib
import html
import html.entities
import logging
import re
import threading
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import unquote, urljoin, urlsplit

from bot.models import AutopostError, FeedState, FetchResult, ParsedFeed, Post
from bot.values import plain_text
from bot.urls import canonical_url, display_url, is_web_url, normalise_url as _normalise_url  # noqa: F401  (canonical_url: re-exported)
from bot.patterns import lazy

if TYPE_CHECKING:
    from bot.feed_http import Answer, FeedClient

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024
_MAX_REASON = 100            # characters of the far end's own words kept in a feed's error

# What we can read, best first; */* last so a server that only knows text/xml still answers.
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
          "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")

_HTML_CONTENT_TYPES = ("text/html", "application/xhtml+xml")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg", ".bmp", ".heic")
_NOT_IMAGE_EXTENSIONS = (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".flac",
                         ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".pdf")


class FeedError(AutopostError):
    """A feed could not be fetched or read. ``str()`` is the plain explanation for ``status``."""

    def __init__(self, url: str, problem: str):
        from bot.logs import scrub

        problem = scrub(problem)          # a server's words may echo a credential
        self.url = url
        self.problem = problem
        super().__init__(problem)


# --------------------------------------------------------------------------- fetching


def fetch(url: str, state: FeedState | None, *, timeout: float = DEFAULT_TIMEOUT,
          max_bytes: int = DEFAULT_MAX_BYTES, client: FeedClient | None = None,
          allow_private_networks: bool = False) -> FetchResult:
    """Fetch ``url`` (http(s) URL, ``file://`` URL or local path), conditionally when ``state`` allows.

    Returns ``body=None`` when the feed is unchanged (304, or the same bytes as last time).
    Raises ``FeedError`` for every failure: timeout, refused connection, HTTP 4xx/5xx, too many
    redirects, a body over ``max_bytes``, a missing file, an exchange longer than ``timeout`` as a
    whole, a fetch led to a private address by a feed that is not itself on one.
    """
    path = local_path(url)
    if path is not None:
        return _fetch_file(url, path, state, max_bytes)
    from bot.values import url_problem

    problem = url_problem(url)
    if problem:
        raise FeedError(url, f"the feed URL {problem}")
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FeedError(url, f"unsupported URL scheme {scheme!r}; use http(s)://, file:// or a file path")
    return _fetch_http(url, state, timeout=timeout, max_bytes=max_bytes, client=client,
                       allow_private_networks=allow_private_networks)


def local_path(url: str) -> Path | None:
    """The file a feed "URL" names, or None when it is a network URL."""
    if url.lower().startswith("file://"):
        from urllib.request import url2pathname   # imports http.client: only when needed

        return Path(url2pathname(unquote(urlsplit(url).path)))
    if "://" in url:
        return None
    return Path(url).expanduser()


def _fetch_file(url: str, path: Path, state: FeedState | None, max_bytes: int) -> FetchResult:
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise FeedError(url, f"file not found: {path}") from None
    except IsADirectoryError:
        raise FeedError(url, f"{path} is a directory, not a feed file") from None
    except PermissionError:
        raise FeedError(url, f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise FeedError(url, f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    if len(body) > max_bytes:
        raise FeedError(url, f"file larger than {_size(max_bytes)}, stopped reading")
    content_type = "application/feed+json" if path.suffix.lower() == ".json" else ""
    return _result(url, state, body, status=200, etag=None, last_modified=None,
                   content_type=content_type, final_url=path.resolve().as_uri())


def _fetch_http(url: str, state: FeedState | None, *, timeout: float, max_bytes: int,
                client: FeedClient | None, allow_private_networks: bool = False) -> FetchResult:
    from bot import http
    from bot.feed_http import FeedClient

    own_client = client is None
    client = client if client is not None else FeedClient()
    # gzip and deflate only: what every feed server speaks, and what the body limit is sure to bound.
    headers = {"User-Agent": http.USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    log.debug("GET %s%s", display_url(url), " (conditional)" if len(headers) > 3 else "")
    try:
        # The deadline bounds connect, headers and body of every hop together; the guard checks
        # every address the fetch connects to, redirects included.
        guard = http.guard_for(url, allow_private_networks=allow_private_networks)
        with http.guarded(guard, timeout):
            response, final_url = _follow_redirects(client, url, headers, timeout)
            try:
                return _read_response(url, state, response, final_url, max_bytes)
            finally:
                response.close()        # kept alive after a whole body, closed after a refused one
    except FeedError:
        raise
    except http.AddressRefused as exc:
        raise FeedError(url, str(exc)) from None
    except Exception as exc:  # noqa: BLE001  (every transport failure becomes the feed's error)
        problem = _transport_problem(exc, timeout)
        if problem is None:
            raise
        raise FeedError(url, problem) from None
    finally:
        if own_client:
            client.close()


_REDIRECTS = (301, 302, 303, 307, 308)


def _follow_redirects(client: FeedClient, url: str, headers: dict[str, str], timeout: float) -> tuple[Answer, str]:
    """The first answer that is not a redirect, and the URL that gave it (at most MAX_REDIRECTS hops).

    As requests follows them: a relative Location is resolved against the hop, credentials
    stay only while the origin does (or upgrades from http to https on the same host).
    """
    origin = url
    credentials = client.credentials(url)
    downgraded = False
    for hop in range(MAX_REDIRECTS + 1):
        response = client.get(url, {**headers, **credentials}, timeout)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return response, url
        # A redirect's body is not wanted: closing drops the connection, never reads a hostile body.
        response.close()
        if hop == MAX_REDIRECTS:
            break
        target = urljoin(url, location.strip())
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            raise FeedError(origin, f"redirected to a URL that is not http(s): {_far_words(display_url(target))}")
        # Once https has sent the fetch down to plain http, no password goes out again, netrc's
        # included: on the server's word it would cross the network in clear.
        downgraded = downgraded or (urlsplit(url).scheme.lower(), urlsplit(target).scheme.lower()) == ("https", "http")
        if credentials and (downgraded or _leaves_origin(url, target)):
            credentials = {}
        if not downgraded:
            credentials = client.credentials(target) or credentials
        url = target
    raise FeedError(origin, f"more than {MAX_REDIRECTS} redirects")


def _leaves_origin(old: str, new: str) -> bool:
    a, b = urlsplit(old), urlsplit(new)
    if a.hostname != b.hostname:
        return True
    default = {"http": 80, "https": 443}
    a_port, b_port = a.port or default.get(a.scheme), b.port or default.get(b.scheme)
    upgrade = a.scheme == "http" and b.scheme == "https" and a_port == 80 and b_port == 443
    return not upgrade and (a.scheme, a_port) != (b.scheme, b_port)


def _transport_problem(exc: Exception, timeout: float) -> str | None:
    """What went wrong on the way, in the owner's words; None for an error that is not the transport's."""
    import http.client
    import socket
    import ssl

    from bot import http as transport
    from bot.feed_http import BrokenAnswer, DecodeError, ProxyRefused

    if transport.is_deadline(exc):
        return "interrupted: autopost was stopping" if getattr(exc, "aborted", False) else \
            f"timed out after {timeout:g} s"
    if isinstance(exc, TimeoutError):          # socket.timeout too
        return f"timed out after {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return "cannot connect: unknown host"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"cannot connect: TLS certificate not valid ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"cannot connect: TLS handshake failed ({exc.reason or exc.__class__.__name__})"
    if isinstance(exc, DecodeError):
        return str(exc)
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection broke before the whole body arrived"
    if isinstance(exc, BrokenAnswer):
        return f"the server's answer is not valid HTTP: {exc}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without an answer"
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return f"cannot connect: {_connection_reason(exc)}"
    if isinstance(exc, http.client.HTTPException):
        return f"the server's answer is not valid HTTP ({_http_fault(exc)})"
    if isinstance(exc, ProxyRefused):
        return f"cannot connect: {exc}"
    if isinstance(exc, OSError):               # a proxy's refusal of the tunnel quotes its reason phrase
        return f"cannot connect: {_far_words(str(exc)) or exc.__class__.__name__}"
    if isinstance(exc, ValueError):            # a host name IDNA cannot encode, a port out of range ...
        return f"the URL cannot be requested ({exc.__class__.__name__})"
    return None


def _read_response(url: str, state: FeedState | None, response: Answer, final_url: str,
                   max_bytes: int) -> FetchResult:
    etag = response.headers.get("ETag") or None
    last_modified = response.headers.get("Last-Modified") or None
    if response.status == 304:
        # Reading the (empty) body keeps the connection alive; an answer closed unread closes
        # it, and every unchanged poll would reconnect.
        response.read()
        # RFC 9110 §15.4.5: a 304 may repeat the validators; keep the stored ones otherwise.
        return FetchResult(
            url=url, status=304, body=None,
            etag=etag or (state.etag if state else None),
            last_modified=last_modified or (state.last_modified if state else None),
            body_hash=state.body_hash if state else None, final_url=final_url)
    if response.status >= 300:
        reason = _far_words(response.reason or "") or _status_phrase(response.status)
        raise FeedError(url, f"HTTP {response.status} {reason}".rstrip())
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and not response.headers.get("Content-Encoding"):
        raise FeedError(url, f"body larger than {_size(max_bytes)}, stopped reading")
    chunks: list[bytes] = []
    total = 0
    # Decoded as it streams: the limit applies to the bytes we would parse, not to a gzip bomb's.
    for chunk in response.chunks(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise FeedError(url, f"body larger than {_size(max_bytes)}, stopped reading")
        chunks.append(chunk)
    return _result(url, state, b"".join(chunks), status=response.status, etag=etag,
                   last_modified=last_modified, content_type=response.headers.get("Content-Type", ""),
                   final_url=final_url)


def _result(url: str, state: FeedState | None, body: bytes, *, status: int, etag: str | None,
            last_modified: str | None, content_type: str, final_url: str) -> FetchResult:
    body_hash = hashlib.sha256(body).hexdigest()
    unchanged = state is not None and state.body_hash == body_hash
    if unchanged:
        log.debug("%s: same body as last time, not parsing", url)
    return FetchResult(url=url, status=status, body=None if unchanged else body, etag=etag,
                       last_modified=last_modified, body_hash=body_hash, content_type=content_type,
                       final_url=final_url)


def _http_fault(exc: Exception) -> str:
    import http.client

    if isinstance(exc, http.client.UnknownProtocol):
        return f"unknown protocol {_far_words(str(exc))}"
    if isinstance(exc, http.client.BadStatusLine):      # its text is whatever the server sent first
        return "its first line is not an HTTP/1.x status line"
    if isinstance(exc, http.client.LineTooLong):
        return "a header line is too long"
    return _far_words(str(exc)) or exc.__class__.__name__      # "got more than 100 headers"


def _far_words(text: str) -> str:
    """Text the far end wrote (a reason phrase, a Location), as a feed's error may carry it: it is
    shown in status, stored and sent to the webhook, so one plain line of at most _MAX_REASON characters."""
    text = " ".join(plain_text(text).split())
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON].rstrip() + "…"


def _status_phrase(code: int) -> str:
    from http import HTTPStatus     # an enum of 60 members: made only when a feed answers with an error

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _connection_reason(exc: OSError) -> str:
    reasons = {errno.ECONNREFUSED: "connection refused", errno.ECONNRESET: "connection reset",
               errno.EHOSTUNREACH: "host unreachable", errno.ENETUNREACH: "network unreachable"}
    return reasons.get(exc.errno or 0) or (exc.strerror or exc.__class__.__name__).lower()


def _size(limit: int) -> str:
    """The limit as AUTOPOST_MAX_FEED_BYTES gives it: in bytes, in MB or KB only when that is exact."""
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} bytes"


# --------------------------------------------------------------------------- parsing


def parse(body: bytes, *, feed_url: str, base_url: str | None = None, content_type: str = "") -> ParsedFeed:
    """Parse feed bytes into posts, in the feed's own document order.

    ``base_url`` (usually ``FetchResult.final_url``) resolves relative links when the feed
    itself gives no base. Raises ``FeedError`` for an empty body, an HTML page or garbage.
    """
    if not body or not body.strip():
        raise FeedError(feed_url, "the feed is empty (the server sent no content)")
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, feed_url=feed_url, base_url=base_url)
    return _parse_xml_feed(body, feed_url=feed_url, base_url=base_url, content_type=content_type)


def _looks_like_json(body: bytes, content_type: str) -> bool:
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start == b"{" or ("json" in content_type.lower() and start in (b"{", b"["))


def _looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]


# Tests turn the fast route off to compare both routes on the same documents.
FAST_PARSER = True


def _fast_read(text: bytes, fast: bool | None, known: Any = ()) -> Any:
    if not (FAST_PARSER if fast is None else fast):
        return None
    from bot import fastparse

    return fastparse.read(text, known)


def _parse_xml_feed(body: bytes, *, feed_url: str, base_url: str | None, content_type: str = "",
                    fast: bool | None = None) -> ParsedFeed:
    # We decode, not feedparser: given bytes that are not all valid in the declared charset,
    # feedparser re-decodes the whole document as windows-1252, and one stray byte in an old
    # entry garbles every other ("CafÃ© dÃ©jÃ vu"). Decoded here, only the bad bytes become
    # U+FFFD, and the entry holding them is held back (see ``text_problem``).
    # feedparser's HTML sanitiser and relative-URI rewriting cost most of a parse; we turn
    # every HTML field into plain text and resolve the links we use ourselves.
    text = _as_utf8(body, content_type)
    # RSS 2.0 documents are read by bot/fastparse.py, which gives feedparser's values ~20x
    # faster and hands back every document shape it does not reproduce exactly; feedparser
    # reads those. The items of the feed's last parse are not parsed again: see _memo.
    with _memo_lock:
        last = _memo.get(feed_url)
    fast_read = _fast_read(text, fast, last[1] if last else ()) if text is not body else None
    if fast_read is not None and not fast_read.items and _looks_like_html(body):
        fast_read = None              # no entries and HTML near the top: feedparser's path says why
    if fast_read is not None:
        from bot.fastparse import Refused

        feed_title = _text(fast_read.feed.get("title_detail"), fast_read.feed.get("title"))
        site = _site_base(fast_read.feed.get("link"), base_url, feed_url)
        language = language_tag(fast_read.feed.get("language"))
        context = (feed_title, site, base_url or feed_url, fast_read.scope, language)
        if last is not None and last[0] != context:
            last = None               # another feed title, site, base, scope or language: read all again
            if any(item is None for item in fast_read.items):
                fast_read = _fast_read(text, fast)
    if fast_read is not None:
        try:
            posts = _posts_remembered(fast_read, feed_url=feed_url, feed_title=feed_title, site=site,
                                      base=base_url or feed_url, language=language, context=context,
                                      last=last[1] if last else {})
        except Refused:
            pass                      # an item shape only feedparser reads as feedparser does
        else:
            return ParsedFeed(title=feed_title, posts=_unique_keys(posts))
    import feedparser

    parsed = feedparser.parse(text, sanitize_html=False, resolve_relative_uris=False)
    entries = parsed.entries
    if not entries:
        if _looks_like_html(body):
            raise FeedError(feed_url, "this is an HTML page, not a feed (check the feed URL)")
        if parsed.bozo:
            # Malformed and nothing usable in it: an error. (A well-formed feed with no entries is fine.)
            reason = _bozo_reason(parsed.get("bozo_exception"))
            kind = "the XML is broken" if parsed.get("version") else "neither RSS, Atom nor JSON Feed"
            raise FeedError(feed_url, f"not a feed: {kind} ({reason})")
    warning = None
    if parsed.bozo:
        warning = f"the feed is malformed but readable: {_bozo_reason(parsed.get('bozo_exception'))}"
        log.warning("%s: %s", feed_url, warning)

    feed = parsed.feed
    feed_title = _text(feed.get("title_detail"), feed.get("title"))
    site = _site_base(feed.get("link"), base_url, feed_url)
    language = language_tag(feed.get("language"))
    posts = [_post_from_entry(entry, feed_url=feed_url, feed_title=feed_title, site=site,
                              base=base_url or feed_url, language=language) for entry in entries]
    if parsed.bozo:
        # A broken document (cut off mid-item, say) ends in half an entry: only whole entries
        # count, or the half one is posted as new and never undone when the full feed returns.
        complete = [post for post, entry in zip(posts, entries)
                    if post.url and (post.title or (entry.get("id") or "").strip())]
        if len(complete) < len(posts):
            log.warning("%s: %d incomplete entr%s in the malformed feed ignored", feed_url,
                        len(posts) - len(complete), "y" if len(posts) - len(complete) == 1 else "ies")
        posts = complete
    return ParsedFeed(title=feed_title, posts=_unique_keys(posts), warning=warning)


# The Posts of the last document of each recently parsed feed, by a digest of each item's
# bytes: a changed feed is mostly the items of the last poll, and reading an item and turning
# its HTML into text is most of a parse. Bounded in posts, least recently parsed feeds first out.
MEMO_MAX_POSTS = 5000
_memo: dict[str, tuple[tuple, dict[bytes, Post]]] = {}
_memo_lock = threading.Lock()


def _posts_remembered(document: Any, *, feed_url: str, feed_title: str, site: str, base: str,
                      language: str = "", context: tuple = (), last: dict[bytes, Post] | None = None
                      ) -> list[Post]:
    """The fast route's Posts, reusing the Post of an item whose bytes, namespace declarations
    and feed context are those of an item of the feed's last parse (raises ``Refused``).

    ``last`` is the feed's remembered Posts when ``context`` is the one they were made in; an
    item ``fastparse.read`` left unread (None) is one of them.
    """
    from bot.fastparse import entry

    def build(item: Any) -> Post:
        return _post_from_entry(entry(item, document.base), feed_url=feed_url, feed_title=feed_title,
                                site=site, base=base, language=language)

    if document.digests is None:
        return [build(item) for item in document.items]
    last = last or {}
    now: dict[bytes, Post] = {}
    posts = []
    for item, digest in zip(document.items, document.digests):
        if digest is None:
            post = build(item)
        else:
            post = last.get(digest) or now.get(digest) or build(item)
            now[digest] = post
        posts.append(post)
    with _memo_lock:
        _memo.pop(feed_url, None)
        _memo[feed_url] = (context, now)            # inserted again: the most recent last
        total = sum(len(remembered) for _, remembered in _memo.values())
        while total > MEMO_MAX_POSTS and _memo:
            oldest = next(iter(_memo))
            total -= len(_memo.pop(oldest)[1])
    return posts


_XML_DECLARATION = re.compile(rb"^(<\?xml\b[^>]*?\bencoding\s*=\s*)([\"'])([A-Za-z0-9._:\-]+)\2")
_HTTP_CHARSET = lazy(r"charset\s*=\s*[\"']?([A-Za-z0-9._:\-]+)", re.IGNORECASE)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# Declared names whose documents are in fact written in a superset: GB2312 feeds use GBK
# characters; "us-ascii" feeds carry UTF-8.
_CHARSET_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "ascii": "utf-8",
                      "us-ascii": "utf-8"}


def _as_utf8(body: bytes, content_type: str) -> bytes:
    """The document re-encoded as UTF-8 and declared so, invalid bytes replaced by U+FFFD.

    The charset is the byte-order mark's, else the XML declaration's (servers often send a
    wrong HTTP charset, the document's own declaration is the better witness), else the HTTP
    header's, else UTF-8 (the XML default). An unknown charset name is left to feedparser.
    """
    charset, start = None, 0
    for bom, name in _BOMS:
        if body.startswith(bom):
            charset, start = name, len(bom)
            break
    if charset is None and body[:4] in (b"<\x00?\x00", b"\x00<\x00?"):    # UTF-16 without a BOM
        charset = "utf-16-le" if body[0] == 0x3C else "utf-16-be"
    head = body[start:start + 1024]
    if charset and charset.startswith(("utf-16", "utf-32")):
        head = body[start:start + 4096].decode(charset, "replace").encode("ascii", "replace")
    declared = _XML_DECLARATION.match(head.lstrip())
    if charset is None and declared:
        charset = declared.group(3).decode("ascii").lower()
    if charset is None:
        found = _HTTP_CHARSET.search(content_type or "")
        charset = found.group(1).lower() if found else "utf-8"
    charset = _CHARSET_SUPERSETS.get(charset, charset)
    if charset == "utf-8" and declared and body[:1] == b"<" and declared.group(0).isascii():
        # Valid UTF-8 that opens with its declaration: the bytes decoded and encoded again are
        # the bytes, so only the declared name is replaced (as below), without copying the
        # document through str twice. An ASCII declaration reads the same as bytes and as str.
        try:
            body.decode("utf-8", "strict")
        except UnicodeDecodeError:
            pass
        else:
            return b"".join((body[:declared.start(3)], b"utf-8", body[declared.end(3):]))
    try:
        text = body[start:].decode(charset, "strict")
    except LookupError:
        return body
    except UnicodeDecodeError:
        try:
            text = body[start:].decode("utf-8", "strict")     # a declaration that lies about UTF-8
        except UnicodeDecodeError:
            text = body[start:].decode(charset, "replace")
    stripped = text.lstrip()
    if stripped.startswith("<?xml"):
        text = re.sub(r"^(<\?xml\b[^>]*?\bencoding\s*=\s*)([\"'])[A-Za-z0-9._:\-]+\2", r"\1\2utf-8\2",
                      stripped, count=1)
    return text.encode("utf-8")


# A plausible BCP-47 tag (RFC 5646): a 2-8 letter primary subtag, then subtags of 1-8 letters or
# digits. Anything else a feed writes there ("English", "en_US", markup) is not sent on: a
# network refuses a record whose language is not a tag (Bluesky's ``langs`` has format language).
_LANGUAGE_TAG = lazy(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


def language_tag(value: Any) -> str:
    """``value`` stripped when it is a plausible BCP-47 language tag, else ""."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    return value if _LANGUAGE_TAG.fullmatch(value) else ""


def _bozo_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown problem"
    message = getattr(exc, "getMessage", None)
    text = message() if callable(message) else str(exc)
    return " ".join(text.split())[:200] or exc.__class__.__name__


def _site_base(feed_link: str | None, base_url: str | None, feed_url: str) -> str:
    """What relative entry links are resolved against: the feed's own link, else where it came from."""
    fallback = base_url or feed_url
    if feed_link:
        return urljoin(fallback, feed_link.strip())
    return fallback


def _post_from_entry(entry: Any, *, feed_url: str, feed_title: str, site: str, base: str,
                     language: str = "") -> Post:
    # feedparser resolves xml:base itself; what is still relative is resolved against where
    # the document came from. Never against the channel <link>: it is not the entry's, and
    # may be anything (the home page, a javascript: URL). A local file is no web base.
    own_link = entry.get("feedburner_origlink") or entry.get("link") or ""
    url = _web_url(own_link, base)

    title = _text(entry.get("title_detail"), entry.get("title"))
    summary = _summary_text(entry)
    content_html = _first_html(entry)
    key = (entry.get("id") or "").strip() or url or _hash_key(entry.get("title"), _raw_content(entry)
                                                              if not entry.get("title") else "")

    return Post(
        feed_url=feed_url,
        key=key,
        # "" when the entry has no link of its own: the ledger records it as skipped, "no link".
        url=url,
        title=title,
        summary=summary,
        author=_author(entry),
        categories=_dedupe(_clean_plain(tag.get("term") or tag.get("label") or "")
                           for tag in entry.get("tags") or ()),
        image_url=_entry_image(entry, content_html, site),
        feed_title=feed_title,
        published=_struct_time_utc(entry.get("published_parsed") or entry.get("updated_parsed")),
        language=language,
    )


def _summary_text(entry: Any) -> str:
    """The summary when the feed has one, else the content; boilerplate removed."""
    detail = entry.get("summary_detail")
    text = _text(detail, detail.get("value")) if detail else ""
    if not text:
        for content in entry.get("content") or ():
            text = _text(content, content.get("value"))
            if text:
                break
    if not text and entry.get("summary"):
        # feedparser copies the content into "summary" without a summary_detail.
        text = _html_to_text(entry.get("summary"))
    return strip_boilerplate(text)


def _first_html(entry: Any) -> str:
    for content in entry.get("content") or ():
        if _is_html_type(content.get("type")):
            return content.get("value") or ""
    detail = entry.get("summary_detail")
    if detail and _is_html_type(detail.get("type")):
        return detail.get("value") or ""
    return ""


def _raw_content(entry: Any) -> str:
    contents = entry.get("content") or ()
    return (contents[0].get("value") if contents else None) or entry.get("summary") or ""


def _author(entry: Any) -> str:
    detail = entry.get("author_detail") or {}
    return _clean_plain(detail.get("name") or entry.get("author") or "")


def _entry_image(entry: Any, content_html: str, site: str) -> str | None:
    candidates: list[str | None] = []
    media = [m for m in entry.get("media_content") or () if _is_image(m.get("url"), m.get("type"), m.get("medium"))]
    # Several sizes of one picture (the Guardian sends 140 and 460 px): take the widest.
    media.sort(key=lambda m: -_int(m.get("width")))
    candidates += [m.get("url") for m in media]
    candidates += [t.get("url") for t in entry.get("media_thumbnail") or ()]
    candidates += [e.get("href") for e in entry.get("enclosures") or ()
                   if (e.get("type") or "").lower().startswith("image/")]
    for candidate in candidates:
        image = _image_url(candidate, site)
        if image:
            return image
    # Last, as it costs an HTML parse of the content: only when nothing above named an image.
    return _image_url(first_image_src(content_html), site)


def _is_image(url: str | None, mime: str | None, medium: str | None) -> bool:
    if not url:
        return False
    if medium:
        return medium.lower() == "image"
    if mime:
        return mime.lower().startswith("image/")
    # Neither type nor medium given (common): trust the file name unless it says audio/video.
    return not urlsplit(url).path.lower().endswith(_NOT_IMAGE_EXTENSIONS)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _struct_time_utc(value: Any) -> datetime | None:
    # feedparser's *_parsed values are time.struct_time already converted to UTC.
    if not value:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- JSON Feed


def _parse_json_feed(body: bytes, *, feed_url: str, base_url: str | None) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (https://www.jsonfeed.org/version/1.1/): items with id, url,
    external_url, title, content_html/content_text, summary, image, banner_image,
    date_published/date_modified, author (1.0)/authors (1.1), tags, attachments."""
    import json

    try:
        # JSON Feed is UTF-8 (RFC 8259 §8.1); a stray invalid byte spoils only its own item.
        document = json.loads(body.decode("utf-8-sig", "replace"))
    except json.JSONDecodeError as exc:
        raise FeedError(feed_url, f"not a feed: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise FeedError(feed_url, "not a feed: JSON without an \"items\" list (not a JSON Feed)")
    warning = None
    version = str(document.get("version") or "")
    if not version.startswith("https://jsonfeed.org/version/"):
        warning = f"the JSON Feed version is missing or unknown ({version or 'none'}); read it anyway"
        log.warning("%s: %s", feed_url, warning)

    feed_title = _plain_or_guess(_str(document.get("title")))
    site = _site_base(_str(document.get("home_page_url")) or None, base_url, feed_url)
    feed_authors = _json_authors(document)
    language = language_tag(document.get("language"))
    posts = [_post_from_json_item(item, feed_url=feed_url, feed_title=feed_title, site=site,
                                  feed_authors=feed_authors, base=base_url or feed_url, language=language)
             for item in document["items"] if isinstance(item, dict)]
    return ParsedFeed(title=feed_title, posts=_unique_keys(posts), warning=warning)


def _post_from_json_item(item: dict, *, feed_url: str, feed_title: str, site: str,
                         feed_authors: str, base: str, language: str = "") -> Post:
    item_id = _str(item.get("id")).strip()
    link = _str(item.get("url")).strip()
    if not link and re.match(r"(?i)https?://", item_id):
        link = item_id           # the spec suggests ids be permalinks
    if not link:
        link = _str(item.get("external_url")).strip()
    url = _web_url(link, base)

    content_html = _str(item.get("content_html"))
    content_text = _str(item.get("content_text"))
    summary = _plain_or_guess(_str(item.get("summary")))
    if not summary:
        summary = _plain_or_guess(content_text) if content_text.strip() else _html_to_text(content_html)

    images = [item.get("image"), item.get("banner_image")]
    images += [a.get("url") for a in item.get("attachments") or ()
               if isinstance(a, dict) and _str(a.get("mime_type")).lower().startswith("image/")]
    images.append(first_image_src(content_html))
    image_url = next((u for u in (_image_url(_str(c), site) for c in images) if u), None)

    tags = item["tags"] if isinstance(item.get("tags"), list) else []
    title = _plain_or_guess(_str(item.get("title")))
    return Post(
        feed_url=feed_url,
        key=item_id or url or _hash_key(item.get("title"), (content_html or content_text)
                                        if not item.get("title") else ""),
        url=url,
        title=title,
        summary=strip_boilerplate(summary),
        author=_json_authors(item) or feed_authors,
        categories=_dedupe(_clean_plain(_str(t)) for t in tags),
        image_url=image_url,
        feed_title=feed_title,
        published=_iso_utc(item.get("date_published")) or _iso_utc(item.get("date_modified")),
        language=language,
    )


def _json_authors(obj: dict) -> str:
    authors = obj.get("authors")
    if not isinstance(authors, list) or not authors:
        authors = [obj.get("author")]        # JSON Feed 1.0
    names = [_clean_plain(_str(a.get("name"))) for a in authors if isinstance(a, dict)]
    return ", ".join(n for n in names if n)


def _iso_utc(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)   # RFC 3339 requires an offset; assume UTC
    return moment.astimezone(timezone.utc)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- URLs


def _web_url(link: str, site: str) -> str:
    """The canonical form of an entry's link, or "" when it has none that a browser opens
    (``javascript:``, ``mailto:``, or relative with no web base, as in a local file feed)."""
    if not link or not link.strip():
        return ""
    url = canonical_url(link, site)
    return url if is_web_url(url) else ""


def _image_url(url: str | None, base: str) -> str | None:
    if not url or not url.strip():
        return None
    absolute = _normalise_url(url, base, drop_tracking=False)
    return absolute if absolute.lower().startswith(("http://", "https://")) else None



# --------------------------------------------------------------------------- text


class _TextExtractor(HTMLParser):
    """HTML → plain text: drops script/style, turns block boundaries into spaces, decodes
    character references exactly once (``convert_charrefs``), remembers the first <img src>."""

    _SKIP = {"script", "style", "template", "noscript", "head", "title"}
    _BREAKS = {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
               "blockquote", "pre", "hr", "section", "article", "figure", "figcaption", "table", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.first_image: str | None = None
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append(" ")
        elif tag == "img" and self.first_image is None:
            values = dict(attrs)
            # A 1×1 image is a tracking pixel (Medium appends one to every post), not a picture.
            if values.get("src") and not (values.get("width") == "1" or values.get("height") == "1"):
                self.first_image = values["src"]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self._SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _extract(markup: str) -> _TextExtractor:
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return extractor


def _html_to_text(markup: str | None) -> str:
    if not markup:
        return ""
    return _collapse("".join(_extract(markup).parts))


def first_image_src(markup: str | None) -> str | None:
    """The first real ``<img src>`` in an HTML fragment, as written (maybe relative)."""
    if not markup or "<img" not in markup.lower():
        return None
    return _extract(markup).first_image


def _collapse(text: str) -> str:
    return " ".join(plain_text(text).split())


_CHARREF = lazy(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _plain_or_guess(text: str) -> str:
    """A field declared plain text. Taken literally (a title may say ``a<b`` or ``<script>``),
    except that well-formed character references in text without any ``<`` are decoded once:
    generators double-escape (Movable Type writes ``&nbsp;`` into text summaries; JSON feeds
    carry WordPress's ``&#8217;``), just as feedparser itself guesses for RSS."""
    if "<" not in text and _CHARREF.search(text):
        text = _CHARREF.sub(lambda m: html.unescape(m.group(0)), text)
    return _collapse(text)


def _clean_plain(text: str) -> str:
    return _plain_or_guess(text or "")


def _is_html_type(content_type: str | None) -> bool:
    return (content_type or "").lower() in _HTML_CONTENT_TYPES


def _text(detail: Any, value: str | None) -> str:
    """Plain text from a feedparser value and its *_detail: markup stripped only when the feed
    marks it as HTML/XHTML.

    feedparser docs (reference-entry-content / reference-feed-title_detail): "For Atom feeds,
    the content type is taken from the type attribute, which defaults to text/plain ... For
    RSS feeds, the content type is auto-determined by inspecting the content"; HTML values
    are already sanitised (scripts removed) by feedparser.
    """
    if not value:
        return ""
    if detail and _is_html_type(detail.get("type")):
        return _html_to_text(value)
    return _plain_or_guess(value)


# WordPress appends "The post <title> appeared first on <site>." to excerpts (Yoast and many
# themes do it for feeds) and ends excerpts with "[…]"; themes add "Continue reading →".
_BOILERPLATE_TAIL = lazy(
    r"""\s*(?:
        The\ post\ .{1,400}?\ appeared\ first\ on\ .{1,200}?\.?
      | \[(?:…|\.\.\.|&hellip;)\]
      | (?-i:Continue\ reading|Keep\ reading|Read\ more|Read\ the\ rest)
        (?:[^.!?]{0,200}?(?:→|»|…|\.\.\.))?
    )\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)


def strip_boilerplate(text: str) -> str:
    """Remove trailing feed boilerplate ("The post … appeared first on …", "[…]", "Continue reading →")."""
    for _ in range(4):
        shorter = _BOILERPLATE_TAIL.sub("", text).rstrip()
        if shorter == text:
            break
        text = shorter
    return text


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    result = []
    for value in values:
        folded = value.casefold()
        if value and folded not in seen:
            seen.add(folded)
            result.append(value)
    return tuple(result)


def _unique_keys(posts: list[Post]) -> tuple[Post, ...]:
    """Make every key unique within one document, keeping document order.

    Some feeds give two different entries the same guid (Scripting News does). The ledger
    knows a post by its key, so the second would be lost. The entry published first keeps the
    plain key (it is the one a previous poll saw); later ones get ``key#published`` — stable
    across polls, unlike a position. An exact copy (same key, title, summary, url, date) is one
    entry written twice and is dropped.
    """
    groups: dict[str, list[int]] = {}
    for index, post in enumerate(posts):
        groups.setdefault(post.key, []).append(index)
    renamed: dict[int, Post] = {}
    dropped: set[int] = set()
    taken = {post.key for post in posts}
    for key, indexes in groups.items():
        if len(indexes) == 1:
            continue
        seen_copies: set[tuple] = set()
        # Oldest first; without dates the last in the document (feeds list newest first).
        order = sorted(indexes, key=lambda i: (posts[i].published or datetime.max.replace(tzinfo=timezone.utc), -i))
        for rank, index in enumerate(order):
            post = posts[index]
            fingerprint = (post.title, post.summary, post.url, post.published)
            if fingerprint in seen_copies:
                dropped.add(index)
                continue
            seen_copies.add(fingerprint)
            if rank == 0:
                continue
            suffix = post.published.isoformat() if post.published else _hash_key(post.title, post.summary)[7:23]
            new_key = f"{key}#{suffix}"
            if new_key in taken:
                new_key = f"{new_key}#{_hash_key(post.title, post.summary)[7:23]}"
            taken.add(new_key)
            renamed[index] = post._replace(key=new_key)
        log.debug("%d entries share the key %r; made them unique", len(indexes), key)
    return tuple(renamed.get(i, post) for i, post in enumerate(posts) if i not in dropped)


def _hash_key(title: Any, content: Any) -> str:
    """Key for an entry with neither id nor link: its title when it has one (a text that changes
    at every poll must not make a new entry at every poll), else its text."""
    material = f"{title or ''}\n{content or ''}".encode("utf-8", "replace")
    return "sha256:" + hashlib.sha256(material).hexdigest()


# --------------------------------------------------------------------------- text that cannot go out

# UTF-8 read as windows-1252 or Latin-1: the lead byte of a two- or three-byte sequence becomes
# "Ã", "Â", "â", "Ð" ... and each continuation byte (0x80-0xBF) one of these characters.
_CONTINUATION = "".join(sorted({chr(b) for b in range(0x80, 0xC0)}
                               | {bytes([b]).decode("cp1252", "ignore") for b in range(0x80, 0xC0)} - {""}))
_MOJIBAKE = lazy("[\u00c2-\u00c5\u00ce\u00cf\u00d0\u00d1\u00d8\u00d9][%s]|\u00e2[%s]{2}"
                       % (re.escape(_CONTINUATION), re.escape(_CONTINUATION)))
_ENTITY_REFERENCE = lazy(r"&([A-Za-z][A-Za-z0-9._-]{0,63});")


def text_problem(post: Post) -> str | None:
    """Why the post's text cannot go out as it is ("undecodable text: ..."), or None.

    U+FFFD where bytes could not be decoded; an entity reference that is no HTML entity (what a
    refused entity expansion leaves, ``&lol9;``); UTF-8 that was read as windows-1252 ("CafÃ©").
    A named HTML entity (``&lt;``) is left alone: a post may quote markup on purpose.
    """
    for field, text in (("title", post.title), ("summary", post.summary)):
        if "\ufffd" in text:
            return f"undecodable text: the {field} has bytes that are not valid in the feed's charset"
        unknown = next((m.group(0) for m in _ENTITY_REFERENCE.finditer(text)
                        if m.group(1) + ";" not in html.entities.html5), None)
        if unknown:
            return f"undecodable text: the {field} holds the undefined entity {unknown}"
        for match in _MOJIBAKE.finditer(text):
            if _is_mojibake(match.group(0)):
                return f"undecodable text: the {field} is UTF-8 read as another charset ({match.group(0)!r})"
    return None


def _is_mojibake(sequence: str) -> bool:
    for codec in ("cp1252", "latin-1"):
        try:
            sequence.encode(codec).decode("utf-8")
            return True
        except UnicodeError:
            continue
    return False
