"""The public API reaches type checkers with its real types: a script that
uses ``pymod`` wrongly fails ``mypy --strict``, the same script used rightly
passes; and the cffi libraries' stubs are the ones their cdefs give."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RIGHT = """
    import pymod

    k = pymod.Kernel(pymod.Config())
    m = k.find(0xffffffffc0000000)
    text: str = k.proc_modules()
    s = pymod.Symbolizer.from_kallsyms("kallsyms")
    got = s.symbolize(0xffffffff81000000)
    name = got.name if got is not None else ""
    t = pymod.ModTree()
    owner = t.find(0x1000)
    flags: int = pymod.MODULE_INIT_IGNORE_VERMAGIC
"""

# Each line is one misuse that mypy must refuse on its own.
WRONG = [
    ("k = pymod.Kernel(pymod.Config())\nk.load_modul('x.ko')", "has no attribute \"load_modul\""),
    ("pymod.Symbolizer.from_kallsyms('k').symbolize('0x10')", "incompatible type \"str\""),
    ("n: str = pymod.ModTree().find(1)", "Incompatible types in assignment"),
    ("x: str = pymod.MODULE_INIT_COMPRESSED_FILE", "Incompatible types in assignment"),
]


def _mypy(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "use_pymod.py"
    script.write_text(textwrap.dedent(body))
    # An editable install is an import hook mypy does not follow: the
    # source tree is named as the place of ``pymod``.
    env = dict(os.environ, MYPYPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--follow-imports=silent", str(script)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)


@pytest.mark.slow
def test_the_api_used_rightly_passes_mypy(tmp_path):
    p = _mypy(tmp_path, RIGHT)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("body,expected", WRONG, ids=[e for _, e in WRONG])
def test_the_api_used_wrongly_fails_mypy(tmp_path, body, expected):
    p = _mypy(tmp_path, "import pymod\n" + body + "\n")
    assert p.returncode == 1 and expected in p.stdout, p.stdout + p.stderr


def test_cffi_stubs_are_current():
    p = subprocess.run([sys.executable, "-m", "cffi_build.stubs", "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
