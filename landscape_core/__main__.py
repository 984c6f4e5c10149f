"""``python -m landscape_core``: see ``landscape_core.cli``."""
import sys

from .cli import main

sys.exit(main())
