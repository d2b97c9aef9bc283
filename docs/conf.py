"""Sphinx configuration of vdsotime's documentation.

Build it from the repository root, with the package and its docs extra installed
(``pip install '.[docs]'``):

    sphinx-build -W --keep-going -b html docs docs/_build/html

The API and command-line pages are made from the *installed* package: its docstrings
and its argument parser. Nothing here reaches the network.
"""

import os
import sys
from importlib.metadata import version as _version

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

project = "vdsotime"
author = "The vdsotime developers"
copyright = "the vdsotime developers; MIT license"
release = _version("vdsotime")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "vdsotime_docs",  # docs/_ext: --help of every command, the pytest options
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]

# Headings get anchors, so that pages link to each other's sections (page.md#a-heading).
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings say what each parameter takes
autodoc_default_options = {"members": True}

html_theme = "alabaster"
html_title = f"vdsotime {release}"
html_static_path = []
html_theme_options = {"description": "The kernel's fastest clocks for Python"}
