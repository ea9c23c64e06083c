"""`python -m agents ...`: the same as the `chargestream` command (agents/cli.py)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
