"""Progress on the terminal (rich): the live display of a search and its summary, and install/build progress."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agent.search import SearchStats
from isabelle_env.install.runner import Reporter


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"


def stats_table(stats: SearchStats, title: str) -> Table:
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("problems solved / attempted / total", f"{stats.solved} / {stats.attempted} / {stats.problems}")
    table.add_row("attempts done / planned", f"{stats.attempts_done} / {stats.attempts_planned}")
    table.add_row("attempts/s", f"{stats.rate:.2f}")
    table.add_row("checks / generations in flight", f"{stats.checks_in_flight} / {stats.generations_in_flight}")
    table.add_row("deduplicated / skipped / cancelled", f"{stats.deduplicated} / {stats.skipped} / {stats.cancelled}")
    table.add_row("elapsed / ETA", f"{_eta(stats.elapsed)} / {_eta(stats.eta_s)}")
    return table


@contextmanager
def live_progress(title: str, *, enabled: bool, console: Console | None = None) -> Iterator:
    """Yields an `on_progress` callback; refreshes at most 4 times a second."""
    if not enabled:
        yield None
        return
    last = [0.0]
    with Live(console=console or Console(stderr=True), refresh_per_second=4, transient=False) as live:

        def update(stats: SearchStats) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.25:
                last[0] = now
                live.update(stats_table(stats, title))

        yield update


class RichReporter(Reporter):
    """Progress bars and lines on a rich console (stderr in the CLI, so stdout stays for results)."""

    def __init__(self, console=None):  # noqa: ANN001 - rich.console.Console, imported lazily
        from rich.console import Console

        self.console = console or Console(stderr=True)

    def step(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def warn(self, text: str) -> None:
        self.console.print(f"warning: {text}", style="yellow", markup=False, highlight=False)

    def build_line(self, text: str) -> None:
        self.console.print(f"  {text}", markup=False, highlight=False, style="dim")

    @contextlib.contextmanager
    def transfer(self, label: str, total: int | None) -> Iterator[Callable[[int, int | None], None]]:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, TimeRemainingColumn(), console=self.console, transient=False) as progress:
            task = progress.add_task(label, total=total)

            def update(done: int, new_total: int | None) -> None:
                progress.update(task, completed=done, total=new_total if new_total is not None else total)

            yield update
