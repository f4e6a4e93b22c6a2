#!/usr/bin/env bash
# Cross-compiles both plugins, tonemorph and tonemorph Synth, as Windows x64 VST3 bundles and Standalone apps
# with MinGW-w64 (Debian's JUCE 7.0.5), into dist/windows/: the two .vst3 bundle folders, the Standalone folder,
# and a zip of each. Also builds the VST3 test host that tests/test_windows_vst3.py runs under Wine.
# Idempotent and incremental: system packages (apt) once; the cross-built libraries once, in build-windows/deps;
# the CMake build in build-windows/cmake. The Linux build (build/, .venv) is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="$root/build-windows"
deps="$work/deps"
dist="$root/dist/windows"
mkdir -p "$work"
exec 9> "$work/.lock"
flock 9

ORT_VERSION=1.29.0
ORT_NPM_PACKAGE=com.github.asus4.onnxruntime@0.4.9   # official ORT 1.29.0 builds, Windows x64 DLL included
JUCE_DIR=/usr/lib/x86_64-linux-gnu/cmake/JUCE-7.0.5     # Debian's juce-modules-source (JUCE 8 dropped MinGW)
# Debian source packages cross-built static: JUCE's own copies are turned off in Debian's juce_core.h.
SOURCE_PACKAGES=(libjpeg-turbo/bookworm libpng1.6/bookworm kissfft/bookworm)
DEPS_VERSION="1 ORT $ORT_VERSION ${SOURCE_PACKAGES[*]}"   # change it to rebuild build-windows/deps

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$SECONDS

apt_packages=(cmake ninja-build dpkg-dev zip juce-modules-source libreaderwriterqueue-dev libeigen3-dev
  mingw-w64 gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix libz-mingw-w64-dev
  # the Windows test: Wine runs the host and the plugins; Xvfb gives the editor a display
  wine64 xvfb xauth)
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

toolchain="$root/cmake/mingw-w64-x86_64.cmake"
cross=(-G Ninja -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DTONEMORPH_WINDOWS_DEPS="$deps" -DCMAKE_BUILD_TYPE=Release)

# A static library from a Debian source package: configure, build and install into $deps.
build_dep() {
  local name=$1; shift
  local src
  src=$(find "$work/src" -maxdepth 1 -type d -name "$name-*" | head -n1)
  cmake -S "$src" -B "$work/src/build-$name" "${cross[@]}" -DCMAKE_INSTALL_PREFIX="$deps" "$@" > "$work/src/$name.log" 2>&1 &&
    cmake --build "$work/src/build-$name" --target install >> "$work/src/$name.log" 2>&1 ||
    { tail -n 40 "$work/src/$name.log" >&2; echo "building $name failed; the log is $work/src/$name.log" >&2; exit 1; }
}

if [ "$(cat "$deps/.version" 2>/dev/null)" != "$DEPS_VERSION" ]; then
  step "dependencies: cross-building libjpeg-turbo, libpng, KissFFT; ONNX Runtime $ORT_VERSION for Windows"
  rm -rf "$deps" "$work/src" "$work/apt"
  mkdir -p "$deps/include" "$deps/share" "$work/src" "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
  # apt-get source from the system's own Debian mirrors, through a private copy of their entries turned to deb-src
  # (and private lists and cache): the system's apt setup is not touched.
  mkdir -p "$work/apt/sources.list.d"
  shopt -s nullglob
  one_line=(/etc/apt/sources.list.d/*.list)
  [ ! -f /etc/apt/sources.list ] || one_line+=(/etc/apt/sources.list)
  sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' /dev/null "${one_line[@]}" > "$work/apt/sources.list"
  awk 'BEGIN { RS = ""; ORS = "\n\n" } /debian-archive-keyring/ { sub(/Types:[^\n]*/, "Types: deb-src"); print }' \
    /dev/null /etc/apt/sources.list.d/*.sources > "$work/apt/sources.list.d/debian.sources"
  shopt -u nullglob
  apt_private=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts="$work/apt/sources.list.d"
    -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" -o APT::Sandbox::User=root)
  apt-get "${apt_private[@]}" update -qq
  (cd "$work/src" && apt-get "${apt_private[@]}" source -qq "${SOURCE_PACKAGES[@]}" > source.log 2>&1) ||
    { tail -n 20 "$work/src/source.log" >&2; exit 1; }
  rm -rf "$work/apt"

  build_dep libjpeg-turbo -DENABLE_SHARED=OFF -DWITH_SIMD=OFF -DWITH_TURBOJPEG=OFF
  # JUCE includes jpeglib.h with JPEG_INTERNALS (so jpegint.h too) inside a namespace, after windows.h: the
  # namespace needs its own `boolean`, the same unsigned char as rpcndr.h's.
  cp "$(find "$work/src" -maxdepth 2 -name jpegint.h | head -n1)" "$deps/include/"
  sed -i 's|^#ifndef __RPCNDR_H__.*|#if 1  /* always: JUCE reads this header inside its own namespace */|' \
    "$deps/include/jconfig.h"
  build_dep libpng1.6 -DPNG_SHARED=OFF -DPNG_TESTS=OFF -DPNG_EXECUTABLES=OFF -DPNG_HARDWARE_OPTIMIZATIONS=OFF
  # KissFFT's CMake sets its install folders only when not cross-compiling.
  build_dep kissfft -DKISSFFT_STATIC=ON -DKISSFFT_TEST=OFF -DKISSFFT_TOOLS=OFF -DKISSFFT_PKGCONFIG=OFF \
    -DKISSFFT_DATATYPE=float -DCMAKE_INSTALL_INCLUDEDIR=include -DCMAKE_INSTALL_LIBDIR=lib

  # Header-only libraries serve both builds: Debian's copies, seen through the cross prefix.
  ln -s /usr/include/readerwriterqueue "$deps/include/readerwriterqueue"
  ln -s /usr/include/eigen3 "$deps/include/eigen3"
  ln -s /usr/share/eigen3 "$deps/share/eigen3"

  ort="$deps/onnxruntime"
  mkdir -p "$ort/include" "$ort/lib" "$work/src/npm"
  (cd "$work/src/npm" && npm pack --silent "$ORT_NPM_PACKAGE" > /dev/null && tar xzf ./*.tgz)
  package="$work/src/npm/package"
  cp "$(find "$package/Plugins" -path '*ios-arm64/onnxruntime.framework/Headers' -type d | head -n1)"/*.h "$ort/include/"
  cp "$package/Plugins/Windows/x64/onnxruntime.dll" "$ort/lib/"
  cp "$package/LICENSE" "$ort/LICENSE.txt"
  cp "$package/ThirdPartyNotices.txt" "$ort/ThirdPartyNotices.txt"
  have=$(strings -el "$ort/lib/onnxruntime.dll" | grep -m1 -x "$ORT_VERSION\..*" || true)
  [ -n "$have" ] || { echo "the Windows onnxruntime.dll is not version $ORT_VERSION" >&2; exit 1; }
  rm -rf "$work/src"
  echo "$DEPS_VERSION" > "$deps/.version"
fi

step "build: both plugins (VST3, Standalone) and the test host for Windows x64 (incremental, in build-windows/)"
log="$work/last-build.log"
if ! { cmake -S "$root" -B "$work/cmake" "${cross[@]}" -DJUCE_DIR="$JUCE_DIR" \
         -DONNXRUNTIME_ROOT="$deps/onnxruntime" -DTONEMORPH_KISSFFT_LINKAGE=STATIC \
         -DTONEMORPH_BUILD_PYTHON=OFF -DTONEMORPH_BUILD_TESTS=OFF -DTONEMORPH_BUILD_TEST_HOST=ON &&
       cmake --build "$work/cmake" --parallel "$(nproc)"; } > "$log" 2>&1; then
  grep -v "^\[" "$log" | tail -n 60 >&2
  echo "build failed; the whole log is in $log" >&2
  exit 1
fi

step "dist/windows: the bundles, the Standalone apps, a zip of each"
products="$work/cmake/plugins"
mkdir -p "$dist" "$work/stage"
# A built folder with the licences inside goes to dist/windows, and into a zip, when it differs from what is there.
publish() {
  local from=$1 name=$2 licences="$work/stage/$2/$3"
  rm -rf "${work:?}/stage/$name"
  cp -a "$from" "$work/stage/$name"
  mkdir -p "$licences"
  cp "$root/LICENSE" "$licences/tonemorph-LICENSE.txt"
  cp "$deps/onnxruntime/LICENSE.txt" "$licences/onnxruntime-LICENSE.txt"
  cp "$deps/onnxruntime/ThirdPartyNotices.txt" "$licences/onnxruntime-ThirdPartyNotices.txt"
  if [ -f "$dist/$name.zip" ] && diff -rq "$work/stage/$name" "$dist/$name" > /dev/null 2>&1; then
    rm -rf "${work:?}/stage/$name"
    return
  fi
  rm -rf "${dist:?}/$name" "$dist/$name.zip"
  mv "$work/stage/$name" "$dist/$name"
  (cd "$dist" && zip -qr -X "$name.zip" "$name")
}
publish "$products/VST3/tonemorph.vst3" tonemorph.vst3 Contents/Resources/licenses
publish "$products/VST3/tonemorph-synth.vst3" tonemorph-synth.vst3 Contents/Resources/licenses
publish "$products/Standalone" tonemorph-standalone licenses
echo "Windows build done in $((SECONDS - started)) s: $dist"
