"""The ``temnn`` command: one entry point, one subcommand per pipeline stage.

Each subcommand is one thin argparse module in this package (listed in
:data:`COMMAND_MODULES`) through a ``register(subparsers)`` function that adds a
parser whose ``func`` default runs the command. Errors of type
:class:`temnn.TemnnError` are printed as one message, without a traceback,
unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Sequence

from .. import __version__
from ..errors import TemnnError

class CommandParser(argparse.ArgumentParser):
    """The parser of one subcommand.

    Made with ``intermixed=True`` (``subparsers.add_parser(NAME, intermixed=True)``), it lets
    options stand anywhere among the positional arguments (argparse's
    :meth:`~argparse.ArgumentParser.parse_intermixed_args`), which a command needs whose leading
    positional may be left out: ``temnn predict MODEL --out DIR FILES`` keeps working beside
    ``temnn predict --model NAME FILES``.
    """

    def __init__(self, *args: Any, intermixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._intermixed = intermixed
        self._parsing = False  # parse_known_intermixed_args calls parse_known_args itself

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if not self._intermixed or self._parsing:
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


COMMAND_MODULES = (
    "temnn.cli.demo",
    "temnn.cli.structures",
    "temnn.cli.images",
    "temnn.cli.train",
    "temnn.cli.track",
    "temnn.cli.predict",
    "temnn.cli.fit_noise",
    "temnn.cli.reconstruct",
    "temnn.cli.evaluate",
    "temnn.cli.models",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="temnn",
        description=(
            "Neural-network assisted HR-TEM: simulate structures, exit waves, images and labels; "
            "train networks; analyse simulated and experimental images. "
            "Units: Å, eV, radians (mrad where stated), dose in e⁻/Å²."
        ),
    )
    parser.add_argument("--version", action="version", version=f"temnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``temnn`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        result = args.func(args)
    except TemnnError as err:
        if args.debug:
            raise
        print(f"temnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"temnn {args.command}: interrupted; finished samples are kept, re-run to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
