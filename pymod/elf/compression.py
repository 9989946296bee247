"""Reading a module file's bytes: the size cap, mapping, decompression.

The one place every tool gets a module's (decompressed) bytes from: the
loader through :mod:`pymod.elf.kofile`, ``pymod info`` and ``pymod deps``
directly.  It imports only what reading needs (the decompressors load on
first use), so a tool scanning an uncompressed tree starts fast.
"""

from __future__ import annotations

import errno
import os
import zlib
from typing import TYPE_CHECKING, Protocol, overload

from pymod.elf.constants import MAX_DECOMPRESSED
from pymod.errors import ModuleLoadError, PymodError

if TYPE_CHECKING:
    import mmap

__all__ = ["MAX_DECOMPRESSED", "detect_compression", "decompress", "decompressed",
           "read_file", "map_file", "file_too_big"]


_MAGICS = (
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


class _Decompressor(Protocol):
    """What zlib's ``decompressobj()`` and ``lzma.LZMADecompressor`` share."""

    @property
    def eof(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int, /) -> bytes: ...


# --------------------------------------------------------------------------
# Decompression

def detect_compression(data: bytes | memoryview | mmap.mmap) -> str | None:
    """``"gzip"``, ``"xz"`` or ``"zstd"`` by magic (kernel/module/decompress.c), else None."""
    head = bytes(data[:6])
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return kind
    return None


def _decompress_error(kind: str, detail: str) -> ModuleLoadError:
    return ModuleLoadError(errno.EINVAL, "%s decompression failed: %s" % (kind, detail),
                           stage="decompress")


def _too_big(kind: str, max_size: int) -> ModuleLoadError:
    return ModuleLoadError(errno.EFBIG,
                           "%s data decompresses to more than %d bytes (the cap)"
                           % (kind, max_size), stage="decompress")


def _decompress_bounded(kind: str, dec: _Decompressor,
                        errors: type[Exception] | tuple[type[Exception], ...], data: bytes,
                        max_size: int) -> bytes:
    """Drive a zlib/lzma-style decompressor with a hard output cap."""
    try:
        out = dec.decompress(data, max_size + 1)
    except errors as exc:
        raise _decompress_error(kind, str(exc)) from None
    if len(out) > max_size:
        raise _too_big(kind, max_size)
    if not dec.eof:
        raise _decompress_error(kind, "truncated input (no end of stream)")
    return out


def _decompress_zstd(data: bytes, max_size: int) -> bytes:
    import zstandard

    chunks: list[bytes] = []
    total = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(
                data, read_across_frames=True, closefd=False) as reader:
            while True:
                chunk = reader.read(min(1 << 20, max_size + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > max_size:
                    raise _too_big("zstd", max_size)
                chunks.append(chunk)
    except zstandard.ZstdError as exc:
        raise _decompress_error("zstd", str(exc)) from None
    if total == 0:
        raise _decompress_error("zstd", "no data (truncated input?)")
    return b"".join(chunks)


def decompress(data: bytes | memoryview | mmap.mmap, kind: str,
               max_size: int = MAX_DECOMPRESSED) -> bytes:
    """Decompress ``data`` of the given kind, producing at most ``max_size`` bytes.

    Decoder errors (corrupt or truncated input) raise ``ModuleLoadError``
    (EINVAL, stage ``"decompress"``), as the kernel does; output past the cap
    raises EFBIG.  Only the first gzip member / xz stream is read, like the
    kernel's single-shot decoders.
    """
    data = bytes(data)
    if kind == "gzip":
        return _decompress_bounded(kind, zlib.decompressobj(16 + zlib.MAX_WBITS), zlib.error,
                                   data, max_size)
    if kind == "xz":
        import lzma  # loads liblzma: only for trees that need it

        return _decompress_bounded(kind, lzma.LZMADecompressor(lzma.FORMAT_XZ), lzma.LZMAError,
                                   data, max_size)
    if kind == "zstd":
        return _decompress_zstd(data, max_size)
    raise ModuleLoadError(errno.EINVAL, "unknown compression %r" % (kind,), stage="decompress")


def file_too_big(path: str | None, max_size: int) -> PymodError:
    """The EFBIG a file (or image) past the cap gets."""
    return PymodError(errno.EFBIG, "%s is larger than %d bytes (the cap)"
                      % (path or "module image", max_size))


def read_file(path: str, max_size: int = MAX_DECOMPRESSED) -> bytes:
    """A module file's bytes; larger than ``max_size`` raises EFBIG before reading."""
    with open(path, "rb", buffering=0) as f:
        # The size first: read(max_size + 1) would allocate the whole cap.
        size = os.fstat(f.fileno()).st_size
        if size > max_size:
            raise file_too_big(path, max_size)
        # A size of 0 is also what pipes and /proc files report: read to the cap.
        raw = f.read() if size else f.read(max_size + 1)
    if len(raw) > max_size:  # grew while we read it
        raise file_too_big(path, max_size)
    return raw


def map_file(path: str, max_size: int = MAX_DECOMPRESSED) -> bytes | mmap.mmap:
    """A module file's bytes, mapped rather than read (tools that look at a
    few tables touch only those pages); EFBIG past ``max_size``.  A file that
    reports size 0 (a pipe, a /proc file) is read, to the cap."""
    import mmap

    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_size:
            raise file_too_big(path, max_size)
        if size:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return read_file(path, max_size)  # nothing to map


@overload
def decompressed(data: bytes, max_size: int = ...) -> bytes: ...
@overload
def decompressed(data: bytes | mmap.mmap, max_size: int = ...) -> bytes | mmap.mmap: ...
def decompressed(data: bytes | mmap.mmap, max_size: int = MAX_DECOMPRESSED) -> bytes | mmap.mmap:
    """``data`` decompressed when its magic names a compression, else ``data``."""
    kind = detect_compression(data)
    return decompress(data, kind, max_size) if kind else data
