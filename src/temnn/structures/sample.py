"""One simulated system: its atoms, column sites and classes (the structures-stage contract)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

__all__ = ["Sample"]


@dataclass
class Sample:
    """A randomised atomic system ready for multislice.

    Attributes
    ----------
    atoms
        The whole system. ``atoms.cell`` is the orthogonal simulation box [Å]; the
        beam runs along z; every atom lies inside the cell with the vacuum margin.
    sites
        (N, 2) column positions (x, y) [Å] in the cell's frame.
    classes
        (N,) integer class of each column, indexing ``class_names``.
    class_names
        Names of the classes, e.g. ``("1Mo", "2S", "1S")`` or ``("particle", "support")``.
    object_atoms
        The flake or particle without its support (same cell), or ``None`` when the
        system has no support. Its exit wave can serve as a support-free label.
    mask_classes
        Classes whose sites outline the object for a Mask label (all classes when ``None``).
    """

    atoms: Atoms
    sites: np.ndarray
    classes: np.ndarray
    class_names: tuple[str, ...]
    object_atoms: Atoms | None = None
    mask_classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.sites = np.asarray(self.sites, dtype=np.float64).reshape(-1, 2)
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(-1)
        if len(self.sites) != len(self.classes):
            raise ValueError(f"{len(self.sites)} sites but {len(self.classes)} classes")
        self.class_names = tuple(self.class_names)
