"""A network is described once: the rest of the program loops over the registry.

These tests hold the shape: a new description plugged into the registry is seen by
config (variables, secrets, prefixes, enabling), compose (its text rules) and delivery
(duplicate behaviour) with no other change; descriptions stay cheap to import; config
and the adapter base do not import each other.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap

from tests.conftest import REPO

BOT = REPO / "bot"


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_a_network_added_to_the_registry_is_configured_composed_and_delivered_by_its_description():
    result = _python("""
        import json
        from dataclasses import dataclass, field

        from bot.platforms import registry
        from bot.platforms.network import Network, TextRules
        from bot.values import ConfigError

        @dataclass(frozen=True)
        class DemoSettings:
            token: str = field(repr=False)
            def secrets(self):
                return (self.token,)

        def parse(values):
            token = (values.get("DEMO_TOKEN") or "").strip()
            if len(token) < 8:
                raise ConfigError("DEMO_TOKEN", "is too short")
            return DemoSettings(token)

        demo = Network(name="demo", label="Demo", variables=("DEMO_TOKEN",), secrets=("DEMO_TOKEN",),
                       credentials=("DEMO_TOKEN",), parse=parse, adapter="bot.platforms.console:ConsolePlatform",
                       rejects_duplicates=True,
                       text=TextRules(limit=40, length=len, default_template="{title} {url}", url_in_text=True,
                                      escape=str.upper))
        # What "one registry line" amounts to, done before anything reads the registry.
        registry.NETWORKS = (*registry.NETWORKS, demo)
        registry.NAMES = (*registry.NAMES, "demo")
        registry.PLATFORM_NAMES = (*registry.NAMES, registry.CONSOLE)
        registry._BY_NAME["demo"] = demo

        from bot import config, delivery
        from bot.compose import compose
        from bot.models import Post

        settings = config.settings_from({"AUTOPOST_FEEDS": "f.xml", "DEMO_TOKEN": "secret-demo-token",
                                         "DEMO_TEMPLATE": "{title} {url}", "DEMO_DAILY_CAP": "3"})
        try:
            config.settings_from({"AUTOPOST_FEEDS": "f.xml", "DEMO_TOKEN": "short"})
            refused = None
        except ConfigError as exc:
            refused = exc.variable
        post = Post(feed_url="f.xml", key="k", url="https://blog.example/a-post",
                    title="a title much too long to fit in forty characters, cut", published=None)
        message = compose(post, "demo")
        print(json.dumps({
            "known": [v for v in config.VARIABLES if v.startswith("DEMO_")],
            "prefix": "DEMO_" in config.PREFIXES,
            "secret": "DEMO_TOKEN" in config.SECRET_VARIABLES,
            "platforms": settings.platforms,
            "masked": settings.secrets(),
            "cap": settings.daily_caps.get("demo"),
            "refused": refused,
            "text": message.text, "length": message.length, "limit": message.limit,
            "rejects": "demo" in delivery.REJECTS_DUPLICATES,
        }))
    """)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["known"] == ["DEMO_TOKEN", "DEMO_TEMPLATE", "DEMO_DAILY_CAP"]
    assert seen["prefix"] and seen["secret"] and seen["rejects"]
    assert seen["platforms"] == ["demo"]                  # configured by its credentials alone
    assert seen["masked"] == ["secret-demo-token"]
    assert seen["cap"] == 3 and seen["refused"] == "DEMO_TOKEN"
    assert seen["text"].endswith("HTTPS://BLOG.EXAMPLE/A-POST")   # its escaping, its URL-in-text rule
    assert seen["length"] == len(seen["text"]) <= seen["limit"] == 40


def test_descriptions_are_cheap_and_the_cli_loads_no_network_library(tmp_path):
    feed = REPO / "examples" / "sample-feed.xml"
    env = tmp_path / "a.env"
    env.write_text(f"AUTOPOST_FEEDS={feed}\nAUTOPOST_DB={tmp_path / 'ledger.db'}\n")
    heavy = ("tweepy", "requests", "urllib3", "requests_oauthlib", "apscheduler")
    for argv in (["--help"], ["--env-file", str(env), "status"], ["--env-file", str(env), "preview"],
                 ["--env-file", str(env), "auth", "--help"]):
        result = _python("""
            import json, runpy, sys
            sys.argv = ["autopost", *sys.argv[1:]]
            try:
                runpy.run_module("bot", run_name="__main__")
            except SystemExit:
                pass
            print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)), file=sys.stderr)
        """ % (heavy,), *argv)
        loaded = json.loads(result.stderr.strip().splitlines()[-1])
        assert loaded == [], (argv, loaded)

    result = _python("""
        import sys
        import bot.platforms.registry
        print(sorted(m for m in ("tweepy", "requests", "bot.config", "bot.compose") if m in sys.modules))
    """)
    assert result.stdout.strip() == "[]", result.stderr


def _imports(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_config_and_the_adapter_base_do_not_import_each_other():
    assert "bot.config" not in _imports(BOT / "platforms" / "base.py")
    assert not {"bot.platforms.base", "bot.platforms"} & _imports(BOT / "config.py")


def test_the_core_modules_name_no_network():
    from bot.platforms.registry import NAMES

    for module in ("config.py", "compose.py", "delivery.py", "service.py", "health.py"):
        code = (BOT / module).read_text()
        strings = [node.value for node in ast.walk(ast.parse(code))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)
                   and not node.value.startswith(("\n", '"""'))]
        for name in NAMES:
            assert not [s for s in strings if s == name or s.startswith(name.upper() + "_")], (module, name)


def test_auth_keeps_only_the_shared_parts_and_core_docs_and_examples_name_no_network():
    import re

    from bot.cli import EXAMPLES
    from bot.platforms.registry import NETWORKS

    words = {n.name for n in NETWORKS} | {n.label for n in NETWORKS if len(n.label) > 1}
    named = re.compile(r"\b(" + "|".join(map(re.escape, sorted(words))) + r")\b", re.IGNORECASE)
    # Each network's flow lives in its own module (its AuthFlow); auth.py is the shared machinery.
    assert named.findall((BOT / "auth.py").read_text()) == []
    for module in ("config.py", "compose.py", "delivery.py", "service.py", "health.py", "app.py", "poller.py",
                   "cli.py"):
        tree = ast.parse((BOT / module).read_text())
        docs = [ast.get_docstring(node) or "" for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        assert [d for d in docs if named.search(d)] == [], module
    assert [e for e in EXAMPLES.values() if named.search(e)] == []
