import sys

from e2e.checkov import main

sys.exit(main())
