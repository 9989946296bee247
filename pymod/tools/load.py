"""``pymod load``: load module files or trees, dependencies first, into a
simulated kernel and print ``/proc/modules`` (``--json`` for machines; there
each module and failure also lists ``undecided``, what the module's own code
decided and pymod could not run: see :class:`pymod.loader.internal.Undecided`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pymod.errors import ModuleLoadError, errno_name
from pymod.tools.common import (
    add_trust_options,
    dump_json,
    error,
    os_message,
    positive_int,
    trusted_certificates,
    write,
)

if TYPE_CHECKING:
    # The loader (and numpy) load only once the arguments are known good:
    # `pymod load --help` or a missing file answers at once.
    from pymod.loader.batch import TreeResult
    from pymod.loader.kernel import Kernel

PROG = "pymod load"


def _failure_dict(path: str, err: ModuleLoadError) -> dict[str, Any]:
    return {"file": path, "module": err.module, "errno": err.errno,
            "errno_name": errno_name(err.errno), "stage": err.stage, "message": err.strerror,
            "undecided": [dataclasses.asdict(u) for u in err.undecided]}


def _modules_dict(kernel: Kernel) -> list[dict[str, Any]]:
    from pymod.loader.internal import MemType

    return [{"name": m.name, "size": m.total_size, "refcnt": m.refcount,
             "holders": [h.name for h in reversed(m.holders)], "state": m.state.name,
             "address": "0x%016x" % m.mem[MemType.TEXT].base, "taints": m.taint_letters,
             "undecided": [dataclasses.asdict(u) for u in m.undecided]}
            for m in reversed(kernel.modules)]


def _build_kernel(args: argparse.Namespace) -> Kernel:
    from pymod.config import Config
    from pymod.kmod.tree import module_files
    from pymod.loader.kernel import Kernel

    if args.config:
        config = Config.from_kconfig(args.config, release=args.release)
    else:
        config = Config() if args.release is None else Config(release=args.release)
    if args.struct_module_size is not None:
        config = config.replace(struct_module_size=args.struct_module_size)
    elif args.config:
        # Read the target's sizeof(struct module) off one of its own modules.
        for target in args.modules:
            files = module_files(target) if os.path.isdir(target) else [target]
            if files:
                config = config.replace(struct_module_size=Config.struct_module_size_of(files[0]))
                break
    return Kernel(config, symvers=args.symvers, sig_enforce=args.sig_enforce,
                  trusted_keys=tuple(trusted_certificates(args.cert, args.vmlinuz)))


def _progress_line(what: str) -> Callable[[int, int], None] | None:
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


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pymod load",
                                 description="Load modules (dependencies first) into a "
                                             "simulated kernel and print /proc/modules.")
    ap.add_argument("modules", nargs="+", metavar="MODULES_DIR|FILE")
    ap.add_argument("--config", help="the target kernel's .config (default: built-in kernel)")
    ap.add_argument("--symvers", help="the target kernel's Module.symvers")
    ap.add_argument("--release", help="kernel release (default: from --config's file name)")
    ap.add_argument("--struct-module-size", type=positive_int, metavar="BYTES",
                    help="sizeof(struct module) (default: read off the first module)")
    ap.add_argument("--sig-enforce", action="store_true", help="module.sig_enforce=1")
    add_trust_options(ap)
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("-j", "--jobs", type=positive_int,
                    help="threads reading files (default: the usable cores, at most 8)")
    return ap


def _print_json(kernel: Kernel, result: TreeResult) -> None:
    dump_json({"proc_modules": kernel.proc_modules(), "modules": _modules_dict(kernel),
               "tainted": kernel.tainted, "notices": kernel.notices,
               "failures": [_failure_dict(p, e) for p, e in result.failures]}, sys.stdout)


def _print_text(kernel: Kernel, result: TreeResult) -> None:
    write(sys.stdout, kernel.proc_modules())
    for notice in kernel.notices:
        error(PROG, "notice: %s" % notice)
    # /proc/modules shows them Live as if their init and parameter code
    # agreed; pymod runs none of it, so that part is not a verdict.
    undecided = sum(1 for m in kernel.modules if m.undecided)
    if undecided:
        error(PROG, "note: %d of %d modules are Live only if their own code agrees "
              "(init, parameters), which pymod does not run; --json names it"
              % (undecided, len(kernel.modules)))
    for path, err in result.failures:
        error(PROG, "%s: %s (-%d): %s" % (path, errno_name(err.errno), err.errno, err.strerror))


def _missing_target(targets: Sequence[str]) -> str | None:
    """The first target that cannot be stat'ed, as one line saying why."""
    for target in targets:
        try:
            os.stat(target)
        except OSError as e:
            return "%s: %s" % (target, e.strerror)
    return None


def main(argv: Sequence[str]) -> int:
    """``pymod load``; ``argv`` holds the arguments after ``load``."""
    args = _parser().parse_args(argv)
    missing = _missing_target(args.modules)
    if missing is not None:
        error(PROG, missing)
        return 1
    from pymod.loader.batch import load_all

    try:
        kernel = _build_kernel(args)
        result = load_all(kernel, args.modules, jobs=args.jobs,
                          progress=_progress_line("loading"))
    except OSError as e:
        error(PROG, os_message(e))
        return 1
    except ValueError as e:
        error(PROG, str(e))
        return 1
    if args.json:
        _print_json(kernel, result)
    else:
        _print_text(kernel, result)
    return 0 if not result.failures else 1
