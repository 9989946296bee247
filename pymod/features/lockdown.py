"""CONFIG_SECURITY_LOCKDOWN_LSM: see :class:`pymod.contract.facades.Lockdown`."""

from __future__ import annotations

from pymod.contract.facades import Property

LOCKDOWN = "lockdown"
SECURE_BOOT = "lockdown under Secure Boot"
_UNLOCKED = "unsigned modules and hardware parameters are allowed"
_LOCKED = "unsigned modules are refused (EPERM), and so are hardware parameters"
_NO_SB_LOCK = "Secure Boot does not lock the kernel down"


class Lockdown:
    """``forced`` is the level CONFIG_LOCK_DOWN_KERNEL_FORCE_* locks the
    kernel down at before anything else runs (None: LOCK_DOWN_KERNEL_FORCE_NONE);
    ``efi_secure_boot`` is CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT."""

    def __init__(self, forced: str | None, efi_secure_boot: bool):
        self.forced = forced
        self.efi_secure_boot = efi_secure_boot
        self.locked = forced is not None

    def at_boot(self, requested: bool) -> bool:
        self.locked = requested or self.forced is not None
        return self.locked

    def posture(self) -> tuple[Property, ...]:
        setting = "lockdown=integrity (the lockdown LSM)"
        if self.forced is not None:
            setting = "CONFIG_LOCK_DOWN_KERNEL_FORCE_%s" % self.forced.upper()
        return (Property(LOCKDOWN, self.locked, setting, _UNLOCKED,
                         _LOCKED if self.locked else ""),
                Property(SECURE_BOOT, self.efi_secure_boot, "CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT",
                         _NO_SB_LOCK, "booted under UEFI Secure Boot, the kernel locks itself "
                         "down (integrity): " + _LOCKED if self.efi_secure_boot else ""))


class Stub:
    def at_boot(self, requested: bool) -> bool:
        return False

    def posture(self) -> tuple[Property, ...]:
        return (Property(LOCKDOWN, False, "CONFIG_SECURITY_LOCKDOWN_LSM",
                         "no lockdown LSM, so lockdown= is ignored: " + _UNLOCKED),
                Property(SECURE_BOOT, False, "CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT "
                         "(needs CONFIG_SECURITY_LOCKDOWN_LSM)", _NO_SB_LOCK))
