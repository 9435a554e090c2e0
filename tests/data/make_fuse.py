#!/usr/bin/python3
"""Fixtures for the fusion passes (compiler/pass_fuse*.c, tests/unit/test_fuse.c).

Each model has one graph input (fuse_<model>_x.npy) and outputs y1, y2, ...; the expected
outputs fuse_<model>_<out>.npy are numpy's, computed in float64 from the written-out
formulas (math.erf for erf), never through the fused ops.

fuse_gelu:        five exporter GELU forms (erf and tanh, factors in several orders)
fuse_gelu_miss:   near misses: wrong constants, an intermediate that is also an output
fuse_ln:          decomposed LayerNorm: Pow / Mul(d, d), scale and bias, scalar scale, none
fuse_ln_miss:     mean over a non-last axis, exponent 4, the centred value also an output
fuse_mm:          MatMul + bias + Relu / Gelu chain / LeakyRelu / residual, Gemm + Sigmoid,
                  MatMul + residual without bias
fuse_mm_miss:     MatMul output also an output, full-matrix addend, batched B, Gemm alpha
fuse_att:         attention with Div scale + mask, Mul scale, no scale
fuse_att_miss:    softmax over another axis, scores also an output, broadcast batch dims
fuse_big:         products big enough to split across threads (the test makes the inputs)
fuse_conv_clip:   Max / Min by a constant after a conv (clip_min / clip_max), and misses
fuse_conv_out_affine: Mul / Add / Sub by a scalar after a conv (out_scale / out_shift), and
                  misses
fuse_conv_layout: 1x1 convs whose weights the compiler stores transposed (transW), misses
fuse_conv_wino:   3x3 convs whose weights the compiler stores Winograd-transformed (transW 2),
                  misses
fuse_muladd:      Add of a Mul read by nothing else (FusedMulAdd) with broadcasting, misses
fuse_convt_fold:  a group-1 ConvTranspose's bias Add, BatchNormalization and per-channel Mul
                  folded into its weights and bias, and misses
fuse_resize_add:  Add of a Resize read by nothing else and a tensor of the sum's shape
                  (FusedResizeAdd), and misses
fuse_conv_residual: Add of a conv's output and a tensor of its shape (FusedConv's Z), an
                  activation after it, and misses
fuse_blocked:     chains of convs the compiler computes channel-blocked (FusedConv layout 1,
                  ToBlocked / FromBlocked at their borders), and convs it leaves in NCHW
"""
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(29)
F32 = TensorProto.FLOAT
erf = np.vectorize(math.erf)


class M:
    """A model under construction: nodes, initializers, named outputs."""

    def __init__(self, name, x):
        self.name, self.x = name, x
        self.nodes, self.inits, self.outs, self.want = [], [], [], {}
        self.k = 0

    def c(self, arr):
        self.k += 1
        n = "c%d" % self.k
        self.inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), n))
        return n

    def i64(self, *v):
        self.k += 1
        n = "i%d" % self.k
        self.inits.append(numpy_helper.from_array(np.array(v, np.int64), n))
        return n

    def op(self, typ, ins, out=None, **attrs):
        self.k += 1
        out = out or "t%d" % self.k
        self.nodes.append(helper.make_node(typ, ins, [out], **attrs))
        return out

    def output(self, name, want):
        self.outs.append(name)
        self.want[name] = want

    def save(self, opset=17):
        vi = lambda n, s: helper.make_tensor_value_info(n, F32, s)  # noqa: E731
        g = helper.make_graph(self.nodes, self.name, [vi("x", list(self.x.shape))],
                              [vi(o, list(self.want[o].shape)) for o in self.outs], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        onnx.checker.check_model(m, full_check=True)
        onnx.save(m, os.path.join(HERE, self.name + ".onnx"))
        np.save(os.path.join(HERE, self.name + "_x.npy"), self.x)
        for o in self.outs:
            np.save(os.path.join(HERE, "%s_%s.npy" % (self.name, o)), self.want[o].astype(np.float32))


def gelu_erf(x):
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


# ---- GELU ------------------------------------------------------------------------------
x = rng.uniform(-4, 4, (2, 3, 8)).astype(np.float32)
xd = x.astype(np.float64)
m = M("fuse_gelu", x)
S2, R2, K = math.sqrt(2), math.sqrt(0.5), math.sqrt(2 / math.pi)
a = m.op("Add", [m.op("Erf", [m.op("Div", ["x", m.c(S2)])]), m.c(1.0)])
m.op("Mul", [m.op("Mul", ["x", a]), m.c(0.5)], "y1")                        # zoo / BERT form
m.output("y1", gelu_erf(xd))
a = m.op("Add", [m.c(1.0), m.op("Erf", [m.op("Mul", [m.c(R2), "x"])])])
m.op("Mul", [m.op("Mul", ["x", m.c(0.5)]), a], "y2")                        # torch: x*0.5*(1+erf)
m.output("y2", gelu_erf(xd))
a = m.op("Add", [m.op("Erf", [m.op("Mul", ["x", m.c(0.70710678)])]), m.c(1.0)])
m.op("Mul", ["x", m.op("Mul", [a, m.c(0.5)])], "y3")                        # x * ((1+erf)*0.5)
m.output("y3", gelu_erf(xd))
cube = m.op("Pow", ["x", m.c(3.0)])
inner = m.op("Mul", [m.op("Add", ["x", m.op("Mul", [cube, m.c(0.044715)])]), m.c(K)])
m.op("Mul", [m.op("Mul", ["x", m.c(0.5)]), m.op("Add", [m.op("Tanh", [inner]), m.c(1.0)])], "y4")
m.output("y4", gelu_tanh(xd))
cube = m.op("Mul", [m.op("Mul", ["x", "x"]), "x"])
inner = m.op("Mul", [m.c(K), m.op("Add", [m.op("Mul", [m.c(0.044715), cube]), "x"])])
m.op("Mul", [m.c(0.5), m.op("Mul", [m.op("Add", [m.c(1.0), m.op("Tanh", [inner])]), "x"])], "y5")
m.output("y5", gelu_tanh(xd))
m.save()

m = M("fuse_gelu_miss", x)
a = m.op("Add", [m.op("Erf", [m.op("Div", ["x", m.c(1.5)])]), m.c(1.0)])    # not sqrt(2)
m.op("Mul", [m.op("Mul", ["x", a]), m.c(0.5)], "y1")
m.output("y1", 0.5 * xd * (1 + erf(xd / 1.5)))
a = m.op("Add", [m.op("Erf", [m.op("Div", ["x", m.c(S2)])]), m.c(1.0)])
m.op("Mul", [m.op("Mul", ["x", a]), m.c(0.6)], "y2")                        # not 0.5
m.output("y2", 0.6 * xd * (1 + erf(xd / S2)))
e = m.op("Erf", [m.op("Div", ["x", m.c(S2)])], "y3")                        # erf is an output too
m.output("y3", erf(xd / S2))
m.op("Mul", [m.op("Mul", ["x", m.op("Add", [e, m.c(1.0)])]), m.c(0.5)], "y4")
m.output("y4", gelu_erf(xd))
a = m.op("Add", [m.op("Erf", [m.op("Div", ["x", m.c(S2)])]), m.c(2.0)])    # 2 + erf
m.op("Mul", [m.op("Mul", ["x", a]), m.c(0.5)], "y5")
m.output("y5", 0.5 * xd * (2 + erf(xd / S2)))
m.save()

# ---- LayerNorm --------------------------------------------------------------------------
x = rng.standard_normal((2, 5, 16)).astype(np.float32) * 2 + 0.5
xd = x.astype(np.float64)
gamma = rng.standard_normal(16).astype(np.float32)
beta = rng.standard_normal(16).astype(np.float32)


def ln(x, eps, axis=-1):
    mu = x.mean(axis=axis, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axis, keepdims=True) + eps)


m = M("fuse_ln", x)
mu = m.op("ReduceMean", ["x"], axes=[-1])
d = m.op("Sub", ["x", mu])
var = m.op("ReduceMean", [m.op("Pow", [d, m.c(2.0)])], axes=[-1])
n = m.op("Div", [d, m.op("Sqrt", [m.op("Add", [var, m.c(1e-5)])])])
m.op("Add", [m.op("Mul", [n, m.c(gamma)]), m.c(beta)], "y1")
m.output("y1", ln(xd, 1e-5) * gamma + beta)
mu = m.op("ReduceMean", ["x"], axes=[2])
d = m.op("Sub", ["x", mu])
var = m.op("ReduceMean", [m.op("Mul", [d, d])], axes=[2])
n = m.op("Div", [d, m.op("Sqrt", [m.op("Add", [m.c(1e-3), var])])])
m.op("Mul", [m.c(np.float32(1.5)), n], "y2")                                # scalar scale, no bias
m.output("y2", ln(xd, 1e-3) * 1.5)
mu = m.op("ReduceMean", ["x"], axes=[-1])
d = m.op("Sub", ["x", mu])
var = m.op("ReduceMean", [m.op("Pow", [d, m.c(2.0)])], axes=[-1])
m.op("Div", [d, m.op("Sqrt", [m.op("Add", [var, m.c(1e-6)])])], "y3")      # no affine part
m.output("y3", ln(xd, 1e-6))
m.save()

m = M("fuse_ln_miss", x)
mu = m.op("ReduceMean", ["x"], axes=[1])                                    # not the last axis
d = m.op("Sub", ["x", mu])
var = m.op("ReduceMean", [m.op("Pow", [d, m.c(2.0)])], axes=[1])
m.op("Div", [d, m.op("Sqrt", [m.op("Add", [var, m.c(1e-5)])])], "y1")
m.output("y1", ln(xd, 1e-5, axis=1))
mu = m.op("ReduceMean", ["x"], axes=[-1])
d = m.op("Sub", ["x", mu])
var = m.op("ReduceMean", [m.op("Pow", [d, m.c(4.0)])], axes=[-1])           # not a square
m.op("Div", [d, m.op("Sqrt", [m.op("Add", [var, m.c(1e-5)])])], "y2")
dd = xd - xd.mean(-1, keepdims=True)
m.output("y2", dd / np.sqrt((dd ** 4).mean(-1, keepdims=True) + 1e-5))
mu = m.op("ReduceMean", ["x"], axes=[-1])
d = m.op("Sub", ["x", mu], "y3")                                            # d is an output
m.output("y3", dd)
var = m.op("ReduceMean", [m.op("Pow", [d, m.c(2.0)])], axes=[-1])
m.op("Div", [d, m.op("Sqrt", [m.op("Add", [var, m.c(1e-5)])])], "y4")
m.output("y4", ln(xd, 1e-5))
m.save()

# ---- MatMul / Gemm epilogue --------------------------------------------------------------
x = rng.uniform(-1, 1, (2, 4, 24)).astype(np.float32)
xd = x.astype(np.float64)
W = [rng.uniform(-0.5, 0.5, (24, n)).astype(np.float32) for n in (32, 32, 48, 20)]
b = [rng.uniform(-0.5, 0.5, w.shape[1]).astype(np.float32) for w in W]
Wg = rng.uniform(-0.5, 0.5, (40, 24)).astype(np.float32)
bg = rng.uniform(-0.5, 0.5, 40).astype(np.float32)
R = rng.uniform(-1, 1, (2, 4, 32)).astype(np.float32)
mm = lambda i: xd @ W[i].astype(np.float64) + b[i]  # noqa: E731
m = M("fuse_mm", x)
m.op("Relu", [m.op("Add", [m.op("MatMul", ["x", m.c(W[0])]), m.c(b[0])])], "y1")
m.output("y1", np.maximum(mm(0), 0))
m.op("Add", [m.c(R), m.op("Add", [m.c(b[1]), m.op("MatMul", ["x", m.c(W[1])])])], "y2")
m.output("y2", mm(1) + R)
h = m.op("Add", [m.op("MatMul", ["x", m.c(W[2])]), m.c(b[2])])
a = m.op("Add", [m.op("Erf", [m.op("Div", [h, m.c(S2)])]), m.c(1.0)])
m.op("Mul", [m.op("Mul", [h, a]), m.c(0.5)], "y3")
m.output("y3", gelu_erf(mm(2)))
m.op("LeakyRelu", [m.op("Add", [m.op("MatMul", ["x", m.c(W[3])]), m.c(b[3])])], "y4", alpha=0.2)
m.output("y4", np.where(mm(3) < 0, 0.2 * mm(3), mm(3)))
x2 = m.op("Reshape", ["x", m.i64(8, 24)])
m.op("Sigmoid", [m.op("Gemm", [x2, m.c(Wg), m.c(bg)], transB=1)], "y5")
m.output("y5", 1 / (1 + np.exp(-(xd.reshape(8, 24) @ Wg.T.astype(np.float64) + bg))))
m.op("Add", [m.op("MatMul", ["x", m.c(W[1])]), m.c(R)], "y6")               # Z, no bias
m.output("y6", xd @ W[1] + R)
m.save()

m = M("fuse_mm_miss", x)
p = m.op("MatMul", ["x", m.c(W[0])], "y1")                                  # product is an output
m.output("y1", xd @ W[0])
m.op("Relu", [m.op("Add", [p, m.c(b[0])])], "y2")
m.output("y2", np.maximum(mm(0), 0))
full = rng.uniform(-1, 1, (4, 32)).astype(np.float32)                       # not a row bias
m.op("Add", [m.op("MatMul", ["x", m.c(W[1])]), m.c(full)], "y3")
m.output("y3", xd @ W[1] + full)
Wb = rng.uniform(-0.5, 0.5, (2, 24, 8)).astype(np.float32)                  # batched B
m.op("Add", [m.op("MatMul", ["x", m.c(Wb)]), m.c(b[0][:8])], "y4")
m.output("y4", np.matmul(xd, Wb) + b[0][:8])
x2 = m.op("Reshape", ["x", m.i64(8, 24)])
m.op("Relu", [m.op("Gemm", [x2, m.c(Wg), m.c(bg)], transB=1, alpha=0.5)], "y5")  # alpha 0.5
m.output("y5", np.maximum(0.5 * (xd.reshape(8, 24) @ Wg.T) + bg, 0))
m.save()

# ---- attention --------------------------------------------------------------------------
B, H, SQ, SK, DK, DV = 2, 3, 10, 12, 8, 6
x = rng.uniform(-1, 1, (B, H, SQ, DK)).astype(np.float32)
xd = x.astype(np.float64)
Kt = rng.uniform(-1, 1, (B, H, DK, SK)).astype(np.float32)
V = rng.uniform(-1, 1, (B, H, SK, DV)).astype(np.float32)
mask = np.where(rng.random((B, 1, 1, SK)) < 0.3, -10000.0, 0.0).astype(np.float32)


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


sc = xd @ Kt.astype(np.float64)
m = M("fuse_att", x)
s = m.op("Add", [m.op("Div", [m.op("MatMul", ["x", m.c(Kt)]), m.c(math.sqrt(DK))]), m.c(mask)])
m.op("MatMul", [m.op("Softmax", [s], axis=-1), m.c(V)], "y1")
m.output("y1", softmax(sc / math.sqrt(DK) + mask) @ V)
s = m.op("Mul", [m.c(0.25), m.op("MatMul", ["x", m.c(Kt)])])
m.op("MatMul", [m.op("Softmax", [s], axis=3), m.c(V)], "y2")
m.output("y2", softmax(sc * 0.25) @ V)
m.op("MatMul", [m.op("Softmax", [m.op("MatMul", ["x", m.c(Kt)])]), m.c(V)], "y3")
m.output("y3", softmax(sc) @ V)
m.save()

m = M("fuse_att_miss", x)
Kq = rng.uniform(-1, 1, (B, H, DK, SQ)).astype(np.float32)                  # square scores
Vq = rng.uniform(-1, 1, (B, H, SQ, DV)).astype(np.float32)
s = m.op("MatMul", ["x", m.c(Kq)])
m.op("MatMul", [m.op("Softmax", [s], axis=2), m.c(Vq)], "y1")               # not the last axis
e = np.exp(xd @ Kq - (xd @ Kq).max(2, keepdims=True))
m.output("y1", (e / e.sum(2, keepdims=True)) @ Vq)
s = m.op("MatMul", ["x", m.c(Kt)], "y2")                                    # scores are an output
m.output("y2", sc)
m.op("MatMul", [m.op("Softmax", [s]), m.c(V)], "y3")
m.output("y3", softmax(sc) @ V)
K1 = Kt[:1]                                                                 # batch dim broadcast
m.op("MatMul", [m.op("Softmax", [m.op("MatMul", ["x", m.c(K1)])]), m.c(V)], "y4")
m.output("y4", softmax(xd @ K1) @ V)
m.save()

# ---- large enough to be split across threads (inputs made by the test itself) -----------
# y1 = GELU(x @ w1 + b1) (N 160 < M: row panels, the activation over whole blocks),
# y2 = Relu(x @ w2 + b2) (N 600 > M: column panels, row by row), y3 = attention over 2
# query blocks per head.
vi = lambda n, s: helper.make_tensor_value_info(n, F32, s)  # noqa: E731
m = M("fuse_big", None)
h = m.op("Add", [m.op("MatMul", ["x", "w1"]), m.c(np.linspace(-1, 1, 160))])
a = m.op("Add", [m.op("Erf", [m.op("Div", [h, m.c(S2)])]), m.c(1.0)])
m.op("Mul", [m.op("Mul", [h, a]), m.c(0.5)], "y1")
m.op("Relu", [m.op("Add", [m.op("MatMul", ["x", "w2"]), m.c(np.linspace(-1, 1, 600))])], "y2")
s = m.op("Div", [m.op("MatMul", ["q", "kt"]), m.c(math.sqrt(32))])
m.op("MatMul", [m.op("Softmax", [s]), "v"], "y3")
g = helper.make_graph(m.nodes, "fuse_big",
                      [vi("x", [256, 256]), vi("w1", [256, 160]), vi("w2", [256, 600]),
                       vi("q", [1, 4, 200, 32]), vi("kt", [1, 4, 32, 300]), vi("v", [1, 4, 300, 32])],
                      [vi("y1", [256, 160]), vi("y2", [256, 600]), vi("y3", [1, 4, 200, 32])],
                      m.inits)
mod = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
onnx.checker.check_model(mod, full_check=True)
onnx.save(mod, os.path.join(HERE, "fuse_big.onnx"))

# ---- HardSwish and Conv + per-channel affine ----------------------------------------------
# fuse_hswish:      x * Clip(x + 3, 0, 6) / 6, the same times 1/6, x * (Clip(..) / 6),
#                   x * HardSigmoid(x) with alpha 1/6
# fuse_hswish_miss: Add 2, Clip max 5, HardSigmoid alpha 0.2, the Clip also an output
# fuse_conv_affine: Conv > Mul [1,C,1,1] > Add scalar, Conv > Add [C,1,1], Conv without
#                   bias > Mul scalar > hard swish
# fuse_conv_affine_miss: Mul by a full-shape constant, Add along the width, conv output
#                   also read by another node
def hswish(v):
    return v * np.clip(v + 3, 0, 6) / 6


x = rng.uniform(-5, 5, (2, 3, 8)).astype(np.float32)
xd = x.astype(np.float64)
m = M("fuse_hswish", x)
clip = lambda v: m.op("Clip", [m.op("Add", [v, m.c(3.0)]), m.c(0.0), m.c(6.0)])  # noqa: E731
m.op("Div", [m.op("Mul", ["x", clip("x")]), m.c(6.0)], "y1")
m.output("y1", hswish(xd))
m.op("Mul", [m.c(1 / 6), m.op("Mul", [clip("x"), "x"])], "y2")
m.output("y2", hswish(xd))
m.op("Mul", ["x", m.op("Div", [clip("x"), m.c(6.0)])], "y3")
m.output("y3", hswish(xd))
m.op("Mul", [m.op("HardSigmoid", ["x"], alpha=1 / 6, beta=0.5), "x"], "y4")
m.output("y4", xd * np.clip(xd / 6 + 0.5, 0, 1))
m.save()

m = M("fuse_hswish_miss", x)
m.op("Div", [m.op("Mul", ["x", m.op("Clip", [m.op("Add", ["x", m.c(2.0)]), m.c(0.0), m.c(6.0)])]),
             m.c(6.0)], "y1")
m.output("y1", xd * np.clip(xd + 2, 0, 6) / 6)
m.op("Div", [m.op("Mul", ["x", m.op("Clip", [m.op("Add", ["x", m.c(3.0)]), m.c(0.0), m.c(5.0)])]),
             m.c(6.0)], "y2")
m.output("y2", xd * np.clip(xd + 3, 0, 5) / 6)
m.op("Mul", [m.op("HardSigmoid", ["x"], alpha=0.2, beta=0.5), "x"], "y3")
m.output("y3", xd * np.clip(xd * 0.2 + 0.5, 0, 1))
c4 = m.op("Clip", [m.op("Add", ["x", m.c(3.0)]), m.c(0.0), m.c(6.0)], "y4")
m.output("y4", np.clip(xd + 3, 0, 6))
m.op("Div", [m.op("Mul", ["x", c4]), m.c(6.0)], "y5")
m.output("y5", hswish(xd))
m.save()


def conv2d(v, w, b=None, pad=1):
    n, c, h, wd = v.shape
    o, _, kh, kw = w.shape
    vp = np.pad(v, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.zeros((n, o, oh, ow))
    for ky in range(kh):
        for kx in range(kw):
            y += np.einsum("oc,nchw->nohw", w[:, :, ky, kx], vp[:, :, ky:ky + oh, kx:kx + ow])
    return y if b is None else y + b.reshape(1, -1, 1, 1)


x = rng.standard_normal((1, 3, 6, 7)).astype(np.float32)
xd = x.astype(np.float64)
W = [rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.5 for _ in range(3)]
B = rng.standard_normal(4).astype(np.float32)
s = rng.uniform(0.5, 2, (1, 4, 1, 1)).astype(np.float32)
t = rng.standard_normal((4, 1, 1)).astype(np.float32)
m = M("fuse_conv_affine", x)
m.op("Add", [m.op("Mul", [m.op("Conv", ["x", m.c(W[0]), m.c(B)], pads=[1, 1, 1, 1]), m.c(s)]),
             m.c(0.25)], "y1")
m.output("y1", conv2d(xd, W[0], B) * s + 0.25)
m.op("Add", [m.c(t), m.op("Conv", ["x", m.c(W[1])], pads=[1, 1, 1, 1])], "y2")
m.output("y2", conv2d(xd, W[1]) + t)
v = m.op("Mul", [m.op("Conv", ["x", m.c(W[2])], pads=[1, 1, 1, 1]), m.c(1.5)])
m.op("Div", [m.op("Mul", [v, clip(v)]), m.c(6.0)], "y3")
m.output("y3", hswish(conv2d(xd, W[2]) * 1.5))
m.save()

m = M("fuse_conv_affine_miss", x)
full = rng.uniform(0.5, 2, (1, 4, 6, 7)).astype(np.float32)
m.op("Mul", [m.op("Conv", ["x", m.c(W[0]), m.c(B)], pads=[1, 1, 1, 1]), m.c(full)], "y1")
m.output("y1", conv2d(xd, W[0], B) * full)
row = rng.standard_normal((1, 1, 1, 7)).astype(np.float32)
m.op("Add", [m.op("Conv", ["x", m.c(W[1])], pads=[1, 1, 1, 1]), m.c(row)], "y2")
m.output("y2", conv2d(xd, W[1]) + row)
c3 = m.op("Conv", ["x", m.c(W[2])], pads=[1, 1, 1, 1])
m.op("Mul", [c3, m.c(2.0)], "y3")
m.output("y3", conv2d(xd, W[2]) * 2)
m.op("Relu", [c3], "y4")
m.output("y4", np.maximum(conv2d(xd, W[2]), 0))
m.save()

# fuse_conv_act: Conv > Relu, Conv > BatchNormalization > LeakyRelu(0.2), depthwise Conv >
#                hard swish chain, Conv read twice (no fusion), Conv > Clip (not fused)
x = rng.standard_normal((1, 4, 6, 7)).astype(np.float32)
xd = x.astype(np.float64)
W = [rng.standard_normal((5, 4, 3, 3)).astype(np.float32) * 0.5 for _ in range(4)]
Wd = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
bn = [rng.uniform(0.5, 2, 5), rng.standard_normal(5), rng.standard_normal(5), rng.uniform(0.5, 2, 5)]
m = M("fuse_conv_act", x)
m.op("Relu", [m.op("Conv", ["x", m.c(W[0]), m.c(B[:1].repeat(5))], pads=[1, 1, 1, 1])], "y1")
m.output("y1", np.maximum(conv2d(xd, W[0], B[:1].repeat(5)), 0))
h = m.op("BatchNormalization", [m.op("Conv", ["x", m.c(W[1])], pads=[1, 1, 1, 1])] +
         [m.c(v) for v in bn], epsilon=1e-5)
m.op("LeakyRelu", [h], "y2", alpha=0.2)
hb = (conv2d(xd, W[1]) - bn[2].reshape(1, -1, 1, 1)) / np.sqrt(bn[3].reshape(1, -1, 1, 1) + 1e-5)
hb = hb * bn[0].reshape(1, -1, 1, 1) + bn[1].reshape(1, -1, 1, 1)
m.output("y2", np.where(hb < 0, 0.2 * hb, hb))
d = m.op("Conv", ["x", m.c(Wd)], pads=[1, 1, 1, 1], group=4)
m.op("Div", [m.op("Mul", [d, clip(d)]), m.c(6.0)], "y3")
dd = np.concatenate([conv2d(xd[:, c:c + 1], Wd[c:c + 1]) for c in range(4)], axis=1)
m.output("y3", hswish(dd))
c4 = m.op("Conv", ["x", m.c(W[2])], "y4", pads=[1, 1, 1, 1])
m.output("y4", conv2d(xd, W[2]))
m.op("Relu", [c4], "y5")
m.output("y5", np.maximum(conv2d(xd, W[2]), 0))
m.op("Clip", [m.op("Conv", ["x", m.c(W[3])], pads=[1, 1, 1, 1]), m.c(0.0), m.c(6.0)], "y6")
m.output("y6", np.clip(conv2d(xd, W[3]), 0, 6))
m.save()

# fuse_affine_conv: Relu > Mul scalar > Add [C,1,1] > 1x1 Conv with bias (both fold into
#                   the conv), Relu > Add [1,C,1,1] > grouped 3x3 Conv without padding or
#                   bias; misses: the same into a padded Conv, the Mul also an output
x = rng.standard_normal((1, 4, 6, 7)).astype(np.float32)
xd = x.astype(np.float64)
r = np.maximum(xd, 0)
W1 = rng.standard_normal((5, 4, 1, 1)).astype(np.float32)
B1 = rng.standard_normal(5).astype(np.float32)
Wg = rng.standard_normal((6, 2, 3, 3)).astype(np.float32) * 0.5
Wp = rng.standard_normal((3, 4, 3, 3)).astype(np.float32) * 0.5
t = rng.standard_normal((4, 1, 1)).astype(np.float32)
t4 = rng.standard_normal((1, 4, 1, 1)).astype(np.float32)


def conv_grouped(v, w, groups, pad):
    cg, mg = v.shape[1] // groups, w.shape[0] // groups
    return np.concatenate([conv2d(v[:, g * cg:(g + 1) * cg], w[g * mg:(g + 1) * mg], pad=pad)
                           for g in range(groups)], axis=1)


m = M("fuse_affine_conv", x)
rl = m.op("Relu", ["x"])
m.op("Conv", [m.op("Add", [m.op("Mul", [rl, m.c(1.75)]), m.c(t)]), m.c(W1), m.c(B1)], "y1")
m.output("y1", conv2d(r * 1.75 + t, W1, B1, pad=0))
m.op("Conv", [m.op("Add", [m.c(t4), m.op("Relu", ["x"])]), m.c(Wg)], "y2", group=2)
m.output("y2", conv_grouped(r + t4, Wg, 2, 0))
m.save()

m = M("fuse_affine_conv_miss", x)
m.op("Conv", [m.op("Add", [m.op("Relu", ["x"]), m.c(t)]), m.c(Wp)], "y1", pads=[1, 1, 1, 1])
m.output("y1", conv2d(r + t, Wp, pad=1))
mul = m.op("Mul", [m.op("Relu", ["x"]), m.c(0.5)], "y2")
m.output("y2", r * 0.5)
m.op("Conv", [mul, m.c(W1)], "y3")
m.output("y3", conv2d(r * 0.5, W1, pad=0))
m.save()

# fuse_conv_clip: Max / Min by a constant after a conv become FusedConv's clip_min /
#   clip_max: LeakyRelu then Max (oww_embedding's floor), plain Conv then Min (rank-0
#   bound), Relu then Max then Min, the constant first; misses: a per-channel bound, the
#   conv also an output, Max after Min (the clip runs Max first: only the Min joins)
x = rng.standard_normal((1, 3, 6, 7)).astype(np.float32)
xd = x.astype(np.float64)
Wc = [rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.5 for _ in range(7)]
Bc = rng.standard_normal(4).astype(np.float32)
kc = rng.standard_normal((4, 1, 1)).astype(np.float32)
m = M("fuse_conv_clip", x)
c1 = conv2d(xd, Wc[0], Bc)
m.op("Max", [m.op("LeakyRelu", [m.op("Conv", ["x", m.c(Wc[0]), m.c(Bc)], pads=[1, 1, 1, 1])],
                  alpha=0.2), m.c(np.full((1, 1, 1, 1), -0.4, np.float32))], "y1")
m.output("y1", np.maximum(np.where(c1 < 0, 0.2 * c1, c1), np.float64(np.float32(-0.4))))
m.op("Min", [m.op("Conv", ["x", m.c(Wc[1])], pads=[1, 1, 1, 1]), m.c(np.float32(0.5))], "y2")
m.output("y2", np.minimum(conv2d(xd, Wc[1]), 0.5))
r3 = m.op("Relu", [m.op("Conv", ["x", m.c(Wc[2])], pads=[1, 1, 1, 1])])
m.op("Min", [m.op("Max", [r3, m.c(np.float32(0.1))]), m.c(np.float32(0.8))], "y3")
m.output("y3", np.minimum(np.maximum(np.maximum(conv2d(xd, Wc[2]), 0), np.float64(np.float32(0.1))),
                          np.float64(np.float32(0.8))))
m.op("Max", [m.c(np.float32(-0.3)), m.op("Conv", ["x", m.c(Wc[3])], pads=[1, 1, 1, 1])], "y4")
m.output("y4", np.maximum(conv2d(xd, Wc[3]), np.float64(np.float32(-0.3))))
m.op("Max", [m.op("Conv", ["x", m.c(Wc[4])], pads=[1, 1, 1, 1]), m.c(kc)], "y5")
m.output("y5", np.maximum(conv2d(xd, Wc[4]), kc.astype(np.float64)))
m.op("Max", [m.op("Conv", ["x", m.c(Wc[5])], "y6", pads=[1, 1, 1, 1]), m.c(np.float32(0.2))], "y7")
m.output("y6", conv2d(xd, Wc[5]))
m.output("y7", np.maximum(conv2d(xd, Wc[5]), np.float64(np.float32(0.2))))
m.op("Max", [m.op("Min", [m.op("Conv", ["x", m.c(Wc[6])], pads=[1, 1, 1, 1]), m.c(np.float32(0.5))]),
             m.c(np.float32(-0.3))], "y8")
m.output("y8", np.maximum(np.minimum(conv2d(xd, Wc[6]), 0.5), np.float64(np.float32(-0.3))))
m.save()

# fuse_conv_out_affine: Mul then Add (or Sub) by a scalar after a conv become FusedConv's
#   out_scale / out_shift (ppocr_v4_det's learnable affine after each HardSwish): a 1x1
#   conv + HardSwish, constant first ([1]); a depthwise conv + HardSwish (rank-0 scale,
#   constant-first Add); a plain 3x3 conv, Mul then Sub (shift -c); a 3x3 conv + Relu,
#   Add then Mul (the scale runs first: only the Add joins). Misses: Sub(c, y), a
#   per-channel scale, the activation also an output, a [1,1,1,1,1] scale (raises the
#   rank), Div. The expected affine is float32, a product then a sum, as Mul and Add are.
x = rng.standard_normal((1, 4, 6, 7)).astype(np.float32)
xd = x.astype(np.float64)
Wa = [rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * 0.5 for _ in range(7)]
W1a = rng.standard_normal((5, 4, 1, 1)).astype(np.float32) * 0.5
Wda = rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.5
Ba = rng.standard_normal(5).astype(np.float32)
sa = rng.uniform(0.5, 1.5, 8).astype(np.float32)
ba = rng.standard_normal(8).astype(np.float32)
kca = rng.standard_normal((4, 1, 1)).astype(np.float32)
f32 = lambda v: np.asarray(v, np.float64).astype(np.float32)  # noqa: E731
m = M("fuse_conv_out_affine", x)
h1 = m.op("HardSwish", [m.op("Conv", ["x", m.c(W1a), m.c(Ba)])])
m.op("Add", [m.op("Mul", [m.c(sa[:1]), h1]), m.c(ba[:1])], "y1")
m.output("y1", f32(hswish(conv2d(xd, W1a, Ba, pad=0))) * sa[0] + ba[0])
h2 = m.op("HardSwish", [m.op("Conv", ["x", m.c(Wda)], group=4, pads=[1, 1, 1, 1])])
m.op("Add", [m.c(ba[1]), m.op("Mul", [h2, m.c(sa[1])])], "y2")
dw = np.concatenate([conv2d(xd[:, c:c + 1], Wda[c:c + 1]) for c in range(4)], axis=1)
m.output("y2", f32(hswish(dw)) * sa[1] + ba[1])
c3 = m.op("Conv", ["x", m.c(Wa[0])], pads=[1, 1, 1, 1])
m.op("Sub", [m.op("Mul", [c3, m.c(sa[2:3])]), m.c(ba[2:3])], "y3")
m.output("y3", f32(conv2d(xd, Wa[0])) * sa[2] - ba[2])
r4 = m.op("Relu", [m.op("Conv", ["x", m.c(Wa[1])], pads=[1, 1, 1, 1])])
m.op("Mul", [m.op("Add", [r4, m.c(ba[3])]), m.c(sa[3])], "y4")
m.output("y4", (f32(np.maximum(conv2d(xd, Wa[1]), 0)) + ba[3]) * sa[3])
m.op("Sub", [m.c(ba[4]), m.op("Conv", ["x", m.c(Wa[2])], pads=[1, 1, 1, 1])], "y5")
m.output("y5", ba[4] - f32(conv2d(xd, Wa[2])))
h6 = m.op("HardSwish", [m.op("Conv", ["x", m.c(Wa[3])], pads=[1, 1, 1, 1])])
m.op("Mul", [h6, m.c(kca)], "y6")
m.output("y6", f32(hswish(conv2d(xd, Wa[3]))) * kca)
h7 = m.op("HardSwish", [m.op("Conv", ["x", m.c(Wa[4])], pads=[1, 1, 1, 1])], "y7")
m.op("Mul", [h7, m.c(sa[5])], "y8")
m.output("y7", hswish(conv2d(xd, Wa[4])))
m.output("y8", f32(hswish(conv2d(xd, Wa[4]))) * sa[5])
h9 = m.op("HardSwish", [m.op("Conv", ["x", m.c(Wa[5])], pads=[1, 1, 1, 1])])
m.op("Mul", [h9, m.c(sa[6:7].reshape(1, 1, 1, 1, 1))], "y9")
m.output("y9", (f32(hswish(conv2d(xd, Wa[5]))) * sa[6])[None])
h10 = m.op("HardSwish", [m.op("Conv", ["x", m.c(Wa[6])], pads=[1, 1, 1, 1])])
m.op("Div", [h10, m.c(sa[7])], "y10")
m.output("y10", f32(hswish(conv2d(xd, Wa[6]))) / sa[7])
# fuse_conv_layout: a 1x1 conv's constant weights stored transposed (FusedConv transW,
#   compiler/pass_layout.c): with bias, with Relu; misses: stride 2, group 2, one weight
#   shared by two convs, a 3x3 conv, 16 output positions (the dot-product path).
#   Its own generator, so the fixtures above keep their values.
lrng = np.random.default_rng(31)
x = lrng.standard_normal((1, 48, 5, 6)).astype(np.float32)
xd = x.astype(np.float64)
# 64 x 48 weights: enough products for the scheduler's estimate to be compute-bound
Wl = [lrng.standard_normal((64, 48, 1, 1)).astype(np.float32) * 0.2 for _ in range(3)]
Wl4 = lrng.standard_normal((64, 24, 1, 1)).astype(np.float32) * 0.2
Wl6 = lrng.standard_normal((12, 48, 3, 3)).astype(np.float32) * 0.1
Bl = lrng.standard_normal(64).astype(np.float32)
m = M("fuse_conv_layout", x)
m.op("Conv", ["x", m.c(Wl[0]), m.c(Bl)], "y1")
m.output("y1", conv2d(xd, Wl[0], Bl, pad=0))
m.op("Relu", [m.op("Conv", ["x", m.c(Wl[1])])], "y2")
m.output("y2", np.maximum(conv2d(xd, Wl[1], pad=0), 0))
m.op("Conv", ["x", m.c(Wl[2])], "y3", strides=[2, 2])
m.output("y3", conv2d(xd, Wl[2], pad=0)[:, :, ::2, ::2])
m.op("Conv", ["x", m.c(Wl4)], "y4", group=2)
m.output("y4", conv_grouped(xd, Wl4, 2, 0))
shared = m.c(Wl[0])
m.op("Conv", ["x", shared], "y5")
m.op("Relu", [m.op("Conv", ["x", shared])], "y6")
m.output("y5", conv2d(xd, Wl[0], pad=0))
m.output("y6", np.maximum(conv2d(xd, Wl[0], pad=0), 0))
m.op("Conv", ["x", m.c(Wl6)], "y7", pads=[1, 1, 1, 1])
m.output("y7", conv2d(xd, Wl6, pad=1))
pooled = m.op("MaxPool", ["x"], kernel_shape=[2, 3], strides=[1, 1])
m.op("Conv", [pooled, m.c(Wl[1])], "y8")
pd = np.max(np.stack([xd[:, :, a:a + 4, b:b + 4] for a in range(2) for b in range(3)]), axis=0)
m.output("y8", conv2d(pd, Wl[1], pad=0))
m.save()
# fuse_conv_wino: 3x3 convs the Winograd kernel takes store U = G g G^T (FusedConv transW 2,
#   compiler/pass_layout.c): with bias, with Relu, asymmetric pads; misses: stride 2,
#   dilation 2, 16 output channels (below the kernel's rule), one weight shared by two convs.
#   Its own generator, so the fixtures above keep their values.
wrng = np.random.default_rng(37)
x = wrng.standard_normal((1, 48, 24, 24)).astype(np.float32)
xd = x.astype(np.float64)
Ww = [wrng.standard_normal((40, 48, 3, 3)).astype(np.float32) * 0.1 for _ in range(5)]
Ww16 = wrng.standard_normal((16, 48, 3, 3)).astype(np.float32) * 0.1
Bw = wrng.standard_normal(40).astype(np.float32)
m = M("fuse_conv_wino", x)
m.op("Conv", ["x", m.c(Ww[0]), m.c(Bw)], "y1", pads=[1, 1, 1, 1])
m.output("y1", conv2d(xd, Ww[0], Bw, pad=1))
m.op("Relu", [m.op("Conv", ["x", m.c(Ww[1])], pads=[1, 1, 1, 1])], "y2")
m.output("y2", np.maximum(conv2d(xd, Ww[1], pad=1), 0))
m.op("Conv", ["x", m.c(Ww[2])], "y3", pads=[0, 1, 2, 1])
m.output("y3", conv2d(np.pad(xd, ((0, 0), (0, 0), (0, 2), (1, 1))), Ww[2], pad=0))
m.op("Conv", ["x", m.c(Ww[3])], "y4", pads=[1, 1, 1, 1], strides=[2, 2])
m.output("y4", conv2d(xd, Ww[3], pad=1)[:, :, ::2, ::2])
dil = np.zeros((40, 48, 5, 5), np.float32)
dil[:, :, ::2, ::2] = Ww[4]
m.op("Conv", ["x", m.c(Ww[4])], "y5", pads=[2, 2, 2, 2], dilations=[2, 2])
m.output("y5", conv2d(xd, dil.astype(np.float64), pad=2))
m.op("Conv", ["x", m.c(Ww16)], "y6", pads=[1, 1, 1, 1])
m.output("y6", conv2d(xd, Ww16, pad=1))
shared = m.c(Ww[0])
m.op("Conv", ["x", shared], "y7", pads=[1, 1, 1, 1])
m.op("Relu", [m.op("Conv", ["x", shared], pads=[1, 1, 1, 1])], "y8")
m.output("y7", conv2d(xd, Ww[0], pad=1))
m.output("y8", np.maximum(conv2d(xd, Ww[0], pad=1), 0))
m.save()

# fuse_muladd: an Add one of whose operands is a Mul read by nothing else becomes
#   FusedMulAdd: x + x * s (s per channel), Relu(x) * x + scalar, x * row + column
#   (three-way broadcasting), Mul * Mul + ...: one of the two joins; misses: the product
#   also read by a Relu, the product a graph output. Its own generator.
mrng = np.random.default_rng(41)
x = mrng.standard_normal((1, 4, 6, 5)).astype(np.float32)
xd = x.astype(np.float64)
sm = mrng.standard_normal((1, 4, 1, 1)).astype(np.float32)
row = mrng.standard_normal(5).astype(np.float32)
col = mrng.standard_normal((4, 1, 1)).astype(np.float32)
f = lambda a: np.asarray(a, np.float64)  # noqa: E731
m = M("fuse_muladd", x)
m.op("Add", ["x", m.op("Mul", ["x", m.c(sm)])], "y1")
m.output("y1", xd + xd * f(sm))
m.op("Add", [m.op("Mul", [m.op("Relu", ["x"]), "x"]), m.c(0.375)], "y2")
m.output("y2", np.maximum(xd, 0) * xd + 0.375)
m.op("Add", [m.op("Mul", ["x", m.c(row)]), m.c(col)], "y3")
m.output("y3", xd * f(row) + f(col))
prod = m.op("Mul", ["x", m.c(sm * 0.5)])
m.op("Add", [prod, "x"], "y4")
m.op("Relu", [prod], "y5")
m.output("y4", xd * f(sm * 0.5) + xd)
m.output("y5", np.maximum(xd * f(sm * 0.5), 0))
m.op("Mul", ["x", "x"], "y6")
m.op("Add", ["y6", "x"], "y7")
m.output("y6", xd * xd)
m.output("y7", xd * xd + xd)
m.op("Add", [m.op("Mul", ["x", m.c(sm * 2)]), m.op("Mul", ["x", "x"])], "y8")
m.output("y8", xd * f(sm * 2) + xd * xd)
m.save()


def conv_transpose(v, w, stride, b=None):
    """ConvTranspose without pads or dilation, group 1: y[m, i s + ki, j s + kj] +=
    x[c, i, j] W[c, m, ki, kj]."""
    n, c, h, wd = v.shape
    _, o, kh, kw = w.shape
    y = np.zeros((n, o, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for ki in range(kh):
        for kj in range(kw):
            y[:, :, ki:ki + (h - 1) * stride + 1:stride, kj:kj + (wd - 1) * stride + 1:stride] += \
                np.einsum("nchw,co->nohw", v, w[:, :, ki, kj])
    return y if b is None else y + b.reshape(1, -1, 1, 1)


# fuse_convt_fold: ConvTranspose (group 1) + Add of a per-channel constant (its bias) +
#   BatchNormalization, stride 2 kernel 2 (det's head) and stride 2 kernel 3 (overlapping
#   windows) + Mul by a per-channel constant; misses: group 2 + BatchNormalization, and a
#   ConvTranspose whose output is also a graph output. Its own generator.
trng = np.random.default_rng(43)
x = trng.standard_normal((1, 4, 5, 6)).astype(np.float32)
xd = x.astype(np.float64)
Wt = trng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 0.5
Wt3 = trng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.5
Wg = trng.standard_normal((4, 2, 2, 2)).astype(np.float32) * 0.5
tb = trng.standard_normal((1, 3, 1, 1)).astype(np.float32)
ts = trng.uniform(0.5, 2, (3, 1, 1)).astype(np.float32)
bn = [trng.uniform(0.5, 2, 3), trng.standard_normal(3), trng.standard_normal(3),
      trng.uniform(0.5, 2, 3)]
bn = [a.astype(np.float32) for a in bn]
bn4 = [np.concatenate([a, a[:1]]) for a in bn]


def bnorm(v, p):
    g_, b_, m_, var = (f(a).reshape(1, -1, 1, 1) for a in p)
    return (v - m_) / np.sqrt(var + 1e-5) * g_ + b_


m = M("fuse_convt_fold", x)
t1 = m.op("Add", [m.op("ConvTranspose", ["x", m.c(Wt)], strides=[2, 2]), m.c(tb)])
m.op("BatchNormalization", [t1] + [m.c(a) for a in bn], "y1")
m.output("y1", bnorm(conv_transpose(xd, f(Wt), 2) + f(tb), bn))
m.op("Mul", [m.op("ConvTranspose", ["x", m.c(Wt3)], strides=[2, 2]), m.c(ts)], "y2")
m.output("y2", conv_transpose(xd, f(Wt3), 2) * f(ts))
tg = m.op("ConvTranspose", ["x", m.c(Wg)], strides=[2, 2], group=2)
m.op("BatchNormalization", [tg] + [m.c(a) for a in bn4], "y3")
yg = np.concatenate([conv_transpose(xd[:, :2], f(Wg[:2]), 2),
                     conv_transpose(xd[:, 2:], f(Wg[2:]), 2)], axis=1)
m.output("y3", bnorm(yg, bn4))
m.op("ConvTranspose", ["x", m.c(Wt)], "y4", strides=[2, 2])
m.op("Add", ["y4", m.c(tb)], "y5")
m.output("y4", conv_transpose(xd, f(Wt), 2))
m.output("y5", conv_transpose(xd, f(Wt), 2) + f(tb))
m.save()

# fuse_resize_add: x + upsample2(avgpool2(x)) with nearest / asymmetric / floor (a feature
#   pyramid's top-down path) on either side of the Add; misses: the resized tensor also
#   read by a Relu, an addend that broadcasts. Its own generator.
rrng = np.random.default_rng(47)
x = rrng.standard_normal((1, 4, 6, 8)).astype(np.float32)
xd = x.astype(np.float64)
small = xd.reshape(1, 4, 3, 2, 4, 2).mean(axis=(3, 5))
up = np.repeat(np.repeat(small, 2, axis=2), 2, axis=3)
cc = rrng.standard_normal((4, 1, 1)).astype(np.float32)
m = M("fuse_resize_add", x)
pooled = m.op("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2])
sc2 = m.c(np.array([1, 1, 2, 2], np.float32))


def upsample():
    return m.op("Resize", [pooled, "", sc2], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")


m.op("Add", ["x", upsample()], "y1")
m.output("y1", xd + up)
m.op("Add", [upsample(), m.op("Relu", ["x"])], "y2")
m.output("y2", up + np.maximum(xd, 0))
shared_up = upsample()
m.op("Add", [shared_up, "x"], "y3")
m.op("Relu", [shared_up], "y4")
m.output("y3", up + xd)
m.output("y4", np.maximum(up, 0))
m.op("Add", [upsample(), m.c(cc)], "y5")
m.output("y5", up + f(cc))
m.save()

# fuse_conv_residual: relu(conv(x) + x) (ResNet's block end), x + conv(relu(x)) without a
#   bias or activation, sigmoid(conv3x3(x) + conv1x1(x)) (both addends convs); misses: a
#   conv also read by a Relu, an addend that broadcasts, a conv whose Relu comes before the
#   Add. Full mantissas. Its own generator.
qrng = np.random.default_rng(53)
x = qrng.standard_normal((1, 8, 6, 7)).astype(np.float32)
xd = x.astype(np.float64)
W = [(qrng.standard_normal((8, 8, 3, 3)) / 9).astype(np.float32) for _ in range(6)]
W1x1 = (qrng.standard_normal((8, 8, 1, 1)) / 3).astype(np.float32)
B = [(qrng.standard_normal(8) / 3).astype(np.float32) for _ in range(3)]
m = M("fuse_conv_residual", x)


def conv(inp, k, b=None, pad=1):
    ins = [inp, m.c(W[k])] + ([m.c(B[b])] if b is not None else [])
    return m.op("Conv", ins, kernel_shape=[3, 3], pads=[pad] * 4)


def ref(v, k, b=None):
    return conv2d(v, f(W[k]), None if b is None else f(B[b]))


m.op("Relu", [m.op("Add", [conv("x", 0, 0), "x"])], "y1")
m.output("y1", np.maximum(ref(xd, 0, 0) + xd, 0))
m.op("Add", ["x", conv(m.op("Relu", ["x"]), 1)], "y2")
m.output("y2", xd + ref(np.maximum(xd, 0), 1))
c1 = m.op("Conv", ["x", m.c(W1x1)], kernel_shape=[1, 1])
m.op("Sigmoid", [m.op("Add", [conv("x", 2, 1), c1])], "y3")
m.output("y3", 1 / (1 + np.exp(-(ref(xd, 2, 1) + conv2d(xd, f(W1x1), pad=0)))))
shared = conv("x", 3, 2)
m.op("Add", [shared, "x"], "y4")
m.op("Relu", [shared], "y5")
m.output("y4", ref(xd, 3, 2) + xd)
m.output("y5", np.maximum(ref(xd, 3, 2), 0))
m.op("Add", [conv("x", 4), m.op("ReduceMean", ["x"], axes=[1], keepdims=1)], "y6")
m.output("y6", ref(xd, 4) + xd.mean(axis=1, keepdims=True))
m.op("Add", [m.op("Relu", [conv("x", 5)]), "x"], "y7")
m.output("y7", np.maximum(ref(xd, 5), 0) + xd)
m.save()

# fuse_blocked: a MobileNet-like chain: 1x1 (HardSwish) > depthwise 3x3 (bias, Relu) >
#   depthwise 5x5 stride 2 > 1x1 (bias, Sigmoid) = y1; a 3x3 dense conv (not one Winograd
#   takes: too little work) > depthwise, whose value is also read by a ReduceMean (y2, so
#   one FromBlocked) > depthwise 5x5 > a 1x1 with a residual Z from inside the chain, then
#   Relu (y3); a chain of dense convs alone (y8: stays NCHW); a chain whose first value
#   is also read in NCHW (y9) and passed to a depthwise conv and as a residual Z (y10:
#   stays NCHW, the blocked reads of a value that needs its FromBlocked anyway gain
#   nothing);
#   misses: a lone pair of convs (y4; two reorders to pass one value), 24 output channels
#   (y5, not a multiple of 16); a chain starting with a depthwise conv of a Relu (y6: the
#   one ToBlocked; dense convs start chains reading X as it is); a chain ending in a
#   residual of x (y7: Z reordered to the blocked layout). Its own generator; full
#   mantissas.
brng = np.random.default_rng(61)
x = brng.standard_normal((1, 32, 18, 17)).astype(np.float32)
xd = x.astype(np.float64)
m = M("fuse_blocked", x)


def convg(v, w, b=None, pad=0, stride=1, group=1):
    n, c, h, wd = v.shape
    o, cg, kh, kw = w.shape
    vp = np.pad(v, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    og = o // group
    for g in range(group):
        for ky in range(kh):
            for kx in range(kw):
                win = vp[:, g * cg:(g + 1) * cg, ky:ky + stride * (oh - 1) + 1:stride,
                         kx:kx + stride * (ow - 1) + 1:stride]
                y[:, g * og:(g + 1) * og] += np.einsum("oc,nchw->nohw",
                                                       w[g * og:(g + 1) * og, :, ky, kx], win)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def bconv(inp, vin, cout, k, pad=0, stride=1, group=1, bias=False):
    cin = vin.shape[1]
    w = (brng.standard_normal((cout, cin // group, k, k)) / math.sqrt(cin // group * k * k))
    w = w.astype(np.float32)
    b = (brng.standard_normal(cout) / 3).astype(np.float32) if bias else None
    ins = [inp, m.c(w)] + ([m.c(b)] if bias else [])
    out = m.op("Conv", ins, kernel_shape=[k, k], pads=[pad] * 4, strides=[stride] * 2,
               group=group)
    return out, convg(vin, f(w), None if b is None else f(b), pad, stride, group)


sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
a, ad = bconv("x", xd, 32, 1)
a, ad = m.op("HardSwish", [a]), hswish(ad)
b_, bd = bconv(a, ad, 32, 3, pad=1, group=32, bias=True)
b_, bd = m.op("Relu", [b_]), np.maximum(bd, 0)
c_, cd = bconv(b_, bd, 32, 5, pad=2, stride=2, group=32)
d_, dd = bconv(c_, cd, 48, 1, bias=True)
m.op("Sigmoid", [d_], "y1")
m.output("y1", sig(dd))
e_, ed = bconv("x", xd, 48, 3, pad=1, bias=True)
g_, gd = bconv(e_, ed, 48, 3, pad=1, group=48)
m.op("ReduceMean", [g_], "y2", axes=[1], keepdims=1)
m.output("y2", gd.mean(axis=1, keepdims=True))
g_, gd = bconv(g_, gd, 48, 5, pad=2, group=48, bias=True)
h_, hd = bconv(g_, gd, 48, 1)
m.op("Relu", [m.op("Add", [h_, e_])], "y3")
m.output("y3", np.maximum(hd + ed, 0))
p_, pd = bconv("x", xd, 32, 1)
q_, qd = bconv(p_, pd, 32, 3, pad=1, group=32)
m.op("Identity", [q_], "y4")
m.output("y4", qd)
r_, rd = bconv("x", xd, 32, 1)
s_, sd = bconv(r_, rd, 24, 1)
t_, td = bconv(s_, sd, 24, 3, pad=1, group=24)
m.op("Identity", [t_], "y5")
m.output("y5", td)
u_, ud = bconv(m.op("Relu", ["x"]), np.maximum(xd, 0), 32, 3, pad=1, group=32, bias=True)
u_, ud = bconv(u_, ud, 32, 1)
u_, ud = bconv(u_, ud, 32, 3, pad=1, stride=2, group=32)
u_, ud = bconv(u_, ud, 16, 1, bias=True)
m.op("Identity", [u_], "y6")
m.output("y6", ud)
v_, vd = bconv("x", xd, 32, 1, bias=True)
v_, vd = bconv(v_, vd, 32, 3, pad=1, group=32)
v_, vd = bconv(v_, vd, 32, 5, pad=2, group=32, bias=True)
v_, vd = bconv(v_, vd, 32, 1)
m.op("Relu", [m.op("Add", [v_, "x"])], "y7")
m.output("y7", np.maximum(vd + xd, 0))
w_, wd = bconv("x", xd, 32, 1)
for k in (3, 1, 3):
    w_, wd = bconv(w_, wd, 32, k, pad=k // 2)
m.op("Identity", [w_], "y8")
m.output("y8", wd)
a9, a9d = bconv("x", xd, 32, 1, bias=True)
m.op("ReduceMean", [a9], "y9", axes=[1], keepdims=1)
m.output("y9", a9d.mean(axis=1, keepdims=True))
b9, b9d = bconv(a9, a9d, 32, 3, pad=1, group=32)
c9, c9d = bconv(b9, b9d, 32, 1)
c9, c9d = m.op("Add", [c9, a9]), c9d + a9d
d9, d9d = bconv(c9, c9d, 32, 3, pad=1, group=32)
m.op("Identity", [d9], "y10")
m.output("y10", d9d)
m.save()
