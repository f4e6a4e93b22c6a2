#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), then renders the bundled guitar clip through the bundled
# trumpet and prints where the result is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
clip=examples/guitar.wav
if [ ! -f models/trumpet.onnx ] || [ ! -f "$clip" ]; then
  echo "No bundled trumpet (models/trumpet.onnx) or guitar clip ($clip) yet: see the README's status." >&2
  echo "Installed models:" >&2
  .venv/bin/tonemorph models
  exit 0
fi
.venv/bin/tonemorph render "$clip" out/guitar-as-trumpet.wav --model trumpet
echo "Listen: $(pwd)/out/guitar-as-trumpet.wav"
