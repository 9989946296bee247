"""Judging pymod by the kernel: errno, then every printk line (text and
level), per step, with what neither side's loader decides set apart.

Set apart, never counted as agreement:

* *module code*: a verdict that came from the module's init function or
  from a parameter parsed by the module's own ``kernel_param_ops``; lines
  printed after the loader's last line of a step that ran init or exit;
* *outside the loader*: lines from other subsystems' module notifiers (BTF
  validation of a forced foreign module) and asynchronous kernel lines
  (clocksource, crng) that happen to land during a step;
* *died*: the guest died or hung in the case (its console tail is kept).

One normalisation: a ``%p`` pointer hash (16 hex digits) depends on a
per-boot random key, so both sides' hashes compare as ``<%p>``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from devtools.oracle.replay import PymodAnswer
from pymod.oracle.model import Case, Line, Outcome

BACKGROUND = re.compile(r"^(clocksource|tsc|random|crng|hrtimer|sched_clock|Freeing|"
                        r"workqueue|perf|NMI watchdog|kauditd|audit)[: ]")
OUTSIDE = re.compile(r"^failed to validate module \[.*\] BTF: |^BPF: ")


HASHED_POINTER = re.compile(r"\b[0-9a-f]{16}\b")


def _texts(lines: list[Line]) -> list[str]:
    return [HASHED_POINTER.sub("<%p>", t) for _, t in lines]


SPLAT_START = re.compile(r"^(-+\[ cut here \]-+|WARNING: CPU: |BUG: |CPU: \d+ (UID|PID))")
SPLAT_END = re.compile(r"^ *</TASK>|^---\[ end trace")
# the loader's own sysfs directory: not module code, whatever comes after it
LOADER_LINES = re.compile(r"^sysfs: cannot create duplicate filename '/module/")
# a splat of code the module's init set going elsewhere: the crypto manager
# self-testing an algorithm init registered
MODULE_CAUSED = re.compile(r"^WARNING: .* at crypto/testmgr\.c:")


def _not_module_code(lines: list[Line], exiting: bool) -> list[Line]:
    """The lines after the loader's that module code did not print: the
    loader's sysfs complaints, and a load's WARN/BUG splats whose stack
    does not run through ``do_one_initcall`` (code patching, notifiers);
    an unload's splats are the exit function's."""
    strays: list[Line] = []
    block: list[Line] = []
    for line in lines:
        text = line[1]
        if block or SPLAT_START.match(text):
            block.append(line)
            if SPLAT_END.match(text):
                strays += [] if exiting or _module_splat(block) else block
                block = []
        elif LOADER_LINES.match(text):
            strays.append(line)
    if block and not exiting and not _module_splat(block):
        strays += block
    return strays


def _module_splat(block: list[Line]) -> bool:
    return any("do_one_initcall" in t or MODULE_CAUSED.match(t) for _, t in block)


@dataclass
class Verdict:
    family: str
    case: int
    where: str                  # "step N" or "cleanup NAME"
    kind: str                   # agree | disagree | module-code | died
    errno_ok: bool
    text_ok: bool
    level_ok: bool
    kernel: tuple[int, list[Line]]
    pymod: tuple[int, list[Line]]
    module_lines: list[Line] = field(default_factory=list)
    outside_lines: list[Line] = field(default_factory=list)


def _split(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    kept, outside = [], []
    for level, text in lines:
        text = text.replace("\\x0a", "\n")
        for t in text.split("\n"):
            if BACKGROUND.match(t) or OUTSIDE.match(t):
                outside.append((level, t))
            else:
                kept.append((level, t))
    return kept, outside


def judge(case_id: int, case: Case, theirs: Outcome, ours: list[PymodAnswer]
          ) -> list[Verdict]:
    out = []
    if theirs.died is not None:
        out.append(Verdict(case.family, case_id, "case", "died", True, True, True,
                           (0, [(0, theirs.died)]), (0, [])))
    pairs = [("step %d" % i, a) for i, a in enumerate(theirs.steps)]
    pairs += [("cleanup %s" % name, a) for name, a in theirs.cleanup]
    for (where, k), p in zip(pairs, ours, strict=False):
        out.append(_judge_one(case, case_id, where, k.errno, k.lines, p))
    return out


def _judge_one(case: Case, case_id: int, where: str, k_errno: int, k_lines: list[Line],
               p: PymodAnswer) -> Verdict:
    kept, outside = _split(k_lines)
    runs_code = p.reached_init or where.startswith("cleanup")
    module_lines: list[Line] = []
    if runs_code and len(kept) > len(p.lines):
        kept, module_lines = kept[:len(p.lines)], kept[len(p.lines):]
        strays = _not_module_code(module_lines, where.startswith("cleanup"))
        kept += strays
        module_lines = [ln for ln in module_lines if ln not in strays]
    text_ok = _texts(kept) == _texts(p.lines)
    level_ok = text_ok and [lv for lv, _ in kept] == [lv for lv, _ in p.lines]
    errno_ok = k_errno == p.errno
    decided = (p.reached_init and k_errno != 0) or (bool(p.undecided) and not errno_ok) \
        or p.code_refs
    kind = "module-code" if decided else ("agree" if errno_ok and level_ok else "disagree")
    return Verdict(case.family, case_id, where, kind, errno_ok, text_ok, level_ok,
                   (k_errno, k_lines), (p.errno, p.lines), module_lines, outside)


@dataclass
class Table:
    rows: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, label: str, v: Verdict, total: str = "all") -> None:
        """Count ``v`` under ``label`` and under ``total`` ("all" for the
        Kernel's answers, "check" for pymod check's)."""
        for key in (label, total):
            c = self.rows.setdefault(key, Counter())
            c["steps"] += 1
            c[v.kind] += 1
            if v.kind in ("agree", "disagree"):
                c["judged"] += 1
                c["errno"] += v.errno_ok
                c["text"] += v.text_ok
                c["level"] += v.level_ok
            c["module_lines"] += len(v.module_lines)
            c["outside_lines"] += len(v.outside_lines)

    def render(self) -> str:
        head = "%-22s %6s %6s %8s %8s %8s %7s %5s %6s" % (
            "list", "steps", "judged", "errno%", "text%", "level%", "module", "died",
            "apart")
        out = [head, "-" * len(head)]
        for label in sorted(self.rows, key=lambda x: (x in ("all", "check"), x)):
            c = self.rows[label]
            n = c["judged"] or 1
            out.append("%-22s %6d %6d %8.2f %8.2f %8.2f %7d %5d %6d" % (
                label, c["steps"], c["judged"], 100 * c["errno"] / n, 100 * c["text"] / n,
                100 * c["level"] / n, c["module-code"], c["died"],
                c["module_lines"] + c["outside_lines"]))
        return "\n".join(out)

    def apart(self, verdicts: list[Verdict], top: int = 15) -> str:
        """The lines set apart, most frequent first: what was not judged is shown."""
        module = Counter(t for v in verdicts for _, t in v.module_lines)
        outside = Counter(t for v in verdicts for _, t in v.outside_lines)
        out = []
        for title, c in (("module code", module), ("outside the loader", outside)):
            out.append("lines set apart as %s: %d (%d distinct)" % (title, sum(c.values()),
                                                                    len(c)))
            out += ["  %5d  %s" % (n, t[:110]) for t, n in c.most_common(top)]
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        return {k: dict(v) for k, v in self.rows.items()}


def describe(v: Verdict, case: Case, run_label: str) -> str:
    def fmt(side: tuple[int, list[Line]]) -> str:
        import errno as E

        name = E.errorcode.get(side[0], str(side[0])) if side[0] else "OK"
        return name + "".join("\n        <%d> %s" % ln for ln in side[1])

    return ("[%s] %s:%d (seed %d) %s, %s\n    kernel: %s\n    pymod:  %s" % (
        run_label, case.family, case.index, case.seed, case.what, v.where,
        fmt(v.kernel), fmt(v.pymod)))
