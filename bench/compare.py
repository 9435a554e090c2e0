#!/usr/bin/python3
"""IVM against ONNX Runtime on the same inputs, in one run: a table of medians and ratios.

  bench/compare.py [IVM] [--threads 1,2] [--reps 20] [--rounds 1] [--min-ms 300] [--quick]
                   [--profile] [--ort-no-spin] [--only NAME,...] [--out DIR] [--timeout S]

IVM is an `ivm` binary (default build/release/ivm). For every model in the set and every
thread count, the same .npy inputs (written once) go to `ivm bench MODEL.ivm -i NAME=FILE
... --threads N --reps R` (the .onnx is compiled once with `ivm compile`, so IVM's load_ms
is mmap + verify) and to bench/ort_time.js (onnxruntime-node, graph optimisation "all",
intraOpNumThreads N, interOpNumThreads 1, sequential). With --rounds K each measurement is
taken K times, alternating IVM and ORT, and the lowest median is kept (the machine is shared).

The set: the real models fetched by scripts/fetch-models.sh (which this runs when ONNX
Runtime or a model is missing; it only contacts the npm registry), the heaviest pytorch-converted convs
of the ONNX suite, the perf_* models of tests/models/zoo.py, and two microbenchmarks: a
chain of 10,000 Adds on a 1-element tensor (per-instruction dispatch cost) and a one-node
Add (per-call cost; ORT's is mostly the Node binding and is subtracted in "ORT-bind").

Prints a markdown table plus summaries, and writes everything as JSON to
DIR/<date>.json and DIR/latest.json (DIR default build/bench). A model IVM or ORT fails on
is reported as "fail: <first line of the message>". Needs /usr/bin/python3 with numpy and
onnx, and node. bench/README.md explains the columns and how each side is timed.
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
ORT_RUN = os.path.join(ROOT, "tests", "models", "ort_run.js")   # input generator (gen)
ORT_TIME = os.path.join(HERE, "ort_time.js")
ZOO = os.path.join(ROOT, "tests", "models", "zoo.py")
PYTORCH_CONVERTED = "/usr/share/libonnx-testdata/data/pytorch-converted"
CHAIN_LEN = 10000

# The real models and their inputs, in ort_run.js gen specs (as in tests/models/check.sh,
# with the detector at a realistic 640x640 page and the recogniser at width 320). The
# stateful VAD models are timed on one call with zero state.
REAL = [
    ("ppocr_v4_det", "x=1x3x640x640:text(-2,2)"),
    ("ppocr_v4_rec", "x=1x3x48x320:text(-1,1)"),
    ("ppocr_mobile_v2_cls", "x=1x3x48x192:text(-1,1)"),
    ("silero_vad_v5", "input=1x512 sr=-:const(16000) state=2x1x128:zeros"),
    ("silero_vad_legacy", "input=1x512 sr=-:const(16000) h=2x1x64:zeros c=2x1x64:zeros"),
    ("oww_melspectrogram", "input=1x1760:rand(-3000,3000)"),
    ("oww_embedding", "input_1=1x76x32x1:rand(-2,2)"),
    ("oww_hey_jarvis", "x.1=1x16x96"),
]
ZOO_PERF = ["perf_cnn", "perf_transformer", "perf_rnn"]
N_CONVS = 4
LOAD_SAMPLES = 5
ORT_NO_SPIN = False   # --ort-no-spin
QUICK = {"ppocr_mobile_v2_cls", "silero_vad_v5", "perf_transformer", "add_chain", "one_add"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, timeout, env=None):
    """(rc, stdout, stderr); rc 124 on timeout, 127 when the program is missing."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %d s" % timeout
    except OSError as e:
        return 127, "", str(e)


def first_line(text):
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no message")


def last_json(text):
    for ln in reversed(text.splitlines()):
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                return json.loads(ln)
            except ValueError:
                return None
    return None


# ------------------------------------------------------------------ the model set

def ensure_fetched(models_dir, timeout):
    """ONNX Runtime and the real models, from scripts/fetch-models.sh when missing."""
    probe = ["node", "-e", "require(require.resolve('onnxruntime-node', {paths: [process.argv[1]]}))",
             models_dir]
    have_models = all(os.path.isfile(os.path.join(models_dir, n + ".onnx")) for n, _ in REAL)
    if have_models and run(probe, 60)[0] == 0:
        return
    log("compare: running scripts/fetch-models.sh %s (npm registry only)" % models_dir)
    rc, _, err = run([os.path.join(ROOT, "scripts", "fetch-models.sh"), models_dir], timeout)
    if rc != 0:
        log("compare: fetch-models.sh failed: %s" % first_line(err))
    if run(probe, 60)[0] != 0:
        sys.exit("compare: cannot load onnxruntime-node from %s" % models_dir)


def real_cases(models_dir, work, env, want):
    cases = []
    for name, specs in (r for r in REAL if want(r[0])):
        onnx_path = os.path.join(models_dir, name + ".onnx")
        case = {"name": name, "group": "real", "onnx": onnx_path, "binds": []}
        cases.append(case)
        if not os.path.isfile(onnx_path):
            case["skip"] = "not fetched"
            continue
        d = os.path.join(work, name, "in")
        rc, out, err = run(["node", ORT_RUN, "gen", onnx_path, d, "--seed", "1"] + specs.split(),
                           300, env)
        if rc != 0:
            case["skip"] = "input generation: " + first_line(err)
            continue
        case["binds"] = [ln.strip().split("=", 1) for ln in out.splitlines() if "=" in ln]
        case["bytes"] = os.path.getsize(onnx_path)
    return cases


def conv_flops(model):
    """Multiply-add FLOPs of the Conv/ConvTranspose nodes, from inferred shapes."""
    m = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for v in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        if dims and all(dims):
            shapes[v.name] = dims
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    total = 0
    for n in m.graph.node:
        if n.op_type not in ("Conv", "ConvTranspose") or n.input[1] not in shapes:
            continue
        w = shapes[n.input[1]]
        # Conv: each output element takes C/g*k MACs; ConvTranspose: each input element.
        ref = shapes.get(n.output[0] if n.op_type == "Conv" else n.input[0])
        if ref:
            total += 2 * math.prod(ref) * math.prod(w[1:])
    return total


def conv_cases(work, want):
    if not os.path.isdir(PYTORCH_CONVERTED):
        return []
    found = []
    for t in sorted(os.listdir(PYTORCH_CONVERTED)):
        path = os.path.join(PYTORCH_CONVERTED, t, "model.onnx")
        if not t.startswith("test_Conv") or not os.path.isfile(path):
            continue
        try:
            found.append((conv_flops(onnx.load(path)), t))
        except Exception as e:  # noqa: BLE001 - a test the scan cannot size is left out
            log("compare: %s: cannot size: %s" % (t, first_line(str(e))))
    cases = []
    for flops, t in [f for f in sorted(found, reverse=True)[:N_CONVS] if want(f[1])]:
        src = os.path.join(PYTORCH_CONVERTED, t)
        model = onnx.load(os.path.join(src, "model.onnx"))
        inits = {i.name for i in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in inits]
        d = os.path.join(work, t, "in")
        os.makedirs(d, exist_ok=True)
        binds = []
        for k, name in enumerate(names):
            pb = os.path.join(src, "test_data_set_0", "input_%d.pb" % k)
            tp = TensorProto()
            with open(pb, "rb") as f:
                tp.ParseFromString(f.read())
            npy = os.path.join(d, "input_%d.npy" % k)
            np.save(npy, numpy_helper.to_array(tp))
            binds.append([name, npy])
        cases.append({"name": t, "group": "conv", "onnx": os.path.join(src, "model.onnx"),
                      "binds": binds, "mflops": round(flops / 1e6, 3)})
    return cases


def zoo_cases(work, want):
    out = os.path.join(work, "zoo")
    names = [n for n in ZOO_PERF if want(n)]
    if not names:
        return []
    rc, _, err = run([PY, ZOO, out] + names, 600)
    cases = []
    for name in names:
        case = {"name": name, "group": "zoo", "onnx": os.path.join(out, name + ".onnx"), "binds": []}
        cases.append(case)
        vdir = os.path.join(out, name)
        variants = sorted(os.listdir(vdir)) if rc == 0 and os.path.isdir(vdir) else []
        if not variants:
            case["skip"] = "zoo.py: " + first_line(err)
            continue
        with open(os.path.join(vdir, variants[0], "binds.txt")) as f:
            case["binds"] = [ln.strip().split("=", 1) for ln in f if "=" in ln]
    return cases


def micro_cases(work, want):
    """add_chain: y = x + c, CHAIN_LEN times, on 1 float; one_add: a single such Add."""
    d = os.path.join(work, "micro")
    os.makedirs(d, exist_ok=True)
    x = os.path.join(d, "x.npy")
    np.save(x, np.array([0.5], np.float32))
    cases = []
    for name, n in [m for m in (("add_chain", CHAIN_LEN), ("one_add", 1)) if want(m[0])]:
        names = ["x"] + ["t%d" % i for i in range(1, n)] + ["y"]
        nodes = [helper.make_node("Add", [names[i], "c"], [names[i + 1]]) for i in range(n)]
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                              initializer=[numpy_helper.from_array(np.array([1e-4], np.float32), "c")])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="ivm-bench")
        path = os.path.join(d, name + ".onnx")
        onnx.save(m, path)
        cases.append({"name": name, "group": "micro", "onnx": path, "binds": [["x", x]], "nodes": n})
    return cases


# ------------------------------------------------------------------ measuring

def compile_ivm(ivm, case, work, timeout, dynamic=False):
    out = os.path.join(work, case["name"], "model.ivm")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [ivm, "compile", case["onnx"], "-o", out]
    if not dynamic:
        # The inputs' shapes fixed at compile time (what an AOT compiler is for): every
        # shape becomes static. ORT sees the same shapes at run time.
        for name, path in case["binds"]:
            shape = np.load(path, mmap_mode="r").shape
            cmd += ["--shape", "%s=%s" % (name, ",".join(str(d) for d in shape))]
    rc, so, se = run(cmd, timeout)
    if rc != 0 and not dynamic:
        # A safety net: a model whose fixed shapes fail to compile is timed dynamic (If
        # branches that do not infer for the shapes given compile since 2026-11-23).
        case["shape_fail"] = first_line(se or so)
        rc, so, se = run(cmd[:5], timeout)  # without the --shape options
    if rc != 0:
        case["ivm_fail"] = "compile: " + first_line(se or so)
        return
    case["ivm"] = out
    # "<file>: N instructions, N constants, ..."
    words = so.replace(",", " ").split()
    if "instructions" in words:
        try:
            case["instructions"] = int(words[words.index("instructions") - 1])
        except ValueError:
            pass


def time_ivm(ivm, case, threads, reps, timeout, profile=False):
    cmd = [ivm, "bench", case["ivm"], "--threads", str(threads), "--reps", str(reps)]
    cmd += ["--profile"] if profile else []
    for name, path in case["binds"]:
        cmd += ["-i", "%s=%s" % (name, path)]
    rc, so, se = run(cmd, timeout)
    j = last_json(so) if rc == 0 else None
    return j if j else {"fail": first_line(se or so)}


def time_ort(case, threads, reps, timeout, env, sessions=3):
    cmd = ["node", ORT_TIME, case["onnx"], "--threads", str(threads), "--reps", str(reps),
           "--sessions", str(sessions)] + (["--no-spin"] if ORT_NO_SPIN else [])
    cmd += ["%s=%s" % (n, p) for n, p in case["binds"]]
    rc, so, se = run(cmd, timeout, env)
    j = last_json(so) if rc == 0 else None
    return j if j else {"fail": first_line(se or so).replace("ort_time: ", "")}


def better(a, b):
    """Of two measurements keep the one with the lower median (a failure loses)."""
    if a is None or "median_ms" not in a:
        return b
    if "median_ms" not in b:
        return a
    return a if a["median_ms"] <= b["median_ms"] else b


def timed(fn, reps, min_ms):
    """fn(reps) once; when the runs took under min_ms in all, again with enough reps
    (a sub-millisecond model needs hundreds of runs for a stable median)."""
    m = fn(reps)
    if "median_ms" in m and m["median_ms"] * reps < min_ms:
        more = min(5000, int(math.ceil(min_ms / max(m["median_ms"], 1e-4))))
        if more > reps:
            again = fn(more)
            m = again if "median_ms" in again else m
    return m


def measure(ivm, cases, args, env):
    for case in cases:
        if case.get("skip"):
            continue
        case["runs"] = {}
        for t in args.threads:
            r = {"ivm": None, "ort": None}
            for _ in range(args.rounds):
                if case.get("ivm"):
                    r["ivm"] = better(r["ivm"], timed(
                        lambda n: time_ivm(ivm, case, t, n, args.timeout), args.reps, args.min_ms))
                r["ort"] = better(r["ort"], timed(
                    lambda n: time_ort(case, t, n, args.timeout, env), args.reps, args.min_ms))
            if not case.get("ivm"):
                r["ivm"] = {"fail": case.get("ivm_fail", "not compiled")}
            r["loadavg"] = round(os.getloadavg()[0], 2)   # how busy the machine was
            case["runs"][str(t)] = r
            log("compare: %-32s %d thr  ivm %-10s ort %s" % (
                case["name"], t, fmt_ms(r["ivm"]), fmt_ms(r["ort"])))


def load_comparison(ivm, cases, args, env):
    """IVM load (mmap + verify, in a fresh process) against ORT session creation on the
    largest real model. Both are taken several times and the minimum is compared (the
    least disturbed sample on a shared machine); ORT's first session in a process also
    sets up its environment, so it is reported apart and left out of the minimum."""
    real = [c for c in cases if c["group"] == "real" and c.get("ivm") and c.get("runs")]
    if not real:
        return None
    big = max(real, key=lambda c: c.get("bytes", 0))
    t = args.threads[0]
    samples = [time_ivm(ivm, big, t, 1, args.timeout) for _ in range(LOAD_SAMPLES)]
    ivm_loads = [j["load_ms"] for j in samples if "load_ms" in j]
    # The first run after load maps the weight pages the load no longer reads: shown beside.
    ivm_firsts = [j["first_ms"] for j in samples if "first_ms" in j]
    ort = time_ort(big, t, 1, args.timeout, env, sessions=LOAD_SAMPLES + 1)
    if not ivm_loads or "session_all_ms" not in ort:
        return None
    steady = ort["session_all_ms"][1:]
    ivm_min = min(ivm_loads)
    return {"model": big["name"], "onnx_bytes": big.get("bytes"), "ivm_load_ms": ivm_loads,
            "ivm_load_min_ms": ivm_min, "ivm_load_median_ms": float(np.median(ivm_loads)),
            "ivm_first_run_ms": ivm_firsts,
            "ort_session_ms": steady, "ort_session_min_ms": min(steady),
            "ort_session_median_ms": float(np.median(steady)),
            "ort_session_first_ms": ort["session_all_ms"][0],
            "ort_over_ivm": min(steady) / ivm_min if ivm_min > 0 else None,
            "ort_first_over_ivm": ort["session_all_ms"][0] / ivm_min if ivm_min > 0 else None}


# ------------------------------------------------------------------ reporting

def fmt_ms(m):
    if m is None:
        return "-"
    if "fail" in m:
        return "fail: " + m["fail"]
    v = m["median_ms"]
    if v <= 0:
        return "<0.0001"   # below ivm bench's printed resolution
    return "%.3g" % v if v < 100 else "%.0f" % v


def med(m):
    return m["median_ms"] if m and "median_ms" in m else None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarise(cases, args):
    """Per-row ratios plus the summary numbers, stored back into the cases / a dict."""
    one = next((c for c in cases if c["name"] == "one_add" and c.get("runs")), None)
    chain = next((c for c in cases if c["name"] == "add_chain" and c.get("runs")), None)
    s = {"binding_overhead_ms": {}, "ivm_call_overhead_ms": {}, "geomean": {}, "dispatch": {},
         "scaling": {}}
    for t in map(str, args.threads):
        if one:
            s["binding_overhead_ms"][t] = med(one["runs"][t]["ort"])
            s["ivm_call_overhead_ms"][t] = med(one["runs"][t]["ivm"])
        bind = s["binding_overhead_ms"].get(t)   # None: one_add not measured, nothing subtracted
        for c in cases:
            r = c.get("runs", {}).get(t)
            if not r:
                continue
            i, o = med(r["ivm"]), med(r["ort"])
            # one_add is the binding measurement itself: nothing left to compare after it.
            keep = o is not None and bind is not None and c["name"] != "one_add"
            r["ort_minus_binding_ms"] = max(o - bind, 1e-6) if keep else None
            r["ratio"] = i / o if i and o and c["name"] != "one_add" else None
            r["ratio_minus_binding"] = i / r["ort_minus_binding_ms"] if i and keep else None
        real = [c["runs"][t] for c in cases if c["group"] == "real" and c.get("runs")]
        s["geomean"][t] = {
            "ratio": geomean([r["ratio"] for r in real]),
            "ratio_minus_binding": geomean([r["ratio_minus_binding"] for r in real]),
            "models": sum(1 for r in real if r["ratio"] is not None),
            "ivm_failed": sum(1 for r in real if r["ratio"] is None),
            "at_most_0.8": sum(1 for r in real if r["ratio_minus_binding"] is not None
                               and r["ratio_minus_binding"] <= 0.8)}
        if chain:
            r = chain["runs"][t]
            d = {}
            for who in ("ivm", "ort"):
                m = med(r[who])
                base = med(one["runs"][t][who]) if one else None
                if m is not None:
                    d[who + "_ns_per_add"] = m * 1e6 / CHAIN_LEN
                    if base is not None:   # the per-call cost taken out
                        d[who + "_ns_per_add_marginal"] = (m - base) * 1e6 / (CHAIN_LEN - 1)
            if chain.get("instructions"):
                d["ivm_instructions"] = chain["instructions"]
            s["dispatch"][t] = d
    if len(args.threads) >= 2:
        a, b = str(args.threads[0]), str(args.threads[-1])
        for c in cases:
            if not c.get("runs"):
                continue
            row = {}
            for who in ("ivm", "ort"):
                x, y = med(c["runs"][a][who]), med(c["runs"][b][who])
                row[who] = x / y if x and y else None
            s["scaling"][c["name"]] = row
    return s


def ratio_str(x):
    return "%.2f" % x if x is not None else "-"


def print_report(cases, s, load, args, meta):
    out = []
    p = out.append
    p("IVM vs ONNX Runtime %s%s, %s, %s; reps %d, rounds %d; %s" % (
        meta["ort_version"], "" if meta["ort_spin"] else " (no spinning)", meta["date"], meta["cpu"],
        args.reps, args.rounds,
        "system load average %.2f at start, %.2f at end" % (meta["load_start"], meta["load_end"])))
    p("")
    p("| model | set | thr | IVM ms | ORT ms | ORT-bind ms | IVM/ORT | IVM/(ORT-bind) |")
    p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in cases:
        if c.get("skip"):
            p("| %s | %s | | skip: %s | | | | |" % (c["name"], c["group"], c["skip"]))
            continue
        for t in map(str, args.threads):
            r = c["runs"][t]
            omb = r.get("ort_minus_binding_ms")
            p("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                c["name"], c["group"], t, fmt_ms(r["ivm"]), fmt_ms(r["ort"]),
                fmt_ms({"median_ms": omb}) if omb is not None else "-",
                ratio_str(r.get("ratio")), ratio_str(r.get("ratio_minus_binding"))))
    p("")
    for t, g in s["geomean"].items():
        p("- Real models, %s thread%s: geometric mean IVM/ORT %s, IVM/(ORT-bind) %s over %d models"
          "%s; %d of them at <= 0.8x (ORT-bind)." % (
              t, "" if t == "1" else "s", ratio_str(g["ratio"]), ratio_str(g["ratio_minus_binding"]),
              g["models"], " (%d failed on IVM)" % g["ivm_failed"] if g["ivm_failed"] else "",
              g["at_most_0.8"]))
    for t, ms in s["binding_overhead_ms"].items():
        if ms is not None:
            ivm_ms = s["ivm_call_overhead_ms"].get(t)
            ivm_us = ("-" if ivm_ms is None else "%.2f us" % (ivm_ms * 1e3) if ivm_ms > 0
                      else "< 0.1 us (ivm bench prints 0.0001 ms steps)")
            p("- Per-call cost on the one-node Add, %s thr: ORT through Node %.1f us (the 'bind' "
              "subtracted above), IVM %s." % (t, ms * 1e3, ivm_us))
    for t, d in s["dispatch"].items():
        if d:
            p("- Dispatch, chain of %d Adds, %s thr: IVM %s ns/instruction, ORT %s ns/node "
              "(median_ms*1e6/%d; without the per-call cost: IVM %s, ORT %s)%s." % (
                  CHAIN_LEN, t, "%.1f" % d["ivm_ns_per_add"] if "ivm_ns_per_add" in d else "-",
                  "%.1f" % d["ort_ns_per_add"] if "ort_ns_per_add" in d else "-", CHAIN_LEN,
                  "%.1f" % d["ivm_ns_per_add_marginal"] if "ivm_ns_per_add_marginal" in d else "-",
                  "%.1f" % d["ort_ns_per_add_marginal"] if "ort_ns_per_add_marginal" in d else "-",
                  "; IVM runs %d instructions" % d["ivm_instructions"] if "ivm_instructions" in d else ""))
    if load:
        firsts = load.get("ivm_first_run_ms") or []
        p("- Load, largest real model IVM runs (%s, %.1f MB .onnx): IVM mmap+verify min %.2f ms "
          "(median %.2f) "
          "over %d processes%s; ORT session creation min %.1f ms (median %.1f) over %d sessions after "
          "the first in one process, the first (with ORT's environment set-up) %.1f ms. "
          "ORT/IVM (minima) = %.1fx; against ORT's first session %.1fx." % (
              load["model"], (load["onnx_bytes"] or 0) / 1e6, load["ivm_load_min_ms"],
              load["ivm_load_median_ms"], len(load["ivm_load_ms"]),
              " (the first run after it, which maps the weight pages, min %.2f ms)" % min(firsts)
              if firsts else "", load["ort_session_min_ms"],
              load["ort_session_median_ms"], len(load["ort_session_ms"]),
              load["ort_session_first_ms"], load["ort_over_ivm"] or 0,
              load["ort_first_over_ivm"] or 0))
    prof = [c for c in cases if c.get("ivm_profile")]
    if prof:
        p("")
        p("Where IVM spends its time (%d thread%s, ivm bench --profile; op kind, instructions, ms "
          "per run, profiling's own cost included):" % (args.threads[0], "" if args.threads[0] == 1 else "s"))
        p("")
        for c in prof:
            top = sorted(c["ivm_profile"], key=lambda e: -e.get("ms", 0))[:3]
            p("- %s: %s" % (c["name"], ", ".join("%s x%d %.3g" % (
                e.get("op", "?").replace("ivm.", ""), e.get("instructions", 0), e.get("ms", 0))
                for e in top)))
    if s["scaling"]:
        a, b = args.threads[0], args.threads[-1]
        p("")
        p("Speedup from %d to %d threads (median at %d / median at %d):" % (a, b, a, b))
        p("")
        p("| model | IVM | ORT |")
        p("| --- | ---: | ---: |")
        for name, row in s["scaling"].items():
            p("| %s | %s | %s |" % (name, ratio_str(row["ivm"]), ratio_str(row["ort"])))
    print("\n".join(out))


def machine():
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            if " avx512f" in f.read():
                cpu += " (AVX-512)"
    except OSError:
        pass
    return "%s, %d cores" % (cpu, os.cpu_count() or 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ivm", nargs="?", default=os.path.join(ROOT, "build", "release", "ivm"))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per measurement (20; quick 5)")
    ap.add_argument("--rounds", type=int, default=1, help="measure K times, keep the lowest median")
    ap.add_argument("--min-ms", type=float, default=None,
                    help="rerun with more reps when reps*median is below this (300; quick 50)")
    ap.add_argument("--ort-no-spin", action="store_true",
                    help="ORT intra-op threads sleep instead of spinning (allow_spinning=0)")
    ap.add_argument("--profile", action="store_true",
                    help="one more IVM run per model with --profile: time per op kind (JSON, top 3 printed)")
    ap.add_argument("--quick", action="store_true", help="few reps, few models (a smoke test)")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"), help="results folder")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per process (600)")
    ap.add_argument("--dynamic", action="store_true",
                    help="compile without fixing the input shapes (symbolic dims stay dynamic)")
    args = ap.parse_args()
    try:
        args.threads = [int(t) for t in args.threads.split(",") if t]
        if not args.threads or min(args.threads) < 1:
            raise ValueError
    except ValueError:
        ap.error("--threads wants positive integers, e.g. 1,2")
    args.reps = args.reps if args.reps is not None else (5 if args.quick else 20)
    args.min_ms = args.min_ms if args.min_ms is not None else (50.0 if args.quick else 300.0)
    if args.reps < 1 or args.rounds < 1:
        ap.error("--reps and --rounds want positive integers")
    ivm = os.path.abspath(args.ivm)
    global ORT_NO_SPIN
    ORT_NO_SPIN = args.ort_no_spin
    if not os.access(ivm, os.X_OK):
        ap.error("%s: not an executable ivm binary" % ivm)
    if not shutil.which("node"):
        sys.exit("compare: node not found")

    models_dir = os.environ.get("IVM_MODELS_DIR", os.path.join(ROOT, "build", "models"))
    env = dict(os.environ, IVM_MODELS_DIR=models_dir)
    ensure_fetched(models_dir, args.timeout)
    work = os.path.join(args.out, "work")
    os.makedirs(work, exist_ok=True)
    load_start = os.getloadavg()[0]

    only = {n for n in args.only.split(",") if n}
    if args.quick and not only:
        only = QUICK

    def want(name):
        return not only or name in only
    cases = (real_cases(models_dir, work, env, want) + conv_cases(work, want) + zoo_cases(work, want)
             + micro_cases(work, want))
    unknown = only - {c["name"] for c in cases}
    if unknown:
        log("compare: no model named %s" % ", ".join(sorted(unknown)))
    for c in cases:
        if not c.get("skip"):
            compile_ivm(ivm, c, work, args.timeout, args.dynamic)
    measure(ivm, cases, args, env)
    if args.profile:   # a separate run, so that profiling does not touch the timings above
        for c in cases:
            if c.get("ivm") and c.get("runs"):
                c["ivm_profile"] = time_ivm(ivm, c, args.threads[0], args.reps, args.timeout,
                                            profile=True).get("profile")
    load = load_comparison(ivm, cases, args, env)
    s = summarise(cases, args)

    ort_version = next((r[w].get("ort_version") for c in cases for r in c.get("runs", {}).values()
                        for w in ("ort",) if r[w] and r[w].get("ort_version")), "?")
    now = datetime.datetime.now()
    meta = {"date": now.strftime("%Y-%m-%d %H:%M"), "cpu": machine(), "ort_version": ort_version,
            "ivm": ivm, "threads": args.threads, "reps": args.reps, "rounds": args.rounds,
            "quick": args.quick, "ort_spin": not args.ort_no_spin, "load_start": load_start,
            "load_end": os.getloadavg()[0]}
    rc, commit, _ = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], 30)
    meta["commit"] = commit.strip() if rc == 0 else None
    print_report(cases, s, load, args, meta)

    for c in cases:   # keep the JSON self-contained but small
        c.pop("binds", None)
    doc = {"meta": meta, "summary": s, "load": load, "cases": cases}
    path = os.path.join(args.out, now.strftime("%Y-%m-%dT%H%M%S") + ".json")
    for p in (path, os.path.join(args.out, "latest.json")):
        with open(p, "w") as f:
            json.dump(doc, f, indent=1)
    log("compare: results in %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
