"""Reading microscope files: frames in (x, y) order, the pixel size in Å, the metadata that matters.

Files are read with RosettaSciIO (``rsciio.<plugin>.file_reader``), the plugin picked by the
file extension: DigitalMicrograph ``.dm3/.dm4``, TIFF ``.tif/.tiff`` (DM, ImageJ, Velox
exports), Velox/Berkeley ``.emd``, TIA ``.emi/.ser``, ``.mrc`` and uncalibrated
``.png/.jpg/.bmp``. Stacks are opened lazily (dask arrays) and read one frame at a time, so a
long time series never has to fit in memory.

Array convention: RosettaSciIO (like HyperSpy) stores an image as ``data[row, column] =
data[y, x]``; temnn, like abTEM, indexes ``image[ix, iy]``. The conversion happens here and
only here: :meth:`MicroscopeFile.frame` returns ``(nx, ny)`` arrays.

Calibration: the signal axes' ``scale`` and ``units`` give the pixel size, converted to Å
(units seen in real files: ``nm``, ``µm``, ``pm``, ``m``; TIFF writers also use ``um`` and
``micrometer``). An axis without a length unit (PNG, an unset TIFF, a DM file in pixels)
means *uncalibrated*: the caller must supply the sampling; it is never guessed.
Reciprocal units (``1/nm``: a diffraction pattern) and non-square pixels are refused.

The metadata that matters for HR-TEM analysis (beam energy, exposure, dose-related fields,
date, detector) is gathered into :class:`Acquisition`. RosettaSciIO returns, besides the raw
``original_metadata`` tree, a ``mapping`` from raw keys to HyperSpy's metadata schema (what
``hyperspy.load`` applies); it is applied here the same way, so that the format-independent
fields come out in HyperSpy's units (keV, nA, s), and the few fields the mapping lacks
(Velox detector and counts-to-electrons factor, TIA frame time, DM device name) are read
from the documented raw paths.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .files import one_line
from ..errors import TemnnError, missing_package
from ..checks import positive_sampling
from ..units import SECONDS_PER_UNIT, angstrom_per_unit

__all__ = [
    "PLUGINS",
    "Acquisition",
    "MicroscopeFile",
    "read_microscope_file",
    "angstrom_per_unit",
]

PLUGINS: dict[str, str] = {
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".emd": "emd",
    ".emi": "tia",
    ".ser": "tia",
    ".mrc": "mrc",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".bmp": "image",
}
"""File extension (lower case) → RosettaSciIO plugin (``rsciio.<plugin>``)."""

# rsciio 0.15's image plugin fails with lazy=True (a dask.delayed object without a shape);
# those formats hold single small images, so they are read eagerly.
_EAGER_PLUGINS = frozenset({"image"})

_SQUARE_TOLERANCE = 1e-3  # relative difference of the x and y pixel sizes still called square


@dataclass(frozen=True)
class Acquisition:
    """Acquisition metadata of a microscope file; every field is None when the file lacks it.

    Parameters
    ----------
    beam_energy : float or None
        Electron energy [eV] (acceleration voltage × e).
    exposure_time : float or None
        Exposure of one frame [s]: camera exposure (TEM) or frame time (STEM).
    dwell_time : float or None
        Dwell time per pixel [s] (scanning acquisitions only).
    frame_interval : float or None
        Time between frames of a stack [s] (from the stack axis when it is in seconds).
    beam_current : float or None
        Beam or screen current [A] as recorded by the microscope.
    conversion_factor : float or None
        Detector counts per incident electron [counts/e⁻] (Velox:
        ``1 / (PixelValueToCameraCounts · CountsToElectrons)`` of the recording detector).
    acquisition_date : str or None
        Date and time of the acquisition, ISO 8601.
    detector : str or None
        Name of the camera or detector.
    microscope : str or None
        Name of the microscope.
    """

    beam_energy: float | None = None
    exposure_time: float | None = None
    dwell_time: float | None = None
    frame_interval: float | None = None
    beam_current: float | None = None
    conversion_factor: float | None = None
    acquisition_date: str | None = None
    detector: str | None = None
    microscope: str | None = None


@dataclass
class MicroscopeFile:
    """One image signal of a microscope file, opened lazily.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    data : array-like
        Frames ``(n_frames, ny, nx)`` as stored (row = y), a dask array for lazy reads.
    sampling : float or None
        Pixel size [Å/pixel]; None when the file is uncalibrated.
    acquisition : Acquisition
        The metadata that matters, in SI-like units (see :class:`Acquisition`).
    metadata : dict
        HyperSpy-style metadata (RosettaSciIO's ``metadata`` with its ``mapping`` applied).
    original_metadata : dict
        The file's raw metadata tree.
    signal_index : int
        Which signal of the file this is (files such as ``multi_signal.dm3`` hold several).
    signal_title : str
        The signal's title in the file (may be empty).
    plugin : str
        The RosettaSciIO plugin that read it.
    """

    path: Path
    data: Any
    sampling: float | None
    acquisition: Acquisition
    metadata: dict[str, Any] = field(repr=False)
    original_metadata: dict[str, Any] = field(repr=False)
    signal_index: int = 0
    signal_title: str = ""
    plugin: str = ""

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape ``(nx, ny)`` [pixels] (temnn's (x, y) order)."""
        return int(self.data.shape[2]), int(self.data.shape[1])

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a float32 ``(nx, ny)`` array (read from disk now for lazy files).

        Parameters
        ----------
        index : int
            Frame number, 0-based (negative counts from the end).

        Returns
        -------
        numpy.ndarray
            float32 (nx, ny) intensities; colour images are averaged over R, G, B.
        """
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
            raise TemnnError(f"{self.path}: frame must be an integer in [0, {n}), got {index!r} ({n} frame(s) in the file)")
        try:
            raw = self.data[int(index)]
            raw = np.asarray(raw.compute() if hasattr(raw, "compute") else raw)
        except Exception as err:  # any reader failure on a damaged file
            raise TemnnError(f"{self.path}: cannot read frame {index} ({one_line(err)}); the file is damaged or incomplete") from None
        if raw.dtype.names:  # RGB(A) stored as a structured dtype
            raw = np.mean([raw[name].astype(np.float32) for name in raw.dtype.names if name.upper() != "A"], axis=0)
        return np.ascontiguousarray(raw.astype(np.float32, copy=False).T)


def read_microscope_file(path: str | os.PathLike, *, signal: int | None = None,
                         sampling: float | None = None) -> MicroscopeFile:
    """Open a microscope file: one 2D image signal (or stack of them), lazily.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.dm3/.dm4``, ``.tif/.tiff``, ``.emd`` (Velox), ``.emi/.ser`` (TIA), ``.mrc`` or
        ``.png/.jpg/.bmp`` file.
    signal : int, optional
        Which signal of a multi-signal file to take; default: the first whose signal
        dimensions are an image (2D).
    sampling : float, optional
        Pixel size [Å/pixel] that replaces the file's calibration (needed for uncalibrated
        files and files with non-square pixels); a warning says when it differs from the
        file's own calibration.

    Returns
    -------
    MicroscopeFile
        The frames (lazy), pixel size [Å/pixel] or None, metadata.

    Raises
    ------
    TemnnError
        Missing file, unsupported extension, a file the reader cannot parse (corrupt or
        truncated), no 2D image in the file, reciprocal or unknown units, non-square pixels.
    """
    path = Path(path)
    if path.is_dir():
        raise TemnnError(f"{path}: is a folder; give a microscope file ({', '.join(sorted(PLUGINS))})")
    if not path.is_file():
        raise TemnnError(f"{path}: file not found")
    plugin = PLUGINS.get(path.suffix.lower())
    if plugin is None:
        raise TemnnError(
            f"{path}: unsupported file type {path.suffix!r}; temnn reads {', '.join(sorted(PLUGINS))} "
            "(convert other formats to TIFF)"
        )
    needed_for = f"{path}: reading {path.suffix} files (RosettaSciIO's {plugin} reader)"
    try:
        reader = importlib.import_module(f"rsciio.{plugin}").file_reader
        signals = reader(str(path), lazy=plugin not in _EAGER_PLUGINS)
    except ModuleNotFoundError as err:  # an optional package of the reader (h5py for EMD, ...)
        raise missing_package(err, needed_for) from None
    except Exception as err:  # rsciio raises many types (struct.error, KeyError, OSError, ValueError...)
        raise TemnnError(
            f"{path}: cannot read this {plugin} file ({one_line(err)}); "
            "the file is corrupt, truncated or not of the type its extension says"
        ) from None
    index, chosen = _pick_image_signal(path, signals, signal)
    return signal_to_file(chosen, path=path, plugin=plugin, index=index, sampling=sampling)


def signal_to_file(chosen: Mapping[str, Any], *, path: Path, plugin: str, index: int = 0,
                   sampling: float | None = None) -> MicroscopeFile:
    """A :class:`MicroscopeFile` from one signal dictionary (RosettaSciIO's or HyperSpy's).

    Parameters
    ----------
    chosen : mapping
        ``data``, ``axes`` (each with ``scale``, ``units``, ``navigate``), ``metadata`` and
        ``original_metadata``, as RosettaSciIO readers return them (and as
        :meth:`ExperimentalData.from_hyperspy` collects them from a HyperSpy signal).
    path : pathlib.Path
        Where the signal came from (for messages).
    plugin : str
        The RosettaSciIO plugin that read it (picks the plugin's own metadata fields), or
        ``"hyperspy"``.
    index : int
        The signal's index in its file.
    sampling : float, optional
        Pixel size [Å/pixel] that replaces the signal's calibration.
    """
    axes = _ordered_axes(chosen)
    data = chosen["data"]
    signal_axes = [ax for ax in axes if not ax.get("navigate", False)]
    nav_axes = [ax for ax in axes if ax.get("navigate", False)]
    if data.ndim == 2:
        data = data[None]
    elif data.ndim > 3:
        data = data.reshape((-1,) + tuple(data.shape[-2:]))  # several navigation axes: frames in row-major order
    y_axis, x_axis = signal_axes[-2], signal_axes[-1]
    md = dict(chosen.get("metadata") or {})
    original = dict(chosen.get("original_metadata") or {})
    metadata = _apply_mapping(md, original, chosen.get("mapping") or {})
    acquisition = _acquisition(plugin, metadata, original, nav_axes)
    return MicroscopeFile(
        path=path,
        data=data,
        sampling=_sampling(path, x_axis, y_axis, override=sampling),
        acquisition=acquisition,
        metadata=metadata,
        original_metadata=original,
        signal_index=index,
        signal_title=str(_get(metadata, "General.title") or ""),
        plugin=plugin,
    )


# ---------------------------------------------------------------------------- signals, axes
def _signal_dimension(sig: Mapping[str, Any]) -> int:
    return sum(1 for ax in sig.get("axes", []) if not ax.get("navigate", False))


def _pick_image_signal(path: Path, signals: Sequence[Mapping[str, Any]], signal: int | None) -> tuple[int, Mapping[str, Any]]:
    """The signal to use: ``signal`` if given (must be 2D), else the first 2D one."""
    described = ", ".join(
        f"{i}: {_signal_dimension(s)}D {tuple(s['data'].shape)}" for i, s in enumerate(signals)
    ) or "none"
    if signal is not None:
        if isinstance(signal, bool) or not isinstance(signal, int) or not 0 <= signal < len(signals):
            raise TemnnError(f"{path}: signal must be an index in [0, {len(signals)}) (signals: {described}), got {signal!r}")
        if _signal_dimension(signals[signal]) != 2:
            raise TemnnError(f"{path}: signal {signal} is not an image (signals: {described}); pick a 2D one")
        return signal, signals[signal]
    for i, sig in enumerate(signals):
        if _signal_dimension(sig) == 2:
            return i, sig
    raise TemnnError(f"{path}: no 2D image in this file (signals: {described}); temnn needs HR-TEM images or image stacks")


def _ordered_axes(sig: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Axes in array order (HyperSpy sorts by ``index_in_array`` when the reader gives it)."""
    axes = [dict(ax) for ax in sig["axes"]]
    if all("index_in_array" in ax for ax in axes):
        axes.sort(key=lambda ax: int(ax["index_in_array"]))
    return axes


def _sampling(path: Path, x_axis: Mapping[str, Any], y_axis: Mapping[str, Any], *,
              override: float | None) -> float | None:
    """Pixel size [Å/pixel]: ``override`` if given, else from the two signal axes; None when uncalibrated."""
    if override is not None:
        override = positive_sampling(override)
    sizes = []
    for name, ax in (("x", x_axis), ("y", y_axis)):
        per_unit = angstrom_per_unit(ax.get("units"), where=f"{path}: {name} axis")
        scale = float(ax.get("scale", 1.0))
        if per_unit is None or not math.isfinite(scale) or scale == 0:
            return override
        sizes.append(abs(scale) * per_unit)
    sx, sy = sizes
    if override is not None:
        if max(abs(sx - override), abs(sy - override)) > 0.01 * override:
            warnings.warn(
                f"{path}: the file is calibrated at {sx:.6g} × {sy:.6g} Å/pixel (x × y); using sampling={override:g} Å/pixel as given",
                stacklevel=3,
            )
        return override
    if abs(sx - sy) > _SQUARE_TOLERANCE * max(sx, sy):
        raise TemnnError(
            f"{path}: the pixels are not square (x {sx:.6g} Å, y {sy:.6g} Å per pixel); temnn needs one "
            "sampling: check the file's calibration and give the right one with sampling= (--sampling) in Å/pixel"
        )
    return sx


# --------------------------------------------------------------------------------- metadata
def _slug(key: str) -> str:
    """A metadata key as HyperSpy's tree browser spells it (``'exposure (s)'`` → ``'exposure_s'``)."""
    text = unicodedata.normalize("NFKD", str(key)).encode("ascii", "ignore").decode()
    return re.sub(r"[^\w ]", "", text).strip().replace(" ", "_")


def _get(tree: Any, dotted: str) -> Any:
    """Value at a dotted path of nested dicts (keys compared as HyperSpy slugs); None if absent."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        if part in node:
            node = node[part]
            continue
        wanted = _slug(part)
        for key, value in node.items():
            if _slug(key) == wanted:
                node = value
                break
        else:
            return None
    return node


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


def _apply_mapping(metadata: dict[str, Any], original: Mapping[str, Any],
                   mapping: Mapping[str, tuple[str, Callable[[Any], Any] | None]]) -> dict[str, Any]:
    """RosettaSciIO's raw-key → HyperSpy-metadata mapping applied as ``hyperspy.load`` does."""
    out = _copy_tree(metadata)
    for source, (target, function) in mapping.items():
        value = _get(original, source)
        if value is None:
            continue
        try:
            value = function(value) if function is not None else value
        except Exception:  # a mapping function that does not fit this file's value: leave the field out
            continue
        if value is not None:
            _set(out, target, value)
    return out


def _copy_tree(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy_tree(v) if isinstance(v, Mapping) else v for k, v in tree.items()}


def _number(value: Any) -> float | None:
    """A positive finite float from a metadata value (strings included); None otherwise.

    Microscopes write 0 for quantities they did not record (DM's 'Probe Current (nA)'),
    so zero counts as absent.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (list, dict)):
        return None
    text = str(value).strip()
    return text or None


def _acquisition(plugin: str, metadata: Mapping[str, Any], original: Mapping[str, Any],
                 nav_axes: Sequence[Mapping[str, Any]]) -> Acquisition:
    """The :class:`Acquisition` fields from the mapped metadata plus per-format raw paths."""
    tem = _get(metadata, "Acquisition_instrument.TEM") or {}
    energy_kev = _number(_get(tem, "beam_energy"))
    current_na = _number(_get(tem, "beam_current"))
    fields: dict[str, Any] = dict(
        beam_energy=energy_kev * 1e3 if energy_kev else None,
        exposure_time=_number(_get(tem, "Camera.exposure")) or _number(_get(tem, "Detector.Camera.exposure")),
        dwell_time=_number(_get(tem, "dwell_time")),
        beam_current=current_na * 1e-9 if current_na else None,
        microscope=_text(_get(tem, "microscope")),
        acquisition_date=_iso_date(metadata),
        frame_interval=_frame_interval(nav_axes),
    )
    extra = {"emd": _velox_fields, "digitalmicrograph": _dm_fields, "tia": _tia_fields}.get(plugin)
    if extra is not None:
        fields.update({k: v for k, v in extra(original).items() if v is not None})
    return Acquisition(**fields)


def _iso_date(metadata: Mapping[str, Any]) -> str | None:
    date, time = _text(_get(metadata, "General.date")), _text(_get(metadata, "General.time"))
    if date is None:
        return None
    stamp = f"{date}T{time}" if time else date
    zone = _text(_get(metadata, "General.time_zone"))
    return f"{stamp}Z" if zone == "UTC" and time else stamp


def _frame_interval(nav_axes: Sequence[Mapping[str, Any]]) -> float | None:
    if len(nav_axes) != 1:
        return None
    unit = _text(nav_axes[0].get("units"))
    per_unit = SECONDS_PER_UNIT.get(unit or "")
    scale = _number(nav_axes[0].get("scale"))
    return scale * per_unit if per_unit and scale else None


def _velox_fields(original: Mapping[str, Any]) -> dict[str, Any]:
    """Velox EMD: the recording detector's exposure and counts→electrons factor, screen current."""
    result = _get(original, "BinaryResult") or {}
    name = _text(_get(result, "Detector"))
    detector: Mapping[str, Any] = {}
    index = _text(_get(result, "DetectorIndex"))
    if index is not None:
        detector = _get(original, f"Detectors.Detector-{index}") or {}
    custom = _get(original, "CustomProperties") or {}

    def custom_value(key: str) -> Any:
        entry = custom.get(f"Detectors[{name}].{key}") if isinstance(custom, Mapping) else None
        return entry.get("value") if isinstance(entry, Mapping) else None

    to_electrons = _number(custom_value("CountsToElectrons"))  # electrons per camera count
    to_counts = _number(custom_value("PixelValueToCameraCounts")) or 1.0  # camera counts per pixel value
    scan_dwell = _number(_get(original, "Scan.DwellTime"))
    return dict(
        detector=name or _text(_get(detector, "DetectorName")),
        exposure_time=_number(_get(detector, "ExposureTime")),
        conversion_factor=1.0 / (to_counts * to_electrons) if to_electrons else None,
        beam_current=_number(_get(original, "Optics.LastMeasuredScreenCurrent")),
        dwell_time=scan_dwell,
    )


def _dm_fields(original: Mapping[str, Any]) -> dict[str, Any]:
    """DigitalMicrograph: device name, exposure and microscope name from the image tags."""
    tags = _get(original, "ImageList.TagGroup0.ImageTags") or {}
    return dict(
        detector=_text(_get(tags, "Acquisition.Device.Name")) or _text(_get(tags, "DataBar.Device Name")),
        exposure_time=_number(_get(tags, "DataBar.Exposure Time (s)")),
        microscope=_text(_get(tags, "Session Info.Microscope")) or _text(_get(tags, "Microscope Info.Name")),
    )


def _tia_fields(original: Mapping[str, Any]) -> dict[str, Any]:
    """TIA: ``DwellTimePath`` is the camera exposure (TEM) or the pixel dwell (STEM, with ``FrameTime``)."""
    info = _get(original, "ObjectInfo.AcquireInfo") or {}
    dwell = _number(_get(info, "DwellTimePath"))
    frame_time = _number(_get(info, "FrameTime"))
    if frame_time is not None:
        return dict(exposure_time=frame_time, dwell_time=dwell, detector=_text(_get(info, "CameraNamePath")))
    return dict(exposure_time=dwell, detector=_text(_get(info, "CameraNamePath")))
