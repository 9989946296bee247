"""The default kernel's symvers, the shipped prebuilt copies and the samples'
own symvers: parsed right, and current with what a fresh build produces."""

from __future__ import annotations

import hashlib

import pytest

from devtools.build_samples import SAMPLES_SYMVERS
from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import undefined_symbols
from pymod.loader.symvers import SymversEntry, parse_symvers, read_symvers
from pymod.samples import SAMPLES, default_symvers, prebuilt_dir
from tests.samples.support import needs_gcc, shape_of


def test_symvers_parser_rejects_garbage():
    with pytest.raises(ValueError, match="x.symvers:2"):
        parse_symvers("0x1\ta\tvmlinux\tEXPORT_SYMBOL\t\nnot a line\n", "x.symvers")
    table = parse_symvers("0x0000000a\tf\tdrivers/x/mod\tEXPORT_SYMBOL_GPL\tNS\n")
    assert table["f"] == SymversEntry(10, "f", "drivers/x/mod", True, "NS")
    assert table["f"].owner == "mod"
    assert parse_symvers(table["f"].line()) == table


# --- the default kernel's symvers and the shipped prebuilt copies ---------------------

def test_default_symvers_covers_the_samples():
    table = read_symvers(default_symvers())
    assert all(e.module == "vmlinux" for e in table.values())
    assert "module_layout" in table and "_printk" in table
    assert any(e.gpl for e in table.values()) and any(e.namespace for e in table.values())
    for s in SAMPLES:
        for name, _weak in undefined_symbols(read_ko(prebuilt_dir() / (s.name + ".ko")).elf):
            if name.startswith("pm_"):
                continue  # the samples' own exports, or deliberately missing
            assert name in table, (s.name, name)


def test_prebuilt_manifest_matches_files():
    folder = prebuilt_dir()
    listed = {}
    for line in (folder / "MANIFEST").read_text().splitlines():
        digest, name = line.split("  ")
        listed[name] = digest
    assert set(listed) == {p.name for p in folder.glob("*.ko")}
    assert set(listed) == {s.name + ".ko" for s in SAMPLES}
    for name, digest in listed.items():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        assert len(data) < 16 * 1024, name


@needs_gcc
@pytest.mark.parametrize("name", [s.name for s in SAMPLES])
def test_prebuilt_copy_is_current(built, name):
    assert shape_of(prebuilt_dir() / (name + ".ko")) == shape_of(built[name]), \
        "prebuilt copy is stale: run python -m devtools.build_samples --update"


@needs_gcc
def test_shipped_samples_symvers_is_current(built):
    assert read_symvers(SAMPLES_SYMVERS) == read_symvers(
        built["pm_hello"].parent / "Module.symvers")


