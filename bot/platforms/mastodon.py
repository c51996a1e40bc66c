"""Mastodon: the network's description (variables, settings, text rules) and its adapter.

Plain ``requests`` over five documented endpoints, not Mastodon.py: the calls
are few and simple, the adapter must map every status code to our own errors
and bound every exchange with a wall-clock deadline, and a description module
that the CLI imports at start must stay cheap (this one imports only the
stdlib and our own base; ``requests`` loads when an adapter is built).

What this module relies on, from Mastodon's documentation (docs.joinmastodon.org,
checked in its source repository mastodon/documentation, 2026):

- ``POST /api/v1/statuses`` (methods/statuses#create): form fields ``status``,
  ``visibility`` (public, unlisted, private, direct), ``language`` (ISO 639-1);
  OAuth ``write:statuses``; answers the Status (``id``, ``url``, ``uri``).
  401 ``{"error": "The access token is invalid"}``; 422 ``{"error": "Validation
  failed: Text can't be blank"}``.
- ``Idempotency-Key`` header (same page): "any arbitrary string to prevent
  duplicate submissions of the same status ... Idempotency keys are stored for up
  to 1 hour." Mastodon's PostStatusService keeps the key per account for 3,600 s
  under a lock and answers a repeated key with the status it already made, so a
  retry after a lost answer returns the first status instead of posting again.
  A retry *more than an hour* after the first try is not covered: the key is gone
  and the instance posts again. Delivery must therefore reconcile such a late
  retry with ``find_existing`` first (see the note on ``publish``).
- ``GET /api/v2/instance`` (methods/instance#v2, Mastodon 4.0+; entities/Instance):
  ``configuration.statuses.max_characters`` and ``characters_reserved_per_url``
  ("Each URL in a status will be assumed to be exactly this many characters").
- ``GET /api/v1/accounts/verify_credentials`` (methods/accounts#verify_credentials):
  needs ``profile`` (4.3+) or ``read:accounts``; 401 invalid token, 403 "Your login
  is currently disabled" / "... missing a confirmed e-mail address" / "... pending
  approval".
- ``GET /api/v1/accounts/:id/statuses`` (methods/accounts#statuses): ``limit``
  (max 40), ``exclude_replies``, ``exclude_reblogs``; a token sent there must carry
  ``read:statuses`` (the controller's ``authorize_if_got_token!``).
- Errors (entities/Error): JSON ``{"error": ..., "error_description"?: ...}``; 429
  when rate-limited. Rate limits (api/rate-limits): ``X-RateLimit-Limit``,
  ``-Remaining``, ``-Reset`` ("Timestamp when your rate limit will reset"; an
  ISO 8601 time such as ``2026-11-30T05:10:00.019685Z``); 300 calls per 5 minutes.
- Authorization (methods/apps#create, methods/oauth#authorize, #token,
  api/oauth-scopes): ``POST /api/v1/apps`` with ``client_name``, ``redirect_uris``
  ``urn:ietf:wg:oauth:2.0:oob`` (the code is shown to the user), ``scopes``;
  ``GET /oauth/authorize?response_type=code&client_id&redirect_uri&scope``;
  ``POST /oauth/token`` with ``grant_type=authorization_code``, ``code``,
  ``client_id``, ``client_secret``, ``redirect_uri``. The scopes asked at
  authorization must be a subset of those registered with the app.

Length (app/validators/status_length_validator.rb in mastodon/mastodon): the
text is rewritten before counting, every URL (with a scheme, as twitter-text
finds it with Mastodon's own path rules from config/initializers/twitter_regex.rb)
to ``characters_reserved_per_url`` characters and every ``@user@domain`` mention
(Account::MENTION_RE) to ``@user``; the result counts *extended grapheme
clusters* (``each_grapheme_cluster.size``; older releases ``mb_chars.grapheme_length``),
not code points: a family emoji counts 1.
"""
from __future__ import annotations

import hashlib
import html
import logging
import re
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from bot.values import ConfigError, repr_without
from bot.models import Message, Published, utcnow
from bot.http import read_answer, transient, transport_errors_caught
from bot.urls import identity
from bot.platforms.base import (
    AuthError,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    check_api_base,
    mask,
    new_session,
)

from bot.platforms.network import AuthFlow, Network, TextRules
from bot.patterns import LazyPattern, lazy

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import requests

log = logging.getLogger(__name__)

NAME = "mastodon"

# -- the description ----------------------------------------------------------------

# Every variable this module reads; MASTODON_TEMPLATE, MASTODON_DAILY_CAP and
# MASTODON_ALLOW_MENTIONS are read by the core for every network (bot/config.py).
VARIABLES = ("MASTODON_INSTANCE", "MASTODON_ACCESS_TOKEN", "MASTODON_VISIBILITY")
SECRETS = ("MASTODON_ACCESS_TOKEN",)
REQUIRED = ("MASTODON_INSTANCE", "MASTODON_ACCESS_TOKEN")   # the network is configured when both are set
VISIBILITIES = ("public", "unlisted", "private", "direct")
REJECTS_DUPLICATES = False    # Mastodon posts the same text twice; only the Idempotency-Key guards a retry

LIMIT_DEFAULT = 500
URL_LENGTH_DEFAULT = 23
# Mastodon builds the link card itself from the first link in the text, so the
# URL is in the text (there is no separate link field to send).
DEFAULT_TEMPLATE = "{title}\n\n{summary}\n\n{url}\n\n{hashtags}"
URL_IN_TEXT = True

# The app's scopes. write:statuses posts; read:accounts is what verify_credentials
# needs on every release (``profile`` exists only from 4.3 and an older instance
# refuses to register an app that asks for it); read:statuses lets find_existing
# send the token to the account's statuses (a token without it is refused there).
# No write:media: autopost attaches no images (Mastodon builds the card from the link).
SCOPES = "write:statuses read:accounts read:statuses"
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
CLIENT_NAME = "autopost"

DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=5)   # the length of Mastodon's rate-limit window
RECENT_STATUSES = 40                             # the most one page of an account's statuses holds
MAX_BODY_BYTES = 4 * 1024 * 1024


class MastodonSettings(NamedTuple):
    instance: str = ""                     # base URL, no trailing slash; "" until `auth mastodon` sets it
    access_token: str = ""
    visibility: str = "public"

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,) if self.access_token else ()

    def __repr__(self) -> str:
        return repr_without(self, "access_token")


def parse_settings(values: Mapping[str, str]) -> MastodonSettings:
    """Validate this network's variables. Raises ConfigError naming the first bad one.

    Runs whenever any of them is set, so it accepts an instance without a token
    (what a new user has before `autopost auth mastodon`); whether the network
    is enabled is the description's ``credentials`` (both set), checked by config.
    A token without its instance is refused: a token is valid on one instance only.
    """
    def get(name: str) -> str:
        return (values.get(name) or "").strip()

    token = get("MASTODON_ACCESS_TOKEN")
    instance = normalize_instance(get("MASTODON_INSTANCE"), "MASTODON_INSTANCE") \
        if get("MASTODON_INSTANCE") or token else ""
    if token.lower().startswith("bearer "):
        raise ConfigError("MASTODON_ACCESS_TOKEN", "must be the token alone, without the word Bearer")
    if any(c.isspace() or not c.isprintable() for c in token):
        # Never echo the value: it is a secret.
        raise ConfigError("MASTODON_ACCESS_TOKEN", "contains spaces or control characters; paste the token alone")

    visibility = get("MASTODON_VISIBILITY").lower() or "public"
    if visibility not in VISIBILITIES:
        raise ConfigError("MASTODON_VISIBILITY", f"{visibility!r} is not one of {', '.join(VISIBILITIES)}")
    return MastodonSettings(instance=instance, access_token=token, visibility=visibility)


def normalize_instance(value: str, variable: str = "MASTODON_INSTANCE") -> str:
    """``mastodon.social`` or ``https://mastodon.social/`` → ``https://mastodon.social``."""
    value = value.strip()
    if not value:
        raise ConfigError(variable, "is required: your instance's address, such as https://mastodon.social")
    if "://" not in value:
        if value.startswith("@") or value.count("@") == 1:
            raise ConfigError(variable, f"{value!r} looks like an account; give the instance's address, "
                                        f"such as https://{value.rsplit('@', 1)[-1]}")
        value = "https://" + value
    problem = check_api_base(value)
    if problem:
        raise ConfigError(variable, problem)
    parts = urlsplit(value)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(variable, "must be the instance's address alone, such as https://mastodon.social")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


# -- text rules ------------------------------------------------------------------------

# A mention as Account::MENTION_RE finds it: not after "=", "/" or a word character
# (so me@example.com and https://host/@user are not mentions), a username, an optional domain.
_USERNAME = r"[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*"
_MENTION = lazy(r"(?<![=/\w])@(" + _USERNAME + r")(@\w+(?:[.-]+\w+)*)?", re.IGNORECASE)
# twitter-text's end_mention_match: what right after a mention makes it no mention.
_LATIN_ACCENTS = ("\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259"
                  "\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff")
_END_MENTION = lazy("(?:[@\uff20" + _LATIN_ACCENTS + "]|://)")

# A URL's start: a scheme Mastodon links, not right after a letter, digit, @, $ or #.
_NON_SPACE_RUN = lazy(r"\S*")
_SCHEME = lazy(r"(?<![A-Za-z0-9@\uff20$#\uff03\ufffe\ufeff\uffff])"
               r"(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://", re.IGNORECASE)
# Domain characters: anything but ASCII punctuation, spaces, invalid and directional characters.
_NOT_DOMAIN = r"\s!-/:-@\[-`{-~\ufffe\ufeff\uffff\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_HOST_RUN = lazy("(?:[^" + _NOT_DOMAIN + "]|[-_.])+")
# The same two for text without the characters beyond Latin-1 that they name or that match an
# ASCII letter ignoring case (İ ı ſ K): cut to Latin-1, letters of both cases spelt out. The
# full ones put 65,536-entry maps in their patterns (~0.7 ms to compile, paid by the first
# message for Mastodon of every process); on such text these match alike (tests/test_mastodon_fill.py).
_LATIN1_SCHEME = lazy(r"(?<![A-Za-z0-9@$#])(?i:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://")
_LATIN1_HOST_RUN = lazy(r"(?:[^\s!-/:-@\[-`{-~]|[-_.])+")
_NEEDS_FULL_URL_PATTERNS = frozenset("\uff20\uff03\ufffe\ufeff\uffff\u202a\u202b\u202c\u202d\u202e\u061c\u200e"
                                     "\u200f\u2066\u2067\u2068\u2069\u0130\u0131\u017f\u212a")
_PORT = lazy(r":[0-9]+")
_TLD_FOLLOW_BAD = lazy(r"[0-9a-zA-Z@+-]")
# Mastodon's path rules (twitter_regex.rb): a path runs over anything but spaces,
# < > ( ) ?, with balanced parentheses, and ends on a character not in this set.
_PATH_STOP = set("<>()?")
_PATH_NOT_ENDING = set("()?!*\"'\u300c\u300d<>;:=,.$%[]~&|@")
_GENERAL = r"[^\s<>()?]"
_BALANCED = lazy(r"\((?:" + _GENERAL + r"+|" + _GENERAL + r"*\(" + _GENERAL + r"+\)" + _GENERAL + r"*)\)")
# Query characters (twitter_regex.rb's valid_url_query_chars and _ending_chars): ASCII
# sets plus UCHARS, which are ranges, checked by hand (a case-insensitive regex over
# them costs 60 ms to compile at import).
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_QUERY_ASCII = frozenset(_ALNUM + "!?*'();:&=+$/%#[]-_.,~|@^")
_QUERY_END_ASCII = frozenset(_ALNUM + "_&=#/-")
_UCHARS = ((0xA0, 0xD7FF), (0xE000, 0xF8FF), (0xF900, 0xFDCF), (0xFDF0, 0xFFEF), (0x10000, 0xDFFFD),
           (0xE1000, 0xEFFFD), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))


def _query_char(char: str, ending: bool = False) -> bool:
    if char in (_QUERY_END_ASCII if ending else _QUERY_ASCII):
        return True
    code = ord(char)
    # UCHARS leaves out each plane's last two code points (U+xFFFE, U+xFFFF) and U+E0000-E0FFF.
    return code >= 0xA0 and (code & 0xFFFF) < 0xFFFE and any(low <= code <= high for low, high in _UCHARS)


def _known_tlds() -> frozenset[str]:
    global _TLDS
    if _TLDS is None:
        # twitter-text's TLD lists, which Mastodon's extractor uses too; loaded on first count.
        from bot.twitter_text import _CCTLDS, _GTLDS
        _TLDS = frozenset(t.lower() for t in _GTLDS + _CCTLDS)
    return _TLDS


_TLDS: frozenset[str] | None = None


def _is_tld(label: str) -> bool:
    lowered = label.lower()
    return lowered in _known_tlds() or (lowered.startswith("xn--") and len(lowered) > 4
                                        and re.fullmatch(r"xn--[-0-9a-z]+", lowered) is not None)


def _domain_end(text: str, start: int, host_run: LazyPattern = _HOST_RUN) -> int | None:
    """Where the domain that starts at ``start`` ends, as twitter-text's valid_domain
    finds it (labels, then a known TLD not followed by a letter, digit, @, + or -),
    or None when no valid domain starts there."""
    run = host_run.match(text, start)
    if not run or run.end() == start:
        return None
    labels = run.group().split(".")
    # The longest prefix of labels that ends on a TLD wins, as the regex's backtracking does.
    for count in range(len(labels), 1, -1):
        tld, name, subs = labels[count - 1], labels[count - 2], labels[:count - 2]
        end = start + len(".".join(labels[:count]))
        following = text[end:end + 1]
        if following and _TLD_FOLLOW_BAD.match(following):
            continue
        if _is_tld(tld) and _label_ok(name, "-") and all(_label_ok(s, "-_") for s in subs):
            return end
    return None


def _label_ok(label: str, inner: str) -> bool:
    """A label of domain characters, with ``inner`` characters allowed only inside it."""
    return bool(label) and label[0] not in "-_" and label[-1] not in "-_" and all(
        c in inner for c in label if c in "-_")


def _path_end(text: str, slash: int) -> int:
    """The end of a path that starts with the ``/`` at ``slash``."""
    end = position = slash + 1
    while position < len(text):
        char = text[position]
        if char == "(":
            group = _BALANCED.match(text, position)
            if not group:
                break
            position = end = group.end()
            continue
        if char in _PATH_STOP or char.isspace():
            break
        position += 1
        if char not in _PATH_NOT_ENDING:
            end = position
    return end


def _query_end(text: str, question: int) -> int:
    """The end of a query that starts with the ``?`` at ``question`` (``question`` if none)."""
    end = question
    position = question + 1
    while position < len(text) and _query_char(text[position]):
        if _query_char(text[position], ending=True):
            end = position + 1
        position += 1
    return end


def _url_entities(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, certain) of each URL. ``certain`` is False when the text looks like a
    URL whose domain we cannot confirm (unknown TLD): Mastodon may or may not count it
    as a URL, so the count takes the larger reading."""
    found: list[tuple[int, int, bool]] = []
    if "://" not in text:
        return found
    if max(text) < "\u0130" or _NEEDS_FULL_URL_PATTERNS.isdisjoint(text):
        scheme_pattern, host_run = _LATIN1_SCHEME, _LATIN1_HOST_RUN
    else:
        scheme_pattern, host_run = _SCHEME, _HOST_RUN
    position = 0
    while True:
        scheme = scheme_pattern.search(text, position)
        if not scheme:
            return found
        start, host = scheme.start(), scheme.end()
        end = _domain_end(text, host, host_run)
        if end is None:
            word_end = _NON_SPACE_RUN.match(text, host).end()  # type: ignore[union-attr]  # \S* always matches
            if word_end > host:
                found.append((start, word_end, False))
            position = max(word_end, host)
            continue
        port = _PORT.match(text, end)
        if port:
            end = port.end()
        if text[end:end + 1] == "/":
            end = _path_end(text, end)
        if text[end:end + 1] == "?":
            end = _query_end(text, end)
        found.append((start, end, True))
        position = end


def _mention_entities(text: str) -> list[tuple[int, int, str]]:
    """(start, end, username) of each mention, as Mastodon's extractor keeps them."""
    if "@" not in text:
        return []
    found = []
    for match in _MENTION.finditer(text):
        if _END_MENTION.match(text, match.end()):
            continue
        found.append((match.start(), match.end(), match.group(1)))
    return found


def countable_text(text: str, url_length: int = URL_LENGTH_DEFAULT) -> str:
    """The text as Mastodon counts it: URLs as ``url_length`` characters, mentions as ``@user``."""
    if not text.strip():
        return ""
    entities: list[tuple[int, int, str]] = []
    for start, end, certain in _url_entities(text):
        if certain:
            entities.append((start, end, "x" * url_length))
        else:
            # Counted both ways at once: never less than Mastodon counts, whichever it decides.
            entities.append((start, end, "x" * url_length + text[start:end]))
    entities += [(start, end, "@" + user) for start, end, user in _mention_entities(text)]
    entities.sort(key=lambda e: e[0])
    out, position = [], 0
    for start, end, replacement in entities:
        if start < position:          # overlaps an entity already kept (earlier start wins)
            continue
        out.append(text[position:start])
        out.append(replacement)
        position = end
    out.append(text[position:])
    return "".join(out)


def length(text: str, url_length: int = URL_LENGTH_DEFAULT) -> int:
    """The length Mastodon's StatusLengthValidator gives ``text``: grapheme clusters of the
    text with each URL counted as ``url_length`` and each ``@user@domain`` as ``@user``."""
    from bot.compose import grapheme_boundaries   # the composer's UAX #29 segmentation

    countable = countable_text(text, url_length)
    return len(grapheme_boundaries(countable)) - 1 if countable else 0


def defuse_mentions(text: str) -> str:
    """``@user`` and ``@user@host`` → ``@\u2060user…``: an automated post must not notify people.

    Only what Mastodon would make a mention is touched (``me@example.com`` and
    ``https://host/@user`` are not mentions); U+2060 WORD JOINER after the ``@`` is
    invisible and breaks Account::MENTION_RE, as the composer does for X.
    """
    if "@" not in text:
        return text
    cuts = [start + 1 for start, _, _ in _mention_entities(text)]
    for cut in reversed(cuts):
        text = text[:cut] + "\u2060" + text[cut:]
    return text


def idempotency_key(post_url: str, text: str, delivery_key: str = "") -> str:
    """The Idempotency-Key for one delivery: the same on every retry, different for another.

    From the delivery's key (``Message.key``, which delivery sets) and the post's URL:
    the text is left out, so a retry whose text came out differently (the instance's
    limit learnt between tries, a template edited) still cannot post twice, and a
    repost (a new delivery) is a new status. Without a delivery key (the adapter used
    on its own) it is the post's URL and the text: composition is deterministic.
    """
    if delivery_key:
        seed = f"{NAME}\n{post_url}\ndelivery {delivery_key}"
    else:
        seed = f"{NAME}\n{post_url}\n{hashlib.sha256(text.encode('utf-8')).hexdigest()}"
    return "autopost-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:40]


# -- one HTTP exchange -----------------------------------------------------------------

class _Answer(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: Any                 # parsed JSON, or None when the body was not JSON
    raw: bytes


def _exchange(session: requests.Session, method: str, url: str, *, timeout: float,
              headers: Mapping[str, str] | None = None, data: Mapping[str, str] | None = None,
              params: Mapping[str, str] | None = None) -> _Answer:
    """Make one request whose whole exchange ends within ``timeout`` (plus one read);
    transport failures become TransientError."""
    deadline = time.monotonic() + timeout
    log.debug("mastodon: %s %s", method, url)
    try:
        with session.request(method, url, headers=dict(headers or {}), data=data, params=params,
                             timeout=timeout, stream=True, allow_redirects=False) as response:
            received = read_answer(response, platform=NAME, who="the instance", max_bytes=MAX_BODY_BYTES,
                                   deadline=deadline, timeout=timeout)
            status, answer_headers = response.status_code, response.headers
    except transport_errors_caught() as exc:                 # read1 raises urllib3's and OSError mid-body
        raise transient(NAME, "the instance", timeout, exc) from None
    log.debug("mastodon: %s %s -> %s", method, url, status)
    import json

    try:
        body = json.loads(received.decode("utf-8")) if received else None
    except (ValueError, UnicodeDecodeError):
        body = None
    return _Answer(status, answer_headers, body, received)


def _words(answer: _Answer, secrets: tuple[str, ...] = ()) -> str:
    """The instance's own explanation: ``error`` and ``error_description``, secrets masked."""
    said = ""
    if isinstance(answer.body, dict):
        parts = [str(answer.body.get(k) or "").strip() for k in ("error", "error_description")]
        said = ": ".join(p for p in parts if p)
    for secret in secrets:
        if secret:
            said = said.replace(secret, "****")
    return said[:500]


def _fail(answer: _Answer, *, clock: Callable[[], datetime], secrets: tuple[str, ...] = (),
          doing: str = "the request") -> PlatformError:
    """The error for a non-2xx answer, by status code (Mastodon's codes follow HTTP)."""
    status = answer.status
    said = _words(answer, secrets)
    shown = said or (f"HTTP {status}" if answer.body is not None else f"HTTP {status} without a JSON body")
    if status in (401, 403):
        return AuthError(NAME, f"the instance refused {doing}: {shown}. Check MASTODON_ACCESS_TOKEN: it "
                               f"must be a token of this instance with the scopes {SCOPES} (run `autopost "
                               f"auth mastodon --instance URL` for a new one).", status=status, code=said or None)
    if 300 <= status < 400:
        # Not followed: a redirected POST comes back as a GET, and the token must not travel.
        where = answer.headers.get("Location") or "another address"
        return PermanentError(NAME, f"the instance redirected {doing} to {where}; set MASTODON_INSTANCE to "
                                    f"the instance's own address", status=status)
    if status == 429:
        return RateLimited(NAME, f"rate-limited by the instance: {said or 'Too many requests'}",
                           retry_at=_reset_time(answer.headers, clock), status=status, code=said or None)
    if status >= 500 or answer.body is None and status >= 400 and status not in (404, 410, 422):
        return TransientError(NAME, f"temporary error from the instance on {doing}: {shown}", status=status)
    if status == 422:
        return PermanentError(NAME, f"the instance refused {doing}: {shown}", status=status, code=said or None)
    return PermanentError(NAME, f"the instance answered {doing} with HTTP {status}: {shown}", status=status,
                          code=said or None)


def _reset_time(headers: Mapping[str, str], clock: Callable[[], datetime]) -> datetime:
    now = clock()
    raw = (headers.get("X-RateLimit-Reset") or "").strip()
    if raw:
        try:
            reset = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            reset = None
        if reset is not None:
            if reset.tzinfo is None:
                reset = reset.replace(tzinfo=timezone.utc)
            return max(reset.astimezone(timezone.utc), now)
    return now + DEFAULT_RATE_LIMIT_WAIT


def _json_object(answer: _Answer, what: str) -> dict[str, Any]:
    if not isinstance(answer.body, dict):
        raise TransientError(NAME, f"the instance answered {what} with HTTP {answer.status} but no JSON "
                                   f"object", status=answer.status)
    return answer.body


# -- the adapter -----------------------------------------------------------------------

class MastodonPlatform:
    """Posts statuses to one account on one Mastodon instance."""

    name = NAME

    def __init__(self, *, instance: str, token: str, visibility: str = "public", timeout: float = 30.0,
                 clock: Callable[[], datetime] | None = None, session: requests.Session | None = None):
        self.instance = normalize_instance(instance)
        if not token or not token.strip():
            raise ConfigError("MASTODON_ACCESS_TOKEN", "is required: an access token for this instance")
        if visibility not in VISIBILITIES:
            raise ConfigError("MASTODON_VISIBILITY", f"{visibility!r} is not one of {', '.join(VISIBILITIES)}")
        self._token = token.strip()
        self.visibility = visibility
        self.timeout = timeout
        self._clock = clock or utcnow
        self._session = session or new_session()
        self._account_id: str | None = None

    @classmethod
    def from_settings(cls, settings: MastodonSettings, *, timeout: float,
                      clock: Callable[[], datetime] | None = None) -> MastodonPlatform:
        return cls(instance=settings.instance, token=settings.access_token, visibility=settings.visibility,
                   timeout=timeout, clock=clock)

    def __repr__(self) -> str:
        return (f"MastodonPlatform(instance={self.instance!r}, token={mask(self._token)!r}, "
                f"visibility={self.visibility!r})")

    # -- the Platform interface ---------------------------------------------------

    def publish(self, message: Message) -> Published:
        """Post the status; return its id and public URL.

        The Idempotency-Key (from the delivery: ``message.key``) makes a retry within
        Mastodon's hour return the status the first try made. A retry later than that
        would post again: delivery looks first with ``find_existing`` (it does before
        every retry on a network that does not reject duplicates, and after a crash).
        """
        fields = {"status": message.text, "visibility": self.visibility}
        language = getattr(message, "language", "") or ""   # Message carries no language yet
        if language:
            fields["language"] = language
        key = idempotency_key(message.post_url or message.link, message.text, message.key)
        body = self._call("POST", "/api/v1/statuses", data=fields, headers={"Idempotency-Key": key},
                          doing="the status")
        status_id = body.get("id")
        if not isinstance(status_id, str) or not status_id:
            raise TransientError(NAME, "the instance accepted the status but its answer had no id", status=200)
        url = body.get("url") or body.get("uri")
        return Published(remote_id=status_id, url=url if isinstance(url, str) else None)

    def verify(self) -> str:
        """The account as ``@user@instance-host``."""
        account = self._call("GET", "/api/v1/accounts/verify_credentials", doing="the credentials check")
        if isinstance(account.get("id"), (str, int)):
            self._account_id = str(account["id"])
        user = str(account.get("username") or account.get("acct") or "").split("@")[0]
        if not user:
            raise TransientError(NAME, "the instance's answer to verify_credentials had no username", status=200)
        return f"@{user}@{urlsplit(self.instance).hostname}"

    def find_existing(self, post_url: str) -> Published | None:
        """The account's recent status that links ``post_url`` (card or text), or None."""
        if self._account_id is None:
            self.verify()
        answer = self._answer("GET", f"/api/v1/accounts/{quote(self._account_id or '', safe='')}/statuses",
                              params={"limit": str(RECENT_STATUSES), "exclude_replies": "true",
                                      "exclude_reblogs": "true"}, doing="the list of recent statuses")
        if not isinstance(answer.body, list):
            raise TransientError(NAME, "the instance's list of statuses was not a JSON array", status=answer.status)
        wanted = identity(post_url, keep_fragment=False)   # a card's link may have lost its #fragment
        for status in answer.body:
            if not isinstance(status, dict) or not isinstance(status.get("id"), str):
                continue
            if any(identity(link, keep_fragment=False) == wanted for link in _status_links(status)):
                url = status.get("url") or status.get("uri")
                return Published(remote_id=status["id"], url=url if isinstance(url, str) else None,
                                 note="already on Mastodon")
        return None

    def text_rules(self) -> TextRules:
        """This instance's text rules, which delivery asks once and composes with: its own limit
        and URL length (``GET /api/v2/instance``) in place of the usual 500 and 23."""
        from functools import partial

        limit, url_length = self.text_limits()
        return NETWORK.text._replace(limit=limit, length=partial(length, url_length=url_length))

    def text_limits(self) -> tuple[int, int]:
        """(max characters, characters per URL) of this instance; 500 and 23 when it does not say."""
        try:
            body = self._call("GET", "/api/v2/instance", doing="the instance's configuration")
        except PermanentError as exc:
            if exc.status == 404:      # before Mastodon 4.0, or another server: the defaults hold
                return LIMIT_DEFAULT, URL_LENGTH_DEFAULT
            raise
        configuration = body.get("configuration")
        statuses = configuration.get("statuses") if isinstance(configuration, dict) else None
        statuses = statuses if isinstance(statuses, dict) else {}
        return (_positive(statuses.get("max_characters"), LIMIT_DEFAULT),
                _positive(statuses.get("characters_reserved_per_url"), URL_LENGTH_DEFAULT))

    # -- HTTP -----------------------------------------------------------------------

    def _answer(self, method: str, path: str, *, doing: str, data: Mapping[str, str] | None = None,
                params: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None) -> _Answer:
        sent = {"Authorization": f"Bearer {self._token}", "Accept": "application/json", **(headers or {})}
        answer = _exchange(self._session, method, self.instance + path, timeout=self.timeout,
                           headers=sent, data=data, params=params)
        if not 200 <= answer.status < 300:
            raise _fail(answer, clock=self._clock, secrets=(self._token,), doing=doing)
        return answer

    def _call(self, method: str, path: str, *, doing: str, **kw: Any) -> dict[str, Any]:
        return _json_object(self._answer(method, path, doing=doing, **kw), doing)


def from_settings(settings: MastodonSettings, *, timeout: float,
                  clock: Callable[[], datetime] | None = None) -> MastodonPlatform:
    return MastodonPlatform.from_settings(settings, timeout=timeout, clock=clock)


def _positive(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return default


_HREF = lazy(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def _status_links(status: Mapping[str, Any]) -> list[str]:
    """The card's URL (Mastodon adds the card a moment after posting) and every link in the content."""
    links = []
    card = status.get("card")
    if isinstance(card, dict) and isinstance(card.get("url"), str):
        links.append(card["url"])
    content = status.get("content")
    if isinstance(content, str):
        links += [html.unescape(a or b) for a, b in _HREF.findall(content)]
    return links


# -- connecting an account (the out-of-band authorization-code flow) ----------------------

def register_app(instance: str, *, session: requests.Session, timeout: float,
                 clock: Callable[[], datetime] | None = None) -> tuple[str, str]:
    """Register autopost as an app on the instance; return (client_id, client_secret)."""
    base = normalize_instance(instance)
    answer = _exchange(session, "POST", base + "/api/v1/apps", timeout=timeout,
                       headers={"Accept": "application/json"},
                       data={"client_name": CLIENT_NAME, "redirect_uris": OOB_REDIRECT, "scopes": SCOPES})
    if answer.status in (401, 403):
        # Not "check MASTODON_ACCESS_TOKEN": the owner is getting one. Some instances close app
        # registration to the public; an application made by hand gives a token all the same.
        raise AuthError(NAME, f"the instance refused to register autopost as an app "
                              f"({_words(answer, ()) or f'HTTP {answer.status}'}): it may not let apps register "
                              f"themselves. Make one by hand on the instance (Preferences > Development > New "
                              f"application, scopes {SCOPES}) and set MASTODON_INSTANCE and "
                              f"MASTODON_ACCESS_TOKEN to the instance and the application's access token",
                        status=answer.status)
    if not 200 <= answer.status < 300:
        raise _fail(answer, clock=clock or utcnow, doing="the app registration")
    body = _json_object(answer, "the app registration")
    client_id, client_secret = body.get("client_id"), body.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not isinstance(client_secret, str) or not client_secret:
        raise TransientError(NAME, "the instance registered the app but did not return its client id and secret",
                             status=answer.status)
    return client_id, client_secret


def authorize_url(instance: str, client_id: str) -> str:
    """The page where the account's owner approves autopost; it then shows a code to paste."""
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": OOB_REDIRECT,
                       "scope": SCOPES}, quote_via=quote)
    return f"{normalize_instance(instance)}/oauth/authorize?{query}"


def exchange_code(instance: str, client_id: str, client_secret: str, code: str, *,
                  session: requests.Session, timeout: float,
                  clock: Callable[[], datetime] | None = None) -> str:
    """Trade the code the owner pasted for an access token."""
    base = normalize_instance(instance)
    answer = _exchange(session, "POST", base + "/oauth/token", timeout=timeout,
                       headers={"Accept": "application/json"},
                       data={"grant_type": "authorization_code", "code": code.strip(), "client_id": client_id,
                             "client_secret": client_secret, "redirect_uri": OOB_REDIRECT})
    if not 200 <= answer.status < 300:
        if answer.status == 400:
            # invalid_grant: the code was mistyped, used already, or expired: ask again.
            raise PermanentError(NAME, f"the instance refused the code: "
                                       f"{_words(answer, (client_secret, code)) or 'HTTP 400'}", status=400)
        raise _fail(answer, clock=clock or utcnow, secrets=(client_secret, code),
                    doing="the code exchange")
    body = _json_object(answer, "the code exchange")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise TransientError(NAME, "the instance's token answer had no access_token", status=answer.status)
    return token



def auth_mastodon(instance: str, env_path: str | Path, *, timeout: float,
                  input_fn: Callable[[str], str] = input, print_fn: Callable[..., None] = print) -> str:
    """`autopost auth mastodon`: register the app, have the owner approve it, store the token.

    Writes MASTODON_INSTANCE and MASTODON_ACCESS_TOKEN with the project's env-file
    writer (atomic; the CLI then makes the file 0600). Returns the account.
    """
    from bot.envfile import update_env_file

    instance = normalize_instance(instance)
    session = new_session()
    client_id, client_secret = register_app(instance, session=session, timeout=timeout)
    print_fn(f"1. Open this address in a browser where you are signed in to {urlsplit(instance).hostname} "
             f"as the account to post as:")
    print_fn(f"   {authorize_url(instance, client_id)}")
    print_fn(f"2. Press \"Authorize\"; the instance then shows an authorization code (autopost asks for "
             f"{SCOPES}).")
    code = "".join(input_fn("3. Paste the code here: ").split())
    if not code:
        raise PermanentError(NAME, "no code entered; nothing was changed. Run `autopost auth mastodon` again")
    token = exchange_code(instance, client_id, client_secret, code, session=session, timeout=timeout)
    update_env_file(env_path, {"MASTODON_INSTANCE": instance, "MASTODON_ACCESS_TOKEN": token})
    try:
        account = MastodonPlatform(instance=instance, token=token, timeout=timeout, session=session).verify()
    except PlatformError as exc:
        # The token is saved (its code cannot be used twice); `check` will say more.
        print_fn(f"Saved MASTODON_INSTANCE and MASTODON_ACCESS_TOKEN in {env_path}, but the account could not "
                 f"be checked: {exc.message}. Run `autopost check`.")
        return ""
    print_fn(f"Saved MASTODON_INSTANCE and MASTODON_ACCESS_TOKEN for {account} in {env_path}. Mastodon "
             f"tokens do not expire (revoke one under Preferences > Account > Authorized apps); next, "
             f"run `autopost check`.")
    return account


def _auth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instance", metavar="URL",
                        help="your instance's address, such as https://mastodon.social (default: MASTODON_INSTANCE)")


def _run_auth(settings: Any, network: MastodonSettings | None, env_path: Path, args: argparse.Namespace) -> None:
    from bot.cli import UsageError

    instance = (args.instance or "").strip() or (network.instance if network else "")
    if not instance:
        raise UsageError("auth mastodon needs --instance URL (your instance's address, such as "
                         "https://mastodon.social) or MASTODON_INSTANCE; nothing was changed")
    if args.instance:
        try:
            instance = normalize_instance(args.instance, "--instance")
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    auth_mastodon(instance, env_path, timeout=settings.request_timeout)


# -- the description, as the registry lists it ---------------------------------------------

NETWORK = Network(
    name=NAME,
    label="Mastodon",
    variables=VARIABLES,
    secrets=SECRETS,
    credentials=REQUIRED,
    parse=parse_settings,
    adapter="bot.platforms.mastodon:from_settings",
    # Without the Idempotency-Key (kept an hour) a retry would post the same text again:
    # after a crash, delivery reads the account's recent statuses (find_existing) first.
    rejects_duplicates=REJECTS_DUPLICATES,
    text=TextRules(
        limit=LIMIT_DEFAULT,                  # the usual instance's; an instance may say more (or less)
        length=length,
        default_template=DEFAULT_TEMPLATE,
        defuse_mentions=defuse_mentions,      # an automated post must not notify people
        url_in_text=URL_IN_TEXT,
        card_fields=(),                       # Mastodon builds the card from the link in the text
    ),
    auth=AuthFlow(help="Mastodon: register autopost on your instance, paste the code it shows",
                  epilog="Example: autopost auth mastodon --instance https://mastodon.social",
                  run=_run_auth, arguments=_auth_arguments),
)
