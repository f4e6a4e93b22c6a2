#!/usr/bin/env bash
# Time to a usable instrument on this machine (not part of the suite: it trains for up to 35 minutes).
#   bash benchmarks/time_to_usable.sh [scratch] [from]     (default: both)
# scratch: the trumpet from scratch on its 12 minutes of FluidR3 renders, budget 30 minutes.
# from:    the saxophone fine-tuned from the bundled trumpet on 4.7 minutes of alto sax, budget 5 minutes.
# "Usable" = `tonemorph eval` passes on the held-out melodies; numbers in benchmarks/results/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
read -r -a which <<< "${*:-scratch from}"
[ -d data/trumpet ] || $py -m tonemorph.training.soundfont all data --seed 0
[ -d data/heldout ] || $py -m tonemorph.training.soundfont all data --heldout --seed 0
mkdir -p benchmarks/results

for w in "${which[@]}"; do
  case $w in
    scratch)
      $py -m tonemorph.training.time_to_usable data/trumpet --heldout data/heldout --instrument trumpet \
        --budget-minutes 30 --json benchmarks/results/time-to-usable-trumpet.json ;;
    from)
      few=$(mktemp -d)
      trap 'rm -rf "$few"' EXIT
      for f in melody-00{0..9} long_tone-000 scale-000 arpeggio-000; do ln -s "$(pwd)/data/alto_sax/$f.wav" "$few/"; done
      $py -m tonemorph.training.time_to_usable "$few" --heldout data/heldout --instrument alto_sax \
        --from models/trumpet.onnx --steps 1000 --every 100 --budget-minutes 5 \
        --json benchmarks/results/time-to-usable-saxophone-from-trumpet.json ;;
    *) echo "unknown measurement '$w' (scratch or from)" >&2; exit 2 ;;
  esac
done
