#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), then runs the whole test suite: Python, bindings, the C++
# real-time checks (driven from pytest) and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest tests benchmarks -p no:cacheprovider "$@"
