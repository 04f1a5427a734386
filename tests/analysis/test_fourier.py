"""Local power spectra of a particle: lattice fringes with known spacing and angle."""

from __future__ import annotations

import numpy as np
import pytest

from temnn.analysis.fourier import (apodised_power_spectrum, crop_size, instance_power_spectra, plot_fourier_peaks,
                                    show_power_spectrum, strongest_fourier_peaks, track_fourier_peaks)
from temnn.errors import TemnnError

SAMPLING = 0.2  # Å/px
N = 192
X, Y = np.mgrid[:N, :N]


def lattice(spacing: float, angle_deg: float) -> np.ndarray:
    """Fringes cos(2π q·r) with |q| = 1/spacing [1/Å] along angle_deg from the x axis."""
    q = np.array([np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))]) / spacing
    return np.cos(2 * np.pi * (q[0] * X + q[1] * Y) * SAMPLING)


def particle(cx: float, cy: float, radius: float = 50.0, track_id: int = 3) -> np.ndarray:
    return np.where(np.hypot(X - cx, Y - cy) < radius, track_id, 0).astype(np.int32)


def test_lattice_peaks_at_the_right_frequency_and_angle():
    image = lattice(1.5, 25.0) + 0.6 * lattice(2.1, 100.0) + 0.3 * np.sin(X / 7.0)
    labels = particle(90, 100)
    size = crop_size([labels], 3)
    spectrum = apodised_power_spectrum(image, labels == 3, size=size, sigma=2.0)
    q = strongest_fourier_peaks(spectrum, SAMPLING, n=2)
    dq = 1 / (size * SAMPLING)
    # Expected: (1/1.5 Å⁻¹, 25°) and the Friedel partner of (1/2.1 Å⁻¹, 100°) with qy > 0, i.e. at 100°.
    assert np.hypot(*q[0]) == pytest.approx(1 / 1.5, abs=dq)
    assert np.degrees(np.arctan2(q[0, 1], q[0, 0])) == pytest.approx(25.0, abs=np.degrees(dq * 1.5))
    assert np.hypot(*q[1]) == pytest.approx(1 / 2.1, abs=dq)
    rows = track_fourier_peaks([spectrum], SAMPLING, peaks=q)
    assert [r["spacing_angstrom"] for r in rows] == pytest.approx([1.5, 2.1], abs=0.005)
    assert [r["angle_deg"] for r in rows] == pytest.approx([25.0, 100.0], abs=0.05)
    assert 0 < rows[1]["intensity"] < rows[0]["intensity"] <= 1


def test_rotating_moving_particle_gives_the_angle_trend():
    frames = 8
    images = [lattice(1.5, 20.0 + t) for t in range(frames)]  # rotates 1° per frame
    labels = np.stack([particle(80 + 3 * t, 96) for t in range(frames)])  # and drifts 0.6 Å per frame
    labels[5] = 0  # the particle is missed in one frame
    spectra = list(instance_power_spectra(images, labels, 3))
    assert np.isnan(spectra[5]).all() and np.isfinite(spectra[4]).all()
    rows = track_fourier_peaks(iter(spectra), SAMPLING, n_peaks=1)
    angle = np.array([r["angle_deg"] for r in rows])
    assert np.isnan(angle[5]) and np.isnan(rows[5]["intensity"])
    seen = np.arange(frames) != 5
    slope, offset = np.polyfit(np.arange(frames)[seen], angle[seen], 1)
    assert slope == pytest.approx(1.0, abs=0.02)
    assert offset == pytest.approx(20.0, abs=0.1)


def test_one_frame_stack_and_size_rules():
    labels = particle(96, 96, radius=30)
    (spectrum,) = instance_power_spectra([lattice(2.0, 0.0)], [labels], 3)
    assert spectrum.shape == (crop_size([labels], 3, pad=6),) * 2
    assert crop_size([labels], 3, pad=6) >= 2 * (59 + 12)
    with pytest.raises(TemnnError, match="size"):
        instance_power_spectra([lattice(2.0, 0.0)], iter([labels]), 3)
    with pytest.raises(TemnnError, match="none of the frames"):
        crop_size([labels], 4)
    (fixed,) = instance_power_spectra([lattice(2.0, 0.0)], iter([labels]), 3, size=100)
    assert fixed.shape == (100, 100)


def test_plots(tmp_path):
    labels = particle(96, 96)
    spectra = list(instance_power_spectra([lattice(1.5, 10.0)] * 2, [labels] * 2, 3))
    rows = track_fourier_peaks(spectra, SAMPLING, n_peaks=2)
    fig, axes = plot_fourier_peaks(rows, path=tmp_path / "peaks.png")
    assert len(axes[0].lines) == 2 and (tmp_path / "peaks.png").exists()
    image = show_power_spectrum(axes[0], spectra[0], SAMPLING)
    low, high = image.get_extent()[:2]
    assert high - low == pytest.approx(len(spectra[0]) / (len(spectra[0]) * SAMPLING))  # 1/sampling [1/Å]
