"""SimulatedData on hand-built images: loading, standardisation, inference and scores against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import temnn
from temnn import TemnnError
from temnn.io.files import save_npz
from temnn.analysis.simulated import SimulatedData
from temnn.nn import MSDNet, Task, save_model

from ._simulated_sets import RADIUS, SAMPLING, SITES, SIZE, Oracle, disc, write_set



def test_load_defaults_to_the_set_parameters_and_the_image_json(tmp_path):
    folder = write_set(tmp_path / "images" / "disk", channels=3)
    data = temnn.SimulatedData(folder / "00001_00.npz")
    assert data.image.shape == (3, SIZE, SIZE) and data.label.shape == (3, SIZE, SIZE)
    assert data.sampling == SAMPLING and data.origin == (0.0, 0.0)
    assert (data.index, data.epoch) == (1, 0)
    assert data.dose == 2000.0 and data.defocus == (10.0, 30.0, 50.0)
    assert data.parameters.label == "Disk" and data.class_channels == [0, 1]
    assert data.class_names == ["class0", "class1"]  # no stored sites
    # explicit files give the same
    other = SimulatedData(folder / "00001_00.npz", folder / "parameters.json", folder / "00001_00.json")
    np.testing.assert_array_equal(other.image, data.image)
    assert other.microscope == data.microscope


def test_local_standardise_with_a_wide_window_is_the_global_standard_score(tmp_path):
    folder = write_set(tmp_path / "set")
    data = SimulatedData(folder / "00000_00.npz")
    data.parameters = data.parameters.replace(normalizedistance=1e4)  # 1 µm window on a 4.8 Å image
    out = data.local_standardise()
    expected = (data.image - data.image.mean()) / data.image.std()
    assert out.dtype == np.float32 and out.shape == data.image.shape
    np.testing.assert_allclose(out, expected, atol=2e-4)
    assert data.cp_local_standardise is not None and data.standardised is out


def test_oracle_scores_perfectly_and_counts_the_drawn_columns(tmp_path):
    folder = write_set(tmp_path / "set")
    data = SimulatedData(folder / "00000_00.npz")
    prediction = data.infer(Oracle(folder))
    assert prediction.shape == (3, SIZE, SIZE) and np.allclose(prediction.sum(0), 1, atol=1e-5)  # softmax
    pixels = data.f1_score()
    assert pixels.f1 == 1.0 and set(pixels.per_class) == {0, 1}
    assert data.get_f1_score().f1 == 1.0
    disc_pixels = disc(24, 24).sum()
    assert pixels.overall.tp == len(SITES[0][0]) * disc_pixels  # every disc pixel, no background
    columns = data.atomic_f1(radius=1.0)  # 10 px at 0.1 Å/pixel
    assert columns.overall.f1 == 1.0 and columns.overall.tp == len(SITES[0][0])
    assert columns.per_class[0].tp == 3 and columns.per_class[1].tp == 2


def test_a_shift_of_three_pixels_keeps_atomic_f1_at_1_angstrom_and_loses_it_at_0_2(tmp_path):
    folder = write_set(tmp_path / "set")
    data = SimulatedData(folder / "00000_00.npz")
    data.infer(Oracle(folder, shift=3))
    # closed form: each disc overlaps its copy shifted by 3 px in |D ∩ (D + 3)| pixels, FP = FN = |D| − that
    overlap = (disc(24, 24) & disc(27, 24)).sum() / disc(24, 24).sum()
    assert data.f1_score().f1 == pytest.approx(overlap)
    assert 0 < overlap < 1
    # 0.1 Å/pixel: the radius in Å is radius / 0.1 pixels
    assert data.atomic_f1().overall.f1 == 1.0  # default 1 Å = 10 px
    assert data.atomic_f1(radius=0.2).overall.f1 == 0.0
    assert data.atomic_f1(radius=0.35).overall.f1 == 1.0  # 3 px is inside 3.5 px


def test_metrics_row_of_a_disk_image_names_classes_from_the_stored_sites(tmp_path):
    folder = write_set(tmp_path / "images" / "disk")
    sites, classes = SITES[2]
    save_npz(tmp_path / "sites" / "00002.npz", sites=np.asarray(sites, float) * SAMPLING, classes=np.asarray(classes),
             class_names=np.asarray(["Mo", "S2"]), mask_classes=np.zeros(0, np.int64))
    data = SimulatedData(folder / "00002_00.npz")
    data.infer(Oracle(folder))
    row = data.metrics_row()
    assert data.class_names == ["Mo", "S2"]
    assert row["index"] == 2 and row["epoch"] == 0 and row["dose_e_per_angstrom2"] == 3000.0
    assert row["defocus_angstrom"] == 20.0 and row["sampling_angstrom"] == SAMPLING
    assert row["pixel_f1_Mo"] == 1.0 and row["atomic_f1_Mo"] == 1.0
    # class S2 is in neither label nor prediction of this image: no evidence, not a perfect score
    assert row["pixel_f1_S2"] is None and row["atomic_f1_S2"] is None
    assert row["columns_true"] == row["columns_predicted"] == 1


def test_mask_area_and_exit_wave_rmse_have_closed_forms(tmp_path):
    mask = SimulatedData(write_set(tmp_path / "mask", "Mask") / "00001_00.npz")
    mask.infer(Oracle(tmp_path / "mask", shift=5))
    row = mask.metrics_row()
    pixel_area = (SAMPLING / 10) ** 2  # [nm²]
    assert row["area_true_nm2"] == pytest.approx(20 * 20 * pixel_area)
    assert row["area_predicted_nm2"] == pytest.approx(20 * 20 * pixel_area)  # shifted, still inside the image
    assert row["pixel_f1"] == pytest.approx(15 / 20)  # a 20-px-long mask shifted by 5 px along x

    folder = write_set(tmp_path / "wave", "Exitwave")
    wave = SimulatedData(folder / "00000_00.npz")
    wave.infer(Oracle(folder))
    assert wave.rmse().total == 0.0
    wave.infer(Oracle(folder, offset=(0.03, -0.04)))
    error = wave.rmse()
    assert (error.real, error.imag, error.total) == pytest.approx((0.03, 0.04, 0.05), rel=1e-5)


def test_misuse_is_reported(tmp_path):
    folder = write_set(tmp_path / "set")
    data = SimulatedData(folder / "00000_00.npz")
    with pytest.raises(TemnnError, match="no prediction yet; run infer"):
        data.f1_score()
    data.infer(Oracle(folder))
    with pytest.raises(TemnnError, match="rmse: needs an Exitwave label"):
        data.rmse()
    mask_folder = write_set(tmp_path / "mask", "Mask")
    mask = SimulatedData(mask_folder / "00000_00.npz")
    mask.infer(Oracle(mask_folder))
    with pytest.raises(TemnnError, match="atomic F1-Score needs Disk or Gaussian"):
        mask.atomic_f1()
    with pytest.raises(TemnnError, match="run infer\\(\\) with several models"):
        mask.plot_disagreement()
    # an image whose focal series does not match the parameters file
    save_npz(folder / "00009_00.npz", image=np.ones((2, SIZE, SIZE), np.float32),
             label=np.ones((3, SIZE, SIZE), np.float32), sampling=np.float64(0.1), origin=np.zeros(2))
    (folder / "00009_00.json").write_text("{}")
    with pytest.raises(TemnnError, match="00009_00.npz: 'image' must be \\(1, nx, ny\\)"):
        SimulatedData(folder / "00009_00.npz")
    with pytest.raises(TemnnError, match="00042_00.npz: image not found"):
        SimulatedData(folder / "00042_00.npz")


def test_saved_model_and_ensemble_inference(tmp_path):
    folder = write_set(tmp_path / "set")
    torch.manual_seed(0)
    net = MSDNet(1, 3, layers=2, kernel=3, max_dilation=2)
    model = save_model(net, tmp_path / "model", {"task": Task("Disk", 3, "softmax").to_dict(),
                                                 "normalizedistance": 1.0})
    data = SimulatedData(folder / "00000_00.npz")
    prediction = data.infer(model)
    assert prediction.shape == (3, SIZE, SIZE) and np.allclose(prediction.sum(0), 1, atol=1e-5)
    assert data.disagreement is None
    # two oracles, one shifted: they disagree exactly where the class maps differ, at 1/2 of the votes
    data.infer([Oracle(folder), Oracle(folder, shift=3)])
    classes = data.label.argmax(0)
    differ = classes != np.roll(classes, 3, axis=0)
    np.testing.assert_allclose(data.disagreement, 0.5 * differ, atol=1e-6)
    assert data.metrics_row()["disagreement"] == pytest.approx(0.5 * differ.mean())


def test_plots_draw_every_panel_and_the_argand_points(tmp_path):
    folder = write_set(tmp_path / "set", channels=2)
    data = SimulatedData(folder / "00000_00.npz")
    fig, axes = data.plot()
    assert len(axes) == data.panel_count() == 3  # two images + label
    data.infer(Oracle(folder))
    fig, axes = data.plot(path=tmp_path / "sheet.png")
    assert len(axes) == 4 and (tmp_path / "sheet.png").stat().st_size > 0
    assert axes[0].get_title().startswith("image, Δf = 0 Å") and axes[1].get_title() == "image, Δf = 20 Å"
    marks = axes[-1].collections[0].get_offsets()  # the columns atomic_f1 finds, one + each
    assert axes[-1].get_title() == "prediction, 5 columns (+)"
    np.testing.assert_allclose(sorted(map(tuple, marks)), sorted(SITES[0][0]), atol=0.1)

    folder = write_set(tmp_path / "wave", "Exitwave")
    wave = SimulatedData(folder / "00000_00.npz")
    wave.infer(Oracle(folder))
    fig, axes = wave.plot()
    assert [ax.get_title() for ax in axes[1:]] == ["label: Re ψ", "prediction: Re ψ", "label: Im ψ",
                                                   "prediction: Im ψ"]
    fig, axes = wave.plot_argand(path=tmp_path / "argand.png")
    assert (tmp_path / "argand.png").stat().st_size > 0
    predicted = np.concatenate([c.get_offsets() for c in axes[0].collections])
    true = np.concatenate([c.get_offsets() for c in axes[1].collections])
    assert len(predicted) == len(true) == len(SITES[0][0])  # one point per phase bump
    np.testing.assert_allclose(true[:, 1], np.sin(0.2), atol=1e-6)  # Im ψ at a bump top


def test_label_peaks_are_the_stored_sites_to_a_fraction_of_a_pixel(tmp_path):
    """The atomic F1's true columns (label peaks) sit on the sites: a prediction drawn at the sites scores 1 at 1 px."""
    from temnn import Parameters
    from temnn.io.files import write_json
    from temnn.simulate.geometry import ImageGeometry
    from temnn.simulate.labels import disk_label

    sampling, origin = 0.107, (1.3, -0.7)  # [Å/pixel], [Å]
    geometry = ImageGeometry(sampling=sampling, origin=origin, shape=(64, 64))
    params = Parameters(label="Disk", image_size=(64, 64), sampling=(0.1, 0.11), num_classes=3, spotsize=0.4)
    rng = np.random.default_rng(3)
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(-1, 2)
    sites = np.asarray(origin) + 0.8 + 1.5 * grid + rng.uniform(-0.2, 0.2, grid.shape)  # [Å], 1.5 Å apart
    classes = rng.integers(0, 2, len(sites))
    folder = tmp_path / "images" / "disk"
    folder.mkdir(parents=True)
    params.save(folder / "parameters.json")
    write_json(folder / "00000_00.json", {"defocus": [0.0], "dose": None})
    save_npz(folder / "00000_00.npz", image=np.ones((1, 64, 64), np.float32),
             label=disk_label(sites, classes, geometry, params), sampling=np.float64(sampling),
             origin=np.asarray(origin))
    data = SimulatedData(folder / "00000_00.npz")
    # an independent 'prediction': a Gaussian of σ = 1.5 px at every site, in its class channel
    ix, iy = np.mgrid[:64, :64]
    pixels = (sites - np.asarray(origin)) / sampling
    prediction = np.zeros((3, 64, 64))
    for (px, py), c in zip(pixels, classes):
        prediction[c] += np.exp(-((ix - px) ** 2 + (iy - py) ** 2) / (2 * 1.5**2))
    prediction[2] = 1 - prediction[:2].sum(0)
    data.prediction = prediction
    columns = data.atomic_f1(radius=1.0)
    assert columns.overall.f1 == 1.0 and columns.overall.tp == len(sites)
    assert data.metrics_row()["dose_e_per_angstrom2"] is None
