"""napari reader: microscope files and stacks with their calibration, stacks read lazily.

Files are read by :func:`temnn.io.microscope.read_microscope_file` (RosettaSciIO: DigitalMicrograph
``.dm3/.dm4``, TIFF, Velox ``.emd``, TIA ``.emi/.ser``, ``.mrc``). A stack becomes a dask array
whose frames are read from disk only when napari shows them, so a long sequence never has to
fit in memory. The pixel size goes on the layer as its scale in nm (``units="nm"``); a file
without a length calibration opens with scale 1 pixel and a warning, and the widgets then ask
for the sampling.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import TemnnError
from ._layers import angstrom_to_nm

__all__ = ["SUFFIXES", "get_reader", "read_microscope_layers", "microscope_layer"]

SUFFIXES = (".dm3", ".dm4", ".tif", ".tiff", ".emd", ".emi", ".ser", ".mrc")
"""File types the reader offers to open (those of ``napari.yaml``)."""

LayerDataTuple = tuple[Any, dict[str, Any], str]


def get_reader(path: str | os.PathLike | list[str]) -> Callable[[Any], list[LayerDataTuple]] | None:
    """The reader for ``path`` (one file or a list of files), or None when temnn does not read it.

    Parameters
    ----------
    path : str, os.PathLike or list of str
        What the user opened.
    """
    paths = path if isinstance(path, (list, tuple)) else [path]
    if not paths or not all(Path(p).suffix.lower() in SUFFIXES for p in paths):
        return None
    return read_microscope_layers


def read_microscope_layers(path: str | os.PathLike | list[str]) -> list[LayerDataTuple]:
    """One image layer per file; a file that cannot be read gives an error notification instead.

    Parameters
    ----------
    path : str, os.PathLike or list of str
        Microscope files.

    Returns
    -------
    list of (data, keywords, "image")
    """
    from napari.utils.notifications import show_error, show_warning

    from ..io.microscope import read_microscope_file

    layers = []
    for one in path if isinstance(path, (list, tuple)) else [path]:
        try:
            file = read_microscope_file(one)
        except TemnnError as err:
            show_error(f"temnn reader: {err}")
            continue
        if file.sampling is None:
            show_warning(f"temnn reader: {file.path.name} has no length calibration (its axes are in pixels); "
                         "enter the sampling in Å/pixel in the temnn widgets")
        layers.append(microscope_layer(file))
    return layers


def microscope_layer(file: Any) -> LayerDataTuple:
    """An image layer of a :class:`temnn.io.microscope.MicroscopeFile`: lazy frames, scale in nm, metadata.

    Parameters
    ----------
    file : temnn.io.microscope.MicroscopeFile
        An opened microscope file.

    Returns
    -------
    (data, keywords, "image")
        ``data`` is (y, x) for one frame, else a lazy dask array (frame, y, x) of float32.
    """
    import dask
    import dask.array as da

    nx, ny = file.shape

    def frame_yx(index: int) -> np.ndarray:
        return file.frame(index).T  # the file's own (row = y) order, as napari draws it

    if len(file) == 1:
        data: Any = frame_yx(0)
    else:
        data = da.stack([da.from_delayed(dask.delayed(frame_yx)(i), shape=(ny, nx), dtype=np.float32)
                         for i in range(len(file))])
    lead = data.ndim - 2
    if file.sampling is None:
        scale, units = [1.0, 1.0], ["pixel", "pixel"]
    else:
        scale, units = [angstrom_to_nm(file.sampling)] * 2, ["nm", "nm"]
    name = file.path.stem + (f" [{file.signal_title}]" if file.signal_index else "")
    metadata = {"temnn": {"path": str(file.path), "sampling_angstrom": file.sampling, "plugin": file.plugin,
                          "signal_index": file.signal_index,
                          "acquisition": dataclasses.asdict(file.acquisition)}}
    keywords = {"name": name, "scale": [1.0] * lead + scale, "units": ["pixel"] * lead + units,
                "axis_labels": ["frame"] * lead + ["y", "x"], "colormap": "gray", "metadata": metadata}
    return data, keywords, "image"
