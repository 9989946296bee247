"""``pymod sign``: append a module signature, as ``scripts/sign-file`` does.

    pymod sign --key KEY --cert CERT [--hash sha256] [-o OUT] FILE.ko

KEY is an unencrypted private key (PEM or DER; RSA or EC), CERT its X.509
certificate (PEM or DER).  The module is signed in place unless ``-o`` names
another file; a compressed module is refused (kbuild signs before it
compresses), and so is one that is signed already.  The signed module
replaces the output file atomically (:mod:`pymod.atomicio`): a symbolic
link there is replaced, as sign-file's rename replaces it, not written
through.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pymod.atomicio import write_atomic
from pymod.tools.common import error, help_text

PROG = "pymod sign"


def main(argv: Sequence[str]) -> int:
    from pymod.elf.signing import HASHES

    ap = argparse.ArgumentParser(prog=PROG, description=help_text(__doc__))
    ap.add_argument("--key", required=True, help="private key file (PEM or DER; RSA or EC)")
    ap.add_argument("--cert", required=True, help="its X.509 certificate (PEM or DER)")
    ap.add_argument("--hash", default="sha256", choices=HASHES,
                    help="the digest signed (default: sha256)")
    ap.add_argument("-o", "--output", help="write the signed module here (default: in place)")
    ap.add_argument("module", metavar="FILE.ko",
                    help="an uncompressed module file, not signed yet")
    args = ap.parse_args(argv)
    from pymod.elf.compression import detect_compression, read_file
    from pymod.elf.signing import sign_module

    try:
        image = read_file(args.module)
        if detect_compression(image):
            error(PROG, "%s is compressed: sign the .ko before compressing it" % args.module)
            return 1
        signed = sign_module(image, read_file(args.key, 1 << 20), read_file(args.cert, 1 << 20),
                             args.hash)
        out = args.output or args.module
        write_atomic(out, signed)     # never a half-written module, nor through a link
    except OSError as e:
        from pymod.tools.common import os_message

        error(PROG, os_message(e))
        return 1
    print("%s: signed with %s (%d bytes of signature)" % (out, args.hash,
                                                          len(signed) - len(image)),
          file=sys.stderr)
    return 0
