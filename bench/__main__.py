"""Lookup benchmark: ``python -m bench [--quick] [--out DIR]``.

Cost per lookup for N modules of 7 regions each, tree vs list vs bisect vs
numpy.searchsorted vs intervaltree, single calls and batches, plus reader
throughput of the C stress program with and without a churning writer, plus
the growth of update costs: ns per insert and per remove with 10**3 .. 10**6
modules (tree strategy; through ModTree and in the C core alone).
Everything is measured side by side in one run; the figures that matter are
the ratios, printed against the project's targets.  Writes
``<out>/lookup.json`` and ``<out>/lookup.png``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import lookup_cases as lc
from bench.plotting import style_log_axes
from bench.timing import best_time
from pymod.lookup import ModTree

REPO = Path(__file__).resolve().parent.parent


def per_call_ns(find: Callable[[int], object], addrs: list[int], repeat: int) -> float:
    def run() -> None:
        for a in addrs:
            find(a)
    return best_time(run, repeat) / len(addrs) * 1e9


def per_addr_ns(find_many: Callable[[np.ndarray], object], addrs: np.ndarray,
                repeat: int) -> float:
    return best_time(lambda: find_many(addrs), repeat) / len(addrs) * 1e9


def progress(msg: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + msg)
        sys.stderr.flush()


def measure_lookups(sizes: list[int], single_n: int, batch_n: int,
                    repeat: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        progress("N=%d: building" % n)
        r = lc.make_regions(n)
        tree = lc.build_modtree(r, "tree")
        lst = lc.build_modtree(r, "list")
        bis = lc.BisectMap(r)
        it = lc.build_intervaltree(r)
        batch = lc.random_addresses(r, batch_n, seed=1)
        singles = [int(a) for a in lc.random_addresses(r, single_n, seed=2)]
        # Slow competitors get fewer addresses; cost is reported per address.
        list_single = singles[: max(200, min(single_n, 2_000_000 // (7 * n)))]
        list_batch = batch[: max(1000, min(batch_n, 200_000_000 // (7 * n)))]
        it_single = singles[: min(single_n, 20_000)]

        # Everyone must agree before anyone is timed.
        expect = lc.searchsorted_many(r, batch[:20_000])
        assert (tree.find_many(batch[:20_000]) == expect).all()
        assert (lst.find_many(batch[:20_000]) == expect).all()
        single_expect = lc.searchsorted_many(r, np.array(singles[:2000], dtype=np.uint64))
        for a, e in zip(singles[:2000], single_expect.tolist(), strict=True):
            want = None if e < 0 else e
            assert tree.find(a) == want and bis.find(a) == want
            assert lc.intervaltree_find(it, a) == want

        progress("N=%d: single lookups" % n)
        row: dict[str, Any] = {"n_modules": n, "regions": 7 * n}
        row["single_noop_ns"] = per_call_ns(lc.NoopTree().find, singles, repeat)
        row["single_tree_ns"] = per_call_ns(tree.find, singles, repeat)
        row["single_list_ns"] = per_call_ns(lst.find, list_single, repeat)
        row["single_bisect_ns"] = per_call_ns(bis.find, singles, repeat)
        row["single_intervaltree_ns"] = per_call_ns(functools.partial(lc.intervaltree_find, it),
                                                    it_single, repeat)
        progress("N=%d: batches" % n)
        row["batch_tree_ns"] = per_addr_ns(tree.find_many, batch, repeat)
        row["batch_tree_walk_ns"] = per_addr_ns(
            functools.partial(tree.find_many, method="walk"), batch, repeat)
        row["batch_searchsorted_ns"] = per_addr_ns(functools.partial(lc.searchsorted_many, r),
                                                   batch, repeat)
        row["batch_list_ns"] = per_addr_ns(lst.find_many, list_batch, repeat)
        row["batch_size"] = batch_n
        rows.append(row)
    progress("")
    return rows


def build_validator(build_dir: Path) -> Path | None:
    """The C stress program (tests/c/validate_lookup*.c), optimised; None without gcc."""
    if shutil.which("gcc") is None:
        return None
    exe = build_dir / "validate_lookup"
    from cffi_build._common import CFLAGS, LOOKUP
    from tests.c.validators import LOOKUP_VALIDATOR

    subprocess.run(["gcc", *CFLAGS, *LOOKUP.include_flags(), *LOOKUP.source_paths(),
                    *LOOKUP_VALIDATOR, "-o", str(exe)], check=True)
    return exe


def py_update_ns(n: int, chunk: int = 20_000) -> tuple[float, float]:
    """ns per ``ModTree.insert`` and per ``remove`` filling a tree-strategy map
    to ``n`` modules in random address order, then emptying it oldest first.
    Region dicts are built outside the timed loops; the GC is off while timing."""
    slots = np.random.default_rng(n).permutation(n)
    t = ModTree("tree")
    t_ins = t_rem = 0.0
    gc.disable()
    try:
        for lo in range(0, n, chunk):
            regs = [lc.slot_regions(int(s)) for s in slots[lo:lo + chunk]]
            t0 = time.perf_counter()
            for i, r in enumerate(regs, lo):
                t.insert(i, r)
            t_ins += time.perf_counter() - t0
        assert len(t) == n and t.validate() == 7 * n
        t0 = time.perf_counter()
        for i in range(n):
            t.remove(i)
        t_rem = time.perf_counter() - t0
    finally:
        gc.enable()
    assert len(t) == 0 and t.validate() == 0
    return t_ins / n * 1e9, t_rem / n * 1e9


def measure_updates(sizes: list[int], exe: Path | None) -> list[dict[str, Any]]:
    """Update cost growth: through ModTree, and the C core alone (the stress
    program's ``grow`` mode, which validates at checkpoints untimed)."""
    c_rows: dict[int, dict[str, Any]] = {}
    if exe is not None:
        progress("update growth (C core)")
        out = subprocess.run([str(exe), "grow", "tree", *map(str, sizes)],
                             capture_output=True, text=True, check=True).stdout
        grow = json.loads(out.strip().splitlines()[-1])
        assert grow["ok"], grow
        c_rows = {r["n_modules"]: r for r in grow["rows"]}
    rows = []
    for n in sizes:
        progress("update growth: %d modules through ModTree" % n)
        ins, rem = py_update_ns(n)
        row = {"n_modules": n, "py_insert_ns": ins, "py_remove_ns": rem}
        if n in c_rows:
            row["c_insert_ns"] = c_rows[n]["insert_ns"]
            row["c_remove_ns"] = c_rows[n]["remove_ns"]
        rows.append(row)
    progress("")
    return rows


def measure_throughput(seconds: float, reps: int, exe: Path | None) -> dict[str, Any] | None:
    """Reader throughput of the C stress program (tests/c/validate_lookup*.c)."""
    if exe is None:
        return None
    progress("reader throughput (C, %d reps)" % reps)
    out = subprocess.run([str(exe), "bench", str(seconds), "1", str(reps)],
                         capture_output=True, text=True, check=True).stdout
    progress("")
    got: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return got


def per_decade(upd: list[dict[str, Any]], key: str) -> float:
    """Growth of ``key`` per 10x more modules, from the smallest N to the largest
    (O(log n) updates stay near 1; O(n) ones would give 10)."""
    a, b = upd[0], upd[-1]
    return float((b[key] / a[key]) ** (1 / np.log10(b["n_modules"] / a["n_modules"])))


def update_targets(upd: list[dict[str, Any]]) -> list[tuple[str, float, str, bool]]:
    out = []
    span = "N=%d..%d" % (upd[0]["n_modules"], upd[-1]["n_modules"])
    for key in ("py_insert_ns", "py_remove_ns", "c_insert_ns", "c_remove_ns"):
        if len(upd) > 1 and key in upd[-1]:
            g = per_decade(upd, key)
            out.append(("updates: %s growth per 10x, %s" % (key[:-3], span), g, "<= 3",
                        g <= 3))
    return out


def single_targets(rows: list[dict[str, float]]) -> list[tuple[str, float, str, bool]]:
    """Issue 17: at every N, one find costs at most 1.3x the cheapest extension
    call on its path, and at least 4x less than bisect."""
    out = []
    for r in rows:
        over = r["single_tree_ns"] / r["single_noop_ns"]
        gain = r["single_bisect_ns"] / r["single_tree_ns"]
        out.append(("single: tree.find / noop ext call at N=%d" % r["n_modules"], over,
                    "<= 1.3", over <= 1.3))
        out.append(("single: bisect / tree.find at N=%d" % r["n_modules"], gain, ">= 4",
                    gain >= 4))
    return out


def targets(rows: list[dict[str, Any]],
            thr: dict[str, Any] | None) -> list[tuple[str, float, str, bool]]:
    at = {r["n_modules"]: r for r in rows}
    r = at.get(1000) or rows[-1]
    out = [
        ("batch: searchsorted / tree at N=%d" % r["n_modules"],
         r["batch_searchsorted_ns"] / r["batch_tree_ns"], ">= 2",
         r["batch_searchsorted_ns"] / r["batch_tree_ns"] >= 2),
        ("batch: list / tree at N=%d" % r["n_modules"],
         r["batch_list_ns"] / r["batch_tree_ns"], ">= 20",
         r["batch_list_ns"] / r["batch_tree_ns"] >= 20),
    ] + single_targets(rows)
    if thr:
        out.append(("C readers: with churning writer / alone", thr["ratio_churn"], ">= 0.8",
                    thr["ratio_churn"] >= 0.8))
    return out


def print_floor(rows: list[dict[str, Any]]) -> None:
    """What a single find could cost at best: the noop call plus the same
    latch walk run in C (the batch walk column, per address).  Where that
    floor is above 1.3x noop, no binding meets the issue's first target."""
    print("\nsingle find vs its floor (noop call + the same walk in C, ns):")
    for r in rows:
        floor = r["single_noop_ns"] + r["batch_tree_walk_ns"]
        print("  N=%-6d find %6.0f  floor %6.0f (%.2fx noop)  binding overhead %5.0f"
              % (r["n_modules"], r["single_tree_ns"], floor, floor / r["single_noop_ns"],
                 r["single_tree_ns"] - floor))


def print_table(rows: list[dict[str, Any]], thr: dict[str, Any] | None,
                tg: list[tuple[str, float, str, bool]]) -> None:
    cols = [("N", "n_modules", "%d"), ("noop", "single_noop_ns", "%.0f"),
            ("tree", "single_tree_ns", "%.0f"), ("list", "single_list_ns", "%.0f"),
            ("bisect", "single_bisect_ns", "%.0f"), ("itree", "single_intervaltree_ns", "%.0f"),
            ("| tree", "batch_tree_ns", "%.1f"), ("walk", "batch_tree_walk_ns", "%.1f"),
            ("ssorted", "batch_searchsorted_ns", "%.1f"), ("list", "batch_list_ns", "%.0f")]
    print("ns per lookup: single calls from Python (noop = the cheapest extension call on "
          "find's path: its argument test, no lookup) | batches, per address")
    print(" ".join("%9s" % c[0] for c in cols))
    for r in rows:
        print(" ".join("%9s" % (f % r[k]) for _, k, f in cols))
    if thr:
        print("\nC reader throughput (1 reader, pinned; medians of %d reps of %.2fs):"
              % (thr["reps"], thr["seconds"]))
        for k in ("alone", "churn", "paced_churn", "control"):
            print("  %-12s %6.1f M lookups/s" % (k, thr[k + "_lookups_per_s"] / 1e6))
        print("  ratios: churn %.2f, paced churn %.2f, memcpy control %.2f, churn vs control %.2f"
              % (thr["ratio_churn"], thr["ratio_paced"], thr["ratio_control"],
                 thr["ratio_churn_vs_control"]))
        print("  writer: %.0f module swaps/s flat out, %.0f paced (a swap = remove + insert"
              " + remove_init)" % (thr["churn_swaps_per_s"], thr["paced_swaps_per_s"]))
    print("\ntargets:")
    for name, value, want, ok in tg:
        print("  %-44s %8.2f  (want %s)  %s" % (name, value, want, "met" if ok else "MISSED"))


def print_updates(upd: list[dict[str, Any]]) -> None:
    print("\nupdate cost, tree strategy: ns per insert / per remove (inserted in random "
          "address order, removed oldest first)")
    print("%9s %10s %10s %10s %10s" % ("N", "py insert", "py remove", "C insert", "C remove"))
    for r in upd:
        print("%9d %10.0f %10.0f %10s %10s" % (
            r["n_modules"], r["py_insert_ns"], r["py_remove_ns"],
            "%.0f" % r["c_insert_ns"] if "c_insert_ns" in r else "-",
            "%.0f" % r["c_remove_ns"] if "c_remove_ns" in r else "-"))


def plot(rows: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; pip install '.[bench]')", file=sys.stderr)
        return False
    ns = [r["n_modules"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label in [("single_tree_ns", "ModTree tree"), ("single_list_ns", "ModTree list"),
                       ("single_bisect_ns", "bisect"), ("single_intervaltree_ns", "intervaltree"),
                       ("single_noop_ns", "no-op extension call")]:
        a.plot(ns, [r[key] for r in rows], marker="o", label=label)
    for key, label in [("batch_tree_ns", "tree (sorted pass)"),
                       ("batch_tree_walk_ns", "tree (walks)"),
                       ("batch_searchsorted_ns", "numpy.searchsorted"),
                       ("batch_list_ns", "list")]:
        b.plot(ns, [r[key] for r in rows], marker="o", label=label)
    for ax, title in ((a, "single lookup from Python"), (b, "batched, per address")):
        style_log_axes(ax, title, "ns", "modules (7 regions each)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--out", default=str(REPO / "bench" / "out"), help="output folder")
    p.add_argument("--no-throughput", action="store_true", help="skip the C throughput run")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.quick:
        sizes, single_n, batch_n, repeat, secs, reps = [1, 10, 100, 1000], 5000, 100_000, 3, 0.2, 3
        update_sizes = [1000, 10_000]
    else:
        sizes, single_n, batch_n, repeat, secs, reps = [1, 10, 100, 1000, 10000], 50_000, \
            1_000_000, 5, 0.5, 7
        update_sizes = [1000, 10_000, 100_000, 1_000_000]
    exe = build_validator(out)
    rows = measure_lookups(sizes, single_n, batch_n, repeat)
    thr = None if a.no_throughput else measure_throughput(secs, reps, exe)
    upd = measure_updates(update_sizes, exe)
    tg = targets(rows, thr) + update_targets(upd)
    print_updates(upd)
    print_table(rows, thr, tg)
    print_floor(rows)
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "platform": platform.platform()},
              "lookups": rows, "throughput": thr, "updates": upd,
              "targets": [{"name": n, "value": v, "want": w, "met": ok} for n, v, w, ok in tg]}
    (out / "lookup.json").write_text(json.dumps(result, indent=2))
    if plot(rows, out / "lookup.png"):
        print("\nwrote %s and %s" % (out / "lookup.json", out / "lookup.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
