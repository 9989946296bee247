"""``pymod posture`` against the kernel's own rules, on Debian's real
configurations and on copies with one option flipped.

The rules (6.1 and 6.12 alike):

* kernel/sys_ni.c: without CONFIG_MODULES, init_module/finit_module are
  sys_ni_syscall (ENOSYS): no module loads at all.
* kernel/module/signing.c, module_sig_check: a soft failure (unsigned,
  unknown key, unsupported crypto) is EKEYREJECTED under module.sig_enforce,
  else security_locked_down(LOCKDOWN_MODULE_SIGNATURE), EPERM when locked
  down; internal.h: without CONFIG_MODULE_SIG the check is ``return 0``.
* security/lockdown/lockdown.c, lockdown_lsm_init: the
  LOCK_DOWN_KERNEL_FORCE_* choice locks the kernel down at boot; without the
  LSM there is no lockdown= parameter.
* drivers/firmware/efi/secureboot.c (Debian): under Secure Boot,
  CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT locks down at integrity level;
  security/integrity/ima/ima_efi.c: IMA's arch policy sets
  module.sig_enforce (with MODULE_SIG) or appraises modules (without).
* include/keys/system_keyring.h: without CONFIG_SYSTEM_BLACKLIST_KEYRING,
  is_hash_blacklisted is ``return 0``.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import pytest

from pymod import Config, Kernel, ModuleLoadError
from pymod.loader import queries
from pymod.tools import main

# Each flipped option and the property whose "enforced" must follow it
# (True: the property holds when the option is on).
FLIPS = {
    "MODULES": ("loadable modules refused", False),
    "MODULE_SIG": ("signature checking", True),
    "MODULE_SIG_FORCE": ("signature enforcement", True),
    "LOCK_DOWN_IN_EFI_SECURE_BOOT": ("lockdown under Secure Boot", True),
    "IMA_ARCH_POLICY": ("signature enforcement under Secure Boot", True),
    "SYSTEM_BLACKLIST_KEYRING": ("hash blacklist", True),
    "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": ("lockdown", True),
    "MODVERSIONS": ("symbol versions (CRCs)", True),
    "MODULE_FORCE_LOAD": ("forced loads refused", False),
    "STRICT_MODULE_RWX": ("W^X sections", True),
    "MODULE_UNLOAD": ("unloading", True),
    "LIVEPATCH": ("livepatch modules refused", False),
}


def flipped(config: Path, tmp_path: Path, **options: bool) -> Path:
    """A copy of ``config`` (same name, so the same release) with each
    option set on or off as a .config spells it."""
    text = config.read_text()
    for name, on in options.items():
        line = "CONFIG_%s=y" % name if on else "# CONFIG_%s is not set" % name
        text, n = re.subn(r"^(CONFIG_%s=.*|# CONFIG_%s is not set)$" % (name, name), line,
                          text, flags=re.M)
        if n == 0:
            text += line + "\n"
    out = tmp_path / config.name
    out.write_text(text)
    return out


def answer(capsys, *argv: str) -> dict[str, dict]:
    assert main(["posture", "--json", *argv]) == 0
    data = json.loads(capsys.readouterr().out)
    return {p["name"]: p for p in data} if isinstance(data, list) else data


def kconfig(config: Path) -> dict[str, bool]:
    on = {}
    for line in config.read_text().splitlines():
        m = re.match(r"^CONFIG_([A-Z0-9_]+)=(.*)$", line)
        if m:
            on[m.group(1)] = m.group(2) in ("y", "m")
    return on


@pytest.mark.real_kernel
def test_debian_configs_answer_by_the_kernel_rules(debian_kernel, capsys):
    on = kconfig(debian_kernel.config)
    p = answer(capsys, "--config", str(debian_kernel.config))
    assert p["loadable modules refused"]["enforced"] is not on.get("MODULES", False)
    assert p["signature checking"]["enforced"] is on.get("MODULE_SIG", False)
    assert p["signature enforcement"]["enforced"] is on.get("MODULE_SIG_FORCE", False)
    sb_lock = on.get("SECURITY_LOCKDOWN_LSM", False) and on.get(
        "LOCK_DOWN_IN_EFI_SECURE_BOOT", False)
    assert p["lockdown under Secure Boot"]["enforced"] is sb_lock
    ima = on.get("IMA_ARCH_POLICY", False) and on.get("IMA_SECURE_AND_OR_TRUSTED_BOOT", False)
    assert p["signature enforcement under Secure Boot"]["enforced"] is (
        ima and on.get("MODULE_SIG", False))
    assert p["hash blacklist"]["enforced"] is on.get("SYSTEM_BLACKLIST_KEYRING", False)
    forced = on.get("LOCK_DOWN_KERNEL_FORCE_INTEGRITY", False) or on.get(
        "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY", False)
    assert p["lockdown"]["enforced"] is forced
    # Debian's cloud kernels: no default lockdown, but Secure Boot locks down
    # and IMA enforces signatures; the blacklist keyring is built.
    assert sb_lock and ima and on["SYSTEM_BLACKLIST_KEYRING"] and not forced
    assert "EPERM" in p["lockdown under Secure Boot"]["detail"]
    assert "EKEYREJECTED" in p["signature enforcement under Secure Boot"]["detail"]


@pytest.mark.real_kernel
@pytest.mark.parametrize("option", sorted(FLIPS))
def test_each_flipped_option_moves_its_property(debian_kernel, tmp_path, capsys, option):
    name, follows = FLIPS[option]
    seen = {}
    for on in (True, False):
        # the options a flip needs on to be visible at all
        base = {"SECURITY_LOCKDOWN_LSM": True, "MODULE_SIG": True, "MODULE_UNLOAD": True,
                "IMA_SECURE_AND_OR_TRUSTED_BOOT": True, "MODULES": True}
        base[option] = on
        config = flipped(debian_kernel.config, tmp_path, **base)
        props = answer(capsys, "--config", str(config))
        if option == "MODULES" and not on:
            assert list(props) == [name] and "ENOSYS" in props[name]["detail"]
        seen[on] = props[name]["enforced"]
    assert seen == {True: follows, False: not follows}, option


@pytest.mark.real_kernel
def test_lockdown_and_sig_enforce_refuse_unsigned_modules(debian_kernel, tmp_path, capsys):
    p = answer(capsys, "--config", str(debian_kernel.config), "--lockdown")
    assert p["unsigned modules refused"]["enforced"] and "EPERM" in \
        p["unsigned modules refused"]["detail"]
    p = answer(capsys, "--config", str(debian_kernel.config), "--sig-enforce", "--lockdown")
    assert "EKEYREJECTED" in p["unsigned modules refused"]["detail"]   # asked first
    p = answer(capsys, "--config", str(debian_kernel.config))
    assert not p["unsigned modules refused"]["enforced"]
    # a configured default level needs no lockdown=
    forced = flipped(debian_kernel.config, tmp_path, LOCK_DOWN_KERNEL_FORCE_INTEGRITY=True,
                     LOCK_DOWN_KERNEL_FORCE_NONE=False)
    p = answer(capsys, "--config", str(forced))
    assert p["lockdown"]["enforced"] and p["unsigned modules refused"]["enforced"]
    assert p["lockdown"]["setting"] == "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY"
    # without MODULE_SIG nobody asks lockdown (kernel/module/Kconfig's warning)
    nosig = flipped(debian_kernel.config, tmp_path, MODULE_SIG=False)
    p = answer(capsys, "--config", str(nosig), "--lockdown")
    assert p["lockdown"]["enforced"] and not p["unsigned modules refused"]["enforced"]
    # without the LSM, lockdown= does nothing
    nolsm = flipped(debian_kernel.config, tmp_path, SECURITY_LOCKDOWN_LSM=False)
    p = answer(capsys, "--config", str(nolsm), "--lockdown")
    assert not p["lockdown"]["enforced"] and not p["unsigned modules refused"]["enforced"]


def _load_unsigned(kernel: Kernel) -> int:
    from pymod.samples import prebuilt_path

    try:
        kernel.load_module(str(prebuilt_path("pm_hello")))
    except ModuleLoadError as e:
        return e.errno
    return 0


@pytest.mark.parametrize("changes, lockdown, refused", [
    ({}, True, errno.EPERM),
    ({"LOCK_DOWN_KERNEL_FORCE_INTEGRITY": True}, False, errno.EPERM),
    ({"LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY": True}, False, errno.EPERM),
    ({"SECURITY_LOCKDOWN_LSM": False, "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": True}, True, 0),
    ({}, False, 0),
])
def test_the_loader_does_what_posture_says(changes, lockdown, refused):
    """Posture and the loader agree: "unsigned modules refused" is exactly
    when an unsigned module is refused."""
    kernel = Kernel(Config().replace(**changes), lockdown=lockdown)
    said = queries.posture(kernel)["unsigned modules refused"]["enforced"]
    assert _load_unsigned(kernel) == refused and said is bool(refused)


def test_no_blacklist_keyring_refuses_no_hash():
    import hashlib

    from pymod.samples import prebuilt_path

    data = prebuilt_path("pm_hello").read_bytes()
    digest = frozenset({hashlib.sha256(data).digest()})
    with_ring = Kernel(blacklisted_hashes=digest)
    without = Kernel(Config(SYSTEM_BLACKLIST_KEYRING=False), blacklisted_hashes=digest)
    assert queries.posture(with_ring)["hash blacklist"]["detail"].startswith("1 hash(es)")
    assert not queries.posture(without)["hash blacklist"]["enforced"]
    assert without.features.sig.blacklisted_hashes == frozenset()


def test_every_facade_and_stub_answers_the_posture_question():
    """Each implementation and its stub answer under the same names, with
    different verdicts, and the posture is made of those answers."""
    from pymod.contract.facades import Property
    from pymod.contract.klog import KernelLog
    from pymod.contract.taint import KernelTaints
    from pymod.features import (
        force_load,
        livepatch,
        lockdown,
        module_unload,
        namespaces,
        signature,
        strict_rwx,
        versioning,
    )

    log = KernelLog()
    taints = KernelTaints(log)
    pairs = [(signature.SigCheck(log, enforce=True, secure_boot_enforces=True),
              signature.Stub()),
             (versioning.Versioning(log, lambda name: None, force_load.Stub(), True),
              versioning.Stub()),
             (force_load.ForceLoad(log, taints), force_load.Stub()),
             (strict_rwx.StrictRwx(log), strict_rwx.Stub()),
             (namespaces.Enforce(log), namespaces.AllowMissing(log)),
             (module_unload.Unload(taints, allow_force=True), module_unload.Stub()),
             (livepatch.Livepatch(), livepatch.Stub()),
             (lockdown.Lockdown("integrity", True), lockdown.Stub())]
    names: list[str] = []
    for real, stub in pairs:
        a, b = real.posture(), stub.posture()
        assert a and [p.name for p in a] == [p.name for p in b], type(real)
        assert all(isinstance(p, Property) for p in a + b)
        assert [p.enforced for p in a] != [p.enforced for p in b], type(real)
        names += [p.name for p in a]
    posture = list(queries.posture(Kernel()))
    assert set(names) <= set(posture)
    # the only properties the loader adds itself
    assert set(posture) - set(names) == {"loadable modules refused", "unsigned modules refused",
                                         "GPL-only exports"}


@pytest.mark.real_kernel
def test_vmlinuz_counts_the_built_in_certificates(debian_kernel, capsys):
    from pymod.elf.vmlinuz import certificates_of

    vmlinuz = debian_kernel.root / "boot" / ("vmlinuz-" + debian_kernel.release)
    certs = certificates_of(str(vmlinuz))[1]
    for argv in (["--config", str(debian_kernel.config), "--vmlinuz", str(vmlinuz)],
                 ["--kernel-dir", str(debian_kernel.modules_dir)]):   # found beside the tree
        p = answer(capsys, *argv)
        names = list(p)
        assert names.index("built-in certificates") == names.index("signature checking") + 1
        row = p["built-in certificates"]
        assert row["enforced"] and row["detail"].startswith("%d in %s" % (len(certs),
                                                                         vmlinuz.name))
        assert p["signature checking"]["detail"].startswith("%d trusted" % len(certs))
    assert "built-in certificates" not in answer(capsys, "--config", str(debian_kernel.config))
