"""`python -m coordinator ...` is the same as the `coordinator` console script."""

import sys

from coordinator.cli import main

sys.exit(main())
