"""The one exception type that temnn raises for bad user input."""

from __future__ import annotations

__all__ = ["TemnnError"]


class TemnnError(ValueError):
    """Bad input from the user: a file, a field or an argument that needs fixing.

    The message names the input (file, field or option), what was expected and,
    where possible, what to do. The ``temnn`` command prints the message without
    a traceback (``temnn --debug ...`` shows it).
    """
