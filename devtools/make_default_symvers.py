"""Regenerate ``default.symvers``: the built-in default kernel's vmlinux exports.

A small excerpt of a real Debian 6.12 ``Module.symvers`` (so CRCs, GPL flags
and namespaces are realistic): ``module_layout``, every vmlinux symbol the
samples reference, and a few common exports of each kind for tests to use.

    python -m devtools.make_default_symvers [DEBIAN_MODULE_SYMVERS]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from devtools.build_samples import DEFAULT_SYMVERS, _scan
from pymod.loader.symvers import format_symvers, read_symvers
from pymod.samples.catalog import SAMPLES

# The Debian kernel the shipped default.symvers was cut from (its CRCs are that
# kernel's; a later Debian kernel may change them).
SOURCE_RELEASE = "6.12.117+deb12-cloud-amd64"

# A plain, a GPL-only and a namespaced export or two beyond what the samples use.
EXTRA_SYMBOLS = (
    "module_layout", "kfree", "__kmalloc_noprof", "memcpy", "memset", "strlen",
    "snprintf", "jiffies", "param_ops_int", "__stack_chk_fail",
    "synchronize_rcu", "kthread_create_on_node", "__SCT__cond_resched",
    "cpu_cache_invalidate_memregion", "bpf_map_get",
)


def find_debian_symvers() -> Path | None:
    cache = Path.home() / ".cache" / "pymod" / "debian"
    found = sorted(cache.glob("**/usr/src/linux-headers-*/Module.symvers"))
    return found[-1] if found else None


def wanted_symbols() -> list[str]:
    """The samples' undefined symbols (compiled here), then EXTRA_SYMBOLS."""
    names: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pymod-symvers-") as tmp:
        for s in SAMPLES:
            names += [name for name, _ in _scan(s, Path(tmp)).undefined]
    return list(dict.fromkeys(names + list(EXTRA_SYMBOLS)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.make_default_symvers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("symvers", nargs="?", type=Path,
                        help="a real Debian 6.12 Module.symvers (default: the pymod cache)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_SYMVERS)
    args = parser.parse_args(argv)
    source = args.symvers or find_debian_symvers()
    if source is None:
        print("error: no Module.symvers given and none in ~/.cache/pymod/debian "
              "(run devtools/debian_kernel.py)", file=sys.stderr)
        return 1
    real = read_symvers(source)
    vmlinux = [name for name in wanted_symbols()
               if name in real and real[name].module == "vmlinux"]
    missing = [name for name in EXTRA_SYMBOLS if name not in real]
    if missing:
        print("error: %s lacks %s" % (source, ", ".join(missing)), file=sys.stderr)
        return 1
    entries = sorted((real[name] for name in vmlinux), key=lambda e: e.name)
    args.output.write_text(format_symvers(entries))
    print("%s: %d vmlinux exports from %s" % (args.output, len(entries), source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
