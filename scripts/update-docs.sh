#!/usr/bin/env bash
# Regenerates the generated documents: docs/isa.md (from the op table) and
# docs/conformance.md (from a full `ivm conform` run). Run after changing ops or kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release >/dev/null
build/release/ivm ops --markdown > docs/isa.md
d=/usr/share/libonnx-testdata/data
build/release/ivm conform --markdown docs/conformance.md "$d/node" "$d/pytorch-converted" \
  "$d/pytorch-operator" "$d/simple" | tail -n 1
echo "updated docs/isa.md and docs/conformance.md"
