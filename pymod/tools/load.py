"""``pymod load``: load module files or trees, dependencies first, into a
simulated kernel and print ``/proc/modules`` (``--json`` for machines; there
each module and failure also lists ``undecided``, what the module's own code
decided and pymod could not run: see :class:`pymod.contract.internal.Undecided`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymod.errors import ModuleLoadError, errno_name
from pymod.tools.common import (
    dump_json,
    error,
    os_message,
    positive_int,
    progress_line,
    write,
)
from pymod.tools.kernelopts import (
    Target,
    add_kernel_options,
    choose_kernel,
    find_target,
    is_modules_tree,
    kernel_config,
    missing_files,
    target_trust,
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
    from pymod.contract.internal import MemType

    return [{"name": m.name, "size": m.total_size, "refcnt": m.refcount,
             "holders": [h.name for h in reversed(m.holders)], "state": m.state.name,
             "address": "0x%016x" % m.mem[MemType.TEXT].base, "taints": m.taint_letters,
             "undecided": [dataclasses.asdict(u) for u in m.undecided]}
            for m in reversed(kernel.modules)]


def _build_kernel(args: argparse.Namespace, target: Target) -> Kernel:
    from pymod.config import Config
    from pymod.kmod.tree import first_module_file
    from pymod.loader.kernel import Kernel

    config = kernel_config(target, need_release=True)
    if args.struct_module_size is not None:
        config = config.replace(struct_module_size=args.struct_module_size)
    elif not target.builtin:
        # Read the target's sizeof(struct module) off one of its own modules.
        for given in args.modules:
            sample = first_module_file(given) if os.path.isdir(given) else given
            if sample:
                config = config.replace(struct_module_size=Config.struct_module_size_of(sample))
                break
    return Kernel(config, symvers=target.symvers, sig_enforce=args.sig_enforce,
                  trusted_keys=tuple(target_trust(args, target)))


def _choose(ap: argparse.ArgumentParser, args: argparse.Namespace) -> Target | str:
    """The kernel to load into: the options' (the built-in one when they
    name none), except that a ``/lib/modules/<release>`` tree given alone
    is loaded into its own kernel, found beside it as ``--kernel-dir``
    finds it; or why not, in one line."""
    named = args.kernel_dir or args.release or args.config or args.default_kernel
    trees = [] if named else [m for m in args.modules if is_modules_tree(m)]
    own = {find_target(t) for t in trees}
    own = {t for t in own if t.config is not None}
    if len({t.release for t in own}) > 1:
        return "the trees given are of several kernels (%s): give --kernel-dir" % ", ".join(
            sorted(t.release for t in own))
    if not own:
        if trees:
            error(PROG, "note: %s has no .config beside it: loading into pymod's built-in "
                  "kernel (give --kernel-dir and --config for its own)" % trees[0])
        target = choose_kernel(ap, args, "builtin")
        assert target is not None
    else:
        tree = next(iter(own))
        target = dataclasses.replace(tree, symvers=args.symvers or tree.symvers,
                                     vmlinuz=Path(args.vmlinuz[0]) if args.vmlinuz
                                     else tree.vmlinuz)
    # A tree's kernel exports what its Module.symvers says: without it every
    # module would fail on an "Unknown symbol".  A bare --config loads as before.
    missing = missing_files(target, args, symvers=target.modules_dir is not None)
    if missing is not None and own:
        return "%s is %s's modules tree, but %s (or --default-kernel for pymod's built-in " \
               "kernel)" % (target.modules_dir, target.release, missing.split(": ", 1)[-1])
    return missing if missing is not None else target


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="pymod load",
        description="Load modules (dependencies first) into a simulated kernel and print "
                    "/proc/modules.  The target kernel: see docs/cli/kernel (a "
                    "/lib/modules/<release> tree given alone is loaded into its own kernel; "
                    "otherwise the built-in default kernel).")
    ap.add_argument("modules", nargs="+", metavar="MODULES_DIR|FILE",
                    help="module files, and trees to load every module of")
    add_kernel_options(ap)
    ap.add_argument("--struct-module-size", type=positive_int, metavar="BYTES",
                    help="sizeof(struct module) (default: read off the first module)")
    ap.add_argument("--sig-enforce", action="store_true", help="module.sig_enforce=1")
    ap.add_argument("--json", action="store_true",
                    help="print a JSON list of records: modules, refusals, the kernel")
    ap.add_argument("-j", "--jobs", type=positive_int,
                    help="threads reading files (default: the usable cores, at most 8)")
    return ap


def _print_json(kernel: Kernel, result: TreeResult) -> None:
    """One list of records (docs/cli/json): each loaded module as
    /proc/modules lists it, each refused file, then the kernel's state."""
    dump_json([{"record": "module", **m} for m in _modules_dict(kernel)]
              + [{"record": "failure", **_failure_dict(p, e)} for p, e in result.failures]
              + [{"record": "kernel", "proc_modules": kernel.proc_modules(),
                  "tainted": kernel.tainted, "notices": kernel.notices}], sys.stdout)


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
    ap = _parser()
    args = ap.parse_args(argv)
    missing = _missing_target(args.modules)
    if missing is not None:
        error(PROG, missing)
        return 1
    target = _choose(ap, args)
    if isinstance(target, str):
        error(PROG, target)
        return 2
    from pymod.loader.batch import load_all

    try:
        kernel = _build_kernel(args, target)
        result = load_all(kernel, args.modules, jobs=args.jobs,
                          progress=progress_line("loading"))
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
