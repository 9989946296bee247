"""Splitting a ``.modinfo`` section into ``tag=value`` strings.

The section is NUL-separated strings; runs of NULs are padding.  Two readers
read it with different rules, and both are kept, named for whose rule they are:

* the kernel (``get_modinfo``/``get_next_modinfo``) only ever finds a string
  as ``tag=value``: a string without ``=`` is invisible to it;
* kmod (``kmod_elf_get_strings`` + ``kmod_module_get_info``) lists every
  string, a string without ``=`` as a key with an empty value, and skips the
  section's leading NULs (a section of one byte after them is empty).
"""

from __future__ import annotations

from pymod.elf.strings import decode

ModinfoPairs = list[tuple[str, str]]


def modinfo_strings(data: bytes | memoryview) -> list[bytes]:
    """The non-empty NUL-separated strings of ``data``, in file order."""
    return [s for s in bytes(data).split(b"\0") if s]


def kernel_modinfo(data: bytes | memoryview) -> ModinfoPairs:
    """``(tag, value)`` of every ``tag=value`` string: what ``get_modinfo`` can find."""
    out = []
    for raw in modinfo_strings(data):
        key, eq, value = raw.partition(b"=")
        if eq:
            out.append((decode(key), decode(value)))
    return out


def kmod_modinfo_strings(data: bytes | memoryview) -> list[bytes]:
    """The strings kmod's ELF reader returns for the section (leading NULs skipped)."""
    buf = bytes(data)
    start = len(buf) - len(buf.lstrip(b"\0"))
    if len(buf) - start <= 1:
        return []
    return modinfo_strings(buf[start:])


def kmod_modinfo(data: bytes | memoryview) -> ModinfoPairs:
    """``(key, value)`` of every string, as kmod lists them (no ``=``: empty value)."""
    out = []
    for raw in kmod_modinfo_strings(data):
        key, _, value = raw.partition(b"=")
        out.append((decode(key), decode(value)))
    return out
