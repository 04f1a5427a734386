"""Training augmentations (thesis section 3.3, eqs. 3.2-3.4): geometry and intensity.

Geometric augmentations (horizontal/vertical flips, 90° rotations) move image and label
pixels together; they are applied per sample in the data loader with numpy. Intensity
augmentations change only the image and are applied batched in torch on the training
device, *after* local standardisation (which would otherwise remove a brightness offset or
a contrast factor again), so their ranges are in units of the local standard deviation:

- brightness (eq. 3.2): ``I + b``,
- contrast (eq. 3.3): ``(I - Ī)·c + Ī`` with ``Ī`` the mean of each image of the series,
- gamma: ``min + (max - min)·((I - min)/(max - min))**γ`` per image. Eq. 3.4 is printed as
  ``(I - min)·U + min``, a linear stretch indistinguishable from contrast; we read the
  named operation, a gamma exponent, on the image's own range so that the range is kept.

All random numbers come from a generator made from ``(seed, epoch, index)`` (see
:func:`temnn._random.sample_rng`), so a sample is augmented the same way whatever the
worker count, order or number of interruptions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from .._random import keyword_rng
from ..errors import TemnnError

__all__ = [
    "Augmentation",
    "AugmentationDraw",
    "apply_geometry",
    "apply_intensity",
    "crop_window",
    "NO_AUGMENTATION",
]

Range = tuple[float, float]


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the augmentations; each sample draws its own values uniformly.

    Parameters
    ----------
    brightness : (float, float)
        Range of the offset ``b`` [local standard deviations].
    contrast : (float, float)
        Range of the contrast factor ``c`` [1].
    gamma : (float, float)
        Range of the exponent ``γ`` [1], > 0.
    flips : bool
        Flip image and label horizontally and vertically, each with probability 1/2.
    rotations : bool
        Rotate image and label by a random multiple of 90° (square images only).
    """

    brightness: Range = (-0.1, 0.1)
    contrast: Range = (0.9, 1.1)
    gamma: Range = (0.9, 1.1)
    flips: bool = True
    rotations: bool = True

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "gamma"):
            value = getattr(self, name)
            ok = (
                isinstance(value, (list, tuple))
                and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            )
            if not ok or value[0] > value[1]:
                raise TemnnError(f"augmentation '{name}' must be a (low, high) pair of numbers, got {value!r}")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))
        if self.gamma[0] <= 0:
            raise TemnnError(f"augmentation 'gamma' must be > 0, got {list(self.gamma)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "--augment") -> "Augmentation":
        """Build from a JSON object, naming unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TemnnError(f"{source}: unknown augmentation {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @keyword_rng(1)
    def draw(self, *, rng: np.random.Generator, square: bool) -> "AugmentationDraw":
        """Draw one sample's augmentation.

        Parameters
        ----------
        rng : numpy.random.Generator
            The sample's generator (from ``(seed, epoch, index)``).
        square : bool
            Whether the image is square (90° rotations keep the shape only then).
        """
        flip_rows, flip_cols = (bool(v) for v in rng.integers(0, 2, size=2)) if self.flips else (False, False)
        quarter_turns = int(rng.integers(0, 4)) if (self.rotations and square) else 0
        return AugmentationDraw(
            flip_rows=flip_rows,
            flip_cols=flip_cols,
            quarter_turns=quarter_turns,
            brightness=float(rng.uniform(*self.brightness)),
            contrast=float(rng.uniform(*self.contrast)),
            gamma=float(rng.uniform(*self.gamma)),
        )


NO_AUGMENTATION = Augmentation(brightness=(0, 0), contrast=(1, 1), gamma=(1, 1), flips=False, rotations=False)
"""Identity augmentation (validation sets)."""


@dataclass(frozen=True)
class AugmentationDraw:
    """One sample's augmentation: geometry (applied to image and label) and intensity."""

    flip_rows: bool = False
    flip_cols: bool = False
    quarter_turns: int = 0
    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0

    @property
    def intensity(self) -> np.ndarray:
        """``(brightness, contrast, gamma)`` as float32, for :func:`apply_intensity`."""
        return np.array([self.brightness, self.contrast, self.gamma], dtype=np.float32)


def apply_geometry(array: np.ndarray, draw: AugmentationDraw) -> np.ndarray:
    """Flip and rotate a (C, H, W) array as ``draw`` says (the same for image and label).

    Parameters
    ----------
    array : numpy.ndarray
        Image or label (C, H, W).
    draw : AugmentationDraw
        The sample's augmentation.

    Returns
    -------
    numpy.ndarray
        A contiguous, transformed copy.
    """
    if draw.flip_rows:
        array = array[:, ::-1, :]
    if draw.flip_cols:
        array = array[:, :, ::-1]
    if draw.quarter_turns:
        array = np.rot90(array, draw.quarter_turns, axes=(1, 2))
    return np.ascontiguousarray(array)


def crop_window(shape: tuple[int, int], size: int, *, rng: np.random.Generator) -> tuple[slice, slice]:
    """A random ``size`` × ``size`` window inside an image of ``shape`` (uniform over positions).

    Parameters
    ----------
    shape : (int, int)
        Rows and columns of the image [pixels].
    size : int
        Side of the window [pixels], at most the smaller image side.
    rng : numpy.random.Generator
        The sample's generator (from ``(seed, epoch, index)``); keyword-only (SPEC 7).

    Returns
    -------
    (slice, slice)
        Rows and columns of the window, for ``array[:, rows, columns]`` of image and label alike.
    """
    rows, columns = shape
    if size > min(rows, columns):
        raise TemnnError(f"--crop {size} is larger than the images ({rows} × {columns} pixels); give at most "
                         f"{min(rows, columns)}")
    top, left = (int(v) for v in rng.integers(0, [rows - size + 1, columns - size + 1]))
    return slice(top, top + size), slice(left, left + size)


def apply_intensity(images: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
    """Gamma, contrast and brightness, per series, batched (in that order).

    Parameters
    ----------
    images : torch.Tensor
        Standardised images (B, C, H, W).
    intensity : torch.Tensor
        (B, 3) rows of ``(brightness, contrast, gamma)`` (see :attr:`AugmentationDraw.intensity`).

    Returns
    -------
    torch.Tensor
        Augmented images (B, C, H, W).
    """
    intensity = intensity.to(device=images.device, dtype=images.dtype)
    brightness, contrast, gamma = (intensity[:, i].view(-1, 1, 1, 1) for i in range(3))
    low = images.amin(dim=(2, 3), keepdim=True)
    span = images.amax(dim=(2, 3), keepdim=True) - low
    unit = ((images - low) / span.clamp_min(torch.finfo(images.dtype).tiny)).clamp(0, 1)
    images = torch.where(span > 0, low + span * unit.pow(gamma), images)
    mean = images.mean(dim=(2, 3), keepdim=True)
    return (images - mean) * contrast + mean + brightness
