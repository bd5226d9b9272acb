"""Entry point of `python -m hill_dash`."""

import sys

from hill_dash.cli import main

sys.exit(main())
