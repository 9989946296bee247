"""``pkcs7_parser.c``'s callbacks, as the kernel's streaming decoder calls
them on a module signature: what they note in the parse context, the lines
they print and the errors they return.  The OIDs are looked up in the kernel's
registry of the configured series (:mod:`pymod.elf.oid_registry`), whose
enum values the refusals print.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from functools import cache

from pymod.elf.der import DerError, Tlv, oid_str, oid_well_formed
from pymod.elf.oid_registry import registry, sprint_oid
from pymod.errors import PymodError

__all__ = ["Pkcs7Refused", "Context", "note_oid", "switch", "check_content_type",
           "note_content", "note_signed_info", "signed_data_version", "signer_version"]

_OID = 0x06

# The registry names pkcs7_sig_note_digest_algo and pkcs7_sig_note_pkey_algo
# accept, per series.
_DIGESTS = ("sha1", "sha256", "sha384", "sha512", "sha224", "sm3", "gost2012Digest256",
            "gost2012Digest512")
_PKEYS = ("rsaEncryption", "id_ecdsa_with_sha1", "id_ecdsa_with_sha224", "id_ecdsa_with_sha256",
          "id_ecdsa_with_sha384", "id_ecdsa_with_sha512", "gost2012PKey256", "gost2012PKey512")
_SWITCHES: dict[str, dict[str, tuple[str, ...]]] = {
    "6.1": {"digest": ("md4", "md5", *_DIGESTS), "pkey": (*_PKEYS, "SM2_with_SM3")},
    "6.12": {"digest": (*_DIGESTS, "sha3_256", "sha3_384", "sha3_512"),
             "pkey": (*_PKEYS, "id_ecdsa_with_sha3_256", "id_ecdsa_with_sha3_384",
                      "id_ecdsa_with_sha3_512")},
}


@cache
def _cases(series: str, kind: str) -> frozenset[int]:
    """The enum values a switch of ``series`` names (made once, not per SignerInfo)."""
    reg = registry(series)
    return frozenset(reg.value(name) for name in _SWITCHES[series][kind])


class Pkcs7Refused(PymodError):
    """A kernel PKCS#7 parser refusal: errno, and ``log``, the lines the
    parser printed up to it (by default the message alone, as a warning)."""

    def __init__(self, code: int, line: str,
                 log: tuple[tuple[str, str], ...] | None = None):
        super().__init__(code, line)
        self.log: tuple[tuple[str, str], ...] = (("warn", line),) if log is None else log


@dataclass
class Context:
    """What the kernel's parser carries from one callback to the next
    (``struct pkcs7_parse_context``): never reset between SignerInfos."""

    kernel: bool
    series: str = "6.12"
    log: list[tuple[str, str]] = field(default_factory=list)   # what it printed
    last_oid: int = 0
    version: int = 0             # the SignedData version
    data_type: int = 0
    serial: bytes = b""
    issuer: bytes = b""
    skid: bytes = b""
    signers: int = 0             # SignerInfos met, and whether each had authattrs
    with_attrs: set[bool] = field(default_factory=set)

    def refuse(self, code: int, line: str) -> Pkcs7Refused:
        self.log.append(("warn", line))
        return Pkcs7Refused(code, line, tuple(self.log))

    def oid_value(self, name: str) -> int:
        return registry(self.series).value(name)


def note_oid(t: Tlv, ctx: Context, what: str) -> str:
    """An OBJECT IDENTIFIER field the grammar notes (``pkcs7_note_OID``):
    the kernel looks it up, logging one its registry lacks; OpenSSL wants it
    well formed."""
    raw = t.expect(_OID, what).value
    if ctx.kernel:
        reg = registry(ctx.series)
        ctx.last_oid = reg.look_up(raw)
        if ctx.last_oid == reg.nr:       # printk without a level: the default, 4
            ctx.log.append(("warn", "PKCS7: Unknown OID: [%d] %s" % (t.start, sprint_oid(raw))))
    elif not oid_well_formed(raw):
        raise DerError("malformed OBJECT IDENTIFIER")
    return oid_str(raw)


def switch(ctx: Context, kind: str) -> None:
    """pkcs7_sig_note_digest_algo / pkcs7_sig_note_pkey_algo (``kind``
    "digest" or "pkey") on the last OID noted: ENOPKG for one they do not
    name (a printk without a level, and without the "PKCS7: " prefix)."""
    if ctx.last_oid not in _cases(ctx.series, kind):
        raise ctx.refuse(errno.ENOPKG, "Unsupported %s algo: %u" % (kind, ctx.last_oid))


def check_content_type(ctx: Context) -> None:
    """pkcs7_check_content_type: the outer content type is signedData."""
    if ctx.last_oid != ctx.oid_value("signed_data"):
        raise ctx.refuse(errno.EINVAL, "PKCS7: Only support pkcs7_signedData type")


def note_content(ctx: Context) -> None:
    """pkcs7_note_content: the encapsulated type is data or Authenticode."""
    if ctx.last_oid not in (ctx.oid_value("data"), ctx.oid_value("msIndirectData")):
        raise ctx.refuse(errno.EINVAL, "PKCS7: Unsupported data type %d" % ctx.last_oid)
    ctx.data_type = ctx.last_oid


def note_signed_info(ctx: Context, has_attrs: bool) -> None:
    """pkcs7_note_signed_info, at the end of each SignerInfo."""
    if not has_attrs and ctx.data_type == ctx.oid_value("msIndirectData"):
        raise ctx.refuse(errno.EBADMSG, "PKCS7: Authenticode requires AuthAttrs")
    ctx.signers += 1
    ctx.with_attrs.add(has_attrs)


def signed_data_version(raw: bytes, ctx: Context) -> int:
    """pkcs7_note_signeddata_version: one byte, 1 (PKCS#7) or 3 (CMS)."""
    if not ctx.kernel:
        return int.from_bytes(raw, "big", signed=True)
    if len(raw) != 1 or raw[0] not in (1, 3):
        raise ctx.refuse(errno.EINVAL, "PKCS7: Unsupported SignedData version")
    ctx.version = raw[0]
    return raw[0]


def signer_version(raw: bytes, ctx: Context) -> int:
    """pkcs7_note_signerinfo_version: 1 only in version 1 SignedData, 3 only
    in version 3."""
    if not ctx.kernel:
        return int.from_bytes(raw, "big", signed=True)
    if len(raw) != 1 or raw[0] not in (1, 3):
        raise ctx.refuse(errno.EINVAL, "PKCS7: Unsupported SignerInfo version")
    if (raw[0] == 1) != (ctx.version == 1):
        raise ctx.refuse(errno.EBADMSG, "PKCS7: SignedData-SignerInfo version mismatch")
    return raw[0]
