"""``pymod info`` and the PKCS#7 reader on modules built and signed here.

Where kmod's ``modinfo`` is installed, every output is also compared with it
byte for byte; the explicit expectations come from what the test put in.
"""

from __future__ import annotations

import errno
import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from pymod.elf.pkcs7 import parse_pkcs7
from pymod.errors import PymodError
from pymod.kmod import modinfo_output
from pymod.tools import info
from tests.elf.test_kofile import MODULE_C, compile_object, sig_trailer

SIGNER = "pymod test key"
SERIAL = "0x00C0FFEE1234"
MODINFO_TOOL = shutil.which("modinfo")


def _openssl() -> str:
    tool = shutil.which("openssl")
    if tool is None:
        pytest.skip("openssl is needed to sign test modules")
    return tool


def run_info(capsysbinary, *argv: str) -> tuple[int, bytes, bytes]:
    rc = info.main(list(argv))
    out, err = capsysbinary.readouterr()
    return rc, out, err


def run_kmod(*argv: str) -> tuple[int, bytes]:
    p = subprocess.run([MODINFO_TOOL, *argv], capture_output=True)
    return p.returncode, p.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """An unsigned object, a signed copy (CMS, sha384, no attributes) and the key."""
    tmp = tmp_path_factory.mktemp("modinfo")
    obj = compile_object(tmp, MODULE_C)
    ssl = _openssl()
    key, cert, sig = tmp / "key.pem", tmp / "cert.pem", tmp / "sig.der"
    subprocess.run([ssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/O=pymod tests/CN=%s/OU=unit" % SIGNER,
                    "-set_serial", SERIAL, "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    subprocess.run([ssl, "cms", "-sign", "-binary", "-noattr", "-nocerts", "-md", "sha384",
                    "-in", str(obj), "-signer", str(cert), "-inkey", str(key),
                    "-outform", "DER", "-out", str(sig)], check=True, capture_output=True)
    signed = tmp / "signed-mod.ko"
    signed.write_bytes(obj.read_bytes() + sig_trailer(sig.read_bytes()))
    return {"dir": tmp, "plain": obj, "signed": signed, "der": sig.read_bytes()}


def test_pkcs7_fields(built):
    sd = parse_pkcs7(built["der"])
    assert len(sd.signers) == 1 and sd.content is None and sd.certificates is None
    si = sd.signers[0]
    assert si.signer_name == SIGNER.encode()
    assert si.serial == bytes.fromhex("C0FFEE1234")
    assert si.hash_name == "sha384"
    assert si.signature[0] == 0x30  # an ECDSA signature is a DER SEQUENCE
    assert ("2.5.4.10", b"pymod tests") in si.issuer


@pytest.mark.parametrize("cut", [0, 1, 5, 40, -1])
def test_pkcs7_truncated_is_ebadmsg(built, cut):
    with pytest.raises(PymodError) as ei:
        parse_pkcs7(built["der"][:cut])
    assert ei.value.errno == errno.EBADMSG and ei.value.strerror.startswith("PKCS#7")


def test_signed_module_output(built, capsysbinary):
    rc, out, err = run_info(capsysbinary, str(built["signed"]))
    assert rc == 0 and err == b""
    lines = out.decode().split("\n")
    assert lines[0] == "filename:       %s" % built["signed"]
    assert "license:        GPL" in lines and "alias:          pymod:two" in lines
    assert "nokeyvalue:     " in lines
    assert "signer:         %s" % SIGNER in lines
    assert "sig_key:        C0:FF:EE:12:34" in lines
    assert "sig_hashalgo:   sha384" in lines
    assert lines[-2] == "parm:           level:how loud (int)"
    if MODINFO_TOOL:
        assert run_kmod(str(built["signed"])) == (0, out)


def test_unsigned_module_has_no_sig_fields(built, capsysbinary):
    rc, out, _ = run_info(capsysbinary, str(built["plain"]))
    assert rc == 0 and b"sig_id" not in out and b"signer" not in out
    if MODINFO_TOOL:
        assert run_kmod(str(built["plain"])) == (0, out)


@pytest.mark.parametrize("opts", [["-F", "alias"], ["-F", "signature"], ["-F", "parm"], ["-p"],
                                  ["-F", "parmtype"], ["-0"], ["-0", "-F", "parm"], ["-n"],
                                  ["-F", "absent"], ["-a", "-F", "sig_key"], ["-l"]])
def test_options_match_kmod(built, capsysbinary, opts):
    files = [str(built["signed"]), str(built["plain"])]
    rc, out, _ = run_info(capsysbinary, *opts, *files)
    assert rc == 0
    if opts == ["-F", "alias"]:
        assert out == b"pymod:one\npymod:two\n" * 2
    if MODINFO_TOOL:
        assert run_kmod(*opts, *files) == (0, out)


def test_signature_hex_wrapping():
    data = bytes(range(45))
    text = modinfo_output.hex_wrapped(data)
    rows = text.split("\n\t\t")
    assert [len(r.split(":")) - (r.endswith(":")) for r in rows] == [20, 20, 5]
    assert rows[0].startswith("00:01:02") and rows[2].endswith("2C")
    assert modinfo_output.hex_wrapped(b"") == ""


def _variant(tmp: Path, name: str, modinfo_c: str) -> Path:
    src = ("static const char mi[] __attribute__((used, section(\".modinfo\"), aligned(1))) = "
           + modinfo_c + ";\nint f(void) { return 0; }\n")
    return compile_object(tmp, src, name)


def test_param_merge_order_and_long_keys(tmp_path, capsysbinary):
    ko = _variant(tmp_path, "params", r'"parm=a:first\0parmtype=b:int\0parmtype=a:bool\0'
                                      r'a_key_longer_than_fifteen=x\0parm=c:only desc\0'
                                      r'parm=broken\0description=d"')
    rc, out, err = run_info(capsysbinary, str(ko))
    lines = out.decode().split("\n")
    assert lines[1:] == [
        "a_key_longer_than_fifteen:          x",  # 25 - 15 = 10 spaces, as printf does
        "description:    d",
        "parm:           c:only desc",
        "parm:           b:int",
        "parm:           a:first (bool)",
        "",
    ]
    assert b"missing ':'" in err and rc == 0
    rc, out_p, _ = run_info(capsysbinary, "-F", "parm", str(ko))
    assert out_p == b"c:only desc\nb: (int)\na:first (bool)\n"
    if MODINFO_TOOL:
        assert run_kmod(str(ko)) == (0, out)
        assert run_kmod("-F", "parm", str(ko)) == (0, out_p)


def test_non_pkcs7_trailer_fields(built, tmp_path, capsysbinary):
    """An old-style (X509 id) trailer: signer and key id precede the signature."""
    body = built["plain"].read_bytes()
    signer, key_id, sig = b"Old Signer", bytes.fromhex("a1b2c3"), bytes(range(1, 23))
    trailer = sig_trailer(signer + key_id + sig, algo=1, hash_=2, id_type=1,
                          signer_len=len(signer), key_id_len=len(key_id))
    # sig_len must cover only the signature, not signer and key id
    trailer = trailer[: -len(b"~Module signature appended~\n") - 4] + len(sig).to_bytes(4, "big") \
        + b"~Module signature appended~\n"
    ko = tmp_path / "oldsig.ko"
    ko.write_bytes(body + trailer)
    rc, out, _ = run_info(capsysbinary, str(ko))
    text = out.decode()
    assert "sig_id:         X509\nsigner:         Old Signer\nsig_key:        A1:B2:C3\n" in text
    assert "sig_hashalgo:   sha1\n" in text
    if MODINFO_TOOL:
        assert run_kmod(str(ko)) == (0, out)


@pytest.mark.parametrize("mutate", ["zero sig_len", "bad id_type", "garbage pkcs7"])
def test_unreadable_trailers_show_no_sig_fields(built, tmp_path, capsysbinary, mutate):
    body = built["plain"].read_bytes()
    trailer = {"zero sig_len": sig_trailer(b"", sig_len=0),
               "bad id_type": sig_trailer(built["der"], id_type=3),
               "garbage pkcs7": sig_trailer(b"\x30\x82\xff\xff" + bytes(40))}[mutate]
    ko = tmp_path / "odd.ko"
    ko.write_bytes(body + trailer)
    rc, out, _ = run_info(capsysbinary, str(ko))
    assert rc == 0 and b"license:" in out and b"sig_id" not in out
    if MODINFO_TOOL:
        assert run_kmod(str(ko)) == (0, out)


@pytest.mark.parametrize("kind", ["gz", "xz", "zst"])
def test_compressed_inputs(built, tmp_path, capsysbinary, kind):
    raw = built["signed"].read_bytes()
    if kind == "gz":
        packed = gzip.compress(raw)
    elif kind == "xz":
        import lzma
        packed = lzma.compress(raw, check=lzma.CHECK_CRC32)
    else:
        import zstandard
        packed = zstandard.ZstdCompressor().compress(raw)
    f = tmp_path / ("signed-mod.ko." + kind)
    f.write_bytes(packed)
    _, plain_out, _ = run_info(capsysbinary, str(built["signed"]))
    rc, out, _ = run_info(capsysbinary, str(f))
    assert rc == 0
    assert out == plain_out.replace(str(built["signed"]).encode(), str(f).encode(), 1)
    if MODINFO_TOOL and kind != "gz":  # this kmod build has no zlib
        assert run_kmod(str(f)) == (0, out)


def test_json_output(built, capsysbinary):
    import json
    rc, out, _ = run_info(capsysbinary, "--json", str(built["signed"]), str(built["plain"]))
    objs = json.loads(out)
    assert rc == 0 and [o["filename"] for o in objs] == [str(built["signed"]), str(built["plain"])]
    assert objs[0]["alias"] == ["pymod:one", "pymod:two"] and objs[0]["license"] == "GPL"
    assert objs[0]["signer"] == SIGNER and "signer" not in objs[1]
    rc, out, _ = run_info(capsysbinary, "--json", "-F", "alias", str(built["plain"]))
    assert json.loads(out) == [{"filename": str(built["plain"]),
                                "alias": ["pymod:one", "pymod:two"]}]


def test_missing_file(built, tmp_path, capsysbinary):
    absent = str(tmp_path / "absent.ko")
    rc, out, err = run_info(capsysbinary, absent, str(built["plain"]))
    assert rc == 1
    assert err == ("pymod info: ERROR: Module %s not found.\n" % absent).encode()
    assert out.startswith(b"filename:       %s\n" % str(built["plain"]).encode())
    if MODINFO_TOOL:
        assert run_kmod(absent)[0] == 1


@pytest.mark.parametrize("case,expected", [
    ("garbage", errno.ENOEXEC), ("no-modinfo", errno.ENOENT), ("bad-shentsize", errno.EINVAL)])
def test_unreadable_modules(built, tmp_path, capsysbinary, case, expected):
    if case == "garbage":
        data = b"this is not an ELF file at all" * 4
    elif case == "no-modinfo":
        data = compile_object(tmp_path, "int f(void) { return 0; }\n", "nomi").read_bytes()
    else:
        data = bytearray(built["plain"].read_bytes())
        data[0x3A] = 40
        data = bytes(data)
    f = tmp_path / ("%s-x.ko" % case)
    f.write_bytes(data)
    rc, out, err = run_info(capsysbinary, str(f))
    assert rc == 1
    assert out == b"filename:       %s\n" % str(f).encode()
    msg = "could not get modinfo from '%s': %s" % ((case + "-x").replace("-", "_"),
                                                     errno_text(expected))
    assert err.decode() == "pymod info: ERROR: %s\n" % msg
    if MODINFO_TOOL:
        p = subprocess.run([MODINFO_TOOL, str(f)], capture_output=True)
        assert (p.returncode, p.stdout) == (1, out) and msg.encode() in p.stderr


def errno_text(code: int) -> str:
    import os
    return os.strerror(code)
