#!/usr/bin/python3
"""Writes the custom-op example models and their numpy-computed test data.

Each example folder is laid out like an ONNX backend test (model.onnx plus
test_data_set_0/input_K.pb and output_K.pb), so `ivm conform DIR` checks it and
`ivm run DIR/model.onnx -i DIR/test_data_set_0/input_0.pb` runs it. Python is only
needed to regenerate these files, never to build or run IVM.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def write(folder, model, inputs, outputs):
    d = os.path.join(HERE, folder)
    onnx.save(model, os.path.join(d, "model.onnx"))
    ds = os.path.join(d, "test_data_set_0")
    os.makedirs(ds, exist_ok=True)
    for k, (name, a) in enumerate(inputs):
        with open(os.path.join(ds, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, name).SerializeToString())
    for k, (name, a) in enumerate(outputs):
        with open(os.path.join(ds, f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, name).SerializeToString())


def model(nodes, inputs, outputs, domains):
    g = helper.make_graph(nodes, "example", inputs, outputs)
    ops = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(g, opset_imports=ops, producer_name="ivm examples")


rng = np.random.default_rng(5)

# plugin: com.example.Swish (y = x * sigmoid(beta * x)), then a built-in Add.
x = rng.standard_normal((2, 8)).astype(np.float32) * 3
beta = 1.5
swish = x / (1 + np.exp(-beta * x))
write("plugin",
      model([helper.make_node("Swish", ["x"], ["s"], domain="com.example", beta=beta),
             helper.make_node("Add", ["s", "x"], ["y"])],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
            ["com.example"]),
      [("x", x)], [("y", (swish + x).astype(np.float32))])

# ffi: libm's cbrtf, called elementwise through libffi.
x = (rng.standard_normal((3, 4)) * 30).astype(np.float32)
write("ffi",
      model([helper.make_node("Cbrt", ["x"], ["y"], domain="ivm.ffi", symbol="cbrtf",
                              signature="f32(f32)")],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])],
            ["ivm.ffi"]),
      [("x", x)], [("y", np.cbrt(x).astype(np.float32))])

# expr: softplus, and an ELU whose alpha is a node attribute (an expression parameter).
x = (rng.standard_normal((4, 5)) * 4).astype(np.float32)
alpha = 0.5
write("expr",
      model([helper.make_node("Softplus", ["x"], ["y"], domain="ivm.expr",
                              expr="log(1 + exp(x))"),
             helper.make_node("Elu", ["x"], ["z"], domain="ivm.expr",
                              expr="where(x > 0, x, alpha * (exp(x) - 1))", alpha=alpha)],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 5])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 5]),
             helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 5])],
            ["ivm.expr"]),
      [("x", x)],
      [("y", np.log1p(np.exp(x.astype(np.float64))).astype(np.float32)),
       ("z", np.where(x > 0, x, alpha * np.expm1(x.astype(np.float64))).astype(np.float32))])
