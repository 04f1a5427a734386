"""`temnn demo --quick`: every stage of the pipeline runs from one command and writes a report."""

import csv
import statistics

import pytest

from temnn.cli import main
from temnn.cli.demo import demo_config


def test_quick_demo_runs_every_stage_and_writes_a_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--workers", "1"]) == 0
    report = (out / "report.md").read_text()
    # every step is listed as a command a user can re-run
    for command in ("temnn structures mos2", "temnn images", "temnn train", "temnn evaluate"):
        assert command in report
    for picture in ("train/preview.png", "model/learning_curve.png", "evaluation/examples.png"):
        assert (out / picture).exists() and picture in report
    # the best epoch is picked on a validation set of its own; the test set is only evaluated
    train_line = next(line for line in report.splitlines() if line.startswith("temnn train"))
    assert str(out / "validation" / "images" / "demo") in train_line and str(out / "test") not in train_line
    assert len(list((out / "validation" / "waves").iterdir())) == demo_config("disk", quick=True).n_val
    with open(out / "evaluation" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == demo_config("disk", quick=True).n_test
    for r in rows:  # atomic F1 is the harmonic mean of the precision and recall in the same row
        precision, recall = float(r["atomic_precision"]), float(r["atomic_recall"])
        harmonic = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert float(r["atomic_f1"]) == pytest.approx(harmonic, abs=1e-9)
    # the one-epoch model's median atomic F1 (match radius 1 Å) as measured on main before the package
    # layout changed (0.0404, 46ad706; the same after it); a pipeline that loses the sites, the labels
    # or the standardisation scores ~0 or far off
    median = statistics.median(float(r["atomic_f1"]) for r in rows)
    assert median == pytest.approx(0.0404, abs=0.015)


def test_full_demo_config_is_consistent():
    from temnn import Parameters

    for task in ("disk", "mask", "exitwave"):
        config = demo_config(task)
        Parameters.from_dict(config.parameters)  # validates
    assert demo_config("disk").goal == 0.9


def test_unknown_task_is_a_clear_error():
    from temnn import TemnnError

    with pytest.raises(TemnnError, match="--task must be one of"):
        demo_config("blob")
