"""A kernel built without CONFIG_MODULES has no module syscalls: each is
sys_ni_syscall (kernel/sys_ni.c), ENOSYS before anything is read, and
nothing changes (pymod posture says the same: no module loads at all)."""

from __future__ import annotations

import errno

import pytest

from pymod import Config, Kernel
from pymod.errors import ModuleLoadError
from pymod.samples import prebuilt_path


@pytest.mark.parametrize("call", ["load_module", "finit_module", "init_module"])
def test_no_module_support_is_enosys(call):
    k = Kernel(Config(MODULES=False))
    path = prebuilt_path("pm_hello")
    arg = path.read_bytes() if call == "init_module" else path
    before = (k.proc_modules(), k.taints, list(k.log.lines))
    with pytest.raises(ModuleLoadError) as e:
        getattr(k, call)(arg)
    assert e.value.errno == errno.ENOSYS and "CONFIG_MODULES" in str(e.value)
    assert (k.proc_modules(), k.taints, list(k.log.lines)) == before


def test_with_module_support_it_loads():
    k = Kernel(Config(MODULES=True))
    assert k.load_module(prebuilt_path("pm_hello")).name == "pm_hello"
