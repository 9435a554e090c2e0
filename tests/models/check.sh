#!/usr/bin/env bash
# Runs the real-world models fetched by scripts/fetch-models.sh through IVM and
# ONNX Runtime on the same deterministic inputs and compares the outputs
# (allclose rtol 1e-3, atol 1e-4). One line per model. A developer tool: it is
# not part of CTest or CI (the models are downloaded, never committed).
#
#   tests/models/check.sh IVM_BINARY [MODEL...]      e.g. build/release/ivm
#
# MODEL selects a table entry (name or name@variant); a bare name also selects
# its variants.
#
# Environment: IVM_MODELS_DIR (default build/models) holds the models and
# onnxruntime-node; work files go to $IVM_MODELS_DIR/work/<model>/.
# Exit status: 0 when every fetched model matched, 1 otherwise.
set -uo pipefail
# IVM_RUN_FLAGS: extra `ivm run` flags, e.g. "--backend jit" to check the JIT backend.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/models
PY=/usr/bin/python3
export IVM_MODELS_DIR=${IVM_MODELS_DIR:-$ROOT/build/models}
IVM=${1:-}
if [ -z "$IVM" ] || [ ! -x "$IVM" ]; then
  echo "usage: tests/models/check.sh IVM_BINARY [MODEL...]" >&2; exit 2
fi
IVM=$(cd "$(dirname "$IVM")" && pwd)/$(basename "$IVM")
shift
RUN_TIMEOUT=${IVM_MODELS_TIMEOUT:-300}

# name[@variant] | calls | carried state (OUT=IN,...) | input specs (see
# ort_run.js gen). The model file is $IVM_MODELS_DIR/<name>.onnx; variants run
# the same model on other shapes/values (dynamic shapes, other If branches).
TABLE='
silero_vad_legacy|3|hn=h,cn=c|input=1x512 sr=-:const(16000) h=2x1x64:zeros c=2x1x64:zeros
silero_vad_legacy@8k|3|hn=h,cn=c|input=1x256 sr=-:const(8000) h=2x1x64:zeros c=2x1x64:zeros
silero_vad_v5|3|stateN=state|input=1x512 sr=-:const(16000) state=2x1x128:zeros
silero_vad_v5@8k_b2|3|stateN=state|input=2x256 sr=-:const(8000) state=2x2x128:zeros
ppocr_v4_det|1||x=1x3x128x192:text(-2,2)
ppocr_v4_det@b2|1||x=2x3x96x160:text(-2,2)
ppocr_v4_rec|1||x=1x3x48x160:text(-1,1)
ppocr_v4_rec@w320|1||x=1x3x48x320:text(-1,1)
ppocr_mobile_v2_cls|1||x=1x3x48x192:text(-1,1)
ppocr_mobile_v2_cls@b3|1||x=3x3x48x192:text(-1,1)
oww_melspectrogram|1||input=1x1760:rand(-3000,3000)
oww_embedding|1||input_1=1x76x32x1:rand(-2,2)
oww_embedding@b4|1||input_1=4x76x32x1:rand(-2,2)
oww_hey_jarvis|1||x.1=1x16x96
'

want() { # is model $1 selected on the command line?
  [ ${#SELECTED[@]} -eq 0 ] && return 0
  local s; for s in "${SELECTED[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1
}
SELECTED=("$@")

# Prints NAME=FILE for each .npy in a directory (inputs are named after files).
binds_of() { local f; for f in "$1"/*.npy; do echo "$(basename "$f" .npy)=$f"; done; }

pass=0 fail=0 skip=0
while IFS='|' read -r name calls carry specs; do
  [ -n "$name" ] || continue
  want "$name" || want "${name%%@*}" || continue
  model=$IVM_MODELS_DIR/${name%%@*}.onnx
  if [ ! -f "$model" ]; then
    printf '%-24s SKIP not fetched (scripts/fetch-models.sh)\n' "$name"; skip=$((skip + 1)); continue
  fi
  work=$IVM_MODELS_DIR/work/$name
  rm -rf "$work"; mkdir -p "$work"
  line=""
  # Compile once; the first unsupported op or inference error is the reason.
  if ! msg=$("$IVM" compile "$model" -o "$work/model.ivm" 2>&1); then
    line="FAIL compile: $(echo "$msg" | grep -v '^$' | tail -1 | sed "s|$model: ||")"
    missing=$("$PY" "$HERE/ops.py" "$model" "$IVM" 2>/dev/null | sed -n 's/^missing: //p')
    [ -n "$missing" ] && line="$line [missing: $missing]"
  fi
  worst=0
  k=1
  while [ -z "$line" ] && [ "$k" -le "$calls" ]; do
    # Fresh inputs for this call (seed = call number), then the carried state.
    # shellcheck disable=SC2086
    if ! msg=$(node "$HERE/ort_run.js" gen "$model" "$work/in$k" --seed "$k" $specs 2>&1 >/dev/null); then
      line="FAIL ort_run gen: $msg"; break
    fi
    mkdir -p "$work/in$k.ort" "$work/in$k.ivm"
    cp "$work/in$k"/*.npy "$work/in$k.ort/"; cp "$work/in$k"/*.npy "$work/in$k.ivm/"
    if [ "$k" -gt 1 ] && [ -n "$carry" ]; then
      for pair in ${carry//,/ }; do
        out=${pair%%=*} in=${pair#*=}
        cp "$work/out$((k - 1)).ort/$out.npy" "$work/in$k.ort/$in.npy"
        cp "$work/out$((k - 1)).ivm/$out.npy" "$work/in$k.ivm/$in.npy"
      done
    fi
    mapfile -t ob < <(binds_of "$work/in$k.ort")
    if ! msg=$(node "$HERE/ort_run.js" run "$model" "$work/out$k.ort" "${ob[@]}" 2>&1); then
      line="FAIL onnxruntime (call $k): $msg"; break
    fi
    iargs=()
    while IFS= read -r b; do iargs+=(-i "$b"); done < <(binds_of "$work/in$k.ivm")
    if ! msg=$(timeout "$RUN_TIMEOUT" "$IVM" run ${IVM_RUN_FLAGS:-} "$work/model.ivm" "${iargs[@]}" -o "$work/out$k.ivm" 2>&1); then
      line="FAIL run (call $k): $(echo "$msg" | grep -v '^$' | tail -1)"; break
    fi
    if ! res=$("$PY" "$HERE/compare.py" "$work/out$k.ort" "$work/out$k.ivm"); then
      line="FAIL call $k/$calls: ${res#FAIL }"; break
    fi
    err=${res#ok max_abs=}
    worst=$("$PY" -c "print('%.3g' % max(float('$worst'), float('$err')))")
    k=$((k + 1))
  done
  if [ -z "$line" ]; then
    if [ "$calls" -gt 1 ]; then line="PASS max_abs=$worst ($calls calls, state carried)"; else line="PASS max_abs=$worst"; fi
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
  fi
  printf '%-24s %s\n' "$name" "$line"
done <<<"$TABLE"

echo "models: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
