"""``temnn images`` end to end on a tiny hand-made dataset: files, determinism, resume, errors."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from temnn import Parameters, TemnnError
from temnn.cli import main
from temnn.io.dataset import Dataset, save_sites, save_wave
from temnn.io.image_sets import image_paths, list_images, read_image
from temnn.workflows.images import make_images
from temnn.simulate.draw import MicroscopeParameters
from temnn.simulate.waves import ExitWave
from temnn.structures.sample import Sample

WAVE_SAMPLING = 0.08  # [Å/pixel]
WAVE_GPTS = (64, 60)  # 5.12 × 4.8 Å


def _bumps(sites: np.ndarray, phase: float = 0.5) -> np.ndarray:
    """Phase-object exit wave with a narrow phase bump at each site."""
    x = np.arange(WAVE_GPTS[0]) * WAVE_SAMPLING
    y = np.arange(WAVE_GPTS[1]) * WAVE_SAMPLING
    potential = np.zeros(WAVE_GPTS)
    for sx, sy in sites:
        potential += np.exp(-((x[:, None] - sx) ** 2 + (y[None, :] - sy) ** 2) / (2 * 0.2**2))
    return np.exp(1j * phase * potential).astype(np.complex64)


def make_dataset(root: Path, n: int = 3, *, class_names=("Mo", "S"), object_wave: bool = False) -> Path:
    """Write ``n`` samples in the waves-stage format (sites, classes, waves) with the waves stage's writers."""
    dataset = Dataset(root)
    for i in range(n):
        rng = np.random.default_rng(i)
        sites = rng.uniform(0.8, 4.0, size=(6, 2))
        classes = np.arange(6) % max(len(class_names), 1)
        sample = Sample(atoms=Atoms(), sites=sites, classes=classes, class_names=class_names, mask_classes=(0,))
        save_sites(dataset.sites_path(i), sample)
        wave = ExitWave(_bumps(sites), (WAVE_SAMPLING, WAVE_SAMPLING), 300e3)
        obj = ExitWave(_bumps(sites[classes == 0]), wave.sampling, wave.energy) if object_wave else None
        save_wave(dataset.wave_path(i), wave, wave_object=obj)
    return root


def write_params(path: Path, **kw) -> Path:
    values = dict(
        label="Disk",
        image_size=[32, 30],
        sampling=[0.1, 0.12],
        image_epochs=2,
        num_classes=3,
        null_class=True,
        spotsize=0.5,
        defocus=[-60, 60],
        ctf_c30=[0, 1e4],
        log_dose=[3, 4],
        seed=11,
    )
    values.update(kw)
    Parameters(**values).save(path)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".npz", ".json")}


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "data")


# ------------------------------------------------------------------------------ outputs
def test_images_and_labels_are_written_with_their_microscope(data, tmp_path):
    params = write_params(tmp_path / "disk.json", multifocus=[3, 20.0, 1.0], debug=2)
    folder = make_images(data, params, progress=False)
    assert folder == data / "images" / "disk"
    assert Parameters.load(folder / "parameters.json") == Parameters.load(params)
    keys = list_images(folder)
    assert keys == [(i, e) for i in range(3) for e in range(2)]
    for index, epoch in keys:
        record = read_image(folder, index, epoch)
        assert record.image.shape == (3, 32, 30) and record.image.dtype == np.float32
        assert record.label.shape == (3, 32, 30) and record.label.dtype == np.float32
        micro = MicroscopeParameters.from_dict(record.microscope)
        assert micro.sampling == pytest.approx(record.sampling) and 0.1 <= record.sampling <= 0.12
        assert len(micro.defocus) == 3 and np.all(np.abs(np.diff(micro.defocus) - 20) <= 1 + 1e-9)
        assert micro.energy == 300e3 and 1e3 <= micro.dose <= 1e4
        np.testing.assert_allclose(record.label.sum(axis=0), 1.0)
        # The label's discs sit on this image's grid: each site inside the image is a disc centre.
        sites = Dataset(data).load_sites(index)[0]
        pixels = (sites - np.array(record.origin)) / record.sampling
        inside = np.all((pixels >= 3) & (pixels <= np.array([28, 26])), axis=1)
        nearest = np.rint(pixels[inside]).astype(int)
        assert record.label[2][nearest[:, 0], nearest[:, 1]].max() == 0  # no background at any site
    # Different epochs of one wave draw different microscopes.
    assert read_image(folder, 0, 0).microscope != read_image(folder, 0, 1).microscope
    pngs = sorted(p.name for p in (folder / "debug").iterdir())
    assert pngs == ["00000_00.png", "00001_00.png"]


def test_test_set_has_one_image_per_wave_and_seed_overrides(data, tmp_path):
    params = write_params(tmp_path / "p.json")
    folder = make_images(data, params, test=True, name="test", progress=False)
    assert list_images(folder) == [(0, 0), (1, 0), (2, 0)]
    assert Parameters.load(folder / "parameters.json").image_epochs == 1
    other = make_images(data, params, test=True, name="seeded", seed=12, progress=False)
    assert Parameters.load(other / "parameters.json").seed == 12
    assert read_image(other, 0, 0).microscope != read_image(folder, 0, 0).microscope


def test_exitwave_label_of_the_support_free_object(tmp_path):
    data = make_dataset(tmp_path / "data", n=1, object_wave=True)
    params = write_params(tmp_path / "ew.json", label="Exitwave", exitwave_without_support=True, image_epochs=1)
    record = read_image(make_images(data, params, progress=False), 0, 0)
    assert record.label.shape == (2, 32, 30)
    # The label is the object wave (class 0 sites only) on the image grid, not the full wave.
    sites, classes, _ = Dataset(data).load_sites(0)
    wave = record.label[0] + 1j * record.label[1]
    phase = np.angle(wave)
    for site, cls in zip(sites, classes):
        ix, iy = np.rint((site - np.array(record.origin)) / record.sampling).astype(int)
        if 0 <= ix < 32 and 0 <= iy < 30:
            assert (phase[ix, iy] > 0.3) == (cls == 0)


def test_mask_label_uses_the_stored_mask_classes(tmp_path):
    data = make_dataset(tmp_path / "data", n=1)
    params = write_params(tmp_path / "mask.json", label="Mask", num_classes=2, image_epochs=1)
    record = read_image(make_images(data, params, progress=False), 0, 0)
    assert record.label.shape == (2, 32, 30)
    np.testing.assert_array_equal(record.label.sum(axis=0), 1.0)
    assert 0 < record.label[0].sum() < 32 * 30


# ------------------------------------------------------------------- determinism, resume
def test_same_bytes_with_one_or_two_workers_and_after_resuming(data, tmp_path):
    params = write_params(tmp_path / "p.json", multifocus=[2, 30.0, 2.0], mtf_c0=[0.3, 0.5], readout=[0.01, 0.02])
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    one = snapshot(make_images(data, params, workers=1, progress=False))
    two = snapshot(make_images(copy, params, workers=2, progress=False))
    assert len(one) == 3 * 2 * 2 + 1 and one == two

    folder = data / "images" / "p"
    npz, meta = image_paths(folder, 1, 1)
    npz.unlink()
    (folder / "00002_00.json").unlink()
    untouched = image_paths(folder, 0, 0)[0].stat().st_mtime_ns
    make_images(data, params, progress=False)
    assert snapshot(folder) == one
    assert image_paths(folder, 0, 0)[0].stat().st_mtime_ns == untouched


# --------------------------------------------------------------------------------- errors
def test_folder_without_waves_is_a_clear_error(tmp_path):
    params = write_params(tmp_path / "p.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TemnnError, match="no exit waves.*temnn structures"):
        make_images(tmp_path / "empty", params, progress=False)


def test_disk_label_needs_matching_classes(tmp_path):
    data = make_dataset(tmp_path / "data", n=1, class_names=("particle", "support", "other"))
    params = write_params(tmp_path / "p.json")  # 3 channels = 2 classes + background
    with pytest.raises(TemnnError, match=r"p\.json: 'num_classes' is 3.*3 site classes.*set 'num_classes' to 4"):
        make_images(data, params, progress=False)
    bare = make_dataset(tmp_path / "bare", n=1, class_names=())
    with pytest.raises(TemnnError, match="no site classes"):
        make_images(bare, params, progress=False)


def test_image_sampling_finer_than_the_wave_is_an_error(data, tmp_path):
    params = write_params(tmp_path / "p.json", sampling=[0.05, 0.1])
    with pytest.raises(TemnnError, match=r"'sampling'.*finer than the exit wave's 0\.08"):
        make_images(data, params, progress=False)


def test_image_larger_than_the_wave_warns_once_and_pads_with_vacuum(tmp_path):
    data = make_dataset(tmp_path / "data", n=1)
    params = write_params(tmp_path / "p.json", image_size=[56, 30], image_epochs=1, log_dose=[8, 8])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = make_images(data, params, progress=False)
    assert sum("'image_size'" in str(w.message) for w in caught) == 1
    record = read_image(folder, 0, 0)
    # Pixels beyond the 5.12 Å cell are vacuum: mean 1, and no label there.
    x = record.origin[0] + record.sampling * np.arange(56)
    outside = (x < 0) | (x >= WAVE_GPTS[0] * WAVE_SAMPLING)
    assert outside.sum() >= 2
    assert abs(record.image[0, outside].mean() - 1) < 0.05
    assert record.label[:2, outside].sum() == 0


def test_support_free_label_without_object_wave_is_an_error(data, tmp_path):
    params = write_params(tmp_path / "p.json", label="Exitwave", exitwave_without_support=True)
    with pytest.raises(TemnnError, match="'exitwave_without_support'.*no support-free object wave"):
        make_images(data, params, progress=False)


def test_reusing_a_name_with_other_parameters_is_an_error(data, tmp_path):
    make_images(data, write_params(tmp_path / "p.json", image_epochs=1), progress=False)
    with pytest.raises(TemnnError, match="other parameters.*spotsize.*--name"):
        make_images(data, write_params(tmp_path / "p.json", image_epochs=1, spotsize=0.6), progress=False)


# ------------------------------------------------------------------------------------ CLI
def test_command_line(data, tmp_path, capsys):
    params = write_params(tmp_path / "cli.json", image_epochs=1)
    assert main(["images", str(data), str(params), "--test", "--name", "val", "--seed", "3", "--no-progress"]) == 0
    assert json.loads((data / "images" / "val" / "parameters.json").read_text())["seed"] == 3
    assert len(list_images(data / "images" / "val")) == 3
    assert main(["images", str(tmp_path), str(params), "--no-progress"]) == 2
    assert "no exit waves" in capsys.readouterr().err


def test_reading_a_missing_image_or_a_folder_that_is_no_image_set(data, tmp_path):
    with pytest.raises(TemnnError, match="not an image set"):
        list_images(tmp_path)
    folder = make_images(data, write_params(tmp_path / "p.json", image_epochs=1), progress=False)
    with pytest.raises(TemnnError, match="00007_00.npz: image not found.*temnn images"):
        read_image(folder, 7, 0)
