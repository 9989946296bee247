"""pymod's tools against kmod's, side by side on one kernel tree.

    python bench/bench_tools.py [--kernel-dir DIR --config F --symvers F] [--repeat N]
                                [--pymod-src DIR]

Times ``pymod deps`` vs ``depmod -b``, ``pymod load MODULES_DIR`` (the whole
tree into one simulated kernel, dependencies first) vs ``depmod -b``, and
``pymod info`` over every module vs ``modinfo`` over every module, each as a
fresh process (start-up included), on a copy of the xz-compressed tree and
on an uncompressed copy.  Runs alternate between the two tools so both see
the same machine load; the table shows the best and median wall times and
the ratio of the bests.  The last column checks the outputs: modules.dep
byte for byte, modinfo's text, every module LIVE in ``/proc/modules``.
``--pymod-src`` times another checkout of pymod (e.g. a baseline) instead
of this one.  Results go to ``bench/out/bench_tools-<time>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "bench" / "out"
TREE_FILES = ("modules.order", "modules.builtin", "modules.builtin.modinfo")


def find_kernel() -> Any:
    """The cached Debian kernel (modules_dir, config, symvers)."""
    sys.path.insert(0, str(REPO))
    from devtools.debian_kernel import find_cached_kernel, kernel_cache_root

    kernel = find_cached_kernel()
    if kernel is None:
        sys.exit("bench_tools: no kernel in %s; pass --kernel-dir, --config and --symvers "
                 "(or run devtools/debian_kernel.py first)" % kernel_cache_root())
    return kernel


def tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in ("/sbin/" + name, "/usr/sbin/" + name) if os.path.exists(p)), None)
    if path is None:
        sys.exit("bench_tools: kmod's %s is not installed" % name)
    return path


def copy_tree(src: Path, base: Path, release: str, decompress: bool) -> Path:
    """``base/lib/modules/<release>``: the modules and the order files, nothing else."""
    top = base / "lib" / "modules" / release
    for f in src.rglob("*"):
        rel = f.relative_to(src)
        if rel.parts[0] in ("build", "source") or not f.is_file():
            continue
        if len(rel.parts) == 1 and rel.name not in TREE_FILES:
            continue  # depmod's own outputs of an earlier run
        dst = top / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if decompress and f.name.endswith(".ko.xz"):
            dst.with_name(f.name[:-3]).write_bytes(lzma.decompress(f.read_bytes()))
        else:
            shutil.copyfile(f, dst)
    return top


def modules_of(top: Path) -> list[str]:
    return sorted(str(p) for p in (top / "kernel").rglob("*.ko*"))


def pymod_command(sub: str) -> list[str]:
    """The user-facing ``pymod <sub>`` when the CLI exists, else the tool's own main."""
    if importlib.util.find_spec("pymod.__main__") is not None:
        return [sys.executable, "-m", "pymod", sub]
    if sub == "deps":
        return [sys.executable, "-m", "pymod.tools.deps"]
    return [sys.executable, "-c", "import sys; from pymod.tools.info import main; "
            "sys.exit(main(sys.argv[1:]))"]


# Every command runs in the timed checkout: `python -m` puts the working
# directory ahead of PYTHONPATH.
def timed(cmd: list[str], env: dict[str, str], stdout: Any) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=stdout, stderr=subprocess.DEVNULL, env=env,
                   cwd=env["PYTHONPATH"].split(os.pathsep)[0])
    return time.perf_counter() - t0


def race(a: list[str], b: list[str], repeat: int,
         env: dict[str, str]) -> tuple[list[float], list[float]]:
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeat):
        ta.append(timed(a, env, subprocess.DEVNULL))
        tb.append(timed(b, env, subprocess.DEVNULL))
    return ta, tb


def output_of(cmd: list[str], env: dict[str, str]) -> bytes:
    return subprocess.run(cmd, check=True, capture_output=True, env=env,
                          cwd=env["PYTHONPATH"].split(os.pathsep)[0]).stdout


def bench_tree(label: str, base: Path, release: str, repeat: int, env: dict[str, str],
               config: Path, symvers: Path, vmlinuz: Path | None = None) -> list[dict[str, Any]]:
    top = base / "lib" / "modules" / release
    mods = modules_of(top)
    ours = top / "pymod.modules.dep"
    rows = []

    deps_ours = pymod_command("deps") + ["-o", str(ours), str(top)]
    deps_kmod = [tool("depmod"), "-b", str(base), release]
    t_ours, t_kmod = race(deps_ours, deps_kmod, repeat, env)
    same = ours.read_bytes() == (top / "modules.dep").read_bytes()
    rows.append(row(label, "deps vs depmod", len(mods), t_ours, t_kmod, same))

    # `pymod load` exits 1 on any failure (timed() then raises), so a
    # finished run loaded everything; the check counts the LIVE modules.
    load_ours = [sys.executable, "-m", "pymod", "load", "--config", str(config),
                 "--symvers", str(symvers), str(top)]
    t_ours, t_kmod = race(load_ours, deps_kmod, repeat, env)
    live = [ln for ln in output_of(load_ours, env).decode().splitlines() if " Live " in ln]
    rows.append(row(label, "load vs depmod", len(mods), t_ours, t_kmod, len(live) == len(mods)))

    info_ours = pymod_command("info") + mods
    info_kmod = [tool("modinfo")] + mods
    t_ours, t_kmod = race(info_ours, info_kmod, repeat, env)
    same = output_of(info_ours, env) == output_of(info_kmod, env)
    rows.append(row(label, "info vs modinfo", len(mods), t_ours, t_kmod, same))

    if vmlinuz is not None:
        # modinfo parses each signature trailer (and prints it) but verifies
        # nothing; pymod verify checks each signature against vmlinuz's key
        verify_ours = [sys.executable, "-m", "pymod", "verify", "--vmlinuz", str(vmlinuz)] + mods
        t_ours, t_kmod = race(verify_ours, info_kmod, repeat, env)
        out = output_of(verify_ours, env).decode().splitlines()
        same = len(out) == len(mods) and all(": verified by " in ln for ln in out)
        rows.append(row(label, "verify vs modinfo", len(mods), t_ours, t_kmod, same))
    return rows


def row(tree: str, what: str, n: int, ours: list[float], kmod: list[float],
        same: bool) -> dict[str, Any]:
    return {"tree": tree, "comparison": what, "modules": n,
            "pymod_s": ours, "kmod_s": kmod,
            "pymod_best": min(ours), "kmod_best": min(kmod),
            "pymod_median": statistics.median(ours), "kmod_median": statistics.median(kmod),
            "ratio_best": min(ours) / min(kmod), "same_output": same}


def print_table(rows: list[dict[str, Any]]) -> None:
    head = "%-13s %-16s %7s %12s %12s %12s %12s %7s %5s" % (
        "tree", "comparison", "modules", "pymod best", "kmod best", "pymod med",
        "kmod med", "ratio", "same")
    print(head)
    print("-" * len(head))
    for r in rows:
        print("%-13s %-16s %7d %11.3fs %11.3fs %11.3fs %11.3fs %6.2fx %5s" % (
            r["tree"], r["comparison"], r["modules"], r["pymod_best"], r["kmod_best"],
            r["pymod_median"], r["kmod_median"], r["ratio_best"],
            "yes" if r["same_output"] else "NO"))
    print("(load vs depmod: 'same' means every module ended up Live)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel-dir", type=Path, help="a lib/modules/<release> tree "
                    "(default: the newest under the pymod cache)")
    ap.add_argument("--config", type=Path, help="the tree's kernel .config (for pymod load)")
    ap.add_argument("--symvers", type=Path, help="the tree's Module.symvers (for pymod load)")
    ap.add_argument("--vmlinuz", type=Path, help="the tree's kernel image (for pymod verify)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per tool (default 5)")
    ap.add_argument("--pymod-src", type=Path, default=REPO,
                    help="the pymod checkout to time (default: this one)")
    args = ap.parse_args(argv)

    if args.kernel_dir is None or args.config is None or args.symvers is None:
        kernel = find_kernel()
        args.kernel_dir = args.kernel_dir or Path(kernel.modules_dir)
        args.config = args.config or Path(kernel.config)
        args.symvers = args.symvers or Path(kernel.symvers)
        image = kernel.root / "boot" / ("vmlinuz-" + kernel.release)
        args.vmlinuz = args.vmlinuz or (image if image.is_file() else None)
    src = args.kernel_dir.resolve()
    release = src.name
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.pymod_src.resolve()),
                                                      env.get("PYTHONPATH")]))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pymod-bench-") as tmp:
        for label, decompress in (("xz", False), ("uncompressed", True)):
            base = Path(tmp) / label
            copy_tree(src, base, release, decompress)
            print("bench_tools: %s tree ready (%s)" % (label, base), file=sys.stderr)
            rows.extend(bench_tree(label, base, release, args.repeat, env,
                                   args.config, args.symvers, args.vmlinuz))
    print_table(rows)
    certs = None
    if args.vmlinuz is not None:
        # `pymod certs` on the tree's own kernel image (issue target: under 1 s)
        cmd = [sys.executable, "-m", "pymod", "certs", str(args.vmlinuz)]
        certs = [timed(cmd, env, subprocess.DEVNULL) for _ in range(args.repeat)]
        print("pymod certs %s: best %.3fs, median %.3fs"
              % (args.vmlinuz.name, min(certs), statistics.median(certs)))

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / ("bench_tools-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    out.write_text(json.dumps({
        "kernel_dir": str(src), "release": release, "cpus": os.cpu_count(),
        "pymod_src": str(args.pymod_src.resolve()),
        "load_average": os.getloadavg(), "pymod_command": pymod_command("deps"),
        "rows": rows, "certs_s": certs}, indent=2) + "\n")
    print("results: %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
