"""Named models: `temnn models`, load_model("NAME"), `temnn predict NAME`, and the beam-energy warning.

A tiny network made here stands in for a shipped model (none is shipped by the tests).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import temnn
from temnn.cli import main
from temnn.io.models import MODEL_PATH_ENV, find_model, list_models, warn_beam_energy
from temnn.nn.checkpoints import save_model
from temnn.nn.registry import build_model
from temnn.nn.tasks import task_for

REAL_EM = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-em"

INFO = {"material": "MoS2", "beam_energy": 50e3, "description": "3-image focal series → columns 1Mo / 2S / 1S",
        "quality": {"atomic_f1_median": 0.5}}


@pytest.fixture
def model_folder(tmp_path, monkeypatch):
    """A folder on TEMNN_MODEL_PATH holding one named model ('mos2-tiny') and one plain model card."""
    folder = tmp_path / "models"
    folder.mkdir()
    parameters = temnn.Parameters(label="Disk", image_size=(32, 32), sampling=(0.1, 0.11), multifocus=(3, 50.0, 1.0))
    network = build_model("unet", 3, 4, levels=1, filters=2)
    save_model(network, folder / "mos2-tiny", card={"parameters": parameters.to_dict(), "sampling": [0.1, 0.11],
                                                    "model_info": INFO})
    save_model(build_model("unet", 1, 2, levels=1, filters=2), folder / "not-named")  # no model_info: not listed
    monkeypatch.setenv(MODEL_PATH_ENV, str(folder))
    monkeypatch.chdir(tmp_path)  # bare names resolve against the working folder first
    return folder


def test_named_models_are_listed_found_and_loaded_by_name(model_folder, capsys):
    (info,) = [m for m in list_models() if m.stem.parent == model_folder]
    assert (info.name, info.label, info.material, info.beam_energy) == ("mos2-tiny", "Disk", "MoS2", 50e3)
    assert info.sampling == (0.1, 0.11) and info.focal_series == 3 and info.quality == INFO["quality"]
    assert find_model("mos2-tiny") == model_folder / "mos2-tiny"
    model = temnn.load_model("mos2-tiny")
    assert (model.in_channels, model.out_channels) == (3, 4) and model.card["model_info"] == INFO
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mos2-tiny" in out and "MoS2" in out and "0.1-0.11" in out and "not-named" not in out
    assert INFO["description"] in out


def test_an_unknown_name_lists_the_named_models(model_folder, capsys):
    with pytest.raises(temnn.TemnnError, match=r"no named model 'mos2' \(named models: .*mos2-tiny"):
        temnn.load_model("mos2")
    assert main(["predict", "mos2", "image.dm3"]) == 2
    assert "mos2-tiny" in capsys.readouterr().err.split("named models:")[1]


def test_a_file_or_folder_of_the_name_comes_first(model_folder, tmp_path):
    save_model(build_model("unet", 1, 2, levels=1, filters=2), tmp_path / "mos2-tiny")  # in the working folder
    assert temnn.load_model("mos2-tiny").in_channels == 1


def test_beam_energy_outside_the_training_energy_warns(model_folder):
    model = temnn.load_model("mos2-tiny")
    with pytest.warns(UserWarning, match=r"beam energy 300 keV, but the model was trained on images at 50 keV"):
        assert warn_beam_energy(model, 300e3, source="x.dm4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_beam_energy(model, 50.2e3, source="x.dm4")  # within 1 %
        assert not warn_beam_energy(model, None, source="x.dm4")  # not recorded
        assert not warn_beam_energy(temnn.load_model(model_folder / "not-named"), 300e3, source="x.dm4")


@pytest.mark.realdata
def test_predicting_a_real_300_kev_file_with_a_50_kev_model_warns_of_both_ranges(model_folder, tmp_path):
    path = REAL_EM / "multi_signal.dm3"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    parameters = temnn.Parameters(label="Disk", image_size=(32, 32), sampling=(0.1, 0.11))
    save_model(build_model("unet", 1, 4, levels=1, filters=2), model_folder / "mos2-single",
               card={"parameters": parameters.to_dict(), "sampling": [0.1, 0.11], "normalizedistance": 12.0,
                     "task": task_for(parameters).to_dict(), "model_info": INFO})
    data = temnn.ExperimentalData(path)  # 300 keV, 0.178 Å/pixel, 512²
    with pytest.warns(UserWarning) as caught:
        prediction = data.infer(temnn.load_model("mos2-single"), tile=256, overlap=16)
    messages = [str(w.message) for w in caught]
    assert any("beam energy 300 keV" in m and "50 keV" in m for m in messages)
    assert any("outside the model's training range" in m for m in messages)
    assert prediction.shape == (4, *data.shape) and np.isfinite(prediction).all()


@pytest.mark.parametrize("info", [m for m in list_models() if m.stem.parent.name == "models"], ids=lambda m: m.name)
def test_shipped_models_load_and_predict_with_their_card(info):
    # Every model shipped in the package: the card's model_info is complete, the weights match
    # the card (load_model checks the SHA-256), and it maps a focal series to its label channels.
    import numpy as np

    assert info.material and info.beam_energy and info.sampling and info.description
    assert {"metric", "median", "test_set"} <= set(info.quality)
    model = temnn.load_model(info.name)
    assert model.in_channels == info.focal_series
    series = np.random.default_rng(0).normal(1.0, 0.1, (info.focal_series, 64, 64)).astype(np.float32)
    out = temnn.predict(model, series, sampling=float(np.mean(info.sampling)))
    assert out.shape[-2:] == (64, 64) and out.shape[-3] == model.out_channels
    assert np.all(np.isfinite(out))


@pytest.mark.realdata
def test_shipped_mask_model_on_a_real_300_kev_file_warns_once_of_the_sampling(tmp_path, capsys):
    # multi_signal.dm3: 300 keV, 0.1775 Å/pixel, over twice as coarse as the model's 0.07-0.08 Å/pixel.
    path = REAL_EM / "multi_signal.dm3"
    if not path.is_file() or "au-ceo2-particle-mask" not in {m.name for m in list_models()}:
        pytest.skip("needs ../shared/data/real-em and the shipped au-ceo2-particle-mask model")
    assert main(["predict", "au-ceo2-particle-mask", str(path), "--out", str(tmp_path), "--quiet"]) == 0
    warnings_printed = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings_printed) == 1
    assert "sampling 0.1775 Å/pixel is outside the model's training range [0.07, 0.08]" in warnings_printed[0]
    assert "beam energy" not in warnings_printed[0]  # trained at 300 keV, as the file
    assert (tmp_path / "multi_signal" / "00000.tif").is_file()


@pytest.mark.realdata
def test_shipped_column_model_by_option_on_a_real_200_kev_stem_sequence_names_both_ranges(tmp_path, capsys):
    # 03_Scanning_Preview.emi: 5 frames at 200 keV, 3.84 Å/pixel; mos2-focal3-columns: 50 keV, 0.10-0.11 Å/pixel.
    # Its first 3 frames form one focal series: the beam energy is warned of, then the sampling
    # (over 4× coarser than the range) refused, each naming the file, the value and the model's.
    path = REAL_EM / "03_Scanning_Preview.emi"
    if not path.is_file() or "mos2-focal3-columns" not in {m.name for m in list_models()}:
        pytest.skip("needs ../shared/data/real-em and the shipped mos2-focal3-columns model")
    code = main(["predict", "--model", "mos2-focal3-columns", str(path), "--focal-series", "--out", str(tmp_path),
                 "--quiet"])
    warning, error = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert warning.startswith(f"temnn predict: warning: {path}: beam energy 200 keV")
    assert "trained on images at 50 keV" in warning
    assert error.startswith(f"temnn predict: error: {path}: sampling 3.844 Å/pixel")
    assert "training range [0.1, 0.11] Å/pixel" in error
    assert not (tmp_path / "03_Scanning_Preview" / "00000.tif").exists()
