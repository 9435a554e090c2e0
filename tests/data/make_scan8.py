"""Writes scan8_lens.onnx, used by tests/unit/test_control.c: an opset-8 Scan with
sequence_lens (i32), batch 2, one carried state and two scan inputs, the second scanned
in reverse. Prints the test's inputs and numpy-computed expected outputs as C arrays (for
two sequence_lens cases; scan outputs past a batch element's length are zero). Run with
/usr/bin/python3 (needs numpy and onnx)."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

B, T, D = 2, 3, 2
body = helper.make_graph(
    [
        helper.make_node("Add", ["s_in", "a"], ["t"]),
        helper.make_node("Mul", ["t", "r"], ["s_out"]),
        helper.make_node("Sub", ["s_out", "a"], ["y"]),
    ],
    "body",
    [
        helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [D]),
        helper.make_tensor_value_info("a", TensorProto.FLOAT, [D]),
        helper.make_tensor_value_info("r", TensorProto.FLOAT, [D]),
    ],
    [
        helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [D]),
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [D]),
    ],
)
node = helper.make_node(
    "Scan", ["lens", "s0", "xa", "xr"], ["s_final", "ys"], body=body, num_scan_inputs=2,
    directions=[0, 1])
graph = helper.make_graph(
    [node],
    "scan8_lens",
    [
        helper.make_tensor_value_info("lens", TensorProto.INT32, [B]),
        helper.make_tensor_value_info("s0", TensorProto.FLOAT, [B, D]),
        helper.make_tensor_value_info("xa", TensorProto.FLOAT, [B, T, D]),
        helper.make_tensor_value_info("xr", TensorProto.FLOAT, [B, T, D]),
    ],
    [
        helper.make_tensor_value_info("s_final", TensorProto.FLOAT, [B, D]),
        helper.make_tensor_value_info("ys", TensorProto.FLOAT, [B, T, D]),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)])
model.ir_version = 3
onnx.checker.check_model(model)
onnx.save(model, os.path.join(os.path.dirname(os.path.abspath(__file__)), "scan8_lens.onnx"))

s0 = np.array([[1, 2], [-1, 0.5]], np.float32)
xa = (np.arange(B * T * D, dtype=np.float32).reshape(B, T, D) - 5) / 2
xr = np.array([[[1, 2], [0.5, -1], [2, 0.25]], [[-2, 1], [3, 0.5], [9, 9]]], np.float32)


def c(name, v):
    print("static const float %s[] = {%s};" % (name, ", ".join(repr(float(x)) + "f" for x in v.ravel())))


c("S0", s0)
c("XA", xa)
c("XR", xr)
for case, lens in enumerate([np.array([3, 2], np.int32), np.array([1, 3], np.int32)]):
    s_final = np.zeros((B, D), np.float32)
    ys = np.zeros((B, T, D), np.float32)  # steps past lens[b]: zero
    for b in range(B):
        s = s0[b].copy()
        n = int(lens[b])
        for i in range(n):
            a, r = xa[b, i], xr[b, n - 1 - i]
            s = (s + a) * r
            ys[b, i] = s - a
        s_final[b] = s
    print("/* lens = %s */" % list(lens))
    c("S_FINAL%d" % case, s_final)
    c("YS%d" % case, ys)
