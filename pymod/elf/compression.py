"""Reading a module file's bytes: the size cap, mapping, decompression.

The one place every tool gets a module's (decompressed) bytes from: the
loader through :mod:`pymod.elf.kofile`, ``pymod info`` and ``pymod deps``
directly.  It imports only what reading needs (the decompressors load on
first use), so a tool scanning an uncompressed tree starts fast.
"""

from __future__ import annotations

import errno
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, overload

from pymod.elf.constants import MAX_DECOMPRESSED
from pymod.errors import ModuleLoadError, PymodError

if TYPE_CHECKING:
    import mmap

__all__ = ["MAX_DECOMPRESSED", "detect_compression", "decompress", "decompressed",
           "read_file", "map_file", "file_too_big", "zstd_pieces", "join_within"]


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
        del out  # the error must not keep the output alive through its frame
        raise _too_big(kind, max_size)
    if not dec.eof:
        raise _decompress_error(kind, "truncated input (no end of stream)")
    return out


def zstd_pieces(data: bytes | memoryview, step: int = 1 << 20,
                first_frame: bool = True) -> Iterator[bytes]:
    """A zstd stream's output in pieces of ``step`` bytes (``read(n)``
    allocates n: never a cap at once).  libzstd's reader goes on into a
    following frame after the short read that ends one, so ``first_frame``
    stops at that short read (what follows a frame is then never decoded);
    otherwise every frame is read, to the end of the data.  ZstdError
    passes through: each caller has its own words for it."""
    import zstandard

    with zstandard.ZstdDecompressor().stream_reader(
            data, read_across_frames=not first_frame, closefd=False) as reader:
        while True:
            piece = reader.read(step)
            if piece:
                yield piece
            if not piece or (first_frame and len(piece) < step):
                return


def join_within(pieces: Iterable[bytes], max_size: int,
                too_big: Callable[[], Exception]) -> bytes:
    """``pieces`` joined, ``too_big()`` raised as soon as they pass
    ``max_size`` bytes (no piece is asked for after that)."""
    chunks: list[bytes] = []
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > max_size:
            chunks.clear()  # the error must not keep the output alive through this frame
            del piece
            raise too_big()
        chunks.append(piece)
    return b"".join(chunks)


def _decompress_zstd(data: bytes, max_size: int) -> bytes:
    import zstandard

    try:
        out = join_within(zstd_pieces(data, first_frame=False), max_size,
                          lambda: _too_big("zstd", max_size))
    except zstandard.ZstdError as exc:
        raise _decompress_error("zstd", str(exc)) from None
    if not out:
        raise _decompress_error("zstd", "no data (truncated input?)")
    return out


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


def _open_regular(path: str, max_size: int) -> tuple[int, int]:
    """``(fd, size)`` of a regular file no larger than ``max_size``.

    Anything else is refused before a byte is read, with the kernel's answer
    (``kernel_read_file``: EINVAL for what is not a regular file, EFBIG past
    the size limit).  O_NONBLOCK keeps the open of a FIFO from waiting for a
    writer that never comes; it changes nothing for a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PymodError(errno.EINVAL, "%s: not a regular file" % path)
        if st.st_size > max_size:
            raise file_too_big(path, max_size)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_file(path: str, max_size: int = MAX_DECOMPRESSED) -> bytes:
    """A regular file's bytes, never more than ``max_size`` (EFBIG), whatever
    the file claims or does while it is read.  What is not a regular file
    (a FIFO, a device) is refused (EINVAL) before a byte is read."""
    fd, size = _open_regular(path, max_size)
    with open(fd, "rb", buffering=0) as f:
        # One read of the size fstat gave (not of the cap: read(n) allocates n).
        # A size of 0 is what /proc files report; one that grows is read on.
        raw = f.read(size + 1) if size else b""
        if len(raw) > size or not size:
            chunks, total = [raw], len(raw)
            while total <= max_size and (chunk := f.read(min(1 << 20, max_size + 1 - total))):
                chunks.append(chunk)
                total += len(chunk)
            raw = b"".join(chunks)
    if len(raw) > max_size:
        raise file_too_big(path, max_size)
    return raw


def map_file(path: str, max_size: int = MAX_DECOMPRESSED) -> bytes | mmap.mmap:
    """A module file's bytes, mapped rather than read (tools that look at a
    few tables touch only those pages); refused as :func:`read_file` refuses.
    A regular file that reports size 0 (a /proc file) is read, to the cap."""
    import mmap

    fd, size = _open_regular(path, max_size)
    try:
        if size:
            return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    return read_file(path, max_size)  # nothing to map


@overload
def decompressed(data: bytes, max_size: int = ...) -> bytes: ...
@overload
def decompressed(data: bytes | mmap.mmap, max_size: int = ...) -> bytes | mmap.mmap: ...
def decompressed(data: bytes | mmap.mmap, max_size: int = MAX_DECOMPRESSED) -> bytes | mmap.mmap:
    """``data`` decompressed when its magic names a compression, else ``data``."""
    kind = detect_compression(data)
    return decompress(data, kind, max_size) if kind else data
