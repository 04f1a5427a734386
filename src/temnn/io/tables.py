"""Tidy tables (lists of row dictionaries) written as CSV files."""

from __future__ import annotations

import csv
import os
from typing import Any, Mapping, Sequence

from .files import atomic_path

__all__ = ["write_csv"]


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write a table to a CSV file atomically.

    Parameters
    ----------
    rows
        One dictionary per row; the columns are all keys, in the order first seen.
        A missing value is written as an empty field.
    path
        Output file (``.csv``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "areas.csv"
    >>> write_csv([{"id": 1, "area_nm2": 4.5}, {"id": 2, "frame": 3}], path)
    >>> print(path.read_text(encoding="utf-8"), end="")
    id,area_nm2,frame
    1,4.5,
    2,,3
    """
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
            writer.writeheader()
            writer.writerows(rows)
