"""ExperimentalData: attributes from real files, frames, dose, standardisation, crop + FFT, inference, plots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temnn import ExperimentalData
from temnn.nn.inference import predict
from temnn.errors import TemnnError
from temnn.nn import MSDNet

from .test_io import real_em  # noqa: F401  (fixture)
from .test_tiling import with_card


def write_tiff(path, image_xy: np.ndarray, sampling: float):
    """A TIFF calibrated in nm (ImageJ + DM tags, as RosettaSciIO writes them) of an (nx, ny) image."""
    from rsciio.tiff import file_writer

    nx, ny = image_xy.shape
    axes = [{"name": "y", "size": ny, "scale": sampling / 10, "offset": 0.0, "units": "nm", "navigate": False},
            {"name": "x", "size": nx, "scale": sampling / 10, "offset": 0.0, "units": "nm", "navigate": False}]
    file_writer(str(path), {"data": np.ascontiguousarray(image_xy.T.astype(np.float32)), "axes": axes, "metadata": {}})
    return path


def tiny_model(in_channels=1, sampling=None):
    torch.manual_seed(0)
    return with_card(MSDNet(in_channels, 2, layers=3, kernel=3, max_dilation=2), sampling=sampling)


# ------------------------------------------------------------------------ reading
@pytest.mark.realdata
def test_uncalibrated_png_needs_an_explicit_sampling(real_em):
    path = real_em / "AtomSegNet_Si110_5nmX25us_03_none_none.png"
    with pytest.raises(TemnnError, match=r"AtomSegNet_Si110.*no length calibration.*sampling="):
        ExperimentalData(path)
    data = ExperimentalData(path, sampling=0.1)
    assert data.sampling == 0.1 and data.shape == (512, 512) and len(data) == 1
    assert data.beam_energy is None and data.conversion_factor is None and data.acquisition_date is None


@pytest.mark.realdata
def test_velox_attributes(real_em):
    data = ExperimentalData(real_em / "fei_example_tem_stack.emd")
    assert data.sampling == pytest.approx(0.0817288, rel=1e-6)
    assert data.beam_energy == 300e3 and data.exposure_time == pytest.approx(0.8)
    assert data.detector == "BM-Ceta" and data.microscope == "Titan"
    assert data.frame_interval == pytest.approx(0.8) and len(data) == 2
    assert data.metadata["General"]["title"] == "Ceta"
    assert data.original_metadata["Optics"]["AccelerationVoltage"] == "300000"
    assert "2 frame(s) of 3×3 px" in repr(data)


@pytest.mark.realdata
def test_frames_iteration_and_selection(real_em):
    path = real_em / "03_Scanning_Preview.emi"
    data = ExperimentalData(path)
    frames = list(data)
    assert len(frames) == len(data) == 5
    for i, frame in enumerate(frames):
        assert frame.shape == (128, 128) and frame.dtype == np.float32
        np.testing.assert_array_equal(frame, data.frame(i))
    assert not np.array_equal(frames[0], frames[4])
    np.testing.assert_array_equal(ExperimentalData(path, frame=3).image, frames[3])
    assert ExperimentalData(path, frame=-1).frame_index == 4
    with pytest.raises(TemnnError, match=r"frame must be an integer in \[0, 5\)"):
        ExperimentalData(path, frame=5)


# --------------------------------------------------------------------------- dose
def test_compute_dose_of_a_poisson_vacuum(tmp_path):
    dose, sampling, factor = 150.0, 0.5, 2.5  # [e⁻/Å²], [Å/pixel], [counts/e⁻]
    electrons = np.random.default_rng(4).poisson(dose * sampling**2, (128, 96))
    data = ExperimentalData(write_tiff(tmp_path / "vacuum.tif", factor * electrons, sampling))
    result = data.compute_dose((10, 8), (100, 80), conversion_factor=factor)
    assert result.electrons_per_pixel == pytest.approx(dose * sampling**2, rel=0.01)  # 37.5 e⁻, σ/mean 0.2 %
    assert result.dose == pytest.approx(dose, rel=0.01)
    assert result.counts_per_pixel == pytest.approx(factor * result.electrons_per_pixel)
    assert result.dose_rate is None  # no exposure time in this file
    with pytest.raises(TemnnError, match="no detector conversion factor.*conversion_factor="):
        data.compute_dose((0, 0), 10)
    with pytest.raises(TemnnError, match="does not fit in the 128×96 px frame"):
        data.compute_dose((100, 0), 40, conversion_factor=factor)
    with pytest.raises(TemnnError, match="conversion_factor"):
        data.compute_dose((0, 0), 10, conversion_factor=-1.0)


@pytest.mark.realdata
def test_compute_dose_uses_the_velox_conversion_factor(real_em):
    data = ExperimentalData(real_em / "fei_example_tem_stack.emd")
    counts_to_electrons = 0.835766  # Detectors[BM-Ceta].CountsToElectrons [e⁻/count]
    expected = data.image[:2, :2].mean() * counts_to_electrons / data.sampling**2
    result = data.compute_dose((0, 0), 2)
    assert result.dose == pytest.approx(expected, rel=1e-5)
    assert result.dose_rate == pytest.approx(expected / 0.8, rel=1e-5)


# ------------------------------------------------------------- standardise, crop, FFT
def test_local_standardise_removes_gain_and_offset(tmp_path):
    texture = np.random.default_rng(5).gamma(4.0, 10.0, (96, 64))
    a = ExperimentalData(write_tiff(tmp_path / "a.tif", texture, 0.1))
    b = ExperimentalData(write_tiff(tmp_path / "b.tif", 3 * texture + 200, 0.1))
    sa, sb = a.local_standardise(normalizedistance=1.0), b.local_standardise(normalizedistance=1.0)
    assert sa.shape == (96, 64)
    np.testing.assert_allclose(sa, sb, atol=2e-3)
    assert abs(sa.mean()) < 0.05 and 0.8 < sa.std() < 1.2


def test_crop_and_fft_show_the_lattice_of_the_region(tmp_path):
    sampling, period = 0.5, 4.0  # [Å/pixel], [Å] along x
    nx = ny = 160
    x = np.arange(nx)[:, None] * sampling
    y = np.arange(ny)[None, :] * sampling
    disc = (x - 40) ** 2 + (y - 38) ** 2 < 20**2
    image = 100 + np.where(disc, 20 * np.cos(2 * np.pi * x / period), 0)
    data = ExperimentalData(write_tiff(tmp_path / "particle.tif", image, sampling))
    with pytest.raises(TemnnError, match="give a mask, or run infer"):
        data.crop()
    with pytest.raises(TemnnError, match="mask is empty"):
        data.crop(np.zeros((nx, ny), bool))
    cropped = data.crop(disc)
    ix, iy = np.nonzero(disc)
    assert cropped.shape == (np.ptp(ix) + 1, np.ptp(iy) + 1)
    np.testing.assert_array_equal(cropped, data.image[ix.min():ix.max() + 1, iy.min():iy.max() + 1])
    spectrum = data.fft(sigma=2.0)
    size = spectrum.shape[0]
    centre = size // 2
    k = np.arange(size) - centre
    spectrum[np.hypot(k[:, None], k[None, :]) < 4] = 0  # the window's own transform
    px, py = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    q = np.array([px - centre, py - centre]) / (size * sampling)  # [1/Å]
    assert abs(abs(q[0]) - 1 / period) <= 1 / (size * sampling) and q[1] == 0


# ------------------------------------------------------------------ inference, plot
@pytest.mark.realdata
def test_infer_crop_and_plot(real_em, tmp_path):
    data = ExperimentalData(real_em / "AtomSegNet_12965.png", sampling=0.1)
    prediction = data.infer(tiny_model(sampling=(0.08, 0.12)), tile=128, overlap=32)
    assert prediction.shape == (2, 256, 256) and data.prediction is prediction
    np.testing.assert_allclose(prediction.sum(axis=0), 1, atol=1e-5)  # softmax
    assert data.crop(threshold=-1.0).shape == (256, 256)  # every pixel above the threshold
    fig, axes = data.plot(path=tmp_path / "overview.png")
    assert len(axes) == 2 and (tmp_path / "overview.png").is_file()
    bar = axes[0].artists[0]
    assert bar.size_bar.get_children()[0].get_width() == pytest.approx(50)  # 5 nm bar at 0.1 Å/px on 256 px


@pytest.mark.realdata
def test_infer_frames_streams_the_stack(real_em):
    data = ExperimentalData(real_em / "03_Scanning_Preview.emi")
    model = tiny_model(sampling=(3.0, 4.0))
    stream = data.infer_frames(model, tile=64, overlap=16)
    indices = []
    for index, prediction in stream:
        indices.append(index)
        if index == 3:
            np.testing.assert_allclose(prediction, ExperimentalData(data.path, frame=3).infer(model, tile=128),
                                       atol=1e-5)
    assert indices == [0, 1, 2, 3, 4]


@pytest.mark.realdata
def test_focal_series_from_a_stack(real_em):
    data = ExperimentalData(real_em / "64x64x5_TEM_preview.emi")
    model = tiny_model(in_channels=2)
    with pytest.raises(TemnnError, match=r"focal series of 2 image\(s\).*data give 1"):
        data.infer(model)
    with pytest.raises(TemnnError, match="focal series"):
        data.infer_frames(model)  # checked at once, not at the first frame
    results = dict(data.infer_frames(model, focal_series=True))
    assert sorted(results) == [0, 2]  # 5 frames: series (0, 1) and (2, 3)
    expected = predict(model, np.stack([data.frame(2), data.frame(3)]), sampling=data.sampling, tile=512, resample=True)
    np.testing.assert_allclose(results[2], expected, atol=1e-6)
