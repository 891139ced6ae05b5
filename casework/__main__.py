"""``python -m casework``: the same as the ``casework`` command."""

from casework.cli import main

main()
