"""``--scale smoke`` of the three publication benchmarks (``benchmarks/science/pub{1,2,3}_*.py``), so they cannot rot.

Each runs its whole path (structures, images, training, evaluation, analysis, figures) at toy
sizes, with the results JSON and figures written to a temporary folder instead of
``benchmarks/results``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCIENCE = Path(__file__).parents[1] / "benchmarks" / "science"


@pytest.mark.parametrize("script, name, table", [("pub1_exit_wave.py", "pub1", "median"),
                                                 ("pub2_dose_series.py", "pub2", "limits"),
                                                 ("pub3_focal_series.py", "pub3", "atomic_f1")])
def test_science_benchmark_smoke_scale(script, name, table, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCIENCE))
    spec = importlib.util.spec_from_file_location(f"science_{name}", SCIENCE / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    common = sys.modules["_common"]
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "FIGURES", tmp_path / "results" / "science")
    monkeypatch.setattr(sys, "argv", [script, "--scale", "smoke", "--threads", "1", "--workers", "1",
                                      "--out", str(tmp_path / "work")])
    assert module.main() == 0
    results = json.loads((tmp_path / "results" / f"science_{name}_smoke.json").read_text())
    assert results["scale"] == "smoke"
    assert results[table] and results["comparison"]  # its numbers and the paper-against-temnn table
    figures = sorted((tmp_path / "results" / "science").glob(f"{name}_smoke_*.png"))
    assert figures and all(f.read_bytes()[:4] == b"\x89PNG" for f in figures)


def test_pub3_finetune_continues_an_on_the_fly_model(tmp_path, monkeypatch):
    from test_onthefly import GRID, write_params, write_waves

    from temnn.cli import main as temnn

    monkeypatch.syspath_prepend(str(SCIENCE))
    spec = importlib.util.spec_from_file_location("science_pub3_finetune", SCIENCE / "pub3_finetune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    common = sys.modules["_common"]
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "FIGURES", tmp_path / "results" / "science")
    data, val, test = (write_waves(tmp_path / name, [GRID] * n) for name, n in (("data", 4), ("val", 2), ("test", 2)))
    params = write_params(tmp_path / "p.json", log_dose=[4, 5])
    for folder in (val, test):
        assert temnn(["images", str(folder), str(params), "--test", "--no-progress"]) == 0
    base = tmp_path / "work" / "paper" / "models" / "unetpp-series2"
    assert temnn(["train", "2", str(data), str(val / "images" / "p"), str(base), "--on-the-fly", str(params),
                  "--arch", "unetpp", "--levels", "1", "--filters", "4", "--kernel", "3", "--block-layers", "2",
                  "--batch-size", "2", "--epochsave", "1", "--device", "cpu", "--quiet"]) == 0
    assert module.main(["--base", str(base), "--test", str(test / "images" / "p"), "--epochs", "2",
                        "--threads", "1", "--scale", "smoke"]) == 0
    results = json.loads((tmp_path / "results" / "science_pub3_finetune_smoke.json").read_text())
    base_row, tuned_row = results["atomic_f1"]
    assert (base_row["epochs"], tuned_row["epochs"]) == (2, 4) and tuned_row["test_series"] == 2
    assert base_row["model"] == "U-net++, 2 epochs"  # named from the base model's card
    tuned = tmp_path / "work" / "paper" / "finetune" / "unetpp-series2-ft2-lr0.0003"
    card = json.loads((tuned / "best.json").read_text())
    assert card["training"]["init"]["model"] == str(base / "best")
    # the fine-tuning draws other images than the base run: its parameters file's seed + 10
    assert json.loads(Path(card["training"]["options"]["on_the_fly"]).read_text())["seed"] == 11 + 10
    figure = tmp_path / "results" / "science" / "pub3_finetune_smoke_learning_curves.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
    # a second round counts the epochs of the whole chain of fine-tunings
    assert module.main(["--base", str(tuned), "--test", str(test / "images" / "p"), "--epochs", "2",
                        "--threads", "1", "--scale", "smoke2"]) == 0
    rows = json.loads((tmp_path / "results" / "science_pub3_finetune_smoke2.json").read_text())["atomic_f1"]
    assert [row["epochs"] for row in rows] == [4, 6]
