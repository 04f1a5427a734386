"""``temnn models``: list the named models (:func:`temnn.io.models.list_models`)."""

from __future__ import annotations

import argparse

from ..io.models import MODEL_PATH_ENV

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    parser = subparsers.add_parser(
        "models", help="list the named (shipped) models",
        description="List the trained models that `temnn predict --model NAME` and temnn.load_model(\"NAME\") find "
        f"by name: the package's own and those in the folders of {MODEL_PATH_ENV}. Units: beam energy in keV, "
        "sampling in Å/pixel.")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..io.models import list_models, model_folders

    models = list_models()
    if not models:
        print("no named models (searched: " + ", ".join(str(f) for f in model_folders()) + ")")
        return 0
    print(f"{'name':<24} {'label':<9} {'material':<12} {'keV':>5} {'sampling Å/px':>14} {'series':>6}  quality")
    for m in models:
        energy = "?" if m.beam_energy is None else f"{m.beam_energy / 1e3:g}"
        sampling = "?" if m.sampling is None else f"{m.sampling[0]:g}-{m.sampling[1]:g}"
        quality = ", ".join(f"{k} {v}" for k, v in m.quality.items())
        print(f"{m.name:<24} {m.label:<9} {m.material:<12} {energy:>5} {sampling:>14} {m.focal_series:>6}  {quality}")
        if m.description:
            print(f"{'':<24} {m.description}")
    return 0
