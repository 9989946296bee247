"""The on-disk DWARF index cache (pymod.dwarf.cache): reuse, rebuild of bad
files, read-only caches and concurrent builders."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess

import pytest

from pymod.dwarf import cache
from pymod.dwarf.cache import cache_file, load_index
from pymod.dwarf.elfsections import ElfDebugFile

native = pytest.importorskip("pymod.dwarf.native")


class CountingBuilder:
    def __init__(self):
        self.calls = 0

    def __call__(self, sections):
        self.calls += 1
        return native.build_index(sections)


def _f_address(path):
    with ElfDebugFile(path) as f:
        return f.functions()["f"][0].address


def test_built_once_then_mapped(objects, tmp_path):
    obj, build = objects["dwarf5"], CountingBuilder()
    first = load_index(obj, directory=tmp_path, builder=build)
    second = load_index(obj, directory=tmp_path, builder=build)
    assert (first.hit, second.hit, build.calls) == (False, True, 1)
    assert first.cache_file == second.cache_file and first.cache_file.parent == tmp_path
    addr = _f_address(obj)
    assert second.index.lookup(addr) == first.index.lookup(addr) != []
    assert os.listdir(tmp_path) == [first.cache_file.name]      # no temporaries left


def test_default_directory_follows_pymod_cache(objects, tmp_path, monkeypatch):
    monkeypatch.setenv("PYMOD_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "dwarf"
    result = load_index(objects["dwarf5"])
    assert result.cache_file.parent == tmp_path / "dwarf"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeros", "empty", "flipped"])
def test_a_bad_cache_file_is_rebuilt(objects, tmp_path, damage):
    obj, build = objects["dwarf5"], CountingBuilder()
    where = load_index(obj, directory=tmp_path, builder=build).cache_file
    good = where.read_bytes()
    bad = {"garbage": os.urandom(len(good)), "truncated": good[:len(good) // 2],
           "zeros": bytes(len(good)), "empty": b"",
           "flipped": good[:16] + bytes(b ^ 0xFF for b in good[16:48]) + good[48:]}[damage]
    where.write_bytes(bad)
    again = load_index(obj, directory=tmp_path, builder=build)
    assert (again.hit, build.calls) == (False, 2)
    assert where.read_bytes() == good                      # and the cache is repaired
    assert again.index.lookup(_f_address(obj)) != []


def test_another_files_index_is_not_taken_for_this_one(objects, tmp_path):
    """Keys differ: two files, two indexes, each answering its own DWARF."""
    a = load_index(objects["dwarf5"], directory=tmp_path)
    b = load_index(objects["dwarf4"], directory=tmp_path)
    assert a.cache_file != b.cache_file


def test_a_link_at_the_cache_name_is_neither_read_nor_written_through(objects, tmp_path):
    obj = objects["dwarf5"]
    where = cache_file(obj, None, directory=tmp_path)
    precious = tmp_path / "precious"
    precious.write_bytes(b"another user's file\n")
    where.symlink_to(precious)
    result = load_index(obj, directory=tmp_path)
    assert not result.hit and not where.is_symlink()
    assert precious.read_bytes() == b"another user's file\n"


def test_an_unwritable_cache_still_answers(objects, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    build = CountingBuilder()
    for _ in range(2):
        result = load_index(objects["dwarf5"], directory=blocker / "dwarf", builder=build)
        assert result.cache_file is None and not result.hit
        assert result.index.lookup(_f_address(objects["dwarf5"])) != []
    assert build.calls == 2


def test_a_read_only_cache_directory(objects, tmp_path, monkeypatch):
    # A read-only directory refuses the temporary with EACCES (root would
    # write anyway, so the refusal is the directory's answer, given here).
    def refused(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache, "write_atomic", refused)
    result = load_index(objects["dwarf5"], directory=tmp_path)
    assert result.cache_file is None and os.listdir(tmp_path) == []
    assert result.index.lookup(_f_address(objects["dwarf5"])) != []


def test_a_changed_file_without_build_id_gets_a_new_key(objects, tmp_path):
    obj = tmp_path / "copy.o"
    shutil.copy(objects["dwarf5"], obj)
    before = cache_file(obj, None, directory=tmp_path)
    os.utime(obj, ns=(1, 1))
    assert cache_file(obj, None, directory=tmp_path) != before
    tag = cache.builder_tag()
    assert cache_file(obj, "ab12", directory=tmp_path).name == "id-ab12-%s.idx" % tag
    assert cache_file(obj, "ab12", "1=0x10", directory=tmp_path).name != "id-ab12.idx"


def test_a_file_without_debug_info_is_not_cached(objects, tmp_path):
    stripped = tmp_path / "stripped.o"
    subprocess.run(["objcopy", "--strip-debug", str(objects["dwarf5"]), str(stripped)], check=True)
    result = load_index(stripped, directory=tmp_path / "c")
    assert result.cache_file is None and not (tmp_path / "c").exists()


def test_no_cache_at_all(objects, tmp_path, monkeypatch):
    monkeypatch.setenv("PYMOD_CACHE", str(tmp_path))
    result = load_index(objects["dwarf5"], directory=False)
    assert result.cache_file is None and list(tmp_path.iterdir()) == []


def _race(args):
    obj, directory = args
    result = load_index(obj, directory=directory)
    return result.index.lookup(_f_address(obj))


@pytest.mark.slow
def test_concurrent_builders(objects, tmp_path):
    obj = objects["dwarf5"]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        answers = pool.map(_race, [(obj, tmp_path)] * 8)
    assert all(a == answers[0] != [] for a in answers)
    names = os.listdir(tmp_path)
    assert names == [cache_file(obj, None, directory=tmp_path).name]
    assert load_index(obj, directory=tmp_path).hit


@pytest.mark.real_kernel
def test_a_stripped_module_does_not_shadow_its_debug_file(debian_dbg_61, debian_kernel_61,
                                                         tmp_path):
    """Debian's shipped vsock.ko has the build id of the -dbg one and no DWARF:
    reading it first must not leave an empty index under that build id."""
    debug = next(p for p in debian_dbg_61.ko_files() if p.name == "vsock.ko")
    shipped = next(p for p in debian_kernel_61.ko_files() if p.name == "vsock.ko")
    with ElfDebugFile(shipped) as a, ElfDebugFile(debug) as b:
        assert a.build_id == b.build_id and not a.has_section(".debug_info")
        recvmsg = b.functions()["vsock_dgram_recvmsg"][0].address
    empty = load_index(shipped, directory=tmp_path)
    assert empty.cache_file is None and empty.index.lookup(recvmsg) == []
    real = load_index(debug, directory=tmp_path)
    assert real.cache_file.name == "id-%s-%s.idx" % (real.build_id, cache.builder_tag())
    assert real.index.lookup(recvmsg)[0].function == "vsock_dgram_recvmsg"
    assert load_index(debug, directory=tmp_path).hit


def _addr2line(path, section, offsets):
    """``addr2line -f -i -a -j SECTION``'s chains, one per offset."""
    out = subprocess.run(["addr2line", "-f", "-i", "-a", "-j", section, "-e", str(path)]
                         + ["%#x" % o for o in offsets],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    chains: list[list[tuple[str, str]]] = []
    i = 0
    while i < len(out):
        if out[i].startswith("0x"):
            chains.append([])
            i += 1
            continue
        where = out[i + 1].split(" (discriminator")[0]
        chains[-1].append((out[i], where))
        i += 2
    return chains


@pytest.mark.real_kernel
def test_bases_give_addr2line_j_answers(debian_dbg_61, tmp_path):
    """A .ko's sections all sit at 0; given .init.text a base of its own, the
    index answers base+offset as ``addr2line -j .init.text`` answers offset."""
    if shutil.which("addr2line") is None:
        pytest.skip("addr2line not found")
    ko = next(p for p in debian_dbg_61.ko_files() if p.name == "vsock.ko")
    with ElfDebugFile(ko) as f:
        init = f.elf.section(".init.text")
    base = 0x100000
    index = load_index(ko, directory=tmp_path, bases={init.index: base}).index
    offsets = list(range(0, init.size, 4))
    expected = _addr2line(ko, ".init.text", offsets)
    got = [[(fr.function or "??", "%s:%d" % (fr.file, fr.line)) for fr in index.lookup(base + o)]
           for o in offsets]
    assert sum(map(len, expected)) > len(offsets)          # inlined chains among them
    assert got == expected


@pytest.mark.parametrize("kind", ["dwarf5", "dwarf4", "zstd"])
def test_a_compiled_object_answers_as_addr2line(objects, tmp_path, kind):
    """gcc -g -c output, relocated here and indexed: .text as ``addr2line -j
    .text``, and .init.text, given a base of its own, as ``-j .init.text``."""
    if shutil.which("addr2line") is None or kind not in objects:
        pytest.skip("no addr2line, or no zstd in this objcopy")
    obj = objects[kind]
    with ElfDebugFile(obj) as f:
        text, init = f.elf.section(".text"), f.elf.section(".init.text")
    base = 0x40000
    index = load_index(obj, directory=tmp_path, bases={init.index: base}).index
    for sec, at in ((text, 0), (init, base)):
        offsets = list(range(0, sec.size))
        expected = _addr2line(obj, sec.name, offsets)
        got = [[(fr.function or "??", "%s:%d" % (fr.file, fr.line))
                for fr in index.lookup(at + o)] for o in offsets]
        assert got == expected, sec.name


def test_another_builder_never_reuses_an_index(objects, tmp_path, monkeypatch):
    """A cache file names the builder that made it: once the C library
    changes (a fixed rule), the same debug file is indexed again instead of
    answering with the older builder's index."""
    from pymod.dwarf import cache

    obj = objects["dwarf5"]
    first = load_index(obj, directory=tmp_path)
    assert load_index(obj, directory=tmp_path).hit
    monkeypatch.setattr(cache, "builder_tag", lambda: "another")
    second = load_index(obj, directory=tmp_path)
    assert not second.hit and second.cache_file != first.cache_file
    assert second.cache_file.name.endswith("-another.idx")
