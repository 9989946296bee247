"""The kernel's PKCS#7 parser and key search, as 6.1 and 6.12 run them for a
module signature (pkcs7_parser.c, pkcs7_verify.c, pkcs7_trust.c,
find_asymmetric_key): SignedData and SignerInfo versions, the signer found
by the raw bytes of its issuer and serial (or its SKID), and what each
refusal logs."""

from __future__ import annotations

import errno

import pytest

from pymod import Kernel, ModuleLoadError
from pymod.elf.pkcs7 import Pkcs7Refused, certificate_key_ids, parse_pkcs7
from pymod.elf.sigverify import Keyring, verify_pkcs7_module
from tests.loader.support import assert_consistent, sample_bytes, snapshot
from tests.signing.der import (
    OID_DATA,
    Signer,
    integer_contents,
    sha256,
    signed_data,
    with_signature,
)
from tests.signing.keys import key_and_cert

HELLO = sample_bytes("pm_hello")
UNAVAILABLE = "Loading of module with unavailable key is rejected"
TAINT_NOTICE = ("notice", "pm_hello: module verification failed: signature and/or required key "
                          "missing - tainting kernel")


def trusting(*certs, **kw) -> Kernel:
    return Kernel(trusted_keys=certs or (key_and_cert("rsa")[1],), **kw)


def rsa_signer(**kw) -> Signer:
    return Signer(*key_and_cert("rsa"), **kw)


def skid_signer(**kw) -> Signer:
    return Signer(*key_and_cert("rsa", "pymod skid key", skid=True), **kw)


def module(*signers: Signer, version: bytes = b"\x01", **kw) -> bytes:
    return with_signature(HELLO, signed_data(HELLO, list(signers), version, **kw))


def refused(k: Kernel, image: bytes) -> ModuleLoadError:
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(image)
    assert snapshot(k) == before
    assert_consistent(k)
    assert ei.value.stage == "signature"
    return ei.value


def hard(image: bytes, code: int, line: str | None, k: Kernel | None = None) -> None:
    """Refused with ``code`` with or without enforcement; the kernel's one
    line (or none) is logged and is the error's message."""
    for enforce in (False, True):
        kk = k or trusting(sig_enforce=enforce)
        e = refused(kk, image)
        assert e.errno == code
        if line is None:
            assert not any("PKCS" in m for _, m in kk.log.lines)
        else:
            assert kk.log.lines[-1] == ("warn", line) and e.strerror == line


def test_the_hand_built_signature_verifies_like_sign_files():
    mod = trusting(sig_enforce=True).load_module(module(rsa_signer()))
    assert mod.sig_ok and mod.taint_letters == ""


def test_an_ec_signer_verifies_too():
    key, cert = key_and_cert("ec256")
    assert trusting(cert, sig_enforce=True).load_module(module(Signer(key, cert))).sig_ok


@pytest.mark.parametrize("version", [b"\x00", b"\x02", b"\x04", b"\x05", b"\x00\x01", b""])
def test_an_unknown_signed_data_version_is_einval(version):
    hard(module(rsa_signer(), version=version), errno.EINVAL,
         "PKCS7: Unsupported SignedData version")


@pytest.mark.parametrize("version", [0, 2, 4, 0x81])
def test_an_unknown_signer_info_version_is_einval(version):
    hard(module(rsa_signer(version=version)), errno.EINVAL,
         "PKCS7: Unsupported SignerInfo version")


@pytest.mark.parametrize("data,signer", [(b"\x03", 1), (b"\x01", 3)])
def test_signer_info_and_signed_data_versions_must_agree(data, signer):
    hard(module(rsa_signer(version=signer), version=data), errno.EBADMSG,
         "PKCS7: SignedData-SignerInfo version mismatch")


def test_the_signed_data_version_is_judged_before_what_follows_it():
    """The decoder streams: a bad version refuses before a later field's
    broken length is met (with a good version, that length is EBADMSG)."""
    from tests.signing.der import OID_SIGNED_DATA, oid, seq, tlv

    def message(version: bytes) -> bytes:
        broken = b"\x31\x7f" + bytes(4)                # signerInfos claiming 127 bytes
        return seq(oid(OID_SIGNED_DATA), tlv(0xA0, seq(tlv(0x02, version), broken)))

    hard(with_signature(HELLO, message(b"\x07")), errno.EINVAL,
         "PKCS7: Unsupported SignedData version")
    hard(with_signature(HELLO, message(b"\x01")), errno.EBADMSG, None)


def test_a_version_3_signer_is_found_by_its_subject_key_identifier():
    signer = skid_signer(version=3, sid="skid")
    k = trusting(signer.cert, sig_enforce=True)
    assert k.load_module(module(signer, version=b"\x03")).sig_ok
    # the same certificate also answers to its issuer and serial (version 1)
    assert trusting(signer.cert, sig_enforce=True).load_module(
        module(skid_signer())).sig_ok


@pytest.mark.parametrize("version,sid", [(3, "issuer"), (1, "skid")])
def test_an_identifier_the_version_does_not_expect_gives_an_empty_key_id(version, sid):
    """Version 1 takes the id from issuer and serial, 3 from the SKID: the
    other form leaves it empty, and the keyring search refuses an empty id
    (EINVAL, hard, printing nothing)."""
    signer = skid_signer(version=version, sid=sid)
    image = module(signer, version=bytes([version]))
    hard(image, errno.EINVAL, None, trusting(signer.cert))
    hard(image, errno.EINVAL, None, trusting(signer.cert, sig_enforce=True))


def test_a_later_signer_reuses_the_last_issuer_and_serial_met():
    """The parser's context is not reset between SignerInfos: a version 1
    signer named by SKID gets the previous signer's issuer and serial, so it
    finds that signer's key (and a bad signature is then rejected)."""
    good = rsa_signer()
    stale = skid_signer(sid="skid", signature=b"\x01" * 256)
    k = trusting(good.cert)
    assert refused(k, module(good, stale)).errno == errno.EKEYREJECTED
    parsed = parse_pkcs7(signed_data(HELLO, [good, stale]), kernel=True)
    assert parsed.signers[1].kid == parsed.signers[0].kid == certificate_key_ids(
        good.cert.public_bytes(_der()))[0]


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _retagged(name_der: bytes, text: bytes, old: int, new: int) -> bytes:
    at = name_der.index(bytes([old, len(text)]) + text)
    return name_der[:at] + bytes([new]) + name_der[at + 1:]


@pytest.mark.parametrize("old,new", [(0x13, 0x0C), (0x0C, 0x13)])
def test_an_issuer_string_re_tagged_names_no_key(old, new):
    """PrintableString <-> UTF8String with the same text: the same name to a
    reader of names, other bytes to the kernel's key id: ENOKEY, soft (tainted
    E with the notice), rejected under enforcement."""
    key, cert = key_and_cert("rsa", "pymod country key", country="DE")
    text = b"DE" if old == 0x13 else b"pymod"
    issuer = _retagged(cert.issuer.public_bytes(), text, old, new)
    image = module(Signer(key, cert, issuer=issuer))
    assert trusting(cert, sig_enforce=True).load_module(module(Signer(key, cert))).sig_ok
    k = trusting(cert)
    mod = k.load_module(image)
    assert not mod.sig_ok and mod.sig_errno == errno.ENOKEY and "E" in mod.taint_letters
    assert TAINT_NOTICE in k.log.lines
    e = refused(trusting(cert, sig_enforce=True), image)
    assert (e.errno, e.strerror) == (errno.EKEYREJECTED, UNAVAILABLE)


def test_a_serial_with_a_redundant_leading_zero_names_no_key():
    signer = rsa_signer()
    padded = b"\x00" + integer_contents(signer.cert.serial_number)
    image = module(rsa_signer(serial=padded))
    assert trusting().load_module(image).sig_errno == errno.ENOKEY
    assert refused(trusting(sig_enforce=True), image).strerror == UNAVAILABLE


@pytest.mark.parametrize("pkey", ["1.2.840.113549.1.1.11", "1.2.840.10045.2.1"])
def test_only_rsa_encryption_and_ecdsa_with_a_hash_are_signature_algorithms(pkey):
    """pkcs7_sig_note_pkey_algo knows rsaEncryption, not sha256WithRSA
    (which OpenSSL would verify), nor id-ecPublicKey: ENOPKG, soft."""
    image = module(rsa_signer(pkey_oid=pkey))
    mod = trusting().load_module(image)
    assert not mod.sig_ok and mod.sig_errno == errno.ENOPKG and "E" in mod.taint_letters
    e = refused(trusting(sig_enforce=True), image)
    assert e.strerror == "Loading of module with unsupported crypto is rejected"


def test_no_signer_at_all_is_einval():
    hard(module(), errno.EINVAL, "PKCS7: Inconsistently supplied authAttrs")


def test_only_signed_data_is_understood():
    hard(module(rsa_signer(), content_type=OID_DATA), errno.EINVAL,
         "PKCS7: Only support pkcs7_signedData type")


def test_embedded_data_is_ebadmsg_with_both_lines():
    k = trusting()
    e = refused(k, module(rsa_signer(), content=HELLO))
    assert e.errno == errno.EBADMSG
    assert k.log.lines[-2:] == [("warn", "PKCS7: Data already supplied"),
                                ("err", "PKCS#7 signature with non-detached data")]


def test_the_decoder_takes_at_most_64k():
    """asn1_ber_decoder refuses input over 65535 bytes (EMSGSIZE); below
    that, bytes after the ContentInfo are ignored."""
    der = signed_data(HELLO, [rsa_signer()])
    fits = with_signature(HELLO, der + bytes(65535 - len(der)))
    assert trusting(sig_enforce=True).load_module(fits).sig_ok
    too_long = with_signature(HELLO, der + bytes(65536 - len(der)))
    hard(too_long, errno.EMSGSIZE, None)


def test_signers_are_all_digested_before_any_key_is_tried():
    """pkcs7_verify runs over every signer before pkcs7_validate_trust: the
    second signer's wrong messageDigest is found (and logged with its
    index) although the first one's signature is bad too."""
    key, cert = key_and_cert("rsa")
    first = Signer(key, cert, attrs=True, signature=b"\x02" * 256)
    second = Signer(key, cert, attrs=True, attrs_digest=sha256(b"other"))
    out = verify_pkcs7_module(HELLO, signed_data(HELLO, [first, second]), Keyring([cert]),
                              usage="unspecified")
    assert out.errno == errno.EKEYREJECTED
    assert out.log == (("warn", "PKCS7: Sig 2: Message digest doesn't match"),)
    mixed = signed_data(HELLO, [Signer(key, cert, attrs=True), Signer(key, cert)])
    out = verify_pkcs7_module(HELLO, mixed, Keyring([cert]), usage="unspecified")
    assert (out.errno, out.log) == (errno.EINVAL, (("warn", "PKCS7: Inconsistently supplied "
                                                            "authAttrs"),))


def test_kmods_reader_keeps_its_own_rules():
    """modinfo reads with OpenSSL: no version rules, no SKID signers."""
    der = signed_data(HELLO, [rsa_signer(version=7)], b"\x09")
    assert parse_pkcs7(der).signers[0].version == 7
    with pytest.raises(Pkcs7Refused):
        parse_pkcs7(der, kernel=True)
    skid = signed_data(HELLO, [skid_signer(version=3, sid="skid")], b"\x03")
    with pytest.raises(Exception) as ei:
        parse_pkcs7(skid)
    assert getattr(ei.value, "errno", None) == errno.EBADMSG
    assert parse_pkcs7(skid, kernel=True).signers[0].kid


def test_a_kernel_without_keys_does_not_import_cryptography():
    import subprocess
    import sys

    code = "import sys, pymod; pymod.Kernel(); print('cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
