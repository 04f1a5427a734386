"""Per-sample random streams.

Sample ``i`` of a data set draws all its randomness from ``(seed, i, epoch)`` and
nothing else, so a data set is the same bytes whatever the worker count, the
order in which samples run, or how often the run was interrupted.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_rng", "stage_seed"]

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
