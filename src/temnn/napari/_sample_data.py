"""Sample data made on demand by the temnn pipeline, so every widget can be tried without a microscope file.

- :func:`mos2_focal_series`: a random MoS2 flake (:func:`temnn.random_mx2_flake`), its exit
  wave at 50 keV (abTEM multislice), a focal series of three noisy images around Scherzer
  defocus (:func:`temnn.form_images`) and its Disk label (classes 1Mo, 2S, 1S and background)
  for "Find atoms".
- :func:`au_ceo2_sequence`: a CeO2-supported Au particle (:func:`temnn.random_supported_particle`)
  at 300 keV, imaged frame after frame while the stage drifts and the focus wanders, each
  frame with its own shot noise, with the particle's Mask label per frame for
  "Label by 2+1D connectivity", "FFT along time axis" and "ROI properties".

Cells are small and sampling is coarse so that each takes seconds (most of it importing
abTEM). Results are cached in ``$TEMNN_CACHE_DIR`` (default ``$XDG_CACHE_HOME/temnn`` or
``~/.cache/temnn``) under ``napari-samples/``, keyed by the arguments and the temnn version.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..io.files import save_npz
from .._random import sample_rng
from ._layers import CLASS_AXIS, angstrom_to_nm

__all__ = ["cache_dir", "mos2_focal_series", "au_ceo2_sequence"]

LayerDataTuple = tuple[Any, dict[str, Any], str]


def cache_dir() -> Path:
    """Folder of the cached sample data: ``$TEMNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/temnn`` or ``~/.cache/temnn``."""
    if os.environ.get("TEMNN_CACHE_DIR"):
        return Path(os.environ["TEMNN_CACHE_DIR"]) / "napari-samples"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "temnn" / "napari-samples"


def _cached(name: str, arguments: dict[str, Any], make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``make()``'s arrays, from the cache when they were made before with the same arguments."""
    key = hashlib.sha1(json.dumps([name, arguments, __version__], sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"{name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):  # a damaged cache file is made again
            path.unlink(missing_ok=True)
    arrays = make()
    save_npz(path, **arrays)
    return arrays


def _calibration(sampling: float, lead: str) -> dict[str, Any]:
    nm = angstrom_to_nm(sampling)
    return {"scale": [1.0, nm, nm], "units": ["pixel", "nm", "nm"], "axis_labels": [lead, "y", "x"]}


def mos2_focal_series(*, size: int = 192, sampling: float = 0.15, step: float = 40.0, dose: float = 2e4,
                      seed: int = 0) -> list[LayerDataTuple]:
    """A simulated focal series of a MoS2 flake (50 keV) and its Disk label.

    Parameters
    ----------
    size : int
        Image side [pixels].
    sampling : float
        Image sampling [Å/pixel]; the exit wave is simulated at half of it.
    step : float
        Defocus step between the three images, centred on Scherzer defocus for Cs = −10 µm [Å].
    dose : float
        Electron dose [e⁻/Å²].
    seed : int
        Seed of the flake and the noise.

    Returns
    -------
    list of (data, keywords, layer type)
        The (defocus, y, x) focal series and the (class, y, x) Disk label (hidden).
    """
    arguments = dict(size=size, sampling=sampling, step=step, dose=dose, seed=seed)

    def make() -> dict[str, np.ndarray]:
        import torch

        from ..parameters import Parameters
        from ..simulate.draw import MicroscopeParameters
        from ..simulate.geometry import choose_geometry
        from ..simulate.images import form_images
        from ..simulate.labels import disk_label
        from ..simulate.optics import scherzer_defocus
        from ..simulate.waves import WaveSettings, exit_wave
        from ..structures.mx2 import random_mx2_flake

        energy, cs = 50e3, -10e4  # [eV], [Å]: an aberration-corrected microscope, negative Cs
        cell = size * sampling + 2.0
        sample = random_mx2_flake(rng=sample_rng(seed, 0, stage="demo"), cell=(cell, cell))
        wave = exit_wave(sample.atoms, WaveSettings(energy=energy, sampling=sampling / 2))
        centre = scherzer_defocus(cs, energy)
        micro = MicroscopeParameters(sampling=sampling, defocus=(centre - step, centre, centre + step), energy=energy,
                                     C30=cs, focal_spread=10.0, blur=0.1, dose=dose, mtf=(0.5, 3.0, 0.0))
        geometry = choose_geometry(wave.gpts, min(wave.sampling), sampling, (size, size))
        images = form_images(torch.from_numpy(wave.array)[None], wave.sampling, [micro], [geometry],
                             generator=torch.Generator().manual_seed(seed))[0].numpy()
        parameters = Parameters(label="Disk", image_size=(size, size), sampling=(sampling, sampling),
                                num_classes=len(sample.class_names) + 1, spotsize=0.8)
        label = disk_label(sample.sites, sample.classes, geometry, parameters)
        return {"images": images, "label": label, "defocus": np.asarray(micro.defocus),
                "class_names": np.asarray(sample.class_names + ("background",))}

    arrays = _cached("mos2_focal_series", arguments, make)
    names = [str(n) for n in arrays["class_names"]]
    common = {"sampling_angstrom": sampling, "energy_eV": 50e3, "source": "temnn sample data (simulated)"}
    images = (np.swapaxes(arrays["images"], -1, -2), {
        "name": "MoS2 focal series", "colormap": "gray", **_calibration(sampling, "defocus"),
        "metadata": {"temnn": {**common, "defocus_angstrom": arrays["defocus"].tolist()}}}, "image")
    label = (np.swapaxes(arrays["label"], -1, -2), {
        "name": "MoS2 columns (Disk label)", "colormap": "viridis", "visible": False,
        **_calibration(sampling, CLASS_AXIS),
        "metadata": {"temnn": {**common, "class_names": names, "background_channel": len(names) - 1}}}, "image")
    return [images, label]


def au_ceo2_sequence(*, frames: int = 12, size: int = 160, sampling: float = 0.2, dose: float = 5e3,
                     drift: float = 0.8, seed: int = 0) -> list[LayerDataTuple]:
    """A simulated image sequence of a CeO2-supported Au particle (300 keV) and its Mask label per frame.

    Parameters
    ----------
    frames : int
        Number of frames.
    size : int
        Image side [pixels].
    sampling : float
        Image sampling [Å/pixel]; the exit wave is simulated at half of it.
    dose : float
        Electron dose per frame [e⁻/Å²].
    drift : float
        Stage drift between frames along x [Å] (y wanders by up to ±2 Å); the particle moves the
        other way in the images.
    seed : int
        Seed of the particle and the noise.

    Returns
    -------
    list of (data, keywords, layer type)
        The (frame, y, x) images and the (frame, y, x) particle mask as a labels layer.
    """
    arguments = dict(frames=frames, size=size, sampling=sampling, dose=dose, drift=drift, seed=seed)

    def make() -> dict[str, np.ndarray]:
        import torch

        from ..parameters import Parameters
        from ..simulate.draw import MicroscopeParameters
        from ..simulate.geometry import ImageGeometry
        from ..simulate.images import form_images
        from ..simulate.labels import mask_label
        from ..simulate.optics import scherzer_defocus
        from ..simulate.waves import WaveSettings, exit_wave
        from ..structures.particle import random_supported_particle

        energy, cs = 300e3, -15e4  # [eV], [Å]
        field = size * sampling
        cell = math.ceil(1.5 * field + abs(drift) * (frames - 1))
        half_span = np.array([field / 2 + abs(drift) * (frames - 1) / 2, field / 2 + 2.0])  # [Å] around the particle
        # the particle lands anywhere in the cell: take the first draw whose drifting field stays in the cell
        for attempt in range(1, 100):
            sample = random_supported_particle("Au", rng=sample_rng(seed, attempt, stage="demo"), layers=(5, 6),
                                               max_tilt=0.0, cell=(cell, cell), support_thickness=(10.0, 12.0))
            centre_xy = sample.sites[sample.classes == 0].mean(axis=0)
            if np.all(centre_xy >= half_span) and np.all(centre_xy <= cell - half_span):
                break
        wave = exit_wave(sample.atoms, WaveSettings(energy=energy, sampling=sampling / 2, slice_thickness=0.5))
        waves = torch.from_numpy(wave.array)[None]
        parameters = Parameters(label="Mask", image_size=(size, size), sampling=(sampling, sampling),
                                num_classes=1, null_class=False)
        centre = scherzer_defocus(cs, energy)
        images, masks = [], []
        for t in range(frames):
            # the field of view follows the stage, which drifts along x and wanders in y; the focus drifts ±15 Å
            shift = np.array([drift * (t - (frames - 1) / 2), 2.0 * math.sin(t / 2.0)])
            origin = tuple(np.clip(centre_xy - field / 2 + shift, 0.0, cell - field))
            geometry = ImageGeometry(sampling=sampling, origin=origin, shape=(size, size))
            micro = MicroscopeParameters(sampling=sampling, defocus=(centre + 15.0 * math.sin(t / 3.0),),
                                         energy=energy, C30=cs, focal_spread=20.0, blur=0.2, dose=dose,
                                         mtf=(0.5, 3.0, 0.0))
            generator = torch.Generator().manual_seed(int(sample_rng(seed, t, stage="demo").integers(2**62)))
            images.append(form_images(waves, wave.sampling, [micro], [geometry], generator=generator)[0, 0].numpy())
            masks.append(mask_label(sample.sites, sample.classes, geometry, parameters,
                                    mask_classes=sample.mask_classes)[0])
        return {"images": np.stack(images), "mask": np.stack(masks).astype(np.uint8)}

    arrays = _cached("au_ceo2_sequence", arguments, make)
    common = {"sampling_angstrom": sampling, "energy_eV": 300e3, "source": "temnn sample data (simulated)"}
    images = (np.swapaxes(arrays["images"], -1, -2), {
        "name": "Au/CeO2 sequence", "colormap": "gray", **_calibration(sampling, "frame"),
        "metadata": {"temnn": common}}, "image")
    mask = (np.swapaxes(arrays["mask"], -1, -2), {
        "name": "Au particle mask (ground truth)", "opacity": 0.4, **_calibration(sampling, "frame"),
        "metadata": {"temnn": common}}, "labels")
    return [images, mask]
