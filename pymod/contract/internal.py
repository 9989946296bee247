"""The private contract of the loader (the kernel's ``kernel/module/internal.h``).

Every load stage shares what is here, and nothing else:

* :class:`LoadInfo`, the dossier carried through ``load_module()``;
* :class:`Module` and its :class:`Region` s, what the kernel keeps of a
  loaded module (``struct module``);
* :class:`KernelSymbol`, an entry of the symbol directory;
* :class:`Undecided`, a point where the module's own code decides a load;
* :class:`ModuleState`, :class:`MemType` and the taint letters.

The facade of every optional feature is declared beside it, in
:mod:`pymod.contract.facades`.  Nothing here imports another pymod module
except :mod:`pymod.elf` (for type names only), so no import cycle can form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:  # pragma: no cover - type names only
    import mmap

    import numpy as np

    from pymod.elf.headers import Ehdr
    from pymod.elf.image import ElfImage
    from pymod.elf.sigtrailer import SigInfo

# finit_module() flags (include/uapi/linux/module.h)
MODULE_INIT_IGNORE_MODVERSIONS = 1
MODULE_INIT_IGNORE_VERMAGIC = 2
MODULE_INIT_COMPRESSED_FILE = 4
MODULE_INIT_FLAGS = (MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC
                     | MODULE_INIT_COMPRESSED_FILE)

# delete_module() flag that asks for a forced unload (O_TRUNC in the kernel).
DELETE_FORCE = 0o1000

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


class Taint(enum.IntEnum):
    """The kernel's taint bits (``include/linux/panic.h``) that modules use."""

    PROPRIETARY_MODULE = 0
    FORCED_MODULE = 1
    FORCED_RMMOD = 3
    USER = 6                 # a parameter marked unsafe was set
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
    MODULE_TAINT_LETTERS[:2] + ((Taint.FORCED_RMMOD, "R"), (Taint.USER, "U"))
    + MODULE_TAINT_LETTERS[2:])


def taint_letters(taints: int, table: tuple[tuple[Taint, str], ...] = MODULE_TAINT_LETTERS) -> str:
    """Bit mask -> letters in the kernel's print order."""
    return "".join(letter for bit, letter in table if taints >> bit & 1)


class Verdict(NamedTuple):
    """A check's answer: ``ok``, and the message it logged when it refused
    (None when it refused silently, as some kernel checks do)."""

    ok: bool
    message: str | None = None


OK = Verdict(True)


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
    sig: SigInfo | None = None
    sig_errno: int = 0
    sig_ok: bool = False
    # ELF
    hdr: Ehdr | None = None
    sechdrs: np.ndarray | None = None
    secstrings: bytes = b""
    secnames: list[str] = field(default_factory=list)
    elf: ElfImage | None = None
    symtab: np.ndarray | None = None
    strtab: bytes = b""
    index: SectionIndex = field(default_factory=SectionIndex)
    modinfo: list[tuple[str, str]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)   # __versions: name -> crc
    # layout results: per memory type, the unrounded size; per section, its
    # (MemType, offset) placement.
    mem_size: dict[MemType, int] = field(default_factory=dict)
    placement: dict[int, tuple[MemType, int]] = field(default_factory=dict)
    core_symbols: np.ndarray | None = None   # symtab indices kept after init
    # move_module: every section's sh_addr (module memory for allocated ones,
    # the temporary copy's address for the rest); simplify_symbols: every
    # symbol's value afterwards (what the relocations add their addends to).
    sec_addr: np.ndarray | None = None
    symvals: np.ndarray | None = None

    @property
    def shdrs(self) -> np.ndarray[Any, np.dtype[Any]]:
        """``sechdrs`` once the ELF checks have read them (a stage that runs
        before that is a bug)."""
        if self.sechdrs is None:
            raise RuntimeError("section headers are read by elf_validity_cache_copy first")
        return self.sechdrs

    @property
    def syms(self) -> np.ndarray[Any, np.dtype[Any]]:
        """``symtab`` once early_mod_check has read it (as :attr:`shdrs`)."""
        if self.symtab is None:
            raise RuntimeError("the symbol table is read by early_mod_check first")
        return self.symtab

    def get_modinfo(self, tag: str) -> str | None:
        """First value of ``tag`` (``get_modinfo``)."""
        for key, value in self.modinfo:
            if key == tag:
                return value
        return None

    def modinfo_all(self, tag: str) -> list[str]:
        """Every value of a repeatable ``tag``, in file order."""
        return [value for key, value in self.modinfo if key == tag]


@dataclass(frozen=True)
class Undecided:
    """A point of a load where the module's own code decides the outcome,
    which pymod cannot know: it runs no module code.

    ``what`` is ``"param"`` (a parameter given a value at load, whose
    ``kernel_param_ops`` are not one of vmlinux's standard ``param_ops_*``:
    its ``set`` may refuse the value, failing the load with "`V' invalid for
    parameter `P'") or ``"init"`` (the init function, whose error would fail
    the load after COMING).  ``name`` is the parameter or ``init_module``;
    ``ops`` the ops' symbol (``None`` for init, ``"0x..."`` when nothing
    names it); ``detail`` says it in one line.
    """

    what: Literal["param", "init"]
    name: str
    ops: str | None
    detail: str


INIT_UNDECIDED = Undecided("init", "init_module", None, "init_module runs the module's own code")


@dataclass(eq=False)
class Region:
    """``struct module_memory``: one page-rounded allocation and its bytes
    (sections copied in by move_module, then relocated): a bytearray, or for
    a large region anonymous memory the host zero-fills on first touch
    (:func:`pymod.loader.memory.zeroed`)."""

    base: int = 0
    size: int = 0
    data: bytearray | mmap.mmap | None = None


@dataclass(eq=False)
class Module:
    """One module, from ``add_unformed_module`` until ``free_module``.

    ``holders`` are the modules that use this one (the kernel's
    ``source_list``, newest first when printed); ``uses`` are the modules this
    one took a reference on (``target_list``).
    """

    name: str
    id: int
    state: ModuleState = ModuleState.UNFORMED
    mem: dict[MemType, Region] = field(default_factory=lambda: {t: Region() for t in MemType})
    taints: int = 0
    refcnt: int = MODULE_REF_BASE
    holders: list[Module] = field(default_factory=list)
    uses: list[Module] = field(default_factory=list)
    syms: list[KernelSymbol] = field(default_factory=list)
    has_init: bool = False
    has_exit: bool = False
    using_gplonly_symbols: bool = False
    sig_ok: bool = False
    sig_errno: int = 0                  # why not verified: ENODATA, ENOPKG or ENOKEY (soft)
    klp: bool = False
    klp_info: Any = None
    version: str | None = None
    srcversion: str | None = None
    args: str = ""
    source: str | None = None           # file path when loaded from a file
    section_addrs: dict[str, int] = field(default_factory=dict)
    kallsyms: Any = None                # pymod.features.kallsyms.ModKallsyms
    percpu: int = 0                     # mod_percpu(): the per-CPU copy's address, 0 if none
    percpu_size: int = 0
    kp: list[Any] = field(default_factory=list)   # pymod.loader.params.KernelParam, __param order
    heap: dict[int, bytes] = field(default_factory=dict)   # its charp parameters' copies
    async_probe: bool = False
    # parse_args: parameters the module's own ops parsed (see Undecided)
    undecided_params: tuple[Undecided, ...] = ()

    @property
    def undecided(self) -> tuple[Undecided, ...]:
        """What the module's own code decided in this load, in the order it
        ran: parameters parsed by its own ops, then its init function.  A
        module that loads with any of these loads *if that code agrees*."""
        return self.undecided_params + ((INIT_UNDECIDED,) if self.has_init else ())

    def add_taint(self, flag: Taint) -> None:
        self.taints |= 1 << flag

    def tainted(self, flag: Taint) -> bool:
        return bool(self.taints >> flag & 1)

    @property
    def taint_letters(self) -> str:
        return taint_letters(self.taints, MODULE_TAINT_LETTERS)

    @property
    def refcount(self) -> int:
        """``module_refcount()``: references beyond the base one."""
        return self.refcnt - MODULE_REF_BASE

    @property
    def total_size(self) -> int:
        """``module_total_size()``: every region's (page-rounded) size."""
        return sum(r.size for r in self.mem.values())

    def regions(self) -> dict[str, tuple[int, int]]:
        """Non-empty regions as the lookup core takes them."""
        return {t.kind: (r.base, r.size) for t, r in self.mem.items() if r.size}

    def within(self, addr: int) -> bool:
        """``within_module()``: inside any init or core region."""
        return any(r.size and 0 <= addr - r.base < r.size for r in self.mem.values())

    def flags(self, show_state: bool = True) -> str:
        """``module_flags()``: "(POE)", "(E+)" ... or ""."""
        coming = self.state == ModuleState.COMING
        going = self.state == ModuleState.GOING
        if not (self.taints or (show_state and (coming or going))):
            return ""
        return "(%s%s%s)" % (self.taint_letters, "-" if going and show_state else "",
                             "+" if coming and show_state else "")
