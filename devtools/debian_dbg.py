#!/usr/bin/env python3
"""Fetch a few debug files of a Debian cloud-amd64 kernel for pymod's DWARF tests.

    python devtools/debian_dbg.py [--series 6.1] [--version V] [--cache DIR] [--deb FILE]

``linux-image-<release>-dbg`` is 283 MB packed and 1.7 GB unpacked; the tests
need ``vmlinux`` and a handful of modules.  This downloads the package with
``apt-get download`` (or takes ``--deb``) and streams it through
``dpkg-deb --fsys-tarfile | tar -x MEMBERS`` into
``$PYMOD_CACHE/debian/<release>/dbg/usr/lib/debug/`` (about 610 MB), then
deletes the downloaded package (``--keep-deb`` keeps it).  The release is
that of the series' kernel already fetched by ``devtools/debian_kernel.py``
(``$PYMOD_PIN_6_1`` pins it as there), else the newest one apt knows.
A complete extraction (its ``MANIFEST`` is written last) is left alone.
Prints the release on the last line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.debian_kernel import (  # noqa: E402  (run as a script too)
    FLAVOUR,
    SERIES_CHOICES,
    _version_key,
    available_versions,
    cache_root,
    find_cached_kernel,
    kernel_cache_root,
    log,
    normalise_version,
    pin_variable,
)

# Modules extracted beside vmlinux (paths under lib/modules/<release>/kernel):
# small and large, with and without many inlined frames.
MODULES = (
    "net/vmw_vsock/vsock.ko",
    "crypto/af_alg.ko",
    "drivers/net/virtio_net.ko",
    "drivers/block/virtio_blk.ko",
    "fs/overlayfs/overlay.ko",
    "net/netfilter/nf_conntrack.ko",
)
DEBUG = "usr/lib/debug"


@dataclass(frozen=True)
class DebianDbg:
    """The extracted part of ``linux-image-<release>-dbg``: ``root`` holds
    ``usr/lib/debug``."""

    release: str
    root: Path

    @property
    def debug_dir(self) -> Path:
        return self.root / DEBUG

    @property
    def vmlinux(self) -> Path:
        return self.debug_dir / "boot" / ("vmlinux-" + self.release)

    def ko_files(self) -> list[Path]:
        """The extracted modules' debug files, sorted by path."""
        kernel = self.debug_dir / "lib" / "modules" / self.release / "kernel"
        return sorted(kernel / m for m in MODULES)


def members(release: str) -> list[str]:
    """The archive members extracted, as ``dpkg-deb --fsys-tarfile`` names them."""
    mods = "./%s/lib/modules/%s" % (DEBUG, release)
    return (["./%s/boot/vmlinux-%s" % (DEBUG, release), mods + "/vmlinux"]
            + ["%s/kernel/%s" % (mods, m) for m in MODULES])


def is_complete(d: DebianDbg) -> bool:
    manifest = d.root / "MANIFEST"
    return (manifest.is_file() and manifest.read_text().split() == members(d.release)
            and d.vmlinux.is_file() and all(p.is_file() for p in d.ko_files()))


def find_cached_dbg(base: Path | str | None = None, series: str = "6.1") -> DebianDbg | None:
    """The newest complete extraction of ``series`` under ``base`` (default
    :func:`~devtools.debian_kernel.kernel_cache_root`), or None; with
    ``$PYMOD_PIN_<series>`` set, that release or None."""
    base = Path(base) if base is not None else kernel_cache_root()
    if not base.is_dir():
        return None
    found = [DebianDbg(d.name, d / "dbg") for d in base.iterdir()
             if d.name.startswith(series + ".") and not d.is_symlink() and d.is_dir()]
    found = [d for d in found if is_complete(d)]
    pinned = os.environ.get(pin_variable(series))
    if pinned:
        release = "%s-%s" % (normalise_version(pinned, series), FLAVOUR)
        return next((d for d in found if d.release == release), None)
    return max(found, key=lambda d: _version_key(d.release), default=None)


def _download(release: str, release_dir: Path) -> Path:
    pkg = "linux-image-%s-dbg" % release
    have = sorted(release_dir.glob(pkg + "_*.deb"))
    if not have:
        log("downloading %s (283 MB)" % pkg)
        subprocess.run(["apt-get", "download", pkg], cwd=release_dir, check=True)
        have = sorted(release_dir.glob(pkg + "_*.deb"))
        if not have:
            raise SystemExit("apt-get download %s produced no .deb" % pkg)
    return have[-1]


def extract(deb: Path, release: str, dest: Path) -> None:
    """Stream ``deb``'s payload through tar, keeping only :func:`members`."""
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log("extracting vmlinux and %d modules from %s" % (len(MODULES), deb.name))
    feed = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert feed.stdout is not None
    try:
        tar = subprocess.run(["tar", "-x", "-C", str(tmp), "-f", "-", *members(release)],
                             stdin=feed.stdout, check=False)
    finally:
        feed.stdout.close()
        fed = feed.wait()
    if fed != 0 or tar.returncode != 0:
        raise SystemExit("extracting %s failed (dpkg-deb %d, tar %d)" % (deb, fed, tar.returncode))
    (tmp / "MANIFEST").write_text("\n".join(members(release)) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def fetch(version: str, cache: Path, deb: Path | None = None, keep_deb: bool = False) -> DebianDbg:
    release = "%s-%s" % (version, FLAVOUR)
    release_dir = cache / "debian" / release
    d = DebianDbg(release, release_dir / "dbg")
    if is_complete(d):
        log("%s debug files already in %s" % (release, d.root))
        return d
    release_dir.mkdir(parents=True, exist_ok=True)
    package = deb if deb is not None else _download(release, release_dir)
    extract(package, release, d.root)
    if deb is None and not keep_deb:
        package.unlink()
    log("extracted %s: vmlinux and %d modules in %s" % (release, len(MODULES), d.debug_dir))
    return d


def _version(args: argparse.Namespace) -> str | None:
    version = args.version or os.environ.get(pin_variable(args.series)) or None
    if version is not None:
        return normalise_version(version, args.series)
    cached = find_cached_kernel(series=args.series)
    if cached is not None:
        return normalise_version(cached.release, args.series)
    versions = available_versions(args.series)
    return versions[-1] if versions else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", choices=SERIES_CHOICES, default="6.1",
                   help="kernel series (default 6.1)")
    p.add_argument("--version", help="a version such as 6.1.0-57 or a release "
                   "(default: $PYMOD_PIN_<series>, else the cached kernel's, else the newest)")
    p.add_argument("--cache", help="cache root (default $PYMOD_CACHE or ~/.cache/pymod)")
    p.add_argument("--deb", type=Path, help="use this linux-image-*-dbg .deb, no download")
    p.add_argument("--keep-deb", action="store_true", help="keep the downloaded .deb")
    args = p.parse_args(argv)
    for tool in ("dpkg-deb", "tar") + (("apt-get", "apt-cache") if args.deb is None else ()):
        if shutil.which(tool) is None:
            print("debian_dbg: %s not found (a Debian/Ubuntu system is needed)" % tool,
                  file=sys.stderr)
            return 2
    version = _version(args)
    if version is None:
        print("debian_dbg: no %s kernel known to apt" % args.series, file=sys.stderr)
        return 1
    try:
        d = fetch(version, cache_root(args.cache), args.deb, args.keep_deb)
    except subprocess.CalledProcessError as exc:
        print("debian_dbg: %s failed with status %d"
              % (" ".join(map(str, exc.cmd)), exc.returncode), file=sys.stderr)
        return 1
    print(d.release)
    return 0


if __name__ == "__main__":
    sys.exit(main())
