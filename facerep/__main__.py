"""`python -m facerep` is the `facerep` command."""

from facerep.cli import main

main()
