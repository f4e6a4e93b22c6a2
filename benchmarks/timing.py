"""In-process timings for the benchmarks: the least CPU seconds of a callable over some runs, and of several
callables over rounds in which they take turns (a slow spell of the machine then falls on every contender
alike, where timing one after the other let it fall on one alone).

The clock is the process's CPU time by default, every thread counted (an ONNX Runtime worker, say); a
benchmark whose contenders all run on the calling thread passes time.thread_time, which other threads of the
process (a BLAS pool spinning after numpy) do not inflate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


def least_seconds_in_turns(
    fns: Sequence[Callable[[], object]], rounds: int = 3, clock: Callable[[], float] = time.process_time
) -> list[float]:
    """The least `clock` seconds of each callable over `rounds` rounds that call them in turn."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = clock()
            fn()
            best[i] = min(best[i], clock() - start)
    return best


def least_cpu_seconds(
    fn: Callable[[], object], rounds: int = 3, clock: Callable[[], float] = time.process_time
) -> float:
    """The least `clock` seconds of one callable over `rounds` runs."""
    return least_seconds_in_turns([fn], rounds, clock)[0]
