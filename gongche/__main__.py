"""``python -m gongche``: the ``gongche`` command."""

from gongche.cli import main

main()
