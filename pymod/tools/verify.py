"""``pymod verify``: check module signatures against trusted certificates.

    pymod verify (--cert FILE | --vmlinuz FILE | --kernel-dir DIR)... [--json] [-j N] FILE...

Each module (any compression) is read, its signature trailer split off and
its PKCS#7 signature verified as the kernel's ``mod_verify_sig`` does.  One
line per module: ``verified by <subject>``, or the kernel's errno and what
it means.  When no trusted key matches (ENOKEY) the line names the key the
signature asks for, as the kernel's key search looks it up: the issuer and
serial number (a version 1 SignerInfo) or the subjectKeyIdentifier (version
3), spelled as ``pymod certs`` and modinfo's ``sig_key`` spell them.  Exit 0
only when every module verified.
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
    dump_json,
    error,
    help_text,
    os_message,
    positive_int,
    terminal_safe,
    trusted_certificates,
    write,
)
from pymod.tools.kernelopts import add_kernel_options, choose_kernel

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
        return _row(path, e.errno or errno.EIO, os_message(e))
    if ko.sig is None or ko.sig_errno:
        code = ko.sig_errno or errno.ENODATA
        return _row(path, code, MEANING.get(code, os.strerror(code)))
    outcome = verify_pkcs7_module(bytes(ko.payload), ko.sig.pkcs7, _keyring)
    wanted = wanted_keys(ko.sig.pkcs7) if outcome.errno == errno.ENOKEY else []
    message = ("verified by %s" % outcome.signer) if outcome.errno == 0 \
        else MEANING.get(outcome.errno, os.strerror(outcome.errno))
    if wanted:
        message += ": the signature asks for %s" % " or ".join(map(key_text, wanted))
    return _row(path, outcome.errno, message, outcome.signer, wanted)


def _row(path: str, code: int, message: str, signer: str | None = None,
         wanted: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """One file's record: the same keys whatever the outcome."""
    return {"file": path, "errno": code, "signer": signer, "message": message,
            "wanted_keys": wanted or []}


# The attribute names RFC 4514 (and cryptography's rfc4514_string) use.
_NAME_LABELS = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
                "2.5.4.9": "STREET", "2.5.4.10": "O", "2.5.4.11": "OU",
                "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
                "1.2.840.113549.1.9.1": "emailAddress"}


def wanted_keys(pkcs7: bytes) -> list[dict[str, str]]:
    """The key each signer of a (kernel-parsable) signature names, as the
    kernel's ``find_asymmetric_key`` is asked for it: ``{"issuer",
    "serial"}`` for issuer and serial number, ``{"skid"}`` for a
    subjectKeyIdentifier; [] when the message does not parse."""
    from pymod.elf.pkcs7 import parse_pkcs7
    from pymod.errors import PymodError
    from pymod.tools.certs import hex_colons

    try:
        signers = parse_pkcs7(pkcs7, kernel=True).signers
    except PymodError:
        return []
    out = []
    for s in signers:
        if s.version == 3:
            out.append({"skid": hex_colons(s.kid)})
        else:
            # RFC 4514 order (the last RDN first), as pymod certs prints an issuer
            issuer = ",".join("%s=%s" % (_NAME_LABELS.get(oid, oid),
                                         value.decode("utf-8", "backslashreplace"))
                              for oid, value in reversed(s.issuer))
            out.append({"issuer": issuer, "serial": hex_colons(s.serial)})
    return out


def key_text(key: dict[str, str]) -> str:
    """``issuer "CN=…" serial 0E:6E:…`` or ``SKID 8D:02:…``."""
    if "skid" in key:
        return "SKID %s" % key["skid"]
    return "issuer \"%s\" serial %s" % (key["issuer"], key["serial"])


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=help_text(__doc__))
    add_kernel_options(ap, config=False, symvers=False, default_kernel=False)
    ap.add_argument("--json", action="store_true",
                    help="print a JSON list, one object per module")
    ap.add_argument("-j", "--jobs", type=positive_int, help="processes (default: all cores)")
    ap.add_argument("modules", nargs="+", metavar="FILE",
                    help="module file (.ko, .ko.gz, .ko.xz, .ko.zst)")
    args = ap.parse_args(argv)
    images = list(args.vmlinuz)
    if (args.kernel_dir or args.release) and not images:
        target = choose_kernel(ap, args, "none")   # its vmlinuz's keys (docs/cli/kernel)
        if target is None or target.vmlinuz is None:
            error(PROG, "no vmlinuz for %s: give --vmlinuz"
                  % (target.release if target else args.kernel_dir))
            return 2
        images = [str(target.vmlinuz)]
    if not args.cert and not images:
        ap.error("give --cert, --vmlinuz or --kernel-dir: which keys are trusted")
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certs = trusted_certificates(args.cert, images)
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
