"""What a start of the CLI does not do (issue 18): `preview` compiles only the patterns it uses,
imports no module it does not need, and composes exactly what it composed before."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

SAMPLE = REPO / "examples" / "sample-feed.xml"

PROBE = """
import contextlib, io, sys
from bot import cli, fastparse, logs, twitter_text
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = cli.main(["--env-file", sys.argv[1], "preview"])
modules = sorted(sys.modules)
import json
print(json.dumps({
    "code": code, "out": out.getvalue(),
    "scrubber_compiled": [p.is_compiled for p, _ in logs._SHAPES],
    "env_writer_compiled": "bot.envfile" in sys.modules and sys.modules["bot.envfile"]._KEY.is_compiled,
    "rfc822_compiled": fastparse._RFC822.is_compiled, "w3cdtf_compiled": fastparse._W3CDTF.is_compiled,
    "x_urls_compiled": twitter_text._ASCII_AFTER_DOMAIN.is_compiled,
    "x_full_urls_compiled": twitter_text._AFTER_DOMAIN.is_compiled,
    "modules": modules,
}))
"""


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    folder = tmp_path_factory.mktemp("preview")
    env = folder / "preview.env"
    env.write_text(f"AUTOPOST_FEEDS={SAMPLE}\nAUTOPOST_DB={folder / 'ledger.db'}\nAUTOPOST_MAX_AGE=0\n"
                   "AUTOPOST_BACKFILL=3\nAUTOPOST_HASHTAGS_MAX=3\n")
    result = subprocess.run([sys.executable, "-c", PROBE, str(env)], capture_output=True, text=True,
                            cwd=folder, timeout=120)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["code"] == 0 and "── twitter (" in facts["out"], facts["out"]
    return facts


def test_preview_compiles_only_the_patterns_it_uses(preview):
    # Nothing is logged, no env file is written, the sample feed's dates are RFC 822 ones: the
    # log scrubber's, the env-file writer's and the W3C date patterns stay uncompiled, and so
    # does X's URL pattern for non-ASCII paths (the sample's URLs are ASCII). What the command
    # uses is compiled: the RFC 822 date format, and X's URL pattern for ASCII ones.
    assert preview["scrubber_compiled"] == [False] * 4
    assert preview["env_writer_compiled"] is False
    assert preview["w3cdtf_compiled"] is False
    assert preview["x_full_urls_compiled"] is False
    assert preview["rfc822_compiled"] is True and preview["x_urls_compiled"] is True


def test_preview_imports_no_module_it_does_not_use(preview):
    # difflib only to suggest a name for a misspelt variable (none here); email.utils and the
    # rest of the email package: the feed's dates need only email._parseaddr; the ledger (and
    # sqlite3) only for a post the feeds no longer show.
    unused = {"difflib", "email.utils", "email.charset", "requests", "feedparser", "bot.service", "bot.poller",
              "bot.store", "sqlite3"}
    assert unused.isdisjoint(preview["modules"])


def test_preview_leaves_out_what_only_other_commands_need(preview):
    # Each costs start-up time on Python 3.11 for no use here: socket (nothing is fetched from a
    # network), json (the sample is XML; JSON logs are off), http's status enum (no error
    # answer), dataclasses (values are NamedTuples), python-dotenv's writer with tempfile and
    # shutil (the env file is only read; argparse's help formatter sizes itself without shutil),
    # lxml and the inspect module it imports (the fast route parses with the standard library),
    # the email package (RFC 822 dates are read by fastparse), random (nothing is retried), and
    # the IDNA codec with its tables (every host of the sample is ASCII).
    unused = {"socket", "json", "http", "dataclasses", "dotenv.main", "tempfile", "shutil", "lxml", "inspect",
              "email", "random", "encodings.idna", "stringprep"}
    assert sorted(unused.intersection(preview["modules"])) == []


def test_preview_still_shows_every_network_of_the_sample(preview):
    for network in ("twitter", "linkedin", "facebook", "mastodon", "bluesky", "instagram"):
        assert f"── {network} (" in preview["out"]
    assert "X cost (estimate" in preview["out"]


FETCH_PROBE = """
import json, sys
from bot import feeds
result = feeds.fetch(sys.argv[1], None, timeout=5)
print(json.dumps({"status": result.status, "modules": sorted(sys.modules)}))
"""


def test_fetching_a_feed_over_http_loads_no_http_library(feed_server):
    """Feed fetches (`check`, `preview` of a URL, the poller) need no requests and no urllib3:
    those are the network APIs' (and importing them costs every such command tens of ms)."""
    feed_server.serve("/feed.xml", SAMPLE.read_bytes())
    result = subprocess.run([sys.executable, "-c", FETCH_PROBE, feed_server.url()], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["status"] == 200
    assert {"requests", "urllib3", "feedparser"}.isdisjoint(facts["modules"])


DOTENV_PROBE = """
import sys
from pathlib import Path
from bot.config import read_env_file
ours = read_env_file(Path(sys.argv[1]))
assert "dotenv.main" not in sys.modules and "tempfile" not in sys.modules
import dotenv.parser                  # what the service's reload uses, after the parser alone
assert dotenv.parser.parse_stream is not None
assert dict(dotenv.dotenv_values(sys.argv[1])) == ours, (ours, dotenv.dotenv_values(sys.argv[1]))
print("same")
"""


def test_the_env_file_parser_loaded_alone_reads_as_python_dotenv_and_leaves_the_package_whole(tmp_path):
    env = tmp_path / "autopost.env"
    env.write_text("export AUTOPOST_FEEDS='a.xml, b.xml'\n# a comment\nTWITTER_API_KEY=\"k#1\" # note\n"
                   "AUTOPOST_BACKFILL = 3\nMULTI=\"one\\ntwo\"\n")
    result = subprocess.run([sys.executable, "-c", DOTENV_PROBE, str(env)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "same", result.stderr


GC_PROBE = """
import gc, json, sys
from bot import cli
seen = {}
for name in ("preview", "poll"):
    def recording(settings, args, _name=name, _original=cli.COMMANDS[name]):
        seen[_name] = gc.isenabled()
        return _original(settings, args)
    cli.COMMANDS[name] = recording
sys.argv = ["autopost", "--env-file", sys.argv[1], sys.argv[2]] + sys.argv[3:]
from bot.launch import main
code = main()
print(json.dumps({"code": code, "collecting": seen}), file=sys.stderr)
"""


@pytest.mark.parametrize("command, collecting", [(["preview"], False), (["poll", "--dry-run"], True)])
def test_the_cycle_collector_waits_for_commands_that_end_in_a_moment(tmp_path, command, collecting):
    env = tmp_path / "autopost.env"
    env.write_text(f"AUTOPOST_FEEDS={SAMPLE}\nAUTOPOST_DB={tmp_path / 'ledger.db'}\nAUTOPOST_MAX_AGE=0\n")
    result = subprocess.run([sys.executable, "-c", GC_PROBE, str(env), *command], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    facts = json.loads(result.stderr.strip().splitlines()[-1])
    assert facts == {"code": 0, "collecting": {command[0]: collecting}}, result.stderr


def test_the_cli_called_in_process_gives_the_collector_back(tmp_path):
    import gc

    from tests.conftest import run_cli

    assert gc.isenabled()
    assert run_cli("--env-file", str(tmp_path / "none.env"), "status").code == 2      # no such env file
    assert gc.isenabled()
