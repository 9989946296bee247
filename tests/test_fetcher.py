"""The Debian kernel fetcher's pin: a release can be pinned, by option or
environment, and the cache lookup honours it; otherwise the newest of the
series is taken, whatever today's archive calls it."""

from __future__ import annotations

import pytest

from devtools.debian_kernel import find_cached_kernel, normalise_version, pin_variable


def _fake_tree(base, release):
    root = base / release / "root"
    (root / "lib" / "modules" / release).mkdir(parents=True)
    symvers = root / "usr" / "src" / ("linux-headers-" + release) / "Module.symvers"
    symvers.parent.mkdir(parents=True)
    symvers.write_text("")


def test_newest_of_the_series_by_version_not_by_string(tmp_path, monkeypatch):
    monkeypatch.delenv(pin_variable("6.12"), raising=False)
    for v in ("6.12.99+deb12", "6.12.118+deb12", "6.1.0-57"):
        _fake_tree(tmp_path, v + "-cloud-amd64")
    assert find_cached_kernel(tmp_path, "6.12").release == "6.12.118+deb12-cloud-amd64"
    assert find_cached_kernel(tmp_path, "6.1").release == "6.1.0-57-cloud-amd64"


def test_a_pinned_release_is_the_one_found(tmp_path, monkeypatch):
    for v in ("6.12.99+deb12", "6.12.118+deb12"):
        _fake_tree(tmp_path, v + "-cloud-amd64")
    monkeypatch.setenv(pin_variable("6.12"), "6.12.99+deb12-cloud-amd64")
    assert find_cached_kernel(tmp_path, "6.12").release == "6.12.99+deb12-cloud-amd64"
    monkeypatch.setenv(pin_variable("6.12"), "6.12.5+deb12")
    assert find_cached_kernel(tmp_path, "6.12") is None


def test_pins_name_their_series():
    assert normalise_version("6.1.0-57-cloud-amd64", "6.1") == "6.1.0-57"
    with pytest.raises(SystemExit):
        normalise_version("6.12.118+deb12", "6.1")
