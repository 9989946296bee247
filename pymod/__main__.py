"""``python -m pymod``: the same as the ``pymod`` console script."""

import sys

from pymod.tools import main

sys.exit(main())
