"""The contract the loader and the optional features share (the kernel's
private ``kernel/module/internal.h``): the model types (:mod:`~pymod.contract.internal`),
the facade of every optional feature (:mod:`~pymod.contract.facades`), the kernel log
(:mod:`~pymod.contract.klog`), taint (:mod:`~pymod.contract.taint`), the per-version rules
(:mod:`~pymod.contract.kver`) and the section primitives (:mod:`~pymod.contract.sections`).

It is the bottom of the model: ``pymod.loader`` and
:mod:`pymod.features` both import it, and it imports neither.
"""
