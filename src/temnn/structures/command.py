"""``temnn structures``: randomised atomic systems, their exit waves and column sites."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``structures`` subcommand."""
    parser = subparsers.add_parser("structures", help="generate atomic systems + exit waves + sites")
    parser.set_defaults(func=lambda args: parser.print_help())
