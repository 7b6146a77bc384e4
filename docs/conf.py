"""Sphinx configuration for the skastro documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("OMP_NUM_THREADS", "2")

import skastro

project = "skastro"
author = "the skastro developers"
copyright = "2026, the skastro developers"
version = release = skastro.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's generated metadata-routing setters and inherited score()
    # refer to its own glossary, which is not reachable offline
    "exclude-members": "set_fit_request,set_score_request,set_predict_request,"
    "set_transform_request,set_partial_fit_request,set_predict_proba_request,"
    "set_inverse_transform_request,score",
}
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "skastro"

intersphinx_mapping = {}  # no network at build time
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
}
suppress_warnings = ["config.cache"]
