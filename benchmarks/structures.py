"""Time the structure builders: milliseconds per sample and atoms per sample.

Run ``python benchmarks/structures.py [--samples N]``; prints a table and writes
``benchmarks/results/structures.json``. Structures are cheap next to multislice; the
goal is that building never shows in a data-generation profile (≪ 1 s per sample).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from temnn.io.files import write_json
from temnn._random import sample_rng
from temnn.structures.mx2 import random_mx2_flake
from temnn.structures.particle import random_supported_particle

CASES = {
    "MoS2 flake, 50 Å (publication III defaults)": lambda rng: random_mx2_flake(rng=rng),
    "MoS2 on graphene, 50 Å, tilt ≤ 10° (publication I)": lambda rng: random_mx2_flake(
        rng=rng, graphene=True, vacancies=0.05, holes=0.05, max_tilt=10.0
    ),
    "Au on CeO2(111), 60 Å, tilt ≤ 5° (thesis fig. 3.2)": lambda rng: random_supported_particle(rng=rng),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=50, help="samples per case")
    args = parser.parse_args()
    rows = []
    for name, build in CASES.items():
        times, atoms, sites = [], [], []
        for i in range(args.samples):
            rng = sample_rng(0, i)
            start = time.perf_counter()
            sample = build(rng)
            times.append(time.perf_counter() - start)
            atoms.append(len(sample.atoms))
            sites.append(len(sample.sites))
        rows.append(
            {
                "case": name,
                "samples": args.samples,
                "ms_per_sample_median": 1e3 * float(np.median(times)),
                "ms_per_sample_max": 1e3 * float(np.max(times)),
                "atoms_median": int(np.median(atoms)),
                "sites_median": int(np.median(sites)),
            }
        )
    print(f"{'case':55s} {'ms/sample':>10s} {'max ms':>8s} {'atoms':>7s} {'sites':>6s}")
    for r in rows:
        print(
            f"{r['case']:55s} {r['ms_per_sample_median']:10.1f} {r['ms_per_sample_max']:8.1f} "
            f"{r['atoms_median']:7d} {r['sites_median']:6d}"
        )
    out = Path(__file__).parent / "results" / "structures.json"
    write_json(out, {"machine": platform.platform(), "processor": platform.processor(), "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
