"""``python -m e2e.bench.judgement [--quick] [--json PATH] [--seed N]``."""

import sys

from e2e.bench.judgement.run import main

sys.exit(main())
