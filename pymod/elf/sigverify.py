"""Verifying a module signature the way 6.12 does (``mod_verify_sig`` ->
``verify_pkcs7_signature`` -> ``pkcs7_verify`` / ``pkcs7_validate_trust``),
against a keyring of trusted X.509 certificates; ``cryptography`` does the
public-key arithmetic.

The outcomes are the kernel's:

* EBADMSG: the PKCS#7 message does not parse (pymod's DER reader), its
  SignerInfo and SignedData versions disagree, or it carries its own
  content (a module signature is detached: "Data already supplied");
* EINVAL: a SignedData or SignerInfo version the kernel does not know, no
  signer, or a signer whose key id is empty (a version that does not fit
  its identifier: the keyring search refuses the id);
* EMSGSIZE: a message over 64 KiB (the kernel's ASN.1 decoder's limit);
* EKEYREJECTED: not pkcs7-data, authenticated attributes (refused for
  module signatures: "Invalid module sig (has authattrs)"), or a signature
  that does not verify with the trusted key it names;
* ENOPKG: a digest or public-key algorithm the kernel has no code for;
* ENOKEY: no trusted certificate has the signer's key id (its raw issuer
  and serial number, or its subjectKeyIdentifier).

A verified signature is followed by ``mod_is_hash_blacklisted`` in the
caller.  The messages the kernel logs on the way come back as
``(level, text)`` pairs.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pymod.elf.pkcs7 import Pkcs7Refused, SignerInfo, parse_pkcs7
from pymod.errors import InvalidArgument, PymodError

__all__ = ["Keyring", "Outcome", "verify_pkcs7_module", "load_certificates"]

OID_DATA = "1.2.840.113549.1.7.1"
_DECODER_MAX = 65535         # asn1_ber_decoder: longer input is EMSGSIZE
# The digests the kernel's crypto API provides for module signatures.
_DIGESTS = {
    "1.3.14.3.2.26": "SHA1",
    "2.16.840.1.101.3.4.2.4": "SHA224",
    "2.16.840.1.101.3.4.2.1": "SHA256",
    "2.16.840.1.101.3.4.2.2": "SHA384",
    "2.16.840.1.101.3.4.2.3": "SHA512",
    "2.16.840.1.101.3.4.2.8": "SHA3_256",
    "2.16.840.1.101.3.4.2.9": "SHA3_384",
    "2.16.840.1.101.3.4.2.10": "SHA3_512",
}
# Signature algorithm OIDs the kernel's pkcs7 parser accepts, by key type.
# (pkcs7_sig_note_pkey_algo: rsaEncryption only, not sha*WithRSAEncryption;
# ecdsa-with-*, not id-ecPublicKey)
_RSA = {"1.2.840.113549.1.1.1"}
_ECDSA = {"1.2.840.10045.4.1", "1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2",
          "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"}


@dataclass(frozen=True)
class Outcome:
    """0 or a positive errno, and what the kernel logged reaching it."""

    errno: int
    log: tuple[tuple[str, str], ...] = ()
    signer: str | None = None        # the trusted certificate's subject, when one matched


def _one_source(src: Any) -> list[Any]:
    """The certificates of one source (see :func:`load_certificates`)."""
    from cryptography import x509

    if isinstance(src, x509.Certificate):
        return [src]
    if isinstance(src, (str, os.PathLike)):
        from pymod.elf.compression import read_file

        data = read_file(os.fspath(src), 16 << 20)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:
        raise InvalidArgument("a trusted key must be a certificate, DER/PEM bytes or a "
                              "path, not %s" % type(src).__name__)
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise InvalidArgument("not an X.509 certificate: %s" % e) from None


def _named(src: Any, e: PymodError) -> PymodError:
    """``e`` with the file it is about in front, when ``src`` is a file."""
    if isinstance(src, (str, os.PathLike)) and os.fspath(src) not in e.strerror:
        return InvalidArgument("%s: %s" % (os.fspath(src), e.strerror), e.errno)
    return e          # (the reader's own errors name the file already)


def _key_ids(cert: Any) -> tuple[bytes, bytes | None]:
    """The two ids the kernel's X.509 reader gives ``cert`` (EINVAL when it
    cannot read it)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from pymod.elf.x509 import certificate_key_ids

    try:
        return certificate_key_ids(cert.public_bytes(Encoding.DER))
    except PymodError as e:
        raise InvalidArgument("a certificate the kernel cannot read: %s" % e.strerror) from None


def _with_key_ids(sources: Iterable[Any]) -> list[tuple[Any, tuple[bytes, bytes | None]]]:
    """Each certificate of ``sources`` and its key ids; an error names the file."""
    out = []
    for src in sources:          # (cryptography is imported for a key only)
        try:
            out += [(cert, _key_ids(cert)) for cert in _one_source(src)]
        except PymodError as e:
            raise _named(src, e) from None
    return out


def load_certificates(sources: Iterable[Any]) -> tuple[Any, ...]:
    """X.509 certificates from cryptography objects, DER or PEM bytes (a PEM
    file may hold several), or paths to such files; each one the kernel's
    reader takes too, and an error names the file."""
    return tuple(cert for cert, _ in _with_key_ids(sources))


class Keyring:
    """Trusted certificates, found as the kernel's keyring search finds
    them (``find_asymmetric_key``, exact match): by the signer's key id,
    against each certificate's two ids (raw serial + raw issuer Name, and
    its subjectKeyIdentifier).  The raw bytes are compared, not the names:
    an issuer re-encoded with another string type names no key."""

    def __init__(self, certificates: Iterable[Any] = ()):
        loaded = _with_key_ids(certificates)
        self.certificates = tuple(cert for cert, _ in loaded)
        self._by_id: dict[bytes, Any] = {}
        for cert, ids in loaded:
            for kid in ids:
                if kid:
                    self._by_id.setdefault(kid, cert)

    def find(self, signer: SignerInfo) -> Any | None:
        """The certificate the signer's key id names, None when none does;
        an empty id is EINVAL (the search refuses it: "ex:" and no hex)."""
        if not signer.kid:
            raise PymodError(errno.EINVAL, "empty key id")
        return self._by_id.get(signer.kid)

    def __len__(self) -> int:
        return len(self.certificates)


def _digest_input(signer: SignerInfo, body: bytes, hash_name: str,
                  index: int) -> bytes | Outcome:
    """What the signature signs: the data, or, with signed attributes, the
    attributes re-tagged as a SET once their messageDigest matches the
    data's (``pkcs7_digest``; ``index``: the signer's, from 1)."""
    if signer.signed_attrs is None:
        return body
    from cryptography.hazmat.primitives import hashes

    from pymod.elf.pkcs7 import (
        OID_CONTENT_TYPE,
        OID_MESSAGE_DIGEST,
        der_set,
        signed_attributes,
    )

    try:
        attrs = signed_attributes(signer.signed_attrs)
    except PymodError:
        return Outcome(errno.EBADMSG)
    if OID_CONTENT_TYPE not in attrs or OID_MESSAGE_DIGEST not in attrs:
        return Outcome(errno.EBADMSG, (("warn", "PKCS7: Missing required AuthAttr"),))
    h = hashes.Hash(getattr(hashes, hash_name)())
    h.update(body)
    digest = h.finalize()
    if len(attrs[OID_MESSAGE_DIGEST]) != len(digest):
        return Outcome(errno.EBADMSG, (("warn", "PKCS7: Sig %d: Invalid digest size (%d)"
                                        % (index, len(attrs[OID_MESSAGE_DIGEST]))),))
    if attrs[OID_MESSAGE_DIGEST] != digest:
        return Outcome(errno.EKEYREJECTED, (("warn", "PKCS7: Sig %d: Message digest doesn't "
                                                     "match" % index),))
    return der_set(signer.signed_attrs)


def _digested(signer: SignerInfo, body: bytes, index: int) -> bytes | Outcome:
    """``pkcs7_digest`` for one signer: what its signature signs, or why
    not (ENOPKG, silent: an algorithm the parser names but the kernel has
    no code for; the parser itself refused, and said so, the others)."""
    hash_name = _DIGESTS.get(signer.digest_algorithm)
    if hash_name is None:
        return Outcome(errno.ENOPKG)
    if signer.signature_algorithm not in _RSA and signer.signature_algorithm not in _ECDSA:
        return Outcome(errno.ENOPKG)
    return _digest_input(signer, body, hash_name, index)


def _trusted(signer: SignerInfo, signed: bytes, keyring: Keyring) -> Outcome:
    """``pkcs7_validate_trust_one`` for a message without certificates: the
    trusted key the signer's id names, then the signature checked with it."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    try:
        cert = keyring.find(signer)
    except PymodError as e:
        return Outcome(e.errno)
    if cert is None:
        return Outcome(errno.ENOKEY)
    algorithm = getattr(hashes, _DIGESTS[signer.digest_algorithm])()
    digest = hashes.Hash(algorithm)
    digest.update(signed)
    key = cert.public_key()
    try:
        if signer.signature_algorithm in _RSA and isinstance(key, rsa.RSAPublicKey):
            key.verify(signer.signature, digest.finalize(), padding.PKCS1v15(),
                       utils.Prehashed(algorithm))
        elif signer.signature_algorithm in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer.signature, digest.finalize(), ec.ECDSA(utils.Prehashed(algorithm)))
        else:
            return Outcome(errno.EKEYREJECTED)     # the key is of another type
    except InvalidSignature:
        return Outcome(errno.EKEYREJECTED)
    return Outcome(0, signer=cert.subject.rfc4514_string())


_NOT_DETACHED = (("warn", "PKCS7: Data already supplied"),
                 ("err", "PKCS#7 signature with non-detached data"))


def verify_pkcs7_module(body: bytes, pkcs7_der: bytes, keyring: Keyring,
                        usage: str = "module", series: str = "6.12") -> Outcome:
    """``verify_pkcs7_signature(body, sig, keyring, usage)`` as ``series``
    ("6.1" or "6.12") has it: ``"module"`` (VERIFYING_MODULE_SIGNATURE,
    which refuses signed attributes) or ``"unspecified"``
    (VERIFYING_UNSPECIFIED_SIGNATURE, which verifies them: the digest is
    then over the attributes)."""
    if usage not in ("module", "unspecified"):
        raise InvalidArgument("usage %r: 'module' or 'unspecified'" % usage)
    if len(pkcs7_der) > _DECODER_MAX:
        return Outcome(errno.EMSGSIZE)
    try:
        msg = parse_pkcs7(pkcs7_der, kernel=True, series=series)
    except Pkcs7Refused as e:
        return Outcome(e.errno, e.log)
    # what the parser printed on the way (its "Unknown OID" lines) comes first
    log = list(msg.log)
    if msg.content is not None:
        return Outcome(errno.EBADMSG, (*log, *_NOT_DETACHED))
    if msg.content_type != OID_DATA:        # the parser let Authenticode through
        return Outcome(errno.EKEYREJECTED, (*log, ("warn", "PKCS7: Invalid %s sig (not "
                                                           "pkcs7-data)" % usage)))
    if usage == "module" and any(s.signed_attrs is not None for s in msg.signers):
        return Outcome(errno.EKEYREJECTED, (*log, ("warn", "PKCS7: Invalid module sig (has "
                                                           "authattrs)")))
    # pkcs7_verify: every signer digested first; ENOPKG leaves one unsupported
    signed: list[bytes | None] = []
    for index, signer in enumerate(msg.signers, 1):
        got = _digested(signer, body, index)
        if isinstance(got, Outcome):
            log.extend(got.log)
            if got.errno != errno.ENOPKG:
                return Outcome(got.errno, tuple(log))
        signed.append(None if isinstance(got, Outcome) else got)
    if all(data is None for data in signed):
        return Outcome(errno.ENOPKG, tuple(log))
    # pkcs7_validate_trust: one trusted signer is enough; a hard failure
    # stops the walk; otherwise ENOPKG outranks ENOKEY.
    result = Outcome(errno.ENOKEY)
    for signer, data in zip(msg.signers, signed, strict=True):
        if data is None:
            if result.errno == errno.ENOKEY:
                result = Outcome(errno.ENOPKG)
            continue
        one = _trusted(signer, data, keyring)
        if one.errno == 0:
            result = one
        elif one.errno != errno.ENOKEY:
            return Outcome(one.errno, tuple(log))
    return Outcome(result.errno, tuple(log), result.signer)
