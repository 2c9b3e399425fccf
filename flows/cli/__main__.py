"""`python -m flows.cli ...` runs the command line."""

import sys

from flows.cli import main

sys.exit(main())
