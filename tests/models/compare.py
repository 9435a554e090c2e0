#!/usr/bin/python3
"""Compares the .npy outputs of two runs (reference first) for tests/models/check.sh.

  compare.py REF_DIR GOT_DIR [--rtol R] [--atol A]

Every REF_DIR/*.npy must exist in GOT_DIR with the same shape; values must be
allclose(got, ref, rtol, atol) (NaN equal to NaN). Prints one line:
  ok max_abs=E
  FAIL <reason> [max_abs=E]
and exits 0 when ok, 1 otherwise.
"""
import glob
import os
import sys

import numpy as np


def main(argv):
    args = list(argv[1:])
    rtol, atol = 1e-3, 1e-4
    for flag in ("--rtol", "--atol"):
        if flag in args:
            i = args.index(flag)
            val = float(args[i + 1])
            del args[i:i + 2]
            if flag == "--rtol":
                rtol = val
            else:
                atol = val
    if len(args) != 2:
        print("FAIL usage: compare.py REF_DIR GOT_DIR [--rtol R] [--atol A]")
        return 2
    ref_dir, got_dir = args
    refs = sorted(glob.glob(os.path.join(ref_dir, "*.npy")))
    if not refs:
        print("FAIL no reference outputs")
        return 1
    worst, problems = 0.0, []
    for ref_path in refs:
        name = os.path.basename(ref_path)[:-4]
        got_path = os.path.join(got_dir, name + ".npy")
        if not os.path.exists(got_path):
            problems.append("missing output %s" % name)
            continue
        ref, got = np.load(ref_path), np.load(got_path)
        if ref.shape != got.shape:
            problems.append("%s shape %s vs ref %s" % (name, got.shape, ref.shape))
            continue
        if ref.dtype.kind in "fc" or got.dtype.kind in "fc":
            r, g = ref.astype(np.float64), got.astype(np.float64)
            both_nan = np.isnan(r) & np.isnan(g)
            diff = np.where(both_nan, 0.0, np.abs(r - g))
            diff = np.where(np.isnan(diff), np.inf, diff)
            err = float(diff.max()) if diff.size else 0.0
            ok = bool(np.all(np.isclose(g, r, rtol=rtol, atol=atol, equal_nan=True)))
        else:
            err = float(np.abs(ref.astype(np.int64) - got.astype(np.int64)).max()) if ref.size else 0.0
            ok = err == 0
        worst = max(worst, err)
        if not ok:
            problems.append("%s not allclose (max_abs=%.3g)" % (name, err))
    if problems:
        print("FAIL %s max_abs=%.3g" % ("; ".join(problems), worst))
        return 1
    print("ok max_abs=%.3g" % worst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
