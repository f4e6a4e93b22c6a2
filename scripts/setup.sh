#!/usr/bin/env bash
# Installs everything tonemorph needs on Debian 12 and builds it, idempotently:
# system packages, the venv in .venv, ONNX Runtime (headers + library) in .deps, the C++ build.
# A second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ORT_VERSION=1.29.0                         # the Python wheel and the C++ library must match
ORT_NPM_PACKAGE=com.github.asus4.onnxruntime@0.4.9   # official ORT 1.29.0 headers + Linux x64 library
TORCH_VERSION=2.13.0

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

apt_packages=(build-essential cmake ninja-build pkg-config python3-venv python3-dev
  libreaderwriterqueue-dev libfftw3-dev
  fluid-soundfont-gm libfluidsynth-dev
  # the plugin: JUCE 7 (with the VST3 and LV2 SDKs) and the libraries its Linux back ends build against
  juce-modules-source libasound2-dev libjack-jackd2-dev libfreetype-dev libfontconfig1-dev libx11-dev
  libxcomposite-dev libxcursor-dev libxext-dev libxinerama-dev libxrandr-dev libxrender-dev libgl-dev
  # the plugin tests: LV2 tools (lv2ls/lv2info/lv2apply, lv2_validate + sord_validate), an X server for the
  # editor and the standalone app, and tools to find and photograph its window
  lilv-utils lv2-dev sordi xvfb xauth xdotool x11-utils imagemagick
  # a DAW that renders both plugins headless by export and by bounce (tests/test_plugin_ardour.py)
  ardour
  # the sampler's training data: Hydrogen's drum kits (docs/sampler-data.md); the drums model's data:
  # Hydrogen's songs and MMA's groove library (docs/midi-data.md)
  hydrogen-drumkits hydrogen-data mma
  # `tonemorph midi live`'s tests: a JACK server with its dummy backend, a MIDI system that runs without
  # /dev/snd/seq (with JACK 2's headers above: JACK 1's libjack-dev would remove jackd2 again)
  jackd2)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm > /dev/null || missing+=(npm)   # Node.js from elsewhere brings its own npm
if ((${#missing[@]})); then
  step "apt: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

ort=.deps/onnxruntime
if [ ! -f "$ort/.version" ] || [ "$(cat "$ort/.version")" != "$ORT_VERSION" ]; then
  step "ONNX Runtime $ORT_VERSION: assembling headers and library in $ort"
  rm -rf "$ort" .deps/npm && mkdir -p "$ort/include" "$ort/lib" .deps/npm
  (cd .deps/npm && npm pack --silent "$ORT_NPM_PACKAGE" > /dev/null && tar xzf ./*.tgz)
  headers=$(find .deps/npm/package/Plugins -path '*ios-arm64/onnxruntime.framework/Headers' -type d | head -n1)
  cp "$headers"/*.h "$ort/include/"
  cp .deps/npm/package/Plugins/Linux/x64/libonnxruntime.so "$ort/lib/libonnxruntime.so.$ORT_VERSION"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ort/lib/libonnxruntime.so.1"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ort/lib/libonnxruntime.so"
  have=$(grep -ao 'VERS_[0-9.]*' "$ort/lib/libonnxruntime.so.$ORT_VERSION" | head -n1)
  [ "$have" = "VERS_$ORT_VERSION" ] || { echo "ONNX Runtime library is $have, expected VERS_$ORT_VERSION" >&2; exit 1; }
  rm -rf .deps/npm
  echo "$ORT_VERSION" > "$ort/.version"
fi

if [ ! -x .venv/bin/python ]; then
  step "venv: creating .venv"
  python3 -m venv .venv
fi
py=.venv/bin/python
stamp=.venv/.tonemorph-deps
deps_hash=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$deps_hash" ]; then
  step "venv: installing Python packages"
  $py -m pip install -q --upgrade pip
  # torch first and pinned: anything that asks for torch later finds it satisfied (no CUDA download).
  $py -m pip install -q "torch==$TORCH_VERSION"
  $py -m pip install -q "onnxruntime==$ORT_VERSION" "scikit-build-core>=0.10" "pybind11>=2.12" ninja
  $py - <<'PY' > .deps-requirements.txt
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + sum(p["optional-dependencies"].values(), [])))
PY
  $py -m pip install -q -r .deps-requirements.txt "torch==$TORCH_VERSION"
  # Basic Pitch's own code, for the transcription parity tests only: its wheel asks for TensorFlow on Linux,
  # which its ONNX path (all the tests use) does not need.
  $py -m pip install -q --no-deps "basic-pitch==0.4.0"
  rm -f .deps-requirements.txt
  echo "$deps_hash" > "$stamp"
fi
# librosa compiles its numba kernels when imported and caches them beside its code. Two processes that
# compile them at once can pair cache files from different processes, and the next call segfaults
# (numba/numba#10128; seen in the parallel tests of a fresh clone). Compiling them here, alone, first,
# leaves every later process a finished cache to read (a second or two; nothing when already cached).
$py -c "import librosa.beat, librosa.core.audio, librosa.core.pitch, librosa.util.utils"

bash scripts/build.sh
echo "setup done: $root/.venv/bin/tonemorph"
