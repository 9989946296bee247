"""Sphinx configuration for pymod's documentation.

Build (what CI runs, from the repository root, after ``pip install -e '.[docs]'``
so that the cffi extensions exist)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys

# Document the working tree's package (with an editable install this is the
# same code the installed ``pymod`` runs).
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

project = "pymod"
author = "the pymod developers"
copyright = "pymod developers, MIT licence"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# Nothing is fetched from the network: no intersphinx, no remote images.
# Unresolved cross-references are not errors (nitpicky off); everything else
# that Sphinx reports is, through ``-W`` on the command line.
nitpicky = False
suppress_warnings: list[str] = []

# The docstrings are reStructuredText with a few Google-style sections.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

primary_domain = "py"

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

html_theme = "alabaster"
html_title = "pymod %s" % release
html_static_path: list[str] = []
html_theme_options = {
    "description": "The Linux kernel's module subsystem contract in user space",
    "fixed_sidebar": True,
}
