"""Training and inference speed of the networks, loader throughput, and MSD-net memory.

Run from the repository root::

    python benchmarks/train.py                       # everything (hours on 2 busy CPU cores)
    python benchmarks/train.py --models "unet 1e5" --settings eager compile --skip memory

Prints tables and writes ``benchmarks/results/train.json``. Four parts:

1. **MSD-net memory** (50 and 100 layers, width 1, 9×9 kernel, one 3-image series): the bytes
   autograd keeps for the backward pass and the peak resident memory of a fresh process
   (second forward + backward, Linux), for the shared-buffer implementation and the plain
   ``torch.cat`` one.
2. **Loader alone**: series/s of reading ``NNNNN_EE.npz`` + geometric augmentation (DataLoader)
   and of the batched local standardisation + intensity augmentation on the device.
3. **Stored against on-the-fly images** (``temnn train --on-the-fly``): series/s of the loader
   alone (CPU: read the stored image, or read the exit wave, draw the microscope and make the
   label), of the device side alone (standardisation, plus the image formation on the fly),
   of the training step alone of a ~1e5-parameter U-net, and of whole epochs of both.
4. **Training step alone and inference**: images/s of one optimizer step and megapixels/s of a
   forward pass, for each architecture at about 1e5 and 1e6 parameters, eager against the
   other settings (one thread, channels_last memory format, ``torch.compile``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from temnn import Parameters
from temnn.io.files import save_npz, write_json
from temnn.nn.augment import Augmentation
from temnn.io.dataset import Dataset, save_sites, save_wave
from temnn.nn.loader import ImageSet, make_loader, prepare_batch, start_epoch
from temnn.nn.onthefly import OnTheFlySet, collate_synthesis, prepare_synthesis_batch
from temnn.nn import Task, build_model, count_parameters, task_for
from temnn.workflows.images import make_images
from temnn.simulate.waves import ExitWave

RESULTS = Path(__file__).parent / "results" / "train.json"
CHANNELS_IN, CHANNELS_OUT = 3, 4  # a 3-image focal series → MoS2 Disk classes + background
MODELS = {
    "msdnet 1e5": ("msdnet", dict(layers=50, width=1, kernel=9)),
    "msdnet 1e6": ("msdnet", dict(layers=80, width=2, kernel=9)),
    "unet 1e5": ("unet", dict(levels=2, filters=6)),
    "unet 1e6": ("unet", dict(levels=3, filters=9)),
    "unetpp 1e5": ("unetpp", dict(levels=2, filters=6)),
    "unetpp 1e6": ("unetpp", dict(levels=3, filters=8)),
}


# ------------------------------------------------------------------------------- memory
def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves for backward during one forward pass."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum().backward()
    parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(n for ptr, n in storages.items() if ptr not in parameter_storages)


def peak_rss_mib(reset: bool = False) -> float:
    """Peak resident memory of this process [MiB] (Linux VmHWM), optionally reset to the current RSS first."""
    if reset:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux ≥ 4.0: high-water mark := current resident set
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def memory_child(layers: int, efficient: bool, size: int) -> None:
    """In a fresh process: peak RSS growth of a forward + backward pass (printed as JSON).

    A first pass loads kernels and fills oneDNN's primitive caches; the parent starts this
    process with ``MALLOC_MMAP_THRESHOLD_`` small so that freed activations go back to the
    system; the peak is then reset and the second pass measured.
    """
    torch.manual_seed(0)
    model = build_model("msdnet", CHANNELS_IN, CHANNELS_OUT, layers=layers, width=1, kernel=9)
    model.memory_efficient = efficient
    x = torch.randn(1, CHANNELS_IN, size, size)
    model(x).sum().backward()
    before = peak_rss_mib(reset=True)
    model(x).sum().backward()
    print(json.dumps({"peak_rss_growth_MiB": peak_rss_mib() - before}))


def memory_table(size: int) -> list[dict]:
    rows = []
    for layers in (50, 100):
        for efficient in (True, False):
            torch.manual_seed(0)
            model = build_model("msdnet", CHANNELS_IN, CHANNELS_OUT, layers=layers, width=1, kernel=9)
            model.memory_efficient = efficient
            saved = saved_bytes(model, torch.randn(1, CHANNELS_IN, size, size))
            out = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(layers), str(int(efficient)), str(size)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},
            )
            rss = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_growth_MiB"]
            rows.append(
                {
                    "layers": layers,
                    "implementation": "shared buffer" if efficient else "torch.cat",
                    "saved_for_backward_MiB": saved / 2**20,
                    "peak_rss_growth_MiB": rss,
                }
            )
    return rows


# ------------------------------------------------------------------------------- loader
def write_image_set(folder: Path, samples: int, size: int) -> Path:
    params = Parameters(
        label="Disk", image_size=(size, size), sampling=(0.1, 0.11), multifocus=(CHANNELS_IN, 50.0, 1.0), num_classes=4
    )
    folder.mkdir(parents=True)
    params.save(folder / "parameters.json")
    rng = np.random.default_rng(0)
    for i in range(samples):
        save_npz(
            folder / f"{i:05d}_00.npz",
            image=rng.poisson(30, (CHANNELS_IN, size, size)).astype(np.float32) / 30,
            label=(rng.random((CHANNELS_OUT, size, size)) > 0.8).astype(np.float32),
            sampling=np.float64(0.105),
        )
    return folder


def loader_table(size: int, batch: int, samples: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = ImageSet(write_image_set(Path(tmp) / "set", samples, size), augmentation=Augmentation(), seed=0)
        for workers in (0, 2):
            loader = make_loader(data, batch_size=batch, shuffle=True, workers=workers)
            start_epoch(loader, 0)
            for _ in loader:  # warm up (file cache, worker start-up paid once here)
                pass
            start_epoch(loader, 1)
            began = time.perf_counter()
            batches = list(loader)
            seconds = time.perf_counter() - began
            rows.append({"stage": f"read + flip/rotate, {workers} workers", "series_per_s": samples / seconds})
        began = time.perf_counter()
        for b in batches:
            prepare_batch(b, "cpu", data.parameters.normalizedistance, augment=True)
        seconds = time.perf_counter() - began
        rows.append({"stage": "standardise (σ = 12 Å) + intensity, batched", "series_per_s": samples / seconds})
    return rows


# --------------------------------------------------------------------------- on the fly
def write_waves(folder: Path, samples: int, gpts: int = 512, sampling: float = 0.05) -> Path:
    """Phase-object exit waves of random columns (3 classes) on a gpts² grid, with their sites."""
    from ase import Atoms
    from scipy.ndimage import gaussian_filter

    from temnn.structures.sample import Sample

    dataset = Dataset(folder)
    rng = np.random.default_rng(0)
    extent = gpts * sampling
    for i in range(samples):
        sites = rng.uniform(0, extent, size=(int(extent**2 / 4), 2))  # a column per 4 Å²
        classes = rng.integers(0, CHANNELS_OUT - 1, len(sites))
        potential = np.zeros((gpts, gpts))
        np.add.at(potential, tuple(np.floor(sites / sampling).astype(int).T), 1.0 + classes)
        phase = gaussian_filter(potential, 0.3 / sampling, mode="wrap") * 2 * np.pi * (0.3 / sampling) ** 2
        sample = Sample(atoms=Atoms(), sites=sites, classes=classes, class_names=("Mo", "S2", "S"), mask_classes=(0,))
        save_sites(dataset.sites_path(i), sample)
        save_wave(dataset.wave_path(i), ExitWave(np.exp(0.3j * phase).astype(np.complex64), (sampling,) * 2, 300e3))
    return folder


def onthefly_table(size: int, batch: int, samples: int, model_name: str) -> list[dict]:
    params = Parameters(
        label="Disk",
        image_size=(size, size),
        sampling=(0.1, 0.11),
        multifocus=(CHANNELS_IN, 50.0, 1.0),
        num_classes=CHANNELS_OUT,
        image_epochs=1,
    )
    arch, hyper = MODELS[model_name]
    torch.manual_seed(0)
    model = build_model(arch, CHANNELS_IN, CHANNELS_OUT, **hyper)
    task = task_for(params)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    rows = []

    def row(source: str, stage: str, began: float) -> None:
        rows.append({"source": source, "stage": stage, "series_per_s": samples / (time.perf_counter() - began)})

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        task.loss(model(images), labels).backward()
        optimizer.step()

    with tempfile.TemporaryDirectory() as tmp:
        data = write_waves(Path(tmp) / "data", samples)
        params.save(Path(tmp) / "p.json")
        began = time.perf_counter()
        stored = ImageSet(make_images(data, Path(tmp) / "p.json", progress=False), augmentation=Augmentation())
        row("stored", "temnn images (once, 1 process)", began)
        sources = {
            "stored": (stored, None, prepare_batch),
            "on the fly": (OnTheFlySet(data, params, augmentation=Augmentation()), collate_synthesis,
                           prepare_synthesis_batch),
        }
        for source, (dataset, collate, prepare) in sources.items():
            loader = make_loader(dataset, batch_size=batch, shuffle=True, collate_fn=collate)
            start_epoch(loader, 0)
            batches = list(loader)  # warm-up: file cache
            start_epoch(loader, 1)
            began = time.perf_counter()
            batches = list(loader)
            row(source, "loader alone (CPU, 0 workers)", began)
            prepare(batches[0], "cpu", params.normalizedistance)  # warm-up
            began = time.perf_counter()
            prepared = [prepare(b, "cpu", params.normalizedistance) for b in batches]
            what = "form images + standardise + intensity" if collate else "standardise + intensity"
            row(source, f"device side alone: {what}", began)
            if source == "stored":
                step(*prepared[0])  # warm-up
                began = time.perf_counter()
                for images, labels in prepared:
                    step(images, labels)
                row("either", f"training step alone ({model_name}: {count_parameters(model):,} parameters)", began)
            start_epoch(loader, 2)
            began = time.perf_counter()
            for b in loader:
                step(*prepare(b, "cpu", params.normalizedistance))
            row(source, "whole epoch (loader + device side + step)", began)
    return rows


# ------------------------------------------------------------------------------ compute
def timed(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls [s] (warm up separately)."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best


def compute_row(name: str, setting: str, size: int, batch: int, repeats: int) -> dict:
    arch, hyper = MODELS[name]
    torch.manual_seed(0)
    model = build_model(arch, CHANNELS_IN, CHANNELS_OUT, **hyper)
    row = {"model": name, "parameters": count_parameters(model), "setting": setting}
    threads = torch.get_num_threads()
    if setting == "1 thread":
        torch.set_num_threads(1)
    task = Task("Disk", CHANNELS_OUT, "softmax")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    run = torch.compile(model) if setting == "compile" else model
    if setting == "channels_last":
        model.to(memory_format=torch.channels_last)

    def data(side: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(batch, CHANNELS_IN, side, side)
        if setting == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        return x, torch.softmax(torch.randn(batch, CHANNELS_OUT, side, side), dim=1)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        task.loss(run(x), y).backward()
        optimizer.step()

    def infer(x: torch.Tensor) -> None:
        with torch.no_grad():
            run(x)

    try:
        x, y = data(size)
        began = time.perf_counter()
        infer(x)  # warm-up at the timed size: kernels, allocator, compilation (one per shape)
        step(x, y)
        row["warm_up_s"] = time.perf_counter() - began
        row["inference_MP_per_s"] = batch * size * size / 1e6 / timed(lambda: infer(x), repeats)
        row["train_images_per_s"] = batch / timed(lambda: step(x, y), repeats)
    except Exception as err:  # torch.compile may not work here: record why
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    finally:
        torch.set_num_threads(threads)
    return row


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    keys = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_fmt(row.get(k, "")) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def _fmt(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="image side for speed [pixels] (default 256)")
    parser.add_argument("--memory-size", type=int, default=128, help="image side for the memory table [pixels]")
    parser.add_argument("--batch", type=int, default=1, help="series per step (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per measurement (best is kept)")
    parser.add_argument("--models", nargs="*", default=list(MODELS), help=f"subset of {list(MODELS)}")
    parser.add_argument(
        "--settings", nargs="*", default=["eager", "1 thread", "channels_last", "compile"], help="settings to compare"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["memory", "loader", "onthefly"], help="parts to leave out"
    )
    parser.add_argument("--onthefly-size", type=int, default=128, help="image side of the on-the-fly table [pixels]")
    parser.add_argument("--append", action="store_true", help="add the rows to an existing results file")
    parser.add_argument("--memory-child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], bool(args.memory_child[1]), args.memory_child[2])
        return
    previous = json.loads(RESULTS.read_text()) if args.append and RESULTS.exists() else {}
    results = {
        **previous,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average_start": os.getloadavg(),
        },
        "image_size": args.size,
        "batch": args.batch,
    }
    if "memory" not in args.skip:
        results["msdnet_memory"] = memory_table(args.memory_size)
        title = f"MSD-net memory, one {CHANNELS_IN}-image series of {args.memory_size}×{args.memory_size}, fwd + bwd"
        print_table(title, results["msdnet_memory"])
        write_json(RESULTS, results)
    if "loader" not in args.skip:
        results["loader"] = loader_table(args.size, batch=8, samples=32)
        print_table(f"Loader alone ({CHANNELS_IN}×{args.size}×{args.size} series, batch 8)", results["loader"])
        write_json(RESULTS, results)
    if "onthefly" not in args.skip:
        load = os.getloadavg()
        results["onthefly"] = onthefly_table(args.onthefly_size, batch=8, samples=32, model_name="unet 1e5")
        results["onthefly_load_average"] = {"start": load, "end": os.getloadavg()}
        title = (
            f"Stored vs on-the-fly images ({CHANNELS_IN}×{args.onthefly_size}×{args.onthefly_size} series from "
            "512² exit waves, batch 8, CPU)"
        )
        print_table(title, results["onthefly"])
        write_json(RESULTS, results)
    results["compute"] = previous.get("compute", [])
    for name in args.models:
        for setting in args.settings:
            results["compute"].append(compute_row(name, setting, args.size, args.batch, args.repeats))
            print(results["compute"][-1], flush=True)
            results["machine"]["load_average_end"] = os.getloadavg()
            write_json(RESULTS, results)  # after every row: long runs keep what they measured
    print_table(
        f"Training step and inference, batch {args.batch} of {CHANNELS_IN}×{args.size}×{args.size}", results["compute"]
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
