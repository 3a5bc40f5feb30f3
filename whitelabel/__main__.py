"""``python -m whitelabel`` is the ``whitelabel`` command."""

from whitelabel.cli import main

main()
