"""CONFIG_MODULE_SIG: see :class:`pymod.loader.facades.SigCheck`.

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

from pymod.elf.constants import MODULE_SIG_STRING
from pymod.errors import ModuleLoadError
from pymod.loader.internal import (
    MODULE_INIT_IGNORE_MODVERSIONS,
    MODULE_INIT_IGNORE_VERMAGIC,
    LoadInfo,
)
from pymod.loader.klog import KernelLog

_SOFT_REASONS = {
    errno.ENODATA: "unsigned module",
    errno.ENOPKG: "module with unsupported crypto",
    errno.ENOKEY: "module with unavailable key",
}


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
                 blacklisted_hashes: frozenset[bytes] = frozenset(), series: str = "6.12"):
        from pymod.elf.sigverify import Keyring

        self.log = log
        self.series = series             # whose PKCS#7 parser (KernelRules.pkcs7)
        self.enforce = enforce
        self.keyring = Keyring(trusted_keys)
        self.locked_down = locked_down   # security_locked_down(), logging its notice
        # the blacklist keyring's binary hashes (sha256 of whole module files)
        self.blacklisted_hashes = frozenset(blacklisted_hashes)

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


class Stub:
    def module_sig_check(self, info: LoadInfo, flags: int) -> None:
        pass

    def set_module_sig_enforced(self) -> None:
        pass   # no module.sig_enforce without MODULE_SIG

    def module_sig_ok(self, info: LoadInfo) -> bool:
        return True
