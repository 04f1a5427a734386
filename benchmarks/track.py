"""Speed and memory of "Label by 2+1D connectivity" (temnn.track) on long stacks.

Frames are 1024 × 1024 binary masks with ~20 particles (discs, some touching) that
drift a little from frame to frame; they are drawn on the fly by a generator, as
a long experimental sequence would be read, so nothing holds the whole stack.
Each stack length runs in its own subprocess and reports its peak resident
memory (``ru_maxrss``); for a streaming implementation it stays flat from 100 to
1000 frames.

Run ``python benchmarks/track.py`` (``--frames 100 1000`` by default). Prints a
table and writes ``benchmarks/results/track.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

SIZE = 1024
PARTICLES = 20
SAMPLING = 0.5  # Å/pixel
MIN_SEPARATION = 1.0  # nm = 20 px at 0.5 Å/pixel (min_spacing = 10 Å)


def frames(count: int, *, seed: int = 0) -> Iterator[np.ndarray]:
    """``count`` binary frames of drifting discs (radius 15-45 px), drawn one at a time."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(60, SIZE - 60, (PARTICLES, 2))
    radii = rng.uniform(15, 45, PARTICLES)
    for _ in range(count):
        frame = np.zeros((SIZE, SIZE), dtype=bool)
        for (cx, cy), r in zip(centres, radii):
            x0, x1 = int(max(cx - r - 1, 0)), int(min(cx + r + 2, SIZE))
            y0, y1 = int(max(cy - r - 1, 0)), int(min(cy + r + 2, SIZE))
            x, y = np.ogrid[x0:x1, y0:y1]
            frame[x0:x1, y0:y1] |= (x - cx) ** 2 + (y - cy) ** 2 < r * r
        yield frame
        centres = np.clip(centres + rng.normal(0, 1.5, centres.shape), 50, SIZE - 50)


def child(count: int) -> dict:
    """Track ``count`` frames in this process; return timings and peak memory."""
    import temnn

    start = time.perf_counter()
    for _ in frames(count):
        pass
    generate = time.perf_counter() - start
    start = time.perf_counter()
    ids = 0
    for labels in temnn.track(frames(count), min_spacing=MIN_SEPARATION * 10.0, sampling=SAMPLING):
        ids = max(ids, int(labels.max()))
    total = time.perf_counter() - start
    return {
        "frames": count,
        "seconds_generate": generate,
        "seconds_total": total,
        "frames_per_second": count / max(total - generate, 1e-9),
        "max_track_id": ids,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000], help="stack lengths to run")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return

    runs = []
    for count in args.frames:
        out = subprocess.run([sys.executable, __file__, "--child", str(count)], check=True,
                             capture_output=True, text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"temnn.track on {SIZE}×{SIZE} binary frames with {PARTICLES} particles (frames from a generator)")
    print(f"{'frames':>7} {'frames/s':>9} {'total [s]':>10} {'generate [s]':>13} {'max id':>7} {'peak RSS [MiB]':>15}")
    for r in runs:
        print(f"{r['frames']:>7} {r['frames_per_second']:>9.1f} {r['seconds_total']:>10.1f} "
              f"{r['seconds_generate']:>13.1f} {r['max_track_id']:>7} {r['peak_rss_mib']:>15.0f}")
    if len(runs) > 1:
        growth = runs[-1]["peak_rss_mib"] - runs[0]["peak_rss_mib"]
        print(f"peak memory grows by {growth:.0f} MiB from {runs[0]['frames']} to {runs[-1]['frames']} frames")

    from temnn.io.files import write_json

    write_json(Path(__file__).parent / "results" / "track.json", {
        "benchmark": "temnn.track: 2+1D labelling of 1024x1024 binary frames, ~20 particles",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "platform": platform.platform()},
        "sampling_angstrom_per_pixel": SAMPLING,
        "min_separation_nm": MIN_SEPARATION,
        "runs": runs,
    })


if __name__ == "__main__":
    main()
