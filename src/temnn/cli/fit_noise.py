"""``temnn fit-noise``: the argparse layer of :func:`temnn.workflows.fit_noise.fit_noise` — detector MTF and readout noise from vacuum regions of recorded frames.

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

__all__ = ["register"]


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


def _run(args: argparse.Namespace) -> int:
    from ..workflows.fit_noise import fit_noise

    corner, size = (None, args.size) if args.window is None else ((args.window[0], args.window[1]), args.window[2])
    series, conversion, out = fit_noise(
        args.files,
        args.out,
        sampling=args.sampling,
        conversion=args.conversion,
        corner=corner,
        size=size,
        electrons=args.electrons,
        taper=None if args.taper == "none" else args.taper,
        min_r2=args.min_r2,
    )
    readout = series.readout
    print(f"{len(series.fits)} frame(s), vacuum window corner {series.corner}, size {series.size} pixels; "
          f"{int(series.good.sum())} fit(s) with R² ≥ {args.min_r2:g}")
    if readout is None:
        print("readout N0: not fitted (needs frames at three or more doses)")
    else:
        print(f"readout N0 = {readout.readout:.4g} ± {readout.stderr['readout']:.2g} electrons/pixel, "
              f"detector floor C = {readout.detector_floor:.3g} ± {readout.stderr['detector_floor']:.2g} (R² = {readout.r2:.3f})")
    print("suggested parameters-file entries:")
    print(json.dumps(series.suggested_parameters(), indent=2))
    print(f"written: {out}/mtf_fits.csv, noise_fit.json and plots")
    return 0
