"""``temnn evaluate MODEL DATA`` (or ``--model NAME_OR_PATH DATA``): score a trained model on a simulated image set (thesis ``Simulated_Data``).

The argparse layer of :func:`temnn.workflows.evaluate.evaluate_to_folder`. Writes into ``--out`` (default ``./evaluation``), every file atomically:

- ``metrics.csv``: one row per image (index, epoch, sampling [Å/pixel], dose [e⁻/Å²], defocus
  [Å], and the scores of the label type, see :meth:`~temnn.analysis.simulated.SimulatedData.metrics_row`);
- ``summary.csv``: mean, median, 10th/90th percentile, extremes and fraction of perfect images
  of every score (also printed);
- ``histogram_METRIC.png``: the task's score over the set (atomic F1 and pixel F1 for Disk and
  Gaussian labels, pixel F1 for Mask, RMSE for Exitwave);
- ``examples.png``: the best, median and worst image with label and prediction;
- ``argand_median.png`` (Exitwave): Argand plots of the median image's predicted and true wave;
- ``disagreement_median.png`` (``--ensemble``): the mean prediction and the models' disagreement;
- ``evaluation.json``: model(s), image set, options and ``overlap``: test samples that a model
  trained or validated on (only with ``--allow-overlap``; without it such a test set is refused)
  and models whose card cannot tell.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from ._model_argument import add_model_arguments, model_argument

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        intermixed=True,
        usage="temnn evaluate [-h] [options] {MODEL | --model NAME_OR_PATH} DATA",
        help="score a trained model on a simulated image set (F1, atomic F1, RMSE; tables and plots)",
        description=(
            "Apply the model (MODEL, or --model NAME_OR_PATH: the same forms) to every image of the simulated image set DATA and compare with the labels: pixel "
            "F1-Score per class and overall (Mask, Disk, Gaussian), atomic F1-Score with precision and recall "
            "(Disk, Gaussian: columns matched within --radius Å), predicted vs true area (Mask), RMSE of "
            "the real and imaginary part (Exitwave). Writes metrics.csv (per image, with dose in e⁻/Å² and "
            "defocus in Å), summary.csv (mean, median, 10th/90th percentile, fraction of perfect images), "
            "histograms, the best/median/worst example and, for exit waves, an Argand plot. A test set that "
            "shares structures with the model's training or validation set (as its card records) is refused "
            "unless --allow-overlap is given."
        ),
    )
    add_model_arguments(p)
    p.add_argument("data", metavar="DATA", help="image set DATA/images/NAME (or DATA holding one set)")
    p.add_argument("--out", default="evaluation", help="output folder (default ./evaluation)")
    p.add_argument("--radius", type=float, default=1.0, metavar="Å",
                   help="atomic F1: largest distance of a true positive in Å, converted to pixels with each "
                   "image's sampling (default 1 Å, publication III)")
    p.add_argument("--min-distance", type=float, metavar="PX",
                   help="atomic F1: smallest distance between two columns in pixels (default: the disc diameter "
                   "spotsize / sampling)")
    p.add_argument("--threshold", type=float, default=0.5, help="probability above which a pixel or column counts "
                   "as predicted (default 0.5)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto: a GPU if present)")
    p.add_argument("--ensemble", nargs="+", metavar="MODEL", default=(),
                   help="further models: score the mean prediction of all and plot where they disagree "
                   "(give this option after MODEL and DATA)")
    p.add_argument("--allow-overlap", action="store_true",
                   help="evaluate even if DATA shares structures with a model's training or validation set; the "
                   "printed table and evaluation.json then say how many")
    p.add_argument("--quiet", action="store_true", help="no progress bar or printed table")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..io.provenance import OverlapWarning
    from ..nn.training import resolve_device
    from ..workflows.evaluate import evaluate_to_folder

    model = model_argument(args.model_option, args.model, command="evaluate", operands="DATA")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)  # printed below as one line each, without a source line
        result = evaluate_to_folder([model, *args.ensemble], args.data, args.out, radius=args.radius,
                                    threshold=args.threshold, batch_size=args.batch_size,
                                    device=resolve_device(args.device), min_distance=args.min_distance,
                                    progress=not args.quiet, allow_overlap=args.allow_overlap)
    if args.quiet:  # otherwise the printed table begins with these lines
        for line in result.overlap.lines():
            print(f"temnn evaluate: {line}", file=sys.stderr)
    else:
        print(f"{len(result.rows)} images of {result.folder} ({result.label}); results in {args.out}")
        print(result.table())
    return 0


