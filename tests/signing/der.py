"""PKCS#7 module signatures built field by field (a few lines of DER), so a
test can give a SignedData or SignerInfo any version, name its signer by
issuer and serial or by subjectKeyIdentifier, re-encode the issuer, or put
several signers in one message."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from pymod.elf.constants import MODULE_SIG_STRING

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_RSA = "1.2.840.113549.1.1.1"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    return tlv(0x31, b"".join(parts))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def integer_contents(n: int) -> bytes:
    """Minimal two's complement (a leading zero when the top bit is set)."""
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


def sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


@dataclass
class Signer:
    """One SignerInfo.  ``sid``: "issuer" (IssuerAndSerialNumber) or "skid";
    ``issuer``/``serial``/``skid`` override what the certificate gives (raw
    Name DER, INTEGER contents, key identifier bytes), ``pkey_oid`` the
    signature algorithm's OID; ``attrs``: sign
    authenticated attributes (contentType data, messageDigest of the data,
    or ``attrs_digest`` in its place)."""

    key: Any
    cert: Any
    version: int = 1
    sid: str = "issuer"
    issuer: bytes | None = None
    serial: bytes | None = None
    skid: bytes | None = None
    signature: bytes | None = None
    attrs: bool = False
    attrs_digest: bytes | None = None
    pkey_oid: str | None = None

    def identifier(self) -> bytes:
        if self.sid == "skid":
            from cryptography import x509

            skid = self.skid
            if skid is None:
                skid = self.cert.extensions.get_extension_for_class(
                    x509.SubjectKeyIdentifier).value.digest
            return tlv(0x80, skid)
        issuer = self.issuer if self.issuer is not None else self.cert.issuer.public_bytes()
        serial = self.serial if self.serial is not None else integer_contents(
            self.cert.serial_number)
        return seq(issuer, tlv(0x02, serial))

    def signed_attributes(self, data: bytes) -> bytes:
        digest = self.attrs_digest if self.attrs_digest is not None else sha256(data)
        return (seq(oid(OID_CONTENT_TYPE), set_of(oid(OID_DATA)))
                + seq(oid(OID_MESSAGE_DIGEST), set_of(tlv(0x04, digest))))

    def encode(self, data: bytes) -> bytes:
        is_rsa = isinstance(self.key, rsa.RSAPrivateKey)
        attrs = self.signed_attributes(data) if self.attrs else None
        signed = set_of(attrs) if attrs is not None else data
        sig = self.signature
        if sig is None:
            sig = (self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256()) if is_rsa
                   else self.key.sign(signed, ec.ECDSA(hashes.SHA256())))
        algorithm = (seq(oid(OID_RSA), b"\x05\x00") if is_rsa else seq(oid(OID_ECDSA_SHA256)))
        if self.pkey_oid is not None:
            algorithm = seq(oid(self.pkey_oid), b"\x05\x00")
        return seq(tlv(0x02, bytes([self.version])), self.identifier(),
                   seq(oid(OID_SHA256), b"\x05\x00"),
                   tlv(0xA0, attrs) if attrs is not None else b"",
                   algorithm, tlv(0x04, sig))


def signed_data(data: bytes, signers: list[Signer], version: bytes = b"\x01",
                content: bytes | None = None, content_type: str = OID_SIGNED_DATA) -> bytes:
    """A ContentInfo holding SignedData (detached unless ``content``);
    ``version`` is the INTEGER's contents."""
    encap = seq(oid(OID_DATA), *([tlv(0xA0, tlv(0x04, content))] if content is not None else []))
    body = seq(tlv(0x02, version), set_of(seq(oid(OID_SHA256), b"\x05\x00")), encap,
               set_of(*(s.encode(data) for s in signers)))
    return seq(oid(content_type), tlv(0xA0, body))


def with_signature(image: bytes, der: bytes) -> bytes:
    """``image`` with ``der`` as its module signature (sign-file's trailer)."""
    return image + der + struct.pack(">BBBBB3xI", 0, 0, 2, 0, 0, len(der)) + MODULE_SIG_STRING
