"""One-command benchmark for a GPU (≤ 8 min on one card), with a CPU smoke mode for the test suite.

Run from the repository root::

    python benchmarks/gpu.py                         # the first GPU: cuda, full sizes
    python benchmarks/gpu.py --device cpu --smoke    # seconds; exercised by tests/test_benchmarks_smoke.py

Writes ``benchmarks/results/gpu.json`` (or ``--output``) and prints it. Sections, each timed
as the minimum over ``--repeats`` synchronised calls after a warm-up; a section that fails
records its error instead of stopping the others:

- ``waves``: one MoS2 exit wave (50 keV), temnn's multislice (CPU, FFTW) and abTEM called
  directly on the GPU through CuPy when CuPy is importable (else on the CPU);
- ``images``: 3-image focal series from a batch of exit waves on the device (512² from 1024²);
- ``training``: images/s of training steps (AdamW, batch 4, 256², 3 → 4 channels) of the
  U-net, U-net++ and publication II's MSD-net, with automatic mixed precision off and on
  (float16 + gradient scaling on CUDA, bfloat16 on CPU);
- ``tiled_prediction``: megapixels/s of a U-net over a 2048² focal series in 512² tiles;
- ``time_to_quality``: a U-net trained on synthetic disc images until the validation pixel F1
  reaches 0.9, with the learning curve (seconds, F1).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from temnn.io.files import write_json
from temnn.nn.tiling import predict_tiled
from temnn.nn import build_model

RESULTS = Path(__file__).parent / "results" / "gpu.json"
ARCHS = {
    "unet": dict(levels=3, filters=16),
    "unetpp": dict(levels=3, filters=16),
    "msdnet": dict(layers=50, width=1, kernel=9),
}
SMOKE_ARCHS = {
    "unet": dict(levels=1, filters=2, block_layers=1),
    "unetpp": dict(levels=1, filters=2, block_layers=1),
    "msdnet": dict(layers=3, width=1, kernel=3, max_dilation=2),
}


def best_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Minimum wall-clock time of ``fn()`` over ``repeats`` calls after a warm-up, device synchronised [s]."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def bench_waves(device: torch.device, smoke: bool, repeats: int) -> dict:
    import abtem
    from ase.build import mx2

    from temnn.simulate.waves import WaveSettings, exit_wave, wave_grid

    atoms = abtem.orthogonalize_cell(mx2("MoS2", size=(1, 1, 1), vacuum=2.0)).repeat((2, 1, 1) if smoke else (16, 9, 1))
    atoms.center(vacuum=2.0, axis=2)
    settings = WaveSettings(energy=50e3)
    gpts = (64, 64) if smoke else wave_grid(tuple(atoms.cell.lengths()[:2]), settings)
    settings = WaveSettings(energy=50e3, gpts=gpts)
    try:
        import cupy  # noqa: F401

        abtem_device = "gpu" if device.type == "cuda" else "cpu"
    except ImportError:
        abtem_device = "cpu"

    def direct() -> np.ndarray:
        with abtem.config.set({"device": abtem_device}):
            potential = abtem.Potential(atoms, gpts=settings.gpts, slice_thickness=settings.slice_thickness)
            return abtem.PlaneWave(energy=settings.energy).multislice(potential).compute().array

    return {
        "atoms": len(atoms),
        "gpts": list(settings.gpts),
        "temnn_cpu_s": best_time(lambda: exit_wave(atoms, settings), torch.device("cpu"), repeats),
        f"abtem_{abtem_device}_s": best_time(direct, torch.device("cpu"), repeats),
    }


def bench_images(device: torch.device, smoke: bool, repeats: int) -> dict:
    from temnn.simulate.draw import MicroscopeParameters
    from temnn.simulate.geometry import choose_geometry
    from temnn.simulate.images import form_images

    gpts, size, batch = (128, 64, 2) if smoke else (1024, 512, 8)
    wave_sampling, image_sampling = 0.05, 0.1
    rng = np.random.default_rng(0)
    phase = rng.normal(size=(batch, gpts, gpts)).astype(np.float32) * 0.3
    waves = torch.from_numpy(np.exp(1j * phase).astype(np.complex64)).to(device)
    micro = [
        MicroscopeParameters(image_sampling, (-50.0, 0.0, 50.0), 50e3, C30=1e4, focal_spread=10.0, blur=0.1, dose=1e3)
    ] * batch
    geometries = [choose_geometry((gpts, gpts), wave_sampling, image_sampling, (size, size))] * batch
    generator = torch.Generator(device=device).manual_seed(0)
    synthesis = lambda: form_images(waves, wave_sampling, micro, geometries, generator=generator)  # noqa: E731
    seconds = best_time(synthesis, device, repeats)
    return {"wave_gpts": gpts, "image_size": size, "batch": batch, "series_per_s": batch / seconds}


def _amp(device: torch.device, enabled: bool) -> torch.autocast:
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


def bench_training(device: torch.device, smoke: bool, repeats: int) -> list[dict]:
    size, batch = (32, 2) if smoke else (256, 4)
    rows = []
    for arch, options in (SMOKE_ARCHS if smoke else ARCHS).items():
        torch.manual_seed(0)
        model = build_model(arch, 3, 4, **options).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randn(batch, 3, size, size, device=device)
        y = torch.randint(0, 4, (batch, size, size), device=device)
        for amp in (False, True):
            scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")

            def step() -> None:
                optimizer.zero_grad(set_to_none=True)
                with _amp(device, amp):
                    loss = F.cross_entropy(model(x).float(), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()

            rows.append({"arch": arch, "amp": amp, "images_per_s": batch / best_time(step, device, repeats)})
    return rows


def bench_tiled(device: torch.device, smoke: bool, repeats: int) -> dict:
    side, tile = (96, 64) if smoke else (2048, 512)
    model = build_model("unet", 3, 4, **(SMOKE_ARCHS if smoke else ARCHS)["unet"]).to(device).eval()
    multiple = 2 ** (SMOKE_ARCHS if smoke else ARCHS)["unet"]["levels"]

    def model_fn(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad(), _amp(device, device.type == "cuda"):
            out = model(torch.from_numpy(batch).to(device)).float().softmax(1)
        return out.cpu().numpy()

    image = np.random.default_rng(0).normal(size=(3, side, side)).astype(np.float32)
    seconds = best_time(
        lambda: predict_tiled(model_fn, image, tile=tile, overlap=tile // 8, batch_size=4, multiple=multiple),
        device,
        repeats,
    )
    return {"image_side": side, "tile": tile, "megapixels_per_s": side * side / seconds / 1e6}


def disc_images(count: int, size: int, generator: torch.Generator, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Noisy images of bright discs (radius 3-5 px) and their masks, made on the device."""
    centres = torch.rand(count, 1, 1, size // 8, 2, generator=generator, device=device) * size
    radii = 3 + 2 * torch.rand(count, 1, 1, size // 8, generator=generator, device=device)
    grid = torch.stack(torch.meshgrid(*(torch.arange(size, device=device),) * 2, indexing="ij"), -1).float()
    mask = ((grid[None, :, :, None] - centres).norm(dim=-1) < radii).any(-1)
    noise = torch.randn(count, size, size, generator=generator, device=device)
    return (mask.float() + 0.7 * noise)[:, None], mask.long()


def bench_time_to_quality(device: torch.device, smoke: bool, budget_s: float) -> dict:
    size, steps, batch, every = (32, 6, 2, 2) if smoke else (128, 600, 8, 20)
    generator = torch.Generator(device=device).manual_seed(0)
    x_val, y_val = disc_images(4 if smoke else 32, size, generator, device)
    torch.manual_seed(0)
    model = build_model("unet", 1, 2, **(SMOKE_ARCHS["unet"] if smoke else dict(levels=2, filters=8))).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    curve, reached = [], None
    start = time.perf_counter()
    for step in range(1, steps + 1):
        x, y = disc_images(batch, size, generator, device)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if step % every == 0 or step == steps:
            with torch.no_grad():
                predicted = model(x_val).argmax(1).bool()
            truth = y_val.bool()
            tp = (predicted & truth).sum().item()
            f1 = 2 * tp / max(predicted.sum().item() + truth.sum().item(), 1)
            seconds = time.perf_counter() - start
            curve.append([seconds, f1])
            if reached is None and f1 >= 0.9:
                reached = seconds
                break
            if seconds > budget_s:
                break
    return {"threshold_pixel_F1": 0.9, "seconds_to_threshold": reached, "curve_seconds_F1": curve}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every section runs (seconds)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case; the minimum is kept")
    parser.add_argument("--quality-budget", type=float, default=120.0, help="time-to-quality limit [s] (default 120)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    repeats = 1 if args.smoke else args.repeats
    results: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "smoke": args.smoke,
    }
    sections = {
        "waves": lambda: bench_waves(device, args.smoke, repeats),
        "images": lambda: bench_images(device, args.smoke, repeats),
        "training": lambda: bench_training(device, args.smoke, repeats),
        "tiled_prediction": lambda: bench_tiled(device, args.smoke, repeats),
        "time_to_quality": lambda: bench_time_to_quality(device, args.smoke, args.quality_budget),
    }
    for name, run in sections.items():
        began = time.perf_counter()
        try:
            results[name] = run()
        except Exception as error:  # one broken section must not cost the others on a lent GPU
            results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        print(f"{name}: {time.perf_counter() - began:.1f} s", flush=True)
        write_json(args.output, results)  # after every section: a cut-off run keeps what it measured
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
