"""Argand points of exit waves: a hand-built wave and an abTEM multislice wave."""

from __future__ import annotations

import numpy as np
import pytest

from temnn.analysis.argand import argand_points, plot_argand
from temnn.errors import TemnnError

X, Y = np.mgrid[:64, :64]


def column_wave(columns) -> np.ndarray:
    """1 + Σ c·G(r − r_k): columns of known complex change c at pixel centres."""
    wave = np.ones((64, 64), dtype=np.complex128)
    for (cx, cy), change in columns:
        wave += change * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * 1.2**2))
    return wave


COLUMNS = [((12, 12), 0.05 + 0.30j), ((12, 40), 0.04 + 0.22j), ((40, 50), 0.02 + 0.11j), ((44, 20), 0.05 + 0.30j)]


def test_values_and_classes_at_the_columns():
    wave = column_wave(COLUMNS)
    sites = np.array([c for c, _ in COLUMNS]) + 0.3  # sites need not sit on pixel centres
    points = argand_points(wave, sites=sites, site_classes=[0, 1, 2, 0])
    order = np.argsort(points.positions[:, 0] * 100 + points.positions[:, 1])
    assert points.positions[order].tolist() == [list(c) for c, _ in COLUMNS]
    assert points.values[order] == pytest.approx([1 + v for _, v in COLUMNS], abs=1e-9)
    assert points.classes[order].tolist() == [0, 1, 2, 0]
    channels = argand_points(np.stack([wave.real, wave.imag]))  # the Exitwave label's (2, nx, ny) form
    assert channels.values == pytest.approx(points.values) and (channels.classes == -1).all()
    # The weakest column is 0.11/0.30 of the strongest: a threshold of 0.5 drops it.
    assert len(argand_points(wave, threshold=0.5)) == 3


def test_vacuum_and_bad_input():
    assert len(argand_points(np.ones((16, 16), complex))) == 0
    with pytest.raises(TemnnError, match="site_classes"):
        argand_points(column_wave(COLUMNS), sites=np.zeros((1, 2)))
    with pytest.raises(TemnnError, match="wave"):
        argand_points(np.ones((3, 16, 16)))


def test_abtem_exit_wave_separates_mo_and_s2_columns():
    abtem = pytest.importorskip("abtem")
    from ase import Atoms

    # One Mo column and one S2 column (two S atoms above each other) in vacuum, 50 keV.
    atoms = Atoms("MoS2", positions=[(3.0, 3.0, 4.0), (6.0, 4.5, 2.4), (6.0, 4.5, 5.6)], cell=(9.0, 8.0, 8.0))
    potential = abtem.Potential(atoms, sampling=0.1, slice_thickness=1.0)
    wave = abtem.PlaneWave(energy=50e3).multislice(potential).compute(scheduler="synchronous", progress_bar=False)
    psi, sampling = wave.array, wave.sampling
    sites = atoms.positions[[0, 1], :2] / np.array(sampling)
    points = argand_points(psi, sampling=sampling[0], min_spacing=1.0, sites=sites, site_classes=[0, 1], radius=1.5)
    assert sorted(points.classes.tolist()) == [0, 1]  # exactly the two columns, nothing in vacuum
    for k in (0, 1):
        ix, iy = np.rint(sites[k]).astype(int)
        near = psi[ix - 1:ix + 2, iy - 1:iy + 2]
        value = points.values[points.classes == k][0]
        assert abs(value - 1) == pytest.approx(np.abs(near - 1).max())  # the local maximum of |ψ − 1|
    assert abs(psi[0, 0] - 1) < 0.01  # vacuum is 1
    mo, s2 = (points.values[points.classes == k][0] for k in (0, 1))
    assert abs(mo - s2) > 0.05  # the two column types fall apart in the Argand plane


def test_plot_argand_side_by_side(tmp_path):
    truth = argand_points(column_wave(COLUMNS), sites=[c for c, _ in COLUMNS], site_classes=[0, 1, 2, 0])
    pred = argand_points(column_wave([(c, 0.9 * v) for c, v in COLUMNS]), sites=[c for c, _ in COLUMNS],
                         site_classes=[0, 1, 2, 0])
    fig, axes = plot_argand(pred, truth, class_names=["Mo", "2S", "1S"], path=tmp_path / "argand.png")
    assert len(axes) == 2 and axes[0].get_xlim() == axes[1].get_xlim()
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert labels == ["Mo", "2S", "1S", "vacuum"]
    assert (tmp_path / "argand.png").stat().st_size > 0
