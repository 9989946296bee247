"""The simulated kernel's build configuration: Kconfig flags plus the release.

A :class:`Config` is frozen: a :class:`pymod.loader.kernel.Kernel` picks every
feature implementation from it once, at construction.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymod.arch.base import Arch

__all__ = ["Config", "DEFAULT_RELEASE", "kconfig_name"]

DEFAULT_RELEASE = "6.12.0-pymod-amd64"
COMPRESSIONS = ("gzip", "xz", "zstd")

# A distribution .config is a few hundred KiB.
MAX_KCONFIG = 16 << 20
_KCONFIG_LINE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_KCONFIG_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")
# The comment `make` writes at the top of every .config (scripts/kconfig/confdata.c:
# "# Linux/x86 6.1.192 Kernel Configuration"): the version of the source tree.
_KCONFIG_HEADER = re.compile(r"^# Linux/\S+ (\d+\.\d+\S*) Kernel Configuration$", re.M)
_MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")


def _kconfig_text(path: str | Path) -> str:
    """The text of a ``.config``, plain or compressed (``/proc/config.gz``,
    ``config.xz``): the file and what it decompresses to are both capped at
    ``MAX_KCONFIG``, so a bomb is one line naming the file, not all memory."""
    from pymod.elf.compression import decompress, detect_compression, read_file

    data = read_file(str(path), MAX_KCONFIG)
    kind = detect_compression(data)
    if kind is not None:
        try:
            data = decompress(data, kind, MAX_KCONFIG)
        except OSError as e:         # pymod's errors are OSErrors (its errno)
            raise ValueError("%s: not a kernel configuration: %s" % (path, e.strerror)) from None
    return data.decode("utf-8", "surrogateescape")


def read_kconfig(path: str | Path) -> dict[str, str]:
    """``NAME -> value`` of a ``.config`` (``n`` for ``# CONFIG_NAME is not set``).

    Read through the bounded reader (a regular file of at most
    ``MAX_KCONFIG`` bytes); a line that is neither an assignment, a comment
    nor blank raises ``ValueError`` naming the file and the line number.
    """
    return _parse_kconfig(_kconfig_text(path), path)


def release_of_config_name(path: str | Path) -> str | None:
    """The release a ``config-<release>`` file name (``/boot``'s) names, or None."""
    name = Path(path).name
    for suffix in (".gz", ".xz", ".zst"):
        name = name.removesuffix(suffix)
    return name[len("config-"):] or None if name.startswith("config-") else None


def kconfig_kernel_version(text: str) -> str | None:
    """The source version a ``.config``'s header comment names ("6.1.192"), or None."""
    m = _KCONFIG_HEADER.search(text, 0, 4096)
    return m.group(1) if m else None


def _parse_kconfig(text: str, path: str | Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _KCONFIG_LINE.match(line)
        if m:
            values[m.group(1)] = m.group(2)
            continue
        m = _KCONFIG_UNSET.match(line)
        if m:
            values[m.group(1)] = "n"
        elif line.strip() and not line.startswith("#"):
            raise ValueError("%s:%d: not a Kconfig line: %r" % (path, lineno, line[:80]))
    return values


# Kconfig symbols renamed since the oldest modelled kernel (6.1): Config's
# field -> its older name and the version that renamed it.  The other
# per-version rules are pymod.contract.kver's; this one is read before a
# Config exists (and config sits below the loader).
KCONFIG_RENAMES: dict[str, tuple[str, tuple[int, int]]] = {
    "MITIGATION_RETPOLINE": ("RETPOLINE", (6, 9)),
}


def kconfig_name(config_field: str, version: tuple[int, int] | None) -> str:
    """The ``CONFIG_`` name (without the prefix) a kernel of ``version`` spells a
    Config flag with (the newest spelling when the version is unknown)."""
    renamed = KCONFIG_RENAMES.get(config_field)
    if renamed is not None and version is not None and version < renamed[1]:
        return renamed[0]
    return config_field


def _major_minor(text: str) -> tuple[int, int] | None:
    m = _MAJOR_MINOR.match(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _check_same_version(path: Path, release: str,
                        kernel_version: str | None) -> tuple[int, int] | None:
    """The (major, minor) the release or else the .config's header names; a
    release naming another one than the header is a mix-up (the rules would
    follow one, vermagic the other)."""
    named, built = _major_minor(release), _major_minor(kernel_version or "")
    if named is not None and built is not None and named != built:
        raise ValueError("%s is a %s configuration, but the release %r says %d.%d"
                         % (path, kernel_version, release, *named))
    return named or built


@dataclass(frozen=True)
class Config:
    """Feature flags named after Kconfig, the release, and a few run-time facts.

    The defaults describe the built-in default kernel: a Debian-6.12-amd64-like
    distribution kernel.
    """

    release: str = DEFAULT_RELEASE
    MODULES_TREE_LOOKUP: bool = True
    MODULE_DECOMPRESS: bool = True
    MODULE_SIG: bool = True
    MODULE_SIG_FORCE: bool = False
    MODVERSIONS: bool = True
    LIVEPATCH: bool = True
    KALLSYMS: bool = True
    KALLSYMS_ALL: bool = True
    SYSFS: bool = True
    DEBUG_FS: bool = True
    MODULE_STATS: bool = False
    STRICT_MODULE_RWX: bool = True
    MODULE_UNLOAD: bool = True
    MODULE_FORCE_LOAD: bool = True
    MODULE_FORCE_UNLOAD: bool = True
    MODULE_UNLOAD_TAINT_TRACKING: bool = False
    MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS: bool = False
    ARCH_WANTS_MODULES_DATA_IN_VMALLOC: bool = False
    DYNAMIC_DEBUG: bool = True
    # CONFIG_EVENT_TRACING: module trace events (and the bad-taint line)
    EVENT_TRACING: bool = True
    # CONFIG_CONSTRUCTORS (GCOV and KASAN builds): a module's .ctors or
    # .init_array run at init, and a module with both is refused.
    CONSTRUCTORS: bool = False
    MITIGATION_RETPOLINE: bool = True
    # Around the module loader, deciding what loads (pymod posture): without
    # CONFIG_MODULES there are no module syscalls at all; the lockdown LSM
    # with its default level and Debian's lockdown under UEFI Secure Boot;
    # IMA's arch policy (built with IMA_SECURE_AND_OR_TRUSTED_BOOT), which
    # under Secure Boot sets module.sig_enforce; the blacklist keyring
    # (without it no module hash is refused); the platform keyring (UEFI db,
    # MOK) that signing.c retries an unknown key against.
    MODULES: bool = True
    SECURITY_LOCKDOWN_LSM: bool = True
    LOCK_DOWN_KERNEL_FORCE_INTEGRITY: bool = False
    LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY: bool = False
    LOCK_DOWN_IN_EFI_SECURE_BOOT: bool = True
    IMA_ARCH_POLICY: bool = True
    IMA_SECURE_AND_OR_TRUSTED_BOOT: bool = True
    SYSTEM_BLACKLIST_KEYRING: bool = True
    INTEGRITY_PLATFORM_KEYRING: bool = True
    SMP: bool = True
    PREEMPT: bool = True          # CONFIG_PREEMPT_BUILD: "preempt " in vermagic
    PREEMPT_RT: bool = False
    # The MODULE_COMPRESS choice (CONFIG_MODULE_COMPRESS_{GZIP,XZ,ZSTD}),
    # None without MODULE_COMPRESS: the one format an in-kernel decompressor
    # (MODULE_DECOMPRESS, which depends on it) understands.  Debian's is xz.
    module_compression: str | None = "xz"
    # The per-CPU area: vmlinux's static per-CPU data, then the chunk
    # reserved for modules (PERCPU_MODULE_RESERVE).
    percpu_static_size: int = 0x2C000
    percpu_reserve: int = 8 << 10
    # sizeof(struct module); None = unknown, the 6.12 size check is skipped.
    struct_module_size: int | None = 1280
    # Debian's version.c rejects a symbol missing from __versions; mainline
    # warns and accepts it.
    modversions_reject_missing: bool = True
    # CONFIG_RANDSTRUCT's generated seed hash (randstruct_hash.h), which
    # vermagic ends with; None without RANDSTRUCT.  A .config does not hold
    # it: read it off one of the kernel's modules (its vermagic).
    randstruct_hash: str | None = None
    # Run time: the Spectre v2 mitigation is on (spectre_v2_enabled is not
    # SPECTRE_V2_NONE: an affected CPU, no spectre_v2=off).
    spectre_v2_mitigation: bool = True
    # module_blacklist= on the kernel command line.
    module_blacklist: tuple[str, ...] = ()
    # The source version the .config's header names ("6.1.192"), when read
    # from one: the version when the release does not start with one.
    kernel_version: str | None = None
    # The architecture (pymod.arch: its hooks, module area, vermagic part);
    # from_kconfig reads it off CONFIG_X86_64, CONFIG_ARM64, ...
    arch: str = "x86_64"

    def __post_init__(self) -> None:
        self._arch()                  # refuses an architecture pymod does not model
        if self.module_compression not in (None, *COMPRESSIONS):
            raise ValueError("module_compression must be one of %s or None, not %r"
                             % (", ".join(COMPRESSIONS), self.module_compression))
        if self.MODULE_DECOMPRESS and self.module_compression is None:
            raise ValueError("MODULE_DECOMPRESS depends on MODULE_COMPRESS: "
                             "give module_compression")

    @property
    def arch_hooks(self) -> Arch:
        """The :class:`pymod.arch.base.Arch` of ``arch``."""
        return self._arch()

    def _arch(self) -> Arch:
        from pymod.arch import get

        return get(self.arch)

    @property
    def version(self) -> tuple[int, int]:
        """The kernel's ``(major, minor)``, e.g. ``(6, 12)``, from the release's
        prefix, else the version the ``.config`` was generated from; the loader
        follows this version's rules (:mod:`pymod.contract.kver`)."""
        found = _major_minor(self.release) or _major_minor(self.kernel_version or "")
        if found is None:
            raise ValueError("release %r does not start with MAJOR.MINOR and no kernel "
                             "version is known (read the .config)" % self.release)
        return found

    @property
    def checks_struct_module_size(self) -> bool:
        """6.12's run-time ``sizeof(struct module)`` check applies and is known
        (6.1's ELF checks have none: pymod.contract.kver)."""
        return self.version >= (6, 12) and self.struct_module_size is not None

    @property
    def vermagic(self) -> str:
        """``VERMAGIC_STRING`` (include/linux/vermagic.h)."""
        parts = [self.release + " "]
        if self.SMP:
            parts.append("SMP ")
        if self.PREEMPT:
            parts.append("preempt ")
        elif self.PREEMPT_RT:
            parts.append("preempt_rt ")
        if self.MODULE_UNLOAD:
            parts.append("mod_unload ")
        if self.MODVERSIONS:
            parts.append("modversions ")
        parts.append(self.arch_hooks.vermagic_suffix)            # MODULE_ARCH_VERMAGIC
        if self.randstruct_hash is not None:
            parts.append("RANDSTRUCT_" + self.randstruct_hash)   # MODULE_RANDSTRUCT: no space
        return "".join(parts)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kconfig(cls, path: str | Path, release: str | None = None,
                     struct_module_size: int | None = None, *,
                     release_from_header: bool = False, **overrides: Any) -> Config:
        """Read a kernel ``.config`` (e.g. Debian's ``/boot/config-<release>``).

        The file may be compressed (``/proc/config.gz``).  ``release``
        defaults to the file name's ``config-<release>`` suffix; with
        ``release_from_header``, a file named otherwise gets the version its
        header comment names ("6.1.192": enough for the per-version rules,
        not a vermagic a module would match).
        ``struct_module_size`` is the target's ``sizeof(struct module)``; when
        not given it stays unknown (None) and the check is skipped visibly --
        :meth:`struct_module_size_of` reads it off one of the target's modules.
        """
        path = Path(path)
        text = _kconfig_text(path)
        values = _parse_kconfig(text, path)
        kernel_version = kconfig_kernel_version(text)
        if release is None:
            release = release_of_config_name(path)
            if release is None and release_from_header:
                release = kernel_version
            if release is None:
                raise ValueError("cannot tell the kernel release of %s (its name is not "
                                 "config-<release>)" % path)
        version = _check_same_version(path, release, kernel_version)

        def on(key: str) -> bool:
            return values.get(key, "n") in ("y", "m")

        chosen = [kind for kind in COMPRESSIONS if on("MODULE_COMPRESS_" + kind.upper())]
        compression = chosen[0] if chosen and on("MODULE_COMPRESS") else None
        flags = {f.name: on(kconfig_name(f.name, version)) for f in dataclasses.fields(cls)
                 if f.name.isupper() and f.name != "PREEMPT"}
        flags["PREEMPT"] = on("PREEMPT_BUILD") or on("PREEMPT")
        flags["MODULE_DECOMPRESS"] = flags["MODULE_DECOMPRESS"] and compression is not None
        from pymod.arch import arch_of_kconfig

        kwargs: dict[str, Any] = dict(flags, release=release, arch=arch_of_kconfig(on),
                                      module_compression=compression,
                                      struct_module_size=struct_module_size,
                                      kernel_version=kernel_version)
        kwargs.update(overrides)
        return cls(**kwargs)

    @staticmethod
    def struct_module_size_of(module_file: str | Path | bytes) -> int:
        """``sizeof(struct module)`` of a kernel, read off one of its modules.

        Every module carries a ``.gnu.linkonce.this_module`` section of exactly
        that size (modpost builds it from the kernel's own struct).
        """
        from pymod.elf.kofile import read_ko

        ko = read_ko(module_file)
        section = ko.elf.section(".gnu.linkonce.this_module")
        if section is None:
            raise ValueError("%s has no .gnu.linkonce.this_module section" % (ko.path or "module"))
        return int(section.size)
