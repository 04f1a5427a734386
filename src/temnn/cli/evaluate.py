"""``temnn evaluate MODEL DATA``: score a trained model on a simulated image set (thesis ``Simulated_Data``).

Writes into ``--out`` (default ``./evaluation``), every file atomically:

- ``metrics.csv``: one row per image (index, epoch, sampling [Å/pixel], dose [e⁻/Å²], defocus
  [Å], and the scores of the label type, see :meth:`~temnn.analysis.simulated.SimulatedData.metrics_row`);
- ``summary.csv``: mean, median, 10th/90th percentile, extremes and fraction of perfect images
  of every score (also printed);
- ``histogram_METRIC.png``: the task's score over the set (atomic F1 and pixel F1 for Disk and
  Gaussian labels, pixel F1 for Mask, RMSE for Exitwave);
- ``examples.png``: the best, median and worst image with label and prediction;
- ``argand_median.png`` (Exitwave): Argand plots of the median image's predicted and true wave;
- ``disagreement_median.png`` (``--ensemble``): the mean prediction and the models' disagreement;
- ``evaluation.json``: model(s), image set and options.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Sequence

__all__ = ["register", "evaluate_to_folder"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        help="score a trained model on a simulated image set (F1, atomic F1, RMSE; tables and plots)",
        description=(
            "Apply MODEL to every image of the simulated image set DATA and compare with the labels: pixel "
            "F1-Score per class and overall (Mask, Disk, Gaussian), atomic F1-Score with precision and recall "
            "(Disk, Gaussian: columns matched within --radius pixels), predicted vs true area (Mask), RMSE of "
            "the real and imaginary part (Exitwave). Writes metrics.csv (per image, with dose in e⁻/Å² and "
            "defocus in Å), summary.csv (mean, median, 10th/90th percentile, fraction of perfect images), "
            "histograms, the best/median/worst example and, for exit waves, an Argand plot."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="model stem, .json/.safetensors file or training folder")
    p.add_argument("data", metavar="DATA", help="image set DATA/images/NAME (or DATA holding one set)")
    p.add_argument("--out", default="evaluation", help="output folder (default ./evaluation)")
    p.add_argument("--radius", type=float, default=10.0, metavar="PX",
                   help="atomic F1: largest distance of a true positive in pixels (default 10 = 1 Å at 0.1 Å/pixel)")
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
    p.add_argument("--quiet", action="store_true", help="no progress bar or printed table")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..nn.training import resolve_device

    result = evaluate_to_folder([args.model, *args.ensemble], args.data, args.out, radius=args.radius,
                                threshold=args.threshold, batch_size=args.batch_size,
                                device=resolve_device(args.device), min_distance=args.min_distance,
                                progress=not args.quiet)
    if not args.quiet:
        print(f"{len(result.rows)} images of {result.folder} ({result.label}); results in {args.out}")
        print(result.table())
    return 0


def evaluate_to_folder(models: Sequence[Any], data: str | os.PathLike, out: str | os.PathLike, *,
                       radius: float = 10.0, threshold: float = 0.5, batch_size: int = 8, device: Any = "cpu",
                       min_distance: float | None = None, progress: bool = True) -> Any:
    """Evaluate a model (or ensemble) on an image set and write tables and figures (the ``temnn evaluate`` command).

    Parameters
    ----------
    models : sequence of path or torch.nn.Module
        One model, or several whose mean prediction is scored.
    data : str or os.PathLike
        The image set.
    out : str or os.PathLike
        Output folder.
    radius, threshold, batch_size, device, min_distance, progress
        As for :func:`temnn.workflows.evaluate.evaluate` ([pixels], [0-1], images, device, [pixels]).

    Returns
    -------
    EvaluationResult
        The per-image rows and the summary.
    """
    import matplotlib.pyplot as plt

    from ..io.files import output_folder, write_json
    from ..workflows.evaluate import evaluate
    from ..analysis.simulated import SimulatedData

    out = output_folder(out, what="--out", create=False)
    result = evaluate(list(models), data, radius=radius, threshold=threshold, batch_size=batch_size, device=device,
                      min_distance=min_distance, progress=progress)
    result.write(out)
    histograms = [[result.metric]] + ([["pixel_f1"]] if result.metric == "atomic_f1" else [])
    for columns in histograms:
        fig, _ = result.plot_histogram(None if columns == [result.metric] else columns,
                                       path=out / f"histogram_{columns[0]}.png")
        plt.close(fig)
    examples = {}
    for name, row in result.examples().items():
        example = SimulatedData(result.image_path(row))
        example.infer(result.models, batch_size=batch_size, threshold=threshold)
        examples[name] = (example, row)
    _plot_examples(examples, result.metric, out / "examples.png", threshold=threshold, min_distance=min_distance)
    median = examples["median"][0]
    if result.label == "Exitwave":
        fig, _ = median.plot_argand(path=out / "argand_median.png")
        plt.close(fig)
    if median.disagreement is not None:
        fig, _ = median.plot_disagreement(path=out / "disagreement_median.png")
        plt.close(fig)
    write_json(out / "evaluation.json", {
        "models": [m.name for m in result.models],
        "image_set": str(result.folder),
        "label": result.label,
        "images": len(result.rows),
        "metric": result.metric,
        "radius_px": radius,
        "min_distance_px": min_distance,
        "threshold": threshold,
        "examples": {name: {"index": row["index"], "epoch": row["epoch"], result.metric: row[result.metric]}
                     for name, (_, row) in examples.items()},
    })
    return result


def _plot_examples(examples: dict[str, tuple[Any, dict[str, Any]]], metric: str, path: Path, *, threshold: float,
                   min_distance: float | None) -> None:
    """One row per example (best, median, worst): image(s), label and prediction."""
    import matplotlib.pyplot as plt

    from ..analysis.plotting import save_figure

    columns = max(data.panel_count() for data, _ in examples.values())
    fig, grid = plt.subplots(len(examples), columns, figsize=(3.2 * columns, 3.4 * len(examples)), squeeze=False)
    for axes, (name, (data, row)) in zip(grid, examples.items()):
        data.plot(axes=list(axes[:data.panel_count()]),
                  title=f"{name} ({row['index']:05d}_{row['epoch']:02d}, {metric} {row[metric]:.3g})",
                  threshold=threshold, min_distance=min_distance)
        for ax in axes[data.panel_count():]:
            ax.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
