#!/usr/bin/env python3
"""Fetch a Debian cloud-amd64 kernel (image + headers) for pymod's real-module tests.

    python devtools/debian_kernel.py [--series 6.12|6.1] [--version V] [--cache DIR]

Downloads ``linux-image-<ver>-cloud-amd64``, ``linux-headers-<ver>-cloud-amd64``
and ``linux-headers-<ver>-common`` with ``apt-get download`` into
``$PYMOD_CACHE/debian/<release>/`` (default ``~/.cache/pymod``) and extracts
them with ``dpkg-deb -x`` into ``<release>/root``.  Without ``--version`` (or
``$PYMOD_PIN_6_12`` / ``$PYMOD_PIN_6_1``, which pin a release for CI) the
newest cloud-amd64 kernel of the series (6.12 by default; 6.1, Debian 12's
own kernel, for the tests of an older target) ``apt-cache`` knows is taken
(``apt-get update`` runs first when the package lists are empty).  Nothing is installed, and a
kernel already extracted is left alone.  Prints the release on the last line.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SERIES = "6.12"
SERIES_CHOICES = ("6.12", "6.1")
FLAVOUR = "cloud-amd64"


def log(msg: str) -> None:
    print("[fetch] " + msg, flush=True)


def cache_root(arg: str | None = None) -> Path:
    """``--cache``, else ``$PYMOD_CACHE``, else ``~/.cache/pymod``."""
    if arg:
        return Path(arg)
    return Path(os.environ.get("PYMOD_CACHE", Path.home() / ".cache" / "pymod"))


def kernel_cache_root() -> Path:
    """The folder holding one ``<release>/root`` per fetched Debian kernel."""
    return cache_root() / "debian"


@dataclass(frozen=True)
class DebianKernel:
    """A fetched kernel: ``root/`` holds the extracted packages."""

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
        from pymod.kmod.tree import module_files  # this file also runs before pymod is installed

        return sorted(Path(p) for p in module_files(self.modules_dir))


def find_cached_kernel(base: Path | str | None = None,
                       series: str = SERIES) -> DebianKernel | None:
    """The newest complete kernel of ``series`` under ``base`` (default
    :func:`kernel_cache_root`), or None; with ``$PYMOD_PIN_<series>`` set,
    that release or None.  Complete means its modules directory and
    ``Module.symvers`` exist."""
    base = Path(base) if base is not None else kernel_cache_root()
    if not base.is_dir():
        return None
    found = []
    for d in base.iterdir():
        if d.is_symlink() or not d.is_dir():
            continue
        k = DebianKernel(d.name, d / "root")
        if not re.match(re.escape(series) + r"\.", d.name):
            continue
        if k.modules_dir.is_dir() and k.symvers.is_file():
            found.append(k)
    pinned = os.environ.get(pin_variable(series))
    if pinned:
        release = "%s-%s" % (normalise_version(pinned, series), FLAVOUR)
        return next((k for k in found if k.release == release), None)
    return max(found, key=lambda k: _version_key(k.release), default=None)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def available_versions(series: str) -> list[str]:
    """Kernel versions (``6.12.117+deb12``, ``6.1.0-47``) with a signed
    cloud-amd64 image, oldest first."""
    pattern = re.compile(r"^linux-image-(%s\.\d+(?:\+deb\d+|-\d+))-%s$"
                         % (re.escape(series), FLAVOUR))

    def query() -> list[str]:
        out = subprocess.run(["apt-cache", "pkgnames", "linux-image-" + series],
                             capture_output=True, text=True, check=False).stdout
        return sorted({m.group(1) for m in map(pattern.match, out.split()) if m},
                      key=_version_key)

    found = query()
    if not found:
        log("apt-cache lists no linux-image-%s-*-%s; running apt-get update" % (series, FLAVOUR))
        subprocess.run(["apt-get", "update"], check=True)
        found = query()
    return found


def pin_variable(series: str) -> str:
    """The environment variable that pins a release of ``series``."""
    return "PYMOD_PIN_" + series.replace(".", "_")


def normalise_version(version: str, series: str) -> str:
    """``6.12.117+deb12`` from itself or from the release
    ``6.12.117+deb12-cloud-amd64``; a version of another series is refused."""
    if version.endswith("-" + FLAVOUR):
        version = version[:-len(FLAVOUR) - 1]
    if not re.match(re.escape(series) + r"\.\d", version):
        raise SystemExit("fetch_debian_kernel: %s is not a %s kernel" % (version, series))
    return version


def is_extracted(release_dir: Path, release: str) -> bool:
    root = release_dir / "root"
    return (root / "lib" / "modules" / release).is_dir() and any(
        root.glob("usr/src/linux-headers-%s/Module.symvers" % release))


def fetch(version: str, cache: Path) -> Path:
    release = "%s-%s" % (version, FLAVOUR)
    release_dir = cache / "debian" / release
    if is_extracted(release_dir, release):
        log("%s already extracted in %s" % (release, release_dir / "root"))
        return release_dir
    release_dir.mkdir(parents=True, exist_ok=True)
    packages = ["linux-image-%s" % release, "linux-headers-%s" % release,
                "linux-headers-%s-common" % version]
    debs = []
    for pkg in packages:
        have = sorted(release_dir.glob(pkg + "_*.deb"))
        if have:
            log("have %s" % have[-1].name)
        else:
            log("downloading %s" % pkg)
            # apt drops privileges to _apt for downloads; the cache dir may not be
            # readable by it, which only costs a warning.
            subprocess.run(["apt-get", "download", pkg], cwd=release_dir, check=True)
            have = sorted(release_dir.glob(pkg + "_*.deb"))
            if not have:
                raise SystemExit("apt-get download %s produced no .deb" % pkg)
        debs.append(have[-1])
    tmp = release_dir / "root.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for deb in debs:
        log("extracting %s" % deb.name)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
    shutil.rmtree(release_dir / "root", ignore_errors=True)
    tmp.rename(release_dir / "root")
    n = sum(1 for _ in (release_dir / "root" / "lib" / "modules" / release).rglob("*.ko*"))
    log("extracted %s: %d module files" % (release, n))
    return release_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", choices=SERIES_CHOICES, default=SERIES,
                   help="kernel series (default %s)" % SERIES)
    p.add_argument("--version", help="pin a kernel version such as 6.12.117+deb12 or 6.1.0-47, "
                   "or a release such as 6.12.117+deb12-cloud-amd64 (default: $PYMOD_PIN_6_12 "
                   "or $PYMOD_PIN_6_1, else the newest of the series)")
    p.add_argument("--cache", help="cache root (default $PYMOD_CACHE or ~/.cache/pymod)")
    args = p.parse_args(argv)
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            print("fetch_debian_kernel: %s not found (a Debian/Ubuntu system is needed)" % tool,
                  file=sys.stderr)
            return 2
    version = args.version or os.environ.get(pin_variable(args.series)) or None
    if version is not None:
        version = normalise_version(version, args.series)
    if version is None:
        versions = available_versions(args.series)
        if not versions:
            print("fetch_debian_kernel: no linux-image-%s.*-%s package known to apt"
                  % (args.series, FLAVOUR), file=sys.stderr)
            return 1
        version = versions[-1]
        log("newest %s kernel: %s" % (args.series, version))
    try:
        fetch(version, cache_root(args.cache))
    except subprocess.CalledProcessError as exc:
        print("fetch_debian_kernel: %s failed with status %d"
              % (" ".join(map(str, exc.cmd)), exc.returncode), file=sys.stderr)
        return 1
    print("%s-%s" % (version, FLAVOUR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
