"""The PKCS#7 (CMS SignedData) blob of a module signature, read with a small DER parser.

Only what module signatures use is understood: a ContentInfo holding
SignedData, whose SignerInfos identify the signer by issuer and serial
number (``scripts/sign-file`` output).  Definite-length DER only.  Anything
else raises :class:`PymodError` (EBADMSG, the kernel's answer to a PKCS#7
message it cannot parse).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pymod.errors import PymodError

__all__ = ["SignerInfo", "SignedData", "parse_pkcs7", "oid_str", "flatten_name", "HASH_NAMES"]

# ASN.1 tags (class and constructed bits included)
_INTEGER, _OCTET_STRING, _OID = 0x02, 0x04, 0x06
_SEQUENCE, _SET = 0x30, 0x31
_CTX0_CONS, _CTX1_CONS = 0xA0, 0xA1

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_COMMON_NAME = "2.5.4.3"

# kmod's names for digest algorithms (its pkey_hash_algo table)
HASH_NAMES = {
    "1.2.840.113549.2.4": "md4",
    "1.2.840.113549.2.5": "md5",
    "1.3.14.3.2.26": "sha1",
    "1.3.36.3.2.1": "rmd160",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "1.2.156.10197.1.401": "sm3",
}


def _bad(message: str) -> PymodError:
    return PymodError(errno.EBADMSG, "PKCS#7: " + message)


class _Tlv:
    """One DER element inside ``buf``: tag, and the value's [start, end)."""

    __slots__ = ("buf", "tag", "start", "end", "next")

    def __init__(self, buf: bytes, pos: int, limit: int):
        if pos + 2 > limit:
            raise _bad("element header runs past its container at offset %d" % pos)
        self.buf = buf
        self.tag = buf[pos]
        if self.tag & 0x1F == 0x1F:
            raise _bad("multi-byte tag at offset %d" % pos)
        first = buf[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise _bad("indefinite length (BER) at offset %d" % (pos - 1))
        else:
            n = first & 0x7F
            if n > 8 or pos + n > limit:
                raise _bad("bad length field at offset %d" % (pos - 1))
            length = int.from_bytes(buf[pos:pos + n], "big")
            pos += n
        if pos + length > limit:
            raise _bad("element at offset %d (length %d) runs past its container"
                       % (pos, length))
        self.start, self.end, self.next = pos, pos + length, pos + length

    @property
    def value(self) -> bytes:
        return self.buf[self.start:self.end]

    def children(self) -> list[_Tlv]:
        out = []
        pos = self.start
        while pos < self.end:
            child = _Tlv(self.buf, pos, self.end)
            out.append(child)
            pos = child.next
        return out

    def expect(self, tag: int, what: str) -> _Tlv:
        if self.tag != tag:
            raise _bad("%s: expected tag %#04x, found %#04x" % (what, tag, self.tag))
        return self


def oid_str(raw: bytes) -> str:
    """Dotted form of a DER OBJECT IDENTIFIER's contents."""
    if not raw or raw[-1] & 0x80:
        raise _bad("malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(map(str, head + arcs[1:]))


def _algorithm(t: _Tlv, what: str) -> str:
    parts = t.expect(_SEQUENCE, what).children()
    if not parts:
        raise _bad("%s: empty AlgorithmIdentifier" % what)
    return oid_str(parts[0].expect(_OID, what).value)


@dataclass(frozen=True)
class SignerInfo:
    """One SignerInfo.

    ``issuer``  the issuer Name flattened to ``(attribute OID, value bytes)``
                in order (the value is the string's contents, any string type)
    ``serial``  the serial number's magnitude as minimal big-endian bytes
                (what OpenSSL's BN_bn2bin gives: empty for 0)
    """

    issuer: tuple[tuple[str, bytes], ...]
    serial: bytes
    serial_negative: bool
    digest_algorithm: str
    signature_algorithm: str
    signed_attrs: bytes | None
    signature: bytes

    @property
    def hash_name(self) -> str | None:
        """kmod's name of the digest algorithm, None when it has none."""
        return HASH_NAMES.get(self.digest_algorithm)

    @property
    def signer_name(self) -> bytes | None:
        """kmod's "signer": the issuer's first commonName.

        Without a commonName kmod (``x509_name_to_str``) falls through to the
        last attribute of the Name, so this does too; an empty Name gives None.
        """
        for oid, value in self.issuer:
            if oid == OID_COMMON_NAME:
                return value
        return self.issuer[-1][1] if self.issuer else None


@dataclass(frozen=True)
class SignedData:
    digest_algorithms: tuple[str, ...]
    content_type: str
    content: bytes | None
    certificates: bytes | None
    signers: tuple[SignerInfo, ...]


def _name(t: _Tlv) -> tuple[tuple[str, bytes], ...]:
    out = []
    for rdn in t.expect(_SEQUENCE, "issuer Name").children():
        for atv in rdn.expect(_SET, "RelativeDistinguishedName").children():
            parts = atv.expect(_SEQUENCE, "AttributeTypeAndValue").children()
            if len(parts) != 2:
                raise _bad("AttributeTypeAndValue with %d parts" % len(parts))
            out.append((oid_str(parts[0].expect(_OID, "attribute type").value), parts[1].value))
    return tuple(out)


OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


def signed_attributes(contents: bytes) -> dict[str, bytes]:
    """The signed attributes (the [0] field's contents) as OID -> the first
    value's contents; EBADMSG when they do not parse."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(contents):
        attr = _Tlv(contents, pos, len(contents)).expect(_SEQUENCE, "Attribute")
        parts = attr.children()
        if len(parts) != 2:
            raise _bad("Attribute with %d parts" % len(parts))
        values = parts[1].expect(_SET, "attribute values").children()
        out.setdefault(oid_str(parts[0].expect(_OID, "attribute type").value),
                       values[0].value if values else b"")
        pos = attr.next
    return out


def der_set(contents: bytes) -> bytes:
    """``contents`` under a SET tag with its DER length: what the digest of
    signed attributes is computed over (RFC 5652 5.4)."""
    n = len(contents)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return b"\x31" + head + contents


def flatten_name(der: bytes) -> tuple[tuple[str, bytes], ...]:
    """A DER X.501 Name as a SignerInfo's issuer is kept (to compare the two)."""
    der = bytes(der)
    return _name(_Tlv(der, 0, len(der)))


def _signer(t: _Tlv) -> SignerInfo:
    parts = t.expect(_SEQUENCE, "SignerInfo").children()
    if len(parts) < 5:
        raise _bad("SignerInfo has %d fields, needs at least 5" % len(parts))
    parts[0].expect(_INTEGER, "SignerInfo version")
    sid = parts[1]
    if sid.tag != _SEQUENCE:
        raise _bad("signer identified by subjectKeyIdentifier, not issuer and serial")
    issuer_serial = sid.children()
    if len(issuer_serial) != 2:
        raise _bad("IssuerAndSerialNumber with %d parts" % len(issuer_serial))
    issuer = _name(issuer_serial[0])
    serial_raw = issuer_serial[1].expect(_INTEGER, "serial number").value
    if not serial_raw:
        raise _bad("empty INTEGER")
    negative = bool(serial_raw[0] & 0x80)
    magnitude = abs(int.from_bytes(serial_raw, "big", signed=True))
    serial = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
    digest = _algorithm(parts[2], "digestAlgorithm")
    rest = parts[3:]
    signed_attrs = None
    if rest and rest[0].tag == _CTX0_CONS:
        signed_attrs = rest[0].buf[rest[0].start:rest[0].end]
        rest = rest[1:]
    if len(rest) < 2:
        raise _bad("SignerInfo lacks signatureAlgorithm or signature")
    sig_alg = _algorithm(rest[0], "signatureAlgorithm")
    signature = rest[1].expect(_OCTET_STRING, "signature").value
    return SignerInfo(issuer, serial, negative, digest, sig_alg, signed_attrs, signature)


def parse_pkcs7(der: bytes) -> SignedData:
    """Parse a DER ContentInfo holding SignedData; PymodError (EBADMSG) otherwise.

    Bytes after the ContentInfo are ignored, as OpenSSL's ``d2i_PKCS7`` (and so
    kmod's modinfo) ignores them.
    """
    der = bytes(der)
    top = _Tlv(der, 0, len(der)).expect(_SEQUENCE, "ContentInfo")
    ci = top.children()
    if len(ci) < 2:
        raise _bad("ContentInfo without content")
    ctype = oid_str(ci[0].expect(_OID, "contentType").value)
    if ctype != OID_SIGNED_DATA:
        raise _bad("content type %s is not signedData" % ctype)
    inner = ci[1].expect(_CTX0_CONS, "content").children()
    if len(inner) != 1:
        raise _bad("[0] content holds %d elements" % len(inner))
    fields = inner[0].expect(_SEQUENCE, "SignedData").children()
    if len(fields) < 4:
        raise _bad("SignedData has %d fields, needs at least 4" % len(fields))
    fields[0].expect(_INTEGER, "SignedData version")
    digests = tuple(_algorithm(a, "digestAlgorithms")
                    for a in fields[1].expect(_SET, "digestAlgorithms").children())
    encap = fields[2].expect(_SEQUENCE, "encapContentInfo").children()
    if not encap:
        raise _bad("empty encapContentInfo")
    content_type = oid_str(encap[0].expect(_OID, "eContentType").value)
    content = None
    if len(encap) > 1:
        octets = encap[1].expect(_CTX0_CONS, "eContent").children()
        content = octets[0].value if octets else b""
    certificates = None
    for f in fields[3:-1]:
        if f.tag == _CTX0_CONS:
            certificates = f.value
        elif f.tag != _CTX1_CONS:
            raise _bad("unexpected SignedData field with tag %#04x" % f.tag)
    signers = tuple(_signer(s) for s in fields[-1].expect(_SET, "signerInfos").children())
    return SignedData(digests, content_type, content, certificates, signers)
