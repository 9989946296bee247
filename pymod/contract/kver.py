"""Rules per kernel version: where the load paths of the modelled kernels differ.

pymod models 6.12's ``load_module()``; Debian 12's own 6.1 loads modules
differently in the places below.  Each difference is written once, here, as
data; the stages read it from the :class:`KernelRules` of the configured
kernel (:func:`rules_for`) instead of testing the version themselves:

* ELF validity (:mod:`pymod.loader.elfcheck`): 6.12's
  ``elf_validity_cache_copy`` (every section bounded, every name checked,
  exactly one ``.modinfo``/``.gnu.linkonce.this_module``/``.symtab``, a
  SHT_STRTAB section name and symbol string table, the struct module size)
  or 6.1's ``elf_validity_check`` then ``setup_load_info`` (the name table
  bounded first, names checked for SHF_ALLOC sections only, no table types
  checked, ``.modinfo`` and ``.gnu.linkonce.this_module`` found by
  ``find_sec`` -- first SHF_ALLOC one -- else "No module found in object").
* The taints a module's modinfo asks for: 6.12 takes them once the module
  is listed (``module_augment_kernel_taints``, after the duplicate check and
  layout); 6.1 takes them in ``check_modinfo``, inside
  ``layout_and_allocate`` before W^X and before ``add_unformed_module``, so
  a load refused later has already tainted the kernel.  6.1 reads the
  proprietary taint for "module license taints kernel." after
  ``find_module_sections`` (``check_module_license_and_versions``), when
  the licence has already tainted: only the named modules get that line.
* ``module_patient_check_exists(FAIL_DUP_MOD_BECOMING)`` in
  ``early_mod_check`` (6.4 on): 6.1 finds a duplicate only in
  ``add_unformed_module``, after layout.
* x86-64 ``apply_relocate_add``'s nonzero-target check: 6.12 checks after
  computing S+A-P ("Invalid relocation target"), 6.1 before, at the
  relocation's own type ("Skipping invalid relocation target", with S+A).
* ``struct module``'s ``init`` and ``exit`` pointers, which the kernel reads
  from the relocated ``.gnu.linkonce.this_module``: both kernels keep
  ``init`` at 312; ``exit`` is at 848 in 6.1 and 1200 in 6.12 (Debian's
  amd64 builds, read off their modules' ``.rela.gnu.linkonce.this_module``),
  so a module built for one kernel forced into the other may have no exit.
* 6.1's ELF checks have no struct module size check (``Config.checks_struct_module_size``
  says so for the tools).
* The PKCS#7 parser's OID registry and switches (:mod:`pymod.elf.pkcs7_rules`):
  6.1 knows md2/md4/md5 and SM2-with-SM3 signatures, 6.12 the SHA-3 digests,
  so the enum values its refusals print differ.

One difference is not here: Kconfig names (CONFIG_RETPOLINE became
CONFIG_MITIGATION_RETPOLINE in 6.9) are read before a Config exists, by
:func:`pymod.config.kconfig_name`.

Only 6.1 and 6.12 are modelled.  Another version takes the rules of the
nearest modelled one at or below it (6.1's below 6.12 and below 6.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymod.config import Config

__all__ = ["KernelRules", "RULES_6_1", "RULES_6_12", "rules_for", "rules_for_version"]

Version = tuple[int, int]

# The steps that taint for what a module's modinfo and signature say, in the
# kernel's order; pymod.contract.taint.STEPS implements each name.
_MODINFO_TAINTS = ("intree", "retpoline", "staging")
_LICENCE_TAINTS = ("license", "test")


@dataclass(frozen=True)
class KernelRules:
    """What one kernel version does where the modelled versions differ."""

    series: Version
    # key of pymod.loader.elfcheck.VALIDITY: the ELF checks and the section
    # indices they leave behind
    elf_validity: str
    # early_mod_check refuses a name already loaded or loading (FAIL_DUP_MOD_BECOMING)
    early_duplicate_check: bool
    # check_modinfo, after vermagic
    check_modinfo_steps: tuple[str, ...]
    # once the module is listed (add_unformed_module), before per-CPU memory
    listed_steps: tuple[str, ...]
    # after find_module_sections, before the exported-CRC check
    sections_steps: tuple[str, ...]
    # apply_relocate_add checks a target before subtracting P and says "Skipping"
    reloc_check_before_pc: bool
    # taints that leave a module its trace events (trace_module_has_bad_taint):
    # O, C, E, N; 6.12 adds K
    trace_good_taints: int
    # offsets of struct module's init and exit pointers
    init_offset: int = 312
    exit_offset: int = 1200
    # the series of pymod.elf.oid_registry and pymod.elf.pkcs7_rules' switches
    pkcs7: str = "6.12"


RULES_6_12 = KernelRules(
    series=(6, 12),
    elf_validity="6.12",
    early_duplicate_check=True,
    check_modinfo_steps=("livepatch_check",),
    listed_steps=(*_MODINFO_TAINTS, "livepatch_taint", *_LICENCE_TAINTS, "signature",
                  "named_proprietary"),
    sections_steps=(),
    reloc_check_before_pc=False,
    trace_good_taints=(1 << 12 | 1 << 10 | 1 << 13 | 1 << 18 | 1 << 15),
)

RULES_6_1 = KernelRules(
    series=(6, 1),
    elf_validity="6.1",
    early_duplicate_check=False,
    check_modinfo_steps=(*_MODINFO_TAINTS, "livepatch_check", "livepatch_taint",
                         *_LICENCE_TAINTS),
    listed_steps=("signature",),
    sections_steps=("named_proprietary",),
    reloc_check_before_pc=True,
    trace_good_taints=(1 << 12 | 1 << 10 | 1 << 13 | 1 << 18),
    exit_offset=848,
    pkcs7="6.1",
)

_MODELLED = (RULES_6_1, RULES_6_12)    # oldest first


def rules_for_version(version: Version) -> KernelRules:
    """The rules of the nearest modelled version at or below ``version``
    (6.1's below 6.1 too)."""
    chosen = _MODELLED[0]
    for rules in _MODELLED:
        if rules.series <= version:
            chosen = rules
    return chosen


def rules_for(config: Config) -> KernelRules:
    """The rules of ``config``'s kernel (:attr:`pymod.config.Config.version`)."""
    return rules_for_version(config.version)
