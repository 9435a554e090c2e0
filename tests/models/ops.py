#!/usr/bin/python3
"""Lists the op types a model uses and, given an ivm binary, which IVM lacks.

  ops.py MODEL.onnx [IVM_BINARY]

Prints 'ops: Type(count) ...' (subgraph nodes included). With IVM_BINARY, every
distinct op type is probed by compiling a one-node model cut from the first
node of that type (a top-level one when there is one; its constant inputs
kept as initializers, the others as graph inputs typed by shape inference) and the line 'missing: ...' lists the types IVM reports as
unsupported ('unsupported op' or an unsupported attribute/form of it).
"""
import collections
import os
import subprocess
import sys
import tempfile

import onnx
from onnx import helper, shape_inference


def walk(graph, fn):
    for node in graph.node:
        fn(node, graph)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                walk(a.g, fn)
            for g in a.graphs:
                walk(g, fn)


def outer_refs(node):
    """Names a node's subgraphs read from enclosing scopes."""
    refs = []

    def scan(graph, defined):
        defined = set(defined) | {i.name for i in graph.input} | {i.name for i in graph.initializer}
        for n in graph.node:
            for name in n.input:
                if name and name not in defined and name not in refs:
                    refs.append(name)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    scan(a.g, defined)
                for g in a.graphs:
                    scan(g, defined)
            defined |= set(n.output)

    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            scan(a.g, set())
        for g in a.graphs:
            scan(g, set())
    return refs


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip())
        return 2
    model = onnx.load(argv[1])
    ivm = argv[2] if len(argv) > 2 else None
    counts, first = collections.Counter(), {}

    def visit(node, graph):
        key = (node.domain + "." if node.domain not in ("", "ai.onnx") else "") + node.op_type
        counts[key] += 1
        if key not in first or (first[key][1] is not model.graph and graph is model.graph):
            first[key] = (node, graph)

    walk(model.graph, visit)
    print("ops: " + " ".join("%s(%d)" % kv for kv in sorted(counts.items())))
    if not ivm:
        return 0

    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - best effort
        inferred = model
    types, consts = {}, {}

    def collect(graph):
        for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
            if vi.type.tensor_type.elem_type:
                types.setdefault(vi.name, vi)
        for i in graph.initializer:
            consts.setdefault(i.name, i)
            types.setdefault(i.name, helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)))
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                t = onnx.TensorProto()
                t.CopyFrom(node.attribute[0].t)
                t.name = node.output[0]
                consts.setdefault(node.output[0], t)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    collect(a.g)
                for sub in a.graphs:
                    collect(sub)

    collect(inferred.graph)

    missing, unknown = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for key in sorted(first):
            node, graph = first[key]
            inits, inputs = [], []
            for name in list(node.input) + outer_refs(node):
                if not name or name in [i.name for i in inputs] or name in [t.name for t in inits]:
                    continue
                if name in consts:
                    inits.append(consts[name])
                elif name in types:
                    inputs.append(types[name])
                else:
                    inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
            outputs = [types[o] if o in types else helper.make_empty_tensor_value_info(o)
                       for o in node.output if o]
            g = helper.make_graph([node], "probe", inputs, outputs, inits)
            m = helper.make_model(g, opset_imports=model.opset_import, ir_version=model.ir_version)
            path = os.path.join(tmp, "probe.onnx")
            onnx.save(m, path)
            r = subprocess.run([ivm, "compile", path, "-o", os.path.join(tmp, "probe.ivm")],
                               capture_output=True, text=True)
            msg = (r.stdout + r.stderr).strip().splitlines()
            msg = msg[-1] if msg else ""
            if r.returncode != 0 and "unsupported" in msg:
                missing.append(key)
            elif r.returncode != 0:
                unknown.append("%s (%s)" % (key, msg.split(": ", 2)[-1][:80]))
    print("missing: " + (" ".join(missing) if missing else "none"))
    if unknown:
        print("probe inconclusive: " + "; ".join(unknown))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
