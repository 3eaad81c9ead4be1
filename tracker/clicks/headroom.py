"""Whether the machine's processors have room for the click writer's work right now.

The writer's own process runs at SCHED_IDLE, so the kernel hands its processor
to a waking redirect at once. The database's share of each click (PostgreSQL
writes a click in about as much processor time as the writer takes to send
it) runs at the database's own priority, which no client can lower: while the
redirects keep the processors busy, every batch sent takes time from them.
SQLite's writing, on the writer's own threads, slows a burst too (held, the
bench's SQLite run went from 0.57 to 0.65 of the ceiling; what in the writing
costs the redirects there is not pinned down). So
while clicks keep coming (writer.py) and less than one core's worth of
processor time went idle (half the machine's, on one core), the writer holds
them back, for at most `TRACKER_CLICK_HOLD_SECONDS`: the journal keeps them on
disk, and the redirects of a burst answer as fast as on an idle database
(bench/README.md).

Read from /proc/stat, the whole machine's counters: where it cannot be read
(not Linux), nothing is ever held.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PROC_STAT = Path("/proc/stat")
Ticks = tuple[int, int]  # idle, total


def machine_ticks(stat: Path = PROC_STAT) -> Ticks | None:
    """The machine's idle and total processor time so far, in clock ticks."""
    try:
        with stat.open("rb") as lines:
            fields = lines.readline().split()
    except OSError:
        return None
    if fields[:1] != [b"cpu"] or len(fields) < 9:
        return None
    # user nice system idle iowait irq softirq steal (guest time is counted in user already)
    ticks = [int(field) for field in fields[1:9]]
    return ticks[3] + ticks[4], sum(ticks)


class Headroom:
    """Idle processor time between two readings, against one core's worth."""

    def __init__(
        self, ticks: Callable[[], Ticks | None] = machine_ticks, cores: int | None = None
    ) -> None:
        self._ticks = ticks
        self._cores = cores or os.cpu_count() or 1
        self._needed = min(1.0, self._cores / 2)
        self._last = ticks()

    def restart(self) -> None:
        """Count from now: the writer's own pass is not a sign of busy redirects."""
        self._last = self._ticks()

    def busy(self) -> bool:
        """Whether less than the needed idle time went by since the last reading."""
        now = self._ticks()
        last, self._last = self._last, now
        if now is None or last is None or now[1] <= last[1]:
            return False
        idle_cores = (now[0] - last[0]) / (now[1] - last[1]) * self._cores
        return idle_cores < self._needed
