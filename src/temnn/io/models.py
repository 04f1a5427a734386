"""Trained models found by name: the package's own folder and the folders of ``TEMNN_MODEL_PATH``.

A named model is a pair ``NAME.safetensors`` + ``NAME.json`` (the usual model card) whose
card also holds a ``model_info`` block saying what the model is for::

    "model_info": {"material": "MoS2", "beam_energy": 50000.0,
                   "description": "3-image focal series → columns 1Mo / 2S / 1S",
                   "quality": {"metric": "atomic_f1", "median": 0.98, "test_set": "200 flakes, seed 1"}}

The label, the sampling range [Å/pixel] and the focal-series length come from the card
itself (its parameters file and architecture). ``temnn.load_model("NAME")`` and
``temnn predict --model NAME FILES`` (or ``temnn predict NAME FILES``) find a model by
name when no file or folder of that name exists; ``temnn models`` lists them. Folders are searched in the order of
``TEMNN_MODEL_PATH`` (separated like ``PATH``), then this package's folder; the first
model of a name wins. Nothing is downloaded.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import TemnnError
from .files import read_json

__all__ = ["PACKAGE_MODELS", "MODEL_PATH_ENV", "ModelInfo", "model_folders", "list_models", "find_model", "warn_beam_energy"]

PACKAGE_MODELS = Path(__file__).resolve().parents[1] / "models"
"""The package's own folder of named models (``temnn/models/``, package data)."""

MODEL_PATH_ENV = "TEMNN_MODEL_PATH"
"""Environment variable: extra folders of named models, searched before the package's own."""

_BEAM_TOLERANCE = 0.01  # relative difference of beam energies that counts as the same [1]


@dataclass(frozen=True)
class ModelInfo:
    """What a named model is for, and how well it does.

    Attributes
    ----------
    name : str
        The name it is found by (the file stem).
    stem : pathlib.Path
        ``stem.json`` and ``stem.safetensors``.
    label : str
        ``Mask``, ``Disk``, ``Gaussian`` or ``Exitwave``.
    material : str
        What it was trained on, e.g. ``"MoS2"`` or ``"Au on CeO2"``.
    beam_energy : float or None
        Electron energy of its training images [eV].
    sampling : (float, float) or None
        Training sampling range [Å/pixel].
    focal_series : int
        Images per input (1: single images).
    description : str
        One line on its use.
    quality : dict
        Its measured quality on its held-out test set (metric, value, test set).
    """

    name: str
    stem: Path
    label: str
    material: str
    beam_energy: float | None
    sampling: tuple[float, float] | None
    focal_series: int
    description: str
    quality: dict[str, Any]

    @classmethod
    def from_card(cls, stem: Path, card: Mapping[str, Any]) -> "ModelInfo":
        """The information of a model card that has a ``model_info`` block."""
        info = card.get("model_info") or {}
        parameters = card.get("parameters") or {}
        sampling = card.get("sampling") or parameters.get("sampling")
        energy = info.get("beam_energy")
        return cls(
            name=stem.name, stem=stem, label=str((card.get("task") or {}).get("label") or parameters.get("label", "?")),
            material=str(info.get("material", "?")), beam_energy=None if energy is None else float(energy),
            sampling=None if sampling is None else (float(sampling[0]), float(sampling[1])),
            focal_series=int((card.get("architecture") or {}).get("input_channels", 1)),
            description=str(info.get("description", "")), quality=dict(info.get("quality") or {}))


def model_folders() -> list[Path]:
    """The folders searched for named models: ``TEMNN_MODEL_PATH``'s, then the package's."""
    extra = [Path(p) for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p]
    return extra + [PACKAGE_MODELS]


def list_models() -> list[ModelInfo]:
    """Every named model of :func:`model_folders`, by name (the first of a name wins).

    Returns
    -------
    list of ModelInfo
        Sorted by name.
    """
    found: dict[str, ModelInfo] = {}
    for folder in model_folders():
        for card_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            stem = card_path.with_suffix("")
            if stem.name in found or not stem.with_suffix(".safetensors").is_file():
                continue
            card = read_json(card_path)
            if isinstance(card, dict) and "model_info" in card:
                found[stem.name] = ModelInfo.from_card(stem, card)
    return [found[name] for name in sorted(found)]


def find_model(name: str) -> Path:
    """The stem of the named model ``name``.

    Raises
    ------
    TemnnError
        No model of that name; the message lists the names there are.
    """
    for info in list_models():
        if info.name == name:
            return info.stem
    names = ", ".join(info.name for info in list_models()) or "none"
    raise TemnnError(
        f"{name}: no such model file or folder, and no named model {name!r} (named models: {names}; "
        f"`temnn models` lists them, {MODEL_PATH_ENV} adds folders)")


def warn_beam_energy(model: Any, beam_energy: float | None, *, source: str) -> bool:
    """Warn when a file's beam energy differs from a named model's training energy.

    Parameters
    ----------
    model : temnn.nn.Network
        A loaded model (its ``card`` is read); models without ``model_info`` are not checked.
    beam_energy : float or None
        The file's beam energy [eV]; None (not recorded) is not checked.
    source : str
        The file, named in the warning.

    Returns
    -------
    bool
        Whether a warning was given.
    """
    info = ((getattr(model, "card", None) or {}).get("model_info") or {})
    trained = info.get("beam_energy")
    if trained is None or beam_energy is None or not math.isfinite(beam_energy):
        return False
    if abs(beam_energy - float(trained)) <= _BEAM_TOLERANCE * float(trained):
        return False
    warnings.warn(
        f"{source}: beam energy {beam_energy / 1e3:.4g} keV, but the model was trained on images at "
        f"{float(trained) / 1e3:.4g} keV; its predictions may be wrong (the transfer function and the "
        "scattering differ)", stacklevel=2)
    return True
