"""Ensembles of models: mean and disagreement against hand-computed values and NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from temnn.analysis.ensemble import ensemble_predict
from temnn.errors import TemnnError

BATCH = np.random.default_rng(0).normal(size=(2, 3, 5, 4))


def test_regression_mean_and_std_match_numpy():
    models = [lambda x, k=k: x[:, :2] * (1 + 0.1 * k) + k for k in range(4)]
    outputs = np.stack([m(BATCH) for m in models])
    result = ensemble_predict(models, BATCH, task="regression")
    assert result.mean == pytest.approx(outputs.mean(0))
    assert result.disagreement == pytest.approx(outputs.std(0))
    assert result.majority is None
    same = ensemble_predict([models[0]] * 3, BATCH, task="regression")
    assert np.abs(same.disagreement).max() < 1e-7 and same.mean == pytest.approx(outputs[0])


def test_segmentation_fraction_disagreeing_with_majority():
    def one_hot(classes):
        classes = np.asarray(classes)
        return np.moveaxis(np.eye(3)[classes], -1, 0)[None] * 0.8 + 0.2 / 3

    a = one_hot([[0, 1], [2, 2]])
    b = one_hot([[0, 1], [2, 0]])
    c = one_hot([[0, 2], [1, 0]])
    result = ensemble_predict([lambda x: a, lambda x: b, lambda x: c, lambda x: a], BATCH[:1])
    # votes per pixel: (0,0,0,0) (1,1,2,1) (2,2,1,2) (2,0,0,2): a tie goes to the lower class
    assert result.majority[0].tolist() == [[0, 1], [2, 0]]
    assert result.disagreement[0] == pytest.approx(np.array([[0, 0.25], [0.25, 0.5]]))
    assert result.mean == pytest.approx((2 * a + b + c) / 4)


def test_binary_sigmoid_output_uses_threshold():
    low = np.full((1, 1, 2, 2), 0.4)
    high = np.full((1, 1, 2, 2), 0.6)
    result = ensemble_predict([lambda x: low, lambda x: high, lambda x: high], BATCH[:1], threshold=0.5)
    assert result.majority.tolist() == [[[1, 1], [1, 1]]]
    assert result.disagreement == pytest.approx(np.full((1, 2, 2), 1 / 3))


def test_torch_modules():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.Softmax(dim=1)) for _ in range(3)]
    x = torch.from_numpy(BATCH).float()
    result = ensemble_predict(nets, x)
    with torch.no_grad():
        expected = torch.stack([n(x) for n in nets]).mean(0).numpy()
    assert result.mean == pytest.approx(expected, abs=1e-6)
    assert result.disagreement.shape == (2, 5, 4)
    assert np.all(np.isclose(result.disagreement, 0) | np.isclose(result.disagreement, 1 / 3))


def test_bad_input():
    with pytest.raises(TemnnError, match="at least one"):
        ensemble_predict([], BATCH)
    with pytest.raises(TemnnError, match="task"):
        ensemble_predict([lambda x: x], BATCH, task="detection")
    with pytest.raises(TemnnError, match="shape"):
        ensemble_predict([lambda x: x, lambda x: x[:, :1]], BATCH)
    with pytest.raises(TemnnError, match=r"\(B, K, nx, ny\)"):
        ensemble_predict([lambda x: x[0]], BATCH)
