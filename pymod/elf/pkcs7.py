"""The PKCS#7 (CMS SignedData) blob of a module signature, read with a small DER parser.

Only what module signatures use is understood: a ContentInfo holding
SignedData, whose SignerInfos name the signer by issuer and serial number
(``scripts/sign-file`` output), definite-length DER only; anything else is
:class:`PymodError` (EBADMSG, the kernel's answer to what it cannot parse).

``kernel=True`` adds ``pkcs7_parser.c``'s rules in its streaming decoder's order
(:class:`Pkcs7Refused`); without it the reader is OpenSSL's as kmod uses it.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass

from pymod.errors import PymodError

__all__ = ["SignerInfo", "SignedData", "Pkcs7Refused", "parse_pkcs7", "certificate_key_ids",
           "oid_str", "HASH_NAMES"]

# ASN.1 tags (class and constructed bits included)
_INTEGER, _OCTET_STRING, _OID = 0x02, 0x04, 0x06
_SEQUENCE, _SET = 0x30, 0x31
_CTX0_CONS, _CTX1_CONS, _CTX3_CONS = 0xA0, 0xA1, 0xA3
_CTX0_PRIM = 0x80                                # [0] IMPLICIT OCTET STRING: a signer's SKID

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_COMMON_NAME = "2.5.4.3"
OID_SUBJECT_KEY_ID = "2.5.29.14"

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


class Pkcs7Refused(PymodError):
    """A kernel PKCS#7 parser rule broken: errno, and ``log``, the lines it prints."""

    def __init__(self, code: int, line: str):
        super().__init__(code, line)
        self.log: tuple[tuple[str, str], ...] = (("warn", line),)


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
        return list(self.stream())

    def stream(self) -> Iterator[_Tlv]:
        """The children one at a time: a later sibling's broken header is
        met only after the earlier ones were judged, as the kernel's
        streaming decoder meets it."""
        pos = self.start
        while pos < self.end:
            child = _Tlv(self.buf, pos, self.end)
            yield child
            pos = child.next

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
    ``kid``     the kernel's key id: raw serial + raw issuer Name contents
                (version 1) or the SKID (version 3), each the last one the
                parser met, in this or an earlier SignerInfo: a version that
                does not fit the identifier gives a stale or empty id
    """

    issuer: tuple[tuple[str, bytes], ...]
    serial: bytes
    serial_negative: bool
    digest_algorithm: str
    signature_algorithm: str
    signed_attrs: bytes | None
    signature: bytes
    version: int = 1
    kid: bytes = b""

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
    version: int = 1


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


@dataclass
class _Context:
    """What the kernel's parser carries from one callback to the next
    (``struct pkcs7_parse_context``): never reset between SignerInfos."""

    kernel: bool
    version: int = 0             # the SignedData version
    serial: bytes = b""
    issuer: bytes = b""
    skid: bytes = b""


def _next(it: Iterator[_Tlv], what: str) -> _Tlv:
    t = next(it, None)
    if t is None:
        raise _bad("%s missing" % what)
    return t


def _signed_data_version(raw: bytes, ctx: _Context) -> int:
    """pkcs7_note_signeddata_version: one byte, 1 (PKCS#7) or 3 (CMS)."""
    if not ctx.kernel:
        return int.from_bytes(raw, "big", signed=True)
    if len(raw) != 1 or raw[0] not in (1, 3):
        raise Pkcs7Refused(errno.EINVAL, "PKCS7: Unsupported SignedData version")
    ctx.version = raw[0]
    return raw[0]


def _signer_version(raw: bytes, ctx: _Context) -> int:
    """pkcs7_note_signerinfo_version: 1 only in version 1 SignedData, 3 only
    in version 3."""
    if not ctx.kernel:
        return int.from_bytes(raw, "big", signed=True)
    if len(raw) != 1 or raw[0] not in (1, 3):
        raise Pkcs7Refused(errno.EINVAL, "PKCS7: Unsupported SignerInfo version")
    if (raw[0] == 1) != (ctx.version == 1):
        raise Pkcs7Refused(errno.EBADMSG, "PKCS7: SignedData-SignerInfo version mismatch")
    return raw[0]


def _sid(sid: _Tlv, ctx: _Context) -> tuple[tuple[tuple[str, bytes], ...], bytes]:
    """(flattened issuer, raw serial); an SKID (kernel only) gives ``((), b"")``."""
    if sid.tag == _CTX0_PRIM and ctx.kernel:
        ctx.skid = sid.value
        return (), b""
    if sid.tag != _SEQUENCE:
        raise _bad("signer identified by subjectKeyIdentifier, not issuer and serial")
    parts = sid.stream()
    name = _next(parts, "issuer")
    issuer = _name(name)
    ctx.issuer = name.value
    ctx.serial = _next(parts, "serial number").expect(_INTEGER, "serial number").value
    if next(parts, None) is not None:
        raise _bad("IssuerAndSerialNumber with more than 2 parts")
    if not ctx.serial and not ctx.kernel:
        raise _bad("empty INTEGER")
    return issuer, ctx.serial


def _signer(t: _Tlv, ctx: _Context) -> SignerInfo:
    fields = t.expect(_SEQUENCE, "SignerInfo").stream()
    version = _signer_version(
        _next(fields, "SignerInfo version").expect(_INTEGER, "SignerInfo version").value, ctx)
    issuer, serial_raw = _sid(_next(fields, "signer identifier"), ctx)
    magnitude = abs(int.from_bytes(serial_raw, "big", signed=True))
    serial = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
    digest = _algorithm(_next(fields, "digestAlgorithm"), "digestAlgorithm")
    rest = list(fields)
    signed_attrs = None
    if rest and rest[0].tag == _CTX0_CONS:
        signed_attrs = rest[0].buf[rest[0].start:rest[0].end]
        rest = rest[1:]
    if len(rest) < 2:
        raise _bad("SignerInfo lacks signatureAlgorithm or signature")
    sig_alg = _algorithm(rest[0], "signatureAlgorithm")
    signature = rest[1].expect(_OCTET_STRING, "signature").value
    # only an optional [1] unsignedAttrs may follow (a cut signature's tail may not)
    if len(rest) > 3 or (len(rest) == 3 and rest[2].tag != _CTX1_CONS):
        raise _bad("SignerInfo has data after its signature")
    # pkcs7_note_signed_info: the id comes from what the version expects
    kid = ctx.skid if version == 3 else ctx.serial + ctx.issuer
    return SignerInfo(issuer, serial, bool(serial_raw) and bool(serial_raw[0] & 0x80), digest,
                      sig_alg, signed_attrs, signature, version, kid)


def _signed_data(t: _Tlv, ctx: _Context) -> SignedData:
    fields = t.expect(_SEQUENCE, "SignedData").stream()
    version = _signed_data_version(
        _next(fields, "SignedData version").expect(_INTEGER, "SignedData version").value, ctx)
    digests = tuple(_algorithm(a, "digestAlgorithms") for a in
                    _next(fields, "digestAlgorithms").expect(_SET, "digestAlgorithms").stream())
    encap = _next(fields, "encapContentInfo").expect(_SEQUENCE, "encapContentInfo").stream()
    content_type = oid_str(_next(encap, "eContentType").expect(_OID, "eContentType").value)
    content = None
    e_content = next(encap, None)
    if e_content is not None:
        octets = e_content.expect(_CTX0_CONS, "eContent").children()
        content = octets[0].value if octets else b""
    rest = list(fields)
    if not rest:
        raise _bad("SignedData lacks signerInfos")
    certificates = None
    for f in rest[:-1]:
        if f.tag == _CTX0_CONS:
            certificates = f.value
        elif f.tag != _CTX1_CONS:
            raise _bad("unexpected SignedData field with tag %#04x" % f.tag)
    signers = tuple(_signer(s, ctx) for s in rest[-1].expect(_SET, "signerInfos").stream())
    return SignedData(digests, content_type, content, certificates, signers, version)


def parse_pkcs7(der: bytes, kernel: bool = False) -> SignedData:
    """Parse a DER ContentInfo holding SignedData; PymodError (EBADMSG) otherwise,
    and with ``kernel`` the kernel parser's own refusals (:class:`Pkcs7Refused`).

    Bytes after the ContentInfo are ignored, as OpenSSL's ``d2i_PKCS7`` (and so
    kmod's modinfo) and the kernel's decoder ignore them.
    """
    der = bytes(der)
    ctx = _Context(kernel)
    top = _Tlv(der, 0, len(der)).expect(_SEQUENCE, "ContentInfo").stream()
    ctype = oid_str(_next(top, "contentType").expect(_OID, "contentType").value)
    if ctype != OID_SIGNED_DATA:
        if kernel:
            raise Pkcs7Refused(errno.EINVAL, "PKCS7: Only support pkcs7_signedData type")
        raise _bad("content type %s is not signedData" % ctype)
    content = next(top, None)
    if content is None and not kernel:
        raise _bad("ContentInfo without content")
    signed = SignedData((), "", None, None, ())        # the content is OPTIONAL to the kernel
    if content is not None:
        inner = content.expect(_CTX0_CONS, "content").stream()
        signed = _signed_data(_next(inner, "SignedData"), ctx)
        if next(inner, None) is not None:
            raise _bad("[0] content holds more than SignedData")
    # pkcs7_check_authattrs, after the decoder: no signer at all, or signed
    # attributes on some signers only
    if kernel and (not signed.signers or len({s.signed_attrs is None
                                              for s in signed.signers}) > 1):
        raise Pkcs7Refused(errno.EINVAL, "PKCS7: Inconsistently supplied authAttrs")
    return signed


def certificate_key_ids(der: bytes) -> tuple[bytes, bytes | None]:
    """The ids ``x509_cert_parse`` gives a DER certificate, by which a
    signature finds its key: the serial number's and the issuer Name's raw
    contents concatenated, and the subjectKeyIdentifier (None without one)."""
    der = bytes(der)
    cert = _Tlv(der, 0, len(der)).expect(_SEQUENCE, "Certificate").stream()
    tbs = _next(cert, "tbsCertificate").expect(_SEQUENCE, "TBSCertificate").stream()
    field = _next(tbs, "serialNumber")
    if field.tag == _CTX0_CONS:                  # [0] EXPLICIT version
        field = _next(tbs, "serialNumber")
    serial = field.expect(_INTEGER, "serialNumber").value
    _next(tbs, "signature")
    issuer = _next(tbs, "issuer").expect(_SEQUENCE, "issuer").value
    skid = None
    for field in tbs:
        if field.tag != _CTX3_CONS:
            continue
        for ext in _next(field.stream(), "extensions").expect(_SEQUENCE, "extensions").stream():
            parts = ext.expect(_SEQUENCE, "Extension").children()
            if len(parts) >= 2 and parts[0].tag == _OID and \
                    oid_str(parts[0].value) == OID_SUBJECT_KEY_ID and skid is None:
                v = parts[-1].expect(_OCTET_STRING, "extnValue").value
                # x509_process_extension: an OCTET STRING with a one-byte length
                if len(v) >= 3 and v[0] == _OCTET_STRING and v[1] == len(v) - 2:
                    skid = v[2:]
    return serial + issuer, skid
