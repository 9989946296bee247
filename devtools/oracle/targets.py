"""The kernels the oracle asks: a fetched Debian kernel and the pymod
:class:`~pymod.Kernel` that models it (same config, ``Module.symvers``,
``sizeof(struct module)``, trusted keys from its own ``vmlinuz``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from devtools.debian_kernel import DebianKernel, find_cached_kernel
from pymod.oracle.guest import cache_dir

SERIES = ("6.12", "6.1")


@dataclass
class Target:
    series: str
    dk: DebianKernel
    cache: Path = field(default_factory=cache_dir)

    @property
    def release(self) -> str:
        return self.dk.release

    @property
    def vmlinuz(self) -> Path:
        return self.dk.root / "boot" / ("vmlinuz-" + self.dk.release)

    @cached_property
    def config(self) -> Any:
        from pymod import Config

        config = Config.from_kconfig(self.dk.config, release=self.dk.release)
        return config.replace(struct_module_size=Config.struct_module_size_of(
            self.dk.ko_files()[0]))

    @cached_property
    def certificates(self) -> tuple[Any, ...]:
        from pymod.elf.vmlinuz import certificates_of

        return tuple(certificates_of(str(self.vmlinuz))[1])

    @cached_property
    def modules(self) -> dict[str, Path]:
        """Module name -> file, for the whole tree."""
        from pymod.kmod.tree import modname_of

        return {modname_of(p.name): p for p in self.dk.ko_files()}

    @cached_property
    def deps(self) -> dict[str, list[str]]:
        """Module name -> its dependencies' names, in load order."""
        from pymod.kmod.depmod import build_deps
        from pymod.kmod.tree import modname_of

        def name(rel: str) -> str:
            return modname_of(rel.rsplit("/", 1)[-1])

        return {name(rel): [name(d) for d in reversed(ds)]
                for rel, ds in build_deps(self.dk.modules_dir).items()}

    def warm(self) -> None:
        """Read what the cached properties hold, before threads share them."""
        for _ in (self.deps, self.certificates, self.config, self.modules):
            pass

    def kernel(self, enforce: bool) -> Any:
        """A fresh pymod kernel, as the guest is after boot."""
        from pymod import Kernel

        k = Kernel(self.config, symvers=self.dk.symvers, trusted_keys=self.certificates,
                   sig_enforce=enforce)
        k.comm = "init"          # the guest helper runs as /init
        return k


def targets(series: tuple[str, ...] = SERIES) -> list[Target]:
    out = []
    for s in series:
        dk = find_cached_kernel(series=s)
        if dk is None:
            raise SystemExit("oracle: no Debian %s kernel cached (python devtools/debian_kernel.py "
                             "--series %s)" % (s, s))
        out.append(Target(s, dk))
    return out
