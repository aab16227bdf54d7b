"""`python -m streams.cli`: the same as the `border-surge` command."""

import sys

from streams.cli.commands import main

sys.exit(main())
