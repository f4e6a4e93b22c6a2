"""Fuzz cases run in worker processes, so that a case that aborts or hangs is recorded, not fatal to the run.

A target module (tests/fuzz_models.py, tests/fuzz_states.py) defines `target(config) -> (make, play)`:
make(index) -> Case builds case `index` from config["seed"] alone, play(case) -> (outcome, detail) runs it;
an outcome in the module's GOOD is a pass, any other a failure. The runner adds three failures of its own: a
worker killed by a signal or exiting ("crash"), one silent for `case_timeout` seconds ("hang"), an exception
out of play (its type's name). Workers take cases one at a time; a dead or hung one is replaced.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
# A fresh worker imports torch and ONNX and builds its bases before its first case starts: on a loaded machine
# that alone took longer than a short case_timeout. A case's clock starts at its "start" line; until then a
# worker has this long.
STARTUP_TIMEOUT = 120.0


@dataclass
class Case:
    index: int
    base: str  # what was mutated
    kind: str  # the family of the mutation, for the summary
    what: str  # the mutation, in words
    data: Any  # what play() takes


@dataclass
class Result:
    index: int
    base: str
    kind: str
    what: str
    outcome: str
    detail: str = ""
    seconds: float = 0.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@dataclass
class Report:
    module: str
    good: tuple[str, ...]
    seed: int
    requested: int
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    restarts: int = 0
    rss: dict[int, list[float]] = field(default_factory=dict)  # worker process id -> RSS (MB) after each case
    notes: dict[str, Any] = field(default_factory=dict)  # what the target says about its run

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.outcome not in self.good]

    def rss_growth(self) -> tuple[float, float, int]:
        """(most any worker grew from its 10th case to its last, MB; its last RSS; cases it ran)."""
        grown = [(rss[-1] - rss[min(9, len(rss) - 1)], rss[-1], len(rss)) for rss in self.rss.values() if rss]
        return max(grown, default=(0.0, 0.0, 0))

    def summary(self) -> str:
        outcomes = Counter(r.outcome for r in self.results)
        by_kind = defaultdict(Counter)
        for r in self.results:
            by_kind[r.kind][r.outcome] += 1
        growth, last, ran = self.rss_growth()
        rate = len(self.results) / max(self.seconds, 1e-9)
        lines = [
            (
                f"{self.module}: {len(self.results)} of {self.requested} cases (seed {self.seed}) in "
                f"{self.seconds:.0f} s on {self.workers} workers: {rate:.1f} cases/s; "
                f"{self.restarts} worker restarts"
            ),
            "outcomes: " + ", ".join(f"{k} {n}" for k, n in outcomes.most_common()),
            (
                f"RSS: a worker grew by at most {growth:+.1f} MB from its 10th case to its last "
                f"({last:.0f} MB after {ran} cases)"
            ),
        ]
        lines += [f"{key}: {value}" for key, value in self.notes.items()]
        lines += [
            f"  {kind:<22}" + ", ".join(f"{k} {n}" for k, n in c.most_common())
            for kind, c in sorted(by_kind.items())
        ]
        slow = sorted((r for r in self.results if r.outcome in self.good), key=lambda r: -r.seconds)[:3]
        lines += [f"  slowest: case {r.index} {r.seconds:.1f} s ({r.base}: {r.what})" for r in slow]
        return "\n".join(lines)

    def failure_classes(self) -> str:
        """Failures grouped by what happened (numbers and paths left out), with the kinds of change that led
        there and the shortest case of each group to make again."""
        groups: dict[tuple[str, str], list[Result]] = defaultdict(list)
        for r in self.failures:
            kinds_only = r.detail.split(" -- ")[0]  # a target may put the kinds of problem first
            signature = re.sub(r"0x[0-9a-f]+|\d+|'/[^']*'", "#", kinds_only)[:160]
            groups[(r.outcome, signature)].append(r)
        lines = []
        for (outcome, signature), results in sorted(groups.items(), key=lambda g: -len(g[1])):
            kinds = Counter(r.kind for r in results)
            r = min(results, key=lambda r: (len(r.what), r.index))
            lines.append(
                f"{len(results):>5} x {outcome}: {signature}\n"
                f"        from {', '.join(f'{k} {n}' for k, n in kinds.most_common())}\n"
                f"        e.g. case {r.index} ({r.base}: {r.what}): {r.detail[:300]}\n"
                f"        make again: python tests/{self.module}.py --seed {self.seed} --case {r.index} "
                "--play"
            )
        return "\n".join(lines)


def worker(module_name: str, config: dict) -> None:
    """Read case indices from stdin, one a line; for each, print a start line and a result line (JSON after
    'FUZZ ', so that anything else the libraries print is told apart)."""
    memory = config.get("memory")
    if memory:  # a case asking for more gets bad_alloc, not the machine's OOM killer
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort is recorded, not dumped
    sys.path.insert(0, str(TESTS_DIR))
    make, play = importlib.import_module(module_name).target(config)
    time.sleep(config.get("slow_start", 0.0))  # the runner's own test: a start-up slower than a case may take

    def say(message: dict) -> None:
        sys.stdout.write("FUZZ " + json.dumps(message) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        index = int(line)
        try:
            case = make(index)
        except Exception as e:  # noqa: BLE001 -- a bug in the generator, reported as one rather than as a crash
            say({"start": index, "base": "?", "kind": "?", "what": "?"})
            say(
                {
                    "done": index,
                    "outcome": "generator error",
                    "detail": repr(e),
                    "seconds": 0.0,
                    "rss": rss_mb(),
                }
            )
            continue
        say({"start": index, "base": case.base, "kind": case.kind, "what": case.what})
        if index in config.get("abort", ()):  # the runner's own test: a worker that dies, one that hangs
            os.abort()
        if index in config.get("hang", ()):
            time.sleep(3600)
        started = time.perf_counter()
        try:
            outcome, detail = play(case)
        except Exception as e:  # noqa: BLE001 -- any other type is what the fuzzer looks for
            outcome, detail = type(e).__name__, str(e)
        say(
            {
                "done": index,
                "outcome": outcome,
                "detail": detail[:500],
                "seconds": time.perf_counter() - started,
                "rss": rss_mb(),
            }
        )


class _Worker:
    def __init__(self, module: str, config: dict, log: Path):
        self.log = log
        with log.open("ab") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--worker", module, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=config["dir"],
            )
        self.buffer = b""
        self.case: int | None = None
        self.started = 0.0
        self.deadline = 0.0  # silent past it: a hang
        self.what: dict = {}
        self.log_from = 0  # where the current case's stderr starts in the log

    def send(self, index: int) -> None:
        self.case, self.started, self.what = index, time.monotonic(), {}
        self.deadline = self.started + STARTUP_TIMEOUT  # until its "start" line (see STARTUP_TIMEOUT)
        self.log_from = self.log.stat().st_size
        self.proc.stdin.write(f"{index}\n".encode())
        self.proc.stdin.flush()

    def lines(self, data: bytes) -> list[dict]:
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line[5:]) for line in complete if line.startswith(b"FUZZ ")]

    def stop(self) -> str:
        """Kill it; returns how it ended and the end of what it printed to stderr during the current case."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # stuck in the kernel (a dead mount): left behind, the run goes on
            return "could not be killed within 30 s"
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        ended = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        tail = self.log.read_bytes()[self.log_from :][-400:].decode(errors="replace")
        tail = tail.strip().replace("\n", " | ")
        return f"{ended}; stderr: {tail or '(nothing)'}"


def run(
    module: str,
    config: dict,
    cases: Iterable[int],
    work_dir: Path,
    workers: int | None = None,
    case_timeout: float = 20.0,
    budget: float | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Run every case of `module` in worker processes. config: what target() needs, with "seed"; also
    "memory" (an address-space limit per worker), and for the runner's own test "abort"/"hang": [indices]
    and "slow_start": seconds.
    `budget` (seconds): no new case starts after it."""
    queue = list(cases)
    good = importlib.import_module(module).GOOD
    report = Report(module, good, config["seed"], len(queue), workers=workers or min(os.cpu_count() or 1, 4))
    config = {**config, "dir": str(work_dir)}
    selector = selectors.DefaultSelector()
    pool: list[_Worker] = []
    started = time.monotonic()

    def start(n: int) -> None:
        w = _Worker(module, config, work_dir / f"worker-{n}.log")
        selector.register(w.proc.stdout, selectors.EVENT_READ, w)
        pool.append(w)

    def replace(w: _Worker, outcome: str) -> None:
        selector.unregister(w.proc.stdout)
        detail = w.stop()
        pool.remove(w)
        report.restarts += 1
        start(report.restarts + report.workers)
        if w.case is None:  # it died between cases
            return
        if outcome == "hang":
            limit = f"{case_timeout:g} s" if w.what else f"{STARTUP_TIMEOUT:g} s of start-up"
            detail = f"no answer within {limit}; {detail}"
        report.results.append(
            Result(
                w.case,
                w.what.get("base", "?"),
                w.what.get("kind", "?"),
                w.what.get("what", "?"),
                outcome,
                detail,
                time.monotonic() - w.started,
            )
        )

    for n in range(report.workers):
        start(n)
    while True:
        open_for_cases = budget is None or time.monotonic() - started < budget
        for w in pool:
            if w.case is None and queue and open_for_cases:
                try:
                    w.send(queue.pop(0))
                except BrokenPipeError:
                    pass  # it died: its end of file comes next
        busy = [w for w in pool if w.case is not None]
        if not busy:
            break
        wait = max(0.0, min(w.deadline for w in busy) - time.monotonic())
        for key, _ in selector.select(timeout=wait):
            w = key.data
            data = os.read(w.proc.stdout.fileno(), 1 << 16)
            if not data:
                replace(w, "crash")
                continue
            for message in w.lines(data):
                if "start" in message:
                    w.what = message
                    w.started = time.monotonic()
                    w.deadline = w.started + case_timeout
                    continue
                report.results.append(
                    Result(
                        message["done"],
                        w.what["base"],
                        w.what["kind"],
                        w.what["what"],
                        message["outcome"],
                        message["detail"],
                        message["seconds"],
                    )
                )
                report.rss.setdefault(w.proc.pid, []).append(message["rss"])
                w.case = None
                if progress:
                    progress(report)
        for w in [w for w in pool if w.case is not None and time.monotonic() > w.deadline]:
            replace(w, "hang")
    for w in pool:
        selector.unregister(w.proc.stdout)
        w.stop()
    report.seconds = time.monotonic() - started
    report.results.sort(key=lambda r: r.index)
    return report


def cli(
    module: str,
    doc: str,
    config: dict,
    argv: list[str] | None,
    write: Callable[[Case, Path], None],
    default_cases: int,
    case_timeout: float = 20.0,
) -> int:
    """The command line of a target module: run many cases with a report, or make (and play) one."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=default_cases, help="how many cases to run")
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--case", type=int, help="make this one case only (with --write and/or --play)")
    parser.add_argument("--write", metavar="FILE", help="write the case's file here")
    parser.add_argument("--play", action="store_true", help="play the case in this process")
    parser.add_argument("--json", metavar="FILE", help="also write every case's result here")
    args = parser.parse_args(argv)
    config = {**config, "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix=f"tonemorph-{module}-") as folder:
        if args.case is not None:
            make, play = importlib.import_module(module).target({**config, "dir": folder})
            case = make(args.case)
            print(f"case {case.index} (seed {args.seed}): {case.base}, {case.kind}: {case.what}")
            if args.write:
                write(case, Path(args.write))
            if args.play:
                print(*play(case), sep=": ")
            return 0
        report = run(
            module,
            config,
            range(args.first, args.first + args.cases),
            Path(folder),
            args.workers,
            case_timeout=case_timeout,
            progress=lambda r: print(
                f"\r{len(r.results)} cases, {len(r.failures)} failures", end="", file=sys.stderr, flush=True
            ),
        )
    print("\n" + report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps([vars(r) for r in report.results], indent=1))
    if report.failures:
        print("failures:\n" + report.failure_classes())
    return 1 if report.failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], json.loads(sys.argv[3]))
    else:
        sys.exit("fuzz_runner runs workers; run tests/fuzz_models.py or tests/fuzz_states.py instead")
