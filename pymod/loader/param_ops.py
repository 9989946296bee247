"""The kernel's parameter types (``kernel/params.c``): each ``param_ops_*``
as a setter (text -> bytes in module memory, or an errno) and a getter
(what ``/sys/module/<m>/parameters/<p>`` prints), with ``lib/kstrtox.c``'s
number rules: base from the prefix (0x hex, 0 octal), one trailing newline
allowed, ERANGE past the type, EINVAL for anything else."""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable
from dataclasses import dataclass

MASK64 = (1 << 64) - 1


def kstrtoull(s: str) -> int:
    """``kstrtoull(s, 0)``: the value, or raises OSError(EINVAL/ERANGE)."""
    if s.startswith("+"):
        s = s[1:]
    return _kstrtoull(s)


def _kstrtoull(s: str) -> int:
    base = 10
    if s.startswith("0"):
        base = 16 if s[1:2].lower() == "x" and s[2:3] and s[2] in "0123456789abcdefABCDEF" \
            else 8
    if base == 16:
        s = s[2:]
    n, value = 0, 0
    while n < len(s) and s[n].lower() in "0123456789abcdef"[:base]:
        value = value * base + int(s[n], 16)
        n += 1
    if value > MASK64:
        raise OSError(errno.ERANGE, "out of range")
    if n == 0:
        raise OSError(errno.EINVAL, "not a number")
    rest = s[n:]
    if rest not in ("", "\n"):
        raise OSError(errno.EINVAL, "not a number")
    return value


def kstrtoll(s: str) -> int:
    if s.startswith("-"):
        tmp = _kstrtoull(s[1:])
        if tmp > 1 << 63:
            raise OSError(errno.ERANGE, "out of range")
        return -tmp
    tmp = kstrtoull(s)
    if tmp >= 1 << 63:
        raise OSError(errno.ERANGE, "out of range")
    return tmp


def kstrtobool(s: str | None) -> bool:
    if not s:
        raise OSError(errno.EINVAL, "not a boolean")
    if s[0] in "yYtT1":
        return True
    if s[0] in "nNfF0":
        return False
    if s[0] in "oO" and s[1:2] in ("n", "N"):
        return True
    if s[0] in "oO" and s[1:2] in ("f", "F"):
        return False
    raise OSError(errno.EINVAL, "not a boolean")


def _ranged(parse: Callable[[str], int], lo: int, hi: int) -> Callable[[str], int]:
    def convert(s: str) -> int:
        v = parse(s)
        if not lo <= v <= hi:
            raise OSError(errno.ERANGE, "out of range")
        return v
    return convert


@dataclass(frozen=True)
class IntType:
    """A STANDARD_PARAM_DEF type: its size, struct format, parser and printf."""

    size: int
    fmt: str
    parse: Callable[[str], int]
    show: Callable[[int], str]


INT_TYPES: dict[str, IntType] = {
    "byte": IntType(1, "<B", _ranged(kstrtoull, 0, 0xFF), str),
    "short": IntType(2, "<h", _ranged(kstrtoll, -(1 << 15), (1 << 15) - 1), str),
    "ushort": IntType(2, "<H", _ranged(kstrtoull, 0, 0xFFFF), str),
    "int": IntType(4, "<i", _ranged(kstrtoll, -(1 << 31), (1 << 31) - 1), str),
    "uint": IntType(4, "<I", _ranged(kstrtoull, 0, 0xFFFFFFFF), str),
    "long": IntType(8, "<q", kstrtoll, str),
    "ulong": IntType(8, "<Q", kstrtoull, str),
    "ullong": IntType(8, "<Q", kstrtoull, str),
    # the kernel's vsnprintf prints "0x" even for 0 (glibc's would not)
    "hexint": IntType(4, "<I", _ranged(kstrtoull, 0, 0xFFFFFFFF), lambda v: "%#08x" % v),
}
# bool-like ops take no value (KERNEL_PARAM_OPS_FL_NOARG): "foo" means foo=1.
NOARG = frozenset({"bool", "bool_enable_only", "bint"})
BOOL_SIZES = {"bool": 1, "bool_enable_only": 1, "invbool": 1, "bint": 4}
CHARP_MAX = 1024
# vmlinux's own ops, by exported name: the only ones pymod runs.  Any other
# ops (the module's, another module's, vmlinux's param_ops_dyndbg_classes)
# are code pymod does not model.
STANDARD_OPS: dict[str, str] = {
    **{"param_ops_" + k: k for k in (*INT_TYPES, *BOOL_SIZES, "charp", "string")},
    "param_array_ops": "array",
}
KERNEL_PARAM_OPS_FL_NOARG = 1


def encode_int(kind: str, value: int) -> bytes:
    t = INT_TYPES[kind]
    return struct.pack(t.fmt, value)


def decode_int(kind: str, data: bytes) -> int:
    t = INT_TYPES[kind]
    return int(struct.unpack(t.fmt, data[:t.size])[0])


def elem_size(kind: str) -> int:
    if kind in INT_TYPES:
        return INT_TYPES[kind].size
    if kind in BOOL_SIZES:
        return BOOL_SIZES[kind]
    return 8                                       # charp: a pointer
