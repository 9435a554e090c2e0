#!/usr/bin/env bash
# `ivm bench` prints one JSON line with load_ms, first_ms, min_ms and median_ms (first_ms
# right after load_ms); --check-constants is accepted; the model path is
# escaped as a JSON string (quotes and backslashes in file names).
set -u
ivm=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/we\"ird\\dir"
cp "$src/examples/cnn/model.onnx" "$tmp/we\"ird\\dir/m.onnx"
out=$("$ivm" bench "$tmp/we\"ird\\dir/m.onnx" --reps 3) || { echo "FAIL: bench exited $?"; exit 1; }
echo "$out"
fails=0
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || { echo "FAIL: not one line"; fails=1; }
grep -qF 'we\"ird\\dir/m.onnx"' <<<"$out" || { echo "FAIL: model path not JSON-escaped"; fails=1; }
for k in load_ms first_ms min_ms median_ms; do
  grep -qE "\"$k\": [0-9]+\.[0-9]+" <<<"$out" || { echo "FAIL: no numeric $k"; fails=1; }
done
grep -qE '"load_ms": [0-9.]+, "first_ms": [0-9.]+, "min_ms"' <<<"$out" || { echo "FAIL: first_ms not after load_ms"; fails=1; }
"$ivm" compile "$src/examples/cnn/model.onnx" -o "$tmp/m.ivm" >/dev/null || { echo "FAIL: compile"; fails=1; }
"$ivm" bench "$tmp/m.ivm" --reps 1 --check-constants >/dev/null || { echo "FAIL: bench --check-constants exited $?"; fails=1; }
"$ivm" bench "$src/examples/cnn/model.onnx" --reps 0 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "FAIL: --reps 0 should be a usage error, got $rc"; fails=1; }
# --profile: per op kind, the instructions and ms per run (the example CNN has 2 Conv + Relu,
# fused into 2 FusedConvs).
out=$("$ivm" bench "$src/examples/cnn/model.onnx" --reps 2 --profile) || { echo "FAIL: --profile exited $?"; exit 1; }
grep -qE '"profile": \[\{"op": "ivm\.[A-Za-z]+", "instructions": [0-9]+, "ms": [0-9.]+\}' <<<"$out" || { echo "FAIL: no profile: $out"; fails=1; }
grep -qE '\{"op": "ivm\.FusedConv", "instructions": 2, ' <<<"$out" || { echo "FAIL: profile lacks the 2 FusedConvs: $out"; fails=1; }
# --schedule: every mode runs and is echoed; a graph-scheduled run with profiling still
# counts the 2 FusedConvs; an unknown mode is a usage error.
for m in seq auto graph; do
  out=$("$ivm" bench "$src/examples/cnn/model.onnx" --reps 2 --threads 2 --schedule $m --profile) || { echo "FAIL: --schedule $m exited $?"; fails=1; }
  grep -qF "\"schedule\": \"$m\"" <<<"$out" || { echo "FAIL: --schedule $m not reported: $out"; fails=1; }
  grep -qE '\{"op": "ivm\.FusedConv", "instructions": 2, ' <<<"$out" || { echo "FAIL: --schedule $m profile: $out"; fails=1; }
done
"$ivm" bench "$src/examples/cnn/model.onnx" --schedule fast >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "FAIL: --schedule fast should be a usage error, got $rc"; fails=1; }
exit $fails
