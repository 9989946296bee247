"""A tiny program built here with ``gcc -g -O2`` and named ``vmlinux``: debug
info with inlined frames and two static functions of one name, for the
symbolizer's source lines; and ``addr2line -f -i`` as the oracle."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pymod.symbolize.lines import Frame

# An inlined helper and a static function named like B_C's (both programs').
HELPER_C = r"""
static inline int sq(int x) { return x * x + (x > 3 ? 1 : 2); }
static __attribute__((noinline)) int helper(int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += sq(i) ^ i;
	return s;
}
int from_b(int);
"""
A_C = HELPER_C + r"""int main(int argc, char **argv)
{ (void)argv; return helper(argc) + from_b(argc); }
"""
B_C = r"""
static inline int cube(int x) { return x * x * x - (x > 2 ? 5 : 1); }
static __attribute__((noinline)) int helper(int n)
{
	int s = 1;
	for (int i = 0; i < n; i++)
		s ^= cube(i + s);
	return s;
}
int from_b(int n) { return helper(n * 3) + 1; }
"""


def build(directory: Path) -> Path:
    """``directory/vmlinux``, linked from a.c and b.c (each has a ``helper``)."""
    for tool in ("gcc", "addr2line"):
        if shutil.which(tool) is None:
            pytest.skip("%s not found" % tool)
    (directory / "a.c").write_text(A_C)
    (directory / "b.c").write_text(B_C)
    subprocess.run(["gcc", "-g", "-O2", "a.c", "b.c", "-o", "vmlinux"], cwd=directory,
                   check=True, capture_output=True)
    return directory / "vmlinux"


def addr2line(path: Path, addrs: list[int]) -> dict[int, list[tuple[str, str]]]:
    """``addr2line -a -f -i`` in one run: address -> [(function, file:line)]."""
    out = subprocess.run(["addr2line", "-a", "-f", "-i", "-e", str(path)],
                         input="".join("%x\n" % a for a in addrs), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    res: dict[int, list[tuple[str, str]]] = {}
    i = 0
    while i < len(out):
        if out[i].startswith("0x"):
            cur = res.setdefault(int(out[i], 16), [])
            i += 1
        else:
            cur.append((out[i], out[i + 1]))
            i += 2
    return res


def as_addr2line(frames: tuple[Frame, ...] | list[Frame]) -> list[tuple[str, str]]:
    """Frames printed as addr2line prints them (the innermost row's
    discriminator follows every line)."""
    disc = frames[0].discriminator if frames else 0
    out = []
    for f in frames:
        line = str(f.line) if f.line else "?"
        if f.line and disc:
            line += " (discriminator %d)" % disc
        out.append((f.function or "??", "%s:%s" % (f.file, line)))
    return out


def agrees(ours: tuple[Frame, ...] | list[Frame], theirs: list[tuple[str, str]]) -> bool:
    """Equal to addr2line's answer, except where the DWARF names no function
    (addr2line then prints an ELF symbol's name; no line: ``??:0``)."""
    if not ours:
        return len(theirs) == 1 and theirs[0][1].endswith((":?", ":0"))
    mine = as_addr2line(ours)
    if ours[0].function is None and len(mine) == len(theirs):
        return mine[0][1] == theirs[0][1] and mine[1:] == theirs[1:]
    return mine == theirs


# For the symbolize command's batch path: kernel addresses, a build
# directory (kernel_init in init/main.c), a name the script's split cuts
# (odd:name), one that is not ASCII, and a file name with a control byte.
KERNEL_C = HELPER_C + r"""__attribute__((noinline)) int odd(int n) __asm__("\"odd:name\"");
__attribute__((noinline)) int odd(int n) { return n * 7 + 1; }
__attribute__((noinline)) int cafe(int n) __asm__("\"caf\xc3\xa9\"");
__attribute__((noinline)) int cafe(int n) { return n * 9 + 3; }
int kernel_init(int n) { return helper(n) + from_b(n) + odd(n) + cafe(n); }
#line 1 "we\x01ird.c"
__attribute__((noinline)) int weird(int n) { return n * 11 + 5; }
int start(int n) { return kernel_init(n) + weird(n); }
"""
KERNEL_TEXT = 0xffffffff81000000


def build_kernel_like(directory: Path) -> Path:
    """``directory/vmlinux``: KERNEL_C as init/main.c and B_C as
    kernel/b.c, linked at KERNEL_TEXT (not runnable; its DWARF is real)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    (directory / "init").mkdir()
    (directory / "kernel").mkdir()
    (directory / "init" / "main.c").write_text(KERNEL_C)
    (directory / "kernel" / "b.c").write_text(B_C)
    subprocess.run(["gcc", "-g", "-O2", "-mcmodel=kernel", "-fno-pie", "-no-pie", "-nostdlib",
                    "-ffreestanding", "-fno-asynchronous-unwind-tables",
                    "-Wl,-Ttext=%#x" % KERNEL_TEXT, "-Wl,-e,start", "init/main.c",
                    "kernel/b.c", "-o", "vmlinux"], cwd=directory, check=True,
                   capture_output=True)
    return directory / "vmlinux"
