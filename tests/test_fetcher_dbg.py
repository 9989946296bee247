"""The -dbg fetcher: only complete extractions are found, a pin is honoured,
and the tar member list names what the package holds."""

from __future__ import annotations

import pytest

from devtools.debian_dbg import MODULES, DebianDbg, find_cached_dbg, members
from devtools.debian_kernel import pin_variable


def _fake(base, release, complete=True):
    d = DebianDbg(release, base / release / "dbg")
    for path in [d.vmlinux, *d.ko_files()]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x7fELF")
    if complete:
        (d.root / "MANIFEST").write_text("\n".join(members(release)) + "\n")
    return d


def test_only_complete_extractions_count(tmp_path, monkeypatch):
    monkeypatch.delenv(pin_variable("6.1"), raising=False)
    _fake(tmp_path, "6.1.0-9-cloud-amd64")
    _fake(tmp_path, "6.1.0-57-cloud-amd64", complete=False)
    assert find_cached_dbg(tmp_path, "6.1").release == "6.1.0-9-cloud-amd64"
    _fake(tmp_path, "6.1.0-57-cloud-amd64")
    assert find_cached_dbg(tmp_path, "6.1").release == "6.1.0-57-cloud-amd64"
    assert find_cached_dbg(tmp_path, "6.12") is None


def test_a_pin_is_honoured(tmp_path, monkeypatch):
    _fake(tmp_path, "6.1.0-9-cloud-amd64")
    _fake(tmp_path, "6.1.0-57-cloud-amd64")
    monkeypatch.setenv(pin_variable("6.1"), "6.1.0-9")
    assert find_cached_dbg(tmp_path, "6.1").release == "6.1.0-9-cloud-amd64"
    monkeypatch.setenv(pin_variable("6.1"), "6.1.0-10")
    assert find_cached_dbg(tmp_path, "6.1") is None


def test_members():
    m = members("6.1.0-57-cloud-amd64")
    assert m[0] == "./usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64"
    assert len(m) == 2 + len(MODULES) and all(x.startswith("./usr/lib/debug/") for x in m)


@pytest.mark.real_kernel
def test_the_cached_extraction(debian_dbg_61):
    assert debian_dbg_61.vmlinux.stat().st_size > 100 << 20
    assert (debian_dbg_61.root / "MANIFEST").read_text().split() == members(debian_dbg_61.release)
