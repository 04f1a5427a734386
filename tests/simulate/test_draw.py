"""Microscope draws: determinism, ranges, log-uniform dose, focal series, JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from temnn import Parameters
from temnn.errors import TemnnError
from temnn.simulate.draw import ABERRATION_KEYS, MicroscopeParameters, draw_microscope

BASE = Parameters(
    label="Disk",
    image_size=(64, 64),
    sampling=(0.1, 0.11),
    ctf_c12=(0.0, 25.0),
    ctf_c21=(0.0, 600.0),
    aperture=20.0,
    angular_spread=(0.1, 0.5),
)


def test_same_generator_same_draw() -> None:
    a = draw_microscope(BASE, rng=np.random.default_rng(5), energy=50e3)
    b = draw_microscope(BASE, rng=np.random.default_rng(5), energy=50e3)
    c = draw_microscope(BASE, rng=np.random.default_rng(6), energy=50e3)
    assert a == b and a != c


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_values_lie_in_their_ranges(seed: int) -> None:
    m = draw_microscope(BASE, rng=np.random.default_rng(seed), energy=50e3)
    p = BASE
    assert p.sampling[0] <= m.sampling <= p.sampling[1]
    assert p.defocus[0] <= m.defocus[0] <= p.defocus[1] and m.num_images == 1
    assert p.dose_range[0] <= m.dose <= p.dose_range[1]
    for name in ("focal_spread", "angular_spread", "blur"):
        assert getattr(p, name)[0] <= getattr(m, name) <= getattr(p, name)[1]
    for key in ABERRATION_KEYS:
        low, high = getattr(p, "ctf_" + key.lower())
        assert low <= getattr(m, key) <= high
    c0, c3, floor = m.mtf
    assert p.mtf_c0[0] <= c0 <= p.mtf_c0[1] and p.mtf_c3[0] <= c3 <= p.mtf_c3[1]
    assert p.mtf_floor[0] <= floor <= p.mtf_floor[1]
    assert p.readout[0] <= m.readout <= p.readout[1]
    assert m.aperture == 20.0 and m.energy == 50e3


def test_dose_is_log_uniform() -> None:
    rng = np.random.default_rng(0)
    log_dose = [np.log10(draw_microscope(BASE, rng=rng, energy=50e3).dose) for _ in range(2000)]
    low, high = BASE.log_dose
    assert stats.kstest(log_dose, stats.uniform(low, high - low).cdf).pvalue > 1e-3


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 5),
    step=st.floats(-80, 80),
    jitter=st.floats(0, 10),
    low=st.floats(-300, 0),
    extra=st.floats(0, 100),
    seed=st.integers(0, 2**32 - 1),
)
def test_focal_series_steps_and_range(n: int, step: float, jitter: float, low: float, extra: float, seed: int) -> None:
    high = low + (n - 1) * (abs(step) + jitter) + extra + 1e-6  # the tightest range Parameters accepts, and wider
    p = BASE.replace(multifocus=(n, step, jitter), defocus=(low, high))
    m = draw_microscope(p, rng=np.random.default_rng(seed), energy=300e3)
    defocus = np.array(m.defocus)
    assert len(defocus) == n
    assert np.all(defocus >= low - 1e-9) and np.all(defocus <= high + 1e-9)
    assert np.all(np.abs(np.diff(defocus) - step) <= jitter + 1e-9)


def test_focal_series_shares_everything_but_defocus() -> None:
    single = draw_microscope(BASE, rng=np.random.default_rng(2), energy=50e3)
    series = draw_microscope(BASE.replace(multifocus=(3, 50.0, 1.0)), rng=np.random.default_rng(2), energy=50e3)
    assert dataclasses.replace(series, defocus=single.defocus) == single


def test_switching_noise_off_keeps_the_other_values() -> None:
    noisy = draw_microscope(BASE, rng=np.random.default_rng(4), energy=50e3)
    clean = draw_microscope(BASE.replace(noise=None, mtf=None), rng=np.random.default_rng(4), energy=50e3)
    assert clean.dose is None and clean.readout is None and clean.mtf is None
    assert dataclasses.replace(noisy, dose=None, readout=None, mtf=None) == clean


def test_json_round_trip() -> None:
    m = draw_microscope(BASE.replace(multifocus=(3, 50.0, 1.0)), rng=np.random.default_rng(9), energy=50e3)
    assert MicroscopeParameters.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_bad_fields_are_named() -> None:
    with pytest.raises(TemnnError, match="focus"):
        MicroscopeParameters.from_dict({"sampling": 0.1, "defocus": [0.0], "energy": 3e5, "focus": 1.0})
    with pytest.raises(TemnnError, match="sampling"):
        MicroscopeParameters(sampling=-0.1, defocus=(0.0,), energy=3e5)
    with pytest.raises(TemnnError, match="mtf"):
        MicroscopeParameters(sampling=0.1, defocus=(0.0,), energy=3e5, mtf=(0.3, 2.0))


def test_rng_is_keyword_only_and_a_positional_generator_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"draw_microscope: give the random generator as rng="):
        old = draw_microscope(BASE, np.random.default_rng(5), energy=50e3)
    assert old == draw_microscope(BASE, rng=np.random.default_rng(5), energy=50e3)
    with pytest.raises(TypeError):
        draw_microscope(BASE, 5, energy=50e3)  # not a generator: no silent reinterpretation
