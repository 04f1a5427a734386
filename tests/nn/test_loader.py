"""Loader: image epochs (e mod E), seeded shuffling and augmentation, process split, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from temnn import Parameters, TemnnError
from temnn.io.files import save_npz
from temnn.nn.augment import Augmentation
from temnn.io.image_sets import find_image_set
from temnn.nn.loader import ImageSet, check_compatible, make_loader, prepare_batch, start_epoch
from temnn.nn.standardise import local_standardise


def write_set(
    folder: Path, *, samples: int = 5, epochs: int = 3, size: int = 8, label: str = "Mask", channels: int = 1
) -> Path:
    """Image (i, e) holds 100·i + e everywhere plus a ramp; the label is a pixel map of the image."""
    params = Parameters(
        label=label,
        image_size=(size, size),
        sampling=(0.1, 0.2),
        num_classes=1 if label == "Mask" else 2,
        multifocus=None if channels == 1 else (channels, 5.0, 0.0),
    )
    folder.mkdir(parents=True)
    params.save(folder / "parameters.json")
    ramp = np.arange(size * size, dtype=np.float32).reshape(size, size) / size**2
    for i in range(samples):
        for e in range(epochs):
            image = np.stack([100 * i + e + ramp + c for c in range(channels)])
            save_npz(
                folder / f"{i:05d}_{e:02d}.npz",
                image=image,
                label=(image[:1] % 1.0) * 2 if label == "Mask" else np.stack([image[0], -image[0]]),
                sampling=np.float64(0.1 + 0.01 * i),
            )
    return folder


def test_training_epoch_uses_image_epoch_mod_E(tmp_path):
    data = ImageSet(write_set(tmp_path / "set"))
    assert (len(data), data.image_epochs, data.input_channels, data.output_channels) == (5, 3, 1, 1)
    for epoch in range(7):
        data.set_epoch(epoch)
        item = data[2]
        assert item["index"] == 2 and item["sampling"] == pytest.approx(0.12)
        assert np.floor(item["image"][0, 0, 0].item()) == 200 + epoch % 3


def test_shuffle_is_seeded_per_epoch_and_covers_every_sample(tmp_path):
    data = ImageSet(write_set(tmp_path / "set", samples=7))
    loader = make_loader(data, batch_size=3, shuffle=True, seed=4)
    orders = []
    for epoch in (0, 1, 0):
        start_epoch(loader, epoch)
        orders.append([int(i) for batch in loader for i in batch["index"]])
    assert sorted(orders[0]) == list(range(7)) == sorted(orders[1])
    assert orders[0] == orders[2] != orders[1]
    # two processes share the epoch's samples between them (the sampler pads to equal length)
    parts = []
    for rank in (0, 1):
        part = make_loader(data, batch_size=2, shuffle=True, seed=4, rank=rank, world_size=2)
        start_epoch(part, 0)
        parts.append([int(i) for batch in part for i in batch["index"]])
    assert set(parts[0]) | set(parts[1]) == set(range(7)) and len(parts[0]) == len(parts[1]) == 4
    val = [
        [int(i) for b in make_loader(data, batch_size=2, shuffle=False, rank=r, world_size=2) for i in b["index"]]
        for r in (0, 1)
    ]
    assert sorted(val[0] + val[1]) == list(range(7))  # validation: every sample exactly once


def test_worker_processes_give_the_same_batches(tmp_path):
    data = ImageSet(write_set(tmp_path / "set", samples=5), augmentation=Augmentation(), seed=2)
    batches = []
    for workers in (0, 2):
        loader = make_loader(data, batch_size=2, shuffle=True, seed=1, workers=workers)
        start_epoch(loader, 3)
        batches.append(list(loader))
    for a, b in zip(*batches):
        assert all(torch.equal(a[key], b[key]) for key in ("image", "label", "intensity", "index"))


def test_augmented_items_stay_aligned_and_reproducible(tmp_path):
    folder = write_set(tmp_path / "set", samples=4, epochs=2)
    data = ImageSet(folder, augmentation=Augmentation(), seed=1)
    seen = set()
    for epoch in range(4):
        data.set_epoch(epoch)
        for k in range(len(data)):
            item = data[k]
            torch.testing.assert_close(item["label"], (item["image"][:1] % 1.0) * 2)  # the pixel map survives
            seen.add(item["image"][0, 0, 0].item() % 1.0)
            again = ImageSet(folder, augmentation=Augmentation(), seed=1)
            again.set_epoch(epoch)
            assert torch.equal(again[k]["image"], item["image"]) and torch.equal(
                again[k]["intensity"], item["intensity"]
            )
    assert len(seen) > 1  # the corner pixel changes: the images were flipped/rotated


def test_prepare_batch_standardises_with_each_samples_sampling(tmp_path):
    data = ImageSet(write_set(tmp_path / "set", samples=3, channels=2, size=16))
    batch = next(iter(make_loader(data, batch_size=3, shuffle=False)))
    images, labels = prepare_batch(batch, "cpu", 1.2, augment=False)
    sigma = torch.tensor([1.2 / (0.1 + 0.01 * i) for i in range(3)])
    torch.testing.assert_close(images, local_standardise(batch["image"], sigma))
    assert images.shape == (3, 2, 16, 16) and labels.shape == (3, 1, 16, 16)


def test_limitdata_and_find_image_set(tmp_path):
    folder = write_set(tmp_path / "DATA" / "images" / "mask")
    assert find_image_set(tmp_path / "DATA") == folder == find_image_set(folder)
    assert ImageSet(tmp_path / "DATA", limitdata=2).samples == [0, 1]
    write_set(tmp_path / "DATA" / "images" / "other")
    with pytest.raises(TemnnError, match="several image sets \\(mask, other\\)"):
        find_image_set(tmp_path / "DATA")
    with pytest.raises(TemnnError, match="no such folder"):
        find_image_set(tmp_path / "nowhere")


def test_errors_name_the_file_and_the_fix(tmp_path):
    folder = write_set(tmp_path / "set", samples=3, epochs=2)
    (folder / "00001_01.npz").unlink()
    with pytest.raises(
        TemnnError, match="structure 00001 has image epochs \\[0\\] but the set has 2.*re-run `temnn images`"
    ):
        ImageSet(folder)
    bad = write_set(tmp_path / "bad", samples=1, epochs=1)
    save_npz(
        bad / "00000_00.npz", image=np.zeros((2, 8, 8), np.float32), label=np.zeros((1, 8, 8), np.float32), sampling=0.1
    )
    with pytest.raises(TemnnError, match="00000_00.npz: 'image' must have shape \\(1, rows, columns\\)"):
        ImageSet(bad)[0]
    save_npz(
        bad / "00000_00.npz",
        image=np.full((1, 8, 8), np.nan, np.float32),
        label=np.zeros((1, 8, 8), np.float32),
        sampling=0.1,
    )
    with pytest.raises(TemnnError, match="contains NaN"):
        ImageSet(bad)[0]
    with pytest.raises(TemnnError, match="do not match: label: Mask .* but Disk"):
        check_compatible(ImageSet(folder, limitdata=1), ImageSet(write_set(tmp_path / "disk", label="Disk")))
