"""Sphinx configuration of the temnn documentation.

Three pages are generated from the code at build time, so they cannot drift from it:
the parameters-file reference (from ``temnn.parameters.FIELD_UNITS`` and the
``Parameters`` dataclass), the API index (from ``temnn.__all__``) and the command
reference (sphinx-argparse over ``temnn.cli.build_parser``). The notebooks in
``notebooks/`` are executed by MyST-NB during the build.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import temnn  # noqa: E402
from _generate import write_generated_pages  # noqa: E402

write_generated_pages(HERE)

project = "temnn"
author = "temnn developers"
copyright = "temnn developers"
release = version = temnn.__version__

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinxarg.ext",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_generated", "**.ipynb_checkpoints", "jupyter_execute"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks: executed at build time, from scratch, stopping the build on any error.
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc renders the types from the docstrings
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # offline build: no inventories are downloaded

html_theme = "alabaster"
html_title = f"temnn {version}"
html_static_path: list[str] = []
