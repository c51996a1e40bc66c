"""`autopost ledger copy SRC DST`: move a ledger between SQLite and PostgreSQL, history and all.

SRC and DST are each a SQLite file or a ``postgresql://`` URL. The copy needs no
configuration (no feeds, no credentials): it only moves rows. It refuses a destination
that holds anything, and is one transaction there, so a failed copy leaves it empty.
Stop the services using SRC first: a delivery they claim during the copy is not in it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bot.errors import AutopostError


class LedgerCommandError(AutopostError):
    """The copy cannot be done as asked (exit 2)."""


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    from bot.cli import HelpFormatter, RawDescriptionHelpFormatter

    ledger = commands.add_parser(
        "ledger", help="copy the ledger between SQLite and PostgreSQL (to grow to several services)",
        description="Manage the ledger itself.", parents=parents,
        epilog="Example: autopost ledger copy autopost.db postgresql://autopost:PASSWORD@db.example.com/autopost",
        formatter_class=RawDescriptionHelpFormatter)
    actions = ledger.add_subparsers(dest="action", metavar="ACTION", required=True)
    copy = actions.add_parser("copy", parents=parents, formatter_class=HelpFormatter,
                              help="copy every feed, post, delivery and attempt from SRC into an empty DST")
    copy.add_argument("source", metavar="SRC", help="a SQLite file or a postgresql:// URL")
    copy.add_argument("destination", metavar="DST", help="a new SQLite file or an empty PostgreSQL database")


def run(args: argparse.Namespace) -> int:
    from bot.logs import register_secrets
    from bot.store import Store, copy_ledger, is_postgres, masked
    from bot.urls import url_secrets

    register_secrets([*url_secrets(str(args.source)), *url_secrets(str(args.destination))])
    if not is_postgres(args.source) and not Path(args.source).is_file():
        raise LedgerCommandError(f"no ledger at {args.source}")
    if str(args.source) == str(args.destination):
        raise LedgerCommandError("SRC and DST are the same ledger")
    source = Store(args.source, read_only=not is_postgres(args.source))
    try:
        destination = Store(args.destination)
        try:
            copied = copy_ledger(source, destination)
        finally:
            destination.close()
    finally:
        source.close()
    print(f"copied {masked(args.source)} to {masked(args.destination)}: "
          + ", ".join(f"{count} {table}" for table, count in copied.items()))
    return 0
