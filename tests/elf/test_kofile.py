"""pymod.elf.kofile / pymod.elf.ksymtab on inputs built here: a gcc-compiled module-shaped
object, its compressed and signed variants, and damaged copies of it."""

from __future__ import annotations

import errno
import gzip
import lzma
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pymod.elf.compression import decompress, detect_compression
from pymod.elf.constants import MODULE_SIG_STRING, SHT_NOBITS, SHT_SYMTAB
from pymod.elf.image import ElfImage
from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import exports, undefined_symbols, versions
from pymod.elf.sigtrailer import split_signature
from pymod.errors import ModuleLoadError, PymodError

# A module-shaped object: .modinfo, exports in the 6.x layout (PREL32 entries,
# names in __ksymtab_strings, CRCs at __crc_ symbols), __versions, undefined
# strong and weak symbols.
MODULE_C = r"""
struct modversion_info { unsigned long crc; char name[56]; };

extern int printk(const char *fmt, ...);
extern void maybe_there(void) __attribute__((weak));

int plain_export(int x) { return printk("x=%d\n", x); }
int gpl_export(void) { if (maybe_there) maybe_there(); return 2; }

static const char modinfo[] __attribute__((used, section(".modinfo"), aligned(1))) =
    "license=GPL\0" "author=A. Tester\0" "alias=pymod:one\0" "alias=pymod:two\0"
    "nokeyvalue\0" "parm=level:how loud\0" "parmtype=level:int\0" "depends=\0"
    "name=tmod\0" "vermagic=6.12.0-pymod-amd64 SMP preempt mod_unload modversions ";

static const struct modversion_info versions[]
    __attribute__((used, section("__versions"), aligned(32))) = {
    { 0x1b2c3d4e, "module_layout" },
    { 0x9a8b7c6d, "printk" },
};

asm(".section \"__ksymtab_strings\",\"aMS\",%progbits,1\n"
    "__kstrtab_plain_export: .asciz \"plain_export\"\n"
    "__kstrtabns_plain_export: .asciz \"\"\n"
    "__kstrtab_gpl_export: .asciz \"gpl_export\"\n"
    "__kstrtabns_gpl_export: .asciz \"PYMOD_NS\"\n"
    ".previous\n"
    ".section \"__ksymtab\",\"a\"\n.balign 4\n"
    ".long plain_export - .\n.long __kstrtab_plain_export - .\n.long __kstrtabns_plain_export - .\n"
    ".previous\n"
    ".section \"__ksymtab_gpl\",\"a\"\n.balign 4\n"
    ".long gpl_export - .\n.long __kstrtab_gpl_export - .\n.long __kstrtabns_gpl_export - .\n"
    ".previous\n"
    ".section \"__kcrctab\",\"a\"\n.balign 4\n__crc_plain_export: .long 0xcafef00d\n.previous\n"
    ".section \"__kcrctab_gpl\",\"a\"\n.balign 4\n__crc_gpl_export: .long 0x0badc0de\n.previous\n");
"""

MODINFO_PAIRS = [
    ("license", "GPL"), ("author", "A. Tester"), ("alias", "pymod:one"), ("alias", "pymod:two"),
    ("nokeyvalue", ""), ("parm", "level:how loud"), ("parmtype", "level:int"), ("depends", ""),
    ("name", "tmod"), ("vermagic", "6.12.0-pymod-amd64 SMP preempt mod_unload modversions "),
]


def compile_object(tmp: Path, source: str, name: str = "tmod") -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the test object")
    c = tmp / (name + ".c")
    c.write_text(source)
    out = tmp / (name + ".ko")
    subprocess.run(["gcc", "-c", "-O2", "-fno-pic", "-mcmodel=kernel", "-o", str(out), str(c)],
                   check=True)
    return out


def sig_trailer(pkcs7: bytes, *, algo=0, hash_=0, id_type=2, signer_len=0, key_id_len=0,
                pad=b"\0\0\0", sig_len: int | None = None) -> bytes:
    """``pkcs7 + struct module_signature + marker``, as scripts/sign-file appends it."""
    ms = bytes([algo, hash_, id_type, signer_len, key_id_len]) + pad + struct.pack(
        ">I", len(pkcs7) if sig_len is None else sig_len)
    return pkcs7 + ms + MODULE_SIG_STRING


@pytest.fixture(scope="module")
def module_ko(tmp_path_factory) -> Path:
    return compile_object(tmp_path_factory.mktemp("kofile"), MODULE_C)


@pytest.fixture(scope="module")
def payload(module_ko) -> bytes:
    return module_ko.read_bytes()


# ---------------------------------------------------------------- compression

def _zstd(data: bytes) -> bytes:
    import zstandard
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {
    "gzip": gzip.compress,
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
    "zstd": _zstd,
}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_variants_read_back(kind, payload, tmp_path):
    packed = COMPRESSORS[kind](payload)
    assert detect_compression(packed) == kind
    assert decompress(packed, kind) == payload
    f = tmp_path / ("m.ko." + {"gzip": "gz", "xz": "xz", "zstd": "zst"}[kind])
    f.write_bytes(packed)
    ko = read_ko(f)
    assert (ko.compression, ko.image, ko.payload, ko.raw) == (kind, payload, payload, packed)
    assert ko.path == str(f)
    assert ko.elf.modinfo() == MODINFO_PAIRS


def test_uncompressed_is_not_detected(payload):
    assert detect_compression(payload) is None
    assert detect_compression(b"") is None
    assert read_ko(payload).compression is None


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_truncated_compressed_input_is_einval(kind, payload):
    packed = COMPRESSORS[kind](payload)
    with pytest.raises(ModuleLoadError) as ei:
        decompress(packed[: len(packed) // 2], kind)
    assert ei.value.errno == errno.EINVAL and ei.value.stage == "decompress"
    assert kind in ei.value.strerror


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_corrupt_compressed_input_is_einval(kind, payload):
    packed = bytearray(COMPRESSORS[kind](payload))
    magic_len = {"gzip": 3, "xz": 6, "zstd": 4}[kind]
    for i in range(magic_len + 8, len(packed)):
        packed[i] ^= 0x5A
    with pytest.raises(ModuleLoadError) as ei:
        read_ko(bytes(packed))
    assert ei.value.errno == errno.EINVAL and ei.value.stage == "decompress"


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_decompression_cap(kind):
    bomb = COMPRESSORS[kind](bytes(4 << 20))
    assert len(bomb) < 1 << 20
    with pytest.raises(ModuleLoadError) as ei:
        decompress(bomb, kind, max_size=1 << 20)
    assert ei.value.errno == errno.EFBIG and "1048576" in ei.value.strerror
    assert len(decompress(bomb, kind, max_size=4 << 20)) == 4 << 20


def test_file_size_cap_and_missing_file(payload, tmp_path):
    with pytest.raises(PymodError) as ei:
        read_ko(payload, max_size=len(payload) - 1)
    assert ei.value.errno == errno.EFBIG
    with pytest.raises(FileNotFoundError):
        read_ko(tmp_path / "absent.ko")


# ---------------------------------------------------------------- signature trailer

def test_valid_trailer_is_stripped(payload):
    blob = b"\x30\x03\x02\x01\x07"
    split = split_signature(payload + sig_trailer(blob))
    assert split.errno == 0
    assert split.payload == payload
    assert split.sig.pkcs7 == blob and split.sig.sig_len == len(blob) and split.sig.id_type == 2
    ko = read_ko(payload + sig_trailer(blob))
    assert (ko.sig_errno, ko.payload, ko.sig.pkcs7) == (0, payload, blob)


def test_no_trailer_is_enodata(payload):
    split = split_signature(payload)
    assert (split.errno, split.sig, split.payload) == (errno.ENODATA, None, payload)
    # exactly the marker and nothing else: not "longer than the marker"
    assert split_signature(MODULE_SIG_STRING).errno == errno.ENODATA


@pytest.mark.parametrize("case,trailer,expected", [
    ("body of 12 bytes", bytes(12) + MODULE_SIG_STRING, errno.EBADMSG),
    ("sig_len past the start", sig_trailer(b"xy", sig_len=10 ** 6), errno.EBADMSG),
    ("id_type X509", sig_trailer(b"xy", id_type=1), errno.ENOPKG),
    ("id_type PGP", sig_trailer(b"xy", id_type=0), errno.ENOPKG),
    ("algo set", sig_trailer(b"xy", algo=1), errno.EBADMSG),
    ("hash set", sig_trailer(b"xy", hash_=4), errno.EBADMSG),
    ("signer_len set", sig_trailer(b"xy", signer_len=3), errno.EBADMSG),
    ("key_id_len set", sig_trailer(b"xy", key_id_len=3), errno.EBADMSG),
    ("pad set", sig_trailer(b"xy", pad=b"\0\1\0"), errno.EBADMSG),
])
def test_malformed_trailers(case, trailer, expected):
    body = b"" if case == "body of 12 bytes" else b"\x7fELF-some-module-bytes"
    split = split_signature(body + trailer)
    assert split.errno == expected, case
    # the kernel has dropped only the marker when it gives up
    assert split.payload == (body + trailer)[: -len(MODULE_SIG_STRING)]


def test_sig_len_must_leave_a_payload():
    body = b"A"
    pkcs7 = b"B" * 5
    assert split_signature(body + sig_trailer(pkcs7)).errno == 0
    assert split_signature(sig_trailer(pkcs7)).errno == errno.EBADMSG


# ---------------------------------------------------------------- ELF

def _readelf_sections(path: Path) -> list[tuple[str, str, int, int]]:
    out = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("[") or line.startswith("[Nr]"):
            continue
        fields = line.split("]", 1)[1].split()
        if fields[0] == "NULL":
            fields.insert(0, "")
        rows.append((fields[0], fields[1], int(fields[3], 16), int(fields[4], 16)))
    return rows


def test_gcc_object_sections_match_readelf(module_ko, payload):
    if shutil.which("readelf") is None:
        pytest.skip("readelf not installed")
    elf = ElfImage(payload)
    assert elf.e_ident[:4] == b"\x7fELF" and elf.e_type == 1 and elf.e_machine == 62
    ours = [(s.name, s.offset, s.size) for s in elf.sections]
    theirs = [(name, off, size) for name, _t, off, size in _readelf_sections(module_ko)]
    assert ours == theirs
    assert elf.section(".modinfo").name == ".modinfo" and elf.section("nope") is None
    sym = elf.symtab_section
    assert sym.type == SHT_SYMTAB
    assert len(elf.symbols()) == sym.size // 24


def test_gcc_object_symbols_match_nm(module_ko, payload):
    if shutil.which("nm") is None:
        pytest.skip("nm not installed")
    out = subprocess.run(["nm", "-u", str(module_ko)], capture_output=True, text=True,
                         check=True).stdout.split()
    nm_undef = {name: kind == "w" for kind, name in zip(out[::2], out[1::2], strict=False)}
    elf = ElfImage(payload)
    assert dict(undefined_symbols(elf)) == nm_undef
    assert nm_undef == {"printk": False, "maybe_there": True}
    names = {elf.symbol_name(i) for i in range(len(elf.symbols()))}
    assert {"plain_export", "gpl_export", "__crc_plain_export"} <= names


def test_module_tables(payload):
    elf = ElfImage(payload)
    assert elf.modinfo() == MODINFO_PAIRS
    got = {e.name: e for e in exports(elf)}
    assert set(got) == {"plain_export", "gpl_export"}
    assert (got["plain_export"].gpl, got["plain_export"].namespace, got["plain_export"].crc) \
        == (False, "", 0xCAFEF00D)
    assert (got["gpl_export"].gpl, got["gpl_export"].namespace, got["gpl_export"].crc) \
        == (True, "PYMOD_NS", 0x0BADC0DE)
    text = elf.section(".text")
    for e in got.values():
        assert e.section == text.index
        sym = [i for i in range(len(elf.symbols())) if elf.symbol_name(i) == e.name][0]
        assert e.offset == int(elf.symbols()["st_value"][sym])
    assert versions(elf) == [(0x1B2C3D4E, "module_layout"), (0x9A8B7C6D, "printk")]


def test_no_tables_give_empty_answers(tmp_path):
    obj = compile_object(tmp_path, "int f(void) { return 0; }\n", "plain")
    elf = ElfImage(obj.read_bytes())
    assert (elf.modinfo(), exports(elf), undefined_symbols(elf), versions(elf)) == ([], [], [], [])


def test_nobits_data_is_empty(payload):
    elf = ElfImage(payload)
    bss = [s for s in elf.sections if s.type == SHT_NOBITS]
    for s in bss:
        assert len(elf.data_of(s)) == 0


# ---------------------------------------------------------------- damaged input

def _exercise(data: bytes) -> None:
    elf = ElfImage(data)
    _ = elf.sections
    for s in elf.sections:
        elf.data_of(s)
    syms = elf.symbols()
    for i in range(min(len(syms), 50)):
        elf.symbol_name(i)
    elf.modinfo()
    exports(elf)
    undefined_symbols(elf)
    versions(elf)


@pytest.mark.parametrize("cut", [0, 1, 16, 63])
def test_shorter_than_header_is_enoexec(payload, cut):
    with pytest.raises(PymodError) as ei:
        ElfImage(payload[:cut])
    assert ei.value.errno == errno.ENOEXEC and "shorter than an ELF64 header" in ei.value.strerror


def test_section_table_past_end_is_enoexec(payload):
    elf = ElfImage(payload[: len(payload) - 1])
    with pytest.raises(PymodError) as ei:
        _ = elf.sections
    assert ei.value.errno == errno.ENOEXEC and "section header table" in ei.value.strerror


def test_wrong_shentsize_is_enoexec(payload):
    data = bytearray(payload)
    struct.pack_into("<H", data, 0x3A, 40)
    with pytest.raises(PymodError) as ei:
        _ = ElfImage(bytes(data)).sections
    assert ei.value.errno == errno.ENOEXEC and "e_shentsize is 40" in ei.value.strerror


def test_section_past_end_is_enoexec(payload):
    elf = ElfImage(payload)
    victim = elf.section(".modinfo")
    data = bytearray(payload)
    struct.pack_into("<Q", data, elf.e_shoff + 64 * victim.index + 32, len(payload))
    bad = ElfImage(bytes(data))
    with pytest.raises(PymodError) as ei:
        bad.modinfo()
    assert ei.value.errno == errno.ENOEXEC and ".modinfo" in ei.value.strerror


def test_garbage_never_crashes(payload):
    rng = random.Random(1234)
    outcomes = {"ok": 0, "enoexec": 0}
    for _ in range(400):
        data = bytearray(payload)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 24)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            _exercise(bytes(data))
            outcomes["ok"] += 1
        except PymodError as exc:
            assert exc.errno == errno.ENOEXEC and exc.strerror
            outcomes["enoexec"] += 1
    assert outcomes["ok"] > 0 and outcomes["enoexec"] > 0
    for _ in range(100):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        try:
            _exercise(b"\x7fELF" + noise)
        except PymodError as exc:
            assert exc.errno == errno.ENOEXEC
