"""Symbols: a module's exports (``find_module_sections``), its undefined
symbols resolved against the directory (``simplify_symbols`` /
``resolve_symbol``), and its exports published (``complete_formation``)."""

from __future__ import annotations

import errno
from typing import Any, NamedTuple

import numpy as np

from pymod.contract.internal import KernelSymbol, LoadInfo, Module, ModuleState, Taint
from pymod.contract.kver import rules_for
from pymod.contract.sections import find_sec
from pymod.contract.taint import run_taint_steps
from pymod.elf.constants import SHN_ABS, SHN_COMMON, SHN_LIVEPATCH, SHN_UNDEF, STB_WEAK
from pymod.elf.ksymtab import exports
from pymod.elf.strings import string_reader
from pymod.errors import ModuleLoadError
from pymod.loader.checks import fail
from pymod.loader.registry import Registry


class Resolution(NamedTuple):
    """``resolve_symbol``'s answer: the symbol, or the errno (0: not found)
    and the kernel message that explains the refusal."""

    sym: KernelSymbol | None
    err: int = 0
    message: str | None = None


# tuple.__new__ skips NamedTuple's Python-level __new__: tens of thousands
# of symbols resolve per tree, almost all of them found.
def _found(sym: KernelSymbol) -> Resolution:
    return tuple.__new__(Resolution, (sym, 0, None))


def find_module_sections(reg: Registry, mod: Module, info: LoadInfo) -> None:
    """The module's exports and whether it has init/exit functions."""
    assert info.elf is not None
    addr = section_bases(info, mod).tolist()
    # An export's value is its definition's address (what the relocated
    # __ksymtab entry says): absolute symbols keep their value; one in no
    # section (or a bad one, which simplify_symbols refuses next) is 0.
    def value(section: int, offset: int) -> int:
        if 0 < section < len(addr):
            return int(addr[section] + offset) % (1 << 64)
        return offset % (1 << 64) if section == SHN_ABS else 0

    mod.syms = [KernelSymbol(e.name, value(e.section, e.offset), e.namespace or None, e.gpl,
                             e.crc, mod.name)
                for e in exports(info.elf)]
    reg.features.constructors.check_ctors(mod, info)
    if find_sec(info, "__obsparm"):
        reg.log.pr_warn("%s: Ignoring obsolete parameters" % mod.name)
    # 6.1's check_module_license_and_versions taints for the named modules here
    run_taint_steps(rules_for(reg.config).sections_steps, reg.taint, reg.log, reg.features,
                    mod, info)
    if reg.features.versioning.exports_lack_crcs(mod, info) and \
            not reg.features.force_load.try_to_force_load(mod, "no versions for exported symbols"):
        raise ModuleLoadError(errno.ENOEXEC, "%s: no versions for exported symbols"
                              % mod.name, module=mod.name, stage="modversions")


def _symbols_to_simplify(info: LoadInfo) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Indices of the symbols ``simplify_symbols`` has something to say about."""
    assert info.hdr is not None
    shndx = info.syms["st_shndx"]
    shnum = info.hdr.e_shnum
    todo = np.flatnonzero((shndx == SHN_UNDEF) | (shndx == SHN_COMMON)
                          | ((shndx >= shnum) & (shndx != SHN_ABS) & (shndx != SHN_LIVEPATCH)))
    kept: np.ndarray[Any, np.dtype[np.intp]] = todo[todo != 0]
    return kept


def simplify_symbols(reg: Registry, mod: Module, info: LoadInfo) -> None:
    """Every undefined symbol resolved, COMMON and bad section indices refused;
    the last failure is the one raised (after all have been logged)."""
    assert info.hdr is not None
    syms, log = info.syms, reg.log
    todo = _symbols_to_simplify(info)
    failure: tuple[int, str] | None = None
    failed: list[tuple[str, int, str]] = []
    name_at = string_reader(info.strtab)
    resolved: dict[int, int] = {}        # symbol index -> the export's address
    for index, st_name, section, st_info in zip(todo.tolist(), syms["st_name"][todo].tolist(),
                                                syms["st_shndx"][todo].tolist(),
                                                syms["st_info"][todo].tolist(), strict=True):
        name = name_at(st_name)
        if section == SHN_COMMON:
            if not name.startswith("__gnu_lto"):
                failure = (errno.ENOEXEC, log.pr_warn("%s: please compile with -fno-common"
                                                      % mod.name))
        elif section == SHN_UNDEF:
            res = resolve_symbol(reg, mod, info, name)
            if res.sym is not None:
                resolved[index] = res.sym.value
                continue
            if not res.err and (st_info >> 4 == STB_WEAK or name == "_GLOBAL_OFFSET_TABLE_"):
                continue                 # an unresolved weak symbol stays 0
            err = res.err or errno.ENOENT
            unknown = log.pr_warn("%s: Unknown symbol %s (err %d)" % (mod.name, name, -err))
            failure = (err, res.message or unknown)
            failed.append((name, err, failure[1]))
        else:
            failure = (errno.ENOEXEC, log.pr_err(
                "%s: Symbol %s has an invalid section index %u (max %u)"
                % (mod.name, name, section, info.hdr.e_shnum - 1)))
    if failure is not None:
        error = ModuleLoadError(failure[0], failure[1], module=mod.name, stage="symbols")
        error.unresolved = failed
        raise error
    info.symvals = symbol_values(info, mod, resolved)


def section_bases(info: LoadInfo, mod: Module) -> np.ndarray:
    """What a symbol defined in each section is relative to: the section's
    address, and for the per-CPU section the module's per-CPU copy
    (``simplify_symbols``' secbase)."""
    assert info.sec_addr is not None
    bases: np.ndarray = np.array(info.sec_addr, dtype=np.uint64)
    if info.index.pcpu:
        bases[info.index.pcpu] = mod.percpu
    return bases


def symbol_values(info: LoadInfo, mod: Module, resolved: dict[int, int]) -> np.ndarray:
    """Every symbol's st_value after ``simplify_symbols``: an export's address
    for a resolved one, its section's address added for a defined one (the
    per-CPU copy's for a per-CPU variable), unchanged for absolute and
    livepatch ones and 0 for the rest."""
    assert info.hdr is not None
    syms = info.syms
    shndx = syms["st_shndx"].astype(np.int64)
    values = syms["st_value"].astype(np.uint64)
    defined = (shndx > SHN_UNDEF) & (shndx < info.hdr.e_shnum)
    base = np.zeros(len(values), dtype=np.uint64)
    base[defined] = section_bases(info, mod)[shndx[defined]]
    values = values + base                     # modulo 2**64, as the kernel's
    values[shndx == SHN_UNDEF] = 0
    if resolved:
        values[list(resolved)] = list(resolved.values())
    return values


def _inherit_proprietary(reg: Registry, mod: Module, owner: Module, name: str) -> str | None:
    """A proprietary exporter taints its user P, or refuses a GPL-only user."""
    if mod.using_gplonly_symbols:
        return reg.log.pr_err("%s: module using GPL-only symbols uses symbols %s from "
                              "proprietary module %s." % (mod.name, name, owner.name))
    if not mod.tainted(Taint.PROPRIETARY_MODULE):
        reg.log.pr_warn("%s: module uses symbols %s from proprietary module %s, "
                        "inheriting taint." % (mod.name, name, owner.name))
        mod.add_taint(Taint.PROPRIETARY_MODULE)
    return None


def resolve_symbol(reg: Registry, mod: Module, info: LoadInfo, name: str) -> Resolution:
    """``resolve_symbol``: find ``name``, apply the licence, CRC and namespace
    rules, and make ``mod`` a holder of the exporting module."""
    f = reg.features
    sym = reg.symbols.find_symbol(name, gplok=not mod.tainted(Taint.PROPRIETARY_MODULE))
    if sym is None:
        return Resolution(None)
    if sym.gpl_only:
        mod.using_gplonly_symbols = True
    owner = reg._modules.get(sym.owner) if sym.owner else None
    if owner is not None and owner.tainted(Taint.PROPRIETARY_MODULE):
        refusal = _inherit_proprietary(reg, mod, owner, name)
        if refusal is not None:
            return Resolution(None, 0, refusal)
    verdict = f.versioning.check_version(info, name, mod, sym.crc)
    if not verdict.ok:
        return Resolution(None, errno.EINVAL, verdict.message)
    if sym.namespace:   # only a namespaced export has a namespace to check
        refusal = f.namespaces.verify_namespace(info, mod, sym)
        if refusal is not None:
            return Resolution(None, errno.EINVAL, refusal)
    if owner is not None and owner not in mod.uses:
        if owner.state == ModuleState.COMING:
            return Resolution(None, errno.EBUSY, reg.log.pr_warn(
                "%s: gave up waiting for init of module %s." % (mod.name, owner.name)))
        owner.refcnt += 1
        owner.holders.append(mod)
        mod.uses.append(owner)
    return _found(sym)


def complete_formation(reg: Registry, mod: Module) -> None:
    """Refuse an export the directory already has, then publish the
    module's exports and make it COMING."""
    for s in mod.syms:
        other = reg.symbols.find_symbol(s.name)
        if other is not None:
            raise fail(reg, errno.ENOEXEC, "%s: exports duplicate symbol %s (owned by %s)"
                       % (mod.name, s.name, other.owner or "kernel"), mod.name, "exports")
    # A name the module exports twice is not refused: the kernel checks
    # against formed modules only, and this one is still unformed.
    reg.symbols.publish(mod.syms)
    mod.state = ModuleState.COMING
