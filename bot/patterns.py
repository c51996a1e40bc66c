"""Regular expressions compiled on first use, not at import.

Compiling every module's patterns when it is imported cost each start of the CLI tens of
milliseconds (issue 18), mostly for patterns the command never uses: the log scrubber's when
nothing is logged, a feed parser's date formats when the feed has no dates, the env-file
writer's outside `auth`. ``LazyPattern`` stands where a module kept a ``re.compile(...)`` and
compiles it the first time one of its methods is called.

After that first call the compiled pattern's own bound methods are stored on the object,
where attribute lookup finds them before the class's stand-ins below: every later call is
the compiled pattern's, with no extra Python call in between. Two threads racing on the first
call both compile; either result is the same pattern.
"""
from __future__ import annotations

import re
import sys
from typing import Any, Callable, Iterator

_METHODS = ("match", "fullmatch", "search", "finditer", "findall", "sub", "subn", "split")


class LazyPattern:
    """``re.compile(pattern, flags)``, done on first use; the methods are those of ``re.Pattern``."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self._flags = flags

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiling it now if no method has been used yet)."""
        compiled = re.compile(self.pattern, self._flags)
        state = vars(self)
        state.update({name: getattr(compiled, name) for name in _METHODS})
        state["compiled"] = lambda: compiled
        return compiled

    @property
    def is_compiled(self) -> bool:
        return "match" in vars(self)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self._flags!r})"

    # Stand-ins, each called at most once per object: the first call replaces them all.
    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().match(string, pos, endpos)

    def fullmatch(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().fullmatch(string, pos, endpos)

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().search(string, pos, endpos)

    def finditer(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[str]]:
        return self.compiled().finditer(string, pos, endpos)

    def findall(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        return self.compiled().findall(string, pos, endpos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0) -> str:
        return self.compiled().sub(repl, string, count)

    def subn(self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0) -> tuple[str, int]:
        return self.compiled().subn(repl, string, count)

    def split(self, string: str, maxsplit: int = 0) -> list[str]:
        return self.compiled().split(string, maxsplit)


def lazy(pattern: str, flags: int = 0) -> LazyPattern:
    """A pattern compiled the first time it is used; use it as ``re.compile(pattern, flags)``."""
    return LazyPattern(pattern, flags)
