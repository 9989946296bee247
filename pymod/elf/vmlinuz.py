"""The signing certificates built into a kernel image (``vmlinuz``).

An x86 bzImage is the real-mode setup (``setup_sects`` + 1 sectors), then
the protected-mode part whose header gives the compressed payload's offset
and length (``payload_offset``/``payload_length`` at 0x248/0x24c, boot
protocol 2.08+).  The payload, once decompressed, is the kernel's ELF image;
the system keyring's certificates sit in it as concatenated DER X.509
certificates (``system_certificate_list``), found here by their shape: a
SEQUENCE holding a TBSCertificate that starts with ``[0] version v3``, and
kept when ``cryptography`` reads them back whole.
"""

from __future__ import annotations

import bz2
import errno
import lzma
import re
import struct
from typing import Any

from pymod.errors import PymodError

__all__ = ["kernel_payload", "decompress_payload", "find_certificates", "certificates_of"]

MAX_VMLINUZ = 256 << 20
MAX_VMLINUX = 1 << 30
# 30 82 LL LL (Certificate) 30 82 LL LL (TBSCertificate) A0 03 02 01 02 (v3)
_CERT = re.compile(rb"\x30\x82(..)\x30\x82(..)\xa0\x03\x02\x01\x02", re.S)
_MAGICS = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
           (b"\x02\x21\x4c\x18", "lz4"), (b"BZh", "bzip2"), (b"\x5d\x00\x00", "lzma"))


def _bad(message: str) -> PymodError:
    return PymodError(errno.EINVAL, message)


def kernel_payload(image: bytes) -> tuple[str, bytes]:
    """``(compression, compressed payload)`` of a bzImage."""
    if len(image) < 0x250 or image[0x202:0x206] != b"HdrS":
        raise _bad("not an x86 bzImage (no HdrS setup header)")
    version, = struct.unpack_from("<H", image, 0x206)
    if version < 0x208:
        raise _bad("boot protocol %d.%02d has no payload fields" % (version >> 8,
                                                                    version & 0xFF))
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = image[start:start + length]
    if len(payload) != length or not length:
        raise _bad("payload (%d bytes at %#x) runs past the end of the image" % (length, start))
    for magic, kind in _MAGICS:
        if payload.startswith(magic):
            return kind, payload
    raise _bad("payload compression not recognised (starts %s)" % payload[:6].hex())


def decompress_payload(kind: str, payload: bytes, limit: int = MAX_VMLINUX) -> bytes:
    """The decompressed kernel, at most ``limit`` bytes."""
    try:
        if kind == "gzip":
            import zlib

            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = d.decompress(payload, limit + 1)
        elif kind in ("xz", "lzma"):
            d2 = lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE)
            out = d2.decompress(payload, limit + 1)
        elif kind == "bzip2":
            d3 = bz2.BZ2Decompressor()
            out = d3.decompress(payload, limit + 1)
        elif kind == "zstd":
            import zstandard

            chunks, total = [], 0
            with zstandard.ZstdDecompressor().stream_reader(payload) as reader:
                while total <= limit:          # pieces: read(n) allocates n bytes
                    chunk = reader.read(16 << 20)
                    chunks.append(chunk)
                    total += len(chunk)
                    if len(chunk) < 16 << 20:  # short only at the frame's end; what
                        break                  # follows it (kbuild's size) is no frame
            out = b"".join(chunks)
        else:   # lz4: the kernel's legacy frame format
            import importlib

            try:
                block = importlib.import_module("lz4.block")   # an optional extra
            except ImportError:
                raise _bad("lz4-compressed kernel: install the lz4 package "
                           "(pip install 'pymod[certs]')") from None
            out = _lz4_legacy(payload, limit, block)
    except (OSError, lzma.LZMAError, ValueError, EOFError) as e:
        if isinstance(e, PymodError):
            raise
        raise _bad("%s payload does not decompress: %s" % (kind, e)) from None
    if len(out) > limit:
        raise PymodError(errno.EFBIG, "kernel decompresses to more than %d bytes" % limit)
    return bytes(out)


def _lz4_legacy(data: bytes, limit: int, block: Any) -> bytes:
    """lz4 legacy frames: magic, then (le32 size, block of at most 8 MiB
    once decompressed) until the data ends; kbuild appends the total size,
    4 bytes, which is no block."""
    out, pos = bytearray(), 4
    while pos + 4 < len(data) and len(out) <= limit:
        size, = struct.unpack_from("<I", data, pos)
        if size == 0x184C2102:          # a new legacy frame
            pos += 4
            continue
        if pos + 4 + size > len(data):
            break
        pos += 4
        out += block.decompress(data[pos:pos + size], uncompressed_size=8 << 20)
        pos += size
    return bytes(out)


def find_certificates(blob: bytes) -> list[Any]:
    """Every whole DER X.509 certificate in ``blob``, in order, each once."""
    from cryptography import x509

    found, seen = [], set()
    for m in _CERT.finditer(blob):
        outer = struct.unpack(">H", m.group(1))[0]
        inner = struct.unpack(">H", m.group(2))[0]
        if inner + 4 > outer:
            continue
        der = blob[m.start():m.start() + 4 + outer]
        if len(der) != 4 + outer or der in seen:
            continue
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        seen.add(der)
        found.append(cert)
    return found


def certificates_of(path: str) -> tuple[str, list[Any]]:
    """``(payload compression, certificates)`` of a vmlinuz file."""
    from pymod.elf.compression import read_file

    kind, payload = kernel_payload(read_file(path, MAX_VMLINUZ))
    return kind, find_certificates(decompress_payload(kind, payload))
