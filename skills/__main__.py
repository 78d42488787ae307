"""``python -m skills``: the same command line as the ``skills`` console script."""

import sys

from skills.cli import main

if __name__ == "__main__":
    sys.exit(main())
