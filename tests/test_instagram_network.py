"""Instagram as a plugged-in network: its description, `auth instagram`, its caption rules in compose."""
from __future__ import annotations

import getpass
import stat
from datetime import datetime, timedelta, timezone

from bot.compose import ComposeOptions, compose
from bot.config import SECRET_VARIABLES, VARIABLES, settings_from
from bot.models import Post
from bot.platforms import registry
from tests.conftest import run_cli, write_env
from tests.fakes import instagram as fake

FEED = "https://blog.example.com/feed.xml"


def test_instagram_is_one_registry_line_and_configured_by_its_description(fake_instagram):
    assert "instagram" in registry.NAMES and registry.network("instagram").label == "Instagram"
    assert {"INSTAGRAM_ACCOUNT_ID", "INSTAGRAM_IMAGE_URL_TEMPLATE", "INSTAGRAM_TEMPLATE",
            "INSTAGRAM_DAILY_CAP"} <= set(VARIABLES)
    assert "INSTAGRAM_ACCESS_TOKEN" in SECRET_VARIABLES

    settings = settings_from({"AUTOPOST_FEEDS": FEED, "INSTAGRAM_ACCOUNT_ID": fake.ACCOUNT_ID,
                              "INSTAGRAM_ACCESS_TOKEN": fake.TOKEN, "INSTAGRAM_TOKEN_EXPIRES": "2027-01-05"})

    assert settings.platforms == ("instagram",)                 # credentials set: enabled
    assert fake.TOKEN in settings.secrets()
    from bot.service import token_expiries
    assert str(token_expiries(settings)["instagram"]) == "2027-01-05"


def _post(**kw) -> Post:
    values = dict(feed_url=FEED, key="k", url="https://blog.example.com/2026/11/a-long-post/",
                  title="A long post", summary="word " * 1500, published=None,
                  image_url="https://blog.example.com/cover.jpg")
    values.update(kw)
    return Post(**values)


def test_the_caption_fits_2200_characters_and_keeps_the_url_whole():
    message = compose(_post(), "instagram")

    assert message.length <= 2200 and message.limit == 2200
    assert "\nhttps://blog.example.com/2026/11/a-long-post/\n" in message.text + "\n"
    assert message.image_url == "https://blog.example.com/cover.jpg"
    assert message.title == "A long post"                      # the image's alt text


def test_the_caption_never_carries_more_than_30_hashtags():
    written = " ".join(f"#w{i}" for i in range(12))             # the summary's own count as well
    categories = [f"topic{i}" for i in range(40)]

    message = compose(_post(summary=f"Short. {written}", categories=categories), "instagram", None,
                      ComposeOptions(hashtags_max=40))
    plain = compose(_post(summary="Short.", categories=categories), "facebook", "{title} {hashtags}",
                    ComposeOptions(hashtags_max=40))

    assert message.text.count("#") == 30
    assert plain.text.count("#") == 40                          # the cap is Instagram's, not everyone's


def test_auth_instagram_exchanges_a_short_token_and_saves_a_private_env_file(tmp_path, fake_instagram,
                                                                               monkeypatch):
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, INSTAGRAM_GRAPH_BASE=fake_instagram.base_url,
                    INSTAGRAM_ACCOUNT_ID="1", INSTAGRAM_ACCESS_TOKEN="an-expired-token")
    env.chmod(0o644)
    answers = iter([fake.SHORT_TOKEN, fake.APP_SECRET])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))

    result = run_cli("--env-file", str(env), "auth", "instagram")

    assert result.code == 0, result
    text = env.read_text()
    assert f"INSTAGRAM_ACCOUNT_ID={fake.ACCOUNT_ID}\n" in text
    assert f"INSTAGRAM_ACCESS_TOKEN={fake.TOKEN}\n" in text and "an-expired-token" not in text
    expires = (datetime.now(timezone.utc) + timedelta(seconds=fake.EXPIRES_IN)).date()
    assert f"INSTAGRAM_TOKEN_EXPIRES={expires.isoformat()}\n" in text       # 60 days from now
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert f"@{fake.USERNAME}" in result.out
    assert fake.SHORT_TOKEN not in result.out + result.err and fake.APP_SECRET not in result.out + result.err


def test_auth_instagram_with_a_wrong_app_secret_saves_nothing_and_shows_no_secret(tmp_path, fake_instagram,
                                                                                  monkeypatch):
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, INSTAGRAM_GRAPH_BASE=fake_instagram.base_url,
                    INSTAGRAM_ACCOUNT_ID="1", INSTAGRAM_ACCESS_TOKEN="an-expired-token")
    before = env.read_text()
    answers = iter([fake.SHORT_TOKEN, "not-the-app-secret"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))

    result = run_cli("--env-file", str(env), "auth", "instagram")

    assert result.code != 0
    assert env.read_text() == before
    assert "not-the-app-secret" not in result.out + result.err and fake.SHORT_TOKEN not in result.out + result.err


# -- the service's daily token renewal --------------------------------------------------------------

def _renewal(tmp_path, clock, fake_instagram, expires_in_days: int):
    from bot.delivery import Deliverer
    from bot.service import TokenRenewal, build_platforms
    from bot.store import Store
    from tests.conftest import network_env

    expires = (clock() + timedelta(days=expires_in_days)).date().isoformat()
    env = write_env(tmp_path / "autopost.env", AUTOPOST_FEEDS=FEED, **network_env(fake_instagram=fake_instagram),
                    INSTAGRAM_TOKEN_EXPIRES=expires)
    env.chmod(0o600)
    settings = settings_from({"AUTOPOST_FEEDS": FEED, **network_env(fake_instagram=fake_instagram),
                              "INSTAGRAM_TOKEN_EXPIRES": expires}, env_file=env)
    deliverer = Deliverer(Store(tmp_path / "ledger.db", clock=clock), settings,
                          build_platforms(settings, clock=clock), clock=clock)
    return env, deliverer, TokenRenewal(deliverer)


def test_a_token_near_its_expiry_is_renewed_saved_and_used(tmp_path, clock, fake_instagram, caplog):
    from bot.alerts import ExpiryReminder
    from bot.service import check_expiry, token_expiries

    env, deliverer, renewal = _renewal(tmp_path, clock, fake_instagram, expires_in_days=6)

    renewal.daily(clock().date())
    renewal.daily(clock().date())                                  # once a day, however often the job runs

    assert fake_instagram.refreshes == 1
    fresh = f"{fake.REFRESHED_PREFIX}1"
    expires = (clock() + timedelta(seconds=fake.EXPIRES_IN)).date()
    text = env.read_text()
    assert f"INSTAGRAM_ACCESS_TOKEN={fresh}\n" in text and fake.TOKEN not in text
    assert f"INSTAGRAM_TOKEN_EXPIRES={expires.isoformat()}\n" in text
    assert stat.S_IMODE(env.stat().st_mode) == 0o600              # replaced atomically, still private
    assert deliverer.platforms["instagram"].verify() == f"@{fake.USERNAME}"   # the old token is gone on the fake
    assert token_expiries(renewal.current())["instagram"] == expires
    caplog.clear()
    check_expiry(renewal.current(), ExpiryReminder(), None, clock().date())
    assert "expires in" not in caplog.text                         # renewed: nothing to warn about
    assert fresh not in caplog.text and fake.TOKEN not in caplog.text


def test_a_token_far_from_its_expiry_is_left_alone(tmp_path, clock, fake_instagram):
    env, _, renewal = _renewal(tmp_path, clock, fake_instagram, expires_in_days=45)
    before = env.read_text()

    renewal.daily(clock().date())

    assert fake_instagram.refreshes == 0 and env.read_text() == before


def test_a_refused_renewal_is_logged_and_warned_about_7_days_ahead(tmp_path, clock, fake_instagram, caplog):
    from bot.alerts import ExpiryReminder
    from bot.service import check_expiry

    env, _, renewal = _renewal(tmp_path, clock, fake_instagram, expires_in_days=7)
    before = env.read_text()
    fake_instagram.fail_next(190, 460, message="Error validating access token: the user changed the password")

    renewal.daily(clock().date())
    check_expiry(renewal.current(), ExpiryReminder(), None, clock().date())

    assert env.read_text() == before
    assert "could not renew the Instagram token" in caplog.text and "changed the password" in caplog.text
    assert "instagram token expires in 7 days" in caplog.text
    assert fake.TOKEN not in caplog.text


def test_preview_names_the_image_url_instagram_is_given_through_the_template(tmp_path, feed_server, fake_instagram):
    from tests.conftest import network_env
    from tests.fakes.feed import rss_feed

    image = "https://blog.example.com/images/cover.png?v=2"
    feed_server.serve("/feed.xml", rss_feed([{"title": "A post", "link": "https://blog.example.com/a/", "guid": "a",
                                              "description": "Text.", "image": image}]))
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS=feed_server.url(), AUTOPOST_DB=str(tmp_path / "l.db"),
                    INSTAGRAM_IMAGE_URL_TEMPLATE="https://img.example.com/{url}?format=jpg&w=1080",
                    **network_env(fake_instagram=fake_instagram))

    preview = run_cli("--env-file", str(env), "preview")

    assert preview.code == 0, preview.err
    assert f"instagram image: {image}\n" in preview.out
    assert ("Instagram fetches it through INSTAGRAM_IMAGE_URL_TEMPLATE: https://img.example.com/"
            "https%3A%2F%2Fblog.example.com%2Fimages%2Fcover.png%3Fv%3D2?format=jpg&w=1080") in preview.out
    assert fake_instagram.requests == []
