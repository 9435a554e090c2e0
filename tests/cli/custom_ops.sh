#!/usr/bin/env bash
# The custom-op examples (examples/custom-ops): each model runs and matches its numpy
# reference; plugin and FFI models fail cleanly without their --allow-* flag, naming the
# op or symbol and the flag; ivm ops lists the plugin's op; ivm dis names custom ops.
set -u
ivm=$1; src=$2; plugin=$3
ex=$src/examples/custom-ops
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=1; }
# expect_refusal NAME PATTERN CMD...: the command must fail and print PATTERN.
expect_refusal() {
  local name=$1 pat=$2; shift 2
  local out
  if out=$("$@" 2>&1); then fail "$name: succeeded without permission"; fi
  grep -qF -- "$pat" <<<"$out" || fail "$name: message lacks '$pat': $out"
  echo "refused as expected: $out"
}
# expect_pass NAME CMD...: an ivm conform run that must report 1 passed.
expect_pass() {
  local name=$1 out; shift
  out=$("$@" 2>&1) || fail "$name: exited non-zero: $out"
  grep -q "^1 passed, 0 failed" <<<"$out" || fail "$name: $out"
}

# plugin
expect_refusal plugin "--allow-plugin" "$ivm" run "$ex/plugin/model.onnx" -i "$ex/plugin/test_data_set_0/input_0.pb"
expect_refusal plugin "com.example.Swish" "$ivm" run "$ex/plugin/model.onnx" -i "$ex/plugin/test_data_set_0/input_0.pb"
expect_pass plugin "$ivm" conform -j 1 --allow-plugin "$plugin" "$ex/plugin"
"$ivm" compile "$ex/plugin/model.onnx" -o "$tmp/swish.ivm" --allow-plugin "$plugin" >/dev/null || fail "plugin: compile"
expect_refusal "plugin .ivm" "--allow-plugin" "$ivm" run "$tmp/swish.ivm" -i "$ex/plugin/test_data_set_0/input_0.pb"
"$ivm" run "$tmp/swish.ivm" -i "$ex/plugin/test_data_set_0/input_0.pb" --allow-plugin "$plugin" >/dev/null || fail "plugin: run .ivm"
"$ivm" dis "$tmp/swish.ivm" --allow-plugin "$plugin" | grep -q "com.example.Swish" || fail "plugin: dis does not name com.example.Swish"
"$ivm" ops --plugin "$plugin" | grep -qE "^com\.example\.Swish@1 +plugin" || fail "plugin: ivm ops --plugin does not list it"
"$ivm" ops | grep -qE "^ivm\.Conv@1 +builtin" || fail "ops: no builtin kind"
"$ivm" ops | grep -qE "^ivm\.ffi\.\*@1 +ffi" || fail "ops: no ffi family"
"$ivm" ops | grep -qE "^ivm\.expr\.\*@1 +expr" || fail "ops: no expr family"

# ffi
expect_refusal ffi "--allow-ffi cbrtf" "$ivm" run "$ex/ffi/model.onnx" -i "$ex/ffi/test_data_set_0/input_0.pb"
expect_refusal "ffi wrong symbol" "--allow-ffi cbrtf" "$ivm" run "$ex/ffi/model.onnx" -i "$ex/ffi/test_data_set_0/input_0.pb" --allow-ffi cbrt
expect_pass ffi "$ivm" conform -j 1 --allow-ffi cbrtf "$ex/ffi"
"$ivm" compile "$ex/ffi/model.onnx" -o "$tmp/cbrt.ivm" >/dev/null || fail "ffi: compile needs no permission"
"$ivm" verify "$tmp/cbrt.ivm" >/dev/null || fail "ffi: verify needs no permission"
"$ivm" dis "$tmp/cbrt.ivm" | grep -q "ivm.ffi.Cbrt" || fail "ffi: dis does not name ivm.ffi.Cbrt"

# expr: no permission needed
expect_pass expr "$ivm" conform -j 1 "$ex/expr"
"$ivm" compile "$ex/expr/model.onnx" -o "$tmp/expr.ivm" >/dev/null || fail "expr: compile"
"$ivm" dis "$tmp/expr.ivm" | grep -q "ivm.expr.Softplus" || fail "expr: dis does not name ivm.expr.Softplus"
# The same three on the JIT backend, compared with the interpreter (--diff); the second
# load of each links the cached object instead of compiling.
for ex_dir in plugin ffi expr; do
  expect_pass "jit $ex_dir" "$ivm" conform -j 1 --backend jit --diff --jit-cache "$tmp/jit" \
    --allow-plugin "$plugin" --allow-ffi cbrtf "$ex/$ex_dir"
done
out=$("$ivm" bench "$ex/expr/model.onnx" --backend jit --jit-cache "$tmp/jit" --reps 1) || fail "jit bench: $out"
grep -q '"jit_functions": 2, "jit_compiled": 0, "jit_cache_hits": 2' <<<"$out" || fail "jit cache: $out"
# Without libivm_jit.so the JIT is refused with a message (the interpreter needs no LLVM).
IVM_JIT_LIBRARY=/nonexistent/libivm_jit.so expect_refusal "no jit library" "JIT backend is not available" \
  "$ivm" run "$ex/expr/model.onnx" -i "$ex/expr/test_data_set_0/input_0.pb" --backend jit
exit $fails
