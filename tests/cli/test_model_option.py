"""``--model NAME_OR_PATH`` of ``temnn predict`` and ``temnn evaluate``: the same as the first argument MODEL.

The two forms must give the same files; giving the model twice, or not at all, is a one-line
error naming ``--model`` and both accepted forms. The positional form keeps letting options
stand between MODEL and the files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from analysis._simulated_sets import write_set
from temnn.cli import main
from temnn.io.models import list_models
from temnn.nn import Task, UNet, save_model

SHIPPED = "mos2-focal3-columns"


@pytest.fixture
def focal_series(tmp_path: Path) -> Path:
    """An uncalibrated 3-frame TIFF (one focal series, 48 × 40 px) for the 3-image column model."""
    frames = np.random.default_rng(0).normal(1.0, 0.1, (3, 48, 40)).astype(np.float32)
    path = tmp_path / "series.tif"
    tifffile.imwrite(path, frames, photometric="minisblack")
    return path


def _tiny_model(path: Path) -> Path:
    """A random-init Disk U-net with its card; returns the .json card."""
    torch.manual_seed(0)
    net = UNet(1, 3, levels=1, filters=2, kernel=3, block_layers=1)
    card = {"task": Task("Disk", 3, "softmax").to_dict(), "sampling": [0.05, 0.2], "normalizedistance": 1.0}
    return save_model(net, path, card).with_suffix(".json")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_predict_model_option_gives_the_files_of_the_positional_form(focal_series, tmp_path):
    if SHIPPED not in {m.name for m in list_models()}:
        pytest.skip(f"the shipped model {SHIPPED} is not installed")
    common = ["--sampling", "0.105", "--focal-series", "--quiet"]
    assert main(["predict", SHIPPED, str(focal_series), "--out", str(tmp_path / "positional"), *common]) == 0
    assert main(["predict", "--out", str(tmp_path / "option"), "--model", SHIPPED, str(focal_series), *common]) == 0
    positional, option = _files(tmp_path / "positional"), _files(tmp_path / "option")
    assert set(positional) == {"series/00000.tif", "series/00000.png", "series/prediction.json"}
    assert option == positional  # byte for byte: prediction, overview and description
    assert f"models/{SHIPPED}".encode() in positional["series/prediction.json"]


def test_predict_positional_model_still_takes_options_before_the_files(focal_series, tmp_path):
    model = _tiny_model(tmp_path / "model")
    single = tmp_path / "frame.tif"
    tifffile.imwrite(single, tifffile.imread(focal_series)[0])
    # MODEL, then options, then FILES: as before --model existed
    assert main(["predict", str(model), "--out", str(tmp_path / "a"), "--sampling", "0.1", str(single), "--quiet"]) == 0
    assert main(["predict", "--model", str(model), str(single), "--out", str(tmp_path / "b"), "--sampling", "0.1",
                 "--quiet"]) == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_evaluate_model_option_gives_the_table_of_the_positional_form(tmp_path):
    data = write_set(tmp_path / "set", "Disk", samples=2)
    model = _tiny_model(tmp_path / "model")
    assert main(["evaluate", str(model), str(data), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["evaluate", "--model", str(model), str(data), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    a, b = (tmp_path / "a" / "metrics.csv").read_text(), (tmp_path / "b" / "metrics.csv").read_text()
    assert a == b and len(a.splitlines()) == 3  # header + 2 images


@pytest.mark.parametrize("argv, expected", [
    pytest.param(["predict"], ["--model: no model given", "temnn predict --model NAME_OR_PATH FILES...",
                               "temnn predict MODEL FILES..."], id="predict-nothing"),
    pytest.param(["predict", "{series}"], ["--model: no model given", "temnn predict MODEL FILES..."],
                 id="predict-only-a-file"),
    pytest.param(["predict", "{series}", "{series}"], ["--model: no model given"], id="predict-only-files"),
    pytest.param(["predict", "--model", "{model}", "{model}", "{series}"],
                 ["--model: the model is given twice", "give it once", "temnn predict --model NAME_OR_PATH FILES..."],
                 id="predict-both"),
    pytest.param(["predict", "--model", SHIPPED, SHIPPED, "{series}"], ["--model: the model is given twice"],
                 id="predict-both-named"),
    pytest.param(["predict", "--model", "{model}"], ["FILES: no microscope file given", "--model NAME_OR_PATH"],
                 id="predict-model-option-without-files"),
    pytest.param(["predict", "{model}"], ["FILES: no microscope file given", "temnn predict MODEL FILES..."],
                 id="predict-model-without-files"),
    pytest.param(["evaluate", "{folder}"], ["--model: no model given", "temnn evaluate --model NAME_OR_PATH DATA",
                                            "temnn evaluate MODEL DATA"], id="evaluate-no-model"),
    pytest.param(["evaluate", "--model", "{model}", "{model}", "{folder}"],
                 ["--model: the model is given twice", "temnn evaluate MODEL DATA"], id="evaluate-both"),
])
def test_the_model_given_twice_or_not_at_all_is_a_one_line_error(argv, expected, focal_series, tmp_path, capsys):
    model = _tiny_model(tmp_path / "model")
    names = {"series": str(focal_series), "model": str(model), "folder": str(tmp_path)}
    code = main([a.format(**names) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"temnn {argv[0]}: error: ")
    for fragment in expected:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert not (tmp_path / "predictions").exists() and not (tmp_path / "evaluation").exists()
