"""The samples agree with a real Debian 6.12 kernel: section traits,
relocation types, struct module layout, and the symvers CRCs.

Skipped (visibly) without the cache filled by ``devtools/debian_kernel.py``.
"""

from __future__ import annotations

import io

import pytest
from elftools.elf.elffile import ELFFile

from devtools.build_samples import (
    DEFAULT_TARGET,
    EXIT_OFFSET_6_12,
    INIT_OFFSET_6_12,
    Target,
    build_module,
)
from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import versions
from pymod.loader.symvers import read_symvers
from pymod.samples import SAMPLES, default_symvers
from tests.samples.support import modinfo_of, needs_gcc, pyelf, relocations

# --- agreement with a real Debian 6.12 kernel -----------------------------------

SHARED_SECTIONS = (".gnu.linkonce.this_module", ".modinfo", "__versions", "__ksymtab",
                   "__ksymtab_gpl", "__kcrctab", "__kcrctab_gpl", "__ksymtab_strings",
                   ".init.text", ".exit.text", ".data..ro_after_init", ".symtab",
                   ".strtab", "__mcount_loc", ".note.gnu.build-id")
RELA_COMPARED = (".rela__ksymtab", ".rela__ksymtab_gpl", ".rela.gnu.linkonce.this_module")




def _all_reloc_types(elf: ELFFile) -> set[str]:
    return {kind for sec in elf.iter_sections() if sec["sh_type"] == "SHT_RELA"
            for _, kind, _ in relocations(elf, sec.name)}


def _section_traits(elf: ELFFile, name: str):
    sec = elf.get_section_by_name(name)
    if sec is None:
        return None
    return (sec["sh_type"], sec["sh_flags"], sec["sh_entsize"])


@pytest.mark.slow
@pytest.mark.real_kernel
@needs_gcc
def test_samples_match_real_debian_structure(built, debian_kernel_612):
    wanted = set(SHARED_SECTIONS) | set(RELA_COMPARED)
    real_traits: dict[str, set] = {}
    real_relocs: dict[str, set[str]] = {}
    real_this_module: set[int] = set()
    real_this_offsets: set[tuple[int, str]] = set()
    real_any_reloc: set[str] = set()
    for path in debian_kernel_612.ko_files():
        if not wanted - set(real_traits):
            break
        elf = ELFFile(io.BytesIO(read_ko(path).payload))
        for name in wanted:
            traits = _section_traits(elf, name)
            if traits is not None:
                real_traits.setdefault(name, set()).add(traits)
        for name in RELA_COMPARED:
            real_relocs.setdefault(name, set()).update(
                kind for _, kind, _ in relocations(elf, name))
        real_any_reloc.update(_all_reloc_types(elf))
        real_this_module.add(elf.get_section_by_name(".gnu.linkonce.this_module").data_size)
        real_this_offsets.update((off, sym) for off, _, sym in
                                 relocations(elf, ".rela.gnu.linkonce.this_module"))
    assert real_this_module == {DEFAULT_TARGET.this_module_size}
    assert real_this_offsets == {(INIT_OFFSET_6_12, "init_module"),
                                 (EXIT_OFFSET_6_12, "cleanup_module")}

    seen: set[str] = set()
    for s in SAMPLES:
        elf = pyelf(built[s.name])
        for name in SHARED_SECTIONS:
            traits = _section_traits(elf, name)
            if traits is None:
                continue
            seen.add(name)
            assert traits in real_traits[name], (s.name, name, traits, real_traits[name])
        for name in RELA_COMPARED:
            kinds = {kind for _, kind, _ in relocations(elf, name)}
            assert kinds <= real_relocs[name], (s.name, name, kinds)
        assert _all_reloc_types(elf) <= real_any_reloc, s.name
    assert seen == set(SHARED_SECTIONS)


@pytest.mark.real_kernel
def test_default_symvers_crcs_are_debian_ones(debian_kernel_612):
    """default.symvers is an excerpt of a real Debian Module.symvers: against
    the kernel it was cut from, every field matches; against a later Debian
    6.12 (CI fetches the newest), all but the CRCs, which a rebuild may move."""
    from devtools.make_default_symvers import SOURCE_RELEASE

    real = read_symvers(debian_kernel_612.symvers)
    same_kernel = debian_kernel_612.release == SOURCE_RELEASE
    for name, entry in read_symvers(default_symvers()).items():
        assert name in real, name
        if same_kernel:
            assert real[name] == entry
        else:
            assert real[name]._replace(crc=entry.crc) == entry


@pytest.mark.real_kernel
@needs_gcc
def test_build_for_the_real_debian_kernel(tmp_path, debian_kernel_612):
    """Whatever 6.12 release the archive has today: the series is the
    dependency, never the exact release."""
    release = debian_kernel_612.release
    target = Target(release, release + " SMP preempt mod_unload modversions ", 1280,
                    debian_kernel_612.symvers)
    ko = build_module("pm_hello", tmp_path, target)
    real = read_symvers(debian_kernel_612.symvers)
    got = dict((n, c) for c, n in versions(read_ko(ko).elf))
    assert (got["_printk"] == real["_printk"].crc
            and got["module_layout"] == real["module_layout"].crc)
    assert modinfo_of(ko)["vermagic"] == [target.vermagic]
