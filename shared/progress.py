"""A progress bar on stderr for long command-line runs (verifying a log, seeding, rebuilding a
projection), drawn by rich; only when stderr is a terminal, unless forced on or off. The
`Progress(label, total).advance(n) ... close()` shape lets library code report progress without
knowing how (or whether) it is drawn."""

from __future__ import annotations

import sys

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


class Progress:
    def __init__(self, label: str, total: int, enabled: bool | None = None):
        self.label = label
        self.total = max(total, 0)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.done = 0
        self._bar: RichProgress | None = None
        if self.enabled:
            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(file=sys.stderr, force_terminal=enabled or None),
                refresh_per_second=8)
            self._task = self._bar.add_task(label, total=self.total or None)
            self._bar.start()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            self._bar.stop()
            self._bar = None
