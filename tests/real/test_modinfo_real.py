"""``pymod info`` against kmod's ``modinfo`` on every module of a real Debian kernel."""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
import time

import pytest

from pymod.tools import info

pytestmark = pytest.mark.real_kernel

MODINFO_TOOL = shutil.which("modinfo")


@pytest.fixture(scope="module")
def kmod():
    if MODINFO_TOOL is None:
        pytest.skip("kmod's modinfo is not installed")
    return MODINFO_TOOL


def split_by_file(out: bytes, files: list[str]) -> dict[str, bytes]:
    """Cut one multi-file modinfo output at each file's ``filename:`` line."""
    starts = []
    pos = 0
    for f in files:
        marker = b"filename:       %s\n" % f.encode()
        i = out.find(marker, pos)
        assert i >= 0, "no output for %s" % f
        starts.append(i)
        pos = i + len(marker)
    return {f: out[s:e] for f, s, e in zip(files, starts, starts[1:] + [len(out)], strict=True)}


def run_pymod(capsysbinary, argv: list[str]) -> tuple[int, bytes, float]:
    t = time.perf_counter()
    rc = info.main(argv)
    elapsed = time.perf_counter() - t
    out, _ = capsysbinary.readouterr()
    return rc, out, elapsed


@pytest.mark.slow
def test_every_module_matches_modinfo(debian_kernel, kmod, capsysbinary):
    files = [str(p) for p in debian_kernel.ko_files()]
    assert len(files) > 100
    t = time.perf_counter()
    theirs = subprocess.run([kmod, *files], capture_output=True, check=True).stdout
    kmod_time = time.perf_counter() - t
    rc, ours, our_time = run_pymod(capsysbinary, files)
    assert rc == 0
    a, b = split_by_file(theirs, files), split_by_file(ours, files)
    mismatched = [f for f in files if a[f] != b[f]]
    with capsysbinary.disabled():
        print("\npymod info parity: %d/%d modules match modinfo; pymod %.2fs, modinfo %.2fs"
              % (len(files) - len(mismatched), len(files), our_time, kmod_time))
    assert not mismatched, "first mismatch: %s" % mismatched[0]
    # the signature fields are part of what was compared
    assert sum(v.count(b"\nsig_hashalgo:   sha256\n") for v in b.values()) == len(files)


@pytest.mark.slow
@pytest.mark.parametrize("opts", [["-F", "signer"], ["-F", "parm"], ["-F", "alias"],
                                  ["-F", "vermagic"], ["-F", "depends"], ["-F", "sig_key"],
                                  ["-0"]])
def test_field_output_matches_modinfo(debian_kernel, kmod, capsysbinary, opts):
    files = [str(p) for p in debian_kernel.ko_files()[::7]]
    theirs = subprocess.run([kmod, *opts, *files], capture_output=True, check=True).stdout
    rc, ours, _ = run_pymod(capsysbinary, [*opts, *files])
    assert rc == 0 and ours == theirs and ours


@pytest.mark.slow
def test_recompressed_modules(debian_kernel, kmod, capsysbinary, tmp_path):
    """gz and zst copies give the plain file's output (kmod here reads zst, not gz)."""
    import zstandard

    picks = [p for p in debian_kernel.ko_files() if p.name.split(".")[0] in
             ("ext4", "vsock", "virtio_net", "nf_tables", "xfs", "btrfs")]
    picks = picks or debian_kernel.ko_files()[:4]
    for src in picks:
        raw = lzma.decompress(src.read_bytes()) if src.name.endswith(".xz") else src.read_bytes()
        stem = src.name.split(".ko")[0]
        plain = tmp_path / (stem + ".ko")
        plain.write_bytes(raw)
        _, plain_out, _ = run_pymod(capsysbinary, [str(plain)])
        assert plain_out == subprocess.run([kmod, str(plain)], capture_output=True,
                                           check=True).stdout
        for ext, packed in (("gz", gzip.compress(raw, 6)),
                            ("zst", zstandard.ZstdCompressor().compress(raw))):
            f = tmp_path / ("%s.ko.%s" % (stem, ext))
            f.write_bytes(packed)
            rc, out, _ = run_pymod(capsysbinary, [str(f)])
            assert rc == 0
            assert out == plain_out.replace(str(plain).encode(), str(f).encode(), 1)
            if ext == "zst":
                assert out == subprocess.run([kmod, str(f)], capture_output=True,
                                             check=True).stdout
