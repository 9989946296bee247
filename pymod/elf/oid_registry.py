"""The kernel's OID registry (``lib/oid_registry.c``, ``include/linux/oid_registry.h``)
as the PKCS#7 parser consults it.

``look_up_OID`` maps an OID's encoded contents to its ``enum OID`` value, or
to ``OID__NR`` when the registry does not hold it; ``sprint_oid`` renders one
into a fixed buffer.  Both are bounded here as in the kernel: an OID longer
than every registered one is ``OID__NR`` at once (no number is ever formed
from it), and the rendering stops when the buffer is full, each arc kept to
an ``unsigned long``.  The enum's values differ between the modelled kernels
(6.1 has the md2/md4/md5 entries, 6.12 the SHA-3 ones): the parser prints
them (``Unsupported digest algo: %u``), so each series has its own table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

__all__ = ["OidRegistry", "registry", "sprint_oid", "encode_oid"]

# enum OID in order: name, dotted form, and the one series holding it when
# only one does.
_ENUM = """
id_dsa_with_sha1 1.2.840.10030.4.3
id_dsa 1.2.840.10040.4.1
id_ecPublicKey 1.2.840.10045.2.1
id_prime192v1 1.2.840.10045.3.1.1
id_prime256v1 1.2.840.10045.3.1.7
id_ecdsa_with_sha1 1.2.840.10045.4.1
id_ecdsa_with_sha224 1.2.840.10045.4.3.1
id_ecdsa_with_sha256 1.2.840.10045.4.3.2
id_ecdsa_with_sha384 1.2.840.10045.4.3.3
id_ecdsa_with_sha512 1.2.840.10045.4.3.4
rsaEncryption 1.2.840.113549.1.1.1
md2WithRSAEncryption 1.2.840.113549.1.1.2 6.1
md3WithRSAEncryption 1.2.840.113549.1.1.3 6.1
md4WithRSAEncryption 1.2.840.113549.1.1.4 6.1
sha1WithRSAEncryption 1.2.840.113549.1.1.5
sha256WithRSAEncryption 1.2.840.113549.1.1.11
sha384WithRSAEncryption 1.2.840.113549.1.1.12
sha512WithRSAEncryption 1.2.840.113549.1.1.13
sha224WithRSAEncryption 1.2.840.113549.1.1.14
data 1.2.840.113549.1.7.1
signed_data 1.2.840.113549.1.7.2
email_address 1.2.840.113549.1.9.1
contentType 1.2.840.113549.1.9.3
messageDigest 1.2.840.113549.1.9.4
signingTime 1.2.840.113549.1.9.5
smimeCapabilites 1.2.840.113549.1.9.15
smimeAuthenticatedAttrs 1.2.840.113549.1.9.16.2.11
md2 1.2.840.113549.2.2 6.1
md4 1.2.840.113549.2.4 6.1
md5 1.2.840.113549.2.5 6.1
mskrb5 1.2.840.48018.1.2.2
krb5 1.2.840.113554.1.2.2
krb5u2u 1.2.840.113554.1.2.2.3
msIndirectData 1.3.6.1.4.1.311.2.1.4
msStatementType 1.3.6.1.4.1.311.2.1.11
msSpOpusInfo 1.3.6.1.4.1.311.2.1.12
msPeImageDataObjId 1.3.6.1.4.1.311.2.1.15
msIndividualSPKeyPurpose 1.3.6.1.4.1.311.2.1.21
msOutlookExpress 1.3.6.1.4.1.311.16.4
ntlmssp 1.3.6.1.4.1.311.2.2.10
negoex 1.3.6.1.4.1.311.2.2.30 6.12
spnego 1.3.6.1.5.5.2
IAKerb 1.3.6.1.5.2.5
PKU2U 1.3.5.1.5.2.7
Scram 1.3.6.1.5.5.14
certAuthInfoAccess 1.3.6.1.5.5.7.1.1
sha1 1.3.14.3.2.26
id_ansip384r1 1.3.132.0.34
id_ansip521r1 1.3.132.0.35 6.12
sha256 2.16.840.1.101.3.4.2.1
sha384 2.16.840.1.101.3.4.2.2
sha512 2.16.840.1.101.3.4.2.3
sha224 2.16.840.1.101.3.4.2.4
commonName 2.5.4.3
surname 2.5.4.4
countryName 2.5.4.6
locality 2.5.4.7
stateOrProvinceName 2.5.4.8
organizationName 2.5.4.10
organizationUnitName 2.5.4.11
title 2.5.4.12
description 2.5.4.13
name 2.5.4.41
givenName 2.5.4.42
initials 2.5.4.43
generationalQualifier 2.5.4.44
subjectKeyIdentifier 2.5.29.14
keyUsage 2.5.29.15
subjectAltName 2.5.29.17
issuerAltName 2.5.29.18
basicConstraints 2.5.29.19
crlDistributionPoints 2.5.29.31
certPolicies 2.5.29.32
authorityKeyIdentifier 2.5.29.35
extKeyUsage 2.5.29.37
NetlogonMechanism 1.2.752.43.14.2
appleLocalKdcSupported 1.2.752.43.14.3
gostCPSignA 1.2.643.2.2.35.1
gostCPSignB 1.2.643.2.2.35.2
gostCPSignC 1.2.643.2.2.35.3
gost2012PKey256 1.2.643.7.1.1.1.1
gost2012PKey512 1.2.643.7.1.1.1.2
gost2012Digest256 1.2.643.7.1.1.2.2
gost2012Digest512 1.2.643.7.1.1.2.3
gost2012Signature256 1.2.643.7.1.1.3.2
gost2012Signature512 1.2.643.7.1.1.3.3
gostTC26Sign256A 1.2.643.7.1.2.1.1.1
gostTC26Sign256B 1.2.643.7.1.2.1.1.2
gostTC26Sign256C 1.2.643.7.1.2.1.1.3
gostTC26Sign256D 1.2.643.7.1.2.1.1.4
gostTC26Sign512A 1.2.643.7.1.2.1.2.1
gostTC26Sign512B 1.2.643.7.1.2.1.2.2
gostTC26Sign512C 1.2.643.7.1.2.1.2.3
sm2 1.2.156.10197.1.301
sm3 1.2.156.10197.1.401
SM2_with_SM3 1.2.156.10197.1.501
sm3WithRSAEncryption 1.2.156.10197.1.504
TPMLoadableKey 2.23.133.10.1.3
TPMImportableKey 2.23.133.10.1.4
TPMSealedData 2.23.133.10.1.5
sha3_256 2.16.840.1.101.3.4.2.8 6.12
sha3_384 2.16.840.1.101.3.4.2.9 6.12
sha3_512 2.16.840.1.101.3.4.2.10 6.12
id_ecdsa_with_sha3_256 2.16.840.1.101.3.4.3.10 6.12
id_ecdsa_with_sha3_384 2.16.840.1.101.3.4.3.11 6.12
id_ecdsa_with_sha3_512 2.16.840.1.101.3.4.3.12 6.12
id_rsassa_pkcs1_v1_5_with_sha3_256 2.16.840.1.101.3.4.3.14 6.12
id_rsassa_pkcs1_v1_5_with_sha3_384 2.16.840.1.101.3.4.3.15 6.12
id_rsassa_pkcs1_v1_5_with_sha3_512 2.16.840.1.101.3.4.3.16 6.12
"""

SERIES = ("6.1", "6.12")


def encode_oid(dotted: str) -> bytes:
    """The DER contents of a dotted OID (first two arcs in one byte, as every
    registered OID has them)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return bytes(out)


@dataclass(frozen=True)
class OidRegistry:
    """One kernel's ``enum OID``: ``nr`` is ``OID__NR``."""

    series: str
    names: tuple[str, ...]
    _by_contents: dict[bytes, int] = field(repr=False, compare=False)
    _longest: int = field(repr=False, compare=False)
    _by_name: dict[str, int] = field(repr=False, compare=False)

    @property
    def nr(self) -> int:
        return len(self.names)

    def look_up(self, contents: bytes | memoryview) -> int:
        """``look_up_OID``: the enum value, ``nr`` for an OID not held (one
        longer than every held OID is not even looked at)."""
        if len(contents) > self._longest:
            return self.nr
        return self._by_contents.get(bytes(contents), self.nr)

    def value(self, name: str) -> int:
        """``OID_<name>``; ``nr`` when this kernel has no such entry."""
        return self._by_name.get(name, self.nr)


@cache
def registry(series: str = "6.12") -> OidRegistry:
    """The registry of a modelled series ("6.1" or "6.12")."""
    if series not in SERIES:
        raise ValueError("no OID registry for series %r" % series)
    rows = [line.split() for line in _ENUM.strip().splitlines()]
    held = [(name, encode_oid(dotted)) for name, dotted, *only in rows
            if not only or only[0] == series]
    return OidRegistry(series, tuple(name for name, _ in held),
                       {raw: i for i, (_, raw) in enumerate(held)},
                       max(len(raw) for _, raw in held),
                       {name: i for i, (name, _) in enumerate(held)})


_ARC_END = re.compile(rb"[\x00-\x7f]")       # the last byte of an arc
_ULONG = (1 << 64) - 1


def sprint_oid(contents: bytes | memoryview, bufsize: int = 50) -> str:
    """What ``sprint_oid`` leaves in a ``bufsize``-byte buffer: the first
    byte as ``n/40.n%40``, then each arc as an ``unsigned long`` (the bits
    shifted out of it lost), cut to ``bufsize - 1`` characters; an arc that
    runs off the end appends ``(bad)``.  Work stops once the buffer is full."""
    raw = bytes(contents)
    room = bufsize - 1
    if not raw:
        return "(bad)"[:room]
    out = "%d.%d" % (raw[0] // 40, raw[0] % 40)
    pos = 1
    while pos < len(raw) and len(out) < bufsize:
        m = _ARC_END.search(raw, pos)
        if m is None:
            return (out + "(bad)")[:room]
        end = m.start()
        num = 0
        # only the last ten bytes (70 bits) can reach a 64-bit value
        for b in raw[max(pos, end - 9):end + 1]:
            num = ((num << 7) | (b & 0x7F)) & _ULONG
        out += ".%d" % num
        pos = end + 1
    return out[:room]
