"""Hostile kernel images (issue 15): a decompression bomb costs a piece of
the kernel at a time, not the cap twice; an lzma or xz dictionary past the
cap is refused before liblzma allocates it; a payload that does not
decompress is one line naming the file, in every command that reads one."""

from __future__ import annotations

import bz2
import errno
import lzma
import random
import struct
import tracemalloc
import zlib

import pytest

from pymod import PymodError
from pymod.elf.vmlinuz import (
    MAX_VMLINUX,
    decompress_payload,
    decompressed_pieces,
    find_certificates,
    kernel_payload,
)
from pymod.samples import prebuilt_path, signing_cert
from tests.hostile.test_memory_bounds import run_bounded

pytestmark = pytest.mark.slow   # payloads of tens of MiB, compressed and searched

HELLO = str(prebuilt_path("pm_hello"))
KINDS = ("gzip", "xz", "lzma", "bzip2", "zstd", "lz4")


def _lz4_legacy(data: bytes) -> bytes:
    import lz4.block

    out = [struct.pack("<I", 0x184C2102)]
    for pos in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[pos:pos + (8 << 20)], store_size=False)
        out.append(struct.pack("<I", len(block)) + block)
    return b"".join(out + [struct.pack("<I", len(data) & 0xFFFFFFFF)])   # kbuild's size


def compress(kind: str, data: bytes) -> bytes:
    """``data`` as kbuild's compressors leave a kernel payload."""
    if kind == "gzip":
        c = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    if kind == "xz":
        return lzma.compress(data, lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=0)
    if kind == "lzma":
        return lzma.compress(data, lzma.FORMAT_ALONE, preset=0)
    if kind == "bzip2":
        return bz2.compress(data, 1)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=1).compress(data)
    return _lz4_legacy(data)


def bzimage(kind: str, vmlinux: bytes, payload: bytes | None = None) -> bytes:
    """A bzImage (boot protocol 2.15) whose payload is ``vmlinux`` compressed
    (or ``payload`` as it is)."""
    body = compress(kind, vmlinux) if payload is None else payload
    head = bytearray(5 * 512)
    head[0x1F1] = 4
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, 0x20F)
    struct.pack_into("<II", head, 0x248, 0, len(body))
    return bytes(head) + body


def zeros_bomb(kind: str, size: int) -> bytes:
    """A payload of ``size`` zero bytes, made without holding them."""
    piece = bytes(16 << 20)
    if kind == "gzip":      # full flushes: every piece compresses the same
        c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        head = c.compress(piece) + c.flush(zlib.Z_FULL_FLUSH)
        again = c.compress(piece) + c.flush(zlib.Z_FULL_FLUSH)
        return head + again * (size // len(piece))
    if kind == "zstd":
        import zstandard

        c = zstandard.ZstdCompressor(level=1).compressobj()
        return b"".join(c.compress(piece) for _ in range(size // len(piece) + 1)) + c.flush()
    if kind == "lz4":
        import lz4.block

        block = lz4.block.compress(bytes(8 << 20), store_size=False)
        frame = struct.pack("<I", len(block)) + block
        return struct.pack("<I", 0x184C2102) + frame * (size // (8 << 20) + 1)
    c = {"xz": lambda: lzma.LZMACompressor(lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=0),
         "lzma": lambda: lzma.LZMACompressor(lzma.FORMAT_ALONE, preset=0),
         "bzip2": lambda: bz2.BZ2Compressor(1)}[kind]()
    return b"".join(c.compress(piece) for _ in range(size // len(piece) + 1)) + c.flush()


def lzma_dictionary(dict_size: int) -> bytes:
    """A 30-byte lzma payload whose header declares ``dict_size``."""
    body = lzma.compress(b"hello" * 10, format=lzma.FORMAT_ALONE)
    return body[:1] + struct.pack("<I", dict_size) + body[5:]


def xz_dictionary(props: int) -> bytes:
    """An xz payload whose LZMA2 filter declares dictionary ``props`` (40:
    4 GiB - 1), its block header's CRC32 made good."""
    data = lzma.compress(b"hello" * 10, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                         filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 4096}])
    size = (data[12] + 1) * 4                  # the block header, after the 12-byte stream header
    header = bytearray(data[12:12 + size])
    header[header.index(b"\x21\x01", 2) + 2] = props
    header[-4:] = struct.pack("<I", zlib.crc32(bytes(header[:-4])))
    return data[:12] + bytes(header) + data[12 + size:]


# ------------------------------------------------------------------ correctness


NOISE = random.Random(15).randbytes(1 << 16)


@pytest.fixture(scope="module")
def vmlinux() -> bytes:
    """18 MiB of varied bytes with the signing certificate twice (found
    once), a decoy that is no certificate, and the second copy past the
    first 16 MiB piece."""
    cert = signing_cert().read_bytes()
    decoy = b"\x30\x82\x01\x00\x30\x82\x00\xf0\xa0\x03\x02\x01\x02" + b"\x00" * 243
    noise = NOISE * 272
    return noise[:5 << 20] + cert + decoy + noise[:(12 << 20) - 3] + cert + noise[:4096]


@pytest.mark.parametrize("kind", KINDS)
def test_each_format_decompresses_whole_and_finds_the_certificate(kind, vmlinux):
    found, payload = kernel_payload(bzimage(kind, vmlinux))
    assert found == kind
    assert decompress_payload(kind, payload) == vmlinux
    certs = find_certificates(decompressed_pieces(kind, payload))
    assert [c.public_bytes(_der()) for c in certs] == [signing_cert().read_bytes()]


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_the_search_finds_the_same_in_any_pieces():
    """Certificates wherever pieces and searches end are found as in the whole."""
    from tests.signing.keys import key_and_cert

    first, second = signing_cert().read_bytes(), key_and_cert("ec256")[1].public_bytes(_der())
    noise = NOISE * 20
    blob = (noise[:1100_000] + first + noise[:1000_003] + second + noise[:70_001] + first
            + noise[:200_000])
    whole = [c.public_bytes(_der()) for c in find_certificates(blob)]
    assert whole == [first, second]
    for size in (1000, 65_539, (1 << 20) - 1, (1 << 20) + 70_000, 3 << 20):
        pieces = (blob[i:i + size] for i in range(0, len(blob), size))
        assert [c.public_bytes(_der()) for c in find_certificates(pieces)] == whole


# ------------------------------------------------------------------ item 3: memory


@pytest.mark.parametrize("kind", KINDS)
def test_a_bomb_is_searched_a_piece_at_a_time(kind):
    """Searching the output for certificates holds a piece of it, not all
    of it (and before, the whole again as a copy)."""
    limit = 128 << 20
    payload = zeros_bomb(kind, limit + (32 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(PymodError) as e:
            find_certificates(decompressed_pieces(kind, payload, limit))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.errno == errno.EFBIG
    assert peak < limit // 2 + len(payload), peak


@pytest.mark.parametrize("kind", ["gzip", "zstd", "lz4"])
def test_certs_of_a_bomb_stays_far_below_the_cap(tmp_path, kind):
    """A payload past the 1 GiB cap: ``pymod certs`` peaked at 2.1 GB."""
    image = tmp_path / "vmlinuz"
    image.write_bytes(bzimage(kind, b"", zeros_bomb(kind, MAX_VMLINUX + (32 << 20))))
    p, rss = run_bounded("certs", str(image), timeout=300)
    assert p.returncode == 1
    assert p.stderr.splitlines() == ["pymod certs: %s: kernel decompresses to more than %d "
                                     "bytes" % (image, MAX_VMLINUX)]
    assert rss < MAX_VMLINUX // 4, rss


@pytest.mark.parametrize("command", [("certs",), ("verify", "--vmlinuz"), ("load", "--vmlinuz")])
@pytest.mark.parametrize("kind", ["lzma", "xz"])
def test_a_dictionary_past_the_cap_is_refused_before_it_is_allocated(tmp_path, kind, command):
    """A 100-byte image declaring a 4 GiB dictionary was a MemoryError in
    every command reading a vmlinuz."""
    image = tmp_path / "vmlinuz"
    payload = lzma_dictionary(0xFFFF0000) if kind == "lzma" else xz_dictionary(40)
    image.write_bytes(bzimage(kind, b"", payload))
    args = [*command, str(image)] + ([HELLO] if len(command) > 1 else [])
    p, rss = run_bounded(*args)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    [line] = p.stderr.splitlines()
    assert line.startswith("pymod %s: %s: %s payload" % (command[0], image, kind))
    assert "dictionary" in line and str(MAX_VMLINUX) in line
    assert rss < 256 << 20, rss


def test_a_dictionary_within_the_cap_is_taken():
    payload = lzma_dictionary(64 << 20)          # kbuild's lzma -9
    assert decompress_payload("lzma", payload) == b"hello" * 10


# ------------------------------------------------------------------ item 4: corrupt payloads


CORRUPT = {
    "gzip": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 64,
    "zstd": b"\x28\xb5\x2f\xfd\x00\x00\x00\x00" + b"\xff" * 64,
    "lz4": b"\x02\x21\x4c\x18" + struct.pack("<I", 32) + b"\xff" * 32 + b"\x00" * 4,
    "bzip2": b"BZh9" + b"\xff" * 64,
    "xz": b"\xfd7zXZ\x00" + b"\xff" * 64,
    "lzma": b"\x5d\x00\x00\x10\x00" + b"\xff" * 72,
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_corrupt_payload_is_one_line_naming_the_file(tmp_path, kind):
    """zlib.error, ZstdError and LZ4BlockError came out raw."""
    image = tmp_path / ("corrupt-%s" % kind)
    image.write_bytes(bzimage(kind, b"", CORRUPT[kind]))
    p, _ = run_bounded("certs", str(image))
    assert p.returncode == 1, p.stdout
    assert p.stderr.splitlines() == [p.stderr.strip()]
    assert p.stderr.startswith("pymod certs: %s: %s payload does not decompress: "
                               % (image, kind))


@pytest.mark.parametrize("command", ["verify", "load"])
@pytest.mark.parametrize("kind", ["gzip", "zstd", "lz4"])
def test_a_corrupt_payload_given_to_trust_is_one_line(tmp_path, kind, command):
    image = tmp_path / ("corrupt-%s" % kind)
    image.write_bytes(bzimage(kind, b"", CORRUPT[kind]))
    p, _ = run_bounded(command, "--vmlinuz", str(image), HELLO)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    [line] = p.stderr.splitlines()
    assert line.startswith("pymod %s: %s: %s payload does not decompress: "
                           % (command, image, kind))


def test_not_a_kernel_image_names_the_file(tmp_path):
    image = tmp_path / "not-a-kernel"
    image.write_bytes(b"\0" * 4096)
    p, _ = run_bounded("certs", str(image))
    assert p.stderr.splitlines() == ["pymod certs: %s: not an x86 bzImage (no HdrS setup "
                                     "header)" % image]
