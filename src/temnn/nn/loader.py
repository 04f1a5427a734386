"""PyTorch loading of stored image sets: image epochs, batches, standardisation, augmentation.

An image set is a folder ``DATA/images/NAME/`` holding the parameters file it was made
with and ``NNNNN_EE.npz`` files (``image`` (C, H, W), ``label`` (K, H, W), ``sampling``
[Å/pixel]); ``EE`` is the image epoch. Training epoch ``e`` reads image epoch ``e mod E``
(thesis section 3.3), so every training epoch sees all structures under new microscope
parameters until the stored epochs are used up and the cycle starts again.

Work is split where it runs best: the :class:`ImageSet` (in loader worker processes) reads
files and applies the geometric augmentation, the per-batch :func:`prepare_batch` runs on
the training device and applies the local standardisation and the intensity augmentation
to the whole batch at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..io.files import read_numpy
from ..io.image_sets import find_image_set
from .._random import sample_rng
from ..errors import TemnnError
from ..parameters import Parameters
from .augment import NO_AUGMENTATION, Augmentation, AugmentationDraw, apply_geometry, apply_intensity, crop_window
from .standardise import local_standardise, standardisation_sigma

__all__ = ["ImageSet", "check_compatible", "make_loader", "start_epoch", "prepare_batch"]

_IMAGE_FILE = re.compile(r"^(\d{5})_(\d{2})\.npz$")


class TrainingSet(Dataset):
    """What the stored and the on-the-fly training sets share: shapes, epoch and augmentation draws.

    Subclasses set ``parameters`` (:class:`temnn.Parameters`), ``samples`` (structure
    numbers), ``augmentation``, ``seed`` and ``epoch``.
    """

    parameters: Parameters
    samples: list[int]
    augmentation: Augmentation
    seed: int
    epoch: int

    @property
    def input_channels(self) -> int:
        """Images per series (network input channels)."""
        return self.parameters.input_channels

    @property
    def output_channels(self) -> int:
        """Label channels (network output channels)."""
        return self.parameters.output_channels

    def set_epoch(self, epoch: int) -> None:
        """Select training epoch ``epoch``: its images and its augmentation draws."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def augmentation_draw(self, index: int, *, square: bool) -> AugmentationDraw:
        """The augmentation of structure ``index`` in the current epoch (none without ranges).

        Parameters
        ----------
        index : int
            Structure number.
        square : bool
            Whether the images are square (only then may they turn by 90°).
        """
        if self.augmentation == NO_AUGMENTATION:
            return AugmentationDraw()
        return self.augmentation.draw(rng=sample_rng(self.seed, index, self.epoch, stage="augment"), square=square)


class ImageSet(TrainingSet):
    """Stored images and labels of one split, one item per structure.

    Parameters
    ----------
    path : str or os.PathLike
        Image-set folder (see :func:`temnn.io.image_sets.find_image_set`).
    augmentation : Augmentation, optional
        Augmentation ranges; ``None`` for none (validation and test sets).
    seed : int
        Seed of the augmentation draws (with epoch and sample number).
    limitdata : int, optional
        Use only the first ``limitdata`` structures.
    crop : int, optional
        Return a random ``crop`` × ``crop`` window of image and label [pixels], drawn per
        structure and epoch from the seed, before the geometric augmentation (``None``: the
        full images, as for validation and test sets).

    Attributes
    ----------
    parameters : temnn.Parameters
        The image set's parameters file.
    samples : list of int
        Structure numbers (the ``NNNNN`` of the file names) in use.
    image_epochs : int
        Stored image epochs ``E`` per structure.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        limitdata: int | None = None,
        crop: int | None = None,
    ) -> None:
        self.folder = find_image_set(path)
        if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
            raise TemnnError(f"--crop must be a positive number of pixels, got {crop!r}")
        self.crop = crop
        self.parameters = Parameters.load(self.folder / "parameters.json")
        self.augmentation = augmentation or NO_AUGMENTATION
        self.seed = int(seed)
        self.epoch = 0
        epochs: dict[int, set[int]] = {}
        for entry in os.scandir(self.folder):
            match = _IMAGE_FILE.match(entry.name)
            if match:
                epochs.setdefault(int(match[1]), set()).add(int(match[2]))
        if not epochs:
            raise TemnnError(
                f"{self.folder}: the image set is empty (no NNNNN_EE.npz files); run `temnn images` to make it"
            )
        samples = sorted(epochs)
        if limitdata is not None:
            if limitdata < 1:
                raise TemnnError(f"--limitdata must be a positive number of structures, got {limitdata}")
            samples = samples[:limitdata]
        count = max(max(epochs[i]) for i in samples) + 1
        for i in samples:
            if epochs[i] != set(range(count)):
                raise TemnnError(
                    f"{self.folder}: structure {i:05d} has image epochs {sorted(epochs[i])} but the set has {count}; "
                    "the images run was interrupted: re-run `temnn images` to finish it"
                )
        self.samples = samples
        self.image_epochs = count

    def path(self, k: int, epoch: int | None = None) -> Path:
        """File of item ``k`` in training epoch ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        return self.folder / f"{self.samples[k]:05d}_{epoch % self.image_epochs:02d}.npz"

    def __getitem__(self, k: int) -> dict[str, Any]:
        path = self.path(k)
        try:
            with read_numpy(path) as data:
                image, label, sampling = data["image"], data["label"], float(data["sampling"])
        except KeyError as err:
            raise TemnnError(f"{path}: no array {err} (expected image, label and sampling); delete it and re-run "
                             "`temnn images`") from None
        self._check(path, image, label, sampling)
        index = self.samples[k]
        if self.crop is not None:
            rows, columns = crop_window(image.shape[-2:], self.crop,
                                        rng=sample_rng(self.seed, index, self.epoch, stage="crop"))
            image, label = image[:, rows, columns], label[:, rows, columns]
        draw = self.augmentation_draw(index, square=image.shape[-1] == image.shape[-2])
        return {
            "image": torch.from_numpy(apply_geometry(image.astype(np.float32, copy=False), draw)),
            "label": torch.from_numpy(apply_geometry(label.astype(np.float32, copy=False), draw)),
            "sampling": sampling,
            "intensity": torch.from_numpy(draw.intensity),
            "index": index,
        }

    def _check(self, path: Path, image: np.ndarray, label: np.ndarray, sampling: float) -> None:
        c, k = self.input_channels, self.output_channels
        if image.ndim != 3 or image.shape[0] != c:
            raise TemnnError(
                f"{path}: 'image' must have shape ({c}, rows, columns) per parameters.json, got {image.shape}"
            )
        if label.shape != (k,) + image.shape[1:]:
            raise TemnnError(
                f"{path}: 'label' must have shape ({k}, {image.shape[1]}, {image.shape[2]}) to match the image "
                f"and parameters.json, got {label.shape}"
            )
        if not (np.isfinite(image).all() and np.isfinite(label).all()):
            raise TemnnError(f"{path}: image or label contains NaN or inf; delete the file and re-run `temnn images`")
        if not (sampling > 0 and np.isfinite(sampling)):
            raise TemnnError(f"{path}: 'sampling' must be a positive number in Å/pixel, got {sampling}")


def check_compatible(train: ImageSet, validation: ImageSet) -> None:
    """Raise :class:`~temnn.TemnnError` unless a network can train on one set and validate on the other."""
    problems = []
    for what, a, b in (
        ("label", train.parameters.label, validation.parameters.label),
        ("input channels (focal-series length)", train.input_channels, validation.input_channels),
        ("output channels (label channels)", train.output_channels, validation.output_channels),
        ("null_class", train.parameters.null_class, validation.parameters.null_class),
    ):
        if a != b:
            problems.append(f"{what}: {a} in {train.folder} but {b} in {validation.folder}")
    if problems:
        raise TemnnError(
            "the training and validation sets do not match: "
            + "; ".join(problems)
            + ". Make both with the same parameters file (`temnn images`)"
        )


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """Batches of a data set, shuffled per epoch from ``(seed, epoch)`` and split over processes.

    Parameters
    ----------
    dataset : ImageSet or OnTheFlySet
        The data set (anything with ``set_epoch``).
    batch_size : int
        Samples per batch (per process).
    shuffle : bool
        Shuffle (training) or keep the order (validation).
    seed : int
        Seed of the shuffling.
    workers : int
        Loader worker processes (0: load in the training process).
    rank, world_size : int
        This process and the number of processes (DistributedDataParallel). Training sets
        are split by :class:`~torch.utils.data.DistributedSampler`; validation sets are split
        without padding so that every sample counts once.
    pin_memory : bool
        Page-locked batches for faster copies to a GPU.
    collate_fn : callable, optional
        Builds a batch from a list of items (default: torch's stacking of equal shapes).
    """
    if batch_size < 1:
        raise TemnnError(f"--batch-size must be a positive integer, got {batch_size}")
    sampler: Iterable[int]
    if shuffle:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    else:
        sampler = range(rank, len(dataset), world_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        collate_fn=collate_fn,
        persistent_workers=False,  # workers are re-made each epoch and see the new epoch number
    )


def start_epoch(loader: DataLoader, epoch: int) -> None:
    """Set the training epoch on the data set (image epoch, augmentation) and sampler (shuffle)."""
    loader.dataset.set_epoch(epoch)
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)


def prepare_batch(
    batch: dict[str, Any], device: torch.device | str, normalizedistance: float, *, augment: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a batch to the device, standardise it locally and apply the intensity augmentation.

    Parameters
    ----------
    batch : dict
        A batch from :func:`make_loader`.
    device : torch.device or str
        Training device.
    normalizedistance : float
        Width of the standardisation Gaussian [Å].
    augment : bool
        Apply the drawn intensity augmentation (training) or not (validation).

    Returns
    -------
    images, labels : torch.Tensor
        (B, C, H, W) standardised images and (B, K, H, W) labels on ``device``.
    """
    images = batch["image"].to(device, non_blocking=True)
    labels = batch["label"].to(device, non_blocking=True)
    sampling = torch.as_tensor(batch["sampling"], dtype=images.dtype).to(device)
    images = local_standardise(images, standardisation_sigma(normalizedistance, sampling))
    if augment:
        images = apply_intensity(images, batch["intensity"])
    return images, labels
