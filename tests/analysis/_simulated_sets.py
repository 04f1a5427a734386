"""Tiny hand-built image sets in the ``temnn images`` layout, and "oracle" models that know the labels.

The discs, masks and waves are drawn here directly with NumPy (not with temnn's label code),
so the expected scores follow from the drawing: a disc of radius r pixels at (cx, cy), a
square mask, Gaussian bumps in the imaginary part of a wave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from temnn import Parameters
from temnn.io.files import save_npz, write_json
from temnn.nn.standardise import local_standardise, standardisation_sigma

SIZE = 48  # [pixels]
SAMPLING = 0.1  # [Å/pixel]
RADIUS = 3  # disc radius [pixels]: spotsize 0.6 Å at 0.1 Å/pixel
# Column sites (ix, iy) [pixels] and classes of each image; 12 px from every border, 12 px apart.
SITES = [
    ([(12, 12), (24, 12), (36, 12), (12, 30), (30, 30)], [0, 1, 0, 0, 1]),
    ([(12, 12), (36, 24), (20, 36)], [1, 1, 0]),
    ([(24, 24)], [0]),
]


def disc(cx: float, cy: float, radius: float = RADIUS, size: int = SIZE) -> np.ndarray:
    """Boolean (size, size) disc: pixels whose centre is within ``radius`` of (cx, cy)."""
    ix, iy = np.mgrid[:size, :size]
    return (ix - cx) ** 2 + (iy - cy) ** 2 <= radius**2


def write_set(folder: Path, label: str = "Disk", *, channels: int = 1, samples: int = 3) -> Path:
    """An image set: parameters.json plus NNNNN_00.npz/.json per sample; returns the folder."""
    multifocus = None if channels == 1 else (channels, 20.0, 0.0)
    num_classes = {"Mask": 1, "Disk": 3, "Gaussian": 3, "Exitwave": 2}[label]
    params = Parameters(label=label, image_size=(SIZE, SIZE), sampling=(SAMPLING, SAMPLING), num_classes=num_classes,
                        spotsize=2 * RADIUS * SAMPLING, multifocus=multifocus, normalizedistance=1.0,
                        defocus=(-100.0, 100.0))
    folder.mkdir(parents=True, exist_ok=True)
    params.save(folder / "parameters.json")
    rng = np.random.default_rng(7)
    for i in range(samples):
        sites, classes = SITES[i % len(SITES)]
        discs = np.zeros((2, SIZE, SIZE), np.float32)
        for (cx, cy), c in zip(sites, classes):
            discs[c] = np.maximum(discs[c], disc(cx, cy))
        if label == "Disk":
            target = np.concatenate([discs, 1 - discs.sum(0, keepdims=True)])
        elif label == "Mask":
            target = np.zeros((1, SIZE, SIZE), np.float32)
            target[0, 8:8 + 10 * (i + 1), 10:30] = 1  # 10(i+1) × 20 px
        else:  # Exitwave: a weak-phase object, one Gaussian phase bump per site
            ix, iy = np.mgrid[:SIZE, :SIZE]
            phase = sum(0.2 * np.exp(-((ix - cx) ** 2 + (iy - cy) ** 2) / (2 * 1.5**2)) for cx, cy in sites)
            wave = np.exp(1j * phase)
            target = np.stack([wave.real, wave.imag])
        image = 1 + 0.3 * discs.sum(0) + rng.normal(0, 0.05, (channels, SIZE, SIZE))
        defocus = [10.0 * i + 20.0 * k for k in range(channels)]
        write_json(folder / f"{i:05d}_00.json", {"sampling": SAMPLING, "defocus": defocus, "energy": 50e3,
                                                  "dose": 1000.0 * (i + 1)})
        save_npz(folder / f"{i:05d}_00.npz", image=image.astype(np.float32), label=target.astype(np.float32),
                 sampling=np.float64(SAMPLING), origin=np.zeros(2))
    return folder


class Oracle(torch.nn.Module):
    """Returns the label of the stored image it is shown, as logits (20·(label − 0.5)) or an exit wave.

    It recognises an input by comparing it with the locally standardised images of the set
    (the network input), so it works in any order and batch size. ``shift`` rolls the output
    along x by that many pixels; ``offset`` is added to a (linear) exit-wave output.
    """

    def __init__(self, folder: Path, *, shift: int = 0, offset: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__()
        params = Parameters.load(folder / "parameters.json")
        self.weight = torch.nn.Parameter(torch.zeros(()))  # predict() looks up the device of a parameter
        keys, labels = [], []
        for path in sorted(folder.glob("*.npz")):
            with np.load(path) as f:
                sigma = standardisation_sigma(params.normalizedistance, float(f["sampling"]))
                keys.append(local_standardise(torch.from_numpy(f["image"]), sigma))
                labels.append(torch.from_numpy(f["label"]))
        self.keys, self.labels = torch.stack(keys), torch.stack(labels)
        self.linear = params.label == "Exitwave"
        self.shift = shift
        self.offset = torch.tensor(offset, dtype=torch.float32)[None, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distance = (x[:, None] - self.keys[None]).square().flatten(2).sum(-1)
        label = torch.roll(self.labels[distance.argmin(1)], self.shift, dims=-2)
        return label + self.offset if self.linear else 20 * (label - 0.5)
