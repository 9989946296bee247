"""Signing a module as ``scripts/sign-file`` does: a detached PKCS#7
SignedData over the whole file, without certificates or signed attributes,
then ``struct module_signature`` (id_type PKCS7, the signature's length,
big-endian) and the magic string, all appended."""

from __future__ import annotations

import struct
from typing import Any

from pymod.elf.constants import MODULE_SIG_STRING, PKEY_ID_PKCS7
from pymod.errors import InvalidArgument

__all__ = ["sign_module", "HASHES"]

HASHES = ("sha256", "sha384", "sha512", "sha224", "sha1")


def _private_key(key: Any) -> Any:
    from cryptography.hazmat.primitives import serialization

    if isinstance(key, (bytes, bytearray)):
        data = bytes(key)
        try:
            if b"-----BEGIN" in data:
                return serialization.load_pem_private_key(data, password=None)
            return serialization.load_der_private_key(data, password=None)
        except (ValueError, TypeError) as e:
            raise InvalidArgument("not an unencrypted private key: %s" % e) from None
    return key


def sign_module(image: bytes, key: Any, cert: Any, hash_name: str = "sha256") -> bytes:
    """``image`` with a module signature appended.  ``key``: a private key
    (RSA or EC; a cryptography object or unencrypted PEM/DER bytes);
    ``cert``: its X.509 certificate (object, DER or PEM bytes)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    from pymod.elf.sigverify import load_certificates

    if hash_name not in HASHES:
        raise InvalidArgument("hash %r: one of %s" % (hash_name, ", ".join(HASHES)))
    image = bytes(image)
    if image.endswith(MODULE_SIG_STRING):
        raise InvalidArgument("the module is signed already (strip the signature first)")
    certs = load_certificates([cert])
    if len(certs) != 1:
        raise InvalidArgument("give exactly one certificate")
    algorithm = getattr(hashes, hash_name.upper())()
    der = (pkcs7.PKCS7SignatureBuilder()
           .set_data(image)
           .add_signer(certs[0], _private_key(key), algorithm)
           .sign(serialization.Encoding.DER,
                 [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCerts,
                  pkcs7.PKCS7Options.NoAttributes, pkcs7.PKCS7Options.Binary]))
    trailer = struct.pack(">BBBBB3xI", 0, 0, PKEY_ID_PKCS7, 0, 0, len(der))
    return image + der + trailer + MODULE_SIG_STRING
