"""Training: tiny networks overfit tiny sets, output files, exact resume, clear errors, the CLI."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
import torch

import temnn
from temnn import TemnnError
from temnn.cli import main
from temnn.nn.loader import ImageSet, make_loader, prepare_batch
from temnn.nn import TrainingOptions, build_model, task_for, train
from temnn.nn import training as training_module
from temnn.nn.tasks import Task
from temnn.nn.training import make_optimizer, train_step

TINY = {
    "unet": dict(levels=1, filters=8, kernel=3, block_layers=3),
    "unetpp": dict(levels=1, filters=8, kernel=3, block_layers=3),
    "msdnet": dict(layers=8, width=2, kernel=3, max_dilation=3),
}


@pytest.mark.parametrize(
    "label,arch", [("Mask", "unet"), ("Disk", "unet"), ("Exitwave", "unet"), ("Disk", "msdnet"), ("Mask", "unetpp")]
)
def test_tiny_network_overfits_tiny_set(image_set, label, arch):
    data = ImageSet(image_set("train", label, samples=4, channels=2))
    batch = next(iter(make_loader(data, batch_size=4, shuffle=False)))
    images, labels = prepare_batch(batch, "cpu", data.parameters.normalizedistance, augment=False)
    torch.manual_seed(0)
    net = build_model(arch, data.input_channels, data.output_channels, **TINY[arch])
    task = task_for(data.parameters)
    optimizer = make_optimizer(net, TrainingOptions(optimizer_options={"lr": 1e-2}))
    losses = [float(train_step(net, task, optimizer, images, labels)[0]) for _ in range(50)]
    assert min(losses[-5:]) < losses[0] / 10, losses[::10]


def options(**kw) -> TrainingOptions:
    base = dict(arch="msdnet", hyperparameters=dict(TINY["msdnet"]), batch_size=2, progress=False)
    return TrainingOptions(**{**base, **kw})


def test_train_writes_model_history_and_curve(image_set, tmp_path):
    train_set = image_set("train", "Disk", samples=4, epochs=2)
    val_set = image_set("val", "Disk", samples=2, seed=1)
    out = tmp_path / "out"
    history = train(train_set, val_set, out, options(epochs=3, epochsave=2))
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["image_epoch"] for row in history] == [0, 1, 0]
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {"train_loss", "val_loss", "train_pixel_f1", "val_pixel_f1"} <= set(rows[0])
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (out / "checkpoints").glob("*.json")) == ["epoch_0002.json", "epoch_0003.json"]
    model = temnn.load_model(out)
    best = min(history, key=lambda row: row["val_loss"])
    assert model.card["training"]["epoch"] == best["epoch"]
    assert model.card["parameters"]["label"] == "Disk" and model.task.activation == "softmax"
    raw = np.load(train_set / "00000_00.npz")["image"]
    probabilities = temnn.predict(model, raw, sampling=0.11)
    assert probabilities.shape == (3, 32, 32)
    np.testing.assert_allclose(probabilities.sum(0), 1, atol=1e-5)
    # a re-run with the same command has nothing left to do
    assert train(train_set, val_set, out, options(epochs=3, epochsave=2)) == history


def test_resume_equals_uninterrupted(image_set, tmp_path):
    train_set = image_set("train", "Mask", samples=4, epochs=3, channels=2)
    val_set = image_set("val", "Mask", samples=2, channels=2, seed=1)
    straight = train(train_set, val_set, tmp_path / "a", options(epochs=4))
    train(train_set, val_set, tmp_path / "b", options(epochs=2))
    resumed = train(train_set, val_set, tmp_path / "b", options(epochs=4))  # continues from epoch 2
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in straight]
    a = temnn.load_model(tmp_path / "a" / "checkpoints" / "epoch_0004")
    b = temnn.load_model(tmp_path / "b" / "checkpoints" / "epoch_0004")
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    # an explicit --restart from a checkpoint that was not kept is refused clearly
    with pytest.raises(TemnnError, match="--restart 1: no checkpoint of epoch 1"):
        train(train_set, val_set, tmp_path / "b", options(epochs=5, restart=1))
    with pytest.raises(TemnnError, match="other seed"):
        train(train_set, val_set, tmp_path / "b", options(epochs=5, seed=9))


def test_mixed_precision_on_cpu(image_set, tmp_path):
    train_set = image_set("train", "Exitwave", samples=2)
    history = train(train_set, image_set("val", "Exitwave", samples=2, seed=1), tmp_path / "o", options(amp=True))
    assert np.isfinite(history[0]["train_loss"]) and np.isfinite(history[0]["val_rmse"])


def test_mismatched_and_empty_sets(image_set, tmp_path):
    train_set = image_set("train", "Disk", samples=2)
    with pytest.raises(TemnnError, match="do not match: label: Disk .* but Mask"):
        train(train_set, image_set("val", "Mask", samples=2), tmp_path / "o", options())
    with pytest.raises(TemnnError, match="input channels .*: 1 .* but 2"):
        train(train_set, image_set("val2", "Disk", samples=2, channels=2), tmp_path / "o", options())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "parameters.json").write_text((train_set / "parameters.json").read_text())
    with pytest.raises(TemnnError, match="the image set is empty"):
        train(train_set, empty, tmp_path / "o", options())


def test_nan_loss_stops_and_keeps_last_checkpoint(image_set, tmp_path, monkeypatch):
    train_set = image_set("train", "Exitwave", samples=4)
    val_set = image_set("val", "Exitwave", samples=2, seed=1)
    calls = {"n": 0}

    @dataclasses.dataclass(frozen=True)
    class Exploding(Task):
        def loss(self, logits, target):
            calls["n"] += 1
            loss = super().loss(logits, target)
            # per epoch: 2 training batches, then 1 validation batch → call 5 is epoch 2, batch 2
            return loss * float("nan") if calls["n"] == 5 else loss

    monkeypatch.setattr(training_module, "task_for", lambda p: Exploding(p.label, p.output_channels, "linear"))
    out = tmp_path / "out"
    with pytest.raises(TemnnError, match=r"loss became nan in epoch 2, batch 2.*epoch_0001"):
        train(train_set, val_set, out, options(epochs=3))
    model = temnn.load_model(out / "checkpoints" / "epoch_0001")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_cli_train(image_set, tmp_path, capsys):
    train_set = image_set("train", "Mask", samples=2)
    val_set = image_set("val", "Mask", samples=2, seed=1)
    args = ["train", "--arch", "unet", "--levels", "1", "--filters", "4", "--kernel", "3", "--block-layers", "2"]
    args += ["--batch-size", "2", "--adam", '{"lr": 0.002}', "--regularize", "1e-4", "--device", "cpu", "--quiet"]
    out = tmp_path / "out"
    assert main(args + ["1", str(train_set), str(val_set), str(out)]) == 0
    card = temnn.load_model(out).card
    assert card["training"]["options"]["optimizer_options"] == {"lr": 0.002}
    assert card["architecture"]["hyperparameters"]["filters"] == 4
    assert main(["train", "--arch", "unet", "--layers", "5", "1", str(train_set), str(val_set), str(out)]) == 2
    assert "--layers applies to msdnet, not to --arch unet" in capsys.readouterr().err
    assert main(["train", "--adam", "{lr: 1}", "1", str(train_set), str(val_set), str(out)]) == 2
    assert "--adam: not valid JSON" in capsys.readouterr().err


def test_init_fine_tunes_from_a_saved_model(image_set, tmp_path, capsys):
    train_set = image_set("train", "Disk", samples=4)
    val_set = image_set("val", "Disk", samples=2, seed=1)
    train(train_set, val_set, tmp_path / "first", options(epochs=2))
    first = temnn.load_model(tmp_path / "first")
    # a learning rate of 0 keeps the starting weights: they must be the model's, not a new draw
    frozen = options(epochs=1, seed=5, init=str(tmp_path / "first"), optimizer_options={"lr": 0.0})
    train(train_set, val_set, tmp_path / "frozen", frozen)
    copy = temnn.load_model(tmp_path / "frozen")
    for (name, p), q in zip(first.named_parameters(), copy.parameters()):
        assert torch.equal(p, q), name
    card = copy.card["training"]
    assert card["init"] == {"model": str(tmp_path / "first" / "best"), "sha256": first.card["weights"]["sha256"]}
    assert card["options"]["init"] == str(tmp_path / "first")
    fresh = options(epochs=1, seed=5, optimizer_options={"lr": 0.0})
    train(train_set, val_set, tmp_path / "fresh", fresh)
    assert not all(torch.equal(p, q) for p, q in zip(first.parameters(), temnn.load_model(tmp_path / "fresh").parameters()))
    # another shape or another task is refused before anything is written
    wider = options(epochs=1, init=str(tmp_path / "first"), hyperparameters={**TINY["msdnet"], "width": 3})
    with pytest.raises(TemnnError, match=r"--init .*first: the model .*best.json. is msdnet with 1 → 3 channels.*; "
                                         r"these architecture options differ: width=3 \(the model has 2\)"):
        train(train_set, val_set, tmp_path / "wider", wider)
    assert not (tmp_path / "wider").exists()
    with pytest.raises(TemnnError, match=r"--init .*first: the model .* is a msdnet, not a unet"):
        train(train_set, val_set, tmp_path / "unet", options(epochs=1, arch="unet", init=str(tmp_path / "first")))
    mask = image_set("mask", "Mask", samples=2)
    mask_val = image_set("mask_val", "Mask", samples=2, seed=1)
    with pytest.raises(TemnnError, match=r"--init .*first: the model .* maps 1 → 3 channels, but the training set "
                                         r".*mask has 1 → 1"):
        train(mask, mask_val, tmp_path / "mask_out", options(epochs=1, init=str(tmp_path / "first")))
    # the command line takes the architecture from the model and refuses shape options
    out = tmp_path / "cli"
    assert main(["train", "--init", str(tmp_path / "first"), "--batch-size", "2", "--adamw", "1e-3", "--quiet",
                 "1", str(train_set), str(val_set), str(out)]) == 0
    assert temnn.load_model(out).config == first.config
    assert main(["train", "--init", str(tmp_path / "first"), "--filters", "4",
                 "1", str(train_set), str(val_set), str(out)]) == 2
    assert "--filters: the architecture of a fine-tuned network is that of --init" in capsys.readouterr().err
    assert main(["train", "--init", str(tmp_path / "first"), "--arch", "unet",
                 "1", str(train_set), str(val_set), str(out)]) == 2
    assert "--init " in capsys.readouterr().err
