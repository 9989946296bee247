"""``pymod check``: a verdict per module, every failed symbol, JSON, exit
status; against the built-in kernel here, real kernels in tests/real."""

from __future__ import annotations

import json

from pymod.samples import prebuilt_path
from pymod.tools import main


def run(capsys, *args: str) -> tuple[int, list[dict]]:
    rc = main(["check", "--json", *args])
    return rc, json.loads(capsys.readouterr().out)


def test_every_failed_symbol_is_listed(capsys):
    rc, reports = run(capsys, "--default-kernel", str(prebuilt_path("pm_importer")))
    assert rc == 1 and len(reports) == 1
    r = reports[0]
    assert (r["name"], r["ok"], r["errno"], r["stage"]) == ("pm_importer", False, "ENOENT",
                                                            "symbols")
    assert {u["symbol"] for u in r["unresolved"]} == {"pm_shared_fn", "pm_gpl_fn", "pm_ns_fn"}
    assert r["message"] == r["unresolved"][-1]["message"]      # the kernel returns the last
    assert r["insmod"].endswith("pm_importer.ko: Unknown symbol in module")


def test_dependencies_among_the_files_load_first(capsys):
    files = [str(prebuilt_path(n)) for n in ("pm_importer", "pm_exporter", "pm_outoftree")]
    rc, reports = run(capsys, "--default-kernel", *files)
    assert rc == 0 and [r["ok"] for r in reports] == [True, True, True]
    assert [r["file"] for r in reports] == files               # reported in the order given
    assert reports[2]["taints"] == "OE" and reports[2]["signature"] == "unsigned"


def test_each_kind_of_refusal(capsys):
    want = {"pm_crc_bad": ("EINVAL", "pm_crc_bad: disagrees about version of symbol _printk"),
            "pm_wx": ("ENOEXEC", None), "pm_badmagic": ("ENOEXEC", None)}
    rc, reports = run(capsys, "--default-kernel", *(str(prebuilt_path(n)) for n in want))
    assert rc == 1
    for r, (name, (code, message)) in zip(reports, want.items(), strict=True):
        assert (r["name"], r["ok"], r["errno"]) == (name, False, code)
        assert message is None or r["message"] == message


def test_text_output_and_usage_errors(capsys, tmp_path):
    assert main(["check", "--default-kernel", str(prebuilt_path("pm_hello"))]) == 0
    assert capsys.readouterr().out.endswith("pm_hello.ko: LOADS (taints E), if module code "
                                            "agrees: init_module runs the module's own code\n")
    assert main(["check", "--default-kernel", str(prebuilt_path("pm_noinit"))]) == 0
    assert capsys.readouterr().out.endswith("pm_noinit.ko: loads (taints E)\n")  # no init
    assert main(["check", "--default-kernel", "--sig-enforce",
                 str(prebuilt_path("pm_badmagic"))]) == 1
    assert capsys.readouterr().out.endswith(": Key was rejected by service\n")
    assert main(["check", "--kernel-dir", str(tmp_path / "nowhere"), "x.ko"]) == 2
    assert "not a modules tree" in capsys.readouterr().err


def test_an_unreadable_file_never_reaches_the_kernel(capsys, tmp_path):
    rc, reports = run(capsys, "--default-kernel", str(tmp_path / "missing.ko"))
    assert rc == 1 and reports[0]["errno"] == "ENOENT" and reports[0]["stage"] == "read"
    assert reports[0]["insmod"].endswith("could not load module %s: No such file or directory"
                                         % (tmp_path / "missing.ko"))


def test_what_module_code_decides_is_named(capsys):
    rc, reports = run(capsys, "--default-kernel", str(prebuilt_path("pm_noinit")),
                      str(prebuilt_path("pm_hello")), str(prebuilt_path("pm_missing")))
    assert rc == 1
    noinit, hello, missing = reports
    assert noinit["ok"] and noinit["undecided"] == []
    assert hello["ok"] and hello["undecided"] == [
        {"what": "init", "name": "init_module", "ops": None,
         "detail": "init_module runs the module's own code"}]
    assert not missing["ok"] and missing["undecided"] == []   # refused before any module code


def test_a_kernel_dir_is_not_walked_whole_for_one_fact(capsys, tmp_path, monkeypatch):
    # sizeof(struct module) is the same in every module of a tree: check
    # reads it off the first module the walk meets.  A module without
    # dependencies then lists three directories of a 300-directory tree
    # (root, kernel/, the first subdirectory), whatever the readdir order.
    import pymod.kmod.tree as tree_mod

    tree = tmp_path / "lib" / "modules" / "6.1.0-test"
    for i in range(300):
        (tree / "kernel" / ("d%03d" % i)).mkdir(parents=True)
        (tree / "kernel" / ("d%03d" % i) / ("m%03d.ko" % i)).symlink_to(prebuilt_path("pm_hello"))
    config = tmp_path / "config"
    config.write_text("#\n# Linux/x86 6.1.0 Kernel Configuration\n#\nCONFIG_MODULES=y\n")
    listed = []
    real = tree_mod._listing

    def counting(top, seen):
        listed.append(top)
        return real(top, seen)

    monkeypatch.setattr(tree_mod, "_listing", counting)
    symvers = prebuilt_path("pm_hello").parent.parent / "default.symvers"
    rc, reports = run(capsys, "--kernel-dir", str(tree), "--config", str(config),
                      "--symvers", str(symvers), str(prebuilt_path("pm_hello")))
    assert len(reports) == 1 and reports[0]["name"] == "pm_hello"
    assert len(listed) == 3, listed[:5]
