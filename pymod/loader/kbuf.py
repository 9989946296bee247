"""What the kernel reads where no bound stops it: its copy of the module.

The kernel keeps the module it loads in one buffer (``kernel_read_file``'s
or ``copy_module_from_user``'s ``vmalloc``, or the decompressor's ``vmap``
of whole pages) and reads strings in it as C strings: a symbol name past
``.strtab``'s end, a section name past ``.shstrtab``'s (6.1 checks names of
SHF_ALLOC sections only), a ``.modinfo`` of type SHT_NOBITS (no bound
covers it: ``get_next_modinfo`` reads ``sh_size`` bytes at ``sh_offset``
whatever the type) or whose last string has no NUL.

pymod reads the same bytes without ever leaving its image.  The buffer is
the image as the kernel received it, signature trailer included (signature
checking only shortens ``info->len``), rounded up to whole pages; the rest
of the last page reads as zeros (pages are zeroed when allocated with
``init_on_alloc``, which Debian's kernels turn on:
CONFIG_INIT_ON_ALLOC_DEFAULT_ON=y in 6.1 and 6.12).  So a string that runs
into the end of the image ends there, unless the image fills its last page:
the next byte is vmalloc's guard page, and the kernel would fault.  A read
that would fault is refused as pymod's own check (:class:`KernelWouldFault`);
the kernel would oops instead.
"""

from __future__ import annotations

import errno
import re
from typing import Any

from pymod.contract.internal import PAGE_SIZE, LoadInfo
from pymod.elf.modinfo_section import ModinfoPairs
from pymod.elf.strings import decode
from pymod.errors import ModuleLoadError

__all__ = ["KernelWouldFault", "mapped_end", "c_string_end", "kernel_modinfo", "kernel_strtab"]

_NON_NUL = re.compile(rb"[^\0]")


class KernelWouldFault(ModuleLoadError):
    """A read the kernel would make past its buffer (pymod refuses it)."""


def mapped_end(info: LoadInfo) -> int:
    """Where the kernel's buffer ends: the image's length rounded up to pages."""
    return -(-len(info.payload) // PAGE_SIZE) * PAGE_SIZE


def _fault(info: LoadInfo, what: str, at: int) -> KernelWouldFault:
    return KernelWouldFault(
        errno.ENOEXEC, "%s: %s reaches byte %#x, past the kernel's %#x-byte copy of the "
        "module (pymod's own check: the kernel would fault)"
        % (info.name if info.name is not None else "module", what, at, mapped_end(info)),
        module=info.name, stage="elf")


def c_string_end(info: LoadInfo, start: int, what: str) -> int:
    """Offset of the NUL that ends the C string at ``start`` in the kernel's
    buffer (``len(payload)`` or beyond when the zeroed tail ends it)."""
    buf, end = info.payload, mapped_end(info)
    if start >= len(buf):
        if start >= end:
            raise _fault(info, what, start)
        return start
    nul = buf.find(b"\0", start)
    if nul >= 0:
        return nul
    if len(buf) == end:
        raise _fault(info, what, end)
    return len(buf)


def c_string(info: LoadInfo, start: int, what: str, limit: int | None = None) -> str:
    """The C string at ``start`` in the kernel's buffer (at most ``limit`` bytes)."""
    stop = c_string_end(info, start, what)
    if limit is not None:
        stop = min(stop, start + limit)
    return decode(bytes(info.payload[start:stop]))


def kernel_modinfo(info: LoadInfo, start: int, size: int) -> ModinfoPairs:
    """``(tag, value)`` of every ``tag=value`` string ``get_next_modinfo``
    examines in ``size`` bytes at ``start``, as its walk does: the first
    string always (even when ``size`` is 0), each next one only while
    ``next_string`` has bytes left, every string read to its NUL wherever
    that is.  A string without ``=`` is invisible to it."""
    what = ".modinfo at %#x" % start
    buf, end = info.payload, mapped_end(info)
    pairs: ModinfoPairs = []
    p = start
    while True:
        q = c_string_end(info, p, what)
        key, eq, value = bytes(buf[p:q]).partition(b"=")
        if eq:
            pairs.append((decode(key), decode(value)))
        run = q - p                      # next_string: the string's own bytes...
        if run and run >= size:
            return pairs
        size -= run
        # (no further than the bytes left: past them the walk has ended)
        limit = min(len(buf), q + size)
        m = _NON_NUL.search(buf, q, limit) if q < limit else None
        if m is None:                     # ...then NULs up to the zeroed page end
            if q + size <= len(buf) or end - q >= size:
                return pairs
            raise _fault(info, what, end)
        if m.start() - q >= size:
            return pairs
        size -= m.start() - q
        p = m.start()


def kernel_strtab(info: LoadInfo, start: int, size: int, st_name: Any) -> bytes:
    """The symbol names' table as the kernel reads it: from ``start`` (the
    string table's ``sh_offset``) to the end of the last name a symbol
    names, wherever that is; ``sh_size`` bounds nothing.  ``st_name`` is the
    symbols' name offsets (a numpy array).  Every name's read is checked,
    though the kernel reads some only (the first symbol's, the kept and the
    undefined ones)."""
    buf = info.payload
    top = start + size
    furthest = int(st_name.max()) if len(st_name) else 0
    if top <= len(buf) and furthest < size and size and buf[top - 1] == 0:
        return bytes(buf[start:top])     # every name ends inside the table
    nul = c_string_end(info, start + furthest, "the name at .strtab+%#x" % furthest)
    return bytes(buf[start:max(min(top, len(buf)), nul + 1)])
