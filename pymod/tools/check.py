"""``pymod check``: will these modules load on that kernel, and if not, why?

    pymod check [--kernel-dir DIR] [--config F] [--symvers F]
                [--cert F | --vmlinuz F]... [--sig-enforce] [--json] FILE|DIR...

Each FILE (each module file under a DIR) is loaded, as a dry run, into a
simulated copy of the target kernel, dependencies first (found among the
FILEs or in the target's modules tree, and then named).  For every FILE:
the verdict, the errno, the lines the kernel prints during that load,
exactly (what ``dmesg`` shows; pymod's own words only where the kernel
prints nothing, and in a hint of their own, such as "rebuild it against
that kernel's headers" for a module built for another kernel), the taints
it would get, and every symbol that failed (the kernel returns the last
one's errno).  Progress shows on a terminal's stderr.  pymod runs no
module code: a module whose init function (or a parameter's own
``kernel_param_ops``) decides the outcome "LOADS, if module code agrees",
naming that code (``undecided`` in the JSON).
The target is chosen as for every command (:mod:`pymod.tools.kernelopts`:
``--kernel-dir``, ``--release``, ``--config``, ``--symvers``, ``--vmlinuz``,
``--default-kernel``); with none of them, the running kernel.  Exit 0 only
when every FILE would load.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymod.errors import strerror
from pymod.tools.check_hints import LoadWatch, rebuild_hint
from pymod.tools.common import (
    dump_json,
    error,
    help_text,
    os_message,
    progress_line,
    terminal_safe,
    write,
)
from pymod.tools.kernelopts import (
    Target,
    add_kernel_options,
    choose_kernel,
    kernel_config,
    missing_files,
    target_trust,
)

PROG = "pymod check"


# What insmod prints for an errno (kmod's mod_strerror; others: strerror).
_INSMOD = {errno.ENOEXEC: "Invalid module format", errno.ENOENT: "Unknown symbol in module",
           errno.ESRCH: "Module has wrong symbol version", errno.EINVAL: "Invalid parameters"}


def insmod_says(path: str, code: int, stage: str | None = None) -> str:
    """The line ``insmod`` would print for a refusal with ``code`` (a file
    it cannot read never reaches the kernel)."""
    if stage in ("read", "kmod"):
        return "insmod: ERROR: could not load module %s: %s" % (path, strerror(code))
    return "insmod: ERROR: could not insert module %s: %s" % (
        path, _INSMOD.get(code, strerror(code)))


def check(files: list[str], target: Target, config_path: Path | None, symvers: Path | None,
          trusted: list[Any], sig_enforce: bool, recording: Any = None) -> list[dict[str, Any]]:
    """One report per file, in the order given (a directory: each module
    file in it, walked as kmod walks a tree); ``recording`` (a
    :class:`~pymod.tools.check_qemu.Recording`) also keeps every load made."""
    from pymod.config import Config
    from pymod.kmod.tree import first_module_file, module_files
    from pymod.loader.batch import load_all
    from pymod.loader.kernel import Kernel

    files = [f for s in files for f in (module_files(s) if os.path.isdir(s) else [s])]
    config = kernel_config(dataclasses.replace(target, config=config_path), need_release=True)
    sample = first_module_file(target.modules_dir) if target.modules_dir else None
    if sample:   # (a kernel before 6.12 does not check it: harmless there)
        config = config.replace(struct_module_size=Config.struct_module_size_of(sample))
    kernel = Kernel(config, symvers=symvers, trusted_keys=tuple(trusted),
                    sig_enforce=sig_enforce)
    watch = LoadWatch(kernel)
    if recording is not None:
        from pymod.tools.check_qemu import record_calls

        record_calls(kernel, recording)
    trees = [target.modules_dir] if target.modules_dir else []
    result = load_all(kernel, files, dependency_trees=trees, progress=progress_line("checking"))
    failures = {os.path.realpath(p): e for p, e in result.failures}
    by_path = {os.path.realpath(m.source): m for m in kernel.modules if m.source}
    given = {os.path.realpath(f) for f in files}
    reports = []
    for f in files:
        real = os.path.realpath(f)
        r = _report_of(f, failures.get(real), by_path.get(real), watch)
        r["hint"] = rebuild_hint(r, watch.files.get(real), config.release, config.vermagic)
        r["tree_dependencies"] = [
            {"name": watch.files[p].name, "file": p,
             "errno": errno.errorcode.get(failures[p].errno or 0) if p in failures else None}
            for p in watch.pulled_for(real, given)]
        reports.append({k: r.get(k) for k in REPORT_KEYS})
    return reports


def _report_of(f: str, e: Any, mod: Any, watch: LoadWatch) -> dict[str, Any]:
    """FILE's verdict: refused with ``e``, loaded as ``mod``, or neither."""
    if e is not None:
        lines = watch.logs.get(e, ())
        return {"file": f, "name": e.module, "ok": False,
                "errno": errno.errorcode.get(e.errno or 0),
                "message": _kernel_message(e.strerror, lines),
                "kernel_log": [{"level": lv, "message": m} for lv, m in lines],
                "detail": e.strerror,
                "insmod": insmod_says(f, e.errno or errno.EIO, e.stage),
                "stage": e.stage, "taints": "",
                "unresolved": [{"symbol": n, "errno": errno.errorcode.get(c),
                                "message": m} for n, c, m in e.unresolved],
                "undecided": _undecided(e.undecided)}
    if mod is not None:
        return {"file": f, "name": mod.name, "ok": True, "errno": None,
                "message": None, "stage": None, "taints": mod.taint_letters,
                "signature": _signature(mod),
                "unresolved": [], "undecided": _undecided(mod.undecided)}
    return {"file": f, "name": None, "ok": False, "errno": "ENOENT",
            "message": None, "kernel_log": [],
            "detail": "not loaded (no module file?)", "stage": "read",
            "taints": "", "unresolved": [], "undecided": []}


# Every report has these keys, whatever the verdict (docs/cli/json): null
# where one does not apply (a loaded module has no insmod line); a list
# empty where it has nothing.
REPORT_KEYS = ("file", "name", "ok", "errno", "message", "kernel_log", "detail", "insmod",
               "stage", "taints", "signature", "unresolved", "undecided", "hint",
               "tree_dependencies")


def _signature(mod: Any) -> str:
    """A loaded module's signature: "verified", "unsigned", or the errno
    name of why it did not verify (it loaded tainted)."""
    if mod.sig_ok:
        return "verified"
    if mod.sig_errno in (0, errno.ENODATA):
        return "unsigned"
    return errno.errorcode.get(mod.sig_errno, "unsigned")


def _kernel_message(strerror: str, lines: Sequence[tuple[str, str]]) -> str | None:
    """The kernel's line that says why: the error's message when it is one
    of the lines the kernel printed (pymod picks it: the version mismatch,
    not the "Unknown symbol" line that follows it), else the last line;
    None when the kernel printed nothing."""
    printed = [m for _, m in lines]
    return strerror if strerror in printed else printed[-1] if printed else None


def _undecided(records: Sequence[Any]) -> list[dict[str, Any]]:
    """What the module's own code decides (pymod runs none of it)."""
    return [dataclasses.asdict(u) for u in records]


def _verdict(r: dict[str, Any]) -> str:
    """"loads (taints E)", or "LOADS (taints E), if module code agrees: ..."
    naming that code."""
    taints = " (taints %s)" % r["taints"] if r["taints"] else ""
    if not r["undecided"]:
        return "loads" + taints
    return "LOADS%s, if module code agrees: %s" % (
        taints, "; ".join(u["detail"] for u in r["undecided"]))


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=help_text(__doc__))
    add_kernel_options(ap)
    ap.add_argument("--system-map", type=Path, metavar="FILE", help="accepted for symbol addresses "
                    "(not needed for the verdicts)")
    ap.add_argument("--sig-enforce", action="store_true", help="module.sig_enforce=1")
    ap.add_argument("--json", action="store_true", help="one JSON array, an object per module")
    ap.add_argument("--in-qemu", action="store_true",
                    help="then boot the target's vmlinuz in QEMU and ask the kernel itself "
                    "(needs qemu-system-x86_64 and gcc; module code runs in the guest only)")
    ap.add_argument("modules", nargs="+", metavar="FILE|DIR",
                    help="module file (.ko, .ko.gz, .ko.xz, .ko.zst), or a directory: "
                    "each module file under it")
    args = ap.parse_args(argv)
    try:
        found = _kernel_files(ap, args)
        if isinstance(found, str):
            error(PROG, found)
            return 2
        target, config, symvers = found
        trusted = target_trust(args, target)
        if args.in_qemu:
            return _in_qemu(args, target, config, symvers, trusted)
        reports = check(args.modules, target, config, symvers, trusted, args.sig_enforce)
    except OSError as e:
        error(PROG, os_message(e))
        return 1
    except ValueError as e:
        error(PROG, str(e))
        return 1
    return _report(reports, args.json)


def _kernel_files(ap: argparse.ArgumentParser,
                  args: argparse.Namespace) -> tuple[Target, Path | None, Path | None] | str:
    """The target (:mod:`pymod.tools.kernelopts`' rule; the running kernel
    when no option names one), its .config and its Module.symvers (None: the
    built-in default kernel's), or why the options do not name one.  The
    trust and enforcement options apply to every target, as ``pymod load``
    applies them."""
    target = choose_kernel(ap, args, "running")
    assert target is not None
    if target.builtin:
        if args.in_qemu:
            return ("--in-qemu needs a real kernel to boot (--kernel-dir, --vmlinuz); "
                    "the built-in default kernel has none")
        return target, None, args.symvers
    missing = missing_files(target, args)
    if missing is not None:
        return missing
    return target, target.config, target.symvers


def _in_qemu(args: argparse.Namespace, target: Target, config: Path | None,
             symvers: Path | None, trusted: list[Any]) -> int:
    from pymod.oracle.qemu import need_qemu
    from pymod.tools.check_qemu import Recording, annotate, ask_kernel

    vmlinuz = Path(args.vmlinuz[0]) if args.vmlinuz else target.vmlinuz
    if vmlinuz is None:
        error(PROG, "--in-qemu needs the target's vmlinuz: give --vmlinuz")
        return 2
    need_qemu()                 # before the dry run, not after it
    rec = Recording()
    reports = check(args.modules, target, config, symvers, trusted, args.sig_enforce, rec)
    if not args.json:
        write(sys.stderr, "%s: booting %s in QEMU for %d load(s)...\n"
              % (PROG, terminal_safe(str(vmlinuz)), len(rec.calls)))
    annotate(reports, rec.calls, ask_kernel(vmlinuz, rec, args.sig_enforce))
    return _report(reports, args.json)


def _report(reports: list[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        dump_json(reports, sys.stdout)
    else:
        for r in reports:
            write(sys.stdout, "".join(terminal_safe(line) + "\n" for line in _report_lines(r)))
    return 0 if all(r["ok"] for r in reports) else 1


def _report_lines(r: dict[str, Any]) -> list[str]:
    """One FILE's lines.  The kernel's messages in them carry the module's
    names, so each line is written :func:`terminal_safe` (as dmesg shows
    the log: control bytes as ``\\xNN``)."""
    head = "%s: %s" % (r["file"], _verdict(r) if r["ok"] else "REFUSED")
    if not r["ok"]:
        head += " [%s]" % r["errno"]
        if not r["kernel_log"]:     # the kernel prints nothing: pymod says why
            head += " (no kernel message: %s)" % r["detail"]
    out = [head] + ["    %s" % line["message"] for line in r["kernel_log"] or ()]
    if not r["ok"] and r.get("insmod"):
        out.append("    %s" % r["insmod"])
    if not r["ok"] and r["undecided"]:
        out.append("    module code ran too: %s" % "; ".join(u["detail"] for u in r["undecided"]))
    if r["hint"]:
        out.append("    pymod: %s" % r["hint"])
    if r["tree_dependencies"]:
        out.append("    with dependencies from the tree: %s" % ", ".join(
            d["name"] + (" (REFUSED [%s])" % d["errno"] if d["errno"] else "")
            for d in r["tree_dependencies"]))
    if "kernel" in r:
        from pymod.tools.check_qemu import describe

        out += describe(r)
    return out
