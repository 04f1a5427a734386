"""Every third-party package the source imports is declared in pyproject.toml.

A package that happens to be installed (left on a machine, or pulled in by another package)
hides a missing declaration until someone installs temnn on a fresh machine. This test reads
the imports of every module in ``src/temnn`` and ``tests``, maps each to the distribution that
provides it (``importlib.metadata.packages_distributions``) and checks that the distribution
is declared: the core dependencies for ``src/temnn``, plus the ``gui`` extra for
``src/temnn/napari`` and the ``dev`` extra for the tests. Imports inside a
``try: ... except ImportError`` block are optional by construction and are not required.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Test modules and packages that tests import from each other (pytest puts their folders on
# sys.path), e.g. ``from analysis.test_io import REAL_EM``.
LOCAL = {p.stem for p in (ROOT / "tests").rglob("*.py")} | {p.name for p in (ROOT / "tests").rglob("*") if p.is_dir()}


def _name(requirement: str) -> str:
    """Normalised distribution name of a requirement string (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.\-]+", requirement).group()).lower()


def _requirements(*extras: str) -> set[str]:
    names = {_name(r) for r in PROJECT["dependencies"]}
    for extra in extras:
        names |= {_name(r) for r in PROJECT["optional-dependencies"][extra]}
    # The packages that a declared extra brings, e.g. dask[distributed] → distributed,
    # rosettasciio[hdf5] → h5py: the extra is the declaration.
    for requirement in list(PROJECT["dependencies"]) + [r for e in extras for r in PROJECT["optional-dependencies"][e]]:
        match = re.match(r"([A-Za-z0-9_.\-]+)\[([^\]]+)\]", requirement)
        if not match:
            continue
        for extra in match.group(2).split(","):
            for sub in metadata.requires(match.group(1)) or []:
                if re.search(rf"extra\s*==\s*['\"]{re.escape(extra.strip())}['\"]", sub):
                    names.add(_name(sub))
    return names


def _optional_nodes(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``try`` blocks that catch ImportError/ModuleNotFoundError."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
        if any("ImportError" in c or "ModuleNotFoundError" in c for c in caught):
            for stmt in node.body:
                optional |= {id(n) for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return optional


def _third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    optional = _optional_nodes(tree)
    modules: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in {"temnn", "__future__"} | LOCAL}


def _undeclared(files: list[Path], declared: set[str], root: Path = ROOT) -> list[str]:
    providers = metadata.packages_distributions()
    problems = []
    for path in files:
        for module in sorted(_third_party_imports(path)):
            dists = {_name(d) for d in providers.get(module, [])}
            if not dists:
                problems.append(f"{path.relative_to(root)} imports '{module}', which no installed package provides")
            elif not dists & declared:
                problems.append(
                    f"{path.relative_to(root)} imports '{module}' (from {', '.join(sorted(dists))}), "
                    "which pyproject.toml does not declare"
                )
    return problems


def test_package_imports_are_declared():
    src = ROOT / "src" / "temnn"
    core = [p for p in src.rglob("*.py") if "napari" not in p.relative_to(src).parts]
    problems = _undeclared(core, _requirements())
    assert not problems, "\n".join(problems)


def test_napari_plugin_imports_are_declared_in_the_gui_extra():
    problems = _undeclared(sorted((ROOT / "src" / "temnn" / "napari").rglob("*.py")), _requirements("gui"))
    assert not problems, "\n".join(problems)


def test_test_imports_are_declared_in_the_dev_extra():
    files = [p for p in (ROOT / "tests").rglob("*.py") if "napari" not in p.relative_to(ROOT / "tests").parts]
    problems = _undeclared(files, _requirements("dev"))
    assert not problems, "\n".join(problems)


def test_an_undeclared_import_is_reported(tmp_path):
    # The check itself can fail: a module importing a package that is installed but not declared.
    module = tmp_path / "uses_pytest.py"
    module.write_text("import numpy\nimport pytest\ntry:\n    import hyperspy\nexcept ImportError:\n    pass\n")
    assert _undeclared([module], _requirements(), root=tmp_path) == [
        "uses_pytest.py imports 'pytest' (from pytest), which pyproject.toml does not declare"
    ]
