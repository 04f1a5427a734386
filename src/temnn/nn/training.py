"""Training loop: image epochs, validation, checkpoints, exact resume, DistributedDataParallel.

``train(TRAIN, VAL, OUT, options)`` trains a network on a stored image set (or, with
``options.on_the_fly``, on images synthesised from a dataset folder's exit waves every epoch,
:mod:`temnn.nn.onthefly`) and writes into ``OUT``::

    OUT/best.safetensors, best.json         the model with the lowest validation loss
    OUT/checkpoints/epoch_NNNN.*            the latest checkpoint (+ every --epochsave-th)
    OUT/history.csv, learning_curve.png     loss and task metric per epoch

Re-running the same command resumes from the latest complete checkpoint (``--restart N``
picks checkpoint N). All randomness is derived from the seed: weights from ``seed``,
batch order from ``(seed, epoch)``, augmentation from ``(seed, epoch, sample)``; the torch
generator state is stored in the checkpoint as well, and so is the learning-rate scheduler's
state (``--schedule``, :mod:`temnn.nn.schedules`; JSON in the card). On a CPU a resumed run
therefore ends with the same weights as an uninterrupted one.

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains on its share of each batch
through DistributedDataParallel (gloo on CPU, NCCL on GPUs) and rank 0 writes the files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .augment import Augmentation
from .loader import ImageSet, check_compatible, make_loader, prepare_batch, start_epoch
from .onthefly import OnTheFlySet, collate_synthesis, prepare_synthesis_batch
from ..io.files import output_folder
from ..io.provenance import check_validation_set, sample_set
from ..parameters import Parameters
from ..errors import TemnnError
from .checkpoints import (
    checkpoint_stem,
    describe_architecture,
    find_checkpoints,
    load_model,
    prune_checkpoints,
    read_card,
    resolve_stem,
    restore_checkpoint,
    save_checkpoint,
    save_model,
)
from .history import plot_learning_curve, write_history
from .blocks import Network
from .registry import ARCHITECTURES, build_model, count_parameters
from .schedules import SCHEDULES, make_scheduler, scheduler_state
from .tasks import Task, task_for

__all__ = ["TrainingOptions", "train", "make_optimizer", "train_step", "resolve_device"]

_ADAM_KEYS = ("lr", "betas", "eps", "weight_decay", "amsgrad")
# Options that must be the same when a run is resumed (the rest may change).
_RESUME_KEYS = (
    "arch",
    "optimizer",
    "optimizer_options",
    "regularize",
    "batch_size",
    "seed",
    "augmentation",
    "limitdata",
    "schedule",
    "warmup",
    "crop",
)


@dataclass
class TrainingOptions:
    """Options of one training run (the ``temnn train`` flags).

    Parameters
    ----------
    arch : str
        ``"msdnet"``, ``"unet"`` or ``"unetpp"``.
    epochs : int
        Training epochs in total (a resumed run continues up to this number).
    hyperparameters : dict
        Architecture options (``layers``, ``width``, ``kernel``, ``levels``, ``filters``,
        ``block_layers``, …); missing ones take the architecture's defaults.
    optimizer : str
        ``"adam"`` (AMSGrad, the default), ``"adamw"`` (decoupled weight decay) or ``"rmsprop"``.
    optimizer_options : dict
        Keyword arguments of the optimizer (``lr`` [1], ``betas``, ``eps``, ``amsgrad``; for
        ``adamw`` ``lr`` and ``weight_decay`` [1 per step, × lr], applied to convolution weights only).
    regularize : float
        L2 regularisation λ [1]: adds λ·Σw² of the convolution weights to the loss, as
        Keras' ``l2(λ)`` did (implemented as weight decay 2λ on those weights only).
    batch_size : int
        Samples per optimizer step, over all processes together.
    seed : int
        Seed of weights, MSD-net dilations, batch order and augmentation.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, …
    amp : bool, optional
        Mixed precision: bfloat16 autocast (float16 with gradient scaling on GPUs without
        bfloat16). ``None`` (default): on for CUDA devices, off otherwise.
    schedule : str
        Learning-rate schedule, stepped every batch (:mod:`temnn.nn.schedules`):
        ``"constant"`` (default), ``"onecycle"`` or ``"cosine"`` (with warm-up).
    warmup : float, optional
        Warm-up of the schedule [epochs]; ``None``: 30 % of the run for one-cycle, none for cosine.
    clip_grad : float, optional
        Clip the gradients' total L2 norm to this value before every step (``None``: no
        clipping). A one-cycle run at AdamW 1e-3 diverged at its peak rate without it
        (``benchmarks/results/science/pub1_paper_unet_adamw1e-3_diverged_history.csv``).
    crop : int, optional
        Train on random ``crop`` × ``crop`` pixel windows (the same window for image and label,
        drawn per sample and epoch from the seed); validation always uses the full images.
    epochsave : int, optional
        Also keep the checkpoint of every ``epochsave``-th epoch (the latest is always kept).
    limitdata : int, optional
        Train on the first ``limitdata`` structures only.
    restart : int, optional
        Resume from the checkpoint after this epoch (default: the latest one, if any).
    workers : int
        Loader worker processes per training process.
    augmentation : Augmentation
        Augmentation ranges of the training set.
    progress : bool
        Print the header, a progress bar per epoch and one line per epoch.
    on_the_fly : str or os.PathLike, optional
        Parameters file of on-the-fly training: TRAIN is then a dataset folder with
        ``waves/`` and ``sites/``, and training epoch ``e`` synthesises image epoch ``e``
        of every wave on the training device instead of reading stored images.
    init : str or os.PathLike, optional
        Start from the weights of this model instead of random ones (fine-tuning): a named
        model (``temnn models``), a model stem or file, or a training folder. Its architecture,
        channels and task must be this run's (``arch`` and ``hyperparameters`` as its card
        records them); the optimizer and the schedule start afresh. A resumed run continues
        from its checkpoint, whatever ``init`` says.
    """

    arch: str = "msdnet"
    epochs: int = 1
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    regularize: float = 0.0
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    epochsave: int | None = None
    limitdata: int | None = None
    restart: int | None = None
    workers: int = 0
    augmentation: Augmentation = field(default_factory=Augmentation)
    progress: bool = True
    on_the_fly: str | os.PathLike | None = None
    schedule: str = "constant"
    warmup: float | None = None
    clip_grad: float | None = None
    crop: int | None = None
    init: str | os.PathLike | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (stored in the model card)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["augmentation"] = self.augmentation.to_dict()
        for name in ("on_the_fly", "init"):
            out[name] = None if out[name] is None else str(out[name])
        return json.loads(json.dumps(out))


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The training device for ``--device`` (``auto``: this process' GPU if there is one).

    Parameters
    ----------
    name : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    local_rank : int
        Process number on this node (picks the GPU under ``torchrun``).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TemnnError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {name!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TemnnError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def make_optimizer(model: nn.Module, options: TrainingOptions) -> torch.optim.Optimizer:
    """Adam with AMSGrad (lr 1e-3), AdamW or RMSprop (Keras defaults ρ = 0.9, ε = 1e-7), with optional L2.

    AdamW's decoupled weight decay applies to the convolution weights only, like ``--regularize``
    (which it replaces: the two cannot be combined).

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    options : TrainingOptions
        ``optimizer``, ``optimizer_options`` and ``regularize``.
    """
    if options.regularize < 0 or not math.isfinite(options.regularize):
        raise TemnnError(f"--regularize must be a non-negative L2 factor, got {options.regularize}")
    if options.clip_grad is not None and not (math.isfinite(options.clip_grad) and options.clip_grad > 0):
        raise TemnnError(f"--clip-grad must be a positive gradient norm (e.g. 1.0), got {options.clip_grad}")
    weights = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    others = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": weights, "weight_decay": 2 * options.regularize}, {"params": others, "weight_decay": 0.0}]
    given = dict(options.optimizer_options)
    if options.optimizer == "adam":
        unknown = sorted(set(given) - set(_ADAM_KEYS))
        if unknown:
            raise TemnnError(f"--adam: unknown keys {unknown}; allowed: {list(_ADAM_KEYS)} (e.g. '{{\"lr\": 5e-4}}')")
        if "weight_decay" in given:
            raise TemnnError("--adam: give L2 regularisation with --regularize, not 'weight_decay'")
        kwargs = {"lr": 1e-3, "amsgrad": True, **given}
        try:
            return torch.optim.Adam(groups, **kwargs)
        except (TypeError, ValueError) as err:
            raise TemnnError(f"--adam {json.dumps(given)}: {err}") from None
    if options.optimizer == "adamw":
        lr, decay = given.get("lr"), given.get("weight_decay", 0.01)
        if sorted(set(given) - {"lr", "weight_decay"}):
            raise TemnnError(f"--adamw: unknown options {sorted(set(given) - {'lr', 'weight_decay'})}")
        if not isinstance(lr, (int, float)) or not lr > 0:
            raise TemnnError(f"--adamw must be a positive learning rate (e.g. 2e-3), got {lr!r}")
        if not isinstance(decay, (int, float)) or not decay >= 0:
            raise TemnnError(f"--weight-decay must be a non-negative number (e.g. 0.01), got {decay!r}")
        if options.regularize:
            raise TemnnError("--adamw has its own --weight-decay; drop --regularize")
        groups[0]["weight_decay"] = float(decay)
        return torch.optim.AdamW(groups, lr=float(lr))
    if options.optimizer == "rmsprop":
        lr = given.get("lr")
        if not isinstance(lr, (int, float)) or not lr > 0:
            raise TemnnError(f"--rmsprop must be a positive learning rate (e.g. 5e-4), got {lr!r}")
        return torch.optim.RMSprop(groups, lr=float(lr), alpha=0.9, eps=1e-7)
    raise TemnnError(f"optimizer must be 'adam', 'adamw' or 'rmsprop', got {options.optimizer!r}")


_PLOT_INTERVAL = 30.0  # seconds between redrawings of learning_curve.png


def train_step(
    model: nn.Module,
    task: Task,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    on_nonfinite: Callable[[torch.Tensor], None] | None = None,
    clip_grad: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on one (already standardised) batch.

    Parameters
    ----------
    model : torch.nn.Module
        The network (or its DistributedDataParallel wrapper).
    task : Task
        Loss and metric.
    optimizer : torch.optim.Optimizer
        The optimizer.
    images, labels : torch.Tensor
        (B, C, H, W) inputs and (B, K, H, W) targets on the model's device.
    amp_dtype : torch.dtype, optional
        Autocast dtype for mixed precision (``None``: full precision).
    scaler : torch.amp.GradScaler, optional
        Gradient scaler (float16).
    on_nonfinite : callable, optional
        Called with the loss when it is NaN or inf, before any update; it should raise.
    clip_grad : float, optional
        Largest total L2 norm of the gradients [loss units per parameter unit]; larger
        gradients are scaled down to it before the step (``None``: unclipped).

    Returns
    -------
    loss, counts : torch.Tensor
        The batch loss (detached) and the task's metric counts.
    """
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = model(images)
    loss = task.loss(logits, labels)
    if on_nonfinite is not None:
        on_nonfinite(loss.detach())
    optimizer.zero_grad(set_to_none=True)
    scaling = scaler is not None and scaler.is_enabled()
    (scaler.scale(loss) if scaling else loss).backward()
    if clip_grad is not None:
        if scaling:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    if scaling:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss.detach(), task.metric_counts(logits.detach(), labels)


def train(
    train_path: str | os.PathLike,
    validation_path: str | os.PathLike,
    out: str | os.PathLike,
    options: TrainingOptions,
) -> list[dict[str, Any]]:
    """Train a network on an image set, validating after every epoch.

    Parameters
    ----------
    train_path, validation_path : str or os.PathLike
        Image sets (``DATA/images/NAME``, or ``DATA`` holding one); with
        ``options.on_the_fly``, ``train_path`` is the dataset folder of the exit waves.
    out : str or os.PathLike
        Output folder (checkpoints, best model, history); an existing run there is resumed.
    options : TrainingOptions
        Architecture, optimizer and run options.

    Returns
    -------
    list of dict
        The history, one row per epoch.

    Raises
    ------
    TemnnError
        Among others, a validation set that shares samples (structures) with the training
        set (:func:`temnn.io.provenance.check_validation_set`), before anything is written.
        The model card records both sets' samples under ``training.sets``.
    """
    out = output_folder(out, what="OUT", create=False)
    with _Processes(options.device) as procs:
        return _Run(train_path, validation_path, out, options, procs).run()


class _Processes:
    """Process group of a torchrun launch (initialised here when needed) and this process' device."""

    def __init__(self, device: str) -> None:
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = resolve_device(device, self.local_rank)
        self.owned = False
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.owned = True
        self.distributed = dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            tensor = tensor.to(self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(tensor)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def __enter__(self) -> "_Processes":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            dist.destroy_process_group()


class _Run:
    """One call of :func:`train` (kept as an object so the epoch loop reads linearly)."""

    def __init__(self, train_path: Any, validation_path: Any, out: Path, options: TrainingOptions, procs: _Processes):
        self.options, self.procs, self.out = options, procs, out
        if options.epochs < 1:
            raise TemnnError(f"EPOCHS must be a positive number of training epochs, got {options.epochs}")
        if options.arch not in ARCHITECTURES:
            raise TemnnError(f"--arch must be one of {', '.join(ARCHITECTURES)}, got {options.arch!r}")
        if not isinstance(options.batch_size, int) or options.batch_size < 1:
            raise TemnnError(f"--batch-size must be a positive integer, got {options.batch_size}")
        if options.batch_size % procs.world_size:
            raise TemnnError(
                f"--batch-size {options.batch_size} must be a multiple of the number of processes ({procs.world_size})"
            )
        if options.schedule not in SCHEDULES:
            raise TemnnError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {options.schedule!r}")
        self.train_set: ImageSet | OnTheFlySet
        if options.on_the_fly is not None:
            if options.crop is not None:
                raise TemnnError("--crop applies to stored image sets; on the fly, set a smaller image_size instead")
            self.train_set = OnTheFlySet(
                train_path,
                options.on_the_fly,
                augmentation=options.augmentation,
                seed=options.seed,
                limitdata=options.limitdata,
            )
        else:
            self.train_set = ImageSet(
                train_path,
                augmentation=options.augmentation,
                seed=options.seed,
                limitdata=options.limitdata,
                crop=options.crop,
            )
        self.val_set = ImageSet(validation_path)
        check_compatible(self.train_set, self.val_set)
        self.sample_sets = {
            "train": sample_set(self.train_set.folder, self.train_set.samples),
            "validation": sample_set(self.val_set.folder, self.val_set.samples),
        }
        self.parameters = self.train_set.parameters
        self.task = task_for(self.parameters)
        amp = procs.device.type == "cuda" if options.amp is None else options.amp
        self.amp_dtype, scaled = _amp_dtype(amp, procs.device)
        self.scaler = torch.amp.GradScaler(procs.device.type, enabled=scaled)
        hyper = dict(options.hyperparameters)
        torch.manual_seed(options.seed)
        self.init_weights: dict[str, str] | None = None
        if options.init is not None:
            self.network, self.init_weights = self._initial_network(options.init, hyper)
        else:
            if options.arch == "msdnet":
                hyper.setdefault("seed", options.seed)
            self.network = build_model(options.arch, self.train_set.input_channels, self.train_set.output_channels,
                                       **hyper)
        self.network.to(procs.device)
        if procs.device.type == "cpu" and self.network.cpu_channels_last:
            self.network.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.network, options)
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        # after the options (cheap mistakes first), before anything is written
        check_validation_set(self.sample_sets["train"], self.sample_sets["validation"])
        self.history: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.start = 0
        self.last_checkpoint: Path | None = None
        self._plotted = -math.inf  # time.monotonic() of the last learning-curve drawing

    # ----------------------------------------------------------------------- setup
    def _initial_network(self, init: str | os.PathLike, hyper: dict[str, Any]) -> tuple[Network, dict[str, str]]:
        """The network of the model ``init``, checked against this run; and its provenance."""
        stem = resolve_stem(init)
        source = load_model(stem).train()
        config, where = source.config, f"--init {init}: the model ({stem}.json)"
        if config["name"] != self.options.arch:
            raise TemnnError(f"{where} is a {config['name']}, not a {self.options.arch} (--arch)")
        channels = (self.train_set.input_channels, self.train_set.output_channels)
        if (config["input_channels"], config["output_channels"]) != channels:
            raise TemnnError(
                f"{where} maps {config['input_channels']} → {config['output_channels']} channels, but the training "
                f"set {self.train_set.folder} has {channels[0]} → {channels[1]}; fine-tune a model made for such images"
            )
        differ = [f"{key}={value} (the model has {config['hyperparameters'].get(key)})"
                  for key, value in hyper.items() if config["hyperparameters"].get(key) != value]
        if differ:
            raise TemnnError(f"{where} is {describe_architecture(config)}; these architecture options differ: "
                             f"{', '.join(differ)}; leave them out to keep the model's")
        if source.task is not None and source.task != self.task:
            raise TemnnError(
                f"{where} was trained for {source.task.label} labels ({source.task.activation}), but the training "
                f"set {self.train_set.folder} has {self.task.label} labels ({self.task.activation}); "
                "fine-tune a model of the same task"
            )
        return source, {"model": str(stem), "sha256": source.card["weights"]["sha256"]}

    def _resume(self) -> None:
        checkpoints = find_checkpoints(self.out)
        if self.options.restart is not None:
            if self.options.restart not in checkpoints:
                have = ", ".join(str(e) for e in checkpoints) or "none"
                raise TemnnError(
                    f"--restart {self.options.restart}: no checkpoint of epoch {self.options.restart} in "
                    f"{self.out / 'checkpoints'} (have: {have}); keep more with --epochsave"
                )
            stem = checkpoints[self.options.restart]
        elif checkpoints:
            stem = checkpoints[max(checkpoints)]
        else:
            return
        saved_card = read_card(stem)
        saved, current = saved_card["training"]["options"], self.options.to_dict()
        saved = {"schedule": "constant", **saved}  # checkpoints from before --schedule
        changed = [k for k in _RESUME_KEYS if saved.get(k) != current.get(k)]
        if "arch" not in changed and saved_card["architecture"] != self.network.config:
            changed.append("architecture options")
        if bool(saved.get("on_the_fly")) != bool(current["on_the_fly"]):
            changed.append("on-the-fly setting")
        elif current["on_the_fly"] and Parameters.from_dict(saved_card["parameters"]) != self.parameters:
            changed.append("on-the-fly parameters file")
        if saved["schedule"] != "constant" and saved["epochs"] != current["epochs"]:
            changed.append("EPOCHS (the learning-rate schedule spans the whole run)")
        if changed:
            raise TemnnError(
                f"{self.out} holds a training run with other {', '.join(changed)} ({stem}.json); "
                "resume it with the same options or train into a new output folder"
            )
        card = restore_checkpoint(stem, self.network, self.optimizer, scaler=self.scaler)
        state = card["checkpoint"]
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.start = int(state["epoch"])
        self.best_loss = float(state["best_val_loss"])
        self.history = [row for row in card["training"]["history"] if row["epoch"] <= self.start]
        self.last_checkpoint = stem
        best = self.out / "best.json"
        if self.procs.main and best.is_file() and read_card(self.out / "best")["training"]["epoch"] > self.start:
            for suffix in (".json", ".safetensors"):  # best of an abandoned later branch of the run
                (self.out / f"best{suffix}").unlink(missing_ok=True)
        self._log(f"resuming from {stem} (epoch {self.start})")

    def _card(self, epoch: int) -> dict[str, Any]:
        return {
            "task": self.task.to_dict(),
            "parameters": self.parameters.to_dict(),
            "sampling": list(self.parameters.sampling),
            "normalizedistance": self.parameters.normalizedistance,
            "training": {
                "epoch": epoch,
                "train_set": str(self.train_set.folder),
                "validation_set": str(self.val_set.folder),
                "sets": {role: samples.to_dict() for role, samples in self.sample_sets.items()},
                "image_epochs": self.train_set.image_epochs,
                "on_the_fly": isinstance(self.train_set, OnTheFlySet),
                "init": self.init_weights,
                "options": self.options.to_dict(),
                "history": self.history,
            },
        }

    def _log(self, message: str) -> None:
        if self.options.progress and self.procs.main:
            tqdm.write(message)

    # ------------------------------------------------------------------------- run
    def run(self) -> list[dict[str, Any]]:
        procs, options = self.procs, self.options
        per_process = options.batch_size // procs.world_size
        pin = procs.device.type == "cuda"
        train_loader = make_loader(
            self.train_set,
            batch_size=per_process,
            shuffle=True,
            seed=options.seed,
            workers=options.workers,
            rank=procs.rank,
            world_size=procs.world_size,
            pin_memory=pin,
            collate_fn=collate_synthesis if isinstance(self.train_set, OnTheFlySet) else None,
        )
        val_loader = make_loader(
            self.val_set,
            batch_size=per_process,
            shuffle=False,
            workers=options.workers,
            rank=procs.rank,
            world_size=procs.world_size,
            pin_memory=pin,
        )
        # made before the resume, which then restores the optimizer's scheduled state over it
        self.scheduler = make_scheduler(
            self.optimizer, options.schedule, epochs=options.epochs, steps_per_epoch=len(train_loader),
            warmup=options.warmup,
        )
        self._resume()
        if self.start >= self.options.epochs:
            self._log(
                f"{self.out}: already trained for {self.start} epochs (asked for {self.options.epochs}); nothing to do"
            )
            return self.history
        model: nn.Module = self.network
        if self.procs.distributed:
            ids = [self.procs.device.index] if self.procs.device.type == "cuda" else None
            model = DistributedDataParallel(self.network, device_ids=ids)
        self._log(
            f"{options.arch}: {count_parameters(self.network):,} trainable parameters; "
            f"{self.train_set.input_channels} input → {self.train_set.output_channels} output channels; "
            f"task {self.parameters.label}: {self.task.activation} output, {self.task.loss_name} loss, "
            f"{self.task.metric_name.replace('_', ' ')}; {len(self.train_set)} training structures × "
            + (
                "new images every epoch (on the fly)"
                if self.train_set.image_epochs is None
                else f"{self.train_set.image_epochs} image epochs"
            )
            + f", {len(self.val_set)} validation; device {procs.device}"
            + (f" × {procs.world_size} processes" if procs.distributed else "")
        )
        stored = self.train_set.image_epochs  # None on the fly: epoch e is image epoch e
        for epoch in range(self.start, options.epochs):
            began = time.perf_counter()
            train_loss, train_metric = self._train_epoch(model, train_loader, epoch)
            val_loss, val_metric = self._validate(model, val_loader)
            metric = self.task.metric_name
            row = {
                "epoch": epoch + 1,
                "image_epoch": epoch if stored is None else epoch % stored,
                "train_loss": train_loss,
                "val_loss": val_loss,
                f"train_{metric}": train_metric,
                f"val_{metric}": val_metric,
                "lr": self.optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - began, 3),
            }
            self.history.append(row)
            if procs.main:
                self._write(epoch + 1, val_loss)
            procs.barrier()
            self.last_checkpoint = checkpoint_stem(self.out, epoch + 1)
            self._log(
                f"epoch {epoch + 1}/{options.epochs}: train loss {train_loss:.4g}, val loss {val_loss:.4g}, "
                f"val {metric.replace('_', ' ')} {val_metric:.4g} ({row['seconds']:.1f} s)"
            )
        return self.history

    def _write(self, epoch: int, val_loss: float) -> None:
        card = self._card(epoch)
        if val_loss < self.best_loss:
            self.best_loss = val_loss
            save_model(self.network, self.out / "best", card)
        save_checkpoint(
            self.out,
            epoch,
            self.network,
            self.optimizer,
            card,
            state={"best_val_loss": self.best_loss, "scheduler": scheduler_state(self.scheduler)},
            scaler=self.scaler,
        )
        prune_checkpoints(self.out, epoch, self.options.epochsave)
        write_history(self.out / "history.csv", self.history)
        # Drawing the PNG costs ~0.5 s, 10 % of a small CPU epoch: redraw at most every
        # _PLOT_INTERVAL seconds, and always after the last epoch.
        now = time.monotonic()
        if epoch == self.options.epochs or now - self._plotted >= _PLOT_INTERVAL:
            plot_learning_curve(self.out / "learning_curve.png", self.history, self.task.metric_name)
            self._plotted = now

    def _train_epoch(self, model: nn.Module, loader: Any, epoch: int) -> tuple[float, float]:
        procs = self.procs
        model.train()
        start_epoch(loader, epoch)
        prepare = prepare_synthesis_batch if isinstance(self.train_set, OnTheFlySet) else prepare_batch
        total = torch.zeros(2, dtype=torch.float64)
        counts = torch.zeros(3 if self.task.activation != "linear" else 2, dtype=torch.float64)
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{self.options.epochs}",
            unit="batch",
            leave=False,
            disable=not (self.options.progress and procs.main),
        )
        for batch_number, batch in enumerate(bar):
            images, labels = prepare(batch, procs.device, self.parameters.normalizedistance, augment=True)

            def stop_if_nonfinite(loss: torch.Tensor, batch_number: int = batch_number) -> None:
                finite = procs.sum(torch.isfinite(loss).to(torch.float64).reshape(1))
                if finite.item() < procs.world_size:
                    self._diverged(epoch, batch_number, float(loss))

            loss, batch_counts = train_step(
                model,
                self.task,
                self.optimizer,
                images,
                labels,
                amp_dtype=self.amp_dtype,
                scaler=self.scaler,
                on_nonfinite=stop_if_nonfinite,
                clip_grad=self.options.clip_grad,
            )
            if self.scheduler is not None:
                self.scheduler.step()
            total += torch.tensor([float(loss) * len(images), len(images)], dtype=torch.float64)
            counts += batch_counts.cpu()
            bar.set_postfix(loss=f"{float(loss):.4g}")
        total, counts = procs.sum(total).cpu(), procs.sum(counts).cpu()
        return float(total[0] / total[1]), self.task.metric(counts)

    @torch.no_grad()
    def _validate(self, model: nn.Module, loader: Any) -> tuple[float, float]:
        procs = self.procs
        model.eval()
        total = torch.zeros(2, dtype=torch.float64)
        counts = torch.zeros(3 if self.task.activation != "linear" else 2, dtype=torch.float64)
        for batch in loader:
            images, labels = prepare_batch(batch, procs.device, self.parameters.normalizedistance, augment=False)
            with torch.autocast(
                procs.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
            ):
                logits = model(images)
            total += torch.tensor(
                [float(self.task.loss(logits, labels)) * len(images), len(images)], dtype=torch.float64
            )
            counts += self.task.metric_counts(logits, labels).cpu()
        total, counts = procs.sum(total).cpu(), procs.sum(counts).cpu()
        if total[1] == 0:
            raise TemnnError(f"{self.val_set.folder}: no validation samples reached this process; use a larger set")
        return float(total[0] / total[1]), self.task.metric(counts)

    def _diverged(self, epoch: int, batch: int, loss: float) -> None:
        where = (
            f"the last good checkpoint is {self.last_checkpoint}; re-running the command resumes from it"
            if self.last_checkpoint
            else "no checkpoint was written yet"
        )
        raise TemnnError(
            f"training stopped: the loss became {loss} in epoch {epoch + 1}, batch {batch + 1}; {where}. "
            "Lower the learning rate (e.g. --adam '{\"lr\": 1e-4}'), add --regularize, or check the images of that batch"
        )


def _amp_dtype(amp: bool, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """Autocast dtype for ``--amp`` on ``device`` and whether gradients need scaling."""
    if not amp:
        return None, False
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, False
        return torch.float16, True
    if device.type == "cpu":
        return torch.bfloat16, False
    raise TemnnError(f"--amp is supported on CPU and CUDA devices, not on {device.type}; drop --amp")
