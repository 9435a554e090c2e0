#!/usr/bin/python3
"""The JIT backend against the interpreter on elementwise-heavy models, in one run.

Builds three models in a temporary folder, times each with `ivm bench` on both backends
(same inputs: zeros are not used; a .npy of random values is bound) and prints medians and
the interp/jit ratio. Usage: bench/jit_fusion.py [path/to/ivm] [--reps N]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
IVM = next((a for a in sys.argv[1:] if not a.startswith("-") and not a.isdigit()),
           os.path.join(HERE, "..", "build", "release", "ivm"))
REPS = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 30


def save(path, nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "bench", inputs, outputs, initializer=list(inits))
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def c(name, a):
    return numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)


def models(d):
    rng = np.random.default_rng(0)
    n = 1 << 20
    # 1. A long activation chain on 1M elements: GELU(tanh form) then swish, scaled.
    nodes = [
        helper.make_node("Mul", ["x", "x"], ["x2"]),
        helper.make_node("Mul", ["x2", "x"], ["x3"]),
        helper.make_node("Mul", ["x3", "k0"], ["t0"]),
        helper.make_node("Add", ["x", "t0"], ["t1"]),
        helper.make_node("Mul", ["t1", "k1"], ["t2"]),
        helper.make_node("Tanh", ["t2"], ["t3"]),
        helper.make_node("Add", ["t3", "one"], ["t4"]),
        helper.make_node("Mul", ["t4", "x"], ["t5"]),
        helper.make_node("Mul", ["t5", "half"], ["g"]),
        helper.make_node("Sigmoid", ["g"], ["s"]),
        helper.make_node("Mul", ["g", "s"], ["y"]),
    ]
    save(os.path.join(d, "chain.onnx"), nodes, [vi("x", [n])], [vi("y", [n])],
         [c("k0", 0.044715), c("k1", 0.7978845608), c("one", 1.0), c("half", 0.5)])
    np.save(os.path.join(d, "chain_x.npy"), rng.standard_normal(n).astype(np.float32))
    # 2. An MLP block: MatMul, then the bias + activation tail the JIT fuses.
    b, h = 256, 1024
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Sigmoid", ["a1"], ["s1"]),
        helper.make_node("Mul", ["a1", "s1"], ["h1"]),
        helper.make_node("MatMul", ["h1", "w2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["a2"]),
        helper.make_node("Tanh", ["a2"], ["y"]),
    ]
    save(os.path.join(d, "mlp.onnx"), nodes, [vi("x", [b, h])], [vi("y", [b, h])],
         [c("w1", rng.standard_normal((h, h)) * 0.03), c("b1", rng.standard_normal(h)),
          c("w2", rng.standard_normal((h, h)) * 0.03), c("b2", rng.standard_normal(h))])
    np.save(os.path.join(d, "mlp_x.npy"), rng.standard_normal((b, h)).astype(np.float32))
    # 3. Normalisation tail on a feature map: (x - mean) * inv_std * gamma + beta, ReLU.
    shape = [8, 64, 56, 56]
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["t0"]),
        helper.make_node("Mul", ["t0", "inv"], ["t1"]),
        helper.make_node("Mul", ["t1", "gamma"], ["t2"]),
        helper.make_node("Add", ["t2", "beta"], ["t3"]),
        helper.make_node("Relu", ["t3"], ["y"]),
    ]
    ch = lambda a: c(a, rng.standard_normal((1, 64, 1, 1)))
    save(os.path.join(d, "bn_relu.onnx"), nodes, [vi("x", shape)], [vi("y", shape)],
         [ch("mean"), ch("inv"), ch("gamma"), ch("beta")])
    np.save(os.path.join(d, "bn_relu_x.npy"), rng.standard_normal(shape).astype(np.float32))
    return ["chain", "mlp", "bn_relu"]


def bench(model, x, backend, cache):
    out = subprocess.run([IVM, "bench", model, "-i", x, "--reps", str(REPS), "--backend", backend,
                          "--jit-cache", cache], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    with tempfile.TemporaryDirectory() as d:
        cache = os.path.join(d, "jit-cache")
        print(f"{'model':10} {'interp ms':>10} {'jit ms':>10} {'interp/jit':>10}  fused (regions/instrs), "
              "jit load ms (cold, cached)")
        for name in models(d):
            m, x = os.path.join(d, name + ".onnx"), os.path.join(d, name + "_x.npy")
            i = bench(m, x, "interp", cache)
            cold = bench(m, x, "jit", cache)
            j = bench(m, x, "jit", cache)  # second load: from the object cache
            assert j["jit_compiled"] == 0, j
            print(f"{name:10} {i['median_ms']:10.3f} {j['median_ms']:10.3f} "
                  f"{i['median_ms'] / j['median_ms']:10.2f}  {j['fused_regions']}/{j['fused_instructions']}"
                  f", {cold['load_ms']:.1f} / {j['load_ms']:.1f} (interp {i['load_ms']:.1f})")


if __name__ == "__main__":
    main()
