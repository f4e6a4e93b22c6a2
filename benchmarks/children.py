"""Child processes measured from outside: wall seconds, CPU seconds and peak resident memory."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

TIME = "/usr/bin/time"  # GNU time (Debian package time)


def run_child(args: list[str], log: Path) -> tuple[float, float, int]:
    """Run a child process to the end under GNU time: (wall seconds, CPU seconds of all its threads, peak
    resident memory in bytes). GNU time measures the child alone; os.wait4 from pytest would not, as Linux
    carries the forking process's peak over into the child's ru_maxrss."""
    stats = log.with_suffix(".time")
    start = time.perf_counter()
    with open(log, "wb") as out:
        done = subprocess.run(
            [TIME, "-f", "%U %S %M", "-o", str(stats), *args],
            check=False,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, (
        f"{args[0]} failed ({done.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
    )
    user, system, kilobytes = stats.read_text().split()[-3:]
    return seconds, float(user) + float(system), int(kilobytes) * 1024
