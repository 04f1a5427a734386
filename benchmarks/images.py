"""Images per second: a 3-image focal series at 512² (0.1 Å/px) from a 1024² exit wave (0.05 Å/px).

Run ``python benchmarks/images.py [--repeats N]``; prints a table and writes
``benchmarks/results/images.json``. Ours is :func:`temnn.simulate.images.form_images`
on CPU (CTF with focal spread, blur, resampling to the image grid, shot noise,
MTF, readout) for batches of 1, 2 and 4 waves. The reference is abTEM's own
chain on the same wave, ``Waves.apply_ctf(CTF(...)).intensity().poisson_noise(...)``,
for the three defoci one after another and as one defocus ensemble; abTEM
has no MTF, readout or resampling, so it does less work. Goal: ≥ 2× abTEM.

Two measurements, cases run round-robin, the best of the repeats counts:

- ``cpu``: one core each (torch 1 thread, dask's synchronous scheduler), CPU
  seconds of the process. This is the comparison that a shared, loaded machine
  does not distort.
- ``wall``: default threads (torch's, dask's), wall-clock seconds.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path
from typing import Callable

import abtem
import dask
import numpy as np
import torch

from temnn.io.files import write_json
from temnn.simulate.draw import MicroscopeParameters
from temnn.simulate.geometry import choose_geometry
from temnn.simulate.images import form_images

WAVE_GPTS, WAVE_SAMPLING = 1024, 0.05
IMAGE_SIZE, IMAGE_SAMPLING = 512, 0.1
ENERGY, DEFOCI, CS, FOCAL_SPREAD, BLUR, DOSE = 50e3, (-50.0, 0.0, 50.0), 1e4, 10.0, 0.1, 1e3


def exit_wave(rng: np.random.Generator) -> np.ndarray:
    """A smooth random phase object standing in for a multislice exit wave (cost does not depend on content)."""
    spectrum = np.fft.fft2(rng.normal(size=(WAVE_GPTS, WAVE_GPTS)))
    q = np.hypot(*np.meshgrid(np.fft.fftfreq(WAVE_GPTS, WAVE_SAMPLING), np.fft.fftfreq(WAVE_GPTS, WAVE_SAMPLING)))
    phase = np.fft.ifft2(spectrum * np.exp(-((q / 2.0) ** 2))).real
    return np.exp(1j * 0.5 * phase / phase.std()).astype(np.complex64)


def time_cases(cases: dict[str, Callable[[], object]], repeats: int, clock: Callable[[], float]) -> dict[str, float]:
    """Best time [s] of each case on ``clock``, the cases run round-robin so all see the same load."""
    for run in cases.values():
        run()  # warm-up
    best = {name: math.inf for name in cases}
    for _ in range(repeats):
        for name, run in cases.items():
            start = clock()
            run()
            best[name] = min(best[name], clock() - start)
    return best


def ours(wave: np.ndarray, batch: int) -> Callable[[], torch.Tensor]:
    waves = torch.from_numpy(np.repeat(wave[None], batch, axis=0))
    micro = [
        MicroscopeParameters(
            IMAGE_SAMPLING,
            DEFOCI,
            ENERGY,
            C30=CS,
            focal_spread=FOCAL_SPREAD,
            blur=BLUR,
            dose=DOSE,
            mtf=(0.4, 3.0, 0.1),
            readout=0.01,
        )
    ] * batch
    geometries = [choose_geometry(wave.shape, WAVE_SAMPLING, IMAGE_SAMPLING, (IMAGE_SIZE, IMAGE_SIZE))] * batch
    generator = torch.Generator().manual_seed(0)
    return lambda: form_images(waves, WAVE_SAMPLING, micro, geometries, generator=generator)


def abtem_loop(wave: np.ndarray) -> Callable[[], list[np.ndarray]]:
    def run() -> list[np.ndarray]:
        images = []
        for defocus in DEFOCI:
            ctf = abtem.CTF(energy=ENERGY, defocus=defocus, Cs=CS, focal_spread=FOCAL_SPREAD)
            waves = abtem.Waves(wave, sampling=WAVE_SAMPLING, energy=ENERGY)
            images.append(waves.apply_ctf(ctf).intensity().poisson_noise(dose_per_area=DOSE, seed=0).compute().array)
        return images

    return run


def abtem_ensemble(wave: np.ndarray) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        ctf = abtem.CTF(
            energy=ENERGY, defocus=abtem.distributions.from_values(DEFOCI), Cs=CS, focal_spread=FOCAL_SPREAD
        )
        waves = abtem.Waves(wave, sampling=WAVE_SAMPLING, energy=ENERGY)
        return waves.apply_ctf(ctf).intensity().poisson_noise(dose_per_area=DOSE, seed=0).compute().array

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (the fastest counts)")
    args = parser.parse_args()
    wave = exit_wave(np.random.default_rng(0))
    threads_default = torch.get_num_threads()
    rows = []
    for measure, threads, scheduler, clock in (
        ("cpu", 1, "synchronous", time.process_time),
        ("wall", threads_default, "threads", time.perf_counter),
    ):
        torch.set_num_threads(threads)
        cases: dict[tuple[str, int], Callable[[], object]] = {
            ("abTEM, defoci in a loop", 1): abtem_loop(wave),
            ("abTEM, defocus ensemble", 1): abtem_ensemble(wave),
        }
        for batch in (1, 2, 4):
            cases[("temnn form_images", batch)] = ours(wave, batch)
        with dask.config.set(scheduler=scheduler):
            best = time_cases(cases, args.repeats, clock)
        for (name, batch), seconds in best.items():
            images = batch * len(DEFOCI)
            rows.append(
                {
                    "measure": measure,
                    "method": name,
                    "torch_threads": threads,
                    "dask_scheduler": scheduler,
                    "waves": batch,
                    "images": images,
                    "seconds": seconds,
                    "images_per_second": images / seconds,
                }
            )
    torch.set_num_threads(threads_default)

    print(f"{'measure':<7} {'method':<26} {'waves':>5} {'images':>6} {'seconds':>8} {'images/s':>9}")
    speedup = {}
    for measure in ("cpu", "wall"):
        subset = [r for r in rows if r["measure"] == measure]
        for r in subset:
            print(
                f"{measure:<7} {r['method']:<26} {r['waves']:>5} {r['images']:>6} "
                f"{r['seconds']:>8.3f} {r['images_per_second']:>9.2f}"
            )
        best_abtem = max(r["images_per_second"] for r in subset if r["method"].startswith("abTEM"))
        best_ours = max(r["images_per_second"] for r in subset if r["method"].startswith("temnn"))
        speedup[measure] = best_ours / best_abtem
        print(f"{measure}: speed-up over the best abTEM chain {speedup[measure]:.2f}× (goal ≥ 2×)")
    write_json(
        Path(__file__).parent / "results" / "images.json",
        {
            "case": f"{len(DEFOCI)}-image focal series, {IMAGE_SIZE}² at {IMAGE_SAMPLING} Å/px "
            f"from a {WAVE_GPTS}² wave at {WAVE_SAMPLING} Å/px, {ENERGY / 1e3:g} keV",
            "rows": rows,
            "speedup": speedup,
            "goal": 2.0,
            "machine": {
                "cpus": os.cpu_count(),
                "torch_threads": threads_default,
                "load_average": os.getloadavg(),
                "platform": platform.platform(),
                "torch": torch.__version__,
                "abtem": abtem.__version__,
            },
        },
    )


if __name__ == "__main__":
    main()
