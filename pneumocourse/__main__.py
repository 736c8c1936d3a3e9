"""``python -m pneumocourse``: see :mod:`pneumocourse.cli`."""

from .cli import main

raise SystemExit(main())
