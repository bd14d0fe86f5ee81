"""``python -m ferroq``: the same command line as ``ferroq``."""

import sys

from ferroq.cli import main

sys.exit(main())
