"""The text of ``%pS`` and its kin (``lib/vsprintf.c`` ``symbol_string`` and
``kernel/kallsyms.c`` ``__sprint_symbol``).

* ``S``: ``name+0xoff/0xsize [module]``;
* ``s``: ``name [module]`` (no offset, no size);
* ``B``: as ``S`` for ``addr - 1``, the offset printed plus one;
* ``Sb``, ``Bb``: ``S``, ``B`` with the module's build id,
  ``[module <40 hex digits>]``;
* not found, any format: ``0x%lx`` of the address as given.

vmlinux symbols carry no ``[module]``.  ``R`` after ``S``/``s``/``B``
(``%pSR``) only undoes a return-address mangling that x86 does not have,
so it prints the same.  ``%ps`` keeps the module: ``sprint_symbol_no_offset``
drops only the offset and size, and ignores ``b``.  Numbers use the
kernel's ``%#lx``, which prints 0 as ``0x0``.  The build id is printed as
20 bytes of hex (``%20phN``), a shorter one padded with zero bytes as the
kernel stores it; with ``build_id`` None (a kernel without
CONFIG_STACKTRACE_BUILD_ID, or unknown) nothing is added.
"""

from __future__ import annotations

from typing import NamedTuple

from pymod.errors import InvalidArgument

__all__ = ["Format", "parse_format", "format_symbol", "format_unknown", "FORMATS"]

BUILD_ID_SIZE = 20


class Format(NamedTuple):
    """What a format asks for."""

    backtrace: bool      # look up addr - 1 and print offset + 1
    add_offset: bool     # +0xoff/0xsize
    add_build_id: bool   # the module's build id inside the brackets


FORMATS: dict[str, Format] = {
    "S": Format(False, True, False),
    "SR": Format(False, True, False),
    "Sb": Format(False, True, True),
    "SRb": Format(False, True, True),
    "s": Format(False, False, False),
    "sR": Format(False, False, False),
    "sb": Format(False, False, False),
    "B": Format(True, True, False),
    "BR": Format(True, True, False),
    "BRb": Format(True, True, False),
    "sRb": Format(False, False, False),
    "Bb": Format(True, True, True),
}


def parse_format(fmt: str | Format) -> Format:
    """``"S"``, ``"%pS"``, ``"pB"`` ... (see the table above) as a :class:`Format`."""
    if isinstance(fmt, Format):
        return fmt
    key = fmt[2:] if fmt.startswith("%p") else fmt[1:] if fmt.startswith("p") else fmt
    try:
        return FORMATS[key]
    except KeyError:
        raise InvalidArgument("unknown symbol format %r (one of %s)"
                              % (fmt, ", ".join(sorted(FORMATS)))) from None


def format_symbol(name: str, offset: int, size: int, module: str | None,
                  build_id: bytes | None = None, fmt: str | Format = "S") -> str:
    """A found symbol as the kernel prints it.

    ``offset`` is the one to print: for the backtrace formats the lookup of
    ``addr - 1`` plus one (what :func:`~pymod.symbolize.reference.reference_lookup`
    with ``backtrace=True`` returns).
    """
    f = parse_format(fmt)
    text = name
    if f.add_offset:
        text += "+%#x/%#x" % (offset & 0xFFFFFFFFFFFFFFFF, size & 0xFFFFFFFFFFFFFFFF)
    if module is not None:
        text += " [" + module
        if f.add_build_id and build_id is not None:
            text += " " + bytes(build_id[:BUILD_ID_SIZE]).ljust(BUILD_ID_SIZE, b"\0").hex()
        text += "]"
    return text


def format_unknown(addr: int) -> str:
    """An address nothing names: ``0x%lx`` (for ``%pB`` the address as given,
    not ``addr - 1``)."""
    return "%#x" % (addr & 0xFFFFFFFFFFFFFFFF)
