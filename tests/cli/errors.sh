#!/usr/bin/env bash
# Whole-program checks of the ivm command's contract: exit codes (0 ok, 1 user error,
# 2 usage, never a signal) and clear messages for bad input: corrupted modules (every
# truncation point of a small module, byte flips), garbled ONNX, wrong input shapes/dtypes.
set -u
ivm=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
expect() { # expect CODE DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"; sed 's/^/  | /' "$tmp/err" | head -5; fails=$((fails+1))
  elif [ "$want" = 1 ] && ! [ -s "$tmp/err" ]; then
    echo "FAIL: $what: exit 1 without a message"; fails=$((fails+1))
  fi
}
ex=$src/examples/cnn
expect 2 "no command" -- "$ivm"
expect 2 "unknown command" -- "$ivm" frobnicate
for c in compile run conform bench asm dis verify ops; do
  expect 0 "$c --help" -- "$ivm" $c --help
done
expect 2 "run without model" -- "$ivm" run
expect 2 "compile without -o" -- "$ivm" compile "$ex/model.onnx"
expect 1 "missing model" -- "$ivm" run "$tmp/nope.ivm"
expect 1 "missing onnx" -- "$ivm" compile "$tmp/nope.onnx" -o "$tmp/x.ivm"
expect 0 "compile example" -- "$ivm" compile "$ex/model.onnx" -o "$tmp/cnn.ivm"
expect 0 "verify example" -- "$ivm" verify "$tmp/cnn.ivm"
expect 0 "run example" -- "$ivm" run "$tmp/cnn.ivm" -i "$ex/input.npy" -o "$tmp/outdir"
expect 0 "run example by name" -- "$ivm" run "$tmp/cnn.ivm" -i "image=$ex/input.npy"
expect 1 "unknown input name" -- "$ivm" run "$tmp/cnn.ivm" -i "nosuch=$ex/input.npy"
expect 1 "wrong input shape" -- "$ivm" run "$tmp/cnn.ivm" -i "$ex/expected_probs.npy"
expect 1 "too many inputs" -- "$ivm" run "$tmp/cnn.ivm" -i "$ex/input.npy" -i "$ex/input.npy"
expect 1 "input not bound" -- "$ivm" run "$tmp/cnn.ivm"
expect 1 "input file is not a tensor" -- "$ivm" run "$tmp/cnn.ivm" -i "$ex/model.onnx"

# Corrupted modules: every truncation point, and byte flips.
size=$(stat -c %s "$tmp/cnn.ivm")
# The CONSTS section's [offset, end) from the section table (count at 20, table offset at
# 24; entries of 24 bytes: kind u32, align u32, offset u64, size u64).
u() { od -An -t "u$2" -j "$3" -N "$2" "$1" | tr -d ' '; }
nsec=$(u "$tmp/cnn.ivm" 4 20); tab=$(u "$tmp/cnn.ivm" 8 24); c0=$size; c1=$size
for ((k = 0; k < nsec; k++)); do
  e=$(( tab + 24 * k ))
  if [ "$(u "$tmp/cnn.ivm" 4 $e)" = 6 ]; then
    c0=$(u "$tmp/cnn.ivm" 8 $((e + 8))); c1=$(( c0 + $(u "$tmp/cnn.ivm" 8 $((e + 16))) ))
  fi
done
[ "$c0" -lt "$c1" ] || { echo "FAIL: no CONSTS section found"; fails=$((fails+1)); }
step=$(( size / 400 + 1 ))
for ((n = 0; n < size; n += step)); do
  head -c "$n" "$tmp/cnn.ivm" > "$tmp/t.ivm"
  expect 1 "truncated module ($n of $size bytes)" -- "$ivm" verify "$tmp/t.ivm"
done
flips_in_consts=0
for seed in $(seq 1 60); do
  cp "$tmp/cnn.ivm" "$tmp/f.ivm"
  off=$(( (seed * 7919) % size ))
  printf "\\x$(printf %02x $(( (seed * 37 + 1) % 256 )))" | dd of="$tmp/f.ivm" bs=1 seek="$off" conv=notrunc 2>/dev/null
  if ! cmp -s "$tmp/f.ivm" "$tmp/cnn.ivm"; then
    expect 1 "byte flip at $off" -- "$ivm" verify "$tmp/f.ivm"
    expect 1 "byte flip at $off (run --check-constants)" -- "$ivm" run "$tmp/f.ivm" \
      -i "$ex/input.npy" --check-constants
    if [ "$off" -ge "$c0" ] && [ "$off" -lt "$c1" ]; then
      # In the weights: a plain load does not read them (only ivm verify and
      # --check-constants do), so the run may succeed with wrong numbers; never a crash.
      "$ivm" run "$tmp/f.ivm" -i "$ex/input.npy" >/dev/null 2>&1; rc=$?
      [ $rc -le 1 ] || { echo "FAIL: byte flip at $off (run): exit $rc"; fails=$((fails+1)); }
      flips_in_consts=$((flips_in_consts + 1))
    else
      expect 1 "byte flip at $off (run)" -- "$ivm" run "$tmp/f.ivm" -i "$ex/input.npy"
    fi
  fi
done
# Both kinds of flip were tried.
[ "$flips_in_consts" -gt 0 ] && [ "$flips_in_consts" -lt 60 ] ||
  { echo "FAIL: $flips_in_consts of 60 flips in CONSTS"; fails=$((fails+1)); }
printf 'not a module' > "$tmp/bad.ivm"
expect 1 "wrong magic" -- "$ivm" verify "$tmp/bad.ivm"
expect 1 "dis of garbage" -- "$ivm" dis "$tmp/bad.ivm"

# Garbled and truncated ONNX files.
osize=$(stat -c %s "$ex/model.onnx")
for n in 0 1 10 100 1000 3000 $((osize - 1)); do
  head -c "$n" "$ex/model.onnx" > "$tmp/t.onnx"
  "$ivm" compile "$tmp/t.onnx" -o "$tmp/t.ivm" >/dev/null 2>"$tmp/err"; rc=$?
  if [ $rc -ne 1 ]; then echo "FAIL: truncated onnx ($n bytes): exit $rc"; fails=$((fails+1)); fi
done
head -c 5000 /dev/urandom > "$tmp/r.onnx" 2>/dev/null || true
"$ivm" compile "$tmp/r.onnx" -o "$tmp/r.ivm" >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || { echo "FAIL: random onnx: exit $rc"; fails=$((fails+1)); }

# asm errors
printf 'this is not assembly\n' > "$tmp/bad.ivs"
expect 1 "bad assembly" -- "$ivm" asm "$tmp/bad.ivs" -o "$tmp/bad2.ivm"
expect 0 "dis example" -- "$ivm" dis "$tmp/cnn.ivm" -o "$tmp/cnn.ivs"
expect 0 "asm example" -- "$ivm" asm "$tmp/cnn.ivs" -o "$tmp/cnn2.ivm"
cmp "$tmp/cnn.ivm" "$tmp/cnn2.ivm" || { echo "FAIL: asm(dis(m)) != m"; fails=$((fails+1)); }

echo "$fails failures"
[ $fails -eq 0 ]
