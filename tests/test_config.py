"""Configuration: every bad value stops the command with exit 2 and names its variable."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, parse_duration, settings_from
from tests.conftest import run_cli, write_env

TWITTER = {"TWITTER_API_KEY": "k", "TWITTER_API_SECRET": "s", "TWITTER_ACCESS_TOKEN": "t",
           "TWITTER_ACCESS_TOKEN_SECRET": "ts"}


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("7d", 604800), (" 2H ", 7200), ("0", 0),
])
def test_durations(text, seconds):
    assert parse_duration(text, "AUTOPOST_POLL_INTERVAL") == seconds


@pytest.mark.parametrize("values, variable, words", [
    ({"AUTOPOST_FEEDS": ""}, "AUTOPOST_FEEDS", "required"),
    ({"AUTOPOST_FEEDS": "  ,  "}, "AUTOPOST_FEEDS", "required"),
    ({"AUTOPOST_FEEDS": "ftp://example.com/feed"}, "AUTOPOST_FEEDS", "neither"),
    ({"AUTOPOST_POLL_INTERVAL": "often"}, "AUTOPOST_POLL_INTERVAL", "not a duration"),
    ({"AUTOPOST_MAX_AGE": "7 weeks"}, "AUTOPOST_MAX_AGE", "not a duration"),
    ({"AUTOPOST_BACKFILL": "-1"}, "AUTOPOST_BACKFILL", "at least 0"),
    ({"AUTOPOST_BACKFILL": "three"}, "AUTOPOST_BACKFILL", "whole number"),
    ({"AUTOPOST_PLATFORMS": "twitter,myspace", **TWITTER}, "AUTOPOST_PLATFORMS", "myspace"),
    ({"AUTOPOST_PLATFORMS": "linkedin"}, "LINKEDIN_ACCESS_TOKEN", "linkedin"),
    ({"AUTOPOST_PLATFORMS": "facebook", "FACEBOOK_PAGE_TOKEN": "x"}, "FACEBOOK_PAGE_ID", "facebook"),
    ({"AUTOPOST_DRY_RUN": "maybe"}, "AUTOPOST_DRY_RUN", "true or false"),
    ({"AUTOPOST_LOG_LEVEL": "LOUD"}, "AUTOPOST_LOG_LEVEL", "LOUD"),
    ({"AUTOPOST_LOG_FORMAT": "xml"}, "AUTOPOST_LOG_FORMAT", "xml"),
    ({"TWITTER_API_BASE": "http://api.example.com"}, "TWITTER_API_BASE", "loopback"),
    ({"LINKEDIN_API_BASE": "api.linkedin.com"}, "LINKEDIN_API_BASE", "http(s) URL"),
    ({"LINKEDIN_AUTHOR": "me"}, "LINKEDIN_AUTHOR", "urn:li:person"),
    ({"LINKEDIN_TOKEN_EXPIRES": "next week"}, "LINKEDIN_TOKEN_EXPIRES", "ISO date"),
    ({"TWITTER_TEMPLATE": "{title} {link}"}, "TWITTER_TEMPLATE", "{link}"),
    ({"FACEBOOK_TEMPLATE": "{title"}, "FACEBOOK_TEMPLATE", "malformed"),
    ({"TWITTER_DAILY_CAP": "0"}, "TWITTER_DAILY_CAP", "at least 1"),
    ({"AUTOPOST_UTM": "utm source"}, "AUTOPOST_UTM", "query string"),
])
def test_bad_values_name_the_variable(values, variable, words):
    values = {"AUTOPOST_FEEDS": "feed.xml", **values}
    with pytest.raises(ConfigError) as caught:
        settings_from(values)
    assert caught.value.variable == variable
    assert words in str(caught.value)


@pytest.mark.parametrize("values, variable", [
    ({"AUTOPOST_POLL_INTERVAL": "soon"}, "AUTOPOST_POLL_INTERVAL"),
    ({"AUTOPOST_PLATFORMS": "mastodon"}, "AUTOPOST_PLATFORMS"),
    ({"AUTOPOST_PLATFORMS": "twitter"}, "TWITTER_API_KEY"),
])
def test_cli_exits_2_before_doing_anything(tmp_path, values, variable):
    env = write_env(tmp_path / "bad.env", AUTOPOST_FEEDS="feed.xml", AUTOPOST_DB=str(tmp_path / "l.db"), **values)
    result = run_cli("--env-file", str(env), "poll")
    assert result.code == 2
    assert variable in result.err
    assert not (tmp_path / "l.db").exists()      # nothing was done


def test_missing_env_file_named_on_the_command_line(tmp_path):
    result = run_cli("--env-file", str(tmp_path / "nope.env"), "status")
    assert result.code == 2
    assert "nope.env" in result.err and "does not exist" in result.err


def test_malformed_env_file_says_where_but_not_what(tmp_path):
    env = tmp_path / "broken.env"
    env.write_text("AUTOPOST_FEEDS=feed.xml\nTWITTER_API_SECRET 'sekrit-value\n")
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 2
    assert "line 2" in result.err
    assert "sekrit-value" not in result.err


def test_real_environment_wins_over_the_file(tmp_path, monkeypatch):
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="from-file.xml", AUTOPOST_BACKFILL="1")
    monkeypatch.setenv("AUTOPOST_BACKFILL", "4")
    settings = load_settings(str(env))
    assert settings.feeds == (str(tmp_path / "from-file.xml"),)
    assert settings.backfill == 4


def test_env_file_from_variable_then_dot_env(tmp_path, monkeypatch):
    write_env(tmp_path / ".env", AUTOPOST_FEEDS="dot.xml")
    assert load_settings().feeds == ("dot.xml",)
    other = write_env(tmp_path / "other.env", AUTOPOST_FEEDS="other.xml")
    monkeypatch.setenv("AUTOPOST_ENV_FILE", str(other))
    assert load_settings().feeds == (str(tmp_path / "other.xml"),)


def test_networks_default_to_those_with_credentials():
    assert settings_from({"AUTOPOST_FEEDS": "f"}).platforms == ("console",)
    assert settings_from({"AUTOPOST_FEEDS": "f", **TWITTER}).platforms == ("twitter",)


def test_feeds_split_on_commas_and_whitespace():
    settings = settings_from({"AUTOPOST_FEEDS": "https://a.example/feed, https://b.example/rss\n c.xml"})
    assert settings.feeds == ("https://a.example/feed", "https://b.example/rss", "c.xml")


def test_no_settings_object_shows_a_secret_in_its_repr():
    """A settings object in a log line, a traceback or a test failure: each network's, the core's."""
    from bot.config import SECRET_VARIABLES

    secrets = {
        "AUTOPOST_ALERT_WEBHOOK": "https://hooks.example/services/sEcReT-hook",
        "TWITTER_API_KEY": "sEcReT-x1", "TWITTER_API_SECRET": "sEcReT-x2",
        "TWITTER_ACCESS_TOKEN": "sEcReT-x3", "TWITTER_ACCESS_TOKEN_SECRET": "sEcReT-x4",
        "LINKEDIN_ACCESS_TOKEN": "sEcReT-li1", "LINKEDIN_CLIENT_SECRET": "sEcReT-li2",
        "FACEBOOK_PAGE_TOKEN": "sEcReT-fb1", "FACEBOOK_APP_SECRET": "sEcReT-fb2",
        "MASTODON_ACCESS_TOKEN": "sEcReT-ma1",
        "BLUESKY_APP_PASSWORD": "sqrt-sqrt-sqrt-sqrt",
        "INSTAGRAM_ACCESS_TOKEN": "sEcReT-ig1",
    }
    assert set(SECRET_VARIABLES) == set(secrets), "a network's new secret needs a value here"
    settings = settings_from({
        "AUTOPOST_FEEDS": "f", "AUTOPOST_DB": "postgresql://autopost:sEcReT-db@db.example/autopost",
        "LINKEDIN_AUTHOR": "urn:li:person:abc", "LINKEDIN_CLIENT_ID": "client",
        "FACEBOOK_PAGE_ID": "1234", "FACEBOOK_APP_ID": "5678",
        "MASTODON_INSTANCE": "https://mastodon.example", "BLUESKY_HANDLE": "blog.bsky.social",
        "INSTAGRAM_ACCOUNT_ID": "17841400000000000", **secrets})
    assert set(settings.networks) == {"twitter", "linkedin", "facebook", "mastodon", "bluesky", "instagram"}
    shown = [repr(settings), *(repr(network) for network in settings.networks.values())]
    assert not [text for text in shown if "sEcReT" in text or "sqrt-" in text]
    assert "blog.bsky.social" in repr(settings.networks["bluesky"])     # the rest is still shown


def test_a_feed_urls_password_and_key_stay_out_of_the_settings_repr():
    settings = settings_from({"AUTOPOST_FEEDS": "https://reader:sEcReT-pw@blog.example/feed?token=sEcReT-key c.xml"})
    assert settings.feeds[0] == "https://reader:sEcReT-pw@blog.example/feed?token=sEcReT-key"   # fetched as given
    assert "sEcReT" not in repr(settings) and "sEcReT" not in str(settings)
    assert "https://reader:****@blog.example/feed?token=****" in repr(settings) and "c.xml" in repr(settings)


def test_secrets_stay_out_of_repr_and_errors():
    settings = settings_from({"AUTOPOST_FEEDS": "f", **{k: f"secret-{k}" for k in TWITTER}})
    assert "secret-" not in repr(settings)
    assert set(settings.secrets()) == {f"secret-{k}" for k in TWITTER}


def test_template_newlines_and_literal_braces():
    settings = settings_from({"AUTOPOST_FEEDS": "f", "FACEBOOK_TEMPLATE": r"{title}\n{{new}}\n{url}"})
    assert settings.templates["facebook"] == "{title}\n{{new}}\n{url}"


def test_paths_in_the_env_file_are_relative_to_the_env_file(tmp_path, monkeypatch):
    """The README's own example, run from another directory."""
    folder = tmp_path / "examples"
    folder.mkdir()
    env = write_env(folder / "autopost.env", AUTOPOST_FEEDS="feed.xml, https://blog.example.com/feed sub/b.xml",
                    AUTOPOST_DB="ledger.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(str(env))
    assert settings.feeds == (str(folder / "feed.xml"), "https://blog.example.com/feed", str(folder / "sub/b.xml"))
    # The ledger is state: a relative AUTOPOST_DB stays in the working directory (the systemd
    # unit's StateDirectory), where an existing installation keeps it.
    assert settings.db_path == Path("ledger.db")
    monkeypatch.chdir(tmp_path)
    relative = load_settings("examples/autopost.env")          # still right from the env file's parent
    assert relative.feeds[0] == "examples/feed.xml"


def test_absolute_paths_and_environment_values_are_left_as_they_are(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    env = write_env(tmp_path / "conf" / "a.env", AUTOPOST_FEEDS="/srv/blog/feed.xml,file:///srv/x.xml")
    assert load_settings(str(env)).feeds == ("/srv/blog/feed.xml", "file:///srv/x.xml")
    monkeypatch.setenv("AUTOPOST_FEEDS", "from-environment.xml")    # relative to where the command runs
    assert load_settings(str(env)).feeds == ("from-environment.xml",)


def test_the_readme_example_runs_from_another_directory(tmp_path, monkeypatch):
    """`autopost --env-file examples/autopost.env poll --dry-run`, from the repository and from elsewhere."""
    from tests.conftest import REPO

    for where in (REPO, tmp_path):
        monkeypatch.chdir(where)
        result = run_cli("--env-file", str(REPO / "examples" / "autopost.env"), "poll", "--dry-run")
        assert result.code == 0, result.err
        assert "3 post(s) would be posted" in result.out


class _Recording(dict):
    """The raw variables, noting every name settings_from looks up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


@pytest.mark.parametrize("platforms", ["", "twitter,linkedin,facebook"])
def test_every_variable_autopost_reads_is_a_known_one(platforms):
    from bot.config import PREFIXES, VARIABLES

    values = _Recording({"AUTOPOST_FEEDS": "f.xml", "AUTOPOST_PLATFORMS": platforms, **TWITTER,
                         "LINKEDIN_ACCESS_TOKEN": "t", "FACEBOOK_PAGE_ID": "1", "FACEBOOK_PAGE_TOKEN": "t"})
    settings_from(values)
    assert values.read - set(VARIABLES) == set()
    assert all(name.startswith(PREFIXES) for name in VARIABLES)
    assert len(set(VARIABLES)) == len(VARIABLES)


@pytest.mark.parametrize("line, expected", [
    ("AUTOPOST_POLL_INTREVAL=60", "did you mean AUTOPOST_POLL_INTERVAL?"),
    ("AUTOPOST_PLATFORM=twitter", "did you mean AUTOPOST_PLATFORMS?"),
    ("TWITTER_ACCESS_TOKEN_SECERT=x", "did you mean TWITTER_ACCESS_TOKEN_SECRET?"),
    ("export LINKEDIN_ACESS_TOKEN=x", "did you mean LINKEDIN_ACCESS_TOKEN?"),
    ("AUTOPOST_SOMETHING_ELSE_ENTIRELY=1", "unknown variable AUTOPOST_SOMETHING_ELSE_ENTIRELY, ignored"),
    # a typo in the prefix itself is no other program's setting either
    ("TWITER_API_KEY=x", "did you mean TWITTER_API_KEY?"),
    ("AUTOPST_FEEDS=x", "did you mean AUTOPOST_FEEDS?"),
    ("LINKEDNI_ACCESS_TOKEN=x", "did you mean LINKEDIN_ACCESS_TOKEN?"),
    ("MASTODONN_INSTANCE=x", "did you mean MASTODON_INSTANCE?"),
])
def test_a_misspelt_variable_is_a_warning_with_its_line_and_the_closest_name(tmp_path, line, expected):
    env = tmp_path / "a.env"
    env.write_text(f"AUTOPOST_FEEDS=f.xml\n# a comment\n{line}\nOTHER_TOOL_SETTING=1\n")
    (warning,) = load_settings(str(env)).warnings
    assert warning.startswith(f"{env}, line 3: unknown variable ")
    assert warning.endswith(expected)
    assert "=x" not in warning and "twitter" not in warning        # the name, never the value


@pytest.mark.parametrize("line", ["TZ=Europe/Paris", "PYTHONUNBUFFERED=1", "HTTPS_PROXY=http://proxy:3128",
                                  "TWITCH_CLIENT_ID=x", "FACE_ID=1", "AUTO_RESTART=1"])
def test_another_programs_settings_in_the_env_file_are_left_alone(tmp_path, line):
    env = tmp_path / "a.env"
    env.write_text(f"AUTOPOST_FEEDS=f.xml\n{line}\n")
    assert load_settings(str(env)).warnings == ()


def test_misspelt_variables_are_shown_by_every_command_and_fail_check(tmp_path):
    import shutil

    from tests.conftest import REPO

    shutil.copy(REPO / "tests" / "data" / "feed-rss2.xml", tmp_path / "f.xml")     # a feed `check` can read
    env = write_env(tmp_path / "a.env", AUTOPOST_FEEDS="f.xml", AUTOPOST_DB=str(tmp_path / "l.db"),
                    AUTOPOST_POLL_INTREVAL="60", AUTOPOST_PLATFORM="twitter")
    status = run_cli("--env-file", str(env), "status")
    assert status.code == 0
    assert "line 3: unknown variable AUTOPOST_POLL_INTREVAL, ignored; did you mean AUTOPOST_POLL_INTERVAL?" \
        in status.err
    check = run_cli("--env-file", str(env), "check")
    assert check.code == 1
    assert "config: WARNING" in check.out
    assert "line 4: unknown variable AUTOPOST_PLATFORM, ignored; did you mean AUTOPOST_PLATFORMS?" in check.out
    assert "console: OK" in check.out                                # the rest is still checked
    clean = write_env(tmp_path / "b.env", AUTOPOST_FEEDS="f.xml", AUTOPOST_DB=str(tmp_path / "l.db"))
    assert run_cli("--env-file", str(clean), "check").code == 0


@pytest.mark.parametrize("variable", ["AUTOPOST_MIN_GAP", "AUTOPOST_POLL_INTERVAL", "AUTOPOST_MAX_AGE"])
def test_a_negative_duration_says_it_must_be_positive(variable):
    with pytest.raises(ConfigError) as caught:
        settings_from({"AUTOPOST_FEEDS": "f", variable: "-5m"})
    assert str(caught.value) == f"{variable}: must be positive, got -5m"


@pytest.mark.parametrize("quote", ["'", '"'])
def test_an_unclosed_quote_in_the_env_file_says_so(tmp_path, quote):
    env = tmp_path / "a.env"
    env.write_text(f"AUTOPOST_FEEDS=f.xml\nTWITTER_API_SECRET={quote}sekrit-value\nAUTOPOST_BACKFILL=1\n")
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 2
    assert f"line 2: the value of TWITTER_API_SECRET opens a quote ({quote}) that is never closed" in result.err
    assert "sekrit-value" not in result.err


def test_every_variable_is_in_the_readme_table_and_the_example_env_file():
    """A network's variables come from its description; its documentation must follow it."""
    from bot.config import VARIABLES
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration"):]
    example = (REPO / "config.example.env").read_text(encoding="utf-8")
    assert [v for v in VARIABLES if f"`{v}`" not in table] == []
    assert [v for v in VARIABLES if v != "AUTOPOST_ENV_FILE" and f"#{v}=" not in example and f"\n{v}=" not in example] == []


@pytest.mark.parametrize("content, expected", [
    (b"AUTOPOST_FEEDS=f.xml\nTWITTER_API_SECRET=sek\x00rit\n", "line 2: holds a NUL byte"),
    (b"AUTOPOST_FEEDS=f.xml\nTWITTER_API_SECRET=sek\xe9rit\n", "line 2: not UTF-8 text; save the file as UTF-8"),
    ("AUTOPOST_FEEDS=f.xml\nTWITTER_API_SECRET=sekrit\n".encode("utf-16"), "is saved as UTF-16; save it as UTF-8"),
])
def test_an_env_file_that_is_not_plain_utf8_text_is_refused_naming_the_line(tmp_path, content, expected):
    env = tmp_path / "a.env"
    env.write_bytes(content)
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 2
    assert expected in result.err
    assert "sek" not in result.err                                   # never the line's value


def test_an_env_file_that_is_a_directory_says_so(tmp_path):
    result = run_cli("--env-file", str(tmp_path), "status")
    assert result.code == 2
    assert f"env file {tmp_path} is a directory, not a file" in result.err


@pytest.mark.parametrize("variable, value, expected", [
    # read as a file path, these were shown and stored whole, the password included
    ("AUTOPOST_FEEDS", "http:/u:FSECRET@127.0.0.1/feed", "feed 1 starts with 'http:' but not 'http://'"),
    ("AUTOPOST_FEEDS", "a.xml https:u:FSECRET@blog.example/feed", "feed 2 starts with 'https:' but not 'https://'"),
    ("AUTOPOST_FEEDS", "http://u:FSECRET@/feed", "has no host name"),
    ("AUTOPOST_DB", "postgresql:/u:FSECRET@db.example/autopost", "looks like a URL but is not a postgresql:// one"),
    ("AUTOPOST_DB", "mysql://u:FSECRET@db.example/autopost", "looks like a URL but is not a postgresql:// one"),
    ("AUTOPOST_DB", "postgres://u:FSE%zzCRET@db.example/autopost", "% that is not followed by two hex digits"),
])
def test_a_mistyped_url_is_a_configuration_error_that_never_shows_its_password(tmp_path, variable, value, expected):
    values = {"AUTOPOST_FEEDS": "f.xml", "AUTOPOST_DB": str(tmp_path / "l.db"), variable: value}
    env = write_env(tmp_path / "a.env", **values)
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 2
    assert f"{variable}: " in result.err and expected in result.err
    assert "FSECRET" not in result.out + result.err and "CRET" not in result.out + result.err
    assert not (tmp_path / "l.db").exists()


def test_an_env_file_that_never_ends_is_refused_without_reading_it(tmp_path):
    import os

    fifo = tmp_path / "env-fifo"
    os.mkfifo(fifo)                                  # opening it for reading would wait for a writer forever
    for path in (fifo, Path("/dev/zero")):
        result = run_cli("--env-file", str(path), "status")
        assert result.code == 2
        assert f"env file {path} is not a regular file" in result.err


def test_an_env_file_of_many_megabytes_is_refused(tmp_path):
    env = tmp_path / "a.env"
    env.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 2 and "is larger than 1 MB: not an env file" in result.err


def test_text_after_a_closing_quote_is_named_as_such(tmp_path):
    env = tmp_path / "a.env"
    env.write_text('AUTOPOST_FEEDS=f.xml\nTWITTER_API_KEY="CLOSED"TRAILSECRET\n')
    result = run_cli("--env-file", str(env), "status")
    assert result.code == 2
    assert 'line 2: the value of TWITTER_API_KEY has text after its closing quote (")' in result.err
    assert "SECRET" not in result.err and "CLOSED" not in result.err
