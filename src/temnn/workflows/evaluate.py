"""Scores of a trained model over a whole simulated image set (publications I and III).

:func:`evaluate` streams an image set (``DATA/images/NAME``, made by ``temnn images``) through a
model in batches, keeping one batch in memory, and scores every image with
:meth:`SimulatedData.metrics_row <temnn.analysis.simulated.SimulatedData.metrics_row>`: pixel
F1 per class and overall, atomic F1, precision and recall (Disk, Gaussian), predicted and true
area (Mask), RMSE (Exitwave), with the image's dose and defocus. The summary gives, for every
score over the set, the mean, the median and the 10th percentile (publication III, figs. 3-5),
the 90th percentile (the worst tenth for an RMSE), the extremes and, for F1-Scores, the fraction
of perfect images (F1 = 1).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..analysis.metrics import ATOMIC_F1_RADIUS
from ..analysis.simulated import META_COLUMNS, TASK_METRIC, PreparedModel, SimulatedData, infer_series, prepare_models
from ..errors import TemnnError
from ..io.provenance import OverlapReport

__all__ = ["EvaluationResult", "evaluate", "evaluate_to_folder", "summarise", "SUMMARY_STATISTICS"]

SUMMARY_STATISTICS = ("images", "mean", "median", "p10", "p90", "min", "max", "perfect_fraction")
"""Columns of a summary row after ``metric``; ``p10``/``p90`` are the 10th/90th percentiles."""


@dataclass
class EvaluationResult:
    """Per-image scores of a model on an image set, and their summary.

    Attributes
    ----------
    rows : list of dict
        One row per image (see :meth:`SimulatedData.metrics_row
        <temnn.analysis.simulated.SimulatedData.metrics_row>`), in file order.
    summary : list of dict
        One row per score column: ``metric`` and :data:`SUMMARY_STATISTICS`.
    folder : pathlib.Path
        The image set.
    label : str
        Its label type (Mask, Disk, Gaussian, Exitwave).
    metric : str
        The column that scores the task: ``atomic_f1`` (Disk, Gaussian), ``pixel_f1`` (Mask)
        or ``rmse`` (Exitwave).
    models : list of PreparedModel
        The model(s) evaluated, loaded and checked (to predict single images again).
    overlap : OverlapReport
        Test samples that a model trained or validated on (evaluated with
        ``allow_overlap=True``), and models whose card cannot tell.
    """

    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    folder: Path
    label: str
    metric: str
    models: list[PreparedModel]
    overlap: OverlapReport = field(default_factory=OverlapReport)

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger :attr:`metric` is better (F1) or worse (RMSE)."""
        return self.metric != "rmse"

    def ranked(self) -> list[dict[str, Any]]:
        """The rows from the best to the worst image by :attr:`metric` (stable: file order on ties)."""
        sign = -1.0 if self.higher_is_better else 1.0
        return sorted(self.rows, key=lambda row: sign * row[self.metric])

    def examples(self) -> dict[str, dict[str, Any]]:
        """Rows of the best, the median and the worst image by :attr:`metric`."""
        ranked = self.ranked()
        return {"best": ranked[0], "median": ranked[(len(ranked) - 1) // 2], "worst": ranked[-1]}

    def image_path(self, row: dict[str, Any]) -> Path:
        """The ``.npz`` file of a row's image."""
        return self.folder / f"{row['index']:05d}_{row['epoch']:02d}.npz"

    def write(self, out: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``metrics.csv`` (per image) and ``summary.csv`` into ``out`` (atomically).

        Returns
        -------
        (metrics, summary) : tuple of pathlib.Path
        """
        from ..io.tables import write_csv

        out = Path(out)
        write_csv(self.rows, out / "metrics.csv")
        write_csv(self.summary, out / "summary.csv")
        return out / "metrics.csv", out / "summary.csv"

    def table(self) -> str:
        """The summary as aligned text (one line per score), after a warning line per overlap with training data."""
        header = ("metric",) + SUMMARY_STATISTICS
        lines = [[str(row["metric"])] + [_format(row[k]) for k in SUMMARY_STATISTICS] for row in self.summary]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        def align(line: list[str]) -> str:
            return "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths)))

        return "\n".join(self.overlap.lines() + [align(line) for line in [list(header)] + lines])

    def plot_histogram(self, columns: Sequence[str] | None = None, *,
                       path: str | os.PathLike | None = None) -> tuple[Any, Any]:
        """Histogram of scores over the set, with dashed lines at the 10th (F1) or 90th (RMSE) percentile.

        Parameters
        ----------
        columns : sequence of str, optional
            Score columns drawn on the same axes; default :attr:`metric` (and for an exit
            wave its real and imaginary parts, as in publication I, fig. 4).
        path : str or os.PathLike, optional
            Save the figure there (atomically).

        Returns
        -------
        (figure, axes)
        """
        import matplotlib.pyplot as plt

        from ..analysis.plotting import axis_label, save_figure

        if columns is None:
            columns = ["rmse", "rmse_real", "rmse_imag"] if self.metric == "rmse" else [self.metric]
        fig, ax = plt.subplots(figsize=(5.5, 4))
        colours = plt.get_cmap("tab10")
        values = {c: self._values(c) for c in columns}
        top = max((float(v.max()) for v in values.values() if len(v)), default=1.0)
        fraction = all(c.startswith(("pixel_", "atomic_")) for c in columns)
        bins = np.linspace(0.0, 1.0, 21) if fraction else np.linspace(0.0, top * 1.05 or 1.0, 21)
        for k, (column, v) in enumerate(values.items()):
            worst = 10 if column.startswith(("pixel_", "atomic_")) else 90
            ax.hist(v, bins=bins, histtype="step", linewidth=1.5, color=colours(k),
                    label=f"{column} (median {np.median(v):.3g})")
            ax.axvline(np.percentile(v, worst), color=colours(k), linestyle="--", linewidth=1,
                       label=f"{worst}th percentile {np.percentile(v, worst):.3g}")
        ax.set_xlabel("RMSE [vacuum = 1]" if all(c.startswith("rmse") for c in columns) else
                      axis_label(columns[0]) if len(columns) == 1 else "score")
        ax.set_ylabel("images")
        ax.set_title(f"{self.folder.name}: {len(self.rows)} images", fontsize=9)
        ax.legend(fontsize="small")
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path)
        return fig, ax

    def _values(self, column: str) -> np.ndarray:
        if not self.rows or column not in self.rows[0]:
            raise TemnnError(f"columns: the evaluation has no column {column!r}; columns are "
                             f"{', '.join(self.rows[0]) if self.rows else 'none'}")
        return np.asarray([row[column] for row in self.rows if row.get(column) is not None], dtype=np.float64)


def evaluate(model: Any, image_set: str | os.PathLike, *, radius: float = ATOMIC_F1_RADIUS, threshold: float = 0.5,
             batch_size: int = 8, device: Any = "cpu", min_spacing: float | None = None,
             min_distance: float | None = None, progress: bool = False,
             allow_overlap: bool = False) -> EvaluationResult:
    """Score a model on every image of a simulated image set.

    The test set must be unseen: a set that shares samples (structures, see
    :mod:`temnn.io.provenance`) with a model's training or validation set, as recorded in its
    card, is refused unless ``allow_overlap``.

    Parameters
    ----------
    model : path, torch.nn.Module or sequence of them
        A model file or training folder, a loaded network, or several (an ensemble: the
        mean prediction is scored and each row gets the mean ``disagreement``).
    image_set : str or os.PathLike
        ``DATA/images/NAME``, or a dataset folder ``DATA`` holding exactly one image set.
    radius : float
        Atomic F1 matching radius [Å] (publication III: 1 Å), converted to pixels with
        each image's own sampling.
    threshold : float
        Probability above which a pixel or a column peak counts as predicted [0-1].
    batch_size : int
        Images per forward pass (and in memory at once).
    device : str or torch.device
        Where models given as paths run.
    min_spacing : float, optional
        Smallest distance between two atomic columns [Å]; default the disc diameter
        ``spotsize`` (at least one pixel).
    min_distance : float, optional
        The same in pixels of each image, instead of ``min_spacing``: the command's
        ``--min-distance`` (recorded as ``min_distance_px``).
    progress : bool
        Show a progress bar.
    allow_overlap : bool
        Evaluate a test set that shares samples with a model's training or validation set
        anyway; :attr:`EvaluationResult.overlap` and the summary table then say how many.

    Returns
    -------
    EvaluationResult
        Per-image rows and the summary over the set.

    Raises
    ------
    TemnnError
        An empty image set, a model that does not fit it (label type, focal-series length,
        label channels), a test set sharing samples with a model's training or validation
        set (without ``allow_overlap``) or a bad option.

    Warns
    -----
    OverlapWarning
        A model card that records no training or validation samples (saved by an older
        temnn): overlap cannot be checked.
    """
    from tqdm import tqdm

    from ..io.image_sets import find_image_set, list_images
    from ..io.provenance import check_test_set, sample_set
    from ..parameters import Parameters

    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise TemnnError(f"--batch-size must be a positive integer, got {batch_size!r}")
    if not 0.0 < threshold < 1.0:
        raise TemnnError(f"--threshold must be a probability between 0 and 1, got {threshold!r}")
    if not (np.isfinite(radius) and radius > 0):
        raise TemnnError(f"--radius must be a positive distance in Å (e.g. 1.0), got {radius!r}")
    if min_spacing is not None and min_distance is not None:
        raise TemnnError("evaluate: give min_spacing [Å] or min_distance (--min-distance) [pixels], not both")
    if min_distance is not None and not min_distance >= 1:
        raise TemnnError(f"min_distance: expected at least 1 pixel, got {min_distance!r}")
    folder = find_image_set(image_set)
    parameters = Parameters.load(folder / "parameters.json")
    images = list_images(folder)
    if not images:
        raise TemnnError(f"{folder}: the image set is empty (no NNNNN_EE.npz files); run 'temnn images' to make it")
    models = prepare_models(model, parameters, device=device, source=f"the image set {folder}")
    overlap = check_test_set([(m.name, getattr(m.network, "card", None)) for m in models],
                             sample_set(folder, {i for i, _ in images}), allow_overlap=allow_overlap)
    rows = []
    with tqdm(total=len(images), desc=f"evaluate {folder.name}", unit="image", disable=not progress) as bar:
        for start in range(0, len(images), batch_size):
            batch = [SimulatedData(folder / f"{i:05d}_{e:02d}.npz", parameters)
                     for i, e in images[start:start + batch_size]]
            shapes = {d.image.shape for d in batch}
            if len(shapes) > 1:
                raise TemnnError(f"{folder}: images of different shapes {sorted(shapes)} in one set; "
                                 "re-make the set with one 'image_size'")
            predictions, disagreement = infer_series(models, np.stack([d.image for d in batch]),
                                                     [d.sampling for d in batch], batch_size=batch_size,
                                                     threshold=threshold)
            for k, data in enumerate(batch):
                data.prediction = predictions[k]
                data.disagreement = None if disagreement is None else disagreement[k]
                rows.append(data.metrics_row(radius=radius, threshold=threshold,
                                             min_spacing=_spacing(min_spacing, min_distance, data.sampling)))
            bar.update(len(batch))
    return EvaluationResult(rows, summarise(rows), folder, parameters.label, TASK_METRIC[parameters.label], models,
                            overlap)


def _spacing(min_spacing: float | None, min_distance: float | None, sampling: float) -> float | None:
    """The column spacing [Å] for one image: ``min_spacing``, or ``min_distance`` [pixels] at ``sampling``.

    A length in pixels is turned into the smallest length [Å] that converts back to no fewer pixels
    (``min_distance · sampling`` can come back one rounding below ``min_distance``), so that the
    ``--min-distance`` of the command finds the same columns as before it became a length in Å.
    """
    if min_distance is None:
        return min_spacing
    spacing = float(min_distance) * sampling
    while spacing / sampling < min_distance:
        spacing = float(np.nextafter(spacing, np.inf))
    return spacing


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statistics of every score column of an evaluation table.

    Parameters
    ----------
    rows : sequence of dict
        Per-image rows (:meth:`SimulatedData.metrics_row
        <temnn.analysis.simulated.SimulatedData.metrics_row>`); the descriptive
        :data:`~temnn.analysis.simulated.META_COLUMNS` are left out.

    Returns
    -------
    list of dict
        Per column: ``metric``, ``images`` (count with a value), ``mean``, ``median``, ``p10``,
        ``p90`` (10th and 90th percentiles), ``min``, ``max`` and, for F1-Scores,
        ``perfect_fraction`` (images with F1 = 1; None for other scores).

    Examples
    --------
    >>> s = summarise([{"index": 0, "atomic_f1": 1.0}, {"index": 1, "atomic_f1": 0.5}])
    >>> s[0]["metric"], s[0]["median"], s[0]["perfect_fraction"]
    ('atomic_f1', 0.75, 0.5)
    """
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(k for k in row if k not in META_COLUMNS))
    summary = []
    for column in columns:
        values = np.asarray([row[column] for row in rows if row.get(column) is not None], dtype=np.float64)
        if not len(values):
            continue
        is_f1 = "_f1" in f"_{column}"
        summary.append({
            "metric": column,
            "images": len(values),
            "mean": float(values.mean()),
            "median": float(np.median(values)),
            "p10": float(np.percentile(values, 10)),
            "p90": float(np.percentile(values, 90)),
            "min": float(values.min()),
            "max": float(values.max()),
            "perfect_fraction": float(np.mean(values == 1.0)) if is_f1 else None,
        })
    return summary


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)):
        return str(value)
    return f"{value:.4g}"


def evaluate_to_folder(models: Sequence[Any], data: str | os.PathLike, out: str | os.PathLike, *,
                       radius: float = ATOMIC_F1_RADIUS, threshold: float = 0.5, batch_size: int = 8,
                       device: Any = "cpu", min_spacing: float | None = None, min_distance: float | None = None,
                       progress: bool = True, allow_overlap: bool = False) -> Any:
    """Evaluate a model (or ensemble) on an image set and write tables and figures (the ``temnn evaluate`` command).

    Parameters
    ----------
    models : sequence of path or torch.nn.Module
        One model, or several whose mean prediction is scored.
    data : str or os.PathLike
        The image set.
    out : str or os.PathLike
        Output folder.
    radius, threshold, batch_size, device, min_spacing, min_distance, progress, allow_overlap
        As for :func:`evaluate` ([Å], [0-1], images, device, [Å], [pixels]);
        a test set sharing samples with a model's training or validation set is refused unless
        ``allow_overlap``, and ``evaluation.json`` then records the overlap.

    Returns
    -------
    EvaluationResult
        The per-image rows and the summary.
    """
    import matplotlib.pyplot as plt

    from ..io.files import output_folder, write_json
    from ..io.provenance import OverlapWarning

    out = output_folder(out, what="--out", create=False)
    result = evaluate(list(models), data, radius=radius, threshold=threshold, batch_size=batch_size, device=device,
                      min_spacing=min_spacing, min_distance=min_distance, progress=progress,
                      allow_overlap=allow_overlap)
    result.write(out)
    histograms = [[result.metric]] + ([["pixel_f1"]] if result.metric == "atomic_f1" else [])
    for columns in histograms:
        fig, _ = result.plot_histogram(None if columns == [result.metric] else columns,
                                       path=out / f"histogram_{columns[0]}.png")
        plt.close(fig)
    examples = {}
    for name, row in result.examples().items():
        example = SimulatedData(result.image_path(row))
        with warnings.catch_warnings():  # the overlap of the whole set was checked and reported above
            warnings.simplefilter("ignore", OverlapWarning)
            example.infer(result.models, batch_size=batch_size, threshold=threshold, allow_overlap=True)
        examples[name] = (example, row)
    _plot_examples(examples, result.metric, out / "examples.png", threshold=threshold, min_spacing=min_spacing,
                   min_distance=min_distance)
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
        "radius_angstrom": radius,
        "min_distance_px": min_distance,
        **({"min_spacing_angstrom": min_spacing} if min_spacing is not None else {}),
        "threshold": threshold,
        "overlap": result.overlap.to_dict(),
        "examples": {name: {"index": row["index"], "epoch": row["epoch"], result.metric: row[result.metric]}
                     for name, (_, row) in examples.items()},
    })
    return result


def _plot_examples(examples: dict[str, tuple[Any, dict[str, Any]]], metric: str, path: Path, *, threshold: float,
                   min_spacing: float | None, min_distance: float | None) -> None:
    """One row per example (best, median, worst): image(s), label and prediction."""
    import matplotlib.pyplot as plt

    from ..analysis.plotting import save_figure

    columns = max(data.panel_count() for data, _ in examples.values())
    fig, grid = plt.subplots(len(examples), columns, figsize=(3.2 * columns, 3.4 * len(examples)), squeeze=False)
    for axes, (name, (data, row)) in zip(grid, examples.items()):
        data.plot(axes=list(axes[:data.panel_count()]),
                  title=f"{name} ({row['index']:05d}_{row['epoch']:02d}, {metric} {row[metric]:.3g})",
                  threshold=threshold, min_spacing=_spacing(min_spacing, min_distance, data.sampling))
        for ax in axes[data.panel_count():]:
            ax.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
