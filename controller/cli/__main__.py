"""``python -m controller.cli`` is the same as the ``landinggear`` command."""

import sys

from controller.cli import main

sys.exit(main())
