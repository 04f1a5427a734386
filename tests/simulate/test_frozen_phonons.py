"""Frozen-phonon images average intensities over configurations, after the CTF.

References: abTEM's own frozen-phonon ensemble (``abtem.FrozenPhonons`` → CTF →
intensity → ensemble mean), a closed form for two conjugate phase objects, and the
linearity of image formation in the intensity (the image of a two-configuration
sample is the mean of the two single-configuration images).
"""

from __future__ import annotations

import abtem
import numpy as np
import pytest
import torch
from ase import Atoms

from temnn import Parameters
from temnn.io.dataset import Dataset, load_wave, save_wave
from temnn.io.image_sets import read_image
from temnn.errors import TemnnError
from temnn.simulate.draw import MicroscopeParameters
from temnn.simulate.geometry import ImageGeometry
from temnn.simulate.images import form_images
from temnn.simulate.labels import make_label
from temnn.simulate.waves import ExitWave, WaveSettings, exit_wave
from temnn.simulate.phonons import frozen_phonon_wave
from temnn.structures.vibrations import VibrationalAmplitudes, perturb_atoms
from temnn.workflows.images import make_images

from test_images_command import WAVE_GPTS, WAVE_SAMPLING, _bumps, make_dataset, write_params


def test_images_equal_abtem_frozen_phonon_intensity_mean() -> None:
    # Two Au atoms, 4 configurations displaced by 0.15 Å: abTEM's ensemble waves imaged by
    # temnn on the wave grid (no resampling) against abTEM's CTF → |ψ|² → mean over the ensemble.
    atoms = Atoms("Au2", positions=[(2.0, 2.0, 1.0), (3.4, 3.1, 2.0)], cell=[6.0, 6.0, 3.0])
    phonons = abtem.FrozenPhonons(atoms, num_configs=4, sigmas=0.15, seed=3)
    potential = abtem.Potential(phonons, sampling=0.05, slice_thickness=1.0, projection="infinite")
    waves = abtem.PlaneWave(energy=300e3).multislice(potential).compute()
    assert waves.array.shape == (4, 120, 120)
    micro = MicroscopeParameters(0.05, (60.0,), 300e3, C30=2e4, focal_spread=20.0, aperture=25.0)
    ctf = abtem.CTF(energy=300e3, defocus=60.0, Cs=2e4, focal_spread=20.0, semiangle_cutoff=25.0, soft=False)
    reference = waves.apply_ctf(ctf).intensity().compute().array.mean(axis=0)
    geometry = ImageGeometry(0.05, (0.0, 0.0), (120, 120))
    ours = form_images(torch.from_numpy(waves.array)[None], 0.05, [micro], [geometry])[0, 0].numpy()
    assert np.abs(ours - reference).max() < 1e-5
    # The old model, the intensity of the mean wave, misses the diffuse part by far more.
    coherent = form_images(torch.from_numpy(waves.array.mean(axis=0))[None], 0.05, [micro], [geometry])[0, 0].numpy()
    assert np.abs(coherent - reference).max() > 100 * np.abs(ours - reference).max()


def test_two_conjugate_phase_objects_closed_form() -> None:
    # ψ± = exp(±iφ) imaged without aberrations: each intensity is 1, so their mean is 1,
    # while the mean wave cos φ gives cos²φ, darker by sin²φ.
    x = np.arange(64) * 0.05
    phi = 0.9 * np.exp(-((x[:, None] - 1.6) ** 2 + (x[None, :] - 1.5) ** 2) / (2 * 0.3**2))
    pair = np.stack([np.exp(1j * phi), np.exp(-1j * phi)]).astype(np.complex64)
    micro = MicroscopeParameters(0.05, (0.0,), 300e3)
    geometry = ImageGeometry(0.05, (0.0, 0.0), (64, 64))
    incoherent = form_images(torch.from_numpy(pair)[None], 0.05, [micro], [geometry])[0, 0].numpy()
    coherent = form_images(torch.from_numpy(pair.mean(axis=0))[None], 0.05, [micro], [geometry])[0, 0].numpy()
    assert np.abs(incoherent - 1).max() < 1e-5
    assert np.abs(coherent - np.cos(phi) ** 2).max() < 1e-5
    assert (1 - coherent).max() == pytest.approx(np.sin(0.9) ** 2, rel=1e-3)


def test_frozen_phonon_wave_keeps_each_configuration() -> None:
    atoms = Atoms("C2", positions=[(2.0, 2.0, 1.0), (3.0, 2.5, 1.0)], cell=[5.0, 5.0, 2.0])
    amplitudes = VibrationalAmplitudes.isotropic({"C": 0.1})
    settings = WaveSettings(energy=80e3, sampling=0.1, slice_thickness=2.0)
    waves = frozen_phonon_wave(atoms, amplitudes, 3, settings, rng=np.random.default_rng(4))
    assert waves.array.shape == (3, 50, 50) and waves.configurations == 3 and waves.gpts == (50, 50)
    rng = np.random.default_rng(4)
    for k in range(3):
        expected = exit_wave(perturb_atoms(atoms, amplitudes, rng=rng), settings)
        assert np.array_equal(waves.array[k], expected.array)
    assert np.allclose(waves.coherent().array, waves.array.mean(axis=0), atol=1e-7)
    # One configuration stays a plain (nx, ny) wave, the same bytes as before.
    single = frozen_phonon_wave(atoms, amplitudes, 1, settings, rng=np.random.default_rng(4))
    assert single.array.shape == (50, 50) and single.configurations == 1 and single.coherent() is single
    assert np.array_equal(single.array, waves.array[0])
    with pytest.raises(TemnnError, match=r"\(K, nx, ny\)"):
        ExitWave(np.ones((2, 2, 4, 4), np.complex64), (0.1, 0.1), 80e3)


def test_dataset_of_configurations_gives_mean_images_and_mean_wave_label(tmp_path) -> None:
    # The image of a two-configuration sample is the mean of the images of two samples made of
    # one configuration each (same draws: the draw depends on the grid, not on the waves);
    # its Exitwave label is the label of the mean wave.
    rng = np.random.default_rng(0)
    sites = rng.uniform(0.8, 4.0, size=(6, 2))
    pair = np.stack([_bumps(sites), _bumps(sites + 0.15)])
    roots = {}
    for name, array in (("fp", pair), ("a", pair[0]), ("b", pair[1])):
        roots[name] = make_dataset(tmp_path / name, n=1)
        save_wave(Dataset(roots[name]).wave_path(0), ExitWave(array, (WAVE_SAMPLING, WAVE_SAMPLING), 300e3))
    stored = load_wave(Dataset(roots["fp"]).wave_path(0))
    assert stored.array.shape == (2,) + WAVE_GPTS and np.array_equal(stored.array, pair)
    params = write_params(tmp_path / "p.json", label="Exitwave", image_epochs=1, noise=None)
    records = {name: read_image(make_images(root, params, progress=False), 0, 0) for name, root in roots.items()}
    assert np.abs(records["a"].image - records["b"].image).max() > 0.01  # the configurations differ
    mean_image = (records["a"].image + records["b"].image) / 2
    assert np.abs(records["fp"].image - mean_image).max() < 1e-5
    p = Parameters.load(params)
    geometry = ImageGeometry(records["fp"].sampling, tuple(records["fp"].origin), p.image_size)
    label = make_label(p, geometry, wave=pair.mean(axis=0), wave_sampling=(WAVE_SAMPLING, WAVE_SAMPLING))
    assert np.abs(records["fp"].label - label).max() < 1e-6

