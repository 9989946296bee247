"""Readers that turn a live or captured system into :class:`~pymod.symbolize.model.Maps`.

* :func:`read_kallsyms`: ``/proc/kallsyms`` (vmlinux and ``[module]``
  lines), optionally with ``/proc/modules`` for where each module lives;
* :func:`read_proc_modules`: ``/proc/modules``;
* :func:`read_system_map`: ``System.map`` (vmlinux only);
* :func:`read_sections`: a ``/sys/module/*/sections/`` tree;
* :func:`~pymod.symbolize.placement.place_ko` and
  :func:`~pymod.symbolize.placement.module_map` (re-exported here): a
  ``.ko`` file placed at captured addresses, a module loaded in a
  :class:`~pymod.loader.kernel.Kernel`.

Every source given a path reads the file; given text (a ``str`` holding a
newline, or ``bytes``) parses it.  Addresses printed as zeros (a reader
without the privilege to see them, ``kptr_restrict``) are refused with
EPERM: they would give wrong answers, never none.
"""

from __future__ import annotations

import bisect
import errno
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pymod.elf.compression import read_file
from pymod.errors import InvalidArgument, PymodError
from pymod.symbolize.eligible import (
    holds_at,
    kallsyms_keeps,
    make_table,
    mapping_mask,
    tie_order,
)
from pymod.symbolize.kallsyms_groups import group_modules
from pymod.symbolize.model import CoreMap, Maps, ModuleMap, SymbolTable
from pymod.symbolize.placement import module_map, place_ko
from pymod.symbolize.textparse import (
    MODULE_NAME_LEN,
    NmLines,
    hex_address,
    parse_nm,
    read_text,
    source_path,
    where,
)

__all__ = ["read_kallsyms", "read_proc_modules", "read_system_map", "read_sections",
           "place_ko", "module_map", "ProcModule", "hidden_addresses"]

# a path (str without a newline, or PathLike), or the file's text itself
PathOrText = str | os.PathLike[str] | bytes
PAGE_SIZE = 4096
_BOUNDS = ("_stext", "_etext", "_sinittext", "_einittext", "_end")


def hidden_addresses(what: str) -> PymodError:
    """The error for a file whose addresses all read as zero."""
    return PymodError(errno.EPERM, "%s: every address reads as 0: the kernel hides addresses "
                      "from this reader (kallsyms_show_value); read it as root (CAP_SYSLOG, "
                      "kernel.kptr_restrict <= 1), or as a user with kernel.kptr_restrict=0 "
                      "and kernel.perf_event_paranoid <= 1" % what)


def _is_pseudo_module(name: str) -> bool:
    """``[bpf]``, ``[__builtin__ftrace]``, ``[__builtin__kprobes]``: printed
    like modules, found by other lookups (or none), not modelled here."""
    return name == "bpf" or name.startswith("__builtin__")


@dataclass(frozen=True)
class ProcModule:
    """One ``/proc/modules`` line.

    :name: module name
    :size: ``module_total_size``: every region's page-rounded size
    :refcnt: the reference count column (``-`` without MODULE_UNLOAD)
    :users: the users column (``a,b,`` or ``-``)
    :state: ``Live``, ``Loading`` or ``Unloading``
    :base: the core text region's address
    :taints: the ``(...)`` flags, or ""
    """

    name: str
    size: int
    refcnt: str
    users: str
    state: str
    base: int
    taints: str = ""


def read_proc_modules(source: PathOrText) -> dict[str, ProcModule]:
    """``/proc/modules`` (``name size refcnt users state 0xaddr [(taints)]``),
    by name in file order (newest first).  The kernel prints the size with
    ``%u`` and the address with ``0x%px``: anything else there (and a name
    longer than a module name can be) is refused naming the file and line."""
    path = source_path(source)
    out: dict[str, ProcModule] = {}
    for lineno, raw in enumerate(read_text(source, "modules").split(b"\n"), 1):
        f = raw.split()                  # ASCII white space only, as the kernel prints
        if f:
            mod = _proc_module(f, where("modules", path, lineno), raw)
            out[mod.name] = mod
    if out and not any(m.base for m in out.values()):
        raise hidden_addresses("modules")
    return out


def _proc_module(f: list[bytes], at_line: str, raw: bytes) -> ProcModule:
    """One ``/proc/modules`` line's columns."""
    def bad(why: str) -> PymodError:
        return PymodError(errno.EINVAL, "%s: %s: %r" % (at_line, why, raw[:120].decode(
            "utf-8", "replace")))

    at = next((j for j in range(3, len(f)) if f[j].startswith(b"0x")), None)
    if at is None or len(f) < 4:
        raise bad("not 'name size refcnt users state 0xaddress'")
    if len(f[0]) >= MODULE_NAME_LEN:
        raise bad("a module name of %d bytes (the kernel's are at most %d: MODULE_NAME_LEN)"
                  % (len(f[0]), MODULE_NAME_LEN - 1))
    if not f[1].isdigit() or len(f[1]) > 10 or int(f[1]) >> 32:
        raise bad("the size %r is not a number the kernel prints (%%u)" % _text(f[1]))
    base = hex_address(f[at][2:])
    if base is None:
        raise bad("the address %r is not 0x and 1 to 16 hex digits" % _text(f[at]))
    cols = [_text(c) for c in f[2:at - 1]] + ["-", "-"]
    return ProcModule(_text(f[0]), int(f[1]), cols[0], cols[1], _text(f[at - 1]),
                      base, " ".join(_text(c) for c in f[at + 1:]))


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _find_core(lines: NmLines, name: str) -> int | None:
    """The address of the first vmlinux line named ``name``."""
    want = name.encode()
    needle = b" " + want                 # a name follows the type's space
    pos = lines.buf.find(needle)
    while pos >= 0:
        # the key in the array's own type: a mixed search would convert the array
        k = int(np.searchsorted(lines.name_off, lines.name_off.dtype.type(pos + 1)))
        if k < len(lines) and lines.name_off[k] == pos + 1 and lines.name_len[k] == len(want) \
                and lines.mod_off[k] < 0:
            return int(lines.addrs[k])
        pos = lines.buf.find(needle, pos + 1)
    return None


def _rows(idx: NDArray[np.int64]) -> NDArray[np.int64] | slice:
    """``idx`` as a slice when it is a run of consecutive rows (the vmlinux
    lines of a kallsyms file are): indexing with it makes views, not copies."""
    if idx.size and int(idx[-1]) - int(idx[0]) == idx.size - 1:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _core_map(lines: NmLines, table: SymbolTable, all_symbols: bool | None) -> CoreMap:
    """``kallsyms_lookup``'s ranges from the linker symbols; ``_end`` present
    (it is only with KALLSYMS_ALL) means data addresses resolve too."""
    b = {name: _find_core(lines, name) for name in _BOUNDS}
    end = b["_end"] if all_symbols is not False else None
    return CoreMap(table, b["_stext"] or 0, b["_etext"] or 0, b["_sinittext"] or 0,
                   b["_einittext"] or 0, end)


def read_kallsyms(source: PathOrText, modules: PathOrText | None = None) -> Maps:
    """``/proc/kallsyms`` text (or a file of it) as :class:`~pymod.symbolize.model.Maps`.

    vmlinux lines form the core table as printed (the kernel prints exactly
    the table it looks up in, in its order).  ``[module]`` lines are
    grouped by module; a module keeps what ``find_kallsyms_symbol`` may
    answer with (undefined ``u`` lines, unresolved weak ones at address 0
    and mapping symbols go).  ``[bpf]`` and ``[__builtin__*]`` lines are
    not modules and are left out.

    Where each module lives is not in this file.  With ``modules`` (a
    ``/proc/modules`` text or file) a module spans ``[base, base + size)``,
    its text base plus its total size, cut short at the next module's base;
    the span counts as text for the size rule.  That is an approximation:
    the real data regions are separate allocations (their addresses do not
    resolve) and the last function's size runs to the span's end.  Without
    ``modules`` a module's span runs from the page of its lowest text
    (``t``/``T``) symbol to the page end after its highest one (all its
    symbols if it has no text symbol), so the last function's size runs to
    that page end.
    """
    lines = parse_nm(read_text(source, "kallsyms"), "kallsyms", source_path(source))
    if len(lines) == 0:
        raise InvalidArgument("kallsyms: no symbols")
    if not lines.addrs.any():
        raise hidden_addresses("kallsyms")
    procs = read_proc_modules(modules) if modules is not None else None
    is_mod = lines.mod_off >= 0
    core_idx = np.flatnonzero(~is_mod)
    core = None
    if core_idx.size:
        rows = _rows(core_idx)
        core = _core_map(lines, make_table(lines.addrs[rows], lines.buf, lines.name_off[rows],
                                           lines.name_len[rows],
                                           np.frombuffer(lines.types, np.uint8)[rows]), None)
    return Maps(core, _kallsyms_modules(lines, np.flatnonzero(is_mod), procs))


def _module_symbols(lines: NmLines, rows: NDArray[np.int64]) -> SymbolTable:
    t = np.frombuffer(lines.types, dtype=np.uint8)[rows]
    a = lines.addrs[rows]
    weak = np.isin(t, np.frombuffer(b"wWvV", dtype=np.uint8))
    keep = ~np.isin(t, np.frombuffer(b"uU", dtype=np.uint8)) & ~(weak & (a == 0))
    keep &= (lines.name_len[rows] > 0) & ~mapping_mask(lines.buf, lines.name_off[rows])
    r = rows[keep]
    return make_table(lines.addrs, lines.buf, lines.name_off, lines.name_len, lines.types, r)


def _derived_span(table: SymbolTable) -> tuple[int, int]:
    t = np.frombuffer(table.types, dtype=np.uint8)
    text = table.addrs[(t == ord("t")) | (t == ord("T"))]
    a = text if text.size else table.addrs
    if a.size == 0:
        return 0, 0
    lo = int(a.min()) // PAGE_SIZE * PAGE_SIZE
    hi = -(-(int(a.max()) + 1) // PAGE_SIZE) * PAGE_SIZE
    return lo, hi - lo


def _spans(procs: dict[str, ProcModule]) -> dict[str, tuple[int, int]]:
    """``[base, base + size)`` per module, cut at the next higher base."""
    bases = sorted({m.base for m in procs.values() if m.base})
    out = {}
    for m in procs.values():
        if not m.base:
            continue
        k = bisect.bisect_right(bases, m.base)
        end = min(m.base + m.size, 1 << 64)      # the last page ends the address space
        if k < len(bases):
            end = min(end, bases[k])
        out[m.name] = (m.base, end - m.base)
    return out


def _kallsyms_modules(lines: NmLines, idx: NDArray[np.int64],
                      procs: dict[str, ProcModule] | None) -> tuple[ModuleMap, ...]:
    groups = group_modules(lines, idx)
    spans = _spans(procs) if procs is not None else {}
    names = [n for n in groups if not _is_pseudo_module(n)]
    names += [n for n in spans if n not in groups]
    out = []
    for name in names:
        rows = groups.get(name, np.zeros(0, dtype=np.int64))
        table = _module_symbols(lines, rows)
        span = spans.get(name) or _derived_span(table)
        if not span[1]:
            continue
        out.append(ModuleMap(name, (span,), span, (0, 0), table, None))
    return tuple(out)


def read_system_map(source: PathOrText, all_symbols: bool = True,
                    absolute_percpu: bool = True) -> Maps:
    """``System.map`` as the core table ``scripts/kallsyms`` builds from it.

    :all_symbols: CONFIG_KALLSYMS_ALL (Debian: yes); without it only symbols
        in the text ranges (and ``__start_*``/``__stop_*``) are kept, and
        only text addresses resolve
    :absolute_percpu: CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86-64 SMP): per-cpu
        symbols are typed ``A``
    """
    data = read_text(source, "System.map")
    if b"The real System.map is in" in data[:4096]:
        raise InvalidArgument("System.map: this is Debian's placeholder; the real System.map "
                              "is in the linux-image-<release>-dbg package")
    lines = parse_nm(data, "System.map", source_path(source), kallsyms=False)
    if len(lines) == 0:
        raise InvalidArgument("System.map: no symbols")
    if (lines.mod_off >= 0).any():
        raise InvalidArgument("System.map: has [module] lines; use read_kallsyms")
    if not lines.addrs.any():
        raise hidden_addresses("System.map")
    keep, types = _system_map_rules(lines, all_symbols, absolute_percpu)
    order = tie_order(lines.addrs, lines.buf, lines.name_off, lines.name_len, types,
                      np.flatnonzero(keep))
    del keep
    table = make_table(lines.addrs, lines.buf, lines.name_off, lines.name_len, types, order)
    del order
    core = _core_map(lines, table, all_symbols)
    return Maps(core, ())


def _system_map_rules(lines: NmLines, all_symbols: bool,
                      absolute_percpu: bool) -> tuple[NDArray[np.bool_], NDArray[np.uint8]]:
    """scripts/kallsyms' filters; returns the kept rows and the final types."""
    types = np.frombuffer(lines.types, dtype=np.uint8).copy()
    keep = kallsyms_keeps(lines.types, lambda name: _named(lines, name))
    found = {}
    for name in _BOUNDS[:4] + ("__per_cpu_start", "__per_cpu_end"):
        found[name] = _find_core(lines, name)
    a = lines.addrs
    if not all_symbols:
        start_stop = _start_stop(lines)
        keep &= _in_text(lines, found) | start_stop
        for end_sym in ("_etext", "_einittext"):
            at = found[end_sym]
            if at is not None:
                keep &= (a != np.uint64(at)) | _named(lines, end_sym) | start_stop
    if absolute_percpu and found["__per_cpu_start"] is not None \
            and found["__per_cpu_end"] is not None:
        lo, hi = np.uint64(found["__per_cpu_start"]), np.uint64(found["__per_cpu_end"])
        types[(a >= lo) & (a <= hi) & keep] = ord("A")
    return keep, types


def _in_text(lines: NmLines, found: dict[str, int | None]) -> NDArray[np.bool_]:
    a = lines.addrs
    inside = np.zeros(len(a), dtype=np.bool_)
    for lo, hi in (("_stext", "_etext"), ("_sinittext", "_einittext")):
        start, end = found[lo] or 0, found[hi] or 0
        inside |= (a >= np.uint64(start)) & (a <= np.uint64(end))
    return inside


def _name_columns(lines: NmLines) -> tuple[NDArray[np.uint8], NDArray[np.int64],
                                          NDArray[np.int64]]:
    return (np.frombuffer(lines.buf, dtype=np.uint8), lines.name_off.astype(np.int64),
            lines.name_len.astype(np.int64))


def _start_stop(lines: NmLines) -> NDArray[np.bool_]:
    """Names starting ``__start_`` or ``__stop_``."""
    src, off, ln = _name_columns(lines)
    zero = np.zeros(len(off), dtype=np.int64)
    out: NDArray[np.bool_] = holds_at(src, off, ln, zero, b"__start_") \
        | holds_at(src, off, ln, zero, b"__stop_")
    return out


def _named(lines: NmLines, name: str) -> NDArray[np.bool_]:
    src, off, ln = _name_columns(lines)
    want = name.encode()
    out: NDArray[np.bool_] = (ln == len(want)) & holds_at(src, off, ln, np.zeros_like(off), want)
    return out


# A sections/ file holds one address (sysfs reports 4096 bytes).
_SECTION_FILE_MAX = 4096


def read_sections(directory: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """A captured ``/sys/module`` tree: module -> section name -> address
    (each ``<module>/sections/<section>`` file holds ``0x%px``).  A folder
    that itself has ``sections/`` is read as that one module."""
    root = Path(directory)
    dirs = [root] if (root / "sections").is_dir() else sorted(p for p in root.iterdir()
                                                              if (p / "sections").is_dir())
    out: dict[str, dict[str, int]] = {}
    for d in dirs:
        secs: dict[str, int] = {}
        for f in sorted((d / "sections").iterdir()):
            try:
                # the bounded reader: a captured tree may hold anything
                secs[f.name] = int(read_file(os.fspath(f), _SECTION_FILE_MAX).strip(), 16)
            except PymodError as e:
                raise PymodError(e.errno, "sections: %s" % e.strerror) from None
            except OSError as e:
                raise PymodError(e.errno or errno.EIO, "sections: %s: %s (the files are "
                                 "readable by root only)" % (f, e.strerror)) from None
            except ValueError:
                raise PymodError(errno.EINVAL, "sections: %s: not a hex address" % f) from None
        out[d.name] = secs
    if any(out.values()) and not any(v for s in out.values() for v in s.values()):
        raise hidden_addresses("sections")
    return out
