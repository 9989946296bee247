"""The tamper matrix: a signed module with a byte flipped in each region
(ELF payload, PKCS#7 blob, each trailer field, the magic), truncated or
extended; every case gets the kernel's errno with and without enforcement,
and a refusal leaves nothing behind."""

from __future__ import annotations

import errno

import pytest

from pymod import Kernel, ModuleLoadError
from pymod.elf.constants import MODULE_SIG_STRING
from tests.loader.support import assert_consistent, snapshot
from tests.signing.keys import key_and_cert
from tests.signing.test_verify import signed

IMAGE = signed("rsa")
MARK = len(MODULE_SIG_STRING)
STRUCT_AT = len(IMAGE) - MARK - 12                  # struct module_signature
SIG_LEN = int.from_bytes(IMAGE[STRUCT_AT + 8:STRUCT_AT + 12], "big")
SIG_AT = STRUCT_AT - SIG_LEN
SOFT = (errno.ENODATA, errno.ENOPKG, errno.ENOKEY)


def flipped(at: int, bit: int = 1) -> bytes:
    b = bytearray(IMAGE)
    b[at] ^= bit
    return bytes(b)


# (case, image, the signature check's errno (0: verified), or a set of them
# when a flip may land in a field whose damage shows in more than one way)
CASES = [
    ("elf-header", flipped(0x40 + 8), {errno.EKEYREJECTED}),
    ("elf-middle", flipped(SIG_AT // 2), {errno.EKEYREJECTED}),
    ("elf-last-byte", flipped(SIG_AT - 1), {errno.EKEYREJECTED}),
    ("pkcs7-outer-tag", flipped(SIG_AT, 0x20), {errno.EBADMSG}),
    ("pkcs7-signature-value", flipped(STRUCT_AT - 3), {errno.EKEYREJECTED, errno.EBADMSG}),
    ("pkcs7-middle", flipped(SIG_AT + SIG_LEN // 2),
     {errno.EBADMSG, errno.EKEYREJECTED, errno.ENOKEY, errno.ENOPKG}),
    ("trailer-algo", flipped(STRUCT_AT + 0), {errno.EBADMSG}),
    ("trailer-hash", flipped(STRUCT_AT + 1), {errno.EBADMSG}),
    ("trailer-id-type", flipped(STRUCT_AT + 2), {errno.ENOPKG}),
    ("trailer-signer-len", flipped(STRUCT_AT + 3), {errno.EBADMSG}),
    ("trailer-key-id-len", flipped(STRUCT_AT + 4), {errno.EBADMSG}),
    ("trailer-pad", flipped(STRUCT_AT + 6), {errno.EBADMSG}),
    ("trailer-sig-len-high", flipped(STRUCT_AT + 8, 0x40), {errno.EBADMSG}),
    ("trailer-sig-len-low", flipped(STRUCT_AT + 11), {errno.EBADMSG, errno.EKEYREJECTED}),
    ("magic", flipped(len(IMAGE) - 2), {errno.ENODATA}),
    ("truncated-marker", IMAGE[:-1], {errno.ENODATA}),
    ("truncated-into-signature", IMAGE[:SIG_AT + 10] + MODULE_SIG_STRING,
     {errno.EBADMSG, errno.EKEYREJECTED}),
    ("extended-after-marker", IMAGE + b"\0", {errno.ENODATA}),
    ("extended-before-trailer", IMAGE[:SIG_AT] + b"\0" + IMAGE[SIG_AT:], {errno.EKEYREJECTED}),
]


def test_the_untouched_module_verifies():
    mod = Kernel(trusted_keys=(key_and_cert("rsa")[1],), sig_enforce=True).load_module(IMAGE)
    assert mod.sig_ok and mod.sig_errno == 0


@pytest.mark.parametrize("name,image,want", CASES, ids=[c[0] for c in CASES])
def test_tampered(name, image, want):
    k = Kernel(trusted_keys=(key_and_cert("rsa")[1],))
    before = snapshot(k)
    try:
        mod = k.load_module(image)
        assert not mod.sig_ok and mod.sig_errno in SOFT, (name, mod.sig_errno)
        got = mod.sig_errno                      # soft: loaded, tainted E
        assert "E" in mod.taint_letters
    except ModuleLoadError as e:
        assert snapshot(k) == before
        assert_consistent(k)
        assert e.stage == "signature", (name, e)
        got = e.errno
    assert got in want, (name, got)
    # under enforcement every case is refused at the signature check
    ke = Kernel(trusted_keys=(key_and_cert("rsa")[1],), sig_enforce=True)
    before = snapshot(ke)
    with pytest.raises(ModuleLoadError) as ei:
        ke.load_module(image)
    assert snapshot(ke) == before and ei.value.stage == "signature"
    assert ei.value.errno == (errno.EKEYREJECTED if got in SOFT else got)
