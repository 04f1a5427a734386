"""On-the-fly training: images synthesised from the exit waves every epoch equal `temnn images`' stored ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

import temnn
from temnn import Parameters, TemnnError
from temnn.cli import main
from temnn.nn.augment import Augmentation, AugmentationDraw, apply_geometry
from temnn.io.dataset import Dataset, save_sites, save_wave
from temnn.io.image_sets import read_image
from temnn.nn.loader import make_loader, start_epoch
from temnn.nn.onthefly import OnTheFlySet, collate_synthesis, form_batch_images, prepare_synthesis_batch
from temnn.simulate import synthesis
from temnn.workflows.images import make_images
from temnn.simulate.waves import ExitWave
from temnn.structures.sample import Sample

GRID = ((64, 60), 0.08)  # exit-wave grid [pixels] and sampling [Å/pixel]: 5.12 × 4.8 Å



def write_waves(root: Path, grids: list[tuple[tuple[int, int], float]]) -> Path:
    """One sample per grid: phase bumps at 6 classified sites (Mo, S), written with the waves stage's writers."""
    dataset = Dataset(root)
    for i, (gpts, sampling) in enumerate(grids):
        rng = np.random.default_rng(i)
        sites = rng.uniform(0.8, 4.0, size=(6, 2))
        classes = np.arange(6) % 2
        sample = Sample(atoms=Atoms(), sites=sites, classes=classes, class_names=("Mo", "S"), mask_classes=(0,))
        save_sites(dataset.sites_path(i), sample)
        x = np.arange(gpts[0])[:, None] * sampling
        y = np.arange(gpts[1])[None, :] * sampling
        potential = np.zeros(gpts)
        for (sx, sy), c in zip(sites, classes):
            potential += (1 + c) * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * 0.2**2))
        wave = np.exp(0.5j * potential).astype(np.complex64)
        save_wave(dataset.wave_path(i), ExitWave(wave, (sampling, sampling), 300e3))
    return root


def write_params(path: Path, **kw) -> Path:
    values = dict(
        label="Disk",
        image_size=[32, 32],
        sampling=[0.1, 0.12],
        image_epochs=2,
        num_classes=3,
        null_class=True,
        spotsize=0.5,
        defocus=[-60, 60],
        ctf_c30=[0, 1e4],
        log_dose=[3, 4],
        multifocus=[2, 30.0, 2.0],
        mtf_c0=[0.3, 0.5],
        readout=[0.01, 0.02],
        normalizedistance=1.0,
        seed=11,
    )
    values.update(kw)
    Parameters(**values).save(path)
    return path


def batches(data: OnTheFlySet, epoch: int, batch_size: int, workers: int = 0) -> list[dict]:
    loader = make_loader(data, batch_size=batch_size, shuffle=False, workers=workers, collate_fn=collate_synthesis)
    start_epoch(loader, epoch)
    return list(loader)


# ---------------------------------------------------------------------- same images as stored
def test_images_and_labels_equal_the_stored_image_epochs(tmp_path):
    data = write_waves(tmp_path / "data", [GRID] * 3)
    params = write_params(tmp_path / "p.json")
    stored = make_images(data, params, progress=False)
    onthefly = OnTheFlySet(data, params)
    for epoch in (0, 1):
        # One sample per batch: the bytes `temnn images` wrote (shot noise, MTF and readout included).
        for batch in batches(onthefly, epoch, batch_size=1, workers=int(epoch == 1)):
            record = read_image(stored, int(batch["index"][0]), epoch)
            np.testing.assert_array_equal(form_batch_images(batch, "cpu")[0].numpy(), record.image)
            np.testing.assert_array_equal(batch["label"][0].numpy(), record.label)
            assert float(batch["sampling"][0]) == record.sampling
            assert batch["draw"][0].microscope.to_dict() == record.microscope
        # A whole batch in one form_images call: the same up to float32 round-off of the batched
        # Fourier sums, which can move a Poisson count by one electron in a pixel or two.
        (batch,) = batches(onthefly, epoch, batch_size=3)
        images = form_batch_images(batch, "cpu").numpy()
        for b in range(3):
            record = read_image(stored, b, epoch)
            assert np.abs(images[b] - record.image).mean() < 1e-3 * record.image.mean()


def test_noise_free_batch_equals_single_images_to_float32(tmp_path):
    data = write_waves(tmp_path / "data", [GRID] * 3)
    onthefly = OnTheFlySet(data, write_params(tmp_path / "p.json", noise=None, mtf=None))
    (batch,) = batches(onthefly, 0, batch_size=3)
    together = form_batch_images(batch, "cpu")
    for b, (wave, sampling, draw) in enumerate(zip(batch["wave"], batch["wave_sampling"], batch["draw"])):
        alone = synthesis.synthesise([wave], [sampling], [draw])
        torch.testing.assert_close(together[b], alone[0], rtol=0, atol=2e-5)


def test_every_epoch_draws_new_images_reproducibly(tmp_path):
    data = write_waves(tmp_path / "data", [GRID] * 2)
    onthefly = OnTheFlySet(data, write_params(tmp_path / "p.json", image_epochs=1))
    first, second, again = (form_batch_images(batches(onthefly, e, 2)[0], "cpu") for e in (0, 7, 0))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert (first - second).abs().mean() > 0.05  # other microscope, crop and noise (image_epochs is not a cycle)
    assert batches(onthefly, 0, 2)[0]["draw"] != batches(onthefly, 7, 2)[0]["draw"]


# --------------------------------------------------------------------------------- batching
def test_waves_of_one_grid_share_one_form_images_call(tmp_path, monkeypatch):
    grids = [GRID, ((72, 64), 0.075), GRID, ((72, 64), 0.075), ((64, 60), 0.085)]
    data = write_waves(tmp_path / "data", grids)
    onthefly = OnTheFlySet(data, write_params(tmp_path / "p.json", sampling=[0.1, 0.11]))
    (batch,) = batches(onthefly, 0, batch_size=5)
    calls = []
    form_images = synthesis.form_images

    def counting(waves, wave_sampling, micro, geometries, **kw):
        calls.append((tuple(waves.shape), wave_sampling))
        return form_images(waves, wave_sampling, micro, geometries, **kw)

    monkeypatch.setattr(synthesis, "form_images", counting)
    images = form_batch_images(batch, "cpu")
    assert sorted(calls) == [((1, 64, 60), (0.085, 0.085)), ((2, 64, 60), (0.08, 0.08)), ((2, 72, 64), (0.075, 0.075))]
    # Each image lands in its sample's place: the same as forming it alone.
    for b in range(5):
        alone = synthesis.synthesise([batch["wave"][b]], [batch["wave_sampling"][b]], [batch["draw"][b]])[0]
        assert (images[b] - alone).abs().mean() < 1e-3


def test_geometric_augmentation_moves_images_with_their_labels(tmp_path):
    data = write_waves(tmp_path / "data", [GRID] * 3)
    params = write_params(tmp_path / "p.json", image_epochs=1, noise=None)
    plain = OnTheFlySet(data, params)
    augmented = OnTheFlySet(data, params, augmentation=Augmentation(), seed=5)
    (reference,) = batches(plain, 0, 3)
    (batch,) = batches(augmented, 0, 3)
    turns = batch["geometry"].tolist()
    assert any(any(row) for row in turns)
    images = form_batch_images(batch, "cpu").numpy()
    expected = form_batch_images(reference, "cpu").numpy()
    for b, (flip_rows, flip_cols, quarter) in enumerate(turns):
        draw = AugmentationDraw(flip_rows=bool(flip_rows), flip_cols=bool(flip_cols), quarter_turns=quarter)
        np.testing.assert_array_equal(images[b], apply_geometry(expected[b], draw))
        np.testing.assert_array_equal(batch["label"][b].numpy(), apply_geometry(reference["label"][b].numpy(), draw))
    images_t, labels_t = prepare_synthesis_batch(batch, "cpu", 1.0, augment=False)
    assert images_t.shape == (3, 2, 32, 32) and labels_t.shape == (3, 3, 32, 32)
    assert abs(float(images_t.mean())) < 0.1  # locally standardised


# ---------------------------------------------------------------------------------- training
def history(out: Path) -> list[dict]:
    return temnn.load_model(out / "checkpoints" / "epoch_0003").card["training"]["history"]


def test_cli_trains_on_the_fly_resumes_exactly_and_records_it(tmp_path, capsys):
    data = write_waves(tmp_path / "data", [GRID] * 4)
    val = write_waves(tmp_path / "val", [GRID] * 2)
    params = write_params(tmp_path / "p.json", log_dose=[4, 5])
    assert main(["images", str(val), str(params), "--test", "--no-progress"]) == 0
    common = ["--on-the-fly", str(params), "--arch", "unet", "--levels", "1", "--filters", "8", "--kernel", "3",
              "--block-layers", "2", "--batch-size", "2", "--adam", '{"lr": 1e-2}', "--device", "cpu", "--quiet"]
    assert main(["train", "3", str(data), str(val / "images" / "p"), str(tmp_path / "a"), *common]) == 0
    straight = history(tmp_path / "a")
    assert [row["image_epoch"] for row in straight] == [0, 1, 2]
    assert straight[-1]["train_loss"] < 0.7 * straight[0]["train_loss"], straight
    card = temnn.load_model(tmp_path / "a").card
    assert card["training"]["on_the_fly"] is True and card["training"]["image_epochs"] is None
    assert card["training"]["train_set"] == str(data)
    assert card["training"]["options"]["on_the_fly"] == str(params)
    # Interrupted after epoch 1 and resumed: the same losses as the uninterrupted run.
    assert main(["train", "1", str(data), str(val), str(tmp_path / "b"), *common]) == 0
    assert main(["train", "3", str(data), str(val), str(tmp_path / "b"), *common]) == 0
    assert [r["train_loss"] for r in history(tmp_path / "b")] == [r["train_loss"] for r in straight]
    # Resuming with other image parameters is refused.
    other = write_params(tmp_path / "other.json", log_dose=[4, 5], seed=12)
    changed = [str(other) if arg == str(params) else arg for arg in common]
    assert main(["train", "4", str(data), str(val), str(tmp_path / "b"), *changed]) == 2
    assert "on-the-fly parameters file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ errors
def test_clear_errors_for_folders_without_waves_and_labels_that_do_not_fit(tmp_path, capsys):
    params = write_params(tmp_path / "p.json")
    with pytest.raises(TemnnError, match=r"no exit waves in .*waves.*dataset folder with waves/ and sites/"):
        OnTheFlySet(tmp_path, params)
    data = write_waves(tmp_path / "data", [GRID])
    with pytest.raises(TemnnError, match=r"missing\.json: parameters file not found.*--on-the-fly"):
        OnTheFlySet(data, tmp_path / "missing.json")
    four = write_params(tmp_path / "four.json", num_classes=4)
    with pytest.raises(TemnnError, match=r"four\.json: 'num_classes' is 4.*2 site classes.*set 'num_classes' to 3"):
        OnTheFlySet(data, four)
    # The same message from the command line, without a traceback.
    val = write_waves(tmp_path / "val", [GRID])
    make_images(val, params, test=True, progress=False)
    argv = ["train", "1", str(data), str(val), str(tmp_path / "out"), "--on-the-fly", str(four), "--quiet"]
    assert main(argv) == 2
    assert "'num_classes' is 4" in capsys.readouterr().err
