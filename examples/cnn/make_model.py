#!/usr/bin/python3
"""Builds examples/cnn: a small digit-classifier-shaped CNN (Conv -> Relu -> MaxPool ->
Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> Softmax) with fixed random weights,
an input, and the expected output computed independently with numpy.
Run with Debian's python3 (python3-onnx, python3-numpy): /usr/bin/python3 make_model.py"""
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

rng = np.random.default_rng(7)
w1 = rng.standard_normal((8, 1, 3, 3)).astype(np.float32) * 0.5
b1 = rng.standard_normal(8).astype(np.float32) * 0.1
w2 = rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.2
b2 = rng.standard_normal(16).astype(np.float32) * 0.1
wf = rng.standard_normal((10, 16)).astype(np.float32) * 0.5
bf = rng.standard_normal(10).astype(np.float32) * 0.1
x = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)

nodes = [
    helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
    helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
    helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], name="fc", transB=1),
    helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
]
graph = helper.make_graph(
    nodes, "cnn",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 28, 28])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
    [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (wf, "wf"), (bf, "bf")]],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ivm-examples")
onnx.checker.check_model(model)
onnx.save(model, "model.onnx")
np.save("input.npy", x)


def conv2d(x, w, b, pad, stride):
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, m, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return y + b.reshape(1, -1, 1, 1)


r1 = np.maximum(conv2d(x.astype(np.float64), w1, b1, 1, 1), 0)
p1 = r1.reshape(1, 8, 14, 2, 14, 2).max(axis=(3, 5))
r2 = np.maximum(conv2d(p1, w2, b2, 1, 2), 0)
g = r2.mean(axis=(2, 3))
logits = g @ wf.T.astype(np.float64) + bf
e = np.exp(logits - logits.max(axis=1, keepdims=True))
probs = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
np.save("expected_probs.npy", probs)
print("wrote model.onnx, input.npy, expected_probs.npy; probs =", probs.ravel())
