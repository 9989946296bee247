"""Module memory: the module area (where ``execmem_alloc`` places it) and
``move_module``, which gives a laid-out module its regions.

The architecture (pymod.arch) gives the range: x86-64 maps modules between
MODULES_VADDR and MODULES_END.  Like vmalloc,
every allocation is followed by one unmapped guard page, so neighbouring
regions never touch; freed ranges are merged and reused first-fit from the
bottom.
"""

from __future__ import annotations

import bisect
import errno
import mmap

import numpy as np

from pymod.contract.internal import PAGE_SIZE, LoadInfo, MemType, Module
from pymod.elf.constants import SHF_ALLOC, SHT_NOBITS
from pymod.errors import ModuleLoadError

# Regions from this size on are mapped lazily (see zeroed()).
LAZY_FROM = 1 << 20


class ModuleArea:
    """First-fit allocator of page-aligned ranges with a trailing guard page."""

    def __init__(self, start: int, end: int, copy_base: int):
        self.start = start
        self.end = end
        # Where the temporary copy of the file lives during a load (vmalloc
        # space): a non-allocated section's sh_addr, so a symbol defined in
        # one gets an address there, as in the kernel.  One fixed base: it
        # is freed after the load.
        self.copy_base = copy_base
        self._free_starts: list[int] = [start]
        self._free_ends: list[int] = [end]
        self.allocated: dict[int, int] = {}   # base -> reserved bytes (guard included)

    def alloc(self, size: int) -> int:
        """Reserve ``size`` bytes (rounded up to pages) and return the base."""
        need = -(-size // PAGE_SIZE) * PAGE_SIZE + PAGE_SIZE
        for k, (lo, hi) in enumerate(zip(self._free_starts, self._free_ends, strict=True)):
            if hi - lo >= need:
                if hi - lo == need:
                    del self._free_starts[k], self._free_ends[k]
                else:
                    self._free_starts[k] = lo + need
                self.allocated[lo] = need
                return lo
        raise ModuleLoadError(errno.ENOMEM, "execmem_alloc: module area exhausted "
                              "(%d bytes requested)" % size, stage="layout")

    def free(self, base: int) -> None:
        """Return a range; it is merged with free neighbours."""
        size = self.allocated.pop(base)
        lo, hi = base, base + size
        k = bisect.bisect_left(self._free_starts, lo)
        if k < len(self._free_starts) and self._free_starts[k] == hi:
            hi = self._free_ends[k]
            del self._free_starts[k], self._free_ends[k]
        if k > 0 and self._free_ends[k - 1] == lo:
            lo = self._free_starts[k - 1]
            del self._free_starts[k - 1], self._free_ends[k - 1]
            k -= 1
        self._free_starts.insert(k, lo)
        self._free_ends.insert(k, hi)

    @property
    def used(self) -> int:
        """Bytes reserved, guard pages included."""
        return sum(self.allocated.values())

    def check(self) -> None:
        """Free and allocated ranges tile the area exactly once (for tests)."""
        spans = sorted([(b, b + s) for b, s in self.allocated.items()]
                       + list(zip(self._free_starts, self._free_ends, strict=True)))
        pos = self.start
        for lo, hi in spans:
            if lo != pos or hi <= lo:
                raise AssertionError("module area broken at %#x: span %#x-%#x" % (pos, lo, hi))
            pos = hi
        if pos != self.end:
            raise AssertionError("module area ends at %#x, not %#x" % (pos, self.end))


def move_module(area: ModuleArea, mod: Module, info: LoadInfo) -> None:
    """One page-rounded allocation per non-empty memory type, then every
    allocated section's address (``move_module``).  Fails atomically: on
    ENOMEM what was allocated is returned."""
    try:
        for mem in MemType:
            size = info.mem_size.get(mem, 0)
            if size:
                rounded = -(-size // PAGE_SIZE) * PAGE_SIZE
                mod.mem[mem].base = area.alloc(rounded)
                mod.mem[mem].size = rounded
        for region in mod.mem.values():
            if region.size:
                region.data = zeroed(region.size)
        sec_addr = np.uint64(area.copy_base) + info.shdrs["sh_offset"].astype(np.uint64)
        with memoryview(info.payload) as image:
            _copy_sections(mod, info, image, sec_addr)
    except ModuleLoadError:
        free_mem(area, mod)
        mod.section_addrs.clear()
        raise
    info.sec_addr = sec_addr


def zeroed(size: int) -> bytearray | mmap.mmap:
    """``size`` zeroed bytes of module memory.  vmalloc maps pages that cost
    nothing until touched; so does a large region here (anonymous private
    memory, zero-filled by the host on first write, copied on write after a
    fork): a module declaring a gigabyte of .bss costs what it writes.
    Small regions are bytearrays (a mapping each would run a large tree
    into the host's limit on mappings).  Raises ENOMEM when the host
    refuses."""
    try:
        if size < LAZY_FROM:
            return bytearray(size)
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (MemoryError, OSError) as e:
        raise ModuleLoadError(errno.ENOMEM, "execmem_alloc: %d bytes: the host has no "
                              "memory for them (%s; pymod's own limit)"
                              % (size, type(e).__name__), stage="layout") from None


def _copy_sections(mod: Module, info: LoadInfo, image: memoryview, sec_addr: np.ndarray) -> None:
    shdrs = info.shdrs
    sizes, flags = shdrs["sh_size"], shdrs["sh_flags"]
    types, offsets = shdrs["sh_type"].tolist(), shdrs["sh_offset"].tolist()
    for i, (mem, offset) in info.placement.items():
        if not flags[i] & SHF_ALLOC:
            continue
        region = mod.mem[mem]
        sec_addr[i] = region.base + offset       # empty sections too, as the kernel
        size = int(sizes[i])
        if not size:
            continue
        mod.section_addrs[info.secnames[i]] = region.base + offset
        if types[i] == SHT_NOBITS:
            continue
        if region.data is None or offset + size > len(region.data):
            # sizes that wrapped 32 bits (layout) leave a section past its
            # region; the kernel's memcpy would run past the allocation
            raise ModuleLoadError(errno.ENOEXEC, "%s: section %s (%#x bytes at +%#x) runs "
                                  "past its %s region of %#x bytes (pymod's own check: the "
                                  "kernel would copy past its allocation)"
                                  % (mod.name, info.secnames[i], size, offset, mem.kind,
                                     region.size), module=mod.name, stage="layout")
        region.data[offset:offset + size] = image[offsets[i]:offsets[i] + size]


def free_mem(area: ModuleArea, mod: Module, init_only: bool = False) -> None:
    """Return a module's regions (only the init ones with ``init_only``)."""
    for mem, region in mod.mem.items():
        if region.size and (mem.is_init or not init_only):
            area.free(region.base)
            region.base = region.size = 0
            region.data = None


def _locate(mod: Module, addr: int, size: int) -> tuple[bytearray | mmap.mmap, int] | None:
    for region in mod.mem.values():
        off = addr - region.base
        if region.size and region.data is not None and 0 <= off and off + size <= region.size:
            return region.data, off
    return None


def read_mem(mod: Module, addr: int, size: int) -> bytes | None:
    """``size`` bytes of ``mod``'s memory at ``addr``; None unless one of its
    live regions holds them all."""
    found = _locate(mod, addr, size)
    return None if found is None else bytes(found[0][found[1]:found[1] + size])


def write_mem(mod: Module, addr: int, data: bytes) -> bool:
    found = _locate(mod, addr, len(data))
    if found is None:
        return False
    found[0][found[1]:found[1] + len(data)] = data
    return True


def read_string(mod: Module, addr: int, limit: int = 4096) -> str | None:
    """The NUL-terminated string at ``addr`` in ``mod``'s memory (at most
    ``limit`` bytes), or None when it is not there."""
    for region in mod.mem.values():
        off = addr - region.base
        if region.size and region.data is not None and 0 <= off < region.size:
            chunk = bytes(region.data[off:off + limit])
            end = chunk.find(b"\0")
            return (chunk if end < 0 else chunk[:end]).decode("utf-8", "surrogateescape")
    return None
