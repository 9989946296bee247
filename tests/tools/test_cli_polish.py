"""The command line's polish (issue 17 §4): ``certs`` spells keys as
modinfo does, ``verify`` names the key it could not find, ``--version``,
"did you mean", help texts, and one JSON shape."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pymod.tools import main
from tests.hostile.test_vmlinuz_bombs import compress
from tests.signing.der import Signer, signed_data, with_signature
from tests.signing.keys import key_and_cert
from tests.signing.test_tools import _bzimage

HELLO_SIGNED_BY = "pymod polish key"


def _vmlinuz(tmp_path, *certs) -> str:
    payload = b"\x7fELF" + b"\0" * 64 + b"".join(
        c.public_bytes(serialization.Encoding.DER) + b"\0" * 32 for c in certs)
    path = tmp_path / "vmlinuz"
    path.write_bytes(_bzimage(compress("gzip", payload)))
    return str(path)


def _signed_hello(tmp_path, signer: Signer, version: bytes = b"\x01", name: str = "m.ko"):
    from tests.loader.support import sample_bytes

    hello = sample_bytes("pm_hello")
    path = tmp_path / name
    path.write_bytes(with_signature(hello, signed_data(hello, [signer], version)))
    return str(path)


def _json(capsys, *argv: str):
    rc = main(list(argv))
    return rc, json.loads(capsys.readouterr().out)


def test_certs_spells_the_serial_as_modinfo_spells_sig_key(tmp_path, capsys):
    key, cert = key_and_cert("rsa", HELLO_SIGNED_BY, skid=True)
    ko = _signed_hello(tmp_path, Signer(key, cert))
    rc, rows = _json(capsys, "certs", "--json", _vmlinuz(tmp_path, cert))
    assert rc == 0
    (row,) = rows
    rc, (info,) = _json(capsys, "info", "--json", "-F", "sig_key", ko)
    assert rc == 0 and row["serial"] == info["sig_key"]
    assert row["serial"] == ":".join("%02X" % b for b in
                                     cert.serial_number.to_bytes(20, "big").lstrip(b"\0"))
    ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert row["skid"] == ext.digest.hex(":").upper()
    der = cert.public_bytes(serialization.Encoding.DER)
    assert row["sha256_fingerprint"] == hashlib.sha256(der).digest().hex(":").upper()
    assert (row["not_before"], row["not_after"]) == ("2026-01-01T00:00:00+00:00",
                                                     "2035-12-30T00:00:00+00:00")
    assert main(["certs", _vmlinuz(tmp_path, cert)]) == 0
    text = capsys.readouterr().out
    for label, value in (("serial:", row["serial"]), ("SKID:", row["skid"]),
                         ("SHA-256 fingerprint:", row["sha256_fingerprint"]),
                         ("not after:", row["not_after"])):
        assert any(ln.split() == label.split() + [value] for ln in text.splitlines()), label


def test_a_certificate_without_skid_says_none(tmp_path, capsys):
    _, cert = key_and_cert("ec256")
    rc, (row,) = _json(capsys, "certs", "--json", _vmlinuz(tmp_path, cert))
    assert rc == 0 and row["skid"] is None
    main(["certs", _vmlinuz(tmp_path, cert)])
    assert "SKID" not in capsys.readouterr().out


@pytest.mark.real_kernel
def test_certs_of_a_debian_kernel_match_its_modules_sig_key(debian_kernel, capsys):
    vmlinuz = debian_kernel.root / "boot" / ("vmlinuz-" + debian_kernel.release)
    rc, rows = _json(capsys, "certs", "--json", str(vmlinuz))
    assert rc == 0
    ko = next(p for p in debian_kernel.ko_files() if "/net/" in str(p))
    rc, (info,) = _json(capsys, "info", "--json", "-F", "sig_key", str(ko))
    assert info["sig_key"] in [r["serial"] for r in rows]


def test_verify_names_the_issuer_and_serial_a_signature_asks_for(tmp_path, capsys):
    key, cert = key_and_cert("rsa", HELLO_SIGNED_BY, skid=True)
    _, other = key_and_cert("ec256")
    ko = _signed_hello(tmp_path, Signer(key, cert))
    other_file = tmp_path / "other.der"
    other_file.write_bytes(other.public_bytes(serialization.Encoding.DER))
    rc, (cert_row,) = _json(capsys, "certs", "--json", _vmlinuz(tmp_path, cert))
    rc, (row,) = _json(capsys, "verify", "--json", "--cert", str(other_file), ko)
    assert rc == 1 and row["errno"] == "ENOKEY"
    assert row["wanted_keys"] == [{"issuer": cert_row["issuer"], "serial": cert_row["serial"]}]
    assert main(["verify", "--cert", str(other_file), ko]) == 1
    assert capsys.readouterr().out == (
        '%s: no trusted key: the signature asks for issuer "%s" serial %s\n'
        % (ko, cert_row["issuer"], cert_row["serial"]))
    # the right key: verified, and nothing is asked for
    good = tmp_path / "good.der"
    good.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    rc, (row,) = _json(capsys, "verify", "--json", "--cert", str(good), ko)
    assert rc == 0 and row["wanted_keys"] == [] and row["errno"] is None


def test_verify_names_the_skid_a_version_3_signer_asks_for(tmp_path, capsys):
    key, cert = key_and_cert("rsa", HELLO_SIGNED_BY, skid=True)
    _, other = key_and_cert("ec256")
    ko = _signed_hello(tmp_path, Signer(key, cert, version=3, sid="skid"), b"\x03")
    other_file = tmp_path / "other.der"
    other_file.write_bytes(other.public_bytes(serialization.Encoding.DER))
    rc, (cert_row,) = _json(capsys, "certs", "--json", _vmlinuz(tmp_path, cert))
    rc, (row,) = _json(capsys, "verify", "--json", "--cert", str(other_file), ko)
    assert rc == 1 and row["wanted_keys"] == [{"skid": cert_row["skid"]}]
    assert row["message"].endswith("asks for SKID %s" % cert_row["skid"])


def test_verify_records_have_the_same_keys_for_every_outcome(tmp_path, capsys):
    from pymod.samples import prebuilt_path

    key, cert = key_and_cert("rsa", HELLO_SIGNED_BY, skid=True)
    ko = _signed_hello(tmp_path, Signer(key, cert))
    good = tmp_path / "good.der"
    good.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    rc, rows = _json(capsys, "verify", "--json", "--cert", str(good), ko,
                     str(prebuilt_path("pm_hello")), str(tmp_path / "missing.ko"))
    assert rc == 1
    assert [r["errno"] for r in rows] == [None, "ENODATA", "ENOENT"]
    assert len({tuple(r) for r in rows}) == 1


def test_version(capsys):
    from pymod import __version__

    for flag in ("--version", "-V"):
        assert main([flag]) == 0
        assert capsys.readouterr().out == "pymod %s\n" % __version__


@pytest.mark.parametrize("typed,meant", [("lod", "load"), ("symbolise", "symbolize"),
                                         ("chek", "check"), ("verfy", "verify"),
                                         ("modinfo", "info"), ("depmod", "deps")])
def test_a_mistyped_command_gets_the_nearest_one(capsys, typed, meant):
    assert main([typed]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "pymod: unknown command %r; did you mean %r?" % (typed, meant)


def test_a_command_nothing_is_near_gets_no_guess(capsys):
    assert main(["xyzzy"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "pymod: unknown command 'xyzzy'" and "usage:" in err


def _parser_of(command: str, monkeypatch, capsys):
    """The ArgumentParser ``pymod COMMAND --help`` prints, and its text."""
    import argparse

    seen = []
    original = argparse.ArgumentParser.print_help

    def record(self, file=None):
        seen.append(self)
        original(self, file)

    monkeypatch.setattr(argparse.ArgumentParser, "print_help", record)
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    return seen[-1], capsys.readouterr().out


@pytest.mark.parametrize("command", ["info", "deps", "load", "demo", "symbolize", "sign",
                                     "certs", "verify", "check", "posture"])
def test_help_is_plain_text_and_describes_every_option(command, monkeypatch, capsys):
    import argparse
    import re

    parser, text = _parser_of(command, monkeypatch, capsys)
    assert not re.search(r"``|:[a-z]+:`|`[^`\s][^`]*`", text), text
    description = parser.description or ""
    assert description.rstrip().endswith((".", "?")), description      # a whole sentence
    assert description[:1].isupper()
    undescribed = [a.option_strings or [a.dest] for a in parser._actions
                   if not a.help or a.help == argparse.SUPPRESS]
    assert undescribed == []


def test_plain_text_drops_rest_markup():
    from pymod.tools.common import help_text, plain_text

    assert plain_text(":func:`~pymod.elf.sigverify.verify_pkcs7_module` and "
                      ":class:`pymod.Kernel`, ``-o DIR``, `x`, :doc:`the page <check>`") == (
        "verify_pkcs7_module and pymod.Kernel, -o DIR, x, the page")
    assert help_text('"""``pymod x``: does one thing\n    over two lines.\n\nMore."""'
                     .strip('"')) == "Does one thing over two lines."


def _prebuilt(*names: str) -> list[str]:
    from pymod.samples import prebuilt_path

    return [str(prebuilt_path(n)) for n in names]


def test_every_command_prints_a_list_of_records(tmp_path, capsys):
    """One JSON shape (docs/cli/json.rst): a list of objects; symbolize, a
    stream, prints JSON Lines, one object a line."""
    key, cert = key_and_cert("rsa", HELLO_SIGNED_BY, skid=True)
    good = tmp_path / "good.der"
    good.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    hello, wx = _prebuilt("pm_hello", "pm_wx")
    for argv in (["info", "--json", hello, wx], ["check", "--json", "--default-kernel", hello, wx],
                 ["verify", "--json", "--cert", str(good), hello],
                 ["load", "--json", hello, wx], ["posture", "--json"],
                 ["certs", "--json", _vmlinuz(tmp_path, cert)]):
        main(argv)
        records = json.loads(capsys.readouterr().out)
        assert isinstance(records, list) and records, argv
        assert all(isinstance(r, dict) for r in records), argv
    fixtures = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"
    main(["symbolize", "--json", "--kallsyms", str(fixtures / "kallsyms"), "--modules",
          str(fixtures / "modules"), str(fixtures / "oops.txt")])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 1 and all(isinstance(json.loads(ln), dict) for ln in lines)


def test_load_records_say_what_they_are(capsys):
    exporter, importer, wx = _prebuilt("pm_exporter", "pm_importer", "pm_wx")
    assert main(["load", "--json", importer, exporter, wx]) == 1
    records = json.loads(capsys.readouterr().out)
    assert [(r["record"], r.get("name") or r.get("module")) for r in records] == [
        ("module", "pm_importer"), ("module", "pm_exporter"), ("failure", "pm_wx"),
        ("kernel", None)]
    kernel = records[-1]
    assert kernel["proc_modules"].splitlines()[0].startswith("pm_importer ")
    assert kernel["tainted"] == "E" and kernel["notices"] == []


def test_posture_records_are_in_the_tables_order(capsys):
    assert main(["posture", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert main(["posture"]) == 0
    table = capsys.readouterr().out.splitlines()[1:]
    assert [r["name"] for r in records] == [ln[:len(r["name"])] for ln, r in
                                            zip(table, records, strict=True)]


def test_info_json_unwraps_kmods_hex_lines_only(tmp_path, capsysbinary):
    key, cert = key_and_cert("rsa", HELLO_SIGNED_BY, skid=True)
    ko = _signed_hello(tmp_path, Signer(key, cert))
    assert main(["info", "-F", "signature", ko]) == 0
    text = capsysbinary.readouterr().out.decode()
    assert "\n\t\t" in text                                  # kmod's layout, kept in text
    assert main(["info", "--json", ko]) == 0
    (obj,) = json.loads(capsysbinary.readouterr().out)
    assert obj["signature"] == text.rstrip("\n").replace("\n\t\t", "")
    assert "\n" not in obj["signature"] and "\n" not in obj["sig_key"]


def test_a_modules_own_newlines_stay_in_json():
    from pymod.tools.info import _json_value

    own = "passthrough:Option to specify:\n 0 - hide\n\t\tcontinued"
    assert _json_value("parm", own) == own
    assert _json_value("signature", "AB:\n\t\tnot hex") == "AB:\n\t\tnot hex"
    assert _json_value("signature", "AB:CD:\n\t\tEF") == "AB:CD:EF"


def test_check_reports_have_the_same_keys_for_every_verdict(capsys):
    from pymod.tools.check import REPORT_KEYS

    hello, wx, importer = _prebuilt("pm_hello", "pm_wx", "pm_importer")
    rc, reports = _json(capsys, "check", "--json", "--default-kernel", hello, wx, importer)
    assert rc == 1 and [r["ok"] for r in reports] == [True, False, False]
    assert all(tuple(r) == REPORT_KEYS for r in reports)
    assert reports[0]["signature"] == "unsigned" and reports[0]["insmod"] is None
    assert reports[1]["signature"] is None and reports[1]["kernel_log"]
    assert main(["check", "--default-kernel", hello]) == 0     # text output takes null logs
    assert capsys.readouterr().out.startswith(hello + ": LOADS")


def test_a_manual_page_per_command_from_the_same_pages():
    """docs/conf.py's man_pages: pymod(1) and pymod-CMD(1) for every
    command, each from that command's own page (built by .ci's Sphinx run:
    ``python -m sphinx -W -b man docs DIR``)."""
    import runpy
    from pathlib import Path

    from pymod.tools import COMMANDS

    docs = Path(__file__).resolve().parents[2] / "docs"
    conf = runpy.run_path(str(docs / "conf.py"))
    pages = {name: (source, section) for source, name, _, _, section in conf["man_pages"]}
    assert set(pages) == {"pymod"} | {"pymod-" + c for c in COMMANDS}
    for name, (source, section) in pages.items():
        assert section == 1 and (docs / (source + ".rst")).is_file(), name
    assert pages["pymod-info"][0] == "cli/info" and pages["pymod"][0] == "cli/index"
