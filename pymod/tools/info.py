"""``pymod info``: kmod's ``modinfo FILE|NAME…`` (the model is :mod:`pymod.kmod.modinfo_output`).

A NAME that is not a file is looked up as modinfo does, in
``BASEDIR/lib/modules/RELEASE`` (``-b``, ``-k``; default ``/`` and the
running kernel's release; or ``--kernel-dir``): in its ``modules.dep``, or
by walking the tree when it has none, then among the built-in modules
(``modules.builtin.modinfo``: ``filename: (builtin)``).

Output is byte-identical to Debian's kmod 30 for module files; ``--json``
prints one object per file, repeated keys as lists, and the signature's hex
fields (``sig_key``, ``signature``) on one line: kmod's line breaks (a
newline and two tabs every 20 bytes) are its text layout, not the value.

kmod prints every byte of a value as it is.  Tab and newline stay (real
modules have them in descriptions and parameter texts: xen-pciback,
dm-queue-length, intel_powerclamp); any other control byte (ESC, BEL, CR
...) is written ``\\xNN``, as is every control byte of a file name: a
module's strings cannot restyle the terminal.  So a value with a newline
prints over two lines, as with modinfo.
"""

from __future__ import annotations

import argparse
import errno
import mmap
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pymod.elf.compression import decompressed, map_file
from pymod.errors import PymodError
from pymod.kmod.modinfo_output import format_info, module_info
from pymod.tools.common import dump_json, terminal_safe
from pymod.tools.kernelopts import add_kernel_options, find_target, refuse_conflicts

_ENC = "surrogateescape"


def _absolute(path: str) -> str:
    """kmod's path_make_absolute_cwd: $PWD (when it is the cwd) + "/" + path."""
    if path.startswith("/"):
        return path
    cwd = os.environ.get("PWD")
    try:
        if not cwd or not os.path.samestat(os.stat(cwd), os.stat(".")):
            cwd = os.getcwd()
    except OSError:
        cwd = os.getcwd()
    return cwd + "/" + path


def _modname(path: str) -> str:
    base = os.path.basename(path)
    return base.split(".", 1)[0].replace("-", "_")


def _read_image(path: str) -> bytes | mmap.mmap:
    """The decompressed file; an uncompressed one is mapped, not read: kmod's
    reader touches only the headers, ``.modinfo`` and the signature."""
    return decompressed(map_file(path))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pymod info",
        description="Show information about kernel module files, as kmod's modinfo does.")
    p.add_argument("-F", "--field", dest="field", help="print only FIELD's values")
    for flag, long, value in (("-a", "--author", "author"), ("-d", "--description", "description"),
                              ("-l", "--license", "license"), ("-p", "--parameters", "parm"),
                              ("-n", "--filename", "filename")):
        p.add_argument(flag, long, dest="field", action="store_const", const=value,
                       help="print only '%s'" % value)
    p.add_argument("-0", "--null", action="store_true", help="end each entry with NUL, not newline")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list, one object per file (repeated keys as lists)")
    add_kernel_options(p, config=False, symvers=False, default_kernel=False, certs=False,
                       vmlinuz=False, basedir=True)
    p.add_argument("files", nargs="+", metavar="FILE|NAME",
                   help="module file (.ko, .ko.gz, .ko.xz, .ko.zst) or module name")
    return p


# modules.dep and modules.builtin.modinfo of a whole distribution kernel
# are well under a MiB each.
_MAX_INDEX = 64 << 20


def _index(path: str) -> bytes | None:
    from pymod.elf.compression import read_file

    try:
        return read_file(path, _MAX_INDEX) if os.path.isfile(path) else None
    except OSError:
        return None


class _Tree:
    """One kernel's modules tree, read as modinfo looks a NAME up in it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.dir = find_target(args.kernel_dir, args.release, args.basedir or "/").modules_dir
        self._files: dict[str, str] | None = None
        self._builtin: dict[str, list[tuple[str, str]]] | None = None

    def module_file(self, name: str) -> str | None:
        """NAME's file (``-`` and ``_`` alike): from modules.dep, else the walk."""
        if self.dir is None:
            return None
        if self._files is None:
            self._files = {}
            dep = _index(os.path.join(self.dir, "modules.dep"))
            if dep is not None:
                paths = [ln.split(b":", 1)[0].decode("utf-8", _ENC)
                         for ln in dep.splitlines() if b":" in ln]
            else:
                from pymod.kmod.tree import module_files

                paths = sorted(module_files(self.dir))
            for rel in paths:
                self._files.setdefault(_modname(rel), os.path.join(self.dir, rel))
        return self._files.get(name.replace("-", "_"))

    def builtin(self, name: str) -> list[tuple[str, str]] | None:
        """NAME's fields in ``modules.builtin.modinfo``, in file order."""
        if self.dir is None:
            return None
        if self._builtin is None:
            self._builtin = {}
            data = _index(os.path.join(self.dir, "modules.builtin.modinfo")) or b""
            for entry in data.split(b"\0"):
                mod, dot, rest = entry.decode("utf-8", _ENC).partition(".")
                key, eq, value = rest.partition("=")
                if dot and eq:
                    self._builtin.setdefault(mod, []).append((key, value))
        return self._builtin.get(name.replace("-", "_"))


_HEX_FIELDS = ("sig_key", "signature")
_HEX_WRAPPED = re.compile(r"[0-9A-F]{2}(?::(?:\n\t\t)?[0-9A-F]{2})*")


def _json_value(key: str, value: str) -> str:
    """``value`` as JSON holds it: kmod's wrapped hex unwrapped (a module's
    own text, newlines and all, is kept as it is)."""
    if key in _HEX_FIELDS and _HEX_WRAPPED.fullmatch(value):
        return value.replace("\n\t\t", "")
    return value


def _json_object(filename: str, entries: Sequence[tuple[str, str]],
                 field: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"filename": filename}
    for key, value in entries:
        if field is not None and key != field:
            continue
        value = _json_value(key, value)
        if key in obj:
            if not isinstance(obj[key], list):
                obj[key] = [obj[key]]
            obj[key].append(value)
        else:
            obj[key] = value
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    """``pymod info [-F FIELD] [-0] [--json] FILE…``; 0 when every file was read, else 1."""
    ap = _parser()
    args = ap.parse_args(argv)
    refuse_conflicts(ap, args)
    out = sys.stdout.buffer
    sep = "\0" if args.null else "\n"
    status = 0
    objects: list[dict[str, Any]] = []
    tree: _Tree | None = None

    def err(msg: str) -> None:
        sys.stdout.flush()
        out.flush()
        sys.stderr.write("pymod info: ERROR: %s\n" % terminal_safe(msg))

    for path in args.files:
        builtin = None
        if not os.path.isfile(path):
            tree = tree or _Tree(args)
            found = tree.module_file(path)
            builtin = None if found else tree.builtin(path)
            if found is None and builtin is None:
                err("Module %s not found." % path)
                status = 1
                continue
            path = found or path
        if builtin is not None:
            _show_builtin(path.replace("-", "_"), builtin, args, objects, out, sep)
            continue
        status |= _show_file(path, args, objects, out, sep, err)
    if args.json:
        dump_json(objects, sys.stdout)
    out.flush()
    return status


def _show_file(path: str, args: argparse.Namespace, objects: list[dict[str, Any]], out: Any,
               sep: str, err: Callable[[str], None]) -> int:
    """A module file as modinfo shows it (or its JSON record); 1 when it
    could not be read."""
    filename = _absolute(path)
    try:
        entries = module_info(_read_image(path))
        error = None
    except (PymodError, OSError) as exc:
        entries, error = [], exc
    if args.json:
        obj = _json_object(filename, entries, args.field)
        if error is not None:
            obj["error"] = "could not get modinfo: %s" % os.strerror(error.errno or errno.EIO)
        objects.append(obj)
        return 1 if error is not None else 0
    if args.field == "filename":
        out.write((terminal_safe(filename) + sep).encode("utf-8", _ENC))
        return 0
    if args.field is None:
        out.write(("%-16s%s%s" % ("filename:", terminal_safe(filename), sep))
                  .encode("utf-8", _ENC))
    if error is not None:
        err("could not get modinfo from '%s': %s"
            % (_modname(path), os.strerror(error.errno or errno.EIO)))
        return 1
    shown = [(terminal_safe(k, keep_layout=True), terminal_safe(v, keep_layout=True))
             for k, v in entries]
    out.write(format_info(shown, args.field, sep, err).encode("utf-8", _ENC))
    return 0


def _show_builtin(name: str, entries: list[tuple[str, str]], args: argparse.Namespace,
                  objects: list[dict[str, Any]], out: Any, sep: str) -> None:
    """A built-in module as modinfo shows it: ``name:`` first (kmod prints
    it for built-ins only), ``filename: (builtin)``, then its fields."""
    if args.json:
        objects.append(_json_object("(builtin)", [("name", name), *entries], args.field))
        return
    if args.field in ("name", "filename"):
        text = name if args.field == "name" else "(builtin)"
        out.write((terminal_safe(text) + sep).encode("utf-8", _ENC))
        return
    if args.field is None:
        out.write(("%-16s%s%s%-16s%s%s" % ("name:", terminal_safe(name), sep,
                                           "filename:", "(builtin)", sep)).encode("utf-8", _ENC))
    shown = [(terminal_safe(k, keep_layout=True), terminal_safe(v, keep_layout=True))
             for k, v in entries]
    out.write(format_info(shown, args.field, sep).encode("utf-8", _ENC))


if __name__ == "__main__":
    sys.exit(main())
