"""When Valkey forked to write its data in the background, read from its log.

With persistence as ``make run`` configures it (an append-only file, fsync
every second), Valkey rewrites the file in a forked child each time it has
doubled since the last rewrite, from 64 MB on (``auto-aof-rewrite-percentage``
100, ``auto-aof-rewrite-min-size`` 64mb). A load run starts from an empty
file, so at a given rate the first rewrite comes at about the same second of
every run. The child shares Valkey's core (it inherits its affinity), and its
work is a whole pass over the data set; a run reports when it came, so that a
burst of slow deliveries can be set against it.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

__all__ = ["BackgroundWrite", "background_writes", "wall_to_perf_counter"]

BackgroundWrite = tuple[float, str, float | None]
"""(start on the run's clock, ``"aof_rewrite"`` or ``"snapshot"``, ms until Valkey reaped
it, ``None`` while it runs)."""

_LINE = re.compile(r"^\d+:M (\d\d \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) [*#.-] (.*)$")
_STARTS = {
    "Background append only file rewriting started": "aof_rewrite",
    "Background saving started": "snapshot",
}
_ENDS = {
    "Background AOF rewrite terminated": "aof_rewrite",
    "Background saving terminated": "snapshot",
    "Background saving error": "snapshot",
}


def wall_to_perf_counter() -> float:
    """What to add to a wall-clock time to put it on ``time.perf_counter()``'s clock."""
    return time.perf_counter() - time.time()


def background_writes(log: str, offset: float) -> list[BackgroundWrite]:
    """Each background write the log shows starting, on the run's clock (``offset``
    from :func:`wall_to_perf_counter`); one still running has no duration (``None``)."""
    started: dict[str, float] = {}
    writes: list[BackgroundWrite] = []
    for line in log.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        stamp, message = match.groups()
        at = datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f").timestamp() + offset
        if (kind := _kind_of(message, _STARTS)) is not None:
            started[kind] = at
        elif (kind := _kind_of(message, _ENDS)) is not None and kind in started:
            began = started.pop(kind)
            writes.append((began, kind, round((at - began) * 1000, 1)))
    writes.extend((began, kind, None) for kind, began in started.items())
    return sorted(writes, key=lambda write: write[0])


def _kind_of(message: str, prefixes: dict[str, str]) -> str | None:
    return next((kind for prefix, kind in prefixes.items() if message.startswith(prefix)), None)
