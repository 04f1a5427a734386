"""`temnn demo --quick`: every stage of the pipeline runs from one command and writes a report."""

import csv

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
    assert all(0.0 <= float(r["atomic_f1"]) <= 1.0 for r in rows)


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
