#!/usr/bin/env bash
# `ivm conform`: one line per test, the closing "N passed, N failed, N skipped" line, the
# --expect contract (a listed test that fails is a regression: exit 1; an unlisted pass is
# reported), and a broken test directory reported as a failure, not a crash.
set -u
ivm=$1
node=/usr/share/libonnx-testdata/data/node
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }

mkdir -p "$tmp/suite"
cp -r "$node/test_relu" "$tmp/suite/test_relu"
# a wrong reference: test_relu's model with test_abs's expected output
cp -r "$node/test_relu" "$tmp/suite/test_wrong"
cp "$node/test_abs/test_data_set_0/output_0.pb" "$tmp/suite/test_wrong/test_data_set_0/output_0.pb"
# a garbled model
mkdir -p "$tmp/suite/test_garbled/test_data_set_0"
head -c 300 /dev/urandom > "$tmp/suite/test_garbled/model.onnx"

"$ivm" conform -j 2 "$tmp/suite" > "$tmp/out" 2>&1; rc=$?
[ $rc -eq 0 ] || fail "conform without --expect exited $rc"
tail -n 1 "$tmp/out" | grep -qx "1 passed, 2 failed, 0 skipped" || fail "summary: $(tail -n 1 "$tmp/out")"
grep -q "^PASS suite/test_relu$" "$tmp/out" || fail "no PASS line for test_relu"
grep -q "^FAIL suite/test_wrong: .*differ" "$tmp/out" || fail "no FAIL line for test_wrong"
grep -q "^FAIL suite/test_garbled: " "$tmp/out" || fail "no FAIL line for test_garbled"

printf '# expected\nsuite/test_wrong\n' > "$tmp/expect.txt"
"$ivm" conform --expect "$tmp/expect.txt" "$tmp/suite" > "$tmp/out2" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "a listed failing test must exit 1, got $rc"
grep -q "^REGRESSION suite/test_wrong" "$tmp/out2" || fail "no REGRESSION line"
grep -q "^NEW PASS suite/test_relu" "$tmp/out2" || fail "no NEW PASS line"

"$ivm" conform --markdown "$tmp/c.md" "$tmp/suite" > /dev/null 2>&1
grep -q "| suite | 1 | 2 | 0 |" "$tmp/c.md" || fail "markdown summary row missing"
cat "$tmp/out" "$tmp/out2" | sed 's/^/  | /' | head -20
echo "$fails failures"
[ $fails -eq 0 ]
