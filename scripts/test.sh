#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), builds the Windows bundles (scripts/build_windows.sh), then runs
# the whole test suite: Python, bindings, the C++ real-time checks (driven from pytest), the Windows VST3s
# under Wine, and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build_windows.sh
# The tests two at a time (most wait on hosts, builds and subprocesses; a file's tests stay together, so a
# module's fixtures and builds are made once), then the benchmarks alone, so their timings see a quiet machine.
# Tests marked serial (a worker thread's pace against the audio thread's) run alone after the others.
tests=0
.venv/bin/python -m pytest tests -p no:cacheprovider -n 2 --dist loadfile -m "not serial" "$@" || tests=$?
serial=0
.venv/bin/python -m pytest tests -p no:cacheprovider -m serial "$@" || serial=$?
benchmarks=0
.venv/bin/python -m pytest benchmarks -p no:cacheprovider "$@" || benchmarks=$?
for code in "$tests" "$serial"; do
  if [ "$code" -ne 0 ]; then exit "$code"; fi
done
exit "$benchmarks"
