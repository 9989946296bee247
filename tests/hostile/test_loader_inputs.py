"""Hostile inputs to the loader, its parameters and its tree walk (issue 15).

Each input is a module file of a few KB, or a directory.  Before these
fixes an array parameter declaring 2^32 elements made ``queries.sysfs()``
join 4 billion strings, a 7 KB ``.ko`` declaring a 992 MB ``.bss`` cost
1.06 GB, an empty ``.exit.text`` raised AssertionError, a huge
``sh_addralign`` or ``init_result=-2**31`` raised OverflowError, 4*10^5
parameters took a minute, a directory nested 1,500 deep raised
RecursionError, and an exception of another type stopped a whole batch.
"""

from __future__ import annotations

import errno
import os
import resource
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pymod import InvalidArgument, Kernel, ModuleLoadError, PymodError
from pymod.contract.internal import PAGE_SIZE
from pymod.contract.kver import rules_for
from pymod.contract.sections import kernel_align
from pymod.loader import queries, relocate
from pymod.samples import default_symvers, prebuilt_path
from pymod.symbolize.placement import place_ko
from tests.hostile.test_memory_bounds import run_bounded
from tests.loader.support import assert_consistent, snapshot
from tests.loader.test_kver import load as load_on

HELLO = prebuilt_path("pm_hello").read_bytes()
REPO = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------ crafting
_SHDR = struct.Struct("<IIQQQQIIQQ")
_FIELDS = ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link",
           "sh_info", "sh_addralign", "sh_entsize")


def sections(image: bytes) -> dict[str, tuple[int, dict[str, int]]]:
    """Section name -> (header offset in the file, fields)."""
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", image, 0x3C)
    heads = [(shoff + 64 * i, dict(zip(_FIELDS, _SHDR.unpack_from(image, shoff + 64 * i),
                                        strict=True))) for i in range(shnum)]
    names = heads[shstrndx][1]
    strtab = image[names["sh_offset"]:names["sh_offset"] + names["sh_size"]]
    return {strtab[h["sh_name"]:strtab.index(b"\0", h["sh_name"])].decode(): (at, h)
            for at, h in heads}


def with_section(image: bytes, name: str, **fields: int) -> bytes:
    """``image`` with section ``name``'s header fields set."""
    at, head = sections(image)[name]
    out = bytearray(image)
    _SHDR.pack_into(out, at, *[fields.get(f, head[f]) for f in _FIELDS])
    return bytes(out)


def section_bytes(image: bytes, name: str) -> bytes:
    head = sections(image)[name][1]
    return image[head["sh_offset"]:head["sh_offset"] + head["sh_size"]]


def named(name: str, depends: str = "", image: bytes = HELLO, **modinfo: bytes) -> bytes:
    """pm_hello as module ``name`` (8 characters, as "pm_hello"): renamed in
    its struct module and its modinfo (moved to the end of the file, with
    ``depends`` and the ``modinfo`` fields given)."""
    assert len(name) == 8
    out = bytearray(image)
    this = sections(image)[".gnu.linkonce.this_module"][1]
    at = out.index(b"pm_hello\0", this["sh_offset"], this["sh_offset"] + this["sh_size"])
    out[at:at + 8] = name.encode()
    given = {b"name": name.encode(), b"depends": depends.encode(),
             **{k.encode(): v for k, v in modinfo.items()}}
    fields = [f for f in section_bytes(image, ".modinfo").split(b"\0")
              if f and f.partition(b"=")[0] not in given]
    blob = b"\0".join([*fields, *(k + b"=" + v for k, v in given.items())]) + b"\0"
    return with_section(bytes(out), ".modinfo", sh_offset=len(out), sh_size=len(blob)) + blob


def run_python(code: str, limit: int = 1 << 30, timeout: float = 120) -> str:
    """``code`` in a child under RLIMIT_AS ``limit``; its stdout (it must succeed)."""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=timeout, cwd=REPO,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert p.returncode == 0, p.stderr
    return p.stdout


# ------------------------------------------------------------------ sysfs, one page
def unbounded_array() -> bytes:
    """pm_params whose ``levels`` array declares max = 0xffffffff and no
    ``num`` (the relocation that fills num's pointer turned into R_X86_64_NONE)."""
    image = bytearray(prebuilt_path("pm_params").read_bytes())
    heads = sections(bytes(image))
    rodata, rela = heads[".rodata"][1], heads[".rela.rodata"][1]
    symtab, strtab = heads[".symtab"][1], heads[".strtab"][1]
    arr = None
    for off in range(symtab["sh_offset"], symtab["sh_offset"] + symtab["sh_size"], 24):
        st_name, = struct.unpack_from("<I", image, off)
        at = strtab["sh_offset"] + st_name
        if bytes(image[at:image.index(b"\0", at)]) == b"__param_arr_levels":
            arr, = struct.unpack_from("<Q", image, off + 8)
    assert arr is not None
    struct.pack_into("<I", image, rodata["sh_offset"] + arr, 0xFFFFFFFF)        # max
    for off in range(rela["sh_offset"], rela["sh_offset"] + rela["sh_size"], 24):
        r_offset, r_info = struct.unpack_from("<QQ", image, off)
        if r_offset == arr + 8:                                                  # num
            struct.pack_into("<Q", image, off + 8, r_info & ~0xFFFFFFFF)
    return bytes(image)


def test_an_array_of_2_32_elements_shows_one_page(tmp_path):
    """param_array_get asks each element's get in turn, into the one page
    sysfs gave: a read returns PAGE_SIZE - 1 bytes (sysfs_kf_seq_show).
    Before, the 4 billion elements were all joined (1.1 GB, then more)."""
    path = tmp_path / "arr.ko"
    path.write_bytes(unbounded_array())
    out = run_python(
        "import errno, pymod\n"
        "from pymod.loader import queries\n"
        "k = pymod.Kernel(); m = k.load_module(%r)\n"
        "kp = next(p for p in m.kp if p.name == 'levels')\n"
        "def show(i):\n"
        "    try: return str(int.from_bytes(queries.read(k, kp.arg + 4 * i, 4), 'little',\n"
        "                                   signed=True))\n"
        "    except pymod.PymodError as e: assert e.errno == errno.EFAULT; return ''\n"
        "want = ','.join(show(i) for i in range(4096))[:%d]\n"
        "print(kp.array[:3] == (0xffffffff, 4, 0),\n"
        "      queries.sysfs(k, 'pm_params')['parameters/levels']"
        " == want, want[:8])\n" % (str(path), PAGE_SIZE - 1), timeout=60)
    assert out.split() == ["True", "True", "1,2,0,0,"]


def test_a_long_version_is_cut_at_the_page():
    """show_modinfo_version: scnprintf(buffer, PAGE_SIZE, "%s\\n")."""
    k = Kernel()
    k.load_module(named("pm_hello", version=b"v" * 10000))
    assert queries.sysfs(k, "pm_hello")["version"] == "v" * (PAGE_SIZE - 1)
    k2 = Kernel()
    k2.load_module(named("pm_hello", version=b"v" * (PAGE_SIZE - 2)))
    assert queries.sysfs(k2, "pm_hello")["version"] == "v" * (PAGE_SIZE - 2)   # it and \n fit


# ------------------------------------------------------------------ .bss, lazily
def test_a_gigabyte_of_bss_costs_what_is_written(tmp_path):
    """vmalloc maps pages only when touched; so does pymod for a large
    region.  Before, the bytearray was filled: 1.06 GB for a 7 KB file."""
    bss = 992 << 20
    path = tmp_path / "bss.ko"
    path.write_bytes(with_section(HELLO, ".bss", sh_size=bss))
    p, rss = run_bounded("load", str(path))
    assert p.returncode == 0, p.stderr
    name, size = p.stdout.split()[:2]
    assert name == "pm_hello" and int(size) > bss
    assert rss < 200 << 20, rss


def test_a_lazy_region_reads_and_relocates_as_before():
    """The large region is read and relocated in as a bytearray is: zeros
    where nothing was written, and struct module's exit pointer (in the
    data region, relocated) pointing at the module's exit function."""
    k = Kernel()
    mod = k.load_module(with_section(HELLO, ".bss", sh_size=8 << 20))
    bss = mod.section_addrs[".bss"]
    assert queries.read(k, bss + (4 << 20), 16) == bytes(16)
    this = mod.section_addrs[".gnu.linkonce.this_module"]
    exit_fn = int.from_bytes(queries.read(k, this + rules_for(k.config).exit_offset, 8), "little")
    assert exit_fn == mod.section_addrs[".exit.text"] and mod.has_exit
    assert_consistent(k)


# ------------------------------------------------------------------ empty sections
@pytest.mark.parametrize("series", ["6.12", "6.1"])
def test_an_empty_exit_text_with_relocations_is_refused_by_pymods_own_check(series):
    """.exit.text alone in its memory type, of size 0: move_module allocates
    no region, so the kernel applies .rela.exit.text at NULL + r_offset (an
    oops); pymod refuses each such write.  Before: AssertionError."""
    image = with_section(HELLO, ".exit.text", sh_size=0)
    k, got = load_on(series, image)
    before = snapshot(k)
    assert isinstance(got, ModuleLoadError) and got.errno == errno.ENOEXEC
    assert "relocation 0 of .rela.exit.text writes at 0x" in got.strerror
    assert "pymod's own check" in got.strerror
    assert snapshot(k) == before
    assert_consistent(k)


@pytest.mark.parametrize("series", ["6.12", "6.1"])
def test_an_empty_section_without_relocations_loads(series):
    image = with_section(with_section(HELLO, ".exit.text", sh_size=0), ".rela.exit.text",
                         sh_size=0)
    k, mod = load_on(series, image)
    assert not isinstance(mod, Exception), mod
    assert ".exit.text" not in mod.section_addrs        # sections/ lists none of size 0
    assert_consistent(k)


def test_no_assertion_is_reachable_through_relocations():
    assert "AssertionError" not in Path(relocate.__file__).read_text()


# ------------------------------------------------------------------ alignment
def test_align_is_the_kernels_unsigned_int_macro():
    """ALIGN(x, a) with x an unsigned int: a is cut to 32 bits, the sum wraps."""
    assert kernel_align(100, 16) == 112 and kernel_align(112, 16) == 112
    assert kernel_align(100, 1 << 32) == 0          # (u32)a == 0: mask of all ones
    assert kernel_align(100, (1 << 64) - 1) == 0    # (u32)a - 1 = 0xfffffffe: bit 0 kept, 100 even
    assert kernel_align(101, (1 << 64) - 1) == 1
    assert kernel_align(100, 1 << 31) == 1 << 31
    assert kernel_align(0xFFFFFFF1, 16) == 0        # wraps past 2^32
    assert kernel_align(1, 3) == 1                  # (1 + 2) & ~2: no multiple of 3


@pytest.mark.parametrize("align", [1 << 63, (1 << 64) - 1, 1 << 40, 1 << 32, 1 << 31, 3])
@pytest.mark.parametrize("section", [".rodata.str1.1", ".gnu.linkonce.this_module", ".bss",
                                     "__mcount_loc", ".symtab"])
def test_a_huge_alignment_is_laid_out_as_the_kernel_does(section, align):
    """Before: OverflowError in place_ko, and offsets past 2^64."""
    image = with_section(HELLO, section, sh_addralign=align)
    k = Kernel()
    try:
        mod = k.load_module(image)
    except ModuleLoadError as e:
        assert e.errno == errno.ENOMEM and align == 1 << 31   # a 2 GiB offset: no room
    else:
        assert all(a < 1 << 64 for a in mod.section_addrs.values())
        place_ko(image, sections=dict(mod.section_addrs))
    assert_consistent(k)
    good = Kernel().load_module(HELLO).section_addrs
    for kw in ({"base": 0xFFFFFFFFC0000000}, {"sections": good},
               {"sections": good, "init": True},
               {"sections": {".rodata.str1.1": good[".rodata.str1.1"]}}):
        try:
            place_ko(image, **kw)
        except PymodError as e:
            assert e.errno == errno.EINVAL and "place_ko: section" in e.strerror


@pytest.mark.parametrize("align,shown", [(1 << 63, "-9223372036854775808"),
                                         (1 << 40, "1099511627776")])
def test_a_huge_per_cpu_alignment_is_printed_as_the_kernel_prints_it(align, shown):
    """percpu_modalloc: pr_warn("%s: per-cpu alignment %li > %li\\n"), of an
    unsigned long; the allocation goes on at PAGE_SIZE."""
    image = with_section(prebuilt_path("pm_params").read_bytes(), ".data..percpu",
                         sh_addralign=align)
    k = Kernel()
    mod = k.load_module(image)
    assert ("warn", "pm_params: per-cpu alignment %s > %d" % (shown, PAGE_SIZE)) in k.log.lines
    assert mod.percpu % PAGE_SIZE == 0


# ------------------------------------------------------------------ init's return
def test_init_returns_any_c_int():
    """do_one_initcall returns the init function's int as it is;
    do_init_module fails the load for any negative one.  Before,
    -2**31 raised OverflowError (strerror of 2**31)."""
    k = Kernel()
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(HELLO, init_result=-2**31)
    assert (ei.value.errno, ei.value.stage) == (2**31, "init")
    assert ei.value.strerror == "pm_hello: module init failed: Unknown error 2147483648"
    assert str(ei.value).startswith("[E2147483648]") and ei.value.errno_text
    assert snapshot(k) == before
    assert k.load_module(HELLO, init_result=2**31 - 1).name == "pm_hello"   # warned, loads
    assert "suspiciously returned 2147483647" in k.log.lines[-1][1]


@pytest.mark.parametrize("value", [2**31, -2**31 - 1, 2**64])
def test_an_init_result_no_int_holds_changes_nothing(value):
    k = Kernel()
    before = snapshot(k)
    with pytest.raises(InvalidArgument, match="no C int"):
        k.load_module(HELLO, init_result=value)
    assert snapshot(k) == before and k.log.lines == []


# ------------------------------------------------------------------ parse_args
def _parse_cost(n: int) -> float:
    args = " ".join("u%d=1" % i for i in range(n))
    best = float("inf")
    for _ in range(3 if n < 50000 else 1):
        k = Kernel()
        start = time.process_time()
        k.load_module(HELLO, params=args)
        best = min(best, time.process_time() - start)
        assert len(k.log.lines) == n + 1       # each one warned about ("ignored")
    return best


@pytest.mark.slow
def test_many_parameters_cost_linear_time():
    """parse_args walked the arguments by slicing off the rest each time:
    4*10^5 unknown parameters took 53 s.  Its cost is copying, which no
    operation count sees: two sizes' CPU times are compared in one run
    (8 times the parameters may cost 8 times, with room, not 64)."""
    small, large = _parse_cost(20000), _parse_cost(160000)
    assert large < 24 * small, (small, large)


# ------------------------------------------------------------------ deep trees
@pytest.fixture(scope="module")
def deep_tree(tmp_path_factory) -> Iterator[Path]:
    """A modules tree with pm_exporter at the top and pm_hello 1,500
    directories down (made with descriptors: the path is too deep for
    os.makedirs' recursion), and a link to '.' on the way."""
    root = tmp_path_factory.mktemp("deep") / "lib"
    top = root / "modules" / "6.12.0-pymod-amd64"
    top.mkdir(parents=True)
    try:
        fd = os.open(top, os.O_RDONLY)
        try:
            for _ in range(1500):
                os.mkdir("d", dir_fd=fd)
                below = os.open("d", os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = below
            out = os.open("pm_hello.ko", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(out, HELLO)
            os.close(out)
        finally:
            os.close(fd)
        (top / "pm_exporter.ko").write_bytes(prebuilt_path("pm_exporter").read_bytes())
        (top / "d" / "loop").symlink_to(".")
        yield top
    finally:
        remove_deep(root)


def remove_deep(top: Path) -> None:
    """Remove a tree of any depth: shutil.rmtree recurses, so pytest's own
    clean-up of old temporary directories would die on this one later."""
    stack = [(os.open(top, os.O_RDONLY | os.O_DIRECTORY), "")]
    while stack:
        fd = stack[-1][0]
        below = None
        with os.scandir(fd) as entries:
            for entry in list(entries):
                if not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.name, dir_fd=fd)
                elif below is None:
                    below = entry.name
        if below is not None:
            stack.append((os.open(below, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), below))
            continue
        os.close(fd)
        name = stack.pop()[1]
        if stack:
            os.rmdir(name, dir_fd=stack[-1][0])
    os.rmdir(top)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["deps", "load", "check", "symbolize"])
def test_a_tree_1500_deep_is_walked(deep_tree, tmp_path, tool):
    """Before: RecursionError in every tool that walks a tree."""
    if tool == "deps":
        p, _ = run_bounded("deps", "-o", "-", str(deep_tree))
        assert p.returncode == 0 and p.stdout.count("pm_hello.ko:") == 1
    elif tool == "load":
        p, _ = run_bounded("load", str(deep_tree))
        assert p.returncode == 0 and "pm_hello" in p.stdout and "pm_exporter" in p.stdout
    elif tool == "check":      # the target's tree: walked for a sample and for dependencies
        config = tmp_path / "config"
        config.write_text("CONFIG_MODULES=y\nCONFIG_MODULE_UNLOAD=y\n")
        p, _ = run_bounded("check", "--kernel-dir", str(deep_tree), "--config", str(config),
                           "--symvers", str(default_symvers()),
                           str(prebuilt_path("pm_importer")))
        assert p.returncode == 1 and p.stdout.startswith(str(prebuilt_path("pm_importer")))
    else:
        mods = tmp_path / "modules"
        mods.write_text("pm_hello 12288 0 - Live 0xffffffffc0000000\n")
        stack = tmp_path / "in"
        stack.write_text("ffffffffc0000000\n")
        p, _ = run_bounded("symbolize", "--ko-dir", str(deep_tree), "--modules", str(mods),
                           str(stack))
        assert p.returncode == 0 and "[pm_hello]" in p.stdout, p.stderr
    assert "Traceback" not in p.stderr and "Recursion" not in p.stderr, p.stderr
