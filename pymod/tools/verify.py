"""``pymod verify``: check module signatures against trusted certificates.

    pymod verify (--cert FILE | --vmlinuz FILE)... [--json] [-j N] FILE...

Each module (any compression) is read, its signature trailer split off and
its PKCS#7 signature verified as the kernel's ``mod_verify_sig`` does.  One
line per module: ``verified by <subject>``, or the kernel's errno and what
it means.  Exit 0 only when every module verified.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from pymod.tools.common import (
    add_trust_options,
    dump_json,
    error,
    os_message,
    positive_int,
    terminal_safe,
    trusted_certificates,
    write,
)

PROG = "pymod verify"
MEANING = {
    0: "verified",
    errno.ENODATA: "unsigned",
    errno.ENOPKG: "unsupported crypto",
    errno.ENOKEY: "no trusted key",
    errno.EKEYREJECTED: "signature rejected",
    errno.EBADMSG: "malformed signature",
    errno.EINVAL: "malformed signature",
}

_keyring: Any = None


def _init(certs_der: list[bytes]) -> None:
    global _keyring
    from pymod.elf.sigverify import Keyring

    _keyring = Keyring(certs_der)


def verify_one(path: str) -> dict[str, Any]:
    """The outcome for one file (needs :func:`_init` first)."""
    from pymod.elf.kofile import read_ko
    from pymod.elf.sigverify import verify_pkcs7_module

    try:
        ko = read_ko(path)
    except OSError as e:
        return {"file": path, "errno": e.errno or errno.EIO, "message": os_message(e)}
    if ko.sig is None or ko.sig_errno:
        code = ko.sig_errno or errno.ENODATA
        return {"file": path, "errno": code, "message": MEANING.get(code, os.strerror(code))}
    outcome = verify_pkcs7_module(bytes(ko.payload), ko.sig.pkcs7, _keyring)
    return {"file": path, "errno": outcome.errno, "signer": outcome.signer,
            "message": ("verified by %s" % outcome.signer) if outcome.errno == 0
            else MEANING.get(outcome.errno, os.strerror(outcome.errno))}


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_trust_options(ap)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-j", "--jobs", type=positive_int, help="processes (default: all cores)")
    ap.add_argument("modules", nargs="+", metavar="FILE")
    args = ap.parse_args(argv)
    if not args.cert and not args.vmlinuz:
        ap.error("give --cert or --vmlinuz: which keys are trusted")
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certs = trusted_certificates(args.cert, args.vmlinuz)
    except OSError as e:
        error(PROG, os_message(e))
        return 1
    der = [c.public_bytes(Encoding.DER) for c in certs]
    jobs = args.jobs or min(len(os.sched_getaffinity(0)), max(1, len(args.modules) // 50))
    if jobs > 1:
        with ProcessPoolExecutor(jobs, initializer=_init, initargs=(der,)) as pool:
            rows = list(pool.map(verify_one, args.modules, chunksize=32))
    else:
        _init(der)
        rows = [verify_one(p) for p in args.modules]
    if args.json:
        dump_json([{**r, "errno": errno.errorcode.get(r["errno"]) if r["errno"] else None}
                   for r in rows], sys.stdout)
    else:
        write(sys.stdout, "".join(terminal_safe("%s: %s" % (r["file"], r["message"])) + "\n"
                                  for r in rows))
    return 0 if all(r["errno"] == 0 for r in rows) else 1
