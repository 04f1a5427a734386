"""The one exception type that temnn raises for bad user input."""

from __future__ import annotations

__all__ = ["TemnnError", "missing_package"]

# import name -> name to install with pip, where they differ
_PIP_NAMES = {"PIL": "pillow", "skimage": "scikit-image", "cv2": "opencv-python", "yaml": "pyyaml"}


class TemnnError(ValueError):
    """Bad input from the user: a file, a field or an argument that needs fixing.

    The message names the input (file, field or option), what was expected and,
    where possible, what to do. The ``temnn`` command prints the message without
    a traceback (``temnn --debug ...`` shows it).
    """


def missing_package(error: ModuleNotFoundError, needed_for: str) -> TemnnError:
    """The one-line error for an optional package that is not installed.

    Parameters
    ----------
    error
        The :class:`ModuleNotFoundError` raised by the import.
    needed_for
        What needs the package, e.g. ``"image.emd: reading Velox EMD files"``.

    Returns
    -------
    TemnnError
        ``"<needed_for> needs the Python package X, which is not installed: pip install X"``.
    """
    module = (error.name or str(error)).split(".")[0]
    package = _PIP_NAMES.get(module, module)
    return TemnnError(f"{needed_for} needs the Python package {package}, which is not installed: pip install {package}")
