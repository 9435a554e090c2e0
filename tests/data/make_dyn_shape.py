#!/usr/bin/python3
"""Fixture for compiling with fixed input shapes (tests/unit/test_compiler.c).

dyn_mlp.onnx: x [N, 8] with N symbolic ("batch") -> MatMul W [8, 4] -> Add b -> Relu -> y,
and a second branch y2 = Shape(x)[0] * 1.0 broadcast (Reshape by Shape, so it has a
data-dependent shape until N is known). The expected output is numpy's, in float64."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(5)
w = rng.standard_normal((8, 4)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
x = rng.standard_normal((3, 8)).astype(np.float32)

nodes = [
    helper.make_node("MatMul", ["x", "W"], ["xw"]),
    helper.make_node("Add", ["xw", "b"], ["xwb"]),
    helper.make_node("Relu", ["xwb"], ["y"]),
    helper.make_node("Shape", ["x"], ["xs"]),
    helper.make_node("Reshape", ["x", "xs"], ["y2"]),
]
graph = helper.make_graph(
    nodes, "dyn_mlp",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]),
     helper.make_tensor_value_info("y2", TensorProto.FLOAT, ["n2", "m2"])],
    [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(HERE, "dyn_mlp.onnx"))
np.save(os.path.join(HERE, "dyn_mlp_x.npy"), x)
y = np.maximum(x.astype(np.float64) @ w.astype(np.float64) + b, 0)
np.save(os.path.join(HERE, "dyn_mlp_y.npy"), y.astype(np.float32))

# if_branch_shapes.onnx: x [1, n], c bool -> If c then Relu(x) else Unsqueeze(Squeeze(x, [1]), [1]).
# The else branch only infers when n == 1: fixing x to [1, 4] must still compile (that
# branch checked at run time, should it run). The test computes the expected values.
axes = numpy_helper.from_array(np.array([1], np.int64), "axes1")
then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["ty"])], "then", [],
                           [helper.make_tensor_value_info("ty", TensorProto.FLOAT, None)])
else_g = helper.make_graph([helper.make_node("Squeeze", ["x", "axes1"], ["sq"]),
                            helper.make_node("Unsqueeze", ["sq", "axes1"], ["ey"])], "else", [],
                           [helper.make_tensor_value_info("ey", TensorProto.FLOAT, None)])
graph = helper.make_graph(
    [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
    "if_branch_shapes",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"]),
     helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None])], [axes])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(HERE, "if_branch_shapes.onnx"))
