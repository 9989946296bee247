"""The trace-events notifier's line, as the real kernels printed it (the
oracle saw it on every forced load of nbd): a module with trace events and
a bad taint gets "module has bad taint, not creating trace events"."""

from __future__ import annotations

import pytest

from pymod import MODULE_INIT_IGNORE_VERMAGIC, Config, Kernel

pytestmark = pytest.mark.real_kernel


def _kernel(dk) -> Kernel:
    config = Config.from_kconfig(dk.config, release=dk.release)
    return Kernel(config.replace(struct_module_size=Config.struct_module_size_of(
        dk.ko_files()[0])), symvers=dk.symvers)


def _nbd(dk):
    return next(p for p in dk.ko_files() if p.name.split(".")[0] == "nbd")


def test_a_forced_module_with_trace_events_gets_none(debian_kernel):
    k = _kernel(debian_kernel)
    k.load_module(_nbd(debian_kernel), flags=MODULE_INIT_IGNORE_VERMAGIC)
    line = ("err", "nbd: module has bad taint, not creating trace events")
    assert line in k.log.lines
    # after the taint lines, before anything of the parameters
    assert k.log.lines.index(line) > k.log.lines.index(
        ("warn", "nbd: bad vermagic: kernel tainted."))


def test_unsigned_is_a_good_taint(debian_kernel):
    k = _kernel(debian_kernel)
    k.load_module(_nbd(debian_kernel))
    assert not any("bad taint" in m for _, m in k.log.lines)


def test_without_event_tracing_no_line(debian_kernel):
    dk = debian_kernel
    config = Config.from_kconfig(dk.config, release=dk.release, EVENT_TRACING=False)
    k = Kernel(config, symvers=dk.symvers)
    k.load_module(_nbd(dk), flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert not any("bad taint" in m for _, m in k.log.lines)
