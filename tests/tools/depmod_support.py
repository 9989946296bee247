"""Test data for the depmod tests: minimal ELF64 relocatable images and tiny trees.

The images are written here (a symbol table with ``__crc_`` exports and
undefined needs, optionally ``__versions`` and ``__ksymtab_strings``).  When
kmod's ``depmod`` is installed, ``depmod_reference`` gives its view of a tree.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

DEPMOD = shutil.which("depmod") or next(
    (p for p in ("/sbin/depmod", "/usr/sbin/depmod") if os.path.exists(p)), None)
RELEASE = "6.12.0-pymod-test"


# --------------------------------------------------------------------------
# A minimal ELF64 relocatable image (test data, not a reader)
_Section = tuple[str, int, bytes, int, int, int]  # name, type, data, link, info, entsize


def make_ko(exports: Sequence[str] = (), needs: Sequence[str] = (), weak: Sequence[str] = (),
            versions: Sequence[str] | None = None,
            ksymtab_strings: Sequence[str] | None = None) -> bytes:
    """An ET_REL x86-64 image exporting ``exports`` (as ``__crc_`` symbols) and
    needing ``needs`` then ``weak`` (undefined, in that symbol-table order)."""
    sections: list[_Section] = []

    def add(name: str, typ: int, data: bytes, link: int = 0, info: int = 0,
            entsize: int = 0) -> int:
        sections.append((name, typ, data, link, info, entsize))
        return len(sections)  # index counting the null section

    text = add(".text", 1, b"\xc3" * 16)
    kcrc = add("__kcrctab", 1, b"".join(struct.pack("<I", 0x1000 + i) for i in range(len(exports))))
    if ksymtab_strings is not None:
        add("__ksymtab_strings", 1, b"".join(s.encode() + b"\0" for s in ksymtab_strings))
    if versions is not None:
        add("__versions", 1, b"".join(struct.pack("<Q56s", 0xABC, v.encode()) for v in versions))

    strtab = bytearray(b"\0")
    syms = [struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)]

    def sym(name: str, bind: int, typ: int, shndx: int, value: int = 0) -> None:
        syms.append(struct.pack("<IBBHQQ", len(strtab), bind << 4 | typ, 0, shndx, value, 0))
        strtab.extend(name.encode() + b"\0")

    for i, name in enumerate(exports):
        sym("__crc_" + name, 1, 0, kcrc, 4 * i)
        sym(name, 1, 2, text, 0)
    for name in needs:
        sym(name, 1, 0, 0)
    for name in weak:
        sym(name, 2, 0, 0)
    symtab_index = len(sections) + 1
    add(".symtab", 2, b"".join(syms), link=symtab_index + 1, info=1, entsize=24)
    add(".strtab", 3, bytes(strtab))
    shstr = bytearray(b"\0")
    name_offsets = []
    for s in sections + [(".shstrtab",)]:
        name_offsets.append(len(shstr))
        shstr.extend(s[0].encode() + b"\0")
    sections.append((".shstrtab", 3, bytes(shstr), 0, 0, 0))

    body = bytearray(64)
    headers = [b"\0" * 64]
    for (_, typ, data, link, info, entsize), noff in zip(sections, name_offsets, strict=True):
        while len(body) % 8:
            body.append(0)
        headers.append(struct.pack("<IIQQQQIIQQ", noff, typ, 0, 0, len(body), len(data),
                                   link, info, 8 if typ != 3 else 1, entsize))
        body.extend(data)
    while len(body) % 8:
        body.append(0)
    shoff = len(body)
    body.extend(b"".join(headers))
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    body[:64] = struct.pack("<16sHHIQQQIHHHHHH", ident, 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0,
                            64, len(headers), len(headers) - 1)
    return bytes(body)


def write_tree(root: Path, modules: dict[str, bytes], order: list[str] | None) -> Path:
    top = root / "lib" / "modules" / RELEASE
    for rel, data in modules.items():
        p = top / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".xz"):
            data = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
        elif rel.endswith(".gz"):
            data = gzip.compress(data)
        p.write_bytes(data)
    top.mkdir(parents=True, exist_ok=True)
    if order is not None:
        (top / "modules.order").write_text("".join(o + "\n" for o in order))
    return top


def depmod_reference(base: Path) -> list[str]:
    """modules.dep as kmod's depmod prints it for ``base`` (``-n``: nothing written)."""
    out = subprocess.run([DEPMOD, "-n", "-b", str(base), RELEASE], check=True,
                         capture_output=True, text=True).stdout
    lines = []
    for line in out.splitlines():
        if line.startswith("#"):
            break
        lines.append(line)
    return lines


def sample_tree() -> tuple[dict[str, bytes], list[str]]:
    mods = {
        "kernel/drivers/top.ko.xz": make_ko(needs=["mid_fn", "lib_fn", "printk"]),
        "kernel/drivers/mid.ko": make_ko(exports=["mid_fn"], needs=["lib_fn", "base_fn"]),
        "kernel/lib/lib.ko": make_ko(exports=["lib_fn"], needs=["base_fn"]),
        "kernel/lib/base.ko": make_ko(exports=["base_fn"]),
        "kernel/lib/side-car.ko": make_ko(needs=["opt_fn"], weak=["base_fn"]),
        "kernel/extra/unlisted.ko": make_ko(needs=["mid_fn"]),
        "kernel/extra/dup.ko": make_ko(exports=["opt_fn"]),
        "updates/dup.ko": make_ko(exports=["opt_fn"], needs=["lib_fn"]),
        "kernel/twice/first.ko": make_ko(exports=["shared_fn"]),
        "kernel/twice/second.ko": make_ko(exports=["shared_fn"]),
        "kernel/twice/user.ko": make_ko(needs=["shared_fn"]),
        "build/ignored.ko": make_ko(),
        "kernel/lib/readme.txt": b"not a module",
    }
    order = ["kernel/lib/base.ko", "kernel/lib/lib.ko", "kernel/drivers/mid.ko",
             "kernel/drivers/top.ko", "kernel/lib/side-car.ko", "kernel/extra/dup.ko",
             "kernel/twice/first.ko", "kernel/twice/second.ko", "kernel/twice/user.ko"]
    return mods, order
