"""MSD-net speed against a dense convolution in the same process, and memory against depth.

Run from the repository root::

    python benchmarks/msdnet.py                      # publication II's MSD-net, 256², 2 threads
    python benchmarks/msdnet.py --repeats 5 --skip-reference

Prints two tables and writes ``benchmarks/results/msdnet.json``:

1. **Speed**: one forward + backward pass (batch 1, one input image, two output channels) of
   publication II's MSD-net (50 layers, width 1, 9×9 kernels, dilations 1-10), with the
   compiled CPU loops (the default on CPUs), with the PyTorch push (each new map pushed into
   all later layers, one convolution per dilation: the GPU path, ``compiled_loops=False``)
   and with the plain ``torch.cat`` reference (one convolution of the growing stack per
   layer: the algorithm used before issue 16), against a dense 32 → 32 3×3 convolution at the
   same image size. GFLOP/s count the nominal multiply-adds of the network (forward ×3 for
   forward + backward); the ratio to the dense rate is the figure that compares across
   machines. Each figure is the minimum over ``--repeats`` interleaved runs, because other
   jobs may share the CPU.
2. **Memory against depth**: bytes autograd keeps for backward and the growth of the peak
   resident memory during one forward + backward pass (Linux), fast implementation and
   ``torch.cat``, at ``--memory-size``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from train import peak_rss_mib, saved_bytes

from temnn.io.files import write_json
from temnn.nn import MSDNet

RESULTS = Path(__file__).parent / "results" / "msdnet.json"


def run_time(fn) -> float:
    """Wall-clock time of one call of ``fn()`` [s]."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def msdnet_flops(net: MSDNet, pixels: int) -> float:
    """Nominal floating-point operations of one forward pass (2 per multiply-add)."""
    hp = net.hyperparameters
    k2 = hp["kernel"] ** 2
    layers = sum((net.in_channels + i * hp["width"]) * hp["width"] * k2 for i in range(hp["layers"]))
    head = (net.in_channels + hp["layers"] * hp["width"]) * net.out_channels
    return 2.0 * (layers + head) * pixels


def speed_table(size: int, layers: int, kernel: int, repeats: int, reference: bool) -> list[dict]:
    torch.manual_seed(0)
    net = MSDNet(1, 2, layers=layers, kernel=kernel, max_dilation=10)
    x = torch.randn(1, 1, size, size)
    dense = torch.nn.Conv2d(32, 32, 3, padding=1)
    xd = torch.randn(1, 32, size, size, requires_grad=True)

    def dense_step() -> None:
        dense.zero_grad()
        xd.grad = None
        dense(xd).sum().backward()

    def msd_step(efficient: bool, compiled: bool = False) -> None:
        net.memory_efficient = efficient
        net.compiled_loops = compiled
        net.zero_grad()
        F.mse_loss(net(x), torch.zeros(1, 2, size, size)).backward()

    cases = {
        "dense 32→32 3×3 conv": dense_step,
        "MSD-net, compiled loops (new)": lambda: msd_step(True, compiled=True),
        "MSD-net, torch push per dilation (GPU path)": lambda: msd_step(True),
    }
    if reference:
        cases["MSD-net, torch.cat per layer (before)"] = lambda: msd_step(False)
    flops = {
        "dense 32→32 3×3 conv": 3 * 2.0 * 32 * 32 * 9 * size * size,
        **{name: 3 * msdnet_flops(net, size * size) for name in cases if name.startswith("MSD")},
    }
    best = {name: float("inf") for name in cases}
    for name, fn in cases.items():
        fn()  # warm-up: kernels, primitive caches
    for _ in range(repeats):  # interleaved, so that a burst of load hits all cases alike
        for name, fn in cases.items():
            best[name] = min(best[name], run_time(fn))
    dense_rate = flops["dense 32→32 3×3 conv"] / best["dense 32→32 3×3 conv"]
    return [
        {
            "case": name,
            "seconds": best[name],
            "GFLOP": flops[name] / 1e9,
            "GFLOP_per_s": flops[name] / best[name] / 1e9,
            "ratio_to_dense": flops[name] / best[name] / dense_rate,
        }
        for name in cases
    ]


def memory_table(size: int, depths: list[int], kernel: int) -> list[dict]:
    rows = []
    x = torch.randn(1, 1, size, size)
    for layers in depths:
        for efficient in (True, False):
            torch.manual_seed(0)
            net = MSDNet(1, 2, layers=layers, kernel=kernel, max_dilation=10, memory_efficient=efficient)
            net(x).sum().backward()  # warm-up
            before = peak_rss_mib(reset=True)
            net(x).sum().backward()
            rows.append(
                {
                    "layers": layers,
                    "implementation": "compiled loops (new)" if efficient else "torch.cat",
                    "saved_for_backward_MiB": saved_bytes(net, x) / 2**20,
                    "peak_rss_growth_MiB": peak_rss_mib() - before,
                }
            )
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="image side [pixels] (default 256)")
    parser.add_argument("--layers", type=int, default=50, help="MSD-net layers (default 50, publication II)")
    parser.add_argument("--kernel", type=int, default=9, help="kernel side [pixels] (default 9, publication II)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs; the minimum is kept (default 3)")
    parser.add_argument("--memory-size", type=int, default=128, help="image side of the memory table [pixels]")
    parser.add_argument("--depths", type=int, nargs="*", default=[10, 25, 50, 100], help="layers in the memory table")
    parser.add_argument("--skip-reference", action="store_true", help="do not time the slow torch.cat network")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    args = parser.parse_args()
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # freed activations go back to the system: peak RSS is meaningful
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    torch.set_num_threads(args.threads)
    speed = speed_table(args.size, args.layers, args.kernel, args.repeats, not args.skip_reference)
    print_table(f"forward + backward, {args.size}², batch 1, {args.threads} threads (min of {args.repeats})", speed)
    memory = memory_table(args.memory_size, args.depths, args.kernel) if args.depths else []
    if memory:
        print_table(f"memory, {args.memory_size}², forward + backward", memory)
    write_json(
        args.output,
        {
            "machine": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "speed": speed,
            "memory": memory,
        },
    )
    print(json.dumps({"written": str(args.output)}))


if __name__ == "__main__":
    main()
