"""The `autopost` command as installed: its console script calls ``main`` here.

It turns Python's cycle collector off before the program is imported. A start imports some
150 modules and makes tens of thousands of long-lived objects and no garbage, and the
collector would walk them again and again: about 15 million instructions, 3-5 ms of every
command (counted with valgrind; issue 18). ``bot.cli.main`` turns it on again for the
commands that run long or over much (``LONG_COMMANDS``); the others end within a moment and
leave their few cycles to the exit.
"""
from __future__ import annotations

import gc


def main() -> int:
    gc.disable()
    from bot.cli import main as run_command

    return run_command()
