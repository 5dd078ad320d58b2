"""``python -m callcenter.cli``: the same as the ``callcenter`` command."""

from callcenter.cli import main

main()
