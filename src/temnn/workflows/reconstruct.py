"""The reconstruction stage (``temnn reconstruct``): classical (Gerchberg-Saxton) exit-wave reconstruction of a focal series.

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

from pathlib import Path
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..aberrations import ABERRATION_KEYS
from ..errors import TemnnError

__all__ = ["ReconstructionRun", "reconstruct_series"]

_CTF_OPTIONS = tuple(key for key in ABERRATION_KEYS if key != "C30")  # C30 is --cs


@dataclass(frozen=True)
class ReconstructionRun:
    """What :func:`reconstruct_series` did.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    images : int
        Images in the focal series.
    summary : dict
        ``reconstruction.json``: settings, initial and final mismatch, RMSE against the truth.
    skipped : bool
        The folder already held a reconstruction with these settings (nothing was computed).
    """

    out: Path
    images: int
    summary: dict[str, Any]
    skipped: bool = False


def reconstruct_series(
    series: Path,
    out: Path,
    *,
    overrides: dict[str, Any] | None = None,
    sampling: float | None = None,
    truth: Path | None = None,
    iterations: int = 100,
    cutoff: float = 0.9,
) -> ReconstructionRun:
    """Reconstruct the exit wave of a focal series and write ``reconstruction.{npz,json,png}`` into ``out``.

    Parameters
    ----------
    series : pathlib.Path
        ``.npy``/``.npz`` (K, nx, ny) focal series, or a temnn image file ``NNNNN_EE.npz`` (+ its ``.json``).
    out : pathlib.Path
        Output folder.
    overrides : dict, optional
        CTF fields that replace the image's ``.json``: ``defocus`` (list, one per image) [Å], ``C30`` [Å],
        ``energy`` [eV], ``focal_spread`` [Å], ``angular_spread`` [mrad], ``aperture`` [mrad]; None values are
        ignored.
    sampling : float, optional
        Pixel size [Å/pixel]; default the file's.
    truth : pathlib.Path, optional
        Ground-truth exit wave on the images' grid; default the image file's Exitwave label.
    iterations : int
        Gerchberg-Saxton iterations.
    cutoff : float
        σ [Å] of the Gaussian whose long wavelengths are removed before comparing with the truth.

    Returns
    -------
    ReconstructionRun
    """
    from ..analysis.reconstruction import compare_to_truth, plot_reconstruction, reconstruct_exit_wave
    from ..io.files import output_folder, read_json, save_npz, write_json
    from ..simulate.optics import CTF

    output_folder(out, what="--out", create=False)
    images, stored_sampling, microscope, stored_truth = _read_series(series)
    settings = _ctf_settings({k: v for k, v in (overrides or {}).items() if v is not None}, microscope, len(images))
    sampling = sampling if sampling is not None else stored_sampling
    if sampling is None:
        raise TemnnError(f"{series}: no pixel size stored; give --sampling in Å/pixel")
    wave = _read_truth(truth, sampling) if truth is not None else stored_truth
    if wave is not None and wave.shape != images.shape[1:]:
        raise TemnnError(f"truth: a wave of {wave.shape} pixels, but the images are {images.shape[1:]}; "
                         "give the exit wave on the images' grid")
    record: dict[str, Any] = {"series": str(series), "truth": None if truth is None else str(truth),
                              "sampling": sampling, "iterations": iterations, "cutoff": cutoff, **settings}
    done = out / "reconstruction.json"
    if done.exists() and (out / "reconstruction.npz").exists() and read_json(done).get("settings") == record:
        return ReconstructionRun(out, len(images), read_json(done), skipped=True)
    ctfs = [CTF(defocus=d, **{k: v for k, v in settings.items() if k != "defocus"}) for d in settings["defocus"]]
    result = reconstruct_exit_wave(images, ctfs, sampling, iterations=iterations)
    summary: dict[str, Any] = {"settings": record, "final_mismatch": float(result.history[-1]),
                               "initial_mismatch": float(result.history[0])}
    if wave is not None:
        comparison = compare_to_truth(result.wave, wave, sampling, cutoff=cutoff)
        summary.update(rmse=comparison.rmse, phase_rmse_rad=comparison.phase_rmse)
    output_folder(out, what="--out")
    save_npz(out / "reconstruction.npz", wave=result.wave.astype(np.complex64), sampling=np.float64(sampling),
             history=result.history, defocus=np.asarray(settings["defocus"]))
    plot_reconstruction(result, wave, cutoff=cutoff, path=out / "reconstruction.png")
    write_json(done, summary)  # last: marks the run as finished
    return ReconstructionRun(out, len(images), summary)


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


def _ctf_settings(overrides: dict[str, Any], microscope: dict[str, Any] | None, count: int) -> dict[str, Any]:
    """The CTF fields (energy, defocus list, aberrations, envelopes) from the .json, overridden by options."""
    settings: dict[str, Any] = {}
    if microscope is not None:
        settings = {k: microscope[k] for k in ("energy", "defocus", "C30", "focal_spread", "angular_spread", "aperture",
                                               *_CTF_OPTIONS) if k in microscope}
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
