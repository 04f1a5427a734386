"""The images stage (``temnn images DATA PARAMS.json``): HR-TEM images + labels from the stored exit waves.

For every exit wave of the dataset folder ``DATA`` (``DATA/waves/NNNNN.npz``) the
command draws ``image_epochs`` microscopes from the ranges of the parameters file
(1 for test sets, ``--test``), forms the images (:func:`temnn.simulate.images.form_images`)
and the label the file asks for (:mod:`temnn.simulate.labels`) on one pixel grid, and
writes them into the image set ``DATA/images/NAME`` (:mod:`temnn.io.image_sets`).

Image ``(i, e)`` draws all its randomness from
``temnn._random.sample_rng(seed, i, e, stage="images")``: the microscope, the crop
position and the seed of the torch generator for the detector noise, in that
order. The files are therefore the same bytes whatever ``--workers``, the order of
the samples or how often a run was interrupted; a re-run skips finished images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..io.dataset import Dataset
from ..io.image_sets import image_paths, image_set_folder, is_image_done, read_image, write_image
from ..io.previews import write_debug_png
from ..errors import TemnnError
from ..parameters import Parameters
from ..simulate.labels import has_background, make_label
from ..io.samples import check_dataset, label_inputs
from ..simulate.synthesis import check_sampling, draw_image, synthesise
from ..simulate.waves import ExitWave
from .runner import run_samples

__all__ = ["make_images"]


def make_images(
    data: str | os.PathLike,
    parameters: str | os.PathLike | Parameters,
    *,
    name: str | None = None,
    test: bool = False,
    seed: int | None = None,
    start: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
) -> Path:
    """Make the images and labels of one image set from a dataset's exit waves.

    Parameters
    ----------
    data : path
        Dataset folder holding ``waves/`` and ``sites/`` (from ``temnn structures``).
    parameters : path or temnn.Parameters
        The parameters file (label, image size, microscope ranges).
    name : str, optional
        Image-set name: ``DATA/images/NAME``. Defaults to the parameters file's stem.
    test : bool
        Validation/test set: one image per wave instead of ``image_epochs``.
    seed : int, optional
        Overrides the parameters file's ``seed``.
    start : int
        First sample index to process; lower indices are left alone.
    workers : int
        Local worker processes.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to run on instead.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pathlib.Path
        The image-set folder.

    Raises
    ------
    TemnnError
        No exit waves in ``data``; labels that do not fit the stored sites; an image
        sampling finer than the waves'; a support-free label without a stored object
        wave; an image set of the same name made with other parameters.
    """
    if isinstance(parameters, Parameters):
        params = parameters
        if name is None:
            if params.source is None:
                raise TemnnError("make_images(): give 'name' for parameters that do not come from a file")
            name = Path(params.source).stem
    else:
        params = Parameters.load(parameters)
        name = name or Path(parameters).stem
    if seed is not None:
        if not isinstance(seed, int) or seed < 0:
            raise TemnnError(f"--seed must be a non-negative integer, got {seed!r}")
        params = params.replace(seed=seed)
    if test:
        params = params.replace(image_epochs=1)
    if not isinstance(start, int) or start < 0:
        raise TemnnError(f"--start must be a non-negative sample index, got {start!r}")

    dataset = Dataset(data)
    indices = [i for i in dataset.indices() if i >= start]
    if not indices:
        where = f" from index {start} on" if start and dataset.indices() else ""
        raise TemnnError(
            f"{dataset.root}: no exit waves in {dataset.root / 'waves'}{where}; "
            "generate them first with 'temnn structures ...' (or pass the dataset folder that holds waves/)"
        )
    check_dataset(dataset, indices[0], params)

    folder = image_set_folder(dataset.root, name)
    _claim_folder(folder, params)
    task = _ImageTask(str(dataset.root), str(folder), params)
    run_samples(task, indices, workers=workers, scheduler=scheduler, progress=progress, desc=f"images {name}")
    return folder


@dataclass(frozen=True)
class _ImageTask:
    """All images of one sample (one exit wave, every epoch); picklable for worker processes."""

    data: str
    folder: str
    parameters: Parameters

    def __call__(self, index: int) -> None:
        p = self.parameters
        epochs = range(p.image_epochs)
        todo = [e for e in epochs if not is_image_done(self.folder, index, e)]
        debug = [e for e in epochs if self._wants_debug(index, e) and not self._debug_path(index, e).exists()]
        if not todo and not debug:
            return
        dataset = Dataset(self.data)
        wave = dataset.load_wave(index)
        check_sampling(p, wave.sampling, dataset.wave_path(index))
        inputs = label_inputs(dataset, index, p, wave)
        for epoch in todo:
            self._make_image(index, epoch, wave, inputs)
        for epoch in debug:
            record = read_image(self.folder, index, epoch)
            micro = record.microscope
            defocus = ", ".join(f"{d:.0f}" for d in micro["defocus"])
            dose = f"{micro['dose']:.3g} e⁻/Å²" if micro["dose"] is not None else "no noise"
            write_debug_png(
                self._debug_path(index, epoch),
                record.image,
                record.label,
                record.sampling,
                label_kind=p.label,
                background=has_background(p),
                title=f"sample {index} epoch {epoch}: defocus {defocus} Å, {dose}, {record.sampling:.4f} Å/px",
            )

    def _make_image(self, index: int, epoch: int, wave: ExitWave, inputs: dict) -> None:
        p = self.parameters
        draw = draw_image(p, index, epoch, wave_shape=wave.gpts, wave_sampling=wave.sampling, energy=wave.energy)
        image = synthesise([wave.array], [wave.sampling], [draw])[0].numpy()
        write_image(
            self.folder,
            index,
            epoch,
            image=image,
            label=make_label(p, draw.geometry, **inputs),
            sampling=draw.geometry.sampling,
            origin=draw.geometry.origin,
            microscope=draw.microscope.to_dict(),
        )

    def _wants_debug(self, index: int, epoch: int) -> bool:
        # debug = N: the first image of samples 0 … N-1; debug = -1 (true): every image.
        debug = self.parameters.debug
        return debug == -1 or (epoch == 0 and index < debug)

    def _debug_path(self, index: int, epoch: int) -> Path:
        npz, _ = image_paths(self.folder, index, epoch)
        return npz.parent / "debug" / npz.with_suffix(".png").name


def _claim_folder(folder: Path, params: Parameters) -> None:
    """Write the parameters copy, or check that an existing image set used the same parameters."""
    copy = folder / "parameters.json"
    if copy.exists():
        old = Parameters.load(copy)
        if old != params:
            changed = [k for k, v in params.to_dict().items() if old.to_dict().get(k) != v]
            raise TemnnError(
                f"{folder}: holds an image set made with other parameters (differing: {', '.join(changed)}); "
                "use --name for a new image set, or delete the folder to remake it"
            )
        return
    params.save(copy)
