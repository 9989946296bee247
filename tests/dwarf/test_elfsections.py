"""Debug sections read by pymod.dwarf.elfsections, checked against pyelftools'
own relocation of the same DWARF and against the uncompressed original."""

from __future__ import annotations

import pytest
from elftools.elf.elffile import ELFFile

from pymod.dwarf.elfsections import DWARF_SECTIONS, ElfDebugFile, read_debug_sections

_ATTR = {".debug_info": "debug_info_sec", ".debug_abbrev": "debug_abbrev_sec",
         ".debug_line": "debug_line_sec", ".debug_str": "debug_str_sec",
         ".debug_line_str": "debug_line_str_sec", ".debug_str_offsets": "debug_str_offsets_sec",
         ".debug_rnglists": "debug_rnglists_sec", ".debug_ranges": "debug_ranges_sec",
         ".debug_addr": "debug_addr_sec", ".debug_aranges": "debug_aranges_sec"}


def pyelftools_sections(path) -> dict[str, bytes]:
    """pyelftools' relocated DWARF sections of ``path``."""
    found = {}
    with open(path, "rb") as f:
        dwarf = ELFFile(f).get_dwarf_info(relocate_dwarf_sections=True)
        for name, attr in _ATTR.items():
            sec = getattr(dwarf, attr, None)
            if sec is not None:
                sec.stream.seek(0)
                found[name] = sec.stream.read()
    return found


def as_bytes(sections) -> dict[str, bytes]:
    return {k: bytes(v) for k, v in sections.items()}


@pytest.mark.parametrize("kind", ["dwarf5", "dwarf4", "zlib"])
def test_relocated_sections_equal_pyelftools(objects, kind):
    ours = as_bytes(read_debug_sections(objects[kind]))
    theirs = pyelftools_sections(objects[kind])
    assert ".debug_info" in ours and ours.keys() == theirs.keys()
    assert ours == theirs


def test_relocation_changed_something(objects):
    """The object's .debug_info holds zeros where relocations go: reading it
    unrelocated would give other bytes (so the comparison above means something)."""
    with ElfDebugFile(objects["dwarf5"]) as f:
        raw = bytes(f.elf.data_of(f.elf.section(".debug_info")))
        assert bytes(f.section(".debug_info")) != raw


@pytest.mark.parametrize("kind", ["zstd", "zlib-gnu"])
def test_compressed_sections_equal_the_original(objects, kind):
    """pyelftools reads neither zstd nor relocated .zdebug: the uncompressed
    object, itself checked against pyelftools, is the reference."""
    if kind not in objects:
        pytest.skip("this objcopy cannot --compress-debug-sections=%s" % kind)
    with ElfDebugFile(objects[kind]) as f:
        assert any(s.flags & 0x800 or s.name.startswith(".zdebug") for s in f.elf.sections)
        ours = as_bytes(f.sections())
    assert ours == as_bytes(read_debug_sections(objects["dwarf5"]))


def test_only_named_sections(objects):
    got = read_debug_sections(objects["dwarf5"], [".debug_line", ".debug_nothing"])
    assert list(got) == [".debug_line"]


def test_functions_and_build_id(objects, tmp_path):
    with ElfDebugFile(objects["dwarf5"]) as f:
        funcs = f.functions()
        assert f.build_id is None          # gcc -c writes no build id
    assert funcs["f"][0].section == ".text" and funcs["g"][0].section == ".init.text"
    assert funcs["g"][0].address == 0 and funcs["f"][0].size > 0
    assert "counter" not in funcs          # an object, not a function


def test_bases_move_a_section(objects):
    with ElfDebugFile(objects["dwarf5"]) as f:
        init = f.elf.section(".init.text").index
        plain = bytes(f.section(".debug_info"))
    with ElfDebugFile(objects["dwarf5"], bases={init: 0x10000}) as f:
        assert f.functions()["g"][0].address == 0x10000
        moved = bytes(f.section(".debug_info"))
    assert moved != plain and len(moved) == len(plain)


def test_build_id_of_a_linked_file(tmp_path):
    import shutil
    import subprocess

    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "m"
    subprocess.run(["gcc", "-g", "-Wl,--build-id=sha1", str(tmp_path / "m.c"), "-o", str(exe)],
                   check=True)
    with open(exe, "rb") as fh:
        note = ELFFile(fh).get_section_by_name(".note.gnu.build-id")
        expected = next(note.iter_notes())["n_desc"]
    with ElfDebugFile(exe) as f:
        assert f.build_id == expected
        assert f.sections().get(".debug_info") is not None


def test_every_dwarf_section_name_is_known():
    from pymod.dwarf.native import SECTIONS

    assert set(DWARF_SECTIONS) == set(_ATTR)
    # the C core's order (enum pd_section); kept apart so that reading
    # sections loads no C library
    assert DWARF_SECTIONS == SECTIONS


@pytest.mark.slow
@pytest.mark.real_kernel
def test_debian_modules_equal_pyelftools(debian_dbg_61):
    """The extracted Debian modules: R_X86_64_32 and _64 into the DWARF, as
    pyelftools applies them (vmlinux needs none: it is linked).  pyelftools
    relocates in Python, slowly: the modules under 2 MB."""
    small = [ko for ko in debian_dbg_61.ko_files() if ko.stat().st_size < 2 << 20]
    assert len(small) >= 3
    for ko in small:
        ours = as_bytes(read_debug_sections(ko))
        assert ".debug_info" in ours
        assert ours == pyelftools_sections(ko), ko


@pytest.mark.real_kernel
def test_debian_vmlinux_is_mapped_not_copied(debian_dbg_61):
    with ElfDebugFile(debian_dbg_61.vmlinux) as f:
        assert not f.relocatable and f.elf.section(".rela.debug_info") is not None
        sections = f.sections()
        assert all(isinstance(v, memoryview) for v in sections.values())
        assert len(sections[".debug_info"]) > 100 << 20
        assert len(f.build_id) == 40
        assert f.functions()["schedule"][0].section == ".text"


@pytest.mark.real_kernel
def test_reading_vmlinux_costs_no_copy(debian_dbg_61):
    """The 590 MB vmlinux's DWARF and symbols, read in a child whose address
    space is 1.5 GB: its peak RSS stays far below the sections' size (they are
    views of the mapping, paged in only when the index builder reads them)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); "
            "from pymod.dwarf.elfsections import ElfDebugFile; "
            "f = ElfDebugFile(sys.argv[1]); s = f.sections(); f.functions(); "
            "print(sum(map(len, s.values())), f.build_id, "
            # VmHWM, not ru_maxrss: that one keeps the forking parent's peak
            "open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
            % (1536 << 20, 1536 << 20))
    p = subprocess.run([sys.executable, "-c", code, str(debian_dbg_61.vmlinux)],
                       capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).parents[2])
    assert p.returncode == 0, p.stderr
    size, build_id, peak_kb = p.stdout.split()
    assert int(size) > 150 << 20 and len(build_id) == 40
    assert int(peak_kb) << 10 < int(size) // 2
