#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), builds the Windows bundles (scripts/build_windows.sh), then runs
# the whole test suite: Python, bindings, the C++ real-time checks (driven from pytest), the Windows VST3s
# under Wine, and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build_windows.sh
exec .venv/bin/python -m pytest tests benchmarks -p no:cacheprovider "$@"
