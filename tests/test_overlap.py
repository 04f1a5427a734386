"""Training never meets its test set: sample identities, and `temnn train` / `temnn evaluate` refusing overlap.

The end-to-end tests build real dataset folders with `temnn structures` (tiny MoS2 flakes on a
coarse grid) and image sets with `temnn images`; the identity rules are checked on hand-written
manifests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import temnn
from temnn import TemnnError
from temnn.io.files import write_json
from temnn.analysis.simulated import SimulatedData
from temnn.cli import main
from temnn.io.provenance import (
    OverlapWarning,
    SampleSet,
    check_test_set,
    check_validation_set,
    sample_set,
    shared_samples,
)

MOS2 = ["mos2", "--cell", "10", "--sampling", "0.2", "--quiet"]  # 50 × 50 px waves: a second each
PARAMS = {"label": "Mask", "image_size": [32, 32], "sampling": [0.25, 0.25], "num_classes": 1,
          "image_epochs": 1, "normalizedistance": 2.0, "seed": 0}
TRAIN = ["--arch", "unet", "--levels", "1", "--filters", "4", "--kernel", "3", "--block-layers", "2",
         "--batch-size", "2", "--device", "cpu", "--quiet"]
GENERATOR = {"name": "temnn.structures.mx2.random_mx2_flake", "arguments": {"cell": [10.0, 10.0], "max_tilt": 1.0}}



def manifest(root: Path, seed: int, generator: dict = GENERATOR, **extra) -> Path:
    """A dataset folder with only a manifest.json (enough for sample identities)."""
    root.mkdir(parents=True)
    write_json(root / "manifest.json", {"format": "temnn-dataset/1", "generator": generator, "seed": seed, **extra})
    return root


# ----------------------------------------------------------------------------- identities
def test_same_command_and_seed_in_two_folders_share_samples(tmp_path):
    a = sample_set(manifest(tmp_path / "a", 0, count=3), range(3))
    # another folder, count and wave settings, arguments spelt as ints and with bookkeeping keys
    respelt = {"name": GENERATOR["name"], "arguments": {"max_tilt": 1, "cell": (10, 10), "workers": 8, "out": "x"}}
    b = sample_set(manifest(tmp_path / "elsewhere" / "b", 0, respelt, count=5, wave_settings={"sampling": 0.1}),
                   range(5))
    assert a.source == b.source and shared_samples(a, b) == 3
    assert shared_samples(a, sample_set(manifest(tmp_path / "c", 1), range(3))) == 0  # another seed
    assert shared_samples(a, sample_set(tmp_path / "a", range(3, 6))) == 0  # same seed, --start 3
    other = {"name": GENERATOR["name"], "arguments": {"cell": [12.0, 12.0], "max_tilt": 1.0}}
    assert shared_samples(a, sample_set(manifest(tmp_path / "d", 0, other), range(3))) == 0
    # the card record round-trips, indices as runs
    record = SampleSet(a.folder, a.dataset, a.generator, a.seed, (0, 1, 2, 5, 7, 8)).to_dict()
    assert record["indices"] == [[0, 2], [5, 5], [7, 8]] and record["samples"] == 6
    assert SampleSet.from_dict(json.loads(json.dumps(record)), "card").indices == (0, 1, 2, 5, 7, 8)
    with pytest.raises(TemnnError, match=r"card\.json: training\.sets\.train: .*\[\[first, last\]"):
        SampleSet.from_dict({"folder": "x"}, "card.json: training.sets.train")


def test_image_sets_map_back_to_their_dataset_and_folders_without_manifest_to_themselves(tmp_path):
    data = manifest(tmp_path / "data", 0)
    for name in ("train", "test"):
        (data / "images" / name).mkdir(parents=True)
    train, test = sample_set(data / "images" / "train", [0, 1, 2]), sample_set(data / "images" / "test", [2, 3])
    assert train.dataset == test.dataset == str(data.resolve()) and shared_samples(train, test) == 1
    assert shared_samples(train, sample_set(data, [1])) == 1  # on-the-fly training names the dataset folder
    # hand-made sets without manifest.json: one folder is one source, two folders are two
    loose = tmp_path / "loose"
    loose.mkdir()
    assert sample_set(loose, [0]).source == f"folder:{loose.resolve()}"
    assert shared_samples(sample_set(loose, [0, 1]), sample_set(loose, [1])) == 1
    assert shared_samples(sample_set(loose, [0]), sample_set(tmp_path / "other", [0])) == 0
    write_json(tmp_path / "bad" / "manifest.json", {"seed": "zero"})
    with pytest.raises(TemnnError, match=r"bad/manifest\.json: needs 'generator' .* integer 'seed'"):
        sample_set(tmp_path / "bad", [0])


def test_checks_name_the_sets_and_the_count(tmp_path):
    a = sample_set(manifest(tmp_path / "a", 0), range(4))
    b = sample_set(manifest(tmp_path / "b", 0), range(2))
    with pytest.raises(TemnnError, match=rf"validation set {b.folder} shares 2 of its 2 samples with the training set "
                                         rf"{a.folder} \(both made by generator .*seed 0\).*--seed"):
        check_validation_set(a, b)
    check_validation_set(a, sample_set(manifest(tmp_path / "c", 1), range(2)))
    card = {"training": {"sets": {"train": a.to_dict(), "validation": b.to_dict()}}}
    with pytest.raises(TemnnError, match=r"not unseen: 2 of the 2 test samples are in the training set of M .*"
                                         r"2 of the 2 test samples are in the validation set of M .*--allow-overlap"):
        check_test_set([("M", card)], b)
    report = check_test_set([("M", card)], b, allow_overlap=True)
    assert [(s.role, s.count) for s in report.shared] == [("training", 2), ("validation", 2)]
    assert report.to_dict()["shared_samples"] == 4 and len(report.lines()) == 2
    with pytest.warns(OverlapWarning, match="L: the model card records no training or validation samples"):
        report = check_test_set([("L", {"training": {"epoch": 3}}), ("plain", None), ("K", {"training": "x"})], b)
    assert report.unchecked == ["L", "K"] and not report.shared


# ------------------------------------------------------------------------ the commands
@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    """Datasets: A and B by the same command (default seed 0) in two folders, C seed 1, D seed 2; image sets."""
    root = tmp_path_factory.mktemp("overlap")
    params = root / "p.json"
    write_json(params, PARAMS)
    folders = {"A": [], "B": [], "C": ["--seed", "1"], "D": ["--seed", "2"]}
    for name, seed in folders.items():
        assert main(["structures", *MOS2[:1], str(root / name), "2", *MOS2[1:], *seed]) == 0
        kind = [] if name == "A" else ["--test"]
        assert main(["images", str(root / name), str(params), "--no-progress", *kind]) == 0
    assert main(["images", str(root / "A"), str(params), "--test", "--name", "test-p", "--no-progress"]) == 0
    return {"root": root, "params": params, **{name: root / name for name in folders}}


def test_train_refuses_a_validation_set_with_the_training_samples(sets, capsys):
    out = sets["root"] / "refused"
    cases = {
        "same command, same default seed": (sets["A"] / "images" / "p", sets["B"] / "images" / "p", []),
        "two image sets of one dataset": (sets["A"] / "images" / "p", sets["A"] / "images" / "test-p", []),
        "on the fly from that dataset": (sets["A"], sets["A"] / "images" / "test-p", ["--on-the-fly",
                                                                                    str(sets["params"])]),
    }
    for case, (train, val, extra) in cases.items():
        assert main(["train", "1", str(train), str(val), str(out), *TRAIN, *extra]) == 2, case
        err = capsys.readouterr().err
        assert err.startswith("temnn train: error: the validation set") and err.count("\n") == 1, err
        assert f"{val.resolve()} shares 2 of its 2 samples with the training set {train.resolve()}" in err, err
        assert "--seed 2" in err and "Traceback" not in err
        assert not out.exists(), case  # nothing written


@pytest.fixture(scope="module")
def model(sets) -> Path:
    """A model trained on A (seed 0) and validated on C (seed 1): different seeds are accepted."""
    out = sets["root"] / "model"
    assert main(["train", "1", str(sets["A"] / "images" / "p"), str(sets["C"] / "images" / "p"), str(out), *TRAIN]) == 0
    return out


def test_the_card_records_the_samples_of_both_sets(sets, model):
    card = temnn.load_model(model).card["training"]["sets"]
    assert card["train"]["folder"] == str((sets["A"] / "images" / "p").resolve())
    assert card["train"]["dataset"] == str(sets["A"].resolve())
    assert card["train"]["generator"]["name"] == "temnn.structures.mx2.random_mx2_flake"
    assert (card["train"]["seed"], card["validation"]["seed"]) == (0, 1)
    assert card["train"]["indices"] == card["validation"]["indices"] == [[0, 1]]


def test_evaluate_refuses_training_and_validation_samples_unless_allowed(sets, model, capsys):
    out = sets["root"] / "evaluation"
    cases = ((sets["B"], "training"), (sets["A"] / "images" / "test-p", "training"), (sets["C"], "validation"))
    for test, role in cases:
        assert main(["evaluate", str(model), str(test), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("temnn evaluate: error: the test set") and err.count("\n") == 1, err
        assert f"2 of the 2 test samples are in the {role} set of {model / 'best'}" in err, err
        assert "--allow-overlap" in err and "--seed 1" in err
        assert not out.exists()
    # overridden: evaluated, and the printed summary and evaluation.json say so with the count
    assert main(["evaluate", str(model), str(sets["B"]), "--out", str(out), "--allow-overlap", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "WARNING: test set not unseen: 2 of the 2 test samples are in the training set" in printed
    info = json.loads((out / "evaluation.json").read_text())["overlap"]
    assert info["allowed"] and info["shared_samples"] == 2 and info["shared"][0]["role"] == "training"
    # an unseen test set (seed 2): no warning, nothing shared
    assert main(["evaluate", str(model), str(sets["D"]), "--out", str(sets["root"] / "clean"), "--device", "cpu"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    assert json.loads((sets["root"] / "clean" / "evaluation.json").read_text())["overlap"]["shared_samples"] == 0


def test_python_api_checks_the_same(sets, model):
    with pytest.raises(TemnnError, match="2 of the 2 test samples are in the training set"):
        temnn.evaluate(model, sets["B"])
    result = temnn.evaluate(model, sets["B"], allow_overlap=True)
    assert result.overlap.shared[0].count == 2 and result.table().startswith("WARNING: test set not unseen")
    image = SimulatedData(sets["B"] / "images" / "p" / "00001_00.npz")
    with pytest.raises(TemnnError, match="1 of the 1 test samples are in the training set"):
        image.infer(model)
    image.infer(model, allow_overlap=True)
    assert image.prediction is not None and image.overlap.shared[0].count == 1
    SimulatedData(sets["D"] / "images" / "p" / "00000_00.npz").infer(model)


def test_a_card_from_before_the_manifests_still_evaluates_with_a_warning(sets, model, capsys):
    legacy = sets["root"] / "legacy"
    legacy.mkdir()
    shutil.copy(model / "best.safetensors", legacy / "best.safetensors")
    card = json.loads((model / "best.json").read_text())
    del card["training"]["sets"]
    write_json(legacy / "best.json", card)
    with pytest.warns(OverlapWarning, match="overlap with the test set cannot be checked"):
        result = temnn.evaluate(legacy, sets["B"])  # overlapping in fact, but the card cannot tell
    assert result.overlap.unchecked == [str(legacy / "best")] and len(result.rows) == 2
    assert main(["evaluate", str(legacy), str(sets["D"]), "--out", str(sets["root"] / "old"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "temnn evaluate: WARNING: " in err and "cannot be checked" in err and "Traceback" not in err
    assert json.loads((sets["root"] / "old" / "evaluation.json").read_text())["overlap"]["unchecked_models"] == [
        str(legacy / "best")]
