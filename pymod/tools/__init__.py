"""The ``pymod`` command line: one module per command, each owning its argparse.

``info`` (modinfo), ``deps`` (depmod), ``load`` (insmod of whole trees into a
simulated kernel), ``symbolize`` (kernel addresses in stack traces -> ``%pS``),
``sign``, ``certs``, ``verify``, ``check``, ``posture`` and ``demo``.  Exit
status: 0 success, 1 when something was refused or failed, 2 for a usage
error (argparse's convention).  ``pymod --version`` prints the version; a
mistyped command gets the nearest one suggested.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

USAGE = """usage: pymod [--version] COMMAND [ARGS...]

commands:
  info       show module information (like modinfo)
  deps       write modules.dep for a modules tree (like depmod)
  load       load modules into a simulated kernel and print /proc/modules
  demo       load the shipped sample modules and show one failure of each kind
  symbolize  annotate kernel addresses in oops, perf and bpftrace text with %pS
  sign       append a module signature (like scripts/sign-file)
  certs      list (and extract) the signing certificates built into a vmlinuz
  verify     verify module signatures against trusted certificates
  check      will these modules load on that kernel? every reason if not
  posture    which module-loading security properties a configuration enforces

Each command has its own --help.
"""

COMMANDS = ("info", "deps", "load", "demo", "symbolize", "sign", "certs", "verify", "check",
            "posture")
# What a kmod user may type first: the command that does its job.
KMOD_NAMES = {"modinfo": "info", "depmod": "deps", "insmod": "load", "modprobe": "load",
              "sign-file": "sign", "extract-cert": "certs"}


def main(argv: Sequence[str] | None = None) -> int:
    """``pymod COMMAND ARGS...``: hand ``ARGS`` to ``pymod.tools.COMMAND.main``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from pymod import __version__

        sys.stdout.write("pymod %s\n" % __version__)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print("pymod: unknown command %r%s\n%s" % (command, did_you_mean(command), USAGE),
              file=sys.stderr, end="")
        return 2
    tool = importlib.import_module("pymod.tools." + command)
    try:
        return int(tool.main(rest) or 0)
    except BrokenPipeError:
        return 1


def did_you_mean(command: str) -> str:
    """``"; did you mean 'load'?"`` for the command nearest a mistyped one
    (difflib's ratio, as git and pip suggest), or ""."""
    import difflib

    if command in KMOD_NAMES:
        return "; did you mean %r?" % KMOD_NAMES[command]
    close = difflib.get_close_matches(command.lower(), COMMANDS, n=2, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean %s?" % " or ".join(repr(c) for c in close)
