"""The faster training recipe: LR schedules, resume of a schedule, random crops, AdamW, AMP default."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import temnn
from temnn import Parameters, TemnnError
from temnn.io.files import save_npz
from temnn.cli import main
from temnn.nn.augment import NO_AUGMENTATION, Augmentation
from temnn.nn.loader import ImageSet
from temnn.nn import TrainingOptions, train
from temnn.nn import training as training_module
from temnn.nn.schedules import make_scheduler
from temnn.nn.training import _Processes, _Run, make_optimizer

from test_training import TINY, options


def _optimizer(lr: float = 1e-2) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))], lr=lr)


def _lrs(optimizer: torch.optim.Optimizer, scheduler, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_onecycle_follows_the_published_formula():
    # Smith & Topin's one-cycle as torch documents it: cosine from lr/25 up to lr at step
    # pct·T - 1, then cosine down to lr/25/1e4 at step T - 1.
    peak, epochs, per_epoch = 1e-2, 4, 5
    optimizer = _optimizer(peak)
    scheduler = make_scheduler(optimizer, "onecycle", epochs=epochs, steps_per_epoch=per_epoch, warmup=1)
    total, up = epochs * per_epoch, 1 * per_epoch - 1
    low, end = peak / 25, peak / 25 / 1e4

    def anneal(start: float, stop: float, fraction: float) -> float:
        return stop + (start - stop) / 2 * (1 + math.cos(math.pi * fraction))

    expected = [
        anneal(low, peak, t / up) if t <= up else anneal(peak, end, (t - up) / (total - 1 - up)) for t in range(total)
    ]
    np.testing.assert_allclose(_lrs(optimizer, scheduler, total), expected, rtol=1e-12)
    assert max(expected) == pytest.approx(peak)


def test_cosine_is_torchs_linear_warmup_then_cosine_annealing():
    peak, epochs, per_epoch, warmup = 2e-3, 5, 4, 1.5
    optimizer = _optimizer(peak)
    scheduler = make_scheduler(optimizer, "cosine", epochs=epochs, steps_per_epoch=per_epoch, warmup=warmup)
    rise, total = 6, epochs * per_epoch
    got = _lrs(optimizer, scheduler, total)
    reference = _optimizer(peak)  # torch's own schedulers, one after the other
    linear = torch.optim.lr_scheduler.LinearLR(reference, start_factor=1 / rise, end_factor=1.0, total_iters=rise - 1)
    expected = _lrs(reference, linear, rise)
    reference = _optimizer(peak)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=total - rise, eta_min=0.0)
    expected += _lrs(reference, cosine, total - rise)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-18)
    assert got[rise] == pytest.approx(peak) and got[-1] < peak * 0.02


def test_schedule_options_are_checked():
    with pytest.raises(TemnnError, match="--warmup must be a number of epochs"):
        make_scheduler(_optimizer(), "cosine", epochs=2, steps_per_epoch=3, warmup=2)
    with pytest.raises(TemnnError, match="--warmup needs --schedule"):
        make_scheduler(_optimizer(), "constant", epochs=2, steps_per_epoch=3, warmup=1)
    assert make_scheduler(_optimizer(), "constant", epochs=2, steps_per_epoch=3) is None
    with pytest.raises(TemnnError, match="onecycle needs at least 3 optimizer steps"):
        make_scheduler(_optimizer(), "onecycle", epochs=2, steps_per_epoch=1)


def test_resume_after_interruption_continues_the_schedule(image_set, tmp_path, monkeypatch):
    train_set = image_set("train", "Mask", samples=4, epochs=2)
    val_set = image_set("val", "Mask", samples=2, seed=1)
    recipe = options(epochs=3, schedule="onecycle", warmup=1, optimizer_options={"lr": 5e-3})
    seen: list[tuple[float, float]] = []
    step = training_module.train_step

    def recording(model, task, optimizer, *args, **kw):
        seen.append((optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["betas"][0]))
        return step(model, task, optimizer, *args, **kw)

    monkeypatch.setattr(training_module, "train_step", recording)
    straight = train(train_set, val_set, tmp_path / "a", recipe)
    straight_steps, seen[:] = list(seen), []
    assert len(straight_steps) == 6 and len(set(straight_steps)) == 6  # 2 batches × 3 epochs, all different

    epoch_fn = _Run._train_epoch

    def interrupted(self, model, loader, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return epoch_fn(self, model, loader, epoch)

    monkeypatch.setattr(_Run, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(train_set, val_set, tmp_path / "b", recipe)
    monkeypatch.setattr(_Run, "_train_epoch", epoch_fn)
    resumed = train(train_set, val_set, tmp_path / "b", recipe)  # the same command again
    assert seen == straight_steps
    assert [r["lr"] for r in resumed] == [r["lr"] for r in straight]
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in straight]
    a = temnn.load_model(tmp_path / "a" / "checkpoints" / "epoch_0003")
    b = temnn.load_model(tmp_path / "b" / "checkpoints" / "epoch_0003")
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(TemnnError, match="other EPOCHS"):
        train(train_set, val_set, tmp_path / "b", options(**{**vars(recipe), "epochs": 4}))
    with pytest.raises(TemnnError, match="other schedule"):
        train(train_set, val_set, tmp_path / "b", options(**{**vars(recipe), "schedule": "cosine"}))


def _function_set(folder, *, samples=3, size=24):
    """Images of random values whose label is the pixel-wise test image > 0.5 (so f(image) = label)."""
    folder.mkdir(parents=True)
    parameters = Parameters(label="Mask", image_size=(size, size), sampling=(0.1, 0.1), num_classes=1)
    parameters.save(folder / "parameters.json")
    rng = np.random.default_rng(3)
    for i in range(samples):
        image = rng.uniform(0, 1, (1, size, size)).astype(np.float32)
        save_npz(folder / f"{i:05d}_00.npz", image=image, label=(image > 0.5).astype(np.float32), sampling=0.1)
    return folder


def test_crops_keep_image_and_label_aligned_and_follow_the_seed(tmp_path):
    folder = _function_set(tmp_path / "set")
    augmented = ImageSet(folder, crop=10, augmentation=Augmentation(), seed=5)
    plain = ImageSet(folder, crop=10, seed=5)
    full = ImageSet(folder)
    corners = set()
    for epoch in range(4):
        augmented.set_epoch(epoch)
        plain.set_epoch(epoch)
        for k in range(len(plain)):
            item = augmented[k]
            assert item["image"].shape == item["label"].shape == (1, 10, 10)
            assert torch.equal(item["label"], (item["image"] > 0.5).float())
            window, whole = plain[k]["image"][0].numpy(), full[k]["image"][0].numpy()
            found = [
                (r, c) for r in range(15) for c in range(15) if np.array_equal(whole[r : r + 10, c : c + 10], window)
            ]
            assert len(found) == 1
            corners.add(found[0])
    assert len(corners) > 6  # windows move between samples and epochs
    again = ImageSet(folder, crop=10, augmentation=Augmentation(), seed=5)
    again.set_epoch(3)
    assert all(torch.equal(again[k]["image"], augmented[k]["image"]) for k in range(3))
    other = ImageSet(folder, crop=10, seed=6)
    other.set_epoch(3)
    assert not all(torch.equal(other[k]["image"], plain[k]["image"]) for k in range(3))
    with pytest.raises(TemnnError, match="--crop 30 is larger than the images"):
        ImageSet(folder, crop=30)[0]
    with pytest.raises(TemnnError, match="--crop must be a positive"):
        ImageSet(folder, crop=0)
    assert NO_AUGMENTATION == plain.augmentation


def test_training_crops_while_validation_sees_full_images(image_set, tmp_path, monkeypatch):
    shapes: list[tuple[bool, tuple[int, ...]]] = []
    prepare = training_module.prepare_batch

    def recording(batch, device, distance, *, augment=True):
        images, labels = prepare(batch, device, distance, augment=augment)
        shapes.append((augment, tuple(images.shape[-2:]), tuple(labels.shape[-2:])))
        return images, labels

    monkeypatch.setattr(training_module, "prepare_batch", recording)
    train_set = image_set("train", "Disk", samples=4)
    history = train(train_set, image_set("val", "Disk", samples=2, seed=1), tmp_path / "o", options(crop=16))
    assert {s for s in shapes if s[0]} == {(True, (16, 16), (16, 16))}
    assert {s for s in shapes if not s[0]} == {(False, (32, 32), (32, 32))}
    assert math.isfinite(history[0]["val_pixel_f1"])
    assert temnn.load_model(tmp_path / "o").card["training"]["options"]["crop"] == 16


def test_adamw_builds_torchs_adamw_with_decay_on_weights_only():
    torch.manual_seed(0)
    net = temnn.nn.build_model("unet", 1, 1, **TINY["unet"])
    recipe = TrainingOptions(optimizer="adamw", optimizer_options={"lr": 2e-3, "weight_decay": 0.05})
    optimizer = make_optimizer(net, recipe)
    assert type(optimizer) is torch.optim.AdamW
    assert [g["lr"] for g in optimizer.param_groups] == [2e-3, 2e-3]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]
    weights = optimizer.param_groups[0]["params"]
    before = [w.detach().clone() for w in weights]
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # zero gradients: only the decoupled decay moves the weights, by lr·wd
    for w, b in zip(weights, before):
        torch.testing.assert_close(w.detach(), b * (1 - 2e-3 * 0.05))
    default = make_optimizer(net, TrainingOptions(optimizer="adamw", optimizer_options={"lr": 1e-3}))
    assert default.param_groups[0]["weight_decay"] == 0.01
    with pytest.raises(TemnnError, match="drop --regularize"):
        make_optimizer(net, TrainingOptions(optimizer="adamw", optimizer_options={"lr": 1e-3}, regularize=1e-4))


class _SquaredError:
    """The least a task needs for ``train_step``: a loss (scaled to make gradients large) and counts."""

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 1e4 * ((logits - target) ** 2).sum()

    def metric_counts(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.zeros(2)


@pytest.mark.parametrize("clip", [None, 0.5])
def test_gradient_clipping_bounds_the_step_to_the_norm(clip):
    # With SGD at lr = 1 the step is minus the gradient, so the parameters move by exactly the
    # (clipped) gradient norm: min(|g|, clip).
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    images, target = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    reference = _SquaredError().loss(net(images), target)
    norm = torch.sqrt(sum((g**2).sum() for g in torch.autograd.grad(reference, list(net.parameters()))))
    assert norm > 100  # far above the clip
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    training_module.train_step(net, _SquaredError(), optimizer, images, target, clip_grad=clip)
    moved = torch.linalg.vector_norm(torch.cat([p.detach().flatten() for p in net.parameters()]) - before)
    torch.testing.assert_close(moved, norm if clip is None else torch.tensor(clip), rtol=1e-5, atol=0)


def test_cli_recipe_options(image_set, tmp_path, capsys):
    train_set = image_set("train", "Mask", samples=2)
    val_set = image_set("val", "Mask", samples=2, seed=1)
    args = ["train", "--arch", "unet", "--levels", "1", "--filters", "4", "--kernel", "3", "--block-layers", "2"]
    args += ["--batch-size", "2", "--adamw", "0.002", "--weight-decay", "0.03", "--schedule", "cosine"]
    args += ["--warmup", "1", "--crop", "16", "--device", "cpu", "--quiet"]
    assert main(args + ["--clip-grad", "1.5", "2", str(train_set), str(val_set), str(tmp_path / "o")]) == 0
    saved = temnn.load_model(tmp_path / "o").card["training"]["options"]
    assert saved["optimizer"] == "adamw" and saved["optimizer_options"] == {"lr": 0.002, "weight_decay": 0.03}
    assert (saved["schedule"], saved["warmup"], saved["crop"], saved["amp"]) == ("cosine", 1.0, 16, None)
    assert saved["clip_grad"] == 1.5
    for bad in ("0", "nan", "-1"):
        assert main(args + ["--clip-grad", bad, "1", str(train_set), str(val_set), str(tmp_path / "c")]) == 2
        assert "--clip-grad must be a positive gradient norm" in capsys.readouterr().err
        assert not (tmp_path / "c").exists()
    assert main(["train", "--weight-decay", "0.1", "1", str(train_set), str(val_set), str(tmp_path / "p")]) == 2
    assert "--weight-decay applies to --adamw" in capsys.readouterr().err


def test_mixed_precision_defaults_on_for_cuda_only(image_set, tmp_path):
    train_set = image_set("train", "Mask", samples=2)
    val_set = image_set("val", "Mask", samples=2, seed=1)
    with _Processes("cpu") as procs:
        assert _Run(train_set, val_set, tmp_path / "o", options(), procs).amp_dtype is None
        assert _Run(train_set, val_set, tmp_path / "o", options(amp=True), procs).amp_dtype == torch.bfloat16
    if torch.cuda.is_available():
        with _Processes("cuda") as procs:
            assert _Run(train_set, val_set, tmp_path / "o", options(device="cuda"), procs).amp_dtype is not None
