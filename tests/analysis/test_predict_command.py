"""``temnn predict`` end to end on real files with a tiny random-init model saved by temnn.

The predictions are meaningless; what is checked is the files: one per frame, calibrated like
the input, resumable, and clear errors for bad files and mismatched models.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from temnn.analysis.experimental import ExperimentalData
from temnn.cli import main
from temnn.nn import MSDNet, Task, load_model, save_model

from .test_io import raw_signal, real_em  # noqa: F401  (fixture)

pytestmark = pytest.mark.realdata


def saved_model(folder, *, in_channels=1, sampling=(3.0, 4.0)):
    """A random-init MSD-net saved with a card (task, training sampling range, standardisation width)."""
    torch.manual_seed(0)
    net = MSDNet(in_channels, 2, layers=3, kernel=3, max_dilation=2)
    card = {"task": Task("Disk", 2, "softmax").to_dict(), "sampling": list(sampling), "normalizedistance": 12.0}
    return str(save_model(net, folder / "model", card))


def run(*argv):
    return main(["predict", *map(str, argv), "--quiet"])


def test_predict_a_stack_writes_calibrated_frames_and_resumes(real_em, tmp_path):
    source = real_em / "03_Scanning_Preview.emi"  # 5 STEM frames, 128 × 128 px at 3.84 Å/px
    model = saved_model(tmp_path)
    out = tmp_path / "out"
    assert run(model, source, "--out", out, "--tile", 64, "--overlap", 16, "--format", "both", "--overviews", 4) == 0
    folder = out / "03_Scanning_Preview"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["00000.npz", "00000.png", "00000.tif", "00001.npz", "00001.tif", "00002.npz", "00002.tif",
                     "00003.npz", "00003.tif", "00004.npz", "00004.png", "00004.tif", "prediction.json"]
    # TIFF: (K, ny, nx), calibrated in nm exactly as the source's axes say (independent reader)
    source_axes = raw_signal(source)["axes"]
    tif = raw_signal(folder / "00003.tif")
    assert tif["data"].shape == (2, 128, 128)
    for axis in tif["axes"][1:]:
        assert axis["units"] == "nm" and axis["scale"] == pytest.approx(source_axes[2]["scale"], rel=1e-6)
    npz = np.load(folder / "00003.npz")
    np.testing.assert_array_equal(tif["data"].transpose(0, 2, 1), npz["prediction"])
    assert float(npz["sampling"]) == pytest.approx(3.843524875) and int(npz["frame"]) == 3
    expected = ExperimentalData(source, frame=3).infer(load_model(model), tile=64, overlap=16)
    np.testing.assert_allclose(npz["prediction"], expected, atol=1e-6)
    assert ExperimentalData(folder / "00003.tif").sampling == pytest.approx(3.843524875, rel=1e-6)
    info = json.loads((folder / "prediction.json").read_text())
    assert info["frames"] == 5 and info["acquisition"]["beam_energy"] == 200e3
    assert info["model"]["training_sampling_angstrom"] == [3.0, 4.0]

    # resume: finished frames are skipped, a missing one is redone
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("0000*")}
    (folder / "00001.tif").unlink()
    assert run(model, source, "--out", out, "--tile", 64, "--overlap", 16, "--format", "both", "--overviews", 4) == 0
    assert (folder / "00001.tif").is_file()
    assert all((folder / n).stat().st_mtime_ns == t for n, t in stamps.items() if not n.startswith("00001"))


def test_corrupt_file_is_reported_without_a_traceback(real_em, tmp_path, capsys):
    model = saved_model(tmp_path)
    broken = tmp_path / "broken.dm3"
    broken.write_bytes(os.urandom(3000))
    assert run(model, broken, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "broken.dm3: cannot read" in err and "Traceback" not in err
    # with several files the good ones are done and the bad one named at the end
    good = real_em / "64x64x5_TEM_preview.emi"  # 62.8 Å/px: a model for that sampling
    coarse = saved_model(tmp_path / "coarse", sampling=(60.0, 70.0))
    assert run(coarse, broken, good, "--out", tmp_path / "out", "--tile", 64, "--overlap", 16) == 2
    err = capsys.readouterr().err
    assert "1 of 2 file(s) could not be predicted" in err and str(broken) in err and "Traceback" not in err
    assert len(list((tmp_path / "out" / "64x64x5_TEM_preview").glob("*.tif"))) == 5


def test_channel_mismatch_is_a_clear_error(real_em, tmp_path, capsys):
    model = saved_model(tmp_path, in_channels=3, sampling=(60.0, 70.0))
    assert run(model, real_em / "64x64x5_TEM_preview.emi", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "expects a focal series of 3 image(s)" in err and "--focal-series" in err
    assert not list((tmp_path / "out").rglob("*.tif"))


def test_png_needs_sampling(real_em, tmp_path, capsys):
    model = saved_model(tmp_path, sampling=(0.08, 0.12))
    png = real_em / "AtomSegNet_12965.png"
    assert run(model, png, "--out", tmp_path / "out") == 2
    assert "no length calibration" in capsys.readouterr().err
    assert run(model, png, "--out", tmp_path / "out", "--sampling", 0.1, "--format", "npz", "--overviews", 0) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "AtomSegNet_12965").iterdir()) == ["00000.npz", "prediction.json"]
