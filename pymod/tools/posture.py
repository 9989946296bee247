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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymod.tools.common import dump_json, error, help_text, os_message, write
from pymod.tools.kernelopts import add_kernel_options, choose_kernel, kernel_config, missing_files

if TYPE_CHECKING:
    from pymod.contract.facades import Property

PROG = "pymod posture"


def builtin_certificates(vmlinuz: Path | None) -> list[Any] | None:
    """The certificates built into the kernel image (the system keyring's
    first keys: the signing key and CONFIG_SYSTEM_TRUSTED_KEYS), None
    when no image is known."""
    from pymod.elf.vmlinuz import certificates_of

    return None if vmlinuz is None else certificates_of(str(vmlinuz))[1]


def with_builtin(props: list[Property], vmlinuz: Path | None,
                 certs: list[Any] | None) -> list[Property]:
    """``props`` with the image's built-in certificates counted after
    signature checking (the kernel trusts them as pymod then does)."""
    from pymod.contract.facades import Property

    if vmlinuz is None or certs is None:
        return props
    names = ", ".join(c.subject.rfc4514_string() for c in certs)
    row = Property("built-in certificates", bool(certs),
                   "the image's system keyring (CONFIG_MODULE_SIG_KEY, "
                   "CONFIG_SYSTEM_TRUSTED_KEYS)",
                   "%s holds no certificate: only the secondary and platform keyrings "
                   "can verify a module" % vmlinuz.name,
                   "%d in %s: %s" % (len(certs), vmlinuz.name, names) if certs else "")
    at = next((i + 1 for i, p in enumerate(props) if p.name == "signature checking"),
              len(props))
    return [*props[:at], row, *props[at:]]


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
        builtin = builtin_certificates(target.vmlinuz)
        kernel = Kernel(config, sig_enforce=args.sig_enforce, lockdown=args.lockdown,
                        trusted_keys=tuple(builtin or ()))
    except (OSError, ValueError) as e:
        error(PROG, os_message(e) if isinstance(e, OSError) else str(e))
        return 1
    props = with_builtin(posture(kernel), target.vmlinuz, builtin)
    if args.json:
        dump_json([dataclasses.asdict(p) for p in props], sys.stdout)   # docs/cli/json
    else:
        write(sys.stdout, posture_table(props))
    return 0
