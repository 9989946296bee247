"""The signed sample variants: signed at build time with a throwaway key
(never written down), checked here against the shipped certificate."""

from __future__ import annotations

import errno

import pytest

from pymod import Kernel, ModuleLoadError
from pymod.elf.kofile import read_ko
from pymod.samples import prebuilt_path, signed_path, signing_cert


def test_the_signed_sample_is_pm_hello_plus_a_signature():
    ko = read_ko(signed_path("pm_hello_signed"))
    assert ko.sig is not None and ko.sig_errno == 0
    assert bytes(ko.payload) == prebuilt_path("pm_hello").read_bytes()


def test_verified_unsigned_and_tampered_under_enforcement():
    k = Kernel(trusted_keys=(signing_cert(),), sig_enforce=True)
    mod = k.load_module(signed_path("pm_hello_signed"))
    assert mod.sig_ok and mod.taint_letters == ""
    k.delete_module("pm_hello")
    for path in (prebuilt_path("pm_hello"), signed_path("pm_hello_tampered")):
        with pytest.raises(ModuleLoadError) as ei:
            k.load_module(path)
        assert ei.value.errno == errno.EKEYREJECTED
    assert k.modules == []


def test_no_private_key_is_shipped():
    folder = signing_cert().parent
    for f in folder.iterdir():
        assert b"PRIVATE KEY" not in f.read_bytes() and f.suffix in (".ko", ".der"), f


def test_the_demo_shows_all_three(capsys):
    from pymod.tools import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "pm_hello_signed      loaded, signature verified" in out
    assert "Loading of unsigned module is rejected" in out
    assert "pm_hello_tampered    EKEYREJECTED" in out
