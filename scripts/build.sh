#!/usr/bin/env bash
# Rebuilds the C++ core and the Python binding into the venv (incremental, cached in build/).
# Serialised with a lock so that parallel callers do not share a half-written build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
exec 9> build/.lock
flock 9
printf '\n\033[1m== build: C++ core and Python binding (incremental, in build/)\033[0m\n'
log=build/last-build.log
if ! CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) .venv/bin/python -m pip install --no-build-isolation --no-deps -e . \
    -Ccmake.define.ONNXRUNTIME_ROOT="$(pwd)/.deps/onnxruntime" > "$log" 2>&1; then
  grep -v "^WARNING: Location" "$log" | tail -n 60 >&2
  echo "build failed; the whole log is in $log" >&2
  exit 1
fi
