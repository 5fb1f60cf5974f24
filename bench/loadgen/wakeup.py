"""What a loopback write costs when it wakes the reader on the other core.

    .venv/bin/python -m bench.loadgen.wakeup

A writer pinned to core 0 sends 60-byte messages over loopback TCP to a
reader pinned to core 1, first one every millisecond (the reader sleeps
between them, so each send wakes it), then back to back (the reader is
mostly awake). Prints the median and p90 of ``socket.send`` in µs for each.
The hub pays the first kind for each write to a device or to Valkey when
the load is light (BENCHMARKS.md, sixth slice).
"""

from __future__ import annotations

import os
import socket
import time

SENDS = 3_000
MESSAGE = b"x" * 60
WRITER_CORE, READER_CORE = 0, 1


def _read_until_closed(listener: socket.socket) -> None:
    os.sched_setaffinity(0, {READER_CORE})
    connection, _ = listener.accept()
    while connection.recv(65536):
        pass


def _send_times(sock: socket.socket, gap_s: float) -> list[float]:
    times = []
    for _ in range(SENDS):
        started = time.perf_counter()
        sock.send(MESSAGE)
        times.append(time.perf_counter() - started)
        if gap_s:
            time.sleep(gap_s)
    return sorted(times)


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    reader = os.fork()
    if reader == 0:
        _read_until_closed(listener)
        os._exit(0)
    os.sched_setaffinity(0, {WRITER_CORE})
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for name, gap_s in (("reader asleep (1 ms apart)", 0.001), ("back to back", 0.0)):
            times = _send_times(sock, gap_s)
            median, p90 = times[len(times) // 2], times[int(len(times) * 0.9)]
            print(f"{name:<28} median {median * 1e6:6.1f} µs  p90 {p90 * 1e6:6.1f} µs")
    os.waitpid(reader, 0)


if __name__ == "__main__":
    main()
