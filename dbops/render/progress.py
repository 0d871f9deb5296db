"""Progress for long runs on stderr: a rich bar on a terminal, else a log line every few
seconds (CI logs, pipes). Never in JSON mode's stdout."""
from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO


class ProgressPrinter:
    """A callable for ``progress=`` callbacks; use as a context manager around the run."""

    def __init__(self, *, err: TextIO | None = None, interval: float = 5.0, enabled: bool = True) -> None:
        self.err = err or sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.tty = self.err.isatty()
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_line = 0.0

    def __enter__(self) -> ProgressPrinter:
        if self.enabled and self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} rows/s"), TimeRemainingColumn(),
                console=Console(file=self.err), transient=False,
            )
            self._bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            task = self._tasks.get(p.name)
            if task is None:
                task = self._tasks[p.name] = self._bar.add_task(p.name, total=p.total, rate=0)
            self._bar.update(task, completed=p.rows_scanned, total=p.total, rate=f"{p.rows_per_second:,.0f}")
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            total = f"/{p.total:,}" if p.total else ""
            self.err.write(f"dbops data-migrate {p.name}: {p.rows_scanned:,}{total} rows scanned, "
                           f"{p.rows_done:,} changed, batch {p.batches} (size {p.batch_size:,}), "
                           f"{p.rows_per_second:,.0f} rows/s\n")
            self.err.flush()


def target_progress(err: TextIO | None = None) -> Any:
    """A fan-out progress callback: one line per finished target on stderr."""
    stream = err or sys.stderr

    failed = {"n": 0}

    def report(result: Any, done: int, total: int) -> None:
        detail = result.error or result.summary or ""
        failed["n"] += result.outcome == "failed"
        counts = f"{done}/{total}" + (f", {failed['n']} failed" if failed["n"] else "")
        stream.write(f"[{counts}] {result.target}: {result.outcome}"
                     f"{' - ' + detail[:120] if detail else ''} ({result.duration_ms:.0f} ms)\n")
        stream.flush()

    return report
