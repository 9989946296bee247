"""Mutations of a real module, drawn by Hypothesis.

Each strategy takes a :class:`Base` (one real module, read once) and draws
a :class:`~devtools.oracle.model.Image`: the signed or unsigned image with
byte patches, cut or extended.  Fields are patched in place so that every
mutant differs from a real module in exactly the way its description says.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hypothesis import strategies as st

from pymod.oracle.model import Image

EHDR_FIELDS = {  # name: (offset, size)
    "e_ident[EI_CLASS]": (4, 1), "e_ident[EI_DATA]": (5, 1), "e_ident[EI_VERSION]": (6, 1),
    "e_ident[EI_MAG0]": (0, 1), "e_type": (16, 2), "e_machine": (18, 2), "e_version": (20, 4),
    "e_shoff": (40, 8), "e_ehsize": (52, 2), "e_shentsize": (58, 2), "e_shnum": (60, 2),
    "e_shstrndx": (62, 2), "e_phoff": (32, 8), "e_phnum": (56, 2), "e_flags": (48, 4),
}
SHDR_FIELDS = {"sh_name": (0, 4), "sh_type": (4, 4), "sh_flags": (8, 8), "sh_addr": (16, 8),
               "sh_offset": (24, 8), "sh_size": (32, 8), "sh_link": (40, 4), "sh_info": (44, 4),
               "sh_addralign": (48, 8), "sh_entsize": (56, 8)}
SYM_FIELDS = {"st_name": (0, 4), "st_info": (4, 1), "st_other": (5, 1), "st_shndx": (6, 2),
              "st_value": (8, 8), "st_size": (16, 8)}
RELA_FIELDS = {"r_offset": (0, 8), "r_info.type": (8, 4), "r_info.sym": (12, 4),
               "r_addend": (16, 8)}
NAMED_SECTIONS = (".modinfo", "__versions", ".symtab", ".strtab", ".shstrtab",
                  ".gnu.linkonce.this_module", ".text", ".init.text", ".data",
                  ".rela.text", "__ksymtab", ".data..percpu", ".exit.text", "__param")
MODINFO_EDITS = ("vermagic", "name", "license", "retpoline", "intree", "depends",
                 "srcversion", "merge")
LICENSES = (b"GPL", b"BSD", b"MIT", b"Pro", b"gpl", b"")


@dataclass
class Base:
    """One real module, read once: its signed image, its unsigned ELF."""

    name: str
    signed: bytes                # the ELF with its signature trailer
    payload: bytes               # the ELF alone

    @cached_property
    def elf(self) -> Any:
        from pymod.elf.image import ElfImage

        return ElfImage(self.payload)

    @cached_property
    def shoff(self) -> int:
        return int(struct.unpack_from("<Q", self.payload, 40)[0])

    def section(self, name: str) -> Any:
        return self.elf.section(name)

    @property
    def sig_start(self) -> int:
        return len(self.payload)


def _value(bits: int, orig: int) -> st.SearchStrategy[int]:
    top = (1 << bits) - 1
    near = [v & top for v in (orig - 1, orig + 1, orig * 2, orig >> 1, orig ^ 1)]
    return st.one_of(st.sampled_from(sorted({0, 1, 2, 3, 7, 0xff & top, top, top >> 1, *near})),
                     st.integers(0, top))


def _int_patch(draw: Any, data: bytes, off: int, size: int) -> tuple[int, bytes]:
    orig = int.from_bytes(data[off:off + size], "little")
    new = draw(_value(8 * size, orig).filter(lambda v: v != orig))
    return off, new.to_bytes(size, "little")


def ehdr(draw: Any, base: Base) -> tuple[str, Image]:
    field = draw(st.sampled_from(sorted(EHDR_FIELDS)))
    off, size = EHDR_FIELDS[field]
    patch = _int_patch(draw, base.payload, off, size)
    return ("%s=%#x" % (field, int.from_bytes(patch[1], "little")),
            Image(base.payload, len(base.payload), (patch,)))


def _pick_section(draw: Any, base: Base) -> Any:
    secs = base.elf.sections
    named = [s for s in secs if s.name in NAMED_SECTIONS]
    return draw(st.one_of(st.sampled_from(named), st.sampled_from(secs)))


def shdr(draw: Any, base: Base) -> tuple[str, Image]:
    sec = _pick_section(draw, base)
    field = draw(st.sampled_from(sorted(SHDR_FIELDS)))
    off, size = SHDR_FIELDS[field]
    patch = _int_patch(draw, base.payload, base.shoff + 64 * sec.index + off, size)
    return ("section %d (%s) %s=%#x" % (sec.index, sec.name, field,
                                        int.from_bytes(patch[1], "little")),
            Image(base.payload, len(base.payload), (patch,)))


def _entry_patch(draw: Any, base: Base, sec: Any, entsize: int, fields: dict[str, tuple[int, int]]
                 ) -> tuple[str, tuple[int, bytes]]:
    count = max(1, sec.size // entsize)
    i = draw(st.integers(0, count - 1))
    field = draw(st.sampled_from(sorted(fields)))
    off, size = fields[field]
    patch = _int_patch(draw, base.payload, sec.offset + entsize * i + off, size)
    return "%s[%d].%s=%#x" % (sec.name, i, field, int.from_bytes(patch[1], "little")), patch


def symtab(draw: Any, base: Base) -> tuple[str, Image]:
    what, patch = _entry_patch(draw, base, base.section(".symtab"), 24, SYM_FIELDS)
    return what, Image(base.payload, len(base.payload), (patch,))


def rela(draw: Any, base: Base) -> tuple[str, Image]:
    relas = [s for s in base.elf.sections if s.type == 4 and s.size >= 24]
    what, patch = _entry_patch(draw, base, draw(st.sampled_from(relas)), 24, RELA_FIELDS)
    return what, Image(base.payload, len(base.payload), (patch,))


def versions(draw: Any, base: Base) -> tuple[str, Image]:
    sec = base.section("__versions")
    i = draw(st.integers(0, sec.size // 64 - 1))
    at = sec.offset + 64 * i
    name = base.payload[at + 8:at + 64].split(b"\0")[0]
    if draw(st.booleans()):
        crc = draw(st.integers(0, 0xFFFFFFFF))
        return ("__versions[%s] crc=%#x" % (name.decode(), crc),
                Image(base.payload, len(base.payload), ((at, struct.pack("<Q", crc)),)))
    pos = draw(st.integers(0, max(0, len(name) - 1)))
    return ("__versions[%s] name byte %d -> X" % (name.decode(), pos),
            Image(base.payload, len(base.payload), ((at + 8 + pos, b"X"),)))


def modinfo(draw: Any, base: Base) -> tuple[str, Image]:
    sec = base.section(".modinfo")
    blob = base.payload[sec.offset:sec.offset + sec.size]
    edit = draw(st.sampled_from(MODINFO_EDITS))
    key = {"merge": "name", "depends": "depends", "srcversion": "srcversion"}.get(edit, edit)
    at = blob.find(key.encode() + b"=")
    if at < 0:
        return "modinfo: no %s= (unchanged)" % key, Image.of(base.payload)
    value_at = at + len(key) + 1
    value = blob[value_at:blob.index(b"\0", value_at)]
    start = sec.offset + value_at
    if edit == "merge":                   # the NUL after name= becomes 'x'
        return "modinfo: name= runs into the next entry", Image(
            base.payload, len(base.payload), ((start + len(value), b"x"),))
    if edit in ("intree", "retpoline") and draw(st.booleans()):
        return "modinfo: %s= renamed away" % key, Image(
            base.payload, len(base.payload), ((sec.offset + at, b"X"),))
    if edit == "license":
        lic = draw(st.sampled_from(LICENSES))[:len(value)]
        new = lic + b"\0" * (len(value) - len(lic))
    else:
        pos = draw(st.integers(0, max(0, len(value) - 1)))
        ch = draw(st.sampled_from(b"0AZ_ .-x\0"))
        new = value[:pos] + bytes([ch]) + value[pos + 1:]
    return ("modinfo: %s=%r" % (key, new.split(b"\0")[0].decode(errors="replace")),
            Image(base.payload, len(base.payload), ((start, new),)))


def this_module(draw: Any, base: Base) -> tuple[str, Image]:
    sec = base.section(".gnu.linkonce.this_module")
    off = draw(st.one_of(st.integers(24, 24 + 55), st.integers(0, sec.size - 1)))
    byte = draw(st.integers(0, 255))
    return ("this_module byte %d=%#x" % (off, byte),
            Image(base.payload, len(base.payload), ((sec.offset + off, bytes([byte])),)))


def signature(draw: Any, base: Base) -> tuple[str, Image]:
    img = base.signed
    marker = len(img) - 28
    info = marker - 12
    where = draw(st.sampled_from(("pkcs7", "info", "marker", "sig_len", "cut")))
    if where == "cut":
        n = draw(st.integers(1, len(img) - base.sig_start))
        return "signature trailer cut by %d bytes" % n, Image(img, len(img) - n)
    if where == "sig_len":
        v = draw(_value(32, int.from_bytes(img[info + 8:info + 12], "big")))
        return "sig_len=%d" % v, Image(img, len(img), ((info + 8, v.to_bytes(4, "big")),))
    lo, hi = {"pkcs7": (base.sig_start, info), "info": (info, info + 8),
              "marker": (marker, len(img))}[where]
    off = draw(st.integers(lo, hi - 1))
    byte = draw(st.integers(0, 255).filter(lambda b: b != img[off]))
    return ("signature %s byte %d=%#x" % (where, off - lo, byte),
            Image(img, len(img), ((off, bytes([byte])),)))


def truncate(draw: Any, base: Base) -> tuple[str, Image]:
    img = draw(st.sampled_from((base.signed, base.payload)))
    n = draw(st.one_of(st.sampled_from((0, 1, 63, 64, 65)), st.integers(0, len(img) - 1)))
    return "cut to %d of %d bytes" % (n, len(img)), Image(img, n)


def append(draw: Any, base: Base) -> tuple[str, Image]:
    img = draw(st.sampled_from((base.signed, base.payload)))
    extra = draw(st.binary(min_size=1, max_size=64))
    return ("%d bytes appended" % len(extra),
            Image(img, len(img) + len(extra), ((len(img), extra),)))


ELF_MUTATIONS = {"ehdr": ehdr, "shdr": shdr, "symtab": symtab, "rela": rela,
                 "versions": versions, "modinfo": modinfo, "this_module": this_module,
                 "signature": signature, "truncate": truncate, "append": append}
