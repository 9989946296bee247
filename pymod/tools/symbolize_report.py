"""``pymod symbolize``'s checks of a foreign trace, and the summary on stderr.

A trace from another machine (another release, another build) is named
wrongly by this machine's symbols, silently: a RHEL trace's
``_raw_spin_unlock_irqrestore+0x36/0x60`` became ``defrag_show+0x6/0x90``.
So wherever a line carries its own name for a raw address, pymod's answer is
compared with it; where the trace names its release or a build id, these are
compared with what the symbols came from, when that is known (a
``/proc/kallsyms`` or ``System.map`` capture carries neither; the running
system has its release; a ``.ko`` and a debug file have a build id).  Each
disagreement is said on its line, and all of them, with the count of
unresolved addresses, in one summary; ``--strict`` makes any of them fail
the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pymod.symbolize.symbolizer import Symbol
from pymod.symbolize.tracenames import NamedFrame, TraceIdentity

__all__ = ["Identity", "Report", "STRICT_EXIT"]

STRICT_EXIT = 3


@dataclass(frozen=True)
class Identity:
    """What the symbols given are known to be: ``release`` None when the
    source does not say (a kallsyms or System.map capture), ``build_id`` of
    vmlinux (hex) when known, ``what`` names the source for messages."""

    what: str
    release: str | None = None
    build_id: str | None = None


@dataclass
class Report:
    identity: Identity
    checked: int = 0                           # named frames compared
    differ: list[tuple[str, int]] = field(default_factory=list)     # (file, line)
    build_ids: list[tuple[str, int]] = field(default_factory=list)
    releases: list[str] = field(default_factory=list)   # what traces said, mismatching
    unknown_release: list[str] = field(default_factory=list)
    unresolved: int = 0
    addresses: int = 0

    # ------------------------------------------------------------ per line
    def frame(self, file: str, lineno: int, named: NamedFrame, sym: Symbol | None,
              exact: Callable[[], Symbol | None] | None = None) -> str | None:
        """Compare the trace's name for an address with pymod's ``sym``;
        the warning for the line, or None.  ``exact`` gives the plain lookup
        of a return address: perf and bpftrace name a return address as
        ``%pS`` would, where an oops uses ``%pB``."""
        if sym is None:
            return None
        self.checked += 1
        if not _same(named, sym) and (exact is None or not _same(named, exact())):
            self.differ.append((file, lineno))
            return "warning: the trace names it %s" % named.text()
        if named.build_id and sym.build_id is not None and \
                sym.build_id[:20].ljust(20, b"\0").hex() != named.build_id:
            self.build_ids.append((file, lineno))
            return "warning: the trace's build id of %s is %s, the symbols' %s" % (
                named.module, named.build_id, sym.build_id[:20].ljust(20, b"\0").hex())
        return None

    def release_line(self, found: TraceIdentity) -> str | None:
        """The trace names its release (and maybe vmlinux' build id)."""
        mine = self.identity
        if mine.release is None and (mine.build_id is None or found.build_id is None):
            if found.release not in self.unknown_release:
                self.unknown_release.append(found.release)
            return None
        if mine.build_id is not None and found.build_id is not None:
            if mine.build_id != found.build_id:
                self.releases.append(found.release)
                return "warning: the trace's vmlinux build id is %s, the symbols' (%s) %s" % (
                    found.build_id, mine.what, mine.build_id)
            return None
        if mine.release is not None and mine.release != found.release:
            self.releases.append(found.release)
            return "warning: the trace is from %s, the symbols (%s) from %s" % (
                found.release, mine.what, mine.release)
        return None

    def counted(self, found: int, total: int) -> None:
        self.addresses += total
        self.unresolved += total - found

    # ------------------------------------------------------------ the end
    @property
    def warnings(self) -> int:
        return len(self.differ) + len(self.build_ids) + len(self.releases)

    def summary(self) -> list[str]:
        """The lines for stderr: nothing when there is nothing to warn about."""
        if not self.warnings:
            return []
        out = []
        if self.differ:
            out.append("warning: %d of %d named frames differ from the symbols' names (%s): "
                       "the trace is from another kernel or build than the symbols (%s)"
                       % (len(self.differ), self.checked, _where(self.differ),
                          self.identity.what))
        if self.build_ids:
            out.append("warning: %d module build ids differ (%s)"
                       % (len(self.build_ids), _where(self.build_ids)))
        for release in self.releases:
            out.append("warning: the trace is from %s, the symbols (%s) are not: %s"
                       % (release, self.identity.what, self.identity.release
                          or self.identity.build_id))
        for release in self.unknown_release:
            out.append("note: the trace is from %s; the symbols (%s) do not say their release"
                       % (release, self.identity.what))
        out.append("note: %d of %d addresses unresolved" % (self.unresolved, self.addresses))
        return out


def _same(named: NamedFrame, sym: Symbol | None) -> bool:
    """Name, offset and module agree (not the size: a capture's last symbol
    of a module runs to a guessed end)."""
    if sym is None:
        return False
    module = sym.module if named.module is not None else None
    return (sym.name, sym.offset, module) == (named.name, named.offset, named.module)


def _where(at: list[tuple[str, int]], most: int = 5) -> str:
    """``FILE:LINE, ...`` (``line N`` for standard input)."""
    items = ["line %d" % n if f == "-" else "%s:%d" % (f, n) for f, n in at[:most]]
    return ", ".join(items) + (", ..." if len(at) > most else "")
