"""Fixtures of the symbolizer's source-line tests (the gccdebug program)."""

from __future__ import annotations

import pytest

from tests.symbolize.gccdebug import build


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    """The gccdebug program, built once per test module: a module's own path,
    so debug files opened (and kept per process) by one module never answer
    another's."""
    return build(tmp_path_factory.mktemp("gccdebug"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private index cache for the debug files the test opens."""
    monkeypatch.setenv("PYMOD_CACHE", str(tmp_path / "cache"))
