"""The ``aiowsman`` command line: winrm.cmd's verbs over one host or thousands.

Run ``aiowsman --help``; the page is ``docs/cli.md``. The entry point is
:func:`main` (``aiowsman = "aiowsman.cli:main"``).
"""

from __future__ import annotations

from aiowsman.cli._main import (
    EXIT_ALL_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    main,
)

__all__ = [
    "EXIT_ALL_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "main",
]
