"""Atomic file writes: every file appears complete under its final name or not at all.

A crash while writing leaves at most a hidden ``.NAME.tmp-*`` file that the next
run ignores and overwrites; the final name is created by :func:`os.replace`,
which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

__all__ = ["atomic_path", "output_folder", "write_json", "read_json", "read_numpy", "save_npz", "is_complete",
           "one_line"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    Parameters
    ----------
    path
        Final file or folder name.
    suffix
        Suffix for the temporary name (some writers insist on an extension,
        e.g. ``".npz"`` or ``".zarr"``).

    Notes
    -----
    The temporary name lives in the same folder so that the rename never
    crosses a file system. On an exception the temporary file or folder is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    output_folder(path.parent, what="output folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp_path, path)
    except BaseException:
        if tmp_path.is_dir():
            shutil.rmtree(tmp_path, ignore_errors=True)
        elif tmp_path.exists():
            tmp_path.unlink()
        raise


def output_folder(path: str | os.PathLike, *, what: str = "output folder", create: bool = True) -> Path:
    """Create the folder ``path`` (and its parents) if needed and return it.

    Parameters
    ----------
    path
        The folder.
    what
        How the error message names it (``"--out"``, ``"OUT"``, ...).
    create
        False only checks that the folder can be made (before slower checks of the inputs).

    Raises
    ------
    TemnnError
        ``path`` or one of its parents exists as a file, or the folder cannot be created
        (permissions, a read-only file system). Nothing is created then.
    """
    from ..errors import TemnnError

    path = Path(path)
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        if folder.exists() or folder.is_symlink():
            where = "" if folder == path else f" ({folder} is a file)"
            raise TemnnError(
                f"{what} {path}: not a folder{where}; give the name of a new or existing folder "
                "(nothing was written)"
            )
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TemnnError(f"{what} {path}: cannot create this folder ({err.strerror or one_line(err)})") from None
    return path


def one_line(error: BaseException) -> str:
    """``"Type: message"`` of an exception on one line (readers put newlines in their messages)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=False, default=_json_default)
            f.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, raising :class:`temnn.TemnnError` with the file name on bad JSON."""
    from ..errors import TemnnError

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise TemnnError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise TemnnError(f"{path}: is a folder; expected a JSON file") from None
    except json.JSONDecodeError as err:
        raise TemnnError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise TemnnError(f"{path}: cannot read this JSON file ({one_line(err)})") from None


@contextlib.contextmanager
def read_numpy(path: str | os.PathLike, *, what: str = "", mmap_mode: str | None = None) -> Iterator[Any]:
    """Open a ``.npy`` (an array) or ``.npz`` file (its members) without pickle, as a context.

    A missing, truncated or corrupt file, here or while the ``with`` body reads the
    members of an ``.npz``, raises :class:`temnn.TemnnError` naming the file.

    Parameters
    ----------
    path
        The file.
    what
        Role of the file for the error message (``"STACK"``, ``"--truth"``, ...).
    mmap_mode
        Memory-map a ``.npy`` file (see :func:`numpy.load`).

    Yields
    ------
    numpy.ndarray or numpy.lib.npyio.NpzFile
        The array of a ``.npy`` file; the open archive of a ``.npz`` file (closed on exit).
    """
    from ..errors import TemnnError

    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise TemnnError(f"{name}: is a folder; expected a .npy or .npz file")
    if not path.exists():
        raise TemnnError(f"{name}: file not found")
    try:
        data = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                yield data
        else:
            yield data
    except TemnnError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise TemnnError(
            f"{name}: cannot read this NumPy file ({one_line(err)}); it is damaged, truncated or not a .npy/.npz "
            "file: write it again"
        ) from None


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save arrays to an uncompressed ``.npz`` file atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def is_complete(path: str | os.PathLike) -> bool:
    """True when ``path`` exists under its final name (written by :func:`atomic_path`)."""
    return Path(path).exists()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
