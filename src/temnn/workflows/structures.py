"""The structures stage: build samples, simulate their exit waves, store them as a data set.

``temnn structures`` (:mod:`temnn.cli.structures`) and the napari widgets call
:func:`generate_dataset`. Sample ``i`` draws only from ``sample_rng(seed, i)``: the
files are the same bytes whatever the workers, the order or the interruptions.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .._random import sample_rng
from ..errors import TemnnError
from ..io.dataset import Dataset, describe_generator, finish_manifest, save_sites, save_wave, start_manifest
from ..io.files import atomic_path
from ..simulate.waves import ExitWave, WaveSettings, exit_wave
from .runner import run_samples

if TYPE_CHECKING:
    from ..simulate.draw import MicroscopeParameters
    from ..structures.sample import Sample

__all__ = ["generate_dataset", "make_structures", "choose_slicing"]


@dataclass(frozen=True)
class _WriteSample:
    """Build, simulate and store one sample (picklable, runs in any worker)."""

    root: str
    make_sample: Callable[[np.random.Generator], Sample]
    seed: int
    wave_settings: WaveSettings
    store_object_wave: bool
    wave_function: Callable[[Any, WaveSettings, np.random.Generator], ExitWave] | None = None

    def __call__(self, index: int) -> None:
        import ase.io

        from ..structures.sample import Sample

        dataset = Dataset(self.root)
        if dataset.is_finished(index):
            return
        rng = sample_rng(self.seed, index)
        sample = self.make_sample(rng=rng)
        if not isinstance(sample, Sample):
            raise TemnnError(f"the generator returned {type(sample).__name__}, expected a temnn Sample")
        wave = self._wave(sample.atoms, rng)
        wave_object = None
        if self.store_object_wave:
            if sample.object_atoms is None:
                wave_object = wave  # no support: the object's wave is the wave
            else:
                if not np.allclose(sample.object_atoms.cell, sample.atoms.cell):
                    raise TemnnError("the generator's object_atoms must share the cell of atoms")
                wave_object = self._wave(sample.object_atoms, rng)
        with atomic_path(dataset.structure_path(index), suffix=".traj") as tmp:
            ase.io.write(tmp, sample.atoms, format="traj")
        save_sites(dataset.sites_path(index), sample)
        save_wave(dataset.wave_path(index), wave, wave_object=wave_object)

    def _wave(self, atoms: Any, rng: np.random.Generator) -> ExitWave:
        # the sample's own random stream continues into the wave (frozen-phonon displacements)
        if self.wave_function is None:
            return exit_wave(atoms, self.wave_settings)
        return self.wave_function(atoms, self.wave_settings, rng=rng)


def generate_dataset(
    out: str | os.PathLike,
    n: int,
    make_sample: Callable[[np.random.Generator], Sample],
    *,
    seed: int,
    start: int = 0,
    wave_settings: WaveSettings | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    store_object_wave: bool = False,
    wave_function: Callable[[Any, WaveSettings, np.random.Generator], ExitWave] | None = None,
    overwrite: bool = False,
    generator: Mapping[str, Any] | None = None,
    wave_accuracy: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> Dataset:
    """Build samples ``start … start+n-1``, their exit waves and sites into ``out``.

    Sample ``i`` is ``make_sample(rng=temnn._random.sample_rng(seed, i))``, so the files
    are the same bytes whatever ``workers``/``scheduler``, order or interruptions.
    Finished samples are skipped; several runs with different ``start`` may fill one
    folder.

    Parameters
    ----------
    out : str or os.PathLike
        Data set folder (created when missing). Train and test sets are separate folders.
    n : int
        Number of samples to make.
    make_sample : callable
        ``make_sample(*, rng) -> Sample``, called with the keyword ``rng=`` (SPEC 7); picklable
        for ``workers > 1`` or ``scheduler``
        (e.g. ``functools.partial(builder, size=50.0)``).
    seed : int
        Seed of the whole data set (≥ 0).
    start : int
        Index of the first sample (thesis ``--start``).
    wave_settings : WaveSettings, optional
        Multislice settings; :class:`WaveSettings` defaults when None.
    workers : int
        Local worker processes.
    scheduler : str, optional
        Address of a running Dask scheduler, used instead of local processes.
    store_object_wave : bool
        Also store the exit wave of the object without its support (``wave_object``).
    wave_function : callable, optional
        ``wave_function(atoms, wave_settings, *, rng) -> ExitWave`` replacing the plain
        multislice, e.g. :class:`temnn.simulate.phonons.FrozenPhonons`; it draws from
        the sample's own random stream after the structure. Recorded in the manifest by
        its ``repr``.
    overwrite : bool
        When ``out`` holds a data set made with another generator, arguments, seed or
        wave settings: False raises :class:`TemnnError`; True deletes its samples
        first (an ``images/`` folder made from them is left and must be remade).
    generator : mapping, optional
        ``{"name": ..., "arguments": {...}}`` recorded in the manifest; derived from
        ``make_sample`` when None (a partial's function name and keywords).
    wave_accuracy : mapping, optional
        How ``wave_settings`` were chosen, recorded in the manifest as ``wave_accuracy``
        (e.g. :meth:`temnn.simulate.waves.SliceConvergence.to_dict`).
    progress : bool
        Show a progress bar with rate and remaining time.

    Returns
    -------
    Dataset
        The data set folder.
    """
    for name, value, low in (("n", n, 0), ("seed", seed, 0), ("start", start, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise TemnnError(f"{name} must be a non-negative integer, got {value!r}")
    settings = wave_settings or WaveSettings()
    dataset, manifest = start_manifest(
        out,
        generator=generator if generator is not None else describe_generator(make_sample),
        seed=seed,
        wave_settings=settings,
        store_object_wave=store_object_wave,
        wave_function=wave_function,
        overwrite=overwrite,
        wave_accuracy=wave_accuracy,
    )

    wanted = range(int(start), int(start) + int(n))
    todo = [i for i in wanted if not dataset.is_finished(i)]
    if progress and len(todo) < len(wanted):
        print(f"{dataset.root}: {len(wanted) - len(todo)} of {len(wanted)} samples already finished, skipped", file=sys.stderr)
    task = _WriteSample(str(dataset.root), make_sample, int(seed), settings, bool(store_object_wave), wave_function)
    try:
        run_samples(task, todo, workers=workers, scheduler=scheduler, progress=progress, desc=f"{dataset.root.name}")
    finally:
        finish_manifest(dataset, manifest)
    return dataset


def make_structures(
    out: str | os.PathLike,
    n: int,
    make_sample: Callable[[np.random.Generator], Sample],
    *,
    preview: int = 0,
    **options: Any,
) -> tuple[Dataset, Path | None]:
    """``temnn structures``: :func:`generate_dataset`, then a preview PNG of its first samples.

    Parameters
    ----------
    out, n, make_sample
        As for :func:`generate_dataset`.
    preview : int
        Samples shown in ``out/preview.png`` (structure with sites over exit-wave phase); 0: no preview.
    **options
        The keyword arguments of :func:`generate_dataset` (``seed``, ``wave_settings``, ``workers``, …).

    Returns
    -------
    (Dataset, pathlib.Path or None)
        The data set and the preview file (None without one).
    """
    dataset = generate_dataset(out, n, make_sample, **options)
    if not preview:
        return dataset, None
    from ..io.previews import save_dataset_preview

    path = Path(out) / "preview.png"
    save_dataset_preview(dataset, dataset.indices()[:preview], path)
    return dataset, path


def choose_slicing(
    make_sample: Callable[[np.random.Generator], Sample],
    settings: WaveSettings,
    *,
    seed: int,
    start: int,
    tolerance: float | None = None,
    band: float | None = None,
    microscopes: Sequence[MicroscopeParameters] | None = None,
    dose: float = 1e3,
    samplings: tuple[float, ...] = (),
) -> tuple[WaveSettings, dict[str, Any], Any]:
    """The thickest slicing whose exit wave of sample ``start`` is within ``tolerance`` of ``settings``' slicing.

    Parameters
    ----------
    make_sample : callable
        The data set's generator (sample ``start`` is built from ``rng=sample_rng(seed, start)``).
    settings : WaveSettings
        Multislice settings; their ``slice_thickness`` [Å] is the reference.
    seed, start : int
        The data set's seed and first sample.
    tolerance : float, optional
        Largest max |Δψ| accepted against the reference [1] (default 1e-3), or with
        ``microscopes`` the largest max |ΔI| / σ_shot [1] (default 1).
    band : float, optional
        Compare the waves only up to this spatial frequency [1/Å].
    microscopes : sequence of MicroscopeParameters, optional
        Compare images formed at these conditions instead of the waves (the image criterion).
    dose : float
        Dose of the image criterion's shot noise [e⁻/Å²].
    samplings : tuple of float
        Image criterion: coarser wave samplings to try at the chosen thickness [Å/pixel].

    Returns
    -------
    (WaveSettings, dict, SliceConvergence)
        The settings with the chosen slice thickness (and wave sampling), the manifest's ``wave_accuracy`` record
        and the convergence result (see :func:`temnn.simulate.waves.converge_slice_thickness`).
    """
    from dataclasses import replace

    from ..simulate.waves import converge_slice_thickness

    atoms = make_sample(rng=sample_rng(seed, start)).atoms
    choice = converge_slice_thickness(atoms, settings, tolerance=tolerance, reference=settings.slice_thickness,
                                      band=band, microscopes=microscopes, dose=dose, samplings=samplings)
    accuracy = {**choice.to_dict(), "calibration_sample": start}
    chosen = replace(settings, slice_thickness=choice.slice_thickness)
    if choice.sampling is not None:
        chosen = replace(chosen, sampling=choice.sampling)
    return chosen, accuracy, choice
