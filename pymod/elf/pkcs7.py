"""The PKCS#7 (CMS SignedData) blob of a module signature, read with a small DER parser.

Only what module signatures use is understood: a ContentInfo holding
SignedData, whose SignerInfos name the signer by issuer and serial number
(``scripts/sign-file`` output), definite-length DER only; anything else is
:class:`~pymod.errors.PymodError` (EBADMSG, the kernel's answer to what it cannot parse).
Each SEQUENCE holds exactly the fields its grammar names (more is the
decoders' "length mismatch"), and the elements of a SET OF are read one at a
time: an input of many elements never becomes as many Python objects.

``kernel=True`` adds ``pkcs7_parser.c``'s rules in its streaming decoder's order
(:class:`Pkcs7Refused`): every OID the grammar notes is looked up in the
kernel's registry (:mod:`pymod.elf.oid_registry`; one it does not hold is
logged as "Unknown OID"), and the digest, public-key and data types are the
kernel's switch statements, whose refusals print the registry's enum value.
Without it the reader is OpenSSL's as kmod uses it.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterator
from dataclasses import dataclass

from pymod.elf.der import DerError, Fields, Tlv, oid_str
from pymod.elf.pkcs7_rules import (
    Context,
    Pkcs7Refused,
    check_content_type,
    note_content,
    note_oid,
    note_signed_info,
    signed_data_version,
    signer_version,
    switch,
)
from pymod.elf.x509 import certificate_key_ids
from pymod.errors import PymodError

__all__ = ["SignerInfo", "SignedData", "Pkcs7Refused", "parse_pkcs7", "certificate_key_ids",
           "oid_str", "HASH_NAMES"]

# ASN.1 tags (class and constructed bits included)
_INTEGER, _OCTET_STRING, _OID = 0x02, 0x04, 0x06
_SEQUENCE, _SET = 0x30, 0x31
_CTX0_CONS, _CTX1_CONS = 0xA0, 0xA1
_CTX0_PRIM = 0x80                                # [0] IMPLICIT OCTET STRING: a signer's SKID

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


def _algorithm(t: Tlv, ctx: Context, what: str) -> str:
    """AlgorithmIdentifier: an OID and at most one parameter (skipped unread)."""
    f = t.expect(_SEQUENCE, what).fields()
    algorithm = note_oid(f.next("%s algorithm" % what), ctx, what)
    if not f.done():
        f.take()
    f.end_of(what)
    return algorithm


def _name_entries(t: Tlv, ctx: Context) -> Iterator[tuple[str, Tlv]]:
    """A Name's attributes, in order: (type OID text, value element)."""
    for rdn in t.expect(_SEQUENCE, "issuer Name").fields():
        for atv in rdn.expect(_SET, "RelativeDistinguishedName").fields():
            f = atv.expect(_SEQUENCE, "AttributeTypeAndValue").fields()
            oid = note_oid(f.next("attribute type"), ctx, "attribute type")
            value = f.next("attribute value")
            f.end_of("AttributeTypeAndValue")
            yield oid, value


@dataclass(frozen=True)
class SignerInfo:
    """One SignerInfo.

    * ``issuer_der``: the issuer Name as DER (:attr:`issuer` reads it);
    * ``serial``: the serial number's magnitude as minimal big-endian bytes
      (what OpenSSL's BN_bn2bin gives: empty for 0);
    * ``kid``: the kernel's key id: raw serial + raw issuer Name contents
      (version 1) or the SKID (version 3), each the last one the parser met,
      in this or an earlier SignerInfo: a version that does not fit the
      identifier gives a stale or empty id.
    """

    issuer_der: bytes
    serial: bytes
    serial_negative: bool
    digest_algorithm: str
    signature_algorithm: str
    signed_attrs: bytes | None
    signature: bytes
    version: int = 1
    kid: bytes = b""

    def _entries(self) -> Iterator[tuple[str, bytes]]:
        if self.issuer_der:
            name = Tlv(self.issuer_der, 0, len(self.issuer_der))
            # (read as the kernel reads it: whatever parsed it, this cannot fail)
            for oid, value in _name_entries(name, Context(True)):
                yield oid, value.value

    @property
    def issuer(self) -> tuple[tuple[str, bytes], ...]:
        """The issuer Name flattened to ``(attribute OID, value bytes)`` in
        order (the value is the string's contents, any string type)."""
        return tuple(self._entries())

    @property
    def hash_name(self) -> str | None:
        """kmod's name of the digest algorithm, None when it has none."""
        return HASH_NAMES.get(self.digest_algorithm)

    @property
    def signer_name(self) -> bytes | None:
        """kmod's "signer", the issuer's first commonName.

        Without a commonName kmod (``x509_name_to_str``) falls through to the
        last attribute of the Name, so this does too; an empty Name gives None.
        """
        last = None
        for oid, value in self._entries():
            if oid == OID_COMMON_NAME:
                return value
            last = value
        return last


@dataclass(frozen=True)
class SignedData:
    """A ContentInfo's SignedData; ``log``: the lines the kernel's parser
    printed reading it (``kernel=True``: its "Unknown OID" lines)."""

    digest_set: bytes                    # the digestAlgorithms SET's contents
    content_type: str
    content: bytes | None
    certificates: bytes | None
    signers: tuple[SignerInfo, ...]
    version: int = 1
    log: tuple[tuple[str, str], ...] = ()   # what the kernel's parser printed

    @property
    def digest_algorithms(self) -> tuple[str, ...]:
        return tuple(_algorithm(a, Context(True), "digestAlgorithms")
                     for a in Fields(self.digest_set, 0, len(self.digest_set)))


OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


def _attributes(contents: bytes, ctx: Context) -> Iterator[tuple[str, Fields]]:
    """Signed attributes: (type OID text, its values)."""
    for attr in Fields(contents, 0, len(contents)):
        f = attr.expect(_SEQUENCE, "Attribute").fields()
        oid = note_oid(f.next("attribute type"), ctx, "attribute type")
        values = f.next("attribute values").expect(_SET, "attribute values").fields()
        f.end_of("Attribute")
        yield oid, values


def signed_attributes(contents: bytes) -> dict[str, bytes]:
    """The signed attributes (the [0] field's contents) as OID -> the first
    value's contents; EBADMSG when they do not parse."""
    out: dict[str, bytes] = {}
    try:
        for oid, values in _attributes(contents, Context(False)):
            first = b"" if values.done() else values.take().value
            for _ in values:             # the rest are read, not kept
                pass
            out.setdefault(oid, first)
    except DerError as e:
        raise PymodError(errno.EBADMSG, "PKCS#7: " + e.strerror) from None
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


def _sid(sid: Tlv, ctx: Context) -> tuple[bytes, bytes]:
    """(issuer Name DER, raw serial); an SKID (kernel only) gives ``(b"", b"")``."""
    if sid.tag == _CTX0_PRIM and ctx.kernel:
        ctx.skid = sid.value
        return b"", b""
    if sid.tag != _SEQUENCE:
        raise DerError("signer identified by subjectKeyIdentifier, not issuer and serial")
    parts = sid.fields()
    name = parts.next("issuer")
    for _ in _name_entries(name, ctx):   # checked and noted, not kept
        pass
    ctx.issuer = name.value
    ctx.serial = parts.next("serial number").expect(_INTEGER, "serial number").value
    parts.end_of("IssuerAndSerialNumber")
    if not ctx.serial and not ctx.kernel:
        raise DerError("empty INTEGER")
    return name.whole, ctx.serial


def _signer(t: Tlv, ctx: Context) -> SignerInfo:
    fields = t.expect(_SEQUENCE, "SignerInfo").fields()
    version = signer_version(
        fields.next("SignerInfo version").expect(_INTEGER, "SignerInfo version").value, ctx)
    issuer, serial_raw = _sid(fields.next("signer identifier"), ctx)
    magnitude = abs(int.from_bytes(serial_raw, "big", signed=True))
    serial = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
    digest = _algorithm(fields.next("digestAlgorithm"), ctx, "digestAlgorithm")
    if ctx.kernel:
        switch(ctx, "digest")
    attrs = fields.optional(_CTX0_CONS)
    signed_attrs = None if attrs is None else attrs.value
    if attrs is not None and ctx.kernel:
        for _ in _attributes(attrs.value, ctx):   # their types are noted
            pass
    sig_alg = _algorithm(fields.next("signatureAlgorithm"), ctx, "signatureAlgorithm")
    if ctx.kernel:
        switch(ctx, "pkey")
    signature = fields.next("signature").expect(_OCTET_STRING, "signature").value
    # only an optional [1] unsignedAttrs may follow (a cut signature's tail may not)
    fields.optional(_CTX1_CONS)
    fields.end_of("SignerInfo (data after its signature)")
    if ctx.kernel:
        note_signed_info(ctx, signed_attrs is not None)
    kid = ctx.skid if version == 3 else ctx.serial + ctx.issuer
    return SignerInfo(issuer, serial, bool(serial_raw) and bool(serial_raw[0] & 0x80), digest,
                      sig_alg, signed_attrs, signature, version, kid)


def _encapsulated(t: Tlv, ctx: Context) -> tuple[str, bytes | None]:
    """encapContentInfo: the content type, and the content when it is not
    detached; the kernel's pkcs7_note_content takes data (or Authenticode) only."""
    f = t.expect(_SEQUENCE, "encapContentInfo").fields()
    content_type = note_oid(f.next("eContentType"), ctx, "eContentType")
    content = None
    if not f.done():
        inner = f.next("eContent").expect(_CTX0_CONS, "eContent").fields()
        content = b"" if inner.done() else inner.take().value
        inner.end_of("eContent")
    f.end_of("encapContentInfo")
    if ctx.kernel:
        note_content(ctx)
    return content_type, content


def _signed_data(t: Tlv, ctx: Context, keep: int | None) -> SignedData:
    fields = t.expect(_SEQUENCE, "SignedData").fields()
    version = signed_data_version(
        fields.next("SignedData version").expect(_INTEGER, "SignedData version").value, ctx)
    digests = fields.next("digestAlgorithms").expect(_SET, "digestAlgorithms")
    for a in digests.fields():
        _algorithm(a, ctx, "digestAlgorithms")
    content_type, content = _encapsulated(fields.next("encapContentInfo"), ctx)
    certificates = fields.optional(_CTX0_CONS)
    fields.optional(_CTX1_CONS)                  # crls
    signers: list[SignerInfo] = []
    for s in fields.next("signerInfos").expect(_SET, "signerInfos").fields():
        signer = _signer(s, ctx)
        if keep is None or len(signers) < keep:
            signers.append(signer)
    fields.end_of("SignedData")
    return SignedData(digests.value, content_type, content,
                      None if certificates is None else certificates.value, tuple(signers),
                      version)


def _content_info(der: bytes, ctx: Context, keep: int | None) -> SignedData:
    top = Tlv(der, 0, len(der)).expect(_SEQUENCE, "ContentInfo").fields()
    ctype = note_oid(top.next("contentType"), ctx, "contentType")
    if ctx.kernel:
        check_content_type(ctx)
    elif ctype != OID_SIGNED_DATA:
        raise DerError("content type %s is not signedData" % ctype)
    if top.done():
        if not ctx.kernel:
            raise DerError("ContentInfo without content")
        return SignedData(b"", "", None, None, ())   # the content is OPTIONAL to the kernel
    inner = top.next("content").expect(_CTX0_CONS, "content").fields()
    signed = _signed_data(inner.next("SignedData"), ctx, keep)
    inner.end_of("[0] content")
    top.end_of("ContentInfo")
    return signed


def parse_pkcs7(der: bytes, kernel: bool = False, series: str = "6.12",
                keep_signers: int | None = None) -> SignedData:
    """Parse a DER ContentInfo holding SignedData; PymodError (EBADMSG) otherwise,
    and with ``kernel`` the refusals of ``series``'s parser
    (:class:`Pkcs7Refused`, with every line it printed).

    Bytes after the ContentInfo are ignored, as OpenSSL's ``d2i_PKCS7`` (and so
    kmod's modinfo) and the kernel's decoder ignore them.  Past
    ``keep_signers`` SignerInfos, each is still checked but not kept.
    """
    der = bytes(der)
    ctx = Context(kernel, series)
    try:
        signed = _content_info(der, ctx, keep_signers)
    except DerError as e:
        message = "PKCS#7: " + e.strerror
        if kernel:      # the decoder's own errors print nothing (pr_debug)
            raise Pkcs7Refused(errno.EBADMSG, message, tuple(ctx.log)) from None
        raise PymodError(errno.EBADMSG, message) from None
    # pkcs7_check_authattrs, after the decoder: no signer at all, or signed
    # attributes on some signers only
    if kernel and (not ctx.signers or len(ctx.with_attrs) > 1):
        raise ctx.refuse(errno.EINVAL, "PKCS7: Inconsistently supplied authAttrs")
    return dataclasses.replace(signed, log=tuple(ctx.log))
