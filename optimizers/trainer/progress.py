"""The progress bar of a run: steps done, scores, calls, cost, elapsed time, ETA, and what the
step in progress is doing (examples evaluated, calls in flight); silent in quiet mode."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

__all__ = ["ProgressView", "StepPhase", "eta_seconds"]


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the pace so far (``done`` steps in ``elapsed`` seconds in this process).

    >>> eta_seconds(2, 6, 10.0), eta_seconds(0, 6, 3.0), eta_seconds(0, 0, 1.0)
    (20.0, None, 0.0)
    """
    if total <= done:
        return 0.0
    return None if done <= 0 else (total - done) * elapsed / done


def clock(seconds: float | None) -> str:
    """``h:mm:ss``, or ``-:--:--`` when unknown.

    >>> clock(3725), clock(None)
    ('1:02:05', '-:--:--')
    """
    if seconds is None:
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class StepPhase:
    """What the step in progress is doing, updated from worker threads: a phase (``train``,
    ``val``), examples done of the phase's total, and model calls in flight (read live)."""

    def __init__(self, in_flight: Callable[[], int] = lambda: 0) -> None:
        self.in_flight = in_flight
        self.label = ""
        self.done = 0
        self.total = 0
        self._lock = threading.Lock()

    def start(self, label: str, total: int) -> None:
        with self._lock:
            self.label, self.done, self.total = label, 0, total

    def advance(self) -> None:
        with self._lock:
            self.done += 1

    def clear(self) -> None:
        self.start("", 0)

    def text(self) -> str:
        """``train 3/8 · 2 calls in flight`` (empty between steps)."""
        if not self.label:
            return ""
        flying = self.in_flight()
        calls = f" · {flying} call{'s' * (flying != 1)} in flight" if flying else ""
        return f"{self.label} {self.done}/{self.total}{calls}"


def _console(stream: IO[str]) -> Any:
    from rich.console import Console

    # A file or a pipe (a CI log) gets a wide line, so no column is squeezed out.
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(file=stream, width=None if tty else 140)


class ProgressView:
    """A rich progress bar on stderr (stdout stays free for the user's own output).

    ``start``: the steps already done (a resumed run starts there, not at 0). The ETA is the
    pace of the steps done in this process times the steps left. Quiet mode shows nothing.

    Example:
        >>> with ProgressView(total=3, quiet=True) as view:
        ...     view.update(step=1, score=0.5, best=0.5, calls=2, cost=0.0)
    """

    def __init__(
        self,
        total: int,
        *,
        quiet: bool = False,
        stream: IO[str] | None = None,
        start: int = 0,
        phase: StepPhase | None = None,
    ) -> None:
        self.total = total
        self.quiet = quiet
        self.stream = stream
        self.start = start
        self.phase = phase or StepPhase()
        self._progress: Any = None  # rich's Progress, imported only when shown
        self._task: Any = None  # rich's TaskID
        self._began = time.monotonic()
        self._final: list[str] = []

    def __enter__(self) -> ProgressView:
        if self.quiet:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        phase = self.phase

        class _Phase(TextColumn):
            def render(self, task: Any) -> Any:
                from rich.text import Text

                return Text(phase.text(), style="cyan")

        self._progress = Progress(
            TextColumn("[bold]step"),
            MofNCompleteColumn(),
            BarColumn(bar_width=16),
            TextColumn("score {task.fields[score]}  best {task.fields[best]}"),
            TextColumn("calls {task.fields[calls]}  cost ${task.fields[cost]}"),
            TextColumn("{task.fields[clock]}"),
            _Phase(""),
            console=_console(self.stream or sys.stderr),
            transient=False,
            refresh_per_second=4,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=self.total, completed=self.start, score="-", best="-", calls=0,
            cost="0.0000", clock=self._clock(self.start),
        )  # fmt: skip
        return self

    def _clock(self, step: int) -> str:
        elapsed = time.monotonic() - self._began
        eta = eta_seconds(step - self.start, self.total - self.start, elapsed)
        return f"{clock(elapsed)} eta {clock(eta)}"

    def update(
        self, *, step: int, score: float | None, best: float | None, calls: int, cost: float
    ) -> None:
        """Show the state after ``step`` steps."""
        if self._progress is None:
            return
        self._progress.update(
            self._task,
            completed=step,
            score="-" if score is None else f"{score:.4g}",
            best="-" if best is None else f"{best:.4g}",
            calls=calls,
            cost=f"{cost:.4f}",
            clock=self._clock(step),
        )

    def note(self, text: str) -> None:
        """Print one line above the bar (a resume notice)."""
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream or sys.stderr)

    def finish(self, text: str) -> None:
        """Print ``text`` below the bar once it has stopped (its last state drawn): the reason
        the run stopped comes after ``step 6/6``, not before."""
        self._final.append(text)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
            self._progress = None
        for text in self._final:
            self.note(text)
        self._final.clear()
