"""``benchmarks/gpu.py --device cpu --smoke`` runs every section, so the GPU benchmark cannot rot."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu.py"


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
