"""The sample modules: what each one is for and what the default kernel does with it.

``source`` names the C file under ``src/``; variants reuse a source with
builder overrides (no new C), so a failure that depends only on how a module
was built (vermagic, struct module size, CRCs) still ships prebuilt.
``requires`` must be loaded first.  ``errno`` is what loading it into the
built-in default kernel (``pymod.Config()``) returns, 0 when it loads;
``taint`` is the module taint this sample exists to show (every sample is
unsigned, so each also gets E while MODULE_SIG is on).
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# A PREEMPT_RT build of the same release: same_magic compares past the
# release, so the difference has to be in the flags.
RT_VERMAGIC = "6.12.0-pymod-amd64 SMP preempt_rt mod_unload modversions "


@dataclass(frozen=True)
class Sample:
    name: str
    exercises: str
    errno: int = 0
    taint: str = ""
    requires: tuple[str, ...] = ()
    source: str = ""
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @property
    def loads(self) -> bool:
        return self.errno == 0


def _variant(name: str, source: str, exercises: str, errno: int = 0, taint: str = "",
             **overrides: Any) -> Sample:
    return Sample(name, exercises, errno, taint, source=source,
                  overrides=MappingProxyType(overrides))


# Build order matters: a symbol's first exporter owns it in Module.symvers,
# so pm_exporter precedes pm_dup_export.
SAMPLES: tuple[Sample, ...] = (
    Sample("pm_hello", "GPL module with init/exit calling vmlinux's _printk; version/srcversion"),
    Sample("pm_exporter", "exports pm_shared_fn (EXPORT_SYMBOL), pm_gpl_fn (EXPORT_SYMBOL_GPL), "
                          "pm_ns_fn (namespace PYMOD_TEST), with CRCs"),
    Sample("pm_importer", "uses all three pm_exporter symbols with import_ns=PYMOD_TEST; "
                          "depends=pm_exporter; holder of pm_exporter", requires=("pm_exporter",)),
    Sample("pm_ns_noimport", "uses pm_ns_fn without import_ns: namespace refusal",
           _errno.EINVAL, requires=("pm_exporter",)),
    Sample("pm_proprietary", "Proprietary licence using a plain export: loads, taint P",
           taint="P", requires=("pm_exporter",)),
    Sample("pm_proprietary_gpl", "Proprietary licence using a GPL-only export: "
                                 "the symbol is invisible, Unknown symbol",
           _errno.ENOENT, requires=("pm_exporter",)),
    Sample("pm_wx", "a SHF_WRITE|SHF_EXECINSTR section: W^X refusal", _errno.ENOEXEC),
    Sample("pm_missing", "an undefined symbol nobody exports: Unknown symbol", _errno.ENOENT),
    Sample("pm_weak", "a weak undefined symbol nobody exports: loads"),
    Sample("pm_crc_bad", "a __versions CRC for _printk that differs from vmlinux's: "
                         "disagrees about version of symbol", _errno.EINVAL),
    Sample("pm_common", "an SHN_COMMON symbol (tentative definition): refused", _errno.ENOEXEC),
    Sample("pm_dup_export", "exports pm_shared_fn again: duplicate symbol while "
                            "pm_exporter is loaded", _errno.ENOEXEC, requires=("pm_exporter",)),
    Sample("pm_noinit", "no init and no exit function (no .rela.gnu.linkonce.this_module)"),
    Sample("pm_ro_after_init", "a __ro_after_init variable in .data..ro_after_init"),
    Sample("pm_outoftree", "no intree=Y: taint O", taint="O"),
    Sample("pm_params", "module_param int/bool/charp, an int array, a string and a hidden "
                        "uint; a per-CPU variable"),
    Sample("pm_param_ops", "parameters parsed by the module's own kernel_param_ops (one "
                           "NOARG, one array's elements) beside an int: loads if its code "
                           "agrees"),
    _variant("pm_badmagic", "pm_hello", "vermagic of a PREEMPT_RT build: version magic mismatch",
             _errno.ENOEXEC, vermagic=RT_VERMAGIC),
    _variant("pm_nomagic", "pm_hello", "no vermagic at all: force-loaded (taint F) when "
             "MODULE_FORCE_LOAD is on, else refused", taint="F", vermagic=None),
    _variant("pm_badstruct", "pm_hello", "a .gnu.linkonce.this_module of 1216 bytes, not the "
             "kernel's sizeof(struct module)", _errno.ENOEXEC, this_module_size=1216),
    _variant("pm_oldlayout", "pm_hello", "a module_layout CRC from another kernel: "
             "check_modstruct_version refusal", _errno.ENOEXEC,
             crc_overrides={"module_layout": 0x1badcafe}),
    _variant("pm_livepatch", "pm_hello", "modinfo livepatch=Y: taint K (refused without LIVEPATCH)",
             taint="K", modinfo_extra=(("livepatch", "Y"),)),
)

BY_NAME: Mapping[str, Sample] = MappingProxyType({s.name: s for s in SAMPLES})


def sample(name: str) -> Sample:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError("no sample %r; known: %s" % (name, ", ".join(BY_NAME))) from None
