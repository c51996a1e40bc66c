"""Writing keys into the env file, leaving everything else in it exactly as it was.

``autopost auth ...`` stores the tokens it obtains with :func:`update_env_file`:

- only the given keys change: an existing ``KEY=...`` binding (also ``export KEY=...``,
  also a quoted value spanning several lines) is replaced where it stands; a key
  that appears twice is replaced both times, so no stale copy can win; keys not
  yet in the file are appended at its end. Comments (including ``#KEY=...``),
  blank lines, other bindings and line endings stay byte for byte.
- the write is atomic: a temporary file in the same directory, flushed and
  synced, then ``os.replace`` over the original, so a crash leaves the old file
  or the new one, never half of one.
- the file keeps its permission bits (and owner and group, when we may set
  them: ``sudo autopost auth`` must not leave root owning the service's file);
  a new file is created 0600.
- values are written so python-dotenv (``bot.config.read_env_file``) reads them
  back identically: plain when they are made of safe characters only, else in
  single quotes with ``\\`` and ``'`` escaped (single quotes also keep other
  dotenv readers from expanding ``${...}``); a value with a line break goes in
  double quotes with ``\\n``/``\\r`` escapes, so each binding stays one line.

The file is split with python-dotenv's own parser, whose bindings carry their
original text, so the boundaries are the ones the reader uses.
"""
from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bot.models import AutopostError
from bot.patterns import lazy

NEW_FILE_MODE = 0o600

_KEY = lazy(r"[A-Za-z_][A-Za-z0-9_]*")
# Characters a plain (unquoted) value may hold and read back unchanged.
_PLAIN = lazy(r"[A-Za-z0-9_\-.:/@+,=%~^]+")
# The start of a binding's original text: blank lines, indentation, ``export``.
_LEAD = lazy(r"(\s*)(export[^\S\r\n]+)?")
_LINE_END = lazy(r"(\r\n|\n|\r)$")


class EnvFileError(AutopostError):
    """The env file could not be read or written; the message names the file, never a value."""


def quote(value: str) -> str:
    """``value`` as dotenv text that python-dotenv parses back to exactly ``value``."""
    if value == "" or _PLAIN.fullmatch(value):
        return value
    if "\r" in value or "\n" in value:
        # Line breaks as escapes, in double quotes: the reader opens the file with universal
        # newlines, so a raw CR would come back as LF; this keeps the binding on one line.
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
        return f'"{escaped}"'
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def update_env_file(path: str | os.PathLike[str], updates: Mapping[str, str]) -> None:
    """Set ``updates`` in the env file at ``path`` (created if missing), changing nothing else."""
    for key, value in updates.items():
        if not _KEY.fullmatch(key):
            raise EnvFileError(f"cannot write {key!r} into an env file: not a variable name")
        if not isinstance(value, str) or "\0" in value:
            raise EnvFileError(f"cannot write {key} into an env file: the value is not text")
    # Write through a symlink to its target, rather than replacing the link with a file.
    target = Path(os.path.realpath(path))
    try:
        original: bytes | None = target.read_bytes()
        info: os.stat_result | None = target.stat()
    except FileNotFoundError:
        original, info = None, None
    except OSError as exc:
        raise EnvFileError(f"cannot read env file {target}: {exc.strerror or exc.__class__.__name__}") from None
    try:
        text = original.decode("utf-8") if original is not None else ""
    except UnicodeDecodeError:
        raise EnvFileError(f"env file {target} is not UTF-8 text; fix it by hand first") from None
    _write_atomically(target, _updated(text, dict(updates)).encode("utf-8"), info)


def _updated(text: str, updates: dict[str, str]) -> str:
    from dotenv.parser import parse_stream

    newline = "\r\n" if "\r\n" in text else "\n"
    pieces: list[str] = []
    written: set[str] = set()
    for binding in parse_stream(io.StringIO(text)):
        chunk = binding.original.string
        if binding.key in updates and not binding.error:
            lead = _LEAD.match(chunk)
            assert lead is not None                  # every part of _LEAD is optional: it always matches
            ending = _LINE_END.search(chunk)
            chunk = (lead.group(1) + (lead.group(2) or "") + f"{binding.key}={quote(updates[binding.key])}"
                     + (ending.group(1) if ending else ""))
            written.add(binding.key)
        pieces.append(chunk)
    result = "".join(pieces)
    missing = [key for key in updates if key not in written]
    if missing:
        if result and not result.endswith(("\n", "\r")):
            result += newline
        result += "".join(f"{key}={quote(updates[key])}{newline}" for key in missing)
    return result


def _write_atomically(target: Path, data: bytes, info: os.stat_result | None) -> None:
    directory = target.parent
    mode = stat.S_IMODE(info.st_mode) if info else NEW_FILE_MODE
    try:
        # mkstemp creates the file 0600, so the secret is never readable by others, even briefly.
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise EnvFileError(f"cannot write env file {target}: cannot create a file in {directory} "
                           f"({exc.strerror or exc.__class__.__name__})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if info is not None:
                try:
                    os.fchown(handle.fileno(), info.st_uid, info.st_gid)
                except PermissionError:
                    pass                    # not root: the file becomes ours, as any edit would make it
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except OSError as exc:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise EnvFileError(f"cannot write env file {target}: {exc.strerror or exc.__class__.__name__}") from None
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)                    # make the rename itself durable
    except OSError:
        pass
    finally:
        os.close(dir_fd)
