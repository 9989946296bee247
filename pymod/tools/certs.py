"""``pymod certs``: the signing certificates built into a kernel image.

    pymod certs [-o DIR] [--json] VMLINUZ

Finds the bzImage's compressed payload (gzip, xz, zstd, lz4, bzip2 or
lzma), decompresses it and lists every X.509 certificate in it: subject,
serial number, key type.  With ``-o`` each is also written to DIR as DER,
ready for ``Kernel(trusted_keys=...)`` or ``pymod check --cert`` (each file
replaced atomically: a symbolic link planted in DIR is replaced, not
written through).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from pymod.atomicio import write_atomic
from pymod.tools.common import dump_json, error, os_message, terminal_safe, write

PROG = "pymod certs"


def describe(cert: Any) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kind = "RSA %d" % key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind = "EC %s" % key.curve.name
    else:
        kind = type(key).__name__
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": "%x" % cert.serial_number, "key": kind}


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output-dir", help="write each certificate here as DER")
    ap.add_argument("--json", action="store_true", help="one JSON array")
    ap.add_argument("vmlinuz")
    args = ap.parse_args(argv)
    from cryptography.hazmat.primitives.serialization import Encoding

    from pymod.elf.vmlinuz import certificates_of

    try:
        kind, certs = certificates_of(args.vmlinuz)
        rows = [describe(c) for c in certs]
        if args.output_dir:
            os.makedirs(args.output_dir, exist_ok=True)
            for i, (cert, row) in enumerate(zip(certs, rows, strict=True)):
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", row["subject"])[:80].strip("_")
                row["file"] = os.path.join(args.output_dir, "%02d-%s.der" % (i, name or "cert"))
                write_atomic(row["file"], cert.public_bytes(Encoding.DER))
    except OSError as e:
        error(PROG, os_message(e))
        return 1
    if args.json:
        dump_json(rows, sys.stdout)
    else:
        write(sys.stdout, "%s: %s payload, %d certificate%s\n"
              % (terminal_safe(args.vmlinuz), kind, len(rows), "" if len(rows) == 1 else "s"))
        for row in rows:
            shown = {k: terminal_safe(v) for k, v in row.items()}    # the image's strings
            write(sys.stdout, "  subject: %s\n  serial:  %s\n  key:     %s\n%s"
                  % (shown["subject"], shown["serial"], shown["key"],
                     "  file:    %s\n" % shown["file"] if "file" in row else ""))
    return 0 if rows else 1
