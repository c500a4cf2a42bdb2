"""Entry point of `python -m vocalsep`: runs the command line (vocalsep.cli) and exits with its code."""

import sys

from .cli import main

sys.exit(main())
