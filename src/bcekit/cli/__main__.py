"""``python -m bcekit.cli``: the same as the ``bcekit`` command."""

from bcekit.cli import main

main()
