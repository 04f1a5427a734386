"""Exit-wave speed: temnn's pipeline vs abTEM called directly vs the FFT-bound floor.

Run ``python benchmarks/waves.py [--repeats R] [--cases NAME ...]``; prints a table and
writes ``benchmarks/results/waves.json``.

For each system:

* ``ours``: :func:`temnn.simulate.waves.exit_wave` with its defaults (FFT-friendly grid,
  deterministic FFTW plans, empty slices merged), seconds per wave in one process;
* ``ours, fine slices``: the same with ``merge_empty_slices=False`` (the grid and plan
  choice alone);
* ``direct``: what a user writes, ``abtem.PlaneWave(energy).multislice(abtem.Potential(
  atoms, sampling=0.05, slice_thickness=0.2, parametrization="kirkland")).compute()``
  with abTEM's default configuration, timed after a warm-up on the same grid so that
  FFTW's planning is not counted;
* ``floor``: the number of 0.2 Å slices × one FFT pair (forward + inverse, complex64,
  in place, one thread) on our grid, with pyFFTW under ``FFTW_ESTIMATE`` (the plans
  we use) and ``FFTW_MEASURE`` (the best FFTW finds);
* ``waves/hour``: ours with one worker process per core, each timing waves after its
  own warm-up (so contention between cores counts), against the direct call in one
  process (a single wave is one Dask task, so ``.compute()`` uses one core);
* ``max |Δψ|``: ours against the direct call. The grids differ (e.g. 1029 × 1000 vs
  1018 × 992 over the same extent), so our wave is Fourier-interpolated onto the direct
  grid (exact: both are band-limited well below either Nyquist frequency) and both are
  low-passed to the smaller of the two antialias cutoffs before subtracting. For scale,
  the direct call on our grid is compared with the direct call on its own grid in the
  same way (``grid Δ``: abTEM's own dependence on the sampling). On our grid the direct
  call is also compared with ours (``merge Δ``: the effect of merging empty slices,
  i.e. abTEM's antialias taper applied fewer times) and with ours on fine slices
  (float32 rounding only).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time
from pathlib import Path

import abtem
import numpy as np
import pyfftw
from abtem.core.fft import fft_interpolate
from ase import Atoms
from ase.build import mx2

from temnn.io.files import write_json
from temnn._random import sample_rng
from temnn.workflows.runner import run_samples
from temnn.simulate.waves import WaveSettings, exit_wave, slice_thicknesses, wave_grid
from temnn.structures.particle import random_supported_particle


def mos2_sheet() -> Atoms:
    """The system of issue #2: 16 × 9 orthogonal MoS₂ cells, 864 atoms, 50.88 × 49.57 Å, 36 slices."""
    return abtem.orthogonalize_cell(mx2("MoS2", size=(1, 1, 1), vacuum=2.0)).repeat((16, 9, 1))


def gold_on_ceria() -> Atoms:
    """An Au particle on CeO₂(111) in a 60 × 60 Å cell (thesis fig. 3.2), the builder's defaults."""
    return random_supported_particle(rng=sample_rng(0, 0)).atoms


CASES = {
    "MoS2 50 Å, 50 keV": (mos2_sheet, 50e3),
    "Au/CeO2 60 Å, 300 keV": (gold_on_ceria, 300e3),
}


def direct(atoms: Atoms, energy: float, **grid) -> np.ndarray:
    """abTEM called the way its documentation and the thesis (section 3.1) show."""
    potential = abtem.Potential(atoms, slice_thickness=0.2, parametrization="kirkland", projection="infinite", **grid)
    return abtem.PlaneWave(energy=energy).multislice(potential).compute(progress_bar=False).array


def warm_up_atoms(atoms: Atoms) -> Atoms:
    """One atom of each element in a thin cell of the same lateral size: compiles and plans."""
    symbols = sorted(set(atoms.get_chemical_symbols()))
    cell = [atoms.cell[0, 0], atoms.cell[1, 1], 0.4]
    return Atoms(symbols, positions=[(1.0 + i, 1.0, 0.1) for i in range(len(symbols))], cell=cell)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fft_pair_seconds(gpts: tuple[int, int], effort: str, repeats: int = 5) -> float:
    array = pyfftw.zeros_aligned(gpts, dtype=np.complex64)
    forward = pyfftw.FFTW(array, array, axes=(0, 1), direction="FFTW_FORWARD", flags=(effort,), threads=1)
    backward = pyfftw.FFTW(array, array, axes=(0, 1), direction="FFTW_BACKWARD", flags=(effort,), threads=1)
    array[:] = np.random.default_rng(0).random(gpts)
    return best_of(repeats, lambda: (forward(), backward()))


def band_limited(array: np.ndarray, extent: tuple[float, float], cutoff: float) -> np.ndarray:
    """``array`` with spatial frequencies above ``cutoff`` [1/Å] removed."""
    kx = np.fft.fftfreq(array.shape[0], extent[0] / array.shape[0])
    ky = np.fft.fftfreq(array.shape[1], extent[1] / array.shape[1])
    keep = kx[:, None] ** 2 + ky[None, :] ** 2 <= cutoff**2
    return np.fft.ifft2(np.fft.fft2(array) * keep)


def timed_wave(case: str, index: int) -> float:
    """Seconds for one of our waves in a worker process, after a warm-up there."""
    build, energy = CASES[case]
    atoms = build()
    settings = WaveSettings(energy=energy)
    exit_wave(warm_up_atoms(atoms), WaveSettings(energy=energy, gpts=wave_grid(tuple(atoms.cell.lengths()[:2]), settings)))
    start = time.perf_counter()
    exit_wave(atoms, settings)
    return time.perf_counter() - start


def run_case(case: str, repeats: int, workers: int) -> dict:
    build, energy = CASES[case]
    atoms = build()
    extent = (float(atoms.cell[0, 0]), float(atoms.cell[1, 1]))
    ours_settings = WaveSettings(energy=energy)
    fine_settings = WaveSettings(energy=energy, merge_empty_slices=False)
    gpts = wave_grid(extent, ours_settings)
    warm = warm_up_atoms(atoms)

    exit_wave(warm, WaveSettings(energy=energy, gpts=gpts))
    ours = exit_wave(atoms, ours_settings)
    t_ours = best_of(repeats, lambda: exit_wave(atoms, ours_settings))
    t_fine = best_of(repeats, lambda: exit_wave(atoms, fine_settings))

    direct_gpts = abtem.Potential(atoms, sampling=0.05).gpts
    direct(warm, energy, sampling=0.05)  # FFTW_MEASURE planning on the direct grid
    reference = direct(atoms, energy, sampling=0.05)
    t_direct = best_of(repeats, lambda: direct(atoms, energy, sampling=0.05))

    fine_slices = len(slice_thicknesses(atoms, fine_settings))
    pair_estimate = fft_pair_seconds(gpts, "FFTW_ESTIMATE")
    pair_measure = fft_pair_seconds(gpts, "FFTW_MEASURE")

    # accuracy: ours vs the direct call (different grids) and vs direct on our grid
    resampled = fft_interpolate(ours.array, reference.shape, normalization="values")
    cutoff = min(
        abtem.config.get("antialias.cutoff") / 2 / max(extent[0] / gpts[0], extent[1] / gpts[1]),
        abtem.config.get("antialias.cutoff") / 2 / max(extent[0] / direct_gpts[0], extent[1] / direct_gpts[1]),
    )
    difference = np.abs(band_limited(resampled, extent, cutoff) - band_limited(reference, extent, cutoff))
    direct_on_our_grid = direct(atoms, energy, gpts=gpts)
    # abTEM's own dependence on the grid: the direct call on both grids, compared the same way
    direct_resampled = fft_interpolate(direct_on_our_grid, reference.shape, normalization="values")
    grid_effect = np.abs(band_limited(direct_resampled, extent, cutoff) - band_limited(reference, extent, cutoff))
    fine = exit_wave(atoms, fine_settings)

    parallel = run_samples(functools.partial(timed_wave, case), range(workers), workers=workers, progress=False)
    t_parallel = float(np.median(parallel))
    return {
        "case": case,
        "atoms": len(atoms),
        "energy_eV": energy,
        "extent_A": extent,
        "grid_ours": list(gpts),
        "grid_direct": list(direct_gpts),
        "slices_fine": fine_slices,
        "slices_ours": len(slice_thicknesses(atoms, ours_settings)),
        "s_per_wave_ours": t_ours,
        "s_per_wave_ours_fine_slices": t_fine,
        "s_per_wave_direct": t_direct,
        "s_floor_estimate_plan": fine_slices * pair_estimate,
        "s_floor_measure_plan": fine_slices * pair_measure,
        "ms_fft_pair_estimate": 1e3 * pair_estimate,
        "ms_fft_pair_measure": 1e3 * pair_measure,
        "workers": workers,
        "s_per_wave_ours_all_cores": t_parallel,
        "waves_per_hour_ours_all_cores": workers * 3600 / t_parallel,
        "waves_per_hour_direct": 3600 / t_direct,
        "max_abs_diff_vs_direct_resampled": float(difference.max()),
        "rms_diff_vs_direct_resampled": float(np.sqrt(np.mean(difference**2))),
        "max_abs_diff_direct_between_grids": float(grid_effect.max()),
        "max_abs_diff_vs_direct_same_grid": float(np.abs(ours.array - direct_on_our_grid).max()),
        "max_abs_diff_fine_vs_direct_same_grid": float(np.abs(fine.array - direct_on_our_grid).max()),
        "max_abs_wave_minus_1": float(np.abs(reference - 1).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="timings per variant; the best is kept")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes for waves/hour")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="CASE")
    args = parser.parse_args()
    rows = []
    for case in args.cases:
        print(f"running {case} ...", flush=True)
        rows.append(run_case(case, args.repeats, args.workers))

    print(
        f"\n{'case':24s} {'grid ours/direct':>20s} {'slices':>7s} {'ours s':>7s} {'fine s':>7s} {'direct s':>8s} "
        f"{'floor s E/M':>12s} {'waves/h ours':>12s} {'direct':>7s} {'speed-up':>8s} {'max|Δψ|':>8s} {'grid Δ':>8s} {'merge Δ':>8s} {'fine Δ':>8s}"
    )
    for r in rows:
        grids = f"{r['grid_ours'][0]}x{r['grid_ours'][1]}/{r['grid_direct'][0]}x{r['grid_direct'][1]}"
        print(
            f"{r['case']:24s} {grids:>20s} {r['slices_ours']:3d}/{r['slices_fine']:<3d} {r['s_per_wave_ours']:7.2f} "
            f"{r['s_per_wave_ours_fine_slices']:7.2f} {r['s_per_wave_direct']:8.2f} "
            f"{r['s_floor_estimate_plan']:5.2f}/{r['s_floor_measure_plan']:<5.2f} "
            f"{r['waves_per_hour_ours_all_cores']:12.0f} {r['waves_per_hour_direct']:7.0f} "
            f"{r['waves_per_hour_ours_all_cores'] / r['waves_per_hour_direct']:7.1f}x "
            f"{r['max_abs_diff_vs_direct_resampled']:8.1e} {r['max_abs_diff_direct_between_grids']:8.1e} "
            f"{r['max_abs_diff_vs_direct_same_grid']:8.1e} {r['max_abs_diff_fine_vs_direct_same_grid']:8.1e}"
        )
    out = Path(__file__).parent / "results" / "waves.json"
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    write_json(
        out,
        {
            "machine": platform.platform(),
            "processor": platform.processor(),
            "cores": os.cpu_count(),
            "load_average_after": load,
            "abtem": abtem.__version__,
            "rows": rows,
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
