"""Atomic vibrations: Debye-Waller closed form, amplitudes from trajectories, frozen phonons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import mx2
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.io import Trajectory
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.neighborlist import natural_cutoffs, neighbor_list
from ase.optimize import LBFGS
from scipy import constants

import temnn
from temnn.errors import TemnnError
from temnn.structures.mx2 import random_mx2_flake
from temnn.io.vibrations import read_amplitudes, write_amplitudes
from temnn.simulate.phonons import FrozenPhonons, frozen_phonon_wave
from temnn.structures.vibrations import (
    VibrationalAmplitudes,
    VibrationGroup,
    debye_waller,
    edge_atoms,
    edge_vibrations,
    perturb_atoms,
    vibrational_amplitudes,
)


def test_debye_waller_closed_form() -> None:
    # Publication I: S mass, θ_D = 580 K, 300 K → 0.0030 Å².
    assert debye_waller("S", 580, 300) == pytest.approx(0.0030, abs=5e-5)
    hbar, k, u = constants.hbar, constants.k, constants.atomic_mass
    by_hand = 3 * hbar**2 / (2 * 32.06 * u * k * 580) * (0.25 + 300 / 580) * 1e20
    assert debye_waller(32.06, 580, 300) == pytest.approx(by_hand, rel=1e-12)
    # Zero-point value at T = 0 and linear growth with T; ∝ 1/m.
    assert debye_waller("S", 580, 0) == pytest.approx(by_hand * 0.25 / (0.25 + 300 / 580))
    assert debye_waller("Mo", 580, 300) == pytest.approx(debye_waller("S", 580, 300) * 32.06 / 95.95, rel=1e-3)
    assert temnn.debye_waller is debye_waller


@pytest.mark.parametrize("args, name", [(("Xx", 580, 300), "unknown element"), (("S", 0, 300), "debye_temperature"),
                                        (("S", 580, -1), "temperature"), ((-1.0, 580, 300), "mass")])
def test_debye_waller_bad_input(args: tuple, name: str) -> None:
    with pytest.raises(TemnnError, match=name):
        debye_waller(*args)


def _coordination(atoms: Atoms) -> np.ndarray:
    """Reference neighbour count, straight from ASE (covalent radii × 1.2)."""
    return np.bincount(neighbor_list("i", atoms, natural_cutoffs(atoms, mult=1.2)), minlength=len(atoms))


def _gaussian_trajectory(atoms: Atoms, sigma: np.ndarray, frames: int, seed: int) -> list[Atoms]:
    """Frames whose atoms are displaced by N(0, σ²) per direction; σ of shape (N, 3)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(frames):
        frame = atoms.copy()
        frame.positions = atoms.positions + rng.standard_normal((len(atoms), 3)) * sigma
        out.append(frame)
    return out


def test_amplitudes_by_element_and_coordination_match_the_drawn_ones() -> None:
    flake = random_mx2_flake(rng=np.random.default_rng(3), cell=(24, 24), vacancies=0.0, holes=0.0, distort=0.0,
                             max_tilt=0.0).atoms
    cn = _coordination(flake)
    symbols = np.array(flake.get_chemical_symbols())
    bulk = {e: cn[symbols == e].max() for e in ("Mo", "S")}
    edge = np.array([cn[i] < bulk[s] for i, s in enumerate(symbols)])
    assert edge.any() and (~edge).any()
    true_sigma = np.where(edge, 0.05, 0.03)
    frames = _gaussian_trajectory(flake, np.repeat(true_sigma[:, None], 3, axis=1), 200, seed=1)
    # Independent draws move the centre of mass (unlike MD, which conserves it): keep it.
    amplitudes = vibrational_amplitudes(frames, remove_drift=False)
    z = []
    for (element, coordination), group in amplitudes.groups.items():
        expected = 0.03 if coordination == bulk[element] else 0.05
        assert group.atoms == np.sum((symbols == element) & (cn == coordination))
        z.extend((np.array(group.sigma) - expected) / np.array(group.stderr))
    z = np.array(z)
    assert np.all(np.abs(z) < 3.5), z  # within the standard errors
    assert 0.2 < np.mean(z**2) < 3.0  # and the standard errors are honest


def test_drift_and_periodic_wrapping_do_not_count_as_vibration() -> None:
    atoms = Atoms("Au2", positions=[(0.2, 5, 5), (3.1, 5, 5)], cell=[10, 10, 10], pbc=True)
    frames = _gaussian_trajectory(atoms, np.full((2, 3), 0.02), 100, seed=2)
    for t, frame in enumerate(frames):
        frame.positions += (0.01 * t, 0, 0)  # centre-of-mass drift
        frame.wrap()  # atom 0 crosses x = 0 and reappears at x ≈ 10
    sigma = np.array([g.sigma for g in vibrational_amplitudes(frames).groups.values()])
    # Two atoms whose displacements are drawn independently: removing the mean drift leaves σ·√(1/2).
    assert np.all(sigma < 0.03) and np.all(sigma > 0.01)


def _ribbon(angle: float, width: int = 4, length: int = 4) -> Atoms:
    """A zigzag MoS2 ribbon, periodic along its edge, turned by ``angle`` degrees about z."""
    atoms = mx2("MoS2", kind="2H", a=3.18, thickness=3.19, size=(1, 1, 1), vacuum=5.0).repeat((length, width, 1))
    a1, a2, a3 = atoms.cell
    atoms.cell = [a1, a2 / np.linalg.norm(a2) * (np.linalg.norm(a2) + 20.0), a3]
    atoms.pbc = (True, False, False)
    atoms.rotate(angle, "z", rotate_cell=True)
    return atoms


def test_directional_edge_vibrations_are_measured_and_applied_in_the_edge_frame() -> None:
    angle = 25.0
    ribbon = _ribbon(angle)
    along = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle)), 0.0])
    across = np.array([-along[1], along[0], 0.0])
    symbols = np.array(ribbon.get_chemical_symbols())
    # The S-terminated edge: the S row furthest along the ribbon's normal.
    height = ribbon.positions @ across
    s_heights = height[symbols == "S"]
    outer = np.argmax(s_heights) if abs(s_heights.max() - height.mean()) > abs(s_heights.min() - height.mean()) else np.argmin(s_heights)
    edge = np.flatnonzero((symbols == "S") & np.isclose(height, s_heights[outer], atol=0.1))
    assert set(edge_atoms(ribbon, "S")) == set(edge)

    sigma_edge = (0.06, 0.03, 0.04)  # along, across, z [Å]
    rng = np.random.default_rng(4)
    frames = []
    for _ in range(200):
        d = rng.standard_normal((len(ribbon), 3)) * 0.02
        local = rng.standard_normal((len(edge), 3)) * sigma_edge
        d[edge] = local[:, :1] * along + local[:, 1:2] * across + local[:, 2:] * [0, 0, 1]
        frame = ribbon.copy()
        frame.positions += d
        frames.append(frame)
    measured = edge_vibrations(frames, "S", toward="Mo", remove_drift=False)
    assert measured.coordination == 2 and measured.amplitudes.atoms == len(edge)
    for value, expected, error in zip(measured.amplitudes.sigma, sigma_edge, measured.amplitudes.stderr):
        assert abs(value - expected) < 3.5 * error

    amplitudes = vibrational_amplitudes(frames, edge_element="S", toward="Mo", remove_drift=False)
    assert amplitudes.edges is not None
    draws = np.array([perturb_atoms(ribbon, amplitudes, rng=rng).positions - ribbon.positions for _ in range(120)])
    edge_draws = draws[:, edge]
    assert np.std(edge_draws @ along) == pytest.approx(0.06, rel=0.08)
    assert np.std(edge_draws @ across) == pytest.approx(0.03, rel=0.08)
    bulk = np.setdiff1d(np.arange(len(ribbon)), edge)
    assert np.std(draws[:, bulk]) == pytest.approx(0.02, rel=0.1)


def test_perturb_atoms_uses_the_amplitudes_of_each_group_and_the_scale() -> None:
    atoms = Icosahedron("Au", 3)
    cn = _coordination(atoms)
    amplitudes = VibrationalAmplitudes({("Au", 6): VibrationGroup((0.10, 0.10, 0.10)),
                                        ("Au", 12): VibrationGroup((0.02, 0.03, 0.04))})
    rng = np.random.default_rng(0)
    draws = np.array([perturb_atoms(atoms, amplitudes, rng=rng, scale=2.0).positions - atoms.positions for _ in range(100)])
    assert np.std(draws[:, cn == 6]) == pytest.approx(0.20, rel=0.05)
    assert np.std(draws[:, cn == 12], axis=(0, 1)) == pytest.approx([0.04, 0.06, 0.08], rel=0.1)
    # Coordination 8 was not measured: the nearest measured one (6) is used.
    assert np.std(draws[:, cn == 8]) == pytest.approx(0.20, rel=0.05)
    with pytest.raises(TemnnError, match="no amplitudes for element Au"):
        perturb_atoms(atoms, VibrationalAmplitudes.isotropic({"Pt": 0.1}), rng=rng)


def test_md_of_a_gold_cluster_vibrates_more_at_low_coordination(tmp_path) -> None:
    # EMT Au55 icosahedron, relaxed, then NVE at ~300 K with zero momentum and angular momentum.
    atoms = Icosahedron("Au", 3)
    atoms.calc = EMT()
    LBFGS(atoms, logfile=None).run(fmax=0.1, steps=100)
    thermalize_momenta(atoms, 600, rng=np.random.default_rng(0))
    Stationary(atoms)
    ZeroRotation(atoms)
    dynamics = VelocityVerlet(atoms, timestep=8 * units.fs)
    dynamics.run(30)
    path = tmp_path / "au55.traj"
    with Trajectory(path, "w", atoms) as trajectory:
        dynamics.attach(trajectory.write, interval=1)
        dynamics.run(150)
    amplitudes = vibrational_amplitudes(path)  # read back through ASE
    groups = {cn: g for (element, cn), g in amplitudes.groups.items() if g.atoms >= 5}
    core = groups.pop(12)
    core_sigma = np.mean(core.sigma)
    # Every surface group (coordination 6 and 8, maybe 7 after relaxation) vibrates more than
    # the core, and the surface as a whole by more than three standard errors.
    assert all(np.mean(g.sigma) > core_sigma for g in groups.values())
    surface = sum(np.mean(g.sigma) * g.atoms for g in groups.values()) / sum(g.atoms for g in groups.values())
    surface_error = math.sqrt(sum((np.mean(g.stderr) * g.atoms) ** 2 for g in groups.values())) / sum(
        g.atoms for g in groups.values())
    assert surface - core_sigma > 3 * math.hypot(surface_error, np.mean(core.stderr))
    # Classical Debye estimate for the core, ⟨u²⟩ = 3ħ²T/(m k_B θ_D²) with θ_D(Au) = 165 K: same order.
    temperature = np.mean([a.get_temperature() for a in Trajectory(path)])
    debye = math.sqrt(3 * constants.hbar**2 * temperature / (196.97 * constants.atomic_mass * constants.k * 165**2)) * 1e10
    assert 0.5 * debye < core_sigma < 2 * debye
    write_amplitudes(tmp_path / "amplitudes.json", amplitudes)
    assert read_amplitudes(tmp_path / "amplitudes.json") == amplitudes


def test_frozen_phonon_average_broadens_a_column_by_the_displacement_variance() -> None:
    # The mean of N shifted copies of one atom's wave is the static wave convolved with the
    # displacement Gaussian, so the second moment of the (linear) phase part Im(ψ - 1) grows by
    # ⟨u²⟩ per direction exactly; for a weak phase object Im(ψ - 1) ≈ |ψ - 1|. (|ψ - 1| itself is
    # not linear: the modulus of the band limit's ringing tails shrinks when averaged.) Tolerance 25 %:
    # with N = 100 configurations the sample variance of the shifts scatters by √(1/N) = 10 %.
    from temnn.simulate.waves import WaveSettings, exit_wave

    atoms = Atoms("C", positions=[(4.0, 4.0, 1.0)], cell=[8.0, 8.0, 2.0])
    settings = WaveSettings(energy=300e3, sampling=0.05, slice_thickness=2.0)
    u2 = 0.01  # [Å²] per direction
    amplitudes = VibrationalAmplitudes({("C", 0): VibrationGroup((math.sqrt(u2), math.sqrt(u2), 0.0))})

    def width2(wave) -> float:
        phase = np.imag(wave.array - 1)
        x = np.arange(wave.gpts[0]) * wave.sampling[0] - 4.0
        return float(((phase * x[:, None] ** 2).sum() + (phase * x[None, :] ** 2).sum()) / (2 * phase.sum()))

    static = exit_wave(atoms, settings)
    assert np.abs(static.array - 1).max() < 0.2  # weak phase
    averaged = frozen_phonon_wave(atoms, amplitudes, 100, settings, rng=np.random.default_rng(0)).coherent()
    assert width2(averaged) - width2(static) == pytest.approx(u2, rel=0.25)
    # The structures-stage hook makes the same configurations.
    hook = FrozenPhonons(amplitudes, 2)
    expected = frozen_phonon_wave(atoms, amplitudes, 2, settings, rng=np.random.default_rng(1))
    assert np.array_equal(hook(atoms, settings, rng=np.random.default_rng(1)).array, expected.array)


def test_bad_trajectories_and_files_raise(tmp_path) -> None:
    with pytest.raises(TemnnError, match="at least two frames"):
        vibrational_amplitudes([Atoms("Au")])
    with pytest.raises(TemnnError, match="same atoms"):
        vibrational_amplitudes([Atoms("Au"), Atoms("Pt")])
    with pytest.raises(TemnnError, match="file not found"):
        vibrational_amplitudes(tmp_path / "missing.traj")
    (tmp_path / "bad.json").write_text('{"groups": [{"element": "S"}]}')
    with pytest.raises(TemnnError, match="bad.json: not a vibrational-amplitudes file"):
        read_amplitudes(tmp_path / "bad.json")
    with pytest.raises(TemnnError, match="positive integer"):
        frozen_phonon_wave(Atoms("C", cell=[4, 4, 2]), VibrationalAmplitudes.isotropic({"C": 0.1}), 0)


def test_docstring_examples() -> None:
    import doctest

    from temnn.structures import vibrations

    result = doctest.testmod(vibrations)
    assert result.attempted > 0 and result.failed == 0
