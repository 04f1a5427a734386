"""Reader (calibrated, lazy stacks), the npe2 manifest, layer calibration rules, and the sample data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from temnn.errors import TemnnError  # noqa: E402
from temnn.napari import _layers  # noqa: E402
from temnn.napari._reader import SUFFIXES, get_reader, read_microscope_layers  # noqa: E402

MANIFEST = Path(__import__("temnn.napari").napari.__file__).with_name("napari.yaml")
REAL_EM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-em"


def write_tiff(path: Path, data: np.ndarray, *, scale: float | None, unit: str = "nm") -> Path:
    """A TIFF written by RosettaSciIO with (frame,) y, x axes; ``scale`` per pixel in ``unit`` (None: pixels)."""
    from rsciio.tiff import file_writer

    axes = [{"name": "frame", "size": data.shape[0], "scale": 1.0, "offset": 0.0, "units": "s", "navigate": True}] \
        if data.ndim == 3 else []
    for name, size in zip("yx", data.shape[-2:]):
        axes.append({"name": name, "size": size, "scale": 1.0 if scale is None else scale, "offset": 0.0,
                     "units": None if scale is None else unit, "navigate": False})
    file_writer(str(path), {"data": data, "axes": axes, "metadata": {}})
    return path


# ---------------------------------------------------------------------------------- reader
def test_reader_offers_microscope_files_only():
    assert get_reader("a.dm4") is read_microscope_layers
    assert get_reader(["a.tif", "b.EMD"]) is read_microscope_layers
    assert get_reader("a.png") is None and get_reader(["a.dm3", "notes.txt"]) is None
    assert set(SUFFIXES) == {".dm3", ".dm4", ".tif", ".tiff", ".emd", ".emi", ".ser", ".mrc"}


def test_tiff_stack_opens_lazily_with_its_calibration_in_nm(tmp_path):
    import dask.array as da

    from temnn.io.microscope import read_microscope_file

    stack = np.random.default_rng(0).random((3, 20, 30)).astype(np.float32)  # (frame, y, x) as stored
    path = write_tiff(tmp_path / "stack.tif", stack, scale=0.0125, unit="µm")
    ((data, keywords, kind),) = read_microscope_layers(str(path))
    assert kind == "image" and isinstance(data, da.Array) and data.shape == (3, 20, 30)
    np.testing.assert_allclose(keywords["scale"], (1.0, 12.5, 12.5))  # 0.0125 µm = 12.5 nm
    assert keywords["units"][-2:] == ["nm", "nm"] and keywords["axis_labels"] == ["frame", "y", "x"]
    np.testing.assert_allclose(np.asarray(data[1]), stack[1])  # the file's rows are the layer's rows
    file = read_microscope_file(path)
    np.testing.assert_array_equal(np.asarray(data[2]).T, file.frame(2))  # temnn's (x, y) frame, transposed
    assert keywords["metadata"]["temnn"]["sampling_angstrom"] == pytest.approx(125.0)


def test_uncalibrated_and_unreadable_files_notify(tmp_path, notifications):
    path = write_tiff(tmp_path / "pixels.tif", np.ones((8, 8), np.float32), scale=None)
    ((data, keywords, _),) = read_microscope_layers(str(path))
    assert data.shape == (8, 8) and keywords["scale"] == [1.0, 1.0] and keywords["units"] == ["pixel", "pixel"]
    severity, message = notifications()[-1]
    assert severity == "warning" and "no length calibration" in message and "Å/pixel" in message
    broken = tmp_path / "broken.dm3"
    broken.write_bytes(b"not a DigitalMicrograph file")
    assert read_microscope_layers([str(broken)]) == []
    severity, message = notifications()[-1]
    assert severity == "error" and "broken.dm3" in message and "corrupt" in message


@pytest.mark.realdata
def test_real_dm3_stack():
    path = REAL_EM / "test_stackbuilder_imagestack.dm3"
    if not path.is_file():
        pytest.skip(f"real microscope files not found at {REAL_EM}")
    from rsciio.digitalmicrograph import file_reader

    raw = file_reader(str(path))[0]
    ((data, keywords, _),) = read_microscope_layers(str(path))
    np.testing.assert_allclose(np.asarray(data), np.asarray(raw["data"], dtype=np.float32))
    x_axis = [ax for ax in raw["axes"] if not ax.get("navigate")][-1]
    nm = x_axis["scale"] * {"nm": 1.0, "µm": 1e3}[x_axis["units"]]
    np.testing.assert_allclose(keywords["scale"][-1], nm)


def test_manifest_commands_import_and_its_reader_opens_files(tmp_path):
    import importlib

    from npe2 import PluginManager, PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    assert manifest.name == "temnn"
    for command in manifest.contributions.commands:
        module, name = command.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), name)), command.id
    assert {w.display_name for w in manifest.contributions.widgets} == {
        "Apply model", "Label by 2+1D connectivity", "FFT along time axis", "ROI properties", "Find atoms",
        "Simulate and train"}
    manager = PluginManager()  # a private manager: napari's own is left alone
    manager.register(manifest)
    path = write_tiff(tmp_path / "image.tif", np.ones((16, 24), np.float32), scale=0.02)
    (reader,) = manager.iter_compatible_readers([str(path)])
    assert reader.plugin_name == "temnn"
    assert {p.lstrip("*") for p in reader.filename_patterns} == set(SUFFIXES)
    assert manifest.contributions.commands[0].python_name == "temnn.napari._reader:get_reader"
    ((data, keywords, kind),) = get_reader(str(path))(str(path))
    assert kind == "image" and data.shape == (16, 24) and keywords["scale"] == [0.02, 0.02]
    assert not list(manager.iter_compatible_readers([str(tmp_path / "image.png")]))


# ---------------------------------------------------------------------------------- layers
def test_layer_sampling_rules(make_napari_viewer, mixed_units):
    viewer = make_napari_viewer()
    assert _layers.layer_sampling(viewer.add_image(np.ones((4, 4)), scale=(0.05, 0.05), units="nm")) == \
        pytest.approx(0.5)
    assert _layers.layer_sampling(viewer.add_image(np.ones((4, 4)), scale=(30, 30), units="pm")) == \
        pytest.approx(0.3)
    assert _layers.layer_sampling(viewer.add_image(np.ones((4, 4)), scale=(0.02, 0.02))) == pytest.approx(0.2)
    bare = viewer.add_image(np.ones((4, 4)), name="bare")
    with pytest.raises(TemnnError, match="'bare' has no pixel size.*Å/pixel"):
        _layers.layer_sampling(bare)
    assert _layers.layer_sampling(bare, 0.7) == 0.7
    with pytest.raises(TemnnError, match="not square"):
        _layers.layer_sampling(viewer.add_image(np.ones((4, 4)), scale=(0.05, 0.06), units="nm"))
    with pytest.raises(TemnnError, match="not a length"):
        _layers.layer_sampling(viewer.add_image(np.ones((4, 4)), scale=(0.5, 0.5), units="1/nm"))


# ------------------------------------------------------------------------------ sample data
def test_mos2_focal_series_conserves_intensity_and_labels_every_column(monkeypatch):
    from temnn.napari._sample_data import mos2_focal_series

    (images, image_kw, _), (label, label_kw, _) = mos2_focal_series(size=64, sampling=0.25, step=30.0)
    assert images.shape == (3, 64, 64) and label.shape == (4, 64, 64)
    np.testing.assert_allclose(image_kw["scale"], (1, 0.025, 0.025))
    assert image_kw["axis_labels"] == ["defocus", "y", "x"] and label_kw["axis_labels"] == ["class", "y", "x"]
    defocus = image_kw["metadata"]["temnn"]["defocus_angstrom"]
    np.testing.assert_allclose(np.diff(defocus), 30.0)
    # a phase object and a unit-mean detector: every image keeps the vacuum intensity 1 on average
    np.testing.assert_allclose(images.mean(axis=(1, 2)), 1.0, atol=0.03)
    assert label_kw["metadata"]["temnn"]["class_names"] == ["1Mo", "2S", "1S", "background"]
    np.testing.assert_allclose(label[3], 1 - np.clip(label[:3].sum(axis=0), 0, 1))
    assert label[:3].any(axis=(1, 2)).all()  # Mo, 2S and 1S columns in the field
    # cached: the second call simulates nothing
    import temnn.simulate.waves

    monkeypatch.setattr(temnn.simulate.waves, "exit_wave", lambda *a, **k: pytest.fail("not cached"))
    again = mos2_focal_series(size=64, sampling=0.25, step=30.0)
    np.testing.assert_array_equal(again[0][0], images)


def test_au_sequence_mask_follows_the_drifting_particle():
    from temnn.napari._sample_data import au_ceo2_sequence

    drift, sampling = 1.0, 0.25
    (images, image_kw, kind), (mask, mask_kw, mask_kind) = au_ceo2_sequence(frames=3, size=128, sampling=sampling,
                                                                           drift=drift)
    assert (kind, mask_kind) == ("image", "labels")
    assert images.shape == mask.shape == (3, 128, 128)
    assert not (mask[:, :, 0].any() or mask[:, :, -1].any())  # the particle lies inside the field
    np.testing.assert_allclose(mask_kw["scale"], (1, 0.025, 0.025))
    assert all(frame.any() for frame in mask)
    columns = [np.nonzero(frame)[1].mean() for frame in mask]
    # the stage drifts +1 Å along x per frame: the particle moves 4 pixels to the left
    np.testing.assert_allclose(np.diff(columns), -drift / sampling, atol=0.75)
