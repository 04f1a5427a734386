"""Neural networks for HR-TEM: architectures, tasks, training, model files, prediction.

- Architectures (:data:`ARCHITECTURES`): :class:`MSDNet`, :class:`UNet`, :class:`UNetPlusPlus`.
- :func:`task_for` maps a parameters file's label to activation, loss and metric.
- :func:`train` runs a training (the ``temnn train`` command).
- :func:`save_model` / :func:`load_model`: safetensors weights + JSON card.
- :func:`predict` applies a loaded model to raw images.

Names are imported lazily, so that ``temnn --help`` (which imports :mod:`temnn.cli.train`)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ARCHITECTURES": "registry",
    "build_model": "registry",
    "count_parameters": "registry",
    "ConvBlock": "blocks",
    "ConvLayer": "blocks",
    "Network": "blocks",
    "MSDNet": "msdnet",
    "draw_dilations": "msdnet",
    "UNet": "unet",
    "UNetPlusPlus": "unetpp",
    "Task": "tasks",
    "task_for": "tasks",
    "TrainingOptions": "training",
    "train": "training",
    "load_model": "checkpoints",
    "save_model": "checkpoints",
    "predict": "inference",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'temnn.nn' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
