"""``temnn fit-noise``: detector MTF and readout noise from vacuum regions of recorded frames.

Reads the frames of one or more files in order (a dose series when they span a
range of doses), fits publication II eq. A.1 to the power spectrum of the same
vacuum window in every frame, fits N0 from the MTF floor C against electrons per
pixel, and writes to ``--out``:

- ``mtf_fits.csv``: one row per frame (electrons per pixel, c0, c1, c2, c3, C, R², errors);
- ``noise_fit.json``: the window, the fits, N0 and the suggested parameters-file block;
- ``mtf_first.png`` and ``mtf_last.png``: raw spectrum with fit and normalised MTF
  of the first and last frame (publication II figs. A.12, A.13);
- ``dose_series.png``: c0, c3 and C against electrons per pixel with the N0 fit (figs. 4, 5).

Frames are read from microscope files through :mod:`temnn.io.microscope` (dm3,
dm4, tif, emd, …: frames in temnn's (x, y) order, the pixel size and the
counts-per-electron factor from the metadata when recorded), and from ``.npy``
(one frame or a (K, nx, ny) stack) and ``.npz`` (the array ``frames``,
``images`` or ``image``, else the only array). The fit takes seconds, so a
re-run simply recomputes; every file is written atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..errors import TemnnError

__all__ = ["register", "read_frames"]

_NPZ_KEYS = ("frames", "images", "image")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit-noise`` subcommand."""
    p = subparsers.add_parser(
        "fit-noise",
        help="fit the detector MTF and readout noise N0 to vacuum regions of frames",
        description=(
            "Fit the parametric MTF (c1 - c2)/(1 + (q/c0)^c3) + c2 (publication II eq. A.1, q in units of "
            "Nyquist) to the azimuthally averaged power spectrum of a vacuum window of every frame, and "
            "N0 from C = (N_D·C_det + N0)/(N_D + N0) over the frames' electrons per pixel N_D. Prints a "
            "parameters-file block (mtf_c0, mtf_c3, mtf_floor, readout) for simulations of this detector."
        ),
        epilog="Window corners are pixel indices (x, y) in temnn's [ix, iy] order (a .npy/.npz array is "
               "indexed as stored); frames are read in the order given.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILES",
                   help="frames: microscope files (dm3, dm4, tif, emd, …) or .npy/.npz arrays, one frame or a stack each")
    p.add_argument("--window", type=int, nargs=3, metavar=("X", "Y", "SIZE"),
                   help="vacuum window: corner (X, Y) and side SIZE [pixels]; default: the flattest region")
    p.add_argument("--size", type=int, default=None, metavar="PIXELS",
                   help="side of the automatically found window [pixels] (default: 512, 256, … fitting in half the frame)")
    p.add_argument("--sampling", type=float, default=None, metavar="Å",
                   help="pixel size [Å/pixel] (default: the files' calibration); adds the dose in e⁻/Å² to the table")
    p.add_argument("--conversion", type=float, default=None, metavar="COUNTS_PER_ELECTRON",
                   help="detector counts per electron: N_D = mean counts / conversion [electrons/pixel] "
                        "(default: the value recorded in the file, else 1)")
    p.add_argument("--electrons", type=float, nargs="+", default=None, metavar="N",
                   help="electrons per pixel of every frame, instead of mean counts / conversion")
    p.add_argument("--taper", choices=("tukey", "hann", "none"), default="tukey",
                   help="window function before the FFT (default tukey: 25 %% cosine edges)")
    p.add_argument("--min-r2", type=float, default=0.98, metavar="R2",
                   help="R² from which a frame's fit counts as good for the suggested ranges (default 0.98)")
    p.add_argument("--out", type=Path, default=Path("fit-noise"), metavar="DIR",
                   help="output folder (default ./fit-noise)")
    p.set_defaults(func=_run)


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
    from ..checks import real_finite
    from ..io.microscope import read_microscope_file

    frames: list[np.ndarray] = []
    conversion = None
    for path in paths:
        if path.suffix.lower() in (".npy", ".npz"):
            array = _read_array(path)
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


def _read_array(path: Path) -> np.ndarray:
    from ..io.files import read_numpy

    with read_numpy(path) as f:
        if isinstance(f, np.ndarray):
            return np.asarray(f)
        keys = [k for k in _NPZ_KEYS if k in f.files] or (f.files if len(f.files) == 1 else [])
        if not keys:
            raise TemnnError(f"{path}: expected an array named one of {_NPZ_KEYS} (or a single array), found {f.files}")
        return f[keys[0]]


def _run(args: argparse.Namespace) -> int:
    from ..io.files import output_folder, write_json
    from ..analysis.noise import fit_dose_series, plot_dose_series, plot_mtf_fit
    from ..io.tables import write_csv

    output_folder(args.out, what="--out", create=False)
    frames, sampling, recorded = read_frames(args.files, sampling=args.sampling)
    conversion = args.conversion if args.conversion is not None else (recorded or 1.0)
    corner, size = (None, args.size) if args.window is None else ((args.window[0], args.window[1]), args.window[2])
    series = fit_dose_series(
        frames,
        corner=corner,
        size=size,
        electrons=args.electrons,
        conversion=conversion,
        sampling=sampling,
        taper=None if args.taper == "none" else args.taper,
        min_r2=args.min_r2,
    )
    out = output_folder(args.out, what="--out")
    rows = series.rows()
    write_csv(rows, out / "mtf_fits.csv")
    plot_mtf_fit(series.fits[0], title="first frame", path=out / "mtf_first.png")
    if len(series.fits) > 1:
        plot_mtf_fit(series.fits[-1], title="last frame", path=out / "mtf_last.png")
        plot_dose_series(series, path=out / "dose_series.png")
    suggested = series.suggested_parameters()
    readout = series.readout
    write_json(out / "noise_fit.json", {
        "files": [str(f) for f in args.files],
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
    print(f"{len(rows)} frame(s), vacuum window corner {series.corner}, size {series.size} pixels; "
          f"{int(series.good.sum())} fit(s) with R² ≥ {args.min_r2:g}")
    if readout is None:
        print("readout N0: not fitted (needs frames at three or more doses)")
    else:
        print(f"readout N0 = {readout.readout:.4g} ± {readout.stderr['readout']:.2g} electrons/pixel, "
              f"detector floor C = {readout.detector_floor:.3g} ± {readout.stderr['detector_floor']:.2g} (R² = {readout.r2:.3f})")
    print("suggested parameters-file entries:")
    print(json.dumps(suggested, indent=2))
    print(f"written: {out}/mtf_fits.csv, noise_fit.json and plots")
    return 0
