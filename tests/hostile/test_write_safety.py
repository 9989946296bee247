"""The tools never write through a planted link (issue 15): ``pymod sign``
wrote to the predictable ``<out>.pymod-sign.tmp`` (a link there overwrote
another file), ``pymod deps`` to ``modules.dep.pymod-<pid>.tmp``, and
``pymod certs -o DIR`` wrote through a link in DIR.  All now write a new
file beside the target and rename it over the target
(:mod:`pymod.atomicio`), which replaces a link rather than following it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pymod.atomicio import write_atomic
from pymod.elf.constants import MODULE_SIG_STRING
from pymod.samples import prebuilt_path, signing_cert
from tests.signing.keys import key_and_cert

PRECIOUS = b"another user's file\n"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pymod", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.fixture
def signer(tmp_path) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization

    key, cert = key_and_cert("rsa")
    k, c = tmp_path / "key.pem", tmp_path / "cert.pem"
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(k), str(c)


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    return victim


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_sign_ignores_a_link_at_the_old_temporary_name(tmp_path, signer):
    victim = _victim(tmp_path)
    module = tmp_path / "m.ko"
    shutil.copy(prebuilt_path("pm_hello"), module)
    os.symlink(victim, tmp_path / "m.ko.pymod-sign.tmp")
    p = run("sign", "--key", signer[0], "--cert", signer[1], str(module))
    assert p.returncode == 0, p.stderr
    assert victim.read_bytes() == PRECIOUS
    assert not module.is_symlink() and module.read_bytes().endswith(MODULE_SIG_STRING)


def test_sign_replaces_a_link_at_the_output_not_its_target(tmp_path, signer):
    """As sign-file's rename() does: the name gets the signed module."""
    victim = _victim(tmp_path)
    out = tmp_path / "signed.ko"
    os.symlink(victim, out)
    p = run("sign", "--key", signer[0], "--cert", signer[1], "-o", str(out),
            str(prebuilt_path("pm_hello")))
    assert p.returncode == 0, p.stderr
    assert victim.read_bytes() == PRECIOUS
    assert not out.is_symlink() and out.read_bytes().endswith(MODULE_SIG_STRING)
    assert _leftovers(tmp_path) == []


def test_sign_into_a_directory_fails_cleanly(tmp_path, signer):
    out = tmp_path / "a-directory"
    out.mkdir()
    p = run("sign", "--key", signer[0], "--cert", signer[1], "-o", str(out),
            str(prebuilt_path("pm_hello")))
    assert p.returncode == 1
    assert p.stderr.splitlines() == ["pymod sign: %s: Is a directory" % out]
    assert _leftovers(tmp_path) == [] and out.is_dir()


def _vmlinuz(tmp_path: Path) -> Path:
    from tests.hostile.test_vmlinuz_bombs import bzimage

    image = tmp_path / "vmlinuz"
    image.write_bytes(bzimage("gzip", b"\0" * 512 + signing_cert().read_bytes() + b"\0" * 512))
    return image


def test_certs_replaces_a_link_in_the_output_directory(tmp_path):
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    listed = run("certs", "--json", "-o", str(tmp_path / "first"), str(_vmlinuz(tmp_path)))
    assert listed.returncode == 0, listed.stderr
    name = Path(json.loads(listed.stdout)[0]["file"]).name
    os.symlink(victim, out / name)
    p = run("certs", "-o", str(out), str(_vmlinuz(tmp_path)))
    assert p.returncode == 0, p.stderr
    assert victim.read_bytes() == PRECIOUS
    assert not (out / name).is_symlink()
    assert (out / name).read_bytes() == signing_cert().read_bytes()
    assert _leftovers(out) == []


def test_a_new_file_gets_the_mode_open_gives(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "f", b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o640


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_a_planted_temporary_is_never_opened(tmp_path, monkeypatch):
    """Every name tried is created with O_EXCL: one that exists (a link
    here) is passed over, not written through."""
    import secrets

    victim = _victim(tmp_path)
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(names))
    os.symlink(victim, tmp_path / ".f.aaaa.tmp")
    write_atomic(tmp_path / "f", b"data")
    assert victim.read_bytes() == PRECIOUS and (tmp_path / "f").read_bytes() == b"data"
    assert (tmp_path / ".f.aaaa.tmp").is_symlink()


def test_deps_ignores_a_link_at_its_old_temporary_name(tmp_path):
    """``pymod deps`` wrote ``modules.dep.pymod-<pid>.tmp``: a pid is guessed."""
    from pymod.tools.deps import main

    (tmp_path / "kernel").mkdir()
    shutil.copy(prebuilt_path("pm_hello"), tmp_path / "kernel" / "pm_hello.ko")
    victim = _victim(tmp_path)
    os.symlink(victim, tmp_path / ("modules.dep.pymod-%d.tmp" % os.getpid()))
    assert main([str(tmp_path)]) == 0
    assert victim.read_bytes() == PRECIOUS
    assert (tmp_path / "modules.dep").read_text() == "kernel/pm_hello.ko:\n"
