"""What a kernel's configuration actually enforces (:func:`pymod.loader.queries.posture`).

Asked of the facades the kernel was built with (each real implementation
and each stub answers ``posture()``: :class:`pymod.contract.facades.Posture`),
never read off the Config: the answer is what the loader will do.
Each property names the configuration responsible and what the kernel does
when it is not enforced.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pymod.contract.facades import Property

if TYPE_CHECKING:
    from pymod.loader.registry import Registry

__all__ = ["Property", "posture", "posture_table"]


def posture(reg: Registry) -> list[Property]:
    f = reg.features
    gate = f.modules.posture()
    if any(p.enforced for p in gate):
        return list(gate)
    sig = f.sig.posture()
    locks = f.lockdown.posture()
    return [*gate, *sig, *locks, _unsigned(sig, locks),
            *f.versioning.posture(), *f.force_load.posture(), *f.strict_rwx.posture(),
            *f.namespaces.posture(),
            Property("GPL-only exports", True, "always (no option relaxes it)", ""),
            *f.unload.posture(), *f.livepatch.posture()]


def _unsigned(sig: tuple[Property, ...], locks: tuple[Property, ...]) -> Property:
    """module_sig_check: an unsigned (or unknown-key, or unsupported-crypto)
    module is refused under module.sig_enforce (EKEYREJECTED), else under
    lockdown (EPERM); without MODULE_SIG nobody asks, locked down or not."""
    said = {p.name: p.enforced for p in sig + locks}
    checked = said["signature checking"]
    by = ("module.sig_enforce: EKEYREJECTED" if said["signature enforcement"] else
          "lockdown: EPERM" if said["lockdown"] else "")
    return Property("unsigned modules refused", checked and bool(by),
                    "signature enforcement or lockdown",
                    "unsigned modules load, tainted E" if checked else
                    "without CONFIG_MODULE_SIG unsigned modules load, locked down or not",
                    "refused by %s" % by if checked and by else "")


def posture_table(props: list[Property]) -> str:
    rows = [("property", "enforced", "by", "otherwise / detail")]
    rows += [(p.name, "yes" if p.enforced else "NO", p.setting,
              p.detail if p.enforced or not p.otherwise else p.otherwise) for p in props]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join("%-*s  %-*s  %-*s  %s\n" % (widths[0], r[0], widths[1], r[1],
                                              widths[2], r[2], r[3]) for r in rows)


def as_dict(props: list[Property]) -> dict[str, Any]:
    return {p.name: asdict(p) for p in props}
