"""The house caps, everywhere in the repository: a file holds at most 400
lines and a function at most 60 (from its first decorator or signature line
to its last line), in Python and in C, in the package and outside it
(tests, benchmarks, devtools, the cffi builds, the C sources)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACES = ("pymod", "tests", "bench", "devtools", "cffi_build", "csrc", "setup.py")
FILE_CAP, FUNCTION_CAP = 400, 60
_SKIP = {"__pycache__", "_build", "build", ".eggs"}


def _files(suffixes: set[str]) -> Iterator[Path]:
    for place in PLACES:
        top = ROOT / place
        found = [top] if top.is_file() else sorted(top.rglob("*"))
        for f in found:
            if f.suffix in suffixes and f.is_file() and not _SKIP & set(f.parts):
                yield f


def _python_functions(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            yield node.name, (node.end_lineno or node.lineno) - first + 1


# A C function's body opens with "{" alone in column 0 and closes with "}"
# alone in column 0 (the kernel style the C sources follow); its signature
# is the run of lines just above the "{".
_SIGNATURE_END = re.compile(r"^(?!\s|#|/\*|\*|}).*\)\s*$")


def _c_functions(path: Path) -> Iterator[tuple[str, int]]:
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line != "{" or i == 0 or not _SIGNATURE_END.match(lines[i - 1]):
            continue
        start = i - 1
        while start > 0 and lines[start - 1].strip() and not lines[start - 1].rstrip().endswith(
                (";", "*/", "}")) and not lines[start - 1].startswith("#"):
            start -= 1
        end = next((k for k in range(i, len(lines)) if lines[k] == "}"), len(lines) - 1)
        yield lines[start].split("(")[0].split()[-1].lstrip("*"), end - start + 1


def test_files_are_at_most_400_lines():
    over = {str(f.relative_to(ROOT)): n for f in _files({".py", ".pyi", ".c", ".h"})
            if (n := len(f.read_text().splitlines())) > FILE_CAP}
    assert not over, over


def test_python_functions_are_at_most_60_lines():
    over = ["%s:%s (%d)" % (f.relative_to(ROOT), name, n) for f in _files({".py"})
            for name, n in _python_functions(f) if n > FUNCTION_CAP]
    assert not over, over


def test_c_functions_are_at_most_60_lines():
    seen = 0
    over = []
    for f in _files({".c", ".h"}):
        for name, n in _c_functions(f):
            seen += 1
            if n > FUNCTION_CAP:
                over.append("%s:%s (%d)" % (f.relative_to(ROOT), name, n))
    assert not over, over
    assert seen > 300           # the reader finds the C functions at all
