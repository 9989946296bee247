"""``pymod check`` prints the kernel's own lines of a refused load, exactly:
the same lines, at the same levels, that a kernel logs loading that file
(never pymod's paraphrase of them), and says so when the kernel prints
nothing."""

from __future__ import annotations

import errno
import json
import struct

import pytest

from pymod import Kernel, ModuleLoadError
from pymod.samples import prebuilt_path
from pymod.tools import main
from tests.loader.support import sample_bytes
from tests.signing.der import Signer, signed_data, with_signature
from tests.signing.keys import key_and_cert

PARAMS_LINE = "module: PKCS#7 signature info has unexpected non-zero params"


def _nonzero_params(tmp_path) -> str:
    """A trailer whose algo byte is set: mod_check_sig's EBADMSG with its line."""
    f = tmp_path / "pm_params.ko"
    f.write_bytes(sample_bytes("pm_hello") + b"\x30\x00" + struct.pack(">BBBBB3xI", 1, 0, 2, 0,
                                                                        0, 2)
                  + b"~Module signature appended~\n")
    return str(f)


def _empty_key_id(tmp_path) -> str:
    """A version 3 signer named by issuer and serial: its key id is empty and
    the key search refuses it (EINVAL) without a line."""
    key, cert = key_and_cert("rsa")
    der = signed_data(sample_bytes("pm_hello"), [Signer(key, cert, version=3)], b"\x03")
    f = tmp_path / "pm_kid.ko"
    f.write_bytes(with_signature(sample_bytes("pm_hello"), der))
    return str(f)


def _direct(path: str, **kw) -> tuple[ModuleLoadError, list[tuple[str, str]]]:
    """The error and the log of the same file loaded into a fresh kernel."""
    k = Kernel(**kw)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(path)
    return ei.value, k.log.lines


def _check(capsys, *args: str) -> tuple[list[dict], str]:
    main(["check", "--json", "--default-kernel", *args])
    reports = json.loads(capsys.readouterr().out)
    main(["check", "--default-kernel", *args])
    return reports, capsys.readouterr().out


@pytest.mark.parametrize("name", ["pm_importer", "pm_crc_bad", "pm_wx", "pm_badmagic", "params"])
def test_the_lines_are_the_kernels(name, capsys, tmp_path):
    path = _nonzero_params(tmp_path) if name == "params" else str(prebuilt_path(name))
    e, lines = _direct(path)
    (report,), text = _check(capsys, path)
    assert lines and report["kernel_log"] == [{"level": lv, "message": m} for lv, m in lines]
    assert report["message"] in [m for _, m in lines]
    assert report["detail"] == e.strerror and report["errno"] == errno.errorcode[e.errno]
    body = text.splitlines()
    assert body[0] == "%s: REFUSED [%s]" % (path, report["errno"])
    assert body[1:1 + len(lines)] == ["    " + m for _, m in lines]
    assert body[1 + len(lines)].startswith("    insmod: ERROR: could not insert module ")


def test_non_zero_signature_params_print_the_kernels_line(capsys, tmp_path):
    path = _nonzero_params(tmp_path)
    (report,), text = _check(capsys, path)
    assert (report["errno"], report["message"]) == ("EBADMSG", PARAMS_LINE)
    assert report["kernel_log"] == [{"level": "err", "message": PARAMS_LINE}]
    assert "    %s\n" % PARAMS_LINE in text and "malformed" not in text


def test_every_unknown_symbol_line_is_printed(capsys):
    (report,), text = _check(capsys, str(prebuilt_path("pm_importer")))
    assert [m for m in (x["message"] for x in report["kernel_log"]) if "Unknown symbol" in m] \
        == [u["message"] for u in report["unresolved"]]
    assert report["message"] == report["unresolved"][-1]["message"]
    for u in report["unresolved"]:
        assert text.count("    %s\n" % u["message"]) == 1


def test_a_silent_refusal_says_the_kernel_prints_nothing(capsys, tmp_path):
    path = _empty_key_id(tmp_path)
    e, lines = _direct(path)
    assert e.errno == errno.EINVAL and not [m for _, m in lines if "PKCS" in m]
    (report,), text = _check(capsys, path)
    assert report["errno"] == "EINVAL" and report["kernel_log"] == [] \
        and report["message"] is None
    assert text.splitlines()[0] == "%s: REFUSED [EINVAL] (no kernel message: %s)" % (
        path, e.strerror)


def test_enforcement_prints_its_notice(capsys):
    path = str(prebuilt_path("pm_hello"))
    main(["check", "--default-kernel", "--sig-enforce", path])
    assert capsys.readouterr().out.splitlines()[:2] == [
        "%s: REFUSED [EKEYREJECTED]" % path, "    Loading of unsigned module is rejected"]
