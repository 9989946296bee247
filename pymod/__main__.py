"""``python -m pymod``: the same as the ``pymod`` console script."""

import sys

from .cli import main

sys.exit(main())
