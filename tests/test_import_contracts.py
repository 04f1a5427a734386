"""Import contracts of the package layout (docs/design.md, "Package layout"), checked on the source with AST.

Parts, left to right; a module may import only its own part and parts to its left:

    base (errors, _random, checks, units, aberrations, parameters) → structures → simulate → io → nn
    → analysis → workflows → cli → napari

Every import counts: module level, inside functions (lazy) and under TYPE_CHECKING, plus the
module names that ``temnn.cli`` registers as strings. The top-level facade ``temnn/__init__.py``
(lazy string table of public names) is exempt.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "temnn"
LAYERS = ("base", "structures", "simulate", "io", "nn", "analysis", "workflows", "cli", "napari")
# (importer, imported) pairs allowed against the order, each with its reason; lazy imports only.
EXCEPTIONS = {
    ("temnn.parameters", "temnn.io.files"): "Parameters.load/save read and write the parameters file",
}
# Pairs forbidden although in order: the GUI calls workflows and analysis, never the command line.
FORBIDDEN = {("napari", "cli"): "napari widgets call temnn.workflows, not the argparse layer"}
# Third-party modules that read or write files: not for the pure parts.
FILE_FORMATS = ("tifffile", "rsciio", "h5py", "mrcfile", "imageio", "PIL", "safetensors")
PURE_PARTS = ("base", "structures", "simulate")
GUI = ("napari", "magicgui", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt", "psygnal")


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module
    imported: str  # dotted module (ours or third-party)
    path: Path
    line: int
    lazy: bool  # inside a function
    root: Path

    def __str__(self) -> str:
        return f"{self.path.relative_to(self.root.parent)}:{self.line}: {self.importer} imports {self.imported}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str, root: Path) -> str:
    bits = module.split(".")
    if len(bits) == 1 or not (root / bits[1]).is_dir():
        return "base"
    return bits[1]


def import_edges(root: Path = PACKAGE) -> list[Edge]:
    """Every import in every module under ``root`` (a ``temnn`` package folder)."""
    modules = {module_name(p, root) for p in root.rglob("*.py")}
    edges = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path, root)
        if importer == root.name:  # the lazy facade temnn/__init__.py
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        lazy = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                for n in ast.walk(f)}
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules
                  and node.value.startswith(root.name + ".")):
                targets = [node.value]  # importlib.import_module("temnn.cli.track") tables
            else:
                continue
            for target in dict.fromkeys(targets):
                edges.append(Edge(importer, target, path, node.lineno, id(node) in lazy, root))
    return edges


def ours(edge: Edge, root: Path) -> bool:
    return edge.imported == root.name or edge.imported.startswith(root.name + ".")


def layer_violations(root: Path = PACKAGE) -> list[str]:
    found = []
    for e in import_edges(root):
        if not ours(e, root) or e.imported == root.name:
            continue
        src, dst = part_of(e.importer, root), part_of(e.imported, root)
        if LAYERS.index(dst) <= LAYERS.index(src) and (src, dst) not in FORBIDDEN:
            continue
        reason = EXCEPTIONS.get((e.importer, e.imported))
        if reason and e.lazy:
            continue
        why = FORBIDDEN.get((src, dst)) or f"parts import only to their left, {' → '.join(LAYERS)}"
        found.append(f"{e} ({src} may not import {dst}: {why})")
    return found


def module_cycles(root: Path = PACKAGE) -> list[list[str]]:
    """Import-time (module-level) cycles between our modules (strongly connected components > 1)."""
    graph: dict[str, set[str]] = {}
    for e in import_edges(root):
        if ours(e, root) and not e.lazy and e.imported != e.importer and e.imported != root.name:
            graph.setdefault(e.importer, set()).add(e.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def third_party(prefixes: tuple[str, ...], root: Path = PACKAGE) -> list[Edge]:
    return [e for e in import_edges(root) if e.imported.split(".")[0] in prefixes]


# --------------------------------------------------------------------------------- contracts
def test_parts_import_only_to_their_left():
    assert layer_violations() == []


def test_no_import_cycles_between_modules():
    assert module_cycles() == []


def test_pure_parts_touch_no_file_formats():
    bad = [e for e in third_party(FILE_FORMATS) if part_of(e.importer, PACKAGE) in PURE_PARTS]
    assert [str(e) for e in bad] == []


def test_argparse_only_in_cli():
    bad = [e for e in third_party(("argparse",)) if part_of(e.importer, PACKAGE) != "cli"]
    assert [str(e) for e in bad] == []


def test_gui_toolkits_only_in_napari():
    bad = [e for e in third_party(GUI) if part_of(e.importer, PACKAGE) != "napari"]
    assert [str(e) for e in bad] == []


def test_every_part_is_known():
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert parts <= set(LAYERS), f"add new parts to LAYERS in this test and to docs/design.md: {parts - set(LAYERS)}"


# ------------------------------------------------------------------- the checker can fail
def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A small package with the same parts and one correct import in each direction."""
    root = tmp_path / "temnn"
    write(root, "__init__.py", "")
    write(root, "errors.py", "class TemnnError(Exception): ...\n")
    for part in LAYERS[1:]:
        write(root, f"{part}/__init__.py", "")
    write(root, "simulate/optics.py", "from ..errors import TemnnError\nfrom ..structures import sites\n")
    write(root, "structures/sites.py", "import numpy\n")
    write(root, "cli/track.py", "import argparse\nfrom ..workflows import track\n")
    write(root, "workflows/track.py", "from ..analysis import tracking\n")
    write(root, "analysis/tracking.py", "")
    return root


def test_checker_passes_a_correct_package(toy):
    assert layer_violations(toy) == [] and module_cycles(toy) == []


@pytest.mark.parametrize("relative, line, expected", [
    ("structures/sites.py", "from ..simulate import optics", "structures may not import simulate"),
    ("simulate/labels.py", "def f():\n    from ..io import files", "simulate may not import io"),
    ("nn/tiling.py", "from temnn.analysis import tracking", "nn may not import analysis"),
    ("cli/__init__.py", "MODULES = ('temnn.napari.widgets',)", "cli may not import napari"),
    ("napari/widgets.py", "from ..cli import track", "napari may not import cli"),
])
def test_checker_reports_an_import_to_the_right(toy, relative, line, expected):
    write(toy, "io/files.py", "")
    write(toy, "napari/widgets.py", "")
    write(toy, relative, line + "\n")
    found = layer_violations(toy)
    assert len(found) == 1 and expected in found[0] and relative in found[0]


def test_checker_reports_a_module_cycle(toy):
    write(toy, "analysis/a.py", "from . import b\n")
    write(toy, "analysis/b.py", "from . import a\n")
    assert module_cycles(toy) == [["temnn.analysis.a", "temnn.analysis.b"]]


def test_checker_reports_argparse_outside_cli(toy):
    write(toy, "simulate/optics.py", "import argparse\n")
    bad = [e for e in third_party(("argparse",), toy) if part_of(e.importer, toy) != "cli"]
    assert [e.importer for e in bad] == ["temnn.simulate.optics"]
