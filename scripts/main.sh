#!/usr/bin/env bash
# Installs everything and builds the engine and the plugins (scripts/setup.sh), then renders the bundled
# guitar clip through the bundled trumpet and prints where the result and the plugins are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/tonemorph render examples/guitar.wav out/guitar-as-trumpet.wav --model trumpet --overwrite
echo
echo "Listen:  $(pwd)/out/guitar-as-trumpet.wav"
echo "Plugins (copy to ~/.vst3 and ~/.lv2 with '.venv/bin/tonemorph plugin install'):"
.venv/bin/tonemorph plugin-path
