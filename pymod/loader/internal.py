"""The private contract of the loader (the kernel's ``kernel/module/internal.h``).

Everything every load stage shares lives here and nothing else does:

* :class:`LoadInfo`, the dossier carried through ``load_module()``;
* :class:`KernelSymbol`, an entry of the symbol directory;
* :class:`ModuleState`, :class:`MemType` and the taint letters;
* the facade of every optional feature.  Each facade is declared once, as a
  :class:`typing.Protocol`; ``pymod/features/<feature>.py`` holds its real
  implementation and its disabled stub, and the choice between the two is made
  once, when a :class:`pymod.loader.kernel.Kernel` is built from its
  :class:`pymod.config.Config`.  The pipeline calls every facade
  unconditionally, so the docstring of each declaration below is the only place
  that says what a kernel built without the feature does.

Disabled-stub vocabulary used below:

*unsupported*  raises ``ModuleLoadError(EOPNOTSUPP)`` and leaves ``LoadInfo``
               untouched, so the caller has no partial state to unwind;
*no-op*        does nothing and reports success;
*always OK*    answers "acceptable" without looking (the kernel's ``return 1``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, NamedTuple, Protocol

if TYPE_CHECKING:  # pragma: no cover - type names only
    import numpy as np

    from pymod.elf.kofile import ElfImage, SigInfo
    from pymod.loader.module import Module

# finit_module() flags (include/uapi/linux/module.h)
MODULE_INIT_IGNORE_MODVERSIONS = 1
MODULE_INIT_IGNORE_VERMAGIC = 2
MODULE_INIT_COMPRESSED_FILE = 4
MODULE_INIT_FLAGS = (MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC
                     | MODULE_INIT_COMPRESSED_FILE)

# delete_module() flag that asks for a forced unload (O_TRUNC in the kernel).
DELETE_FORCE = 0o1000

# ELF section flag the loader invents to steer .data..ro_after_init
SHF_RO_AFTER_INIT = 0x00200000
SHF_RELA_LIVEPATCH = 0x00100000
SHN_LIVEPATCH = 0xFF20

MODULE_NAME_LEN = 56  # 64 - sizeof(unsigned long)
MODULE_REF_BASE = 1
PAGE_SIZE = 4096


class ModuleState(enum.IntEnum):
    """``enum module_state``; the numbers are the kernel's."""

    LIVE = 0
    COMING = 1
    GOING = 2
    UNFORMED = 3


class MemType(enum.IntEnum):
    """``enum mod_mem_type``; ``kind`` is the lookup core's region name."""

    TEXT = 0
    DATA = 1
    RODATA = 2
    RO_AFTER_INIT = 3
    INIT_TEXT = 4
    INIT_DATA = 5
    INIT_RODATA = 6

    @property
    def kind(self) -> str:
        return self.name.lower()

    @property
    def is_init(self) -> bool:
        return self >= MemType.INIT_TEXT

    @property
    def is_text(self) -> bool:
        return self in (MemType.TEXT, MemType.INIT_TEXT)

    @property
    def is_core_data(self) -> bool:
        return self in (MemType.DATA, MemType.RODATA, MemType.RO_AFTER_INIT)


class Taint(enum.IntEnum):
    """The kernel's taint bits (``include/linux/panic.h``) that modules use."""

    PROPRIETARY_MODULE = 0
    FORCED_MODULE = 1
    FORCED_RMMOD = 3
    CRAP = 10
    OOT_MODULE = 12
    UNSIGNED_MODULE = 13
    LIVEPATCH = 15
    AUX = 16
    RANDSTRUCT = 17
    TEST = 18


# Print order of kernel/panic.c's taint_flags[] restricted to module taints,
# which is the order /proc/modules and /sys/module/*/taint use.
MODULE_TAINT_LETTERS: tuple[tuple[Taint, str], ...] = (
    (Taint.PROPRIETARY_MODULE, "P"),
    (Taint.FORCED_MODULE, "F"),
    (Taint.CRAP, "C"),
    (Taint.OOT_MODULE, "O"),
    (Taint.UNSIGNED_MODULE, "E"),
    (Taint.LIVEPATCH, "K"),
    (Taint.AUX, "X"),
    (Taint.RANDSTRUCT, "T"),
    (Taint.TEST, "N"),
)
# Kernel-wide letters also include the forced unload, between F and C.
KERNEL_TAINT_LETTERS: tuple[tuple[Taint, str], ...] = (
    MODULE_TAINT_LETTERS[:2] + ((Taint.FORCED_RMMOD, "R"),) + MODULE_TAINT_LETTERS[2:])


def taint_letters(taints: int, table: tuple[tuple[Taint, str], ...] = MODULE_TAINT_LETTERS) -> str:
    """Bit mask -> letters in the kernel's print order."""
    return "".join(letter for bit, letter in table if taints >> bit & 1)


@dataclass(slots=True)
class KernelSymbol:
    """An exported symbol: ``struct kernel_symbol`` plus what find_symbol returns.

    ``owner`` is the exporting module's name, ``None`` for vmlinux.
    """

    name: str
    value: int
    namespace: str | None
    gpl_only: bool
    crc: int | None
    owner: str | None


class Ehdr(NamedTuple):
    """The ELF64 header fields the loader checks (``Elf64_Ehdr``)."""

    e_ident: bytes
    e_type: int
    e_machine: int
    e_version: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_flags: int
    e_ehsize: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int


@dataclass(slots=True)
class SectionIndex:
    """``load_info.index``: section numbers, 0 meaning "absent"."""

    sym: int = 0
    str: int = 0
    mod: int = 0
    vers: int = 0
    info: int = 0
    pcpu: int = 0


@dataclass(slots=True)
class LoadInfo:
    """The dossier of one load (``struct load_info``).

    Stages fill it in order; a stage reads only fields filled before it.
    ``sechdrs`` is a private, writable copy of the section headers: the loader
    changes ``sh_flags`` (drops SHF_ALLOC of .modinfo/__versions/percpu, adds
    SHF_RO_AFTER_INIT) and stores layout results in ``sh_entsize`` exactly as
    the kernel does, without touching the caller's bytes.
    """

    raw: bytes                        # what the caller handed in
    len: int = 0                      # bytes of ``payload`` still considered
    payload: bytes = b""              # decompressed image, trailer still on until stripped
    flags: int = 0
    name: str | None = None           # modinfo name, else struct module's
    # decompression bookkeeping
    compression: str | None = None
    compressed_len: int = 0
    # the image a reader already decompressed (pymod.elf.kofile.KoFile), if any
    predecompressed: bytes | None = None
    # signature trailer, once parsed and stripped
    sig: "SigInfo | None" = None
    sig_errno: int = 0
    sig_ok: bool = False
    # ELF
    hdr: Ehdr | None = None
    sechdrs: "np.ndarray | None" = None
    secstrings: bytes = b""
    secnames: list[str] = field(default_factory=list)
    elf: "ElfImage | None" = None
    symtab: "np.ndarray | None" = None
    strtab: bytes = b""
    index: SectionIndex = field(default_factory=SectionIndex)
    modinfo: list[tuple[str, str]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)   # __versions: name -> crc
    # layout results: per memory type, the unrounded size; per section, its
    # (MemType, offset) placement.
    mem_size: dict[MemType, int] = field(default_factory=dict)
    placement: dict[int, tuple[MemType, int]] = field(default_factory=dict)
    core_symbols: "np.ndarray | None" = None   # symtab indices kept after init

    def get_modinfo(self, tag: str) -> str | None:
        """First value of ``tag`` (``get_modinfo``)."""
        for key, value in self.modinfo:
            if key == tag:
                return value
        return None

    def modinfo_all(self, tag: str) -> list[str]:
        """Every value of a repeatable ``tag``, in file order."""
        return [value for key, value in self.modinfo if key == tag]


# --------------------------------------------------------------------------
# Facades.  Each Protocol is one ``#ifdef CONFIG_X`` block of internal.h.
# --------------------------------------------------------------------------


class Decompress(Protocol):
    """CONFIG_MODULE_DECOMPRESS (``kernel/module/decompress.c``).

    ``module_decompress`` replaces ``info.payload``/``info.len`` with the
    decompressed image of ``info.raw``; a format the kernel was not built for,
    or a decoder error, is EINVAL ("not an xz compressed module", ...).
    Disabled stub: *unsupported* (EOPNOTSUPP, LoadInfo untouched);
    ``module_decompress_cleanup`` is a *no-op*.
    """

    def module_decompress(self, info: LoadInfo) -> None: ...
    def module_decompress_cleanup(self, info: LoadInfo) -> None: ...


class SigCheck(Protocol):
    """CONFIG_MODULE_SIG (``kernel/module/signing.c``).

    ``module_sig_check`` parses and strips the appended signature, then
    applies the kernel's soft/hard error rules (ENODATA/ENOPKG/ENOKEY are soft
    unless enforcing; anything else is fatal).  ``module_sig_ok`` says whether
    the module counts as verified (a ``False`` taints it E).
    Disabled stub: *always OK*: nothing is parsed or stripped (the trailer
    stays part of the image, as in a kernel without CONFIG_MODULE_SIG) and
    ``module_sig_ok`` is ``True``, so no module is tainted E.
    """

    def module_sig_check(self, info: LoadInfo, flags: int) -> None: ...
    def module_sig_ok(self, info: LoadInfo) -> bool: ...


class Versioning(Protocol):
    """CONFIG_MODVERSIONS (``kernel/module/version.c``).

    ``check_version``/``check_modstruct_version`` return True when the
    symbol's CRC is acceptable (they log the kernel's warning when not);
    ``same_magic`` compares vermagic strings, skipping the release part when
    the module carries CRCs.
    Disabled stub: *always OK* for both checks (the kernel's ``return 1``:
    with versioning off, every symbol is deemed compatible), and
    ``same_magic`` is a plain string compare.
    """

    def check_version(self, info: LoadInfo, symname: str, mod: "Module",
                      crc: int | None) -> bool: ...
    def check_modstruct_version(self, info: LoadInfo, mod: "Module") -> bool: ...
    def same_magic(self, amagic: str, bmagic: str, has_crcs: bool) -> bool: ...


class Livepatch(Protocol):
    """CONFIG_LIVEPATCH (``kernel/module/livepatch.c``).

    ``set_livepatch_module`` flags the module and returns True;
    ``copy_module_elf`` keeps the ELF header, section headers, section names
    and symtab index on the module; ``free_module_elf`` drops them.
    Disabled stub: ``set_livepatch_module`` returns False (the loader then
    refuses a module marked livepatch with ENOEXEC); copy/free are *no-ops*.
    """

    def set_livepatch_module(self, mod: "Module") -> bool: ...
    def copy_module_elf(self, mod: "Module", info: LoadInfo) -> None: ...
    def free_module_elf(self, mod: "Module") -> None: ...


class Sysfs(Protocol):
    """CONFIG_SYSFS (``kernel/module/sysfs.c``): ``/sys/module/<name>/``.

    ``mod_sysfs_setup`` publishes the module's directory, ``mod_sysfs_teardown``
    removes it, ``sysfs_read`` returns its attribute files as text.
    Disabled stub: setup and teardown are *no-ops*; ``sysfs_read`` raises
    ``ModuleLoadError(ENOENT)`` (there is no such directory).
    """

    def mod_sysfs_setup(self, mod: "Module", info: LoadInfo) -> None: ...
    def mod_sysfs_teardown(self, mod: "Module") -> None: ...
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
    def mod_stat_module_live(self, mod: "Module") -> None: ...
    def try_add_failed_module(self, name: str, reason: str) -> None: ...
    def stats_text(self) -> str: ...


class TaintTracking(Protocol):
    """CONFIG_MODULE_UNLOAD_TAINT_TRACKING (``kernel/module/tracking.c``).

    Remembers tainted modules after they are unloaded, for oops reports.
    Disabled stub: ``try_add_tainted_module`` is a *no-op*;
    ``unloaded_tainted_modules`` returns "".
    """

    def try_add_tainted_module(self, mod: "Module") -> None: ...
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

    def mod_tree_insert(self, mod_id: int, regions: dict[str, tuple[int, int]]) -> None: ...
    def mod_tree_remove_init(self, mod_id: int) -> None: ...
    def mod_tree_remove(self, mod_id: int) -> None: ...
    def mod_find(self, addr: int) -> int | None: ...
    def within(self, addr: int, mod_id: int) -> bool: ...


class StrictRwx(Protocol):
    """CONFIG_STRICT_MODULE_RWX (``kernel/module/strict_rwx.c``).

    ``module_enforce_rwx_sections`` refuses any section that is both
    writable and executable ("section %s (index %d) has invalid WRITE|EXEC
    flags", ENOEXEC).
    Disabled stub: *always OK*.
    """

    def module_enforce_rwx_sections(self, info: LoadInfo, modname: str) -> None: ...


class Kallsyms(Protocol):
    """CONFIG_KALLSYMS (``kernel/module/kallsyms.c``).

    ``layout_symtab`` reserves room for the full symbol table in INIT_DATA and
    for the core symbols in DATA (so region sizes match the kernel's);
    ``add_kallsyms`` gives the module its symbol table (the full one during
    init, the core one after).
    Disabled stub: both are *no-ops* (no room reserved, no symbols).
    """

    def layout_symtab(self, mod: "Module", info: LoadInfo) -> None: ...
    def add_kallsyms(self, mod: "Module", info: LoadInfo) -> None: ...
