"""Tiny synthetic image sets in the `temnn images` layout, for training tests.

Each image shows bright discs (class A) and dark discs (class B) on a flat vacuum
with a little noise; the labels are the discs (Mask: union, Disk: per class +
background) or an 'exit wave' whose phase is a bump at every disc. Every label
is a local function of the image, so a tiny network can learn it quickly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from temnn import Parameters
from temnn.io.files import save_npz


def write_image_set(
    folder: Path,
    label: str,
    *,
    samples: int = 4,
    epochs: int = 1,
    size: int = 32,
    channels: int = 1,
    seed: int = 0,
) -> Path:
    """Write parameters.json and NNNNN_EE.npz files; returns the folder."""
    multifocus = None if channels == 1 else (channels, 10.0, 0.0)
    num_classes = {"Mask": 1, "Disk": 3, "Exitwave": 2}[label]
    params = Parameters(
        label=label,
        image_size=(size, size),
        sampling=(0.1, 0.12),
        num_classes=num_classes,
        multifocus=multifocus,
        normalizedistance=1.0,
        defocus=(-100.0, 100.0),
    )
    folder.mkdir(parents=True, exist_ok=True)
    params.save(folder / "parameters.json")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for i in range(samples):
        for e in range(epochs):
            discs = np.zeros((2, size, size), np.float32)
            bumps = np.zeros((2, size, size), np.float32)
            for cls in (0, 1):
                for _ in range(3):
                    cy, cx = rng.uniform(4, size - 4, size=2)
                    r2 = (yy - cy) ** 2 + (xx - cx) ** 2
                    discs[cls] = np.maximum(discs[cls], r2 <= 2.5**2)
                    bumps[cls] += np.exp(-r2 / (2 * 1.5**2))
            contrast = np.linspace(1.0, 0.6, channels)[:, None, None]
            image = 1 + contrast * (0.6 * bumps[0] - 0.4 * bumps[1]) + rng.normal(0, 0.02, (channels, size, size))
            if label == "Mask":
                target = np.maximum(discs[0], discs[1])[None]
            elif label == "Disk":
                target = np.concatenate([discs, 1 - np.clip(discs.sum(0), 0, 1)[None]])
            else:
                target = np.stack([0.2 * bumps[0], 0.3 * bumps[1]])
            save_npz(
                folder / f"{i:05d}_{e:02d}.npz",
                image=image.astype(np.float32),
                label=target.astype(np.float32),
                sampling=np.float64(rng.uniform(0.1, 0.12)),
            )
    return folder



@pytest.fixture
def image_set(tmp_path: Path):
    """Factory: ``image_set(name, label, **options)`` writes a set under tmp_path/name."""

    def make(name: str, label: str, **options) -> Path:
        return write_image_set(tmp_path / name, label, **options)

    return make
