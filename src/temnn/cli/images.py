"""``temnn images DATA PARAMS.json``: the argparse layer of :func:`temnn.workflows.images.make_images`."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``images`` subcommand."""
    parser = subparsers.add_parser(
        "images",
        help="HR-TEM images + labels from stored exit waves",
        description=(
            "Form HR-TEM images (CTF, coherence envelopes, blur, dose/shot noise, MTF, readout) and "
            "Mask/Disk/Gaussian/Exitwave labels from the exit waves in DATA/waves, with microscope "
            "parameters drawn per image from the ranges of PARAMS.json (Å, eV, rad, mrad, e⁻/Å²). "
            "Writes DATA/images/NAME/NNNNN_EE.npz + .json; re-running resumes."
        ),
    )
    parser.add_argument("data", metavar="DATA", help="dataset folder with waves/ and sites/ (from 'temnn structures')")
    parser.add_argument("parameters", metavar="PARAMS.json", help="parameters file (label, image_size, ranges)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--train", action="store_true", help="training set: 'image_epochs' images per wave (default)")
    kind.add_argument("--test", action="store_true", help="validation/test set: one image per wave")
    parser.add_argument("--name", help="image-set name, DATA/images/NAME (default: the parameters file's stem)")
    parser.add_argument("--seed", type=int, help="seed of the microscope draws (overrides the file's 'seed')")
    parser.add_argument("--start", type=int, default=0, help="first sample index to process (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler (tcp://host:port)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..workflows.images import make_images

    folder = make_images(
        args.data,
        args.parameters,
        name=args.name,
        test=args.test,
        seed=args.seed,
        start=args.start,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    print(f"images written to {folder}")
    return 0
