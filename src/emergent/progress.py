"""Progress bars shared by every stage (rich): count, rate, elapsed and ETA; silent when disabled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def counter_progress(enabled: bool = True) -> Iterator[Any]:
    """A progress display; `add_task(description, total=None)` then `advance(task, n)`."""
    if not enabled:
        yield _Silent()
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
