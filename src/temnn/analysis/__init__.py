"""Analysis of predictions: scores, atomic columns, Argand plots, ensembles,
particle instances, tracking over time and local Fourier transforms.

Modules, one job each:

- :mod:`~temnn.analysis.metrics`: pixel and atomic F1-Scores, exit-wave RMSE
- :mod:`~temnn.analysis.peaks`: column positions and classes from probability maps
- :mod:`~temnn.analysis.argand`: exit-wave values at the columns, Argand plots
- :mod:`~temnn.analysis.ensemble`: several networks, their mean and disagreement
- :mod:`~temnn.analysis.instances`: one labelled region per particle (watershed)
- :mod:`~temnn.analysis.tracking`: particle ids across frames, properties over time
- :mod:`~temnn.analysis.fourier`: power spectra of one particle over time, Fourier peaks
- :mod:`~temnn.analysis.plotting`, :mod:`~temnn.io.tables`: figures and CSV tables

Names are imported lazily, so ``import temnn.analysis`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Score": "metrics", "AtomicScores": "metrics", "WaveRMSE": "metrics", "pixel_scores": "metrics",
    "match_positions": "metrics", "atomic_scores": "metrics", "atomic_f1": "metrics",
    "exit_wave_rmse": "metrics",
    "Peaks": "peaks", "find_peaks": "peaks", "refine_peaks": "peaks", "assign_classes": "peaks",
    "pixels_to_angstrom": "peaks", "angstrom_to_pixels": "peaks",
    "ArgandPoints": "argand", "argand_points": "argand", "plot_argand": "argand",
    "EnsemblePrediction": "ensemble", "ensemble_predict": "ensemble",
    "label_instances": "instances", "Instance2D": "instances", "Slice": "instances",
    "INSTANCE_PROPERTIES": "instances", "register_property": "instances",
    "Tracker": "tracking", "track": "tracking", "property_table": "tracking", "plot_property": "tracking",
    "instance_power_spectra": "fourier", "apodised_power_spectrum": "fourier", "crop_size": "fourier",
    "strongest_fourier_peaks": "fourier", "track_fourier_peaks": "fourier",
    "show_power_spectrum": "fourier", "plot_fourier_peaks": "fourier",
    "add_scale_bar": "plotting", "show_image": "plotting", "plot_side_by_side": "plotting",
    "save_figure": "plotting",
    "write_csv": "temnn.io.tables",
    "complex_wave": "_arrays",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'temnn.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module if module.startswith("temnn.") else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
