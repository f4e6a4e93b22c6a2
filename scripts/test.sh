#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), builds the Windows bundles (scripts/build_windows.sh), then runs
# the whole test suite: Python, bindings, the C++ real-time checks (driven from pytest), the Windows VST3s
# under Wine, and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== setup ended ${SECONDS} s after the start"
# The Windows cross-build runs beside the tests, in a session of its own. The kernel shares the CPU between
# sessions before nice counts (autogroup scheduling, on in Debian's kernels), so it takes about half the
# machine while the tests run, despite its nice 19; given only their idle CPU (autogroup nice 19) it ended
# 13 minutes after them in a CI check, which cost more than it saved. Its tests follow it, beside the others
# too (under Wine they mostly wait), their output kept in a log printed once the others are done.
mkdir -p build-windows
windows_tests_log=build-windows/tests.log
windows_job() {
  if ! nice -n 19 bash scripts/build_windows.sh > build-windows/build.log 2>&1; then
    echo "Windows cross-build failed; the end of build-windows/build.log:"
    tail -n 60 build-windows/build.log
    return 1
  fi
  echo "Windows cross-build: done (log: build-windows/build.log)"
  .venv/bin/python -m pytest tests/test_windows_vst3.py -p no:cacheprovider -m "not serial" "$@"
}
export -f windows_job
setsid bash -c 'windows_job "$@"' windows_job "$@" > "$windows_tests_log" 2>&1 &
windows_job_pid=$!
trap 'kill -- -"$windows_job_pid" 2> /dev/null || true' EXIT
# The tests two at a time (most wait on hosts, builds and subprocesses; a file's tests stay together, so a
# module's fixtures and builds are made once), then the benchmarks alone, so their timings see a quiet machine.
# Tests marked serial (a worker thread's pace against the audio thread's) run alone after the others.
tests=0
# --durations: the slowest tests in every run's output, where the suite's time goes (CI keeps it under 30 min).
# numpy's OpenBLAS at one thread in the tests: its pool (a thread a core in each worker, spinning after every
# call) only took CPU from the other worker; the benchmarks keep the default, as the tools they measure run.
OPENBLAS_NUM_THREADS=1 .venv/bin/python -m pytest tests -p no:cacheprovider -n 2 --dist loadfile -m "not serial" \
  --ignore tests/test_windows_vst3.py --durations=25 "$@" || tests=$?
echo "== the parallel phase ended ${SECONDS} s after the start"
windows=0
wait "$windows_job_pid" || windows=$?
echo "== the Windows VST3s under Wine (tests/test_windows_vst3.py; log: $windows_tests_log)"
cat "$windows_tests_log"
serial=0
OPENBLAS_NUM_THREADS=1 .venv/bin/python -m pytest tests -p no:cacheprovider -m serial --durations=5 "$@" || serial=$?
echo "== the serial tests ended ${SECONDS} s after the start"
benchmarks=0
.venv/bin/python -m pytest benchmarks -p no:cacheprovider "$@" || benchmarks=$?
echo "== the benchmarks ended ${SECONDS} s after the start"
for code in "$tests" "$windows" "$serial"; do
  if [ "$code" -ne 0 ]; then exit "$code"; fi
done
exit "$benchmarks"
