#!/usr/bin/python3
"""Times every distinct Conv shape of a model alone, IVM against ONNX Runtime.

  bench/conv_shapes.py build/release/ivm MODEL_NAME [--threads N] [--reps R] [--top K]
                       [--kind all|grouped|dense]

MODEL_NAME is a model of bench/compare.py whose inputs compare.py already wrote under
build/bench/work/MODEL_NAME/in/. Each distinct Conv (input shape, weight shape, group,
strides, pads, dilations) becomes a one-node model with random weights and a bias, compiled
with its input shape fixed and timed by `ivm bench` and bench/ort_time.js on the same
input. Prints one row per shape, heaviest first: MFLOP, count in the model, IVM and ORT
medians, GFLOPS and the ratio. Used to pick conv algorithms per shape."""
import collections, glob, json, os, subprocess, sys, tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def conv_shapes(model_name):
    models = os.environ.get("IVM_MODELS_DIR", os.path.join(ROOT, "build/models"))
    m = onnx.load(os.path.join(models, model_name + ".onnx"))
    work = os.path.join(ROOT, "build/bench/work", model_name, "in")
    ins = {os.path.basename(f)[:-4]: np.load(f) for f in glob.glob(work + "/*.npy")}
    if not ins:
        sys.exit(f"conv_shapes: no inputs under {work}; run bench/compare.py --only {model_name}")
    for i in m.graph.input:
        if i.name in ins:
            dims = i.type.tensor_type.shape.dim
            for k, v in enumerate(ins[i.name].shape):
                dims[k].ClearField("dim_param")
                dims[k].dim_value = v
    m = shape_inference.infer_shapes(m)
    shp = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
           for v in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)}
    for i in m.graph.initializer:
        shp[i.name] = list(i.dims)
    count = collections.Counter()
    for n in m.graph.node:
        if n.op_type != "Conv":
            continue
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        x, w = shp.get(n.input[0], []), shp.get(n.input[1], [])
        if len(x) < 3 or len(x) != len(w) or 0 in x:  # shape inference left it unknown
            print(f"conv_shapes: skipping {n.name or n.output[0]}: input shape unknown",
                  file=sys.stderr)
            continue
        nd = len(x) - 2
        key = (tuple(x), tuple(w), a.get("group", 1), tuple(a.get("strides", [1] * nd)),
               tuple(a.get("pads", [0] * 2 * nd)), tuple(a.get("dilations", [1] * nd)))
        count[key] += 1
    return count


def out_dims(key):
    x, w, g, s, p, d = key
    nd = len(x) - 2
    return [(x[2 + i] + p[i] + p[nd + i] - d[i] * (w[2 + i] - 1) - 1) // s[i] + 1 for i in range(nd)]


def main():
    args = sys.argv[1:]
    opt = {"--threads": "1", "--reps": "30", "--top": "1000", "--kind": "all"}
    pos = []
    while args:
        a = args.pop(0)
        if a in opt:
            opt[a] = args.pop(0)
        else:
            pos.append(a)
    if len(pos) != 2:
        sys.exit(__doc__)
    ivm, name = pos
    rng = np.random.default_rng(0)
    rows = []
    for key, cnt in conv_shapes(name).items():
        x, w, g, s, p, d = key
        if (opt["--kind"] == "grouped" and g == 1) or (opt["--kind"] == "dense" and g != 1):
            continue
        oy = out_dims(key)
        mflop = 2 * x[0] * w[0] * int(np.prod(w[1:])) * int(np.prod(oy)) / 1e6
        rows.append((mflop * cnt, mflop, cnt, key))
    rows.sort(reverse=True)
    print(f"| input | weight | group | strides | pads | MFLOP | n | IVM ms | ORT ms | IVM GFLOPS | ORT GFLOPS | IVM/ORT |")
    print("| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    tot = [0.0, 0.0]
    with tempfile.TemporaryDirectory() as tmp:
        for total, mflop, cnt, key in rows[: int(opt["--top"])]:
            x, w, g, s, p, d = key
            node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=g, strides=list(s),
                                    pads=list(p), dilations=list(d))
            graph = helper.make_graph(
                [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x))],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                [numpy_helper.from_array(rng.standard_normal(w).astype(np.float32) * 0.1, "w"),
                 numpy_helper.from_array(rng.standard_normal(w[0]).astype(np.float32), "b")])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            model.ir_version = 8
            onnx_path, ivm_path, npy = (os.path.join(tmp, f) for f in ("m.onnx", "m.ivm", "x.npy"))
            onnx.save(model, onnx_path)
            np.save(npy, rng.standard_normal(x).astype(np.float32))
            subprocess.run([ivm, "compile", onnx_path, "-o", ivm_path], check=True,
                           stdout=subprocess.DEVNULL)
            r = subprocess.run([ivm, "bench", ivm_path, "-i", "x=" + npy, "--threads",
                                opt["--threads"], "--reps", opt["--reps"]], check=True,
                               capture_output=True, text=True)
            t_ivm = json.loads(r.stdout)["median_ms"]
            r = subprocess.run(["node", os.path.join(HERE, "ort_time.js"), onnx_path, "--threads",
                                opt["--threads"], "--reps", opt["--reps"], "--sessions", "1",
                                "x=" + npy], check=True, capture_output=True, text=True)
            t_ort = json.loads(r.stdout.strip().splitlines()[-1])["median_ms"]
            tot[0] += t_ivm * cnt
            tot[1] += t_ort * cnt
            print(f"| {list(x)} | {list(w)} | {g} | {list(s)} | {list(p)} | {mflop:.1f} | {cnt} | "
                  f"{t_ivm:.3f} | {t_ort:.3f} | {mflop / t_ivm:.1f} | {mflop / t_ort:.1f} | "
                  f"{t_ivm / t_ort:.2f} |", flush=True)
    print(f"\ntotal (times count): IVM {tot[0]:.2f} ms, ORT {tot[1]:.2f} ms, ratio {tot[0] / tot[1]:.2f}"
          " (ORT times include the Node binding's ~10 us per call)")


if __name__ == "__main__":
    main()
