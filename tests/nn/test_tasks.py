"""Label → (activation, loss, metric), losses against their closed forms, metrics on hand-built cases."""

from __future__ import annotations

import math

import pytest
import torch

from temnn import Parameters
from temnn.nn import Task, task_for


def params(label: str, **kw) -> Parameters:
    return Parameters(label=label, image_size=(32, 32), sampling=(0.1, 0.1), **kw)


@pytest.mark.parametrize(
    "label,options,channels,activation,loss,metric",
    [
        ("Mask", dict(num_classes=1), 1, "sigmoid", "binary cross-entropy", "pixel_f1"),
        ("Mask", dict(num_classes=2), 2, "softmax", "cross-entropy", "pixel_f1"),
        ("Disk", dict(num_classes=4), 4, "softmax", "cross-entropy", "pixel_f1"),
        ("Gaussian", dict(num_classes=3), 3, "softmax", "cross-entropy", "pixel_f1"),
        ("Disk", dict(num_classes=3, null_class=False), 3, "sigmoid", "binary cross-entropy", "pixel_f1"),
        ("Disk", dict(num_classes=1, null_class=False), 1, "sigmoid", "binary cross-entropy", "pixel_f1"),
        ("Exitwave", dict(), 2, "linear", "mean squared error", "rmse"),
    ],
)
def test_task_mapping(label, options, channels, activation, loss, metric):
    task = task_for(params(label, **options))
    assert (task.channels, task.activation, task.loss_name, task.metric_name) == (channels, activation, loss, metric)
    assert Task.from_dict(task.to_dict()) == task


def test_losses_match_closed_forms():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    soft = torch.softmax(torch.randn(2, 3, 4, 5), dim=1)
    ce = -(soft * torch.log_softmax(logits, dim=1)).sum(1).mean()
    torch.testing.assert_close(Task("Gaussian", 3, "softmax").loss(logits, soft), ce)
    p, t = torch.sigmoid(logits), (soft > 0.4).float()
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    torch.testing.assert_close(Task("Mask", 3, "sigmoid").loss(logits, t), bce)
    torch.testing.assert_close(Task("Exitwave", 3, "linear").loss(logits, soft), (logits - soft).square().mean())


def test_logit_losses_are_stable_for_extreme_logits():
    logits = torch.tensor([[[[80.0, -80.0]]]])
    assert math.isfinite(Task("Mask", 1, "sigmoid").loss(logits, torch.tensor([[[[0.0, 1.0]]]])).item())
    two = torch.cat([logits, -logits], dim=1)
    assert math.isfinite(Task("Mask", 2, "softmax").loss(two, torch.tensor([[[[0.0, 1.0]], [[1.0, 0.0]]]])).item())


def test_activation():
    logits = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(Task("Disk", 4, "softmax").activate(logits).sum(1), torch.ones(2, 3, 3))
    assert Task("Exitwave", 4, "linear").activate(logits) is logits
    torch.testing.assert_close(Task("Mask", 4, "sigmoid").activate(logits), 1 / (1 + torch.exp(-logits)))


def test_pixel_f1_binary_hand_built():
    # 4×4 image: truth is the left half (8 px); prediction the top half (8 px) → TP 4, FP 4, FN 4.
    truth = torch.zeros(1, 1, 4, 4)
    truth[..., :, :2] = 1
    logits = torch.full((1, 1, 4, 4), -5.0)
    logits[..., :2, :] = 5.0
    task = Task("Mask", 1, "sigmoid")
    counts = task.metric_counts(logits, truth)
    assert counts.tolist() == [4, 4, 4]
    assert task.metric(counts) == pytest.approx(2 * 4 / (2 * 4 + 4 + 4))
    assert task.metric(task.metric_counts(10 * (2 * truth - 1), truth)) == 1.0


def test_pixel_f1_multiclass_hand_built():
    # classes A, B and background (last). 1×4 pixels: truth A, B, bg, A; prediction A, A, B, bg.
    truth = torch.tensor([0, 1, 2, 0])
    pred = torch.tensor([0, 0, 1, 2])
    target = torch.nn.functional.one_hot(truth, 3).T.reshape(1, 3, 1, 4).float()
    logits = 5 * torch.nn.functional.one_hot(pred, 3).T.reshape(1, 3, 1, 4).float()
    task = Task("Disk", 3, "softmax")
    # TP: pixel 0. FP: pixels 1 (wrong class), 2 (bg predicted B). FN: pixels 1, 3.
    assert task.metric_counts(logits, target).tolist() == [1, 2, 2]
    assert task.metric(torch.tensor([1.0, 2.0, 2.0])) == pytest.approx(2 / 6)


def test_rmse():
    task = Task("Exitwave", 2, "linear")
    a, b = torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2, 2), 3.0)
    counts = task.metric_counts(a, b) + task.metric_counts(b, b)  # additive over batches
    assert task.metric(counts) == pytest.approx(math.sqrt(8 * 9 / 16))
