"""evaluate() over hand-built image sets, and ``temnn evaluate`` from the command line."""

from __future__ import annotations

import csv
import doctest
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import temnn
from temnn import TemnnError
from temnn.workflows import evaluate as evaluate_module
from temnn.workflows.evaluate import EvaluationResult, evaluate, summarise
from temnn.cli import main
from temnn.nn import MSDNet, Task, save_model

from ._simulated_sets import SITES, Oracle, disc, write_set



def saved_msdnet(path, label="Disk", *, channels_in=1, channels_out=3, seed=0):
    """A random-init MSD-net saved with a card as `temnn train` writes it (task, standardisation width)."""
    torch.manual_seed(seed)
    net = MSDNet(channels_in, channels_out, layers=2, kernel=3, max_dilation=2)
    activation = "linear" if label == "Exitwave" else ("sigmoid" if channels_out == 1 else "softmax")
    return str(save_model(net, path, {"task": Task(label, channels_out, activation).to_dict(),
                                      "normalizedistance": 1.0}))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_oracle_and_shifted_oracle_over_a_set_streamed_in_batches(tmp_path):
    folder = write_set(tmp_path / "images" / "disk", samples=5)
    result = temnn.evaluate(Oracle(folder), tmp_path, batch_size=2)  # DATA holding one image set
    assert isinstance(result, EvaluationResult) and result.metric == "atomic_f1" and len(result.rows) == 5
    assert [(r["index"], r["epoch"]) for r in result.rows] == [(i, 0) for i in range(5)]
    assert [r["dose_e_per_angstrom2"] for r in result.rows] == [1000.0 * (i + 1) for i in range(5)]
    assert all(r["pixel_f1"] == r["atomic_f1"] == 1.0 for r in result.rows)
    assert [r["columns_true"] for r in result.rows] == [len(SITES[i % 3][0]) for i in range(5)]
    summary = {s["metric"]: s for s in result.summary}
    assert summary["atomic_f1"]["median"] == summary["atomic_f1"]["p10"] == 1.0
    assert summary["atomic_f1"]["perfect_fraction"] == 1.0 and summary["atomic_f1"]["images"] == 5

    shifted = evaluate(Oracle(folder, shift=3), folder, batch_size=3)
    overlap = (disc(24, 24) & disc(27, 24)).sum() / disc(24, 24).sum()
    assert all(r["atomic_f1"] == 1.0 and r["pixel_f1"] == pytest.approx(overlap) for r in shifted.rows)
    near = evaluate(Oracle(folder, shift=3), folder, radius=0.2)  # [Å]: 2 px at 0.1 Å/pixel
    assert all(r["atomic_f1"] == 0.0 for r in near.rows)
    assert {s["metric"]: s for s in near.summary}["atomic_f1"]["perfect_fraction"] == 0.0


def test_the_batch_size_does_not_change_the_scores(tmp_path):
    folder = write_set(tmp_path / "set", samples=4)
    model = saved_msdnet(tmp_path / "model")
    one = evaluate(model, folder, batch_size=1)
    four = evaluate(model, folder, batch_size=8)
    for a, b in zip(one.rows, four.rows):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-6) if a[key] is not None else b[key] is None


def test_summary_statistics_and_ranking_by_hand():
    rows = [{"index": i, "epoch": 0, "atomic_f1": f, "rmse": r}
            for i, (f, r) in enumerate([(1.0, 0.1), (0.8, 0.3), (1.0, 0.2), (0.5, 0.5), (0.9, 0.4)])]
    summary = {s["metric"]: s for s in summarise(rows)}
    assert set(summary) == {"atomic_f1", "rmse"}  # index and epoch describe, they do not score
    f1 = summary["atomic_f1"]
    assert (f1["mean"], f1["median"], f1["min"], f1["max"]) == pytest.approx((0.84, 0.9, 0.5, 1.0))
    assert f1["p10"] == pytest.approx(0.5 + 0.4 * 0.3)  # linear interpolation between the two lowest
    assert f1["perfect_fraction"] == 0.4 and summary["rmse"]["perfect_fraction"] is None
    assert summary["rmse"]["p90"] == pytest.approx(0.46)
    result = EvaluationResult(rows, summarise(rows), Path("set"), "Disk", "atomic_f1", [])
    assert [r["index"] for r in result.ranked()] == [0, 2, 4, 1, 3]  # ties keep file order
    assert {k: r["index"] for k, r in result.examples().items()} == {"best": 0, "median": 4, "worst": 3}
    by_rmse = EvaluationResult(rows, [], Path("set"), "Exitwave", "rmse", [])
    assert {k: r["index"] for k, r in by_rmse.examples().items()} == {"best": 0, "median": 1, "worst": 3}
    assert "atomic_f1" in result.table().splitlines()[1]
    result = doctest.testmod(evaluate_module)
    assert result.attempted > 0 and result.failed == 0


def test_temnn_evaluate_writes_tables_and_figures(tmp_path, capsys):
    folder = write_set(tmp_path / "images" / "disk", samples=3)
    model = saved_msdnet(tmp_path / "model")
    out = tmp_path / "out"
    assert main(["evaluate", model, str(folder), "--out", str(out), "--device", "cpu", "--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert "3 images" in printed and "atomic_f1" in printed
    names = {p.name for p in out.iterdir()}
    assert names == {"metrics.csv", "summary.csv", "histogram_atomic_f1.png", "histogram_pixel_f1.png",
                     "examples.png", "evaluation.json"}
    assert json.loads((out / "evaluation.json").read_text())["radius_angstrom"] == 1.0  # --radius is in Å
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "in Å, converted to pixels with each image's sampling (default 1 Å" in " ".join(capsys.readouterr().out.split())
    rows = read_csv(out / "metrics.csv")
    assert [int(r["index"]) for r in rows] == [0, 1, 2]
    assert [int(r["columns_true"]) for r in rows] == [len(SITES[i][0]) for i in range(3)]
    for r in rows:
        assert 0.0 <= float(r["pixel_f1"]) <= 1.0 and 0.0 <= float(r["atomic_f1"]) <= 1.0
        assert float(r["dose_e_per_angstrom2"]) > 0
    summary = {r["metric"]: r for r in read_csv(out / "summary.csv")}
    assert float(summary["atomic_f1"]["min"]) <= float(summary["atomic_f1"]["median"]) <= \
        float(summary["atomic_f1"]["max"])
    info = json.loads((out / "evaluation.json").read_text())
    assert info["images"] == 3 and info["label"] == "Disk" and set(info["examples"]) == {"best", "median", "worst"}
    for png in names - {"metrics.csv", "summary.csv", "evaluation.json"}:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_temnn_evaluate_exit_waves_and_ensembles(tmp_path):
    folder = write_set(tmp_path / "wave", "Exitwave", samples=2)
    first = saved_msdnet(tmp_path / "a", "Exitwave", channels_out=2, seed=0)
    second = saved_msdnet(tmp_path / "b", "Exitwave", channels_out=2, seed=1)
    out = tmp_path / "out"
    assert main(["evaluate", first, str(folder), "--out", str(out), "--ensemble", second, "--quiet",
                 "--device", "cpu"]) == 0
    assert {"histogram_rmse.png", "argand_median.png", "disagreement_median.png", "examples.png"} <= \
        {p.name for p in out.iterdir()}
    rows = read_csv(out / "metrics.csv")
    for r in rows:
        total, real, imag = (float(r[k]) for k in ("rmse", "rmse_real", "rmse_imag"))
        assert total == pytest.approx(np.hypot(real, imag), rel=1e-5)
        assert float(r["disagreement"]) > 0
    assert json.loads((out / "evaluation.json").read_text())["models"] == [first, second]


@pytest.mark.parametrize("case, message", [
    ("channels", "takes focal series of 3 image\\(s\\), the set has 1"),
    ("label", "trained on Mask labels, the set has Disk labels"),
    ("empty", "the image set is empty"),
    ("threshold", "--threshold must be a probability"),
])
def test_temnn_evaluate_errors_are_one_line(tmp_path, capsys, case, message):
    folder = write_set(tmp_path / "set", samples=1)
    model = saved_msdnet(tmp_path / "model")
    args = []
    if case == "channels":
        model = saved_msdnet(tmp_path / "series", channels_in=3)
    elif case == "label":
        model = saved_msdnet(tmp_path / "mask", "Mask", channels_out=1)
    elif case == "empty":
        for path in folder.glob("00000_00.*"):
            path.unlink()
    else:
        args = ["--threshold", "1.5"]
    assert main(["evaluate", model, str(folder), "--out", str(tmp_path / "out"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("temnn evaluate: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "out" / "metrics.csv").exists()


def test_a_model_that_does_not_fit_is_refused_before_any_work(tmp_path):
    folder = write_set(tmp_path / "set", samples=1)
    mask = saved_msdnet(tmp_path / "mask", "Mask", channels_out=1)
    with pytest.raises(TemnnError, match=r"mask: the model does not fit .*predicts 1 channel\(s\), the set's labels "
                                         r"have 3"):
        evaluate(mask, folder)
