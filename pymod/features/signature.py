"""CONFIG_MODULE_SIG: see :class:`pymod.contract.facades.SigCheck`.

``module_sig_check`` as ``kernel/module/signing.c`` has it: the trailer is
split off and checked (``mod_check_sig``), the PKCS#7 signature verified
against the trusted certificates (:mod:`pymod.elf.sigverify`), a verified
module's hash checked against the blacklist; soft failures (unsigned,
unsupported crypto, no key) are refused under enforcement and otherwise
left to lockdown and to the E taint.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from pymod.contract.facades import Property
from pymod.contract.internal import (
    MODULE_INIT_IGNORE_MODVERSIONS,
    MODULE_INIT_IGNORE_VERMAGIC,
    LoadInfo,
)
from pymod.contract.klog import KernelLog
from pymod.elf.constants import MODULE_SIG_STRING
from pymod.errors import ModuleLoadError

_SOFT_REASONS = {
    errno.ENODATA: "unsigned module",
    errno.ENOPKG: "module with unsupported crypto",
    errno.ENOKEY: "module with unavailable key",
}


# The posture answers' names (pymod.loader.posture reads two of them back).
CHECKING = "signature checking"
ENFORCEMENT = "signature enforcement"
SB_ENFORCEMENT = "signature enforcement under Secure Boot"
BLACKLIST = "hash blacklist"
_UNCHECKED = "signatures are neither checked nor stripped; no module is tainted E"
_ENFORCE_BY = "CONFIG_MODULE_SIG_FORCE or module.sig_enforce=1"
_UNENFORCED = "unsigned and unverifiable modules load, tainted E, unless locked down"
_SB_BY = "CONFIG_IMA_ARCH_POLICY"
_SB_NOTHING = "Secure Boot alone does not set module.sig_enforce"
_SB_ENFORCES = ("booted under UEFI Secure Boot, IMA's arch policy sets module.sig_enforce=1: "
                "unsigned and unverifiable modules are refused (EKEYREJECTED), before "
                "lockdown is asked")
_BLACKLIST_BY = "CONFIG_SYSTEM_BLACKLIST_KEYRING"
_NO_BLACKLIST = "no module hash is refused (is_hash_blacklisted always answers 0)"


# What a hard failure means, for one the kernel returns without a line.
_HARD = {
    errno.EBADMSG: "is malformed",
    errno.EKEYREJECTED: "rejected: it does not verify with the trusted key it names, or "
                        "the module's hash is blacklisted",
    errno.EINVAL: "names its signer in a way the kernel's key search refuses",
    errno.EMSGSIZE: "is longer than the kernel's ASN.1 decoder takes (64 KiB)",
}


class SigCheck:
    def __init__(self, log: KernelLog, enforce: bool, trusted_keys: tuple[object, ...] = (),
                 locked_down: Callable[[str], bool] = lambda what: False,
                 blacklisted_hashes: frozenset[bytes] = frozenset(), series: str = "6.12", *,
                 blacklist_keyring: bool = True, platform_keyring: bool = False,
                 secure_boot_enforces: bool = False):
        from pymod.elf.sigverify import Keyring

        self.log = log
        self.series = series             # whose PKCS#7 parser (KernelRules.pkcs7)
        self.enforce = enforce
        self.keyring = Keyring(trusted_keys)
        self.locked_down = locked_down   # security_locked_down(), logging its notice
        # the blacklist keyring's binary hashes (sha256 of whole module files);
        # without CONFIG_SYSTEM_BLACKLIST_KEYRING is_hash_blacklisted answers 0
        self.blacklist_keyring = blacklist_keyring
        self.blacklisted_hashes = frozenset(blacklisted_hashes if blacklist_keyring else ())
        self.platform_keyring = platform_keyring          # CONFIG_INTEGRITY_PLATFORM_KEYRING
        self.secure_boot_enforces = secure_boot_enforces  # IMA's arch policy

    def mod_is_hash_blacklisted(self, whole: bytes) -> int:
        """``mod_is_hash_blacklisted``: the sha256 of the whole signed file
        (signature and marker included) against the blacklist; run only
        after a signature verified.  0, or EKEYREJECTED with its error."""
        return errno.EKEYREJECTED if self._blacklisted(whole) else 0

    def _blacklisted(self, whole: bytes) -> str | None:
        """The line mod_is_hash_blacklisted prints, None when it passes."""
        import hashlib

        digest = hashlib.sha256(whole).digest()
        if digest not in self.blacklisted_hashes:
            return None
        return self.log.pr_err("Module hash %s is blacklisted" % digest.hex())

    def module_sig_check(self, info: LoadInfo, flags: int) -> None:
        from pymod.elf.sigtrailer import split_signature

        err = errno.ENODATA
        said: str | None = None             # the last line this check printed
        # A module with version info stripped is not the module that was signed.
        mangled = flags & (MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC)
        image = info.payload[:info.len]
        if not mangled and image.endswith(MODULE_SIG_STRING):
            split = split_signature(image)
            err = split.errno
            info.sig = split.sig
            info.len = len(split.payload)
            if err == 0 and split.sig is not None:
                err, said = self._verify(image, len(split.payload), split.sig.pkcs7)
                if err == 0:
                    info.sig_ok = True
                    info.sig_errno = 0
                    return
            elif err == errno.ENOPKG:
                said = self.log.pr_err("module: not signed with expected PKCS#7 message")
            elif err == errno.EBADMSG and split.sig is not None:   # mod_check_sig's params
                said = self.log.pr_err("module: PKCS#7 signature info has unexpected "
                                       "non-zero params")
        info.sig_errno = err
        reason = _SOFT_REASONS.get(err)
        if reason is None:
            # a hard failure: the kernel returns it; its last line on the way
            # (if it printed one) says why
            raise ModuleLoadError(err, said or "module signature %s (err %d)"
                                  % (_HARD.get(err, "check failed"), -err), stage="signature")
        if self.enforce:
            msg = self.log.pr_notice("Loading of %s is rejected" % reason)
            raise ModuleLoadError(errno.EKEYREJECTED, msg, stage="signature")
        if self.locked_down("unsigned module loading"):   # LOCKDOWN_MODULE_SIGNATURE
            raise ModuleLoadError(errno.EPERM, "%s refused: the kernel is locked down"
                                  % reason, stage="signature")

    def _verify(self, image: bytes, body_len: int, pkcs7: bytes) -> tuple[int, str | None]:
        """``mod_verify_sig`` after the trailer checks: 0 or an errno, and
        the last line it printed."""
        from pymod.elf.sigverify import verify_pkcs7_module

        outcome = verify_pkcs7_module(image[:body_len], pkcs7, self.keyring,
                                      series=self.series)
        said = None
        for level, text in outcome.log:
            said = self.log.pr(level, text)
        if outcome.errno:
            return outcome.errno, said
        said = self._blacklisted(image)
        return (errno.EKEYREJECTED if said else 0), said

    def module_sig_ok(self, info: LoadInfo) -> bool:
        return info.sig_ok

    def set_module_sig_enforced(self) -> None:
        self.enforce = True

    def posture(self) -> tuple[Property, ...]:
        keys = "%d trusted certificate(s)" % len(self.keyring)
        if self.platform_keyring:
            keys += "; a module whose key is unknown is tried against the platform " \
                    "keyring (UEFI db, MOK: CONFIG_INTEGRITY_PLATFORM_KEYRING)"
        return (Property(CHECKING, True, "CONFIG_MODULE_SIG", _UNCHECKED, keys),
                Property(ENFORCEMENT, self.enforce, _ENFORCE_BY, _UNENFORCED),
                Property(SB_ENFORCEMENT, self.secure_boot_enforces, _SB_BY, _SB_NOTHING,
                         _SB_ENFORCES if self.secure_boot_enforces else ""),
                Property(BLACKLIST, self.blacklist_keyring, _BLACKLIST_BY, _NO_BLACKLIST,
                         "%d hash(es) given; the kernel adds SYSTEM_BLACKLIST_HASH_LIST's "
                         "and UEFI dbx/MokListX's at boot" % len(self.blacklisted_hashes)
                         if self.blacklist_keyring else ""))


class Stub:
    """``ima_appraises``: IMA's arch policy, which without MODULE_SIG asks
    for an IMA signature on each module under Secure Boot instead."""

    def __init__(self, ima_appraises: bool = False):
        self.ima_appraises = ima_appraises

    def posture(self) -> tuple[Property, ...]:
        return (Property(CHECKING, False, "CONFIG_MODULE_SIG", _UNCHECKED),
                Property(ENFORCEMENT, False, _ENFORCE_BY, "no signature is asked for"),
                Property(SB_ENFORCEMENT, False, _SB_BY,
                         "without CONFIG_MODULE_SIG, IMA appraises modules instead under "
                         "Secure Boot (appraise func=MODULE_CHECK appraise_type=imasig)"
                         if self.ima_appraises else _SB_NOTHING),
                Property(BLACKLIST, False, _BLACKLIST_BY, "no module hash is refused"))

    def module_sig_check(self, info: LoadInfo, flags: int) -> None:
        pass

    def set_module_sig_enforced(self) -> None:
        pass   # no module.sig_enforce without MODULE_SIG

    def module_sig_ok(self, info: LoadInfo) -> bool:
        return True
