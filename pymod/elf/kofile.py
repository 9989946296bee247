"""Reading a module file: decompression, the signature trailer, a lenient ELF64 view.

This is the one ELF reader of pymod.  It is deliberately *lenient*: it reads
whatever can be read safely and refuses (with :class:`PymodError`, ENOEXEC)
only what it cannot read without going out of bounds.  It does not apply the
kernel's validity rules; the loader does that, in the kernel's order and with
the kernel's messages, using the raw header fields exposed here.

Everything works on the raw bytes with ``struct``/numpy: a full parse of a
typical module costs well under a millisecond, so 1000+ modules stay cheap.
Nothing copies a whole module: the signature split and :class:`ElfImage`
work on views.  numpy is imported only when a symbol table is read, so the
tools that never need one (``pymod info``, ``pymod deps``) start faster.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable, NamedTuple

from pymod.elf.compression import (  # noqa: F401  (part of this module's API)
    MAX_DECOMPRESSED,
    file_too_big,
    decompress,
    decompressed,
    detect_compression,
    map_file,
    read_file,
)
from pymod.errors import PymodError

__all__ = [
    "MAX_DECOMPRESSED",
    "MODULE_SIG_STRING",
    "PKEY_ID_PKCS7",
    "SHT_NULL", "SHT_PROGBITS", "SHT_SYMTAB", "SHT_STRTAB", "SHT_RELA",
    "SHT_NOBITS", "SHT_REL",
    "SHF_WRITE", "SHF_ALLOC", "SHF_EXECINSTR",
    "SHN_UNDEF", "SHN_COMMON",
    "STB_LOCAL", "STB_GLOBAL", "STB_WEAK",
    "ELF64_EHDR_SIZE", "ELF64_SHDR_SIZE", "ELF64_SYM_SIZE",
    "SYM_DTYPE",
    "detect_compression", "decompress",
    "SigInfo", "SigSplit", "split_signature",
    "Section", "ElfImage",
    "KoFile", "read_ko", "read_file", "map_file", "decompressed", "ko_from_raw", "c_string",
    "string_reader",
]

MODULE_SIG_STRING = b"~Module signature appended~\n"
PKEY_ID_PKCS7 = 2
_SIG_STRUCT = struct.Struct(">BBBBB3xI")  # struct module_signature, 12 bytes
_SIG_PAD = slice(5, 8)

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOBITS, SHT_REL = 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_UNDEF, SHN_COMMON = 0, 0xFFF2
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2

ELF64_EHDR_SIZE = 64
ELF64_SHDR_SIZE = 64
ELF64_SYM_SIZE = 24

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")

if TYPE_CHECKING:
    import numpy as np

_SYM_FIELDS = [
    ("st_name", "<u4"), ("st_info", "u1"), ("st_other", "u1"),
    ("st_shndx", "<u2"), ("st_value", "<u8"), ("st_size", "<u8"),
]


def __getattr__(name: str):
    # SYM_DTYPE is built on first use: importing numpy costs a tenth of a
    # second, more than `pymod info` on a module needs altogether.
    if name == "SYM_DTYPE":
        return _sym_dtype()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _sym_dtype() -> np.dtype:
    dtype = globals().get("SYM_DTYPE")
    if dtype is None:
        import numpy as np

        dtype = globals()["SYM_DTYPE"] = np.dtype(_SYM_FIELDS)
    return dtype

def _enoexec(message: str) -> PymodError:
    return PymodError(errno.ENOEXEC, message)


# --------------------------------------------------------------------------
# Signature trailer

@dataclass(frozen=True)
class SigInfo:
    """``struct module_signature`` plus the PKCS#7 blob it describes."""

    algo: int
    hash: int
    id_type: int
    signer_len: int
    key_id_len: int
    sig_len: int
    pkcs7: bytes


class SigSplit(NamedTuple):
    """Result of :func:`split_signature`.

    ``payload``  what the kernel goes on to parse as ELF: the bytes without
                 marker, struct and signature when the trailer parsed (errno 0);
                 without the marker only when the trailer was malformed
                 (EBADMSG/ENOPKG, as ``info->len`` is left then); everything
                 when there is no trailer (ENODATA).  A view into the data
                 given (``data`` itself when nothing is cut off), not a copy.
    ``sig``      the trailer when its struct could be read in bounds, else None.
    ``errno``    0 or the positive errno of the kernel's trailer parsing.
    """

    payload: bytes | memoryview
    sig: SigInfo | None
    errno: int


def split_signature(data: bytes | memoryview) -> SigSplit:
    """Parse and strip the module signature trailer (module_sig_check/mod_verify_sig)."""
    mlen = len(MODULE_SIG_STRING)
    view = memoryview(data)
    if len(data) <= mlen or view[-mlen:] != MODULE_SIG_STRING:
        return SigSplit(data, None, errno.ENODATA)
    modlen = len(data) - mlen
    body = view[:modlen]
    if modlen <= _SIG_STRUCT.size:
        return SigSplit(body, None, errno.EBADMSG)
    raw = bytes(view[modlen - _SIG_STRUCT.size:modlen])
    algo, hash_, id_type, signer_len, key_id_len, sig_len = _SIG_STRUCT.unpack(raw)
    if sig_len >= modlen - _SIG_STRUCT.size:
        return SigSplit(body, None, errno.EBADMSG)
    end = modlen - _SIG_STRUCT.size
    info = SigInfo(algo, hash_, id_type, signer_len, key_id_len, sig_len,
                   bytes(view[end - sig_len:end]))
    if id_type != PKEY_ID_PKCS7:
        return SigSplit(body, info, errno.ENOPKG)
    if algo or hash_ or signer_len or key_id_len or any(raw[_SIG_PAD]):
        return SigSplit(body, info, errno.EBADMSG)
    return SigSplit(view[:end - sig_len], info, 0)


# --------------------------------------------------------------------------
# ELF

class Section(NamedTuple):
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


def c_string(buf: bytes, offset: int) -> str:
    """NUL-terminated string at ``offset`` (to the end if unterminated); "" when out of range."""
    if offset < 0 or offset >= len(buf):
        return ""
    end = buf.find(b"\0", offset)
    return buf[offset:end if end >= 0 else len(buf)].decode("utf-8", "surrogateescape")


def string_reader(buf: bytes) -> Callable[[int], str]:
    """``offset -> c_string(buf, offset)`` for many lookups in one string table.

    An ASCII table (every real one) is decoded once, with a NUL appended so
    that every lookup finds an end; other tables go through :func:`c_string`.
    """
    if not buf.isascii():
        return lambda offset: c_string(buf, offset)
    text = buf.decode("ascii") + "\0"
    find = text.find
    size = len(buf)

    def name_at(offset: int) -> str:
        if offset < 0 or offset >= size:
            return ""
        return text[offset:find("\0", offset)]
    return name_at


class ElfImage:
    """A lenient, bounds-checked view of an ELF64 little-endian relocatable image.

    The header is read at construction (a buffer shorter than an ELF header
    raises ``PymodError`` ENOEXEC).  Section headers, symbols and strings are
    read on first use; whatever would read outside the buffer raises
    ``PymodError`` ENOEXEC naming what was out of bounds.  Section names that
    cannot be resolved (bad ``e_shstrndx``, ``sh_name`` out of range) read as "".
    No kernel validity rule (magic, type, machine...) is enforced here.
    """

    def __init__(self, payload: bytes | bytearray | memoryview):
        # bytes are kept as they are; anything else is viewed, never copied.
        self.data = payload if isinstance(payload, bytes) else memoryview(payload).cast("B")
        if len(self.data) < ELF64_EHDR_SIZE:
            raise _enoexec("image of %d bytes is shorter than an ELF64 header (%d)"
                           % (len(self.data), ELF64_EHDR_SIZE))
        (self.e_ident, self.e_type, self.e_machine, self.e_version, self.e_entry,
         self.e_phoff, self.e_shoff, self.e_flags, self.e_ehsize, self.e_phentsize,
         self.e_phnum, self.e_shentsize, self.e_shnum, self.e_shstrndx) = _EHDR.unpack_from(self.data)
        self._by_name: dict[str, Section] | None = None

    def __len__(self) -> int:
        return len(self.data)

    @cached_property
    def sections(self) -> list[Section]:
        if self.e_shnum == 0:
            return []
        if self.e_shentsize != ELF64_SHDR_SIZE:
            raise _enoexec("e_shentsize is %d, not %d: cannot read section headers"
                           % (self.e_shentsize, ELF64_SHDR_SIZE))
        end = self.e_shoff + self.e_shnum * ELF64_SHDR_SIZE
        if end > len(self.data):
            raise _enoexec("section header table (offset %#x, %d entries) runs past the "
                           "end of the %d-byte image" % (self.e_shoff, self.e_shnum, len(self.data)))
        raw = list(_SHDR.iter_unpack(self.data[self.e_shoff:end]))
        names = b""
        if self.e_shstrndx < len(raw):
            s = raw[self.e_shstrndx]
            if s[1] != SHT_NOBITS and s[4] + s[5] <= len(self.data):
                names = bytes(self.data[s[4]:s[4] + s[5]])
        name_of = string_reader(names)
        make = tuple.__new__  # what Section._make does, without a call per field
        return [make(Section, (i, name_of(r[0]), *r[1:])) for i, r in enumerate(raw)]

    def section(self, name: str) -> Section | None:
        """The first section called ``name``, or None."""
        if self._by_name is None:
            by_name: dict[str, Section] = {}
            for s in self.sections:
                by_name.setdefault(s.name, s)
            self._by_name = by_name
        return self._by_name.get(name)

    def sections_named(self, name: str) -> list[Section]:
        """Every section called ``name`` (the kernel rejects some duplicates)."""
        return [s for s in self.sections if s.name == name]

    def data_of(self, section: Section) -> memoryview:
        """The file bytes of ``section`` (empty for SHT_NOBITS); bounds-checked."""
        if section.type == SHT_NOBITS:
            return memoryview(b"")
        end = section.offset + section.size
        if end > len(self.data):
            raise _enoexec("section %d (%s) at offset %#x size %#x runs past the end of "
                           "the %d-byte image" % (section.index, section.name or "?",
                                                  section.offset, section.size, len(self.data)))
        return memoryview(self.data)[section.offset:end]

    def bytes_of(self, section: Section) -> bytes:
        return bytes(self.data_of(section))

    @cached_property
    def symtab_section(self) -> Section | None:
        for s in self.sections:
            if s.type == SHT_SYMTAB:
                return s
        return None

    @cached_property
    def _strtab(self) -> bytes:
        sym = self.symtab_section
        if sym is None:
            return b""
        if sym.link >= len(self.sections):
            raise _enoexec("symbol table's sh_link %d is not a section" % sym.link)
        return self.bytes_of(self.sections[sym.link])

    def symbols(self) -> np.ndarray:
        """The SHT_SYMTAB entries as a structured array (``SYM_DTYPE``); empty if none."""
        return self._symbols

    @cached_property
    def _symbols(self) -> np.ndarray:
        import numpy as np

        sym = self.symtab_section
        if sym is None:
            return np.zeros(0, dtype=_sym_dtype())
        raw = self.data_of(sym)
        return np.frombuffer(raw, dtype=_sym_dtype(), count=len(raw) // ELF64_SYM_SIZE)

    @property
    def strtab(self) -> bytes:
        """The symbol table's string table (b"" without a symbol table)."""
        return self._strtab

    def symbol_name(self, i: int) -> str:
        return self.string_at(int(self._symbols["st_name"][i]))

    @cached_property
    def string_at(self) -> Callable[[int], str]:
        """``string_at(st_name)``: a name in :attr:`strtab`, as :func:`c_string` reads it."""
        return string_reader(self._strtab)

    @cached_property
    def symbol_names(self) -> list[str]:
        """Every symbol's name, in symbol-table order."""
        name_of = self.string_at
        return [name_of(n) for n in self._symbols["st_name"].tolist()]

    def modinfo(self) -> list[tuple[str, str]]:
        """``.modinfo`` as ``(key, value)`` pairs in file order.

        Strings are split at NULs (runs of NULs are padding); a string without
        ``=`` yields ``(string, "")``.  No ``.modinfo`` gives [].
        """
        return list(self._modinfo)

    @cached_property
    def _modinfo(self) -> tuple[tuple[str, str], ...]:
        # Parsed once: a whole-tree load asks for it from several stages.
        sec = self.section(".modinfo")
        if sec is None:
            return ()
        return tuple(raw.decode("utf-8", "surrogateescape").partition("=")[::2]
                     for raw in self.bytes_of(sec).split(b"\0") if raw)


# --------------------------------------------------------------------------
# A whole module file

@dataclass
class KoFile:
    """One module file, read: compression undone, signature trailer split off.

    ``raw``      the bytes as read (possibly compressed)
    ``image``    the decompressed bytes (== raw when uncompressed), trailer included
    ``payload``  what the kernel parses as ELF (see :class:`SigSplit`): a view
                 into ``image``
    """

    path: str | None
    raw: bytes
    compression: str | None
    image: bytes
    payload: bytes | memoryview
    sig: SigInfo | None
    sig_errno: int
    elf: ElfImage


def read_ko(path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview,
            max_size: int = MAX_DECOMPRESSED) -> KoFile:
    """Read a ``.ko``/``.ko.gz``/``.ko.xz``/``.ko.zst`` file (or its bytes).

    ``max_size`` caps both the file size and the decompressed size.
    A missing file raises ``FileNotFoundError``; the rest as documented on
    :func:`decompress`, :func:`split_signature` and :class:`ElfImage`.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        path = None
        raw = bytes(path_or_bytes)
    else:
        path = os.fspath(path_or_bytes)
        raw = read_file(path, max_size)
    if len(raw) > max_size:
        raise file_too_big(path, max_size)
    return ko_from_raw(path, raw, max_size=max_size)


def ko_from_raw(path: str | None, raw: bytes, image: bytes | None = None,
                max_size: int = MAX_DECOMPRESSED) -> KoFile:
    """The :class:`KoFile` of a file's bytes; ``image`` is ``raw`` decompressed
    when the caller already did that (e.g. on another thread)."""
    kind = detect_compression(raw)
    if image is None:
        image = decompressed(raw, max_size)
    split = split_signature(image)
    return KoFile(path, raw, kind, image, split.payload, split.sig, split.errno,
                  ElfImage(split.payload))
