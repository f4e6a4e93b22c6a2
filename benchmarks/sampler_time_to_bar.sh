#!/usr/bin/env bash
# Minutes to fine-tune the bundled `drums` sampler on a user's one-shots until its sounds pass the quality bar
# (not part of the suite: it trains for up to 20 minutes on 2 threads; nothing else should run beside it).
#   bash benchmarks/sampler_time_to_bar.sh
# "A user's one-shots": the 141 distinct sounds of the four Hydrogen kits `drums` never trained on (held out
# for its validation: The Black Pearl 1.0, GMRockKit, TR808EmulationKit, Audiophob), linked into one folder;
# 41 of them (0.29) are held out again, at random, for the fine-tune's own measures
# (training/sampler/time_to_bar.py), so that 100 are left to train on, the least the issue names.
set -euo pipefail
cd "$(dirname "$0")/.."
kits=/usr/share/hydrogen/data/drumkits
[ -d "$kits" ] || { echo "needs Debian's hydrogen-drumkits ($kits)" >&2; exit 2; }
user=$(mktemp -d)
trap 'rm -rf "$user"' EXIT
for k in "The Black Pearl 1.0" GMRockKit TR808EmulationKit Audiophob; do ln -s "$kits/$k" "$user/$k"; done
mkdir -p benchmarks/results
.venv/bin/python -m tonemorph.training.sampler.time_to_bar "$user" --from drums --budget-minutes 20 \
  --every 500 --steps 2500 --threads 2 --validation-fraction 0.29 \
  --json benchmarks/results/sampler-time-to-bar.json "$@"
