"""The one URL canonicaliser: "is this the same article?", for the feeds and every adapter.

Two forms of a URL:

* ``canonical_url(url)`` is what is stored and shared: one clickable absolute URL, tracking
  parameters (``utm_*``, ``fbclid`` ...) removed, IDN host in punycode, spaces and non-ASCII
  percent-encoded, default port dropped. Everything else, the scheme and ``www.`` included, is
  kept as the blog wrote it: it is the link people will click.
* ``identity(url)`` is what is compared: the canonical URL without its scheme, without a
  leading ``www.``, without a trailing slash, without tracking parameters and without
  cache-busters, the remaining parameters sorted. A blog that moves to https, gains or drops
  ``www.``, or adds a trailing slash keeps every article's identity; so does a link whose
  ``?v=2`` changes at every poll. Parameters that name a post (WordPress's ``?p=123``, ``?id=``,
  ``?article=``) are kept, so two posts stay two.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from bot.patterns import lazy

# Query parameters that only say where a click came from: they are dropped from post URLs so
# the same article shared twice is the same URL (DESIGN.md, "posts" table).
_TRACKING_EXACT = {"fbclid", "gclid", "mc_cid", "mc_eid"}
_TRACKING_PREFIXES = ("utm_",)

# More click trackers, removed like the ones above: ad and mail campaign ids, and feed-source
# tags such as Medium's ``?source=rss-…`` that a feed adds to every link (only with a value
# that names a feed or a mailing, so a ``?source=`` that selects content stays).
_CLICK_IDS = {"dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid", "mkt_tok",
                      "_hsenc", "_hsmi", "oly_enc_id", "oly_anon_id", "vero_id", "rb_clickid", "s_cid",
                      "ncid", "cmpid", "wt.mc_id", "ocid", "__s", "_ga", "_gl", "spm"}
_FEED_SOURCE_PARAMS = {"source", "ref", "src", "from", "via", "feed", "rss"}
_FEED_SOURCE_VALUE = lazy(r"(?i)(?:rss|atom|feed|feedburner|newsletter|email)(?:[-_.:].*)?")

# Cache-busters: a new value at every request, never a different article. Only a value that
# looks like a counter, a version or a time is ignored, so that a parameter that happens to
# share the name but holds an id (YouTube's ``watch?v=dQw4w9WgXcQ``) still tells posts apart.
_CACHE_BUSTERS = {"v", "ver", "version", "cb", "_", "t", "ts", "timestamp", "nocache", "cachebuster", "rnd"}
_BUSTER_VALUE = lazy(r"[0-9][0-9TZtz.:+\-_ ]*|")
_BARE_TIMESTAMP = lazy(r"[0-9]{6,}")

# Query parameters that name the post itself (WordPress's ``?p=``, forum and CMS ids).
_POST_PARAMS = {"p", "id", "page_id", "post", "postid", "post_id", "article", "articleid", "article_id",
                "story", "storyid", "story_id", "item", "itemid", "entry", "aid", "tid", "topic", "t_id"}

# Characters left as they are when percent-encoding each URL part (RFC 3986 unreserved +
# sub-delims + the part's own delimiters, and "%" so existing escapes are not doubled).
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = "%:@!$&'()*+,;=-._~/?"
_SAFE_FRAGMENT = _SAFE_QUERY

_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str, base: str | None = None) -> str:
    """One clickable absolute URL: resolved against ``base``, tracking parameters removed,
    IDN host in punycode, spaces and non-ASCII percent-encoded, default port dropped."""
    return normalise_url(url, base, drop_tracking=True)


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host: something a browser opens as a page."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def identity(url: str, *, keep_fragment: bool = True) -> str:
    """What two URLs of the same article have in common (see the module's docstring).

    ``""`` for an empty URL. Not a URL to open: it has no scheme. ``keep_fragment=False`` for
    links a network has rewritten: cards and expanded links may lose the ``#…`` part.
    """
    if not url or not url.strip():
        return ""
    parts = urlsplit(canonical_url(url))
    host = (parts.hostname or "").rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port not in _DEFAULT_PORTS.values():
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    kept = sorted(pair for pair in parts.query.split("&") if pair and not _ignored_for_identity(pair))
    key = host + path
    if kept:
        key += "?" + "&".join(kept)
    if parts.fragment and keep_fragment:
        # Some blogs give each short post its own anchor on a day's page (Scripting News).
        key += "#" + parts.fragment
    return key


def path_identity(url: str) -> str:
    """Host, path and only the parameters that name a post (``?p=123``, ``?id=``, ``?article=``):
    what stays when a feed rewrites the rest of an entry's query string at every poll."""
    key = identity(url, keep_fragment=False)
    location, _, query = key.partition("?")
    kept = [pair for pair in query.split("&")
            # A cache-buster's name that is still here held an id (``watch?v=…``), not a counter.
            if pair and unquote(pair.split("=", 1)[0]).strip().lower() in _POST_PARAMS | _CACHE_BUSTERS]
    return location + ("?" + "&".join(kept) if kept else "")


def same_article(first: str | None, second: str | None) -> bool:
    """True when two URLs name the same article (https/http, www, trailing slash, trackers)."""
    if not first or not second:
        return False
    return identity(first) == identity(second)


def normalise_url(url: str, base: str | None, *, drop_tracking: bool) -> str:
    url = url.strip()
    if base:
        url = urljoin(base.strip(), url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = _netloc(parts, scheme)
    path = _quote(parts.path, _SAFE_PATH)
    if netloc and not path:
        path = "/"
    query = parts.query
    if drop_tracking and query:
        query = "&".join(p for p in query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, path, _quote(query, _SAFE_QUERY), _quote(parts.fragment, _SAFE_FRAGMENT)))


def idna_host(host: str) -> str:
    """``host`` in its ASCII (IDNA) form, as ``host.encode("idna")`` gives it; UnicodeError
    where IDNA refuses it (an empty label, one over 63 characters)."""
    if host.isascii():
        # For an ASCII name the codec only checks its labels' lengths, done here: the codec and
        # its stringprep tables (~1.5 ms) load only for a name beyond ASCII.
        labels = host.split(".")
        if all(0 < len(label) < 64 for label in labels[:-1]) and len(labels[-1]) < 64:
            return host
    return host.encode("idna").decode("ascii")


def _netloc(parts: Any, scheme: str) -> str:
    host = parts.hostname or ""
    if not host:
        return parts.netloc
    try:
        host = idna_host(host)                          # Bücher.example → xn--bcher-kva.example
    except UnicodeError:
        host = quote(host, safe="")
    if ":" in host:
        host = f"[{host}]"                          # IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    # No user or password: these URLs are published, and a password-protected feed's relative
    # links, resolved against its (masked) address, must not carry "user:****@" into a post.
    return host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"


def _quote(text: str, safe: str) -> str:
    # Escape a "%" that does not start an escape, then encode spaces and non-ASCII as UTF-8.
    text = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", text)
    return quote(text, safe=safe)


def _split_pair(pair: str) -> tuple[str, bool, str]:
    raw_name, has_value, raw_value = pair.partition("=")
    return unquote(raw_name).strip().lower(), bool(has_value), unquote(raw_value.replace("+", " ")).strip()


def _is_tracking(pair: str) -> bool:
    name, has_value, value = _split_pair(pair)
    if name in _TRACKING_EXACT or name.startswith(_TRACKING_PREFIXES) or name in _CLICK_IDS:
        return True
    return has_value and name in _FEED_SOURCE_PARAMS and bool(_FEED_SOURCE_VALUE.fullmatch(value))


def _ignored_for_identity(pair: str) -> bool:
    if _is_tracking(pair):
        return True
    name, has_value, value = _split_pair(pair)
    if not has_value:
        return bool(_BARE_TIMESTAMP.fullmatch(name))
    return name in _CACHE_BUSTERS and bool(_BUSTER_VALUE.fullmatch(value))


# Query parameters whose value is a credential (a feed behind ``?key=...`` or a signed URL).
_SECRET_PARAMETERS = {"key", "token", "apikey", "api_key", "access_token", "secret", "password",
                      "sig", "signature"}


def display_url(url: str) -> str:
    """``url`` as it may be shown, logged and stored: a userinfo password and the values of
    secret-named query parameters as ``****``. The real URL is only for fetching."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:                  # unreadable: mask everything between :// and @
        return re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1****@", url)
    netloc = parts.netloc
    if password:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:****@{host}"
    query = parts.query
    if query:
        query = "&".join(
            f"{name}=****" if sep and unquote(name).lower() in _SECRET_PARAMETERS and value else piece
            for piece in query.split("&")
            for name, sep, value in [piece.partition("=")])
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def url_secrets(url: str) -> list[str]:
    """The secret values ``display_url`` masks (as written and decoded), for the log filter."""
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
    except ValueError:                  # unreadable, yet its password must be masked all the same
        password = _raw_password(url)
        return [s for s in (password, unquote(password)) if s]
    for piece in parts.query.split("&"):
        name, sep, value = piece.partition("=")
        if sep and value and unquote(name).lower() in _SECRET_PARAMETERS:
            found += [value, unquote(value)]
    if parts.password:
        found.append(unquote(parts.password))
    return [s for s in found if s]


def _raw_password(url: str) -> str:
    """The password of a URL's userinfo as written, read without urlsplit (which refuses some URLs)."""
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    userinfo, at, _ = authority.rpartition("@")
    return userinfo.partition(":")[2] if at else ""
