"""The examples in the docstrings run, give what they show, and exist (a module without examples fails)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "temnn.analysis.metrics", "temnn.analysis.peaks", "temnn.analysis.argand", "temnn.analysis.ensemble",
    "temnn.analysis.instances", "temnn.analysis.tracking", "temnn.analysis.fourier", "temnn.analysis.plotting",
    "temnn.io.tables", "temnn.units", "temnn.aberrations", "temnn.simulate.phonons",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name}: no docstring example ran"
    assert result.failed == 0
