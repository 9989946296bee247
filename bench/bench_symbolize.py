"""Symbolizer benchmark: ``python bench/bench_symbolize.py [--quick] [--out DIR]``.

Against the live ``/proc/kallsyms`` (vmlinux) plus modules (the pymod sample
modules loaded in a Kernel, repeated at distinct bases: ``--copies``), side
by side in one run: batch ``symbolize_many`` of 10**6 random addresses
inside symbols, one address at a time (``symbolize``), drgn's
``SymbolIndex`` behind ``Program.symbol`` (built from the same symbols and
sizes), a plain Python ``bisect`` and ``numpy.searchsorted``; ingesting
``/proc/kallsyms`` (file read, parse, build); where a batch's and a single
lookup's time goes (the C call alone, the binding, the wrapper); ns/address
against table size and batch size.  Everyone's answers are checked against
pymod's before anyone is timed.  Writes ``<out>/symbolize.json`` and
``<out>/symbolize.png``; prints the ratios against the issue's targets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Run as a script (python bench/bench_symbolize.py): the repo root holds the bench package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.plotting import style_log_axes  # noqa: E402
from bench.symbolize_inputs import (  # noqa: E402
    Bisect,
    Drgn,
    Universe,
    check,
    ingest,
    sample_modules,
    searchsorted,
    subsample,
)
from bench.timing import best_time  # noqa: E402
from pymod.symbolize import Symbolizer  # noqa: E402
from pymod.symbolize.model import Maps  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
MODULE_STRIDE = 0x100000          # distance between copies of the sample modules


def note(msg: str) -> None:
    print("..", msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ timings
def raw_c(sym: Symbolizer, addrs: np.ndarray) -> Callable[[], object]:
    """The C batch call alone: output buffers allocated and touched beforehand."""
    from pymod._lookup_cffi import ffi, lib

    n = len(addrs)
    bufs = [ffi.from_buffer(t + "_t[]", np.ones(n, t), require_writable=True)
            for t in ("int64", "int64", "int64", "uint64", "uint64", "uint8")]
    gens = ffi.new("uint64_t[2]")
    a = ffi.from_buffer("uint64_t[]", addrs)
    sm, call = sym._c._sm, lib.pm_symmap_lookup
    owner, table, syms, offset, size, reason = bufs
    return lambda: call(sm, a, n, False, owner, table, syms, offset, size, reason, gens)


def batch(sym: Symbolizer, u: Universe, drgn: Drgn | None, n: int, repeat: int) -> dict[str, Any]:
    """ns per address: a batch of ``n`` random addresses, and its breakdown."""
    addrs = u.random(n, seed=1)
    slow, slow_list = addrs[: max(1000, n // 10)], addrs.tolist()   # Python loops: all of them
    check(sym, u, drgn, addrs[:20_000])
    res, bis = sym.symbolize_many(slow), Bisect(u)
    row = {"batch_n": n,
           "c_call_ns": best_time(raw_c(sym, addrs), repeat) / n * 1e9,
           "binding_ns": best_time(lambda: sym._c.lookup(addrs), repeat) / n * 1e9,
           "pymod_ns": best_time(lambda: sym.symbolize_many(addrs), repeat) / n * 1e9,
           "names_ns": best_time(res.names, max(1, repeat // 2)) / len(slow) * 1e9,
           "format_ns": best_time(res.format, max(1, repeat // 2)) / len(slow) * 1e9,
           "bisect_ns": best_time(lambda: bis.loop(slow_list), 2) / n * 1e9,
           "searchsorted_ns": best_time(lambda: searchsorted(u, addrs), repeat) / n * 1e9}
    if drgn is not None:
        row["drgn_ns"] = best_time(lambda: drgn.loop(slow_list), 2) / n * 1e9
    return row


def single(sym: Symbolizer, u: Universe, drgn: Drgn | None, n: int, repeat: int) -> dict[str, Any]:
    """ns per call, one address per call from Python, and its breakdown."""
    addrs = u.random(n, seed=2)
    as_list = addrs.tolist()
    ones = [addrs[i:i + 1] for i in range(n)]
    c_calls = [raw_c(sym, one) for one in ones[:2000]]

    def each(fn: Callable[[Any], object], items: list[Any]) -> float:
        return best_time(lambda: [fn(x) for x in items], repeat) / len(items) * 1e9

    row = {"c_call_ns": each(lambda c: c(), c_calls),
           "binding_ns": each(sym._c.lookup, ones),
           "batch_of_1_ns": each(sym.symbolize_many, ones),
           "pymod_ns": each(sym.symbolize, as_list),
           # every address is a symbol's: no None check in the measured call
           "pymod_name_ns": each(lambda x: sym.symbolize(x).name,  # type: ignore[union-attr]
                                 as_list),
           "pymod_str_ns": each(lambda x: str(sym.symbolize(x)), as_list),
           "bisect_ns": each(Bisect(u).find, as_list)}
    if drgn is not None:
        # drgn's Symbol, like pymod's, decodes its name when first asked for it
        row["drgn_ns"] = each(drgn.prog.symbol, as_list)
        row["drgn_name_ns"] = each(lambda x: drgn.prog.symbol(x).name, as_list)
    return row


def _table_row(maps: Maps, k: int, n: int, with_drgn: bool) -> dict[str, Any]:
    note("table of %d symbols" % k)
    m = subsample(maps, k, seed=k)
    sym = Symbolizer(m)
    u = Universe(sym, m)
    d = Drgn(u) if with_drgn else None
    addrs = u.random(n, seed=3)
    slow = addrs[: n // 5].tolist()
    check(sym, u, d, addrs[:2000])
    bis = Bisect(u)
    row = {"symbols": len(u.sym_addrs),
           "pymod_ns": best_time(lambda: sym.symbolize_many(addrs), 3) / n * 1e9,
           "searchsorted_ns": best_time(lambda: searchsorted(u, addrs), 3) / n * 1e9,
           "bisect_ns": best_time(lambda: bis.loop(slow), 2) / len(slow) * 1e9}
    if d is not None:
        row["drgn_ns"] = best_time(lambda: d.loop(slow), 2) / len(slow) * 1e9
    return row


def _batch_row(sym: Symbolizer, addrs: np.ndarray, b: int) -> dict[str, Any]:
    m = min(len(addrs), max(b, 20_000))
    chunks = [addrs[i:i + b] for i in range(0, m - b + 1, b)]
    t = best_time(lambda: [sym.symbolize_many(c) for c in chunks], 3)
    return {"batch": b, "pymod_ns": t / (len(chunks) * b) * 1e9}


# ------------------------------------------------------------------ report
def targets(r: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    b, s = r["batch"], r["single"]
    out = [("batch: pymod ns/address", b["pymod_ns"], "<= 40", b["pymod_ns"] <= 40)]
    if "drgn_ns" in b:
        out += [("batch: drgn / pymod per address", b["drgn_ns"] / b["pymod_ns"], ">= 8",
                 b["drgn_ns"] >= 8 * b["pymod_ns"]),
                ("single: drgn / pymod symbolize()", s["drgn_ns"] / s["pymod_ns"], ">= 1",
                 s["drgn_ns"] >= s["pymod_ns"]),
                ("single, name read: drgn / pymod", s["drgn_name_ns"] / s["pymod_name_ns"],
                 ">= 1", s["drgn_name_ns"] >= s["pymod_name_ns"])]
    t = r["ingest"]["total_ms"]
    return out + [("ingest /proc/kallsyms: ms, read+parse+build", t, "< 80", t < 80)]


def print_report(r: dict[str, Any]) -> None:
    b, s, ing = r["batch"], r["single"], r["ingest"]
    print("symbols: %d vmlinux (%s) + %d in %d modules; drgn: %s"
          % (ing["symbols"], r["kallsyms"], r["module_symbols"], r["modules"],
             r.get("drgn", "unavailable")))
    print("\nns per address        batch of 10^%d   single call" % round(np.log10(b["batch_n"])))
    for label, key in (("pymod", "pymod_ns"), ("drgn SymbolIndex", "drgn_ns"),
                       ("python bisect", "bisect_ns"), ("numpy searchsorted", "searchsorted_ns")):
        print("  %-20s %12s %13s" % (label, "%.1f" % b[key] if key in b else "-",
                                     "%.0f" % s[key] if key in s else "-"))
    print("\nwhere pymod's time goes (ns per address | per call)")
    print("  C lookup alone (buffers ready)  %8.1f | %6.0f" % (b["c_call_ns"], s["c_call_ns"]))
    print("  + binding (SymMap.lookup)       %8.1f | %6.0f" % (b["binding_ns"], s["binding_ns"]))
    print("  + wrapper (symbolize_many)      %8.1f | %6.0f" % (b["pymod_ns"], s["batch_of_1_ns"]))
    print("  symbolize(addr) (C path)                 | %6.0f" % s["pymod_ns"])
    print("  symbolize(addr).name                     | %6.0f  (drgn: %s)"
          % (s["pymod_name_ns"], "%.0f" % s["drgn_name_ns"] if "drgn_name_ns" in s else "-"))
    print("  str(symbolize(addr))  (%%pS text)         | %6.0f" % s["pymod_str_ns"])
    print("  result.names() / .format()      %8.0f / %.0f (Python, per address)"
          % (b["names_ns"], b["format_ns"]))
    print("\ningest %s: read %.1f ms, parse %.1f ms, build %.2f ms; from_kallsyms %.1f ms"
          % (r["kallsyms"], ing["read_ms"], ing["parse_ms"], ing["build_ms"], ing["total_ms"]))
    if "drgn_build_ms" in r:
        print("drgn SymbolIndex from the same symbols: %.0f ms" % r["drgn_build_ms"])
    print("\ntargets:")
    for name, value, want, ok in r["targets"]:
        print("  %-46s %8.2f  (want %s)  %s" % (name, value, want, "met" if ok else "MISSED"))


def plot(r: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; pip install '.[bench]')", file=sys.stderr)
        return False
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    t = r["by_table"]
    ns = [x["symbols"] for x in t]
    for key, label in (("pymod_ns", "pymod symbolize_many"), ("drgn_ns", "drgn SymbolIndex"),
                       ("bisect_ns", "Python bisect"), ("searchsorted_ns", "numpy.searchsorted")):
        if all(key in x for x in t):
            a.plot(ns, [x[key] for x in t], marker="o", label=label)
    bs = r["by_batch"]
    b.plot([x["batch"] for x in bs], [x["pymod_ns"] for x in bs], marker="o",
           label="pymod symbolize_many")
    for key, label, style in (("drgn_ns", "drgn (one call per address)", "--"),
                              ("bisect_ns", "Python bisect", ":")):
        if key in r["batch"]:
            b.axhline(r["batch"][key], linestyle=style, color="grey" if style == ":" else "C1",
                      label=label)
    a.set_xlabel("symbols in the table (vmlinux, subsampled)")
    b.set_xlabel("addresses per call (full table, %d symbols)" % r["universe"])
    for ax, title in ((a, "ns/address vs table size"), (b, "ns/address vs batch size")):
        style_log_axes(ax, title, "ns per address")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kallsyms", default="/proc/kallsyms")
    p.add_argument("--copies", type=int, default=10, help="copies of the sample modules")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args(argv)
    n, repeat = (20_000, 2) if a.quick else (1_000_000, 5)
    note("ingesting %s" % a.kallsyms)
    core, ing = ingest(a.kallsyms, 3 if a.quick else 7)
    mods = sample_modules(a.copies)
    maps = Maps(core.core, mods)
    sym = Symbolizer(maps)
    u = Universe(sym, maps)
    r: dict[str, Any] = {"kallsyms": a.kallsyms, "ingest": ing, "modules": len(mods),
                         "module_symbols": sum(len(m.symbols) for m in mods),
                         "universe": len(u.sym_addrs), "machine": platform.machine(),
                         "cpus": os.cpu_count(), "python": platform.python_version(),
                         "load_average": os.getloadavg()}
    drgn = None
    try:
        drgn = Drgn(u)
        r["drgn"], r["drgn_build_ms"] = drgn.version, drgn.build_ms
    except ImportError as e:
        print("drgn unavailable (%s): pip install drgn; reporting the rest" % e)
    note("batch of %d" % n)
    r["batch"] = batch(sym, u, drgn, n, repeat)
    note("single lookups")
    r["single"] = single(sym, u, drgn, 2_000 if a.quick else 20_000, 3)
    sizes = [1000, 4000, 16000, 64000, len(core.core.symbols) if core.core else 0]
    r["by_table"] = [_table_row(core, k, n // 5, drgn is not None)
                     for k in (sizes[:2] if a.quick else sizes)]
    batches = u.random(n, seed=4)
    r["by_batch"] = [_batch_row(sym, batches, b) for b in (1, 10, 100, 1000, 10**4, 10**5, 10**6)
                     if b <= n]
    r["targets"] = targets(r)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print_report(r)
    (out / "symbolize.json").write_text(json.dumps(r, indent=2, default=str) + "\n")
    drew = plot(r, out / "symbolize.png")
    print("\nwrote %s%s" % (out / "symbolize.json", " and symbolize.png" if drew else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
