"""Source-line benchmark: ``python bench/bench_lines.py [--vmlinux FILE] [--quick] [--out DIR]``.

pymod's DWARF index beside its peers, on the same debug file and the same
addresses, in one run: binutils ``addr2line -f -i`` (what the kernel's own
scripts call) and ``llvm-symbolizer --inlines``.  The default file is the
6.1 cloud ``-dbg`` vmlinux that ``devtools/debian_dbg.py`` caches.

Measured: pymod's index build from cold (a fresh cache) and a cached reopen;
a batch lookup with inline chains (ns/address at 10**6 random text
addresses); the whole ``pymod symbolize --debuginfo`` command on 10**5
distinct addresses, warm and cold, start-up included, against
``llvm-symbolizer`` on the same addresses; peak RSS of every command.
Before anything is timed, pymod's chains are checked against addr2line's on
a sample, and the agreement is part of the output.  Writes
``<out>/lines.json`` and ``<out>/lines.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import best_time  # noqa: E402
from pymod.dwarf.cache import load_index  # noqa: E402
from pymod.dwarf.native import Frame  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
LLVM = ("llvm-symbolizer-14", "llvm-symbolizer")


def note(msg: str) -> None:
    print("..", msg, file=sys.stderr, flush=True)


def default_vmlinux() -> Path:
    from devtools.debian_dbg import find_cached_dbg

    found = find_cached_dbg(series="6.1")
    if found is None:
        sys.exit("no cached -dbg vmlinux: run python3 devtools/debian_dbg.py, or give --vmlinux")
    return Path(found.vmlinux)


def text_addresses(vmlinux: Path, n: int, seed: int) -> np.ndarray:
    """``n`` distinct random addresses inside vmlinux's sized text symbols."""
    out = subprocess.run(["nm", "-S", "--defined-only", str(vmlinux)], capture_output=True,
                         text=True, check=True).stdout
    spans = [(int(a, 16), int(s, 16)) for a, s, t, *_ in
             (ln.split() for ln in out.splitlines() if ln.count(" ") >= 3)
             if t in "tT" and int(s, 16) > 0]
    rng = random.Random(seed)
    picked: set[int] = set()
    while len(picked) < n:
        base, size = spans[rng.randrange(len(spans))]
        picked.add(base + rng.randrange(size))
    return np.array(sorted(picked), dtype=np.uint64)


def timed(cmd: list[str], stdin: str, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of one command."""
    with tempfile.NamedTemporaryFile("r") as rep:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rep.name, *cmd], input=stdin,
                           capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (cmd[0], p.stderr[-400:]))
        return wall, int(rep.read().split()[-1]) * 1024, p.stdout


def addr2line_chains(vmlinux: Path, addrs: np.ndarray) -> tuple[float, int, list[list[str]]]:
    """addr2line -f -i -a: every address's chain as 'function file:line' strings."""
    stdin = "".join("%#x\n" % a for a in addrs.tolist())
    wall, rss, out = timed(["addr2line", "-f", "-i", "-a", "-e", str(vmlinux)], stdin)
    chains: list[list[str]] = []
    lines = out.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("0x"):
            chains.append([])
            i += 1
            continue
        chains[-1].append("%s %s" % (lines[i], lines[i + 1]))
        i += 2
    return wall, rss, chains


def _text(f: Frame, discriminator: int) -> str:
    # addr2line prints the innermost row's discriminator after every frame
    where = "%s:%s" % (f.file, f.line or "?")
    if discriminator:
        where += " (discriminator %d)" % discriminator
    return "%s %s" % (f.function or "??", where)


def agreement(index: Any, addrs: np.ndarray, theirs: list[list[str]]) -> dict[str, int]:
    counts, offsets, frames = index.lookup_many(addrs)
    same = unnamed = 0
    for i, chain in enumerate(theirs):
        ours = index.frames(frames, int(offsets[i]), int(counts[i]))
        if not ours and len(chain) == 1 and chain[0].endswith(" ??:?"):
            same += 1           # no line row on either side (addr2line names the ELF symbol)
            continue
        texts = [_text(f, ours[0].discriminator) for f in ours]
        if texts == chain:
            same += 1
        elif [t.split(" ", 1)[1] for t in texts] == [c.split(" ", 1)[1] for c in chain] \
                and any(f.function is None for f in ours):
            unnamed += 1        # lines equal; addr2line named a frame from the ELF symbols
    return {"addresses": len(theirs), "same": same, "same_lines_symbol_named": unnamed,
            "different": len(theirs) - same - unnamed}


def pymod_build(vmlinux: Path, cache: Path) -> tuple[float, int]:
    code = ("import sys; from pathlib import Path; from pymod.dwarf.cache import load_index; "
            "r = load_index(sys.argv[1], directory=Path(sys.argv[2])); assert not r.hit")
    wall, rss, _ = timed([sys.executable, "-c", code, str(vmlinux), str(cache)], "")
    return wall, rss


def reopen(vmlinux: Path, cache: Path, repeat: int = 5) -> float:
    def once() -> None:
        assert load_index(vmlinux, directory=cache).hit
    return best_time(once, repeat)


def batch_ns(index: Any, addrs: np.ndarray, repeat: int = 3) -> float:
    return best_time(lambda: index.lookup_many(addrs), repeat) / len(addrs) * 1e9


def cli(vmlinux: Path, addrs: np.ndarray, cache: Path) -> tuple[float, int]:
    """``pymod symbolize --debuginfo`` over a bare address list."""
    stdin = "".join("%016x\n" % a for a in addrs.tolist())
    # Python as an installed package runs: its bytecode compiled once, as
    # pip does at install (an editable install under PYTHONDONTWRITEBYTECODE
    # would compile pymod's sources on every start).
    import pymod

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(pymod.__file__)],
                   capture_output=True, check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    env = dict(os.environ, PYMOD_CACHE=str(cache))
    cmd = [sys.executable, "-m", "pymod", "symbolize", "--debuginfo", str(vmlinux)]
    wall, rss, _ = timed(cmd, stdin, env)
    return wall, rss


def llvm(vmlinux: Path, addrs: np.ndarray) -> tuple[float, int]:
    tool = next((t for t in LLVM if shutil.which(t)), None)
    if tool is None:
        raise RuntimeError("llvm-symbolizer is not installed (apt-get install llvm-14)")
    stdin = "".join("%#x\n" % a for a in addrs.tolist())
    wall, rss, _ = timed([tool, "--inlines", "--obj=%s" % vmlinux], stdin)
    return wall, rss


def run(vmlinux: Path, quick: bool) -> dict[str, Any]:
    n_check, n_cli, n_batch = (300, 10_000, 100_000) if quick else (2000, 100_000, 1_000_000)
    addrs = text_addresses(vmlinux, n_cli, seed=1)
    sample = addrs[np.random.default_rng(2).choice(len(addrs), n_check, replace=False)]
    sample.sort()
    r: dict[str, Any] = {"vmlinux": str(vmlinux), "size": vmlinux.stat().st_size}
    with tempfile.TemporaryDirectory(prefix="pm-bench-lines-") as tmp:
        cache = Path(tmp) / "dwarf"
        note("pymod: index build from cold")
        r["build_s"], r["build_rss"] = pymod_build(vmlinux, cache)
        r["reopen_s"] = reopen(vmlinux, cache)
        index = load_index(vmlinux, directory=cache).index
        note("addr2line -f -i on %d addresses (the reference)" % n_check)
        r["addr2line_s"], r["addr2line_rss"], chains = addr2line_chains(vmlinux, sample)
        r["agreement"] = agreement(index, sample, chains)
        batch = text_addresses(vmlinux, n_batch, seed=3) if n_batch > n_cli else addrs
        r["batch_ns_per_address"] = batch_ns(index, np.random.default_rng(4).permutation(batch))
        note("llvm-symbolizer --inlines and pymod symbolize --debuginfo")
        for n in (n_check, n_cli):
            some = addrs[:n]
            r["llvm_%d" % n] = llvm(vmlinux, some)
            r["cli_warm_%d" % n] = cli(vmlinux, some, Path(tmp))
        cold = Path(tmp) / "cold"
        r["cli_cold_%d" % n_cli] = cli(vmlinux, addrs, cold)
    r["n_check"], r["n_cli"], r["n_batch"] = n_check, n_cli, n_batch
    return r


def report(r: dict[str, Any]) -> None:
    n = r["n_cli"]
    llvm_s = r["llvm_%d" % n][0]
    print("index build (cold)          %7.2f s  %6.0f MB  (target <= 5 s, 1.5 GB)"
          % (r["build_s"], r["build_rss"] / 1e6))
    print("cached reopen               %7.1f ms            (target <= 50 ms)"
          % (r["reopen_s"] * 1e3))
    print("batch lookup, inline chains %7.0f ns/address    (target <= 200)"
          % r["batch_ns_per_address"])
    a = r["agreement"]
    print("addr2line agreement         %d/%d same, %d same lines (a frame named by the ELF"
          " symbol), %d differ"
          % (a["same"], a["addresses"], a["same_lines_symbol_named"], a["different"]))
    print("addr2line -f -i, %d addrs  %7.2f s  %6.0f MB" % (r["n_check"], r["addr2line_s"],
                                                          r["addr2line_rss"] / 1e6))
    for k in sorted(x for x in r if x.startswith(("llvm_", "cli_"))):
        print("%-27s %7.2f s  %6.0f MB" % (k, r[k][0], r[k][1] / 1e6))
    print("pymod symbolize --debuginfo vs llvm-symbolizer, %d addresses: warm %.1fx, cold %.1fx"
          "  (target: warm >= 5x, cold >= 1x)"
          % (n, llvm_s / r["cli_warm_%d" % n][0], llvm_s / r["cli_cold_%d" % n][0]))


def plot(r: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; pip install '.[bench]')", file=sys.stderr)
        return

    n = r["n_cli"]
    labels = ["addr2line -f -i\n%d" % r["n_check"], "llvm-symbolizer\n%d" % r["n_check"],
              "pymod warm\n%d" % r["n_check"], "llvm-symbolizer\n%d" % n,
              "pymod warm\n%d" % n, "pymod cold\n%d" % n]
    secs = [r["addr2line_s"], r["llvm_%d" % r["n_check"]][0], r["cli_warm_%d" % r["n_check"]][0],
            r["llvm_%d" % n][0], r["cli_warm_%d" % n][0], r["cli_cold_%d" % n][0]]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.bar(range(len(secs)), secs, color=["#999", "#c66", "#36c", "#c66", "#36c", "#69c"])
    ax.set_xticks(range(len(secs)), labels, fontsize=8)
    ax.set_ylabel("seconds, whole command (start-up included)")
    ax.set_title("file:line with inline chains on %s" % Path(r["vmlinux"]).name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/bench_lines.py", description=__doc__)
    ap.add_argument("--vmlinux", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    r = run(args.vmlinux or default_vmlinux(), args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lines.json").write_text(json.dumps(r, indent=2) + "\n")
    report(r)
    plot(r, args.out / "lines.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
