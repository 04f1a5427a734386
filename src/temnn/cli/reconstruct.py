"""``temnn reconstruct``: the argparse layer of :func:`temnn.workflows.reconstruct.reconstruct_series`."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reconstruct`` subcommand."""
    p = subparsers.add_parser(
        "reconstruct",
        help="Gerchberg-Saxton exit-wave reconstruction of a focal series (classical baseline)",
        description=(
            "Reconstruct the exit wave of a focal series with known defocus values and aberrations by "
            "the iterative Gerchberg-Saxton algorithm (propagate to every image plane with its CTF, impose "
            "the measured amplitudes, propagate back, average). The lowest spatial frequencies are not "
            "determined by a focal series; comparisons with a ground truth remove them from both "
            "(Gaussian of --cutoff Å)."
        ),
    )
    p.add_argument("series", type=Path, metavar="SERIES",
                   help="focal series: .npy/.npz (K, nx, ny), or a temnn image file NNNNN_EE.npz (+ its .json)")
    p.add_argument("--defocus", type=float, nargs="+", metavar="Å",
                   help="defocus of every image [Å] (Δf = -C10, abTEM's sign); default: from the image's .json")
    p.add_argument("--cs", type=float, default=None, metavar="Å", help="spherical aberration C30 [Å] (1 µm = 1e4 Å)")
    p.add_argument("--energy", type=float, default=None, metavar="eV", help="beam energy [eV]")
    p.add_argument("--sampling", type=float, default=None, metavar="Å", help="pixel size [Å/pixel]")
    p.add_argument("--focal-spread", type=float, default=None, metavar="Å", help="focal spread [Å] (temporal envelope)")
    p.add_argument("--angular-spread", type=float, default=None, metavar="mrad", help="beam convergence [mrad]")
    p.add_argument("--aperture", type=float, default=None, metavar="mrad", help="objective aperture semi-angle [mrad]")
    p.add_argument("--iterations", type=int, default=100, metavar="N", help="Gerchberg-Saxton iterations (default 100)")
    p.add_argument("--truth", type=Path, default=None, metavar="FILE",
                   help="ground-truth exit wave: a temnn wave file (waves/NNNNN.npz), an Exitwave label, or a "
                        ".npy complex (nx, ny) / real (2, nx, ny) array on the images' grid")
    p.add_argument("--cutoff", type=float, default=0.9, metavar="Å",
                   help="σ of the Gaussian whose long wavelengths are removed before comparing (default 0.9 Å, publication I)")
    p.add_argument("--out", type=Path, default=Path("reconstruction"), metavar="DIR",
                   help="output folder (default ./reconstruction)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..workflows.reconstruct import reconstruct_series

    overrides = {"defocus": args.defocus, "C30": args.cs, "energy": args.energy, "focal_spread": args.focal_spread,
                 "angular_spread": args.angular_spread, "aperture": args.aperture}
    run = reconstruct_series(args.series, args.out, overrides=overrides, sampling=args.sampling, truth=args.truth,
                             iterations=args.iterations, cutoff=args.cutoff)
    out, summary = run.out, run.summary
    if run.skipped:
        print(f"{out}: already reconstructed with these settings (delete it to redo)")
        return 0
    print(f"{run.images} images, {args.iterations} iterations: RMS amplitude mismatch "
          f"{summary['initial_mismatch']:.4g} → {summary['final_mismatch']:.4g}")
    if "rmse" in summary:
        print(f"against the truth (wavelengths beyond σ = {args.cutoff:g} Å removed): RMSE {summary['rmse']:.4f}, "
              f"phase RMSE {summary['phase_rmse_rad']:.4f} rad")
    print(f"written: {out}/reconstruction.npz, reconstruction.json, reconstruction.png")
    return 0
