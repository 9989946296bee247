"""Module parameters: the ``__param`` table read back from relocated module
memory, ``parse_args`` over the load's argument string (``kernel/params.c``,
``lib/cmdline.c``); what ``/sys/module/<m>/parameters/`` shows is
:mod:`pymod.loader.param_sysfs`.

A parameter's type is its ``ops``: vmlinux's ``param_ops_<type>`` (found
by address in the symbol directory), ``param_array_ops`` or ``param_ops_string``.
Values are written into module memory where the kernel's setter writes
them; a ``charp`` points at a kernel-heap copy, kept with the module
(``Module.heap``) so that it goes when the module does.  Any other ops
(the module's own, found in its symbol table; another module's export;
vmlinux's ``param_ops_dyndbg_classes``) run code pymod does not model:
pymod accepts any value for such a parameter, shows the text it was
given, and records that the load went on only *if that code agrees*
(:class:`pymod.contract.internal.Undecided` in ``Module.undecided``).
"""

from __future__ import annotations

import errno
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pymod.contract.internal import LoadInfo, Module, Taint, Undecided
from pymod.elf.strings import string_reader
from pymod.errors import ModuleLoadError
from pymod.loader import param_ops as ops
from pymod.loader.memory import read_mem, read_string, write_mem

if TYPE_CHECKING:
    from pymod.loader.registry import Registry

KPARAM = struct.Struct("<QQQHbBxxxxQ")   # struct kernel_param: 40 bytes on x86-64
KPARAM_ARRAY = struct.Struct("<IIQQQ")   # max, elemsize, num *, ops *, elem *
KPARAM_STRING = struct.Struct("<IxxxxQ")  # maxlen, string *
KERNEL_PARAM_FL_UNSAFE = 1
KERNEL_PARAM_FL_HWPARAM = 2
# Where pymod puts a charp value's kernel-heap copy (a stand-in address).
KMALLOC_BASE = 0xFFFF888100000000
STT_OBJECT = 1


@dataclass(frozen=True)
class OpsRef:
    """``kernel_param_ops`` pymod does not run: the symbol naming them
    (``"0x..."`` when none does) and whose they are (a module's name,
    ``"vmlinux"``, or ``""`` when no loaded code holds them)."""

    symbol: str
    owner: str


@dataclass
class KernelParam:
    """One ``struct kernel_param`` after relocation."""

    name: str
    kind: str               # int, uint, bool, charp, string, array, ... or "custom"
    perm: int
    level: int
    flags: int
    arg: int
    array: tuple[int, int, int, str] | None = None   # max, elemsize, num address, elem kind
    string: tuple[int, int] | None = None            # maxlen, buffer address
    custom_value: str | None = None
    # ops whose set is not the kernel's (this param's, or its array elements')
    foreign: OpsRef | None = None
    noarg: bool = False     # KERNEL_PARAM_OPS_FL_NOARG: "p" alone is allowed


def read_params(reg: Registry, mod: Module, info: LoadInfo) -> list[KernelParam]:
    """``section_objs(info, "__param", ...)``, read from module memory."""
    from pymod.contract.sections import find_sec

    ndx = find_sec(info, "__param")
    if not ndx or info.sec_addr is None:
        return []
    base, size = int(info.sec_addr[ndx]), int(info.shdrs[ndx]["sh_size"])
    table = read_mem(mod, base, size - size % KPARAM.size)
    if table is None:
        return []
    out = []
    for off in range(0, len(table), KPARAM.size):
        name_p, _mod, ops_p, perm, level, flags, arg = KPARAM.unpack_from(table, off)
        name = read_string(mod, name_p) or ""
        kind, foreign = _ops_kind(reg, mod, info, ops_p)
        p = KernelParam(name, kind, perm, level, flags, arg, foreign=foreign,
                        noarg=kind in ops.NOARG if foreign is None
                        else bool(_ops_flags(reg, mod, ops_p) & ops.KERNEL_PARAM_OPS_FL_NOARG))
        if kind == "array":
            raw = read_mem(mod, arg, KPARAM_ARRAY.size)
            if raw is not None:
                mx, esize, num_p, eops, elem = KPARAM_ARRAY.unpack(raw)
                ekind, p.foreign = _ops_kind(reg, mod, info, eops)
                p.array = (mx, esize, num_p, ekind)
                p.arg = elem
        elif kind == "string":
            raw = read_mem(mod, arg, KPARAM_STRING.size)
            if raw is not None:
                p.string = KPARAM_STRING.unpack(raw)
        out.append(p)
    return out


def _ops_kind(reg: Registry, mod: Module, info: LoadInfo,
              addr: int) -> tuple[str, OpsRef | None]:
    """The kind of vmlinux's standard ops at ``addr``, else ("custom", whose)."""
    name = reg.symbols.name_at(addr)
    vmlinux = reg.symbols.vmlinux.get(name) if name is not None else None
    if name in ops.STANDARD_OPS and vmlinux is not None and vmlinux.value == addr:
        return ops.STANDARD_OPS[name], None
    if name is not None:
        sym = reg.symbols.find_symbol(name)
        return "custom", OpsRef(name, sym.owner if sym is not None and sym.owner else "vmlinux")
    own = _own_object_at(info, addr)
    if own is not None:
        return "custom", OpsRef(own, mod.name)
    holder = reg.find(addr)
    return "custom", OpsRef("%#x" % addr, holder.name if holder is not None else "")


def _own_object_at(info: LoadInfo, addr: int) -> str | None:
    """The module's own data symbol at ``addr`` (static ops are in its symtab)."""
    if info.symvals is None:
        return None
    import numpy as np

    syms = info.syms
    hits = np.flatnonzero((info.symvals == np.uint64(addr))
                          & ((syms["st_info"] & 0xF) == STT_OBJECT))
    name_at = string_reader(info.strtab)
    names = [name_at(int(syms["st_name"][i])) for i in hits]
    return next((n for n in names if n), None)


def _ops_flags(reg: Registry, mod: Module, addr: int) -> int:
    """``ops->flags`` (the struct's first field) where module memory holds
    them; 0 otherwise (vmlinux's param_ops_dyndbg_classes has none)."""
    raw = read_mem(mod, addr, 4)
    holder = reg.find(addr) if raw is None else None
    if holder is not None:
        raw = read_mem(holder, addr, 4)
    return int.from_bytes(raw, "little") if raw is not None else 0


# ------------------------------------------------------------------ parse_args
# the kernel's isspace() in ASCII; a token also stops at a quote
_STOP = re.compile(r'[ \t\n\v\f\r"]')
_SPACES = re.compile(r"[ \t\n\v\f\r]*")


def next_arg(args: str) -> tuple[str, str | None, str]:
    """``next_arg``: (param, value or None, the rest)."""
    param, val, pos = next_arg_at(args, 0)
    return param, val, args[pos:]


def next_arg_at(args: str, pos: int) -> tuple[str, str | None, int]:
    """``next_arg`` from ``pos``: (param, value or None, where the next
    one starts), quotes as the kernel treats them (a quoted value or a
    quoted whole "param=value").  Positions, not slices: the rest of the
    string is never copied (which made many parameters quadratic)."""
    quoted = in_quote = args.startswith('"', pos)
    if quoted:
        pos += 1
    i, n = pos, len(args)
    while i < n:
        if in_quote:
            q = args.find('"', i)
            i, in_quote = (n, True) if q < 0 else (q + 1, False)
            continue
        m = _STOP.search(args, i)
        if m is None:
            i = n
        elif args[m.start()] == '"':
            i, in_quote = m.start() + 1, True
            continue
        else:
            i = m.start()
        break
    token = args[pos:i]
    equals = max(token.find("=", 1), 0)   # a leading '=' is no separator
    val: str | None = None
    if equals:
        param, val = token[:equals], token[equals + 1:]
        if val.startswith('"'):
            val = val[1:]
            if token.endswith('"'):
                val = val[:-1]
        elif quoted and token.endswith('"'):
            val = val[:-1]
    else:
        param = token[:-1] if quoted and token.endswith('"') else token
    return param, val, _skip_spaces(args, i + 1 if i < n else n)


def _skip_spaces(s: str, pos: int) -> int:
    m = _SPACES.match(s, pos)
    return m.end() if m else pos


def _param_key(name: str) -> str:
    """A parameter name as ``parameq`` compares it: '-' and '_' alike."""
    return name.replace("-", "_")


def parse_args(reg: Registry, mod: Module, args: str) -> None:
    """Parse ``args`` against ``mod.kp``; every error is logged, the last one
    fails the load; "--" ends the parameters (the rest is warned about).
    Parameters parsed by ops pymod does not run go to ``mod.undecided_params``
    (and to the error's ``undecided`` when the load fails here)."""
    log = reg.log
    err, message = 0, ""
    undecided: dict[str, Undecided] = {}
    # parse_one's scan finds the first parameter of a name (parameq):
    # one dictionary, not a scan per argument
    known: dict[str, KernelParam] = {}
    for kp in mod.kp:
        known.setdefault(_param_key(kp.name), kp)
    pos = _skip_spaces(args, 0)
    after_dashes: str | None = None
    while pos < len(args):
        param, val, pos = next_arg_at(args, pos)
        if val is None and param == "--":
            after_dashes = args[pos:]
            break
        ret, shown = _parse_one(reg, mod, known.get(_param_key(param)), param, val,
                                undecided)
        if ret == 0:
            continue
        if ret == errno.ENOENT:
            message = log.pr_err("%s: Unknown parameter `%s'" % (mod.name, param))
        elif ret == errno.ENOSPC:
            message = log.pr_err("%s: `%s' too large for parameter `%s'"
                                 % (mod.name, shown, param))
        else:
            message = log.pr_err("%s: `%s' invalid for parameter `%s'"
                                 % (mod.name, shown, param))
        err = ret
    mod.undecided_params = tuple(undecided.values())
    if err:
        error = ModuleLoadError(err, message, module=mod.name, stage="params")
        error.undecided = mod.undecided_params
        raise error
    if after_dashes is not None:
        log.pr_warn("%s: parameters '%s' after `--' ignored" % (mod.name, after_dashes))


def _parse_one(reg: Registry, mod: Module, kp: KernelParam | None, param: str,
               val: str | None, undecided: dict[str, Undecided]) -> tuple[int, str]:
    """``parse_one`` for ``param`` (``kp``, the first parameter of its name,
    or None): its result, and the value as the kernel's string then reads
    (what an error message shows)."""
    if kp is not None:
        if val is None and not kp.noarg:
            return errno.EINVAL, ""
        if kp.flags & KERNEL_PARAM_FL_HWPARAM and \
                reg.security_locked_down("unsafe module parameters"):
            return errno.EPERM, val or ""
        if kp.flags & KERNEL_PARAM_FL_UNSAFE:
            reg.log.pr_notice("Setting dangerous option %s - tainting kernel" % kp.name)
            reg.taint.add(Taint.USER)
        if kp.foreign is not None:
            undecided.setdefault(kp.name, _undecided(mod, kp, kp.foreign))
        try:
            set_param(reg, mod, kp, val)
        except OSError as e:
            return e.errno or errno.EINVAL, _left_of(kp, val or "")
        return 0, val or ""
    _unknown_module_param(reg, mod, param, val)
    return 0, val or ""


def _left_of(kp: KernelParam, val: str) -> str:
    """param_array nul-terminates each value it reaches, in place, and
    never puts the comma back: an error shows the first value only (all of
    it when an array of 0 elements refuses before the first cut)."""
    if kp.kind == "array" and kp.array is not None and kp.array[0] > 0:
        return val.split(",", 1)[0]
    return val


def _undecided(mod: Module, kp: KernelParam, ref: OpsRef) -> Undecided:
    whose = ("%s's own ops" % mod.name if ref.owner == mod.name
             else "%s's ops" % ref.owner if ref.owner else "ops no loaded code holds")
    what = ("the elements of parameter %s are" if kp.kind == "array"
            else "parameter %s is") % kp.name
    return Undecided("param", kp.name, ref.symbol,
                     "%s parsed by %s (%s)" % (what, whose, ref.symbol))


def _unknown_module_param(reg: Registry, mod: Module, param: str, val: str | None) -> None:
    """``unknown_module_param_cb``: never an error."""
    if param == "async_probe":
        try:
            mod.async_probe = ops.kstrtobool(val)
        except OSError:
            mod.async_probe = True
        return
    # The dyndbg hook may cut the name at its '.' in place (CONFIG_DYNAMIC_DEBUG):
    # the warning then shows what it left.
    ret, param = reg.features.dynamic_debug.module_param_cb(param, val, mod.name)
    if ret != 0:
        reg.log.pr_warn("%s: unknown parameter '%s' ignored" % (mod.name, param))


# ------------------------------------------------------------------ setters
def set_param(reg: Registry, mod: Module, kp: KernelParam, val: str | None) -> None:
    """The ops' ``set``; raises OSError with the kernel's errno."""
    if kp.kind == "custom":
        kp.custom_value = val
    elif kp.kind == "array" and kp.array is not None:
        _set_array(reg, mod, kp, val or "")
    elif kp.kind == "string" and kp.string is not None:
        maxlen, buf = kp.string
        data = (val or "").encode("utf-8", "surrogateescape")
        if len(data) >= maxlen:
            reg.log.pr_err("%s: string doesn't fit in %d chars." % (kp.name, maxlen - 1))
            raise OSError(errno.ENOSPC, "too long")
        _write(mod, buf, data + b"\0")
    else:
        _set_scalar(reg, mod, kp.kind, kp.name, kp.arg, val)


def _set_scalar(reg: Registry, mod: Module, kind: str, name: str, arg: int,
                val: str | None) -> None:
    if kind in ops.INT_TYPES:
        assert val is not None
        _write(mod, arg, ops.encode_int(kind, ops.INT_TYPES[kind].parse(val)))
    elif kind in ops.BOOL_SIZES:
        value = ops.kstrtobool(val if val is not None or kind == "invbool" else "1")
        if kind == "bool_enable_only" and not value and read_mem(mod, arg, 1) == b"\1":
            raise OSError(errno.EROFS, "enable only")
        if kind == "invbool":
            value = not value
        _write(mod, arg, int(value).to_bytes(ops.BOOL_SIZES[kind], "little"))
    elif kind == "charp":
        data = (val or "").encode("utf-8", "surrogateescape")
        if len(data) > ops.CHARP_MAX:
            reg.log.pr_err("%s: string parameter too long" % name)
            raise OSError(errno.ENOSPC, "too long")
        addr = KMALLOC_BASE + 16 * next(reg.kmalloc_ids)
        mod.heap[addr] = data          # freed with the module (param_free_charp)
        _write(mod, arg, addr.to_bytes(8, "little"))
    else:
        raise OSError(errno.EINVAL, "no setter for %s" % kind)


def _set_array(reg: Registry, mod: Module, kp: KernelParam, val: str) -> None:
    """``param_array``: the count and the limit are the kernel's; elements
    with ops pymod does not run are counted, not parsed."""
    assert kp.array is not None
    mx, esize, num_p, kind = kp.array
    if num_p:
        _write(mod, num_p, bytes(4))           # *num = 0 before the first value
    for num, piece in enumerate(val.split(",")):
        if num == mx:
            reg.log.pr_err("%s: can only take %d arguments" % (kp.name, mx))
            raise OSError(errno.EINVAL, "too many")
        if kind != "custom":
            _set_scalar(reg, mod, kind, kp.name, kp.arg + num * esize, piece)
        if num_p:
            _write(mod, num_p, (num + 1).to_bytes(4, "little"))
    if kind == "custom":
        kp.custom_value = val


def _write(mod: Module, addr: int, data: bytes) -> None:
    if not write_mem(mod, addr, data):
        raise OSError(errno.EFAULT, "pymod: parameter storage at %#x is outside the module's "
                      "memory (pymod's own check)" % addr)
