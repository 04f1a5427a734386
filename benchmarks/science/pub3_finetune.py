"""Publication III: train a paper-scale 3-image network further by fine-tuning it (``temnn train --init``).

Run from the repository root after ``pub3_focal_series.py --scale paper`` has trained the model::

    python benchmarks/science/pub3_finetune.py --threads 1 --epochs 60 --lr 3e-4 \\
        --base /tmp/temnn-science/pub3/paper/models/unet-series3-FINGERPRINT \\
        --test /tmp/temnn-science/pub3/paper/data-FINGERPRINT/test/images/series3-FINGERPRINT

Is the gap to the paper's > 80 % perfect series a matter of more training? The base model's
one-cycle run has annealed, so it cannot simply be resumed for more epochs; instead a second
one-cycle run starts from its weights (``--init``) with a fresh AdamW (peak ``--lr``, batch as the
base run) on new images of the same training waves: the base run's on-the-fly parameters file
with its ``seed`` + 10, so no image repeats one the base model saw. Both models are scored on the
same test set (median, 10th percentile and fraction of perfect series, and by half decade of dose)
and their validation learning curves are drawn end to end, the fine-tuning's minutes after the
base run's.

Writes ``benchmarks/results/science_pub3_finetune_SCALE.json`` and
``benchmarks/results/science/pub3_finetune_SCALE_learning_curves.png``; the work (model,
evaluations) goes to ``--out`` (default: ``finetune/`` beside the base run's ``models/``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Pipeline,
    figure_path,
    learning_curve,
    markdown_table,
    plot_learning_curves,
    read_summary,
    setup_threads,
    write_results,
)
from pub3_focal_series import ARCH_NAMES, RADIUS, by_dose

from temnn.errors import TemnnError
from temnn.io.files import read_json, write_json

NAME = "pub3_finetune"
SEED_OFFSET = 10  # the fine-tuning's images: the base run's parameters-file seed + this


def training_minutes(model: Path) -> float:
    """Summed epoch wall times of a ``temnn train`` run (``history.csv``) [min]."""
    with open(model / "history.csv", newline="") as f:
        return sum(float(row["seconds"]) for row in csv.DictReader(f)) / 60


def lineage(model: Path) -> tuple[int, float]:
    """Epochs and training minutes of a model and of the models it was fine-tuned from (``training.init``)."""
    training = read_json(model / "best.json")["training"]
    epochs, minutes = int(training["options"]["epochs"]), training_minutes(model)
    if training.get("init"):
        earlier_epochs, earlier_minutes = lineage(Path(training["init"]["model"]).parent)
        epochs, minutes = epochs + earlier_epochs, minutes + earlier_minutes
    return epochs, minutes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True,
                        help="training folder of the on-the-fly model to fine-tune (pub3 --scale paper)")
    parser.add_argument("--test", type=Path, required=True, help="test image set of both models")
    parser.add_argument("--epochs", type=int, default=60, help="fine-tuning epochs (default 60)")
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW's peak learning rate (default 3e-4)")
    parser.add_argument("--out", type=Path, help="work folder (default: BASE/../../finetune)")
    parser.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: PyTorch's choice)")
    parser.add_argument("--scale", default="paper", help="names the results (default paper)")
    args = parser.parse_args(argv)
    setup_threads(args.threads)
    base, out = args.base, args.out or args.base.parent.parent / "finetune"
    card = read_json(base / "best.json")
    training = card["training"]
    if not training["on_the_fly"]:
        raise TemnnError(f"{base}: trained on stored images; this script fine-tunes an on-the-fly run "
                         "(pub3_focal_series.py --scale paper)")
    options = training["options"]
    parameters = read_json(Path(options["on_the_fly"]))
    parameters["seed"] = int(parameters["seed"]) + SEED_OFFSET
    params_path = out / f"onthefly-{base.name}-seed{parameters['seed']}.json"
    write_json(params_path, parameters)

    pipeline = Pipeline()
    model = out / f"{base.name}-ft{args.epochs}-lr{args.lr:g}"
    pipeline.run("fine-tune", ["train", args.epochs, training["train_set"], training["validation_set"], model,
                               "--init", base, "--batch-size", options["batch_size"], "--adamw", args.lr,
                               "--schedule", "onecycle", "--epochsave", 5, "--quiet", "--on-the-fly", params_path,
                               "--seed", options["seed"]])
    evaluations = {"base": pipeline.evaluate(base, args.test, base.parent.parent / "evaluations" / base.name, *RADIUS),
                   "fine-tuned": pipeline.evaluate(model, args.test, out / f"{model.name}-evaluation", *RADIUS)}
    (base_epochs, base_minutes), tune_minutes = lineage(base), training_minutes(model)
    network = ARCH_NAMES[card["architecture"]["name"]]
    labels = {"base": f"{network}, {base_epochs} epochs",
              "fine-tuned": f"+ {args.epochs} epochs from its weights (AdamW {args.lr:g})"}
    rows: list[dict[str, Any]] = []
    dose_rows = []
    for key, folder in evaluations.items():
        f1 = read_summary(folder / "summary.csv")["atomic_f1"]
        rows.append({"model": labels[key], "epochs": base_epochs + (args.epochs if key != "base" else 0),
                     "training_minutes": base_minutes + (tune_minutes if key != "base" else 0.0),
                     "median": f1["median"], "p10": f1["p10"], "perfect_fraction": f1["perfect_fraction"],
                     "test_series": int(f1["images"])})
        dose_rows += by_dose(folder, labels[key], 3)
    print("\n## Atomic F1 on the test series\n")
    print(markdown_table(rows))
    print("\n## By dose (half decades of e⁻/Å²)\n")
    print(markdown_table(dose_rows))

    validation = Path(training["validation_set"])
    earlier = base_minutes - training_minutes(base)  # the base's own curve starts after the models it came from
    curves = {labels["base"]: [{**point, "minutes": point["minutes"] + earlier}
                               for point in learning_curve(base, validation, card["parameters"]["label"])],
              labels["fine-tuned"]: [{**point, "minutes": point["minutes"] + base_minutes}
                                     for point in learning_curve(model, validation, card["parameters"]["label"])]}
    plot_learning_curves(curves, (("metric", "median atomic F1", 1.0), ("p10", "10th-percentile atomic F1", 0.9),
                                  ("perfect_fraction", "fraction of perfect series", 0.8)),
                         figure_path(NAME, "learning_curves", args.scale),
                         f"Publication III conditions: the 3-image {network}, then fine-tuned")
    results = {"base": str(base), "test_set": str(args.test), "validation_set": str(validation),
               "fine_tuning": {"epochs": args.epochs, "adamw_peak_lr": args.lr, "schedule": "onecycle",
                               "batch_size": options["batch_size"], "image_seed": parameters["seed"],
                               "minutes": tune_minutes},
               "atomic_f1": rows, "atomic_f1_by_dose": dose_rows, "learning_curves": curves}
    path = write_results(NAME, results, args=args, pipeline=pipeline)
    print(f"\nwrote {path} and {figure_path(NAME, '*', args.scale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
