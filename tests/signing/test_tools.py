"""``pymod sign`` and ``pymod certs`` (the latter on bzImages made here with
each payload compression, holding a certificate among other bytes)."""

from __future__ import annotations

import json
import lzma
import struct

import pytest
from cryptography.hazmat.primitives import serialization

from pymod import Kernel
from pymod.elf.vmlinuz import certificates_of
from pymod.tools import main
from tests.hostile.test_vmlinuz_bombs import KINDS, compress
from tests.loader.support import sample_bytes
from tests.signing.keys import key_and_cert

HELLO = sample_bytes("pm_hello")


def _files(tmp_path, kind="rsa"):
    key, cert = key_and_cert(kind)
    k = tmp_path / "key.pem"
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    c = tmp_path / "cert.der"
    c.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return k, c, cert


@pytest.mark.parametrize("kind,hash_name", [("rsa", "sha512"), ("ec256", "sha256")])
def test_sign_then_load_verified(tmp_path, kind, hash_name):
    key, cert_file, cert = _files(tmp_path, kind)
    ko = tmp_path / "pm_hello.ko"
    ko.write_bytes(HELLO)
    assert main(["sign", "--key", str(key), "--cert", str(cert_file), "--hash", hash_name,
                 str(ko)]) == 0
    mod = Kernel(trusted_keys=(str(cert_file),), sig_enforce=True).load_module(str(ko))
    assert mod.sig_ok and "E" not in mod.taint_letters


def test_sign_refusals_are_one_line_and_change_nothing(tmp_path, capsys):
    key, cert_file, _ = _files(tmp_path)
    ko = tmp_path / "pm_hello.ko"
    ko.write_bytes(HELLO)
    assert main(["sign", "--key", str(key), "--cert", str(cert_file), str(ko)]) == 0
    signed = ko.read_bytes()
    capsys.readouterr()
    assert main(["sign", "--key", str(key), "--cert", str(cert_file), str(ko)]) == 1
    assert ko.read_bytes() == signed
    xz = tmp_path / "m.ko.xz"
    xz.write_bytes(lzma.compress(HELLO))
    assert main(["sign", "--key", str(key), "--cert", str(cert_file), str(xz)]) == 1
    assert main(["sign", "--key", str(cert_file), "--cert", str(cert_file), str(ko)]) == 1
    assert main(["sign", "--key", "/dev/zero", "--cert", str(cert_file), str(ko)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("pymod sign: ") for line in err)


def _bzimage(payload: bytes, setup_sects: int = 3) -> bytes:
    head = bytearray((setup_sects + 1) * 512)
    head[0x1F1] = setup_sects
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, 0x20F)
    struct.pack_into("<II", head, 0x248, 0x100, len(payload))
    return bytes(head) + b"\x90" * 0x100 + payload + b"\0" * 64


@pytest.mark.parametrize("kind", KINDS)
def test_certs_from_each_payload_compression(tmp_path, kind, capsys):
    _, cert_file, cert = _files(tmp_path, "ec256")
    der = cert_file.read_bytes()
    kernel = b"\x7fELF" + b"\x30\x82\x00\x10junk" * 50 + der + b"\0" * 1000 + der
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(_bzimage(compress(kind, kernel)))
    got_kind, certs = certificates_of(str(vmlinuz))
    assert got_kind == kind and certs == [cert]
    assert main(["certs", "--json", "-o", str(tmp_path / "out"), str(vmlinuz)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [int(r["serial"].replace(":", ""), 16) for r in rows] == [cert.serial_number]
    assert (tmp_path / "out").joinpath(rows[0]["file"].split("/")[-1]).read_bytes() == der


def test_certs_refuses_what_is_no_kernel(tmp_path, capsys):
    for data in (b"", b"MZ" + b"\0" * 4096, _bzimage(b"\x00\x01\x02" * 10)):
        f = tmp_path / "bad"
        f.write_bytes(data)
        assert main(["certs", str(f)]) == 1
    assert main(["certs", "/dev/zero"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("pymod certs: ") for line in err)
