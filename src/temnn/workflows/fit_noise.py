"""The noise-fit stage (``temnn fit-noise``): detector MTF and readout noise from vacuum regions of frames.

Reads the frames (:func:`temnn.io.stacks.read_frames`), fits them
(:func:`temnn.analysis.noise.fit_dose_series`) and writes ``mtf_fits.csv``,
``noise_fit.json`` and the plots into the output folder (see :mod:`temnn.cli.fit_noise`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..analysis.noise import DoseSeriesFit, fit_dose_series, plot_dose_series, plot_mtf_fit
from ..io.files import output_folder, write_json
from ..io.stacks import read_frames
from ..io.tables import write_csv

__all__ = ["fit_noise"]


def fit_noise(
    files: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    sampling: float | None = None,
    conversion: float | None = None,
    corner: tuple[int, int] | None = None,
    size: int | None = None,
    electrons: Sequence[float] | None = None,
    taper: str | None = "tukey",
    min_r2: float = 0.98,
) -> tuple[DoseSeriesFit, float, Path]:
    """Fit the MTF of every frame and N0 over the frames; write tables, JSON and plots into ``out``.

    Parameters
    ----------
    files : sequence of path
        Frames in order: microscope files or ``.npy``/``.npz`` arrays (see :func:`temnn.io.stacks.read_frames`).
    out : path
        Output folder (created; refused when it is a file before anything is read).
    sampling : float, optional
        Pixel size [Å/pixel]; default the files' calibration.
    conversion : float, optional
        Detector counts per electron; default the value recorded in the file, else 1.
    corner, size
        Vacuum window: corner (x, y) and side [pixels]; default the flattest region.
    electrons : sequence of float, optional
        Electrons per pixel of every frame, instead of mean counts / conversion.
    taper : str or None
        Window function before the FFT (``"tukey"``, ``"hann"``, None).
    min_r2 : float
        R² from which a frame's fit counts as good for the suggested ranges.

    Returns
    -------
    (DoseSeriesFit, float, pathlib.Path)
        The fits, the conversion used [counts/electron] and the output folder.
    """
    output_folder(out, what="--out", create=False)
    frames, sampling, recorded = read_frames([Path(f) for f in files], sampling=sampling)
    conversion = conversion if conversion is not None else (recorded or 1.0)
    series = fit_dose_series(
        frames,
        corner=corner,
        size=size,
        electrons=electrons,
        conversion=conversion,
        sampling=sampling,
        taper=taper,
        min_r2=min_r2,
    )
    out = output_folder(out, what="--out")
    rows = series.rows()
    write_csv(rows, out / "mtf_fits.csv")
    plot_mtf_fit(series.fits[0], title="first frame", path=out / "mtf_first.png")
    if len(series.fits) > 1:
        plot_mtf_fit(series.fits[-1], title="last frame", path=out / "mtf_last.png")
        plot_dose_series(series, path=out / "dose_series.png")
    suggested = series.suggested_parameters()
    readout = series.readout
    write_json(out / "noise_fit.json", {
        "files": [str(f) for f in files],
        "window": {"corner": list(series.corner), "size": series.size},
        "conversion_counts_per_electron": conversion,
        "sampling_angstrom": sampling,
        "readout_fit": None if readout is None else {
            "readout_electrons_per_pixel": readout.readout,
            "detector_floor": readout.detector_floor,
            "stderr": readout.stderr,
            "r2": readout.r2,
        },
        "frames": rows,
        "suggested_parameters": suggested,
    })
    return series, conversion, out
