"""When this command started: a run's ``timings.first_step_s`` counts from here. Imported first by
:func:`vla_bench.cli.main`, so the import time is a fallback close to the start."""

from __future__ import annotations

import os
import time

IMPORTED_AT = time.time()  # the start of this command when the process's own start time cannot be read


def process_started_at() -> float:
    """Epoch seconds this process started (Linux ``/proc``: interpreter start-up counts too), else when this
    module was imported. A run's ``timings.first_step_s`` counts from here."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime, in clock ticks
            age = float(uptime.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return IMPORTED_AT
    started = time.time() - age
    return started if 0 <= IMPORTED_AT - started < 60 else IMPORTED_AT  # other clocks (namespaces): ignore
