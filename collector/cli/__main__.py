"""``python -m collector.cli``: the same as the ``inferwatch`` command."""

import sys

from collector.cli.commands import main

sys.exit(main())
