#!/usr/bin/env bash
# `ivm ops` lists every op with kind, version, arity, full attribute list and docs.
set -u
ivm=$1
out=$("$ivm" ops) || { echo "FAIL: ivm ops exited $?"; exit 1; }
fails=0
check() { grep -qF -- "$1" <<<"$out" || { echo "FAIL: ivm ops lacks: $1"; fails=$((fails+1)); }; }
check 'ivm.Conv@1  builtin in 2-3  out 1    auto_pad:string="NOTSET", dilations:ints, group:int=1, kernel_shape:ints, pads:ints, strides:ints'
check 'ivm.Cast@1  builtin in 1    out 1    to:int (required)'
check 'ivm.Concat@1  builtin in 1+'
check 'Y := conv(X, W) + B'
n=$(grep -c '^ivm\.' <<<"$out")
[ "$n" -ge 60 ] || { echo "FAIL: only $n ops listed"; fails=$((fails+1)); }
md=$("$ivm" ops --markdown) || { echo "FAIL: ivm ops --markdown exited $?"; exit 1; }
grep -qF '| `ivm.Abs` | 1 | builtin | 1 | 1 |  | `Y := \|X\|` |' <<<"$md" || { echo "FAIL: markdown escaping of |"; fails=$((fails+1)); }
# The longest doc whole (a fixed buffer once cut it at 512 characters).
grep -qF 'W (M / 16, kh * kw, C, 16), [m / 16][tap][c][m % 16]. |' <<<"$md" || { echo "FAIL: FusedConv's doc cut short in markdown"; fails=$((fails+1)); }
echo "$n ops, $fails failures"
[ $fails -eq 0 ]
