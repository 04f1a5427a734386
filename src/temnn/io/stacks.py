"""Frame stacks on disk: .npy, .npz, TIFF, folders of per-frame files and microscope files.

Frames are read one at a time (``.npy`` memory maps, TIFF pages, or the frames of a
microscope file through :mod:`temnn.io.microscope`) and written one at a time, so memory
stays flat however long the sequence. Frames index (x, y) as everywhere in temnn; TIFF
pages are stored (row = y, column = x), as every viewer expects, so frames are transposed
when read from or written to TIFF, while ``.npy``/``.npz`` arrays are temnn arrays
(T, nx, ny) and are used as they are. TIFF files are read and written with tifffile;
microscope files with RosettaSciIO (:mod:`temnn.io.microscope`).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..checks import positive_sampling, real_finite
from ..errors import TemnnError
from ..units import ANGSTROM_PER_UNIT, SECONDS_PER_UNIT, unit_factor
from .files import atomic_path, one_line, read_json, read_numpy, save_npz

__all__ = ["Stack", "open_stack", "resolve_sampling", "write_stack", "read_frames", "write_prediction"]


_NPZ_KEYS = {
    "STACK": ("prediction", "probability", "mask", "labels"),
    "IMAGES": ("images", "image"),
    "LABELS": ("labels",),
    "SPECTRA": ("spectra",),
}
"""Array names looked for in an .npz input, by role, before falling back to its only array."""

_FRAME_KEYS = ("frames", "images", "image")
"""Array names looked for in an .npz file of frames (``temnn fit-noise``), before its only array."""


@dataclass
class Stack:
    """A lazily read (T, nx, ny) frame stack and the calibration found in its file."""

    path: Path
    role: str
    shape: tuple[int, int, int]
    sampling: float | None  # [Å/pixel]
    frame_interval: float | None  # [s]
    _frame: Callable[[int], np.ndarray]
    _frames: Callable[[], Iterator[np.ndarray]] | None = None  # a faster pass over all frames
    sources: list[Path] | None = None  # the files read (default: ``path``)

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._frames is not None:
            return self._frames()
        return (self._frame(t) for t in range(self.shape[0]))

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as an (nx, ny) array."""
        return self._frame(int(t))


def open_stack(path: str | os.PathLike, role: str, *, channel: int | None = None,
                sampling: float | None = None, allow_nan: bool = False) -> Stack:
    """Open a stack for lazy reading: .npy, .npz, TIFF, or a microscope file via temnn's reader.

    A folder holds one file per frame, as ``temnn predict`` writes them (``NNNNN.npz`` or
    ``NNNNN.tif``). TIFF files are read here rather than by :mod:`temnn.io.microscope`: RosettaSciIO reads
    a TIFF stack whole and ignores ImageJ length units other than microns, while label
    and probability stacks are ImageJ TIFFs in nm read page by page. Frames holding NaN or
    infinite values are refused unless ``allow_nan`` (the spectra of frames without the particle).
    """
    path = Path(path)
    if path.is_dir():
        stack = _folder_stack(path, role, channel)
    elif not path.is_file():
        raise TemnnError(f"{role} {path}: file not found")
    elif path.suffix.lower() == ".npy":
        with read_numpy(path, what=role, mmap_mode="r") as array:
            stack = _array_stack(path, role, array, None, None, channel)
    elif path.suffix.lower() == ".npz":
        stack = _npz_stack(path, role, channel)
    elif path.suffix.lower() in (".tif", ".tiff"):
        stack = _tiff_stack(path, role, channel)
    else:
        stack = _microscope_stack(path, role, sampling)
    return _checked(stack, allow_nan=allow_nan)


def _checked(stack: Stack, *, allow_nan: bool = False) -> Stack:
    """The stack with every frame checked as it is read: real numbers, finite; at least one frame.

    The first frame is read and checked now, so that a stack of NaN (or text) is refused
    before anything is written. Read errors of a damaged file name the file and frame.
    """
    import tifffile

    name = f"{stack.role} {stack.path}"
    if len(stack) == 0 or 0 in stack.shape[1:]:
        raise TemnnError(f"{name}: no frames (shape {stack.shape}); expected a (T, nx, ny) stack of T ≥ 1 frames "
                         "of at least 1 × 1 pixels")

    def valid(t: int, frame: Any) -> np.ndarray:
        if allow_nan and np.asarray(frame).dtype.kind == "f":
            return np.asarray(frame)
        return real_finite(frame, name=f"{name}: frame {t}")

    read_frame, read_frames = stack._frame, stack._frames

    def frame(t: int) -> np.ndarray:
        with _read_errors(name, t, tifffile.TiffFileError):
            return valid(t, read_frame(t))

    def frames() -> Iterator[np.ndarray]:
        source = read_frames() if read_frames is not None else (read_frame(t) for t in range(len(stack)))
        for t in range(len(stack)):
            with _read_errors(name, t, tifffile.TiffFileError):
                raw = next(source)
            yield valid(t, raw)

    stack._frame, stack._frames = frame, frames
    stack.frame(0)
    return stack


@contextlib.contextmanager
def _read_errors(name: str, t: int, *errors: type[BaseException]) -> Iterator[None]:
    """Turn a reader's error on frame ``t`` of a damaged file into a :class:`TemnnError`."""
    try:
        yield
    except TemnnError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, *errors) as err:
        raise TemnnError(f"{name}: cannot read frame {t} ({one_line(err)}); the file is damaged or truncated") from None


def _array_stack(path: Path, role: str, array: np.ndarray, sampling: float | None,
                 frame_interval: float | None, channel: int | None) -> Stack:
    """A stack over a (nx, ny), (T, nx, ny) or (T, C, nx, ny) array (C needs ``channel``)."""
    if array.ndim in (2, 3) and channel is not None:
        raise TemnnError(f"--channel {channel}: {role} {path} has no channel axis (shape {array.shape}); "
                         "leave --channel out for a (T, nx, ny) stack")
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 4:
        array = array[:, _channel_index(path, role, array.shape[1], channel)]
    if array.ndim != 3 or np.iscomplexobj(array):
        raise TemnnError(f"{role} {path}: expected a real (T, nx, ny) stack or (T, C, nx, ny) with --channel, "
                         f"got {array.dtype} shape {array.shape}")
    return Stack(path, role, tuple(int(n) for n in array.shape), sampling, frame_interval,
                  lambda t: np.asarray(array[t]))


def _channel_index(path: Path, role: str, channels: int, channel: int | None) -> int:
    if channel is None:
        if channels == 1:
            return 0
        raise TemnnError(f"{role} {path}: the stack has {channels} channels per frame; "
                         f"pick one with --channel 0…{channels - 1}")
    if not 0 <= channel < channels:
        raise TemnnError(f"--channel {channel}: {role} {path} has channels 0…{channels - 1}")
    return channel


def _npz_stack(path: Path, role: str, channel: int | None) -> Stack:
    """An .npz stack: the array named for the role (or the only array) and optional
    ``sampling`` [Å/pixel] and ``frame_interval`` [s] entries. The array is read whole
    (an .npz member cannot be memory-mapped); use .npy or TIFF for long stacks."""
    with read_numpy(path, what=role) as npz:
        names = [n for n in npz.files if n not in ("sampling", "frame_interval")]
        name = next((n for n in _NPZ_KEYS[role] if n in names), names[0] if len(names) == 1 else None)
        if name is None:
            raise TemnnError(f"{role} {path}: cannot tell which array is the stack; name it one of "
                             f"{', '.join(_NPZ_KEYS[role])} (found {', '.join(names) or 'none'})")
        array = npz[name]
        sampling = float(npz["sampling"]) if "sampling" in npz.files else None
        interval = float(npz["frame_interval"]) if "frame_interval" in npz.files else None
    return _array_stack(path, role, array, sampling, interval, channel)


def _tiff_stack(path: Path, role: str, channel: int | None) -> Stack:
    """A TIFF stack read page by page; pages (y, x) become frames (x, y)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, axes = tuple(int(n) for n in series.shape), series.axes
            sampling, interval = _tiff_calibration(tif)
    except (OSError, ValueError, tifffile.TiffFileError) as err:
        raise TemnnError(f"{role} {path}: not a readable TIFF file ({err})") from None
    if axes.endswith("S") or len(shape) < 2 or len(shape) > 4:
        raise TemnnError(f"{role} {path}: expected grayscale frames (T, y, x) or (T, C, y, x), got axes {axes} "
                         f"shape {shape}")
    lead = shape[:-2]
    if len(lead) == 2:
        if "C" not in axes[:2]:
            raise TemnnError(f"{role} {path}: expected one frame axis and at most a channel axis, got axes {axes}")
        c_axis = axes.index("C")
        c = _channel_index(path, role, lead[c_axis], channel)
        frames = lead[1 - c_axis]
        page = (lambda t: t * lead[1] + c) if c_axis == 1 else (lambda t: c * lead[1] + t)
    else:
        frames = lead[0] if lead else 1
        page = lambda t: t  # noqa: E731

    def frame(t: int) -> np.ndarray:
        with tifffile.TiffFile(path) as tif:
            return tif.asarray(key=page(t), series=0).T

    def all_frames() -> Iterator[np.ndarray]:
        with tifffile.TiffFile(path) as tif:  # one open file: pages are found in one walk, read one at a time
            for t in range(frames):
                yield tif.asarray(key=page(t), series=0).T

    return Stack(path, role, (frames, shape[-1], shape[-2]), sampling, interval, frame, all_frames)


def _folder_stack(folder: Path, role: str, channel: int | None) -> Stack:
    """The per-frame files of ``temnn predict`` (``NNNNN.npz``, else ``NNNNN.tif``) as one stack.

    Each file holds one frame's (K, x, y) prediction (TIFF: (K, y, x)); the calibration
    comes from ``prediction.json`` when present, else from the first file.
    """
    import tifffile

    numbered = [p for p in folder.iterdir() if p.stem.isdigit() and p.suffix.lower() in (".npz", ".tif", ".tiff")]
    npz = [p for p in numbered if p.suffix == ".npz"]
    files = sorted(npz or numbered, key=lambda p: int(p.stem))
    if not files:
        raise TemnnError(f"{role} {folder}: a folder must hold one file per frame named NNNNN.npz or NNNNN.tif "
                         "(as temnn predict writes them); none found")

    def read(path: Path) -> np.ndarray:
        if path.suffix == ".npz":
            with read_numpy(path, what=role) as data:
                names = [n for n in data.files if n not in ("sampling", "frame", "frame_interval")]
                array = data["prediction"] if "prediction" in names else data[names[0]]
        else:
            array = np.swapaxes(tifffile.imread(path), -1, -2)
        if array.ndim == 3:
            array = array[_channel_index(path, role, array.shape[0], channel)]
        if array.ndim != 2:
            raise TemnnError(f"{role} {path}: expected one frame (K, x, y) or (x, y), got shape {array.shape}")
        return array

    first = read(files[0])

    def frame(t: int) -> np.ndarray:
        array = read(files[t])
        if array.shape != first.shape:
            raise TemnnError(f"{role} {files[t]}: frame of shape {array.shape}, but the first frame is "
                             f"{first.shape}; all frames of a sequence must have one shape")
        return array

    if files[0].suffix == ".npz":
        with np.load(files[0], allow_pickle=False) as data:
            sampling = float(data["sampling"]) if "sampling" in data.files else None
            interval = None
    else:
        with tifffile.TiffFile(files[0]) as tif:
            sampling, interval = _tiff_calibration(tif)
    if (folder / "prediction.json").is_file():
        record = read_json(folder / "prediction.json")
        sampling = record.get("sampling_angstrom") or sampling
        interval = (record.get("acquisition") or {}).get("frame_interval") or interval
    return Stack(folder, role, (len(files), *first.shape), sampling, interval, frame, sources=files)


def _tiff_calibration(tif: Any) -> tuple[float | None, float | None]:
    """Pixel size [Å/pixel] and frame interval [s] from a TIFF file, None where absent.

    Read from the ImageJ description (``unit``, X resolution = pixels per unit,
    ``finterval``, ``tunit``; what ``temnn predict`` and ``temnn track`` write), or from
    resolution tags in pixels per centimetre describing pixels below 1 µm (what
    ``temnn track`` writes for uint32 stacks). Resolution in pixels per inch (the
    72 dpi of image editors) is never read as a pixel size.
    """
    page = tif.pages[0]
    tag = page.tags.get("XResolution")
    per_unit = tag.value[0] / tag.value[1] if tag is not None and tag.value[1] else 0.0
    described = tif.imagej_metadata or (tif.shaped_metadata or ({},))[0] or {}
    interval = described.get("finterval")
    if interval is not None:
        interval = float(interval) * (unit_factor(SECONDS_PER_UNIT, described.get("tunit", "s")) or 1.0)
    sampling = None
    angstrom = unit_factor(ANGSTROM_PER_UNIT, described.get("unit"))
    if tif.is_imagej and angstrom is not None and per_unit > 0:
        sampling = angstrom / per_unit
    unit_tag = page.tags.get("ResolutionUnit")
    if sampling is None and unit_tag is not None and int(unit_tag.value) == 3 and per_unit > 1e4:
        sampling = 1e8 / per_unit  # pixels per cm → Å per pixel
    return sampling, interval


def _microscope_stack(path: Path, role: str, sampling: float | None) -> Stack:
    """A dm3/dm4/TIA/EMD/MRC/PNG file through :func:`temnn.io.microscope.read_microscope_file`.

    ``sampling`` [Å/pixel] is passed on so that files the reader cannot calibrate
    (non-square pixels) open with ``--sampling``.
    """
    from .microscope import read_microscope_file

    data = read_microscope_file(path, sampling=sampling)
    return Stack(path, role, (len(data), *data.shape), data.sampling, data.acquisition.frame_interval, data.frame)


def resolve_sampling(option: float | None, *stacks: Stack) -> float:
    """``--sampling`` if given, else the stacks' calibration (which must agree) [Å/pixel]."""
    if option is not None:
        return positive_sampling(option, name="--sampling")
    found = [(s, s.sampling) for s in stacks if s.sampling is not None]
    if not found:
        names = " and ".join(f"{s.role} {s.path}" for s in stacks)
        raise TemnnError(f"{names}: no pixel size in the file's calibration; give --sampling in Å/pixel")
    (first, value), *others = found
    for other, other_value in others:
        if not math.isclose(value, other_value, rel_tol=1e-3):
            raise TemnnError(f"{first.role} {first.path} has a pixel size of {value:.5g} Å but {other.role} "
                             f"{other.path} has {other_value:.5g} Å; pair the right files or give --sampling")
    return positive_sampling(value)


def write_stack(path: Path, frames: Iterator[np.ndarray], *, shape: tuple[int, int, int], dtype: Any,
                 pixel: float, unit: str, frame_interval: float | None, name: str,
                 extra: dict[str, Any] | None = None) -> None:
    """Write (nx, ny) frames one at a time into a TIFF (pages (y, x)) or an .npz file.

    ``pixel`` is the pixel size in ``unit`` (``"nm"`` or ``"1/nm"``). TIFF files are
    ImageJ stacks when ImageJ can hold the dtype (unit, pixels per unit, finterval),
    otherwise plain TIFF with the resolution in pixels per cm and the unit in the
    description. NPZ files hold ``name``, ``extra`` and ``frame_interval``.
    """
    import tifffile

    dtype = np.dtype(dtype)
    if path.suffix == ".npz":
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
            stack = np.lib.format.open_memmap(Path(scratch) / "stack.npy", mode="w+", dtype=dtype, shape=shape)
            for t, frame in enumerate(frames):
                stack[t] = frame
            stack.flush()
            more = {} if frame_interval is None else {"frame_interval": np.float64(frame_interval)}
            save_npz(path, **{name: stack}, **(extra or {}), **more)
            del stack
        return
    metadata: dict[str, Any] = {"axes": "TYX", "unit": unit}
    if frame_interval is not None:
        metadata["finterval"] = float(frame_interval)
    pages = (np.asarray(frame, dtype=dtype).T for frame in frames)
    with atomic_path(path, suffix=".tif") as tmp:
        if dtype in (np.uint8, np.uint16, np.float32):
            tifffile.imwrite(tmp, data=pages, shape=(shape[0], shape[2], shape[1]), dtype=dtype, imagej=True,
                             resolution=(1 / pixel, 1 / pixel), metadata=metadata)
        else:
            per_cm = 1e7 / pixel  # a unit of nm: pixels per cm
            tifffile.imwrite(tmp, data=pages, shape=(shape[0], shape[2], shape[1]), dtype=dtype,
                             resolution=(per_cm, per_cm), resolutionunit="CENTIMETER", metadata=metadata)


# ------------------------------------------------------------------------------ frames in memory


def read_frames(paths: list[Path], *, sampling: float | None = None) -> tuple[np.ndarray, float | None, float | None]:
    """All frames of ``paths`` in order as one float64 (K, nx, ny) stack [counts].

    Parameters
    ----------
    paths : list of path
        ``.npy``/``.npz`` arrays (indexed ``[ix, iy]`` as stored) or microscope files
        read by :func:`temnn.io.microscope.read_microscope_file` (dm3, dm4, tif, emd, …),
        one frame or a stack each.
    sampling : float, optional
        Pixel size [Å/pixel] that overrides the files' calibration.

    Returns
    -------
    frames : numpy.ndarray, shape (K, nx, ny)
    sampling : float or None
        ``sampling``, else the calibration of the first microscope file that has one [Å/pixel].
    conversion : float or None
        Counts per electron recorded in the first microscope file that has it.

    Raises
    ------
    TemnnError
        A file is missing, of an unknown type, or its frames differ in shape.
    """
    from .microscope import read_microscope_file

    frames: list[np.ndarray] = []
    conversion = None
    for path in paths:
        if path.suffix.lower() in (".npy", ".npz"):
            array = _read_frame_array(path)
        else:
            file = read_microscope_file(path, sampling=sampling)
            array = np.stack([file.frame(i) for i in range(len(file))])
            sampling = sampling if sampling is not None else file.sampling
            conversion = conversion if conversion is not None else file.acquisition.conversion_factor
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or 0 in array.shape:
            raise TemnnError(f"{path}: expected one (nx, ny) frame or a (K, nx, ny) stack of K ≥ 1 frames, "
                             f"got shape {array.shape}")
        real_finite(array, name=str(path))
        if frames and array.shape[1:] != frames[0].shape[1:]:
            raise TemnnError(f"{path}: frames of {array.shape[1:]} pixels, but earlier files have {frames[0].shape[1:]}")
        frames.append(np.asarray(array, dtype=np.float64))
    return np.concatenate(frames), sampling, conversion


def _read_frame_array(path: Path) -> np.ndarray:
    with read_numpy(path) as f:
        if isinstance(f, np.ndarray):
            return np.asarray(f)
        keys = [k for k in _FRAME_KEYS if k in f.files] or (f.files if len(f.files) == 1 else [])
        if not keys:
            raise TemnnError(f"{path}: expected an array named one of {_FRAME_KEYS} (or a single array), found {f.files}")
        return f[keys[0]]


def write_prediction(name: Path, prediction: np.ndarray, sampling: float, suffixes: Sequence[str], *, frame: int,
                     title: str) -> None:
    """Write one frame's (K, nx, ny) prediction as ``name.tif`` and/or ``name.npz`` (atomically).

    The TIFF is written by RosettaSciIO with pages (y, x) and the pixel size in nm (ImageJ ``unit``
    and resolution plus DigitalMicrograph scale tags), so it overlays the image in ImageJ,
    DigitalMicrograph or HyperSpy; the NPZ holds ``prediction`` in temnn's (x, y) order,
    ``sampling`` [Å/pixel] and ``frame``.

    Parameters
    ----------
    name : pathlib.Path
        Output path without suffix.
    prediction : numpy.ndarray, shape (K, nx, ny)
        Float32 class maps.
    sampling : float
        Pixel size [Å/pixel].
    suffixes : sequence of str
        ``"tif"`` and/or ``"npz"``.
    frame : int
        Frame index in the source file.
    title : str
        TIFF title.
    """
    from rsciio.tiff import file_writer

    if "tif" in suffixes:
        channels, nx, ny = prediction.shape
        nm = sampling / 10.0  # [nm/pixel]
        axes = [
            {"name": "channel", "size": channels, "scale": 1.0, "offset": 0.0, "units": None, "navigate": True},
            {"name": "y", "size": ny, "scale": nm, "offset": 0.0, "units": "nm", "navigate": False},
            {"name": "x", "size": nx, "scale": nm, "offset": 0.0, "units": "nm", "navigate": False},
        ]
        signal = {"data": np.ascontiguousarray(prediction.transpose(0, 2, 1)), "axes": axes,
                  "metadata": {"General": {"title": title}}}
        with atomic_path(name.with_suffix(".tif"), suffix=".tif") as tmp:
            file_writer(str(tmp), signal)
    if "npz" in suffixes:
        save_npz(name.with_suffix(".npz"), prediction=prediction, sampling=np.float64(sampling), frame=np.int64(frame))
