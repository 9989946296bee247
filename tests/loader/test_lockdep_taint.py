"""add_taint()'s "Disabling lock debugging due to kernel taint" (kernel/panic.c).

The line is printed by the first taint added with LOCKDEP_NOW_UNRELIABLE --
in the module code a forced load (F), a proprietary licence (P) and a forced
unload (R) -- because ``__debug_locks_off()`` succeeds once a boot; every
other module taint is LOCKDEP_STILL_OK and prints nothing.
"""

from __future__ import annotations

import pytest

from pymod import MODULE_INIT_IGNORE_VERMAGIC, Config, Kernel
from pymod.contract.internal import Taint
from pymod.samples import prebuilt_path
from tests.loader.support import sample_bytes

LOCKDEP_OFF = ("warn", "Disabling lock debugging due to kernel taint")
CONFIGS = {
    "6.12": Config(),
    "6.1": Config(release="6.1.0-pymod-amd64", struct_module_size=None),
}


def _kernel(series: str) -> Kernel:
    from pymod.samples import default_symvers

    # the samples' vmlinux symbols, whatever the release
    return Kernel(CONFIGS[series], symvers=default_symvers())


def _count(k: Kernel) -> int:
    return k.log.lines.count(LOCKDEP_OFF)


def _with_modinfo(tag: bytes) -> bytes:
    """pm_hello with its retpoline=Y tag replaced by ``tag`` (same length)."""
    old = b"retpoline=Y\0"
    new = tag + b"\0" * (len(old) - len(tag))
    image = sample_bytes("pm_hello")
    assert len(new) == len(old) and image.count(old) == 1
    return image.replace(old, new)


@pytest.mark.parametrize("series", sorted(CONFIGS))
def test_forced_load_disables_lock_debugging_after_its_warning(series):
    k = _kernel(series)
    k.load_module(prebuilt_path("pm_hello"), flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert _count(k) == 1
    i = k.log.lines.index(LOCKDEP_OFF)
    # try_to_force_load warns, then add_taint_module prints
    assert k.log.lines[i - 1] == ("warn", "pm_hello: bad vermagic: kernel tainted.")
    assert "F" in k.tainted


def test_proprietary_licence_disables_lock_debugging_between_its_two_warnings():
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    assert _count(k) == 0
    k.load_module(prebuilt_path("pm_proprietary"))
    assert _count(k) == 1
    i = k.log.lines.index(LOCKDEP_OFF)
    assert k.log.lines[i - 1] == ("warn", "pm_proprietary: module license 'Proprietary' "
                                          "taints kernel.")
    assert k.log.lines[i + 1] == ("warn", "pm_proprietary: module license taints kernel.")


def test_a_second_unreliable_taint_prints_nothing():
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    k.load_module(prebuilt_path("pm_proprietary"))
    # F on a kernel not yet tainted F: its own warning, but lock debugging is already off
    k.load_module(prebuilt_path("pm_outoftree"), flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert ("warn", "pm_outoftree: bad vermagic: kernel tainted.") in k.log.lines
    k.try_module_get("pm_outoftree")
    k.delete_module("pm_outoftree", force=True)
    assert set("PFR") <= set(k.tainted)
    assert _count(k) == 1


def test_forced_unload_disables_lock_debugging():
    k = Kernel()
    k.load_module(prebuilt_path("pm_hello"))
    k.try_module_get("pm_hello")
    before = len(k.log.lines)
    k.delete_module("pm_hello", force=True)
    assert k.log.lines[before:] == [LOCKDEP_OFF]
    k.load_module(prebuilt_path("pm_hello"), flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert _count(k) == 1


@pytest.mark.parametrize("name", ["pm_outoftree", "pm_livepatch"])
def test_still_ok_sample_taints_keep_lock_debugging(name):
    k = Kernel()
    mod = k.load_module(prebuilt_path(name))
    assert mod.taint_letters and "P" not in mod.taint_letters and "F" not in mod.taint_letters
    assert _count(k) == 0 and k.taint.debug_locks


@pytest.mark.parametrize("tag,letter", [(b"staging=Y", "C"), (b"test=Y", "N")])
def test_staging_and_test_modules_keep_lock_debugging(tag, letter):
    k = Kernel()
    mod = k.load_module(_with_modinfo(tag))
    assert letter in mod.taint_letters and "E" in mod.taint_letters
    assert _count(k) == 0


@pytest.mark.parametrize("flag", sorted(set(Taint) - {Taint.FORCED_MODULE, Taint.FORCED_RMMOD,
                                                       Taint.PROPRIETARY_MODULE}))
def test_still_ok_kernel_taints_print_nothing(flag):
    # includes U: kernel/params.c taints an unsafe parameter LOCKDEP_STILL_OK
    k = Kernel()
    k.taint.add(flag)
    assert k.taint.has(flag) and _count(k) == 0
    k.taint.add(Taint.FORCED_RMMOD)
    assert _count(k) == 1
