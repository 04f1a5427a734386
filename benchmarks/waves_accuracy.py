"""Exit waves at equal accuracy: the slice thickness a convergence criterion picks, and its speed.

Run ``python benchmarks/waves_accuracy.py [--extent L] [--tolerance TOL] [--band Q] [--doses D ...]``;
prints a table and writes ``benchmarks/results/waves_accuracy.json``.

For each system (``benchmarks/waves.py``'s MoS₂ sheet at 50 keV and Au particle on CeO₂ at
300 keV, both cropped laterally to their central ``--extent`` Å so that a run stays short):

* :func:`temnn.simulate.waves.converge_slice_thickness` picks the thickest of 2, 1, 0.5, 0.4 and
  0.3 Å slices whose exit wave is within max |Δψ| < ``--tolerance`` of 0.2 Å slices, once over the
  whole grid and once over spatial frequencies ≤ ``--band`` 1/Å (what an image can hold);
* the image criterion (``image_D``): the same search with max |ΔI|/σ_shot < 1 at each of
  ``--doses`` D e⁻/Å² (default 10³, the issue's, then 10⁴ and 10⁵) over noise-free HR-TEM images at the least damped conditions of each case's
  parameters (:func:`temnn.simulate.draw.least_damped_microscopes` of ``IMAGING``: MoS₂ at
  0.10 Å/px, defocus -150/-50/50 Å, publication III's ranges; Au/CeO₂ at 0.075 Å/px,
  defocus -200/0/200 Å, publication II's), then coarser wave samplings (``SAMPLINGS``, those
  not coarser than the image pixels) at the chosen thickness. It also reports the dose at
  which the choice reaches 1σ (the ratio grows as √D), the image ratio of the chosen wave
  against abTEM's direct wave, and that of 0.2 Å against 0.05 Å slices;
* ``ours``: seconds for :func:`temnn.simulate.waves.exit_wave` at the chosen thickness (and sampling);
* ``direct``: abTEM called as a user would, 0.2 Å slices on its own grid
  (``benchmarks/waves.py``'s ``direct``), timed after a warm-up; seconds are the best of
  ``--repeats`` calls, ours and direct alike;
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
from temnn.parameters import Parameters  # noqa: E402
from temnn.simulate.draw import least_damped_microscopes  # noqa: E402
from temnn.simulate.waves import (  # noqa: E402
    ExitWave,
    WaveSettings,
    converge_slice_thickness,
    exit_wave,
    image_noise_ratio,
    slice_thicknesses,
)

CASES = {
    "MoS2 50 keV": (mos2_sheet, 50e3),
    "Au/CeO2 300 keV": (gold_on_ceria, 300e3),
}
# The images each case is for: publication III's MoS2 ranges (temnn.Parameters' defaults) at 0.10 Å/px;
# publication II's Au/CeO2 ranges (the demo's Mask configuration: defocus ±200 Å, Cs 0-12.45 µm, focal
# spread 5-20 Å, blur 0.1-0.8 Å) at 0.075 Å/px.
IMAGING = {
    "MoS2 50 keV": Parameters(label="Disk", image_size=(256, 256), sampling=(0.10, 0.10)),
    "Au/CeO2 300 keV": Parameters(label="Mask", num_classes=2, image_size=(256, 256), sampling=(0.075, 0.075),
                                  defocus=(-200.0, 200.0), ctf_c30=(0.0, 12.45e4), focal_spread=(5.0, 20.0),
                                  blur=(0.1, 0.8)),
}
SAMPLINGS = (0.1, 0.075)  # coarser wave samplings [Å/px] the image criterion may choose


def crop(atoms: Atoms, extent: float) -> Atoms:
    """The atoms in the central ``extent`` × ``extent`` Å of the cell, in a cell of that size."""
    centre = np.diag(atoms.cell)[:2] / 2
    low = centre - extent / 2
    inside = np.all((atoms.positions[:, :2] >= low) & (atoms.positions[:, :2] < low + extent), axis=1)
    out = atoms[inside]
    out.positions[:, :2] -= low
    out.set_cell([extent, extent, atoms.cell[2, 2]])
    return out


def seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_case(name: str, extent: float, tolerance: float, band: float, fine: float, doses: list[float],
             repeats: int, wave_criterion: bool = True) -> dict:
    build, energy = CASES[name]
    atoms = build()
    if extent < min(np.diag(atoms.cell)[:2]):
        atoms = crop(atoms, extent)
    settings = WaveSettings(energy=energy)
    criteria, times = [], {}
    if wave_criterion:
        start = time.perf_counter()
        criteria.append(("whole_grid", converge_slice_thickness(atoms, settings, tolerance=tolerance)))
        times["s_converge_whole_grid"] = time.perf_counter() - start
        criteria.append((f"band_{band:g}", converge_slice_thickness(atoms, settings, tolerance=tolerance, band=band)))
    microscopes = least_damped_microscopes(IMAGING[name], energy=energy)
    imaged = {}
    for dose in doses:
        start = time.perf_counter()
        imaged[dose] = converge_slice_thickness(atoms, settings, microscopes=microscopes, dose=dose,
                                                samplings=SAMPLINGS)
        imaged[dose] = (imaged[dose], time.perf_counter() - start)
    direct(warm_up_atoms(atoms), energy, sampling=0.05)
    t_direct = seconds(lambda: direct(atoms, energy, sampling=0.05), repeats)
    row = {
        "case": name,
        "atoms": len(atoms),
        "extent_A": [float(atoms.cell[0, 0]), float(atoms.cell[1, 1]), float(atoms.cell[2, 2])],
        "energy_eV": energy,
        "s_direct_0.2A": t_direct,
        **times,
    }
    criteria += [(f"image_{dose:g}", choice) for dose, (choice, _) in imaged.items()]
    for key, choice in criteria:
        chosen = replace(settings, slice_thickness=choice.slice_thickness, sampling=choice.sampling or settings.sampling)
        t_ours = seconds(lambda: exit_wave(atoms, chosen), repeats)
        row[key] = {**choice.to_dict(), "slices": len(slice_thicknesses(atoms, chosen)), "s_ours": t_ours,
                    "speed_vs_direct": t_direct / t_ours}
    reference = exit_wave(atoms, replace(settings, slice_thickness=0.2))
    finer = exit_wave(atoms, replace(settings, slice_thickness=fine))
    row[f"max_abs_diff_0.2A_vs_{fine:g}A"] = float(np.abs(reference.array - finer.array).max())
    # The image criterion's figures, for scale: the reference's own slicing error, the dose at which the
    # choice reaches one σ (max |ΔI|/σ ∝ √D), and the chosen wave against abTEM's direct call.
    by_direct = direct(atoms, energy, sampling=0.05)
    cell = np.diag(atoms.cell)[:2]
    abtem_wave = ExitWave(array=np.asarray(by_direct, dtype=np.complex64),
                          sampling=(cell[0] / by_direct.shape[-2], cell[1] / by_direct.shape[-1]), energy=energy)
    for dose, (choice, t_converge) in imaged.items():
        ours = exit_wave(atoms, replace(settings, slice_thickness=choice.slice_thickness, sampling=choice.sampling))
        chosen_ratio = image_noise_ratio(reference, ours, microscopes, dose)
        row[f"image_{dose:g}"].update({
            "s_converge": t_converge,
            "max_noise_ratio_chosen": chosen_ratio,
            "dose_at_one_sigma": dose / chosen_ratio**2,
            "max_noise_ratio_vs_abtem_direct": image_noise_ratio(abtem_wave, ours, microscopes, dose),
            f"max_noise_ratio_0.2A_vs_{fine:g}A": image_noise_ratio(finer, reference, microscopes, dose),
            "wave_gpts": list(ours.gpts),
        })
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extent", type=float, default=24.0, help="lateral crop of each cell [Å] (default 24)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="max |Δψ| against 0.2 Å slices (default 1e-3)")
    parser.add_argument("--band", type=float, default=2.0, help="spatial-frequency band of the second criterion "
                        "[1/Å] (default 2, i.e. 0.5 Å resolution)")
    parser.add_argument("--fine", type=float, default=0.05, help="fine slicing that measures the reference's own "
                        "error [Å] (default 0.05)")
    parser.add_argument("--doses", type=float, nargs="+", default=[1e3, 1e4, 1e5], help="doses of the image "
                        "criterion's shot noise [e⁻/Å²] (default 1000 10000 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls, best kept (default 3)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--criteria", nargs="+", default=["wave", "image"], choices=["wave", "image"],
                        help="which criteria to run (default both)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "waves_accuracy.json")
    args = parser.parse_args()
    doses = args.doses if "image" in args.criteria else []
    rows = [run_case(name, args.extent, args.tolerance, args.band, args.fine, doses, args.repeats,
                     wave_criterion="wave" in args.criteria) for name in args.cases]
    print(f"\n{'case':18s} {'criterion':12s} {'chosen Å':>8s} {'slices':>6s} {'ours s':>7s} {'direct s':>8s} "
          f"{'speed':>6s}  max |Δψ| per candidate")
    for r in rows:
        for key in [k for k in r if k == "whole_grid" or k.startswith(("band_", "image_"))]:
            c = r[key]
            tried = ", ".join(f"{t:g} Å {d:.2g}" for t, d in c.get("max_abs_difference", c.get("max_noise_ratio")))
            if key.startswith("image_"):
                tried = "max |ΔI|/σ: " + tried + "; wave sampling " + ", ".join(
                    f"{t:g} Å/px {d:.2g}" for t, d in c["max_noise_ratio_by_sampling"])
            print(f"{r['case']:18s} {key:12s} {c['slice_thickness']:8g} {c['slices']:6d} {c['s_ours']:7.2f} "
                  f"{r['s_direct_0.2A']:8.2f} {c['speed_vs_direct']:6.2f}  {tried}")
        print(f"{'':18s} 0.2 Å slices vs {args.fine:g} Å: max |Δψ| {r[f'max_abs_diff_0.2A_vs_{args.fine:g}A']:.2g}")
        for dose in doses:
            image = r[f"image_{dose:g}"]
            print(f"{'':18s} image criterion at {dose:g} e⁻/Å²: chosen {image['slice_thickness']:g} Å, "
                  f"{image['sampling']:g} Å/px, max |ΔI|/σ {image['max_noise_ratio_chosen']:.2f} (1σ at "
                  f"{image['dose_at_one_sigma']:.3g} e⁻/Å²), vs abTEM direct "
                  f"{image['max_noise_ratio_vs_abtem_direct']:.2f}; 0.2 vs {args.fine:g} Å slices "
                  f"{image[f'max_noise_ratio_0.2A_vs_{args.fine:g}A']:.2f}")
    write_json(args.out, {
        "command": "python " + " ".join(sys.argv),
        "machine": platform.platform(),
        "cores": os.cpu_count(),
        "load_average_after": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "conditions": {"tolerance": args.tolerance, "band_per_angstrom": args.band, "reference_slice_A": 0.2,
                       "criteria": args.criteria, "image_doses": doses, "image_tolerance": 1.0, "wave_sampling_candidates_A": list(SAMPLINGS),
                       "repeats": args.repeats,
                       "candidates_A": [2.0, 1.0, 0.5, 0.4, 0.3], "lateral_extent_A": args.extent,
                       "sampling_A": 0.05, "projection": "infinite", "parametrization": "kirkland"},
        "rows": rows,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
