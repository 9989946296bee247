"""The kernel as pymod's judge: a differential harness that boots Debian's
real 6.12 and 6.1 kernels in QEMU, asks them generated questions
(``finit_module``/``init_module``/``delete_module`` with mutated real
modules, foreign modules, dependency subsets and parameters, with and
without ``module.sig_enforce=1``), asks pymod the same, and compares the
errno and every printk line with its level.

    python -m devtools.oracle [--cases 5000] [--seed 1] [--json out.json]

:mod:`~devtools.oracle.cases` draws the questions, :mod:`~devtools.oracle.guest`
packs them with a static helper into an initramfs, :mod:`~devtools.oracle.qemu`
boots and collects, :mod:`~devtools.oracle.replay` asks pymod and
:mod:`~devtools.oracle.compare` judges.
"""
