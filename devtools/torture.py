"""An rcutorture-style run of the whole stack: loads and unloads on some
threads, lookups and /proc and sysfs reads on others, an invariant checked on
every read.

    python -m devtools.torture [--seconds 60] [--writers 2] [--readers 2] [--json]

Invariants (a violation is recorded with what was seen):

* an address never resolves to a module that was never placed there (every
  module's regions are recorded as it is listed; ids are never reused);
* the modules loaded before the run and never unloaded always resolve, in
  ``find``, ``find_many`` and ``within``, and always show as Live;
* under ``module_mutex`` (as ``/proc/modules`` reads): nothing half-loaded
  is LIVE: a LIVE module has no init region, every region resolves to it,
  its sysfs directory says live, its refcount counts its holders and its
  exports are in the directory;
* a load or unload fails only with :class:`pymod.ModuleLoadError`;
* the symbolizer that follows the kernel, changed meanwhile by writers of its
  own, answers as :mod:`devtools.torture_symbolize` says.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from devtools import torture_symbolize as ts
from pymod import Kernel, ModuleLoadError
from pymod.arch.x86_64 import MODULES_VADDR
from pymod.contract.internal import Module, ModuleState
from pymod.loader import queries
from pymod.samples import prebuilt_path
from pymod.symbolize.follow import KernelSymbolizer

STABLE = ("pm_exporter", "pm_outoftree")
FLOATING = ("pm_hello", "pm_importer", "pm_proprietary", "pm_weak", "pm_noinit",
            "pm_ro_after_init", "pm_livepatch")
FAILING = ("pm_wx", "pm_missing", "pm_crc_bad", "pm_common", "pm_dup_export", "pm_badmagic",
           "pm_ns_noimport")
SPAN = 64 << 20          # random probes fall in the bottom of the module area


class _Watched(Kernel):
    """A kernel that records every module's regions as it is listed."""

    def __init__(self) -> None:
        super().__init__()
        self.placed: dict[int, tuple[tuple[int, int], ...]] = {}
        self.placed_by_name: dict[str, set[tuple[int, int]]] = {}

    def list_module(self, mod: Module) -> None:
        self.placed[mod.id] = tuple(mod.regions().values())
        self.placed_by_name.setdefault(mod.name, set()).update(self.placed[mod.id])
        super().list_module(mod)


EXAMPLES_PER_KIND = 10


@dataclass
class Report:
    """Counts of what happened, and violations counted per kind.

    One injected fault can make a reader report the same thing thousands of
    times; a single capped list would then hide every other kind, so each
    kind keeps its own count and its first few examples."""

    counts: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    def violation(self, kind: str, what: str) -> None:
        with self.lock:
            self.kinds[kind] += 1
            seen = self.examples.setdefault(kind, [])
            if len(seen) < EXAMPLES_PER_KIND:
                seen.append(what)

    @property
    def violations(self) -> list[str]:
        """The kept examples of every kind."""
        with self.lock:
            return [v for kind in sorted(self.examples) for v in self.examples[kind]]


def _placed_at(k: _Watched, mod_id: int, addr: int) -> bool:
    return any(0 <= addr - base < size for base, size in k.placed.get(mod_id, ()))


def _writer(k: _Watched, images: dict[str, bytes], seed: int, stop: float, r: Report) -> None:
    rng = random.Random(seed)
    while time.monotonic() < stop:
        roll = rng.random()
        name = rng.choice(FAILING if roll < 0.2 else FLOATING)
        try:
            if roll < 0.55:
                init = -12 if rng.random() < 0.1 else 0
                k.load_module(images[name], init_result=init)
                r.count("loads")
            else:
                k.delete_module(rng.choice(FLOATING))
                r.count("unloads")
        except ModuleLoadError as e:
            r.count("refused:%s" % e.errno)
        except Exception as e:  # noqa: BLE001 - anything else is the bug we look for
            r.violation("writer-error", "writer: %s: %r" % (name, e))


def _probe_stable(k: _Watched, stable: dict[str, list[int]], r: Report) -> None:
    for name, addrs in stable.items():
        for addr in addrs:
            mod = k.find(addr)
            if mod is None or mod.name != name:
                r.violation("stable-find", "find(%#x) = %s, expected stable %s" % (addr, mod, name))
            if not k.within_module(addr, name):
                r.violation("stable-within", "within(%#x, %s) is False" % (addr, name))
        r.count("stable_reads", 2 * len(addrs))


def _probe_random(k: _Watched, rng: random.Random, r: Report) -> None:
    addrs = [MODULES_VADDR + rng.randrange(SPAN) for _ in range(64)]
    for addr in addrs:
        mod = k.find(addr)
        if mod is not None and not _placed_at(k, mod.id, addr):
            r.violation("find-misplaced",
                        "find(%#x) = %s (id %d), never placed there" % (addr, mod.name, mod.id))
    ids = k.features.tree.map.find_many(np.array(addrs, dtype=np.uint64))  # type: ignore[attr-defined]
    for addr, mod_id in zip(addrs, ids.tolist(), strict=True):
        if mod_id >= 0 and not _placed_at(k, mod_id, addr):
            r.violation("find-many-misplaced",
                        "find_many(%#x) = id %d, never placed there" % (addr, mod_id))
    r.count("random_reads", 2 * len(addrs))


def _reader(k: _Watched, stable: dict[str, list[int]], sym: Any, exp: ts.Expectations,
            seed: int, stop: float, r: Report) -> None:
    rng = random.Random(seed)
    while time.monotonic() < stop:
        _probe_stable(k, stable, r)
        _probe_random(k, rng, r)
        ts.probe(sym, exp, ts.random_addrs(rng, MODULES_VADDR, SPAN), k.placed_by_name,
                 r.count, r.violation)
        proc = k.proc_modules()
        live = {ln.split()[0] for ln in proc.splitlines() if " Live " in ln}
        if not live >= set(STABLE):
            r.violation("proc-lost-stable", "/proc/modules lost a stable module:\n" + proc)
        r.count("proc_reads")


def _check_live(k: _Watched, mod: Module, sym: Any, r: Report) -> None:
    if any(m.size for t, m in mod.mem.items() if t.is_init):
        r.violation("live-with-init", "%s is LIVE with init memory" % mod.name)
    for base, size in mod.regions().values():
        for addr in (base, base + size - 1):
            found = k.find(addr)
            if found is not mod:
                r.violation("live-not-found",
                            "%s is LIVE but find(%#x) = %s" % (mod.name, addr, found))
    if queries.sysfs(k, mod.name).get("initstate") != "live":
        r.violation("live-sysfs", "%s is LIVE but sysfs says %s"
                    % (mod.name, queries.sysfs(k, mod.name)))
    if mod.refcount != len(mod.holders):
        r.violation("refcount",
                    "%s refcount %d, holders %d" % (mod.name, mod.refcount, len(mod.holders)))
    if any(k.symbols.find_symbol(s.name) is not s for s in mod.syms):
        r.violation("live-export", "%s is LIVE but an export is not in the directory" % mod.name)
    text = mod.regions().get("text")
    if sym is not None and text is not None:
        found = sym.symbolize(text[0])
        if found is None or found.module != mod.name:
            r.violation("live-unsymbolized",
                        "%s is LIVE but its text base symbolizes to %s" % (mod.name, found))


def _checker(k: _Watched, sym: Any, stop: float, r: Report) -> None:
    while time.monotonic() < stop:
        with k.module_mutex:
            for mod in k.modules:
                if mod.state == ModuleState.LIVE:
                    _check_live(k, mod, sym, r)
                elif mod.state != ModuleState.COMING:
                    r.violation("state",
                                "%s listed in state %s between loads" % (mod.name, mod.state))
        r.count("full_checks")
        time.sleep(0.001)


def torture(seconds: float, writers: int = 2, readers: int = 2, seed: int = 1) -> Report:
    k = _Watched()
    images = {n: prebuilt_path(n).read_bytes() for n in STABLE + FLOATING + FAILING}
    for name in STABLE:
        k.load_module(images[name])
    stable = {m.name: [b + off for b, s in m.regions().values() for off in (0, s // 2, s - 1)]
              for m in k.modules}
    sym = KernelSymbolizer(k)
    exp = ts.Expectations.build(sym, [a for addrs in stable.values() for a in addrs])
    r = Report()
    stop = time.monotonic() + seconds
    threads = [threading.Thread(target=_writer, args=(k, images, seed + i, stop, r))
               for i in range(writers)]
    threads += [threading.Thread(target=ts.synth_writer, args=(sym, i, stop, r.count, r.violation))
                for i in range(ts.SYNTH)]
    threads += [threading.Thread(target=_reader,
                                 args=(k, stable, sym, exp, seed + 100 + i, stop, r))
                for i in range(readers)]
    threads.append(threading.Thread(target=_checker, args=(k, sym, stop, r)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in FLOATING[::-1] + FLOATING[::-1]:   # importers first, twice for holders
        if k.module(name) is not None:
            try:
                k.delete_module(name)
            except ModuleLoadError as e:
                r.violation("final-unload", "final unload of %s: %s" % (name, e))
    r.count("modules_left", len(k.modules))
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.torture", description=__doc__)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = torture(args.seconds, args.writers, args.readers, args.seed)
    out: dict[str, Any] = {"seconds": args.seconds, "counts": dict(sorted(r.counts.items())),
                           "violation_kinds": dict(sorted(r.kinds.items())),
                           "violations": r.violations}
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key, value in out["counts"].items():
            print("%-20s %d" % (key, value))
        print("violations           %d" % sum(r.kinds.values()))
        for kind, n in sorted(r.kinds.items()):
            print("  %-18s %d, e.g. %s" % (kind, n, r.examples[kind][0]))
    return 1 if r.violations else 0


if __name__ == "__main__":
    sys.exit(main())
