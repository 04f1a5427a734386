"""temnn: neural-network assisted high-resolution TEM.

Simulate training data (structures → exit waves → images + labels), train networks,
and analyse simulated and experimental images. The stable public names are listed
in ``__all__``; they are imported lazily so that ``import temnn`` and the
``temnn`` command start quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "TemnnError": "temnn.errors",
    "Parameters": "temnn.parameters",
    "find_peaks": "temnn.analysis.peaks",
    "atomic_f1": "temnn.analysis.metrics",
    "label_instances": "temnn.analysis.instances",
    "track": "temnn.analysis.tracking",
    "load_model": "temnn.nn.checkpoints",
    "save_model": "temnn.nn.checkpoints",
    "predict": "temnn.nn.inference",
    "local_standardise": "temnn.nn.standardise",
    "random_mx2_flake": "temnn.structures.mx2",
    "random_flake": "temnn.structures.flake",
    "random_supported_particle": "temnn.structures.particle",
    "column_sites": "temnn.structures.sites",
    "plot_sample": "temnn.structures.preview",
    "debye_waller": "temnn.structures.vibrations",
    "ExperimentalData": "temnn.analysis.experimental",
    "SimulatedData": "temnn.analysis.simulated",
    "evaluate": "temnn.workflows.evaluate",
    "make_images": "temnn.workflows.images",
    "wavelength": "temnn.simulate.optics",
    "scherzer_defocus": "temnn.simulate.optics",
    "ctf": "temnn.simulate.optics",
    "CTF": "temnn.simulate.optics",
    "form_images": "temnn.simulate.images",
    "draw_microscope": "temnn.simulate.draw",
    "MicroscopeParameters": "temnn.simulate.draw",
    "ImageGeometry": "temnn.simulate.geometry",
    "WaveSettings": "temnn.simulate.waves",
    "ExitWave": "temnn.simulate.waves",
    "exit_wave": "temnn.simulate.waves",
    "Dataset": "temnn.io.dataset",
    "generate_dataset": "temnn.workflows.structures",
    "load_wave": "temnn.io.dataset",
    "load_sites": "temnn.io.dataset",
    "run_samples": "temnn.workflows.runner",
    "OnTheFlySet": "temnn.nn.onthefly",
    "list_models": "temnn.io.models",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'temnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
