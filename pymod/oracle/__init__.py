"""Asking a real kernel: boot a kernel image in QEMU and put module
syscalls to it (``finit_module``, ``init_module``, ``delete_module``),
collecting each call's errno and the printk records it added.

This is how pymod's verdicts are judged (``devtools/oracle``, the
differential harness) and how ``pymod check --in-qemu`` gives a module
author the kernel's own answer beside pymod's.  Module code runs in the
guest only, never on the host.  Needs ``qemu-system-x86_64`` and ``gcc``
(the guest's helper is compiled statically on first use); busybox, when
installed, gives a developer a shell in the guest.
"""

from pymod.oracle.model import Answer, Case, Image, Outcome, Step

__all__ = ["Answer", "Case", "Image", "Outcome", "Step"]
