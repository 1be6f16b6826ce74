"""Progress shared by every stage: rich bars on a terminal, plain timed lines in a log file; silent when
disabled.

Bars redraw in place, which a log file (CI, Slurm, nohup) only receives when the stage ends; a user
tailing that log would see nothing for minutes. So when the console is not a terminal, every task
prints one plain line when it starts, every EMERGENT_PROGRESS_SECONDS (default 30) while it runs, and
when it ends.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, or seconds per item below one a second (training steps on a CPU): rich's
    TransferSpeedColumn assumes bytes, and "0/s" says nothing."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("", style="cyan")
        # Never wrapped: on an 80-column log a wrapped rate would take a second line per bar.
        return Text(f"{speed:,.0f}/s" if speed >= 1 else f"{1 / speed:,.1f}s/it", style="cyan", no_wrap=True)


class _Silent:
    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class _Line:
    description: str
    total: float | None
    completed: float
    start_completed: float
    started: float
    printed: float
    done: bool = False


class PlainLines:
    """The `add_task` / `advance` / `update` surface of rich's Progress, written as timestamped lines."""

    def __init__(self, every_s: float, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self.every_s, self._write, self._clock = every_s, write, clock
        self._tasks: list[_Line] = []

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **_: Any) -> int:
        now = self._clock()
        self._tasks.append(_Line(description, total, completed, completed, now, now))
        self._emit(self._tasks[-1], now)
        return len(self._tasks) - 1

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def update(self, task: int, advance: float = 0, description: str | None = None, **_: Any) -> None:
        line, now = self._tasks[task], self._clock()
        line.completed += advance
        if description is not None:
            line.description = description
        finished = line.total is not None and line.completed >= line.total
        if finished or now - line.printed >= self.every_s:
            line.done = finished
            self._emit(line, now)

    def close(self) -> None:
        now = self._clock()
        for line in self._tasks:
            if not line.done:
                line.done = True
                self._emit(line, now)

    def _emit(self, line: _Line, now: float) -> None:
        line.printed = now
        elapsed = now - line.started
        count = f"{line.completed:,.0f}" + (f"/{line.total:,.0f}" if line.total is not None else "")
        parts = [f"[{time.strftime('%H:%M:%S')}] {line.description}", count, f"elapsed {_duration(elapsed)}"]
        rate = (line.completed - line.start_completed) / elapsed if elapsed > 0 else 0.0
        if rate:
            parts.append(f"{rate:,.1f}/s" if rate >= 1 else f"{1 / rate:,.1f}s/it")
            if line.total is not None and not line.done:
                parts.append(f"ETA {_duration((line.total - line.completed) / rate)}")
        if line.done:
            parts.append("done")
        self._write(" | ".join(parts))


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextmanager
def counter_progress(enabled: bool = True) -> Iterator[Any]:
    """A progress display; `add_task(description, total=None)` then `advance(task, n)`."""
    if not enabled:
        yield _Silent()
        return
    from rich.console import Console

    # Where the bars would go (stdout). The lines go to stderr: some commands write their data to stdout.
    if not Console().is_terminal:
        lines = PlainLines(float(os.environ.get("EMERGENT_PROGRESS_SECONDS", "30")), _stderr_line)
        try:
            yield lines
        finally:
            lines.close()
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        refresh_per_second=4,
    ) as progress:
        yield progress
