"""Shared helpers of the science benchmarks (publications I-III of the thesis).

Each benchmark is a script of ``temnn`` commands run in-process through
:func:`temnn.cli.main`, as ``temnn demo`` does (:mod:`temnn.cli.demo`), followed by an analysis
of the evaluation tables. This module holds what the three scripts share:

- the command line every script takes (``--scale``, ``--out``, ``--workers``, ``--threads``);
- :class:`Pipeline`: runs and times ``temnn`` steps and keeps the exact commands;
- the network options of each architecture derived from the demo's recipe
  (:func:`network_options`);
- reading ``evaluate``'s ``summary.csv`` and ``metrics.csv``;
- the paper-against-temnn table (Markdown) and the results JSON (machine, date, command);
- the two analyses that the library does not have: the dose where a segmented area
  converges and where half of it is segmented (publication II, :func:`dose_limits`), and the
  Y-scramble baseline of an exit-wave network (publication I, :func:`y_scramble_rmse`).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from temnn.io.files import write_json
from temnn.errors import TemnnError

__all__ = [
    "DoseLimits",
    "FIGURES",
    "MSDNET_OPTIONS",
    "PAPER_MSDNET_OPTIONS",
    "PaperRecipe",
    "Pipeline",
    "RESULTS",
    "SCALES",
    "base_parser",
    "dose_limits",
    "evaluation_is_current",
    "extrapolate_minutes",
    "figure_path",
    "fingerprint",
    "learning_curve",
    "markdown_table",
    "network_options",
    "plot_learning_curves",
    "read_metrics",
    "read_summary",
    "running_median",
    "setup_threads",
    "train_on_the_fly",
    "write_results",
    "y_scramble_rmse",
]

RESULTS = Path(__file__).resolve().parent.parent / "results"
"""``benchmarks/results``: the JSON of every benchmark."""

FIGURES = RESULTS / "science"
"""``benchmarks/results/science``: the figures of the science benchmarks."""

SCALES = ("smoke", "small", "full")
"""``--scale`` choices: a two-minute check of the script, a ~15-minute run, the issue's size."""

# Options of `temnn train` that set the architecture's shape; everything else in the demo's
# recipe (batch size, optimizer, augmentation) is shared by every architecture.
_SHAPE_OPTIONS = {
    "unet": ("--filters", "--levels", "--block-layers", "--kernel"),
    "unetpp": ("--filters", "--levels", "--block-layers", "--kernel"),
    "msdnet": ("--filters", "--layers", "--max-dilation", "--kernel"),
}

MSDNET_OPTIONS = ("--layers", "20", "--filters", "1", "--kernel", "3", "--max-dilation", "10")
"""MSD-net shape of the quick scales (``smoke``, ``small``): 20 layers of width 1, 3×3 kernels, dilations 1-10 pixels.

2.0e3 parameters, so that a minutes-long run trains every architecture; the paper-sized runs
use :data:`PAPER_MSDNET_OPTIONS`.
"""

PAPER_MSDNET_OPTIONS = ("--filters", "1", "--layers", "50", "--kernel", "9", "--max-dilation", "10")
"""Publication II's MSD-net (appendix, fig. A.9): 50 layers of width 1, 9×9 kernels, dilations 1-10 pixels.

With the compiled CPU kernels one forward + backward pass of a 256² 3-image series takes about
1.5 s on one thread of this 2-core CPU (``benchmarks/README.md``, MSD-net), against about
0.4 s for the 1e6-parameter U-net (``benchmarks/train.py``).
"""


def base_parser(name: str, description: str, scales: Sequence[str] = SCALES) -> argparse.ArgumentParser:
    """The command line shared by the science benchmarks.

    Parameters
    ----------
    name : str
        Benchmark name (``pub1``, ``pub2``, ``pub3``): default work folder
        ``/tmp/temnn-science/NAME``.
    description : str
        The script's docstring.
    scales : sequence of str
        ``--scale`` choices (a script may add its own, e.g. ``paper``).

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(scales), default="small",
                        help="smoke: < 2 min check of the script; small: ~10-20 min; full: the issue's size; "
                        "paper (where offered): the publication's own test conditions (default small)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/temnn-science") / name,
                        help="work folder for data, models and evaluations, one sub-folder per scale; a re-run "
                        f"reuses finished data and models (default /tmp/temnn-science/{name})")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for data generation (default 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch threads for training and inference (default: PyTorch's choice)")
    parser.add_argument("--epochs", type=int, default=None, help="override the training epochs of the scale")
    return parser


def setup_threads(threads: int | None) -> None:
    """Limit PyTorch to ``threads`` threads (None: leave PyTorch's default)."""
    import torch

    if threads is not None:
        if threads < 1:
            raise TemnnError(f"--threads must be a positive integer, got {threads}")
        torch.set_num_threads(threads)


@dataclass
class Pipeline:
    """Runs ``temnn`` commands in-process, times them and keeps them for the report.

    Attributes
    ----------
    steps : list of dict
        One entry per command run: ``title``, ``command`` (a shell line) and ``seconds``.
    """

    steps: list[dict[str, Any]] = field(default_factory=list)

    def run(self, title: str, argv: Sequence[str]) -> float:
        """Run ``temnn ARGV`` and return its wall time [s].

        Raises
        ------
        TemnnError
            The command returned a non-zero exit status.
        """
        from temnn.cli import main

        argv = [str(a) for a in argv]
        line = f"temnn {shlex.join(argv)}"
        print(f"\n== {title}\n$ {line}", flush=True)
        start = time.perf_counter()
        status = main(argv)
        seconds = time.perf_counter() - start
        self.steps.append({"title": title, "command": line, "seconds": round(seconds, 1)})
        if status != 0:
            raise TemnnError(f"step '{title}' failed (exit status {status}); see the messages above")
        return seconds

    def seconds(self, prefix: str = "") -> float:
        """Total wall time of the steps whose title starts with ``prefix`` [s]."""
        return sum(s["seconds"] for s in self.steps if s["title"].startswith(prefix))

    def structures(self, config: Any, root: Path, splits: dict[str, tuple[int, int]], *,
                   workers: int) -> dict[str, Path]:
        """Structures and exit waves of several splits with the demo's ``temnn structures`` arguments.

        Parameters
        ----------
        config : temnn.cli.demo.DemoConfig
            Its ``structures`` arguments are used.
        root : pathlib.Path
            Work folder; the splits go to ``root/data-FINGERPRINT/SPLIT`` (a new folder when
            the demo's structure arguments change).
        splits : dict
            ``{split: (count, seed)}``, e.g. ``{"train": (48, 0), "test": (100, 1)}``.
        workers : int
            Worker processes.

        Returns
        -------
        dict
            ``{split: dataset folder}``.
        """
        from temnn.cli.demo import structures_argv

        data = root / f"data-{fingerprint(config.structures)}"
        folders = {}
        for split, (count, seed) in splits.items():
            folders[split] = data / split
            self.run(f"structures: {split} ({count})",
                     structures_argv(config, folders[split], count, seed=seed, workers=workers, preview=False)
                     + ["--quiet"])
        return folders

    def images(self, data: Path, parameters: dict[str, Any], name: str, *, test: bool, workers: int) -> Path:
        """``temnn images`` for one parameters file; the image set is ``data/images/NAME-FINGERPRINT``.

        Returns
        -------
        pathlib.Path
            The image-set folder.
        """
        set_name = f"{name}-{fingerprint(parameters)}"
        params_path = data.parent / "parameters" / f"{set_name}.json"
        write_json(params_path, parameters)
        self.run(f"images: {data.name}/{name}",
                 ["images", data, params_path, "--name", set_name, "--workers", workers, "--no-progress"]
                 + (["--test"] if test else []))
        return data / "images" / set_name

    def train(self, root: Path, name: str, epochs: int, train_set: Path, validation_set: Path,
              options: Sequence[str]) -> Path:
        """``temnn train`` into ``root/models/NAME-FINGERPRINT`` (resumes; a new folder when the recipe changes)."""
        model = root / "models" / f"{name}-{fingerprint([str(train_set), list(options)])}"
        self.run(f"train: {name}", ["train", epochs, train_set, validation_set, model, *options, "--seed", "0"])
        return model

    def evaluate(self, model: Path, image_set: Path, out: Path, *options: str) -> Path:
        """``temnn evaluate`` into ``out`` unless its summary is newer than the model; returns ``out``."""
        if evaluation_is_current(out, model):
            print(f"\n== evaluate: {out} is newer than {model.name}/best.safetensors; kept")
            return out
        self.run(f"evaluate: {out.name}", ["evaluate", model, image_set, "--out", out, "--quiet", *options])
        return out


def network_options(recipe: Sequence[str], arch: str) -> list[str]:
    """``temnn train`` options for ``arch`` from the demo's recipe (``DemoConfig.train``).

    The recipe's shared options (batch size, optimizer, augmentation, …) are kept. For the
    U-net family the recipe's shape options are kept too (U-net++ gets the U-net's filters,
    levels and block layers); an MSD-net gets :data:`MSDNET_OPTIONS` instead.

    Parameters
    ----------
    recipe : sequence of str
        ``temnn train`` options, e.g. ``["--arch", "unet", "--filters", "8", "--batch-size", "8"]``.
    arch : {"unet", "unetpp", "msdnet"}
        Architecture to train.

    Returns
    -------
    list of str

    Examples
    --------
    >>> network_options(["--arch", "unet", "--filters", "8", "--batch-size", "8"], "msdnet")[:4]
    ['--arch', 'msdnet', '--batch-size', '8']
    """
    if arch not in _SHAPE_OPTIONS:
        raise TemnnError(f"architecture must be one of {', '.join(_SHAPE_OPTIONS)}, got {arch!r}")
    tokens = list(recipe)
    recipe_arch = "msdnet"  # temnn train's default
    shared: list[str] = []
    shape: list[str] = []
    i = 0
    while i < len(tokens):
        option = tokens[i]
        takes_value = i + 1 < len(tokens) and not tokens[i + 1].startswith("--")
        value = [tokens[i + 1]] if takes_value else []
        if option == "--arch":
            recipe_arch = value[0]
        elif option in ("--filters", "--levels", "--block-layers", "--kernel", "--layers", "--max-dilation"):
            shape += [option, *value]
        else:
            shared += [option, *value]
        i += 1 + len(value)
    same_family = (arch == "msdnet") == (recipe_arch == "msdnet")
    return ["--arch", arch, *shared, *(shape if same_family else MSDNET_OPTIONS if arch == "msdnet" else [])]


def read_summary(path: str | os.PathLike) -> dict[str, dict[str, float | None]]:
    """``evaluate``'s ``summary.csv`` as ``{metric: {statistic: value}}``.

    Statistics are those of :data:`temnn.workflows.evaluate.SUMMARY_STATISTICS` (``median``,
    ``p10``, ``perfect_fraction``, …); an empty field is ``None``.
    """
    path = Path(path)
    if not path.exists():
        raise TemnnError(f"{path}: no evaluation summary; run 'temnn evaluate' first")
    with open(path, newline="", encoding="utf-8") as f:
        return {row["metric"]: {k: _number(v) for k, v in row.items() if k != "metric"} for row in csv.DictReader(f)}


def read_metrics(path: str | os.PathLike) -> list[dict[str, float | None]]:
    """``evaluate``'s per-image ``metrics.csv`` as a list of rows of numbers (empty field: ``None``)."""
    path = Path(path)
    if not path.exists():
        raise TemnnError(f"{path}: no evaluation table; run 'temnn evaluate' first")
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of row dictionaries (floats to 4 significant digits, ``None`` as "–").

    Parameters
    ----------
    rows : sequence of dict
        One dictionary per row.
    columns : sequence of str, optional
        Columns in order; default all keys in the order first seen.

    Returns
    -------
    str

    Examples
    --------
    >>> print(markdown_table([{"a": 1, "b": 0.123456}]))
    | a | b |
    |---|---|
    | 1 | 0.1235 |
    """
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def learning_curve(model: Path, validation: Path, label: str) -> list[dict[str, float]]:
    """Training minutes and the validation goal metric at every kept checkpoint of a finished run.

    Parameters
    ----------
    model : pathlib.Path
        ``temnn train`` output folder (``history.csv``, ``checkpoints/epoch_NNNN.*`` from ``--epochsave``).
    validation : pathlib.Path
        Validation image set.
    label : str
        The set's label: ``Mask`` reads ``history.csv``'s pooled pixel F1 (every epoch); other
        labels evaluate each kept checkpoint with ``temnn evaluate`` and take the median of the
        task's score, :attr:`EvaluationResult.metric <temnn.workflows.evaluate.EvaluationResult.metric>`:
        atomic F1 (Disk, Gaussian) or the complex RMSE of the exit wave (Exitwave, vacuum = 1).

    Returns
    -------
    list of dict
        ``{"epoch", "minutes", "metric"}`` in epoch order; an evaluated checkpoint adds the
        score's ``p10`` and ``p90`` and, for atomic F1, ``perfect_fraction``. Minutes are the
        summed epoch times of ``history.csv`` (training plus validation loss).

    Notes
    -----
    Evaluating every checkpoint takes minutes, so the curve is kept in
    ``model/learning_curve-VALIDATION.json`` and read back while it is newer than
    ``history.csv`` (a re-run that only re-analyses finished models then costs nothing).
    """
    import json

    from temnn.workflows.evaluate import evaluate

    cache = model / f"learning_curve-{validation.name}.json"
    if cache.exists() and cache.stat().st_mtime > (model / "history.csv").stat().st_mtime:
        return json.loads(cache.read_text())["curve"]
    with open(model / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    minutes = np.cumsum([float(row["seconds"]) for row in history]) / 60
    curve = []
    for row, minute in zip(history, minutes):
        epoch = int(row["epoch"])
        point = {"epoch": epoch, "minutes": round(float(minute), 4)}
        if label == "Mask":
            curve.append({**point, "metric": float(row["val_pixel_f1"])})
            continue
        stem = model / "checkpoints" / f"epoch_{epoch:04d}"
        if not stem.with_suffix(".safetensors").exists():
            continue  # --epochsave N keeps every N-th epoch
        result = evaluate(stem, validation, allow_overlap=True)
        score = next(r for r in result.summary if r["metric"] == result.metric)
        point |= {"metric": float(score["median"]), "p10": float(score["p10"]), "p90": float(score["p90"])}
        if score["perfect_fraction"] is not None:
            point["perfect_fraction"] = float(score["perfect_fraction"])
        curve.append(point)
    write_json(cache, {"validation": str(validation), "label": label, "curve": curve})
    return curve


def extrapolate_minutes(curve: Sequence[dict[str, float]], key: str, goal: float, *,
                        tail: float = 0.5, higher_is_better: bool = True) -> dict[str, float | None]:
    """Training minutes until ``curve[key]`` reaches ``goal``, from a power law fitted to the tail.

    The distance still to go is fitted as ``A · t^(-a)`` (a straight line in log-log) over the
    last ``tail`` fraction of the points: the shortfall ``1 - metric`` of a score that rises
    toward 1 (F1, ``higher_is_better``), or the metric itself for an error that falls toward 0
    (RMSE). The goal is then reached at ``t = (A / (1 - goal))^(1/a)``, or ``(A / goal)^(1/a)``
    for an error. An empirical learning-curve model (no theory promises a power law): it
    answers "how far is the goal at the present rate", not whether it is reachable.

    Parameters
    ----------
    curve : sequence of dict
        :func:`learning_curve` points (``minutes`` and ``key``).
    key : str
        The metric, e.g. ``"perfect_fraction"``, ``"p10"`` or ``"metric"``.
    goal : float
        The paper's number: below 1 for a score, above 0 for an error.
    tail : float
        Fraction of the points (the latest) used for the fit.
    higher_is_better : bool
        True for a score in [0, 1] that rises toward 1, False for an error that falls toward 0.

    Returns
    -------
    dict
        ``reached`` (minutes of the first point at or beyond the goal, else None), ``exponent``
        ``a`` (None when fewer than 3 usable points), and ``minutes`` (the extrapolated time;
        None when the goal is reached or the tail is not improving, ``a <= 0``).

    Examples
    --------
    A score whose shortfall halves when the training time quadruples:

    >>> curve = [{"minutes": t, "m": 1 - 0.5 * t ** -0.5} for t in (1.0, 4.0, 16.0, 64.0)]
    >>> out = extrapolate_minutes(curve, "m", 0.95, tail=1.0)
    >>> round(out["exponent"], 3), round(out["minutes"], 1)
    (0.5, 100.0)

    An error that halves when the training time quadruples, toward a goal of 0.005:

    >>> curve = [{"minutes": t, "rmse": 0.05 * t ** -0.5} for t in (1.0, 4.0, 16.0, 64.0)]
    >>> out = extrapolate_minutes(curve, "rmse", 0.005, tail=1.0, higher_is_better=False)
    >>> round(out["exponent"], 3), round(out["minutes"], 1), out["reached"]
    (0.5, 100.0, None)
    """
    def gap(value: float) -> float:  # what is still to go: a power law in the training time
        return 1 - value if higher_is_better else value

    reached = next((p["minutes"] for p in curve if gap(p[key]) <= gap(goal)), None)
    points = [p for p in curve[int(len(curve) * (1 - tail)):] if 0 < p["minutes"] and gap(p[key]) > 0]
    if len(points) < 3:
        return {"reached": reached, "exponent": None, "minutes": None}
    slope, intercept = np.polyfit(np.log([p["minutes"] for p in points]), np.log([gap(p[key]) for p in points]), 1)
    exponent = float(-slope)
    minutes = None
    if reached is None and exponent > 0:
        minutes = float(np.exp((intercept - np.log(gap(goal))) / exponent))
    return {"reached": reached, "exponent": exponent, "minutes": minutes}


@dataclass(frozen=True)
class PaperRecipe:
    """How ``--scale paper`` trains a publication's networks: on the fly, with learning curves.

    Attributes
    ----------
    shapes : dict
        ``{arch: temnn train shape options}``, e.g. ``{"unet": ["--filters", "24", ...]}``.
    options : list of str
        ``temnn train`` options every network shares (batch size, optimizer, schedule,
        ``--epochsave N``: the learning curve's checkpoints).
    epochs : dict
        ``{arch: training epochs}``, each sized to fit the time budget on this CPU.
    train_image_size : list of int
        Size of the on-the-fly training images [pixels]; ``--crop`` is refused on the fly, so
        training images are drawn smaller than the validation and test images instead.
    """

    shapes: dict[str, list[str]]
    options: list[str]
    epochs: dict[str, int]
    train_image_size: list[int]

    def record(self, archs: Sequence[str], epochs: dict[str, int]) -> dict[str, Any]:
        """The recipe as the results JSON records it (the networks trained and their epochs)."""
        return {"training": "on the fly", "train_image_size": self.train_image_size, "options": self.options,
                "shape": {arch: self.shapes[arch] for arch in archs}, "epochs": {arch: epochs[arch] for arch in archs}}


def train_on_the_fly(pipeline: Pipeline, root: Path, recipe: PaperRecipe, arch: str, epochs: int, *, data: Path,
                     validation: Path, parameters: dict[str, Any], set_name: str,
                     ) -> tuple[Path, list[dict[str, float]]]:
    """Train one network of a ``--scale paper`` run on the fly and read its learning curve.

    Parameters
    ----------
    pipeline : Pipeline
        Runs and records the ``temnn train`` command.
    root : pathlib.Path
        Work folder: the training parameters file goes to
        ``root/parameters/onthefly-SET_NAME-FINGERPRINT.json``, the model to
        ``root/models/ARCH-SET_NAME-FINGERPRINT`` (:meth:`Pipeline.train`).
    recipe : PaperRecipe
        Shape, shared options and training image size.
    arch : str
        Architecture (a key of ``recipe.shapes``).
    epochs : int
        Training epochs.
    data : pathlib.Path
        Dataset folder of the training exit waves (``temnn structures``).
    validation : pathlib.Path
        Validation image set (made with ``parameters``, at the test image size).
    parameters : dict
        The test images' parameters file; training images differ only in
        ``recipe.train_image_size``.
    set_name : str
        Name of the training image parameters (e.g. ``series3``, ``high-dose-mtf4``).

    Returns
    -------
    (pathlib.Path, list of dict)
        The model folder and its :func:`learning_curve` on ``validation``.
    """
    training = {**parameters, "image_size": list(recipe.train_image_size)}
    on_the_fly = root / "parameters" / f"onthefly-{set_name}-{fingerprint(training)}.json"
    write_json(on_the_fly, training)
    options = ["--arch", arch, *recipe.shapes[arch], *recipe.options, "--on-the-fly", on_the_fly]
    model = pipeline.train(root, f"{arch}-{set_name}", epochs, data, validation, options)
    return model, learning_curve(model, validation, parameters["label"])


def plot_learning_curves(curves: dict[str, list[dict[str, float]]], panels: Sequence[tuple[str, str, float | None]],
                         path: Path, title: str, *, log_y: bool = False) -> None:
    """Validation metrics against training minutes (log scale), one panel per metric, goals dotted.

    Parameters
    ----------
    curves : dict
        ``{model name: learning_curve points}``.
    panels : sequence of (key, title, goal)
        The point key drawn in each panel, its title, and the paper's goal (None: no line).
    path : pathlib.Path
        The PNG.
    title : str
        Figure title.
    log_y : bool
        Logarithmic metric axis (errors such as RMSE); otherwise 0-1.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from temnn.analysis.plotting import save_figure

    if not curves:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.5, 4 * len(panels)), 3.6), sharex=True, squeeze=False)
    axes = axes[0]
    for k, (name, curve) in enumerate(curves.items()):
        for ax, (key, _, _) in zip(axes, panels):
            points = [p for p in curve if p.get(key) is not None]
            ax.plot([p["minutes"] for p in points], [p[key] for p in points], "o-", ms=3, color=f"C{k}", label=name)
    for ax, (_, panel_title, goal) in zip(axes, panels):
        if goal is not None:
            ax.axhline(goal, color="gray", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        # minutes as plain numbers at 1, 2, 5 × 10^k (the default log labels overlap below a decade)
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        if log_y:
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("training minutes (CPU)")
        ax.set_title(panel_title, fontsize=10)
    axes[0].legend(fontsize="x-small")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def fingerprint(obj: Any) -> str:
    """Eight hex digits identifying a JSON-able recipe (folder names that change with the recipe).

    ``temnn structures``, ``images`` and ``train`` refuse to resume into a folder made with
    other settings; naming folders by the recipe lets a re-run reuse what still fits and
    start afresh where the demo's recipe changed.
    """
    import hashlib
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def evaluation_is_current(evaluation: Path, model: Path) -> bool:
    """Whether ``evaluation/summary.csv`` is newer than the model's ``best.safetensors``."""
    summary, weights = evaluation / "summary.csv", model / "best.safetensors"
    return summary.exists() and weights.exists() and summary.stat().st_mtime > weights.stat().st_mtime


def figure_path(name: str, what: str, scale: str) -> Path:
    """``benchmarks/results/science/NAME_WHAT.png`` of a full run, ``NAME_SCALE_WHAT.png`` of a smaller one.

    A smoke or small run therefore never overwrites the figures of a full run (the folder is created).
    """
    FIGURES.mkdir(parents=True, exist_ok=True)
    return FIGURES / (f"{name}_{what}.png" if scale == "full" else f"{name}_{scale}_{what}.png")


def write_results(name: str, results: dict[str, Any], *, args: argparse.Namespace,
                  pipeline: Pipeline | None = None) -> Path:
    """Write ``benchmarks/results/science_NAME.json`` with the machine, date and command.

    A run at another scale than ``full`` writes ``science_NAME_SCALE.json`` instead.

    Parameters
    ----------
    name : str
        Benchmark name.
    results : dict
        The benchmark's numbers.
    args : argparse.Namespace
        Parsed command line (scale and options are recorded).
    pipeline : Pipeline, optional
        Its steps (commands and seconds) are recorded.

    Returns
    -------
    pathlib.Path
        The JSON file.
    """
    import torch

    record = {
        "benchmark": name,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "scale": args.scale,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average_end": os.getloadavg(),
            "git_commit": _git_commit(),
        },
        **results,
    }
    if pipeline is not None:
        record["steps"] = pipeline.steps
        record["total_seconds"] = round(pipeline.seconds(), 1)
    path = RESULTS / (f"science_{name}.json" if args.scale == "full" else f"science_{name}_{args.scale}.json")
    write_json(path, record)
    return path


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


# ------------------------------------------------------------------ publication II: dose limits
@dataclass(frozen=True)
class DoseLimits:
    """Where a segmented area converges, and where half of it is segmented (publication II, figs. 1-3).

    Attributes
    ----------
    plateau : float
        The converged area: the median area of the frames of the highest doses (the paper's
        segmentation of the final frame, its pseudo ground truth) [units of the area].
    convergence_dose : float or None
        Lowest dose above which the smoothed area stays at or above ``plateau · (1 - tolerance)``
        [e⁻/Å²]: where the whole particle is segmented. Over-segmentation (area above the
        plateau) does not move it; it shows in ``band``. None when the plateau is 0.
    half_dose : float or None
        Lowest dose above which the smoothed area stays at or above ``plateau / 2`` [e⁻/Å²];
        None when it never does.
    band : tuple of float
        Smallest and largest smoothed area at and above ``convergence_dose`` (the paper's grey band).
    """

    plateau: float
    convergence_dose: float | None
    half_dose: float | None
    band: tuple[float, float]


def running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median over ``window`` consecutive values (shorter at the ends).

    Parameters
    ----------
    values : numpy.ndarray
        (N,) values in order (e.g. areas sorted by dose).
    window : int
        Odd number of values in each median (1: no smoothing).

    Returns
    -------
    numpy.ndarray
        (N,) float64.
    """
    if window < 1 or window % 2 == 0:
        raise TemnnError(f"window must be a positive odd number of frames, got {window}")
    values = np.asarray(values, dtype=np.float64)
    half = window // 2
    # scipy.ndimage.median_filter pads the ends; a median of the frames that exist is what a
    # dose series means at its ends, so the window is shortened there instead.
    return np.array([np.median(values[max(0, i - half): i + half + 1]) for i in range(len(values))])


def dose_limits(dose: np.ndarray, area: np.ndarray, *, reference_fraction: float = 0.1, tolerance: float = 0.1,
                window: int = 1) -> DoseLimits:
    """Dose of convergence and of half segmentation of a segmented area against frame dose.

    The frames are sorted by dose and the area is smoothed with a running median of
    ``window`` frames. The plateau is the median area of the highest-dose
    ``reference_fraction`` of the frames. Both doses are the last upward crossing of their
    level, ``plateau · (1 - tolerance)`` and ``plateau / 2`` (the smoothed area stays at or
    above it at every higher dose), interpolated linearly in log dose between the two frames
    around the crossing.

    Parameters
    ----------
    dose : numpy.ndarray
        (N,) frame doses [e⁻/Å²].
    area : numpy.ndarray
        (N,) segmented area of each frame [nm², pixels or a fraction of the true area].
    reference_fraction : float
        Fraction of the frames, those of highest dose, whose median area is the plateau (0-1].
    tolerance : float
        Relative shortfall from the plateau that still counts as converged.
    window : int
        Odd number of frames of the running median.

    Returns
    -------
    DoseLimits

    Examples
    --------
    >>> d = np.logspace(1, 4, 31)
    >>> a = np.clip((np.log10(d) - 1.5) / 1.0, 0, 1)   # 0 below 10^1.5, 1 above 10^2.5
    >>> limits = dose_limits(d, a)
    >>> round(limits.half_dose), round(limits.convergence_dose)
    (100, 251)
    """
    dose = np.asarray(dose, dtype=np.float64)
    area = np.asarray(area, dtype=np.float64)
    if dose.shape != area.shape or dose.ndim != 1 or len(dose) < 2:
        raise TemnnError(f"dose and area must be two (N,) arrays of N ≥ 2 frames, got {dose.shape} and {area.shape}")
    if not (np.all(np.isfinite(dose)) and np.all(dose > 0) and np.all(np.isfinite(area))):
        raise TemnnError("dose must be positive and finite [e⁻/Å²] and area finite in every frame")
    if not 0 < reference_fraction <= 1:
        raise TemnnError(f"reference_fraction must be in (0, 1], got {reference_fraction}")
    order = np.argsort(dose, kind="stable")
    log_dose, raw = np.log10(dose[order]), area[order]
    smooth = running_median(raw, window)
    count = max(1, round(reference_fraction * len(raw)))
    plateau = float(np.median(raw[-count:]))
    if plateau <= 0:  # nothing segmented at the highest doses: no area to converge to
        return DoseLimits(plateau=plateau, convergence_dose=None, half_dose=None, band=(plateau, plateau))
    converged = _last_rise(log_dose, smooth, plateau * (1 - tolerance))
    half = _last_rise(log_dose, smooth, plateau / 2)
    inside = smooth[log_dose >= np.log10(converged) - 1e-12] if converged is not None else smooth[-1:]
    return DoseLimits(plateau=plateau, convergence_dose=converged, half_dose=half,
                      band=(float(inside.min()), float(inside.max())))


def _last_rise(log_dose: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """Dose from which ``y`` stays ≥ ``level`` to the end, or None when the last frame is below."""
    below = np.flatnonzero(y < level)
    if not len(below):
        return float(10 ** log_dose[0])
    i = below[-1]  # last frame below; frame i + 1 is at or above the level
    if i == len(y) - 1:
        return None
    # Linear interpolation of y between frames i and i + 1 in log dose, to the level.
    t = (level - y[i]) / (y[i + 1] - y[i])
    return float(10 ** (log_dose[i] + np.clip(t, 0.0, 1.0) * (log_dose[i + 1] - log_dose[i])))


# ---------------------------------------------------------------- publication I: Y-scramble
def y_scramble_rmse(predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                    rng: np.random.Generator) -> np.ndarray:
    """RMSE of each prediction against a randomly chosen *other* exit wave of the set (publication I, fig. 4).

    The baseline of a hypothetical network that learned what exit waves look like in
    general but nothing about the sample in front of it.

    Parameters
    ----------
    predictions, truths : sequence of numpy.ndarray
        N ≥ 2 predicted and true exit waves, complex (nx, ny) or real (2, nx, ny), all of
        one shape [vacuum = 1]; ``truths[i]`` belongs to ``predictions[i]``.
    rng : numpy.random.Generator
        Source of the random partners (uniform over the other N - 1 waves).

    Returns
    -------
    numpy.ndarray
        (N,) complex RMSE of prediction i against truth j(i) ≠ i.
    """
    from temnn.analysis.metrics import exit_wave_rmse

    n = len(predictions)
    if n != len(truths) or n < 2:
        raise TemnnError(f"the Y-scramble needs N ≥ 2 predictions and as many truths, got {n} and {len(truths)}")
    partner = rng.integers(0, n - 1, size=n)
    partner = partner + (partner >= np.arange(n))  # skip the sample itself: uniform over the others
    return np.array([exit_wave_rmse(predictions[i], truths[j]).total for i, j in enumerate(partner)])
