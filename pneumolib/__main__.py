"""``python -m pneumolib``: see :mod:`pneumolib.cli`."""

from .cli import main

raise SystemExit(main())
