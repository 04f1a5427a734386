"""Model files and training checkpoints: safetensors weights plus a JSON card, never pickle.

A *model* is two files with a common stem: ``STEM.safetensors`` (the weights) and
``STEM.json`` (the card: architecture and hyper-parameters, task, channels, the parameters
file of the training set, training history, the samples of the training and validation sets
as :class:`temnn.io.provenance.SampleSet` records under ``training.sets``, temnn version,
card format). The card records
the SHA-256 of the weights, so a weights file that does not belong to its card (an
interrupted save) is refused. Loading rebuilds the architecture by name from the card, so
it never executes code from a file.

A *training checkpoint* ``OUT/checkpoints/epoch_NNNN`` is a model plus
``epoch_NNNN.optimizer.safetensors`` with the optimizer's tensors and the random-generator
states; the card's ``checkpoint`` section holds the rest (optimizer hyper-parameters and
step bookkeeping, gradient-scaler state, best validation loss). The card is written last,
so a checkpoint without a card, or whose files do not match it, is ignored on resume.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

import safetensors.torch
import torch
from torch import nn

from .. import __version__
from ..io.files import atomic_path, one_line, read_json, write_json
from ..errors import TemnnError
from .blocks import Network
from .registry import build_from_config, count_parameters, unwrap
from .tasks import Task

__all__ = [
    "CARD_FORMAT",
    "CARD_VERSION",
    "save_model",
    "load_model",
    "read_card",
    "resolve_stem",
    "describe_architecture",
    "save_checkpoint",
    "restore_checkpoint",
    "find_checkpoints",
    "prune_checkpoints",
    "checkpoint_stem",
]

CARD_FORMAT = "temnn-model"
CARD_VERSION = 1
"""Card format version; a card of another version is refused with a clear message."""

_SUFFIXES = (".json", ".safetensors")


# ------------------------------------------------------------------------------ models
def save_model(model: nn.Module, path: str | os.PathLike, card: Mapping[str, Any] | None = None) -> Path:
    """Save a network as ``STEM.safetensors`` + ``STEM.json`` (atomically, card last).

    Parameters
    ----------
    model : torch.nn.Module
        A temnn network (possibly inside DistributedDataParallel).
    path : str or os.PathLike
        The stem (``out/best``), a name ending in ``.json``/``.safetensors``, or an existing
        folder (saved as ``FOLDER/model``).
    card : mapping, optional
        Extra card fields (JSON-ready): ``task``, ``parameters``, ``history``, …

    Returns
    -------
    pathlib.Path
        The stem.
    """
    network = unwrap(model)
    stem = _stem_for_writing(path)
    weights = stem.with_name(stem.name + ".safetensors")
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in network.state_dict().items()}
    _write_safetensors(weights, tensors)
    full = dict(card or {})
    full.update(
        format=CARD_FORMAT,
        format_version=CARD_VERSION,
        temnn_version=__version__,
        architecture=network.config,
        trainable_parameters=count_parameters(network),
        weights={"file": weights.name, "sha256": _sha256(weights)},
    )
    write_json(stem.with_name(stem.name + ".json"), full)
    return stem


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Network:
    """Load a saved network in evaluation mode.

    Parameters
    ----------
    path : str or os.PathLike
        A model stem or one of its two files, a training output folder (loads its
        ``best`` model, else ``model``), or the name of a named model (``temnn models``).
    device : str or torch.device
        Where to put the weights.

    Returns
    -------
    Network
        The network, with its card as ``.card`` and its :class:`~temnn.nn.Task` (when the
        card has one) as ``.task``.
    """
    stem = resolve_stem(path)
    card = read_card(stem)
    tensors = _read_safetensors(stem, card)
    network = _network_for_weights(stem, card, tensors)
    network.load_state_dict(tensors)
    network.card = card
    network.task = _card_task(stem, card)
    return network.to(device).eval()


def _network_for_weights(stem: Path, card: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> Network:
    """The network the card's ``architecture`` describes, checked against the weights' tensors.

    A card edited to name another architecture or other hyper-parameters than the weights were
    trained with is refused, naming both files, the field and the first differing tensors.
    """
    card_path, weights = Path(f"{stem}.json"), stem.with_name(card["weights"]["file"])
    config = card["architecture"]
    disagree = (
        f"{card_path} and {weights}: the card and the weights disagree: the card's 'architecture' field "
        f"({describe_architecture(config)}) "
    )
    fix = ("; restore the card's 'architecture' as it was saved with these weights (or save the model again "
           "with temnn.save_model)")
    try:
        network = build_from_config(config, source=str(card_path))
    except TemnnError as err:
        raise TemnnError(f"{disagree}cannot be built ({err}){fix}") from None
    expected = network.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    reshaped = [f"{k} {tuple(tensors[k].shape)} ≠ {tuple(expected[k].shape)}"
                for k in expected if k in tensors and tuple(tensors[k].shape) != tuple(expected[k].shape)]
    problems = [f"{what}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''} ({len(keys)})"
                for what, keys in (("tensors the weights lack", missing), ("tensors the card's network lacks",
                                   unexpected), ("tensors of another shape", reshaped)) if keys]
    if problems:
        raise TemnnError(f"{disagree}does not fit the weights ({'; '.join(problems)}){fix}")
    return network


def describe_architecture(config: Mapping[str, Any]) -> str:
    """``config`` (:attr:`Network.config`) in words, for messages: "unet with 3 → 4 channels, filters=24, …"."""
    hyper = config.get("hyperparameters") if isinstance(config.get("hyperparameters"), Mapping) else {}
    options = ", ".join(f"{k}={v}" for k, v in hyper.items())
    return (f"{config.get('name')!s} with {config.get('input_channels')} → {config.get('output_channels')} "
            f"channels{', ' + options if options else ''}")


def _card_task(stem: Path, card: Mapping[str, Any]) -> Task | None:
    """The card's ``task`` field as a :class:`Task`, or None when the card has none."""
    if "task" not in card:
        return None
    try:
        return Task.from_dict(card["task"])
    except (KeyError, TypeError, ValueError) as err:
        raise TemnnError(
            f"{stem}.json: the field 'task' must be {{\"label\": ..., \"channels\": ..., \"activation\": ...}} "
            f"as save_model wrote it, got {card['task']!r} ({err})"
        ) from None


def resolve_stem(path: str | os.PathLike) -> Path:
    """The model stem that ``path`` names (see :func:`load_model`); a bare name that is no file or
    folder names a model of ``temnn models``."""
    path = Path(path)
    if not path.exists() and not path.with_name(path.name + ".json").exists() and str(path) == path.name:
        from ..io.models import find_model

        return find_model(path.name)  # a bare name that is no file: a named model (``temnn models``)
    if path.is_dir():
        for name in ("best", "model"):
            if (path / f"{name}.json").is_file():
                return path / name
        raise TemnnError(f"{path}: no model here (expected best.json or model.json with their .safetensors)")
    if path.suffix in _SUFFIXES:
        return path.with_suffix("")
    return path


def read_card(stem: str | os.PathLike) -> dict[str, Any]:
    """Read and check a model card (format and version).

    Parameters
    ----------
    stem : str or os.PathLike
        Model stem (``STEM.json`` is read).
    """
    path = Path(f"{stem}.json")
    if not path.exists():
        raise TemnnError(f"{stem}: no model here (expected the card {path.name} beside its .safetensors weights, as "
                         "save_model and temnn train write them; give a model stem, one of its files or a training "
                         "folder)")
    card = read_json(path)
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise TemnnError(f'{path}: not a temnn model card (no "format": "{CARD_FORMAT}")')
    version = card.get("format_version")
    if version != CARD_VERSION:
        raise TemnnError(
            f"{path}: model card format version {version} (written by temnn {card.get('temnn_version', '?')}), "
            f"but this temnn ({__version__}) reads version {CARD_VERSION}; "
            "load it with the temnn version that wrote it, or retrain"
        )
    if "architecture" not in card or "weights" not in card:
        raise TemnnError(f"{path}: the model card lacks 'architecture' or 'weights'")
    if not isinstance(card["architecture"], Mapping):
        raise TemnnError(f"{path}: the field 'architecture' must be an object (name, input_channels, "
                         f"output_channels, hyperparameters), got {card['architecture']!r}")
    weights = card["weights"]
    if not (isinstance(weights, Mapping) and isinstance(weights.get("file"), str)
            and isinstance(weights.get("sha256"), str) and weights["file"] and "/" not in weights["file"]):
        raise TemnnError(f'{path}: the field \'weights\' must be {{"file": "NAME.safetensors", "sha256": "..."}} '
                         f"naming a file beside the card, got {weights!r}")
    return card


# ------------------------------------------------------------------------- checkpoints
def checkpoint_stem(out: str | os.PathLike, epoch: int) -> Path:
    """Stem of the checkpoint after ``epoch`` completed epochs in the output folder ``out``."""
    return Path(out) / "checkpoints" / f"epoch_{epoch:04d}"


def save_checkpoint(
    out: str | os.PathLike,
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    card: Mapping[str, Any],
    *,
    state: Mapping[str, Any] | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> Path:
    """Write the training checkpoint after ``epoch`` completed epochs.

    Parameters
    ----------
    out : str or os.PathLike
        Training output folder.
    epoch : int
        Completed epochs.
    model : torch.nn.Module
        The network (possibly inside DistributedDataParallel).
    optimizer : torch.optim.Optimizer
        Its optimizer; all its state is saved, so resuming is exact.
    card : mapping
        Model-card fields (task, parameters, history, …).
    state : mapping, optional
        Further JSON-ready training state (e.g. the best validation loss).
    scaler : torch.amp.GradScaler, optional
        The gradient scaler of float16 mixed-precision training.

    Returns
    -------
    pathlib.Path
        The checkpoint stem.
    """
    stem = checkpoint_stem(out, epoch)
    tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    extra = stem.with_name(stem.name + ".optimizer.safetensors")
    _write_safetensors(extra, tensors)
    checkpoint = {
        "epoch": epoch,
        "optimizer": optimizer_meta,
        "optimizer_file": {"file": extra.name, "sha256": _sha256(extra)},
        "grad_scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        **dict(state or {}),
    }
    return save_model(model, stem, {**card, "checkpoint": checkpoint})


def restore_checkpoint(
    stem: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, Any]:
    """Load weights, optimizer state, random-generator states and gradient scaler in place.

    Parameters
    ----------
    stem : str or os.PathLike
        Checkpoint stem (from :func:`find_checkpoints`).
    model : torch.nn.Module
        Network of the same architecture (possibly inside DistributedDataParallel).
    optimizer : torch.optim.Optimizer
        Optimizer of the same kind over ``model``'s parameters.
    scaler : torch.amp.GradScaler, optional
        Gradient scaler to restore (float16 mixed precision).

    Returns
    -------
    dict
        The checkpoint's card (its ``checkpoint`` section holds the training state).
    """
    stem = Path(stem)
    card = read_card(stem)
    network = unwrap(model)
    if card["architecture"] != network.config:
        raise TemnnError(f"{stem}.json: checkpoint of {card['architecture']}, not of {network.config}")
    device = next(network.parameters()).device
    network.load_state_dict({k: v.to(device) for k, v in _read_safetensors(stem, card).items()})
    info = card["checkpoint"]
    extra = stem.with_name(info["optimizer_file"]["file"])
    if _sha256(extra) != info["optimizer_file"]["sha256"]:
        raise TemnnError(
            f"{extra}: does not match {stem}.json (interrupted save); delete both to resume from an earlier one"
        )
    tensors = safetensors.torch.load_file(str(extra))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, info["optimizer"]))
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")), key=_last_int)]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    if scaler is not None and info.get("grad_scaler"):
        scaler.load_state_dict(info["grad_scaler"])
    return card


def find_checkpoints(out: str | os.PathLike) -> dict[int, Path]:
    """Complete checkpoints in a training output folder, by epoch.

    A checkpoint is complete when its card exists and names its weight files; an
    interrupted save leaves no card (it is written last) and is skipped.
    """
    folder = Path(out) / "checkpoints"
    found: dict[int, Path] = {}
    if folder.is_dir():
        for card in folder.glob("epoch_*.json"):
            stem = card.with_suffix("")
            try:
                epoch = int(stem.name.split("_")[1])
            except (IndexError, ValueError):
                continue
            if (
                stem.with_name(stem.name + ".safetensors").is_file()
                and stem.with_name(stem.name + ".optimizer.safetensors").is_file()
            ):
                found[epoch] = stem
    return dict(sorted(found.items()))


def prune_checkpoints(out: str | os.PathLike, latest: int, every: int | None) -> None:
    """Delete checkpoints older than ``latest`` unless their epoch is a multiple of ``every``."""
    for epoch, stem in find_checkpoints(out).items():
        if epoch < latest and not (every and epoch % every == 0):
            # card first: a half-deleted checkpoint is then incomplete, never inconsistent
            for suffix in (".json", ".safetensors", ".optimizer.safetensors"):
                stem.with_name(stem.name + suffix).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- helpers
def _stem_for_writing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        return path / "model"
    return path.with_suffix("") if path.suffix in _SUFFIXES else path


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path, suffix=".safetensors") as tmp:
        safetensors.torch.save_file(tensors, str(tmp), metadata={"format": "pt", "writer": f"temnn {__version__}"})


def _read_safetensors(stem: Path, card: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    weights = stem.with_name(card["weights"]["file"])
    if not weights.is_file():
        raise TemnnError(f"{weights}: weights file missing (the card {stem}.json names it)")
    if _sha256(weights) != card["weights"]["sha256"]:
        raise TemnnError(
            f"{weights}: the weights do not match the card {stem}.json (SHA-256 differs): the save was "
            "interrupted or the files were mixed up; use another checkpoint or save again"
        )
    try:
        return safetensors.torch.load_file(str(weights))
    except Exception as err:  # safetensors raises its own SafetensorError (not a subclass of OSError)
        raise TemnnError(f"{weights}: not a readable safetensors file ({one_line(err)}); save the model again") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _flatten_optimizer(state_dict: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state → tensors (for safetensors) + JSON-ready rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entries in state_dict["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{pid}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "state": scalars}


def _unflatten_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, entries in meta["state"].items():
        state.setdefault(int(pid), {}).update(entries)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in group.items()} for group in meta["param_groups"]]
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def _last_int(key: str) -> int:
    return int(key.rsplit(".", 1)[1])
