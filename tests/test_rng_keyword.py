"""SPEC 7: public functions take the random generator as the keyword ``rng=`` only."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from temnn.nn.augment import crop_window
from temnn.simulate.phonons import FrozenPhonons
from temnn.structures.flake import cut_flake, cut_random_flake, place_flake, random_flake
from temnn.structures.mx2 import draw_support_rotation, random_mx2_flake
from temnn.structures.particle import random_supported_particle

PUBLIC = [crop_window, FrozenPhonons.__call__, cut_flake, cut_random_flake, place_flake, random_flake,
          draw_support_rotation, random_mx2_flake, random_supported_particle]


@pytest.mark.parametrize("function", PUBLIC, ids=lambda f: f.__qualname__)
def test_rng_is_keyword_only(function):
    assert inspect.signature(function).parameters["rng"].kind is inspect.Parameter.KEYWORD_ONLY


def test_a_positional_generator_is_a_type_error_and_the_keyword_draws_the_same():
    with pytest.raises(TypeError):
        random_mx2_flake(np.random.default_rng(0), cell=(20.0, 20.0))  # type: ignore[misc]
    with pytest.raises(TypeError):
        crop_window(np.random.default_rng(0), (64, 64), 32)  # type: ignore[call-arg]
    window = crop_window((64, 64), 32, rng=np.random.default_rng(3))
    start = tuple(int(v) for v in np.random.default_rng(3).integers(0, [64 - 32 + 1, 64 - 32 + 1]))
    assert (window[0].start, window[1].start) == start and window[0].stop - window[0].start == 32
