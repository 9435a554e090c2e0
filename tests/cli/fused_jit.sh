#!/usr/bin/env bash
# The compiler's FusedMulAdd on the JIT backend: fuse_muladd's 11 instructions (4 of them
# FusedMulAdd), all elementwise of one shape, become one fused region, and every output
# has the interpreter's bits.
set -u
ivm=$1; src=$2
model=$src/tests/data/fuse_muladd.onnx; x=$src/tests/data/fuse_muladd_x.npy
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=1; }
export IVM_JIT_FUSE_MIN_ELEMENTS=1 # the fixture's tensors are small
"$ivm" run "$model" -i x="$x" -o "$tmp/interp" >/dev/null || fail "interpreter run"
"$ivm" run "$model" -i x="$x" -o "$tmp/jit" --backend jit --jit-cache "" >/dev/null || fail "JIT run"
for f in "$tmp"/interp/*.npy; do
  cmp -s "$f" "$tmp/jit/$(basename "$f")" || fail "$(basename "$f") differs between the backends"
done
[ "$(ls "$tmp"/interp/*.npy | wc -l)" -eq 8 ] || fail "expected 8 outputs"
out=$("$ivm" bench "$model" -i x="$x" --backend jit --jit-cache "" --reps 1) || fail "bench"
n=$(grep -oE '"instructions": [0-9]+' <<<"$out" | grep -oE '[0-9]+')
grep -qF "\"fused_instructions\": $n," <<<"$out" || fail "not all $n instructions fused: $out"
[ $fails -eq 0 ] && echo "fused_jit: interpreter and JIT agree bit for bit; $(grep -oE '"fused_regions": [0-9]+' <<<"$out")"
exit $fails
