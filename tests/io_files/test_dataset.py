"""The data set folder: layout, readers, manifest, resume and byte-for-byte determinism."""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import os
import signal
import time
from pathlib import Path

import abtem
import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import mx2

from temnn import TemnnError
from temnn._random import sample_rng
from temnn.io.dataset import (
    Dataset,
    describe_generator,
    load_mask_classes,
    load_sites,
    load_wave,
    save_sites,
    save_wave,
)
from temnn.simulate.waves import ExitWave, WaveSettings, exit_wave
from temnn.workflows.structures import generate_dataset
from temnn.structures.sample import Sample

COARSE = WaveSettings(energy=80e3, sampling=0.2)


def make_patch(rng: np.random.Generator, *, repeat: int = 3, rattle: float = 0.05, support: bool = False,
               delay: float = 0.0) -> Sample:
    """A small randomised MoS₂ patch: columns as sites (0 = Mo, 1 = S2), a rattle and a vacancy."""
    time.sleep(delay)
    base = abtem.orthogonalize_cell(mx2("MoS2", size=(1, 1, 1), vacuum=2.0)).repeat((repeat, 1, 1))
    columns, column_of_atom = np.unique(np.round(base.positions[:, :2], 6), axis=0, return_inverse=True)
    classes = np.ones(len(columns), dtype=int)
    classes[column_of_atom[base.numbers == 42]] = 0
    atoms = base.copy()
    atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
    del atoms[int(rng.integers(len(atoms)))]
    object_atoms = None
    if support:
        object_atoms = atoms.copy()
        carbon = rng.uniform((0, 0, 0.3), (atoms.cell[0, 0], atoms.cell[1, 1], 0.8), size=(6, 3))
        atoms = atoms + Atoms(f"C{len(carbon)}", positions=carbon, cell=atoms.cell)
    return Sample(atoms, columns, classes, ("Mo", "S2"), object_atoms=object_atoms, mask_classes=(0, 1))


def not_a_sample(rng: np.random.Generator) -> Atoms:
    return Atoms("Au", cell=[4, 4, 4])


@dataclasses.dataclass
class PatchMaker:
    repeat: int = 2
    rattle: float = 0.01

    def __call__(self, rng: np.random.Generator) -> Sample:
        return make_patch(rng, repeat=self.repeat, rattle=self.rattle)


def folder_bytes(root: Path) -> dict[str, bytes]:
    """Every finished file of a data set (temporary names excluded), by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_paths_and_finished_indices(tmp_path):
    ds = Dataset(tmp_path)
    assert ds.wave_path(7) == tmp_path / "waves" / "00007.npz"
    assert ds.sites_path(12) == tmp_path / "sites" / "00012.npz"
    assert ds.structure_path(123456) == tmp_path / "structures" / "123456.traj"
    assert ds.indices() == [] and len(ds) == 0
    (tmp_path / "waves").mkdir()
    for name in ("00003.npz", "00001.npz", ".00002.npz.tmp-x1.npz", "notes.txt", "00004.npy"):
        (tmp_path / "waves" / name).write_bytes(b"")
    assert ds.indices() == [1, 3]
    assert ds.is_finished(3) and not ds.is_finished(2)
    with pytest.raises(TemnnError, match="sample index"):
        ds.wave_path(-1)
    with pytest.raises(TemnnError, match="manifest.json"):
        ds.manifest()


def test_generator_description_for_the_manifest():
    module = make_patch.__module__
    assert describe_generator(make_patch) == {"name": f"{module}.make_patch", "arguments": {}}
    assert describe_generator(functools.partial(make_patch, repeat=2)) == {
        "name": f"{module}.make_patch",
        "arguments": {"repeat": 2},
    }
    assert describe_generator(PatchMaker(rattle=0.2)) == {
        "name": f"{module}.PatchMaker",
        "arguments": {"repeat": 2, "rattle": 0.2},
    }


def test_wave_and_sites_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(6, 4)) + 1j * rng.normal(size=(6, 4))).astype(np.complex64)
    wave = ExitWave(array, sampling=(0.05, 0.0625), energy=300e3)
    save_wave(tmp_path / "w.npz", wave, wave_object=ExitWave(array * 2, wave.sampling, wave.energy))
    loaded = load_wave(tmp_path / "w.npz")
    np.testing.assert_array_equal(loaded.array, array)
    assert loaded.array.dtype == np.complex64 and loaded.sampling == (0.05, 0.0625) and loaded.energy == 300e3
    np.testing.assert_array_equal(load_wave(tmp_path / "w.npz", object_only=True).array, array * 2)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:  # the agreed plain-npz contract
        assert sorted(f.files) == ["energy", "sampling", "wave", "wave_object"]
        assert f["sampling"].dtype == np.float64 and f["wave"].shape == (6, 4)

    save_wave(tmp_path / "plain.npz", wave)
    with pytest.raises(TemnnError, match="store_object_wave"):
        load_wave(tmp_path / "plain.npz", object_only=True)
    with pytest.raises(TemnnError, match="not found"):
        load_wave(tmp_path / "missing.npz")

    sample = Sample(Atoms(), [[1.0, 2.0], [3.0, 4.5]], [0, 2], ("1Mo", "2S", "1S"))
    save_sites(tmp_path / "s.npz", sample)
    sites, classes, names = load_sites(tmp_path / "s.npz")
    np.testing.assert_array_equal(sites, [[1.0, 2.0], [3.0, 4.5]])
    np.testing.assert_array_equal(classes, [0, 2])
    assert names == ("1Mo", "2S", "1S")
    assert load_mask_classes(tmp_path / "s.npz") == (0, 1, 2)  # all classes when None


def test_generated_samples_follow_the_contract(tmp_path):
    make = functools.partial(make_patch, rattle=0.04)
    ds = generate_dataset(tmp_path / "train", 3, make, seed=7, wave_settings=COARSE, progress=False)
    assert ds.indices() == [0, 1, 2]
    manifest = ds.manifest()
    assert manifest["generator"] == {"name": f"{make_patch.__module__}.make_patch", "arguments": {"rattle": 0.04}}
    assert manifest["seed"] == 7 and manifest["count"] == 3 and manifest["store_object_wave"] is False
    assert ds.wave_settings() == COARSE
    assert set(manifest["versions"]) == {"temnn", "abtem", "ase", "numpy", "torch"}
    assert manifest["versions"]["abtem"] == abtem.__version__

    for i in ds.indices():
        expected = make(sample_rng(7, i))  # sample i draws only from (seed, i)
        atoms = ds.load_structure(i)
        np.testing.assert_array_equal(atoms.positions, expected.atoms.positions)
        np.testing.assert_array_equal(atoms.numbers, expected.atoms.numbers)
        sites, classes, names = ds.load_sites(i)
        np.testing.assert_array_equal(sites, expected.sites)
        np.testing.assert_array_equal(classes, expected.classes)
        assert names == ("Mo", "S2") and ds.load_mask_classes(i) == (0, 1)
        wave = ds.load_wave(i)
        np.testing.assert_array_equal(wave.array, exit_wave(expected.atoms, COARSE).array)
        assert wave.energy == 80e3 and max(wave.sampling) <= 0.2
    assert not np.array_equal(ds.load_wave(0).array, ds.load_wave(1).array)


def test_rerun_skips_finished_samples_and_start_offsets_indices(tmp_path):
    root = tmp_path / "data"
    generate_dataset(root, 2, make_patch, seed=3, wave_settings=COARSE, progress=False)
    finished = {p: p.stat().st_mtime_ns for p in root.rglob("*.npz")}
    reference = folder_bytes(root)
    (root / "waves" / "00001.npz").unlink()  # as if killed before sample 1's wave was written

    ds = generate_dataset(root, 4, make_patch, seed=3, wave_settings=COARSE, progress=False)
    assert ds.indices() == [0, 1, 2, 3] and ds.manifest()["count"] == 4
    assert (root / "waves" / "00000.npz").stat().st_mtime_ns == finished[root / "waves" / "00000.npz"]
    after = folder_bytes(root)
    assert all(after[name] == content for name, content in reference.items() if name != "manifest.json")

    # a second job with --start fills indices 5 and 6 of the same set, identically to a fresh set
    generate_dataset(root, 2, make_patch, seed=3, start=5, wave_settings=COARSE, progress=False)
    assert ds.indices() == [0, 1, 2, 3, 5, 6]
    alone = generate_dataset(tmp_path / "alone", 1, make_patch, seed=3, start=6, wave_settings=COARSE, progress=False)
    assert alone.indices() == [6]
    assert alone.wave_path(6).read_bytes() == ds.wave_path(6).read_bytes()


def test_other_settings_in_the_same_folder_are_refused_unless_overwritten(tmp_path):
    root = tmp_path / "data"
    generate_dataset(root, 1, make_patch, seed=1, wave_settings=COARSE, progress=False)
    before = root.joinpath("waves", "00000.npz").read_bytes()
    with pytest.raises(TemnnError, match="generator.*overwrite"):
        generate_dataset(root, 1, functools.partial(make_patch, rattle=0.2), seed=1, wave_settings=COARSE,
                         progress=False)
    with pytest.raises(TemnnError, match="seed"):
        generate_dataset(root, 1, make_patch, seed=2, wave_settings=COARSE, progress=False)
    with pytest.raises(TemnnError, match="wave_settings"):
        generate_dataset(root, 1, make_patch, seed=1, wave_settings=WaveSettings(sampling=0.2), progress=False)
    assert root.joinpath("waves", "00000.npz").read_bytes() == before

    ds = generate_dataset(root, 1, make_patch, seed=2, wave_settings=COARSE, overwrite=True, progress=False)
    assert ds.manifest()["seed"] == 2 and ds.indices() == [0]
    assert root.joinpath("waves", "00000.npz").read_bytes() != before


def test_object_wave_is_the_support_free_system_on_the_same_grid(tmp_path):
    make = functools.partial(make_patch, support=True)
    ds = generate_dataset(tmp_path / "d", 1, make, seed=4, wave_settings=COARSE, store_object_wave=True,
                          progress=False)
    sample = make(sample_rng(4, 0))
    full, bare = ds.load_wave(0), ds.load_wave(0, object_only=True)
    np.testing.assert_array_equal(full.array, exit_wave(sample.atoms, COARSE).array)
    np.testing.assert_array_equal(bare.array, exit_wave(sample.object_atoms, COARSE).array)
    assert np.abs(full.array - bare.array).max() > 1e-3  # the carbon support scatters

    unsupported = generate_dataset(tmp_path / "u", 1, make_patch, seed=4, wave_settings=COARSE,
                                   store_object_wave=True, progress=False)
    np.testing.assert_array_equal(unsupported.load_wave(0, object_only=True).array, unsupported.load_wave(0).array)


def test_bad_generator_output_and_arguments_are_named(tmp_path):
    with pytest.raises(TemnnError, match="sample 0: .*Sample"):
        generate_dataset(tmp_path / "d", 1, not_a_sample, seed=0, wave_settings=COARSE, progress=False)
    with pytest.raises(TemnnError, match="seed"):
        generate_dataset(tmp_path / "e", 1, make_patch, seed=-1, progress=False)
    with pytest.raises(TemnnError, match="JSON"):
        generate_dataset(tmp_path / "f", 1, functools.partial(make_patch, rattle=object()), seed=0, progress=False)


def test_same_bytes_for_one_and_two_workers(tmp_path):
    kwargs = dict(seed=11, wave_settings=COARSE, progress=False)
    one = generate_dataset(tmp_path / "one", 4, make_patch, workers=1, **kwargs)
    two = generate_dataset(tmp_path / "two", 4, make_patch, workers=2, **kwargs)
    assert two.indices() == [0, 1, 2, 3]
    assert folder_bytes(one.root) == folder_bytes(two.root)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to start the run that is killed")
def test_resume_after_a_kill_gives_the_bytes_of_an_uninterrupted_run(tmp_path):
    n, seed = 8, 5
    make = functools.partial(make_patch, delay=0.3)  # slow enough to be killed mid-way
    killed = tmp_path / "killed"
    # A forked child starts with abTEM imported and compiled, so the test stays fast.
    process = multiprocessing.get_context("fork").Process(
        target=generate_dataset, args=(killed, n, make), kwargs=dict(seed=seed, wave_settings=COARSE, progress=False)
    )
    process.start()
    try:
        deadline = time.monotonic() + 120
        while len(Dataset(killed)) < 2:
            assert process.is_alive(), "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no samples appeared"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.join()
    assert process.exitcode == -signal.SIGKILL
    interrupted = Dataset(killed).indices()
    assert 2 <= len(interrupted) < n

    generate_dataset(killed, n, make, seed=seed, wave_settings=COARSE, progress=False)
    uninterrupted = generate_dataset(tmp_path / "straight", n, make, seed=seed, wave_settings=COARSE, progress=False)
    assert folder_bytes(killed) == folder_bytes(uninterrupted.root)
