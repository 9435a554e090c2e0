#!/usr/bin/env bash
# Runs the synthetic model zoo (tests/models/zoo.py) through IVM and ONNX
# Runtime on the same seeded inputs and compares the outputs with compare.py.
# One line per model variant, then a summary. A developer tool, not in CTest.
#
#   tests/models/zoo.sh IVM_BINARY [MODEL...]
#
# The zoo is (re)built into $IVM_MODELS_DIR/zoo (default build/models/zoo)
# with /usr/bin/python3 (onnx + numpy); ONNX Runtime is the onnxruntime-node
# that scripts/fetch-models.sh installs into $IVM_MODELS_DIR.
# Exit status: 0 when every variant matched, 1 otherwise.
set -uo pipefail
# IVM_RUN_FLAGS: extra `ivm run` flags, e.g. "--backend jit" to check the JIT backend.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/models
PY=/usr/bin/python3
export IVM_MODELS_DIR=${IVM_MODELS_DIR:-$ROOT/build/models}
IVM=${1:-}
if [ -z "$IVM" ] || [ ! -x "$IVM" ]; then
  echo "usage: tests/models/zoo.sh IVM_BINARY [MODEL...]" >&2; exit 2
fi
IVM=$(cd "$(dirname "$IVM")" && pwd)/$(basename "$IVM")
shift
RUN_TIMEOUT=${IVM_MODELS_TIMEOUT:-300}
ZOO=$IVM_MODELS_DIR/zoo
WORK=$ZOO/work

"$PY" "$HERE/zoo.py" "$ZOO" "$@" >/dev/null || { echo "zoo.py failed" >&2; exit 2; }

now() { date +%s.%N; }
secs() { "$PY" -c "print('%.2f' % ($2 - $1))"; }

pass=0 fail=0 compiled=""
while read -r name variant atol rtol; do
  [ -n "$name" ] || continue
  model=$ZOO/$name.onnx
  w=$WORK/$name/$variant
  rm -rf "$w"; mkdir -p "$w"
  line=""
  if [ "$compiled" != "$name" ]; then
    rm -f "$WORK/$name/model.ivm"
    if ! cmsg=$("$IVM" compile "$model" -o "$WORK/$name/model.ivm" 2>&1); then
      cmsg="FAIL compile: $(echo "$cmsg" | grep -v '^$' | tail -1 | sed "s|$model: ||")"
    else
      cmsg=""
    fi
    compiled=$name
  fi
  line=$cmsg
  in=$ZOO/$name/$variant
  if [ -z "$line" ]; then
    mapfile -t ob <"$in/binds.txt"
    t0=$(now)
    if ! msg=$(node "$HERE/ort_run.js" run "$model" "$w/ort" "${ob[@]}" 2>&1); then
      line="FAIL onnxruntime: $msg"
    fi
    t1=$(now)
  fi
  if [ -z "$line" ]; then
    iargs=()
    for b in "${ob[@]}"; do iargs+=(-i "$b"); done
    t2=$(now)
    if ! msg=$(timeout "$RUN_TIMEOUT" "$IVM" run ${IVM_RUN_FLAGS:-} "$WORK/$name/model.ivm" "${iargs[@]}" -o "$w/ivm" 2>&1); then
      line="FAIL run: $(echo "$msg" | grep -v '^$' | tail -1)"
    fi
    t3=$(now)
  fi
  if [ -z "$line" ]; then
    if res=$("$PY" "$HERE/compare.py" "$w/ort" "$w/ivm" --atol "$atol" --rtol "$rtol"); then
      line="PASS ${res#ok } (ivm $(secs "$t2" "$t3")s, ort+node $(secs "$t0" "$t1")s)"
    else
      line="FAIL ${res#FAIL }"
    fi
  fi
  case $line in PASS*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)) ;; esac
  printf '%-30s %s\n' "$name@$variant" "$line"
done <"$ZOO/manifest.txt"

echo "zoo: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
