"""``python -m consistency_lab`` is the ``consistency-lab`` command."""

import sys

from .cli import main

sys.exit(main())
