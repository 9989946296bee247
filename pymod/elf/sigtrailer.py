"""The module signature trailer: ``[ELF][PKCS#7][struct module_signature][magic]``.

:func:`split_signature` applies the kernel's parsing rules
(``mod_check_sig`` in ``kernel/module_signature.c``) and splits the trailer
off without copying the module.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from typing import NamedTuple

from pymod.elf.constants import MODULE_SIG_STRING, MODULE_SIGNATURE_SIZE, PKEY_ID_PKCS7

__all__ = ["SigInfo", "SigSplit", "split_signature"]

# struct module_signature: u8 algo, hash, id_type, signer_len, key_id_len;
# u8 __pad[3]; __be32 sig_len
_SIG_STRUCT = struct.Struct(">BBBBB3xI")
assert _SIG_STRUCT.size == MODULE_SIGNATURE_SIZE
_SIG_PAD = slice(5, 8)


@dataclass(frozen=True)
class SigInfo:
    """``struct module_signature`` plus the PKCS#7 blob it describes."""

    algo: int
    hash: int
    id_type: int
    signer_len: int
    key_id_len: int
    sig_len: int
    pkcs7: bytes


class SigSplit(NamedTuple):
    """Result of :func:`split_signature`.

    :payload: what the kernel goes on to parse as ELF: the bytes without
        marker, struct and signature when the trailer parsed (errno 0);
        without the marker only when the trailer was malformed
        (EBADMSG/ENOPKG, as ``info->len`` is left then); everything when
        there is no trailer (ENODATA).  A view into the data given (``data``
        itself when nothing is cut off), not a copy.
    :sig: the trailer when its struct could be read in bounds, else None.
    :errno: 0 or the positive errno of the kernel's trailer parsing.
    """

    payload: bytes | memoryview
    sig: SigInfo | None
    errno: int


def split_signature(data: bytes | memoryview) -> SigSplit:
    """Parse and strip the module signature trailer (module_sig_check/mod_verify_sig)."""
    mlen = len(MODULE_SIG_STRING)
    view = memoryview(data)
    if len(data) <= mlen or view[-mlen:] != MODULE_SIG_STRING:
        return SigSplit(data, None, errno.ENODATA)
    modlen = len(data) - mlen
    body = view[:modlen]
    if modlen <= _SIG_STRUCT.size:
        return SigSplit(body, None, errno.EBADMSG)
    raw = bytes(view[modlen - _SIG_STRUCT.size:modlen])
    algo, hash_, id_type, signer_len, key_id_len, sig_len = _SIG_STRUCT.unpack(raw)
    if sig_len >= modlen - _SIG_STRUCT.size:
        return SigSplit(body, None, errno.EBADMSG)
    end = modlen - _SIG_STRUCT.size
    info = SigInfo(algo, hash_, id_type, signer_len, key_id_len, sig_len,
                   bytes(view[end - sig_len:end]))
    if id_type != PKEY_ID_PKCS7:
        return SigSplit(body, info, errno.ENOPKG)
    if algo or hash_ or signer_len or key_id_len or any(raw[_SIG_PAD]):
        return SigSplit(body, info, errno.EBADMSG)
    return SigSplit(view[:end - sig_len], info, 0)
