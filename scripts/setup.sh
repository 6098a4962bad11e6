#!/usr/bin/env bash
# setup.sh [BUILD_DIR] [extra cmake args...]
# Installs the Debian packages the build needs (when missing), then configures and builds.
# Used by scripts/demo.sh and scripts/test.sh; safe to run again (it only does what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
shift || true

packages=(build-essential cmake pkg-config libcglm-dev libstb-dev libtinyobjloader-dev libinih-dev libcjson-dev
          libcairo2-dev libfontconfig-dev fonts-dejavu-core ffmpeg)
packages+=(clang libclang-rt-dev) # scripts/fuzz.sh: the libFuzzer harnesses of tests/fuzz
packages+=(python3-torch python3-numpy python3-pytest python3-venv python3-setuptools)  # python/ and tests/python
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The CUDA toolkit is not a Debian package here; use nvcc when it is installed (the CUDA backend is then
# compiled; without it the build is CPU-only and says so).
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build "$build_dir" -j "$jobs"
