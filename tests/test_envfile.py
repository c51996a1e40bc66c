"""bot.envfile: only the given keys change, atomically, and python-dotenv reads them back identically."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.config import read_env_file
from bot.envfile import EnvFileError, quote, update_env_file

ORIGINAL = (
    "# autopost settings\n"
    "AUTOPOST_FEEDS=https://blog.example.com/feed.xml\n"
    "\n"
    "#TWITTER_ACCESS_TOKEN=commented-out-stays\n"
    "TWITTER_ACCESS_TOKEN=old-token\n"
    "  # indented comment\n"
    "export LINKEDIN_AUTHOR=urn:li:person:old\n"
    "AUTOPOST_TEMPLATE_NOTE=\"two\nlines\"\n"
    "TWITTER_API_KEY='keep me' # inline comment on an untouched line\n"
)


def test_replaces_in_place_appends_missing_and_keeps_every_other_byte(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_text(ORIGINAL, encoding="utf-8")

    update_env_file(env, {"TWITTER_ACCESS_TOKEN": "new-token-1", "LINKEDIN_AUTHOR": "urn:li:person:new",
                          "LINKEDIN_TOKEN_EXPIRES": "2027-01-25"})

    assert env.read_text(encoding="utf-8") == (
        "# autopost settings\n"
        "AUTOPOST_FEEDS=https://blog.example.com/feed.xml\n"
        "\n"
        "#TWITTER_ACCESS_TOKEN=commented-out-stays\n"
        "TWITTER_ACCESS_TOKEN=new-token-1\n"
        "  # indented comment\n"
        "export LINKEDIN_AUTHOR=urn:li:person:new\n"
        "AUTOPOST_TEMPLATE_NOTE=\"two\nlines\"\n"
        "TWITTER_API_KEY='keep me' # inline comment on an untouched line\n"
        "LINKEDIN_TOKEN_EXPIRES=2027-01-25\n"
    )


def test_a_multiline_value_is_replaced_whole(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_text(ORIGINAL, encoding="utf-8")

    update_env_file(env, {"AUTOPOST_TEMPLATE_NOTE": "one line"})

    values = read_env_file(env)
    assert values["AUTOPOST_TEMPLATE_NOTE"] == "one line"
    assert "lines\"" not in env.read_text(encoding="utf-8")
    assert values["TWITTER_API_KEY"] == "keep me"


def test_a_key_written_twice_is_replaced_both_times(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_text("A=1\nB=2\nA=3\n", encoding="utf-8")

    update_env_file(env, {"A": "new"})

    assert env.read_text(encoding="utf-8") == "A=new\nB=2\nA=new\n"


@pytest.mark.parametrize("value", [
    "", "plain-Token_1.2:3/4@5+6,7=8%9~", "with space", " leading and trailing ", "hash # inside",
    "#starts-with-hash", "it's", 'say "hi"', "back\\slash", "ends with backslash\\", "\\'", "$HOME ${HOME}",
    "tab\tin", "new\nline", "crlf\r\nline", "ünïcødé ✓", "=starts-with-equals", "'single'", '"double"',
    "EAAG-fake|token", "trailing #", "x" * 500, "ü\n$x \\n 'q' \"d\"",
])
def test_every_value_reads_back_identically(tmp_path, value):
    env = tmp_path / "autopost.env"
    env.write_text("BEFORE=1\n", encoding="utf-8")

    update_env_file(env, {"TOKEN": value, "AFTER": "2"})
    update_env_file(env, {"TOKEN": value})           # replacing a quoted value in place, too

    assert read_env_file(env) == {"BEFORE": "1", "TOKEN": value, "AFTER": "2"}


def test_quote_leaves_ordinary_tokens_bare():
    assert quote("1500000000000000001-fakeAccessTokenZzZ") == "1500000000000000001-fakeAccessTokenZzZ"
    assert quote("urn:li:person:782bbtaQ") == "urn:li:person:782bbtaQ"
    assert quote("a b") == "'a b'"


def test_a_new_file_is_created_0600(tmp_path):
    env = tmp_path / "new.env"

    update_env_file(env, {"FACEBOOK_PAGE_ID": "104857600123"})

    assert env.read_text(encoding="utf-8") == "FACEBOOK_PAGE_ID=104857600123\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_an_existing_mode_is_kept_and_no_temporary_file_is_left(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_text("A=1", encoding="utf-8")             # no final newline
    env.chmod(0o640)
    inode = env.stat().st_ino

    update_env_file(env, {"B": "2"})

    assert env.read_text(encoding="utf-8") == "A=1\nB=2\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert env.stat().st_ino != inode                   # replaced by rename, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autopost.env"]


def test_crlf_files_stay_crlf(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_bytes(b"# windows\r\nA=1\r\n")

    update_env_file(env, {"A": "2", "B": "3"})

    assert env.read_bytes() == b"# windows\r\nA=2\r\nB=3\r\n"


def test_a_symlink_is_followed_not_replaced(tmp_path):
    real = tmp_path / "real.env"
    real.write_text("A=1\n", encoding="utf-8")
    link = tmp_path / "link.env"
    link.symlink_to(real)

    update_env_file(link, {"A": "2"})

    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == "A=2\n"


def test_a_bad_key_is_refused_and_nothing_is_written(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_text("A=1\n", encoding="utf-8")

    with pytest.raises(EnvFileError, match="not a variable name"):
        update_env_file(env, {"A": "2", "BAD KEY": "x"})

    assert env.read_text(encoding="utf-8") == "A=1\n"


def test_a_failed_write_is_a_clear_error_without_the_value(tmp_path):
    env = tmp_path / "missing-directory" / "autopost.env"

    with pytest.raises(EnvFileError) as caught:
        update_env_file(env, {"A": "secret-value-abc123"})

    assert str(env.parent) in str(caught.value)
    assert "secret-value-abc123" not in str(caught.value)
    assert not env.parent.exists()


def test_unreadable_lines_are_kept_as_they_are(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_text("A=1\n  not a binding\nB=2\n", encoding="utf-8")

    update_env_file(env, {"B": "3"})

    assert Path(env).read_text(encoding="utf-8") == "A=1\n  not a binding\nB=3\n"


def test_owner_and_group_are_kept_when_root_updates_the_service_file(tmp_path):
    import os

    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    env = tmp_path / "autopost.env"
    env.write_text("A=1\n", encoding="utf-8")
    os.chown(env, 12345, 23456)                     # e.g. the `autopost` service user

    update_env_file(env, {"A": "2"})

    assert (env.stat().st_uid, env.stat().st_gid) == (12345, 23456)
