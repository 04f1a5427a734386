"""The pure helpers of the science benchmarks (``benchmarks/science/_common.py``) on hand-made cases."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from temnn.errors import TemnnError

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "science" / "_common.py"
_spec = importlib.util.spec_from_file_location("science_common", _PATH)
common = sys.modules.setdefault("science_common", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(common)


def ramp(dose: np.ndarray, start: float = 1.5, stop: float = 2.5, area: float = 7.0) -> np.ndarray:
    """Area 0 below 10^start e⁻/Å², ``area`` above 10^stop, linear in log dose in between."""
    return area * np.clip((np.log10(dose) - start) / (stop - start), 0.0, 1.0)


def test_dose_limits_of_a_ramp_are_its_closed_form_doses():
    dose = np.logspace(1, 4, 301)
    limits = common.dose_limits(dose, ramp(dose), tolerance=0.1)
    assert limits.plateau == 7.0
    assert limits.half_dose == pytest.approx(100.0, rel=1e-9)  # 10^(1.5 + 0.5)
    assert limits.convergence_dose == pytest.approx(10**2.4, rel=1e-9)  # area reaches 0.9 · plateau
    assert limits.band == pytest.approx((0.9 * 7.0, 7.0), rel=1e-6)


def test_dose_limits_do_not_depend_on_frame_order():
    dose = np.logspace(1, 4, 101)
    order = np.random.default_rng(0).permutation(len(dose))
    assert common.dose_limits(dose[order], ramp(dose)[order]) == common.dose_limits(dose, ramp(dose))


def test_a_dip_delays_convergence_and_over_segmentation_widens_the_band():
    dose = np.logspace(1, 4, 301)
    area = ramp(dose)
    area[(dose > 10**2.9) & (dose < 10**3.0)] = 5.0  # part of the particle lost again: below 0.9 · plateau
    area[(dose > 10**3.3) & (dose < 10**3.4)] = 9.0  # bleeds into the vacuum
    limits = common.dose_limits(dose, area)
    assert 10**2.9 < limits.convergence_dose <= 10**3.0 * 1.001
    assert limits.band == (7.0, 9.0)
    assert limits.half_dose == pytest.approx(100.0, rel=1e-9)  # the dip stays above half: no effect


def test_running_median_smooths_noisy_frames_to_the_right_doses():
    rng = np.random.default_rng(1)
    dose = np.logspace(1, 4, 1001)
    noisy = ramp(dose) * (1 + 0.1 * rng.standard_normal(dose.size))
    limits = common.dose_limits(dose, noisy, window=41)
    assert limits.half_dose == pytest.approx(100.0, rel=0.1)
    assert limits.convergence_dose == pytest.approx(10**2.4, rel=0.25)
    with pytest.raises(TemnnError):
        common.dose_limits(dose, noisy, window=4)


def test_running_median_shortens_the_window_at_the_ends():
    values = np.array([5.0, 1.0, 3.0, 100.0, 2.0])
    np.testing.assert_array_equal(common.running_median(values, 3), [3.0, 3.0, 3.0, 3.0, 51.0])
    np.testing.assert_array_equal(common.running_median(values, 1), values)


def test_nothing_segmented_has_no_dose_limits():
    dose = np.logspace(1, 4, 20)
    limits = common.dose_limits(dose, np.zeros(20))
    assert limits.convergence_dose is None and limits.half_dose is None


def test_y_scramble_of_two_waves_swaps_them():
    truths = [np.full((4, 4), 1 + 0.2j), np.full((4, 4), 0.5 - 0.1j)]
    rmse = common.y_scramble_rmse(truths, truths, np.random.default_rng(0))
    np.testing.assert_allclose(rmse, [abs(0.5 + 0.3j), abs(0.5 + 0.3j)], rtol=1e-6)


def test_y_scramble_never_pairs_a_wave_with_itself_and_reaches_every_other():
    values = np.array([1.0, 1.1j, 2.0, 3.0 - 1j, 0.25])
    truths = [np.stack([np.full((3, 3), v.real), np.full((3, 3), v.imag)]) for v in values]  # (re, im) layout
    seen: set[tuple[int, int]] = set()
    rng = np.random.default_rng(2)
    for _ in range(40):
        rmse = common.y_scramble_rmse(truths, truths, rng)
        for i, r in enumerate(rmse):
            distance = np.abs(values - values[i])
            j = int(np.argmin(np.abs(distance - r)))
            assert j != i and distance[j] == pytest.approx(r, rel=1e-6)
            seen.add((i, j))
    assert seen == {(i, j) for i in range(5) for j in range(5) if i != j}


def test_network_options_follow_the_recipe():
    recipe = ["--arch", "unet", "--filters", "8", "--levels", "3", "--block-layers", "2", "--kernel", "3",
              "--batch-size", "8", "--rmsprop", "5e-4"]
    assert common.network_options(recipe, "unetpp") == ["--arch", "unetpp", "--batch-size", "8", "--rmsprop", "5e-4",
                                                        "--filters", "8", "--levels", "3", "--block-layers", "2",
                                                        "--kernel", "3"]
    msd = common.network_options(recipe, "msdnet")
    assert msd[:6] == ["--arch", "msdnet", "--batch-size", "8", "--rmsprop", "5e-4"]
    assert msd[6:] == list(common.MSDNET_OPTIONS) and "--levels" not in msd
    with pytest.raises(TemnnError):
        common.network_options(recipe, "resnet")


def test_markdown_table_formats_numbers_and_missing_cells():
    table = common.markdown_table([{"a": 0.000123456, "b": None}, {"a": True}])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 0.0001235 | – |", "| yes | – |"]


def test_extrapolate_minutes_of_an_error_mirrors_that_of_a_score():
    # The same power law, once as an F1 shortfall 1 - F1 and once as an RMSE: the same time to a goal
    # of the same distance (0.01 still to go), the same exponent; and a goal already met is reached.
    minutes = (2.0, 5.0, 10.0, 30.0, 60.0)
    f1 = [{"minutes": t, "metric": 1 - 0.2 * t ** -0.7} for t in minutes]
    rmse = [{"minutes": t, "metric": 0.2 * t ** -0.7} for t in minutes]
    score = common.extrapolate_minutes(f1, "metric", 0.99, tail=1.0)
    error = common.extrapolate_minutes(rmse, "metric", 0.01, tail=1.0, higher_is_better=False)
    assert error["exponent"] == pytest.approx(0.7) and score["exponent"] == pytest.approx(0.7)
    assert error["minutes"] == pytest.approx(20 ** (1 / 0.7)) == pytest.approx(score["minutes"])
    met = common.extrapolate_minutes(rmse, "metric", 0.05, tail=1.0, higher_is_better=False)
    assert met["reached"] == 10.0 and met["minutes"] is None  # 0.2 · 10^-0.7 = 0.0399 ≤ 0.05
    # An error that grows again at the end is not improving: no time to the goal.
    worse = common.extrapolate_minutes([{"minutes": t, "metric": 0.01 * t ** 0.3} for t in minutes], "metric",
                                       0.001, tail=1.0, higher_is_better=False)
    assert worse["exponent"] < 0 and worse["minutes"] is None and worse["reached"] is None
