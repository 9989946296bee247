"""``pymod info``: kmod's ``modinfo FILE…`` (the model is :mod:`pymod.kmod.modinfo`).

Output is byte-identical to Debian's kmod 30 for module files; ``--json``
prints one object per file, repeated keys as lists.

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
import sys
from collections.abc import Sequence
from typing import Any

from pymod.elf.compression import decompressed, map_file
from pymod.errors import PymodError
from pymod.kmod.modinfo import format_info, module_info
from pymod.tools.common import dump_json, terminal_safe

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
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="module file (.ko, .ko.gz, .ko.xz, .ko.zst)")
    return p


def _json_object(filename: str, entries: Sequence[tuple[str, str]],
                 field: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"filename": filename}
    for key, value in entries:
        if field is not None and key != field:
            continue
        if key in obj:
            if not isinstance(obj[key], list):
                obj[key] = [obj[key]]
            obj[key].append(value)
        else:
            obj[key] = value
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    """``pymod info [-F FIELD] [-0] [--json] FILE…``; 0 when every file was read, else 1."""
    args = _parser().parse_args(argv)
    out = sys.stdout.buffer
    sep = "\0" if args.null else "\n"
    status = 0
    objects: list[dict[str, Any]] = []

    def err(msg: str) -> None:
        sys.stdout.flush()
        out.flush()
        sys.stderr.write("pymod info: ERROR: %s\n" % terminal_safe(msg))

    for path in args.files:
        if not os.path.isfile(path):
            err("Module %s not found." % path)
            status = 1
            continue
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
                status = 1
            objects.append(obj)
            continue
        if args.field == "filename":
            out.write((terminal_safe(filename) + sep).encode("utf-8", _ENC))
            continue
        if args.field is None:
            out.write(("%-16s%s%s" % ("filename:", terminal_safe(filename), sep))
                      .encode("utf-8", _ENC))
        if error is not None:
            err("could not get modinfo from '%s': %s"
                % (_modname(path), os.strerror(error.errno or errno.EIO)))
            status = 1
            continue
        shown = [(terminal_safe(k, keep_layout=True), terminal_safe(v, keep_layout=True))
                 for k, v in entries]
        out.write(format_info(shown, args.field, sep, err).encode("utf-8", _ENC))
    if args.json:
        dump_json(objects, sys.stdout)
    out.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
