"""Hostile debug files: pymod.dwarf.elfsections refuses them with a PymodError
naming the file, in bounded memory, never a crash or a huge allocation."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from pymod.dwarf.elfsections import ElfDebugFile, read_debug_sections
from pymod.elf.image import ElfImage
from pymod.errors import PymodError
from tests.dwarf.conftest import objects  # noqa: F401  (the fixture)

_SHDR_FIELD = {"flags": (8, "<Q"), "offset": (24, "<Q"), "size": (32, "<Q"), "info": (44, "<I")}


def _patched(src: Path, dst: Path, section: str, **fields: int) -> tuple[Path, int]:
    """A copy of ``src`` with some header fields of ``section`` replaced;
    (copy, file offset of the section's contents)."""
    data = bytearray(src.read_bytes())
    image = ElfImage(bytes(data))
    s = image.section(section)
    assert s is not None, section
    header = image.e_shoff + s.index * 64
    for name, value in fields.items():
        at, fmt = _SHDR_FIELD[name]
        struct.pack_into(fmt, data, header + at, value)
    dst.write_bytes(data)
    return dst, s.offset


def _read_error(path: Path, **kw) -> PymodError:
    with pytest.raises(PymodError) as e:
        read_debug_sections(path, **kw)
    assert str(path) in str(e.value)
    return e.value


def test_a_terabyte_claim_is_refused_before_allocating(objects, tmp_path):  # noqa: F811
    path, at = _patched(objects["zlib"], tmp_path / "tb.o", ".debug_info")
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, at + 8, 1 << 40)        # Elf64_Chdr.ch_size
    path.write_bytes(data)
    err = _read_error(path)
    assert err.errno == errno.EFBIG and ".debug_info" in str(err)


def test_a_truncated_compression_header(objects, tmp_path):  # noqa: F811
    path, _ = _patched(objects["zlib"], tmp_path / "short.o", ".debug_info", size=10)
    err = _read_error(path)
    assert err.errno == errno.ENOEXEC and "shorter than its 24-byte header" in str(err)


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_a_stream_shorter_or_longer_than_claimed(objects, tmp_path, kind):  # noqa: F811
    if kind not in objects:
        pytest.skip("no zstd in this objcopy")
    for delta, words in ((+1, ("truncated", "gives")), (-1, ("more than",))):
        path, at = _patched(objects[kind], tmp_path / ("%s%d.o" % (kind, delta)), ".debug_info")
        data = bytearray(path.read_bytes())
        size = struct.unpack_from("<Q", data, at + 8)[0]
        struct.pack_into("<Q", data, at + 8, size + delta)
        path.write_bytes(data)
        message = str(_read_error(path))
        assert any(w in message for w in words), message


@pytest.mark.slow
def test_a_zlib_bomb_stops_at_the_stated_size(tmp_path, objects):  # noqa: F811
    """A 100 KB stream of 1 GiB of zeros, its header claiming 4 KiB: refused,
    in a child whose address space could not hold the bomb."""
    path, at = _patched(objects["zlib"], tmp_path / "bomb.o", ".debug_info")
    z = zlib.compressobj(9)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(z.compress(zeros) for _ in range(1024)) + z.flush()
    data = bytearray(path.read_bytes())
    header = struct.pack("<IIQQ", 1, 0, 4096, 1)
    tail = len(data)
    data += header + bomb
    path.write_bytes(data)
    path, _ = _patched(path, path, ".debug_info", offset=tail, size=len(header) + len(bomb))
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); "
            "from pymod.dwarf.elfsections import read_debug_sections as r; "
            "from pymod.errors import PymodError\n"
            "try: r(sys.argv[1])\nexcept PymodError as e: print(e.strerror)\n"
            # VmHWM, not ru_maxrss: that one keeps the forking parent's peak
            "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
            % (768 << 20, 768 << 20))
    p = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                       text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert p.returncode == 0, p.stderr
    message, peak_kb = p.stdout.splitlines()
    assert "more than 4096" in message and str(path) in message
    assert int(peak_kb) < 200 << 10        # the interpreter and numpy; not the bomb


def test_an_unknown_compression_type(objects, tmp_path):  # noqa: F811
    path, at = _patched(objects["zlib"], tmp_path / "type.o", ".debug_info")
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, at, 77)
    path.write_bytes(data)
    assert "unknown compression type 77" in str(_read_error(path))


def test_a_section_past_the_end_of_the_file(objects, tmp_path):  # noqa: F811
    path, _ = _patched(objects["dwarf5"], tmp_path / "past.o", ".debug_line", offset=1 << 33)
    assert "runs past the end" in str(_read_error(path))


def test_a_relocation_past_its_section(objects, tmp_path):  # noqa: F811
    path, _ = _patched(objects["dwarf5"], tmp_path / "reloc.o", ".debug_info", size=4)
    assert "runs past the 4-byte section" in str(_read_error(path))


def test_a_relocation_naming_a_symbol_that_is_not_there(objects, tmp_path):  # noqa: F811
    src = objects["dwarf5"]
    image = ElfImage(src.read_bytes())
    rela = image.section(".rela.debug_info")
    data = bytearray(src.read_bytes())
    struct.pack_into("<Q", data, rela.offset + 8, (99999 << 32) | 10)
    (tmp_path / "sym.o").write_bytes(data)
    assert "names symbol 99999" in str(_read_error(tmp_path / "sym.o"))


def test_a_symbol_table_past_the_end(objects, tmp_path):  # noqa: F811
    path, _ = _patched(objects["dwarf5"], tmp_path / "symtab.o", ".symtab", size=1 << 32)
    assert "runs past the end" in str(_read_error(path))


def test_an_unsupported_relocation_type(objects, tmp_path):  # noqa: F811
    src = objects["dwarf5"]
    rela = ElfImage(src.read_bytes()).section(".rela.debug_info")
    data = bytearray(src.read_bytes())
    struct.pack_into("<I", data, rela.offset + 8, 37)      # R_X86_64_GOTPC32_TLSDESC
    (tmp_path / "type.o").write_bytes(data)
    assert "unsupported relocation type 37" in str(_read_error(tmp_path / "type.o"))


def test_section_headers_past_the_end(objects, tmp_path):  # noqa: F811
    data = bytearray(objects["dwarf5"].read_bytes())
    struct.pack_into("<Q", data, 0x28, 1 << 40)          # e_shoff
    (tmp_path / "shoff.o").write_bytes(data)
    with pytest.raises(PymodError) as e:
        ElfDebugFile(tmp_path / "shoff.o")
    assert str(tmp_path / "shoff.o") in str(e.value) and "section header table" in str(e.value)


@pytest.mark.parametrize("content", [b"", b"not an elf" * 10, b"\x7fELF\x01" + b"\0" * 80])
def test_not_an_elf64_file(tmp_path, content):
    (tmp_path / "x").write_bytes(content)
    with pytest.raises(PymodError) as e:
        ElfDebugFile(tmp_path / "x")
    assert str(tmp_path / "x") in str(e.value)


def test_not_a_regular_file(tmp_path):
    for path in ("/dev/zero", str(tmp_path)):
        with pytest.raises(PymodError) as e:
            ElfDebugFile(path)
        assert path in str(e.value)
    with pytest.raises(PymodError) as e:
        ElfDebugFile(tmp_path / "missing")
    assert e.value.errno == errno.ENOENT


_FIFO_PROBE = r"""
import os
import sys
from pathlib import Path
from pymod.dwarf.cache import cache_file, load_index
from pymod.dwarf.elfsections import ElfDebugFile
from pymod.errors import PymodError
fifo, obj, cache = sys.argv[1:]
try:
    ElfDebugFile(fifo)
except PymodError as e:
    print("refused", e.errno, e.strerror)
where = cache_file(obj, None, directory=Path(cache))
os.mkfifo(where)
result = load_index(obj, directory=Path(cache))
print("cache", result.hit, where.is_fifo())
"""


def test_a_fifo_is_refused_at_once(objects, tmp_path):  # noqa: F811
    # As a debug file, and at the cache's name: neither open waits for a writer.
    fifo = tmp_path / "vmlinux"
    os.mkfifo(fifo)
    (tmp_path / "cache").mkdir()
    p = subprocess.run([sys.executable, "-c", _FIFO_PROBE, str(fifo), str(objects["dwarf5"]),
                        str(tmp_path / "cache")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "refused %d %s: not a regular file" % (errno.EINVAL, fifo), "cache False False"]
