"""Hostile signatures and certificates (issue 15): an OID's length costs
nothing, a SEQUENCE of many elements is no Python object per element, the
kernel's own lines for what its registry does not hold, one batch goes on
past a bad file, certificate errors name their file, and ``pymod check``
trusts what ``pymod load`` trusts."""

from __future__ import annotations

import errno
import lzma
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

import pymod
from pymod import Config, Kernel, ModuleLoadError
from pymod.elf.oid_registry import registry, sprint_oid
from pymod.elf.pkcs7 import parse_pkcs7
from pymod.elf.sigverify import Keyring, verify_pkcs7_module
from pymod.samples import prebuilt_path, signed_path, signing_cert
from tests.hostile.test_memory_bounds import run_bounded
from tests.signing.der import (
    OID_DATA,
    OID_RSA,
    OID_SHA256,
    OID_SIGNED_DATA,
    integer_contents,
    oid,
    seq,
    set_of,
    tlv,
    with_signature,
)
from tests.signing.keys import key_and_cert

HELLO = prebuilt_path("pm_hello").read_bytes()
PYMOD = str(Path(pymod.__file__).parent)
# 1.2 and one arc of n - 2 bytes, all of its bits set: the kernel keeps the
# low 64 of them (an unsigned long), so it prints 2**64 - 1
ALL_ONES = "1.2.%d" % (2**64 - 1)


def big_oid(n: int) -> bytes:
    return tlv(0x06, b"\x2a" + b"\xff" * (n - 2) + b"\x7f")


def signature(*, content_type: bytes | None = None, e_content_type: bytes | None = None,
              digest: bytes | None = None, pkey: bytes | None = None,
              attr_type: bytes | None = None, digest_params: bytes = b"\x05\x00") -> bytes:
    """A detached PKCS#7 for HELLO (its signature bytes are not valid): each
    argument, an OID element put where the kernel notes one."""
    cert = key_and_cert("rsa")[1]
    name = cert.issuer.public_bytes()
    if attr_type is not None:
        name = seq(set_of(seq(attr_type, tlv(0x0C, b"x"))))
    si = seq(tlv(0x02, b"\x01"), seq(name, tlv(0x02, integer_contents(cert.serial_number))),
             seq(digest or oid(OID_SHA256), digest_params),
             seq(pkey or oid(OID_RSA), b"\x05\x00"), tlv(0x04, b"\x01" * 256))
    body = seq(tlv(0x02, b"\x01"), set_of(seq(oid(OID_SHA256), b"\x05\x00")),
               seq(e_content_type or oid(OID_DATA)), set_of(si))
    return seq(content_type or oid(OID_SIGNED_DATA), tlv(0xA0, body))


def offset_of(der: bytes, element: bytes) -> int:
    """Where ``element``'s contents start in ``der`` (what the kernel prints)."""
    at = der.index(element)
    return at + (2 if element[1] < 0x80 else 2 + (element[1] & 0x7F))


def xz_module(path: Path, der: bytes) -> Path:
    path.write_bytes(lzma.compress(with_signature(HELLO, der), check=lzma.CHECK_CRC32))
    return path


def python_lines(fn, *args) -> int:
    """Lines of pymod's Python code ``fn(*args)`` runs (a measure of work that
    does not depend on the machine)."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if not frame.f_code.co_filename.startswith(PYMOD):
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn(*args)
    except Exception:
        pass
    finally:
        sys.settrace(None)
    return count


# ------------------------------------------------------------------ item 1


@pytest.mark.parametrize("kernel", [True, False])
def test_an_oids_length_costs_no_work(kernel):
    """Each OID the parser meets is looked up or printed within a bound:
    60 KB of one arc run no more Python than 2 KB (the arc was a big
    integer built a byte at a time, then turned into decimal: quadratic)."""
    parse_pkcs7(signature(), kernel)           # (what a first parse sets up is not counted)
    short = python_lines(parse_pkcs7, signature(digest=big_oid(2_000)), kernel)
    long = python_lines(parse_pkcs7, signature(digest=big_oid(60_000)), kernel)
    assert short > 100 and long == short


def test_sprint_oid_stops_at_its_buffer():
    many = b"\x2a" + b"\x01" * 100_000
    assert sprint_oid(many) == ("1.2" + ".1" * 23)[:49]
    assert python_lines(sprint_oid, many) == python_lines(sprint_oid, many[:200])
    assert sprint_oid(b"\x2a\x86\x48\x86") == "1.2.840(bad)"   # the last arc runs off the end
    assert sprint_oid(b"\x88\x37") == "3.16.55"                # the first byte is two arcs


def test_the_registries_are_the_kernels():
    """enum OID as include/linux/oid_registry.h has it: OID__NR is what the
    parser prints for an OID the registry lacks."""
    assert (registry("6.12").nr, registry("6.1").nr) == (103, 98)
    for series in ("6.1", "6.12"):
        reg = registry(series)
        sha256 = bytes.fromhex("608648016503040201")
        assert reg.names[reg.look_up(sha256)] == "sha256"
        assert reg.look_up(b"\x2a" * 200) == reg.nr
    assert registry("6.1").value("sha3_256") == registry("6.1").nr


HUGE = big_oid(5_000)
POSITIONS = {
    # where the OID is: (kernel's errno, its lines after the "Unknown OID" one)
    "digest": (errno.ENOPKG, ["Unsupported digest algo: %d" % registry().nr]),
    "pkey": (errno.ENOPKG, ["Unsupported pkey algo: %d" % registry().nr]),
    "content_type": (errno.EINVAL, ["PKCS7: Only support pkcs7_signedData type"]),
    "e_content_type": (errno.EINVAL, ["PKCS7: Unsupported data type %d" % registry().nr]),
    "attr_type": (errno.ENOKEY, []),      # noted, then the issuer names no key
}


@pytest.mark.parametrize("where", sorted(POSITIONS))
def test_a_huge_oid_gets_the_kernels_lines(where):
    der = signature(**{where: HUGE})
    code, after = POSITIONS[where]
    out = verify_pkcs7_module(HELLO, der, Keyring([key_and_cert("rsa")[1]]))
    unknown = "PKCS7: Unknown OID: [%d] %s" % (offset_of(der, HUGE), ALL_ONES)
    assert out.errno == code
    assert out.log == tuple(("warn", line) for line in [unknown, *after])


def test_the_enum_printed_is_the_configured_kernels():
    der = signature(digest=HUGE)
    out = verify_pkcs7_module(HELLO, der, Keyring([]), series="6.1")
    assert out.errno == errno.ENOPKG
    assert out.log[-1] == ("warn", "Unsupported digest algo: 98")
    # sha3-256 is a digest 6.12's parser names, an unknown OID to 6.1's
    sha3 = signature(digest=oid("2.16.840.1.101.3.4.2.8"))
    assert verify_pkcs7_module(HELLO, sha3, Keyring([]), series="6.1").log[-1] == (
        "warn", "Unsupported digest algo: 98")
    assert not any("Unsupported" in m for _, m in verify_pkcs7_module(
        HELLO, sha3, Keyring([]), series="6.12").log)


def test_a_loaded_module_with_a_huge_oid_is_tainted_as_the_kernel_taints():
    image = with_signature(HELLO, signature(digest=HUGE))
    k = Kernel(trusted_keys=(key_and_cert("rsa")[1],))
    mod = k.load_module(image)
    assert mod.sig_errno == errno.ENOPKG and "E" in mod.taint_letters
    assert [m for _, m in k.log.lines[:2]] == [
        "PKCS7: Unknown OID: [%d] %s" % (offset_of(signature(digest=HUGE), HUGE), ALL_ONES),
        "Unsupported digest algo: %d" % registry().nr]
    k = Kernel(trusted_keys=(key_and_cert("rsa")[1],), sig_enforce=True)
    with pytest.raises(ModuleLoadError) as e:
        k.load_module(image)
    assert e.value.strerror == "Loading of module with unsupported crypto is rejected"


def test_a_6_1_kernel_prints_its_own_enum():
    image = with_signature(HELLO, signature(digest=HUGE))
    k = Kernel(Config(release="6.1.0-pymod-amd64", struct_module_size=None))
    with pytest.raises(ModuleLoadError):
        k.load_module(image)         # (a 6.12 sample fails later, at its vermagic)
    assert ("warn", "Unsupported digest algo: 98") in k.log.lines


@pytest.mark.slow
def test_info_shows_a_huge_oid_module_and_load_dir_goes_on(tmp_path):
    """A 5000-byte OID was a raw ValueError (4300 digits) that ended the batch."""
    xz_module(tmp_path / "a_bad.ko.xz", signature(digest=HUGE))
    shutil.copy(prebuilt_path("pm_noinit"), tmp_path / "b_good.ko")
    info = subprocess.run([sys.executable, "-m", "pymod", "info", str(tmp_path / "a_bad.ko.xz")],
                          capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr
    assert "sig_hashalgo:   unknown" in info.stdout
    p, _ = run_bounded("load", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert sorted(line.split()[0] for line in p.stdout.splitlines()) == ["pm_hello", "pm_noinit"]
    p, _ = run_bounded("check", "--default-kernel", str(tmp_path / "a_bad.ko.xz"),
                       str(tmp_path / "b_good.ko"))
    assert "Traceback" not in p.stderr and p.returncode == 0, p.stdout + p.stderr
    assert "a_bad.ko.xz: LOADS (taints E)" in p.stdout


# ------------------------------------------------------------------ item 2


NULLS = b"\x05\x00" * 400_000


def _wrap(signer_set: bytes) -> bytes:
    body = seq(tlv(0x02, b"\x01"), set_of(seq(oid(OID_SHA256), b"\x05\x00")), seq(oid(OID_DATA)),
               signer_set)
    return seq(oid(OID_SIGNED_DATA), tlv(0xA0, body))


def _issuer_flood() -> bytes:
    serial = tlv(0x02, integer_contents(key_and_cert("rsa")[1].serial_number))
    return _wrap(set_of(seq(tlv(0x02, b"\x01"), seq(seq(NULLS), serial))))


def _digest_set_flood() -> bytes:
    return seq(oid(OID_SIGNED_DATA), tlv(0xA0, seq(tlv(0x02, b"\x01"),
                                                   set_of(seq(oid(OID_SHA256)), NULLS))))


FLOODS = {
    "algorithm parameters": lambda: signature(digest_params=NULLS),
    "digestAlgorithms": _digest_set_flood,
    "issuer Name": _issuer_flood,
    "SignerInfo": lambda: _wrap(set_of(seq(tlv(0x02, b"\x01"), NULLS))),
}


@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("where", sorted(FLOODS))
def test_a_flood_of_elements_is_refused_without_an_object_each(where, kernel):
    """No SEQUENCE holds more fields than its grammar names, and a SET OF is
    read an element at a time: 400,000 NULLs are refused at the first one
    that does not fit, in memory that does not grow with them."""
    der = FLOODS[where]()
    tracemalloc.start()
    try:
        with pytest.raises(OSError) as e:
            parse_pkcs7(der, kernel=kernel)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.errno == errno.EBADMSG
    assert peak < 2 * len(der) + (1 << 20)      # a copy of the input, and little else


def test_many_signers_are_checked_but_kmods_reader_keeps_one():
    one = signature()
    signer_set = one[one.index(b"\x31\x82"):]    # (the long SET: signerInfos, last)
    first = parse_pkcs7(one).signers[0]
    many = _wrap(set_of(*[signer_set[4:]] * 2000))
    tracemalloc.start()
    try:
        parsed = parse_pkcs7(many, keep_signers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(parsed.signers) == 1 and parsed.signers[0].signature == first.signature
    assert peak < 2 * len(many) + (1 << 20)
    assert len(parse_pkcs7(many).signers) == 2000


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["info", "load"])
def test_a_7kb_module_of_nulls_stays_small(tmp_path, tool):
    """2x10^7 NULL pairs in an AlgorithmIdentifier: 40 MB once
    decompressed, 7 KB as .ko.xz (``info`` went to 3.7 GB)."""
    der = signature(digest_params=b"\x05\x00" * 20_000_000)
    path = xz_module(tmp_path / "nulls.ko.xz", der)
    assert path.stat().st_size < 16 << 10
    p, rss = run_bounded(tool, str(path))
    assert "Traceback" not in p.stderr
    assert rss < 4 * len(der) + (100 << 20), rss
    if tool == "info":
        assert p.returncode == 0 and "signer:" not in p.stdout   # OpenSSL's d2i fails too
    else:
        assert "EMSGSIZE" in p.stderr           # the kernel's decoder takes 64 KiB


# ------------------------------------------------------------------ items 5, 6


@pytest.mark.parametrize("tool", ["verify", "load", "check"])
def test_a_bad_certificate_names_its_file(tmp_path, tool):
    bad = tmp_path / "not-a-cert.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    extra = ["--default-kernel"] if tool == "check" else []
    p, _ = run_bounded(tool, *extra, "--cert", str(bad), str(prebuilt_path("pm_hello")))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    [line] = p.stderr.splitlines()
    assert line.startswith("pymod %s: %s: not an X.509 certificate: " % (tool, bad))


def test_keyring_names_the_file(tmp_path):
    bad = tmp_path / "x.der"
    bad.write_bytes(b"\x30\x03\x02\x01\x01")
    with pytest.raises(ValueError) as e:
        Keyring([bad])
    assert str(bad) in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("trust", ["--cert", "--vmlinuz"])
def test_check_trusts_what_load_trusts(tmp_path, trust):
    """``check --default-kernel`` ignored --cert and --vmlinuz: under
    --sig-enforce it refused what ``load`` loads."""
    from tests.hostile.test_vmlinuz_bombs import bzimage

    source = str(signing_cert())
    if trust == "--vmlinuz":
        image = tmp_path / "vmlinuz"
        image.write_bytes(bzimage("gzip", b"\0" * 4096 + signing_cert().read_bytes()
                                  + b"\0" * 4096))
        source = str(image)
    module = str(signed_path("pm_hello_signed"))
    load, _ = run_bounded("load", "--sig-enforce", trust, source, module)
    check, _ = run_bounded("check", "--default-kernel", "--sig-enforce", trust, source, module)
    assert load.returncode == 0 and load.stdout.startswith("pm_hello "), load.stderr
    assert check.returncode == 0, check.stdout
    untrusted, _ = run_bounded("check", "--default-kernel", "--sig-enforce", module)
    assert untrusted.returncode == 1 and "unavailable key is rejected" in untrusted.stdout


@pytest.mark.parametrize("option", [("--config", "x"), ("--kernel-dir", "/")])
def test_check_default_kernel_refuses_another_kernels_files(option):
    p, _ = run_bounded("check", "--default-kernel", *option, str(prebuilt_path("pm_hello")))
    assert p.returncode == 2 and "--default-kernel" in p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", [("verify",), ("check", "--default-kernel"), ("load",)])
@pytest.mark.parametrize("trust", ["--cert", "--vmlinuz"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_trusted_key_that_is_no_regular_file_is_one_line(tmp_path, command, trust, special):
    """A FIFO with no writer (the read would wait for ever) and /dev/zero
    (endless) are refused before a byte is read, in every command that
    takes keys."""
    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)
    p, _ = run_bounded(*command, trust, special, str(prebuilt_path("pm_hello")), timeout=60)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.splitlines() == ["pymod %s: %s: not a regular file" % (command[0], special)]
