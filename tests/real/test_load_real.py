"""Every module of a real Debian kernel loads, dependencies first, and unloads."""

from __future__ import annotations

import time

import pytest

from pymod import Config, Kernel
from pymod.contract.internal import ModuleState
from pymod.loader.batch import load_all
from tests.conftest import STRUCT_MODULE_SIZE, series_of
from tests.loader.support import assert_consistent

pytestmark = pytest.mark.real_kernel


def _kernel(debian_kernel) -> Kernel:
    files = debian_kernel.ko_files()
    config = Config.from_kconfig(debian_kernel.config, release=debian_kernel.release)
    config = config.replace(struct_module_size=Config.struct_module_size_of(files[0]))
    return Kernel(config, symvers=debian_kernel.symvers)


def test_config_matches_the_modules(debian_kernel):
    from pymod.elf.kofile import read_ko

    config = Config.from_kconfig(debian_kernel.config, release=debian_kernel.release)
    for path in debian_kernel.ko_files()[:20]:
        vermagic = dict(read_ko(path).elf.modinfo())["vermagic"]
        assert vermagic == config.vermagic
    assert Config.struct_module_size_of(debian_kernel.ko_files()[0]) == \
        STRUCT_MODULE_SIZE[series_of(debian_kernel.release)]


@pytest.mark.slow
def test_whole_tree_loads_and_unloads(debian_kernel):
    k = _kernel(debian_kernel)
    files = debian_kernel.ko_files()
    start = time.perf_counter()
    result = load_all(k, [debian_kernel.modules_dir])
    elapsed = time.perf_counter() - start
    print("\nloaded %d modules in %.2f s" % (len(result.loaded), elapsed))
    assert result.failures == []
    assert len(result.loaded) == len(files) == len(k.modules)
    assert all(m.state == ModuleState.LIVE for m in k.modules)
    # dependencies first: every holder was loaded after what it holds
    position = {m.name: i for i, m in enumerate(k.modules)}
    for m in k.modules:
        for user in m.holders:
            assert position[user.name] > position[m.name]
    assert k.tainted == "E"     # in-tree, GPL, signed by a key pymod does not have
    assert_consistent(k)
    stuck = [m.name for m in k.modules if m.has_init and not m.has_exit]
    assert "vrf" in stuck           # no module_exit: rmmod needs --force (taint R)
    for m in reversed(k.modules):
        k.delete_module(m.name, force=m.name in stuck)
    assert k.modules == [] and k.proc_modules() == ""
    assert len(k.features.tree) == 0 and k.area.allocated == {}
    assert k.symbols.modules == {}
    k.area.check()


def test_the_samples_under_the_debian_config(debian_kernel):
    """The configuration matrix's Debian rows: every sample under this
    kernel's own config and symvers loads or is refused cleanly."""
    from tests.loader.test_config_matrix import exercise

    config = Config.from_kconfig(debian_kernel.config, release=debian_kernel.release)
    got = exercise(config)
    assert len(got) == len(__import__("pymod.samples", fromlist=["SAMPLES"]).SAMPLES)
