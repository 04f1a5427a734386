"""``temnn track`` and ``temnn fft-track``: image sequences → per-particle time series.

``temnn track STACK --min-separation NM`` splits every frame of a stack of probability
maps or binary masks (``temnn predict`` output, a thresholded image, any segmentation)
into particles by a watershed and tracks them from frame to frame by overlap (thesis
section 3.5 and the Dragonfly menu items "Label by 2+1D connectivity" and "Get ROI
properties", chapter 6). OUT receives:

- ``labels.tif`` (or ``labels.npz``): the tracked ids, one page per frame, uint16
  (uint32 when there are more than 65535 ids) with the pixel size in nm and the frame
  interval (ImageJ ``unit`` / resolution / ``finterval``);
- ``properties.csv``: one row per particle and frame (area [nm²], centre of mass [nm],
  equivalent diameter [nm], displacement since its previous frame [nm], ...);
- ``area.png``: area against time of the selected ids (default: the longest-lived, then
  largest); ``frames.png``: a few frames with the particles coloured by id;
- ``track.json``: arguments and a summary; a re-run with the same inputs and arguments
  finds it and skips the work.

``temnn fft-track IMAGES LABELS --id N`` crops particle N out of every image with its
own mask, softens the mask edge, and takes the power spectrum ("Get FFT along time
axis", thesis figs. 6.4, 6.5). OUT receives ``spectra_idN.tif`` (or ``.npz``) with the
spectra, ``fourier_peaks_idN.csv`` with the normalised mean intensity in a window
around each Fourier peak and the peak's angle per frame, ``fourier_peaks_idN.png`` and
``spectra_idN.png`` (crops of the particle above their spectra), and
``fft_track_idN.json``.

Frames are read one at a time (``.npy`` memory maps, TIFF pages, or the frames of a
microscope file through :mod:`temnn.io.microscope`) and written one at a time, so memory
stays flat however long the sequence. Frames index (x, y) as everywhere in temnn;
TIFF pages are stored (row = y, column = x), as every viewer expects, so frames are
transposed when read from or written to TIFF, while ``.npy``/``.npz`` arrays are
temnn arrays (T, nx, ny) and are used as they are.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..io.files import atomic_path, one_line, output_folder, read_json, read_numpy, save_npz, write_json
from ..errors import TemnnError
from ..checks import finite_threshold, positive_sampling, real_finite
from ..units import ANGSTROM_PER_UNIT, SECONDS_PER_UNIT, unit_factor

__all__ = ["register", "track_file", "fft_track_file", "id_colour"]

_UINT16_MAX_ID = int(np.iinfo(np.uint16).max)
_ID_COLOURS = 9  # colours that particle ids cycle through in the plots
_NPZ_KEYS = {
    "STACK": ("prediction", "probability", "mask", "labels"),
    "IMAGES": ("images", "image"),
    "LABELS": ("labels",),
    "SPECTRA": ("spectra",),
}
"""Array names looked for in an .npz input, by role, before falling back to its only array."""


# ----------------------------------------------------------------------------------------- reading


@dataclass
class _Stack:
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


def _open_stack(path: str | os.PathLike, role: str, *, channel: int | None = None,
                sampling: float | None = None, allow_nan: bool = False) -> _Stack:
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


def _checked(stack: _Stack, *, allow_nan: bool = False) -> _Stack:
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
                 frame_interval: float | None, channel: int | None) -> _Stack:
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
    return _Stack(path, role, tuple(int(n) for n in array.shape), sampling, frame_interval,
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


def _npz_stack(path: Path, role: str, channel: int | None) -> _Stack:
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


def _tiff_stack(path: Path, role: str, channel: int | None) -> _Stack:
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

    return _Stack(path, role, (frames, shape[-1], shape[-2]), sampling, interval, frame, all_frames)


def _folder_stack(folder: Path, role: str, channel: int | None) -> _Stack:
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
    return _Stack(folder, role, (len(files), *first.shape), sampling, interval, frame, sources=files)


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


def _microscope_stack(path: Path, role: str, sampling: float | None) -> _Stack:
    """A dm3/dm4/TIA/EMD/MRC/PNG file through :func:`temnn.io.microscope.read_microscope_file`.

    ``sampling`` [Å/pixel] is passed on so that files the reader cannot calibrate
    (non-square pixels) open with ``--sampling``.
    """
    from ..io.microscope import read_microscope_file

    data = read_microscope_file(path, sampling=sampling)
    return _Stack(path, role, (len(data), *data.shape), data.sampling, data.acquisition.frame_interval, data.frame)


def _resolve_sampling(option: float | None, *stacks: _Stack) -> float:
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


# ----------------------------------------------------------------------------------------- writing


def _write_stack(path: Path, frames: Iterator[np.ndarray], *, shape: tuple[int, int, int], dtype: Any,
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


class _TooManyIds(Exception):
    """More track ids than a uint16 stack holds."""


def _progress(frames: _Stack, desc: str, enabled: bool) -> Iterator[np.ndarray]:
    from tqdm.auto import tqdm

    return iter(tqdm(frames, total=len(frames), desc=desc, unit="frame", disable=not enabled, dynamic_ncols=True))


# ----------------------------------------------------------------------------------------- re-runs


def _settings(inputs: Sequence[_Stack], **arguments: Any) -> dict[str, Any]:
    """What a finished run depends on: the input files' identity and the arguments."""
    files = []
    for stack in inputs:
        stats = [p.stat() for p in (stack.sources or [stack.path])]
        files.append({"path": str(stack.path.resolve()), "files": len(stats),
                      "bytes": sum(st.st_size for st in stats), "mtime_ns": max(st.st_mtime_ns for st in stats)})
    return {"inputs": files, **{k: list(v) if isinstance(v, tuple) else v for k, v in arguments.items()}}


def _finished(summary: Path, settings: dict[str, Any], files: dict[str, Path]) -> bool:
    if not summary.is_file() or not all(p.is_file() for p in files.values()):
        return False
    try:
        return read_json(summary).get("settings") == settings
    except TemnnError:
        return False


# ----------------------------------------------------------------------------------------- track


def track_file(
    path: str | os.PathLike,
    *,
    min_separation: float,
    sampling: float | None = None,
    threshold: float = 0.5,
    overlap: float = 0.5,
    frame_interval: float | None = None,
    ids: Sequence[int] | None = None,
    n_ids: int = 8,
    channel: int | None = None,
    out: str | os.PathLike | None = None,
    fmt: str = "tif",
    progress: bool = True,
) -> dict[str, Path]:
    """Track the particles of a probability-map or mask stack and write their time series.

    Parameters
    ----------
    path
        Stack of (T, nx, ny) probability maps [0-1] or binary masks: ``.npy``
        (memory-mapped), ``.npz``, TIFF (pages (y, x)), a folder of per-frame
        predictions (``NNNNN.npz`` or ``NNNNN.tif``, as ``temnn predict`` writes them), or
        a microscope file readable by :mod:`temnn.io.microscope`.
    min_separation
        Smallest distance between particle centres [nm]; its square is the smallest
        particle area kept [nm²].
    sampling
        Pixel size [Å/pixel]; default: the file's calibration.
    threshold
        A pixel belongs to a particle where ``frame >= threshold`` [probability].
    overlap
        Smallest overlap that carries an id to the next frame [fraction, 0-1].
    frame_interval
        Time between frames [s]; default: the file's (ImageJ ``finterval``), else
        none and the tables and plots use frame numbers.
    ids
        Particles drawn in the area plot; default: the ``n_ids`` longest-lived (ties:
        largest mean area).
    n_ids
        Number of particles drawn by default.
    channel
        Channel of a (T, C, nx, ny) stack or of (C, nx, ny) per-frame predictions (the
        particle class of a softmax output).
    out
        Output folder; default: ``<stack name>_track`` beside the stack.
    fmt
        ``"tif"`` or ``"npz"``: format of the tracked label stack.
    progress
        Show a progress bar over frames.

    Returns
    -------
    dict of pathlib.Path
        ``labels``, ``properties`` (CSV), ``area_plot``, ``frames_plot``, ``summary`` (JSON).

    Raises
    ------
    TemnnError
        Unreadable stack, no pixel size, bad arguments, ids not in the tracked stack.
    """
    from ..analysis.instances import min_separation_pixels
    from ..io.tables import write_csv
    from ..analysis.tracking import track

    stack = _open_stack(path, "STACK", channel=channel, sampling=sampling)
    sampling = _resolve_sampling(sampling, stack)
    min_separation_pixels(min_separation, sampling)  # check the options before the first frame
    threshold = finite_threshold(threshold, name="--threshold")
    if frame_interval is None:
        frame_interval = stack.frame_interval
    elif not float(frame_interval) > 0:
        raise TemnnError(f"--frame-interval: expected a positive time in s, got {frame_interval}")
    if int(n_ids) < 1:
        raise TemnnError(f"--n-ids: expected a positive number of particles, got {n_ids}")
    fmt = _check_format(fmt)
    stem = stack.path.name if stack.path.is_dir() else stack.path.stem
    out = Path(out) if out is not None else stack.path.with_name(stem + "_track")
    files = {"labels": out / f"labels.{fmt}", "properties": out / "properties.csv", "area_plot": out / "area.png",
             "frames_plot": out / "frames.png"}
    settings = _settings([stack], command="track", min_separation_nm=float(min_separation),
                         sampling_angstrom=sampling, threshold=float(threshold), overlap=float(overlap),
                         frame_interval_s=frame_interval, ids=None if ids is None else [int(i) for i in ids],
                         n_ids=int(n_ids), channel=channel, format=fmt)
    summary = out / "track.json"
    if _finished(summary, settings, files):
        print(f"temnn track: {out} is up to date (remove {summary.name} to redo)")
        return {**files, "summary": summary}
    output_folder(out, what="--out")

    def write(dtype: Any) -> None:
        def checked(tracked: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for frame in tracked:
                if dtype == np.uint16 and frame.max(initial=0) > _UINT16_MAX_ID:
                    raise _TooManyIds
                yield frame

        tracked = track(_progress(stack, "track", progress), min_separation=min_separation, sampling=sampling,
                        threshold=threshold, overlap=overlap)
        _write_stack(files["labels"], checked(tracked), shape=stack.shape, dtype=dtype, pixel=sampling / 10,
                     unit="nm", frame_interval=frame_interval, name="labels",
                     extra={"sampling": np.float64(sampling)})

    try:
        write(np.uint16 if fmt == "tif" else np.int32)
    except _TooManyIds:  # rare: tracking again is cheaper than holding the stack to convert it
        write(np.uint32)

    from ..analysis.tracking import property_table

    labels = _open_stack(files["labels"], "LABELS")
    rows = property_table(labels, sampling, frame_interval=frame_interval)
    write_csv(rows, files["properties"])
    shown = _plot_ids(rows, ids, int(n_ids))
    _plot_areas(rows, shown, files["area_plot"])
    _plot_frames(stack, labels, rows, sampling, files["frames_plot"])
    all_ids = sorted({int(r["id"]) for r in rows})
    write_json(summary, {"settings": settings, "frames": len(stack), "particles": len(all_ids),
                         "plotted_ids": shown, "files": {k: p.name for k, p in files.items()}})
    return {**files, "summary": summary}


def _check_format(fmt: str) -> str:
    if fmt not in ("tif", "npz"):
        raise TemnnError(f"--format: expected 'tif' or 'npz', got {fmt!r}")
    return fmt


def _plot_ids(rows: Sequence[dict[str, float]], ids: Sequence[int] | None, n_ids: int) -> list[int]:
    """The ids to plot: those asked for (all must exist), else the longest-lived, then largest."""
    frames: dict[int, int] = {}
    area: dict[int, float] = {}
    for row in rows:
        i = int(row["id"])
        frames[i] = frames.get(i, 0) + 1
        area[i] = area.get(i, 0.0) + row["area_nm2"]
    if ids is not None:
        missing = [int(i) for i in ids if int(i) not in frames]
        if missing:
            present = ", ".join(map(str, sorted(frames))) or "none"
            raise TemnnError(f"--ids: {', '.join(map(str, missing))} not in the tracked stack (ids present: "
                             f"{present}); see properties.csv")
        return [int(i) for i in ids]
    ranked = sorted(frames, key=lambda i: (-frames[i], -area[i] / frames[i], i))
    return sorted(ranked[:n_ids])


def _plot_areas(rows: Sequence[dict[str, float]], ids: list[int], path: Path) -> None:
    """Area against time of the chosen ids, in their frames.png colours (thesis fig. 6.6)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from ..analysis.plotting import save_figure
    from ..analysis.tracking import plot_property

    ax = plot_property(rows, name="area_nm2", ids=ids)
    for line in ax.lines:  # colour as in frames.png; ids a colour cycle apart differ in line style
        track_id = int(str(line.get_label()).split()[-1])
        line.set_color(id_colour(track_id))
        line.set_linestyle(("-", "--", ":", "-.")[(track_id - 1) // _ID_COLOURS % 4])
    if ax.lines:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    if ax.get_xlabel() == "frame":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("particle area")
    save_figure(ax.figure, path)
    plt.close(ax.figure)


def id_colour(track_id: int) -> tuple[float, float, float]:
    """The colour of a particle in the plots of ``temnn track``: tab10 without its grey, cycling.

    Parameters
    ----------
    track_id
        The particle's track id (≥ 1).

    Returns
    -------
    tuple of float
        (red, green, blue) [0-1].
    """
    from matplotlib import colormaps

    colours = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]  # grey is lost on grey images
    return colours[(int(track_id) - 1) % _ID_COLOURS]


def _id_colour_map() -> Any:
    """Colour map of :func:`_id_colours` images: transparent background, then the id colours."""
    from matplotlib.colors import ListedColormap

    return ListedColormap([(0, 0, 0, 0)] + [id_colour(i) for i in range(1, _ID_COLOURS + 1)])


def _id_colours(labels: np.ndarray) -> np.ndarray:
    """Colour index per pixel: 0 for background, 1…9 cycling with the id (stable across frames)."""
    return np.where(labels > 0, (labels.astype(np.int64) - 1) % _ID_COLOURS + 1, 0)


def _plot_frames(stack: _Stack, labels: _Stack, rows: Sequence[dict[str, float]], sampling: float,
                 path: Path, *, count: int = 4) -> None:
    """A few frames: the input in grey, particles coloured by id, id numbers at their centres."""
    import matplotlib.pyplot as plt

    from matplotlib.patheffects import withStroke

    from ..analysis.plotting import save_figure, show_image

    shown = np.unique(np.linspace(0, len(stack) - 1, min(len(stack), count)).round().astype(int))
    fig, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 4.3), squeeze=False)
    for ax, t in zip(axes[0], shown):
        show_image(ax, stack.frame(t), sampling=sampling, title=f"frame {t}")
        ax.imshow(_id_colours(labels.frame(t)).T, origin="lower", cmap=_id_colour_map(), vmin=-0.5,
                  vmax=_ID_COLOURS + 0.5, alpha=0.55, interpolation="nearest")
        for row in rows:
            if int(row["frame"]) == t:
                ax.text(row["com_x_nm"] * 10 / sampling, row["com_y_nm"] * 10 / sampling, str(int(row["id"])),
                        color="white", fontsize=8, ha="center", va="center", fontweight="bold",
                        path_effects=[withStroke(linewidth=2, foreground="black")])
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# ----------------------------------------------------------------------------------------- fft-track


def fft_track_file(
    images: str | os.PathLike,
    labels: str | os.PathLike,
    *,
    track_id: int,
    sampling: float | None = None,
    peaks: Sequence[tuple[float, float]] | None = None,
    n_peaks: int = 2,
    window: int | None = None,
    sigma: float = 2.0,
    size: int | None = None,
    frame_interval: float | None = None,
    channel: int | None = None,
    out: str | os.PathLike | None = None,
    fmt: str = "tif",
    progress: bool = True,
) -> dict[str, Path]:
    """Power spectra of one tracked particle in every frame and its Fourier peaks over time.

    Parameters
    ----------
    images
        (T, nx, ny) image stack (``.npy``, ``.npz``, TIFF or a microscope file).
    labels
        The matching (T, nx, ny) track ids, e.g. ``labels.tif`` from ``temnn track``.
    track_id
        The particle.
    sampling
        Pixel size [Å/pixel]; default: the calibration of ``images``, else of ``labels``.
    peaks
        Starting peak frequencies (qx, qy) [1/Å]; default: the ``n_peaks`` strongest in
        the first frame with the particle.
    n_peaks
        Number of peaks followed when ``peaks`` is not given.
    window
        Side of the square around each peak whose mean intensity is reported [spectrum
        pixels]; default: 30 (thesis), or size // 8 for crops under 240 pixels.
    sigma
        Standard deviation of the Gaussian that softens the mask edge [pixels].
    size
        Side of the square crop [pixels]; default: twice the particle's largest extent
        plus margins, a fast FFT size.
    frame_interval
        Time between frames [s] (adds a ``time_s`` column); default: the files'.
    channel
        Channel of a (T, C, nx, ny) image stack (e.g. one image of a focal series).
    out
        Output folder; default: the folder of ``labels``.
    fmt
        ``"tif"`` or ``"npz"``: format of the spectrum stack.
    progress
        Show a progress bar over frames.

    Returns
    -------
    dict of pathlib.Path
        ``spectra``, ``peaks`` (CSV), ``peaks_plot``, ``spectra_plot``, ``summary`` (JSON).

    Raises
    ------
    TemnnError
        Unreadable files, stacks of different lengths or frame shapes, no pixel size,
        an id that is in none of the frames, bad arguments.
    """
    from ..analysis.fourier import crop_size, instance_power_spectra, track_fourier_peaks
    from ..io.tables import write_csv

    image_stack = _open_stack(images, "IMAGES", channel=channel, sampling=sampling)
    label_stack = _open_stack(labels, "LABELS")
    if image_stack.shape != label_stack.shape:
        raise TemnnError(f"IMAGES {image_stack.path} holds {_describe(image_stack)} but LABELS {label_stack.path} "
                         f"holds {_describe(label_stack)}; give the labels that temnn track made from these images")
    sampling = _resolve_sampling(sampling, image_stack, label_stack)
    if frame_interval is None:
        frame_interval = image_stack.frame_interval or label_stack.frame_interval
    track_id = int(track_id)
    if sigma <= 0:
        raise TemnnError(f"--sigma: expected a positive edge width in pixels, got {sigma}")
    if peaks is not None:
        peaks = [(float(qx), float(qy)) for qx, qy in peaks]
    fmt = _check_format(fmt)
    if size is None:
        try:
            size = crop_size(label_stack, track_id, pad=int(math.ceil(3 * sigma)))
        except TemnnError:
            present = sorted(set().union(*(np.unique(f).tolist() for f in label_stack)) - {0})
            raise TemnnError(f"--id {track_id}: no particle with that id in LABELS {label_stack.path} (ids present: "
                             f"{', '.join(map(str, present)) or 'none'}); see properties.csv of temnn track") from None
    size = int(size)
    if size < 6:
        raise TemnnError(f"--size {size}: expected a crop side of at least 6 pixels")
    window = int(window) if window is not None else (30 if size >= 240 else max(3, size // 8))
    if not 3 <= window <= size // 2:
        raise TemnnError(f"--window {window}: expected 3…{size // 2} spectrum pixels for a {size}-pixel crop")
    out = Path(out) if out is not None else label_stack.path.parent
    name = f"id{track_id}"
    files = {"spectra": out / f"spectra_{name}.{fmt}", "peaks": out / f"fourier_peaks_{name}.csv",
             "peaks_plot": out / f"fourier_peaks_{name}.png", "spectra_plot": out / f"spectra_{name}.png"}
    settings = _settings([image_stack, label_stack], command="fft-track", id=track_id,
                         sampling_angstrom=sampling, peaks=None if peaks is None else [list(p) for p in peaks],
                         n_peaks=int(n_peaks), window=window, sigma=float(sigma), size=size,
                         frame_interval_s=frame_interval, channel=channel, format=fmt)
    summary = out / f"fft_track_{name}.json"
    if _finished(summary, settings, files):
        print(f"temnn fft-track: {out} is up to date for id {track_id} (remove {summary.name} to redo)")
        return {**files, "summary": summary}
    output_folder(out, what="--out")

    spectra = instance_power_spectra(_progress(image_stack, f"fft id {track_id}", progress), label_stack,
                                     track_id, size=size, sigma=float(sigma))
    dq = 1.0 / (size * sampling)  # [1/Å]
    _write_stack(files["spectra"], spectra, shape=(len(image_stack), size, size), dtype=np.float32,
                 pixel=10 * dq, unit="1/nm", frame_interval=frame_interval, name="spectra",
                 extra={"sampling": np.float64(sampling), "dq_inv_angstrom": np.float64(dq)})
    spectrum_stack = _open_stack(files["spectra"], "SPECTRA", allow_nan=True)
    rows = track_fourier_peaks((f.astype(np.float64) for f in spectrum_stack), sampling, peaks=peaks,
                               n_peaks=int(n_peaks), window=window)
    table = [{"id": track_id, "frame": r["frame"],
              **({} if frame_interval is None else {"time_s": r["frame"] * frame_interval}),
              **{k: v for k, v in r.items() if k != "frame"}} for r in rows]
    write_csv(table, files["peaks"])
    _plot_peaks(rows, track_id, files["peaks_plot"])
    _plot_spectra(image_stack, label_stack, spectrum_stack, rows, track_id, sampling, size, window,
                  files["spectra_plot"])
    write_json(summary, {"settings": settings, "frames": len(image_stack),
                         "frames_with_particle": int(sum(np.isfinite(r["intensity"]) for r in rows if r["peak"] == 0)),
                         "files": {k: p.name for k, p in files.items()}})
    return {**files, "summary": summary}


def _describe(stack: _Stack) -> str:
    return f"{stack.shape[0]} frames of {stack.shape[1]} × {stack.shape[2]} pixels"


def _plot_peaks(rows: list[dict[str, float]], track_id: int, path: Path) -> None:
    import matplotlib.pyplot as plt

    from ..analysis.fourier import plot_fourier_peaks

    fig, axes = plot_fourier_peaks(rows)
    axes[0].set_title(f"Fourier peaks of particle {track_id} (thesis fig. 6.5 b, c)")
    from ..analysis.plotting import save_figure

    save_figure(fig, path)
    plt.close(fig)


def _plot_spectra(images: _Stack, labels: _Stack, spectra: _Stack, rows: list[dict[str, float]], track_id: int,
                  sampling: float, size: int, window: int, path: Path, *, count: int = 5) -> None:
    """Crops of the particle (its outline drawn) above their spectra with the peak windows (thesis fig. 6.4)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..analysis.fourier import _crop, show_power_spectrum
    from ..analysis.plotting import save_figure, show_image

    present = sorted({int(r["frame"]) for r in rows if np.isfinite(r["intensity"])})
    if not present:
        present = [0]
    shown = [present[i] for i in np.unique(np.linspace(0, len(present) - 1, min(len(present), count)).round()
                                           .astype(int))]
    fig, axes = plt.subplots(2, len(shown), figsize=(3.2 * len(shown), 6.6), squeeze=False)
    dq = 1.0 / (size * sampling)
    for column, t in enumerate(shown):
        mask = labels.frame(t) == track_id
        top, bottom = axes[0][column], axes[1][column]
        if not mask.any():
            top.set_axis_off()
            bottom.set_axis_off()
            top.set_title(f"frame {t}: particle absent")
            continue
        ix, iy = np.nonzero(mask)
        # The crop that apodised_power_spectrum transforms: size × size, centred on the bounding box.
        corner = ((int(ix.min() + ix.max()) + 1 - size) // 2, (int(iy.min() + iy.max()) + 1 - size) // 2)
        show_image(top, _crop(np.asarray(images.frame(t), dtype=np.float64), corner, size),
                   sampling=sampling, title=f"frame {t}")
        top.contour(_crop(mask.astype(np.float64), corner, size).T, levels=[0.5], colors="yellow", linewidths=0.8)
        show_power_spectrum(bottom, spectra.frame(t), sampling)
        for r in rows:
            if int(r["frame"]) == t and np.isfinite(r["qx_inv_angstrom"]):
                for sign in (1, -1):
                    bottom.add_patch(Rectangle((sign * r["qx_inv_angstrom"] - window * dq / 2,
                                                sign * r["qy_inv_angstrom"] - window * dq / 2),
                                               window * dq, window * dq, fill=False,
                                               edgecolor=f"C{int(r['peak'])}", linewidth=0.8))
    fig.suptitle(f"particle {track_id}: crops and power spectra (thesis fig. 6.4)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# ----------------------------------------------------------------------------------------- command line


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``track`` and ``fft-track`` subcommands."""
    p = subparsers.add_parser(
        "track",
        help="split a probability/mask stack into particles and track them over time (areas in nm²)",
        description=(
            "Split every frame of STACK (probability maps or masks, T × x × y) into particles by a "
            "watershed on the distance map, and give each particle the id of the previous-frame particle "
            "it overlaps most (thesis 3.5, 'Label by 2+1D connectivity'). Writes the tracked label stack "
            "(labels.tif, uint16/uint32 with the pixel size in nm, or labels.npz), properties.csv (area "
            "[nm²], centre of mass [nm], equivalent diameter [nm], displacement [nm] per id per frame), "
            "area.png and frames.png into OUT. Frames are read and written one at a time."
        ),
    )
    p.add_argument("stack", metavar="STACK",
                   help="probability-map or mask stack: .npy, .npz, .tif, or the folder of temnn predict's frames")
    p.add_argument("--min-separation", metavar="NM", type=float, required=True,
                   help="smallest distance between particle centres [nm]; its square is the smallest area kept [nm²]")
    _common_options(p)
    p.add_argument("--threshold", metavar="P", type=float, default=0.5,
                   help="particle where the map ≥ this (default 0.5)")
    p.add_argument("--overlap", metavar="FRACTION", type=float, default=0.5,
                   help="smallest overlap |A∩B|/min(|A|,|B|) that keeps an id between frames (default 0.5)")
    p.add_argument("--ids", metavar="ID", type=int, nargs="+", help="ids drawn in area.png (default: --n-ids)")
    p.add_argument("--n-ids", metavar="N", type=int, default=8,
                   help="draw the N longest-lived (then largest) particles in area.png (default 8)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: STACK name + '_track' beside it)")
    p.set_defaults(func=_run_track)

    p = subparsers.add_parser(
        "fft-track",
        help="power spectra of one tracked particle over time and its Fourier peaks (intensity, angle)",
        description=(
            "Crop particle --id out of every frame of IMAGES with its own mask from LABELS (temnn track), "
            "soften the mask edge with a Gaussian, and take the power spectrum ('Get FFT along time axis', "
            "thesis figs. 6.4, 6.5). Follows Fourier peaks through the spectra: the mean intensity in a "
            "window around each peak as a fraction of the spectrum's maximum, and the peak angle "
            "atan2(qy, qx) [°] per frame. Writes spectra_idN.tif/.npz, fourier_peaks_idN.csv and plots."
        ),
    )
    p.add_argument("images", metavar="IMAGES", help="image stack: .npy, .npz, .tif or a microscope file")
    p.add_argument("labels", metavar="LABELS",
                   help="tracked label stack of the same frames (labels.tif of temnn track)")
    p.add_argument("--id", dest="track_id", metavar="N", type=int, required=True, help="the particle's track id")
    p.add_argument("--peaks", metavar="Q", type=float, nargs="+",
                   help="starting peaks as pairs QX QY [1/Å] (default: the --n-peaks strongest in the first frame)")
    p.add_argument("--n-peaks", metavar="K", type=int, default=2,
                   help="peaks followed when --peaks is not given (default 2)")
    p.add_argument("--window", metavar="PIXELS", type=int,
                   help="side of the square around each peak [spectrum pixels] (default 30, or crop/8 if smaller)")
    p.add_argument("--sigma", metavar="PIXELS", type=float, default=2.0,
                   help="Gaussian softening of the mask edge [pixels] (default 2)")
    p.add_argument("--size", metavar="PIXELS", type=int, help="crop side [pixels] (default: from the particle)")
    _common_options(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: the folder of LABELS)")
    p.set_defaults(func=_run_fft_track)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampling", metavar="Å", type=float,
                   help="pixel size [Å/pixel] (default: the file's calibration)")
    p.add_argument("--frame-interval", metavar="S", type=float,
                   help="time between frames [s] (default: the file's; else tables use frame numbers)")
    p.add_argument("--channel", metavar="C", type=int,
                   help="channel of a (T, C, x, y) stack or of per-frame (C, x, y) predictions (a softmax Mask "
                        "model: 0 = particles, the last = background)")
    p.add_argument("--format", choices=("tif", "npz"), default="tif", help="output stack format (default tif)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_track(args: argparse.Namespace) -> int:
    files = track_file(args.stack, min_separation=args.min_separation, sampling=args.sampling,
                       threshold=args.threshold, overlap=args.overlap, frame_interval=args.frame_interval,
                       ids=args.ids, n_ids=args.n_ids, channel=args.channel, out=args.out, fmt=args.format,
                       progress=not args.quiet)
    print(f"temnn track: wrote {files['labels'].parent}")
    return 0


def _run_fft_track(args: argparse.Namespace) -> int:
    peaks = None
    if args.peaks is not None:
        if len(args.peaks) % 2:
            raise TemnnError(f"--peaks: expected pairs QX QY in 1/Å, got {len(args.peaks)} numbers")
        peaks = list(zip(args.peaks[0::2], args.peaks[1::2]))
    files = fft_track_file(args.images, args.labels, track_id=args.track_id, sampling=args.sampling, peaks=peaks,
                           n_peaks=args.n_peaks, window=args.window, sigma=args.sigma, size=args.size,
                           frame_interval=args.frame_interval, channel=args.channel, out=args.out,
                           fmt=args.format, progress=not args.quiet)
    print(f"temnn fft-track: wrote {files['peaks'].parent}")
    return 0
