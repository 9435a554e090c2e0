#!/usr/bin/python3
"""Fixtures for the Conv + BatchNormalization fold (tests/unit/test_compiler.c).

conv_bn.onnx:       x -> Conv(W, b) -> BN -> Relu -> y, and Conv(W2, no bias) -> BN2 -> z
conv_bn_shared.onnx: the Conv output is also a graph output, so it must not be folded.
The expected outputs are numpy's (conv by explicit loops in float64)."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(11)


def conv2d(x, w, b):
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    out = np.zeros((n, oc, h - kh + 1, wd - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = x[:, :, i:i + kh, j:j + kw].astype(np.float64)
            out[:, :, i, j] = np.tensordot(patch, w.astype(np.float64), axes=([1, 2, 3], [1, 2, 3]))
    return out + (0 if b is None else b.reshape(1, -1, 1, 1))


def bn(x, s, bias, mean, var, eps):
    r = lambda a: a.reshape(1, -1, 1, 1).astype(np.float64)
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(s) + r(bias)


x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
w2 = rng.standard_normal((5, 3, 2, 2)).astype(np.float32)
p = [rng.standard_normal(4).astype(np.float32) for _ in range(3)] + [rng.random(4).astype(np.float32) + 0.5]
p2 = [rng.standard_normal(5).astype(np.float32) for _ in range(3)] + [rng.random(5).astype(np.float32) + 0.5]
inits = [numpy_helper.from_array(a, n) for a, n in
         [(w, "w"), (b, "b"), (w2, "w2")] + list(zip(p, ["s", "bb", "m", "v"])) +
         list(zip(p2, ["s2", "bb2", "m2", "v2"]))]
nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
         helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], epsilon=1e-3),
         helper.make_node("Relu", ["n"], ["y"]),
         helper.make_node("Conv", ["x", "w2"], ["c2"]),
         helper.make_node("BatchNormalization", ["c2", "s2", "bb2", "m2", "v2"], ["z"])]
vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
g = helper.make_graph(nodes, "conv_bn", [vi("x", x.shape)], [vi("y", None), vi("z", None)], inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)]), os.path.join(HERE, "conv_bn.onnx"))
y = np.maximum(bn(conv2d(x, w, b), *p, 1e-3), 0)
z = bn(conv2d(x, w2, None), *p2, 1e-5)
np.save(os.path.join(HERE, "conv_bn_x.npy"), x)
np.save(os.path.join(HERE, "conv_bn_y.npy"), y.astype(np.float32))
np.save(os.path.join(HERE, "conv_bn_z.npy"), z.astype(np.float32))

g = helper.make_graph(nodes[:3], "conv_bn_shared", [vi("x", x.shape)], [vi("y", None), vi("c", None)], inits[:2] + inits[3:7])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)]), os.path.join(HERE, "conv_bn_shared.onnx"))
