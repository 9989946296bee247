"""Locating a Debian kernel fetched by ``scripts/fetch_debian_kernel.py``.

Layout: ``<cache>/debian/<release>/root/`` holds the extracted packages, so
``root/lib/modules/<release>/`` has the modules, ``root/boot/`` the config and
System.map, and ``root/usr/src/linux-headers-<release>/Module.symvers`` the
export list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_KO_SUFFIXES = (".ko", ".ko.gz", ".ko.xz", ".ko.zst")


@dataclass(frozen=True)
class DebianKernel:
    release: str
    root: Path

    @property
    def modules_dir(self) -> Path:
        return self.root / "lib" / "modules" / self.release

    @property
    def symvers(self) -> Path:
        return self.root / "usr" / "src" / ("linux-headers-" + self.release) / "Module.symvers"

    @property
    def config(self) -> Path:
        return self.root / "boot" / ("config-" + self.release)

    @property
    def system_map(self) -> Path:
        return self.root / "boot" / ("System.map-" + self.release)

    def ko_files(self) -> list[Path]:
        """Every module file under ``modules_dir``, sorted by path."""
        return sorted(p for p in self.modules_dir.rglob("*.ko*")
                      if p.name.endswith(_KO_SUFFIXES) and p.is_file())


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release))


def find_cached_kernel(cache_root: Path | str) -> DebianKernel | None:
    """The newest complete kernel under ``cache_root`` (the ``…/debian`` folder), or None.

    Complete means its modules directory and ``Module.symvers`` exist.
    """
    base = Path(cache_root)
    if not base.is_dir():
        return None
    found = []
    for d in base.iterdir():
        if d.is_symlink() or not d.is_dir():
            continue
        k = DebianKernel(d.name, d / "root")
        if k.modules_dir.is_dir() and k.symvers.is_file():
            found.append(k)
    return max(found, key=lambda k: _release_key(k.release), default=None)
