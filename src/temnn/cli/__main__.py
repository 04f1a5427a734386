"""``python -m temnn.cli``: the ``temnn`` command."""

import sys

from . import main

sys.exit(main())
