"""What the oracle asks and what it hears back: cases, steps and results.

A :class:`Case` is a short sequence of syscalls (:class:`Step`) run in one
guest and replayed on one :class:`~pymod.loader.kernel.Kernel`; the modules a case leaves
loaded are unloaded afterwards (newest first, as ``/proc/modules`` lists
them), so every case starts from the boot's module list.  Both sides report
a :class:`Answer` per syscall: the errno (0 = success) and the printk
records it added, as ``(level, text)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# finit_module/init_module flags (include/uapi/linux/module.h)
IGNORE_MODVERSIONS = 1
IGNORE_VERMAGIC = 2
COMPRESSED_FILE = 4
O_NONBLOCK = 0o4000
O_TRUNC = 0o1000                  # delete_module: force (MODULE_FORCE_UNLOAD)

Line = tuple[int, str]            # (printk level 0-7, text)

# printk levels by number, as pymod's KernelLog names them; a printk without
# a level prints at the default, 4
LEVEL_NAMES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")


def level_number(name: str) -> int:
    return LEVEL_NAMES.index(name) if name in LEVEL_NAMES else 4


@dataclass(frozen=True)
class Image:
    """A module image: ``base`` cut or zero-extended to ``length`` bytes,
    then ``patches`` (offset, bytes) written over it.  Many mutants share
    one base, so the initramfs carries each base once."""

    base: bytes
    length: int
    patches: tuple[tuple[int, bytes], ...] = ()

    @classmethod
    def of(cls, data: bytes) -> Image:
        return cls(data, len(data))

    def data(self) -> bytes:
        out = bytearray(self.base[:self.length].ljust(self.length, b"\0"))
        for off, data in self.patches:
            out[off:off + len(data)] = data
        return bytes(out[:self.length])


@dataclass(frozen=True)
class Step:
    """One syscall: ``finit`` / ``init`` an image, or ``delete`` a name."""

    op: str
    image: Image | None = None
    flags: int = 0
    params: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        if self.op not in ("finit", "init", "delete"):
            raise ValueError("unknown step %r" % self.op)
        if (self.op == "delete") != (self.image is None):
            raise ValueError("%s step with%s an image" % (self.op, "" if self.image else "out"))


@dataclass(frozen=True)
class Case:
    """A question for the kernel: ``steps`` in order, from list ``family``
    (mutation, foreign, deps, params...), described by ``what``; ``seed``
    and ``index`` regenerate it."""

    family: str
    what: str
    steps: tuple[Step, ...]
    seed: int = 0
    index: int = 0


@dataclass
class Answer:
    """One syscall's outcome: errno (0 = success) and the printk records."""

    errno: int
    lines: list[Line] = field(default_factory=list)


@dataclass
class Outcome:
    """Everything one side said about a case: the steps' answers, then the
    cleanup unloads (name -> answer, in the order they ran), the taint mask."""

    steps: list[Answer] = field(default_factory=list)
    cleanup: list[tuple[str, Answer]] = field(default_factory=list)
    taint: int | None = None
    died: str | None = None       # the guest died in this case: its console tail
