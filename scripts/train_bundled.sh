#!/usr/bin/env bash
# Reproduces the bundled instruments in models/: renders the FluidR3 training and held-out sets
# (training/soundfont.py, seed 0), trains the trumpet from scratch, fine-tunes the others from it,
# and evaluates each on held-out melodies it never saw (numbers in models/eval/*.json).
#   bash scripts/train_bundled.sh [INSTRUMENT ...]     (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
tm=.venv/bin/tonemorph
read -r -a instruments <<< "${*:-trumpet violin flute alto_sax}"

[ -d data/trumpet ] || .venv/bin/python -m tonemorph.training.soundfont all data --seed 0
[ -d data/heldout ] || .venv/bin/python -m tonemorph.training.soundfont all data --heldout --seed 0
mkdir -p models/eval

for data in "${instruments[@]}"; do
  name=$data
  [ "$data" = alto_sax ] && name=saxophone
  if [ "$name" = trumpet ]; then
    $tm train data/trumpet --name trumpet --out models/trumpet.onnx --run-dir runs/trumpet --overwrite
  else
    # Fine-tuned from the trumpet: the decoder already knows pitch and loudness; the timbre moves.
    # (The shipped violin was stopped at step 1221 of 1500; flute and saxophone ran 900.)
    $tm train "data/$data" --name "$name" --from models/trumpet.onnx --steps 900 \
      --out "models/$name.onnx" --run-dir "runs/$name" --overwrite
  fi
  $tm eval "models/$name.onnx" --heldout data/heldout --instrument "$data" --json "models/eval/$name.json"
done
