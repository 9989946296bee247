"""Module signatures verified as 6.12 verifies them: each outcome with the
kernel's errno, enforcement and taint, and nothing left behind by a refusal."""

from __future__ import annotations

import errno
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from pymod import MODULE_INIT_IGNORE_VERMAGIC, Config, Kernel, ModuleLoadError
from pymod.elf.constants import MODULE_SIG_STRING
from pymod.elf.signing import sign_module
from tests.loader.support import assert_consistent, sample_bytes, snapshot
from tests.signing.keys import key_and_cert

HELLO = sample_bytes("pm_hello")


def signed(kind: str = "rsa", hash_name: str = "sha256", image: bytes = HELLO) -> bytes:
    key, cert = key_and_cert(kind)
    return sign_module(image, key, cert, hash_name)


def trusting(kind: str = "rsa", **kw) -> Kernel:
    return Kernel(trusted_keys=(key_and_cert(kind)[1],), **kw)


def refused(k: Kernel, image: bytes, **kw) -> ModuleLoadError:
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(image, **kw)
    assert snapshot(k) == before
    assert_consistent(k)
    return ei.value


@pytest.mark.parametrize("kind", ["rsa", "ec256", "ec384"])
@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_verified_modules_load_untainted_even_under_enforcement(kind, hash_name):
    k = trusting(kind, sig_enforce=True)
    mod = k.load_module(signed(kind, hash_name))
    assert mod.sig_ok and "E" not in mod.taint_letters and k.tainted == ""


def test_an_untrusted_key_is_enokey_soft_then_rejected_under_enforcement():
    image = signed("rsa")
    k = trusting("ec256")
    mod = k.load_module(image)
    assert not mod.sig_ok and "E" in mod.taint_letters
    assert ("notice", "pm_hello: module verification failed: signature and/or required key "
                      "missing - tainting kernel") in k.log.lines
    e = refused(trusting("ec256", sig_enforce=True), image)
    assert (e.errno, e.strerror) == (errno.EKEYREJECTED,
                                     "Loading of module with unavailable key is rejected")


def test_a_changed_module_is_rejected_even_without_enforcement():
    image = bytearray(signed())
    image[100] ^= 1                                    # inside the ELF header's padding
    e = refused(trusting(), bytes(image))
    assert e.errno == errno.EKEYREJECTED


def test_signed_attributes_are_refused_for_modules():
    key, cert = key_and_cert("rsa")
    der = (pkcs7.PKCS7SignatureBuilder().set_data(HELLO).add_signer(cert, key, hashes.SHA256())
           .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature,
                                              pkcs7.PKCS7Options.NoCerts,
                                              pkcs7.PKCS7Options.Binary]))
    import struct

    image = HELLO + der + struct.pack(">BBBBB3xI", 0, 0, 2, 0, 0, len(der)) + MODULE_SIG_STRING
    k = trusting()
    e = refused(k, image)
    assert e.errno == errno.EKEYREJECTED
    assert ("warn", "PKCS7: Invalid module sig (has authattrs)") in k.log.lines


def test_an_unsupported_digest_is_enopkg():
    image = signed()
    sha256 = bytes.fromhex("0609608648016503040201")        # OID 2.16.840.1.101.3.4.2.1
    other = bytes.fromhex("0609608648016503040207")         # 2.16...2.7 (sha3-224)
    assert image.count(sha256) >= 1
    changed = image.replace(sha256, other)
    mod = trusting().load_module(changed)
    assert not mod.sig_ok and "E" in mod.taint_letters
    e = refused(trusting(sig_enforce=True), changed)
    assert e.strerror == "Loading of module with unsupported crypto is rejected"


def test_ignore_flags_skip_verification():
    mod = trusting().load_module(signed(), flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert not mod.sig_ok and "E" in mod.taint_letters


def test_a_blacklisted_hash_is_rejected_after_verification():
    image = signed()
    k = trusting(blacklisted_hashes=frozenset({hashlib.sha256(image).digest()}))
    e = refused(k, image)
    assert e.errno == errno.EKEYREJECTED
    assert k.log.lines[-1] == ("err", "Module hash %s is blacklisted"
                               % hashlib.sha256(image).hexdigest())


def test_enforcement_turns_on_and_stays_on():
    k = Kernel()
    k.load_module(HELLO)
    k.delete_module("pm_hello")
    k.set_module_sig_enforced()
    e = refused(k, HELLO)
    assert e.strerror == "Loading of unsigned module is rejected"
    assert not hasattr(k, "clear_module_sig_enforced")


def test_without_module_sig_everything_is_ok():
    k = Kernel(Config(MODULE_SIG=False))
    k.set_module_sig_enforced()                        # no such parameter: a no-op
    assert "E" not in k.load_module(HELLO).taint_letters


def test_signing_refuses_what_it_cannot_do():
    from pymod import InvalidArgument

    key, cert = key_and_cert("rsa")
    with pytest.raises(InvalidArgument):
        sign_module(signed(), key, cert)               # signed already
    with pytest.raises(InvalidArgument):
        sign_module(HELLO, key, cert, "md5")
    with pytest.raises(InvalidArgument):
        sign_module(HELLO, b"not a key", cert)


def _with_attributes(data: bytes) -> bytes:
    key, cert = key_and_cert("rsa")
    return (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature,
                                               pkcs7.PKCS7Options.NoCerts,
                                               pkcs7.PKCS7Options.Binary]))


def test_signed_attributes_verify_outside_module_signatures():
    """The digest is then over the attributes (their messageDigest must be
    the data's): VERIFYING_UNSPECIFIED_SIGNATURE accepts them; a module
    signature with them is refused, as 6.12 refuses it."""
    from pymod.elf.sigverify import Keyring, verify_pkcs7_module

    der = _with_attributes(HELLO)
    ring = Keyring([key_and_cert("rsa")[1]])
    assert verify_pkcs7_module(HELLO, der, ring, usage="unspecified").errno == 0
    changed = verify_pkcs7_module(HELLO + b"x", der, ring, usage="unspecified")
    assert changed.errno == errno.EKEYREJECTED
    assert changed.log == (("warn", "PKCS7: Sig 1: Message digest doesn't match"),)
    assert verify_pkcs7_module(HELLO, der, ring).errno == errno.EKEYREJECTED
    assert verify_pkcs7_module(HELLO, der, Keyring(), usage="unspecified").errno == errno.ENOKEY
