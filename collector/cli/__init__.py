"""The ``inferwatch`` command line: ``commands`` builds the parser and runs a command, ``reports`` adds the
findings and cost reports. Features add their own subcommands with the shared flags of
``collector.core.cli_args``. Exports ``main``, the console script's entry point.
"""

from collector.cli.commands import main

__all__ = ["main"]
