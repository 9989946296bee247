"""Compressed modules the way the kernel and kmod handle them: finit_module
decompresses only with MODULE_INIT_COMPRESSED_FILE and only the one format
the kernel was built for, by that decoder's rules; load_module (kmod) passes
the flag when the kernel can use it and decompresses in user space otherwise."""

from __future__ import annotations

import errno
import gzip
import lzma
import struct
import zlib
from collections import Counter

import pytest
import zstandard

from pymod import MODULE_INIT_COMPRESSED_FILE, Config, Kernel, ModuleLoadError
from tests.loader.support import assert_consistent, sample_bytes, snapshot

HELLO = sample_bytes("pm_hello")


def xz(data: bytes, check: int = lzma.CHECK_CRC32) -> bytes:
    """As the kernel's build compresses modules (xz --check=crc32); Python's
    and xz's own default is CRC64, which the kernel's decoder refuses."""
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=check)


COMPRESS = {"gzip": gzip.compress, "xz": xz,
            "zstd": lambda b: zstandard.ZstdCompressor().compress(b)}


def stats(k: Kernel) -> Counter[str]:
    return Counter(k.features.stats.values)


def kernel(fmt: str | None = "xz", **kw) -> Kernel:
    return Kernel(Config(module_compression=fmt, MODULE_DECOMPRESS=fmt is not None,
                         MODULE_STATS=True, **kw))


def fails(k: Kernel, call, *args, **kw) -> ModuleLoadError:
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        call(*args, **kw)
    assert snapshot(k) == before
    assert_consistent(k)
    return ei.value


def gzip_with_extra(data: bytes) -> bytes:
    """A valid gzip member whose header has FEXTRA, which the kernel's
    header reader does not understand (it takes only FNAME)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(data) + deflate.flush()
    header = b"\x1f\x8b\x08\x04" + b"\0" * 6 + struct.pack("<H", 4) + b"abcd"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


@pytest.mark.parametrize("fmt", sorted(COMPRESS))
def test_each_kernel_decompresses_its_own_format(fmt):
    k = kernel(fmt)
    assert k.finit_module(COMPRESS[fmt](HELLO), flags=MODULE_INIT_COMPRESSED_FILE).name \
        == "pm_hello"
    for other in sorted(set(COMPRESS) - {fmt}):
        e = fails(k, k.finit_module, COMPRESS[other](HELLO), flags=MODULE_INIT_COMPRESSED_FILE)
        article = "an" if fmt == "xz" else "a"
        assert (e.errno, e.strerror) == (errno.EINVAL, "not %s %s compressed module"
                                         % (article, fmt))
        assert k.log.lines[-1] == ("err", e.strerror)
    assert stats(k)["failed_decompress"] == 2


def test_without_the_flag_compressed_bytes_reach_the_elf_checks():
    k = kernel("xz")
    e = fails(k, k.finit_module, lzma.compress(HELLO))
    assert (e.errno, e.strerror) == (errno.ENOEXEC, "Invalid ELF header magic: != \\x7fELF")
    assert stats(k)["failed_decompress"] == 0


def test_the_flag_without_module_decompress_is_eopnotsupp_and_silent():
    k = kernel(None)
    raw = lzma.compress(HELLO)
    e = fails(k, k.finit_module, raw, flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.errno == errno.EOPNOTSUPP and e.stage == "decompress"
    assert k.log.lines == []
    s = stats(k)
    assert (s["failed_decompress"], s["invalid_decompress_bytes"]) == (1, len(raw))


@pytest.mark.parametrize("fmt", sorted(COMPRESS))
def test_kmod_decompresses_in_user_space_what_the_kernel_cannot(fmt):
    """The headline case: a .ko.xz against a kernel without MODULE_DECOMPRESS
    (or built for another format) gets the kernel's real verdict."""
    for k in (kernel(None), kernel("gzip" if fmt != "gzip" else "zstd")):
        assert k.load_module(COMPRESS[fmt](HELLO)).name == "pm_hello"


def test_kmod_passes_the_flag_when_the_kernel_has_the_format():
    """A gzip header with FEXTRA: the kernel's decoder refuses it, zlib (kmod)
    reads it.  So which one ran shows which path load_module took."""
    data = gzip_with_extra(HELLO)
    assert gzip.decompress(data) == HELLO
    k = kernel("gzip")
    e = fails(k, k.load_module, data)
    assert (e.errno, e.stage) == (errno.EINVAL, "decompress")
    assert e.strerror.startswith("decompression failed with status ")
    assert kernel("xz").load_module(data).name == "pm_hello"


def test_kmod_refuses_flags_it_sets_itself():
    k = kernel("xz")
    e = fails(k, k.load_module, lzma.compress(HELLO), flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.errno == errno.EINVAL


def test_kmod_decompression_failure_is_kmods():
    k = kernel(None)
    e = fails(k, k.load_module, lzma.compress(HELLO)[:-20])
    assert (e.errno, e.stage) == (errno.EINVAL, "kmod") and e.strerror.startswith("kmod: ")
    assert k.log.lines == [] and stats(k)["failed_decompress"] == 0


def test_gzip_trailer_is_not_checked_by_the_kernel():
    data = bytearray(gzip.compress(HELLO))
    data[-8] ^= 0xFF                                   # the CRC32
    assert kernel("gzip").finit_module(bytes(data), flags=MODULE_INIT_COMPRESSED_FILE)
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(bytes(data))                   # a general tool does check it


def test_gzip_fname_is_skipped_and_truncation_is_buf_error():
    named = gzip_with_extra(HELLO)
    named = b"\x1f\x8b\x08\x08" + b"\0" * 6 + b"pm_hello.ko\0" + named[16:]
    k = kernel("gzip")
    assert k.finit_module(named, flags=MODULE_INIT_COMPRESSED_FILE).name == "pm_hello"
    e = fails(k, k.finit_module, gzip.compress(HELLO)[:-300],
              flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror == "decompression failed with status -5"


def test_xz_truncated_and_corrupt_statuses():
    k = kernel("xz")
    raw = xz(HELLO)
    e = fails(k, k.finit_module, raw[:-20], flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror == "decompression failed with status 0"
    bad = bytearray(raw)
    bad[len(bad) // 2] ^= 0x55
    e = fails(k, k.finit_module, bytes(bad), flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror == "decompression failed with status 7"


OTHER_CHECKS = {"crc64": lzma.CHECK_CRC64, "sha256": lzma.CHECK_SHA256}


def _header_flags(raw: bytes, flags: bytes) -> bytes:
    """``raw`` with other stream flags and their CRC32 made right."""
    return raw[:6] + flags + struct.pack("<I", zlib.crc32(flags)) + raw[12:]


@pytest.mark.parametrize("check", [lzma.CHECK_NONE, lzma.CHECK_CRC32])
def test_xz_checks_the_kernels_decoder_takes(check):
    k = kernel("xz")
    assert k.finit_module(xz(HELLO, check), flags=MODULE_INIT_COMPRESSED_FILE).name \
        == "pm_hello"


@pytest.mark.parametrize("check", sorted(OTHER_CHECKS))
def test_xz_crc64_and_sha256_stop_the_kernels_decoder(check, tmp_path):
    """Built without XZ_DEC_ANY_CHECK, the kernel's decoder answers
    XZ_OPTIONS_ERROR (6) at the stream header; kmod's user-space decoder
    (liblzma) takes every check, so only the in-kernel path refuses."""
    from pymod.elf.kofile import read_ko

    raw = xz(HELLO, OTHER_CHECKS[check])
    assert lzma.decompress(raw) == HELLO
    f = tmp_path / "pm_hello.ko.xz"
    f.write_bytes(raw)
    # the syscall with the flag, kmod passing it, and a file pymod read already
    for source, call in ((raw, "finit_module"), (raw, "load_module"), (str(f), "load_module"),
                         (read_ko(str(f)), "load_module")):
        k = kernel("xz")
        before = stats(k)
        flags = MODULE_INIT_COMPRESSED_FILE if call == "finit_module" else 0
        e = fails(k, getattr(k, call), source, flags=flags)
        assert (e.errno, e.stage, e.strerror) == (errno.EINVAL, "decompress",
                                                  "decompression failed with status 6")
        assert k.log.lines == [("err", "decompression failed with status 6")]
        assert (stats(k) - before)["failed_decompress"] == 1
    for k in (kernel(None), kernel("gzip")):            # kmod decompresses in user space
        assert k.load_module(raw).name == "pm_hello" and k.log.lines[-1:] != [
            ("err", "decompression failed with status 6")]


def test_xz_stream_header_rules():
    k = kernel("xz")
    raw = xz(HELLO)
    cases = {"reserved check 2": (_header_flags(raw, b"\x00\x02"), 6),
             "check 16": (_header_flags(raw, b"\x00\x10"), 6),
             "first flags byte": (_header_flags(raw, b"\x01\x01"), 6),
             "header crc": (raw[:8] + bytes([raw[8] ^ 1]) + raw[9:], 7)}
    for name, (data, status) in cases.items():
        e = fails(k, k.finit_module, data, flags=MODULE_INIT_COMPRESSED_FILE)
        assert e.strerror == "decompression failed with status %d" % status, name
    # a header cut short is a truncated stream (XZ_OK), not a header error
    e = fails(k, k.finit_module, raw[:10], flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror == "decompression failed with status 0"
    e = fails(k, k.finit_module, xz(HELLO, lzma.CHECK_CRC64)[:10],
              flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror == "decompression failed with status 0"


def test_zstd_rules():
    k = kernel("zstd")
    frame = zstandard.ZstdCompressor().compress(HELLO)
    # one frame only: whatever follows the first is ignored
    two = frame + zstandard.ZstdCompressor().compress(b"trailing frame")
    assert k.finit_module(two, flags=MODULE_INIT_COMPRESSED_FILE).name == "pm_hello"
    k.delete_module("pm_hello")
    e = fails(k, k.finit_module, frame[:5], flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror == "ZSTD-compressed data has an incomplete frame header"
    # window descriptor: exponent 21, mantissa 7 -> 2**31 + 7 * 2**28 bytes
    huge = b"\x28\xb5\x2f\xfd" + bytes([0x00, (21 << 3) | 7]) + b"\0" * 16
    e = fails(k, k.finit_module, huge, flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror == "ZSTD-compressed data has too large a window size"
    corrupt = zstandard.ZstdCompressor(write_checksum=True).compress(HELLO)
    corrupt = corrupt[:-2] + bytes([corrupt[-2] ^ 0xFF, corrupt[-1]])
    e = fails(k, k.finit_module, corrupt, flags=MODULE_INIT_COMPRESSED_FILE)
    assert e.strerror.startswith("ZSTD-decompression failed with status ")


def test_invalid_compressed_load_counts_the_compressed_length():
    """mod_stat_bump_invalid: twice the image plus, with the flag, the file."""
    k = kernel("xz")
    broken = HELLO[:64] + b"\0" * (len(HELLO) - 64)     # a bad ELF after decompression
    raw = xz(broken)
    before = stats(k)
    fails(k, k.finit_module, raw, flags=MODULE_INIT_COMPRESSED_FILE)
    after = stats(k)
    grew = after - before
    assert grew["failed_becoming"] + grew["failed_load_modules"] == 1
    if grew["failed_becoming"]:
        assert grew["invalid_becoming_bytes"] == len(broken) + len(raw)
    else:
        assert grew["invalid_mod_bytes"] == 2 * len(broken) + len(raw)


def test_config_compression_is_a_choice():
    with pytest.raises(ValueError):
        Config(module_compression="lz4")
    with pytest.raises(ValueError):
        Config(module_compression=None)                  # MODULE_DECOMPRESS needs it
    assert Config(module_compression=None, MODULE_DECOMPRESS=False).module_compression is None


def test_kmod_reads_sys_module_compression():
    """Without SYSFS there is no /sys/module/compression: kmod decompresses
    in user space even though the kernel could (the FEXTRA probe again)."""
    assert kernel("gzip").features.sysfs.module_compression() == "gzip\n"
    assert kernel(None).features.sysfs.module_compression() is None
    k = kernel("gzip", SYSFS=False)
    assert k.features.sysfs.module_compression() is None
    assert k.load_module(gzip_with_extra(HELLO)).name == "pm_hello"
