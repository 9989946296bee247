"""Choosing the target kernel: one rule for ``load``, ``check``, ``info``,
``posture`` and ``verify`` (written down in ``docs/cli/kernel.rst``).

``--kernel-dir DIR``
    a ``<root>/lib/modules/<release>`` tree; the release is DIR's name and
    the kernel's files are found beside it: ``<root>/boot/config-<release>``
    or ``build/.config``; ``build/Module.symvers`` or
    ``<root>/usr/src/linux-headers-<release>/Module.symvers``;
    ``<root>/boot/vmlinuz-<release>``.
``--release RELEASE``
    the release; alone, it names the installed kernel ``/lib/modules/RELEASE``
    (under ``-b BASEDIR`` where a command has it), found as above.
``--config``, ``--symvers``, ``--vmlinuz``
    that file, over the one found (a config may be gzipped: ``/proc/config.gz``).
``--default-kernel``
    pymod's built-in default kernel; it has no tree, config or release of
    its own to find, so ``--kernel-dir``, ``--config`` and ``-b`` are refused
    with it (``--release`` renames it, ``--symvers`` and ``--vmlinuz`` apply).

With none of them, each command's own default: the running kernel
(``check``, ``info``), the built-in kernel (``load``, ``posture``), or none
(``verify`` needs keys).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymod.tools.common import add_trust_options, trusted_certificates

if TYPE_CHECKING:
    from pymod.config import Config

__all__ = ["Target", "add_kernel_options", "choose_kernel", "find_target", "is_modules_tree",
           "kernel_config", "missing_files", "refuse_conflicts", "target_trust"]


@dataclass(frozen=True)
class Target:
    """The chosen kernel: its release and files (None: none found or given)."""

    release: str
    modules_dir: Path | None
    config: Path | None
    symvers: Path | None
    vmlinuz: Path | None
    builtin: bool = False          # pymod's built-in default kernel


def _first(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def find_target(kernel_dir: str | Path | None, release: str | None = None,
                basedir: str | Path = "/") -> Target:
    """The files of ``kernel_dir`` (a ``<root>/lib/modules/<release>`` tree),
    else of ``BASEDIR/lib/modules/RELEASE``, else of the running kernel's."""
    if kernel_dir is None:
        release = release or os.uname().release
        root = Path(basedir)
        modules = root / "lib" / "modules" / release
    else:
        modules = Path(kernel_dir).resolve()
        release = release or modules.name
        root = modules.parent.parent.parent        # <root>/lib/modules/<release>
    build = modules / "build"
    return Target(
        release, modules if modules.is_dir() else None,
        _first(root / "boot" / ("config-" + release), build / ".config"),
        _first(build / "Module.symvers",
               root / "usr" / "src" / ("linux-headers-" + release) / "Module.symvers"),
        _first(root / "boot" / ("vmlinuz-" + release)))


def is_modules_tree(path: str | Path) -> bool:
    """Whether ``path`` is a kernel's ``/lib/modules/<release>`` tree (by
    its place or by the files ``make modules_install`` puts there)."""
    p = Path(path).resolve()
    return p.is_dir() and ((p.parent.name == "modules" and p.parent.parent.name == "lib")
                           or (p / "modules.order").is_file()
                           or (p / "modules.builtin").is_file())


def add_kernel_options(ap: argparse.ArgumentParser, *, config: bool = True,
                       symvers: bool = True, default_kernel: bool = True,
                       certs: bool = True, vmlinuz: bool = True, basedir: bool = False) -> None:
    """The options that choose the target kernel, in one group; a command
    leaves out those it has no use for (``certs``: ``--cert``, the trusted
    keys beside ``--vmlinuz``'s).  ``basedir`` adds modinfo's spellings:
    ``-k``/``--set-version`` for ``--release`` and ``-b``/``--basedir``."""
    g = ap.add_argument_group("target kernel (the same rule for every command)")
    g.add_argument("--kernel-dir", metavar="DIR",
                   help="the target's /lib/modules/<release> tree; its .config, "
                   "Module.symvers and vmlinuz are found beside it")
    g.add_argument(*(("-k", "--release", "--set-version") if basedir else ("--release",)),
                   dest="release", metavar="RELEASE",
                   help="the target's release; alone, the installed kernel "
                   "%s/lib/modules/RELEASE" % ("BASEDIR" if basedir else ""))
    if basedir:
        g.add_argument("-b", "--basedir", metavar="BASEDIR",
                       help="the root /lib/modules is under (default: /)")
    if config:
        g.add_argument("--config", type=Path, metavar="FILE",
                       help="the target's .config, plain or gzipped (/proc/config.gz)")
    if symvers:
        g.add_argument("--symvers", type=Path, metavar="FILE",
                       help="the target's Module.symvers")
    if default_kernel:
        g.add_argument("--default-kernel", action="store_true",
                       help="pymod's built-in default kernel (the sample modules' target)")
    if certs:
        add_trust_options(g)   # type: ignore[arg-type]   # a group takes add_argument too
    elif vmlinuz:
        g.add_argument("--vmlinuz", action="append", default=[], metavar="FILE",
                       help="the target's kernel image (default: found beside its tree)")


def _given(args: argparse.Namespace, name: str) -> bool:
    return bool(getattr(args, name, None))


def _conflicts(args: argparse.Namespace) -> str | None:
    """argparse's words for two options that cannot go together, or None."""
    if _given(args, "default_kernel"):
        for name in ("kernel_dir", "config", "basedir"):
            if _given(args, name):
                return ("argument --%s: not allowed with argument --default-kernel "
                        "(the built-in kernel has no files to find)" % name.replace("_", "-"))
    if _given(args, "basedir") and _given(args, "kernel_dir"):
        return "argument -b/--basedir: not allowed with argument --kernel-dir " \
               "(the tree names its root)"
    return None


def refuse_conflicts(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """End the program as argparse does (status 2) when two options conflict."""
    problem = _conflicts(args)
    if problem is not None:
        ap.error(problem)


def choose_kernel(ap: argparse.ArgumentParser, args: argparse.Namespace,
                  default: str) -> Target | None:
    """The target the options name; ``default`` when they name none:
    ``"running"``, ``"builtin"`` or ``"none"`` (then None).  Conflicting
    options end the program as argparse does (status 2)."""
    from pymod.config import DEFAULT_RELEASE

    refuse_conflicts(ap, args)
    release = getattr(args, "release", None)
    if _given(args, "default_kernel") or (
            default == "builtin" and not (_given(args, "kernel_dir") or release
                                          or _given(args, "config"))):
        # the built-in kernel, with the exports and keys the user gives it
        return Target(release or DEFAULT_RELEASE, None, None, getattr(args, "symvers", None),
                      Path(args.vmlinuz[0]) if getattr(args, "vmlinuz", None) else None,
                      builtin=True)
    if _given(args, "kernel_dir") or release or default == "running":
        found = find_target(getattr(args, "kernel_dir", None), release,
                            getattr(args, "basedir", None) or "/")
    elif _given(args, "config"):
        found = Target(release or "", None, None, None, None)
    else:
        return None
    return Target(found.release, found.modules_dir,
                  getattr(args, "config", None) or found.config,
                  getattr(args, "symvers", None) or found.symvers,
                  Path(args.vmlinuz[0]) if getattr(args, "vmlinuz", None) else found.vmlinuz)


def target_trust(args: argparse.Namespace, target: Target) -> list[Any]:
    """The certificates a command that loads trusts: ``--cert``'s and those
    built into ``--vmlinuz``'s images, else into the target's own vmlinuz
    unless ``--cert`` names the keys (the built-in kernel has none)."""
    images = args.vmlinuz or ([str(target.vmlinuz)] if target.vmlinuz and not args.cert
                              else [])
    return trusted_certificates(args.cert, images)


def missing_files(target: Target, args: argparse.Namespace, *, symvers: bool = True) -> str | None:
    """Why ``target`` is not enough to build a kernel from (a tree that is
    not there, no .config, no Module.symvers), in one line; None when it is."""
    if target.builtin:
        return None
    if _given(args, "kernel_dir") and target.modules_dir is None:
        return "%s: not a modules tree" % args.kernel_dir
    where = target.release or "the target"
    if target.config is None:
        return "no .config for %s: give --config (or --kernel-dir)" % where
    if symvers and target.symvers is None:
        return "no Module.symvers for %s: give --symvers" % where
    return None


def _release_of(config: Path) -> str | None:
    """The release a config file tells: ``config-<release>``, a build
    tree's ``include/config/kernel.release``, or the running kernel's for
    ``/proc/config.gz``."""
    from pymod.config import release_of_config_name

    named = release_of_config_name(config)
    if named is not None:
        return named
    if os.path.realpath(config) == "/proc/config.gz":
        return os.uname().release
    from pymod.elf.compression import read_file

    beside = config.parent / "include" / "config" / "kernel.release"
    try:   # one short line: a file far larger (or a FIFO, a device) names none
        text = read_file(str(beside), 4096).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text if text and "\n" not in text and len(text) < 256 else None


def kernel_config(target: Target, *, need_release: bool) -> Config:
    """The :class:`~pymod.config.Config` of ``target``.  A command that
    compares vermagic (``need_release``) refuses a config whose release it
    cannot tell; the others take the version the config's header names."""
    from pymod.config import Config, read_kconfig

    if target.builtin or target.config is None:
        return Config(release=target.release) if target.release else Config()
    release = target.release or _release_of(target.config)
    if release is None and need_release:
        read_kconfig(target.config)      # a file that cannot be read says so first
        raise ValueError("cannot tell the kernel release of %s (its name is not "
                         "config-<release>): give --release" % target.config)
    return Config.from_kconfig(target.config, release=release, release_from_header=True)
