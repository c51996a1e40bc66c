"""Mastodon: settings, the length rule, mention defusing, and the adapter and auth flow
against the fake instance over real HTTP on 127.0.0.1."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError
from bot.models import Message, Published
from bot.platforms import mastodon
from bot.platforms.base import AuthError, PermanentError, RateLimited, TransientError, new_session
from bot.platforms.mastodon import (
    DEFAULT_TEMPLATE,
    LIMIT_DEFAULT,
    OOB_REDIRECT,
    SCOPES,
    SECRETS,
    URL_LENGTH_DEFAULT,
    VARIABLES,
    MastodonPlatform,
    MastodonSettings,
    defuse_mentions,
    idempotency_key,
    length,
    parse_settings,
)
from tests.conftest import Clock
from tests.fakes.mastodon import ACCOUNT_ID, TOKEN, USERNAME, FakeMastodon

POST_URL = "https://blog.example.com/2026/11/hello-world/"
TEXT = "Hello world\n\nA first post on the blog.\n\n" + POST_URL + "\n\n#Blogging"


def message(text: str = TEXT, post_url: str = POST_URL) -> Message:
    return Message(network="mastodon", text=text, link=post_url, post_url=post_url)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc))


@pytest.fixture
def fake(clock):
    server = FakeMastodon(clock=clock)
    yield server
    server.close()


def adapter(fake: FakeMastodon, clock, *, token: str = TOKEN, visibility: str = "public",
            timeout: float = 5.0) -> MastodonPlatform:
    return MastodonPlatform(instance=fake.base_url, token=token, visibility=visibility, timeout=timeout,
                            clock=clock)


@pytest.fixture
def masto(fake, clock):
    return adapter(fake, clock)


# -- settings ----------------------------------------------------------------------------

def test_settings_are_read_and_normalised():
    settings = parse_settings({"MASTODON_INSTANCE": "Mastodon.Social/", "MASTODON_ACCESS_TOKEN": " tok-1 ",
                               "MASTODON_VISIBILITY": "Unlisted"})
    assert settings == MastodonSettings(instance="https://mastodon.social", access_token="tok-1",
                                        visibility="unlisted")
    assert "tok-1" not in repr(settings)


def test_settings_defaults():
    settings = parse_settings({"MASTODON_INSTANCE": "https://example.social", "MASTODON_ACCESS_TOKEN": "t"})
    assert settings.visibility == "public"


def test_an_instance_without_a_token_is_what_auth_starts_from():
    # The registry parses a network's settings as soon as one of its variables is set.
    settings = parse_settings({"MASTODON_INSTANCE": "mastodon.example"})
    assert settings == MastodonSettings(instance="https://mastodon.example")
    assert settings.secrets() == ()
    assert parse_settings({}) == MastodonSettings()


def test_plain_http_is_allowed_for_loopback_only():
    assert parse_settings({"MASTODON_INSTANCE": "http://127.0.0.1:8080",
                           "MASTODON_ACCESS_TOKEN": "t"}).instance == "http://127.0.0.1:8080"
    with pytest.raises(ConfigError) as caught:
        parse_settings({"MASTODON_INSTANCE": "http://mastodon.example", "MASTODON_ACCESS_TOKEN": "t"})
    assert caught.value.variable == "MASTODON_INSTANCE" and "https" in str(caught.value)


SECRET = "s3cr3t-TOKEN-value"


@pytest.mark.parametrize("values, variable", [
    ({"MASTODON_ACCESS_TOKEN": SECRET}, "MASTODON_INSTANCE"),
    ({"MASTODON_INSTANCE": "ftp://mastodon.example", "MASTODON_ACCESS_TOKEN": SECRET}, "MASTODON_INSTANCE"),
    ({"MASTODON_INSTANCE": "@me@mastodon.example", "MASTODON_ACCESS_TOKEN": SECRET}, "MASTODON_INSTANCE"),
    ({"MASTODON_INSTANCE": "https://mastodon.example/?x=1", "MASTODON_ACCESS_TOKEN": SECRET}, "MASTODON_INSTANCE"),
    ({"MASTODON_INSTANCE": "mastodon.example", "MASTODON_ACCESS_TOKEN": "Bearer " + SECRET}, "MASTODON_ACCESS_TOKEN"),
    ({"MASTODON_INSTANCE": "mastodon.example", "MASTODON_ACCESS_TOKEN": SECRET + " x"}, "MASTODON_ACCESS_TOKEN"),
    ({"MASTODON_INSTANCE": "mastodon.example", "MASTODON_ACCESS_TOKEN": SECRET,
      "MASTODON_VISIBILITY": "friends"}, "MASTODON_VISIBILITY"),
])
def test_settings_errors_name_their_variable_and_never_the_token(values, variable):
    with pytest.raises(ConfigError) as caught:
        parse_settings(values)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)
    assert SECRET not in str(caught.value)


def test_variables_list_every_variable_read_and_the_secret():
    class Watching(dict):
        def get(self, key, default=None):
            read.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            read.add(key)
            return super().__getitem__(key)

    read: set[str] = set()
    parse_settings(Watching({"MASTODON_INSTANCE": "mastodon.example", "MASTODON_ACCESS_TOKEN": "t"}))
    assert read == set(VARIABLES)
    assert set(SECRETS) <= set(VARIABLES) and SECRETS == ("MASTODON_ACCESS_TOKEN",)


def test_describing_the_network_loads_no_http_library_or_composer():
    code = ("import sys, bot.platforms.mastodon as m; m.VARIABLES; "
            "print(sorted(n for n in ('requests', 'urllib3', 'bot.compose', 'bot.twitter_text') if n in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


# -- as the registry and config see it ------------------------------------------------------

def _settings(**values: str):
    from bot.config import settings_from

    return settings_from({"AUTOPOST_FEEDS": "feed.xml", **values})


def test_the_registry_lists_mastodon_with_its_description():
    from bot.platforms.registry import NAMES, network

    described = network("mastodon")
    assert "mastodon" in NAMES and described.label == "Mastodon"
    assert described.credentials == ("MASTODON_INSTANCE", "MASTODON_ACCESS_TOKEN")
    assert described.secrets == ("MASTODON_ACCESS_TOKEN",) and not described.rejects_duplicates
    assert (described.text.limit, described.text.default_template) == (500, DEFAULT_TEMPLATE)
    assert described.text.url_in_text and described.text.length is length
    assert described.auth is not None


def test_mastodon_is_enabled_by_its_instance_and_token():
    settings = _settings(MASTODON_INSTANCE="mastodon.example", MASTODON_ACCESS_TOKEN=SECRET)
    assert settings.platforms == ("mastodon",)
    assert settings.network("mastodon").instance == "https://mastodon.example"
    assert SECRET in settings.secrets()


def test_an_instance_alone_parses_but_does_not_enable_mastodon():
    settings = _settings(MASTODON_INSTANCE="mastodon.example")
    assert settings.platforms == ("console",)
    assert settings.networks["mastodon"] == MastodonSettings(instance="https://mastodon.example")


def test_enabling_mastodon_without_its_token_names_the_token():
    with pytest.raises(ConfigError) as caught:
        _settings(AUTOPOST_PLATFORMS="mastodon", MASTODON_INSTANCE="mastodon.example")
    assert caught.value.variable == "MASTODON_ACCESS_TOKEN"


@pytest.mark.parametrize("values, variable", [
    ({"MASTODON_TEMPLATE": "{title} {link}"}, "MASTODON_TEMPLATE"),
    ({"MASTODON_ALLOW_MENTIONS": "maybe"}, "MASTODON_ALLOW_MENTIONS"),
    ({"MASTODON_DAILY_CAP": "none"}, "MASTODON_DAILY_CAP"),
    ({"MASTODON_VISIBILITY": "friends"}, "MASTODON_VISIBILITY"),
])
def test_the_cores_per_network_variables_work_for_mastodon(values, variable):
    with pytest.raises(ConfigError) as caught:
        _settings(MASTODON_INSTANCE="mastodon.example", MASTODON_ACCESS_TOKEN=SECRET, **values)
    assert caught.value.variable == variable and SECRET not in str(caught.value)
    good = _settings(MASTODON_INSTANCE="mastodon.example", MASTODON_ACCESS_TOKEN=SECRET,
                     MASTODON_TEMPLATE="{title}\\n{url}", MASTODON_ALLOW_MENTIONS="true", MASTODON_DAILY_CAP="4")
    assert good.templates["mastodon"] == "{title}\n{url}"
    assert good.allow_mentions == ("mastodon",) and good.daily_caps["mastodon"] == 4


def test_a_misspelt_mastodon_variable_is_reported(tmp_path):
    from bot.config import load_settings

    env = tmp_path / "a.env"
    env.write_text("AUTOPOST_FEEDS=feed.xml\nMASTODON_INSTANSE=mastodon.example\n")
    assert any("did you mean MASTODON_INSTANCE?" in w for w in load_settings(str(env), {}).warnings)


# -- text rules ----------------------------------------------------------------------------

FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"


@pytest.mark.parametrize("text, url_length, expected", [
    ("Hello", 23, 5),
    ("", 23, 0),
    ("   \n ", 23, 0),                                       # Mastodon counts a blank text as empty
    ("Read https://blog.example.com/2026/11/a-very-long-article-slug-that-goes-on-and-on/", 23, 5 + 23),
    ("https://t.co/x", 23, 23),                              # a short URL costs the full reservation
    ("https://blog.example.com/a-long-slug-for-the-reservation", 30, 30),
    ("https://a.example.com/x https://b.example.org/y", 23, 23 + 1 + 23),
    ("Go to https://example.com/a.", 23, 6 + 23 + 1),        # the final dot is not part of the URL
    ("https://example.com/a?b=1&c=2, then", 23, 23 + 6),
    ("https://example.com:8443/path#part", 23, 23),
    ("https://example.com/a" + "\U0001F600", 23, 23),       # Mastodon's path takes any non-space character
    ("https://en.wikipedia.org/wiki/Foo_(bar)", 23, 23),     # balanced parentheses stay in the path
    ("(https://example.com/a)", 23, 1 + 23 + 1),
    ("example.com/path", 23, 16),                            # no scheme: not linked, counted in full
    ("xhttps://example.com", 23, 20),                        # glued to a word: not a URL
    ("https://例え.jp/パス", 23, 23),
    ("@alice@mastodon.social", 23, 6),                       # a remote mention counts as @alice
    ("@bob hi", 23, 7),
    ("me@example.com", 23, 14),                              # not a mention
    ("@\u2060alice@mastodon.social", 23, 23),                # defused: no mention, every character counts
    (FAMILY, 23, 1),                                         # grapheme clusters, not code points
    ("\U0001F1EF\U0001F1F5\U0001F1EB\U0001F1F7", 23, 2),
    ("e\u0301t\u00e9", 23, 3),
    ("日本語のテキスト", 23, 8),
])
def test_length_counts_as_mastodon_does(text, url_length, expected):
    assert length(text, url_length) == expected


@given(st.lists(st.sampled_from([
    ("word", 4), ("naïve", 5), ("日本", 2), (FAMILY, 1), ("#Tag", 4), ("me@example.com", 14),
    ("@alice@mastodon.social", 6), ("@bob", 4), ("https://blog.example.com/2026/11/a-long-article-slug/", 23),
    ("https://t.co/x", 23), ("https://example.org/a?b=1&c=2", 23), ("https://en.wikipedia.org/wiki/A_(b)", 23),
]), min_size=1, max_size=30), st.sampled_from([" ", "\n", "\n\n"]))
def test_length_adds_up_over_any_mix_of_words_links_and_mentions(pieces, separator):
    text = separator.join(piece for piece, _ in pieces)
    assert length(text) == sum(cost for _, cost in pieces) + len(separator) * (len(pieces) - 1)


@pytest.mark.parametrize("text", ["https://example.notatld/some/long/path/for-this", "https://x.zz"])
def test_a_url_with_an_unknown_domain_is_never_counted_short(text):
    # Mastodon may or may not link it; the count must hold either way.
    assert length(text) >= max(len(text), URL_LENGTH_DEFAULT)


@pytest.mark.parametrize("text, expected", [
    ("@alice", "@\u2060alice"),
    ("thanks @alice@mastodon.social!", "thanks @\u2060alice@mastodon.social!"),
    ("(@dave) and @erin.", "(@\u2060dave) and @\u2060erin."),
    ("write to me@example.com", "write to me@example.com"),
    ("https://mastodon.social/@carol", "https://mastodon.social/@carol"),
    ("a=@x", "a=@x"),
    ("no at sign", "no at sign"),
])
def test_defuse_mentions(text, expected):
    assert defuse_mentions(text) == expected
    assert mastodon._mention_entities(defuse_mentions(text)) == []


def test_default_template_has_the_link_in_the_text():
    assert "{url}" in DEFAULT_TEMPLATE and "{title}" in DEFAULT_TEMPLATE
    assert (LIMIT_DEFAULT, URL_LENGTH_DEFAULT) == (500, 23)


def test_idempotency_key_is_stable_per_delivery():
    key = idempotency_key(POST_URL, TEXT, "7@2026-11-30T05:00:00.000000+00:00")
    assert key == idempotency_key(POST_URL, TEXT, "7@2026-11-30T05:00:00.000000+00:00")
    # One delivery's tries share the key even when the text came out differently.
    assert key == idempotency_key(POST_URL, TEXT + " shorter or longer", "7@2026-11-30T05:00:00.000000+00:00")
    assert key != idempotency_key(POST_URL, TEXT, "8@2026-11-30T05:00:00.000000+00:00")   # a repost
    assert key != idempotency_key(POST_URL, TEXT, "7@2026-11-30T06:00:00.000000+00:00")   # another ledger
    assert key != idempotency_key(POST_URL + "other", TEXT, "7@2026-11-30T05:00:00.000000+00:00")
    assert key.isascii() and len(key) <= 64 and " " not in key


def test_idempotency_key_without_a_delivery_follows_the_text():
    key = idempotency_key(POST_URL, TEXT)
    assert key == idempotency_key(POST_URL, TEXT)
    assert key != idempotency_key(POST_URL, TEXT + " ")
    assert key != idempotency_key(POST_URL + "other", TEXT)


# -- publishing -------------------------------------------------------------------------------

def test_publish_posts_the_status(fake, masto):
    published = masto.publish(message())

    assert len(fake.statuses) == 1
    status = fake.statuses[0]
    assert status["text"] == TEXT and status["visibility"] == "public"
    assert published == Published(remote_id=status["id"], url=f"{fake.base_url}/@{USERNAME}/{status['id']}")
    sent = fake.posted()[0]
    assert sent.path == "/api/v1/statuses"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["idempotency-key"] == idempotency_key(POST_URL, TEXT)
    assert sent.form == {"status": TEXT, "visibility": "public"}


def test_publish_sends_visibility_and_language(fake, clock):
    adapter(fake, clock, visibility="unlisted").publish(
        Message(network="mastodon", text="Bonjour " + POST_URL, link=POST_URL, post_url=POST_URL, language="fr"))
    assert fake.posted()[0].form == {"status": "Bonjour " + POST_URL, "visibility": "unlisted", "language": "fr"}
    assert fake.statuses[0]["language"] == "fr"


def test_retry_after_a_lost_answer_posts_once(fake, masto):
    fake.drop_answer_next()
    with pytest.raises(TransientError):
        masto.publish(message())
    assert len(fake.statuses) == 1               # the instance made it; we never heard

    published = masto.publish(message())

    assert len(fake.statuses) == 1
    assert published.remote_id == fake.statuses[0]["id"]
    keys = [r.headers["idempotency-key"] for r in fake.posted()]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_a_retry_later_than_an_hour_needs_find_existing(fake, masto, clock):
    fake.drop_answer_next()
    with pytest.raises(TransientError):
        masto.publish(message())
    clock.advance(hours=1, minutes=1)
    # Mastodon has forgotten the key by now: only the account's statuses tell.
    found = masto.find_existing(POST_URL)
    assert found is not None and found.remote_id == fake.statuses[0]["id"]
    masto.publish(message())
    assert len(fake.statuses) == 2               # what delivery must avoid by looking first


def test_a_new_delivery_of_the_same_text_is_a_new_status(fake, masto):
    first = masto.publish(message()._replace(key="41@2026-11-30T05:00:00+00:00"))
    again = masto.publish(message()._replace(key="42@2026-11-30T05:00:00+00:00"))
    assert first.remote_id != again.remote_id and len(fake.statuses) == 2
    keys = [r.headers["idempotency-key"] for r in fake.posted()]
    assert keys == [idempotency_key(POST_URL, TEXT, "41@2026-11-30T05:00:00+00:00"),
                    idempotency_key(POST_URL, TEXT, "42@2026-11-30T05:00:00+00:00")]


def test_a_delivery_retried_with_another_text_is_still_one_status(fake, masto):
    fake.drop_answer_next()
    with pytest.raises(TransientError):
        masto.publish(message()._replace(key="41@2026-11-30T05:00:00+00:00"))
    again = masto.publish(message(text=TEXT.replace("A first post", "A post"))._replace(
                                  key="41@2026-11-30T05:00:00+00:00"))
    assert len(fake.statuses) == 1 and again.remote_id == fake.statuses[0]["id"]


def test_publish_refuses_to_go_over_the_instance_limit(fake, masto):
    with pytest.raises(PermanentError) as caught:
        masto.publish(message(text="x" * 501))
    assert caught.value.status == 422
    assert "Text character limit of 500 exceeded" in str(caught.value)
    assert fake.statuses == []


def test_the_composed_length_is_what_the_instance_accepts(fake, masto):
    text = "y" * (500 - 23 - 3) + " " + POST_URL + " " + FAMILY
    assert length(text) == 500
    masto.publish(message(text=text))
    assert len(fake.statuses) == 1


# -- every error mapped -------------------------------------------------------------------------

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("steer, expected, status", [
    (lambda f: f.fail_next(401, "The access token is invalid"), AuthError, 401),
    (lambda f: f.fail_next(403, "Your login is currently disabled"), AuthError, 403),
    (lambda f: f.fail_next(422, "Validation failed: Text can't be blank"), PermanentError, 422),
    (lambda f: f.fail_next(404, "Record not found"), PermanentError, 404),
    (lambda f: f.fail_next(301, headers={"Location": "https://social.example/api/v1/statuses"}),
     PermanentError, 301),
    (lambda f: f.rate_limit_next("2026-11-30T05:12:30.019685Z"), RateLimited, 429),
    (lambda f: f.rate_limit_next(None), RateLimited, 429),
    (lambda f: f.fail_next(500, "Internal Server Error"), TransientError, 500),
    (lambda f: f.fail_next(503, "There was a temporary problem serving your request, please try again"),
     TransientError, 503),
    (lambda f: f.html_next(502), TransientError, 502),
    (lambda f: f.html_next(200), TransientError, 200),
    (lambda f: f.garbage_next(200), TransientError, 200),
    (lambda f: f.garbage_next(500), TransientError, 500),
])
def test_publish_maps_each_answer(fake, masto, steer, expected, status):
    steer(fake)
    with pytest.raises(expected) as caught:
        masto.publish(message())
    assert type(caught.value) is expected
    assert caught.value.platform == "mastodon" and caught.value.status == status
    assert fake.statuses == []


def test_auth_and_422_errors_carry_the_instances_words(fake, masto):
    fake.fail_next(403, "Your login is missing a confirmed e-mail address")
    with pytest.raises(AuthError) as caught:
        masto.publish(message())
    assert "Your login is missing a confirmed e-mail address" in str(caught.value)
    assert "MASTODON_ACCESS_TOKEN" in str(caught.value)
    fake.fail_next(422, "Validation failed: Visibility is not included in the list")
    with pytest.raises(PermanentError) as caught:
        masto.publish(message())
    assert "Validation failed: Visibility is not included in the list" in str(caught.value)


def test_rate_limit_waits_until_the_reset_time(fake, masto, clock):
    fake.rate_limit_next("2026-11-30T05:12:30.019685Z")
    with pytest.raises(RateLimited) as caught:
        masto.publish(message())
    assert caught.value.retry_at == datetime(2026, 11, 30, 5, 12, 30, 19685, tzinfo=timezone.utc)

    fake.rate_limit_next(None)
    with pytest.raises(RateLimited) as caught:
        masto.publish(message())
    assert caught.value.retry_at == clock() + timedelta(minutes=5)

    fake.rate_limit_next("2026-11-30T04:00:00Z")        # already past: retry now, not in the past
    with pytest.raises(RateLimited) as caught:
        masto.publish(message())
    assert caught.value.retry_at == clock()


def test_the_token_never_appears_in_an_error(fake, masto):
    fake.fail_next(401, f"token {TOKEN} was revoked")
    with pytest.raises(AuthError) as caught:
        masto.publish(message())
    assert TOKEN not in str(caught.value) and "****" in str(caught.value)
    assert TOKEN not in repr(masto)


@pytest.mark.parametrize("steer", [lambda f: f.hang_next(), lambda f: f.trickle_next(0.05)])
def test_a_hang_or_a_trickle_is_cut_off_at_the_deadline(fake, clock, steer):
    masto = adapter(fake, clock, timeout=0.5)
    steer(fake)
    started = time.monotonic()
    with pytest.raises(TransientError):
        masto.publish(message())
    assert time.monotonic() - started < 0.5 + 1.0


def test_an_unreachable_instance_is_transient(clock):
    server = FakeMastodon()
    base = server.base_url
    server.close()
    masto = MastodonPlatform(instance=base, token=TOKEN, timeout=2, clock=clock)
    with pytest.raises(TransientError):
        masto.publish(message())


# -- verify, find_existing, the instance's limits ----------------------------------------------------

def test_verify_names_the_account(fake, masto):
    assert masto.verify() == f"@{USERNAME}@127.0.0.1"
    request = fake.requests[-1]
    assert (request.method, request.path) == ("GET", "/api/v1/accounts/verify_credentials")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_verify_with_a_revoked_token_is_an_auth_error(fake, masto):
    fake.revoke()
    with pytest.raises(AuthError) as caught:
        masto.verify()
    assert "The access token is invalid" in str(caught.value)
    fake.restore()
    assert masto.verify().startswith("@")


def test_verify_with_a_token_lacking_scopes_says_which_are_needed(clock):
    fake = FakeMastodon(scopes=frozenset({"write:statuses"}), clock=clock)
    try:
        with pytest.raises(AuthError) as caught:
            adapter(fake, clock).verify()
    finally:
        fake.close()
    assert "This action is outside the authorized scopes" in str(caught.value)
    assert SCOPES in str(caught.value)


def test_find_existing_matches_the_card_url(fake, masto):
    status_id = fake.add_status("Hello " + POST_URL + "?utm_source=mastodon")
    fake.add_status("Another post https://blog.example.com/2026/10/older/")

    found = masto.find_existing("http://www.blog.example.com/2026/11/hello-world")

    assert found == Published(remote_id=status_id, url=f"{fake.base_url}/@{USERNAME}/{status_id}",
                              note="already on Mastodon")
    listing = urlsplit(fake.requests[-1].path)
    assert listing.path == f"/api/v1/accounts/{ACCOUNT_ID}/statuses"
    assert parse_qs(listing.query) == {"limit": ["40"], "exclude_replies": ["true"], "exclude_reblogs": ["true"]}


def test_find_existing_matches_a_link_in_the_text_when_the_card_differs(fake, masto):
    status_id = fake.add_status(f"Hello world {POST_URL}", card_url="https://cdn.example.net/canonical/hello")
    assert masto.find_existing(POST_URL).remote_id == status_id


def test_find_existing_ignores_other_posts_replies_and_boosts(fake, masto):
    fake.add_status("Another post https://blog.example.com/2026/10/older/")
    fake.add_status(f"@someone see {POST_URL}", in_reply_to_id="1")
    fake.add_status(f"boosted {POST_URL}", reblog=True)
    assert masto.find_existing(POST_URL) is None


def test_find_existing_errors_are_raised(fake, masto):
    masto.verify()
    fake.fail_next(500, "Internal Server Error", path=f"/api/v1/accounts/{ACCOUNT_ID}/statuses")
    with pytest.raises(TransientError):
        masto.find_existing(POST_URL)


def test_text_rules_are_the_instances_limit_and_url_length(fake, masto):
    fake.max_characters, fake.url_length = 200, 30
    rules = masto.text_rules()
    assert rules.limit == 200 and rules.url_in_text and rules.default_template == DEFAULT_TEMPLATE
    assert rules.length("See " + POST_URL) == 4 + 30
    assert rules.defuse_mentions is defuse_mentions


def test_text_limits_are_the_instances(fake, masto):
    assert masto.text_limits() == (500, 23)
    fake.max_characters, fake.url_length = 11000, 30
    assert masto.text_limits() == (11000, 30)
    assert fake.requests[-1].path == "/api/v2/instance"


@pytest.mark.parametrize("max_characters, url_length, v2", [
    (None, None, True),            # fields absent
    ("lots", -1, True),            # nonsense
    (5000, 30, False),             # no /api/v2/instance (before Mastodon 4.0)
])
def test_text_limits_default_to_500_and_23(clock, max_characters, url_length, v2):
    fake = FakeMastodon(max_characters=max_characters, url_length=url_length, v2_instance=v2, clock=clock)
    try:
        assert adapter(fake, clock).text_limits() == (500, 23)
    finally:
        fake.close()


def test_from_settings_builds_a_working_adapter(fake, clock):
    settings = parse_settings({"MASTODON_INSTANCE": fake.base_url + "/", "MASTODON_ACCESS_TOKEN": TOKEN,
                               "MASTODON_VISIBILITY": "private"})
    platform = mastodon.from_settings(settings, timeout=5, clock=clock)
    assert platform.name == "mastodon" and platform.visibility == "private"
    platform.publish(message())
    assert fake.statuses[0]["visibility"] == "private"


# -- connecting an account -------------------------------------------------------------------------------

def test_auth_flow_gives_a_token_that_posts_verifies_and_finds(fake, clock):
    session = new_session()
    client_id, client_secret = mastodon.register_app(fake.base_url, session=session, timeout=5)

    app = fake.apps[client_id]
    assert app["name"] == "autopost" and app["redirect_uris"] == [OOB_REDIRECT]
    assert app["scopes"] == SCOPES.split()
    url = mastodon.authorize_url(fake.base_url, client_id)
    query = parse_qs(urlsplit(url).query)
    assert query == {"response_type": ["code"], "client_id": [client_id], "redirect_uri": [OOB_REDIRECT],
                     "scope": [SCOPES]}

    code = fake.authorize(url)                      # the owner approves and copies the code
    token = mastodon.exchange_code(fake.base_url, client_id, client_secret, code, session=session, timeout=5)

    masto = adapter(fake, clock, token=token)
    assert masto.verify() == f"@{USERNAME}@127.0.0.1"
    published = masto.publish(message())
    assert masto.find_existing(POST_URL).remote_id == published.remote_id
    exchange = [r for r in fake.requests if r.path == "/oauth/token"][0]
    assert exchange.form["grant_type"] == "authorization_code" and exchange.form["redirect_uri"] == OOB_REDIRECT


def test_a_code_works_once(fake):
    session = new_session()
    client_id, client_secret = mastodon.register_app(fake.base_url, session=session, timeout=5)
    code = fake.authorize(mastodon.authorize_url(fake.base_url, client_id))
    mastodon.exchange_code(fake.base_url, client_id, client_secret, code, session=session, timeout=5)
    with pytest.raises(PermanentError) as caught:
        mastodon.exchange_code(fake.base_url, client_id, client_secret, code, session=session, timeout=5)
    assert "invalid_grant" in str(caught.value) and code not in str(caught.value)


def test_a_wrong_client_secret_is_an_auth_error_without_the_secret(fake):
    session = new_session()
    client_id, _ = mastodon.register_app(fake.base_url, session=session, timeout=5)
    code = fake.authorize(mastodon.authorize_url(fake.base_url, client_id))
    with pytest.raises(AuthError) as caught:
        mastodon.exchange_code(fake.base_url, client_id, "wrong-secret-123", code, session=session, timeout=5)
    assert "invalid_client" in str(caught.value) and "wrong-secret-123" not in str(caught.value)


@pytest.mark.parametrize("steer, expected", [
    (lambda f: f.fail_next(422, "Validation failed: Redirect URI must be an absolute URI."), PermanentError),
    (lambda f: f.fail_next(500, "Internal Server Error"), TransientError),
    (lambda f: f.html_next(502), TransientError),
    (lambda f: f.rate_limit_next("2026-11-30T05:05:00Z"), RateLimited),
])
def test_app_registration_errors(fake, steer, expected):
    steer(fake)
    with pytest.raises(expected):
        mastodon.register_app(fake.base_url, session=new_session(), timeout=5)


def test_an_instance_that_refuses_app_registration_says_how_to_get_a_token_by_hand(fake):
    fake.fail_next(403, "This action is not allowed")
    with pytest.raises(AuthError) as caught:
        mastodon.register_app(fake.base_url, session=new_session(), timeout=5)
    message = str(caught.value)
    assert "refused to register autopost as an app (This action is not allowed)" in message
    assert "Preferences > Development > New application" in message
    assert "run `autopost auth mastodon" not in message          # the owner is running it


def test_auth_refuses_a_plain_http_instance():
    with pytest.raises(ConfigError) as caught:
        mastodon.register_app("http://mastodon.example", session=new_session(), timeout=5)
    assert caught.value.variable == "MASTODON_INSTANCE"
