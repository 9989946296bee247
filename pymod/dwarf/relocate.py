"""Relocating a relocatable object's debug sections, as binutils does.

A ``.ko`` (like any ``gcc -c`` object) is ``ET_REL``: its DWARF holds zeros
where addresses and cross-section offsets go, and ``.rela.debug_*`` says
what to put there.  ``addr2line`` reads such sections through
``bfd_simple_get_relocated_section_contents``, which applies each entry with
``bfd_perform_relocation``: the field is *overwritten* (x86-64's RELA howtos
have no source mask) with ``S + A`` (``- P`` for the PC-relative kinds),
where ``S`` is the symbol's ``st_value`` plus its section's address -- 0 in
a relocatable object, so addresses come out section-relative, the numbers
``nm foo.ko`` prints.  A common symbol counts as 0 and an undefined one as
its ``st_value`` (0), as there.  Callers may give sections other bases
(``bases``), e.g. to keep ``.init.text`` apart from ``.text``.

Executables and shared objects (``vmlinux``) are never relocated: the linker
already did it, and the ``.rela.debug_*`` that ``--emit-relocs`` leaves in
vmlinux are records, not work to do.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any

import numpy as np

from pymod.elf.constants import SHN_COMMON
from pymod.elf.image import ElfImage
from pymod.errors import PymodError

__all__ = ["apply_rela", "RELA_DTYPE", "section_bases"]

EM_X86_64 = 62
EM_AARCH64 = 183
RELA_DTYPE = np.dtype([("r_offset", "<u8"), ("r_info", "<u8"), ("r_addend", "<i8")])

# machine -> reloc type -> (width in bytes, PC-relative).  x86-64's
# DTPOFF kinds are plain S + A in a relocatable link (TLS offsets in DWARF).
_KINDS: dict[int, dict[int, tuple[int, bool]]] = {
    EM_X86_64: {1: (8, False), 2: (4, True), 10: (4, False), 11: (4, False),
                17: (8, False), 21: (4, False), 24: (8, True)},
    EM_AARCH64: {257: (8, False), 258: (4, False), 260: (8, True), 261: (4, True)},
}
_NONE = {EM_X86_64: 0, EM_AARCH64: 0}


def section_bases(elf: ElfImage,
                  overrides: Mapping[int, int] | None = None) -> np.ndarray[Any, Any]:
    """Each section's address by index (``sh_addr`` unless overridden), with room
    for the reserved indices, which all count as 0."""
    bases = np.zeros(0x10000, dtype=np.uint64)
    for s in elf.sections[:0xFF00]:
        bases[s.index] = s.addr
    for index, base in (overrides or {}).items():
        bases[index] = base
    return bases


def _error(where: str, message: str) -> PymodError:
    return PymodError(errno.ENOEXEC, "%s: %s" % (where, message))


def _symbol_values(where: str, elf: ElfImage, rela: np.ndarray[Any, Any],
                   bases: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    syms = elf.symbols()
    index = rela["r_info"] >> np.uint64(32)
    if len(index) and int(index.max()) >= len(syms):
        raise _error(where, "relocation names symbol %d of %d" % (int(index.max()), len(syms)))
    shndx = syms["st_shndx"][index]
    value: np.ndarray[Any, Any] = syms["st_value"][index] + bases[shndx]
    value[shndx == SHN_COMMON] = 0
    return value


def apply_rela(where: str, elf: ElfImage, target: bytearray, target_index: int,
               raw: memoryview, bases: np.ndarray[Any, Any]) -> None:
    """Apply the ``Elf64_Rela`` entries in ``raw`` to ``target`` (the contents of
    section ``target_index``) in place."""
    kinds = _KINDS.get(elf.e_machine)
    if kinds is None:
        raise PymodError(errno.ENOEXEC, "%s: relocations for ELF machine %d are not supported"
                         % (where, elf.e_machine))
    rela = np.frombuffer(raw, dtype=RELA_DTYPE, count=len(raw) // RELA_DTYPE.itemsize)
    rtype = (rela["r_info"] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    keep = rtype != _NONE[elf.e_machine]
    rela, rtype = rela[keep], rtype[keep]
    unknown = sorted(set(np.unique(rtype).tolist()) - set(kinds))
    if unknown:
        raise _error(where, "unsupported relocation type %d" % unknown[0])
    with np.errstate(over="ignore"):
        value = _symbol_values(where, elf, rela, bases) + rela["r_addend"].view(np.uint64)
    image = np.frombuffer(target, dtype=np.uint8)
    for kind, (width, pcrel) in kinds.items():
        pick = rtype == kind
        if not pick.any():
            continue
        offsets = rela["r_offset"][pick]
        if int(offsets.max()) > len(target) - width:
            raise _error(where, "relocation at offset %#x runs past the %d-byte section"
                         % (int(offsets.max()), len(target)))
        v = value[pick]
        if pcrel:
            with np.errstate(over="ignore"):
                v = v - (offsets + bases[target_index])
        field = np.dtype("<u8") if width == 8 else np.dtype("<u4")
        octets = v.astype(field).view(np.uint8).reshape(-1, width)
        image[offsets.astype(np.intp)[:, None] + np.arange(width)] = octets
