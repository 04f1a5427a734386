"""The tracking stage (``temnn track``, ``temnn fft-track``): image sequences → per-particle time series.

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

import math
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..analysis.track_plots import ids_to_plot, plot_areas, plot_frames, plot_peaks, plot_spectra
from ..checks import finite_threshold
from ..errors import TemnnError
from ..io.files import output_folder, read_json, write_json
from ..io.stacks import Stack, open_stack, resolve_sampling, write_stack
from ..units import ANGSTROM_PER_UNIT

__all__ = ["track_file", "fft_track_file"]

_UINT16_MAX_ID = int(np.iinfo(np.uint16).max)


# ----------------------------------------------------------------------------------------- reading


# ----------------------------------------------------------------------------------------- writing


class _TooManyIds(Exception):
    """More track ids than a uint16 stack holds."""


def _progress(frames: Stack, desc: str, enabled: bool) -> Iterator[np.ndarray]:
    from tqdm.auto import tqdm

    return iter(tqdm(frames, total=len(frames), desc=desc, unit="frame", disable=not enabled, dynamic_ncols=True))


# ----------------------------------------------------------------------------------------- re-runs


def _settings(inputs: Sequence[Stack], **arguments: Any) -> dict[str, Any]:
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
        Smallest distance between particle centres [nm]: the command's ``--min-separation``,
        recorded in ``track.json`` as ``min_separation_nm``; :func:`temnn.track` gets
        ``min_spacing`` = 10 · ``min_separation`` [Å]. Its square is the smallest particle area
        kept [nm²].
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
    from ..analysis.instances import separation_pixels
    from ..io.tables import write_csv

    stack = open_stack(path, "STACK", channel=channel, sampling=sampling)
    sampling = resolve_sampling(sampling, stack)
    spacing = _nm_to_angstrom(min_separation)
    separation_pixels("track", sampling=sampling, min_spacing=spacing)  # check the options before the first frame
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
    _write_labels(stack, files["labels"], fmt, min_spacing=spacing, sampling=sampling,
                  threshold=threshold, overlap=overlap, frame_interval=frame_interval, progress=progress)

    from ..analysis.tracking import property_table

    labels = open_stack(files["labels"], "LABELS")
    rows = property_table(labels, sampling, frame_interval=frame_interval)
    write_csv(rows, files["properties"])
    shown = ids_to_plot(rows, ids, int(n_ids))
    plot_areas(rows, shown, files["area_plot"])
    plot_frames(stack, labels, rows, sampling, files["frames_plot"])
    all_ids = sorted({int(r["id"]) for r in rows})
    write_json(summary, {"settings": settings, "frames": len(stack), "particles": len(all_ids),
                         "plotted_ids": shown, "files": {k: p.name for k, p in files.items()}})
    return {**files, "summary": summary}


def _nm_to_angstrom(min_separation: float) -> float:
    """The ``--min-separation`` [nm] as a length in Å, checked to be positive."""
    try:
        value = float(min_separation)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise TemnnError(f"min_separation: expected a positive distance in nm, got {min_separation!r}")
    return value * ANGSTROM_PER_UNIT["nm"]


def _write_labels(stack: Stack, path: Path, fmt: str, *, min_spacing: float, sampling: float, threshold: float,
                  overlap: float, frame_interval: float | None, progress: bool) -> None:
    """Track ``stack`` frame by frame into a label stack at ``path``: uint16 TIFF (uint32 beyond 65535 ids) or int32 npz."""
    from ..analysis.tracking import track

    def write(dtype: Any) -> None:
        def checked(tracked: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for frame in tracked:
                if dtype == np.uint16 and frame.max(initial=0) > _UINT16_MAX_ID:
                    raise _TooManyIds
                yield frame

        tracked = track(_progress(stack, "track", progress), min_spacing=min_spacing, sampling=sampling,
                        threshold=threshold, overlap=overlap)
        write_stack(path, checked(tracked), shape=stack.shape, dtype=dtype, pixel=sampling / 10,
                    unit="nm", frame_interval=frame_interval, name="labels",
                    extra={"sampling": np.float64(sampling)})

    try:
        write(np.uint16 if fmt == "tif" else np.int32)
    except _TooManyIds:  # rare: tracking again is cheaper than holding the stack to convert it
        write(np.uint32)


def _check_format(fmt: str) -> str:
    if fmt not in ("tif", "npz"):
        raise TemnnError(f"--format: expected 'tif' or 'npz', got {fmt!r}")
    return fmt


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
    from ..analysis.fourier import instance_power_spectra, track_fourier_peaks
    from ..io.tables import write_csv

    image_stack = open_stack(images, "IMAGES", channel=channel, sampling=sampling)
    label_stack = open_stack(labels, "LABELS")
    if image_stack.shape != label_stack.shape:
        raise TemnnError(f"IMAGES {image_stack.path} holds {_describe(image_stack)} but LABELS {label_stack.path} "
                         f"holds {_describe(label_stack)}; give the labels that temnn track made from these images")
    sampling = resolve_sampling(sampling, image_stack, label_stack)
    if frame_interval is None:
        frame_interval = image_stack.frame_interval or label_stack.frame_interval
    track_id = int(track_id)
    if sigma <= 0:
        raise TemnnError(f"--sigma: expected a positive edge width in pixels, got {sigma}")
    if peaks is not None:
        peaks = [(float(qx), float(qy)) for qx, qy in peaks]
    fmt = _check_format(fmt)
    size, window = _crop_and_window(label_stack, track_id, sigma=sigma, size=size, window=window)
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
    write_stack(files["spectra"], spectra, shape=(len(image_stack), size, size), dtype=np.float32,
                 pixel=10 * dq, unit="1/nm", frame_interval=frame_interval, name="spectra",
                 extra={"sampling": np.float64(sampling), "dq_inv_angstrom": np.float64(dq)})
    spectrum_stack = open_stack(files["spectra"], "SPECTRA", allow_nan=True)
    rows = track_fourier_peaks((f.astype(np.float64) for f in spectrum_stack), sampling, peaks=peaks,
                               n_peaks=int(n_peaks), window=window)
    table = [{"id": track_id, "frame": r["frame"],
              **({} if frame_interval is None else {"time_s": r["frame"] * frame_interval}),
              **{k: v for k, v in r.items() if k != "frame"}} for r in rows]
    write_csv(table, files["peaks"])
    plot_peaks(rows, track_id, files["peaks_plot"])
    plot_spectra(image_stack, label_stack, spectrum_stack, rows, track_id, sampling, size, window,
                  files["spectra_plot"])
    write_json(summary, {"settings": settings, "frames": len(image_stack),
                         "frames_with_particle": int(sum(np.isfinite(r["intensity"]) for r in rows if r["peak"] == 0)),
                         "files": {k: p.name for k, p in files.items()}})
    return {**files, "summary": summary}


def _crop_and_window(labels: Stack, track_id: int, *, sigma: float, size: int | None, window: int | None
                     ) -> tuple[int, int]:
    """The crop side [pixels] (default: from the particle's extent) and the peak window [spectrum pixels]."""
    from ..analysis.fourier import crop_size

    if size is None:
        try:
            size = crop_size(labels, track_id, pad=int(math.ceil(3 * sigma)))
        except TemnnError:
            present = sorted(set().union(*(np.unique(f).tolist() for f in labels)) - {0})
            raise TemnnError(f"--id {track_id}: no particle with that id in LABELS {labels.path} (ids present: "
                             f"{', '.join(map(str, present)) or 'none'}); see properties.csv of temnn track") from None
    size = int(size)
    if size < 6:
        raise TemnnError(f"--size {size}: expected a crop side of at least 6 pixels")
    window = int(window) if window is not None else (30 if size >= 240 else max(3, size // 8))
    if not 3 <= window <= size // 2:
        raise TemnnError(f"--window {window}: expected 3…{size // 2} spectrum pixels for a {size}-pixel crop")
    return size, window


def _describe(stack: Stack) -> str:
    return f"{stack.shape[0]} frames of {stack.shape[1]} × {stack.shape[2]} pixels"


# ----------------------------------------------------------------------------------------- command line


