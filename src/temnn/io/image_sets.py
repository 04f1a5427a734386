"""An image set on disk: images + labels made from the exit waves of one dataset folder.

Layout (DESIGN.md, 'Contracts between stages')::

    DATA/images/NAME/parameters.json   the parameters file used (validated copy)
    DATA/images/NAME/NNNNN_EE.npz      image (C, nx, ny) float32, label (K, nx, ny) float32,
                                       sampling [Å/pixel], origin (2,) [Å]
    DATA/images/NAME/NNNNN_EE.json     the microscope parameters drawn for that image
    DATA/images/NAME/debug/NNNNN_EE.png  image + label side by side (``debug`` in the parameters;
                                       written by :func:`temnn.io.previews.write_debug_png`)

``NNNNN`` is the sample (exit wave) index, ``EE`` the image epoch. Arrays index
``(x, y)`` like the waves: ``image[c, ix, iy]`` lies at ``origin + (ix, iy)·sampling``
in the cell frame of the structure. Every file is written atomically; an image
counts as done when its ``.npz`` exists (written after its ``.json``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import read_json, read_numpy, save_npz, write_json
from ..errors import TemnnError

__all__ = [
    "ImageRecord",
    "find_image_set",
    "list_images",
    "image_set_folder",
    "image_paths",
    "is_image_done",
    "write_image",
    "read_image",
    "read_image_file",
]

_NAME = re.compile(r"^(\d{5,})_(\d{2,})\.npz$")


@dataclass(frozen=True)
class ImageRecord:
    """One stored image with its label.

    Attributes
    ----------
    image : numpy.ndarray, shape (C, nx, ny), float32
        Image or focal series (vacuum intensity 1 before noise).
    label : numpy.ndarray, shape (K, nx, ny), float32
        Label on the same pixel grid.
    sampling : float
        Pixel size [Å/pixel].
    origin : tuple[float, float]
        Position (x, y) of pixel (0, 0) in the structure's cell frame [Å].
    microscope : dict
        The drawn microscope parameters (``MicroscopeParameters.to_dict()``).
    """

    image: np.ndarray
    label: np.ndarray
    sampling: float
    origin: tuple[float, float]
    microscope: dict[str, Any]


def image_set_folder(data: str | os.PathLike, name: str) -> Path:
    """Folder of the image set ``name`` in the dataset folder ``data``: ``DATA/images/NAME``."""
    return Path(data) / "images" / name


def image_paths(folder: str | os.PathLike, index: int, epoch: int) -> tuple[Path, Path]:
    """The ``.npz`` and ``.json`` file of image ``(index, epoch)`` in an image-set folder."""
    stem = Path(folder) / f"{index:05d}_{epoch:02d}"
    return stem.with_suffix(".npz"), stem.with_suffix(".json")


def is_image_done(folder: str | os.PathLike, index: int, epoch: int) -> bool:
    """True when image ``(index, epoch)`` and its microscope parameters are on disk."""
    return all(p.exists() for p in image_paths(folder, index, epoch))


def write_image(
    folder: str | os.PathLike,
    index: int,
    epoch: int,
    *,
    image: np.ndarray,
    label: np.ndarray,
    sampling: float,
    origin: tuple[float, float],
    microscope: dict[str, Any],
) -> None:
    """Write one image, its label and its microscope parameters atomically.

    Parameters
    ----------
    folder : path
        Image-set folder (``DATA/images/NAME``).
    index : int
        Sample (exit wave) index.
    epoch : int
        Image epoch.
    image : numpy.ndarray, shape (C, nx, ny)
        Image or focal series.
    label : numpy.ndarray, shape (K, nx, ny)
        Label on the image's grid.
    sampling : float
        Pixel size [Å/pixel].
    origin : tuple[float, float]
        Position of pixel (0, 0) [Å].
    microscope : dict
        Microscope parameters of the image (``MicroscopeParameters.to_dict()``).
    """
    image = np.asarray(image, dtype=np.float32)
    label = np.asarray(label, dtype=np.float32)
    if image.ndim != 3 or label.ndim != 3 or image.shape[1:] != label.shape[1:]:
        raise ValueError(f"image {image.shape} and label {label.shape} must be (C, nx, ny) and (K, nx, ny)")
    npz, json_path = image_paths(folder, index, epoch)
    # The JSON goes first: the .npz, written last, marks the image as done.
    write_json(json_path, microscope)
    save_npz(
        npz,
        image=image,
        label=label,
        sampling=np.float64(sampling),
        origin=np.asarray(origin, dtype=np.float64),
    )


def read_image(folder: str | os.PathLike, index: int, epoch: int) -> ImageRecord:
    """Read image ``(index, epoch)`` of an image set.

    Raises
    ------
    TemnnError
        The image is missing (the ``temnn images`` run did not reach it).
    """
    return read_image_file(*image_paths(folder, index, epoch))


def read_image_file(npz: str | os.PathLike, microscope: str | os.PathLike) -> ImageRecord:
    """Read an image + label ``.npz`` and its microscope-parameters ``.json`` given by their paths.

    Parameters
    ----------
    npz : path
        The ``NNNNN_EE.npz`` file (``image``, ``label``, ``sampling`` [Å/pixel], ``origin`` [Å]).
    microscope : path
        The JSON file of the microscope parameters drawn for that image.

    Raises
    ------
    TemnnError
        A file is missing or the ``.npz`` lacks one of its arrays.
    """
    npz, microscope = Path(npz), Path(microscope)
    if not npz.exists():
        raise TemnnError(f"{npz}: image not found; run 'temnn images' on the dataset (it resumes where it stopped)")
    keys = ("image", "label", "sampling", "origin")
    with read_numpy(npz) as f:
        missing = [key for key in keys if key not in f.files]
        if missing:
            raise TemnnError(
                f"{npz}: not a temnn image file (no array {', '.join(missing)}); expected {', '.join(keys)} "
                "as written by 'temnn images'"
            )
        arrays = {key: f[key] for key in keys}
    return ImageRecord(
        image=arrays["image"],
        label=arrays["label"],
        sampling=float(arrays["sampling"]),
        origin=(float(arrays["origin"][0]), float(arrays["origin"][1])),
        microscope=read_json(microscope),
    )


def list_images(folder: str | os.PathLike) -> list[tuple[int, int]]:
    """The finished images ``(index, epoch)`` of an image-set folder, sorted.

    Raises
    ------
    TemnnError
        ``folder`` is not an image set (no ``parameters.json``).
    """
    folder = Path(folder)
    if not (folder / "parameters.json").exists():
        raise TemnnError(
            f"{folder}: not an image set (no parameters.json); create one with 'temnn images DATA PARAMS.json'"
        )
    return sorted((int(m.group(1)), int(m.group(2))) for p in folder.iterdir() if (m := _NAME.match(p.name)))


def find_image_set(path: str | os.PathLike) -> Path:
    """The image-set folder for ``path``: the folder itself, or the only one in ``path/images``.

    Parameters
    ----------
    path : str or os.PathLike
        ``DATA/images/NAME`` or a data folder ``DATA`` with exactly one image set.

    Returns
    -------
    pathlib.Path
        Folder holding ``parameters.json`` and the ``NNNNN_EE.npz`` files.
    """
    path = Path(path)
    if (path / "parameters.json").is_file():
        return path
    if not path.is_dir():
        raise TemnnError(f"{path}: no such folder; give an image set DATA/images/NAME made by `temnn images`")
    images = path / "images"
    names = sorted(p.name for p in images.iterdir() if (p / "parameters.json").is_file()) if images.is_dir() else []
    if len(names) == 1:
        return images / names[0]
    if not names:
        raise TemnnError(
            f"{path}: not an image set (no parameters.json) and no image sets in {images}; "
            "run `temnn images` first or give the folder DATA/images/NAME"
        )
    raise TemnnError(f"{path}: holds several image sets ({', '.join(names)}); give one as {images}/NAME")
