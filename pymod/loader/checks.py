"""``early_mod_check`` and what it runs: blacklist, struct module and vermagic
checks, and the duplicate-name rule (``module_patient_check_exists``), as
the configured kernel's version runs them (:mod:`pymod.contract.kver`: 6.1
taints in ``check_modinfo`` and has no early duplicate check)."""

from __future__ import annotations

import errno

from pymod.contract.internal import MODULE_INIT_IGNORE_VERMAGIC, LoadInfo, Module, ModuleState
from pymod.contract.kver import RULES_6_12, rules_for
from pymod.contract.taint import run_taint_steps
from pymod.elf.image import ElfImage
from pymod.elf.ksymtab import versions
from pymod.errors import ModuleLoadError
from pymod.loader import elfcheck
from pymod.loader.registry import Registry


def fail(reg: Registry, code: int, message: str, mod_name: str | None, stage: str,
         level: str = "err") -> ModuleLoadError:
    """Log the kernel's message at ``level`` and return the error carrying it."""
    reg.log.pr(level, message)
    return ModuleLoadError(code, message, module=mod_name, stage=stage)


def early_mod_check(reg: Registry, info: LoadInfo, flags: int) -> Module:
    """Everything that can refuse a module before memory is allocated for it."""
    if info.name in reg.config.module_blacklist:
        raise fail(reg, errno.EPERM, "Module %s is blacklisted" % info.name, info.name,
                   "blacklist")
    elfcheck.rewrite_section_headers(info)
    # symbol names as the kernel reads them (past .strtab's sh_size too)
    info.elf = _elf_image(info).with_strtab(info.strtab)
    if info.index.vers:
        # check_version walks the table: the first entry of a name decides
        info.versions = {}
        for crc, name in versions(info.elf):
            info.versions.setdefault(name, crc)
    info.symtab = info.elf.symbols()
    mod = Module(name=elfcheck.struct_module_name(info), id=reg.next_id())
    verdict = reg.features.versioning.check_modstruct_version(info, mod)
    if not verdict.ok:
        # (refused silently when __versions is gone and forcing is not
        # allowed: the kernel logs nothing, so no message is borrowed)
        raise ModuleLoadError(errno.ENOEXEC, verdict.message or
                              "%s: module_layout version check failed (the kernel logs "
                              "nothing)" % info.name, module=info.name, stage="modversions")
    rules = rules_for(reg.config)
    check_modinfo(reg, mod, info, flags, rules.check_modinfo_steps)
    if rules.early_duplicate_check:
        patient_check_exists(reg, mod.name, "becoming")
    return mod


def check_modinfo(reg: Registry, mod: Module, info: LoadInfo, flags: int,
                  steps: tuple[str, ...] = RULES_6_12.check_modinfo_steps) -> None:
    """Vermagic (``check_modinfo``), then the kernel version's steps: 6.12's
    livepatch flag, or 6.1's taints with it (:mod:`pymod.contract.kver`)."""
    f = reg.features
    modmagic = None if flags & MODULE_INIT_IGNORE_VERMAGIC else info.get_modinfo("vermagic")
    vermagic = reg.config.vermagic
    if modmagic is None:
        if not f.force_load.try_to_force_load(mod, "bad vermagic"):
            raise ModuleLoadError(errno.ENOEXEC, "%s: no vermagic and forced loading is "
                                  "disabled" % info.name, module=info.name, stage="vermagic")
    elif not f.versioning.same_magic(modmagic, vermagic, bool(info.index.vers)):
        raise fail(reg, errno.ENOEXEC, "%s: version magic '%s' should be '%s'"
                   % (info.name, modmagic, vermagic), info.name, "vermagic")
    run_taint_steps(steps, reg.taint, reg.log, f, mod, info)


def patient_check_exists(reg: Registry, name: str, reason: str) -> None:
    """A module of that name is live (EEXIST) or still loading (EBUSY)."""
    old = reg._modules.get(name)
    if old is None:
        return
    reg.features.stats.try_add_failed_module(name, reason)
    if old.state == ModuleState.LIVE:
        raise ModuleLoadError(errno.EEXIST, "%s: module is already loaded" % name,
                              module=name, stage="duplicate")
    raise ModuleLoadError(errno.EBUSY, "%s: module is already being loaded" % name,
                          module=name, stage="duplicate")


def _elf_image(info: LoadInfo) -> ElfImage:
    """The reader's view of the bytes the kernel checks (reused when a
    ``KoFile`` already made one of the same bytes)."""
    if info.elf is not None and len(info.elf) == info.len:
        return info.elf
    return ElfImage(info.payload[:info.len] if info.len != len(info.payload) else info.payload)
