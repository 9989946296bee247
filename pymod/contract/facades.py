"""The facade of every optional kernel feature: internal.h's ``#ifdef CONFIG_X`` blocks.

Each facade is declared once, here, as a :class:`typing.Protocol`;
``pymod/features/<feature>.py`` holds its real implementation and its
disabled stub, and :func:`pymod.features.select_features` picks one of the two
once, from the :class:`pymod.config.Config`.  The load pipeline calls every
facade unconditionally, so the docstring of each declaration below is the
only place that says what a kernel built without the feature does.

Disabled-stub vocabulary used below:

*unsupported*
    raises ``ModuleLoadError`` (EOPNOTSUPP, or the errno named) and changes
    nothing, so the caller has no partial state to unwind;
*no-op*
    does nothing and reports success;
*always OK*
    answers "acceptable" without looking (the kernel's ``return 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pymod.contract.internal import KernelSymbol, LoadInfo, Module, Verdict

# --------------------------------------------------------------------------
# The posture question, asked of every facade that accepts, refuses or
# unloads modules (pymod.loader.posture puts the answers together).
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Property:
    """One security property of module loading, as ``pymod posture`` shows it."""

    name: str
    enforced: bool
    setting: str          # the Kconfig option or run-time switch responsible
    otherwise: str        # what a kernel that does not enforce it does
    detail: str = ""


class Posture(Protocol):
    """``posture()``: the properties this facade is responsible for, in the
    order ``pymod posture`` lists them.  The real implementation and its
    stub answer under the same names (the stub: what a kernel built without
    the feature does), so the answer is what the loader will do, never a
    reading of the Config.
    """

    def posture(self) -> tuple[Property, ...]: ...


# --------------------------------------------------------------------------
# Facades.  Each Protocol is one ``#ifdef CONFIG_X`` block of internal.h.
# --------------------------------------------------------------------------


class ModuleSupport(Posture, Protocol):
    """CONFIG_MODULES itself (``kernel/module/``; without it
    ``kernel/sys_ni.c``).

    ``syscall(name)`` is the gate of ``init_module``, ``finit_module`` and
    ``delete_module``: each passes it before it reads anything.  Its posture
    is the first property ``pymod posture`` lists, and when that one is
    enforced no other applies.
    Disabled stub: ``syscall`` is *unsupported* with ENOSYS, before anything
    is read (each syscall is ``sys_ni_syscall``); no module loads or unloads.
    """

    def syscall(self, name: str, module: str | None = None) -> None: ...


class Decompress(Protocol):
    """CONFIG_MODULE_DECOMPRESS (``kernel/module/decompress.c``).

    Called only for ``finit_module`` with ``MODULE_INIT_COMPRESSED_FILE``.
    ``format`` is the one format the kernel decompresses (its MODULE_COMPRESS
    choice).  ``module_decompress`` replaces ``info.payload``/``info.len``
    with the image that format's decoder makes of ``info.raw``, by the
    kernel's rules; other data, or a decoder error, is EINVAL with the
    kernel's message ("not an xz compressed module", "decompression failed
    with status %d", ...).  Disabled stub: *unsupported* (``format`` None;
    EOPNOTSUPP with nothing logged, LoadInfo untouched);
    ``module_decompress_cleanup`` is a *no-op*.
    """

    @property
    def format(self) -> str | None: ...
    def module_decompress(self, info: LoadInfo) -> None: ...
    def module_decompress_cleanup(self, info: LoadInfo) -> None: ...


class SigCheck(Posture, Protocol):
    """CONFIG_MODULE_SIG (``kernel/module/signing.c``).

    ``module_sig_check`` parses and strips the appended signature, verifies
    it against the trusted certificates, then applies the kernel's soft/hard
    error rules (ENODATA/ENOPKG/ENOKEY are soft unless enforcing; anything
    else is fatal).  ``module_sig_ok`` says whether the module counts as
    verified (a ``False`` taints it E).  ``set_module_sig_enforced`` is
    ``module.sig_enforce=1``: on, and never off again.
    Disabled stub: *always OK*: nothing is parsed or stripped (the trailer
    stays part of the image, as in a kernel without CONFIG_MODULE_SIG) and
    ``module_sig_ok`` is ``True``, so no module is tainted E;
    ``set_module_sig_enforced`` is a *no-op* (there is no such parameter).
    """

    def module_sig_check(self, info: LoadInfo, flags: int) -> None: ...
    def module_sig_ok(self, info: LoadInfo) -> bool: ...
    def set_module_sig_enforced(self) -> None: ...


class Versioning(Posture, Protocol):
    """CONFIG_MODVERSIONS (``kernel/module/version.c``).

    ``check_version``/``check_modstruct_version`` answer a
    :class:`~pymod.contract.internal.Verdict`: ok when the symbol's CRC is
    acceptable, else the kernel's warning they logged (none when a module
    without ``__versions`` is refused because forced loading is off, which
    the kernel does silently);
    ``same_magic`` compares vermagic strings, skipping the release part when
    the module carries CRCs; ``exports_lack_crcs`` is
    ``check_export_symbol_versions``' "no versions for exported symbols"
    condition, decided per table: exports in ``__ksymtab`` without a
    ``__kcrctab``, or in ``__ksymtab_gpl`` without a ``__kcrctab_gpl``.
    Disabled stub: *always OK* for both checks (the kernel's ``return 1``:
    with versioning off, every symbol is deemed compatible), ``same_magic``
    is a plain string compare, and exports never lack CRCs.
    """

    def check_version(self, info: LoadInfo, symname: str, mod: Module,
                      crc: int | None) -> Verdict: ...
    def check_modstruct_version(self, info: LoadInfo, mod: Module) -> Verdict: ...
    def same_magic(self, amagic: str, bmagic: str, has_crcs: bool) -> bool: ...
    def exports_lack_crcs(self, mod: Module, info: LoadInfo) -> bool: ...


class ForceLoad(Posture, Protocol):
    """CONFIG_MODULE_FORCE_LOAD: ``try_to_force_load``.

    Accepts a module that fails a check modprobe ``--force`` skips (missing
    vermagic, missing ``__versions``, exports without CRCs): taints the module
    and the kernel F, warns once, and returns True.
    Disabled stub: returns False, so the caller refuses the module (ENOEXEC).
    """

    def try_to_force_load(self, mod: Module, reason: str) -> bool: ...


class Unload(Posture, Protocol):
    """CONFIG_MODULE_UNLOAD, with CONFIG_MODULE_FORCE_UNLOAD inside it.

    ``check_delete_module`` lets ``delete_module(2)`` go on;
    ``exit_sections_are_init`` is False (``.exit*`` sections are kept);
    ``try_force_unload(flags)`` honours ``O_TRUNC`` only with
    FORCE_UNLOAD, tainting the kernel R; ``proc_usage`` is the refcount and
    users columns of ``/proc/modules``.
    Disabled stub: ``check_delete_module`` is *unsupported* (ENOSYS, as the
    syscall is absent); ``.exit*`` sections are laid out as init (discarded
    after init); nothing is ever forced; ``proc_usage`` prints ``" - -"``.
    """

    def check_delete_module(self, name: str) -> None: ...
    def exit_sections_are_init(self) -> bool: ...
    def try_force_unload(self, flags: int) -> bool: ...
    def proc_usage(self, mod: Module) -> str: ...


class Namespaces(Posture, Protocol):
    """Symbol namespaces (``verify_namespace_is_imported``).

    ``verify_namespace`` returns None when ``mod`` may use ``sym`` (no
    namespace, or the namespace is in its ``import_ns`` modinfo), else the
    kernel's error it logged.
    CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS=y (the permissive variant,
    not a stub: namespaces always exist): *always OK*, with the kernel's
    warning logged for a missing import.
    """

    def verify_namespace(self, info: LoadInfo, mod: Module,
                         sym: KernelSymbol) -> str | None: ...


class Livepatch(Posture, Protocol):
    """CONFIG_LIVEPATCH (``kernel/module/livepatch.c``).

    ``set_livepatch_module`` flags the module and returns True;
    ``copy_module_elf`` keeps the ELF header, section headers, section names
    and symtab index on the module; ``free_module_elf`` drops them.
    Disabled stub: ``set_livepatch_module`` returns False (the loader then
    refuses a module marked livepatch with ENOEXEC); copy/free are *no-ops*.
    """

    def set_livepatch_module(self, mod: Module) -> bool: ...
    def copy_module_elf(self, mod: Module, info: LoadInfo) -> None: ...
    def free_module_elf(self, mod: Module) -> None: ...


class Retpoline(Protocol):
    """CONFIG_MITIGATION_RETPOLINE (``retpoline_module_ok``, x86 bugs.c):
    a module built without retpoline (no ``retpoline`` modinfo) is not OK
    while the Spectre v2 mitigation is on: "System may be vulnerable to
    spectre v2" (err), then the loader's own warning.
    Disabled stub: *always OK*.
    """

    def retpoline_module_ok(self, has_retpoline: bool) -> bool: ...


class Constructors(Protocol):
    """CONFIG_CONSTRUCTORS (``find_module_sections``): ``check_ctors``
    refuses a module with both ``.ctors`` and ``.init_array`` (EINVAL,
    "%s: has both .ctors and .init_array.").
    Disabled stub: *always OK* (the sections are not looked at).
    """

    def check_ctors(self, mod: Module, info: LoadInfo) -> None: ...


class TraceEvents(Protocol):
    """CONFIG_EVENT_TRACING (``trace_module_notify`` at MODULE_STATE_COMING,
    before the parameters are parsed): a module with trace events
    (``_ftrace_events``) and a taint other than O, C, E, N (and K from 6.12
    on) gets none, and the line "%s: module has bad taint, not creating
    trace events" (err): a forced load, say.
    Disabled stub: *no-op* (no events, no line).
    """

    def module_coming(self, mod: Module, info: LoadInfo) -> None: ...


class DynamicDebug(Protocol):
    """CONFIG_DYNAMIC_DEBUG (``ddebug_dyndbg_module_param_cb``): a load's
    parameter no ``__param`` entry knows is offered here first.  The answer
    is (result, the name as the caller's string now reads): 0 means handled
    (``dyndbg`` and ``<module>.dyndbg`` take a query), nonzero that the
    loader warns "%s: unknown parameter '%s' ignored" with that name, which
    the real hook has cut at its first '.' in place ("dummy.numdummies"
    warns about 'dummy').
    Disabled stub: ``dyndbg`` is accepted and ignored with the warning
    "dyndbg param is supported only in CONFIG_DYNAMIC_DEBUG builds"; any
    other name is -EINVAL, left whole.
    """

    def module_param_cb(self, param: str, val: str | None,
                        modname: str) -> tuple[int, str]: ...


class Percpu(Protocol):
    """CONFIG_SMP's per-CPU module data (``percpu_modalloc`` and friends).

    ``find_pcpusec`` is the index of ``.data..percpu`` (0: none);
    ``percpu_modalloc`` reserves room for it in the per-CPU area's reserved
    chunk and sets ``mod.percpu`` (its per-CPU symbols' base), warning when
    the alignment is above a page ("%s: per-cpu alignment %li > %li") and
    failing with ENOMEM ("%s: Could not allocate %lu bytes percpu data") when
    the chunk is full; ``percpu_modfree`` returns the room.
    Disabled stub (UP): ``find_pcpusec`` is 0, so the section is ordinary
    data; allocation and free are *no-ops*.
    """

    def find_pcpusec(self, info: LoadInfo) -> int: ...
    def percpu_modalloc(self, mod: Module, info: LoadInfo) -> None: ...
    def percpu_modfree(self, mod: Module) -> None: ...


class Sysfs(Protocol):
    """CONFIG_SYSFS (``kernel/module/sysfs.c``): ``/sys/module/<name>/``.

    ``mod_sysfs_setup`` publishes the module's directory, ``mod_sysfs_teardown``
    removes it, ``sysfs_read`` returns its attribute files as text.
    ``module_compression`` is ``/sys/module/compression`` (decompress.c: the
    format and a newline, present only with MODULE_DECOMPRESS), None when
    the file does not exist; kmod reads it to choose its path.
    Disabled stub: setup and teardown are *no-ops*; ``sysfs_read`` raises
    ``ModuleLoadError(ENOENT)`` (there is no such directory);
    ``module_compression`` is None (no file).
    """

    def module_compression(self) -> str | None: ...

    def mod_sysfs_setup(self, mod: Module, info: LoadInfo) -> None: ...
    def mod_sysfs_teardown(self, mod: Module) -> None: ...
    def sysfs_read(self, name: str) -> dict[str, str]: ...


class Debugfs(Protocol):
    """CONFIG_DEBUG_FS: files under ``/sys/kernel/debug/`` that features add.

    ``debugfs_create(path, reader)`` registers a file whose text ``reader()``
    produces; ``debugfs_read(path)`` reads it.
    Disabled stub: ``debugfs_create`` is a *no-op*; ``debugfs_read`` raises
    ``ModuleLoadError(ENOENT)``.
    """

    def debugfs_create(self, path: str, reader: Callable[[], str]) -> None: ...
    def debugfs_read(self, path: str) -> str: ...


class Stats(Protocol):
    """CONFIG_MODULE_STATS (``kernel/module/stats.c``).

    Counters of loads and failures, and the "Duplicate failed modules"
    table, readable as ``modules/stats`` in debugfs.
    Disabled stub: every counter update is a *no-op*; ``stats_text`` is "".
    """

    def mod_stat_bump_invalid(self, info: LoadInfo, flags: int) -> None: ...
    def mod_stat_bump_becoming(self, info: LoadInfo, flags: int) -> None: ...
    def mod_stat_failed_decompress(self, info: LoadInfo) -> None: ...
    def mod_stat_module_live(self, text_size: int, total_size: int) -> None: ...
    def try_add_failed_module(self, name: str, reason: str) -> None: ...
    def stats_text(self) -> str: ...


class TaintTracking(Protocol):
    """CONFIG_MODULE_UNLOAD_TAINT_TRACKING (``kernel/module/tracking.c``).

    Remembers tainted modules after they are unloaded, for oops reports.
    Disabled stub: ``try_add_tainted_module`` is a *no-op*;
    ``unloaded_tainted_modules`` returns "".
    """

    def try_add_tainted_module(self, mod: Module) -> None: ...
    def unloaded_tainted_modules(self) -> str: ...


class TreeLookup(Protocol):
    """CONFIG_MODULES_TREE_LOOKUP: the address -> module map (``mod_tree``).

    ``mod_tree_insert`` adds every non-empty region of a module,
    ``mod_tree_remove_init`` drops its init regions, ``mod_tree_remove`` all
    of them; ``mod_find`` answers the owning module id or None.  ``addr_min``
    and ``addr_max`` only ever widen.
    Disabled stub: the same answers from an O(n) walk of the module list
    (``within_module`` over each module, newest first), the kernel's
    ``list_for_each_entry_rcu`` fallback, kept in the C list path of
    :class:`pymod.lookup.ModTree`.
    """

    @property
    def strategy(self) -> str:
        """``"tree"`` (the latch tree) or ``"list"`` (the list scan)."""
        ...

    def mod_tree_insert(self, mod_id: int, regions: dict[str, tuple[int, int]]) -> None: ...
    def mod_tree_remove_init(self, mod_id: int) -> None: ...
    def mod_tree_remove(self, mod_id: int) -> None: ...
    def mod_find(self, addr: int) -> int | None: ...
    def within(self, addr: int, mod_id: int) -> bool: ...


class StrictRwx(Posture, Protocol):
    """CONFIG_STRICT_MODULE_RWX (``kernel/module/strict_rwx.c``).

    ``module_enforce_rwx_sections`` refuses any section that is both
    writable and executable ("section %s (index %d) has invalid WRITE|EXEC
    flags", ENOEXEC).
    Disabled stub: *always OK*.
    """

    def module_enforce_rwx_sections(self, info: LoadInfo, modname: str) -> None: ...


class Lockdown(Posture, Protocol):
    """CONFIG_SECURITY_LOCKDOWN_LSM (``security/lockdown/lockdown.c``).

    ``at_boot(requested)`` is the kernel locked down at integrity level or
    above once booted, given ``lockdown=integrity`` (or confidentiality) on
    the command line: that, or a CONFIG_LOCK_DOWN_KERNEL_FORCE_* default;
    the loader then refuses unsigned modules (EPERM, through
    ``security_locked_down``) and hardware parameters.  Its posture also
    says whether UEFI Secure Boot locks the kernel down
    (CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT, Debian's
    ``efi_set_secure_boot``).
    Disabled stub: ``at_boot`` is False whatever was asked (without the LSM
    there is no ``lockdown=`` parameter and no lockdown).
    """

    def at_boot(self, requested: bool) -> bool: ...


class Kallsyms(Protocol):
    """CONFIG_KALLSYMS (``kernel/module/kallsyms.c``).

    ``layout_symtab`` reserves room for the full symbol table in INIT_DATA and
    for the core symbols in DATA (so region sizes match the kernel's);
    ``add_kallsyms`` gives the module its symbol table (the full one during
    init, the core one after).
    Disabled stub: both are *no-ops* (no room reserved, no symbols).
    """

    def layout_symtab(self, mod: Module, info: LoadInfo) -> None: ...
    def add_kallsyms(self, mod: Module, info: LoadInfo) -> None: ...
