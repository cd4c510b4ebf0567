"""Sphinx configuration of the sklearn-bdistil documentation.

Build (warnings are errors), from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Needs the ``docs`` extra: ``pip install -e '.[docs]'``. The gallery runs every
``examples/plot_*.py`` script; ``-D plot_gallery=0`` skips running them.
"""

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the package, from this checkout

import threadpoolctl  # noqa: E402  (a scikit-learn dependency)
import torch  # noqa: E402

import sklearn_bdistil  # noqa: E402

# The gallery's examples train many tiny models. On a small, busy machine
# several BLAS / torch threads per process spin against each other and slow
# such models down many times over (measured on 2 cores: 3 s against 29 s for
# the digits teacher); one thread is fastest for models this small.
threadpoolctl.threadpool_limits(1)
torch.set_num_threads(1)

project = "sklearn-bdistil"
author = "the sklearn-bdistil developers"
copyright = "the sklearn-bdistil developers"
release = sklearn_bdistil.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    # sphinx-gallery writes these next to the sources; they are not pages
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
]

# -- the results page --------------------------------------------------------
# docs/results.md is maintained separately; the index lists it only when it
# exists, so the build passes with or without it. Files under docs/results/
# are its parts (fragments to include, figures, data), not pages of their own.
HAS_RESULTS = (DOCS / "results.md").exists()
exclude_patterns.append("results/**")


def _add_results_to_toctree(app, docname, source):
    if docname == root_doc:
        source[0] = source[0].replace(
            "   .. results placeholder", "   results" if HAS_RESULTS else "")


# -- the connections benchmark page ----------------------------------------------
# `python -m benchmarks.connections` writes docs/connections_table.md (included
# by connections.md, so not a page of its own) and the figures
# docs/images/connections_<dataset>.png. Until it has run, a missing figure is
# replaced by a note, so the build passes with or without them.
exclude_patterns.append("connections_table.md")
_IMAGE = re.compile(r"^!\[[^\]]*\]\((images/connections_[a-z_]+\.png)\)$", re.MULTILINE)


def _note_missing_connection_figures(app, docname, source):
    if docname == "connections":
        source[0] = _IMAGE.sub(
            lambda m: m.group(0) if (DOCS / m.group(1)).exists() else
            f"*(`{m.group(1)}` is missing: run `python -m benchmarks.connections`"
            " to produce it.)*", source[0])


# -- API reference -------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
# numpydoc renders the Parameters/Attributes sections; the class templates in
# _templates/autosummary list the methods themselves.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Markdown pages --------------------------------------------------------------
myst_heading_anchors = 3
# Generated Markdown (the results page includes per-data-set fragments that
# start at "###") may skip heading levels; that is not worth failing on.
suppress_warnings = ["myst.header"]
myst_enable_extensions = ["colon_fence"]

# -- gallery ---------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib",),
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 0,
    "doc_module": ("sklearn_bdistil",),
    "backreferences_dir": "api/generated/backreferences",
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-bdistil {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "user_guide": [], "algorithm": [], "connections": []}
html_static_path = []


def setup(app):
    app.connect("source-read", _add_results_to_toctree)
    app.connect("source-read", _note_missing_connection_figures)
