"""``python -m bot`` is the ``schoolbot`` command."""

from bot.cli import main

raise SystemExit(main())
