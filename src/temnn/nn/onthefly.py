"""On-the-fly training set: images synthesised from the stored exit waves, fresh every epoch.

Instead of reading the stored image epochs of ``temnn images``, training epoch ``e``
draws image epoch ``e`` of every exit wave anew (:mod:`temnn.simulate.synthesis`): a new
microscope, crop and noise for every structure in every epoch, never repeating, from the
parameters file's ``seed``. The same ``(seed, index, epoch)`` gives the image that
``temnn images`` would store as ``NNNNN_EE.npz`` (on a CPU; see the synthesis module for
round-off and GPU noise), so a run can be resumed exactly and compared with stored sets.

The work is split where it is cheap: the :class:`OnTheFlySet` items (loader worker
processes, CPU) read the exit wave, draw the microscope and the crop, make the label and
apply the geometric augmentation to it; :func:`prepare_synthesis_batch` (training
process, training device) forms the whole batch's images in one
:func:`~temnn.simulate.images.form_images` call per native wave grid, so a GPU does the
Fourier transforms, flips and rotates them like their labels, and then applies the same
local standardisation and intensity augmentation as :func:`~temnn.nn.loader.prepare_batch`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import TemnnError
from ..parameters import Parameters
from ..simulate.labels import make_label
from ..io.samples import check_dataset, label_inputs
from ..simulate.synthesis import check_sampling, draw_image, synthesise
from .augment import NO_AUGMENTATION, Augmentation, apply_geometry
from ..io.dataset import Dataset as WaveDataset
from .loader import TrainingSet, prepare_batch

__all__ = ["OnTheFlySet", "collate_synthesis", "form_batch_images", "prepare_synthesis_batch"]


class OnTheFlySet(TrainingSet):
    """Training images made from a dataset folder's exit waves every epoch, one item per structure.

    Parameters
    ----------
    data : str or os.PathLike
        Dataset folder holding ``waves/`` and ``sites/`` (from ``temnn structures``).
    parameters : str, os.PathLike or temnn.Parameters
        The parameters file of the images (label, image size, microscope ranges, ``seed``);
        its ``image_epochs`` is not used: epoch ``e`` is image epoch ``e``.
    augmentation : Augmentation, optional
        Augmentation ranges; ``None`` for none.
    seed : int
        Seed of the augmentation draws (with epoch and sample number).
    limitdata : int, optional
        Use only the first ``limitdata`` structures.

    Attributes
    ----------
    parameters : temnn.Parameters
        The parameters file.
    folder : pathlib.Path
        The dataset folder.
    samples : list of int
        Structure numbers (the ``NNNNN`` of the wave files) in use.
    image_epochs : None
        No stored epochs: every training epoch draws new images.

    Raises
    ------
    TemnnError
        A missing parameters file, a folder without exit waves, or a label that does not
        fit the stored sites (see :func:`~temnn.io.samples.check_dataset`).
    """

    image_epochs = None

    def __init__(
        self,
        data: str | os.PathLike,
        parameters: str | os.PathLike | Parameters,
        *,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        limitdata: int | None = None,
    ) -> None:
        self.waves = WaveDataset(data)
        self.folder = self.waves.root
        if isinstance(parameters, Parameters):
            self.parameters = parameters
        else:
            path = Path(parameters)
            if not path.is_file():
                raise TemnnError(
                    f"{path}: parameters file not found; --on-the-fly needs the parameters file (label, image_size, "
                    "microscope ranges) that `temnn images` would use, e.g. --on-the-fly params.json"
                )
            self.parameters = Parameters.load(path)
        samples = self.waves.indices()
        if not samples:
            raise TemnnError(
                f"{self.folder}: no exit waves in {self.folder / 'waves'}; on-the-fly training synthesises its "
                "images from a dataset folder with waves/ and sites/ (made by `temnn structures ...`), not from "
                "an image set"
            )
        if limitdata is not None:
            if limitdata < 1:
                raise TemnnError(f"--limitdata must be a positive number of structures, got {limitdata}")
            samples = samples[:limitdata]
        check_dataset(self.waves, samples[0], self.parameters)
        self.samples = samples
        self.augmentation = augmentation or NO_AUGMENTATION
        self.seed = int(seed)
        self.epoch = 0

    def __getitem__(self, k: int) -> dict[str, Any]:
        p = self.parameters
        index = self.samples[k]
        wave = self.waves.load_wave(index)
        check_sampling(p, wave.sampling, self.waves.wave_path(index))
        draw = draw_image(p, index, self.epoch, wave_shape=wave.gpts, wave_sampling=wave.sampling, energy=wave.energy)
        label = make_label(p, draw.geometry, **label_inputs(self.waves, index, p, wave))
        augment = self.augmentation_draw(index, square=p.image_size[0] == p.image_size[1])
        return {
            "wave": torch.from_numpy(np.ascontiguousarray(wave.array, dtype=np.complex64)),
            "wave_sampling": wave.sampling,
            "draw": draw,
            "label": torch.from_numpy(apply_geometry(label.astype(np.float32, copy=False), augment)),
            "geometry": torch.tensor([augment.flip_rows, augment.flip_cols, augment.quarter_turns]),
            "intensity": torch.from_numpy(augment.intensity),
            "sampling": draw.geometry.sampling,
            "index": index,
        }


def collate_synthesis(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch :class:`OnTheFlySet` items: waves and draws as lists (grids may differ), the rest stacked.

    Parameters
    ----------
    items : list of dict
        Items of an :class:`OnTheFlySet`.

    Returns
    -------
    dict
        ``wave``, ``wave_sampling`` and ``draw`` lists; ``label`` (B, K, H, W),
        ``geometry`` (B, 3), ``intensity`` (B, 3), ``sampling`` (B,) [Å/pixel] and
        ``index`` (B,) tensors.
    """
    return {
        "wave": [item["wave"] for item in items],
        "wave_sampling": [item["wave_sampling"] for item in items],
        "draw": [item["draw"] for item in items],
        "label": torch.stack([item["label"] for item in items]),
        "geometry": torch.stack([item["geometry"] for item in items]),
        "intensity": torch.stack([item["intensity"] for item in items]),
        "sampling": torch.tensor([item["sampling"] for item in items], dtype=torch.float64),
        "index": torch.tensor([item["index"] for item in items]),
    }


def form_batch_images(batch: dict[str, Any], device: torch.device | str) -> torch.Tensor:
    """The batch's detected images on ``device``, flipped and rotated like their labels.

    Parameters
    ----------
    batch : dict
        A batch from :func:`collate_synthesis`.
    device : torch.device or str
        Where the images are formed (the training device).

    Returns
    -------
    torch.Tensor, float32, shape (B, C, H, W)
        Images before standardisation (vacuum mean 1).
    """
    images = synthesise(batch["wave"], batch["wave_sampling"], batch["draw"], device=device)
    geometry = batch["geometry"].tolist()
    if not any(any(row) for row in geometry):
        return images
    # The device counterpart of augment.apply_geometry (same order: rows, columns, quarter turns).
    out = []
    for image, (flip_rows, flip_cols, quarter_turns) in zip(images, geometry):
        dims = [dim for dim, flip in ((1, flip_rows), (2, flip_cols)) if flip]
        if dims:
            image = torch.flip(image, dims)
        if quarter_turns:
            image = torch.rot90(image, quarter_turns, dims=(1, 2))
        out.append(image)
    return torch.stack(out)


def prepare_synthesis_batch(
    batch: dict[str, Any], device: torch.device | str, normalizedistance: float, *, augment: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Form a batch's images on the device, standardise them and apply the intensity augmentation.

    The on-the-fly counterpart of :func:`~temnn.nn.loader.prepare_batch` (same arguments,
    same result for the same images).

    Parameters
    ----------
    batch : dict
        A batch from :func:`collate_synthesis`.
    device : torch.device or str
        Training device.
    normalizedistance : float
        Width of the standardisation Gaussian [Å].
    augment : bool
        Apply the drawn intensity augmentation.

    Returns
    -------
    images, labels : torch.Tensor
        (B, C, H, W) standardised images and (B, K, H, W) labels on ``device``.
    """
    images = form_batch_images(batch, device)
    return prepare_batch({**batch, "image": images}, device, normalizedistance, augment=augment)
