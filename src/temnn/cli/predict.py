"""``temnn predict MODEL FILES...`` (or ``--model NAME_OR_PATH FILES...``): the argparse layer of
:func:`temnn.workflows.predict.predict_files`."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from ..errors import TemnnError
from ..workflows.predict import FORMATS
from ._model_argument import add_model_arguments, model_argument, names_a_model

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    p = subparsers.add_parser(
        "predict",
        intermixed=True,
        usage="temnn predict [-h] [options] {MODEL | --model NAME_OR_PATH} FILES [FILES ...]",
        help="apply a trained model to experimental images and stacks (dm3/dm4/tif/emd/emi/ser/mrc/png)",
        description=(
            "Apply the model (MODEL, or --model NAME_OR_PATH: the same forms) to every frame of FILES, streaming stacks frame by frame and large frames tile by "
            "tile. Frames whose sampling lies outside the model's training range are resampled for the network "
            "(with a warning) and the prediction is brought back to the file's pixel grid. Writes OUT/STEM/NNNNN.tif "
            "(calibrated like the input, in nm), optional .npz, overview PNGs and prediction.json; re-running "
            "skips finished frames. Units: sampling in Å/pixel, tiles in pixels."
        ),
    )
    add_model_arguments(p)
    p.add_argument("files", metavar="FILES", nargs="*", help="microscope files (.dm3 .dm4 .tif .emd .emi .ser .mrc .png)")
    p.add_argument("--out", default="predictions", help="output folder (default ./predictions)")
    p.add_argument("--sampling", type=float, help="pixel size in Å/pixel; required for uncalibrated files "
                   "(PNG) and replaces the files' own calibration")
    p.add_argument("--signal", type=int, help="signal index in multi-signal files (default: the first 2D image)")
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass (default 4)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto: a GPU if present)")
    p.add_argument("--tile", type=int, default=512, help="tile side in pixels at the network's sampling (default 512)")
    p.add_argument("--overlap", type=int, default=64, help="overlap of neighbouring tiles in pixels (default 64)")
    p.add_argument("--format", choices=sorted(FORMATS), default="tiff", help="prediction files: tiff, npz or both (default tiff)")
    p.add_argument("--overviews", metavar="N", type=int, help="overview PNG of every N-th frame (default: the first frame only; 0: none)")
    p.add_argument("--focal-series", action="store_true",
                   help="for a model trained on focal series of C images: consecutive groups of C frames form one input "
                   "(a remainder of fewer than C frames is skipped)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _model_and_files(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The model (MODEL or --model, exactly one) and the microscope files."""
    from ..io.microscope import PLUGINS

    positionals = ([] if args.model is None else [args.model]) + list(args.files)
    first = positionals[0] if positionals else None
    if args.model_option is not None:  # every positional is a file, unless the first one is a model too
        model = model_argument(args.model_option, first if first is not None and names_a_model(first) else None,
                               command="predict", operands="FILES...")
        files = positionals
    else:  # a microscope file first is not a model: none was given
        model = model_argument(None, first if first is None or Path(first).suffix.lower() not in PLUGINS else None,
                               command="predict", operands="FILES...")
        files = positionals[1:]
    if not files:
        raise TemnnError(f"FILES: no microscope file given after the model {model}; expected "
                         "`temnn predict MODEL FILES...` or `temnn predict --model NAME_OR_PATH FILES...`")
    return model, files


def _run(args: argparse.Namespace) -> int:
    from ..nn.training import resolve_device
    from ..workflows.predict import predict_files

    model, files = _model_and_files(args)

    shown: set[str] = set()

    def show(message: Warning | str, *_: Any, **__: Any) -> None:  # one line per distinct warning, no source line
        if str(message) not in shown:
            shown.add(str(message))
            print(f"temnn predict: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        # every warning reaches show(), which prints each distinct message once (Python's "default"
        # registry can swallow a warning whose location warned before, e.g. in an earlier check)
        warnings.simplefilter("always")
        warnings.showwarning = show
        predict_files(
            model, files, args.out, sampling=args.sampling, signal=args.signal, batch_size=args.batch_size,
            device=resolve_device(args.device), tile=args.tile, overlap=args.overlap, file_format=args.format,
            overviews=args.overviews, focal_series=args.focal_series, progress=not args.quiet,
        )
    return 0
