"""Turn a finished ``temnn demo`` run (or any trained and evaluated model) into a named model shipped in ``src/temnn/models``.

The demo trains a model, keeps the epoch its validation set chose (``model/best.*``) and
evaluates it on a test set that neither training nor validation saw. This script copies that
model as ``NAME.safetensors`` + ``NAME.json`` and adds the card's ``model_info`` block (what
the model is for and its measured test quality, read from ``evaluation/summary.csv``), so that
``temnn models`` lists it and ``temnn predict NAME`` / ``temnn.load_model("NAME")`` find it.

Usage::

    temnn demo --task disk --out runs/disk
    python scripts/ship_model.py runs/disk mos2-focal3-columns --material MoS2 \\
        --description "3-image focal series at 50 keV -> columns 1Mo / 2S / 1S"

A model trained elsewhere (e.g. a science benchmark) names its folders instead of a demo folder::

    python scripts/ship_model.py RUN NAME --model MODEL_DIR --evaluation EVAL_DIR \\
        --train-data DATA/train --test-data DATA/test --recipe "..." --material MoS2 --description "..."

The card's ``model_info`` gets the column class names of the training sites (plus
``background`` for a null class) so that viewers can name the output channels.

Apart from the standard library it uses only temnn's dataset reader (the class names of the training sites).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "src" / "temnn" / "models"


def _summary(evaluation: Path, metric: str) -> dict[str, float]:
    with open(evaluation / "summary.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["metric"] == metric:
                return {k: float(v) for k, v in row.items() if k != "metric" and v not in ("", None)}
    raise SystemExit(f"{evaluation}/summary.csv has no row for {metric!r}")


def _class_names(train: Path, card: dict) -> list[str] | None:
    """Channel names: the class names stored with the training sites, plus ``background``."""
    from temnn.io.dataset import load_sites

    sites = sorted((train / "sites").glob("*.npz"))
    if not sites or card.get("parameters", {}).get("label") not in ("Disk", "Gaussian"):
        return None
    names = list(load_sites(sites[0])[2])
    if names and card["parameters"].get("null_class"):
        names.append("background")
    return names


def _atomic_copy(source: Path, target: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    shutil.copyfile(source, tmp_path)
    os.chmod(tmp_path, 0o644)
    os.replace(tmp_path, target)


def _relative(card: dict, run: Path, name: str) -> None:
    """Replace the run folder's absolute path in the card by ``name`` (no machine paths in shipped cards)."""
    text = json.dumps(card)
    card.clear()
    card.update(json.loads(text.replace(str(run.resolve()), name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", type=Path, help="output folder of a finished `temnn demo` run")
    parser.add_argument("name", help="model name (file stem in src/temnn/models)")
    parser.add_argument("--material", required=True, help='what it was trained on, e.g. "MoS2"')
    parser.add_argument("--description", required=True, help="one line on its use")
    parser.add_argument("--conditions", default="", help="how the training/test conditions differ from the paper's")
    parser.add_argument("--model", type=Path, help="trained model folder (default DEMO/model)")
    parser.add_argument("--evaluation", type=Path, help="`temnn evaluate` folder (default DEMO/evaluation)")
    parser.add_argument("--train-data", type=Path, help="training dataset folder (default DEMO/train)")
    parser.add_argument("--test-data", type=Path, help="test dataset folder (default DEMO/test)")
    parser.add_argument("--recipe", default="temnn demo (16-filter U-net, CPU); not the papers' recipes",
                        help="one line on how it was trained")
    parser.add_argument("--test-conditions", help="what the test set is (default: the demo's conditions)")
    args = parser.parse_args()

    demo = args.demo
    model_dir = args.model or demo / "model"
    evaluation = args.evaluation or demo / "evaluation"
    train = args.train_data or demo / "train"
    test = args.test_data or demo / "test"
    card = json.loads((model_dir / "best.json").read_text())
    manifest = json.loads((train / "manifest.json").read_text())
    report = json.loads((evaluation / "evaluation.json").read_text())
    metric = report["metric"]
    summary = _summary(evaluation, metric)
    test_manifest = json.loads((test / "manifest.json").read_text())
    conditions = args.test_conditions or f"`temnn demo --task {demo.name}` conditions"
    quality = {
        "metric": metric,
        "median": round(summary["median"], 4),
        "p10": round(summary["p10"], 4),
        "test_set": f"{int(summary['images'])} unseen {args.material} samples (seed {test_manifest['seed']}), "
                    f"{conditions}",
    }
    if summary.get("perfect_fraction") is not None and metric != "rmse":
        quality["perfect_fraction"] = round(summary["perfect_fraction"], 3)
    card["model_info"] = {
        "material": args.material,
        "beam_energy": float(manifest["wave_settings"]["energy"]),
        "description": args.description,
        "quality": quality,
        "recipe": args.recipe,
        "conditions": args.conditions,
    }
    names = _class_names(train, card)
    if names:
        card["model_info"]["class_names"] = names
    _relative(card, demo, "temnn-demo" if args.model is None else demo.name)
    weights = model_dir / "best.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if card["weights"]["sha256"] != digest:
        raise SystemExit(f"{weights}: does not match its card's SHA-256")
    card["weights"]["file"] = f"{args.name}.safetensors"

    MODELS.mkdir(exist_ok=True)
    _atomic_copy(weights, MODELS / f"{args.name}.safetensors")
    with tempfile.NamedTemporaryFile("w", dir=MODELS, prefix=f".{args.name}.", delete=False) as tmp:
        json.dump(card, tmp, indent=1, ensure_ascii=False)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, MODELS / f"{args.name}.json")
    print(f"{MODELS / args.name}.{{json,safetensors}}: {metric} median {quality['median']}")


if __name__ == "__main__":
    main()
