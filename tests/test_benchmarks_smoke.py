"""Smoke modes of the benchmarks (``gpu.py --device cpu --smoke``, ``time_to_quality.py --smoke``), so they cannot rot."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import types
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu.py"


def _time_to_quality():
    """``benchmarks/time_to_quality.py`` as a module."""
    spec = importlib.util.spec_from_file_location("time_to_quality", SCRIPT.parent / "time_to_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_benchmark_smoke_mode(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "gpu.json"
    module.main(["--device", "cpu", "--smoke", "--output", str(output)])
    results = json.loads(output.read_text())
    sections = ("waves", "images", "training", "tiled_prediction", "time_to_quality")
    for name in sections:
        assert "error" not in results[name], results[name].get("traceback")
    assert results["waves"]["temnn_cpu_s"] > 0
    assert results["waves"]["atoms"] == 12  # orthogonal MoS2 cell: 2 formula units, repeated twice
    assert results["images"]["series_per_s"] > 0
    rows = {(row["arch"], row["amp"]): row["images_per_s"] for row in results["training"]}
    assert set(rows) == {(arch, amp) for arch in ("unet", "unetpp", "msdnet") for amp in (False, True)}
    assert all(math.isfinite(v) and v > 0 for v in rows.values())
    assert results["tiled_prediction"]["megapixels_per_s"] > 0
    curve = results["time_to_quality"]["curve_seconds_F1"]
    assert curve and all(0.0 <= f1 <= 1.0 for _, f1 in curve)
    assert [s for s, _ in curve] == sorted(s for s, _ in curve)


def test_time_to_quality_smoke_mode(tmp_path):
    module = _time_to_quality()
    output = tmp_path / "ttq.json"
    module.main(["--smoke", "--workers", "1", "--out", str(tmp_path / "work"), "--output", str(output)])
    results = json.loads(output.read_text())
    assert output.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert set(results["cases"]) == {"mos2_disk", "au_mask"}
    for entry in results["cases"].values():
        runs = {(run["arch"], run["recipe"]): run for run in entry["runs"]}
        assert set(runs) == {(arch, recipe) for arch in ("unet", "unetpp", "msdnet") for recipe in ("old", "new")}
        for run in runs.values():
            minutes = [point["minutes"] for point in run["curve"]]
            assert len(minutes) == results["epochs"] and minutes == sorted(minutes) and minutes[0] > 0
            assert all(0.0 <= point["metric"] <= 1.0 for point in run["curve"])
        assert "--schedule" in runs["unet", "new"]["options"] and "--schedule" not in runs["unet", "old"]["options"]
    mos2, au = (results["cases"][case]["runs"] for case in ("mos2_disk", "au_mask"))
    assert all(("--crop" in run["options"]) == (run["recipe"] == "new") for run in mos2)
    assert all("--crop" not in run["options"] and "--binning" in run["options"] for run in au)
    assert all(("--clip-grad" in run["options"]) == (run["recipe"] == "new") for run in au)


def test_learning_curve_is_kept_until_the_training_history_changes(tmp_path):
    module = _time_to_quality()
    results = module.main(["--smoke", "--case", "mos2_disk", "--arch", "unet", "--recipe", "old", "--workers", "1",
                           "--out", str(tmp_path / "work"), "--output", str(tmp_path / "ttq.json")])
    (model,) = (tmp_path / "work" / "smoke" / "mos2_disk" / "models").iterdir()
    (cache,) = model.glob("learning_curve-*.json")
    validation = Path(json.loads(cache.read_text())["validation"])
    for checkpoint in (model / "checkpoints").iterdir():  # a re-analysis must not need them
        checkpoint.unlink()
    assert module.learning_curve(model, validation, "Disk") == results["cases"]["mos2_disk"]["runs"][0]["curve"]
    later = cache.stat().st_mtime + 10  # a resumed training: the kept curve is out of date
    os.utime(model / "history.csv", (later, later))
    assert module.learning_curve(model, validation, "Disk") == []  # re-evaluated: no checkpoint left


def test_time_to_quality_full_scale_trains_publication_two_msdnet():
    module = _time_to_quality()
    size = module.SCALES_SETTINGS["full"]
    config, _ = module.case_setup("au_mask", size)
    msdnet = module.train_options("au_mask", config, "msdnet", "new", 512, size)
    shape = {msdnet[i]: msdnet[i + 1] for i in range(len(msdnet) - 1) if msdnet[i].startswith("--")}
    assert (shape["--layers"], shape["--kernel"], shape["--filters"], shape["--max-dilation"]) == ("50", "9", "1", "10")
    assert msdnet.count("--layers") == 1 and msdnet.count("--kernel") == 1
    demo_unet = module.network_options(config.train, "unet")  # the U-nets keep the demo's shape
    assert module.train_options("au_mask", config, "unet", "new", 512, size)[: len(demo_unet)] == demo_unet


def test_atomai_run_is_kept_and_reused(tmp_path, monkeypatch):
    module = _time_to_quality()
    monkeypatch.setitem(sys.modules, "atomai", types.SimpleNamespace(__version__="0.0-test"))
    calls = []

    def run(train_set, validation, label, passes):
        calls.append(passes)
        return {"curve": [{"epoch": 1, "minutes": 0.5, "metric": 0.25}], "best": 0.25, "passes": passes}

    monkeypatch.setattr(module, "atomai_run", run)
    first = module.cached_atomai_run(tmp_path, tmp_path / "train", tmp_path / "val", "Mask", 3)
    assert module.cached_atomai_run(tmp_path, tmp_path / "train", tmp_path / "val", "Mask", 3) == first
    assert calls == [3]  # the second call read the kept run
    module.cached_atomai_run(tmp_path, tmp_path / "train", tmp_path / "val", "Mask", 4)
    assert calls == [3, 4] and len(list(tmp_path.glob("atomai-*.json"))) == 2
