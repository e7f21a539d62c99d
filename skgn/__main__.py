"""Run ``python -m skgn demo``."""

import sys

from ._demo import main

sys.exit(main())
