#!/usr/bin/python3
"""Generates the expected outputs in tests/unit/test_kernels_rnn.c from a small numpy
reference of the ONNX RNN / LSTM / GRU equations (written from the operator spec, not from
the ONNX test data). Run: /usr/bin/python3 tests/unit/test_kernels_rnn_gen.py > /tmp/fix.h
and paste the arrays between the FIXTURES markers.

Inputs are filled deterministically: v[i] = (((7*i + 3*seed) % 11) - 5) * scale (float32),
the same function as fill() in the C test."""
import numpy as np

F32 = np.float32

def fill(shape, seed, scale=0.1):
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n, dtype=np.int64)
    v = (((7 * i + 3 * seed) % 11) - 5).astype(F32) * F32(scale)
    return v.reshape(shape)

RELU, TANH, SIGMOID, AFFINE, LEAKY, THRESH, STANH, HSIG, ELU, SOFTSIGN, SOFTPLUS = range(11)
DEF_ALPHA = {AFFINE: 1.0, LEAKY: 0.01, THRESH: 1.0, STANH: 1.0, HSIG: 0.2, ELU: 1.0}
DEF_BETA = {AFFINE: 0.0, STANH: 1.0, HSIG: 0.5}

def act(code, a, b, x):
    if code == RELU: return np.maximum(x, 0)
    if code == TANH: return np.tanh(x)
    if code == SIGMOID: return 1 / (1 + np.exp(-x))
    if code == AFFINE: return a * x + b
    if code == LEAKY: return np.where(x < 0, a * x, x)
    if code == THRESH: return np.where(x > a, x, 0)
    if code == STANH: return a * np.tanh(b * x)
    if code == HSIG: return np.clip(a * x + b, 0, 1)
    if code == ELU: return np.where(x < 0, a * (np.exp(x) - 1), x)
    if code == SOFTSIGN: return x / (1 + np.abs(x))
    if code == SOFTPLUS: return np.log1p(np.exp(x))
    raise ValueError(code)

def run(kind, X, W, R, B=None, seq=None, h0=None, c0=None, P=None, direction="forward",
        layout=0, clip=0.0, acts=None, alphas=None, betas=None, input_forget=0, lbr=0):
    """ONNX semantics. Returns Y, Y_h (, Y_c) in the given layout (float64)."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    nf = {"rnn": 1, "lstm": 3, "gru": 2}[kind]
    defaults = {"rnn": [TANH], "lstm": [SIGMOID, TANH, TANH], "gru": [SIGMOID, TANH]}[kind]
    nd = 2 if direction == "bidirectional" else 1
    X = X.astype(np.float64)
    if layout: X = X.transpose(1, 0, 2)  # -> [T, B, I]
    T, Bn, I = X.shape
    H = R.shape[2]
    if acts is None: acts = defaults * nd
    if alphas is None: alphas = [DEF_ALPHA.get(c, 0.0) for c in acts]
    if betas is None: betas = [DEF_BETA.get(c, 0.0) for c in acts]
    if seq is None: seq = [T] * Bn
    if h0 is not None and layout: h0 = h0.transpose(1, 0, 2)
    if c0 is not None and layout: c0 = c0.transpose(1, 0, 2)
    Y = np.zeros((T, nd, Bn, H))
    Yh = np.zeros((nd, Bn, H))
    Yc = np.zeros((nd, Bn, H))
    cl = (lambda v: np.clip(v, -clip, clip)) if clip > 0 else (lambda v: v)
    for d in range(nd):
        rev = direction == "reverse" or d == 1
        f = [lambda v, k=k: act(acts[d * nf + k], alphas[d * nf + k], betas[d * nf + k], v)
             for k in range(nf)]
        Wd, Rd = W[d].astype(np.float64), R[d].astype(np.float64)
        Wb = B[d][:G * H].astype(np.float64) if B is not None else np.zeros(G * H)
        Rb = B[d][G * H:].astype(np.float64) if B is not None else np.zeros(G * H)
        for b in range(Bn):
            h = h0[d, b].astype(np.float64) if h0 is not None else np.zeros(H)
            c = c0[d, b].astype(np.float64) if c0 is not None else np.zeros(H)
            L = seq[b]
            steps = range(L - 1, -1, -1) if rev else range(L)
            for t in steps:
                x = X[t, b]
                if kind == "rnn":
                    h = f[0](cl(x @ Wd.T + h @ Rd.T + Wb + Rb))
                elif kind == "lstm":
                    Wi, Wo, Wf, Wc = np.split(Wd, 4)
                    Ri, Ro, Rf, Rc = np.split(Rd, 4)
                    wbi, wbo, wbf, wbc = np.split(Wb, 4)
                    rbi, rbo, rbf, rbc = np.split(Rb, 4)
                    if P is not None:
                        pi, po, pf = np.split(P[d].astype(np.float64), 3)
                    else:
                        pi = po = pf = np.zeros(H)
                    i = f[0](cl(x @ Wi.T + h @ Ri.T + pi * c + wbi + rbi))
                    if input_forget:
                        fg = 1 - i
                    else:
                        fg = f[0](cl(x @ Wf.T + h @ Rf.T + pf * c + wbf + rbf))
                    cc = f[1](cl(x @ Wc.T + h @ Rc.T + wbc + rbc))
                    c = fg * c + i * cc
                    o = f[0](cl(x @ Wo.T + h @ Ro.T + po * c + wbo + rbo))
                    h = o * f[2](c)
                else:
                    Wz, Wr, Wh = np.split(Wd, 3)
                    Rz, Rr, Rh = np.split(Rd, 3)
                    wbz, wbr, wbh = np.split(Wb, 3)
                    rbz, rbr, rbh = np.split(Rb, 3)
                    z = f[0](cl(x @ Wz.T + h @ Rz.T + wbz + rbz))
                    r = f[0](cl(x @ Wr.T + h @ Rr.T + wbr + rbr))
                    if lbr:
                        hh = f[1](cl(x @ Wh.T + r * (h @ Rh.T + rbh) + wbh))
                    else:
                        hh = f[1](cl(x @ Wh.T + (r * h) @ Rh.T + rbh + wbh))
                    h = (1 - z) * hh + z * h
                Y[t, d, b] = h
            Yh[d, b] = h
            Yc[d, b] = c
    if layout:
        Y = Y.transpose(2, 0, 1, 3)
        Yh = Yh.transpose(1, 0, 2)
        Yc = Yc.transpose(1, 0, 2)
    return (Y, Yh, Yc) if kind == "lstm" else (Y, Yh)

def emit(name, a):
    a = np.asarray(a, dtype=np.float64).ravel()
    vals = ", ".join("%.9g" % v for v in a)
    print("static const float %s[%d] = {%s};" % (name, a.size, vals))

def case(name, kind, T, Bn, I, H, direction="forward", layout=0, has_b=True, seq=None,
         has_h0=False, has_c0=False, has_p=False, **kw):
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    nd = 2 if direction == "bidirectional" else 1
    X = fill([Bn, T, I] if layout else [T, Bn, I], 1, 0.3)
    W = fill([nd, G * H, I], 2, 0.1)
    R = fill([nd, G * H, H], 3, 0.1)
    B = fill([nd, 2 * G * H], 4, 0.1) if has_b else None
    hs = [Bn, nd, H] if layout else [nd, Bn, H]
    h0 = fill(hs, 5, 0.2) if has_h0 else None
    c0 = fill(hs, 6, 0.2) if has_c0 else None
    P = fill([nd, 3 * H], 7, 0.1) if has_p else None
    outs = run(kind, X, W, R, B, seq, h0, c0, P, direction, layout, **kw)
    for suffix, o in zip(["y", "yh", "yc"], outs):
        emit("k_%s_%s" % (name, suffix), o)

print("/* FIXTURES: generated by tests/unit/test_kernels_rnn_gen.py */")
case("rnn_fwd", "rnn", 3, 2, 3, 4)
case("rnn_bidi_seq", "rnn", 4, 3, 2, 3, direction="bidirectional", seq=[4, 2, 0], has_h0=True)
case("lstm_bidi_l1", "lstm", 4, 3, 3, 3, direction="bidirectional", layout=1, seq=[4, 1, 3],
     has_h0=True, has_c0=True, has_p=True)
case("lstm_rev_if", "lstm", 3, 2, 2, 3, direction="reverse", has_p=True, input_forget=1,
     clip=0.4, acts=[HSIG, SOFTSIGN, ELU], alphas=[0.3, 0.0, 0.7], betas=[0.4, 0.0, 0.0])
case("gru_bidi_lbr", "gru", 4, 3, 2, 3, direction="bidirectional", layout=1, seq=[2, 4, 3],
     has_h0=True, lbr=1)
case("gru_rev_big", "gru", 3, 5, 3, 4, direction="reverse", seq=[3, 1, 2, 3, 2], has_h0=True,
     clip=0.5, acts=[SIGMOID, STANH], alphas=[0.0, 1.5], betas=[0.0, 0.6])
case("gru_fwd_nobias", "gru", 3, 2, 3, 4, layout=1, has_b=False)
# every activation code through a forward RNN (the x and h terms span negative and positive)
for code in range(11):
    a = {AFFINE: 0.5, LEAKY: 0.2, THRESH: 0.1, STANH: 1.3, HSIG: 0.3, ELU: 0.8}.get(code, 0.0)
    b = {AFFINE: 0.25, STANH: 0.7, HSIG: 0.45}.get(code, 0.0)
    case("rnn_act%d" % code, "rnn", 2, 2, 3, 3, acts=[code], alphas=[a], betas=[b])
