"""Collecting the suite stays cheap: no test file imports pandas (or Dask)
at module level, so ``pytest -m "not slow"`` starts in seconds; the tests
that need them import them when they run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import sys
import pytest
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[1]])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "dask", "distributed"))
print("HEAVY:", " ".join(heavy))
sys.exit(int(code))
"""


@pytest.mark.slow
def test_collection_imports_no_pandas():
    p = subprocess.run([sys.executable, "-c", _PROBE, str(ROOT / "tests")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    heavy = p.stdout.rsplit("HEAVY:", 1)[1].split()
    assert heavy == [], heavy
