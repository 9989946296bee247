"""Helpers shared by the loader tests: sample paths and a "nothing left behind" snapshot."""

from __future__ import annotations

from pymod.loader.kernel import Kernel
from pymod.samples import prebuilt_path


def sample_bytes(name: str) -> bytes:
    return prebuilt_path(name).read_bytes()


def snapshot(k: Kernel) -> dict:
    """Everything a failed load must leave as it was."""
    return {
        "modules": [(m.name, m.state, m.refcnt, tuple(h.name for h in m.holders),
                     tuple(u.name for u in m.uses)) for m in k.modules],
        "registry": list(k._modules),
        "by_id": sorted(k._by_id),
        "tree": sorted(k.features.tree.map.ids()),
        "tree_len": len(k.features.tree),
        "exports": sorted(k.symbols.modules),
        "area": dict(k.area.allocated),
        "proc": k.proc_modules(),
        "sysfs": sorted(getattr(k.features.sysfs, "dirs", {})),
        "livepatch": sorted(m.name for m in k.modules if m.klp_info is not None),
    }


def assert_consistent(k: Kernel) -> None:
    """Registry, address map, directory and allocator agree with each other."""
    k.area.check()
    live = {m.id: m for m in k._modules.values()}
    assert sorted(k.features.tree.map.ids()) == sorted(live)
    reserved = set(k.area.allocated)
    owned = {r.base for m in live.values() for r in m.mem.values() if r.size}
    assert owned == reserved
    for m in live.values():
        for base, size in m.regions().values():
            assert k.find(base) is m and k.find(base + size - 1) is m
        for h in m.holders:
            assert m in h.uses
        assert m.refcount == len(m.holders)
    exported = {s.name: s for m in live.values() for s in m.syms}
    assert set(k.symbols.modules) == set(exported)
    assert all(k.symbols.modules[n] is exported[n] for n in exported)


def rename_sections(image: bytes, renames: dict[str, str]) -> bytes:
    """``image`` with sections renamed: a new .shstrtab (the old one plus the
    new names) is appended at the end of the file and the headers point to it."""
    import struct

    e_shoff, = struct.unpack_from("<Q", image, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", image, 0x3A)
    def shdr(i: int) -> int:
        return e_shoff + i * e_shentsize
    str_off, str_size = struct.unpack_from("<QQ", image, shdr(e_shstrndx) + 0x18)
    strtab = bytearray(image[str_off:str_off + str_size])
    out = bytearray(image)
    for i in range(e_shnum):
        name_off, = struct.unpack_from("<I", image, shdr(i))
        name = bytes(strtab[name_off:strtab.index(b"\0", name_off)]).decode()
        if name in renames:
            struct.pack_into("<I", out, shdr(i), len(strtab))
            strtab += renames[name].encode() + b"\0"
    struct.pack_into("<QQ", out, shdr(e_shstrndx) + 0x18, len(out), len(strtab))
    return bytes(out + strtab)


class OnComing:
    """A kernel watcher that calls ``fn(mod)`` when a module becomes COMING.
    Keep a reference: kernels hold their watchers weakly."""

    def __init__(self, kernel: Kernel, fn):
        self.fn = fn
        kernel.watchers.add(self)

    def module_coming(self, mod) -> None:
        self.fn(mod)

    def module_live(self, mod) -> None:
        pass

    def module_gone(self, mod) -> None:
        pass
