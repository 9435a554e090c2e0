#!/usr/bin/env bash
# Builds IVM. Usage: scripts/build.sh [release|asan]   (default: release)
#   release -> build/release  (-O3)
#   asan    -> build/asan     (Debug with AddressSanitizer + UndefinedBehaviorSanitizer)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
case "$kind" in
  release) dir=build/release; flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) dir=build/asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DIVM_SANITIZE=ON "-DCMAKE_C_FLAGS_DEBUG=-O1 -g") ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$dir/build.ninja" ] && [ ! -f "$dir/Makefile" ]; then  # a failed configure leaves only the cache
  cmake -S . -B "$dir" "${generator[@]}" "${flags[@]}" >/dev/null
fi
cmake --build "$dir" --parallel "$(nproc)"
