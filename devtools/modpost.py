"""What modpost adds to a module, for the samples: the generated ``<name>.mod.c``.

Given the facts read off a compiled sample (its undefined and defined
symbols, its export records, its modinfo) and the target kernel, writes the C
source of the second object kbuild links into every ``.ko``: the export
tables, ``__versions``, the name/vermagic/depends modinfo and
``.gnu.linkonce.this_module``.  No tools run here.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pymod.loader.symvers import SymversEntry
from pymod.samples import default_symvers
from pymod.samples.catalog import Sample

# The samples' own exports, the way an external build passes
# KBUILD_EXTRA_SYMBOLS: lets one sample be built without its exporter.
SAMPLES_SYMVERS = Path(__file__).resolve().parent / "samples_src" / "samples.symvers"

# Where the samples' exports live in Module.symvers (an external module dir).
SAMPLE_MODULE_DIR = "extra"

# struct module on x86-64: name[] follows `state` (4 bytes + padding) and the
# `list` list_head; the init/exit pointer offsets are those of Debian 6.12's
# 1280-byte struct, read off real modules' .rela.gnu.linkonce.this_module.
THIS_MODULE_NAME_OFFSET = 24
MODULE_NAME_LEN = 56
INIT_OFFSET_6_12 = 0x138
EXIT_OFFSET_6_12 = 0x4B0


@dataclass(frozen=True)
class Target:
    """The kernel the samples are built for."""

    release: str
    vermagic: str
    this_module_size: int
    symvers: Path
    init_offset: int = INIT_OFFSET_6_12
    exit_offset: int = EXIT_OFFSET_6_12


DEFAULT_TARGET = Target(
    release="6.12.0-pymod-amd64",
    vermagic="6.12.0-pymod-amd64 SMP preempt mod_unload modversions ",
    this_module_size=1280,
    symvers=default_symvers(),
)


@dataclass(frozen=True)
class BuildOptions:
    """What ``build_module``'s ``**overrides`` may change.

    ``vermagic=None`` leaves the vermagic out; ``versions=False`` leaves
    ``__versions`` out; ``crc_overrides`` forces ``__versions`` CRCs;
    ``modinfo_extra`` adds ``key=value`` strings (e.g. ``("livepatch", "Y")``);
    ``extra_symvers`` is where other modules' exports are looked up.
    """

    modname: str | None = None
    vermagic: str | None = ""
    this_module_size: int | None = None
    init_offset: int | None = None
    exit_offset: int | None = None
    versions: bool = True
    crc_overrides: Mapping[str, int] = field(default_factory=dict)
    modinfo_extra: Sequence[tuple[str, str]] = ()
    intree: bool | None = None
    extra_symvers: Path | None = SAMPLES_SYMVERS


class SampleBuildError(RuntimeError):
    """gcc/ld/binutils failed or are missing, or a sample is malformed."""


def sample_export_crc(symbol: str) -> int:
    """The CRC a sample export carries.

    genksyms hashes the symbol's type; the samples only need a stable value
    per name that both the exporter's ``__kcrctab`` and importers' ``__versions``
    agree on.
    """
    return zlib.crc32(b"pymod-sample:" + symbol.encode())


# --- facts read off the compiled sample (modpost's input) ----------------------

@dataclass(frozen=True)
class SampleExport:
    name: str
    gpl: bool
    namespace: str


@dataclass(frozen=True)
class ObjectFacts:
    """What build.py reads off ``<name>.o`` with binutils."""

    sample: Sample
    obj: Path
    undefined: tuple[tuple[str, bool], ...]   # (name, weak) in symbol-table order
    defined: frozenset[str]
    exports: tuple[SampleExport, ...]
    forced_crcs: Mapping[str, int]
    outoftree: bool
    modinfo: tuple[tuple[str, str], ...]
    source_digest: str


def strings(blob: bytes) -> list[str]:
    """The NUL-separated strings of a section such as ``.modinfo``."""
    return [part.decode() for part in blob.split(b"\0") if part]


def export_entries(scan: ObjectFacts) -> list[SymversEntry]:
    """The Module.symvers lines this sample contributes."""
    module = "%s/%s" % (SAMPLE_MODULE_DIR, scan.sample.name)
    return [SymversEntry(sample_export_crc(e.name), e.name, module, e.gpl, e.namespace)
            for e in scan.exports]


# --- the generated <name>.mod.c (modpost's output) ---------------------------

def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ksymtab_asm(exports: Iterable[SampleExport], gpl: bool) -> list[str]:
    # The kernel bsearches a module's ksymtab by name, so it must be sorted;
    # __kcrctab runs parallel to it.
    suffix = "_gpl" if gpl else ""
    lines = []
    for e in sorted((e for e in exports if e.gpl == gpl), key=lambda e: e.name):
        lines += [
            '\t.section "__ksymtab_strings","aMS",@progbits,1',
            "__kstrtab_%s:" % e.name, "\t.asciz %s" % _c_string(e.name),
            "__kstrtabns_%s:" % e.name, "\t.asciz %s" % _c_string(e.namespace),
            '\t.section "__ksymtab%s","a"' % suffix, "\t.balign 4",
            "__ksymtab_%s:" % e.name,
            "\t.long %s - ." % e.name,
            "\t.long __kstrtab_%s - ." % e.name,
            "\t.long __kstrtabns_%s - ." % e.name,
            '\t.section "__kcrctab%s","a"' % suffix, "\t.balign 4",
            "__crc_%s:" % e.name, "\t.long 0x%08x" % sample_export_crc(e.name),
        ]
    return lines


def _this_module_layout(modname: str, opts: BuildOptions,
                        target: Target) -> tuple[int, int, int]:
    """``(size, init_off, exit_off)`` of the sample's struct module, checked."""
    size = opts.this_module_size if opts.this_module_size is not None else target.this_module_size
    exit_off = opts.exit_offset if opts.exit_offset is not None else \
        min(target.exit_offset, (size - 8) & ~7)
    init_off = opts.init_offset if opts.init_offset is not None else \
        min(target.init_offset, exit_off - 8)
    name_end = THIS_MODULE_NAME_OFFSET + MODULE_NAME_LEN
    if not name_end <= init_off <= exit_off - 8 or exit_off + 8 > size:
        raise SampleBuildError("struct module of %d bytes cannot hold name, init (0x%x) and "
                               "exit (0x%x)" % (size, init_off, exit_off))
    if len(modname.encode()) >= MODULE_NAME_LEN:
        raise SampleBuildError("module name %r is longer than %d bytes"
                               % (modname, MODULE_NAME_LEN - 1))
    return size, init_off, exit_off


def _versions_and_depends(scan: ObjectFacts, modname: str, opts: BuildOptions,
                          symvers: Mapping[str, SymversEntry]
                          ) -> tuple[list[tuple[int, str]], list[str]]:
    """The ``__versions`` entries ``(crc, name)`` and the ``depends`` owners."""
    forced = {**scan.forced_crcs, **opts.crc_overrides}
    versions: list[tuple[int, str]] = []
    depends: list[str] = []
    for name, _weak in scan.undefined:
        entry = symvers.get(name)
        if entry is None:
            continue  # modpost only warns; the loader decides
        versions.append((forced.get(name, entry.crc), name))
        if entry.module != "vmlinux" and entry.owner not in depends and entry.owner != modname:
            depends.append(entry.owner)
    layout = symvers.get("module_layout")
    if layout is not None:
        versions.append((forced.get("module_layout", layout.crc), "module_layout"))
    return versions, depends


def _modinfo(scan: ObjectFacts, modname: str, opts: BuildOptions, target: Target,
             depends: Sequence[str]) -> list[tuple[str, str]]:
    """The ``key=value`` strings modpost adds to ``.modinfo``, in order."""
    modinfo: list[tuple[str, str]] = []
    if any(key == "version" for key, _ in scan.modinfo):
        modinfo.append(("srcversion", scan.source_digest))
    modinfo += list(opts.modinfo_extra)
    modinfo.append(("depends", ",".join(depends)))
    intree = (not scan.outoftree) if opts.intree is None else opts.intree
    if intree:
        modinfo.append(("intree", "Y"))
    modinfo += [("name", modname), ("retpoline", "Y")]
    vermagic = target.vermagic if opts.vermagic == "" else opts.vermagic
    if vermagic is not None:
        modinfo.append(("vermagic", vermagic))
    return modinfo


def _modinfo_c(modinfo: Sequence[tuple[str, str]]) -> list[str]:
    return ['static const char __UNIQUE_ID_%s%d[] __used '
            '__attribute__((section(".modinfo"), aligned(1))) = %s;'
            % (key, i, _c_string("%s=%s" % (key, value)))
            for i, (key, value) in enumerate(modinfo)]


def _versions_c(versions: Sequence[tuple[int, str]]) -> list[str]:
    return (["struct modversion_info { unsigned long crc; char name[%d]; };" % MODULE_NAME_LEN,
             'static const struct modversion_info ____versions[] __used '
             '__attribute__((section("__versions"))) = {']
            + ["\t{ 0x%08x, %s }," % (crc, _c_string(name)) for crc, name in versions]
            + ["};"])


def _this_module_c(modname: str, defined: frozenset[str], size: int, init_off: int,
                   exit_off: int) -> list[str]:
    """``struct pm_struct_module`` and its ``__this_module`` instance."""
    name_end = THIS_MODULE_NAME_OFFSET + MODULE_NAME_LEN
    out = [
        "struct pm_struct_module {",
        "\tchar head[%d];" % THIS_MODULE_NAME_OFFSET,
        "\tchar name[%d];" % MODULE_NAME_LEN,
        "\tchar gap0[%d];" % (init_off - name_end),
        "\tint (*init)(void);",
        "\tchar gap1[%d];" % (exit_off - init_off - 8),
        "\tvoid (*exit)(void);",
        "\tchar tail[%d];" % (size - exit_off - 8),
        "} __attribute__((packed));",
    ]
    fields = [".name = %s" % _c_string(modname)]
    if "init_module" in defined:
        out.append("extern int init_module(void);")
        fields.append(".init = init_module")
    if "cleanup_module" in defined:
        out.append("extern void cleanup_module(void);")
        fields.append(".exit = cleanup_module")
    out.append('struct pm_struct_module __this_module __attribute__((section('
               '".gnu.linkonce.this_module"), aligned(64))) = { %s };' % ", ".join(fields))
    return out


def generate_mod_c(scan: ObjectFacts, modname: str, opts: BuildOptions, target: Target,
           symvers: Mapping[str, SymversEntry]) -> str:
    size, init_off, exit_off = _this_module_layout(modname, opts, target)
    versions, depends = _versions_and_depends(scan, modname, opts, symvers)
    modinfo = _modinfo(scan, modname, opts, target, depends)

    out = ["/* Generated by devtools.build_samples for %s: do not edit. */" % modname,
           "#define __used __attribute__((used))"]
    out += _modinfo_c(modinfo)
    asm = _ksymtab_asm(scan.exports, False) + _ksymtab_asm(scan.exports, True)
    if asm:
        out.append("asm(%s);" % "\n    ".join(_c_string(line)[:-1] + '\\n"'
                                              for line in asm + ["\t.previous"]))
    if opts.versions and versions:
        out += _versions_c(versions)
    out += _this_module_c(modname, scan.defined, size, init_off, exit_off)
    return "\n".join(out) + "\n"
