"""Deterministic parallel map over sample indices: local processes or a Dask cluster.

Every sample of a data set is an independent task whose randomness comes only
from ``(seed, index)`` (:mod:`temnn._random`), so where and in which order a task
runs cannot change its result. :func:`run_samples` only decides *where*: in this
process, in a pool of local worker processes, or on an existing Dask cluster.

Worker processes are started with the ``spawn`` method, never ``fork``: forking
a process that has already run numba's or FFTW's thread pools (abTEM uses both)
can deadlock the child, and ``spawn`` behaves the same on Linux, macOS and
Windows. Each worker then limits OpenMP, BLAS, MKL, numba and PyTorch to one
thread, since the parallelism is across samples.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, Callable, NoReturn, Sequence

from threadpoolctl import threadpool_limits

from ..errors import TemnnError

__all__ = ["run_samples", "SampleFailed", "limit_threads"]

_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
_CONNECT_TIMEOUT = "30s"  # to reach a Dask scheduler
_threads_limited = False


class SampleFailed(RuntimeError):
    """A task raised an unexpected error for one sample (the original is the ``__cause__``)."""

    def __init__(self, index: int, error: BaseException):
        super().__init__(f"sample {index}: {type(error).__name__}: {error}")
        self.index = index


def limit_threads() -> None:
    """Limit this process's numerical libraries to one thread each.

    Sets the thread environment variables (for libraries not loaded yet), caps the
    thread pools already loaded (OpenMP/BLAS via threadpoolctl) and PyTorch and
    abTEM's FFTW when they are imported. Idempotent; run once per worker process.
    """
    global _threads_limited
    if _threads_limited:
        return
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    threadpool_limits(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if "abtem" in sys.modules:
        sys.modules["abtem"].config.set({"fftw.threads": 1, "mkl.threads": 1})
    _threads_limited = True


def _run_in_worker(task: Callable[[int], Any], index: int) -> Any:
    limit_threads()
    return task(index)


def run_samples(
    task: Callable[[int], Any],
    indices: Sequence[int],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    desc: str = "samples",
) -> list[Any]:
    """Run ``task(index)`` for every index, here, in local processes or on a Dask cluster.

    Parameters
    ----------
    task : callable
        ``task(index) -> result``. Must be picklable (a top-level function, a
        :func:`functools.partial` of one, or an instance of a top-level class) when
        ``workers > 1`` or ``scheduler`` is given, and its result too.
    indices : sequence of int
        Sample indices to run.
    workers : int
        Number of local worker processes; 1 runs every task in this process.
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``); the tasks run
        on its workers (which need temnn installed) and ``workers`` is ignored.
    progress : bool
        Show a progress bar with the rate and the remaining time.
    desc : str
        Label of the progress bar.

    Returns
    -------
    list
        The results in the order of ``indices``.

    Raises
    ------
    TemnnError
        Bad ``workers``/``scheduler``, or a task's own :class:`TemnnError`, with the
        sample index prefixed.
    SampleFailed
        Any other error in a task, naming the sample; the original error (with the
        worker's traceback) is its ``__cause__``. Samples still queued are cancelled;
        those already running finish first.
    """
    indices = [int(i) for i in indices]
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise TemnnError(f"--workers must be a positive number of processes, got {workers!r}")
    from tqdm.auto import tqdm

    bar = tqdm(total=len(indices), desc=desc, unit="sample", disable=not progress, dynamic_ncols=True)
    try:
        if scheduler is not None:
            return _run_dask(task, indices, scheduler, bar)
        if workers == 1 or len(indices) <= 1:
            return _run_here(task, indices, bar)
        return _run_pool(task, indices, workers, bar)
    finally:
        bar.close()


def _run_here(task: Callable[[int], Any], indices: list[int], bar: Any) -> list[Any]:
    results = []
    for index in indices:
        try:
            results.append(task(index))
        except Exception as err:
            _raise_for(index, err)
        bar.update(1)
    return results


def _run_pool(task: Callable[[int], Any], indices: list[int], workers: int, bar: Any) -> list[Any]:
    executor = ProcessPoolExecutor(
        max_workers=min(workers, len(indices)), mp_context=get_context("spawn"), initializer=limit_threads
    )
    results: dict[int, Any] = {}
    try:
        futures = {executor.submit(_run_in_worker, task, index): index for index in indices}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                results[futures[future]] = _result(future, futures[future])
                bar.update(1)
    finally:
        # On an error or Ctrl-C: drop queued samples; running ones finish (their
        # files are written atomically, so a later run resumes cleanly).
        executor.shutdown(wait=True, cancel_futures=True)
    return [results[index] for index in indices]


def _run_dask(task: Callable[[int], Any], indices: list[int], scheduler: str, bar: Any) -> list[Any]:
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=_CONNECT_TIMEOUT, set_as_default=False)
    except OSError as err:
        raise TemnnError(
            f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({err}); "
            "start one (dask scheduler / dask-jobqueue) and pass its tcp:// address"
        ) from None
    futures = []
    try:
        futures = [client.submit(_run_in_worker, task, index, pure=False) for index in indices]
        position = {future.key: index for future, index in zip(futures, indices)}
        results: dict[int, Any] = {}
        for future in as_completed(futures, loop=client.loop):
            index = position[future.key]
            results[index] = _result(future, index)
            bar.update(1)
        return [results[index] for index in indices]
    finally:
        client.cancel([f for f in futures if not f.done()])
        client.close()


def _result(future: Any, index: int) -> Any:
    """The future's result; its error (a worker's, a lost worker's, a cancellation) names the sample."""
    try:
        return future.result()
    except Exception as err:
        _raise_for(index, err)


def _raise_for(index: int, err: BaseException) -> NoReturn:
    if isinstance(err, TemnnError):
        raise TemnnError(f"sample {index}: {err}") from err
    raise SampleFailed(index, err) from err
