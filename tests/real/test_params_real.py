"""Module parameters on the real Debian modules: what only a module's own
ops can judge is named, not judged (the real kernels refused loop's
``max_loop=abc`` and null_blk's ``queue_mode=9`` from those modules' own
set functions); vmlinux's standard ops are exactly the ones Module.symvers
exports; the dyndbg hook's cut of a dotted unknown name."""

from __future__ import annotations

import errno
import time

import pytest

from pymod import Config, Kernel, ModuleLoadError
from pymod.contract.internal import INIT_UNDECIDED, Undecided
from pymod.loader import queries
from pymod.loader.batch import load_all
from pymod.loader.param_ops import STANDARD_OPS
from pymod.loader.symvers import read_symvers

pytestmark = pytest.mark.real_kernel


def _kernel(dk) -> Kernel:
    config = Config.from_kconfig(dk.config, release=dk.release)
    config = config.replace(struct_module_size=Config.struct_module_size_of(dk.ko_files()[0]))
    return Kernel(config, symvers=dk.symvers)


def _file(dk, name: str):
    return next(p for p in dk.ko_files() if p.name.split(".ko")[0] == name)


def test_a_value_for_loops_own_ops_loads_only_if_loop_agrees(debian_kernel):
    k = _kernel(debian_kernel)
    mod = k.load_module(_file(debian_kernel, "loop"), params="max_loop=abc")
    assert mod.undecided == (
        Undecided("param", "max_loop", "max_loop_param_ops",
                  "parameter max_loop is parsed by loop's own ops (max_loop_param_ops)"),
        INIT_UNDECIDED)
    k.delete_module("loop")
    with pytest.raises(ModuleLoadError) as ei:      # max_part is param_ops_int: judged
        k.load_module(_file(debian_kernel, "loop"), params="max_part=abc")
    assert (ei.value.errno, ei.value.strerror) == (errno.EINVAL,
                                                   "loop: `abc' invalid for parameter `max_part'")
    assert ei.value.undecided == ()


def test_null_blk_queue_mode(debian_kernel):
    k = _kernel(debian_kernel)
    result = load_all(k, [_file(debian_kernel, "null_blk")],
                      dependency_trees=[debian_kernel.modules_dir])
    assert result.failures == []
    k.delete_module("null_blk")
    mod = k.load_module(_file(debian_kernel, "null_blk"), params="queue_mode=9 bs=512")
    assert [(u.name, u.ops) for u in mod.undecided] == [
        ("queue_mode", "null_queue_mode_param_ops"), ("init_module", None)]


def test_vmlinux_standard_ops_are_its_param_ops_exports(debian_kernel):
    exported = {name for name, (_crc, _n, module, _gpl, _ns) in
                read_symvers(debian_kernel.symvers).items()
                if module == "vmlinux" and (name.startswith("param_ops_")
                                            or name == "param_array_ops")}
    # dynamic debug's class maps: vmlinux code pymod does not model
    assert exported - set(STANDARD_OPS) == {"param_ops_dyndbg_classes"}
    assert set(STANDARD_OPS) <= exported


@pytest.mark.slow
def test_every_custom_ops_in_the_tree_is_named_as_the_modules_own(debian_kernel):
    k = _kernel(debian_kernel)
    start = time.perf_counter()
    assert load_all(k, [debian_kernel.modules_dir]).failures == []
    print("\nloaded in %.1f s" % (time.perf_counter() - start))
    foreign = {(m.name, p.name): p.foreign for m in k.modules for p in m.kp if p.foreign}
    assert len(foreign) > 30
    assert all(ref.owner == mod and not ref.symbol.startswith("0x")
               for (mod, _), ref in foreign.items())
    # libceph names its own ops param_ops_*: not vmlinux's, not standard
    assert foreign[("libceph", "supported_features")].symbol == "param_ops_supported_features"


def test_a_dotted_unknown_parameter_is_cut_by_the_dyndbg_hook(debian_kernel):
    k = _kernel(debian_kernel)
    assert k.config.DYNAMIC_DEBUG
    mod = k.load_module(_file(debian_kernel, "dummy"), params="dummy.numdummies=2")
    assert ("warn", "dummy: unknown parameter 'dummy' ignored") in k.log.lines
    numdummies = next(p for p in mod.kp if p.name == "numdummies")
    # its default, untouched
    assert queries.read(k, numdummies.arg, 4) == (1).to_bytes(4, "little")
