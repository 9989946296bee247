"""``pymod check --in-qemu``: the dry run's loads put to the target kernel
itself, side by side.  The parts without QEMU (insmod's syscall choice, the
side-by-side judgment) always run; the real boot needs QEMU and a cached
Debian kernel (``oracle`` and ``real_kernel`` marks)."""

from __future__ import annotations

import json
import lzma
import shutil

import pytest

from pymod.oracle.model import COMPRESSED_FILE, Answer
from pymod.samples import prebuilt_path
from pymod.tools import main
from pymod.tools.check_qemu import Call, _step, annotate


def test_insmod_passes_what_the_kernel_decompresses_and_decompresses_the_rest(tmp_path):
    from pymod import Kernel
    from pymod.tools.check_qemu import Recording, record_calls

    rec = Recording()
    record_calls(Kernel(), rec)
    assert rec.compression == "xz"            # the default kernel's MODULE_COMPRESS_XZ
    raw = prebuilt_path("pm_hello").read_bytes()
    xz = tmp_path / "m.ko.xz"
    xz.write_bytes(lzma.compress(raw, check=lzma.CHECK_CRC32))
    plain = tmp_path / "m.ko"
    plain.write_bytes(raw)
    decompressing, old = "xz", ""             # /sys/module/compression, or none
    s = _step(Call(str(xz), "a=1", 0), decompressing)
    assert (s.op, s.flags, s.params, s.image.data()) == ("finit", COMPRESSED_FILE, "a=1",
                                                         xz.read_bytes())
    s = _step(Call(str(xz), "", 0), old)
    assert (s.op, s.image.data()) == ("init", raw)
    s = _step(Call(str(plain), "", 2), old)
    assert (s.op, s.flags) == ("finit", 2)


def test_module_output_after_the_loader_is_not_a_difference():
    report = {"file": "m.ko", "undecided": [{"what": "init"}]}
    call = Call("m.ko", "", 0, 0, [("warn", "m: loading out-of-tree module taints kernel.")])
    said = Answer(0, [(4, "m: loading out-of-tree module taints kernel."), (6, "m: hello")])
    annotate([report], [call], [said])
    k = report["kernel"]
    assert k["differs"] == [] and k["module_log"] == [{"level": "info", "message": "m: hello"}]
    said = Answer(0, [(3, "m: loading out-of-tree module taints kernel.")])
    annotate([report], [call], [said])
    assert report["kernel"]["differs"] == ["levels"]
    init_failed = Answer(19, [(4, "m: loading out-of-tree module taints kernel.")])
    annotate([report], [call], [init_failed])
    assert report["kernel"]["differs"] == [] and report["kernel"]["decided_by_module_code"]


@pytest.mark.oracle
@pytest.mark.real_kernel
@pytest.mark.slow
def test_check_in_qemu_on_the_real_6_1_kernel(debian_kernel_61, debian_kernel_612, capsys):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not installed")
    mine = str(debian_kernel_61.modules_dir / "kernel" / "drivers" / "net" / "dummy.ko")
    foreign = next(str(p) for p in debian_kernel_612.ko_files() if p.name.startswith("veth."))
    rc = main(["check", "--kernel-dir", str(debian_kernel_61.modules_dir), "--in-qemu",
               "--json", mine, foreign])
    reports = json.loads(capsys.readouterr().out)
    assert rc == 1
    by_file = {r["file"]: r for r in reports}
    assert by_file[mine]["ok"] and by_file[mine]["kernel"]["ok"]
    assert by_file[foreign]["kernel"]["errno"] == "ENOEXEC" == by_file[foreign]["errno"]
    assert by_file[foreign]["kernel"]["kernel_log"][0]["message"] == \
        "veth: disagrees about version of symbol module_layout"
    assert all(r["kernel"]["differs"] == [] for r in reports)
