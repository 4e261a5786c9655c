#!/usr/bin/env bash
# Installs the Debian 12 packages eatsim needs (build and tests), then configures and builds it in
# ./build. Idempotent: installs nothing and says nothing about packages when all are present.
#   tools/setup.sh            install what is missing, configure, build
#   tools/setup.sh --deps     only install what is missing
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config ccache git
  # oneDNN's CMake config requires OpenCL even for CPU-only use; libdnnl-dev only recommends it.
  libsystemc-dev libdnnl-dev ocl-icd-opencl-dev libyaml-cpp-dev libfmt-dev libboost-program-options-dev
  nlohmann-json3-dev libonnx-dev libprotobuf-dev libonnx-testdata
  # test fixtures: a one-node Slurm (tools/slurm-local.sh) and GNU parallel for sharded sweeps
  slurm-wlm munge parallel
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  python3 python3-numpy python3-torch python3-torchvision dataset-fashion-mnist gnuplot-nox
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      echo "setup: missing Debian packages: ${missing[*]}" >&2
      echo "setup: run as root, or install them with: sudo apt-get install ${missing[*]}" >&2
      exit 2
    fi
  else
    SUDO=
  fi
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ "${1:-}" == "--deps" ]] && exit 0

# ccache keyed on paths relative to the checkout, so another clone of the same sources hits the cache.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
BUILD=${EATSIM_BUILD_DIR:-build}
JOBS=${EATSIM_JOBS:-$(nproc)}
# Configure unless a previous configure finished: a failed or interrupted one leaves CMakeCache.txt
# without a generated build system, and must not wedge later runs.
if [[ ! -f "$BUILD/CMakeCache.txt" || ! ( -f "$BUILD/Makefile" || -f "$BUILD/build.ninja" ) ]]; then
  mkdir -p "$BUILD"
  if ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD/configure.log" 2>&1; then
    cat "$BUILD/configure.log" >&2
    echo "setup: CMake configure failed (log above, also in $BUILD/configure.log); fix it and rerun tools/setup.sh" >&2
    exit 2
  fi
fi
cmake --build "$BUILD" -j "$JOBS"
