"""``pymod check``'s own words beside the kernel's verdict: the rebuild hint
for a module built for another kernel (the kernel's lines untouched), the
dependencies taken from the target's tree, progress on a terminal, and the
same JSON keys for every outcome."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from pymod.elf.kofile import read_ko
from pymod.kmod.tree import modname_of, module_files
from pymod.samples import prebuilt_path
from pymod.tools import main
from pymod.tools.check import REPORT_KEYS
from tests.signing.keys import key_and_cert

REBUILD = ("built for %s (vermagic '%s'); the target is %s: rebuild it against that "
           "kernel's headers")


def _modinfo(path) -> dict[str, str]:
    first: dict[str, str] = {}
    for key, value in read_ko(str(path)).elf.modinfo():
        first.setdefault(key, value)
    return first


def _module(kernel, name: str) -> str:
    return next(str(f) for f in kernel.ko_files() if modname_of(str(f)) == name)


def _both(capsys, *args: str) -> tuple[int, list[dict], str]:
    rc = main(["check", "--json", *args])
    reports = json.loads(capsys.readouterr().out)
    assert main(["check", *args]) == rc
    return rc, reports, capsys.readouterr().out


def _tree_closure(kernel, names: list[str]) -> set[str]:
    """The modules of ``kernel``'s tree that ``names`` need, read here off
    each file's own ``depends``."""
    files = {modname_of(str(f)): f for f in kernel.ko_files()}
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in files and name not in found:
            found.add(name)
            todo += [d.replace("-", "_") for d in
                     _modinfo(files[name]).get("depends", "").split(",") if d]
    return found


@pytest.fixture(params=[True, False], ids=["6.1-on-6.12", "6.12-on-6.1"])
def older_module(request):
    return request.param


@pytest.fixture
def pair(older_module, debian_kernel_612, debian_kernel_61):
    """(the kernel a module was built for, the kernel it is checked against)."""
    if older_module:
        return debian_kernel_61, debian_kernel_612
    return debian_kernel_612, debian_kernel_61


@pytest.mark.real_kernel
def test_a_module_of_the_other_kernel_gets_a_rebuild_hint(capsys, older_module, pair):
    built, target = pair
    path = _module(built, "vxlan")
    rc, (r,), text = _both(capsys, "--kernel-dir", str(target.modules_dir), path)
    info = _modinfo(path)
    magic = info["vermagic"].strip()
    assert rc == 1 and not r["ok"] and r["errno"] == "ENOEXEC"
    assert magic.split()[0] == built.release != target.release
    assert r["hint"] == REBUILD % (built.release, magic, target.release)
    if not older_module:        # 6.1 compares module_layout's CRC first
        assert r["message"] == "vxlan: disagrees about version of symbol module_layout"
    body = text.splitlines()
    # the kernel's lines and insmod's, exactly as without a hint; then pymod's
    n = len(r["kernel_log"])
    assert n and body[1:1 + n] == ["    " + x["message"] for x in r["kernel_log"]]
    assert body[1 + n] == "    " + r["insmod"]
    assert body[2 + n] == "    pymod: " + r["hint"]
    assert not any(line.startswith("    pymod:") for line in body[:2 + n])


@pytest.mark.real_kernel
def test_the_dependencies_from_the_tree_are_named(capsys, pair):
    built, target = pair
    path = _module(built, "8021q")
    _, (r,), text = _both(capsys, "--kernel-dir", str(target.modules_dir), path)
    wanted = [d.replace("-", "_") for d in _modinfo(path)["depends"].split(",") if d]
    deps = r["tree_dependencies"]
    assert wanted and {d["name"] for d in deps} == _tree_closure(target, wanted)
    tree = str(target.modules_dir.resolve())
    assert all(d["file"].startswith(tree + "/") and d["errno"] is None for d in deps)
    assert "    with dependencies from the tree: %s\n" % ", ".join(d["name"] for d in deps) \
        in text


@pytest.mark.real_kernel
def test_a_module_of_the_same_kernel_gets_no_hint(capsys, debian_kernel):
    path = _module(debian_kernel, "vxlan")
    _, (r,), text = _both(capsys, "--kernel-dir", str(debian_kernel.modules_dir), path)
    assert r["ok"] and r["hint"] is None and "pymod:" not in text
    assert [d["name"] for d in r["tree_dependencies"]]      # its own tree's, named all the same


def test_a_refusal_of_a_matching_release_gets_no_rebuild_hint(capsys):
    # the sample's CRC disagrees, but it was built for this very release
    rc, (r,), text = _both(capsys, "--default-kernel", str(prebuilt_path("pm_crc_bad")))
    assert rc == 1 and "disagrees about version" in r["message"]
    assert r["hint"] is None and "    pymod:" not in text


def test_a_vermagic_refusal_names_both_vermagics(capsys):
    path = str(prebuilt_path("pm_badmagic"))
    _, (r,), text = _both(capsys, "--default-kernel", path)
    theirs = _modinfo(path)["vermagic"].strip()
    assert r["stage"] == "vermagic" and theirs in r["hint"] and "    pymod: " + r["hint"] in text
    assert r["kernel_log"][0]["message"].startswith("pm_badmagic: version magic ")


def test_dependencies_given_are_not_from_the_tree(capsys):
    files = [str(prebuilt_path(n)) for n in ("pm_importer", "pm_exporter")]
    _, reports, text = _both(capsys, "--default-kernel", *files)
    assert all(r["tree_dependencies"] == [] for r in reports)
    assert "from the tree" not in text


def test_every_outcome_has_the_same_keys_and_no_enodata(capsys, tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    from pymod.elf.signing import sign_module
    from tests.loader.support import sample_bytes

    key, cert = key_and_cert("rsa")
    signed = tmp_path / "pm_noinit.ko"
    signed.write_bytes(sign_module(sample_bytes("pm_noinit"), key, cert, "sha256"))
    trusted = tmp_path / "cert.der"
    trusted.write_bytes(cert.public_bytes(Encoding.DER))
    other = tmp_path / "other.der"
    other.write_bytes(key_and_cert("rsa", "another key")[1].public_bytes(Encoding.DER))
    files = [str(signed), str(prebuilt_path("pm_hello")), str(prebuilt_path("pm_wx")),
             str(tmp_path / "missing.ko")]
    seen = set()
    for cert_file in (trusted, other):
        _, reports, _ = _both(capsys, "--default-kernel", "--cert", str(cert_file), *files)
        for r in reports:
            assert tuple(r) == REPORT_KEYS
            assert r["signature"] != "ENODATA" and isinstance(r["tree_dependencies"], list)
            seen.add((r["ok"], r["signature"]))
    # verified, unsigned, signed by a key not trusted (loads tainted), refused
    assert {(True, "verified"), (True, "unsigned"), (True, "ENOKEY"), (False, None)} == seen


def test_a_directory_is_each_module_in_it(capsys, tmp_path):
    for name in ("pm_hello", "pm_noinit", "pm_wx"):
        shutil.copy(prebuilt_path(name), tmp_path)
    rc, reports, _ = _both(capsys, "--default-kernel", str(tmp_path))
    assert rc == 1
    assert [r["file"] for r in reports] == module_files(str(tmp_path))
    assert [r["ok"] for r in reports] == [True, True, False]


def test_no_progress_unless_stderr_is_a_terminal(capsys):
    assert main(["check", "--default-kernel", str(prebuilt_path("pm_noinit"))]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.slow
@pytest.mark.real_kernel
def test_progress_on_a_terminal_for_a_tree(capsys, monkeypatch, debian_kernel_612):
    tree = debian_kernel_612.modules_dir / "kernel" / "net"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    main(["check", "--json", "--kernel-dir", str(debian_kernel_612.modules_dir), str(tree)])
    out, err = capsys.readouterr()
    reports = json.loads(out)                   # stdout is the JSON alone
    assert len(reports) == len(module_files(str(tree))) >= 50
    assert "\rchecking 25/" in err and "\rchecking 50/" in err
    assert err.endswith("\r\033[K")             # the line is cleared at the end
