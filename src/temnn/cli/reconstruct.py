"""``temnn reconstruct``: classical (Gerchberg-Saxton) exit-wave reconstruction of a focal series.

The baseline a network's exit-wave reconstruction is compared with (publication I,
section 6). SERIES is

- a ``.npy`` (K, nx, ny) focal series, or an ``.npz`` holding it as ``images``
  or ``image`` (and optionally ``sampling``);
- a temnn image file ``DATA/images/NAME/NNNNN_EE.npz``: its ``.json`` beside it
  gives the defocus of every image, the energy, the aberrations and envelopes,
  and, when the image set's label is ``Exitwave``, the stored label is the
  ground truth.

Command-line options override what the files say. OUT receives
``reconstruction.npz`` (``wave`` complex64, ``sampling``, ``history``,
``defocus``), ``reconstruction.json`` (settings, final mismatch, RMSE against
the truth) and ``reconstruction.png`` (phase and amplitude of the
reconstruction, the truth and their difference after removing the long
wavelengths, and the convergence). Re-running with the same settings skips the
work.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TemnnError

__all__ = ["register"]

_CTF_OPTIONS = ("C12", "phi12", "C21", "phi21", "C23", "phi23", "C32", "phi32", "C34", "phi34", "C45", "phi45")


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
    from ..io.files import output_folder, read_json, save_npz, write_json
    from ..simulate.optics import CTF
    from ..analysis.reconstruction import compare_to_truth, plot_reconstruction, reconstruct_exit_wave

    output_folder(args.out, what="--out", create=False)
    images, sampling, microscope, truth = _read_series(args.series)
    settings = _ctf_settings(args, microscope, len(images))
    sampling = args.sampling if args.sampling is not None else sampling
    if sampling is None:
        raise TemnnError(f"{args.series}: no pixel size stored; give --sampling in Å/pixel")
    if args.truth is not None:
        truth = _read_truth(args.truth, sampling)
    if truth is not None and truth.shape != images.shape[1:]:
        raise TemnnError(f"truth: a wave of {truth.shape} pixels, but the images are {images.shape[1:]}; "
                         "give the exit wave on the images' grid")
    record: dict[str, Any] = {"series": str(args.series), "truth": None if args.truth is None else str(args.truth),
                              "sampling": sampling, "iterations": args.iterations, "cutoff": args.cutoff, **settings}
    out = args.out
    done = out / "reconstruction.json"
    if done.exists() and (out / "reconstruction.npz").exists() and read_json(done).get("settings") == record:
        print(f"{out}: already reconstructed with these settings (delete it to redo)")
        return 0
    ctfs = [CTF(defocus=d, **{k: v for k, v in settings.items() if k != "defocus"}) for d in settings["defocus"]]
    result = reconstruct_exit_wave(images, ctfs, sampling, iterations=args.iterations)
    summary: dict[str, Any] = {"settings": record, "final_mismatch": float(result.history[-1]),
                               "initial_mismatch": float(result.history[0])}
    if truth is not None:
        comparison = compare_to_truth(result.wave, truth, sampling, cutoff=args.cutoff)
        summary.update(rmse=comparison.rmse, phase_rmse_rad=comparison.phase_rmse)
    output_folder(out, what="--out")
    save_npz(out / "reconstruction.npz", wave=result.wave.astype(np.complex64), sampling=np.float64(sampling),
             history=result.history, defocus=np.asarray(settings["defocus"]))
    plot_reconstruction(result, truth, cutoff=args.cutoff, path=out / "reconstruction.png")
    write_json(done, summary)  # last: marks the run as finished
    print(f"{len(images)} images, {args.iterations} iterations: RMS amplitude mismatch "
          f"{result.history[0]:.4g} → {result.history[-1]:.4g}")
    if truth is not None:
        print(f"against the truth (wavelengths beyond σ = {args.cutoff:g} Å removed): RMSE {summary['rmse']:.4f}, "
              f"phase RMSE {summary['phase_rmse_rad']:.4f} rad")
    print(f"written: {out}/reconstruction.npz, reconstruction.json, reconstruction.png")
    return 0


def _read_series(path: Path) -> tuple[np.ndarray, float | None, dict[str, Any] | None, np.ndarray | None]:
    """Images, sampling, the microscope parameters of a temnn image file, and its Exitwave label."""
    from ..io.files import read_json, read_numpy
    from ..analysis._arrays import complex_wave
    from ..checks import real_finite

    if not path.exists():
        raise TemnnError(f"{path}: file not found")
    sampling = microscope = truth = None
    if path.suffix.lower() == ".npy":
        with read_numpy(path) as images:
            images = np.asarray(images)
    elif path.suffix.lower() == ".npz":
        with read_numpy(path) as f:
            key = next((k for k in ("images", "image") if k in f.files), None)
            if key is None:
                raise TemnnError(f"{path}: expected the focal series as 'images' or 'image', found {f.files}")
            images = f[key]
            if "sampling" in f.files:
                sampling = float(np.ravel(f["sampling"])[0])
            label = f["label"] if "label" in f.files else None
        if path.with_suffix(".json").exists():
            microscope = read_json(path.with_suffix(".json"))
            parameters = path.parent / "parameters.json"
            if label is not None and parameters.exists() and read_json(parameters).get("label") == "Exitwave":
                truth = complex_wave(label[:2], name=f"{path}: label")
    else:
        raise TemnnError(f"{path}: expected a .npy or .npz focal series, got {path.suffix!r}")
    if images.ndim != 3 or len(images) < 2 or 0 in images.shape:
        raise TemnnError(f"{path}: expected a focal series of two or more images (K, nx, ny), got shape {images.shape}")
    images = np.asarray(real_finite(images, name=str(path)), dtype=np.float64)
    return images, sampling, microscope, truth


def _ctf_settings(args: argparse.Namespace, microscope: dict[str, Any] | None, count: int) -> dict[str, Any]:
    """The CTF fields (energy, defocus list, aberrations, envelopes) from the .json, overridden by options."""
    settings: dict[str, Any] = {}
    if microscope is not None:
        settings = {k: microscope[k] for k in ("energy", "defocus", "C30", "focal_spread", "angular_spread", "aperture",
                                               *_CTF_OPTIONS) if k in microscope}
    overrides = {"defocus": args.defocus, "C30": args.cs, "energy": args.energy, "focal_spread": args.focal_spread,
                 "angular_spread": args.angular_spread, "aperture": args.aperture}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    missing = [f"--{name}" for name, key in (("defocus", "defocus"), ("energy", "energy")) if key not in settings]
    if missing:
        raise TemnnError(f"reconstruct: give {' and '.join(missing)} (no microscope .json beside the series)")
    defocus = [float(d) for d in np.atleast_1d(settings["defocus"])]
    if len(defocus) != count:
        raise TemnnError(f"--defocus: {len(defocus)} value(s) for {count} images; give one defocus in Å per image")
    settings["defocus"] = defocus
    return settings


def _read_truth(path: Path, sampling: float) -> np.ndarray:
    from ..io.files import read_numpy
    from ..analysis._arrays import complex_wave

    if path.suffix.lower() == ".npy":
        with read_numpy(path, what="--truth") as wave:
            return complex_wave(np.asarray(wave), name=str(path))
    with read_numpy(path, what="--truth") as f:
        key = next((k for k in ("wave", "label", "truth") if k in f.files), None)
        if key is None:
            raise TemnnError(f"{path}: expected the exit wave as 'wave', 'label' or 'truth', found {f.files}")
        wave = f[key][:2] if key == "label" else f[key]
        if "sampling" in f.files and not np.allclose(np.ravel(f["sampling"]), sampling, rtol=1e-3):
            raise TemnnError(f"{path}: the wave's sampling {np.ravel(f['sampling']).tolist()} Å differs from the "
                             f"images' {sampling} Å; resample it onto the images' grid first")
    return complex_wave(wave, name=str(path))
