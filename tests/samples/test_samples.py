"""The sample modules are built the way we intend and shaped like kbuild output.

Structure is read back two independent ways: through pymod's own readers
(``pymod.elf.kofile``/``pymod.elf.ksymtab``) and through pyelftools (relocations,
section flags), so a builder bug cannot hide behind a matching reader bug.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from elftools.elf.constants import SH_FLAGS
from elftools.elf.descriptions import describe_reloc_type
from elftools.elf.elffile import ELFFile

from devtools.build_samples import (
    DEFAULT_TARGET,
    EXIT_OFFSET_6_12,
    INIT_OFFSET_6_12,
    SAMPLES_SYMVERS,
    SRC_DIR,
    Target,
    build_all,
    build_module,
)
from devtools.debian_kernel import kernel_cache_root
from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import exports, undefined_symbols, versions
from pymod.loader.symvers import SymversEntry, parse_symvers, read_symvers
from pymod.samples import SAMPLES, default_symvers, prebuilt_dir, sample

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ld") is None,
                               reason="gcc/binutils not installed: cannot build the samples")

# --- helpers -----------------------------------------------------------------

def _elf(path: Path) -> ELFFile:
    return ELFFile(io.BytesIO(path.read_bytes()))


def _relocs(elf: ELFFile, name: str) -> list[tuple[int, str, str]]:
    """(offset, type name, symbol name) of one relocation section."""
    sec = elf.get_section_by_name(name)
    if sec is None:
        return []
    symtab = elf.get_section(sec["sh_link"])
    return [(r["r_offset"], describe_reloc_type(r["r_info_type"], elf),
             symtab.get_symbol(r["r_info_sym"]).name) for r in sec.iter_relocations()]


def _modinfo(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in read_ko(path).elf.modinfo():
        out.setdefault(key, []).append(value)
    return out


def _symbol(elf: ELFFile, name: str):
    found = elf.get_section_by_name(".symtab").get_symbol_by_name(name)
    return found[0] if found else None


def _shape(path: Path) -> dict:
    """What must agree between a prebuilt copy and a fresh build."""
    ko = read_ko(path)
    return {
        "sections": [(s.name, s.type, s.flags) for s in ko.elf.sections],
        "this_module": ko.elf.section(".gnu.linkonce.this_module").size,
        "modinfo": ko.elf.modinfo(),
        "exports": sorted((e.name, e.gpl, e.namespace, e.crc) for e in exports(ko.elf)),
        "versions": sorted(versions(ko.elf)),
        "undefined": sorted(undefined_symbols(ko.elf)),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("gcc") is None or shutil.which("ld") is None:
        pytest.skip("gcc/binutils not installed: cannot build the samples")
    return build_all(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="module")
def all_symvers(built) -> dict[str, SymversEntry]:
    table = read_symvers(default_symvers())
    samples = read_symvers(built["pm_hello"].parent / "Module.symvers")
    assert not set(table) & set(samples)
    return {**table, **samples}


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

@needs_gcc
@pytest.mark.parametrize("name", [s.name for s in SAMPLES])
def test_sample_is_a_kbuild_shaped_module(built, all_symvers, name):
    path = built[name]
    s = sample(name)
    assert path.name == name + ".ko"
    ko = read_ko(path)
    assert ko.compression is None and ko.sig is None
    assert ko.elf.e_type == 1 and ko.elf.e_machine == 62  # ET_REL, x86-64

    elf = _elf(path)
    assert elf.header["e_type"] == "ET_REL"
    assert len([sec for sec in elf.iter_sections() if sec["sh_type"] == "SHT_SYMTAB"]) == 1

    # struct module: the target's size, the name at offset 24, init/exit relocated
    this = elf.get_section_by_name(".gnu.linkonce.this_module")
    size = s.overrides.get("this_module_size", DEFAULT_TARGET.this_module_size)
    assert this.data_size == size
    assert this["sh_flags"] & SH_FLAGS.SHF_ALLOC and this["sh_type"] == "SHT_PROGBITS"
    assert this["sh_addralign"] == 64
    assert this.data()[24:80].split(b"\0")[0].decode() == name
    relocs = {off: (kind, sym) for off, kind, sym in _relocs(elf, ".rela.gnu.linkonce.this_module")}
    init = _symbol(elf, "init_module")
    exit_ = _symbol(elf, "cleanup_module")
    if init is not None:
        assert elf.get_section(init["st_shndx"]).name == ".init.text"
        assert init["st_info"]["bind"] == "STB_GLOBAL"
        assert relocs.pop(INIT_OFFSET_6_12) == ("R_X86_64_64", "init_module")
    if exit_ is not None:
        assert elf.get_section(exit_["st_shndx"]).name == ".exit.text"
        assert relocs.pop(EXIT_OFFSET_6_12) == ("R_X86_64_64", "cleanup_module")
    assert relocs == {}

    # modinfo: one name, kbuild's keys, the target's vermagic unless overridden
    info = _modinfo(path)
    assert info["name"] == [name]
    assert len(info["license"]) == 1
    assert info["retpoline"] == ["Y"]
    vermagic = s.overrides.get("vermagic", DEFAULT_TARGET.vermagic)
    assert info.get("vermagic") == ([vermagic] if vermagic is not None else None)
    keys = [k for k, _ in ko.elf.modinfo()]
    assert keys.index("depends") < keys.index("name")

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

    # exports carry the CRCs the samples' Module.symvers promises importers
    for e in exports(ko.elf):
        entry = all_symvers[e.name]
        assert (e.gpl, e.namespace, e.crc) == (entry.gpl, entry.namespace, entry.crc)
    for sec_name in ("__ksymtab", "__ksymtab_gpl"):
        syms = [e.name for e in exports(ko.elf) if e.gpl == (sec_name == "__ksymtab_gpl")]
        assert syms == sorted(syms), "the kernel bsearches ksymtabs by name"

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
    pelf = _elf(built["pm_exporter"])
    for sec in ("__ksymtab", "__ksymtab_gpl"):
        relocs = _relocs(pelf, ".rela" + sec)
        assert {kind for _, kind, _ in relocs} == {"R_X86_64_PC32"}
        assert len(relocs) == 3 * pelf.get_section_by_name(sec).data_size // 12
    for e in exports(elf):
        crc_sym = _symbol(pelf, "__crc_" + e.name)
        assert crc_sym["st_info"]["bind"] == "STB_LOCAL"
        kcrctab = "__kcrctab_gpl" if e.gpl else "__kcrctab"
        assert pelf.get_section(crc_sym["st_shndx"]).name == kcrctab
    strings = pelf.get_section_by_name("__ksymtab_strings").data()
    assert b"pm_ns_fn\0PYMOD_TEST\0" in strings and b"pm_shared_fn\0\0" in strings


@needs_gcc
def test_importer_imports_the_namespace(built):
    info = _modinfo(built["pm_importer"])
    assert info["import_ns"] == ["PYMOD_TEST"]
    assert info["depends"] == ["pm_exporter"]
    used = {n for n, _ in undefined_symbols(read_ko(built["pm_importer"]).elf)}
    assert {"pm_shared_fn", "pm_gpl_fn", "pm_ns_fn"} <= used
    noimport = read_ko(built["pm_ns_noimport"]).elf
    assert "import_ns" not in _modinfo(built["pm_ns_noimport"])
    assert "pm_ns_fn" in {n for n, _ in undefined_symbols(noimport)}


@needs_gcc
def test_licences(built):
    assert _modinfo(built["pm_proprietary"])["license"] == ["Proprietary"]
    assert _modinfo(built["pm_proprietary_gpl"])["license"] == ["Proprietary"]
    assert "pm_gpl_fn" in {
        n for n, _ in undefined_symbols(read_ko(built["pm_proprietary_gpl"]).elf)}
    assert "pm_shared_fn" in {n for n, _ in undefined_symbols(read_ko(built["pm_proprietary"]).elf)}


@needs_gcc
def test_wx_section(built):
    wx = SH_FLAGS.SHF_WRITE | SH_FLAGS.SHF_EXECINSTR
    flagged = [sec.name for sec in _elf(built["pm_wx"]).iter_sections()
               if sec["sh_flags"] & wx == wx]
    assert flagged == [".pm_wx_text"]
    assert not [sec.name for sec in _elf(built["pm_hello"]).iter_sections()
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
    sym = _symbol(_elf(built["pm_common"]), "pm_common_counter")
    assert sym["st_shndx"] == "SHN_COMMON"
    assert _symbol(_elf(built["pm_hello"]), "pm_common_counter") is None


@needs_gcc
def test_duplicate_export(built):
    dup = {e.name for e in exports(read_ko(built["pm_dup_export"]).elf)}
    orig = {e.name for e in exports(read_ko(built["pm_exporter"]).elf)}
    assert dup & orig == {"pm_shared_fn"}


@needs_gcc
def test_noinit_has_no_init_or_exit(built):
    elf = _elf(built["pm_noinit"])
    assert _symbol(elf, "init_module") is None and _symbol(elf, "cleanup_module") is None
    assert elf.get_section_by_name(".rela.gnu.linkonce.this_module") is None
    assert elf.get_section_by_name(".init.text") is None


@needs_gcc
def test_ro_after_init_section(built):
    elf = _elf(built["pm_ro_after_init"])
    sec = elf.get_section_by_name(".data..ro_after_init")
    assert sec is not None and sec.data_size == 4
    alloc_write = SH_FLAGS.SHF_ALLOC | SH_FLAGS.SHF_WRITE
    assert sec["sh_flags"] & alloc_write == alloc_write
    assert int.from_bytes(sec.data(), "little") == 16
    sym = _symbol(elf, "pm_limit")
    assert elf.get_section(sym["st_shndx"]).name == ".data..ro_after_init"


@needs_gcc
def test_intree_and_srcversion(built):
    assert "intree" not in _modinfo(built["pm_outoftree"])
    assert _modinfo(built["pm_hello"])["intree"] == ["Y"]
    hello = _modinfo(built["pm_hello"])
    assert hello["version"] == ["1.0"]
    assert len(hello["srcversion"][0]) == 23 and hello["srcversion"][0].isupper()
    assert "srcversion" not in _modinfo(built["pm_exporter"])  # no MODULE_VERSION


# --- overrides ------------------------------------------------------------------

@needs_gcc
def test_overrides(tmp_path):
    plain = build_module("pm_hello", tmp_path / "a")
    odd = build_module("pm_hello", tmp_path / "b", modname="pm_renamed", vermagic=None,
                       versions=False, this_module_size=1024,
                       modinfo_extra=[("livepatch", "Y")])
    assert odd.name == "pm_renamed.ko"
    info = _modinfo(odd)
    assert info["name"] == ["pm_renamed"] and info["livepatch"] == ["Y"]
    assert "vermagic" not in info and "vermagic" in _modinfo(plain)
    elf = _elf(odd)
    assert elf.get_section_by_name("__versions") is None
    this = elf.get_section_by_name(".gnu.linkonce.this_module")
    assert this.data_size == 1024 and this.data()[24:34] == b"pm_renamed"
    offsets = sorted(off for off, _, _ in _relocs(elf, ".rela.gnu.linkonce.this_module"))
    assert len(offsets) == 2 and offsets[-1] + 8 <= 1024
    tiny = build_module("pm_hello", tmp_path / "c", this_module_size=96)
    assert _elf(tiny).get_section_by_name(".gnu.linkonce.this_module").data_size == 96
    from devtools.build_samples import SampleBuildError
    with pytest.raises(SampleBuildError, match="cannot hold"):
        build_module("pm_hello", tmp_path / "d", this_module_size=64)


@needs_gcc
def test_single_build_uses_the_shipped_samples_symvers(tmp_path, built):
    alone = build_module("pm_importer", tmp_path)
    assert _shape(alone) == _shape(built["pm_importer"])
    assert _modinfo(alone)["depends"] == ["pm_exporter"]


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
    assert _shape(prebuilt_dir() / (name + ".ko")) == _shape(built[name]), \
        "prebuilt copy is stale: run python -m devtools.build_samples --update"


@needs_gcc
def test_shipped_samples_symvers_is_current(built):
    assert read_symvers(SAMPLES_SYMVERS) == read_symvers(
        built["pm_hello"].parent / "Module.symvers")


# --- agreement with a real Debian 6.12 kernel -----------------------------------

SHARED_SECTIONS = (".gnu.linkonce.this_module", ".modinfo", "__versions", "__ksymtab",
                   "__ksymtab_gpl", "__kcrctab", "__kcrctab_gpl", "__ksymtab_strings",
                   ".init.text", ".exit.text", ".data..ro_after_init", ".symtab",
                   ".strtab", "__mcount_loc", ".note.gnu.build-id")
RELA_COMPARED = (".rela__ksymtab", ".rela__ksymtab_gpl", ".rela.gnu.linkonce.this_module")


def _real_modules() -> list[Path]:
    trees = sorted(kernel_cache_root().glob("**/lib/modules/6.12*/kernel"))
    if not trees:
        pytest.skip("no Debian 6.12 kernel in %s (run devtools/debian_kernel.py)"
                    % kernel_cache_root())
    return sorted(trees[-1].rglob("*.ko*"))


def _all_reloc_types(elf: ELFFile) -> set[str]:
    return {kind for sec in elf.iter_sections() if sec["sh_type"] == "SHT_RELA"
            for _, kind, _ in _relocs(elf, sec.name)}


def _section_traits(elf: ELFFile, name: str):
    sec = elf.get_section_by_name(name)
    if sec is None:
        return None
    return (sec["sh_type"], sec["sh_flags"], sec["sh_entsize"])


@pytest.mark.real_kernel
@needs_gcc
def test_samples_match_real_debian_structure(built):
    wanted = set(SHARED_SECTIONS) | set(RELA_COMPARED)
    real_traits: dict[str, set] = {}
    real_relocs: dict[str, set[str]] = {}
    real_this_module: set[int] = set()
    real_this_offsets: set[tuple[int, str]] = set()
    real_any_reloc: set[str] = set()
    for path in _real_modules():
        if not wanted - set(real_traits):
            break
        elf = ELFFile(io.BytesIO(read_ko(path).payload))
        for name in wanted:
            traits = _section_traits(elf, name)
            if traits is not None:
                real_traits.setdefault(name, set()).add(traits)
        for name in RELA_COMPARED:
            real_relocs.setdefault(name, set()).update(kind for _, kind, _ in _relocs(elf, name))
        real_any_reloc.update(_all_reloc_types(elf))
        real_this_module.add(elf.get_section_by_name(".gnu.linkonce.this_module").data_size)
        real_this_offsets.update((off, sym) for off, _, sym in
                                 _relocs(elf, ".rela.gnu.linkonce.this_module"))
    assert real_this_module == {DEFAULT_TARGET.this_module_size}
    assert real_this_offsets == {(INIT_OFFSET_6_12, "init_module"),
                                 (EXIT_OFFSET_6_12, "cleanup_module")}

    seen: set[str] = set()
    for s in SAMPLES:
        elf = _elf(built[s.name])
        for name in SHARED_SECTIONS:
            traits = _section_traits(elf, name)
            if traits is None:
                continue
            seen.add(name)
            assert traits in real_traits[name], (s.name, name, traits, real_traits[name])
        for name in RELA_COMPARED:
            kinds = {kind for _, kind, _ in _relocs(elf, name)}
            assert kinds <= real_relocs[name], (s.name, name, kinds)
        assert _all_reloc_types(elf) <= real_any_reloc, s.name
    assert seen == set(SHARED_SECTIONS)


@pytest.mark.real_kernel
def test_default_symvers_crcs_are_debian_ones(debian_kernel):
    """default.symvers is an excerpt of a real Debian Module.symvers: against
    the kernel it was cut from, every field matches; against a later Debian
    6.12 (CI fetches the newest), all but the CRCs, which a rebuild may move."""
    from devtools.make_default_symvers import SOURCE_RELEASE

    real = read_symvers(debian_kernel.symvers)
    same_kernel = debian_kernel.release == SOURCE_RELEASE
    for name, entry in read_symvers(default_symvers()).items():
        assert name in real, name
        if same_kernel:
            assert real[name] == entry
        else:
            assert dataclasses.replace(real[name], crc=entry.crc) == entry


@pytest.mark.real_kernel
@needs_gcc
def test_build_for_the_real_debian_kernel(tmp_path):
    found = sorted(kernel_cache_root().glob("**/usr/src/linux-headers-6.12*/Module.symvers"))
    if not found:
        pytest.skip("no Debian 6.12 Module.symvers in %s" % kernel_cache_root())
    release = "6.12.117+deb12-cloud-amd64"
    target = Target(release, release + " SMP preempt mod_unload modversions ", 1280, found[-1])
    ko = build_module("pm_hello", tmp_path, target)
    real = read_symvers(found[-1])
    got = dict((n, c) for c, n in versions(read_ko(ko).elf))
    assert (got["_printk"] == real["_printk"].crc
            and got["module_layout"] == real["module_layout"].crc)
    assert _modinfo(ko)["vermagic"] == [target.vermagic]
