"""The training history: ``history.csv`` and the learning-curve figure, rewritten every epoch."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Sequence

from ..io.files import atomic_path

__all__ = ["write_history", "plot_learning_curve"]


def write_history(path: str | os.PathLike, history: Sequence[dict[str, Any]]) -> None:
    """Write one CSV row per epoch (columns from the first row), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file.
    history : sequence of dict
        Rows such as ``{"epoch": 1, "train_loss": …, "val_loss": …, "val_pixel_f1": …}``.
    """
    if not history:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    with atomic_path(path, suffix=".csv") as tmp:
        Path(tmp).write_text(buffer.getvalue(), encoding="utf-8")


def plot_learning_curve(path: str | os.PathLike, history: Sequence[dict[str, Any]], metric: str) -> None:
    """Loss (log scale) and task metric of training and validation set against epoch, as PNG.

    Parameters
    ----------
    path : str or os.PathLike
        The PNG file.
    history : sequence of dict
        Rows with ``epoch``, ``train_loss``, ``val_loss``, ``train_<metric>``, ``val_<metric>``.
    metric : str
        ``"pixel_f1"`` or ``"rmse"``.
    """
    if not history:
        return
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(9, 3.5))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.25)  # fixed: layout engines cost 0.3 s
    loss_ax, metric_ax = fig.subplots(1, 2)
    for split, style in (("train", "-"), ("val", "--")):
        name = "training" if split == "train" else "validation"
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], style, marker=".", label=name)
        metric_ax.plot(epochs, [row[f"{split}_{metric}"] for row in history], style, marker=".", label=name)
    name = "pixel F1" if metric == "pixel_f1" else "RMSE"
    loss_ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    metric_ax.set(xlabel="epoch", ylabel=name, title=name)
    for ax in (loss_ax, metric_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.legend()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
