"""ExperimentalData to and from HyperSpy signals; prediction files open in HyperSpy with their calibration.

HyperSpy is optional: these tests skip without it. HyperSpy's own reader (``hs.load``) is the
independent reference for the calibration and metadata of the real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")

import temnn  # noqa: E402
from temnn.errors import TemnnError  # noqa: E402

REAL_EM = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-em"


def _real(name: str) -> Path:
    path = REAL_EM / name
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return path


def test_a_hand_made_signal_in_pm_gives_the_sampling_in_angstrom_and_its_frames():
    rng = np.random.default_rng(0)
    data = rng.random((3, 20, 30)).astype(np.float32)  # (frame, y, x)
    signal = hs.signals.Signal2D(data)
    signal.axes_manager[1].scale, signal.axes_manager[1].units = 25.0, "pm"  # x
    signal.axes_manager[2].scale, signal.axes_manager[2].units = 25.0, "pm"  # y
    signal.axes_manager[0].scale, signal.axes_manager[0].units = 0.5, "s"
    signal.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 80.0)  # keV, HyperSpy's convention
    exp = temnn.ExperimentalData.from_hyperspy(signal, frame=2)
    assert exp.sampling == pytest.approx(0.25) and len(exp) == 3 and exp.shape == (30, 20)
    assert exp.beam_energy == pytest.approx(80e3) and exp.frame_interval == pytest.approx(0.5)
    np.testing.assert_array_equal(exp.image, data[2].T)  # temnn's (x, y) order
    back = exp.to_hyperspy()
    np.testing.assert_array_equal(back.data, data)
    assert [(ax.scale, ax.units) for ax in back.axes_manager.signal_axes] == [(0.025, "nm"), (0.025, "nm")]
    assert (back.axes_manager[0].scale, back.axes_manager[0].units) == (0.5, "s")
    assert back.metadata.Acquisition_instrument.TEM.beam_energy == 80.0


def test_a_signal_without_calibration_or_of_the_wrong_dimension_is_refused():
    with pytest.raises(TemnnError, match="no length calibration"):
        temnn.ExperimentalData.from_hyperspy(hs.signals.Signal2D(np.zeros((8, 8))))
    assert temnn.ExperimentalData.from_hyperspy(hs.signals.Signal2D(np.zeros((8, 8))), sampling=0.1).sampling == 0.1
    with pytest.raises(TemnnError, match="expected a HyperSpy Signal2D"):
        temnn.ExperimentalData.from_hyperspy(hs.signals.Signal1D(np.zeros(8)))


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["multi_signal.dm3", "fei_example_tem_stack.emd"])
def test_real_files_through_hyperspy_match_temnns_own_reader(name):
    path = _real(name)
    own = temnn.ExperimentalData(path)
    loaded = hs.load(path)
    signal = next(s for s in (loaded if isinstance(loaded, list) else [loaded]) if s.axes_manager.signal_dimension == 2)
    via = temnn.ExperimentalData.from_hyperspy(signal)
    assert via.sampling == pytest.approx(own.sampling) and via.beam_energy == pytest.approx(own.beam_energy)
    assert len(via) == len(own)
    np.testing.assert_array_equal(via.image, own.image)
    # and back: HyperSpy sees the calibration and metadata of the file
    back = own.to_hyperspy()
    assert back.axes_manager.signal_axes[0].scale == pytest.approx(own.sampling / 10)
    assert back.axes_manager.signal_axes[0].units == "nm"
    assert back.metadata.Acquisition_instrument.TEM.beam_energy == pytest.approx(own.beam_energy / 1e3)
    again = temnn.ExperimentalData.from_hyperspy(back)
    assert again.conversion_factor == own.conversion_factor and again.acquisition_date == own.acquisition_date
    np.testing.assert_array_equal(again.image, own.image)


def test_prediction_tiffs_open_in_hyperspy_with_their_calibration(tmp_path):
    import tifffile

    from temnn.workflows.predict import predict_files
    from temnn.nn.checkpoints import save_model
    from temnn.nn.registry import build_model
    from temnn.nn.tasks import task_for

    parameters = temnn.Parameters(label="Disk", image_size=(32, 32), sampling=(0.1, 0.11))
    save_model(build_model("unet", 1, 4, levels=1, filters=2), tmp_path / "model",
               card={"parameters": parameters.to_dict(), "sampling": [0.1, 0.11], "normalizedistance": 12.0,
                     "task": task_for(parameters).to_dict()})
    tifffile.imwrite(tmp_path / "image.tif", np.random.default_rng(1).random((40, 48)).astype(np.float32))
    predict_files(tmp_path / "model", [tmp_path / "image.tif"], out=tmp_path / "out", sampling=0.105,
                  progress=False)
    prediction = hs.load(tmp_path / "out" / "image" / "00000.tif")
    x, y = prediction.axes_manager.signal_axes
    assert (x.size, y.size) == (48, 40) and prediction.data.shape[-2:] == (40, 48)
    assert x.scale == pytest.approx(0.0105) and y.scale == pytest.approx(0.0105)
    assert x.units == "nm" and y.units == "nm"
