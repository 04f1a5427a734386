"""Speed and memory of tiled, streamed prediction (temnn.nn.tiling) on this CPU.

Frames come from a synthetic stack that exists only as a lazily evaluated dask array (Poisson
counts of a lattice, one chunk per frame), wrapped as a :class:`temnn.io.microscope.MicroscopeFile`
so that every frame goes through the same path as a lazily read microscope file:
read → (x, y) transpose → whole-frame local standardisation → network tile by tile with
blended overlaps → prediction. Each case runs in its own subprocess and reports its wall time
and peak resident memory (``ru_maxrss``).

Cases:

- ``unet-1M``: a random-init temnn U-net with ~1.1·10⁶ parameters (levels 4, 12 filters,
  3×3 kernels, 2 layers per block) on 1024² and 4096² frames (frames/s);
- ``stream``: 10 and 200 frames of 1024² through the streaming generator
  (:func:`temnn.nn.inference.predict_frames`); peak memory must not grow with the stack.
  These use a 110-parameter MSD-net so that 200 frames fit the time budget on 2 shared cores;
  the memory held per frame (frame, standardised frame, tiles, prediction) does not depend
  on the network, whose activations for one tile are the same every frame.

Tiles are 1088 px with 64 px overlap: a 1024² frame is one tile, a 4096² frame 4 × 4 tiles.

Run ``python benchmarks/predict.py`` (a few minutes on an idle 2-core machine; options below
shrink or grow the cases). Prints a table and writes ``benchmarks/results/predict.json``.
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

SAMPLING = 0.1  # Å/pixel
MODELS = {
    "unet-1M": ("unet", dict(levels=4, filters=12, kernel=3, block_layers=2)),
    "msdnet-110": ("msdnet", dict(layers=4, kernel=3, max_dilation=4)),
}


def synthetic_stack(frames: int, size: int):
    """A lazily generated (frames, size, size) uint16 stack: Poisson counts of a 2.5 Å lattice, ~100 counts/px."""
    import dask.array as da
    import numpy as np

    def block(block_info=None):
        (index, _), _, _ = block_info[None]["array-location"]
        rng = np.random.default_rng(index)
        x = np.arange(size, dtype=np.float32) * SAMPLING
        lattice = 100 * (1 + 0.2 * np.cos(2 * np.pi * x / 2.5)[:, None] * np.cos(2 * np.pi * x / 2.5)[None, :])
        return rng.poisson(lattice).astype(np.uint16)[None]

    return da.map_blocks(block, dtype=np.uint16, chunks=((1,) * frames, (size,), (size,)))


def child(case: dict) -> dict:
    """Run one case in this process; return timings and peak memory."""
    import torch

    from temnn.io.microscope import Acquisition, MicroscopeFile
    from temnn.nn.inference import predict_frames
    from temnn.nn import Task, build_model, count_parameters

    torch.set_num_threads(case["threads"])
    torch.manual_seed(0)
    arch, options = MODELS[case["model"]]
    model = build_model(arch, 1, 2, **options).eval()
    model.task = Task("Mask", 2, "softmax")
    model.card = {"normalizedistance": 12.0, "sampling": [SAMPLING, SAMPLING]}
    stack = MicroscopeFile(path=Path("synthetic"), data=synthetic_stack(case["frames"], case["size"]),
                           sampling=SAMPLING, acquisition=Acquisition(), metadata={}, original_metadata={})
    frames = (stack.frame(i) for i in range(len(stack)))
    start = time.perf_counter()
    first = None
    for i, prediction in enumerate(predict_frames(model, frames, sampling=SAMPLING, tile=case["tile"],
                                                  overlap=case["overlap"], batch_size=1, resample=True)):
        if i == 0:
            first = time.perf_counter() - start
        assert prediction.shape == (2, case["size"], case["size"])
    seconds = time.perf_counter() - start
    return {
        **case,
        "parameters": count_parameters(model),
        "seconds": seconds,
        "first_frame_seconds": first,
        "frames_per_second": case["frames"] / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-1k", type=int, default=3, help="1024² frames through the ~1e6-parameter U-net")
    parser.add_argument("--frames-4k", type=int, default=1, help="4096² frames through the ~1e6-parameter U-net")
    parser.add_argument("--stream", type=int, nargs="+", default=[10, 200], help="stack lengths of the memory cases")
    parser.add_argument("--tile", type=int, default=1088, help="tile side [pixels]")
    parser.add_argument("--overlap", type=int, default=64, help="tile overlap [pixels]")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(child(json.loads(args.case))))
        return

    common = dict(tile=args.tile, overlap=args.overlap, threads=args.threads)
    cases = [dict(name="unet-1M 1024²", model="unet-1M", size=1024, frames=args.frames_1k, **common),
             dict(name="unet-1M 4096²", model="unet-1M", size=4096, frames=args.frames_4k, **common)]
    cases += [dict(name=f"stream {n} × 1024²", model="msdnet-110", size=1024, frames=n, **common) for n in args.stream]
    load = os.getloadavg()[0]
    rows = []
    for case in cases:
        if case["frames"] < 1:
            continue
        done = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], check=True,
                              capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(f"{row['name']:<22} {row['parameters']:>9,d} params  {row['frames']:>4} frames  "
              f"{row['seconds'] / row['frames']:8.2f} s/frame  {row['frames_per_second']:7.3f} frames/s  "
              f"peak RSS {row['peak_rss_mb']:7.0f} MB", flush=True)

    import torch

    from temnn.io.files import write_json

    result = {
        "benchmark": "tiled, streamed prediction (temnn.nn.inference.predict_frames)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "load_average_at_start": load},
        "cases": rows,
    }
    stream = [r for r in rows if r["name"].startswith("stream")]
    if len(stream) >= 2:
        result["stream_peak_rss_growth_mb"] = stream[-1]["peak_rss_mb"] - stream[0]["peak_rss_mb"]
        print(f"peak RSS growth from {stream[0]['frames']} to {stream[-1]['frames']} frames: "
              f"{result['stream_peak_rss_growth_mb']:+.0f} MB")
    out = Path(__file__).parent / "results" / "predict.json"
    write_json(out, result)
    print(f"load average at start {load:.1f} on {os.cpu_count()} CPUs; wrote {out}")


if __name__ == "__main__":
    main()
