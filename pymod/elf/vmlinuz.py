"""The signing certificates built into a kernel image (``vmlinuz``).

An x86 bzImage is the real-mode setup (``setup_sects`` + 1 sectors), then
the protected-mode part whose header gives the compressed payload's offset
and length (``payload_offset``/``payload_length`` at 0x248/0x24c, boot
protocol 2.08+).  The payload, once decompressed, is the kernel's ELF image;
the system keyring's certificates sit in it as concatenated DER X.509
certificates (``system_certificate_list``), found here by their shape: a
SEQUENCE holding a TBSCertificate that starts with ``[0] version v3``, and
kept when ``cryptography`` and the kernel's X.509 reader both read them
back whole (the kernel skips one it cannot parse).

The payload is decompressed in pieces and searched as it comes, so finding
the certificates holds a piece at a time, not the kernel; at most
``MAX_VMLINUX`` bytes come out, and an lzma or xz stream whose
dictionary alone is larger than that is refused before it is allocated.
Every failure is a :class:`~pymod.errors.PymodError` that names the file.
"""

from __future__ import annotations

import bz2
import errno
import lzma
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from pymod.elf.compression import read_file, zstd_pieces
from pymod.errors import PymodError

__all__ = ["kernel_payload", "decompressed_pieces", "decompress_payload", "find_certificates",
           "certificates_of"]

MAX_VMLINUZ = 256 << 20
MAX_VMLINUX = 1 << 30
_PIECE = 16 << 20            # decompressed bytes asked for at a time
_FEED = 1 << 20              # compressed bytes given at a time
# 30 82 LL LL (Certificate) 30 82 LL LL (TBSCertificate) A0 03 02 01 02 (v3)
_CERT = re.compile(rb"\x30\x82(..)\x30\x82(..)\xa0\x03\x02\x01\x02", re.S)
_LONGEST_CERT = 4 + 0xFFFF   # what a two-byte length can describe
_GATHER = 1 << 20            # new bytes searched at a time, at least
_MAGICS = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
           (b"\x02\x21\x4c\x18", "lz4"), (b"BZh", "bzip2"), (b"\x5d\x00\x00", "lzma"))
_LZ4_LEGACY = 0x184C2102
_LZ4_BLOCK = 8 << 20         # a legacy frame's block, decompressed


def _bad(message: str) -> PymodError:
    return PymodError(errno.EINVAL, message)


def kernel_payload(image: bytes) -> tuple[str, memoryview]:
    """``(compression, compressed payload)`` of a bzImage (a view, not a copy)."""
    if len(image) < 0x250 or image[0x202:0x206] != b"HdrS":
        raise _bad("not an x86 bzImage (no HdrS setup header)")
    version, = struct.unpack_from("<H", image, 0x206)
    if version < 0x208:
        raise _bad("boot protocol %d.%02d has no payload fields" % (version >> 8,
                                                                    version & 0xFF))
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = memoryview(image)[start:start + length]
    if len(payload) != length or not length:
        raise _bad("payload (%d bytes at %#x) runs past the end of the image" % (length, start))
    head = bytes(payload[:6])
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return kind, payload
    raise _bad("payload compression not recognised (starts %s)" % head.hex())


def _zlib_pieces(data: memoryview) -> Iterator[bytes]:
    """gzip: the first member; a truncated one gives what it holds."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for pos in range(0, len(data), _FEED):
        feed: bytes | memoryview = data[pos:pos + _FEED]
        while True:
            out = d.decompress(feed, _PIECE)
            yield out
            feed = d.unconsumed_tail
            if d.eof or (not feed and len(out) < _PIECE):
                break
        if d.eof:
            return


def _stream_pieces(d: Any, data: memoryview) -> Iterator[bytes]:
    """An lzma/bz2 decompressor, fed a slice at a time, drained a piece at a time."""
    for pos in range(0, len(data), _FEED):
        feed: bytes | memoryview = data[pos:pos + _FEED]
        while True:
            yield d.decompress(feed, _PIECE)
            feed = b""
            if d.eof or d.needs_input:
                break
        if d.eof:
            return


def _lzma_decompressor(kind: str, data: memoryview, limit: int) -> Any:
    """An xz or lzma decoder whose dictionary may not exceed ``limit``: the
    kernel's boot decoders write into the output, so any dictionary up to
    3 GiB is theirs to take, but one larger than the whole output allowed
    is nothing pymod will allocate (liblzma would, before a byte comes out)."""
    if kind == "lzma" and len(data) >= 5:
        dict_size, = struct.unpack_from("<I", data, 1)
        if dict_size > limit:
            raise PymodError(errno.EFBIG, "lzma payload declares a %d-byte dictionary, more "
                             "than the %d bytes the kernel may decompress to" % (dict_size, limit))
    # liblzma refuses, at the header, a dictionary past the memory limit
    return lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE,
                                 memlimit=limit + (16 << 20))


def _lz4_pieces(data: memoryview) -> Iterator[bytes]:
    """lz4 legacy frames: magic, then (le32 size, block of at most 8 MiB
    once decompressed) until the data ends; kbuild appends the total size,
    4 bytes, which is no block."""
    import importlib

    try:
        block = importlib.import_module("lz4.block")   # an optional extra
    except ImportError:
        raise _bad("lz4-compressed kernel: install the lz4 package "
                   "(pip install 'pymod[certs]')") from None
    pos = 4
    while pos + 4 < len(data):
        size, = struct.unpack_from("<I", data, pos)
        if size == _LZ4_LEGACY:          # a new legacy frame
            pos += 4
            continue
        if pos + 4 + size > len(data):
            return
        pos += 4
        yield block.decompress(data[pos:pos + size], uncompressed_size=_LZ4_BLOCK)
        pos += size


def _pieces(kind: str, payload: bytes | memoryview, limit: int) -> Iterator[bytes]:
    data = memoryview(payload)
    if kind == "gzip":
        return _zlib_pieces(data)
    if kind in ("xz", "lzma"):
        return _stream_pieces(_lzma_decompressor(kind, data, limit), data)
    if kind == "bzip2":
        return _stream_pieces(bz2.BZ2Decompressor(), data)
    if kind == "zstd":      # the first frame (libzstd's default window limit, 128 MiB)
        return zstd_pieces(data, _PIECE)
    return _lz4_pieces(data)


def decompressed_pieces(kind: str, payload: bytes | memoryview,
                        limit: int = MAX_VMLINUX) -> Iterator[bytes]:
    """The decompressed kernel in pieces of at most 16 MiB, EFBIG past
    ``limit`` bytes; a payload that does not decompress is EINVAL, whatever
    the decoder's own exception."""
    total = 0
    try:
        for piece in _pieces(kind, payload, limit):
            total += len(piece)
            if total > limit:
                raise PymodError(errno.EFBIG, "kernel decompresses to more than %d bytes"
                                 % limit)
            yield piece
    except PymodError:
        raise
    except MemoryError:
        raise PymodError(errno.ENOMEM, "%s payload: out of memory decompressing it"
                         % kind) from None
    except Exception as e:   # zlib.error, LZMAError, ZstdError, LZ4BlockError, EOFError...
        if kind in ("xz", "lzma") and "memory usage limit" in str(e).lower():
            raise PymodError(errno.EFBIG, "%s payload needs a dictionary larger than the %d "
                             "bytes the kernel may decompress to" % (kind, limit)) from None
        raise _bad("%s payload does not decompress: %s" % (kind, e)) from None


def decompress_payload(kind: str, payload: bytes | memoryview,
                       limit: int = MAX_VMLINUX) -> bytearray:
    """The decompressed kernel, at most ``limit`` bytes, in one buffer."""
    out = bytearray()
    for piece in decompressed_pieces(kind, payload, limit):
        out += piece
    return out


def _certificate(buf: bytearray, m: re.Match[bytes]) -> bytes | None:
    """The DER a match's outer length spans, when it lies whole in ``buf``."""
    outer, = struct.unpack(">H", m.group(1))
    inner, = struct.unpack(">H", m.group(2))
    if inner + 4 > outer:
        return None
    der = bytes(buf[m.start():m.start() + 4 + outer])
    return der if len(der) == 4 + outer else None


def _readable(der: bytes) -> Any | None:
    """The certificate, when cryptography and the kernel's reader both take it."""
    from cryptography import x509

    from pymod.elf.der import DerError
    from pymod.elf.x509 import certificate_key_ids

    try:
        cert = x509.load_der_x509_certificate(der)
        certificate_key_ids(der)
    except (ValueError, DerError):
        return None
    return cert


def find_certificates(blob: bytes | bytearray | memoryview | Iterable[bytes]) -> list[Any]:
    """Every whole DER X.509 certificate in ``blob`` (bytes, or its pieces
    in order), in order, each once."""
    pieces: Iterable[bytes | bytearray | memoryview] = (
        (blob,) if isinstance(blob, (bytes, bytearray, memoryview)) else blob)
    found, seen = [], set()
    buf, pos = bytearray(), 0
    for piece in _with_end(pieces):
        if piece is not None:
            buf += piece
            if len(buf) < _GATHER + _LONGEST_CERT:     # each search rescans the tail
                continue
        # a match is taken once its whole certificate is surely in buf
        stop = len(buf) if piece is None else len(buf) - _LONGEST_CERT
        while pos < stop:
            m = _CERT.search(buf, pos)
            if m is None or m.start() >= stop:
                pos = max(pos, stop)
                break
            pos = m.end()
            der = _certificate(buf, m)
            if der is None or der in seen:
                continue
            cert = _readable(der)
            if cert is not None:
                seen.add(der)
                found.append(cert)
        del buf[:pos]                    # what lies behind is searched
        pos = 0
    return found


def _with_end(pieces: Iterable[bytes | bytearray | memoryview],
              ) -> Iterator[bytes | bytearray | memoryview | None]:
    yield from pieces
    yield None


def certificates_of(path: str) -> tuple[str, list[Any]]:
    """``(payload compression, certificates)`` of a vmlinuz file; every
    error names ``path``."""
    image = read_file(path, MAX_VMLINUZ)
    try:
        kind, payload = kernel_payload(image)
        return kind, find_certificates(decompressed_pieces(kind, payload))
    except PymodError as e:
        raise PymodError(e.errno, "%s: %s" % (path, e.strerror)) from None
