"""The simulated kernel: ``load_module()`` in the kernel's order, and its unwind.

Stages follow ``kernel/module/main.c`` (6.12); each lives in the module
named for its job (:mod:`~pymod.loader.elfcheck`, :mod:`~pymod.loader.checks`,
:mod:`~pymod.loader.layout`, :mod:`~pymod.loader.memory`,
:mod:`~pymod.contract.taint`, :mod:`~pymod.loader.resolve`), and every
optional feature is called through its facade.  Undo is structural: a stage
that acquires something (addresses, a place in the module list and the
address map, references on other modules, published exports, a sysfs
directory) records it in the load's progress record, and the unwind
releases exactly what was recorded, in reverse: the kernel's goto ladder.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pymod.contract.internal import (
    MODULE_INIT_COMPRESSED_FILE,
    MODULE_INIT_FLAGS,
    LoadInfo,
    MemType,
    Module,
    ModuleState,
)
from pymod.contract.kver import rules_for
from pymod.contract.taint import augment_kernel_taints
from pymod.elf.compression import detect_compression
from pymod.elf.constants import ELF64_EHDR_SIZE
from pymod.errors import InvalidType, ModuleLoadError, PymodError, strerror
from pymod.loader import checks, delete, elfcheck, layout, relocate, resolve
from pymod.loader import params as modparams
from pymod.loader.memory import free_mem, move_module
from pymod.loader.module_input import (
    ModuleInput,
    check_load_arguments,
    kmod_decompress,
    load_info_of,
)
from pymod.loader.procfs import print_modules, proc_modules
from pymod.loader.registry import Registry


@dataclass
class _Progress:
    """What a load has acquired so far, for the unwind ladder."""

    allocated: bool = False
    listed: bool = False
    percpu: bool = False
    published: bool = False
    sysfs: bool = False
    livepatch_elf: bool = False
    announced: bool = False         # watchers were told the module is coming
    freed: bool = False             # do_init_module's failure path freed it


class Kernel(Registry):
    """A simulated kernel: the :class:`~pymod.loader.registry.Registry` plus
    the load and unload entry points.  What it shows without changing
    (memory, ``/sys/module``, debugfs, ``/proc/kallsyms``, posture) is asked
    through :mod:`pymod.loader.queries`."""

    # -------------------------------------------- /proc/modules, oops line, switches
    def proc_modules(self, show_addresses: bool = True) -> str:
        """``/proc/modules``, newest module first; addresses are zeros for a
        reader without the privilege to see them (``show_addresses=False``)."""
        with self.module_mutex:
            return proc_modules(self, show_addresses)

    def set_module_sig_enforced(self) -> None:
        """``module.sig_enforce=1``: signature enforcement on, for good."""
        with self.module_mutex:
            self.features.sig.set_module_sig_enforced()

    def print_modules(self) -> str:
        """The "Modules linked in:" line of an oops report."""
        with self.module_mutex:
            return print_modules(self)

    # ------------------------------------------------------------------ unloading
    def try_module_get(self, name: str) -> bool:
        """Take a reference on a LIVE module (what a user of it would do)."""
        with self.module_mutex:
            return delete.try_module_get(self, name)

    def module_put(self, name: str) -> None:
        with self.module_mutex:
            delete.module_put(self, name)

    def delete_module(self, name: str, force: bool = False) -> None:
        """``delete_module(2)``: unload a LIVE module nobody uses."""
        self.features.modules.syscall("delete_module", name)
        with self.module_mutex:
            delete.delete_module(self, name, force)

    # ------------------------------------------------------------------ loading
    def finit_module(self, source: ModuleInput, params: str = "", flags: int = 0,
                     init_result: int = 0) -> Module:
        """``finit_module(2)`` exactly: the file's bytes reach ``load_module()``
        as they are, decompressed by the kernel only when ``flags`` has
        ``MODULE_INIT_COMPRESSED_FILE`` (compressed bytes without it fail the
        ELF checks: "Invalid ELF header magic").  ``source`` stands for the
        file descriptor: a path, the file's bytes, or a ``KoFile``.
        ``init_result`` simulates the module's init function (see
        :meth:`load_module`).  Returns the LIVE module."""
        check_load_arguments("finit_module", source, params, flags, init_result)
        self.features.modules.syscall("finit_module")
        if flags & ~MODULE_INIT_FLAGS:
            raise ModuleLoadError(errno.EINVAL, "finit_module: invalid flags %#x" % flags,
                                  stage="syscall")
        info, path = load_info_of(source, flags)
        return self._init_module_from_file(info, path, params, flags, init_result)

    def init_module(self, image: bytes, params: str = "", init_result: int = 0) -> Module:
        """``init_module(2)``: an image already in memory.  No flags, so no
        decompression, and no file reader: an image shorter than an ELF
        header is refused with ENOEXEC before ``load_module()``, silently
        (``copy_module_from_user``)."""
        check_load_arguments("init_module", image, params, 0, init_result)
        self.features.modules.syscall("init_module")
        if not isinstance(image, (bytes, bytearray, memoryview)):
            raise InvalidType("init_module: image must be bytes, not %s"
                              % type(image).__name__)
        if len(image) < ELF64_EHDR_SIZE:
            raise ModuleLoadError(errno.ENOEXEC, "init_module: %d bytes is shorter than an "
                                  "ELF header" % len(image), stage="read")
        info, path = load_info_of(bytes(image), 0)
        return self._init_module_from_file(info, path, params, 0, init_result)

    def load_module(self, source: ModuleInput, params: str = "", flags: int = 0,
                    init_result: int = 0) -> Module:
        """Load a module file (path), image (bytes) or a ``KoFile`` already
        read, as ``insmod``/``modprobe`` do (kmod 31 and later): an
        uncompressed file goes to :meth:`finit_module` as it is; a compressed
        one goes with ``MODULE_INIT_COMPRESSED_FILE`` when its format is the
        one ``/sys/module/compression`` names (MODULE_DECOMPRESS and SYSFS),
        and is otherwise decompressed here, in user space, and its image
        passed instead.  ``flags`` takes the IGNORE
        flags; kmod chooses the compression flag itself.

        Returns the LIVE module.  ``init_result`` simulates the module's init
        function, which returns a C int (another value is refused, with
        nothing changed): a negative one fails the load after COMING, as a
        failing ``module_init`` does, with errno ``-init_result`` (below
        -4095, MAX_ERRNO, the syscall's return is no error number to user
        space: glibc sets no errno), a positive one is warned about and the
        module loads (``do_init_module``).
        """
        check_load_arguments("load_module", source, params, flags, init_result)
        self.features.modules.syscall("finit_module")
        if flags & ~(MODULE_INIT_FLAGS & ~MODULE_INIT_COMPRESSED_FILE):
            raise ModuleLoadError(errno.EINVAL, "load_module: invalid flags %#x (kmod sets "
                                  "MODULE_INIT_COMPRESSED_FILE itself; finit_module takes "
                                  "it)" % flags, stage="syscall")
        info, path = load_info_of(source, flags)
        kind = detect_compression(info.raw)
        if kind is not None and kind + "\n" == self.features.sysfs.module_compression():
            flags |= MODULE_INIT_COMPRESSED_FILE
            info.flags = flags
        elif kind is not None:
            info = kmod_decompress(info, source, kind, flags)
        return self._init_module_from_file(info, path, params, flags, init_result)

    def _init_module_from_file(self, info: LoadInfo, path: str | None, params: str,
                               flags: int, init_result: int) -> Module:
        compressed = bool(flags & MODULE_INIT_COMPRESSED_FILE)
        try:
            with self.module_mutex:
                if compressed:
                    self._decompress(info)
                mod = self._load(info, params, flags, init_result)
        finally:
            if compressed:
                self.features.decompress.module_decompress_cleanup(info)
        mod.source = path
        return mod

    def _decompress(self, info: LoadInfo) -> None:
        try:
            self.features.decompress.module_decompress(info)
        except ModuleLoadError:
            self.features.stats.mod_stat_failed_decompress(info)
            raise

    def _load(self, info: LoadInfo, params: str, flags: int, init_result: int) -> Module:
        """``load_module``: every stage in the kernel's order."""
        f = self.features
        rules = rules_for(self.config)
        mod: Module | None = None
        progress = _Progress()
        try:
            f.sig.module_sig_check(info, flags)
            elfcheck.elf_validity_cache_copy(info, flags, self._struct_module_size(), self.log,
                                             f.percpu.find_pcpusec, rules,
                                             self.config.arch_hooks.e_machine)
            mod = checks.early_mod_check(self, info, flags)
            self._layout_and_allocate(mod, info, progress)
            checks.patient_check_exists(self, mod.name, "load")
            self.list_module(mod)
            progress.listed = True
            augment_kernel_taints(self.taint, self.log, f, mod, info, rules.listed_steps)
            progress.percpu = True
            f.percpu.percpu_modalloc(mod, info)
            mod.refcnt += 1  # module_unload_init: held during init
            resolve.find_module_sections(self, mod, info)
            mod.version = info.get_modinfo("version")
            mod.srcversion = info.get_modinfo("srcversion")
            resolve.simplify_symbols(self, mod, info)
            relocate.apply_relocations(mod, info, self.log, self.ptr_key, rules,
                                       self.config.arch_hooks)
            relocate.struct_module_functions(mod, info, rules)
            mod.kp = modparams.read_params(self, mod, info)
            f.kallsyms.add_kallsyms(mod, info)
            mod.args = params
            # Marked before each call: their undo is idempotent and must also
            # cover a call that fails half-way.
            progress.published = True
            resolve.complete_formation(self, mod)
            progress.announced = True
            self.notify("coming", mod)
            f.trace_events.module_coming(mod, info)     # a MODULE_STATE_COMING notifier
            modparams.parse_args(self, mod, mod.args)
            progress.sysfs = True
            f.sysfs.mod_sysfs_setup(mod, info)
            if mod.klp:
                progress.livepatch_elf = True
                f.livepatch.copy_module_elf(mod, info)
            self._do_init_module(mod, init_result, progress)
        except BaseException as e:
            # Any exception, not only the kernel's refusals (a bug, a
            # KeyboardInterrupt), leaves nothing of the module behind.
            self._unwind(mod, info, flags, progress)
            if isinstance(e, PymodError):
                raise _as_load_error(e, info, mod) from None
            raise
        return mod

    def _struct_module_size(self) -> int | None:
        return self.config.struct_module_size if self.config.checks_struct_module_size else None

    def _layout_and_allocate(self, mod: Module, info: LoadInfo, progress: _Progress) -> None:
        f = self.features
        self.config.arch_hooks.frob_arch_sections(info, mod)
        f.strict_rwx.module_enforce_rwx_sections(info, mod.name)
        layout.prepare_layout_flags(info)
        layout.layout_sections(info, f.unload.exit_sections_are_init())
        f.kallsyms.layout_symtab(mod, info)
        progress.allocated = True
        try:
            move_module(self.area, mod, info)
        except ModuleLoadError:
            progress.allocated = False   # it returned what it took: a "becoming" failure
            raise

    def _do_init_module(self, mod: Module, init_result: int, progress: _Progress) -> None:
        """``do_init_module``: sizes counted before init memory goes; a failing
        init frees the module through ``free_module`` (not the load's unwind,
        so the stats count no invalid load)."""
        text_size = sum(mod.mem[t].size for t in MemType if t.is_text)
        total_size = mod.total_size
        if init_result < 0:
            mod.state = ModuleState.GOING
            mod.refcnt -= 1   # module_put: the reference held during init
            progress.freed = True
            delete.free_module(self, mod)
            raise ModuleLoadError(-init_result, "%s: module init failed: %s"
                                  % (mod.name, strerror(-init_result)),
                                  module=mod.name, stage="init")
        if init_result > 0:
            self.log.pr_warn("do_init_module: '%s'->init suspiciously returned %d, it should "
                             "follow 0/-E convention\ndo_init_module: loading module anyway..."
                             % (mod.name, init_result))
        mod.state = ModuleState.LIVE
        mod.refcnt -= 1  # drop the initial reference
        self.features.tree.mod_tree_remove_init(mod.id)
        free_mem(self.area, mod, init_only=True)
        self.features.stats.mod_stat_module_live(text_size, total_size)
        self.notify("live", mod)

    def _unwind(self, mod: Module | None, info: LoadInfo, flags: int,
                progress: _Progress) -> None:
        """Release what a failed load acquired, newest first (the goto ladder)."""
        f = self.features
        if progress.freed:
            return                     # a failed init: free_module did it all
        if mod is None or not progress.allocated:
            f.stats.mod_stat_bump_becoming(info, flags)
            return
        if progress.announced:
            self.notify("gone", mod)
        if progress.livepatch_elf:
            f.livepatch.free_module_elf(mod)
        if progress.sysfs:
            f.sysfs.mod_sysfs_teardown(mod)
        mod.state = ModuleState.GOING
        if progress.published:
            self.symbols.withdraw(mod.syms)
        delete.module_unload_free(mod)
        if progress.percpu:
            f.percpu.percpu_modfree(mod)
        if progress.listed:
            self.unlist_module(mod)
        free_mem(self.area, mod)
        f.stats.mod_stat_bump_invalid(info, flags)


def _as_load_error(e: PymodError, info: LoadInfo, mod: Module | None) -> ModuleLoadError:
    """What a failed load raises: the stage's own error, or a reader's error
    (a malformed table the kernel would have tripped over) as bad ELF."""
    if not isinstance(e, ModuleLoadError):
        # pymod's readers refuse what they cannot read safely; the kernel
        # has no such check and would go on (or read out of bounds)
        e = ModuleLoadError(e.errno or errno.ENOEXEC, "%s: %s (pymod's own check)" % (
            info.name or "module", e.strerror), stage="elf")
    if e.module is None:
        e.module = info.name or (mod.name if mod else None)
    return e
