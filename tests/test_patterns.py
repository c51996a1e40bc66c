"""bot/patterns.py: a pattern compiled on first use matches exactly as re.compile's (which patterns a
command leaves uncompiled: tests/test_startup.py)."""
from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import bot
from bot.patterns import LazyPattern, lazy

CASES = [
    (r"(\w+)@(\w+)\.com", 0, ["mail me@example.com or you@host.com", "", "no address"]),
    (r"(?i)https?://\S+", 0, ["see HTTP://Example.com/x and https://b.c", "http:/broken"]),
    (r"[\u0400-\u04FF]+", re.IGNORECASE, ["Привет, МИР and ascii", "ѐ\u1c80x"]),
    (r"\s*,\s*|;", 0, ["a , b;c,,d", ""]),
    (r"^(\d+)(?:\.(\d+))?$", re.MULTILINE, ["12.5\n7\nx"]),
]


def _same(lazy_result, eager_result):
    if isinstance(eager_result, re.Match) or eager_result is None:
        return (eager_result is None and lazy_result is None) or (
            lazy_result is not None and lazy_result.span() == eager_result.span()
            and lazy_result.groups() == eager_result.groups())
    return lazy_result == eager_result


def _calls(text):
    middle = len(text) // 2
    return [
        ("match", (text,)), ("match", (text, 1)), ("fullmatch", (text,)), ("fullmatch", (text, 0, middle)),
        ("search", (text,)), ("search", (text, middle)), ("search", (text, 0, middle)),
        ("findall", (text,)), ("findall", (text, 1, middle)),
        ("sub", ("<>", text)), ("sub", (lambda m: m.group(0).upper(), text, 1)), ("subn", ("-", text)),
        ("split", (text,)), ("split", (text, 1)),
    ]


@pytest.mark.parametrize("pattern, flags, texts", CASES)
def test_every_method_answers_as_the_compiled_pattern_before_and_after_compiling(pattern, flags, texts):
    eager = re.compile(pattern, flags)
    for text in texts:
        for name, args in _calls(text):
            first = lazy(pattern, flags)          # a fresh one: this call is the one that compiles
            assert not first.is_compiled
            assert _same(getattr(first, name)(*args), getattr(eager, name)(*args)), (name, args)
            assert first.is_compiled
            assert _same(getattr(first, name)(*args), getattr(eager, name)(*args)), (name, args)
        spans = [m.span() for m in lazy(pattern, flags).finditer(text)]
        assert spans == [m.span() for m in eager.finditer(text)]


def test_after_the_first_call_the_methods_are_the_compiled_patterns_own():
    pattern = lazy(r"a+", re.IGNORECASE)
    assert pattern.search("xAAy").group() == "AA"
    compiled = pattern.compiled()
    assert compiled.pattern == "a+" and compiled.flags & re.IGNORECASE
    for name in ("match", "fullmatch", "search", "finditer", "findall", "sub", "subn", "split"):
        assert getattr(pattern, name).__self__ is compiled, name


def test_a_bad_pattern_fails_on_first_use_as_re_compile_would():
    broken = lazy("(unclosed")                    # nothing raised at import ...
    with pytest.raises(re.error):
        broken.search("text")                     # ... but the first use raises re.error


def _lazy_patterns():
    """Every LazyPattern a module of bot/ keeps at module level (alone or in a tuple)."""
    found = []
    for info in pkgutil.walk_packages(bot.__path__, "bot."):
        if info.name == "bot.__main__":           # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            values = value if isinstance(value, tuple) else (value,)
            for item in values:
                for part in item if isinstance(item, tuple) else (item,):
                    if isinstance(part, LazyPattern):
                        found.append((f"{info.name}.{name}", part))
    return found


def test_every_lazy_pattern_of_the_code_compiles():
    # A typo in a lazily compiled pattern would otherwise surface only when the path using it runs.
    patterns = _lazy_patterns()
    assert len(patterns) > 50
    for where, pattern in patterns:
        assert isinstance(pattern.compiled(), re.Pattern), where
