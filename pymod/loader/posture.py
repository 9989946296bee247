"""What a kernel's configuration actually enforces (``Kernel.posture()``).

Read off the facades the kernel was built with (a real implementation or
its stub), never off the Config: the answer is what the loader will do.
Each property names the configuration responsible and what the kernel does
when it is not enforced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymod.loader.registry import Registry

__all__ = ["Property", "posture", "posture_table"]


@dataclass(frozen=True)
class Property:
    name: str
    enforced: bool
    setting: str          # the Kconfig option or run-time switch responsible
    otherwise: str        # what a kernel that does not enforce it does
    detail: str = ""


def posture(reg: Registry) -> list[Property]:
    from pymod.features import force_load, livepatch, namespaces, signature, strict_rwx
    from pymod.features import unload as unload_feature
    from pymod.features import versioning as versioning_feature

    f = reg.features
    checked = isinstance(f.sig, signature.SigCheck)
    enforcing = checked and bool(getattr(f.sig, "enforce", False))
    keys = len(getattr(f.sig, "keyring", ()))
    blacklist = len(getattr(f.sig, "blacklisted_hashes", ()))
    forcing = isinstance(f.force_load, force_load.ForceLoad)
    unload_real = isinstance(f.unload, unload_feature.Unload)
    return [
        Property("signature checking", checked, "CONFIG_MODULE_SIG",
                 "signatures are neither checked nor stripped; no module is tainted E",
                 "%d trusted certificate(s)" % keys if checked else ""),
        Property("signature enforcement", enforcing,
                 "CONFIG_MODULE_SIG_FORCE or module.sig_enforce=1",
                 "unsigned and unverifiable modules load, tainted E"),
        Property("hash blacklist", checked and blacklist > 0, "the blacklist keyring",
                 "no module hash is refused", "%d hash(es)" % blacklist if blacklist else ""),
        Property("lockdown", bool(reg.lockdown), "lockdown=integrity (the lockdown LSM)",
                 "unsigned modules and hardware parameters are allowed"),
        Property("symbol versions (CRCs)",
                 isinstance(f.versioning, versioning_feature.Versioning),
                 "CONFIG_MODVERSIONS", "every symbol is deemed compatible, any CRC"),
        Property("vermagic", True, "always checked",
                 "", "a module without one loads only forced (taint F)" if forcing else ""),
        Property("forced loads refused", not forcing, "CONFIG_MODULE_FORCE_LOAD",
                 "modules without vermagic or versions load, tainted F"),
        Property("W^X sections", isinstance(f.strict_rwx, strict_rwx.StrictRwx),
                 "CONFIG_STRICT_MODULE_RWX", "writable and executable sections are accepted"),
        Property("namespace imports", isinstance(f.namespaces, namespaces.Enforce),
                 "CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS off",
                 "a missing MODULE_IMPORT_NS only warns"),
        Property("GPL-only exports", True, "always (no option relaxes it)", ""),
        Property("forced unloads refused",
                 not (unload_real and getattr(f.unload, "allow_force", False)),
                 "CONFIG_MODULE_FORCE_UNLOAD", "rmmod --force unloads modules in use, "
                 "tainting the kernel R"),
        Property("unloading", unload_real, "CONFIG_MODULE_UNLOAD",
                 "no module can be unloaded at all"),
        Property("livepatch modules refused", not isinstance(f.livepatch, livepatch.Livepatch),
                 "CONFIG_LIVEPATCH", "livepatch modules load, tainted K"),
    ]


def posture_table(props: list[Property]) -> str:
    rows = [("property", "enforced", "by", "otherwise / detail")]
    rows += [(p.name, "yes" if p.enforced else "NO", p.setting,
              p.detail if p.enforced or not p.otherwise else p.otherwise) for p in props]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join("%-*s  %-*s  %-*s  %s\n" % (widths[0], r[0], widths[1], r[1],
                                              widths[2], r[2], r[3]) for r in rows)


def as_dict(props: list[Property]) -> dict[str, Any]:
    return {p.name: asdict(p) for p in props}
