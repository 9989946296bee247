"""``pymod deps``: depmod's ``modules.dep`` for a modules tree
(the model is :mod:`pymod.kmod.depmod`)."""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from pymod.atomicio import write_atomic
from pymod.kmod.depmod import build_deps, format_modules_dep
from pymod.tools.common import error, os_message, positive_int, write

PROG = "pymod deps"


def _progress_printer(stream: TextIO) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if done != total and done % max(1, total // 100):
            return  # about a hundred updates are enough for a terminal
        stream.write("\rpymod deps: %d/%d modules" % (done, total))
        if done == total:
            stream.write("\n")
        stream.flush()
    return show


def main(argv: Sequence[str] | None = None) -> int:
    """``pymod deps``; ``argv`` holds the arguments after ``deps``."""
    ap = argparse.ArgumentParser(
        prog="pymod deps",
        description="Write modules.dep for a /lib/modules/<release> tree, as depmod does.")
    ap.add_argument("modules_dir", metavar="MODULES_DIR",
                    help="the tree (with -b: a release under BASEDIR/lib/modules)")
    ap.add_argument("-b", "--basedir", metavar="BASEDIR",
                    help="root holding lib/modules/MODULES_DIR, as depmod -b")
    ap.add_argument("-o", "--output", metavar="FILE",
                    help="where to write (default MODULES_DIR/modules.dep; - for stdout)")
    ap.add_argument("-j", "--jobs", type=positive_int, default=None,
                    help="processes scanning modules (default: usable CPUs for a "
                         "compressed tree, else 1)")
    args = ap.parse_args(argv)

    top = args.modules_dir
    if args.basedir:
        top = os.path.join(args.basedir, "lib", "modules", args.modules_dir)
    try:
        if not stat.S_ISDIR(os.stat(top).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), top)
    except OSError as e:
        error(PROG, "error: " + os_message(e))
        return 1
    progress = _progress_printer(sys.stderr) if sys.stderr.isatty() else None
    try:
        deps = build_deps(top, jobs=args.jobs, progress=progress,
                          warn=lambda m: error(PROG, "warning: " + m))
    except OSError as e:
        error(PROG, "error: " + os_message(e))
        return 1
    text = format_modules_dep(deps)
    out = args.output or os.path.join(top, "modules.dep")
    try:
        if out == "-":
            write(sys.stdout, text)
        else:
            # like depmod: readers of the old file never see a half-written one
            write_atomic(out, text.encode("utf-8", "surrogateescape"))
    except OSError as e:
        error(PROG, "error: cannot write %s: %s" % (out, e.strerror))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
