"""Bad input, tried as a new user would: every command and the main public functions (issue 14).

Each CLI case runs ``temnn.cli.main`` in-process and checks that it exits non-zero,
prints no traceback, names what to fix (the file, field or option and the expected
form), and leaves every file that existed before the call byte-identical. Each API
case checks for a :class:`temnn.TemnnError` whose message names what to fix.

Inputs are built on demand in ``tmp_path`` by the builders of :class:`Inputs`
(tiny U-nets saved with :func:`temnn.save_model`, tiny stacks, truncated files), so
the module runs in seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import tifffile
import torch

import temnn
from analysis._simulated_sets import write_set
from analysis.test_io import REAL_EM
from temnn import TemnnError
from temnn.cli import main
from temnn.nn import Task, UNet, save_model

# ------------------------------------------------------------------------------------- inputs


def _tiny_unet(path: Path, *, in_channels: int = 1, label: str = "Disk", channels: int = 3) -> Path:
    """A random-init U-net of a few hundred weights saved with its card; returns the .json card."""
    torch.manual_seed(0)
    net = UNet(in_channels, channels, levels=1, filters=2, kernel=3, block_layers=1)
    activation = {"Disk": "softmax", "Mask": "sigmoid", "Exitwave": "linear"}[label]
    card = {"task": Task(label, channels, activation).to_dict(), "sampling": [0.05, 0.2], "normalizedistance": 1.0}
    return save_model(net, path, card).with_suffix(".json")


def _edit_card(card: Path, edit: Callable[[dict], None]) -> Path:
    data = json.loads(card.read_text())
    edit(data)
    card.write_text(json.dumps(data))
    return card


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _real(name: str, out: Path, keep: float = 0.3) -> Path:
    """A truncated copy of a real microscope file (skips when the real files are absent)."""
    source = REAL_EM / name
    if not source.is_file():
        pytest.skip(f"needs {source}")
    out.write_bytes(source.read_bytes()[: int(source.stat().st_size * keep)])
    return out


class Inputs:
    """Bad (and a few good) inputs, each built the first time a case names it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._built:
            self._built[name] = getattr(self, "build_" + name)(self.root)
        return self._built[name]

    def format(self, argv: list[Any]) -> list[str]:
        """Replace ``{name}`` in every argument by the path of input ``name``."""
        return [re.sub(r"\{(\w+)\}", lambda m: str(self[m.group(1)]), str(a)) for a in argv]

    # ---- files and folders
    @staticmethod
    def build_afile(root: Path) -> Path:
        (root / "afile").write_text("a file where a folder is expected\n")
        return root / "afile"

    @staticmethod
    def build_folder(root: Path) -> Path:
        (root / "folder").mkdir()
        (root / "folder" / "notes.txt").write_text("a folder where a file is expected\n")
        return root / "folder"

    @staticmethod
    def build_missing(root: Path) -> Path:
        return root / "does-not-exist.npy"

    @staticmethod
    def build_garbage(root: Path) -> Path:
        (root / "garbage.bin").write_bytes(bytes(range(256)) * 4)
        return root / "garbage.bin"

    # ---- models
    @staticmethod
    def build_model(root: Path) -> Path:
        return _tiny_unet(root / "model" / "model")

    @staticmethod
    def build_model3(root: Path) -> Path:
        return _tiny_unet(root / "model3" / "model", in_channels=3)

    @staticmethod
    def build_model_mask(root: Path) -> Path:
        return _tiny_unet(root / "model_mask" / "model", label="Mask", channels=1)

    @staticmethod
    def build_card_other_arch(root: Path) -> Path:
        """The issue's case: the card edited to name MSD-net, the weights of a U-net."""
        card = _tiny_unet(root / "other_arch" / "model")
        return _edit_card(card, lambda c: c["architecture"].update(name="msdnet"))

    @staticmethod
    def build_card_other_levels(root: Path) -> Path:
        card = _tiny_unet(root / "other_levels" / "model")
        return _edit_card(card, lambda c: c["architecture"]["hyperparameters"].update(levels=2))

    @staticmethod
    def build_card_bad_channels(root: Path) -> Path:
        card = _tiny_unet(root / "bad_channels" / "model")
        return _edit_card(card, lambda c: c["architecture"].update(input_channels=-1))

    @staticmethod
    def build_card_truncated(root: Path) -> Path:
        return _truncate(_tiny_unet(root / "card_truncated" / "model"))

    @staticmethod
    def build_card_list(root: Path) -> Path:
        card = _tiny_unet(root / "card_list" / "model")
        card.write_text("[1, 2, 3]")
        return card

    @staticmethod
    def build_weights_truncated(root: Path) -> Path:
        card = _tiny_unet(root / "weights_truncated" / "model")
        _truncate(card.with_suffix(".safetensors"))
        return card

    @staticmethod
    def build_weights_corrupt_hashed(root: Path) -> Path:
        """Corrupt weights whose SHA-256 was written into the card (the hash check passes)."""
        card = _tiny_unet(root / "weights_hashed" / "model")
        weights = _truncate(card.with_suffix(".safetensors"))
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        return _edit_card(card, lambda c: c["weights"].update(sha256=digest))

    # ---- image sets (the `temnn images` layout)
    @staticmethod
    def build_imageset(root: Path) -> Path:
        return write_set(root / "imageset", "Disk", samples=2)

    @staticmethod
    def build_imageset3(root: Path) -> Path:
        return write_set(root / "imageset3", "Disk", channels=3, samples=2)

    @staticmethod
    def build_imageset_mask(root: Path) -> Path:
        return write_set(root / "imageset_mask", "Mask", samples=2)

    @staticmethod
    def build_imageset_corrupt(root: Path) -> Path:
        folder = write_set(root / "imageset_corrupt", "Disk", samples=2)
        _truncate(folder / "00001_00.npz")
        return folder

    # ---- parameter files
    @staticmethod
    def build_params(root: Path) -> Path:
        return _params(root, "params.json", {})

    @staticmethod
    def build_params_truncated(root: Path) -> Path:
        return _truncate(_params(root, "params_truncated.json", {}))

    @staticmethod
    def build_params_nan(root: Path) -> Path:
        return _params(root, "params_nan.json", {"sampling": [float("nan"), 0.1]})

    @staticmethod
    def build_params_negative(root: Path) -> Path:
        return _params(root, "params_negative.json", {"image_size": [-64, 64]})

    @staticmethod
    def build_params_typo(root: Path) -> Path:
        return _params(root, "params_typo.json", {"defocs": [0, 1]})

    # ---- stacks
    @staticmethod
    def build_stack(root: Path) -> Path:
        stack = np.zeros((3, 32, 32), np.float32)
        stack[:, 8:20, 8:20] = 1
        np.save(root / "stack.npy", stack)
        return root / "stack.npy"

    @staticmethod
    def build_frames(root: Path) -> Path:
        """Three 64 × 64 frames of Poisson noise (vacuum)."""
        np.save(root / "frames.npy", np.random.default_rng(0).poisson(100.0, (3, 64, 64)).astype(np.float32))
        return root / "frames.npy"

    @staticmethod
    def build_stack_empty(root: Path) -> Path:
        np.save(root / "stack_empty.npy", np.zeros((0, 32, 32), np.float32))
        return root / "stack_empty.npy"

    @staticmethod
    def build_stack_nan(root: Path) -> Path:
        np.save(root / "stack_nan.npy", np.full((3, 32, 32), np.nan, np.float32))
        return root / "stack_nan.npy"

    @staticmethod
    def build_stack_inf(root: Path) -> Path:
        stack = np.zeros((3, 32, 32), np.float32)
        stack[1, 4:9, 4:9] = np.inf
        np.save(root / "stack_inf.npy", stack)
        return root / "stack_inf.npy"

    @staticmethod
    def build_stack_1d(root: Path) -> Path:
        np.save(root / "stack_1d.npy", np.ones(100, np.float32))
        return root / "stack_1d.npy"

    @staticmethod
    def build_stack_5d(root: Path) -> Path:
        np.save(root / "stack_5d.npy", np.ones((2, 2, 2, 16, 16), np.float32))
        return root / "stack_5d.npy"

    @staticmethod
    def build_stack_text(root: Path) -> Path:
        np.save(root / "stack_text.npy", np.full((2, 8, 8), "a"))
        return root / "stack_text.npy"

    @staticmethod
    def build_stack_complex(root: Path) -> Path:
        np.save(root / "stack_complex.npy", np.ones((2, 16, 16), np.complex64))
        return root / "stack_complex.npy"

    @staticmethod
    def build_stack_empty_frames(root: Path) -> Path:
        np.save(root / "stack_empty_frames.npy", np.zeros((3, 0, 16), np.float32))
        return root / "stack_empty_frames.npy"

    @staticmethod
    def build_stack_truncated(root: Path) -> Path:
        return _truncate(Inputs.build_stack(root).rename(root / "stack_truncated.npy"))

    @staticmethod
    def build_npz_corrupt(root: Path) -> Path:
        np.savez(root / "corrupt.npz", mask=np.ones((2, 16, 16)))
        return _truncate(root / "corrupt.npz")

    @staticmethod
    def build_npz_empty(root: Path) -> Path:
        np.savez(root / "empty.npz")
        return root / "empty.npz"

    @staticmethod
    def build_tif_truncated(root: Path) -> Path:
        tifffile.imwrite(root / "truncated.tif", np.ones((3, 64, 64), np.float32))
        return _truncate(root / "truncated.tif", 0.1)

    @staticmethod
    def build_tif_nan(root: Path) -> Path:
        tifffile.imwrite(root / "nan.tif", np.full((2, 32, 32), np.nan, np.float32), imagej=True,
                         resolution=(10.0, 10.0), metadata={"unit": "nm", "axes": "TYX"})
        return root / "nan.tif"

    # ---- microscope files, corrupt
    @staticmethod
    def build_dm3_corrupt(root: Path) -> Path:
        return _real("test_dm_image_um_unit.dm3", root / "corrupt.dm3")

    @staticmethod
    def build_emd_corrupt(root: Path) -> Path:
        return _real("fei_example_tem_stack.emd", root / "corrupt.emd")

    @staticmethod
    def build_ser_corrupt(root: Path) -> Path:
        return _real("64x64x5_TEM_preview_1.ser", root / "corrupt_1.ser")

    @staticmethod
    def build_emi_garbage(root: Path) -> Path:
        (root / "garbage.emi").write_bytes(b"<ObjectInfo>not really</ObjectInfo>" * 3)
        return root / "garbage.emi"

    @staticmethod
    def build_mrc_corrupt(root: Path) -> Path:
        (root / "corrupt.mrc").write_bytes(b"\x40\x00\x00\x00" * 20)
        return root / "corrupt.mrc"

    @staticmethod
    def build_png_corrupt(root: Path) -> Path:
        return _real("AtomSegNet_12965.png", root / "corrupt.png")

    @staticmethod
    def build_png_text(root: Path) -> Path:
        (root / "text.png").write_text("this is not a PNG\n")
        return root / "text.png"

    @staticmethod
    def build_dataset_empty(root: Path) -> Path:
        (root / "dataset").mkdir()
        return root / "dataset"


def _params(root: Path, name: str, changes: dict[str, Any]) -> Path:
    record = {"label": "Disk", "image_size": [32, 32], "sampling": [0.1, 0.12], "num_classes": 3,
              "normalizedistance": 1.0, "defocus": [-100.0, 100.0], **changes}
    (root / name).write_text(json.dumps(record))
    return root / name


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------- CLI cases
# (id, argv with {input} placeholders, fragments the message must contain)
CLI_CASES: list[tuple[str, list[Any], list[str]]] = [
    # structures
    ("structures-out-is-file", ["structures", "mos2", "{afile}", 1, "--quiet"], ["afile", "not a folder"]),
    ("structures-out-below-file", ["structures", "mos2", "{afile}/set", 1, "--quiet"], ["afile", "not a folder"]),
    ("structures-negative-n", ["structures", "mos2", "{folder}/set", -1, "--quiet"], ["N", "non-negative"]),
    ("structures-nan-cell", ["structures", "mos2", "{folder}/set", 1, "--cell", "nan", "--quiet"], ["cell", "Å"]),
    ("structures-negative-sampling", ["structures", "mos2", "{folder}/set", 1, "--sampling", -0.05, "--quiet"],
     ["sampling", "Å"]),
    ("structures-zero-gpts", ["structures", "mos2", "{folder}/set", 1, "--gpts", 0, "--quiet"], ["gpts"]),
    ("structures-inf-energy", ["structures", "mos2", "{folder}/set", 1, "--beam-energy", "inf", "--quiet"],
     ["energy", "eV"]),
    ("structures-reversed-vacancies", ["structures", "mos2", "{folder}/set", 1, "--vacancies", 0.5, 0.1, "--quiet"],
     ["vacancies", "low"]),
    ("structures-zero-workers", ["structures", "mos2", "{folder}/set", 1, "--workers", 0, "--quiet"], ["workers"]),
    ("structures-unit-cell-garbage", ["structures", "flake", "{folder}/set", "{garbage}", 1, "--quiet"],
     ["garbage.bin"]),
    ("structures-unit-cell-folder", ["structures", "flake", "{folder}/set", "{folder}", 1, "--quiet"], ["folder"]),
    ("structures-unknown-element", ["structures", "particle", "{folder}/set", "Xx", 5, 1, "--quiet"], ["Xx"]),
    ("structures-amplitudes-truncated",
     ["structures", "mos2", "{folder}/set", 1, "--frozen-phonons", 2, "--amplitudes", "{params_truncated}", "--quiet"],
     ["params_truncated.json"]),
    ("structures-text-n", ["structures", "mos2", "{folder}/set", "many", "--quiet"], ["n", "invalid int value"]),
    # images
    ("images-data-missing", ["images", "{missing}", "{params}", "--no-progress"], ["does-not-exist"]),
    ("images-data-is-file", ["images", "{afile}", "{params}", "--no-progress"], ["afile"]),
    ("images-data-empty", ["images", "{dataset_empty}", "{params}", "--no-progress"], ["dataset"]),
    ("images-params-truncated", ["images", "{dataset_empty}", "{params_truncated}", "--no-progress"],
     ["params_truncated.json", "JSON"]),
    ("images-params-nan", ["images", "{dataset_empty}", "{params_nan}", "--no-progress"], ["params_nan.json",
                                                                                            "sampling"]),
    ("images-params-negative-size", ["images", "{dataset_empty}", "{params_negative}", "--no-progress"],
     ["params_negative.json", "image_size"]),
    ("images-params-typo", ["images", "{dataset_empty}", "{params_typo}", "--no-progress"], ["defocs", "defocus"]),
    ("images-params-folder", ["images", "{dataset_empty}", "{folder}", "--no-progress"], ["folder"]),
    # train
    ("train-out-is-file", ["train", 1, "{imageset}", "{imageset}", "{afile}", "--quiet"], ["afile", "not a folder"]),
    ("train-set-missing", ["train", 1, "{missing}", "{imageset}", "{folder}/out", "--quiet"], ["does-not-exist"]),
    ("train-set-is-file", ["train", 1, "{afile}", "{imageset}", "{folder}/out", "--quiet"], ["afile"]),
    ("train-zero-epochs", ["train", 0, "{imageset}", "{imageset}", "{folder}/out", "--quiet"], ["epochs"]),
    ("train-zero-batch", ["train", 1, "{imageset}", "{imageset}", "{folder}/out", "--batch-size", 0, "--quiet"],
     ["batch"]),
    ("train-even-kernel", ["train", 1, "{imageset}", "{imageset}", "{folder}/out", "--arch", "unet", "--kernel", 4,
                           "--quiet"], ["kernel", "odd"]),
    ("train-zero-filters", ["train", 1, "{imageset}", "{imageset}", "{folder}/out", "--arch", "unet", "--filters", 0,
                            "--quiet"], ["filters"]),
    ("train-nan-rmsprop", ["train", 1, "{imageset}", "{imageset}", "{folder}/out", "--rmsprop", "nan", "--quiet"],
     ["rmsprop"]),
    ("train-negative-lr", ["train", 1, "{imageset}", "{imageset}", "{folder}/out", "--adam", '{"lr": -1}', "--quiet"],
     ["lr"]),
    ("train-bad-augment", ["train", 1, "{imageset}", "{imageset}", "{folder}/out", "--augment",
                           '{"brightness": "lots"}', "--quiet"], ["brightness"]),
    ("train-val-channels", ["train", 1, "{imageset}", "{imageset3}", "{folder}/out", "--quiet"], ["imageset3"]),
    ("train-val-label", ["train", 1, "{imageset}", "{imageset_mask}", "{folder}/out", "--quiet"], ["label"]),
    ("train-corrupt-sample", ["train", 1, "{imageset_corrupt}", "{imageset}", "{folder}/out", "--quiet"],
     ["00001_00.npz"]),
    # evaluate
    ("evaluate-model-missing", ["evaluate", "{missing}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["does-not-exist"]),
    ("evaluate-card-truncated", ["evaluate", "{card_truncated}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["model.json", "JSON"]),
    ("evaluate-card-not-object", ["evaluate", "{card_list}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["model.json"]),
    ("evaluate-card-other-arch", ["evaluate", "{card_other_arch}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["model.json", "model.safetensors", "disagree", "architecture"]),
    ("evaluate-card-other-levels",
     ["evaluate", "{card_other_levels}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["model.json", "model.safetensors", "disagree", "architecture"]),
    ("evaluate-card-negative-channels",
     ["evaluate", "{card_bad_channels}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["model.json", "input_channels"]),
    ("evaluate-weights-truncated",
     ["evaluate", "{weights_truncated}", "{imageset}", "--out", "{folder}/ev", "--quiet"], ["model.safetensors"]),
    ("evaluate-weights-corrupt",
     ["evaluate", "{weights_corrupt_hashed}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["model.safetensors"]),
    ("evaluate-model-channels", ["evaluate", "{model3}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["model3", "focal series of 3"]),
    ("evaluate-model-label", ["evaluate", "{model_mask}", "{imageset}", "--out", "{folder}/ev", "--quiet"],
     ["Mask", "Disk"]),
    ("evaluate-data-is-file", ["evaluate", "{model}", "{afile}", "--out", "{folder}/ev", "--quiet"], ["afile"]),
    ("evaluate-out-is-file", ["evaluate", "{model}", "{imageset}", "--out", "{afile}", "--quiet"],
     ["afile", "not a folder"]),
    ("evaluate-negative-radius",
     ["evaluate", "{model}", "{imageset}", "--out", "{folder}/ev", "--radius", -1, "--quiet"], ["radius"]),
    ("evaluate-nan-threshold",
     ["evaluate", "{model}", "{imageset}", "--out", "{folder}/ev", "--threshold", "nan", "--quiet"], ["threshold"]),
    ("evaluate-zero-batch",
     ["evaluate", "{model}", "{imageset}", "--out", "{folder}/ev", "--batch-size", 0, "--quiet"], ["batch"]),
    ("evaluate-corrupt-sample",
     ["evaluate", "{model}", "{imageset_corrupt}", "--out", "{folder}/ev", "--quiet"], ["00001_00.npz"]),
    # predict
    ("predict-file-missing", ["predict", "{model}", "{missing}", "--out", "{folder}/pr", "--quiet"],
     ["does-not-exist"]),
    ("predict-unsupported", ["predict", "{model}", "{stack}", "--out", "{folder}/pr", "--quiet"], [".npy"]),
    ("predict-dm3-truncated", ["predict", "{model}", "{dm3_corrupt}", "--out", "{folder}/pr", "--quiet"],
     ["corrupt.dm3"]),
    ("predict-emd-truncated", ["predict", "{model}", "{emd_corrupt}", "--out", "{folder}/pr", "--quiet"],
     ["corrupt.emd"]),
    ("predict-ser-truncated", ["predict", "{model}", "{ser_corrupt}", "--out", "{folder}/pr", "--quiet"],
     ["corrupt_1.ser"]),
    ("predict-emi-garbage", ["predict", "{model}", "{emi_garbage}", "--out", "{folder}/pr", "--quiet"],
     ["garbage.emi"]),
    ("predict-mrc-corrupt", ["predict", "{model}", "{mrc_corrupt}", "--out", "{folder}/pr", "--quiet"],
     ["corrupt.mrc"]),
    ("predict-png-truncated", ["predict", "{model}", "{png_corrupt}", "--out", "{folder}/pr", "--sampling", 0.1,
                               "--quiet"], ["corrupt.png"]),
    ("predict-png-text", ["predict", "{model}", "{png_text}", "--out", "{folder}/pr", "--sampling", 0.1, "--quiet"],
     ["text.png"]),
    ("predict-tif-truncated", ["predict", "{model}", "{tif_truncated}", "--sampling", 0.1, "--out", "{folder}/pr",
                               "--quiet"],
     ["truncated.tif"]),
    ("predict-tif-nan", ["predict", "{model}", "{tif_nan}", "--sampling", 0.1, "--out", "{folder}/pr", "--quiet"], ["nan.tif", "NaN"]),
    ("predict-negative-sampling", ["predict", "{model}", "{tif_nan}", "--out", "{folder}/pr", "--sampling", -1,
                                   "--quiet"], ["sampling", "Å/pixel"]),
    ("predict-zero-tile", ["predict", "{model}", "{tif_nan}", "--sampling", 0.1, "--out", "{folder}/pr", "--tile", 0, "--quiet"],
     ["tile"]),
    ("predict-negative-overlap", ["predict", "{model}", "{tif_nan}", "--sampling", 0.1, "--out", "{folder}/pr", "--overlap", -2,
                                  "--quiet"], ["overlap"]),
    ("predict-out-is-file", ["predict", "{model}", "{tif_nan}", "--sampling", 0.1, "--out", "{afile}", "--quiet"],
     ["afile", "not a folder"]),
    ("predict-model-folder-empty", ["predict", "{folder}", "{tif_nan}", "--sampling", 0.1, "--out", "{folder}/pr", "--quiet"],
     ["folder", "best.json"]),
    ("predict-model-arch", ["predict", "{card_other_arch}", "{tif_nan}", "--sampling", 0.1, "--out", "{folder}/pr", "--quiet"],
     ["model.json", "disagree"]),
    # track
    ("track-zero-frames", ["track", "{stack_empty}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["stack_empty.npy", "no frames"]),
    ("track-all-nan", ["track", "{stack_nan}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["stack_nan.npy", "NaN"]),
    ("track-inf", ["track", "{stack_inf}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["stack_inf.npy", "inf"]),
    ("track-1d", ["track", "{stack_1d}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"], ["stack_1d.npy"]),
    ("track-5d", ["track", "{stack_5d}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"], ["stack_5d.npy"]),
    ("track-text-dtype", ["track", "{stack_text}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["stack_text.npy"]),
    ("track-complex", ["track", "{stack_complex}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["stack_complex.npy"]),
    ("track-zero-size-frames", ["track", "{stack_empty_frames}", "--min-separation", 0.5, "--sampling", 0.1,
                                "--quiet"], ["stack_empty_frames.npy"]),
    ("track-npy-truncated", ["track", "{stack_truncated}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["stack_truncated.npy"]),
    ("track-npz-truncated", ["track", "{npz_corrupt}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["corrupt.npz"]),
    ("track-npz-empty", ["track", "{npz_empty}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["empty.npz"]),
    ("track-tif-truncated", ["track", "{tif_truncated}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["truncated.tif"]),
    ("track-tif-nan", ["track", "{tif_nan}", "--min-separation", 0.5, "--quiet"], ["nan.tif", "NaN"]),
    ("track-negative-separation", ["track", "{stack}", "--min-separation", -1, "--sampling", 0.1, "--quiet"],
     ["min_separation", "nm"]),
    ("track-text-separation", ["track", "{stack}", "--min-separation", "far", "--quiet"],
     ["--min-separation", "invalid float value"]),
    ("track-nan-threshold", ["track", "{stack}", "--min-separation", 0.5, "--sampling", 0.1, "--threshold", "nan",
                             "--quiet"], ["threshold"]),
    ("track-overlap-above-one", ["track", "{stack}", "--min-separation", 0.5, "--sampling", 0.1, "--overlap", 2,
                                 "--quiet"], ["overlap"]),
    ("track-zero-sampling", ["track", "{stack}", "--min-separation", 0.5, "--sampling", 0, "--quiet"],
     ["sampling"]),
    ("track-out-is-file", ["track", "{stack}", "--min-separation", 0.5, "--sampling", 0.1, "--out", "{afile}",
                           "--quiet"], ["afile", "not a folder"]),
    ("track-folder-without-frames", ["track", "{folder}", "--min-separation", 0.5, "--sampling", 0.1, "--quiet"],
     ["folder", "NNNNN"]),
    ("track-channel-out-of-range", ["track", "{stack}", "--min-separation", 0.5, "--sampling", 0.1, "--channel", 3,
                                    "--quiet"], ["channel"]),
    # fft-track
    ("fft-track-images-nan", ["fft-track", "{stack_nan}", "{stack}", "--id", 1, "--sampling", 0.1, "--quiet"],
     ["stack_nan.npy", "NaN"]),
    ("fft-track-zero-frames", ["fft-track", "{stack_empty}", "{stack_empty}", "--id", 1, "--sampling", 0.1,
                               "--quiet"], ["stack_empty.npy", "no frames"]),
    ("fft-track-negative-sigma", ["fft-track", "{stack}", "{stack}", "--id", 1, "--sampling", 0.1, "--sigma", -2,
                                  "--quiet"], ["sigma"]),
    ("fft-track-zero-window", ["fft-track", "{stack}", "{stack}", "--id", 1, "--sampling", 0.1, "--window", 0,
                               "--quiet"], ["window"]),
    ("fft-track-negative-size", ["fft-track", "{stack}", "{stack}", "--id", 1, "--sampling", 0.1, "--size", -8,
                                 "--quiet"], ["size"]),
    ("fft-track-out-is-file", ["fft-track", "{stack}", "{stack}", "--id", 1, "--sampling", 0.1, "--out", "{afile}",
                               "--quiet"], ["afile", "not a folder"]),
    # fit-noise
    ("fit-noise-missing", ["fit-noise", "{missing}", "--out", "{folder}/fn"], ["does-not-exist"]),
    ("fit-noise-npy-truncated", ["fit-noise", "{stack_truncated}", "--out", "{folder}/fn"], ["stack_truncated.npy"]),
    ("fit-noise-zero-frames", ["fit-noise", "{stack_empty}", "--out", "{folder}/fn"], ["stack_empty.npy"]),
    ("fit-noise-all-nan", ["fit-noise", "{stack_nan}", "--out", "{folder}/fn"], ["stack_nan.npy", "NaN"]),
    ("fit-noise-1d", ["fit-noise", "{stack_1d}", "--out", "{folder}/fn"], ["stack_1d.npy"]),
    ("fit-noise-window-outside", ["fit-noise", "{frames}", "--window", 60, 60, 16, "--out", "{folder}/fn"],
     ["window"]),
    ("fit-noise-zero-conversion", ["fit-noise", "{frames}", "--conversion", 0, "--out", "{folder}/fn"],
     ["conversion"]),
    ("fit-noise-electrons-count", ["fit-noise", "{frames}", "--electrons", 1, 2, "--out", "{folder}/fn"],
     ["electrons"]),
    ("fit-noise-out-is-file", ["fit-noise", "{frames}", "--out", "{afile}"], ["afile", "not a folder"]),
    # reconstruct
    ("reconstruct-missing", ["reconstruct", "{missing}", "--out", "{folder}/rc"], ["does-not-exist"]),
    ("reconstruct-1d", ["reconstruct", "{stack_1d}", "--defocus", 0, "--sampling", 0.1, "--energy", 3e5, "--cs", 0,
                        "--out", "{folder}/rc"], ["stack_1d.npy"]),
    ("reconstruct-zero-images", ["reconstruct", "{stack_empty}", "--sampling", 0.1, "--energy", 3e5, "--cs", 0,
                                 "--out", "{folder}/rc"], ["stack_empty.npy"]),
    ("reconstruct-nan", ["reconstruct", "{stack_nan}", "--defocus", 0, 10, 20, "--sampling", 0.1, "--energy", 3e5,
                         "--cs", 0, "--out", "{folder}/rc"], ["stack_nan.npy", "NaN"]),
    ("reconstruct-defocus-count", ["reconstruct", "{stack}", "--defocus", 0, 10, "--sampling", 0.1, "--energy", 3e5,
                                   "--cs", 0, "--out", "{folder}/rc"], ["defocus"]),
    ("reconstruct-negative-energy", ["reconstruct", "{stack}", "--defocus", 0, 10, 20, "--sampling", 0.1,
                                     "--energy", -3e5, "--cs", 0, "--out", "{folder}/rc"], ["energy"]),
    ("reconstruct-negative-iterations", ["reconstruct", "{stack}", "--defocus", 0, 10, 20, "--sampling", 0.1,
                                     "--energy", 3e5, "--cs", 0, "--iterations", -1, "--out", "{folder}/rc"],
     ["iterations"]),
    ("reconstruct-truth-shape", ["reconstruct", "{stack}", "--defocus", 0, 10, 20, "--sampling", 0.1, "--energy", 3e5,
                                 "--cs", 0, "--truth", "{stack_1d}", "--out", "{folder}/rc"], ["stack_1d.npy"]),
    ("reconstruct-out-is-file", ["reconstruct", "{stack}", "--defocus", 0, 10, 20, "--sampling", 0.1, "--energy",
                                 3e5, "--cs", 0, "--out", "{afile}"], ["afile", "not a folder"]),
    # demo
    ("demo-out-is-file", ["demo", "--out", "{afile}", "--quick"], ["afile", "not a folder"]),
    ("demo-zero-epochs", ["demo", "--out", "{folder}/demo", "--epochs", 0], ["epochs"]),
    ("demo-zero-workers", ["demo", "--out", "{folder}/demo", "--workers", 0], ["workers"]),
]


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return Inputs(tmp_path)


@pytest.mark.parametrize("argv, expected", [pytest.param(a, e, id=i) for i, a, e in CLI_CASES])
def test_command_refuses_bad_input(inputs, tmp_path, capsys, argv, expected):
    argv = inputs.format(argv)
    before = _snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    out, err = capsys.readouterr()
    text = out + err
    assert code not in (0, None), text
    assert "Traceback" not in text
    message = err.strip().splitlines()[-1] if err.strip() else ""
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    after = _snapshot(tmp_path)
    assert {k: after.get(k) for k in before} == before, "a file that existed before was changed"


# ------------------------------------------------------------------------------------- API cases
def _without_h5py(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make h5py uninstalled for this test (RosettaSciIO's EMD reader needs it); returns an .emd file."""
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` raises ModuleNotFoundError
    for name in [m for m in sys.modules if m.startswith("rsciio.emd")]:
        monkeypatch.delitem(sys.modules, name)
    (root / "velox.emd").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    return root / "velox.emd"


def _emd_without_h5py(i: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
    temnn.ExperimentalData(_without_h5py(i.root, monkeypatch), sampling=0.1)


def _save_below_file(i: Inputs) -> None:
    save_model(UNet(1, 3, levels=1, filters=2, kernel=3, block_layers=1), i["afile"] / "model")


def _remove_weights(i: Inputs) -> Path:
    card = i["model"]
    card.with_suffix(".safetensors").unlink()
    return card


RANDOM = np.random.default_rng(0)
MAP = RANDOM.random((16, 16))
NAN_MAP = np.full((16, 16), np.nan)
TEXT_MAP = np.full((16, 16), "a")

# (id, call(inputs, monkeypatch), fragments the TemnnError message must contain)
API_CASES: list[tuple[str, Callable[[Inputs, pytest.MonkeyPatch], Any], list[str]]] = [
    ("load_model-missing", lambda i, m: temnn.load_model(i.root / "nothing"), ["nothing", "no model here"]),
    ("load_model-empty-folder", lambda i, m: temnn.load_model(i["folder"]), ["folder", "best.json"]),
    ("load_model-card-other-arch", lambda i, m: temnn.load_model(i["card_other_arch"]),
     ["model.json", "model.safetensors", "disagree", "'architecture'"]),
    ("load_model-card-other-levels", lambda i, m: temnn.load_model(i["card_other_levels"]),
     ["model.json", "model.safetensors", "disagree", "levels=2"]),
    ("load_model-card-truncated", lambda i, m: temnn.load_model(i["card_truncated"]), ["model.json", "JSON"]),
    ("load_model-weights-missing", lambda i, m: temnn.load_model(_remove_weights(i)),
     ["model.safetensors", "missing"]),
    ("load_model-weights-corrupt", lambda i, m: temnn.load_model(i["weights_corrupt_hashed"]),
     ["model.safetensors", "safetensors"]),
    ("load_model-task-field", lambda i, m: temnn.load_model(_edit_card(i["model"], lambda c: c.update(task="Disk"))),
     ["model.json", "'task'"]),
    ("load_model-weights-field",
     lambda i, m: temnn.load_model(_edit_card(i["model"], lambda c: c.update(weights="model.safetensors"))),
     ["model.json", "'weights'"]),
    ("save_model-below-file", lambda i, m: _save_below_file(i), ["afile", "not a folder"]),
    ("Parameters.load-truncated", lambda i, m: temnn.Parameters.load(i["params_truncated"]),
     ["params_truncated.json", "JSON"]),
    ("Parameters.load-folder", lambda i, m: temnn.Parameters.load(i["folder"]), ["folder", "JSON file"]),
    ("Parameters.load-missing", lambda i, m: temnn.Parameters.load(i["missing"]), ["does-not-exist", "not found"]),
    ("Parameters.from_dict-list", lambda i, m: temnn.Parameters.from_dict([1, 2]), ["JSON object"]),
    ("Parameters.from_dict-label", lambda i, m: temnn.Parameters.from_dict(
        {"label": "Nope", "image_size": [8, 8], "sampling": [0.1, 0.1]}), ["'label'", "Disk"]),
    ("Parameters.from_dict-nan", lambda i, m: temnn.Parameters.from_dict(
        {"label": "Disk", "image_size": [8, 8], "sampling": [float("nan"), 0.1]}), ["'sampling'", "Å/pixel"]),
    ("Parameters.from_dict-negative-size", lambda i, m: temnn.Parameters.from_dict(
        {"label": "Disk", "image_size": [-8, 8], "sampling": [0.1, 0.1]}), ["'image_size'", "positive"]),
    ("Parameters.from_dict-text-size", lambda i, m: temnn.Parameters.from_dict(
        {"label": "Disk", "image_size": "big", "sampling": [0.1, 0.1]}), ["'image_size'", "pixels"]),
    ("ExperimentalData-missing", lambda i, m: temnn.ExperimentalData(i["missing"]), ["does-not-exist"]),
    ("ExperimentalData-folder", lambda i, m: temnn.ExperimentalData(i["folder"]), ["folder", "is a folder"]),
    ("ExperimentalData-dm3-truncated", lambda i, m: temnn.ExperimentalData(i["dm3_corrupt"]), ["corrupt.dm3"]),
    ("ExperimentalData-emd-truncated", lambda i, m: temnn.ExperimentalData(i["emd_corrupt"]), ["corrupt.emd"]),
    ("ExperimentalData-ser-truncated", lambda i, m: temnn.ExperimentalData(i["ser_corrupt"]), ["corrupt_1.ser"]),
    ("ExperimentalData-mrc-corrupt", lambda i, m: temnn.ExperimentalData(i["mrc_corrupt"]), ["corrupt.mrc"]),
    ("ExperimentalData-png-text", lambda i, m: temnn.ExperimentalData(i["png_text"], sampling=0.1), ["text.png"]),
    ("ExperimentalData-tif-uncalibrated", lambda i, m: temnn.ExperimentalData(i["tif_nan"]),
     ["nan.tif", "sampling"]),
    ("ExperimentalData-tif-nan", lambda i, m: temnn.ExperimentalData(i["tif_nan"], sampling=0.1),
     ["nan.tif", "frame 0", "NaN"]),
    ("ExperimentalData-frame-range", lambda i, m: temnn.ExperimentalData(i["tif_nan"], sampling=0.1, frame=7),
     ["nan.tif", "frame"]),
    ("ExperimentalData-negative-sampling", lambda i, m: temnn.ExperimentalData(i["tif_nan"], sampling=-0.1),
     ["sampling", "Å/pixel"]),
    ("ExperimentalData-emd-without-h5py", _emd_without_h5py, ["velox.emd", "pip install h5py"]),
    ("SimulatedData-missing", lambda i, m: temnn.SimulatedData(i.root / "00000_00.npz"), ["00000_00.npz"]),
    ("SimulatedData-truncated", lambda i, m: temnn.SimulatedData(i["imageset_corrupt"] / "00001_00.npz"),
     ["00001_00.npz", "truncated"]),
    ("SimulatedData-other-parameters",
     lambda i, m: temnn.SimulatedData(i["imageset"] / "00000_00.npz", i["imageset3"] / "parameters.json"),
     ["00000_00.npz"]),
    ("predict-nan", lambda i, m: temnn.predict(temnn.load_model(i["model"]), NAN_MAP[None], sampling=0.1),
     ["images", "NaN"]),
    ("predict-text", lambda i, m: temnn.predict(temnn.load_model(i["model"]), TEXT_MAP[None], sampling=0.1),
     ["images", "real numbers"]),
    ("predict-channels", lambda i, m: temnn.predict(temnn.load_model(i["model"]), np.stack([MAP] * 3),
                                                    sampling=0.1), ["images", "focal series of 1"]),
    ("predict-rank", lambda i, m: temnn.predict(temnn.load_model(i["model"]), MAP, sampling=0.1),
     ["images", "(C, H, W)"]),
    ("predict-empty", lambda i, m: temnn.predict(temnn.load_model(i["model"]), np.zeros((1, 0, 16)),
                                                 sampling=0.1), ["images", "(C, H, W)"]),
    ("predict-sampling", lambda i, m: temnn.predict(temnn.load_model(i["model"]), MAP[None], sampling=-1),
     ["sampling", "Å/pixel"]),
    ("find_peaks-nan", lambda i, m: temnn.find_peaks(NAN_MAP), ["prob", "NaN"]),
    ("find_peaks-text", lambda i, m: temnn.find_peaks(TEXT_MAP), ["prob", "real numbers"]),
    ("find_peaks-rank", lambda i, m: temnn.find_peaks(np.ones(10)), ["prob", "(nx, ny)"]),
    ("find_peaks-negative-distance", lambda i, m: temnn.find_peaks(MAP, sampling=0.1, min_spacing=-1),
     ["min_spacing", "Å"]),
    ("find_peaks-no-sampling", lambda i, m: temnn.find_peaks(MAP, min_spacing=1.0), ["min_spacing", "sampling"]),
    ("find_peaks-nan-threshold", lambda i, m: temnn.find_peaks(MAP, threshold=float("nan")), ["threshold"]),
    ("atomic_f1-nan", lambda i, m: temnn.atomic_f1(np.array([[np.nan, 1.0]]), np.ones((1, 2))),
     ["predicted", "NaN"]),
    ("atomic_f1-shape", lambda i, m: temnn.atomic_f1(np.ones((3, 3)), np.ones((3, 2))), ["predicted", "(N, 2)"]),
    ("atomic_f1-text", lambda i, m: temnn.atomic_f1("abc", np.ones((3, 2))), ["predicted", "real numbers"]),
    ("atomic_f1-negative-radius", lambda i, m: temnn.atomic_f1(np.ones((1, 2)), np.ones((1, 2)), radius=-1),
     ["radius"]),
    ("label_instances-nan", lambda i, m: temnn.label_instances(NAN_MAP, sampling=0.1, min_spacing=5.0),
     ["prob", "NaN"]),
    ("label_instances-inf",
     lambda i, m: temnn.label_instances(np.where(MAP > 0.5, np.inf, 0), sampling=0.1, min_spacing=5.0),
     ["prob", "inf"]),
    ("label_instances-rank", lambda i, m: temnn.label_instances(np.ones((2, 16, 16)), sampling=0.1, min_spacing=5.0),
     ["prob"]),
    ("label_instances-negative-separation",
     lambda i, m: temnn.label_instances(MAP, sampling=0.1, min_spacing=-5.0), ["min_spacing", "Å"]),
    ("label_instances-nan-threshold",
     lambda i, m: temnn.label_instances(MAP, sampling=0.1, min_spacing=5.0, threshold=float("nan")),
     ["threshold"]),
    ("label_instances-zero-sampling", lambda i, m: temnn.label_instances(MAP, sampling=0.0, min_spacing=5.0),
     ["sampling"]),
    ("track-nan", lambda i, m: list(temnn.track([MAP, NAN_MAP], min_spacing=5.0, sampling=0.1)),
     ["prob", "NaN"]),
    ("track-shape", lambda i, m: list(temnn.track([MAP, MAP[:8]], min_spacing=5.0, sampling=0.1)),
     ["shape"]),
    ("track-zero-overlap", lambda i, m: list(temnn.track([MAP], min_spacing=5.0, sampling=0.1, overlap=0)),
     ["overlap"]),
]


@pytest.mark.parametrize("call, expected", [pytest.param(c, e, id=i) for i, c, e in API_CASES])
def test_function_refuses_bad_input(inputs, tmp_path, monkeypatch, call, expected):
    before = None
    with pytest.raises(TemnnError) as error:
        before = _snapshot(tmp_path)
        call(inputs, monkeypatch)
    message = str(error.value)
    assert "\n" not in message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if before is not None:
        after = _snapshot(tmp_path)
        assert {k: after.get(k) for k in before} == before, "a file that existed before was changed"


def test_predict_names_a_missing_reader_package(inputs, tmp_path, capsys, monkeypatch):
    """The issue's case: Velox EMD without h5py gave a ModuleNotFoundError traceback from `temnn predict`."""
    model = inputs["model"]
    emd = _without_h5py(tmp_path, monkeypatch)
    code = main(["predict", str(model), str(emd), "--sampling", "0.1", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"temnn predict: error: {emd}: reading .emd files (RosettaSciIO's emd reader) needs the Python package "
        "h5py, which is not installed: pip install h5py"
    ]
