"""'Apply model' and 'Find atoms' with tiny random-initialised models and hand-built class maps."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("napari")

from temnn import Parameters  # noqa: E402
from temnn.napari._apply_model import ApplyModelWidget  # noqa: E402
from temnn.napari._atoms import FindAtomsWidget, class_colours, legend_entries  # noqa: E402

SAMPLING = 0.12  # [Å/pixel]
NM = SAMPLING / 10


def save_tiny_model(folder, *, label: str = "Mask", in_channels: int = 1, num_classes: int = 2):
    """A random-initialised 2-layer MSD-net saved as a temnn model; returns the .json path."""
    import torch

    from temnn.nn.checkpoints import save_model
    from temnn.nn.registry import build_model
    from temnn.nn.tasks import task_for

    parameters = Parameters(label=label, image_size=(32, 32), sampling=(0.1, 0.15), num_classes=num_classes,
                            multifocus=None if in_channels == 1 else (in_channels, 20.0, 0.0),
                            defocus=(-100.0, 100.0), normalizedistance=2.0)
    torch.manual_seed(0)
    network = build_model("msdnet", in_channels, parameters.output_channels, layers=2, width=1, kernel=3)
    card = {"task": task_for(parameters).to_dict(), "parameters": parameters.to_dict(),
            "sampling": list(parameters.sampling), "normalizedistance": parameters.normalizedistance}
    stem = save_model(network, folder / f"{label.lower()}{in_channels}", card)
    return stem.with_name(stem.name + ".json")


def test_probability_and_class_layers_of_a_stack(make_napari_viewer, run_widget, tmp_path):
    from temnn import load_model
    from temnn.nn.inference import predict

    viewer = make_napari_viewer()
    frames = np.random.default_rng(1).normal(1.0, 0.1, (2, 40, 48)).astype(np.float32)  # (frame, y, x)
    layer = viewer.add_image(frames, scale=(1, NM, NM), units=("pixel", "nm", "nm"), translate=(0, 0.5, 0.2),
                             name="stack")
    widget = ApplyModelWidget(viewer)
    widget.image.value = layer
    widget.model_path.value = save_tiny_model(tmp_path)
    widget.tile.value, widget.overlap.value = 32, 8
    run_widget(widget)
    probability = viewer.layers["stack probability"]
    classes = viewer.layers["stack classes"]
    assert probability.data.shape == (2, 2, 40, 48)  # (class, frame, y, x): the frame axis lines up with the images
    np.testing.assert_allclose(probability.scale, (1, 1, NM, NM))
    np.testing.assert_allclose(probability.translate, (0, 0, 0.5, 0.2))
    assert tuple(probability.axis_labels) == ("class", "frame", "y", "x")
    np.testing.assert_allclose(probability.data.sum(axis=0), 1.0, atol=1e-5)  # softmax over particle + background
    # the same numbers as the library on the frame in temnn's (x, y) order
    reference = predict(load_model(widget.model_path.value), frames[1].T[None], sampling=SAMPLING, tile=32, overlap=8,
                        resample=True)
    np.testing.assert_allclose(probability.data[:, 1], np.swapaxes(reference, -1, -2), atol=1e-5)
    assert classes.data.shape == (2, 40, 48)
    np.testing.assert_array_equal(classes.data == 1, probability.data[0] > probability.data[1])


def test_focal_series_model_takes_the_defocus_axis(make_napari_viewer, run_widget, tmp_path):
    viewer = make_napari_viewer()
    series = np.random.default_rng(2).normal(1.0, 0.1, (3, 32, 36)).astype(np.float32)
    layer = viewer.add_image(series, scale=(1, NM, NM), units=("pixel", "nm", "nm"),
                             axis_labels=("defocus", "y", "x"), name="series")
    widget = ApplyModelWidget(viewer)
    widget.image.value = layer
    widget.model_path.value = save_tiny_model(tmp_path, label="Disk", in_channels=3, num_classes=4)
    run_widget(widget)
    probability = viewer.layers["series probability"]
    assert probability.data.shape == (4, 32, 36) and tuple(probability.axis_labels) == ("class", "y", "x")
    assert viewer.layers["series classes"].data.shape == (32, 36)


def test_channel_mismatch_and_missing_calibration_are_notified(make_napari_viewer, run_widget, notifications,
                                                               tmp_path, mixed_units):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.ones((32, 32), np.float32), scale=(NM, NM), units=("nm", "nm"), name="one image")
    widget = ApplyModelWidget(viewer)
    widget.image.value = image
    widget.model_path.value = save_tiny_model(tmp_path, label="Disk", in_channels=3, num_classes=4)
    run_widget(widget)
    severity, message = notifications()[-1]
    assert severity == "error" and "focal series" in message and "3" in message
    bare = viewer.add_image(np.ones((32, 32), np.float32), name="no scale")
    widget.image.value = bare
    widget.model_path.value = save_tiny_model(tmp_path)
    run_widget(widget)
    severity, message = notifications()[-1]
    assert severity == "error" and "'no scale' has no pixel size" in message and "Å/pixel" in message
    assert [layer.name for layer in viewer.layers] == ["one image", "no scale"]


def test_points_of_a_disk_probability_layer(make_napari_viewer, run_widget):
    viewer = make_napari_viewer()
    ny, nx = 40, 50
    rows, cols = np.mgrid[:ny, :nx]
    truth = [(8.3, 10.6, 0), (20.0, 30.2, 1), (30.7, 12.1, 2), (31.2, 40.4, 0)]  # (row, column, class)
    maps = np.zeros((4, ny, nx), np.float32)
    for r, c, k in truth:
        maps[k] += np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 1.5**2))
    maps[3] = 1 - maps[:3].sum(axis=0)  # background last
    layer = viewer.add_image(maps, scale=(1, NM, NM), units=("pixel", "nm", "nm"), axis_labels=("class", "y", "x"),
                             metadata={"temnn": {"class_names": ["1Mo", "2S", "1S", "background"]}}, name="disk")
    widget = FindAtomsWidget(viewer)
    widget.source.value = layer
    widget.min_distance.value = 5 * SAMPLING
    run_widget(widget)
    points = viewer.layers["disk atoms"]
    assert len(points.data) == len(truth)
    np.testing.assert_allclose(points.scale, (NM, NM))
    order = np.lexsort((points.data[:, 1], points.data[:, 0]))
    expected = sorted(truth)
    np.testing.assert_allclose(points.data[order], [(r, c) for r, c, _ in expected], atol=0.05)
    assert list(points.features["class"].iloc[order]) == [k for _, _, k in expected]
    assert list(points.features["class_name"].iloc[order]) == [["1Mo", "2S", "1S"][k] for _, _, k in expected]
    np.testing.assert_allclose(points.face_color[order], class_colours([k for _, _, k in expected]), atol=1e-3)
    np.testing.assert_allclose(points.size, 5.0)  # [data pixels] discs as wide as min distance (5 px)
    # the legend: one entry per class found, its colour that of its points, and the number of columns
    entries = legend_entries(points.features["class"], ["1Mo", "2S", "1S", "background"])
    assert [(name, count) for name, _, count in entries] == [("1Mo", 2), ("2S", 1), ("1S", 1)]
    for (name, colour, count), k in zip(entries, range(3)):
        rgb = points.face_color[np.asarray(points.features["class"]) == k][0, :3]
        assert colour == "#" + "".join(f"{round(255 * v):02x}" for v in rgb)
        assert f'color:{colour}">&#9679;</span>&nbsp;{name}&nbsp;({count})' in widget.legend.value


def test_points_from_an_image_and_a_disk_model(make_napari_viewer, run_widget, tmp_path):
    from temnn import find_peaks, load_model
    from temnn.nn.inference import predict

    viewer = make_napari_viewer()
    image = np.random.default_rng(3).normal(1.0, 0.2, (36, 40)).astype(np.float32)
    layer = viewer.add_image(image, scale=(NM, NM), units=("nm", "nm"), name="image")
    widget = FindAtomsWidget(viewer)
    widget.source.value = layer
    widget.model_path.value = save_tiny_model(tmp_path, label="Disk", num_classes=3)
    widget.threshold.value = 0.3
    run_widget(widget)
    model = load_model(widget.model_path.value)
    expected = find_peaks(predict(model, image.T[None], sampling=SAMPLING, tile=512, resample=True), sampling=SAMPLING,
                          min_spacing=widget.min_distance.value, threshold=0.3, background=-1)
    points = viewer.layers["image atoms"]
    assert len(points.data) == len(expected)
    np.testing.assert_allclose(np.sort(points.data, axis=0), np.sort(expected.positions[:, ::-1], axis=0))


def test_named_models_are_offered_by_name(make_napari_viewer, run_widget, tmp_path, monkeypatch):
    from temnn.napari._apply_model import FROM_FILE

    folder = tmp_path / "named"
    folder.mkdir()
    card_path = save_tiny_model(folder)  # mask1.json + mask1.safetensors
    card = json.loads(card_path.read_text())
    card["model_info"] = {"material": "Au on CeO2", "beam_energy": 300e3, "description": "tiny"}
    card_path.write_text(json.dumps(card))
    monkeypatch.setenv("TEMNN_MODEL_PATH", str(folder))
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.ones((40, 48), np.float32), scale=(NM, NM), units=("nm", "nm"), name="image")
    widget = ApplyModelWidget(viewer)
    assert widget.named.value == FROM_FILE
    assert "mask1" in widget.named.choices  # offered by name, with the shipped ones
    widget.image.value = layer
    widget.named.value = "mask1"
    widget.tile.value, widget.overlap.value = 32, 8
    run_widget(widget)
    assert viewer.layers["image probability"].metadata["temnn"]["model"] == "mask1"


def _column_lattice(sampling: float, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    """Dark Gaussian columns (σ 0.4 Å) on a hexagonal lattice of 3.16 Å (MoS2's a), vacuum 1, as (y, x)."""
    y, x = np.mgrid[: shape[0], : shape[1]] * sampling
    image = np.zeros(shape)
    a = 3.16  # [Å]
    for i in range(-5, 30):
        for j in range(-5, 30):
            image += np.exp(-((x - i * a - j * a / 2) ** 2 + (y - j * a * np.sqrt(3) / 2) ** 2) / (2 * 0.4**2))
    return 1.0 - 0.3 * image


def test_find_atoms_offers_the_shipped_column_model_by_name(make_napari_viewer, run_widget):
    # The shipped 3-image MoS2 column model, picked by name (not by file), on a focal-series layer.
    from temnn import find_peaks, load_model
    from temnn.io.models import list_models
    from temnn.napari._apply_model import FROM_FILE
    from temnn.nn.inference import predict

    shipped = {m.name: m for m in list_models()}
    if "mos2-focal3-columns" not in shipped:
        pytest.skip("the shipped model mos2-focal3-columns is not installed")
    sampling = float(np.mean(shipped["mos2-focal3-columns"].sampling))  # inside its training range
    nm = sampling / 10
    series = np.stack([_column_lattice(sampling) + np.random.default_rng(k).normal(0, 0.05, (64, 64))
                       for k in range(3)]).astype(np.float32)
    viewer = make_napari_viewer()
    layer = viewer.add_image(series, scale=(1, nm, nm), units=("pixel", "nm", "nm"),
                             axis_labels=("defocus", "y", "x"), name="series")
    widget = FindAtomsWidget(viewer)
    assert widget.named.value == FROM_FILE  # no model: the layer itself would be the probability map
    assert "mos2-focal3-columns" in widget.named.choices
    assert "au-ceo2-particle-mask" not in widget.named.choices  # a Mask model has no column classes
    widget.source.value = layer
    widget.named.value = "mos2-focal3-columns"
    run_widget(widget)
    expected = find_peaks(predict(load_model("mos2-focal3-columns"), series.transpose(0, 2, 1), sampling=sampling,
                                  tile=512, resample=True),
                          min_distance=widget.min_distance.value / sampling, threshold=0.5, background=-1)
    points = viewer.layers["series atoms"]
    assert len(points.data) == len(expected) > 0
    np.testing.assert_allclose(np.sort(points.data, axis=0), np.sort(expected.positions[:, ::-1], axis=0))
    assert sorted(points.features["class"]) == sorted(expected.classes)
    np.testing.assert_allclose(points.face_color, class_colours(points.features["class"]), atol=1e-3)
    names = load_model("mos2-focal3-columns").card["model_info"].get("class_names", [])  # the card names channels
    assert set(points.features["class_name"]) <= set(names or [f"class {c}" for c in points.features["class"]])
    for name, colour, count in legend_entries(points.features["class"], names):
        assert f'color:{colour}">&#9679;</span>&nbsp;{name}&nbsp;({count})' in widget.legend.value
