"""``python -m crashd`` — the same entry point as the ``crashd`` command."""

import sys

from crashd.cli import main

__all__ = []

sys.exit(main())
