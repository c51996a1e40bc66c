"""Bluesky: settings, text rules, rich-text facets and the adapter, in one module.

Everything here speaks plain XRPC over ``requests``; the ``atproto`` SDK is
not used (it pulls in pydantic, httpx, cryptography, dnspython, libipld and
more, about 70 MB, and takes about two seconds to import, for four endpoints).

What this module relies on, checked in bluesky-social/atproto (lexicons and
the reference PDS, packages/pds) and atproto.com/specs:

- Login: ``com.atproto.server.createSession`` with ``identifier`` (handle) and
  ``password`` answers ``accessJwt``, ``refreshJwt``, ``did``, ``handle``.
  ``com.atproto.server.refreshSession`` takes the *refresh* token as its
  bearer and answers a new pair. A wrong password is 401
  ``AuthenticationRequired`` "Invalid identifier or password"; a suspended
  account is 401 ``AccountTakedown``. An expired access token is answered
  ``{"error": "ExpiredToken", "message": "Token has expired"}`` with HTTP 400
  (InvalidRequestError in packages/pds/src/auth-verifier.ts), a bad one 400
  ``InvalidToken``: we map by the error *name*, never by the status.
- App passwords are made by the PDS as four groups of four characters of
  lowercase base32 (``a-z2-7``) joined with ``-`` (randomStr(16, 'base32') in
  packages/pds/src/account-manager/helpers/password.ts): xxxx-xxxx-xxxx-xxxx.
- Posting: ``com.atproto.repo.createRecord`` with ``repo`` (our DID),
  ``collection`` ``app.bsky.feed.post``, an optional ``rkey`` (format
  record-key; app.bsky.feed.post declares ``"key": "tid"``) and the record.
  The record's ``text`` is at most 300 graphemes and 3000 bytes; ``langs`` at
  most 3 language tags; ``facets`` are ``app.bsky.richtext.facet`` whose
  ``byteSlice`` counts UTF-8 bytes, start inclusive, end exclusive; the link
  card is ``app.bsky.embed.external`` (uri, title, description, optional
  ``thumb`` blob, ``accept: image/*``, ``maxSize: 1000000``) whose thumb comes
  from ``com.atproto.repo.uploadBlob``.
- A record key that already exists: the lexicon of createRecord names only
  ``InvalidSwap``; the PDS's MST ``add`` throws a plain ``Error("There is already
  a value at key: ...")``, which xrpc-server turns into HTTP **500**
  ``{"error": "InternalServerError", "message": "Internal Server Error"}``
  (reported as bluesky-social/atproto#3718 and #4725, indigo#873; an explicit
  error is proposed in atproto#4728, still open, and other PDS implementations
  answer 409 ``RecordAlreadyExists``). A 500 is also what a real outage
  answers, so a refused create is told apart with a ``getRecord`` of the key:
  there → the post is already on Bluesky (DuplicateError, with its URL); not
  there → the 500 was an outage (TransientError).
- Rate limits: 429 ``RateLimitExceeded`` with ``RateLimit-Reset`` in epoch
  seconds (packages/xrpc-server/src/rate-limiter-http.ts).
- ``com.atproto.repo.getRecord`` answers 400 ``RecordNotFound`` for a missing
  record, and needs no login.
- TIDs (atproto.com/specs/tid): a 64-bit integer, top bit 0, 53 bits of
  microseconds since the epoch, 10 bits of clock id, written as 13 characters
  of base32-sortable ``234567abcdefghijklmnopqrstuvwxyz``; the first character
  is one of ``234567abcdefghij`` (packages/syntax/src/tid.ts).

Exactly once: each post's record key is a TID derived from the post's URL
(``record_key``), so the same post always lands on the same key and a second
create is refused whatever happened to the first answer; ``find_existing`` is
a ``getRecord`` of that key. The key cannot include the text: after a crash the
service recovers with ``find_existing(post_url)`` alone. Where a feed gives
several entries one link, the URL's key holds the first entry's post (its
text differs from ours), and a later entry takes the key of its URL and its
text; ``find_existing`` sees only the first (a crash while such a second entry
is sent is settled by the retry, which the second key makes safe).
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

from bot.values import ConfigError, repr_without
from bot.models import Message, Published, utcnow
from bot.http import read_answer, transport_errors
from bot.platforms.base import (
    AuthError,
    DuplicateError,
    ImageProblem,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    check_api_base,
    download_image,
    mask,
    new_session,
)
from bot.platforms.network import Network, TextRules

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

NAME = "bluesky"

# -------------------------------------------------------------------------- settings

DEFAULT_PDS = "https://bsky.social"
# BLUESKY_TEMPLATE and BLUESKY_DAILY_CAP are read by the core, as every network's are.
VARIABLES = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "BLUESKY_PDS")
SECRETS = ("BLUESKY_APP_PASSWORD",)
CREDENTIALS = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD")   # what enabling Bluesky requires

APP_PASSWORD_ADVICE = ("create an app password in Bluesky (Settings → Privacy and security → App passwords "
                       "→ Add App Password) and set BLUESKY_APP_PASSWORD to it; never use the account "
                       "password")

# Patterns stay strings, compiled (and cached by re) on first use: importing this
# module for its settings and text rules must stay cheap.
_APP_PASSWORD = r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$"
# atproto.com/specs/handle: labels of letters, digits and hyphens, at most 253 characters,
# the last label starting with a letter.
_HANDLE = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"


class BlueskySettings(NamedTuple):
    handle: str
    app_password: str
    pds: str = DEFAULT_PDS

    def secrets(self) -> tuple[str, ...]:
        return (self.app_password,) if self.app_password else ()

    def __repr__(self) -> str:
        return repr_without(self, "app_password")


def parse_settings(values: Mapping[str, str]) -> BlueskySettings:
    """Read and check Bluesky's variables; every error names its variable and never echoes a secret."""
    handle = (values.get("BLUESKY_HANDLE") or "").strip().lstrip("@").lower()
    if not handle:
        raise ConfigError("BLUESKY_HANDLE", "is required: the account's handle, such as yourblog.bsky.social")
    if "@" in handle:
        raise ConfigError("BLUESKY_HANDLE", "looks like an e-mail address; use the account's handle, "
                                            "such as yourblog.bsky.social")
    if len(handle) > 253 or not re.match(_HANDLE, handle):
        raise ConfigError("BLUESKY_HANDLE", "is not a valid handle; use the full handle such as "
                                            "yourblog.bsky.social or blog.example.com")

    password = (values.get("BLUESKY_APP_PASSWORD") or "").strip()
    if not password:
        raise ConfigError("BLUESKY_APP_PASSWORD", f"is required: {APP_PASSWORD_ADVICE}")
    # App passwords are shown in lowercase; one typed in capitals is the same password.
    if not re.match(_APP_PASSWORD, password.lower()):
        raise ConfigError("BLUESKY_APP_PASSWORD", "does not look like an app password (four groups of four "
                                                  f"letters and digits, xxxx-xxxx-xxxx-xxxx): {APP_PASSWORD_ADVICE}")
    password = password.lower()

    pds = (values.get("BLUESKY_PDS") or "").strip() or DEFAULT_PDS
    problem = check_api_base(pds)
    if problem:
        raise ConfigError("BLUESKY_PDS", problem)
    return BlueskySettings(handle=handle, app_password=password, pds=pds.rstrip("/"))


# -------------------------------------------------------------------------- text rules

LIMIT = 300                     # graphemes, app.bsky.feed.post#text maxGraphemes
MAX_TEXT_BYTES = 3000           # app.bsky.feed.post#text maxLength (UTF-8 bytes)
# The card (app.bsky.embed.external) carries the URL, its title, description and
# image, and is what a reader clicks. A URL in the text would take a sixth to a
# third of the 300 graphemes to repeat it; so the text is the headline and the
# tags. A template may still put {url} in: facets() makes it a real link.
DEFAULT_TEMPLATE = "{title}\n\n{hashtags}"
URL_IN_TEXT = False
# Hashtags: "#Name", the same CamelCase form as elsewhere. Bluesky makes a tag
# only from a facet, at most 64 graphemes (app.bsky.richtext.facet#tag), not
# all digits; facets() marks every "#word" of the text.
HASHTAG_MAX_GRAPHEMES = 64
# A mention is a facet with the account's DID; "@name" text without one is
# plain text and notifies nobody, so nothing needs defusing.
DEFUSE_MENTIONS = False
# The deterministic record key makes the PDS refuse a second create of the
# same post: a blind retry after a crash is safe.
REJECTS_DUPLICATES = True
THUMB_MAX_BYTES = 1_000_000     # app.bsky.embed.external#external.thumb maxSize
THUMB_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


def grapheme_length(text: str) -> int:
    """The number of extended grapheme clusters, as Bluesky counts the 300."""
    from bot.compose import grapheme_boundaries

    return len(grapheme_boundaries(text)) - 1 if text else 0


def length(text: str) -> int:
    """The composer's measure: at most LIMIT exactly when both the grapheme and byte limits hold.

    300 family emoji are 300 graphemes but 7,500 bytes; counting a grapheme
    for every 10 bytes folds the 3000-byte limit into the same number.
    """
    return max(grapheme_length(text), -(-len(text.encode("utf-8")) // 10))


def fits(text: str) -> bool:
    return len(text.encode("utf-8")) <= MAX_TEXT_BYTES and grapheme_length(text) <= LIMIT


def length_exceeded_at(text: str, budget: int) -> int:
    """The shortest length at which a prefix of ``text`` counts more than ``budget`` by ``length``;
    ``len(text)`` if none does.

    The composer's cheap first cut of a long value. Characters are the wrong bound here: 120
    family emoji are 840 characters and fit, and so do 300 letters with combining marks.
    Every character is at least one byte, so ``length`` of a prefix is at least a tenth of
    its characters: the first ``10 * (budget + 1)`` of them always decide.
    """
    from bot.compose import grapheme_boundaries

    window = text[: 10 * (budget + 1)]
    graphemes = size = 0
    bounds = grapheme_boundaries(window)
    for start, end in zip(bounds, bounds[1:]):
        graphemes += 1
        size += len(window[start:end].encode("utf-8"))
        if max(graphemes, -(-size // 10)) > budget:
            return start + 1
    return len(text)


# -------------------------------------------------------------------------- facets

# JavaScript's \s (the Bluesky app's rich-text detection is written in it):
# WhiteSpace and LineTerminator, which differ from str.isspace in \x1c-\x1f and U+FEFF.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TAG_STOP = _JS_SPACE + "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
# packages/api/src/rich-text/util.ts: URL_REGEX (the http(s) half; our links always
# carry their scheme) and TAG_REGEX's start.
_LINK = r"(?i)(?:^|(?<=[" + _JS_SPACE + r"(]))(https?://[^" + _JS_SPACE + r"]+)"
_TAG = r"(?:^|(?<=[" + _JS_SPACE + r"]))[#\uff03]([^" + _TAG_STOP + r"]*)"


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def facets(text: str) -> list[dict[str, Any]]:
    """``app.bsky.richtext.facet`` for every link and hashtag in ``text``, UTF-8 byte offsets.

    Follows the Bluesky app's own detection (packages/api/src/rich-text/detection.ts):
    a link loses one trailing ``.,;:!?`` and a ``)`` it did not open; a tag is
    ``#`` after a space or the start, up to the next space, trailing punctuation
    dropped, not all digits, at most 64 graphemes, and never overlapping a link.
    """
    found: list[tuple[int, int, dict[str, Any]]] = []
    for match in re.finditer(_LINK, text):
        uri = match.group(1)
        start, end = match.span(1)
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        found.append((start, end, {"$type": "app.bsky.richtext.facet#link", "uri": uri}))
    links = list(found)
    for match in re.finditer(_TAG, text):
        tag = match.group(1)
        if not tag or tag.startswith("\ufe0f"):
            continue
        tag = tag.rstrip(_TAG_STOP)
        while tag and _is_punctuation(tag[-1]):
            tag = tag[:-1]
        # TAG_REGEX needs one character that is neither an ASCII digit nor punctuation.
        if not any(not ("0" <= c <= "9") and not _is_punctuation(c) for c in tag):
            continue
        if grapheme_length(tag) > HASHTAG_MAX_GRAPHEMES:
            continue
        start, end = match.start(), match.start() + 1 + len(tag)
        # "#see(https://...)": the app would mark both; overlapping facets render
        # unpredictably, and the link matters more.
        if any(start < link_end and link_start < end for link_start, link_end, _ in links):
            continue
        found.append((start, end, {"$type": "app.bsky.richtext.facet#tag", "tag": tag}))
    result = []
    for start, end, feature in sorted(found, key=lambda item: item[0]):
        result.append({
            "$type": "app.bsky.richtext.facet",
            "index": {"byteStart": len(text[:start].encode("utf-8")),
                      "byteEnd": len(text[:end].encode("utf-8"))},
            "features": [feature],
        })
    return result


# -------------------------------------------------------------------------- record keys (TIDs)

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID = r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$"
# Derived keys carry a timestamp in a fixed window of the past (2^45 µs, about
# 13 months from 2023-01-01): never "from the future", and 45 + 10 bits of hash.
_KEY_EPOCH_US = 1_672_531_200_000_000
_KEY_WINDOW_BITS = 45


def is_tid(value: str) -> bool:
    return isinstance(value, str) and bool(re.match(_TID, value))


def tid(timestamp_us: int, clock_id: int) -> str:
    """Encode a TID: 53 bits of microseconds, 10 bits of clock id, top bit 0."""
    if not 0 <= timestamp_us < 2 ** 53 or not 0 <= clock_id < 2 ** 10:
        raise ValueError("timestamp or clock id out of range")
    value = (timestamp_us << 10) | clock_id
    return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def tid_parts(value: str) -> tuple[int, int]:
    """(microseconds since the epoch, clock id) of a TID."""
    if not is_tid(value):
        raise ValueError(f"not a TID: {value!r}")
    number = 0
    for char in value:
        number = number * 32 + TID_ALPHABET.index(char)
    return number >> 10, number & 1023


def record_key(post_url: str, salt: str = "") -> str:
    """The record key a post always gets: a TID derived from its URL (and ``salt``).

    ``salt`` is for a future delivery id (a deliberate second post of the same
    URL); today's Message carries none, so one post is one key.
    """
    digest = hashlib.sha256(f"autopost\x00{post_url}\x00{salt}".encode("utf-8")).digest()
    number = int.from_bytes(digest[:8], "big")
    offset = number & ((1 << _KEY_WINDOW_BITS) - 1)
    clock_id = (number >> _KEY_WINDOW_BITS) & 1023
    return tid(_KEY_EPOCH_US + offset, clock_id)


def post_url_of(handle: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{handle}/post/{rkey}"


# -------------------------------------------------------------------------- the description

NETWORK = Network(
    name=NAME,
    label="Bluesky",
    variables=VARIABLES,
    secrets=SECRETS,
    credentials=CREDENTIALS,
    parse=parse_settings,
    adapter="bot.platforms.bluesky:from_settings",
    api_base=DEFAULT_PDS,
    # Each post's record key is a TID derived from its URL (record_key), so a second
    # createRecord of the same post asks for a key the repository already holds and the PDS
    # refuses it, whatever became of the first answer; publish confirms the refusal with a
    # getRecord of that key and reports it as a duplicate. A blind retry cannot post twice.
    rejects_duplicates=REJECTS_DUPLICATES,
    text=TextRules(
        limit=LIMIT,                           # graphemes, with the 3000-byte limit folded in (length)
        length=length,
        pretrim_at=length_exceeded_at,
        default_template=DEFAULT_TEMPLATE,
        url_in_text=URL_IN_TEXT,               # the link travels as an app.bsky.embed.external card
    ),
)


# -------------------------------------------------------------------------- the adapter

POST_COLLECTION = "app.bsky.feed.post"
DEFAULT_THROTTLE_BACKOFF = timedelta(minutes=15)   # a 429 without RateLimit-Reset
_AUTH_ERRORS = frozenset({"AuthenticationRequired", "InvalidToken", "AccountTakedown", "AccountDeactivated",
                          "AuthMissing", "AuthFactorTokenRequired", "AccountNotFound"})
_EXISTS_ERRORS = frozenset({"RecordAlreadyExists", "AlreadyExists"})
_MAX_ANSWER_BYTES = 1024 * 1024
_LANGUAGE = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$"


class _Expired(Exception):
    """The access token expired: refresh and try the call once more."""


class BlueskyPlatform:
    """Posts to one Bluesky account through its PDS, with an app password."""

    name = NAME

    def __init__(self, *, pds: str = DEFAULT_PDS, handle: str, app_password: str, timeout: float = 30.0,
                 clock: Callable[[], datetime] | None = None, session: requests.Session | None = None):
        if not handle or not handle.strip():
            raise ConfigError("BLUESKY_HANDLE", "is required: the account's handle, such as yourblog.bsky.social")
        if not app_password or not app_password.strip():
            raise ConfigError("BLUESKY_APP_PASSWORD", f"is required: {APP_PASSWORD_ADVICE}")
        self.pds = pds.rstrip("/")
        self.handle = handle.strip().lstrip("@").lower()
        self._password = app_password.strip()
        self.timeout = timeout
        self._clock = clock or utcnow
        self._session = session or new_session()
        self._access = ""
        self._refresh = ""
        self.did = ""

    @classmethod
    def from_settings(cls, settings: BlueskySettings, *, timeout: float,
                      clock: Callable[[], datetime] | None = None) -> BlueskyPlatform:
        return cls(pds=settings.pds, handle=settings.handle, app_password=settings.app_password,
                   timeout=timeout, clock=clock)

    def __repr__(self) -> str:
        return (f"BlueskyPlatform(pds={self.pds!r}, handle={self.handle!r}, "
                f"app_password={mask(self._password)!r})")

    # -- the Platform interface ---------------------------------------------

    def publish(self, message: Message, *, language: str | None = None) -> Published:
        """Create the post record under its derived key; a key already taken means already posted.

        ``language``, else ``message.language`` (the feed's own tag), fills ``langs``.
        """
        # Feed entries without a link are never posted; the text is only a last resort for a key.
        url = message.post_url or message.link or message.text
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": message.text,
            "createdAt": _datetime(self._clock()),
        }
        found = facets(message.text)
        if found:
            record["facets"] = found
        lang = language or getattr(message, "language", None)
        if isinstance(lang, str) and re.match(_LANGUAGE, lang.strip()):
            record["langs"] = [lang.strip()]
        if message.link:
            record["embed"] = self._card(message)
        self._login_if_needed()
        # Some feeds give several entries one link (a home page, a day's page): the key of the
        # URL alone then holds another entry's post, told apart by its text, and this entry
        # takes the key of its URL and its text. Both keys are the same on every retry.
        for rkey in (record_key(url), record_key(url, salt=message.text)):
            try:
                body = self._call("POST", "com.atproto.repo.createRecord",
                                  json={"repo": self.did, "collection": POST_COLLECTION, "rkey": rkey,
                                        "record": record})
                break
            except (TransientError, PermanentError) as exc:
                if not _may_be_taken(exc):
                    raise
                earlier = self._get_quietly(rkey)
                if earlier is None:
                    raise
                published, text = earlier
                if text == message.text:
                    raise DuplicateError(self.name, f"the post is already on Bluesky (record {rkey})",
                                         remote_id=published.remote_id, remote_url=published.url,
                                         status=exc.status, code=exc.code) from None
        else:
            raise PermanentError(self.name, "both record keys of this post hold other texts")
        uri = body.get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise TransientError(self.name, "the PDS accepted the post but its answer had no record URI",
                                 status=200)
        return Published(remote_id=uri, url=post_url_of(self.handle, uri.rsplit("/", 1)[-1]))

    def verify(self) -> str:
        """Log in (or reuse the session) and return the account as "@handle (did)"."""
        self._login_if_needed()
        body = self._call("GET", "com.atproto.server.getSession")
        handle = str(body.get("handle") or self.handle)
        did = str(body.get("did") or self.did)
        if body.get("active") is False:
            status = str(body.get("status") or "inactive")
            raise AuthError(self.name, f"the Bluesky account @{handle} is {status}; it cannot post")
        return f"@{handle} ({did})"

    def find_existing(self, post_url: str) -> Published | None:
        """The record this post's key names, if the PDS has it."""
        return self._get_record(record_key(post_url))

    # -- records and blobs ----------------------------------------------------

    def _card(self, message: Message) -> dict[str, Any]:
        external: dict[str, Any] = {"uri": message.link, "title": message.title or "",
                                    "description": message.description or ""}
        if message.image_url:
            thumb = self._thumb(message.image_url)
            if thumb is not None:
                external["thumb"] = thumb
        return {"$type": "app.bsky.embed.external", "external": external}

    def _thumb(self, image_url: str) -> dict[str, Any] | None:
        """Upload the card's image; None (and a log line) when it cannot be a thumbnail."""
        try:
            data, content_type = download_image(self._session, image_url, timeout=self.timeout,
                                                types=THUMB_TYPES, max_bytes=THUMB_MAX_BYTES)
        except ImageProblem as exc:
            log.warning("bluesky: card posted without its thumbnail %s: %s", image_url, exc)
            return None
        self._login_if_needed()
        try:
            body = self._call("POST", "com.atproto.repo.uploadBlob", data=data, content_type=content_type)
        except PermanentError as exc:
            log.warning("bluesky: card posted without its thumbnail %s: the PDS refused it: %s",
                        image_url, exc.message)
            return None
        blob = body.get("blob")
        if not isinstance(blob, dict) or not isinstance(blob.get("ref"), dict):
            raise TransientError(self.name, "uploadBlob answered without a blob reference", status=200)
        return blob

    def _get_record(self, rkey: str) -> Published | None:
        found = self._get_record_and_text(rkey)
        return found[0] if found else None

    def _get_record_and_text(self, rkey: str) -> tuple[Published, str] | None:
        try:
            body = self._call("GET", "com.atproto.repo.getRecord", auth=False,
                              params={"repo": self.did or self.handle, "collection": POST_COLLECTION,
                                      "rkey": rkey})
        except PermanentError as exc:
            if exc.code == "RecordNotFound":
                return None
            raise
        uri = body.get("uri")
        if not isinstance(uri, str):
            raise TransientError(self.name, "getRecord answered without a record URI", status=200)
        value = body.get("value")
        text = value.get("text") if isinstance(value, dict) else None
        return (Published(remote_id=uri, url=post_url_of(self.handle, rkey), note="already on Bluesky"),
                text if isinstance(text, str) else "")

    def _get_quietly(self, rkey: str) -> tuple[Published, str] | None:
        try:
            return self._get_record_and_text(rkey)
        except PlatformError:
            return None

    # -- sessions -------------------------------------------------------------

    def _login_if_needed(self) -> None:
        if not self._access:
            self._login()

    def _login(self) -> None:
        try:
            body = self._call("POST", "com.atproto.server.createSession", auth=False,
                              json={"identifier": self.handle, "password": self._password})
        except AuthError as exc:
            raise AuthError(self.name, f"logging in as @{self.handle}: {exc.message}",
                            status=exc.status, code=exc.code) from None
        self._take_tokens(body, "createSession")

    def _refresh_session(self) -> None:
        """New tokens from the refresh token; log in again when that one has expired too."""
        if self._refresh:
            try:
                body = self._call("POST", "com.atproto.server.refreshSession", auth=False,
                                  bearer=self._refresh)
            except (_Expired, AuthError):
                pass
            else:
                self._take_tokens(body, "refreshSession")
                return
        self._access = self._refresh = ""
        self._login()

    def _take_tokens(self, body: Mapping[str, Any], call: str) -> None:
        access, refresh, did = body.get("accessJwt"), body.get("refreshJwt"), body.get("did")
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh
                and isinstance(did, str) and did.startswith("did:")):
            raise TransientError(self.name, f"{call} answered without tokens and a DID", status=200)
        self._access, self._refresh, self.did = access, refresh, did

    # -- HTTP -----------------------------------------------------------------

    def _call(self, method: str, nsid: str, *, auth: bool = True, bearer: str | None = None,
              params: Mapping[str, str] | None = None, json: Any = None, data: bytes | None = None,
              content_type: str | None = None) -> dict[str, Any]:
        """One XRPC call; with ``auth``, an expired access token is refreshed and the call made once more."""
        try:
            return self._xrpc(method, nsid, bearer=self._access if auth else bearer, params=params,
                              json=json, data=data, content_type=content_type)
        except _Expired:
            if bearer:
                raise                   # the refresh token itself: _refresh_session logs in again
            if not auth:
                raise AuthError(self.name, f"Bluesky answered {nsid} with ExpiredToken", code="ExpiredToken") from None
        log.info("bluesky: the access token expired; refreshing the session")
        self._refresh_session()
        try:
            return self._xrpc(method, nsid, bearer=self._access, params=params, json=json, data=data,
                              content_type=content_type)
        except _Expired:
            raise AuthError(self.name, "Bluesky says the access token has expired even after a refresh",
                            code="ExpiredToken") from None

    def _xrpc(self, method: str, nsid: str, *, bearer: str | None, params: Mapping[str, str] | None,
              json: dict[str, Any] | None, data: bytes | None, content_type: str | None) -> dict[str, Any]:
        url = f"{self.pds}/xrpc/{nsid}"
        headers = {"Accept": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if content_type:
            headers["Content-Type"] = content_type
        log.debug("bluesky: %s %s", method, url)
        deadline = time.monotonic() + self.timeout
        with transport_errors(self.name, "Bluesky", self.timeout, nsid):
            with self._session.request(method, url, params=params, json=json, data=data, headers=headers,
                                       timeout=self.timeout, stream=True) as response:
                raw = read_answer(response, platform=self.name, who="Bluesky", max_bytes=_MAX_ANSWER_BYTES,
                                  deadline=deadline, timeout=self.timeout)
        log.debug("bluesky: %s %s -> %s", method, url, response.status_code)
        import json as _json        # `json` is this method's parameter

        try:
            body = _json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        status = response.status_code
        if status == 429:
            said = _said(body) or "Rate Limit Exceeded"
            raise RateLimited(self.name, f"rate-limited by Bluesky on {nsid}: {said}",
                              retry_at=self._retry_at(response.headers), status=429,
                              code=_name(body) or "RateLimitExceeded")
        if status >= 400:
            raise self._error(nsid, status, body)
        if not isinstance(body, dict):
            raise TransientError(self.name, f"Bluesky answered {nsid} with HTTP {status} but no JSON object",
                                 status=status)
        return body

    def _error(self, nsid: str, status: int, body: Any) -> PlatformError | _Expired:
        name, said = _name(body), self._scrub(_said(body))
        if name == "ExpiredToken":
            return _Expired()
        if not name:
            # An HTML error page from a proxy, or nothing: not Bluesky's verdict on our request.
            if status in (401, 403):
                return AuthError(self.name, f"Bluesky answered {nsid} with HTTP {status}", status=status)
            return TransientError(self.name, f"Bluesky answered {nsid} with HTTP {status} without an "
                                             f"XRPC error", status=status)
        words = f"{name}: {said}" if said else name
        if name in _AUTH_ERRORS or status in (401, 403):
            advice = {
                "AccountTakedown": "the account has been taken down by its host; it cannot post",
                "AccountDeactivated": "the account is deactivated; reactivate it to post",
                "AuthFactorTokenRequired":
                    f"that is the account password, which asks for a code: {APP_PASSWORD_ADVICE}",
            }.get(name, f"check BLUESKY_HANDLE and BLUESKY_APP_PASSWORD; {APP_PASSWORD_ADVICE}")
            return AuthError(self.name, f"Bluesky refused our credentials ({words}); {advice}",
                             status=status, code=name)
        if status >= 500:
            return TransientError(self.name, f"temporary Bluesky error on {nsid}: {words}",
                                  status=status, code=name)
        return PermanentError(self.name, f"Bluesky refused {nsid}: {words}", status=status, code=name)

    def _retry_at(self, headers: Mapping[str, str]) -> datetime:
        now = self._clock()
        reset = (headers.get("RateLimit-Reset") or "").strip()
        if reset.isdigit():
            at = datetime.fromtimestamp(int(reset), tz=timezone.utc)
            if at > now:
                return at
            return now + timedelta(seconds=1)
        return now + DEFAULT_THROTTLE_BACKOFF

    def _scrub(self, text: str) -> str:
        for secret in (self._password, self._access, self._refresh):
            if secret:
                text = text.replace(secret, "****")
        return text


def _may_be_taken(exc: PlatformError) -> bool:
    """Whether a failed create may mean "that record key is taken" (see the module docstring)."""
    return (exc.code in _EXISTS_ERRORS or exc.status == 409
            or (isinstance(exc, TransientError) and (exc.status or 0) >= 500))


def _name(body: Any) -> str:
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def _said(body: Any) -> str:
    return str(body.get("message") or "").strip() if isinstance(body, dict) else ""


def _datetime(moment: datetime) -> str:
    """RFC 3339 with milliseconds and Z, as atproto's datetime format recommends."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_settings(settings: BlueskySettings, *, timeout: float = 30.0,
                  clock: Callable[[], datetime] | None = None) -> BlueskyPlatform:
    return BlueskyPlatform.from_settings(settings, timeout=timeout, clock=clock)
