"""One progress bar for a chunk whose lineages train at once (`engine.loop`)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

Progress = Callable[[int, int, str], None]  # (step, total, message)


class ChunkProgress:
    """Progress of a chunk whose lineages train at once: one count, one bar.

    Steps are counted as they happen but reported at most every `every` seconds: a report
    is a write to the job's result cache (or Redis), and one per step cost a chunk on
    digits seconds in the dashboard (300 writes).
    """

    def __init__(self, progress: Progress | None, total: int, every: float):
        self.progress, self.total, self.done_steps = progress, total, 0
        self.every = every
        self._lock = threading.Lock()
        self._last = 0.0

    def reporter(self, label: str):
        def step(_step: int, _total: int, loss: float) -> None:
            with self._lock:
                self.done_steps += 1
                now = time.monotonic()
                last = self.done_steps >= self.total
                if self.progress is not None and (last or now - self._last >= self.every):
                    self._last = now
                    said = f"loss {loss:.4f}" if math.isfinite(loss) else "first epoch"
                    self.progress(self.done_steps, self.total, f"{label}: {said}")

        return step

    def report(self, message: str) -> None:
        if self.progress is not None:
            self.progress(min(self.done_steps, self.total - 1), self.total, message)

    def done(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total, message)
