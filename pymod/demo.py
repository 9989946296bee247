"""``pymod demo``: the shipped samples in the built-in default kernel.

Loads every sample the default kernel accepts, prints ``/proc/modules``, then
loads each sample made to fail and prints the kernel's answer: one failure of
each kind, each leaving the kernel as it was.
"""

from __future__ import annotations

from typing import TextIO

from .errors import ModuleLoadError, errno_name
from .kernel import Kernel


def run_demo(out: TextIO) -> int:
    from .samples import SAMPLES, prebuilt_path

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
    return 0 if same and not unexpected else 1
