"""CONFIG_MODULE_DECOMPRESS: see :class:`pymod.contract.facades.Decompress`.

A kernel decompresses the one format its MODULE_COMPRESS choice names, with
that decoder's own rules (``kernel/module/decompress.c``), which are not a
general tool's:

* gzip: the 10-byte header must start 1f 8b 08; only the FNAME flag is
  understood (its name skipped); the rest is raw deflate up to the end of
  the stream, so the CRC and length trailer are never checked.
* xz: the 6-byte magic, then one stream; a truncated stream stops with
  status 0 (XZ_OK), a corrupt one with 7 (XZ_DATA_ERROR).  The decoder is
  built without XZ_DEC_ANY_CHECK, so a stream whose integrity check is not
  none or CRC32 (xz's default CRC64, SHA-256) stops at its header with 6
  (XZ_OPTIONS_ERROR), as does a non-zero first flags byte; a header whose
  own CRC32 is wrong gives 7.
* zstd: the 4-byte magic, a complete frame header, a window of at most
  2**31 bytes, then one frame only: whatever follows it is ignored, and a
  truncated frame gives what was decoded so far (the ELF checks then judge
  it).

Output past pymod's own cap (``MAX_DECOMPRESSED``) is refused with EFBIG, a
bound the kernel does not have; the message says so.
"""

from __future__ import annotations

import errno
import re
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from pymod.contract.internal import LoadInfo
from pymod.contract.klog import KernelLog
from pymod.elf.compression import MAX_DECOMPRESSED, join_within, zstd_pieces
from pymod.errors import ModuleLoadError

_MAGIC = {"gzip": b"\x1f\x8b\x08", "xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd"}
_NOT_A = {"gzip": "not a gzip compressed module", "xz": "not an xz compressed module",
          "zstd": "not a zstd compressed module"}
_ZSTD_WINDOW_MAX = 1 << 31                       # ZSTD_WINDOWLOG_MAX on 64-bit
_Z_BUF_ERROR = -5                                # zlib: input ended before the stream
_XZ_OK, _XZ_FORMAT_ERROR, _XZ_OPTIONS_ERROR, _XZ_DATA_ERROR = 0, 5, 6, 7
# ZSTD_ErrorCode values for the errors libzstd names in its messages.
_ZSTD_CODES = (("Unknown frame descriptor", 10), ("Version not supported", 12),
               ("Unsupported frame parameter", 14), ("Frame requires too much memory", 16),
               ("Corrupted block", 20), ("checksum", 22), ("Dictionary mismatch", 32))


_T = TypeVar("_T")


class _Failed(Exception):
    """A decoder's own failure: the kernel's message for it."""


def _too_big() -> ModuleLoadError:
    return ModuleLoadError(errno.EFBIG, "module decompresses to more than %d bytes "
                           "(pymod's own cap; the kernel has none)" % MAX_DECOMPRESSED,
                           stage="decompress")


def _gzip_header_len(buf: bytes) -> int:
    """module_gzip_header_len(): 0 when the header is not one the kernel takes."""
    if len(buf) < 10 or not buf.startswith(_MAGIC["gzip"]):
        return 0
    n = 10
    if buf[3] & 0x08:                            # FNAME: skip the NUL-terminated name
        end = buf.find(b"\0", n)
        if end < 0:
            return 0
        n = end + 1
    return n


def _gzip(buf: bytes) -> bytes:
    start = _gzip_header_len(buf)
    if not start:
        raise _Failed(_NOT_A["gzip"])
    return _run(zlib.decompressobj(-zlib.MAX_WBITS), buf[start:], zlib.error, _zlib_status,
                _Z_BUF_ERROR)


def _zlib_status(e: Exception) -> int:
    m = re.match(r"Error (-?\d+)", str(e))
    return int(m.group(1)) if m else -3                 # Z_DATA_ERROR


_XZ_HEADER = 12                                  # magic, stream flags, their CRC32
_XZ_CHECKS = (0, 1)                              # XZ_CHECK_NONE, XZ_CHECK_CRC32


def _xz_stream_header(buf: bytes) -> None:
    """dec_stream_header, which liblzma (accepting every check) does not
    apply: the header is judged before any block is decoded."""
    if len(buf) < _XZ_HEADER:
        return                                   # XZ_OK: the stream run says truncated
    if zlib.crc32(buf[6:8]) != int.from_bytes(buf[8:12], "little"):
        raise _Failed("decompression failed with status %d" % _XZ_DATA_ERROR)
    if buf[6] != 0 or buf[7] not in _XZ_CHECKS:
        raise _Failed("decompression failed with status %d" % _XZ_OPTIONS_ERROR)


def _xz(buf: bytes) -> bytes:
    import lzma

    if not buf.startswith(_MAGIC["xz"]):
        raise _Failed(_NOT_A["xz"])
    _xz_stream_header(buf)
    return _run(lzma.LZMADecompressor(lzma.FORMAT_XZ), buf, lzma.LZMAError, _xz_status, _XZ_OK)


def _xz_status(e: Exception) -> int:
    text = str(e)
    return (_XZ_FORMAT_ERROR if "format" in text else
            _XZ_OPTIONS_ERROR if "options" in text.lower() else _XZ_DATA_ERROR)


def _run(dec: Any, data: bytes, errors: type[Exception], status: Callable[[Exception], int],
         truncated: int) -> bytes:
    """One stream through a zlib/lzma-style decoder, at most the cap: a
    decoder error and a stream that does not end give the kernel's
    "decompression failed with status %d" (``status(error)``, ``truncated``)."""
    try:
        out: bytes = dec.decompress(data, MAX_DECOMPRESSED + 1)
    except errors as e:
        raise _Failed("decompression failed with status %d" % status(e)) from None
    if len(out) > MAX_DECOMPRESSED:
        raise _too_big()
    if not dec.eof:
        raise _Failed("decompression failed with status %d" % truncated)
    return out


def _zstd(buf: bytes) -> bytes:
    import zstandard

    if not buf.startswith(_MAGIC["zstd"]):
        raise _Failed(_NOT_A["zstd"])
    try:
        window = zstandard.get_frame_parameters(buf).window_size
    except zstandard.ZstdError:
        raise _Failed("ZSTD-compressed data has an incomplete frame header") from None
    if window > _ZSTD_WINDOW_MAX:
        raise _Failed("ZSTD-compressed data has too large a window size")
    try:
        return join_within(zstd_pieces(buf), MAX_DECOMPRESSED, _too_big)
    except zstandard.ZstdError as e:
        code = next((c for text, c in _ZSTD_CODES if text.lower() in str(e).lower()), 20)
        raise _Failed("ZSTD-decompression failed with status %d" % code) from None


_DECODERS = {"gzip": _gzip, "xz": _xz, "zstd": _zstd}


def kernel_decompress(buf: bytes, fmt: str, log: KernelLog) -> bytes:
    """The image a kernel built for ``fmt`` makes of ``buf``; its failure
    messages go to ``log`` (pr_err) and come back as EINVAL."""
    return _in_kernel(_DECODERS[fmt], buf, log)


def _in_kernel(decoder: Callable[[bytes], _T], buf: bytes, log: KernelLog) -> _T:
    try:
        return decoder(buf)
    except _Failed as e:
        raise ModuleLoadError(errno.EINVAL, log.pr_err(str(e)), stage="decompress") from None


class Decompress:
    def __init__(self, fmt: str, log: KernelLog):
        if fmt not in _DECODERS:
            raise ValueError("MODULE_DECOMPRESS needs one of %s, not %r"
                             % (", ".join(_DECODERS), fmt))
        self.format = fmt
        self.log = log

    def module_decompress(self, info: LoadInfo) -> None:
        if info.predecompressed is not None and self.format == "xz":
            # pymod's reader decoded the stream (see loader.module_input.load_info_of)
            # with liblzma, which takes every integrity check: the kernel's
            # decoder's header rules still apply
            _in_kernel(_xz_stream_header, info.raw, self.log)
            info.payload = info.predecompressed
        else:
            info.payload = kernel_decompress(info.raw, self.format, self.log)
        info.compression = self.format
        info.compressed_len = len(info.raw)
        info.len = len(info.payload)

    def module_decompress_cleanup(self, info: LoadInfo) -> None:
        # The decompressed pages belong to LoadInfo; dropping the reference frees them.
        info.payload = b""
        info.predecompressed = None


class Stub:
    def __init__(self) -> None:
        self.format = None

    def module_decompress(self, info: LoadInfo) -> None:
        # internal.h's inline stub: -EOPNOTSUPP and nothing in the log.
        raise ModuleLoadError(errno.EOPNOTSUPP, "finit_module: MODULE_INIT_COMPRESSED_FILE "
                              "on a kernel without CONFIG_MODULE_DECOMPRESS",
                              stage="decompress")

    def module_decompress_cleanup(self, info: LoadInfo) -> None:
        pass
