"""Compiled CPU loops of the MSD-net: dilated correlations vectorised over pixels (numba).

Convolution libraries vectorise over channels, and an MSD-net layer has one or a few output
maps and up to ~50 input maps at full resolution: oneDNN then spends a fixed ~1 ms per
call (it pads the output to 8 channels and reorders it back). These loops vectorise along
image rows instead, accumulate one output row in the L1 cache and read each input row once
per kernel row. They work on whole, C-contiguous buffers with explicit offsets, so that no
strided views (which numba cannot vectorise) are passed in.

The loops are compiled serial and release the GIL; :func:`run` splits their work between
threads of its own. (numba's parallel loops would start a second OpenMP runtime beside
PyTorch's, whose spinning threads then starve each other: 2-3× slower on two cores.)
They are compiled for float32 and float64 on first use and cached on disk.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
from numba import njit

__all__ = ["correlate", "correlate_weight", "run"]

# Reassociation (vectorised reductions) and fused multiply-add; no assumptions about NaN/inf.
_FAST = {"reassoc", "contract"}


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}  # (process id, threads): a forked child starts its own


def run(loop: Callable, tasks: int, threads: int, *args) -> None:
    """Run ``loop(start, stop, *args)`` over ``tasks`` independent tasks on ``threads`` threads.

    Parameters
    ----------
    loop : callable
        One of the compiled loops of this module.
    tasks : int
        Number of tasks (the loop's ``stop`` for the whole job).
    threads : int
        Threads to use (``torch.get_num_threads()``).
    *args
        The loop's remaining arguments.
    """
    threads = max(1, min(int(threads), tasks))
    if threads == 1:
        loop(0, tasks, *args)
        return
    key = (os.getpid(), threads)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(threads - 1, thread_name_prefix="temnn-msdnet")
    bounds = [tasks * i // threads for i in range(threads + 1)]
    futures = [_POOLS[key].submit(loop, bounds[i], bounds[i + 1], *args) for i in range(1, threads)]
    loop(bounds[0], bounds[1], *args)
    for future in futures:
        future.result()


@njit(nogil=True, fastmath=_FAST, cache=True)
def correlate(
    start: int,
    stop: int,
    src: np.ndarray,
    weight: np.ndarray,
    dilation: int,
    src_origin: int,
    out: np.ndarray,
    out_origin: int,
    rows: int,
    cols: int,
) -> None:  # pragma: no cover - compiled
    """Add a dilated correlation of ``src`` into a window of ``out``.

    ``out[b, o, out_origin + y, out_origin + x] += Σ_{s, a, q} weight[o, s, a, q] ·
    src[b, s, src_origin + y + a·dilation, src_origin + x + q·dilation]`` for ``y < rows``,
    ``x < cols``, ``o < weight.shape[0]`` and ``s < weight.shape[1]`` (the first channels of
    ``src`` and ``out``). Task ``t`` is output row ``t % rows`` of map ``(t // rows) % O`` of
    batch item ``t // (O·rows)``.

    Parameters
    ----------
    start, stop : int
        Range of tasks computed by this call (all: ``0, B·O·rows``).
    src : ndarray, shape (B, S', R, C), C-contiguous
        Input maps (``S' ≥ S``), already padded [pixels].
    weight : ndarray, shape (O, S, k, k), C-contiguous
        Kernels.
    dilation : int
        Kernel dilation [pixels].
    src_origin : int
        Row and column of ``src`` read by the kernel's first tap at output (0, 0) [pixels].
    out : ndarray, shape (B, O', R', C'), C-contiguous
        Accumulator (``O' ≥ O``), updated in place.
    out_origin : int
        First row and column of the window of ``out`` [pixels].
    rows, cols : int
        Window size [pixels].
    """
    outputs, sources, k = weight.shape[0], weight.shape[1], weight.shape[2]
    for t in range(start, stop):
        b = t // (outputs * rows)
        o = (t // rows) % outputs
        y = t % rows
        acc = out[b, o, out_origin + y, out_origin : out_origin + cols]
        for s in range(sources):
            for a in range(k):
                row = src[b, s, src_origin + y + a * dilation]
                q = 0
                while q + 3 <= k:  # three taps per pass over the row: fewer loads and stores of acc
                    w0, w1, w2 = weight[o, s, a, q], weight[o, s, a, q + 1], weight[o, s, a, q + 2]
                    start = src_origin + q * dilation
                    seg0 = row[start : start + cols]
                    seg1 = row[start + dilation : start + dilation + cols]
                    seg2 = row[start + 2 * dilation : start + 2 * dilation + cols]
                    for x in range(cols):
                        acc[x] += w0 * seg0[x] + w1 * seg1[x] + w2 * seg2[x]
                    q += 3
                for q in range(q, k):
                    w = weight[o, s, a, q]
                    start = src_origin + q * dilation
                    seg = row[start : start + cols]
                    for x in range(cols):
                        acc[x] += w * seg[x]


@njit(nogil=True, fastmath=_FAST, cache=True)
def correlate_weight(
    start: int, stop: int, src: np.ndarray, grad: np.ndarray, dilation: int, src_origin: int, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Weight gradient of :func:`correlate` with ``out_origin = 0``.

    ``out[o, s, a, q] = Σ_{b, y, x} grad[b, o, y, x] · src[b, s, src_origin + y + a·dilation,
    src_origin + x + q·dilation]``. Task ``t`` is kernel row ``t % k`` of the kernel
    ``(t // (S·k), (t // k) % S)``.

    Parameters
    ----------
    start, stop : int
        Range of tasks computed by this call (all: ``0, O·S·k``).
    src : ndarray, shape (B, S', R, C), C-contiguous
        Padded input maps (``S' ≥ S``).
    grad : ndarray, shape (B, O, H, W), C-contiguous
        Gradient of the correlation's output.
    dilation : int
        Kernel dilation [pixels].
    src_origin : int
        As in :func:`correlate` [pixels].
    out : ndarray, shape (O, S, k, k)
        Weight gradient, overwritten.
    """
    batch, rows, cols = grad.shape[0], grad.shape[2], grad.shape[3]
    sources, k = out.shape[1], out.shape[2]
    zero = np.zeros(1, dtype=grad.dtype)[0]  # partial sums in the gradient's precision (vectorised)
    for t in range(start, stop):
        o = t // (sources * k)
        s = (t // k) % sources
        a = t % k
        for q in range(0, k, 3):  # three taps per pass over the rows
            last = min(q + 3, k)
            t0, t1, t2 = 0.0, 0.0, 0.0
            for b in range(batch):
                for y in range(rows):
                    g = grad[b, o, y]
                    row = src[b, s, src_origin + y + a * dilation]
                    start = src_origin + q * dilation
                    seg0 = row[start : start + cols]
                    seg1 = row[start + dilation : start + dilation + cols] if q + 1 < last else seg0
                    seg2 = row[start + 2 * dilation : start + 2 * dilation + cols] if q + 2 < last else seg0
                    p0, p1, p2 = zero, zero, zero
                    for x in range(cols):
                        gx = g[x]
                        p0 += gx * seg0[x]
                        p1 += gx * seg1[x]
                        p2 += gx * seg2[x]
                    t0 += p0
                    t1 += p1
                    t2 += p2
            out[o, s, a, q] = t0
            if q + 1 < last:
                out[o, s, a, q + 1] = t1
            if q + 2 < last:
                out[o, s, a, q + 2] = t2
