"""The on-disk data set: folder layout, manifest, readers and resumable generation.

Layout (DESIGN.md, "Contracts between stages"); ``NNNNN`` is the sample index,
zero-padded to five digits::

    DATA/manifest.json          generator + arguments, seed, wave settings (and how
                                the slice thickness was chosen, when it was),
                                package versions, sample count
    DATA/structures/NNNNN.traj  ASE atoms (positions in Å, cell, numbers)
    DATA/sites/NNNNN.npz        sites (N, 2) [Å], classes (N,) int64,
                                class_names (K,) str, mask_classes (M,) int64
    DATA/waves/NNNNN.npz        wave complex64 (nx, ny), or (K, nx, ny) for K
                                frozen-phonon configurations; sampling (2,)
                                float64 [Å], energy () float64 [eV],
                                optionally wave_object (same shape)

Waves follow abTEM's axis order: ``wave[..., ix, iy]`` is the exit wave at
``(ix·sx, iy·sy)`` [Å] in the cell's frame, ``sampling = (sx, sy)``. A sample
made with frozen phonons stores one wave per configuration; images average
their intensities, and its Exitwave label is their mean (the coherent wave).
``wave_object`` is the exit wave of the object without its support
(:attr:`temnn.structures.sample.Sample.object_atoms`) on the same grid; for a
sample without support it equals ``wave``.

A sample's files are written in the order structure, sites, wave, each
atomically, so a sample is finished exactly when its wave file exists; a re-run
skips finished samples and redoes the others, with the same bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from .files import _json_default, output_folder, read_json, save_npz, write_json
from ..errors import TemnnError
from ..simulate.waves import ExitWave, WaveSettings

if TYPE_CHECKING:
    from ase import Atoms

    from ..structures.sample import Sample

__all__ = [
    "Dataset",
    "start_manifest",
    "finish_manifest",
    "load_wave",
    "load_sites",
    "load_mask_classes",
    "save_wave",
    "save_sites",
    "describe_generator",
    "MANIFEST_FORMAT",
]

MANIFEST_FORMAT = "temnn-dataset/1"
_IDENTITY_KEYS = ("format", "generator", "seed", "wave_settings", "store_object_wave", "wave_function")
_VERSIONED_PACKAGES = ("temnn", "abtem", "ase", "numpy", "torch")
_SAMPLE_FILE = re.compile(r"^(\d{5,})\.npz$")


class Dataset:
    """A data set folder: paths of its files and the finished samples.

    Parameters
    ----------
    root : str or os.PathLike
        The folder (``DATA``).

    Examples
    --------
    >>> ds = Dataset("DATA")
    >>> ds.wave_path(7).as_posix()
    'DATA/waves/00007.npz'
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r})"

    @property
    def manifest_path(self) -> Path:
        """``DATA/manifest.json``."""
        return self.root / "manifest.json"

    def structure_path(self, index: int) -> Path:
        """``DATA/structures/NNNNN.traj``: the ASE atoms of sample ``index``."""
        return self.root / "structures" / f"{_index(index):05d}.traj"

    def sites_path(self, index: int) -> Path:
        """``DATA/sites/NNNNN.npz``: column sites [Å], classes and class names."""
        return self.root / "sites" / f"{_index(index):05d}.npz"

    def wave_path(self, index: int) -> Path:
        """``DATA/waves/NNNNN.npz``: the exit wave, written last (marks the sample finished)."""
        return self.root / "waves" / f"{_index(index):05d}.npz"

    def is_finished(self, index: int) -> bool:
        """True when all files of sample ``index`` exist (its wave file is written last)."""
        return self.wave_path(index).exists()

    def indices(self) -> list[int]:
        """Sorted indices of the finished samples."""
        folder = self.root / "waves"
        if not folder.is_dir():
            return []
        found = (_SAMPLE_FILE.match(name) for name in os.listdir(folder))
        return sorted(int(m.group(1)) for m in found if m)

    def __len__(self) -> int:
        return len(self.indices())

    def manifest(self) -> dict[str, Any]:
        """The manifest; :class:`TemnnError` when the folder is not a data set."""
        if not self.manifest_path.exists():
            raise TemnnError(
                f"{self.root}: not a temnn data set (no manifest.json); create one with `temnn structures ...`"
            )
        return read_json(self.manifest_path)

    def wave_settings(self) -> WaveSettings:
        """The :class:`WaveSettings` recorded in the manifest."""
        return WaveSettings.from_dict(self.manifest()["wave_settings"])

    def load_structure(self, index: int) -> Atoms:
        """The ASE atoms of sample ``index``."""
        import ase.io

        return ase.io.read(_existing(self.structure_path(index)))

    def load_wave(self, index: int, *, object_only: bool = False) -> ExitWave:
        """The exit wave of sample ``index`` (see :func:`load_wave`)."""
        return load_wave(self.wave_path(index), object_only=object_only)

    def load_sites(self, index: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Sites [Å], classes and class names of sample ``index`` (see :func:`load_sites`)."""
        return load_sites(self.sites_path(index))

    def load_mask_classes(self, index: int) -> tuple[int, ...]:
        """Classes outlining the object of sample ``index`` (see :func:`load_mask_classes`)."""
        return load_mask_classes(self.sites_path(index))


def save_wave(path: str | os.PathLike, wave: ExitWave, *, wave_object: ExitWave | None = None) -> None:
    """Write an exit wave (and optionally the support-free object's) atomically as npz.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.npz`` file.
    wave : ExitWave
        The exit wave; stored as ``wave`` complex64 (nx, ny) or (K, nx, ny) for K
        frozen-phonon configurations, ``sampling`` (sx, sy) [Å] and ``energy`` [eV].
    wave_object : ExitWave, optional
        Exit wave of the object without support, on the same grid.
    """
    arrays = {
        "wave": np.asarray(wave.array, dtype=np.complex64),
        "sampling": np.asarray(wave.sampling, dtype=np.float64),
        "energy": np.float64(wave.energy),
    }
    if wave_object is not None:
        if wave_object.gpts != wave.gpts or not np.allclose(wave_object.sampling, wave.sampling):
            raise ValueError(f"object wave grid {wave_object.gpts} differs from the wave grid {wave.gpts}")
        arrays["wave_object"] = np.asarray(wave_object.array, dtype=np.complex64)
    save_npz(path, **arrays)


def load_wave(path: str | os.PathLike, *, object_only: bool = False) -> ExitWave:
    """Read an exit wave written by :func:`save_wave`.

    Parameters
    ----------
    path : str or os.PathLike
        ``DATA/waves/NNNNN.npz``.
    object_only : bool
        Return the wave of the object without its support (``wave_object``) instead.

    Returns
    -------
    ExitWave
        ``array[..., ix, iy]`` at ``(ix·sx, iy·sy)`` [Å], (nx, ny) or (K, nx, ny) for K
        frozen-phonon configurations; ``sampling`` (sx, sy) [Å/pixel], ``energy`` [eV].
    """
    path = _existing(path)
    key = "wave_object" if object_only else "wave"
    with np.load(path, allow_pickle=False) as f:
        if key not in f.files:
            raise TemnnError(
                f"{path}: no '{key}' array (has {', '.join(f.files)}); "
                "support-free waves are stored only when the data set is generated with store_object_wave=True"
            )
        array = f[key]
        sampling = tuple(float(s) for s in f["sampling"])
        energy = float(f["energy"])
    return ExitWave(array=array, sampling=(sampling[0], sampling[1]), energy=energy)


def save_sites(path: str | os.PathLike, sample: Sample) -> None:
    """Write a sample's column sites [Å], classes, class names and mask classes atomically."""
    mask = sample.mask_classes if sample.mask_classes is not None else range(len(sample.class_names))
    save_npz(
        path,
        sites=np.asarray(sample.sites, dtype=np.float64).reshape(-1, 2),
        classes=np.asarray(sample.classes, dtype=np.int64),
        class_names=np.asarray(sample.class_names, dtype=str),
        mask_classes=np.asarray(list(mask), dtype=np.int64),
    )


def load_sites(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read ``(sites, classes, class_names)`` from ``DATA/sites/NNNNN.npz``.

    Returns
    -------
    sites : numpy.ndarray
        (N, 2) column positions (x, y) [Å] in the cell's frame.
    classes : numpy.ndarray
        (N,) int64 class of each column.
    class_names : tuple of str
        Name of each class.
    """
    with np.load(_existing(path), allow_pickle=False) as f:
        return f["sites"], f["classes"], tuple(str(name) for name in f["class_names"])


def load_mask_classes(path: str | os.PathLike) -> tuple[int, ...]:
    """Classes whose sites outline the object for a Mask label, from ``DATA/sites/NNNNN.npz``."""
    with np.load(_existing(path), allow_pickle=False) as f:
        return tuple(int(c) for c in f["mask_classes"])


def start_manifest(
    out: str | os.PathLike,
    *,
    generator: Mapping[str, Any],
    seed: int,
    wave_settings: WaveSettings,
    store_object_wave: bool,
    wave_function: Callable[..., Any] | None,
    overwrite: bool,
    wave_accuracy: Mapping[str, Any] | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """Open (or create) the data set folder ``out`` and write its manifest.

    A folder that holds a data set made with other settings (generator, seed, wave
    settings, object wave, wave function) is refused, or emptied when ``overwrite``.

    Parameters
    ----------
    out : str or os.PathLike
        Data set folder (created when missing).
    generator : mapping
        ``{"name": ..., "arguments": {...}}`` (see :func:`describe_generator`).
    seed : int
        Seed of the whole data set.
    wave_settings : WaveSettings
        Multislice settings.
    store_object_wave : bool
        Whether the object's own exit wave is stored too.
    wave_function : callable or None
        Exit-wave hook, recorded by its ``repr``.
    overwrite : bool
        Delete the samples of a data set made with other settings instead of refusing.
    wave_accuracy : mapping, optional
        How ``wave_settings`` were chosen, recorded as ``wave_accuracy`` (e.g.
        :meth:`temnn.simulate.waves.SliceConvergence.to_dict`).

    Returns
    -------
    (Dataset, dict)
        The folder and the manifest written (without ``count``; see :func:`finish_manifest`).
    """
    dataset = Dataset(output_folder(out, what="OUT"))
    manifest = {
        "format": MANIFEST_FORMAT,
        "generator": _json_ready(dict(generator)),
        "seed": int(seed),
        "wave_settings": wave_settings.to_dict(),
        "store_object_wave": bool(store_object_wave),
        "wave_function": None if wave_function is None else repr(wave_function),
        "versions": _versions(),
    }
    if wave_accuracy is not None:
        manifest["wave_accuracy"] = _json_ready(dict(wave_accuracy))
    _check_manifest(dataset, manifest, overwrite)
    finish_manifest(dataset, manifest)
    return dataset, manifest


def finish_manifest(dataset: Dataset, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` with the number of finished samples (``count``) into ``dataset``."""
    write_json(dataset.manifest_path, {**manifest, "count": len(dataset)})


def describe_generator(make_sample: Callable[..., Any]) -> dict[str, Any]:
    """``{"name", "arguments"}`` of a sample generator, for the manifest.

    A :func:`functools.partial` gives its function's dotted name and keywords (and
    positional ``args`` if any); a dataclass instance its class name and fields;
    any other callable its dotted name and no arguments.
    """
    arguments: dict[str, Any] = {}
    func: Any = make_sample
    if isinstance(make_sample, functools.partial):
        func = make_sample.func
        arguments = dict(make_sample.keywords)
        if make_sample.args:
            arguments["args"] = list(make_sample.args)
    elif dataclasses.is_dataclass(make_sample) and not isinstance(make_sample, type):
        func = type(make_sample)
        arguments = dataclasses.asdict(make_sample)
    elif not hasattr(func, "__qualname__"):
        func = type(make_sample)
    name = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
    return {"name": name, "arguments": arguments}


def _check_manifest(dataset: Dataset, manifest: dict[str, Any], overwrite: bool) -> None:
    if not dataset.manifest_path.exists():
        if dataset.indices():
            raise TemnnError(f"{dataset.root}: holds waves/ but no manifest.json; use an empty folder")
        return
    old = dataset.manifest()
    differs = [key for key in _IDENTITY_KEYS if old.get(key) != manifest[key]]
    if differs and not overwrite:
        details = "; ".join(f"{key}: folder has {_short(old.get(key))}, asked {_short(manifest[key])}" for key in differs)
        raise TemnnError(
            f"{dataset.root}: holds a data set made with other settings ({details}). "
            "Use another folder, or overwrite=True (--overwrite) to delete its samples and start afresh"
        )
    if differs:
        for folder in ("structures", "sites", "waves"):
            for path in (dataset.root / folder).glob("*"):
                if path.is_file() and re.match(r"^\.?\d{5,}\.", path.name):
                    path.unlink()
        return
    changed = {k: (old.get("versions", {}).get(k), v) for k, v in manifest["versions"].items()}
    changed = {k: pair for k, pair in changed.items() if pair[0] != pair[1]}
    if changed and dataset.indices():
        warnings.warn(
            f"{dataset.root}: resuming with other package versions than its finished samples "
            f"({', '.join(f'{k} {a} → {b}' for k, (a, b) in changed.items())}); new samples may differ in the last bits",
            stacklevel=3,
        )


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _json_ready(obj: Any) -> Any:
    try:
        return json.loads(json.dumps(obj, default=_json_default))
    except TypeError as err:
        raise TemnnError(
            f"generator arguments must be JSON values (numbers, strings, lists, dicts) to go into manifest.json: {err}"
        ) from None


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def _index(index: int) -> int:
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        raise TemnnError(f"sample index must be a non-negative integer, got {index!r}")
    return int(index)


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise TemnnError(f"{path}: file not found; is the data set finished (re-run the command to resume)?")
    return path
