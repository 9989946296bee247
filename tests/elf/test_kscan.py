"""The C module scanner (pymod.elf.kscan) against pymod.elf.ksymtab, and on garbage.

pymod.elf.ksymtab reads exports through the ``__ksymtab*`` entries and their
relocations, the scanner through ``__crc_`` symbols (depmod's way): two
independent readings that must name the same symbols on a modversions
module.  Damaged images must give PymodError (ENOEXEC) or a result, never a
crash; a guard page right after the image turns any read past its end into
a crash.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import random
import shutil
import struct
from pathlib import Path

import pytest

import pymod.elf.kscan as kscan
from devtools.build_samples import build_all
from pymod._kscan_cffi import ffi, lib
from pymod.elf.image import ElfImage
from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import exports, undefined_symbols, versions
from pymod.errors import PymodError

PAGE = mmap.PAGESIZE


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("gcc") is None or shutil.which("ld") is None:
        pytest.skip("gcc/binutils not installed: cannot build the samples")
    return build_all(tmp_path_factory.mktemp("kscan-samples"))


def ksymtab_view(elf: ElfImage) -> tuple[list[str], list[tuple[str, bool]], list[str]]:
    """What depmod's rules give, computed from pymod.elf.ksymtab's reading."""
    exp = exports(elf)
    if any(e.crc is not None for e in exp):
        names = sorted(e.name for e in exp)
    else:  # no __crc_ symbols: __ksymtab_strings holds the names and namespaces
        names = sorted({e.name for e in exp} | {e.namespace for e in exp if e.namespace})
    undefined = [(n, w) for n, w in undefined_symbols(elf) if n]
    return names, undefined, [name for _crc, name in versions(elf)]


def scanner_view(image) -> tuple[list[str], list[tuple[str, bool]], list[str]]:
    s = kscan.scan_image(image)
    assert len(s.weak) == len(s.undefined)
    return sorted(s.exports), list(zip(s.undefined, map(bool, s.weak), strict=True)), s.versions


def test_scanner_agrees_with_ksymtab_on_samples(samples):
    n_exports = n_weak = 0
    for name, path in samples.items():
        mine = scanner_view(path.read_bytes())
        theirs = ksymtab_view(read_ko(str(path)).elf)
        assert mine == theirs, name
        n_exports += len(mine[0])
        n_weak += sum(w for _, w in mine[1])
    assert n_exports >= 3 and n_weak >= 1  # the comparison saw both kinds


def test_scanner_reads_a_mapped_file(samples):
    path = samples["pm_exporter"]
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert scanner_view(m) == scanner_view(path.read_bytes())


def test_small_buffers_are_retried(samples, monkeypatch):
    data = samples["pm_importer"].read_bytes()
    full = kscan.scan_image(data)
    monkeypatch.setattr(kscan, "_NAMES_ROOM", 3)
    monkeypatch.setattr(kscan, "_WEAK_ROOM", 0)
    assert kscan.scan_image(data) == full


def test_c_reports_the_room_it_needs(samples):
    data = samples["pm_importer"].read_bytes()
    res = ffi.new("struct pm_kscan_result *")
    buf = ffi.from_buffer("unsigned char[]", data)
    assert lib.pm_kscan(buf, len(data), ffi.NULL, 0, ffi.NULL, 0, res) == lib.PM_KSCAN_ENOSPC
    need, n_und = res.names_len, res.n_undefined
    assert need > 0 and n_und > 0
    names = ffi.new("char[]", need)
    weak = ffi.new("unsigned char[]", n_und)
    assert lib.pm_kscan(buf, len(data), names, need - 1, weak, n_und, res) == lib.PM_KSCAN_ENOSPC
    assert lib.pm_kscan(buf, len(data), names, need, weak, n_und - 1, res) == lib.PM_KSCAN_ENOSPC
    assert lib.pm_kscan(buf, len(data), names, need, weak, n_und, res) == lib.PM_KSCAN_OK
    assert res.names_len == need and ffi.buffer(names, need)[-1:] == b"\0"
    assert lib.pm_kscan(ffi.NULL, 0, names, need, weak, n_und, res) == lib.PM_KSCAN_EINVAL


# --------------------------------------------------------------------------
# Damaged images

class Guarded:
    """A buffer whose last byte is followed by an inaccessible page."""

    def __init__(self, size: int):
        pages = (size + PAGE - 1) // PAGE + 1
        self.map = mmap.mmap(-1, pages * PAGE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        if libc.mprotect(base + (pages - 1) * PAGE, PAGE, 0) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed")
        self.end = (pages - 1) * PAGE
        self.size = size

    def view(self, data: bytes) -> memoryview:
        start = self.end - len(data)
        self.map[start:self.end] = data
        return memoryview(self.map)[start:self.end]


def outcome(image) -> str:
    try:
        kscan.scan_image(image)
    except PymodError as e:
        assert e.errno == errno.ENOEXEC and e.strerror
        return "error"
    return "read"


def test_truncated_images_fail_cleanly(samples):
    data = samples["pm_importer"].read_bytes()
    guard = Guarded(len(data))
    shoff, = struct.unpack_from("<Q", data, 40)
    seen = {}
    for cut in sorted({*range(0, len(data), 7), len(data) - 1}):
        view = guard.view(data[:cut])
        seen[cut] = outcome(view)
        view.release()
    # every cut loses (part of) the section header table at the end
    assert shoff > 64 and set(seen.values()) == {"error"}


def test_garbage_and_corrupted_images_never_crash(samples):
    rng = random.Random(1234)
    images = [p.read_bytes() for p in samples.values()]
    guard = Guarded(max(map(len, images)))
    counts = {"read": 0, "error": 0}
    for size in (0, 1, 63, 64, 65, 200, 4096):
        view = guard.view(bytes(rng.getrandbits(8) for _ in range(size)))
        counts[outcome(view)] += 1
        view.release()
    for _ in range(3000):
        data = bytearray(rng.choice(images))
        header_end = (struct.unpack_from("<Q", data, 40)[0]
                      + 64 * struct.unpack_from("<H", data, 60)[0])
        for _ in range(rng.randint(1, 8)):
            # Aim most hits at what the scanner reads: ELF and section headers.
            if rng.random() < 0.6:
                at = rng.randrange(min(header_end, len(data)) - 64, min(header_end, len(data)))
            elif rng.random() < 0.5:
                at = rng.randrange(40, 64)
            else:
                at = rng.randrange(len(data))
            data[at] = rng.getrandbits(8) if rng.random() < 0.7 else rng.choice((0, 0xFF))
        if rng.random() < 0.2:
            del data[rng.randrange(64, len(data)):]
        view = guard.view(bytes(data))
        counts[outcome(view)] += 1
        view.release()
    # both outcomes happened: the corruptions reached the checks
    assert counts["read"] > 100 and counts["error"] > 100, counts


def test_bad_header_fields_are_errors(samples):
    data = bytearray(samples["pm_hello"].read_bytes())
    for offset, fmt, value in ((58, "<H", 40),           # e_shentsize
                               (40, "<Q", 2 ** 63),       # e_shoff past the end
                               (40, "<Q", 2 ** 64 - 64)):  # e_shoff + size wraps
        bad = bytearray(data)
        struct.pack_into(fmt, bad, offset, value)
        with pytest.raises(PymodError) as ei:
            kscan.scan_image(bytes(bad))
        assert ei.value.errno == errno.ENOEXEC and "section header table" in ei.value.strerror


def test_symbol_table_past_the_end_is_an_error(samples):
    data = bytearray(samples["pm_hello"].read_bytes())
    shoff, = struct.unpack_from("<Q", data, 40)
    shnum, = struct.unpack_from("<H", data, 60)
    for i in range(shnum):
        if struct.unpack_from("<I", data, shoff + 64 * i + 4)[0] == 2:  # SHT_SYMTAB
            struct.pack_into("<Q", data, shoff + 64 * i + 24, len(data) - 24)  # sh_offset
            break
    else:
        pytest.fail("no symbol table")
    with pytest.raises(PymodError, match="runs past the end"):
        kscan.scan_image(bytes(data))
