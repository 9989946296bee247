"""Fixtures for the sample tests: every sample built once for the package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devtools.build_samples import build_all
from pymod.loader.symvers import SymversEntry, read_symvers
from pymod.samples import default_symvers


@pytest.fixture(scope="package")
def built(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("gcc") is None or shutil.which("ld") is None:
        pytest.skip("gcc/binutils not installed: cannot build the samples")
    return build_all(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="package")
def all_symvers(built) -> dict[str, SymversEntry]:
    table = read_symvers(default_symvers())
    samples = read_symvers(built["pm_hello"].parent / "Module.symvers")
    assert not set(table) & set(samples)
    return {**table, **samples}
