"""A progress bar on stderr -- only when stderr is a terminal, never in pipes or logs."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

from aiowsman.fanout import HostResult

__all__ = ["Progress"]


class Progress:
    """Counts finished hosts; draws a rich bar when ``stream`` is a TTY.

    Args:
        total: number of hosts, if known (a file counted up front); None
            shows a spinner with the count instead of a bar.
        enabled: False (``--quiet``) turns it off whatever the stream is.
        stream: where to draw (default ``sys.stderr``).
    """

    def __init__(
        self, total: int | None, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.ok = 0
        self.failed = 0
        self._bar: Any = None
        self._task: Any = None
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.active = enabled and bool(isatty())

    def __enter__(self) -> Progress:
        if not self.active:
            return self
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
        except ImportError:  # rich is the optional [cli] extra
            self.active = False
            return self
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("hosts", total=self.total, ok=0, failed=0)
        return self

    def update(self, result: HostResult[Any]) -> None:
        """Account for one finished host."""
        if result.ok:
            self.ok += 1
        else:
            self.failed += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, ok=self.ok, failed=self.failed)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
