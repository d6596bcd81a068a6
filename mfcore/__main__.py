"""``python -m mfcore``: see :mod:`mfcore.cli`."""
import sys

from .cli import main

sys.exit(main())
