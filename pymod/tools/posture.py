"""``pymod posture``: which module-loading security properties a kernel
configuration enforces.

    pymod posture [--kernel-dir DIR | --config FILE | --default-kernel] [--release R]
                  [--vmlinuz F] [--sig-enforce] [--lockdown] [--json]

The kernel is chosen as for every command (:mod:`pymod.tools.kernelopts`);
with no option naming one, pymod's built-in default kernel.  Each property comes
with the option responsible and what a kernel without it does.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from pymod.tools.common import dump_json, error, help_text, os_message, write
from pymod.tools.kernelopts import add_kernel_options, choose_kernel, kernel_config, missing_files

PROG = "pymod posture"


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=help_text(__doc__))
    add_kernel_options(ap, symvers=False, certs=False)   # default: the built-in kernel
    ap.add_argument("--sig-enforce", action="store_true", help="module.sig_enforce=1")
    ap.add_argument("--lockdown", action="store_true", help="lockdown=integrity")
    ap.add_argument("--json", action="store_true",
                    help="print a JSON list, one object per property")
    args = ap.parse_args(argv)
    target = choose_kernel(ap, args, "builtin")
    assert target is not None
    missing = missing_files(target, args, symvers=False)
    if missing is not None:
        error(PROG, missing)
        return 2
    from pymod.loader.kernel import Kernel
    from pymod.loader.posture import posture, posture_table

    try:
        config = kernel_config(target, need_release=False)
        kernel = Kernel(config, sig_enforce=args.sig_enforce, lockdown=args.lockdown)
    except (OSError, ValueError) as e:
        error(PROG, os_message(e) if isinstance(e, OSError) else str(e))
        return 1
    props = posture(kernel)
    if args.json:
        dump_json([dataclasses.asdict(p) for p in props], sys.stdout)   # docs/cli/json
    else:
        write(sys.stdout, posture_table(props))
    return 0
