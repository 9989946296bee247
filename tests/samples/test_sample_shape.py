"""The sample modules are built the way we intend and shaped like kbuild output.

Structure is read back two independent ways: through pymod's own readers
(``pymod.elf.kofile``/``pymod.elf.ksymtab``) and through pyelftools (relocations,
section flags), so a builder bug cannot hide behind a matching reader bug.
"""

from __future__ import annotations

import pytest
from elftools.elf.constants import SH_FLAGS

from devtools.build_samples import (
    DEFAULT_TARGET,
    EXIT_OFFSET_6_12,
    INIT_OFFSET_6_12,
    SRC_DIR,
    build_module,
)
from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import exports, undefined_symbols, versions
from pymod.samples import SAMPLES, sample
from tests.samples.support import (
    modinfo_of,
    needs_gcc,
    pyelf,
    relocations,
    shape_of,
    symbol_named,
)

# --- catalog and sources ---------------------------------------------------------

def test_catalog_covers_every_source():
    sources = {p.stem for p in SRC_DIR.glob("*.c")}
    used = {s.source_name for s in SAMPLES}
    assert used == sources
    assert len({s.name for s in SAMPLES}) == len(SAMPLES)
    for s in SAMPLES:
        assert all(r in {x.name for x in SAMPLES} for r in s.requires)


def test_unknown_sample_is_a_clear_error(tmp_path):
    with pytest.raises(KeyError, match="no sample 'pm_nope'"):
        build_module("pm_nope", tmp_path)


@needs_gcc
def test_unknown_override_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="colour"):
        build_module("pm_hello", tmp_path, colour="blue")


# --- every sample ----------------------------------------------------------------

def _check_this_module(elf, s, name):
    """struct module: the target's size, the name at offset 24, init/exit relocated."""
    this = elf.get_section_by_name(".gnu.linkonce.this_module")
    size = s.overrides.get("this_module_size", DEFAULT_TARGET.this_module_size)
    assert this.data_size == size
    assert this["sh_flags"] & SH_FLAGS.SHF_ALLOC and this["sh_type"] == "SHT_PROGBITS"
    assert this["sh_addralign"] == 64
    assert this.data()[24:80].split(b"\0")[0].decode() == name
    relocs = {off: (kind, sym)
              for off, kind, sym in relocations(elf, ".rela.gnu.linkonce.this_module")}
    init = symbol_named(elf, "init_module")
    exit_ = symbol_named(elf, "cleanup_module")
    if init is not None:
        assert elf.get_section(init["st_shndx"]).name == ".init.text"
        assert init["st_info"]["bind"] == "STB_GLOBAL"
        assert relocs.pop(INIT_OFFSET_6_12) == ("R_X86_64_64", "init_module")
    if exit_ is not None:
        assert elf.get_section(exit_["st_shndx"]).name == ".exit.text"
        assert relocs.pop(EXIT_OFFSET_6_12) == ("R_X86_64_64", "cleanup_module")
    assert relocs == {}


def _check_modinfo(path, ko, s, name) -> dict[str, list[str]]:
    """modinfo: one name, kbuild's keys, the target's vermagic unless overridden."""
    info = modinfo_of(path)
    assert info["name"] == [name]
    assert len(info["license"]) == 1
    assert info["retpoline"] == ["Y"]
    vermagic = s.overrides.get("vermagic", DEFAULT_TARGET.vermagic)
    assert info.get("vermagic") == ([vermagic] if vermagic is not None else None)
    keys = [k for k, _ in ko.elf.modinfo()]
    assert keys.index("depends") < keys.index("name")
    return info


def _check_depends_and_versions(elf, ko, info, s, name, all_symvers):
    # depends = the modules owning the resolved undefined symbols
    undefined = undefined_symbols(ko.elf)
    owners = {all_symvers[n].owner for n, _ in undefined if n in all_symvers} - {"vmlinux"}
    assert set(filter(None, info["depends"][0].split(","))) == owners

    # __versions: 64-byte entries, one per resolved import plus module_layout last
    vers = versions(ko.elf)
    assert elf.get_section_by_name("__versions").data_size == 64 * len(vers)
    assert vers[-1][1] == "module_layout"
    assert sorted(n for _, n in vers[:-1]) == sorted(n for n, _ in undefined if n in all_symvers)
    forced = dict(s.overrides.get("crc_overrides", {}))
    if name == "pm_crc_bad":
        forced["_printk"] = 0x0BADC0DE
    for crc, sym in vers:
        expected = forced.get(sym, all_symvers[sym].crc)
        assert crc == expected, sym
        if sym in forced:
            assert crc != all_symvers[sym].crc


def _check_exports(ko, all_symvers):
    """Exports carry the CRCs the samples' Module.symvers promises importers."""
    for e in exports(ko.elf):
        entry = all_symvers[e.name]
        assert (e.gpl, e.namespace, e.crc) == (entry.gpl, entry.namespace, entry.crc)
    for sec_name in ("__ksymtab", "__ksymtab_gpl"):
        syms = [e.name for e in exports(ko.elf) if e.gpl == (sec_name == "__ksymtab_gpl")]
        assert syms == sorted(syms), "the kernel bsearches ksymtabs by name"


@needs_gcc
@pytest.mark.parametrize("name", [s.name for s in SAMPLES])
def test_sample_is_a_kbuild_shaped_module(built, all_symvers, name):
    path = built[name]
    s = sample(name)
    assert path.name == name + ".ko"
    ko = read_ko(path)
    assert ko.compression is None and ko.sig is None
    assert ko.elf.e_type == 1 and ko.elf.e_machine == 62  # ET_REL, x86-64

    elf = pyelf(path)
    assert elf.header["e_type"] == "ET_REL"
    assert len([sec for sec in elf.iter_sections() if sec["sh_type"] == "SHT_SYMTAB"]) == 1

    _check_this_module(elf, s, name)
    info = _check_modinfo(path, ko, s, name)
    _check_depends_and_versions(elf, ko, info, s, name, all_symvers)
    _check_exports(ko, all_symvers)

    assert elf.get_section_by_name(".pm_build") is None
    assert elf.get_section_by_name(".note.gnu.build-id") is not None


@needs_gcc
def test_exporter_exports_one_of_each_kind(built):
    elf = read_ko(built["pm_exporter"]).elf
    got = {(e.name, e.gpl, e.namespace) for e in exports(elf)}
    assert got == {("pm_shared_fn", False, ""), ("pm_gpl_fn", True, ""),
                   ("pm_ns_fn", False, "PYMOD_TEST")}
    crcs = [e.crc for e in exports(elf)]
    assert None not in crcs and len(set(crcs)) == 3
    pelf = pyelf(built["pm_exporter"])
    for sec in ("__ksymtab", "__ksymtab_gpl"):
        relocs = relocations(pelf, ".rela" + sec)
        assert {kind for _, kind, _ in relocs} == {"R_X86_64_PC32"}
        assert len(relocs) == 3 * pelf.get_section_by_name(sec).data_size // 12
    for e in exports(elf):
        crc_sym = symbol_named(pelf, "__crc_" + e.name)
        assert crc_sym["st_info"]["bind"] == "STB_LOCAL"
        kcrctab = "__kcrctab_gpl" if e.gpl else "__kcrctab"
        assert pelf.get_section(crc_sym["st_shndx"]).name == kcrctab
    strings = pelf.get_section_by_name("__ksymtab_strings").data()
    assert b"pm_ns_fn\0PYMOD_TEST\0" in strings and b"pm_shared_fn\0\0" in strings


@needs_gcc
def test_importer_imports_the_namespace(built):
    info = modinfo_of(built["pm_importer"])
    assert info["import_ns"] == ["PYMOD_TEST"]
    assert info["depends"] == ["pm_exporter"]
    used = {n for n, _ in undefined_symbols(read_ko(built["pm_importer"]).elf)}
    assert {"pm_shared_fn", "pm_gpl_fn", "pm_ns_fn"} <= used
    noimport = read_ko(built["pm_ns_noimport"]).elf
    assert "import_ns" not in modinfo_of(built["pm_ns_noimport"])
    assert "pm_ns_fn" in {n for n, _ in undefined_symbols(noimport)}


@needs_gcc
def test_licences(built):
    assert modinfo_of(built["pm_proprietary"])["license"] == ["Proprietary"]
    assert modinfo_of(built["pm_proprietary_gpl"])["license"] == ["Proprietary"]
    assert "pm_gpl_fn" in {
        n for n, _ in undefined_symbols(read_ko(built["pm_proprietary_gpl"]).elf)}
    assert "pm_shared_fn" in {n for n, _ in undefined_symbols(read_ko(built["pm_proprietary"]).elf)}


@needs_gcc
def test_wx_section(built):
    wx = SH_FLAGS.SHF_WRITE | SH_FLAGS.SHF_EXECINSTR
    flagged = [sec.name for sec in pyelf(built["pm_wx"]).iter_sections()
               if sec["sh_flags"] & wx == wx]
    assert flagged == [".pm_wx_text"]
    assert not [sec.name for sec in pyelf(built["pm_hello"]).iter_sections()
                if sec["sh_flags"] & wx == wx]


@needs_gcc
def test_unresolvable_and_weak_symbols(built, all_symvers):
    missing = dict(undefined_symbols(read_ko(built["pm_missing"]).elf))
    assert missing["pm_nobody_exports_this"] is False
    assert "pm_nobody_exports_this" not in all_symvers
    weak = dict(undefined_symbols(read_ko(built["pm_weak"]).elf))
    assert weak["pm_optional_hook"] is True
    assert "pm_optional_hook" not in all_symvers
    assert "pm_optional_hook" not in {n for _, n in versions(read_ko(built["pm_weak"]).elf)}


@needs_gcc
def test_common_symbol(built):
    sym = symbol_named(pyelf(built["pm_common"]), "pm_common_counter")
    assert sym["st_shndx"] == "SHN_COMMON"
    assert symbol_named(pyelf(built["pm_hello"]), "pm_common_counter") is None


@needs_gcc
def test_duplicate_export(built):
    dup = {e.name for e in exports(read_ko(built["pm_dup_export"]).elf)}
    orig = {e.name for e in exports(read_ko(built["pm_exporter"]).elf)}
    assert dup & orig == {"pm_shared_fn"}


@needs_gcc
def test_noinit_has_no_init_or_exit(built):
    elf = pyelf(built["pm_noinit"])
    assert symbol_named(elf, "init_module") is None and symbol_named(elf, "cleanup_module") is None
    assert elf.get_section_by_name(".rela.gnu.linkonce.this_module") is None
    assert elf.get_section_by_name(".init.text") is None


@needs_gcc
def test_ro_after_init_section(built):
    elf = pyelf(built["pm_ro_after_init"])
    sec = elf.get_section_by_name(".data..ro_after_init")
    assert sec is not None and sec.data_size == 4
    alloc_write = SH_FLAGS.SHF_ALLOC | SH_FLAGS.SHF_WRITE
    assert sec["sh_flags"] & alloc_write == alloc_write
    assert int.from_bytes(sec.data(), "little") == 16
    sym = symbol_named(elf, "pm_limit")
    assert elf.get_section(sym["st_shndx"]).name == ".data..ro_after_init"


@needs_gcc
def test_intree_and_srcversion(built):
    assert "intree" not in modinfo_of(built["pm_outoftree"])
    assert modinfo_of(built["pm_hello"])["intree"] == ["Y"]
    hello = modinfo_of(built["pm_hello"])
    assert hello["version"] == ["1.0"]
    assert len(hello["srcversion"][0]) == 23 and hello["srcversion"][0].isupper()
    assert "srcversion" not in modinfo_of(built["pm_exporter"])  # no MODULE_VERSION


# --- overrides ------------------------------------------------------------------

@needs_gcc
def test_overrides(tmp_path):
    plain = build_module("pm_hello", tmp_path / "a")
    odd = build_module("pm_hello", tmp_path / "b", modname="pm_renamed", vermagic=None,
                       versions=False, this_module_size=1024,
                       modinfo_extra=[("livepatch", "Y")])
    assert odd.name == "pm_renamed.ko"
    info = modinfo_of(odd)
    assert info["name"] == ["pm_renamed"] and info["livepatch"] == ["Y"]
    assert "vermagic" not in info and "vermagic" in modinfo_of(plain)
    elf = pyelf(odd)
    assert elf.get_section_by_name("__versions") is None
    this = elf.get_section_by_name(".gnu.linkonce.this_module")
    assert this.data_size == 1024 and this.data()[24:34] == b"pm_renamed"
    offsets = sorted(off for off, _, _ in relocations(elf, ".rela.gnu.linkonce.this_module"))
    assert len(offsets) == 2 and offsets[-1] + 8 <= 1024
    tiny = build_module("pm_hello", tmp_path / "c", this_module_size=96)
    assert pyelf(tiny).get_section_by_name(".gnu.linkonce.this_module").data_size == 96
    from devtools.build_samples import SampleBuildError
    with pytest.raises(SampleBuildError, match="cannot hold"):
        build_module("pm_hello", tmp_path / "d", this_module_size=64)


@needs_gcc
def test_single_build_uses_the_shipped_samples_symvers(tmp_path, built):
    alone = build_module("pm_importer", tmp_path)
    assert shape_of(alone) == shape_of(built["pm_importer"])
    assert modinfo_of(alone)["depends"] == ["pm_exporter"]


