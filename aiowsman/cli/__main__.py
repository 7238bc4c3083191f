"""``python -m aiowsman.cli``: the same as the ``aiowsman`` command."""

from aiowsman.cli import main

raise SystemExit(main())
