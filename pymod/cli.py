"""The ``pymod`` command line: ``info``, ``deps``, ``load`` and ``demo``.

Exit status: 0 success, 1 when something was refused or failed, 2 for a
usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Sequence

from .errors import ModuleLoadError, errno_name

USAGE = """usage: pymod COMMAND [ARGS...]

commands:
  info   show module information (like modinfo)
  deps   write modules.dep for a modules tree (like depmod)
  load   load modules into a simulated kernel and print /proc/modules
  demo   load the shipped sample modules and show one failure of each kind
"""


def _dispatch(module: str, argv: Sequence[str]) -> int:
    """Hand ``argv`` to ``pymod.<module>.main``; a missing piece is a clean error."""
    try:
        mod = importlib.import_module("pymod." + module)
    except ImportError as e:
        print("pymod: the %r command is not available: %s" % (module, e), file=sys.stderr)
        return 1
    return int(mod.main(list(argv)) or 0)


def _failure_dict(path: str, err: ModuleLoadError) -> dict:
    return {"file": path, "module": err.module, "errno": err.errno,
            "errno_name": errno_name(err.errno), "stage": err.stage, "message": err.strerror}


def _modules_dict(kernel) -> list[dict]:
    return [{"name": m.name, "size": m.total_size, "refcnt": m.refcount,
             "holders": [h.name for h in reversed(m.holders)], "state": m.state.name,
             "address": "0x%016x" % m.mem[0].base, "taints": m.taint_letters}
            for m in reversed(kernel.modules)]


def _build_kernel(args):
    from .config import Config
    from .kernel import Kernel

    if args.config:
        config = Config.from_kconfig(args.config, release=args.release)
    else:
        config = Config() if args.release is None else Config(release=args.release)
    if args.struct_module_size is not None:
        config = config.replace(struct_module_size=args.struct_module_size)
    elif args.config:
        # Read the target's sizeof(struct module) off one of its own modules.
        from .treeload import module_files

        for target in args.modules:
            files = module_files(target) if os.path.isdir(target) else [target]
            if files:
                config = config.replace(struct_module_size=Config.struct_module_size_of(files[0]))
                break
    symvers = args.symvers
    return Kernel(config, symvers=symvers, sig_enforce=args.sig_enforce) if (
        symvers or args.config or args.release) else Kernel(sig_enforce=args.sig_enforce)


def _progress_line(what: str):
    """A ``progress(done, total)`` callback drawing one line on a terminal
    stderr (cleared when done), or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def progress(done: int, total: int) -> None:
        if done == total:
            sys.stderr.write("\r\033[K")
        elif done % 25 == 0:
            sys.stderr.write("\r%s %d/%d modules" % (what, done, total))
        sys.stderr.flush()
    return progress


def cmd_load(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="pymod load",
                                 description="Load modules (dependencies first) into a "
                                             "simulated kernel and print /proc/modules.")
    ap.add_argument("modules", nargs="+", metavar="MODULES_DIR|FILE")
    ap.add_argument("--config", help="the target kernel's .config (default: built-in kernel)")
    ap.add_argument("--symvers", help="the target kernel's Module.symvers")
    ap.add_argument("--release", help="kernel release (default: from --config's file name)")
    ap.add_argument("--struct-module-size", type=int,
                    help="sizeof(struct module) (default: read off the first module)")
    ap.add_argument("--sig-enforce", action="store_true", help="module.sig_enforce=1")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("-j", "--jobs", type=int, help="processes reading files (default: all cores)")
    args = ap.parse_args(argv)
    for target in args.modules:
        if not os.path.exists(target):
            print("pymod load: %s: No such file or directory" % target, file=sys.stderr)
            return 1
    from .treeload import load_all

    try:
        kernel = _build_kernel(args)
    except (OSError, ValueError) as e:
        print("pymod load: %s" % e, file=sys.stderr)
        return 1
    result = load_all(kernel, args.modules, jobs=args.jobs, progress=_progress_line("loading"))
    if args.json:
        json.dump({"proc_modules": kernel.proc_modules(), "modules": _modules_dict(kernel),
                   "tainted": kernel.tainted, "notices": kernel.notices,
                   "failures": [_failure_dict(p, e) for p, e in result.failures]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(kernel.proc_modules())
        for notice in kernel.notices:
            print("pymod load: notice: %s" % notice, file=sys.stderr)
        for path, err in result.failures:
            print("pymod load: %s: %s (-%d): %s" % (path, errno_name(err.errno), err.errno,
                                                      err.strerror), file=sys.stderr)
    return 0 if not result.failures else 1


def cmd_demo(argv: Sequence[str]) -> int:
    from .demo import run_demo

    ap = argparse.ArgumentParser(prog="pymod demo",
                                 description="Load the shipped sample modules into the "
                                             "built-in default kernel.")
    ap.parse_args(argv)
    return run_demo(sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "info":
            return _dispatch("modinfo", rest)
        if command == "deps":
            return _dispatch("depmod", rest)
        if command == "load":
            return cmd_load(rest)
        if command == "demo":
            return cmd_demo(rest)
    except BrokenPipeError:
        return 1
    print("pymod: unknown command %r\n%s" % (command, USAGE), file=sys.stderr, end="")
    return 2
