"""The model of a command that applies one: the first argument ``MODEL`` or the option ``--model NAME_OR_PATH``.

``temnn predict MODEL FILES...`` and ``temnn predict --model NAME_OR_PATH FILES...`` do the same
(as do the two forms of ``temnn evaluate``); exactly one of them names the model. The command's
parser must be made with ``intermixed=True`` (:class:`temnn.cli.CommandParser`) so that options
may still stand between MODEL and the arguments after it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import TemnnError

__all__ = ["MODEL_FORMS", "add_model_arguments", "model_argument", "names_a_model"]

MODEL_FORMS = ("a named model (`temnn models`), a model stem, a .json/.safetensors model file or a training "
               "folder (best.json or model.json)")
"""What ``MODEL`` / ``--model`` accept, for help texts and messages."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the optional positional ``MODEL`` (dest ``model``) and ``--model NAME_OR_PATH`` (dest ``model_option``)."""
    parser.add_argument("model", metavar="MODEL", nargs="?", help=f"{MODEL_FORMS}; or give it as --model")
    parser.add_argument("--model", dest="model_option", metavar="NAME_OR_PATH",
                        help="the model, instead of the first argument MODEL (the same forms)")


def model_argument(option: str | None, positional: str | None, *, command: str, operands: str) -> str:
    """The model named by exactly one of ``--model`` and the positional ``MODEL``.

    Parameters
    ----------
    option : str or None
        The value of ``--model``.
    positional : str or None
        The first argument when it names a model, else None.
    command : str
        The subcommand, for the message (``"predict"``).
    operands : str
        What follows the model in the command's usage (``"FILES..."``), for the message.

    Raises
    ------
    TemnnError
        Both or neither are given; the message shows the two accepted forms.
    """
    forms = f"`temnn {command} --model NAME_OR_PATH {operands}` or `temnn {command} MODEL {operands}`"
    if option is not None and positional is not None:
        raise TemnnError(f"--model: the model is given twice, as --model {option} and as MODEL {positional}; "
                         f"give it once: {forms}")
    if option is None and positional is None:
        raise TemnnError(f"--model: no model given; expected {forms}, the model being {MODEL_FORMS}")
    return option if option is not None else str(positional)


def names_a_model(argument: str) -> bool:
    """Whether ``argument`` names a model that can be loaded (a named model, model file, stem or training folder)."""
    from ..nn.checkpoints import resolve_stem

    try:
        stem = resolve_stem(argument)
    except TemnnError:
        return False
    return Path(f"{stem}.json").is_file()
