"""A local feed server and feed builders for tests.

``FeedServer`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1, port 0, in a daemon thread.
Each path is told what to do: ``serve`` a feed (with ``ETag``/``Last-Modified`` and real 304s
to matching conditional requests), ``respond`` with a canned fault, ``hang`` until the server
closes, or ``redirect``. Every request is recorded (path, headers, status answered) so tests
assert on what the client really sent.

``rss_feed``, ``atom_feed`` and ``json_feed`` build the same list of items as RSS 2.0, Atom
1.0 or JSON Feed 1.1. Item keys: ``title``, ``link``, ``guid``, ``pubDate`` (datetime),
``description`` (HTML), ``content`` (HTML), ``categories`` (list), ``image`` (URL), ``author``.
Titles are plain text and are escaped; missing keys leave their element out.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import pytest

from tests.fakes.server import FakeHandler, FakeServer, bind


@dataclass
class RecordedRequest:
    path: str
    headers: dict = field(default_factory=dict)
    status: int = 0


@dataclass
class _Route:
    kind: str                       # serve | respond | hang | redirect
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    compress: bool = False


# Last-Modified values start here and grow one minute per serve(), so they never go backwards.
_EPOCH = datetime(2026, 11, 1, tzinfo=timezone.utc)


class FeedServer(FakeServer):
    """Serves canned feeds and faults on http://127.0.0.1:PORT until ``close()``."""

    thread_name = "feed-server"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._serves = 0
        super().__init__()

    def handler(self) -> type[FakeHandler]:
        return bind(_Handler, self)

    def url(self, path: str = "/feed.xml") -> str:
        return self.base_url + path

    def serve(self, path: str, body: bytes, *, content_type: str = "application/rss+xml; charset=utf-8",
              validators: bool = True, compress: bool = False) -> None:
        """Serve ``body`` at ``path``; with validators, answer 304 to a matching conditional GET.

        ``compress=True`` sends it gzip-encoded (``Content-Encoding: gzip``) to clients that accept it.
        """
        with self._lock:
            self._serves += 1
            route = _Route("serve", 200, body, {"Content-Type": content_type}, compress=compress)
            if validators:
                route.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                route.last_modified = format_datetime(_EPOCH + timedelta(minutes=self._serves), usegmt=True)
            self._routes[path] = route

    def respond(self, path: str, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        """Answer every request to ``path`` with this status, body and headers (a canned fault)."""
        with self._lock:
            self._routes[path] = _Route("respond", status, body, dict(headers or {}))

    def hang(self, path: str) -> None:
        """Accept requests to ``path`` and never answer until ``close()`` (the client must time out)."""
        with self._lock:
            self._routes[path] = _Route("hang")

    def redirect(self, path: str, to: str) -> None:
        """302 from ``path`` to ``to`` (a path on this server or a full URL)."""
        with self._lock:
            self._routes[path] = _Route("redirect", 302, headers={"Location": to})

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in list(self.requests) if urlsplit(r.path).path == path]

    # -- called from handler threads

    def _route(self, path: str) -> _Route | None:
        with self._lock:
            return self._routes.get(urlsplit(path).path)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(FakeHandler):
    fake: FeedServer
    protocol_version = "HTTP/1.0"           # one request per connection, as the feed tests expect

    def respond(self, method: str, path: str, raw: bytes) -> None:
        server = self.fake
        route = server._route(self.path)
        record = RecordedRequest(self.path, dict(self.headers.items()))
        if route is None:
            self._send(record, 404, b"not found", {"Content-Type": "text/plain"})
        elif route.kind == "hang":
            record.status = 0
            server._record(record)
            server._released.wait()
        elif route.kind == "serve":
            self._serve(record, route)
        else:
            self._send(record, route.status, route.body, route.headers)

    def _serve(self, record: RecordedRequest, route: _Route) -> None:
        validators = {}
        if route.etag:
            validators = {"ETag": route.etag, "Last-Modified": route.last_modified}
            if _not_modified(self.headers, route):
                self._send(record, 304, b"", validators)
                return
        body, headers = route.body, {**route.headers, **validators}
        if route.compress and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(record, 200, body, headers)

    def _send(self, record: RecordedRequest, status: int, body: bytes, headers: dict) -> None:
        server = self.fake
        record.status = status
        server._record(record)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304 and not any(name.lower() == "content-length" for name in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 304:
            self.wfile.write(body)


def _not_modified(headers, route: _Route) -> bool:
    # RFC 9110 §13.1.2/§13.2.2: If-None-Match wins; If-Modified-Since counts only without it.
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return route.etag in tags or "*" in tags
    since = headers.get("If-Modified-Since")
    if since and route.last_modified:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(route.last_modified)
        except (TypeError, ValueError):
            return False
    return False


@pytest.fixture
def feed_server():
    server = FeedServer()
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------- builders


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def rss_feed(items: list[dict], *, title: str = "Example Tech News",
             link: str = "https://blog.example.com/", language: str | None = None) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator and media:content, like WordPress writes it."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
           ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">',
           "<channel>", f"<title>{escape(title)}</title>", f"<link>{escape(link)}</link>",
           "<description>Test feed</description>"]
    if language is not None:
        out.append(f"<language>{escape(language)}</language>")
    for item in items:
        out.append("<item>")
        if "title" in item:
            out.append(f"<title>{escape(item['title'])}</title>")
        if "link" in item:
            out.append(f"<link>{escape(item['link'])}</link>")
        if "guid" in item:
            out.append(f'<guid isPermaLink="false">{escape(item["guid"])}</guid>')
        if "pubDate" in item:
            out.append(f"<pubDate>{format_datetime(_utc(item['pubDate']))}</pubDate>")
        if "author" in item:
            out.append(f"<dc:creator>{escape(item['author'])}</dc:creator>")
        for category in item.get("categories", ()):
            out.append(f"<category>{escape(category)}</category>")
        if "description" in item:
            out.append(f"<description>{escape(item['description'])}</description>")
        if "content" in item:
            out.append(f"<content:encoded>{escape(item['content'])}</content:encoded>")
        if "image" in item:
            out.append(f'<media:content url={quoteattr(item["image"])} medium="image" type="image/jpeg"/>')
        out.append("</item>")
    out += ["</channel>", "</rss>"]
    return "\n".join(out).encode("utf-8")


def atom_feed(items: list[dict], *, title: str = "Example Tech News",
              link: str = "https://blog.example.com/") -> bytes:
    """Atom 1.0: text titles, HTML summary/content, image as an enclosure link."""
    updated = max((_utc(i["pubDate"]) for i in items if "pubDate" in i), default=_EPOCH)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<feed xmlns="http://www.w3.org/2005/Atom">',
           f'<title type="text">{escape(title)}</title>',
           f'<link rel="alternate" type="text/html" href={quoteattr(link)}/>',
           f"<id>{escape(link)}</id>", f"<updated>{updated.isoformat()}</updated>"]
    for item in items:
        out.append("<entry>")
        if "title" in item:
            out.append(f'<title type="text">{escape(item["title"])}</title>')
        if "link" in item:
            out.append(f'<link rel="alternate" type="text/html" href={quoteattr(item["link"])}/>')
        out.append(f"<id>{escape(item.get('guid') or item.get('link') or '')}</id>")
        if "pubDate" in item:
            stamp = _utc(item["pubDate"]).isoformat()
            out += [f"<published>{stamp}</published>", f"<updated>{stamp}</updated>"]
        if "author" in item:
            out.append(f"<author><name>{escape(item['author'])}</name></author>")
        for category in item.get("categories", ()):
            out.append(f"<category term={quoteattr(category)}/>")
        if "description" in item:
            out.append(f'<summary type="html">{escape(item["description"])}</summary>')
        if "content" in item:
            out.append(f'<content type="html">{escape(item["content"])}</content>')
        if "image" in item:
            out.append(f'<link rel="enclosure" type="image/jpeg" href={quoteattr(item["image"])}/>')
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


def json_feed(items: list[dict], *, title: str = "Example Tech News",
              link: str = "https://blog.example.com/") -> bytes:
    """JSON Feed 1.1. ``description`` becomes ``summary`` only when it has no markup (the
    spec's summary is plain text); the HTML goes to ``content_html``."""
    out_items = []
    for item in items:
        entry: dict = {"id": item.get("guid") or item.get("link") or ""}
        if "link" in item:
            entry["url"] = item["link"]
        if "title" in item:
            entry["title"] = item["title"]
        html_body = item.get("content") or item.get("description")
        entry["content_html"] = html_body or ""
        if item.get("description") and "<" not in item["description"]:
            entry["summary"] = item["description"]
        if "pubDate" in item:
            entry["date_published"] = _utc(item["pubDate"]).isoformat()
        if "author" in item:
            entry["authors"] = [{"name": item["author"]}]
        if item.get("categories"):
            entry["tags"] = list(item["categories"])
        if "image" in item:
            entry["image"] = item["image"]
        out_items.append(entry)
    document = {"version": "https://jsonfeed.org/version/1.1", "title": title, "home_page_url": link,
                "items": out_items}
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
