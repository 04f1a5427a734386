"""napari layers ↔ temnn arrays: axis order, calibration and the keywords of new layers.

napari draws ``data[..., row, column]`` with rows going down the screen, which is how a
microscope file stores an image (``data[y, x]``); temnn indexes ``image[ix, iy]`` (abTEM's
order). Every conversion between the two happens here: :meth:`LayerFrames.frame` returns
temnn ``(nx, ny)`` arrays and :func:`to_layer` turns temnn arrays back into layer order.

Calibration: temnn's layers carry their pixel size as the ``scale`` of the two spatial axes
in nm with ``units = "nm"`` (so napari's scale bar reads nm). A layer whose spatial unit is
napari's default ``pixel`` and whose scale is 1 has no calibration: the widgets then ask for
the sampling in Å/pixel. A ``pixel`` layer with another scale is read as nm (the convention
of napari plugins written before layers had units).

Leading axes: ``(y, x)`` is one frame; ``(frame, y, x)`` a stack or a focal series;
``(class, y, x)`` and ``(class, frame, y, x)`` are class maps, recognised by the axis label
``"class"`` that temnn's layers carry. The class axis comes first because napari lines up
the axes of its layers from the last one: a ``(class, frame, y, x)`` prediction then shares
its frame slider with the ``(frame, y, x)`` images it was made from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..checks import positive_sampling
from ..errors import TemnnError

__all__ = [
    "CLASS_AXIS",
    "LayerFrames",
    "layer_sampling",
    "is_calibrated",
    "calibrate",
    "derived_layer_kwargs",
    "to_layer",
    "angstrom_to_nm",
]

CLASS_AXIS = "class"
"""Axis label of the class (channel) axis of probability layers."""

_SQUARE_TOLERANCE = 1e-3  # relative difference of the y and x pixel sizes still called square


def angstrom_to_nm(value: float) -> float:
    """A length [Å] in nm."""
    return float(value) / 10.0


def _spatial_units(layer: Any) -> tuple[Any, Any]:
    units = getattr(layer, "units", None)
    if units is None or len(units) < 2:
        return ("pixel", "pixel")
    return units[-2], units[-1]


def _is_pixel(unit: Any) -> bool:
    return str(unit) in ("pixel", "px", "")


def is_calibrated(layer: Any) -> bool:
    """True when the layer's spatial axes carry a pixel size (a length unit, or a scale other than 1)."""
    uy, ux = _spatial_units(layer)
    sy, sx = (float(s) for s in layer.scale[-2:])
    return not (_is_pixel(ux) and _is_pixel(uy) and sx == 1.0 and sy == 1.0)


def layer_sampling(layer: Any, override: float | None = None) -> float:
    """The pixel size of a layer [Å/pixel].

    Parameters
    ----------
    layer : napari.layers.Layer
        An image, labels or points layer.
    override : float, optional
        Sampling given by the user [Å/pixel]; 0 or None means "from the layer".

    Returns
    -------
    float
        Sampling [Å/pixel].

    Raises
    ------
    TemnnError
        The layer is uncalibrated (scale 1 pixel) and no sampling was given, its spatial
        unit is no length, or its pixels are not square.
    """
    if override:
        return positive_sampling(override, name="sampling")
    if not is_calibrated(layer):
        raise TemnnError(
            f"layer '{layer.name}' has no pixel size (its scale is 1 pixel): enter the sampling in Å/pixel in "
            "this widget's 'sampling' field, or open the file with the temnn reader, which reads the calibration"
        )
    sizes = []
    for scale, unit in zip(layer.scale[-2:], _spatial_units(layer)):
        if _is_pixel(unit):
            sizes.append(float(scale) * 10.0)  # a scale without a unit is read as nm
            continue
        try:
            sizes.append(float((float(scale) * unit).to("angstrom").magnitude))
        except Exception:  # pint raises DimensionalityError (and others) for units that are no length
            raise TemnnError(
                f"layer '{layer.name}': its spatial unit {unit} is not a length (a Fourier transform?); pick a "
                "real-space image layer, or enter the sampling in Å/pixel in the 'sampling' field"
            ) from None
    sy, sx = sizes
    if not math.isclose(sx, sy, rel_tol=_SQUARE_TOLERANCE):
        raise TemnnError(
            f"layer '{layer.name}': its pixels are not square ({sx:.5g} × {sy:.5g} Å, x × y); enter the sampling "
            "in Å/pixel in the 'sampling' field"
        )
    return positive_sampling(sx, name=f"layer '{layer.name}' scale")


def calibrate(layer: Any, sampling: float) -> None:
    """Set a layer's spatial scale to ``sampling`` [Å/pixel], in nm, keeping its other axes."""
    sampling = positive_sampling(sampling)
    scale = list(layer.scale)
    scale[-2:] = [angstrom_to_nm(sampling)] * 2
    units = list(layer.units)
    units[-2:] = ["nm", "nm"]
    layer.scale = scale
    layer.units = units


@dataclass
class LayerFrames:
    """The frames of a layer, read one at a time in temnn's (x, y) order.

    Parameters
    ----------
    data : array-like
        The layer data ``(..., ny, nx)``: numpy, dask or zarr (read lazily, frame by frame).
    has_frames : bool
        Whether the first axis counts frames (a stack or focal series).
    has_classes : bool
        Whether the axis before ``(y, x)`` holds class (channel) maps.
    name : str
        The layer's name, for messages.
    """

    data: Any
    has_frames: bool
    has_classes: bool
    name: str

    @classmethod
    def of(cls, layer: Any) -> LayerFrames:
        """Read the axis layout of a napari layer (see the module notes).

        Raises
        ------
        TemnnError
            RGB layers, and layers with more than two leading axes.
        """
        if getattr(layer, "rgb", False):
            raise TemnnError(f"layer '{layer.name}' is an RGB image; convert it to grey values first "
                             "(temnn analyses intensities)")
        if getattr(layer, "multiscale", False):
            raise TemnnError(f"layer '{layer.name}' is multiscale; open the full-resolution image instead")
        data = layer.data
        labels = tuple(str(a) for a in getattr(layer, "axis_labels", ()))
        ndim = int(data.ndim)
        has_classes = ndim >= 3 and len(labels) == ndim and labels[0] == CLASS_AXIS
        leading = ndim - 2 - int(has_classes)
        if ndim < 2 or leading > 1:
            raise TemnnError(
                f"layer '{layer.name}' has shape {tuple(data.shape)}: expected (y, x), (frame, y, x), (class, y, x) "
                "or (class, frame, y, x)"
            )
        return cls(data=data, has_frames=leading == 1, has_classes=has_classes, name=str(layer.name))

    def __len__(self) -> int:
        return int(self.data.shape[-3]) if self.has_frames else 1

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape (nx, ny) [pixels]."""
        return int(self.data.shape[-1]), int(self.data.shape[-2])

    @property
    def classes(self) -> int:
        """Number of class channels (1 without a class axis)."""
        return int(self.data.shape[0]) if self.has_classes else 1

    def frame(self, index: int, channel: int | None = None) -> np.ndarray:
        """Frame ``index``: (nx, ny), or (K, nx, ny) class maps when ``channel`` is None and there are classes.

        Parameters
        ----------
        index : int
            Frame number (0 for a single frame).
        channel : int, optional
            The class channel to take from class maps.
        """
        raw = self.data
        if self.has_classes and channel is not None:
            if not 0 <= channel < self.classes:
                raise TemnnError(f"channel: layer '{self.name}' has class channels 0…{self.classes - 1}, got {channel}")
            raw = raw[channel]
        if self.has_frames:
            raw = raw[:, index] if self.has_classes and channel is None else raw[index]
        raw = raw.compute() if hasattr(raw, "compute") else raw
        return np.swapaxes(np.asarray(raw), -1, -2)

    def series(self, start: int, count: int) -> np.ndarray:
        """``count`` consecutive frames from ``start`` as a (C, nx, ny) focal series."""
        return np.stack([self.frame(k) for k in range(start, start + count)])


def to_layer(array: np.ndarray) -> np.ndarray:
    """A temnn array (..., nx, ny) in layer order (..., ny, nx)."""
    return np.swapaxes(np.asarray(array), -1, -2)


def derived_layer_kwargs(source: Any, sampling: float, *, frames: bool, leading: Sequence[str] = (),
                         name: str, **extra: Any) -> dict[str, Any]:
    """Keywords of a new layer that overlays ``source``: same frame axis and spatial calibration.

    Parameters
    ----------
    source : napari.layers.Layer
        The layer the new one was computed from.
    sampling : float
        Pixel size [Å/pixel] of the new layer's spatial axes.
    frames : bool
        Whether the new layer has ``source``'s frame axis (before y, x).
    leading : sequence of str
        Labels of further axes before the frame axis (e.g. ``("class",)``), scale 1.
    name : str
        The new layer's name.
    **extra
        Further layer keywords (colormap, opacity, metadata, ...).

    Returns
    -------
    dict
        ``name``, ``scale`` [nm/pixel], ``translate`` [nm], ``units``, ``axis_labels`` and ``extra``.
    """
    nm = angstrom_to_nm(sampling)
    scale: list[float] = []
    translate: list[float] = []
    units: list[Any] = []
    labels: list[str] = []
    for label in leading:
        scale.append(1.0)
        translate.append(0.0)
        units.append("pixel")
        labels.append(label)
    if frames:
        scale.append(float(source.scale[-3]))
        translate.append(float(source.translate[-3]))
        units.append(source.units[-3])
        label = str(source.axis_labels[-3])
        labels.append("frame" if label.lstrip("-").isdigit() else label)  # napari's default labels are "-3", …
    spatial_translate = [float(t) for t in source.translate[-2:]] if is_calibrated(source) else [0.0, 0.0]
    return dict(name=name, scale=scale + [nm, nm], translate=translate + spatial_translate,
                units=units + ["nm", "nm"], axis_labels=labels + ["y", "x"], **extra)
