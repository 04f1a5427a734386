"""Exit waves at equal accuracy: the slice thickness a convergence criterion picks, and its speed.

Run ``python benchmarks/waves_accuracy.py [--extent L] [--tolerance TOL] [--band Q]``; prints a
table and writes ``benchmarks/results/waves_accuracy.json``.

For each system (``benchmarks/waves.py``'s MoS₂ sheet at 50 keV and Au particle on CeO₂ at
300 keV, both cropped laterally to their central ``--extent`` Å so that a run stays short):

* :func:`temnn.simulate.waves.converge_slice_thickness` picks the thickest of 2, 1, 0.5, 0.4 and
  0.3 Å slices whose exit wave is within max |Δψ| < ``--tolerance`` of 0.2 Å slices, once over the
  whole grid and once over spatial frequencies ≤ ``--band`` 1/Å (what an image can hold);
* ``ours``: seconds for :func:`temnn.simulate.waves.exit_wave` at the chosen thickness;
* ``direct``: abTEM called as a user would, 0.2 Å slices on its own grid
  (``benchmarks/waves.py``'s ``direct``), timed after a warm-up;
* ``slicing error``: 0.2 Å slices against 0.05 Å slices (``--fine``), the error of the reference
  itself, for scale.

One process, one thread for FFTW (temnn's setting); abTEM's direct call runs as one Dask task.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import Atoms

sys.path.insert(0, str(Path(__file__).parent))
from waves import direct, gold_on_ceria, mos2_sheet, warm_up_atoms  # noqa: E402

from temnn.io.files import write_json  # noqa: E402
from temnn.simulate.waves import WaveSettings, converge_slice_thickness, exit_wave, slice_thicknesses  # noqa: E402

CASES = {
    "MoS2 50 keV": (mos2_sheet, 50e3),
    "Au/CeO2 300 keV": (gold_on_ceria, 300e3),
}


def crop(atoms: Atoms, extent: float) -> Atoms:
    """The atoms in the central ``extent`` × ``extent`` Å of the cell, in a cell of that size."""
    centre = np.diag(atoms.cell)[:2] / 2
    low = centre - extent / 2
    inside = np.all((atoms.positions[:, :2] >= low) & (atoms.positions[:, :2] < low + extent), axis=1)
    out = atoms[inside]
    out.positions[:, :2] -= low
    out.set_cell([extent, extent, atoms.cell[2, 2]])
    return out


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_case(name: str, extent: float, tolerance: float, band: float, fine: float) -> dict:
    build, energy = CASES[name]
    atoms = build()
    if extent < min(np.diag(atoms.cell)[:2]):
        atoms = crop(atoms, extent)
    settings = WaveSettings(energy=energy)
    start = time.perf_counter()
    whole = converge_slice_thickness(atoms, settings, tolerance=tolerance)
    t_converge = time.perf_counter() - start
    banded = converge_slice_thickness(atoms, settings, tolerance=tolerance, band=band)
    direct(warm_up_atoms(atoms), energy, sampling=0.05)
    t_direct = seconds(lambda: direct(atoms, energy, sampling=0.05))
    row = {
        "case": name,
        "atoms": len(atoms),
        "extent_A": [float(atoms.cell[0, 0]), float(atoms.cell[1, 1]), float(atoms.cell[2, 2])],
        "energy_eV": energy,
        "s_direct_0.2A": t_direct,
        "s_converge_whole_grid": t_converge,
    }
    for key, choice in (("whole_grid", whole), (f"band_{band:g}", banded)):
        chosen = replace(settings, slice_thickness=choice.slice_thickness)
        t_ours = seconds(lambda: exit_wave(atoms, chosen))
        row[key] = {**choice.to_dict(), "slices": len(slice_thicknesses(atoms, chosen)), "s_ours": t_ours,
                    "speed_vs_direct": t_direct / t_ours}
    reference = exit_wave(atoms, replace(settings, slice_thickness=0.2)).array
    finer = exit_wave(atoms, replace(settings, slice_thickness=fine)).array
    row[f"max_abs_diff_0.2A_vs_{fine:g}A"] = float(np.abs(reference - finer).max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extent", type=float, default=24.0, help="lateral crop of each cell [Å] (default 24)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="max |Δψ| against 0.2 Å slices (default 1e-3)")
    parser.add_argument("--band", type=float, default=2.0, help="spatial-frequency band of the second criterion "
                        "[1/Å] (default 2, i.e. 0.5 Å resolution)")
    parser.add_argument("--fine", type=float, default=0.05, help="fine slicing that measures the reference's own "
                        "error [Å] (default 0.05)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "waves_accuracy.json")
    args = parser.parse_args()
    rows = [run_case(name, args.extent, args.tolerance, args.band, args.fine) for name in args.cases]
    print(f"\n{'case':18s} {'criterion':12s} {'chosen Å':>8s} {'slices':>6s} {'ours s':>7s} {'direct s':>8s} "
          f"{'speed':>6s}  max |Δψ| per candidate")
    for r in rows:
        for key in [k for k in r if k == "whole_grid" or k.startswith("band_")]:
            c = r[key]
            tried = ", ".join(f"{t:g} Å {d:.2g}" for t, d in c["max_abs_difference"])
            print(f"{r['case']:18s} {key:12s} {c['slice_thickness']:8g} {c['slices']:6d} {c['s_ours']:7.2f} "
                  f"{r['s_direct_0.2A']:8.2f} {c['speed_vs_direct']:6.2f}  {tried}")
        print(f"{'':18s} 0.2 Å slices vs {args.fine:g} Å: max |Δψ| {r[f'max_abs_diff_0.2A_vs_{args.fine:g}A']:.2g}")
    write_json(args.out, {
        "command": "python " + " ".join(sys.argv),
        "machine": platform.platform(),
        "cores": os.cpu_count(),
        "load_average_after": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "conditions": {"tolerance": args.tolerance, "band_per_angstrom": args.band, "reference_slice_A": 0.2,
                       "candidates_A": [2.0, 1.0, 0.5, 0.4, 0.3], "lateral_extent_A": args.extent,
                       "sampling_A": 0.05, "projection": "infinite", "parametrization": "kirkland"},
        "rows": rows,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
