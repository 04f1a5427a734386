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
