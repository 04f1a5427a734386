"""Pages of the documentation generated from the code at build time (run by ``conf.py``).

- ``_generated/parameters_table.md``: one row per field of the parameters file, with
  its default (from the :class:`temnn.Parameters` dataclass), its expected form and unit
  (``temnn.parameters.FIELD_UNITS``) and its meaning (the class docstring).
- ``api.rst``: the API reference, an autosummary over ``temnn.__all__`` (autosummary
  writes one page per name into ``api/``). It is written into the source folder itself
  because autosummary only generates stubs for pages it finds there.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from numpydoc.docscrape import NumpyDocString

import temnn
from temnn.parameters import FIELD_UNITS, Parameters


def write_generated_pages(docs: Path) -> None:
    """Write every generated page under the documentation folder ``docs`` (only when its text changed)."""
    (docs / "_generated").mkdir(parents=True, exist_ok=True)
    _write(docs / "_generated" / "parameters_table.md", parameters_table())
    _write(docs / "api.rst", api_page())


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _field_meanings() -> dict[str, str]:
    """Field name → description, from the ``Parameters`` section of the class docstring."""
    meanings: dict[str, str] = {}
    for entry in NumpyDocString(Parameters.__doc__ or "")["Parameters"]:
        text = " ".join(entry.desc).strip()
        for name in entry.name.split(","):
            meanings[name.strip()] = text
    return meanings


def parameters_table() -> str:
    """Markdown table of every parameters-file field."""
    meanings = _field_meanings()
    rows = ["| field | default | form and unit | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(Parameters):
        if f.name == "source":
            continue
        if f.default is dataclasses.MISSING:
            default = "*required*"
        else:
            value = list(f.default) if isinstance(f.default, tuple) else f.default
            default = f"`{json.dumps(value, ensure_ascii=False)}`"
        cells = [f"`{f.name}`", default, FIELD_UNITS[f.name], meanings.get(f.name, "")]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


API_INTRO = """\
API reference
=============

Everything a script or notebook needs is a top-level name of the ``temnn`` package
(``temnn.__all__``): import ``temnn`` and nothing deeper. Deeper module paths are not
part of the public API and may move. Units follow :doc:`physics`: Å, eV, radians
(mrad where stated), dose in e⁻/Å², sampling in Å/pixel. This page is generated from
``temnn.__all__`` and the docstrings when the documentation is built.

"""


def api_page() -> str:
    """The API page: an autosummary of the public names (``temnn.__all__``), one stub page each."""
    names = [n for n in temnn.__all__ if not n.startswith("_")]
    lines = [
        API_INTRO,
        ".. currentmodule:: temnn",
        "",
        ".. autosummary::",
        "   :toctree: api",
        "   :nosignatures:",
        "",
    ]
    lines += [f"   {name}" for name in names]
    return "\n".join(lines) + "\n"
