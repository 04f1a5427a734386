"""Time to quality: CPU minutes of training until a validation goal, old against new recipe.

Run from the repository root::

    python benchmarks/time_to_quality.py --smoke                 # seconds: the script works
    python benchmarks/time_to_quality.py --scale small --threads 2 --arch unet --case mos2_disk
    python benchmarks/time_to_quality.py --scale full --threads 2  # the issue's conditions (hours)

Two cases (issue 16, item 2):

- ``mos2_disk``: MoS2, 3-image focal series, Disk labels at publication III's test conditions
  (dose 10^2.5-10^5 e⁻/Å², 0.10-0.11 Å/px, the demo's other microscope ranges); goal: the
  validation median atomic F1 (``temnn evaluate``'s, 1 Å radius) reaches 0.9. Images are 256²
  at ``full``, the demo's 160² at ``small``.
- ``au_mask``: Au particles of 7-15 layers on CeO2, Mask labels at publication II's
  0.07-0.08 Å/px (the demo's other ranges); goal: the validation pixel F1 (``temnn train``'s,
  pooled over the set) reaches 0.9.

For the U-net, U-net++ and MSD-net (shapes from the demo's recipe,
:func:`_common.network_options`; at ``full`` the MSD-net is publication II's, 50 layers of 9×9,
:data:`_common.PAPER_MSDNET_OPTIONS`), each with

- ``old``: the demo's recipe (Adam + AMSGrad at 1e-3, constant rate, full images);
- ``new``: AdamW at 2e-3 with a one-cycle schedule and random crops of half the image side
  (``--adamw 2e-3 --schedule onecycle --crop N``); validation stays full-image. The Au case
  follows ``pub2_dose_series.py``: all its networks bin their input 4 × 4 (``--binning 4``), the
  images are not cropped, and the new recipe peaks at 1e-3 with gradients clipped to norm 1
  (``CASE_OPTIONS``, ``NEW_OPTIMIZER``: at 2e-3 the U-net diverged).

Every run is ``temnn train`` in-process with ``--epochsave 1``; the minutes are the summed
epoch times of ``history.csv`` (training plus the validation loss, not the atomic-F1
evaluation of each checkpoint, which runs afterwards). When ``atomai`` is importable its
``Segmentor`` (U-net) is trained on the same images, as many as temnn's runs see (one temnn
epoch is one image epoch, 1/``image_epochs`` of the set; one AtomAI pass is the whole set; or
at most ``--atomai-passes``: it trains on full-resolution images, so on the Au case's 512²
frames a pass costs minutes), on the middle image of every series, one ``fit`` call per pass,
and scored after each pass with temnn's per-image metrics (the median over the validation
images): its learning curve against the summed ``fit`` minutes, and ``against_atomai`` (how much sooner each temnn run reaches the
quality AtomAI reaches). AtomAI needs its own environment (it pins another torch); run this
script with that environment's Python and temnn installed in it. Writes
``benchmarks/results/time_to_quality[_SCALE].json`` and a learning-curve PNG next to it
(metric against training minutes), or ``--output``. The AtomAI run is kept in the work folder
and reused by a re-run, as the temnn models and their learning curves are.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "science"))

from _common import (  # noqa: E402
    PAPER_MSDNET_OPTIONS,
    RESULTS,
    Pipeline,
    base_parser,
    fingerprint,
    learning_curve,
    network_options,
    setup_threads,
)

ARCHS = ("unet", "unetpp", "msdnet")
RECIPES = ("old", "new")
GOAL = 0.9

# publication III, table 1 (test conditions), on the demo's MoS2 structures
MOS2_CONDITIONS = {"log_dose": [2.5, 5.0], "sampling": [0.10, 0.11]}
# publication II: 0.07-0.08 Å/px, particles of 7-15 layers
AU_CONDITIONS = {"sampling": [0.07, 0.08]}

# scale → sizes; "shape" overrides the shape options of the networks it names
SCALES_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"n_train": 3, "n_val": 2, "image_epochs": 1, "epochs": 3, "mos2_side": 48, "au_side": 48,
              "mos2_cell": "9.7", "au_cell": "19.2", "au_layers": ["3", "4"], "wave_sampling": "0.07",
              "shape": {"unet": ["--filters", "4", "--levels", "1", "--block-layers", "1", "--kernel", "3"],
                        "unetpp": ["--filters", "4", "--levels", "1", "--block-layers", "1", "--kernel", "3"],
                        "msdnet": ["--filters", "1", "--layers", "4", "--kernel", "3", "--max-dilation", "3"]}},
    "small": {"n_train": 48, "n_val": 8, "image_epochs": 6, "epochs": 30, "mos2_side": 160, "au_side": 256,
              "mos2_cell": "19.4", "au_cell": "40", "au_layers": ["7", "15"], "wave_sampling": "0.05"},
    "full": {"n_train": 48, "n_val": 8, "image_epochs": 6, "epochs": 120, "mos2_side": 256, "au_side": 512,
             "mos2_cell": "30", "au_cell": "40", "au_layers": ["7", "15"], "wave_sampling": "0.05",
             "shape": {"msdnet": list(PAPER_MSDNET_OPTIONS)}},
}


# Options of a case for every run. Publication II's networks see whole frames binned 4 × 4
# (0.28-0.32 Å/px, finer than the Nyquist limit of Au's 1.44 Å fringes), as in
# pub2_dose_series.py: on unbinned half-side crops (256² = 19 Å, mostly lattice) the U-net
# learned only the all-particle constant there, and here too (validation pixel F1 0.669 in
# every one of 27 epochs, 2026-12-08), so the Au case is not cropped.
CASE_OPTIONS = {"mos2_disk": [], "au_mask": ["--binning", "4"]}
# The new recipe's optimizer and schedule. For the Au case they are pub2_dose_series.py's: at a
# peak of 2e-3 the U-net diverged at the top of the one-cycle (training loss 0.54 → 314 at
# epoch 36, 2026-12-08; publication I's and III's paper-size U-nets did the same), and the
# gradient clipping of publication II's runs is kept.
NEW_OPTIMIZER = {"mos2_disk": ["--adamw", "2e-3", "--schedule", "onecycle"],
                 "au_mask": ["--adamw", "1e-3", "--clip-grad", "1.0", "--schedule", "onecycle"]}
CROPPED = {"mos2_disk": True, "au_mask": False}


def new_recipe(case: str, side: int) -> list[str]:
    """``temnn train`` options of the new recipe of a case for images of ``side`` pixels."""
    crop = ["--crop", str(max(16, side // 2 // 16 * 16))] if CROPPED[case] else []
    return NEW_OPTIMIZER[case] + crop


def case_setup(case: str, size: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The demo configuration (structures, recipe) and the parameters file of a case."""
    from temnn.cli.demo import DemoConfig, demo_config

    if case == "mos2_disk":
        config = demo_config("disk")
        structures = ["mos2", "--cell", size["mos2_cell"], "--sampling", "0.05"]
        side, conditions = size["mos2_side"], MOS2_CONDITIONS
    else:
        config = demo_config("mask")
        structures = ["particle", "Au", "3", "--cell", size["au_cell"], "--layers", *size["au_layers"],
                      "--sampling", size["wave_sampling"]]
        side, conditions = size["au_side"], AU_CONDITIONS
    parameters = {**config.parameters, **conditions, "image_size": [side, side],
                  "image_epochs": size["image_epochs"], "debug": 0}
    config = DemoConfig(**{**vars(config), "structures": structures})
    return config, parameters


def train_options(case: str, config: Any, arch: str, recipe: str, side: int, size: dict[str, Any]) -> list[str]:
    """``temnn train`` options of one run."""
    options = network_options(config.train, arch)
    if arch in size.get("shape", {}):
        options = options[:2] + _strip_shape(options[2:]) + size["shape"][arch]
    options += [*CASE_OPTIONS[case], "--epochsave", "1", "--quiet", "--device", "cpu"]
    return options + (new_recipe(case, side) if recipe == "new" else [])


def _strip_shape(options: list[str]) -> list[str]:
    shape = {"--filters", "--levels", "--block-layers", "--kernel", "--layers", "--max-dilation"}
    out, i = [], 0
    while i < len(options):
        if options[i] in shape:
            i += 2
        else:
            out.append(options[i])
            i += 1
    return out


def minutes_to_goal(curve: list[dict[str, float]], goal: float = GOAL) -> float | None:
    """Training minutes of the first epoch whose metric reaches ``goal`` (``None``: never)."""
    return next((point["minutes"] for point in curve if point["metric"] is not None and point["metric"] >= goal),
                None)


def against_atomai(entry: dict[str, Any]) -> dict[str, Any] | None:
    """How much sooner each temnn run reaches the quality AtomAI reaches (``None``: no AtomAI run).

    The quality compared is the goal, or AtomAI's best metric when it never reaches the goal;
    a ratio of 2 means temnn needs half of AtomAI's training minutes to get there.
    """
    atomai = entry.get("atomai")
    if not atomai or atomai["best"] is None:
        return None
    quality = min(GOAL, atomai["best"])
    reference = minutes_to_goal(atomai["curve"], quality)
    ratios = {}
    for run in entry["runs"]:
        minutes = minutes_to_goal(run["curve"], quality)
        ratios[f"{run['arch']} {run['recipe']}"] = None if minutes is None else round(reference / minutes, 2)
    return {"quality": round(quality, 4), "atomai_minutes": reference, "speedup": ratios}


def atomai_run(train_set: Path, validation: Path, label: str, passes: int) -> dict[str, Any]:
    """AtomAI's Segmentor on the middle image of every series, with its learning curve.

    One AtomAI training cycle is one mini-batch of 4 (``full_epoch=False``) followed by
    AtomAI's test loss on 4 validation images (a forward pass, roughly a quarter of the cycle's
    work, which this mode always does), so one pass over the N training images is ``⌈N / 4⌉``
    cycles. ``Segmentor.fit`` keeps its network and optimizer between calls
    (``compile_trainer`` builds the optimizer only once), so calling it once per pass
    continues one run; after each pass the validation
    images are predicted and scored with temnn's per-image metrics (the median), and only
    the ``fit`` calls count as training minutes, as ``history.csv``'s epoch times do for
    temnn. Images are scaled to 0-1 per image (AtomAI's ``predict`` does the same by default).
    """
    import tempfile

    from atomai.models import Segmentor

    from temnn.analysis.simulated import SimulatedData
    from temnn.io.image_sets import list_images
    from temnn.parameters import Parameters

    def arrays(folder: Path) -> tuple[np.ndarray, np.ndarray, list[SimulatedData]]:
        parameters = Parameters.load(folder / "parameters.json")
        data = [SimulatedData(folder / f"{i:05d}_{e:02d}.npz", parameters) for i, e in list_images(folder)]
        middle = np.stack([d.image[len(d.image) // 2] for d in data]).astype(np.float32)
        low = middle.min(axis=(1, 2), keepdims=True)
        middle = (middle - low) / np.maximum(middle.max(axis=(1, 2), keepdims=True) - low, 1e-12)
        if label == "Mask":  # binary: (N, 1, H, W) float masks
            labels = np.stack([d.label[:1] > 0.5 for d in data]).astype(np.float32)
        else:  # multiclass: (N, H, W) class numbers
            labels = np.stack([d.label.argmax(0) for d in data]).astype(np.int64)
        return middle, labels, data

    def score(model: Any) -> float | None:
        output = model.predict(x_val, compute_coords=False, verbose=False)
        probabilities = output[0] if isinstance(output, tuple) else output  # (N, H, W, classes)
        rows = []
        for data, p in zip(val_data, probabilities):
            data.prediction = np.moveaxis(p, -1, 0)
            rows.append(data.metrics_row())
        values = [row[metric] for row in rows if row.get(metric) is not None]
        return float(np.median(values)) if values else None

    x_train, y_train, train_data = arrays(train_set)
    x_val, y_val, val_data = arrays(validation)
    metric = "pixel_f1" if label == "Mask" else "atomic_f1"
    classes = 1 if label == "Mask" else len(train_data[0].label)
    model = Segmentor("Unet", nb_classes=classes)
    cycles = -(-len(x_train) // 4)
    seconds, cpu_seconds, curve = 0.0, 0.0, []
    with tempfile.TemporaryDirectory() as scratch:  # fit() saves its weights to a file after every call
        for epoch in range(passes):
            began, cpu = time.perf_counter(), time.process_time()
            model.fit(x_train, y_train, x_val, y_val, training_cycles=cycles, batch_size=4, compute_accuracy=False,
                      batch_seed=epoch, print_loss=10**9, plot_training_history=False,
                      filename=str(Path(scratch) / "atomai"))
            seconds += time.perf_counter() - began
            cpu_seconds += time.process_time() - cpu
            curve.append({"epoch": epoch + 1, "minutes": round(seconds / 60, 3),
                          "cpu_minutes": round(cpu_seconds / 60, 3), "metric": score(model)})
    return {"curve": curve, "minutes_to_goal": minutes_to_goal(curve),
            "best": max((p["metric"] for p in curve if p["metric"] is not None), default=None),
            "minutes": curve[-1]["minutes"], "metric": curve[-1]["metric"],
            "training_cycles": cycles * passes, "parameters": sum(p.numel() for p in model.net.parameters())}


def cached_atomai_run(root: Path, train_set: Path, validation: Path, label: str, passes: int) -> dict[str, Any]:
    """:func:`atomai_run`, kept in ``root/atomai-FINGERPRINT.json`` so that a re-run of the script reuses it.

    The fingerprint covers the sets, the label, the passes and AtomAI's version; the file is
    written under a temporary name and renamed, so an interrupted run leaves none.
    """
    import atomai

    from temnn.io.files import read_json, write_json

    cache = root / f"atomai-{fingerprint([str(train_set), str(validation), label, passes, atomai.__version__])}.json"
    if cache.exists():
        return read_json(cache)
    result = atomai_run(train_set, validation, label, passes)
    write_json(cache, result)
    return result


def plot(results: dict[str, Any], path: Path) -> None:
    """Learning curves of every run, one panel per case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from temnn.io.files import atomic_path

    cases = list(results["cases"])
    fig, axes = plt.subplots(1, len(cases), figsize=(6 * len(cases), 4.2), squeeze=False)
    for ax, case in zip(axes[0], cases):
        entry = results["cases"][case]
        for run in entry["runs"]:
            xs = [p["minutes"] for p in run["curve"]]
            ys = [p["metric"] for p in run["curve"]]
            ax.plot(xs, ys, "-o" if run["recipe"] == "new" else "--s", ms=3,
                    label=f"{run['arch']} {run['recipe']}")
        if entry.get("atomai"):
            a = entry["atomai"]
            ax.plot([p["minutes"] for p in a["curve"]], [p["metric"] for p in a["curve"]], "k-*", ms=5,
                    label="AtomAI Segmentor (middle image)")
        ax.axhline(GOAL, color="gray", lw=0.8)
        ax.set_xlabel("training minutes (CPU)")
        ax.set_ylabel(entry["metric"])
        ax.set_title(case)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = base_parser("time_to_quality", __doc__)
    parser.add_argument("--smoke", action="store_true", help="the same as --scale smoke (seconds)")
    parser.add_argument("--case", choices=("mos2_disk", "au_mask"), action="append",
                        help="run only this case (repeatable; default both)")
    parser.add_argument("--arch", choices=ARCHS, action="append", help="only this architecture (repeatable)")
    parser.add_argument("--recipe", choices=RECIPES, action="append", help="only this recipe (repeatable)")
    parser.add_argument("--output", type=Path, help="results JSON (the PNG goes next to it)")
    parser.add_argument("--atomai-passes", type=int,
                        help="at most this many AtomAI passes (default: as many images as temnn's runs see)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.scale = "smoke"
    setup_threads(args.threads)
    import torch

    from temnn.io.files import write_json

    size = dict(SCALES_SETTINGS[args.scale])
    if args.epochs is not None:
        size["epochs"] = args.epochs
    root = args.out / args.scale
    output = args.output or RESULTS / ("time_to_quality.json" if args.scale == "full"
                                       else f"time_to_quality_{args.scale}.json")
    load_start = os.getloadavg()
    pipeline = Pipeline()
    results: dict[str, Any] = {"goal": GOAL, "scale": args.scale, "epochs": size["epochs"], "cases": {}}
    for case in args.case or ("mos2_disk", "au_mask"):
        config, parameters = case_setup(case, size)
        case_root = root / case
        sets = pipeline.structures(config, case_root, {"train": (size["n_train"], 0), "val": (size["n_val"], 1)},
                                   workers=args.workers)
        train_set = pipeline.images(sets["train"], parameters, "train", test=False, workers=args.workers)
        val_set = pipeline.images(sets["val"], {**parameters, "image_epochs": 1}, "val", test=True,
                                  workers=args.workers)
        side = parameters["image_size"][0]
        entry: dict[str, Any] = {"metric": "median atomic F1" if case == "mos2_disk" else "pixel F1",
                                 "parameters": parameters, "structures": config.structures, "runs": []}
        for arch in args.arch or ARCHS:
            for recipe in args.recipe or RECIPES:
                options = train_options(case, config, arch, recipe, side, size)
                model = case_root / "models" / f"{arch}-{recipe}-{fingerprint([str(train_set), options])}"
                pipeline.run(f"train: {case} {arch} {recipe}",
                             ["train", size["epochs"], train_set, val_set, model, *options, "--seed", "0"])
                curve = learning_curve(model, val_set, parameters["label"])
                entry["runs"].append({"arch": arch, "recipe": recipe, "options": options, "curve": curve,
                                      "minutes_to_goal": minutes_to_goal(curve),
                                      "best": max(p["metric"] for p in curve)})
        try:
            import atomai  # noqa: F401
        except ImportError:
            entry["atomai"] = None
        else:
            # as many training images as temnn's runs see: one temnn epoch is one image epoch
            # (N / image_epochs series), one AtomAI pass is all N
            passes = max(1, -(-size["epochs"] // parameters["image_epochs"]))
            passes = min(passes, args.atomai_passes or passes)
            entry["atomai"] = cached_atomai_run(case_root, train_set, val_set, parameters["label"], passes)
        entry["against_atomai"] = against_atomai(entry)
        results["cases"][case] = entry
    results["machine"] = {"platform": platform.platform(), "cores": os.cpu_count(),
                          "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                          "load_average_start": load_start, "load_average_end": os.getloadavg()}
    results["steps"] = pipeline.steps
    results["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    write_json(output, results)
    plot(results, output.with_suffix(".png"))
    for case, entry in results["cases"].items():
        for run in entry["runs"]:
            print(f"{case:10s} {run['arch']:7s} {run['recipe']:4s} best {run['best']:.3f}  minutes to "
                  f"{GOAL}: {run['minutes_to_goal']}  total {run['curve'][-1]['minutes']:.2f} min")
        if entry.get("against_atomai"):
            a = entry["atomai"]
            print(f"{case:10s} AtomAI  Unet best {a['best']:.3f}  minutes to {GOAL}: {a['minutes_to_goal']}  "
                  f"total {a['minutes']:.2f} min; temnn's speed-up to {entry['against_atomai']['quality']}: "
                  f"{entry['against_atomai']['speedup']}")
    print(f"wrote {output} and {output.with_suffix('.png')}")
    return results


if __name__ == "__main__":
    main()
