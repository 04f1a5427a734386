"""The parallel runner: order, errors naming the sample, thread limits, progress, Dask."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from ase import Atoms

from temnn import TemnnError
from temnn.workflows import runner
from temnn.workflows.structures import generate_dataset
from temnn.workflows.runner import SampleFailed, run_samples
from temnn.simulate.waves import WaveSettings
from temnn.structures.sample import Sample


def square(index: int) -> int:
    return index * index


def fail_on_three(index: int) -> int:
    if index == 3:
        raise ArithmeticError("three is not allowed")
    return index


def refuse_five(index: int) -> int:
    if index == 5:
        raise TemnnError("'rattle' must be positive")
    return index


def worker_threads(index: int) -> tuple[str | None, int]:
    from threadpoolctl import threadpool_info

    return os.environ.get("OMP_NUM_THREADS"), max((p["num_threads"] for p in threadpool_info()), default=1)


def gold_atom(rng: np.random.Generator) -> Sample:
    """One Au atom at a random position in a 6 Å box: a sample that costs milliseconds."""
    position = rng.uniform((1, 1, 1), (5, 5, 2))
    atoms = Atoms("Au", positions=[position], cell=[6.0, 6.0, 3.0])
    return Sample(atoms, [position[:2]], [0], ("Au",))


@pytest.fixture(scope="module")
def scheduler():
    cloudpickle = pytest.importorskip("cloudpickle")
    from distributed import LocalCluster

    # the Dask workers cannot import this test module by name: ship its functions by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_index_order(workers):
    indices = [5, 0, 9, 3, 7, 1]
    assert run_samples(square, indices, workers=workers, progress=False) == [i * i for i in indices]
    assert run_samples(square, [], workers=workers, progress=False) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_sample_is_named(workers):
    with pytest.raises(SampleFailed, match="sample 3: ArithmeticError: three is not allowed") as info:
        run_samples(fail_on_three, range(6), workers=workers, progress=False)
    assert info.value.index == 3
    assert isinstance(info.value.__cause__, ArithmeticError)
    with pytest.raises(TemnnError, match="sample 5: 'rattle' must be positive"):
        run_samples(refuse_five, range(7), workers=workers, progress=False)


def test_workers_run_numerical_libraries_on_one_thread():
    results = run_samples(worker_threads, range(2), workers=2, progress=False)
    assert results == [("1", 1), ("1", 1)]


def test_progress_bar_shows_rate_and_remaining_time(capsys):
    run_samples(square, range(4), progress=True, desc="waves")
    err = capsys.readouterr().err
    assert "waves" in err and "4/4" in err and "sample/s" in err and "<" in err  # elapsed<remaining


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_bad_worker_count_is_refused(workers):
    with pytest.raises(TemnnError, match="--workers"):
        run_samples(square, range(2), workers=workers, progress=False)


def test_unreachable_scheduler_is_named(monkeypatch):
    monkeypatch.setattr(runner, "_CONNECT_TIMEOUT", "1s")
    with pytest.raises(TemnnError, match="--scheduler tcp://127.0.0.1:9"):
        run_samples(square, range(2), scheduler="tcp://127.0.0.1:9", progress=False)


def test_dask_cluster_runs_in_index_order_and_names_failures(scheduler):
    assert run_samples(square, [4, 2, 8], scheduler=scheduler, progress=False) == [16, 4, 64]
    with pytest.raises(SampleFailed, match="sample 3") as info:
        run_samples(fail_on_three, range(5), scheduler=scheduler, progress=False)
    assert info.value.index == 3


def test_dask_cluster_gives_the_bytes_of_a_local_run(scheduler, tmp_path):
    settings = WaveSettings(energy=300e3, sampling=0.15)
    local = generate_dataset(tmp_path / "local", 4, gold_atom, seed=2, wave_settings=settings, progress=False)
    remote = generate_dataset(tmp_path / "dask", 4, gold_atom, seed=2, wave_settings=settings, scheduler=scheduler,
                              progress=False)
    assert remote.indices() == [0, 1, 2, 3]
    for folder in ("structures", "sites", "waves"):
        for path in sorted((local.root / folder).iterdir()):
            assert path.read_bytes() == (remote.root / folder / path.name).read_bytes(), path
