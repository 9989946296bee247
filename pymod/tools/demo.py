"""``pymod demo``: the shipped samples in the built-in default kernel.

Loads every sample the default kernel accepts, prints ``/proc/modules``, then
loads each sample made to fail and prints the kernel's answer: one failure of
each kind, each leaving the kernel as it was.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from typing import TextIO

from pymod.errors import ModuleLoadError, errno_name
from pymod.loader.kernel import Kernel


def run_demo(out: TextIO) -> int:
    from pymod.samples import SAMPLES, prebuilt_path

    kernel = Kernel()
    out.write("# pymod demo: built-in default kernel %s\n" % kernel.config.release)
    out.write("# vermagic %r\n\n" % kernel.config.vermagic)
    good = [s for s in SAMPLES if s.loads]
    bad = [s for s in SAMPLES if not s.loads]
    for s in good:
        kernel.load_module(prebuilt_path(s.name))
    out.write("$ cat /proc/modules\n")
    out.write(kernel.proc_modules())
    out.write("\n$ cat /proc/sys/kernel/tainted (letters)\n%s\n" % kernel.tainted)
    _show_lookups(kernel, out)
    out.write("\n# deliberate failures (module: errno, stage, kernel message)\n")
    unexpected = 0
    before = kernel.proc_modules()
    for s in bad:
        try:
            kernel.load_module(prebuilt_path(s.name))
        except ModuleLoadError as e:
            mark = "" if e.errno == s.errno else "  <-- expected %s" % errno_name(s.errno)
            unexpected += bool(mark)
            out.write("%-20s %-8s %-12s %s%s\n" % (s.name, errno_name(e.errno), e.stage,
                                                   e.strerror, mark))
        else:
            unexpected += 1
            out.write("%-20s loaded, but was expected to fail with %s\n"
                      % (s.name, errno_name(s.errno)))
    same = kernel.proc_modules() == before
    out.write("\n# after the failures /proc/modules is %s\n"
              % ("unchanged: nothing was left behind" if same else "CHANGED"))
    unexpected += _show_signatures(out)
    return 0 if same and not unexpected else 1


def _show_signatures(out: TextIO) -> int:
    """Signatures under enforcement, trusting the samples' certificate: a
    verified load, an unsigned module, a module changed after signing."""
    from pymod.samples import prebuilt_path, signed_path, signing_cert

    out.write("\n# module.sig_enforce=1, trusting %s\n" % signing_cert().name)
    kernel = Kernel(trusted_keys=(signing_cert(),), sig_enforce=True)
    cases = (("pm_hello_signed", signed_path("pm_hello_signed"), 0),
             ("pm_hello (unsigned)", prebuilt_path("pm_hello"), errno.EKEYREJECTED),
             ("pm_hello_tampered", signed_path("pm_hello_tampered"), errno.EKEYREJECTED))
    wrong = 0
    for label, path, want in cases:
        try:
            mod = kernel.load_module(path)
            out.write("%-20s loaded, signature verified, taints %r\n"
                      % (label, mod.taint_letters))
            kernel.delete_module(mod.name)
            wrong += want != 0 or not mod.sig_ok
        except ModuleLoadError as e:
            out.write("%-20s %-8s %-12s %s\n" % (label, errno_name(e.errno), e.stage,
                                                 e.strerror))
            wrong += e.errno != want
    return wrong


def _show_lookups(kernel: Kernel, out: TextIO) -> None:
    """A few addresses through mod_find: one inside each region of a module,
    one past its end, one outside every module."""
    mod = kernel.modules[-1]
    probes = [(base + size // 2, kind) for kind, (base, size) in mod.regions().items()]
    end = max(b + s for b, s in mod.regions().values())
    probes += [(end + 0x10, "past the end"), (0xFFFFFFFF81000000, "kernel text")]
    out.write("\n# address -> module (mod_find; the lookup core's %s)\n"
              % ("latch tree" if kernel.features.tree.strategy == "tree" else "list scan"))
    for addr, what in probes:
        owner = kernel.find(addr)
        out.write("%#018x  %-14s %s\n" % (addr, what, owner.name if owner else "-"))


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="pymod demo",
                                 description="Load the shipped sample modules into the "
                                             "built-in default kernel.")
    ap.parse_args(argv)
    return run_demo(sys.stdout)
