"""Sphinx configuration for pymod's documentation.

Build (what CI runs, from the repository root, after ``pip install -e '.[docs]'``
so that the cffi extensions exist)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The manual pages come from the same pages (``pymod(1)`` and one per
command, ``pymod-info(1)`` ...)::

    python -m sphinx -W --keep-going -b man docs docs/_build/man
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

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
# Every cross-reference must resolve (nitpicky, and ``-W`` on the command
# line makes a broken one an error), except to the objects of other projects:
# without intersphinx Sphinx knows nothing of the standard library's or
# numpy's modules and classes (autodoc writes the classes into the
# signatures).  Builtins and ``typing`` names resolve by themselves.
# pymod's own names are never listed here: a broken ``pymod.*`` reference is
# a docstring to fix.
nitpicky = True
nitpick_ignore_regex = [
    ("py:class", r"(numpy|np)\.[\w.]+"),
    ("py:class", r"(numpy\.typing\.)?NDArray"),
    ("py:class", r"collections\.abc\.\w+"),
    ("py:class", r"os\.PathLike|mmap\.mmap|argparse\.\w+"),
    # A NamedTuple's generated __new__ cannot see its module's imports, so
    # autodoc leaves pathlib's Path there unqualified.
    ("py:class", r"(pathlib\.)?Path"),
    ("py:mod", r"struct|mmap|os|pathlib|argparse|collections\.abc|numpy(\.\w+)*"),
]
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

# Sphinx's man builder: pymod(1) from the command-line index, then a page
# per command from its own page (the one text the HTML shows too).
_COMMANDS = {
    "info": "show module information, as modinfo does",
    "deps": "write modules.dep for a modules tree, as depmod does",
    "load": "load modules into a simulated kernel and print /proc/modules",
    "demo": "load the shipped sample modules and show one failure of each kind",
    "symbolize": "annotate kernel addresses in oops, perf and bpftrace text",
    "sign": "append a module signature, as scripts/sign-file does",
    "certs": "list the signing certificates built into a kernel image",
    "verify": "verify module signatures against trusted certificates",
    "check": "will these modules load on that kernel, and if not, why",
    "posture": "which module-loading security properties a configuration enforces",
}
man_pages = [("cli/index", "pymod", "the Linux kernel's module subsystem in user space",
              [author], 1)] + [
    ("cli/%s" % name, "pymod-%s" % name, what, [author], 1) for name, what in _COMMANDS.items()]
man_show_urls = False


def _plain_internal_links(app: Any, doctree: Any, docname: str) -> None:
    """In a manual page a link to another page of these docs is its text:
    docutils 0.22's man writer would print the target (``<#module-...>``)."""
    if app.builder.name != "man":
        return
    from docutils import nodes

    for ref in list(doctree.findall(nodes.reference)):
        uri = ref.get("refuri", "")
        if "://" not in uri and not uri.startswith("mailto:"):
            ref.replace_self(nodes.inline("", "", *ref.children))


def _factory_defaults(app: Any, what: str, name: str, obj: Any, options: Any,
                      signature: str | None, return_annotation: str | None) -> Any:
    """A dataclass field's ``default_factory`` shows as ``<factory>``, which
    the signature parser cannot read: it then splits the signature at every
    comma and cross-references the pieces (``dict[int``).  Show the factory
    called (``list()``), or ``...`` for a lambda."""
    if not signature or "<factory>" not in signature or not dataclasses.is_dataclass(obj):
        return None
    for f in dataclasses.fields(obj):
        if f.init and f.default_factory is not dataclasses.MISSING:
            made = getattr(f.default_factory, "__name__", "<lambda>")
            made = "..." if made == "<lambda>" else made + "()"
            signature = signature.replace("<factory>", made, 1)
    return signature, return_annotation


def setup(app: Any) -> dict[str, Any]:
    app.connect("doctree-resolved", _plain_internal_links)
    app.connect("autodoc-process-signature", _factory_defaults)
    return {"parallel_read_safe": True}
