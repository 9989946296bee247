"""Compressed debug sections, decompressed in bounded memory.

Two encodings exist.  The gABI one (``SHF_COMPRESSED``): an ``Elf64_Chdr``
(type, reserved, size, alignment) then a zlib or zstd stream.  The older GNU
one (a ``.zdebug_*`` section): ``ZLIB``, the size as a big-endian 64-bit
number, then a zlib stream.  Either way the header states the size, which
is checked against a cap *before* anything is allocated, and the stream is
read into exactly that many bytes: one that would produce more or fewer is
refused, as binutils refuses it.
"""

from __future__ import annotations

import errno
import struct
import zlib

from pymod.errors import PymodError

__all__ = ["ELFCOMPRESS_ZLIB", "ELFCOMPRESS_ZSTD", "CHDR", "decompress_chdr", "decompress_gnu"]

ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2
CHDR = struct.Struct("<IIQQ")       # Elf64_Chdr
_GNU = struct.Struct(">4sQ")        # "ZLIB", size


def _error(where: str, message: str) -> PymodError:
    return PymodError(errno.ENOEXEC, "%s: %s" % (where, message))


def _check_size(where: str, size: int, cap: int) -> None:
    if size > cap:
        raise PymodError(errno.EFBIG, "%s: compressed section claims %d bytes, over the "
                         "%d-byte cap on a debug section" % (where, size, cap))


def _inflate(where: str, stream: memoryview, size: int) -> bytes:
    d = zlib.decompressobj()
    try:
        # at most one byte over the stated size, so a bomb stops there
        out = d.decompress(stream, size + 1)
    except zlib.error as e:
        raise _error(where, "corrupt zlib stream (%s)" % e) from None
    if len(out) != size or not d.eof:
        raise _error(where, "zlib stream gives %s bytes, the header says %d"
                     % ("more than %d" % size if len(out) > size
                        else "%d (truncated)" % len(out) if not d.eof else len(out), size))
    return out


def _unzstd(where: str, stream: memoryview, size: int) -> bytearray:
    import zstandard

    out = bytearray(size)
    view = memoryview(out)
    pos = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
        while pos < size:
            n = reader.readinto(view[pos:])
            if n == 0:
                break
            pos += n
        extra = reader.read(1)
    except zstandard.ZstdError as e:
        raise _error(where, "corrupt zstd stream (%s)" % e) from None
    if pos != size or extra:
        raise _error(where, "zstd stream gives %s bytes, the header says %d"
                     % ("more than %d" % size if extra else pos, size))
    return out


def decompress_chdr(where: str, raw: memoryview, cap: int) -> bytes | bytearray:
    """The contents of an ``SHF_COMPRESSED`` section whose bytes are ``raw``."""
    if len(raw) < CHDR.size:
        raise _error(where, "compressed section of %d bytes is shorter than its %d-byte "
                     "header" % (len(raw), CHDR.size))
    ch_type, _reserved, size, _align = CHDR.unpack_from(raw)
    if ch_type not in (ELFCOMPRESS_ZLIB, ELFCOMPRESS_ZSTD):
        raise _error(where, "unknown compression type %d" % ch_type)
    _check_size(where, size, cap)
    if ch_type == ELFCOMPRESS_ZLIB:
        return _inflate(where, raw[CHDR.size:], size)
    return _unzstd(where, raw[CHDR.size:], size)


def decompress_gnu(where: str, raw: memoryview, cap: int) -> bytes | bytearray:
    """The contents of a GNU ``.zdebug_*`` section whose bytes are ``raw``."""
    if len(raw) < _GNU.size or bytes(raw[:4]) != b"ZLIB":
        raise _error(where, ".zdebug section without its 12-byte ZLIB header")
    _magic, size = _GNU.unpack_from(raw)
    _check_size(where, size, cap)
    return _inflate(where, raw[_GNU.size:], size)
