"""What ``/sys/module/<m>/parameters/<p>`` shows: each parameter's ``get``
(``kernel/params.c``) read back from module memory, within the one page a
sysfs read returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymod.contract.internal import PAGE_SIZE, Module
from pymod.features.sysfs import one_page
from pymod.loader import param_ops as ops
from pymod.loader.memory import read_mem, read_string

if TYPE_CHECKING:
    from pymod.loader.params import KernelParam
    from pymod.loader.registry import Registry

__all__ = ["param_files", "show_param"]


def param_files(reg: Registry, mod: Module) -> dict[str, str]:
    """``parameters/<name>`` for every parameter with a readable mode."""
    out = {}
    for kp in mod.kp:
        if kp.perm & 0o444:
            out["parameters/" + kp.name] = show_param(reg, mod, kp)
    return out


def show_param(reg: Registry, mod: Module, kp: KernelParam) -> str:
    """The ops' ``get``, without its newline, as a read of the sysfs file
    returns it: sysfs hands ``show`` one page and returns at most
    PAGE_SIZE - 1 bytes of it (``sysfs_kf_seq_show``: a longer answer,
    newline included, is cut there, and the newline with it)."""
    if kp.kind == "custom" or kp.array is not None and kp.array[3] == "custom":
        text = kp.custom_value or ""
    elif kp.kind == "string" and kp.string is not None:
        text = read_string(mod, kp.string[1]) or ""
    elif kp.kind == "array" and kp.array is not None:
        text = _show_array(reg, mod, kp)
    else:
        text = _show_scalar(reg, mod, kp.kind, kp.arg)
    return one_page(text)


def _show_array(reg: Registry, mod: Module, kp: KernelParam) -> str:
    """``param_array_get``: every element's ``get`` (its newline turned into
    a comma by the next), ``*num`` of them, or ``max`` without ``num``.
    Only what reaches the page is asked for: an array of 2^32 elements
    costs one page, not 2^32 strings."""
    assert kp.array is not None
    mx, esize, num_p, kind = kp.array
    raw = read_mem(mod, num_p, 4) if num_p else None
    count = int.from_bytes(raw, "little") if raw is not None else mx
    parts: list[str] = []
    length = 0
    for i in range(count):
        if length >= PAGE_SIZE:
            break                  # the rest lies past the page
        parts.append(_show_scalar(reg, mod, kind, kp.arg + i * esize))
        length += len(parts[-1].encode("utf-8", "surrogateescape")) + 1
    return ",".join(parts)


def _show_scalar(reg: Registry, mod: Module, kind: str, arg: int) -> str:
    size = ops.elem_size(kind)
    raw = read_mem(mod, arg, size)
    if raw is None:
        return ""
    if kind in ops.INT_TYPES:
        return ops.INT_TYPES[kind].show(ops.decode_int(kind, raw))
    if kind == "bint":
        return str(int.from_bytes(raw, "little", signed=True))
    if kind in ops.BOOL_SIZES:
        value = raw != bytes(size)
        return ("N" if value else "Y") if kind == "invbool" else ("Y" if value else "N")
    if kind == "charp":
        ptr = int.from_bytes(raw, "little")
        if ptr in mod.heap:
            return mod.heap[ptr].decode("utf-8", "surrogateescape")
        return "(null)" if ptr == 0 else read_string(mod, ptr) or ""
    return ""
