"""The simulated kernel: ``load_module()``/``delete_module()`` in the kernel's order.

Stages follow ``kernel/module/main.c`` (6.12).  Undo is structural: a stage
that acquires something (addresses, a place in the module list and the
address map, references on other modules, published exports, a sysfs
directory) records it in ``_Progress``, and :meth:`Kernel._unwind` releases
exactly what was recorded, in reverse -- the kernel's goto ladder.
"""

from __future__ import annotations

import errno
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pymod.loader import elfcheck as li
from pymod.config import DEFAULT_RELEASE, Config
from pymod.errors import ModuleLoadError, PymodError
from pymod.features import Features, select_features
from pymod.loader.internal import (DELETE_FORCE, KERNEL_TAINT_LETTERS, MODULE_INIT_COMPRESSED_FILE,
                       MODULE_INIT_FLAGS, MODULE_INIT_IGNORE_VERMAGIC, SHN_LIVEPATCH,
                       KernelSymbol, LoadInfo, MemType, ModuleState, Taint, taint_letters)
from pymod.loader.klog import KernelLog
from pymod.elf.kofile import KoFile, string_reader
from pymod.loader.memory import ModuleArea
from pymod.loader.module import Module
from pymod.loader.symbols import SymbolDirectory, read_symvers

SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STB_WEAK = 2
GPL_COMPATIBLE = frozenset({"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                            "Dual MIT/GPL", "Dual MPL/GPL"})
Source = str | os.PathLike | bytes | bytearray | memoryview | KoFile


def _default_symvers() -> Path | None:
    """The built-in default kernel's ``Module.symvers`` shipped with the samples."""
    from pymod.samples import default_symvers

    path = default_symvers()
    return path if path.exists() else None


@dataclass
class _Progress:
    """What a load has acquired so far, for the unwind ladder."""

    allocated: bool = False
    listed: bool = False
    published: bool = False
    sysfs: bool = False
    livepatch_elf: bool = False


class Kernel:
    """A simulated kernel with its module list, address map and symbol directory.

    ``symvers``: path of the kernel's ``Module.symvers``; None means the
    built-in default kernel's (shipped with the samples) when ``config`` has
    the default release, else no vmlinux exports.
    """

    def __init__(self, config: Config | None = None, symvers: str | os.PathLike | None = None,
                 trusted_keys: tuple = (), sig_enforce: bool = False):
        self.config = config or Config()
        self.log = KernelLog()
        if symvers is None and self.config.release == DEFAULT_RELEASE:
            symvers = _default_symvers()
        self.symbols = SymbolDirectory(read_symvers(symvers) if symvers else ())
        self.features: Features = select_features(
            self.config, self.log, symbol_crc=self.symbols.crc_of,
            sig_enforce=sig_enforce, trusted_keys=tuple(trusted_keys))
        if hasattr(self.features.versioning, "force_load"):
            self.features.versioning.force_load = self._try_to_force_load
        self.area = ModuleArea()
        self.taints = 0
        self._modules: dict[str, Module] = {}     # load order; the kernel prints newest first
        self._by_id: dict[int, Module] = {}
        self._ids = itertools.count(1)
        self.notices: list[str] = []
        if not self.config.checks_struct_module_size and self.config.version >= (6, 12):
            self.notices.append("sizeof(struct module) unknown: the .gnu.linkonce.this_module "
                                "size check is skipped")

    # ------------------------------------------------------------------ queries
    @property
    def modules(self) -> list[Module]:
        """Formed modules in load order."""
        return [m for m in self._modules.values() if m.state != ModuleState.UNFORMED]

    def module(self, name: str) -> Module | None:
        """``find_module``: a formed module by name, or None."""
        mod = self._modules.get(name)
        return mod if mod is not None and mod.state != ModuleState.UNFORMED else None

    def find(self, addr: int) -> Module | None:
        """``__module_address``: the module owning ``addr`` (UNFORMED ones ignored)."""
        mod_id = self.features.tree.mod_find(addr)
        mod = self._by_id.get(mod_id) if mod_id is not None else None
        return mod if mod is not None and mod.state != ModuleState.UNFORMED else None

    def within_module(self, addr: int, module: Module | str) -> bool:
        mod = self._modules.get(module) if isinstance(module, str) else module
        return mod is not None and mod.within(addr)

    @property
    def tainted(self) -> str:
        """Kernel-wide taint letters (module taints and R), in print order."""
        return taint_letters(self.taints, KERNEL_TAINT_LETTERS)

    def proc_modules(self) -> str:
        """``/proc/modules``, newest module first."""
        lines = []
        for mod in reversed(self._modules.values()):
            if mod.state == ModuleState.UNFORMED:
                continue
            if self.config.MODULE_UNLOAD:
                users = "".join(h.name + "," for h in reversed(mod.holders))
                if mod.has_init and not mod.has_exit:
                    users += "[permanent],"
                unload = " %d %s" % (mod.refcount, users or "-")
            else:
                unload = " - -"
            state = {ModuleState.GOING: "Unloading", ModuleState.COMING: "Loading"}.get(
                mod.state, "Live")
            flags = mod.flags(show_state=True)
            lines.append("%s %u%s %s 0x%016x%s\n" % (mod.name, mod.total_size, unload, state,
                                                    mod.mem[MemType.TEXT].base,
                                                    " " + flags if mod.taints else ""))
        return "".join(lines)

    def sysfs(self, name: str) -> dict[str, str]:
        return self.features.sysfs.sysfs_read(name)

    def debugfs(self, path: str) -> str:
        return self.features.debugfs.debugfs_read(path)

    # ------------------------------------------------------------------ taints
    def _add_taint_module(self, mod: Module, flag: Taint) -> None:
        self.taints |= 1 << flag
        mod.add_taint(flag)

    def _try_to_force_load(self, mod: Module, reason: str) -> bool:
        if not self.config.MODULE_FORCE_LOAD:
            return False
        if not self.taints >> Taint.FORCED_MODULE & 1:
            self.log.pr_warn("%s: %s: kernel tainted." % (mod.name, reason))
        self._add_taint_module(mod, Taint.FORCED_MODULE)
        return True

    # ------------------------------------------------------------------ loading
    def load_module(self, source: Source, params: str = "", flags: int = 0,
                    init_result: int = 0) -> Module:
        """Load a module file (path), image (bytes) or a ``KoFile`` already read.

        Returns the LIVE module.

        ``init_result`` simulates the module's init function: negative errno
        values fail the load after COMING, as a failing ``module_init`` does.
        """
        if flags & ~MODULE_INIT_FLAGS:
            raise ModuleLoadError(errno.EINVAL, "finit_module: invalid flags %#x" % flags,
                                  stage="syscall")
        path = None
        predecompressed = None
        if isinstance(source, KoFile):
            # Already read (and decompressed once) by pymod.elf.kofile.
            path, raw = source.path, source.raw
            predecompressed = source.image if source.compression else None
        elif isinstance(source, (bytes, bytearray, memoryview)):
            raw = bytes(source)
        else:
            path = os.fspath(source)
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except OSError as e:
                raise ModuleLoadError(e.errno or errno.EIO, "%s: %s" % (path, e.strerror),
                                      stage="read") from None
        info = LoadInfo(raw=raw, payload=raw, len=len(raw), flags=flags,
                        predecompressed=predecompressed)
        if isinstance(source, KoFile):
            info.elf = source.elf   # reused when the kernel ends up with the same bytes
        try:
            mod = self._load(info, params, flags, init_result)
        finally:
            self.features.decompress.module_decompress_cleanup(info)
        mod.source = path
        return mod

    def _load(self, info: LoadInfo, params: str, flags: int, init_result: int) -> Module:
        from pymod.elf.kofile import detect_compression

        f = self.features
        info.compression = detect_compression(info.raw)
        if info.compression is None and flags & MODULE_INIT_COMPRESSED_FILE:
            info.compression = "unknown"
        if info.compression:
            try:
                f.decompress.module_decompress(info)
            except ModuleLoadError:
                f.stats.mod_stat_failed_decompress(info)
                raise
        mod: Module | None = None
        progress = _Progress()
        try:
            f.sig.module_sig_check(info, flags)
            li.elf_validity_cache_copy(info, flags, self._struct_module_size(), self.log)
            mod = self._early_mod_check(info, flags)
            self._layout_and_allocate(mod, info, progress)
            self._add_unformed_module(mod, progress)
            self._augment_kernel_taints(mod, info)
            mod.refcnt += 1  # module_unload_init: held during init
            self._find_module_sections(mod, info)
            mod.version = info.get_modinfo("version")
            mod.srcversion = info.get_modinfo("srcversion")
            self._simplify_symbols(mod, info)
            f.kallsyms.add_kallsyms(mod, info)
            mod.args = params
            self._complete_formation(mod, progress)
            f.sysfs.mod_sysfs_setup(mod, info)
            progress.sysfs = True
            if mod.klp:
                f.livepatch.copy_module_elf(mod, info)
                progress.livepatch_elf = True
            self._do_init_module(mod, info, init_result)
        except PymodError as e:
            self._unwind(mod, info, flags, progress)
            if not isinstance(e, ModuleLoadError):
                # A malformed table found by a reader (kofile/ksymtab) the
                # kernel would have tripped over: refuse it as bad ELF.
                e = ModuleLoadError(e.errno or errno.ENOEXEC, "%s: %s" % (
                    info.name or "module", e.strerror), stage="elf")
            if e.module is None:
                e.module = info.name or (mod.name if mod else None)
            raise e from None
        return mod

    def _struct_module_size(self) -> int | None:
        return self.config.struct_module_size if self.config.checks_struct_module_size else None

    def _fail(self, code: int, message: str, mod_name: str | None, stage: str,
              level: str = "err") -> ModuleLoadError:
        self.log.pr(level, message)
        return ModuleLoadError(code, message, module=mod_name, stage=stage)

    def _early_mod_check(self, info: LoadInfo, flags: int) -> Module:
        if info.name in self.config.module_blacklist:
            raise self._fail(errno.EPERM, "Module %s is blacklisted" % info.name, info.name,
                             "blacklist")
        li.rewrite_section_headers(info)
        info.elf = _elf_image(info)
        if info.index.vers:
            from pymod.elf.ksymtab import versions

            info.versions = {name: crc for crc, name in versions(info.elf)}
        info.symtab = info.elf.symbols()
        mod = Module(name=li.struct_module_name(info), id=next(self._ids))
        if not self.features.versioning.check_modstruct_version(info, mod):
            last = self.log.lines[-1][1] if self.log.lines else \
                "%s: disagrees about version of symbol module_layout" % info.name
            raise ModuleLoadError(errno.ENOEXEC, last, module=info.name, stage="modversions")
        self._check_modinfo(mod, info, flags)
        self._patient_check_exists(mod.name, "becoming")
        return mod

    def _check_modinfo(self, mod: Module, info: LoadInfo, flags: int) -> None:
        modmagic = None if flags & MODULE_INIT_IGNORE_VERMAGIC else info.get_modinfo("vermagic")
        vermagic = self.config.vermagic
        if modmagic is None:
            if not self._try_to_force_load(mod, "bad vermagic"):
                raise ModuleLoadError(errno.ENOEXEC, "%s: no vermagic and forced loading is "
                                      "disabled" % info.name, module=info.name, stage="vermagic")
        elif not self.features.versioning.same_magic(modmagic, vermagic, bool(info.index.vers)):
            raise self._fail(errno.ENOEXEC, "%s: version magic '%s' should be '%s'"
                             % (info.name, modmagic, vermagic), info.name, "vermagic")
        if info.get_modinfo("livepatch") is not None and \
                not self.features.livepatch.set_livepatch_module(mod):
            raise self._fail(errno.ENOEXEC, "%s: module is marked as livepatch module, but "
                             "livepatch support is disabled" % mod.name, mod.name, "livepatch")

    def _patient_check_exists(self, name: str, reason: str) -> None:
        old = self._modules.get(name)
        if old is None:
            return
        self.features.stats.try_add_failed_module(name, reason)
        if old.state == ModuleState.LIVE:
            raise ModuleLoadError(errno.EEXIST, "%s: module is already loaded" % name,
                                  module=name, stage="duplicate")
        raise ModuleLoadError(errno.EBUSY, "%s: module is already being loaded" % name,
                              module=name, stage="duplicate")

    def _layout_and_allocate(self, mod: Module, info: LoadInfo, progress: _Progress) -> None:
        self.features.strict_rwx.module_enforce_rwx_sections(info, mod.name)
        li.prepare_layout_flags(info)
        li.layout_sections(info, self.config.MODULE_UNLOAD)
        self.features.kallsyms.layout_symtab(mod, info)
        # move_module: one page-rounded allocation per non-empty memory type
        progress.allocated = True
        for mem in MemType:
            size = info.mem_size.get(mem, 0)
            if size:
                rounded = -(-size // 4096) * 4096
                mod.mem[mem].base = self.area.alloc(rounded)
                mod.mem[mem].size = rounded
        for i, (mem, offset) in info.placement.items():
            if info.sechdrs[i]["sh_size"] and info.sechdrs[i]["sh_flags"] & li.SHF_ALLOC:
                mod.section_addrs[info.secnames[i]] = mod.mem[mem].base + offset

    def _add_unformed_module(self, mod: Module, progress: _Progress) -> None:
        self._patient_check_exists(mod.name, "load")
        # Tree first: it is the only step here that can refuse, so a refusal
        # leaves nothing to unwind (the kernel does both under one mutex).
        self.features.tree.mod_tree_insert(mod.id, mod.regions())
        self._modules[mod.name] = mod
        self._by_id[mod.id] = mod
        progress.listed = True

    def _augment_kernel_taints(self, mod: Module, info: LoadInfo) -> None:
        if info.get_modinfo("intree") is None:
            if not self.taints >> Taint.OOT_MODULE & 1:
                self.log.pr_warn("%s: loading out-of-tree module taints kernel." % mod.name)
            self._add_taint_module(mod, Taint.OOT_MODULE)
        if info.get_modinfo("retpoline") is None:
            self.log.pr_warn("%s: loading module not compiled with retpoline compiler."
                             % mod.name)
        if info.get_modinfo("staging") is not None:
            self._add_taint_module(mod, Taint.CRAP)
            self.log.pr_warn("%s: module is from the staging directory, the quality is "
                             "unknown, you have been warned." % mod.name)
        if mod.klp:
            self._add_taint_module(mod, Taint.LIVEPATCH)
            self.log.pr_notice_once("livepatch", "%s: tainting kernel with TAINT_LIVEPATCH"
                                    % mod.name)
        license = info.get_modinfo("license") or "unspecified"
        prev_p = self.taints >> Taint.PROPRIETARY_MODULE & 1
        if license not in GPL_COMPATIBLE:
            if not prev_p:
                self.log.pr_warn("%s: module license '%s' taints kernel." % (mod.name, license))
            self._add_taint_module(mod, Taint.PROPRIETARY_MODULE)
        if info.get_modinfo("test") is not None:
            if not self.taints >> Taint.TEST & 1:
                self.log.pr_warn("%s: loading test module taints kernel." % mod.name)
            self._add_taint_module(mod, Taint.TEST)
        mod.sig_ok = self.features.sig.module_sig_ok(info)
        if not mod.sig_ok:
            self.log.pr_notice_once("sig", "%s: module verification failed: signature and/or "
                                    "required key missing - tainting kernel" % mod.name)
            self._add_taint_module(mod, Taint.UNSIGNED_MODULE)
        if mod.name in ("driverloader", "lve"):
            self._add_taint_module(mod, Taint.PROPRIETARY_MODULE)
        elif mod.name == "ndiswrapper":
            self.taints |= 1 << Taint.PROPRIETARY_MODULE

    def _find_module_sections(self, mod: Module, info: LoadInfo) -> None:
        from pymod.elf.ksymtab import exports

        mod.syms = [KernelSymbol(e.name, 0, e.namespace or None, e.gpl, e.crc, mod.name)
                    for e in exports(info.elf)]
        mod.has_init = _defines(info, b"init_module")
        mod.has_exit = _defines(info, b"cleanup_module")
        if self.config.MODVERSIONS and any(s.crc is None for s in mod.syms):
            if not self._try_to_force_load(mod, "no versions for exported symbols"):
                raise ModuleLoadError(errno.ENOEXEC, "%s: no versions for exported symbols"
                                      % mod.name, module=mod.name, stage="modversions")

    def _simplify_symbols(self, mod: Module, info: LoadInfo) -> None:
        syms = info.symtab
        shnum = info.hdr.e_shnum
        shndx = syms["st_shndx"]
        todo = np.flatnonzero((shndx == SHN_UNDEF) | (shndx == SHN_COMMON)
                              | ((shndx >= shnum) & (shndx != SHN_ABS)
                                 & (shndx != SHN_LIVEPATCH)))
        failure: tuple[int, str] | None = None
        todo = todo[todo != 0]
        name_at = string_reader(info.strtab)
        for st_name, section, st_info in zip(syms["st_name"][todo].tolist(),
                                             shndx[todo].tolist(), syms["st_info"][todo].tolist()):
            name = name_at(st_name)
            if section == SHN_COMMON:
                if name.startswith("__gnu_lto"):
                    continue
                msg = self.log.pr_warn("%s: please compile with -fno-common" % mod.name)
                failure = (errno.ENOEXEC, msg)
            elif section == SHN_UNDEF:
                ksym, err, msg = self._resolve_symbol(mod, info, name)
                if ksym is not None:
                    continue
                weak = st_info >> 4 == STB_WEAK
                if not err and (weak or name == "_GLOBAL_OFFSET_TABLE_"):
                    continue
                err = err or errno.ENOENT
                unknown = self.log.pr_warn("%s: Unknown symbol %s (err %d)" % (mod.name, name, -err))
                failure = (err, msg or unknown)
            else:
                msg = self.log.pr_err("%s: Symbol %s has an invalid section index %u (max %u)"
                                      % (mod.name, name, section, shnum - 1))
                failure = (errno.ENOEXEC, msg)
        if failure is not None:
            raise ModuleLoadError(failure[0], failure[1], module=mod.name, stage="symbols")

    def _resolve_symbol(self, mod: Module, info: LoadInfo,
                        name: str) -> tuple[KernelSymbol | None, int, str | None]:
        """``resolve_symbol``: (symbol, 0, None) or (None, errno or 0, kernel message)."""
        sym = self.symbols.find_symbol(name, gplok=not mod.tainted(Taint.PROPRIETARY_MODULE))
        if sym is None:
            return None, 0, None
        if sym.gpl_only:
            mod.using_gplonly_symbols = True
        owner = self._modules.get(sym.owner) if sym.owner else None
        if owner is not None and owner.tainted(Taint.PROPRIETARY_MODULE):
            if mod.using_gplonly_symbols:
                return None, 0, self.log.pr_err(
                    "%s: module using GPL-only symbols uses symbols %s from proprietary "
                    "module %s." % (mod.name, name, owner.name))
            if not mod.tainted(Taint.PROPRIETARY_MODULE):
                self.log.pr_warn("%s: module uses symbols %s from proprietary module %s, "
                                 "inheriting taint." % (mod.name, name, owner.name))
                mod.add_taint(Taint.PROPRIETARY_MODULE)
        before = len(self.log.lines)
        if not self.features.versioning.check_version(info, name, mod, sym.crc):
            msg = self.log.lines[-1][1] if len(self.log.lines) > before else None
            return None, errno.EINVAL, msg
        if sym.namespace and sym.namespace not in info.modinfo_all("import_ns"):
            msg = "%s: module uses symbol (%s) from namespace %s, but does not import it." % (
                mod.name, name, sym.namespace)
            if self.config.MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS:
                self.log.pr_warn(msg)
            else:
                return None, errno.EINVAL, self.log.pr_err(msg)
        if owner is not None and owner not in mod.uses:
            if owner.state == ModuleState.COMING:
                return None, errno.EBUSY, self.log.pr_warn(
                    "%s: gave up waiting for init of module %s." % (mod.name, owner.name))
            owner.refcnt += 1
            owner.holders.append(mod)
            mod.uses.append(owner)
        return sym, 0, None

    def _complete_formation(self, mod: Module, progress: _Progress) -> None:
        for s in mod.syms:
            other = self.symbols.find_symbol(s.name)
            if other is not None:
                raise self._fail(errno.ENOEXEC, "%s: exports duplicate symbol %s (owned by %s)"
                                 % (mod.name, s.name, other.owner or "kernel"), mod.name,
                                 "exports")
        names = [s.name for s in mod.syms]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise self._fail(errno.ENOEXEC, "%s: exports duplicate symbol %s (owned by %s)"
                             % (mod.name, dup, mod.name), mod.name, "exports")
        self.symbols.publish(mod.syms)
        progress.published = True
        mod.state = ModuleState.COMING

    def _do_init_module(self, mod: Module, info: LoadInfo, init_result: int) -> None:
        if init_result < 0:
            raise ModuleLoadError(-init_result, "%s: module init failed: %s"
                                  % (mod.name, os.strerror(-init_result)),
                                  module=mod.name, stage="init")
        if init_result > 0:
            self.log.pr_warn("do_init_module: '%s'->init suspiciously returned %d, it should "
                             "follow 0/-E convention" % (mod.name, init_result))
        mod.state = ModuleState.LIVE
        mod.refcnt -= 1  # drop the initial reference
        self.features.tree.mod_tree_remove_init(mod.id)
        for mem in MemType:
            if mem.is_init and mod.mem[mem].size:
                self.area.free(mod.mem[mem].base)
                mod.mem[mem].base = mod.mem[mem].size = 0
        mod.section_addrs = {k: v for k, v in mod.section_addrs.items() if mod.within(v)}
        self.features.stats.mod_stat_module_live(mod)

    def _unwind(self, mod: Module | None, info: LoadInfo, flags: int,
                progress: _Progress) -> None:
        """Release what a failed load acquired, newest first (the goto ladder)."""
        f = self.features
        if not progress.allocated:
            f.stats.mod_stat_bump_becoming(info, flags)
            return
        if progress.livepatch_elf:
            f.livepatch.free_module_elf(mod)
        if progress.sysfs:
            f.sysfs.mod_sysfs_teardown(mod)
        mod.state = ModuleState.GOING
        if progress.published:
            self.symbols.withdraw(mod.syms)
        self._module_unload_free(mod)
        if progress.listed:
            del self._modules[mod.name]
            del self._by_id[mod.id]
            f.tree.mod_tree_remove(mod.id)
        self._free_mem(mod)
        f.stats.mod_stat_bump_invalid(info, flags)

    def _module_unload_free(self, mod: Module) -> None:
        for target in mod.uses:
            target.refcnt -= 1
            target.holders.remove(mod)
        mod.uses.clear()

    def _free_mem(self, mod: Module) -> None:
        for region in mod.mem.values():
            if region.size:
                self.area.free(region.base)
                region.base = region.size = 0

    # ------------------------------------------------------------------ unloading
    def try_module_get(self, name: str) -> bool:
        """Take a reference on a LIVE module (what a user of it would do)."""
        mod = self.module(name)
        if mod is None or mod.state != ModuleState.LIVE:
            return False
        mod.refcnt += 1
        return True

    def module_put(self, name: str) -> None:
        mod = self.module(name)
        if mod is None or mod.refcount <= 0:
            raise ModuleLoadError(errno.EINVAL, "module_put: %s holds no reference" % name,
                                  module=name, stage="refcount")
        mod.refcnt -= 1

    def delete_module(self, name: str, force: bool = False) -> None:
        """``delete_module(2)``: unload a LIVE module nobody uses."""
        if not self.config.MODULE_UNLOAD:
            raise ModuleLoadError(errno.ENOSYS, "delete_module: kernel built without "
                                  "CONFIG_MODULE_UNLOAD", module=name, stage="unload")
        flags = DELETE_FORCE if force else 0
        mod = self.module(name)
        if mod is None:
            raise ModuleLoadError(errno.ENOENT, "%s: module is not loaded" % name,
                                  module=name, stage="unload")
        if mod.holders:
            raise ModuleLoadError(errno.EWOULDBLOCK, "%s: module is in use by: %s"
                                  % (name, " ".join(h.name for h in reversed(mod.holders))),
                                  module=name, stage="unload")
        if mod.state != ModuleState.LIVE:
            raise ModuleLoadError(errno.EBUSY, "%s: module is %s" % (
                name, "still initialising" if mod.state == ModuleState.COMING else "going away"),
                module=name, stage="unload")
        if mod.has_init and not mod.has_exit and not self._try_force_unload(flags):
            raise ModuleLoadError(errno.EBUSY, "%s: module has an init but no exit function: "
                                  "it cannot be removed" % name, module=name, stage="unload")
        if mod.refcount != 0 and not self._try_force_unload(flags):
            raise ModuleLoadError(errno.EWOULDBLOCK, "%s: module is in use (refcount %d)"
                                  % (name, mod.refcount), module=name, stage="unload")
        mod.state = ModuleState.GOING
        self._free_module(mod)

    def _try_force_unload(self, flags: int) -> bool:
        forced = bool(self.config.MODULE_FORCE_UNLOAD and flags & DELETE_FORCE)
        if forced:
            self.taints |= 1 << Taint.FORCED_RMMOD
        return forced

    def _free_module(self, mod: Module) -> None:
        f = self.features
        f.sysfs.mod_sysfs_teardown(mod)
        mod.state = ModuleState.UNFORMED
        self.symbols.withdraw(mod.syms)
        del self._modules[mod.name]
        del self._by_id[mod.id]
        f.tree.mod_tree_remove(mod.id)   # returns after the lookup core's grace period
        f.livepatch.free_module_elf(mod)
        self._module_unload_free(mod)
        f.taint_tracking.try_add_tainted_module(mod)
        self._free_mem(mod)


def _elf_image(info: LoadInfo):
    from pymod.elf.kofile import ElfImage

    if info.elf is not None and len(info.elf) == info.len:
        return info.elf
    return ElfImage(info.payload[:info.len] if info.len != len(info.payload) else info.payload)


def _defines(info: LoadInfo, name: bytes) -> bool:
    """Whether the symbol table defines ``name`` (e.g. ``init_module``)."""
    needle = b"\0" + name + b"\0"
    strtab = info.strtab
    offsets = []
    start = 0
    while True:
        k = strtab.find(needle, start)
        if k < 0:
            break
        offsets.append(k + 1)
        start = k + 1
    if strtab.startswith(name + b"\0"):
        offsets.append(0)
    if not offsets:
        return False
    syms = info.symtab
    hit = np.isin(syms["st_name"], offsets) & (syms["st_shndx"] != SHN_UNDEF)
    return bool(hit.any())
