"""Which samples a training, validation or test set holds, so that no set meets another.

A *sample* is one structure of a dataset folder (``DATA/waves/NNNNN.npz``). Its identity is
the source that made it and its index: ``(source, NNNNN)``, where the source of a dataset
folder with a ``manifest.json`` is the SHA-256 of its generator name, its canonical generator
arguments and its seed. Sample ``i`` depends only on these (``temnn._random.sample_rng(seed,
i)``), so two folders made by the same command with the same ``--seed`` share their samples
wherever they lie, and the identity ignores the output folder, the count, the workers and the
wave settings (the same structures simulated at another sampling are the same samples).
A dataset folder without a manifest is its own source (its resolved path).

Every image of an image set ``DATA/images/NAME/NNNNN_EE.npz`` is sample ``NNNNN`` of
``DATA``, whatever its image epoch or microscope: two image sets drawn from one dataset
folder share every structure they both use. An image set outside a ``DATA/images/`` folder is
its own source.

:class:`SampleSet` is what a model card records of its training and validation sets
(``training.sets``); ``temnn train`` refuses a validation set that shares samples with the
training set (:func:`check_validation_set`) and ``temnn evaluate`` a test set that shares
samples with either (:func:`check_test_set`), unless asked to allow it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .files import read_json
from ..errors import TemnnError

__all__ = [
    "SampleSet",
    "sample_set",
    "shared_samples",
    "check_validation_set",
    "SharedSamples",
    "OverlapReport",
    "OverlapWarning",
    "check_test_set",
    "NOT_IDENTITY_ARGUMENTS",
]

NOT_IDENTITY_ARGUMENTS = frozenset({"n", "count", "out", "output", "workers", "scheduler", "progress", "start"})
"""Generator arguments that say how many samples to make, where and how fast, not what they are."""

_ROLES = ("train", "validation")
_ROLE_NAMES = {"train": "training", "validation": "validation"}


class OverlapWarning(UserWarning):
    """A test set whose overlap with a model's training data cannot be checked (a card without manifests)."""


@dataclass(frozen=True)
class SampleSet:
    """The samples of one training, validation or test set, and the source they come from.

    Attributes
    ----------
    folder : str
        The set as given: an image set ``DATA/images/NAME`` or a dataset folder ``DATA``
        (on-the-fly training), resolved.
    dataset : str
        The dataset folder whose structures the samples are, resolved.
    generator : dict or None
        ``{"name", "arguments"}`` from the dataset's ``manifest.json``; None without one.
    seed : int or None
        The dataset's seed from its manifest; None without one.
    indices : tuple of int
        The sample indices ``NNNNN`` the set uses, sorted.
    """

    folder: str
    dataset: str
    generator: dict[str, Any] | None
    seed: int | None
    indices: tuple[int, ...]

    @property
    def source(self) -> str:
        """What made the samples: ``sha256:…`` of generator, canonical arguments and seed, else ``folder:DATA``."""
        if self.generator is None or self.seed is None:
            return f"folder:{self.dataset}"
        arguments = {
            key: value
            for key, value in dict(self.generator.get("arguments") or {}).items()
            if key not in NOT_IDENTITY_ARGUMENTS
        }
        identity = {"generator": self.generator.get("name"), "arguments": _canonical(arguments), "seed": self.seed}
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def identities(self) -> set[tuple[str, int]]:
        """``(source, index)`` of every sample."""
        source = self.source
        return {(source, i) for i in self.indices}

    def describe(self) -> str:
        """The source in words, for messages."""
        if self.generator is None or self.seed is None:
            return f"dataset folder {self.dataset} (no manifest.json)"
        return f"generator {self.generator.get('name')}, seed {self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for a model card; indices as inclusive ``[first, last]`` runs."""
        return {
            "folder": self.folder,
            "dataset": self.dataset,
            "generator": self.generator,
            "seed": self.seed,
            "samples": len(self.indices),
            "indices": _runs(self.indices),
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], where: str) -> SampleSet:
        """Read a record written by :meth:`to_dict`; ``where`` names the file for messages."""
        try:
            indices = tuple(i for first, last in record["indices"] for i in range(int(first), int(last) + 1))
            seed = record["seed"]
            return cls(str(record["folder"]), str(record["dataset"]), record["generator"],
                       None if seed is None else int(seed), indices)
        except (KeyError, TypeError, ValueError) as err:
            raise TemnnError(
                f"{where}: a training set record must have folder, dataset, generator, seed and indices as "
                f"[[first, last], ...] as temnn train writes them ({type(err).__name__}: {err})"
            ) from None


def sample_set(folder: str | os.PathLike, indices: Iterable[int]) -> SampleSet:
    """The :class:`SampleSet` of an image set or dataset folder using the samples ``indices``.

    Parameters
    ----------
    folder : str or os.PathLike
        An image set ``DATA/images/NAME`` (its samples are structures of ``DATA``), or a
        dataset folder ``DATA`` (holding ``manifest.json`` or ``waves/``).
    indices : iterable of int
        Sample indices ``NNNNN`` the set uses.

    Raises
    ------
    TemnnError
        The dataset's ``manifest.json`` lacks its generator or seed.
    """
    folder = Path(folder).resolve()
    if (folder / "manifest.json").is_file() or (folder / "waves").is_dir() or folder.parent.name != "images":
        dataset = folder
    else:
        dataset = folder.parent.parent
    generator, seed = None, None
    manifest_path = dataset / "manifest.json"
    if manifest_path.is_file():
        manifest = read_json(manifest_path)
        generator = manifest.get("generator") if isinstance(manifest, dict) else None
        seed = manifest.get("seed") if isinstance(manifest, dict) else None
        if not isinstance(generator, dict) or not isinstance(seed, int) or isinstance(seed, bool):
            raise TemnnError(
                f"{manifest_path}: needs 'generator' ({{\"name\", \"arguments\"}}) and an integer 'seed' as "
                "`temnn structures` writes them, to tell its samples from other sets'; remake the dataset"
            )
    return SampleSet(str(folder), str(dataset), generator, seed, tuple(sorted({int(i) for i in indices})))


def shared_samples(a: SampleSet, b: SampleSet) -> int:
    """Number of samples that two sets share (same source and index)."""
    return len(a.identities() & b.identities())


def check_validation_set(train: SampleSet, validation: SampleSet) -> None:
    """Refuse a validation set that shares samples with the training set.

    Raises
    ------
    TemnnError
        Naming both folders, the number of shared samples and how to make a separate set.
    """
    shared = shared_samples(train, validation)
    if not shared:
        return
    raise TemnnError(
        f"the validation set {validation.folder} shares {shared} of its {len(validation.indices)} samples with "
        f"the training set {train.folder} ({_same_source(train, validation)}): validating on training samples "
        "hides overfitting and picks the wrong epoch. Make the validation set from its own dataset folder with "
        "another seed, e.g. `temnn structures mos2 data/val 200 --seed 2` then "
        "`temnn images data/val PARAMS.json --test` (temnn structures uses --seed 0 unless told otherwise)"
    )


@dataclass(frozen=True)
class SharedSamples:
    """Samples of a test set that a model saw while training.

    Attributes
    ----------
    model : str
        The model.
    role : str
        ``"training"`` or ``"validation"``.
    folder : str
        That set's folder.
    count : int
        Shared samples.
    total : int
        Samples of the test set.
    """

    model: str
    role: str
    folder: str
    count: int
    total: int

    def describe(self) -> str:
        """One sentence for messages and summaries."""
        return (f"{self.count} of the {self.total} test samples are in the {self.role} set of {self.model} "
                f"({self.folder})")


@dataclass
class OverlapReport:
    """What :func:`check_test_set` found.

    Attributes
    ----------
    shared : list of SharedSamples
        Test samples that a model trained or validated on (only when allowed).
    unchecked : list of str
        Models whose card records no training or validation samples (saved before temnn
        recorded them): their overlap with the test set is unknown.
    allowed : bool
        Whether overlap was allowed (``--allow-overlap``).
    """

    shared: list[SharedSamples] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    allowed: bool = False

    def lines(self) -> list[str]:
        """Plain statements for a summary: one per overlap or unchecked model; none when all is clean."""
        lines = [f"WARNING: test set not unseen: {s.describe()}; the scores include them (--allow-overlap)"
                 for s in self.shared]
        lines += [f"WARNING: {name}: {_UNCHECKED}" for name in self.unchecked]
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for ``evaluation.json``."""
        return {
            "allowed": self.allowed,
            "shared_samples": sum(s.count for s in self.shared),
            "shared": [vars(s).copy() for s in self.shared],
            "unchecked_models": list(self.unchecked),
        }


_UNCHECKED = ("the model card records no training or validation samples (saved by an older temnn, or not by "
              "`temnn train`), so overlap with the test set cannot be checked")


def check_test_set(models: Sequence[tuple[str, Mapping[str, Any] | None]], test: SampleSet, *,
                   allow_overlap: bool = False) -> OverlapReport:
    """Refuse a test set that shares samples with a model's training or validation set.

    Parameters
    ----------
    models : sequence of (name, card)
        Each model's name and card (``None`` for a network without a card: not checked).
    test : SampleSet
        The test set.
    allow_overlap : bool
        Evaluate anyway; the report then lists the shared samples.

    Returns
    -------
    OverlapReport
        Shared samples (only when allowed) and models that cannot be checked (each also
        emits an :class:`OverlapWarning`).

    Raises
    ------
    TemnnError
        Shared samples and ``allow_overlap`` False: naming the sets, the counts and the fix.
    """
    report = OverlapReport(allowed=bool(allow_overlap))
    for name, card in models:
        if card is None:
            continue
        training = card.get("training")
        sets = training.get("sets") if isinstance(training, Mapping) else None
        if not isinstance(sets, Mapping) or not all(role in sets for role in _ROLES):
            report.unchecked.append(name)
            warnings.warn(f"{name}: {_UNCHECKED}", OverlapWarning, stacklevel=3)
            continue
        for role in _ROLES:
            seen = SampleSet.from_dict(sets[role], f"{name}.json: training.sets.{role}")
            count = shared_samples(seen, test)
            if count:
                report.shared.append(SharedSamples(name, _ROLE_NAMES[role], seen.folder, count, len(test.indices)))
    if report.shared and not allow_overlap:
        raise TemnnError(
            f"the test set {test.folder} is not unseen: " + "; ".join(s.describe() for s in report.shared)
            + ". Make the test set from its own dataset folder with another seed (e.g. `temnn structures mos2 "
            "data/test 200 --seed 1`; temnn structures uses --seed 0 unless told otherwise), or pass "
            "--allow-overlap (allow_overlap=True) to evaluate anyway; the summary then reports the overlap"
        )
    return report


def _same_source(a: SampleSet, b: SampleSet) -> str:
    if a.dataset == b.dataset:
        return f"both are drawn from the dataset folder {a.dataset}"
    return f"both made by {a.describe()}"


def _canonical(value: Any) -> Any:
    """JSON value with tuples as lists and integral floats as ints (``1.0`` and ``1`` are one argument)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _runs(indices: Sequence[int]) -> list[list[int]]:
    """Sorted indices as inclusive ``[first, last]`` runs of consecutive numbers."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs
