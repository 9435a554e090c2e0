#!/usr/bin/env bash
# Builds twice (Release, and Debug with ASan+UBSan) and runs the whole suite under both:
# unit tests (Criterion), whole-program tests of the ivm command, and ONNX conformance.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
for kind in release asan; do
  echo "== $kind: build"
  scripts/build.sh "$kind"
  echo "== $kind: test"
  ctest --test-dir "build/$kind" --output-on-failure --parallel "$jobs" --timeout 1500
done
echo "== all tests passed (release and asan)"
