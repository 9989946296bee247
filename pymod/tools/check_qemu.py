"""``pymod check --in-qemu``: the same dry run, then the target kernel itself.

Every load the dry run made (dependencies first, then each FILE) is put to
the target's own kernel booted in QEMU, as ``insmod`` would put it: an
uncompressed file through ``finit_module``; a compressed one with
``MODULE_INIT_COMPRESSED_FILE`` when the kernel decompresses that format,
else decompressed here and passed to ``init_module`` (kmod's user-space
path).  Each FILE's report gains ``kernel``: the kernel's errno and lines,
and whether they agree with pymod's.  Module code runs in the guest only.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymod.errors import PymodError

# %p prints a hash keyed per boot: no two kernels print the same one
_POINTER_HASH = re.compile(r"\b[0-9a-f]{16}\b")


@dataclass
class Call:
    """One load of the dry run, and pymod's answer to it."""

    source: str
    params: str
    flags: int
    errno: int = 0
    lines: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Recording:
    """The dry run's loads, and what the target kernel decompresses itself
    (``/sys/module/compression``: insmod passes that format with the flag)."""

    calls: list[Call] = field(default_factory=list)
    compression: str = ""


def record_calls(kernel: Any, rec: Recording) -> None:
    """Record every ``load_module`` of this kernel instance with the lines
    it printed, tapped as they are printed (the log is never read back)."""
    from pymod.tools.common import tap_console

    load: Callable[..., Any] = kernel.load_module
    printed = tap_console(kernel)
    rec.compression = (kernel.features.sysfs.module_compression() or "").strip()

    def recording(source: Any, params: str = "", flags: int = 0, **kw: Any) -> Any:
        call = Call(os.fspath(getattr(source, "path", source) or ""), params, flags)
        start = len(printed)
        rec.calls.append(call)
        try:
            return load(source, params, flags, **kw)
        except PymodError as e:
            call.errno = e.errno or errno.EINVAL
            raise
        finally:
            call.lines = printed[start:]

    kernel.load_module = recording


def _step(call: Call, compression: str) -> Any:
    """The syscall insmod makes for ``call`` on a kernel that decompresses
    ``compression`` itself ("" for none)."""
    from pymod.elf.compression import decompress, detect_compression
    from pymod.loader.module_input import read_module_file
    from pymod.oracle.model import COMPRESSED_FILE, Image, Step

    raw = read_module_file(call.source)
    kind = detect_compression(raw)
    if kind is None:
        return Step("finit", Image.of(raw), call.flags, call.params)
    if kind == compression:
        return Step("finit", Image.of(raw), call.flags | COMPRESSED_FILE, call.params)
    return Step("init", Image.of(decompress(raw, kind)), 0, call.params)


def ask_kernel(vmlinuz: Path, rec: Recording, enforce: bool) -> list[Any]:
    """The kernel's answer to each call, in order (one guest, one boot)."""
    from pymod.oracle import qemu
    from pymod.oracle.guest import cache_dir
    from pymod.oracle.model import Case

    calls = rec.calls
    case = Case("check", "pymod check --in-qemu", tuple(_step(c, rec.compression) for c in calls))
    run = qemu.run_cases(vmlinuz, [case], cache_dir(), enforce)
    outcome = run.outcomes.get(0)
    if outcome is None or outcome.died is not None or len(outcome.steps) < len(calls):
        tail = (outcome.died or "") if outcome else ""
        raise PymodError(errno.EIO, "the kernel in QEMU died or stopped answering"
                         + (": " + tail.splitlines()[-1] if tail else ""))
    return list(outcome.steps)


def _texts(lines: Sequence[tuple[str, str]]) -> list[str]:
    return [_POINTER_HASH.sub("<%p>", m) for _, m in lines]


def annotate(reports: list[dict[str, Any]], calls: Sequence[Call], answers: Sequence[Any]
             ) -> None:
    """Put the kernel's answer beside pymod's in each FILE's report."""
    from pymod.oracle.model import LEVEL_NAMES

    by_file = {os.path.realpath(c.source): (c, a) for c, a in zip(calls, answers, strict=True)}
    for r in reports:
        found = by_file.get(os.path.realpath(r["file"]))
        if found is None:
            r["kernel"] = None
            continue
        ours, theirs = found
        lines = [(LEVEL_NAMES[lv & 7], text) for lv, text in theirs.lines]
        loader, module = lines, []
        if ours.errno == 0 and len(lines) > len(ours.lines):
            # pymod ran the loader to init: what the kernel printed after the
            # loader's last line is the module's own code talking
            loader, module = lines[:len(ours.lines)], lines[len(ours.lines):]
        differs = []
        if theirs.errno != ours.errno and not (ours.errno == 0 and r.get("undecided")):
            differs.append("errno")
        if _texts(loader) != _texts(ours.lines):
            differs.append("lines")
        elif [lv for lv, _ in loader] != [lv for lv, _ in ours.lines]:
            differs.append("levels")
        r["kernel"] = {"ok": theirs.errno == 0,
                       "errno": errno.errorcode.get(theirs.errno) if theirs.errno else None,
                       "kernel_log": [{"level": lv, "message": m} for lv, m in loader],
                       "module_log": [{"level": lv, "message": m} for lv, m in module],
                       "decided_by_module_code": theirs.errno != ours.errno and not differs,
                       "differs": differs}


def describe(r: dict[str, Any]) -> list[str]:
    """The lines ``pymod check`` prints under a FILE for the kernel's answer."""
    k = r.get("kernel")
    if k is None:
        return ["    real kernel: not asked (no load of this file reached it)"]
    out = ["    real kernel: %s" % ("loads" if k["ok"] else "REFUSED [%s]" % k["errno"])]
    out += ["        %s" % line["message"] for line in k["kernel_log"]]
    out += ["        (module code) %s" % line["message"] for line in k["module_log"]]
    if k["differs"]:
        out.append("    DIFFERENT from pymod: %s" % ", ".join(k["differs"]))
    elif k["decided_by_module_code"]:
        out.append("    the loader agrees with pymod; the module's own code decided the rest")
    else:
        out.append("    pymod and the kernel agree")
    return out
