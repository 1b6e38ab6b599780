"""The progress bar of a run: step, score, best score, calls and cost; silent in quiet mode."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO, Any

__all__ = ["ProgressView"]


class ProgressView:
    """A rich progress bar on stderr (stdout stays free for the user's own output).

    Quiet mode shows nothing at all, for scripts and CI logs.

    Example:
        >>> with ProgressView(total=3, quiet=True) as view:
        ...     view.update(step=1, score=0.5, best=0.5, calls=2, cost=0.0)
    """

    def __init__(self, total: int, *, quiet: bool = False, stream: IO[str] | None = None) -> None:
        self.total = total
        self.quiet = quiet
        self.stream = stream
        self._progress: object | None = None
        self._task: Any = None  # rich's TaskID

    def __enter__(self) -> ProgressView:
        if self.quiet:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(file=self.stream or sys.stderr)
        progress = Progress(
            TextColumn("[bold]step"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("score {task.fields[score]}  best {task.fields[best]}"),
            TextColumn("calls {task.fields[calls]}  cost ${task.fields[cost]}"),
            console=console,
            transient=False,
        )
        progress.start()
        self._task = progress.add_task(
            "train", total=self.total, score="-", best="-", calls=0, cost="0.0000"
        )
        self._progress = progress
        return self

    def update(
        self, *, step: int, score: float | None, best: float | None, calls: int, cost: float
    ) -> None:
        """Show the state after ``step`` steps."""
        if self._progress is None or self._task is None:
            return
        from rich.progress import Progress

        assert isinstance(self._progress, Progress)
        self._progress.update(
            self._task,
            completed=step,
            score="-" if score is None else f"{score:.4g}",
            best="-" if best is None else f"{best:.4g}",
            calls=calls,
            cost=f"{cost:.4f}",
        )

    def note(self, text: str) -> None:
        """Print one line above the bar (a stop reason, a resume notice)."""
        if self.quiet:
            return
        if self._progress is not None:
            from rich.progress import Progress

            assert isinstance(self._progress, Progress)
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream or sys.stderr)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            from rich.progress import Progress

            assert isinstance(self._progress, Progress)
            self._progress.stop()
            self._progress = None
