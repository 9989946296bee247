"""``pymod posture``: which module-loading security properties a kernel
configuration enforces.

    pymod posture [--config FILE] [--sig-enforce] [--lockdown] [--json]

Without ``--config``, pymod's built-in default kernel.  Each property comes
with the option responsible and what a kernel without it does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pymod.tools.common import dump_json, error, os_message, write

PROG = "pymod posture"


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="a kernel .config (default: the built-in kernel)")
    ap.add_argument("--release", help="kernel release (default: from the file name)")
    ap.add_argument("--sig-enforce", action="store_true", help="module.sig_enforce=1")
    ap.add_argument("--lockdown", action="store_true", help="lockdown=integrity")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from pymod.config import Config
    from pymod.loader.kernel import Kernel
    from pymod.loader.posture import as_dict, posture, posture_table

    try:
        config = (Config.from_kconfig(args.config, release=args.release)
                  if args.config else Config())
        kernel = Kernel(config, sig_enforce=args.sig_enforce, lockdown=args.lockdown)
    except (OSError, ValueError) as e:
        error(PROG, os_message(e) if isinstance(e, OSError) else
              "%s (give --release)" % e if "release" in str(e) else str(e))
        return 1
    props = posture(kernel)
    if args.json:
        dump_json(as_dict(props), sys.stdout)
    else:
        write(sys.stdout, posture_table(props))
    return 0
