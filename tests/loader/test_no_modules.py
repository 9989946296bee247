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


@pytest.mark.parametrize("name", ["pm_hello", "no_such_module", ""])
def test_delete_module_is_enosys_before_the_name_is_read(name):
    # sys_ni_syscall answers delete_module too, whatever the name: ENOSYS,
    # not the ENOENT a kernel with modules gives for an unknown one.
    k = Kernel(Config(MODULES=False, MODULE_UNLOAD=True))
    before = (k.proc_modules(), k.taints, list(k.log.lines))
    with pytest.raises(ModuleLoadError) as e:
        k.delete_module(name)
    assert e.value.errno == errno.ENOSYS and "CONFIG_MODULES" in str(e.value)
    assert e.value.strerror.startswith("delete_module:")
    assert (k.proc_modules(), k.taints, list(k.log.lines)) == before


def test_with_module_support_an_unknown_name_is_enoent():
    k = Kernel(Config(MODULES=True, MODULE_UNLOAD=True))
    with pytest.raises(ModuleLoadError) as e:
        k.delete_module("no_such_module")
    assert e.value.errno == errno.ENOENT
