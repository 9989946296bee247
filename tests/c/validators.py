"""The C stress validators' source files, for the stress tests and for
``python -m bench`` (which runs validate_lookup's bench and grow modes).
Each program is built from these plus the lookup core's own sources
(``cffi_build._common.LOOKUP``)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMON = [str(HERE / "validate_common.c")]
# validate_lookup: check (the invariant), bench and grow modes.
LOOKUP_VALIDATOR = [*COMMON, str(HERE / "validate_lookup.c"),
                    str(HERE / "validate_lookup_bench.c")]
# validate_symbols: the writer and main, then the checked readers.
SYMBOLS_VALIDATOR = [*COMMON, str(HERE / "validate_symbols.c"),
                     str(HERE / "validate_symbols_readers.c")]
