#!/usr/bin/env bash
# Installs every Debian package IVM needs to build, test and benchmark. Idempotent:
# quiet and fast when everything is present. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
  libcriterion-dev libffi-dev llvm-19-dev zlib1g-dev
  libopenblas-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
  python3-onnx python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
