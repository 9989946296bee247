"""``python -m devtools.oracle``: run the differential harness, print the
table and every disagreement (``--json`` keeps them all)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devtools.oracle import cases as gen
from devtools.oracle import compare
from devtools.oracle.check_side import judge_check
from devtools.oracle.replay import replay
from devtools.oracle.targets import SERIES, Target, targets
from pymod.oracle import qemu

SHARES = {"pristine": 0.0, "mutation": 0.45, "compress": 0.10, "foreign": 0.15,
          "deps": 0.15, "params": 0.15}


def plan(total_per_run: int) -> dict[str, int]:
    out = {f: int(total_per_run * s) for f, s in SHARES.items()}
    out["pristine"] = 15
    return out


def run_one(t: Target, other: Target | None, enforce: bool, per_run: int, seed: int,
            only: str | None) -> dict[str, Any]:
    cases = gen.generate(t, other, plan(per_run), seed)
    if only:
        family, _, index = only.partition(":")
        cases = [c for c in cases if c.family == family and str(c.index) == index]
    label = "%s/%s" % (t.series, "enforce" if enforce else "plain")
    t0 = time.monotonic()

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print("\r[oracle] %s: case %d/%d" % (label, done, total), end="", file=sys.stderr)

    run = qemu.run_cases(t.vmlinuz, cases, t.cache, enforce, progress)
    ours = replay(t, cases, run.outcomes, run.boots, enforce)
    verdicts = []
    for cid, theirs in sorted(run.outcomes.items()):
        verdicts += compare.judge(cid, cases[cid], theirs, ours.get(cid, []))
    checked = judge_check(t, cases, run.outcomes, enforce)
    print("[oracle] %s: %d cases, %d boots, guest %.0f s, total %.0f s (%s)" % (
        label, len(cases), len(run.boots), run.seconds, time.monotonic() - t0,
        qemu.ACCEL_NOTE), file=sys.stderr)
    return {"label": label, "cases": cases, "verdicts": verdicts, "checked": checked}


def run_all(series: tuple[str, ...] = SERIES, cases: int = 5000, seed: int = 1,
            enforce: str = "both", only: str | None = None, jobs: int = 2
            ) -> list[dict[str, Any]]:
    """Every run (kernel x enforcement), ``cases`` spread over them."""
    qemu.need_qemu()
    ts = targets(series)
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[enforce]
    runs = [(t, next((o for o in ts if o is not t), None), e) for t in ts for e in modes]
    # Each run's lists depend on (seed, cases) alone: choosing fewer runs
    # (--series, --enforce) asks the same questions of those runs.
    per_run = max(1, cases // (len(SERIES) * 2))
    for t in ts:      # fill the caches (deps, certificates) before the threads start
        t.warm()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda r: run_one(r[0], r[1], r[2], per_run, seed, only), runs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.oracle", description=__doc__)
    ap.add_argument("--series", nargs="+", default=list(SERIES), choices=SERIES)
    ap.add_argument("--cases", type=int, default=5000,
                    help="cases over all runs (kernels x enforcement); default 5000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--enforce", choices=("both", "on", "off"), default="both")
    ap.add_argument("--only", help="FAMILY:INDEX, one case of the seed's lists")
    ap.add_argument("--jobs", type=int, default=2, help="guests at once (default 2)")
    ap.add_argument("--show", type=int, default=40, help="disagreements printed (default 40)")
    ap.add_argument("--json", type=Path, help="write the table and every verdict here")
    args = ap.parse_args(argv)
    results = run_all(tuple(args.series), args.cases, args.seed, args.enforce, args.only,
                      args.jobs)
    return report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> int:
    table = compare.Table()
    bad = []
    for r in results:
        for v in r["verdicts"]:
            table.add("%s %s" % (r["label"], v.family), v)
            if v.kind in ("disagree", "died"):
                bad.append((r, v))
        for v in r["checked"]:
            table.add("%s pymod check" % r["label"], v, total="check")
            if v.kind == "disagree":
                bad.append((r, v))
    print(table.render())
    print()
    print(table.apart([v for r in results for v in r["verdicts"]]))
    print("\n%d disagreement(s)%s" % (len(bad), ", first %d:" % args.show if bad else ""))
    for r, v in bad[:args.show]:
        print(compare.describe(v, r["cases"][v.case], r["label"]))
    if args.json:
        apart = [(r, v) for r in results for v in r["verdicts"]
                 if v.kind == "module-code" or v.module_lines or v.outside_lines]
        args.json.write_text(json.dumps({
            "seed": args.seed, "table": table.as_dict(), "accel": qemu.ACCEL_NOTE,
            "disagreements": [compare.describe(v, r["cases"][v.case], r["label"])
                              for r, v in bad],
            "set_apart": [compare.describe(v, r["cases"][v.case], r["label"])
                          + "\n    apart: %r" % (v.module_lines + v.outside_lines)[:8]
                          for r, v in apart]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
