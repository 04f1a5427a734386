"""Per-sample random streams.

Sample ``i`` of a data set draws all its randomness from ``(seed, i, epoch)`` and
nothing else, so a data set is the same bytes whatever the worker count, the
order in which samples run, or how often the run was interrupted.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, TypeVar

import numpy as np

__all__ = ["sample_rng", "stage_seed", "keyword_rng"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Distinct stages must not share streams even with the same user seed.
_STAGES = {"structures": 1, "images": 2, "train": 3, "augment": 4, "demo": 5, "crop": 6}


def stage_seed(stage: str) -> int:
    """Integer tag that separates the random streams of pipeline stages."""
    return _STAGES[stage]


def sample_rng(seed: int, index: int, epoch: int = 0, *, stage: str = "structures") -> np.random.Generator:
    """Random generator for one sample.

    Parameters
    ----------
    seed
        The user's seed for the whole data set.
    index
        Sample number (0-based, the ``NNNNN`` of the file names).
    epoch
        Image epoch (0 for structures and test sets).
    stage
        Pipeline stage, so that the structure and image streams of one sample differ.
    """
    if seed < 0 or index < 0 or epoch < 0:
        raise ValueError("seed, index and epoch must be non-negative integers")
    return np.random.default_rng(np.random.SeedSequence([int(seed), stage_seed(stage), int(index), int(epoch)]))


def keyword_rng(position: int) -> Callable[[_F], _F]:
    """Make a function's ``rng`` keyword-only (SPEC 7) while calls that still pass it positionally work.

    A call whose positional argument number ``position`` (0-based, ``self`` counted) is a
    :class:`numpy.random.Generator` and that gives no ``rng=`` is turned into the keyword call,
    with a :class:`DeprecationWarning`; the draws are the same.

    Examples
    --------
    >>> @keyword_rng(1)
    ... def draw(n, *, rng):
    ...     return rng.integers(100, size=n)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old = draw(2, np.random.default_rng(0))
    >>> caught[0].category.__name__, bool((old == draw(2, rng=np.random.default_rng(0))).all())
    ('DeprecationWarning', True)
    """

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > position and "rng" not in kwargs and isinstance(args[position], np.random.Generator):
                warnings.warn(f"{func.__qualname__}: give the random generator as rng=…; passing it positionally "
                              "is deprecated (SPEC 7)", DeprecationWarning, stacklevel=2)
                kwargs["rng"] = args[position]
                args = args[:position] + args[position + 1:]
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
