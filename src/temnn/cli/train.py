"""``temnn train``: train an MSD-net, U-net or U-net++ on stored images and labels, or on the fly.

Thesis scripts ``train_imageepochs.py`` and ``train_uplusplus.py`` (listings 3.7, A.2, A.3)
with the same options, plus device, seed, batch size and mixed precision.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from ..errors import TemnnError

if TYPE_CHECKING:
    from ..nn.training import TrainingOptions

ARCH_NAMES = ("msdnet", "unet", "unetpp")
"""Names of :data:`temnn.nn.ARCHITECTURES`, repeated here so that ``temnn --help`` need not import torch."""
SCHEDULE_NAMES = ("constant", "onecycle", "cosine")
"""Names of :data:`temnn.nn.schedules.SCHEDULES`, repeated for the same reason."""

__all__ = ["register", "options_from_args", "ARCH_NAMES"]

# command-line option → (hyper-parameter name, architectures that take it)
_ARCH_OPTIONS = {
    "layers": ("layers", ("msdnet",)),
    "max_dilation": ("max_dilation", ("msdnet",)),
    "levels": ("levels", ("unet", "unetpp")),
    "block_layers": ("block_layers", ("unet", "unetpp")),
    "binning": ("binning", ("msdnet", "unet", "unetpp")),
    "kernel": ("kernel", ("msdnet", "unet", "unetpp")),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train a network on an image set (MSD-net, U-net, U-net++)",
        description=(
            "Train a network on the images and labels of TRAIN, validating on VAL after every epoch. "
            "Training epoch e uses the stored image epoch e mod E; with --on-the-fly PARAMS.json, TRAIN is a "
            "dataset folder of exit waves and epoch e synthesises image epoch e of every wave on the training "
            "device (new images every epoch, the same as `temnn images` would store). Input and output channels, task, "
            "loss and output activation follow from the image set's parameters.json. OUT receives "
            "best.safetensors + best.json (lowest validation loss), checkpoints/, history.csv and "
            "learning_curve.png; re-running the same command resumes from the latest checkpoint. "
            "Under torchrun the run uses DistributedDataParallel over all processes."
        ),
    )
    p.add_argument("epochs", metavar="EPOCHS", type=int, help="training epochs in total")
    p.add_argument(
        "train",
        metavar="TRAIN",
        help="training image set DATA/images/NAME (or DATA holding one set); with --on-the-fly the dataset folder DATA",
    )
    p.add_argument("validation", metavar="VAL", help="validation image set (same parameters file as TRAIN)")
    p.add_argument("out", metavar="OUT", help="output folder (model, checkpoints, history)")
    p.add_argument(
        "--on-the-fly",
        metavar="PARAMS.json",
        help="synthesise the training images every epoch from the exit waves in TRAIN (waves/, sites/) with this "
        "parameters file (label, image_size, ranges in Å, eV, mrad, e⁻/Å²; its seed), on the training device",
    )
    p.add_argument("--arch", choices=ARCH_NAMES, help="architecture (default msdnet, or that of --init)")
    p.add_argument(
        "--filters",
        type=int,
        help="msdnet: feature maps per layer (default 1); unet/unetpp: channels of the first block (default 32)",
    )
    p.add_argument("--kernel", type=int, help="convolution kernel side in pixels, odd (msdnet 9, unet/unetpp 5)")
    p.add_argument("--layers", type=int, help="msdnet: number of layers (default 50)")
    p.add_argument("--max-dilation", type=int, help="msdnet: dilations are drawn from 1…N pixels (default 10)")
    p.add_argument("--levels", type=int, help="unet/unetpp: down-sampling levels (default 4)")
    p.add_argument("--block-layers", type=int, help="unet/unetpp: convolution layers per block (default 5)")
    p.add_argument("--binning", type=int, help="average N×N input pixels before the first layer and up-sample the "
                   "output back (default 1: none); for finely sampled images, e.g. 4 at 0.07 Å/pixel")
    p.add_argument("--init", metavar="MODEL", help="fine-tune: start from the weights of MODEL (a named model, model "
                   "file or training folder) instead of random ones; the architecture is MODEL's, the optimizer and "
                   "schedule start afresh")
    opt = p.add_mutually_exclusive_group()
    opt.add_argument(
        "--adam", metavar="JSON", help="Adam+AMSGrad options as a JSON object, e.g. '{\"lr\": 5e-4}' (default lr 1e-3)"
    )
    opt.add_argument("--rmsprop", metavar="LR", type=float, help="use RMSprop with this learning rate (e.g. 5e-4)")
    opt.add_argument("--adamw", metavar="LR", type=float, help="use AdamW with this learning rate (e.g. 2e-3)")
    p.add_argument("--weight-decay", metavar="WD", type=float, help="AdamW's decoupled weight decay (default 0.01)")
    p.add_argument("--schedule", choices=SCHEDULE_NAMES, default="constant", help="learning-rate schedule per batch "
                   "(default constant; onecycle peaks at the optimizer's lr, cosine warms up to it)")
    p.add_argument("--warmup", metavar="EPOCHS", type=float, help="warm-up of --schedule in epochs "
                   "(default: 30%% of the run for onecycle, 0 for cosine)")
    p.add_argument("--clip-grad", metavar="NORM", type=float,
                   help="clip the gradients' total L2 norm to NORM before every step (default off)")
    p.add_argument("--crop", metavar="N", type=int, help="train on random N×N pixel windows (validation: full images)")
    p.add_argument("--regularize", metavar="L2", type=float, default=0.0, help="L2 regularisation factor (default off)")
    p.add_argument(
        "--restart", metavar="EPOCH", type=int, help="resume from the checkpoint of this epoch (default: latest)"
    )
    p.add_argument("--epochsave", metavar="N", type=int, help="also keep the checkpoint of every N-th epoch")
    p.add_argument("--limitdata", metavar="N", type=int, help="use only the first N training structures")
    p.add_argument("--batch-size", type=int, default=8, help="samples per step over all processes (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, dilations, order and augmentation")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto: a GPU if present)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision (bfloat16, or float16 on older GPUs); default on with CUDA, off on CPU")
    p.add_argument("--workers", type=int, help="loader processes (default 0 on CPU, 4 with a GPU)")
    p.add_argument(
        "--augment",
        metavar="JSON",
        help='augmentation ranges, e.g. \'{"brightness": [-0.1, 0.1], "contrast": [0.9, 1.1], "gamma": [0.9, 1.1], '
        '"flips": true, "rotations": true}\' (brightness in local standard deviations)',
    )
    p.add_argument("--no-augment", action="store_true", help="no augmentation")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    p.set_defaults(func=_run)


def options_from_args(args: argparse.Namespace) -> "TrainingOptions":
    """:class:`~temnn.nn.TrainingOptions` from parsed ``temnn train`` arguments."""
    from ..nn.augment import NO_AUGMENTATION, Augmentation
    from ..nn.training import TrainingOptions

    if args.init is not None:
        arch, hyper = _architecture_of(args)
    else:
        arch, hyper = args.arch or "msdnet", {}
    for option, (name, archs) in _ARCH_OPTIONS.items():
        value = getattr(args, option)
        if value is None:
            continue
        if arch not in archs:
            raise TemnnError(f"--{option.replace('_', '-')} applies to {', '.join(archs)}, not to --arch {arch}")
        hyper[name] = value
    if args.filters is not None:
        hyper["width" if arch == "msdnet" else "filters"] = args.filters
    if args.weight_decay is not None and args.adamw is None:
        raise TemnnError("--weight-decay applies to --adamw; use --regularize with --adam or --rmsprop")
    if args.rmsprop is not None:
        optimizer, optimizer_options = "rmsprop", {"lr": args.rmsprop}
    elif args.adamw is not None:
        optimizer, optimizer_options = "adamw", {"lr": args.adamw}
        if args.weight_decay is not None:
            optimizer_options["weight_decay"] = args.weight_decay
    else:
        optimizer, optimizer_options = "adam", _json_object(args.adam, "--adam") if args.adam else {}
    if args.no_augment and args.augment:
        raise TemnnError("give either --augment or --no-augment")
    if args.no_augment:
        augmentation = NO_AUGMENTATION
    elif args.augment:
        augmentation = Augmentation.from_dict(_json_object(args.augment, "--augment"))
    else:
        augmentation = Augmentation()
    workers = args.workers
    if workers is None:
        workers = 4 if args.device != "cpu" and _has_cuda() else 0
    if workers < 0:
        raise TemnnError(f"--workers must be ≥ 0, got {workers}")
    for name in ("epochsave", "limitdata", "restart"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise TemnnError(f"--{name} must be a positive integer, got {value}")
    return TrainingOptions(
        arch=arch,
        epochs=args.epochs,
        hyperparameters=hyper,
        optimizer=optimizer,
        optimizer_options=optimizer_options,
        regularize=args.regularize,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        epochsave=args.epochsave,
        limitdata=args.limitdata,
        restart=args.restart,
        workers=workers,
        augmentation=augmentation,
        progress=not args.quiet,
        on_the_fly=args.on_the_fly,
        schedule=args.schedule,
        warmup=args.warmup,
        clip_grad=args.clip_grad,
        crop=args.crop,
        init=args.init,
    )


def _architecture_of(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """``--init MODEL``'s architecture and hyper-parameters; shape options may not change them."""
    from ..nn.checkpoints import read_card, resolve_stem

    stem = resolve_stem(args.init)
    config = read_card(stem)["architecture"]
    if args.arch is not None and args.arch != config["name"]:
        raise TemnnError(f"--arch {args.arch}: --init {args.init} is a {config['name']} ({stem}.json); "
                         "leave out --arch to fine-tune it")
    given = [f"--{option.replace('_', '-')}" for option in (*_ARCH_OPTIONS, "filters")
             if getattr(args, option) is not None]
    if given:
        raise TemnnError(f"{', '.join(given)}: the architecture of a fine-tuned network is that of --init "
                         f"{args.init} ({stem}.json); leave out the shape options")
    return config["name"], dict(config["hyperparameters"])


def _run(args: argparse.Namespace) -> int:
    from ..nn.training import train

    if args.seed < 0:
        raise TemnnError(f"--seed must be a non-negative integer, got {args.seed}")
    train(args.train, args.validation, args.out, options_from_args(args))
    return 0


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise TemnnError(f"{option}: not valid JSON ({err.msg}); give an object such as '{{\"lr\": 5e-4}}'") from None
    if not isinstance(value, dict):
        raise TemnnError(f"{option}: must be a JSON object such as '{{\"lr\": 5e-4}}', got {text}")
    return value


def _has_cuda() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    import torch

    return torch.cuda.is_available()
