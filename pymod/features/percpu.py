"""CONFIG_SMP's per-CPU module data: see :class:`pymod.contract.facades.Percpu`.

A module's ``.data..percpu`` is not part of its memory: ``percpu_modalloc``
takes room for it from the per-CPU area's reserved chunk (``__alloc_reserved_percpu``),
and the module's per-CPU variables are addressed there.  On x86-64 a per-CPU
pointer is an offset from the per-CPU base, so the chunk is modelled as the
range just after vmlinux's static per-CPU data, ``Config.percpu_static_size``
long, ``Config.percpu_reserve`` bytes (PERCPU_MODULE_RESERVE, 8 KiB).
"""

from __future__ import annotations

import errno

from pymod.contract.internal import PAGE_SIZE, LoadInfo, Module
from pymod.contract.klog import KernelLog
from pymod.contract.sections import smp_pcpusec
from pymod.errors import ModuleLoadError

PCPU_MIN_ALLOC_SIZE = 4


class ReservedChunk:
    """First-fit allocator of aligned ranges in [start, start + size)."""

    def __init__(self, start: int, size: int):
        self.start, self.end = start, start + size
        self.used: dict[int, int] = {}           # address -> size

    def alloc(self, size: int, align: int) -> int:
        size = -(-size // PCPU_MIN_ALLOC_SIZE) * PCPU_MIN_ALLOC_SIZE
        align = max(align, PCPU_MIN_ALLOC_SIZE)
        pos = self.start
        for addr, length in sorted(self.used.items()):
            candidate = -(-pos // align) * align
            if candidate + size <= addr:
                break
            pos = max(pos, addr + length)
        candidate = -(-pos // align) * align
        if candidate + size > self.end:
            return 0
        self.used[candidate] = size
        return candidate

    def free(self, addr: int) -> None:
        self.used.pop(addr, None)


class Percpu:
    def __init__(self, log: KernelLog, static_size: int, reserve: int):
        self.log = log
        self.chunk = ReservedChunk(static_size, reserve)

    def find_pcpusec(self, info: LoadInfo) -> int:
        return smp_pcpusec(info)

    def percpu_modalloc(self, mod: Module, info: LoadInfo) -> None:
        shdr = info.shdrs[info.index.pcpu]
        size, align = int(shdr["sh_size"]), int(shdr["sh_addralign"])
        if not size:
            return
        if align > PAGE_SIZE:
            # %li of an unsigned long: past 2^63 it prints negative
            signed = align - (1 << 64) if align >= 1 << 63 else align
            self.log.pr_warn("%s: per-cpu alignment %d > %d" % (mod.name, signed, PAGE_SIZE))
            align = PAGE_SIZE
        mod.percpu = self.chunk.alloc(size, align or 1)
        if not mod.percpu:
            raise ModuleLoadError(errno.ENOMEM, self.log.pr_warn(
                "%s: Could not allocate %d bytes percpu data" % (mod.name, size)),
                module=mod.name, stage="percpu")
        mod.percpu_size = size

    def percpu_modfree(self, mod: Module) -> None:
        if mod.percpu:
            self.chunk.free(mod.percpu)
            mod.percpu = mod.percpu_size = 0


class Stub:
    # A UP kernel has no per-CPU section to find, so a module's
    # .data..percpu is ordinary data and the allocation has nothing to do.
    def find_pcpusec(self, info: LoadInfo) -> int:
        return 0

    def percpu_modalloc(self, mod: Module, info: LoadInfo) -> None:
        pass

    def percpu_modfree(self, mod: Module) -> None:
        pass
