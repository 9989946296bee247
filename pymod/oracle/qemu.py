"""Booting a Debian kernel in QEMU and collecting the guest's answers.

The kernel is booted as the uncompressed ``vmlinux`` through its PVH entry
(``-kernel vmlinux``): no decompressor and no KASLR, about 2-3 s to
``/init`` under TCG.  KVM is tried once per process and used when a real
kernel boots with it (``/dev/kvm`` can exist and still fail with nested
virtualisation); :data:`ACCEL_NOTE` says which was used and why.

Console (``ttyS0``) goes to one file, the helper's results (``ttyS1``) to
another.  A guest that dies (``oops=panic panic=-1 -no-reboot``) or stops
answering is booted again after the case it died in, which is reported with
the console's tail.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pymod.errors import PymodError
from pymod.oracle import guest
from pymod.oracle.model import Answer, Case, Outcome

QEMU = "qemu-system-x86_64"
MEMORY_MB = 1024
STALL_SECONDS = 20.0          # no answer for this long: the guest is stuck
#: Which accelerator this process's guests use, and why (set by :func:`pick_accel`).
ACCEL_NOTE = ""


def need_qemu() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise PymodError(errno.ENOENT, "%s not found (apt-get install qemu-system-x86 "
                         "busybox-static)" % QEMU)
    return path


def vmlinux_of(vmlinuz: Path, cache: Path) -> Path:
    """The kernel ELF inside a bzImage, extracted once into ``cache``."""
    from pymod.elf.compression import read_file
    from pymod.elf.vmlinuz import MAX_VMLINUZ, decompress_payload, kernel_payload

    st = vmlinuz.stat()
    out = cache / ("vmlinux-%s-%d-%d" % (vmlinuz.name, st.st_size, int(st.st_mtime)))
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        kind, payload = kernel_payload(read_file(str(vmlinuz), MAX_VMLINUZ))
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(decompress_payload(kind, payload))
        tmp.rename(out)
    return out


def _command(vmlinux: Path, initrd: Path, console: Path, results: Path, append: str,
             accel: str) -> list[str]:
    return [need_qemu(), "-accel", accel, "-cpu", "max" if accel == "tcg" else "host",
            "-m", str(MEMORY_MB), "-smp", "1", "-kernel", str(vmlinux), "-initrd", str(initrd),
            "-append", append, "-nographic", "-no-reboot", "-monitor", "none",
            "-serial", "file:%s" % console, "-serial", "file:%s" % results]


_ACCEL: str | None = None


def pick_accel(vmlinux: Path, helper: Path) -> str:
    """``kvm`` when a real kernel boots with it here, else ``tcg``."""
    global _ACCEL, ACCEL_NOTE
    if _ACCEL is not None:
        return _ACCEL
    _ACCEL, ACCEL_NOTE = "tcg", "TCG (no /dev/kvm)"
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        with tempfile.TemporaryDirectory(prefix="pm-kvm-") as d:
            tmp = Path(d)
            (tmp / "initrd").write_bytes(guest.initramfs(helper, []))
            cmd = _command(vmlinux, tmp / "initrd", tmp / "con", tmp / "res",
                           "console=ttyS0 panic=-1 quiet", "kvm")
            try:
                r = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
                ok = r.returncode == 0 and b"Z" in (tmp / "res").read_bytes()
                why = r.stderr.decode(errors="replace").strip().splitlines()[-1:]
            except (subprocess.TimeoutExpired, OSError) as e:
                ok, why = False, [str(e)]
            if ok:
                _ACCEL, ACCEL_NOTE = "kvm", "KVM"
            else:
                ACCEL_NOTE = "TCG (/dev/kvm fails with a real kernel: %s)" % (
                    why[0] if why else "no answer")
    return _ACCEL


@dataclass
class GuestRun:
    """What the guest said: an outcome per case id and the boots (the first
    case id of each, so a replay can start a fresh kernel at the same ids)."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    boots: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _parse(text: str, run: GuestRun) -> tuple[int | None, bool]:
    """Fold the results stream into ``run``; returns (the case begun but not
    finished, whether the guest reached the end)."""
    current: Answer | None = None
    open_case: int | None = None
    done = False
    # "\n" only: a mutated module's name may hold bytes str.splitlines and
    # str.split take for line or field breaks (\x1c-\x1f, \x85)
    for line in text.split("\n"):
        kind, _, rest = line.partition(" ")
        if kind == "B":
            open_case = int(rest)
            run.outcomes[open_case] = Outcome()
        elif kind == "R" and open_case is not None:
            _cid, _step, _ret, err = rest.split(" ")
            current = Answer(int(err))
            run.outcomes[open_case].steps.append(current)
        elif kind == "X" and open_case is not None:
            _cid, name, _ret, err = rest.split(" ")
            current = Answer(int(err))
            run.outcomes[open_case].cleanup.append((name, current))
        elif kind == "K" and current is not None:
            level, _, msg = rest.partition(" ")
            current.lines.append((int(level), msg))
        elif kind == "T" and open_case is not None:
            run.outcomes[open_case].taint = int(rest.split(" ")[1])
            open_case, current = None, None
        elif kind == "Z":
            done = True
        elif kind == "F":
            raise PymodError(errno.EIO, "the guest's helper failed: %s" % rest)
    return open_case, done


def run_cases(vmlinuz: Path, cases: Sequence[Case], cache: Path, enforce: bool = False,
              progress: Callable[[int, int], None] | None = None) -> GuestRun:
    """Ask the kernel of ``vmlinuz`` every case, booting again after a death."""
    helper = guest.build_helper(cache)
    vmlinux = vmlinux_of(vmlinuz, cache)
    accel = pick_accel(vmlinux, helper)
    run = GuestRun()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pm-oracle-") as d:
        tmp = Path(d)
        initrd = tmp / "initrd"
        initrd.write_bytes(guest.initramfs(helper, cases))
        start = 0
        while start < len(cases):
            run.boots.append(start)
            append = "console=ttyS0 oops=panic panic=-1 quiet pmstart=%d" % start
            if enforce:
                append += " module.sig_enforce=1"
            console, results = tmp / ("con%d" % start), tmp / ("res%d" % start)
            text, console_tail = _boot(_command(vmlinux, initrd, console, results, append,
                                                accel), results, console, progress, start,
                                       len(cases))
            open_case, done = _parse(text, run)
            if done:
                break
            died = open_case if open_case is not None else start
            run.outcomes.setdefault(died, Outcome()).died = console_tail
            start = died + 1
    run.seconds = time.monotonic() - t0
    return run


def _boot(cmd: list[str], results: Path, console: Path,
          progress: Callable[[int, int], None] | None, start: int, total: int
          ) -> tuple[str, str]:
    """One guest, until it powers off, dies or stalls: (results, console tail)."""
    results.write_bytes(b"")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    size, last_change = 0, time.monotonic()
    while proc.poll() is None:
        time.sleep(0.25)
        now = results.stat().st_size
        if now != size:
            size, last_change = now, time.monotonic()
            if progress is not None:
                progress(_last_case(results) or start, total)
        elif time.monotonic() - last_change > STALL_SECONDS:
            proc.kill()
            proc.wait()
            with console.open("a") as f:
                f.write("\n[oracle: no answer for %.0f s; guest killed]\n" % STALL_SECONDS)
            break
    return results.read_bytes().decode("utf-8", "surrogateescape"), _tail(console)


def _tail(console: Path, lines: int = 60, limit: int = 64 << 10) -> str:
    """The console's last ``lines`` lines, reading at most its last
    ``limit`` bytes (a printk storm can make the file large)."""
    if not console.exists():
        return ""
    with console.open("rb") as f:
        f.seek(max(0, console.stat().st_size - limit))
        return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])


_BEGUN = re.compile(rb"B (\d{1,9})")      # a result line: case N begun


def _last_case(results: Path) -> int | None:
    """The last case the guest began, for progress.  The guest is writing
    while this reads: a line is trusted only once its newline has arrived."""
    with results.open("rb") as f:
        f.seek(max(0, results.stat().st_size - 4096))
        complete = f.read().rpartition(b"\n")[0]
    for line in reversed(complete.split(b"\n")):
        m = _BEGUN.fullmatch(line)
        if m is not None:
            return int(m.group(1))
    return None
