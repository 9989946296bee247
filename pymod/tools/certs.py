"""``pymod certs``: the signing certificates built into a kernel image.

    pymod certs [-o DIR] [--json] VMLINUZ

Finds the bzImage's compressed payload (gzip, xz, zstd, lz4, bzip2 or
lzma), decompresses it and lists every X.509 certificate in it: subject,
issuer, serial number (written as modinfo writes a signature's sig_key:
uppercase hex bytes joined by colons), subjectKeyIdentifier, SHA-256
fingerprint of the DER, validity and key type.  A module's sig_key (or
the key ``pymod verify`` says a signature asks for) is the serial, or the
SKID, of the certificate that verifies it.  With ``-o`` each is also
written to DIR as DER,
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
from pymod.tools.common import dump_json, error, help_text, os_message, terminal_safe, write

PROG = "pymod certs"


def hex_colons(data: bytes) -> str:
    """``0E:6E:DA:…``: how modinfo writes ``sig_key`` (kmod's hex string,
    unwrapped)."""
    return data.hex(":").upper()


def serial_bytes(serial: int) -> bytes:
    """A serial number as kmod names a signer's: the magnitude, minimal
    big-endian bytes (OpenSSL's BN_bn2bin; no sign byte)."""
    magnitude = abs(serial)
    return magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")


def _skid(cert: Any) -> str | None:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except (x509.ExtensionNotFound, ValueError):
        return None
    return hex_colons(ext.value.digest)


def describe(cert: Any) -> dict[str, Any]:
    """A certificate's row: subject, issuer, serial and SKID (sig_key's
    spelling), SHA-256 fingerprint, validity (UTC, ISO 8601), key type."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kind = "RSA %d" % key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind = "EC %s" % key.curve.name
    else:
        kind = type(key).__name__
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": hex_colons(serial_bytes(cert.serial_number)), "skid": _skid(cert),
            "sha256_fingerprint": hex_colons(cert.fingerprint(hashes.SHA256())),
            "not_before": _utc(cert, "not_valid_before"),
            "not_after": _utc(cert, "not_valid_after"), "key": kind}


def _utc(cert: Any, which: str) -> str:
    """A validity bound, ISO 8601 in UTC (cryptography before 42 has only
    the naive datetime, which is UTC)."""
    import datetime

    aware = getattr(cert, which + "_utc", None)
    if aware is None:
        aware = getattr(cert, which).replace(tzinfo=datetime.timezone.utc)
    return str(aware.isoformat())


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=help_text(__doc__))
    ap.add_argument("-o", "--output-dir", metavar="DIR",
                    help="write each certificate here as DER")
    ap.add_argument("--json", action="store_true",
                    help="print a JSON list, one object per certificate")
    ap.add_argument("vmlinuz", metavar="VMLINUZ", help="a kernel image (x86 bzImage)")
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
            write(sys.stdout, _text(row))
    return 0 if rows else 1


_LABELS = (("subject", "subject"), ("issuer", "issuer"), ("serial", "serial"),
           ("skid", "SKID"), ("sha256_fingerprint", "SHA-256 fingerprint"),
           ("not_before", "not before"), ("not_after", "not after"), ("key", "key"),
           ("file", "file"))


def _text(row: dict[str, Any]) -> str:
    """One certificate's lines (its strings come from the image: terminal-safe)."""
    width = max(len(label) for _, label in _LABELS) + 2
    return "".join("  %-*s%s\n" % (width, label + ":", terminal_safe(str(row[key])))
                   for key, label in _LABELS if row.get(key) is not None)
