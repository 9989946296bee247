"""``pymod check`` judged by the kernel too, on a sample of each run's
single-load cases: the file as ``insmod`` would get it, checked on a fresh
simulated kernel, against the guest's answer to the same load.

``pymod check`` assumes a freshly booted kernel while the guest has run
earlier cases, so the lines printed only while the kernel is not yet
tainted ("module verification failed", "Disabling lock debugging", a forced
load's "...: kernel tainted.", the license, out-of-tree and test-module
taint notices) are left out of both sides; lines the kernel
printed after check's for a module that loads are its init's output.
"""

from __future__ import annotations

import errno as E
import os
import re
import tempfile
from typing import Any

from devtools.oracle.compare import Verdict, _split, _texts
from devtools.oracle.targets import Target
from pymod.oracle.model import COMPRESSED_FILE, Case, Outcome, level_number

PER_RUN = 150
ONCE_A_BOOT = re.compile(r"module verification failed: |^Disabling lock debugging|"
                         r"^\S+: .*: kernel tainted\.$|^\S+: module license .*taints kernel\.$|"
                         r"^\S+: loading (out-of-tree|test) module taints kernel\.$")


def _eligible(t: Target, case: Case, said: Outcome) -> str | None:
    """The file suffix insmod would see, when ``case`` is one plain load."""
    from pymod.elf.compression import detect_compression

    if len(case.steps) != 1 or said.died is not None or not said.steps:
        return None
    step = case.steps[0]
    if step.op != "finit" or step.params or step.image is None:
        return None
    kind = detect_compression(step.image.data()[:16])
    if step.flags == 0 and kind is None:
        return ".ko"
    if step.flags == COMPRESSED_FILE and kind is not None \
            and kind == t.config.module_compression:
        return ".ko." + {"gzip": "gz"}.get(kind, kind)
    return None


def judge_check(t: Target, cases: list[Case], outcomes: dict[int, Outcome], enforce: bool
                ) -> list[Verdict]:
    from pymod.tools.check import check
    from pymod.tools.kernelopts import Target as CheckTarget

    target = CheckTarget(t.release, t.dk.modules_dir, t.dk.config, t.dk.symvers, t.vmlinuz)
    picked = [(cid, sfx) for cid in sorted(outcomes)
              if (sfx := _eligible(t, cases[cid], outcomes[cid])) is not None]
    step = max(1, len(picked) // PER_RUN)
    out = []
    with tempfile.TemporaryDirectory(prefix="pm-oracle-check-") as d:
        for cid, suffix in picked[::step][:PER_RUN]:
            image = cases[cid].steps[0].image
            assert image is not None
            path = os.path.join(d, "m%d%s" % (cid, suffix))
            with open(path, "wb") as f:
                f.write(image.data())
            report = check([path], target, t.dk.config, t.dk.symvers, list(t.certificates),
                           enforce)[0]
            out.append(_verdict(cases[cid], cid, report, outcomes[cid]))
            os.unlink(path)
    return out


def _verdict(case: Case, cid: int, r: dict[str, Any], said: Outcome) -> Verdict:
    k = said.steps[0]
    ours_errno = 0 if r["ok"] else getattr(E, r["errno"] or "EIO", E.EIO)
    theirs = [(lv, tx) for lv, tx in _split(k.lines)[0] if not ONCE_A_BOOT.search(tx)]
    ours = [(level_number(x["level"]), x["message"]) for x in r.get("kernel_log") or []
            if not ONCE_A_BOOT.search(x["message"])]
    if r["ok"]:
        theirs = ours = []          # a load's lines are not in check's report
    decided = bool(r["undecided"]) and k.errno != 0 and r["ok"]
    errno_ok = ours_errno == k.errno or decided
    text_ok = _texts(theirs) == _texts(ours)
    level_ok = text_ok and [lv for lv, _ in theirs] == [lv for lv, _ in ours]
    kind = "module-code" if decided else ("agree" if errno_ok and level_ok else "disagree")
    return Verdict(case.family, cid, "pymod check", kind, errno_ok, text_ok, level_ok,
                   (k.errno, k.lines), (ours_errno, ours))
