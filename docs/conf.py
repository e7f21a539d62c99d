"""Sphinx configuration of the skgn documentation (builds offline)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import skgn  # noqa: E402

project = "skgn"
author = "the skgn developers"
release = skgn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# No intersphinx: the build must work offline. Cross-references into scikit-learn,
# NumPy and SciPy docstrings then have no target; they render as plain text.
suppress_warnings = ["ref.ref", "ref.python"]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "download_all_examples": False,
}

templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
