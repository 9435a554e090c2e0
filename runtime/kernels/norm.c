/* Softmax, LogSoftmax, BatchNormalization (inference mode) and LayerNormalization.
 * f32 and f64 have native paths; f16 / bf16 are widened to f32 in scratch, computed, and
 * narrowed back. */
#include <math.h>

#include "runtime/kernels/ew.h"

#define GF(name, x) _Generic((x), float: name##f, default: name)(x)

/* ---- Softmax / LogSoftmax ------------------------------------------------------------
 * X viewed as [outer, n, inner] around the softmax axis. Stable form: subtract the max
 * along the axis before exp. With inner > 1 the reduction runs across rows of `inner`
 * contiguous elements (tmp holds a max and a sum per inner position) so the loops stay
 * unit-stride and vectorisable. */
#define DEF_SOFTMAX(T, suf, EXP)                                                       \
  static void softmax_##suf(const T *x, T *y, int64_t outer, int64_t n, int64_t inner,   \
                            int logsm, T *tmp) {                                         \
    if (inner == 1) { /* rows: max and sum over 8 lanes so the loops vectorise */        \
      for (int64_t o = 0; o < outer; o++) {                                              \
        const T *xr = x + o * n;                                                         \
        T *yr = y + o * n;                                                               \
        T m8[8], s8[8], m = -INFINITY, s = 0;                                            \
        for (int j = 0; j < 8; j++) m8[j] = -INFINITY, s8[j] = 0;                        \
        int64_t i = 0;                                                                   \
        for (; i + 8 <= n; i += 8)                                                       \
          for (int j = 0; j < 8; j++) m8[j] = xr[i + j] > m8[j] ? xr[i + j] : m8[j];     \
        for (; i < n; i++) m = xr[i] > m ? xr[i] : m;                                    \
        for (int j = 0; j < 8; j++) m = m8[j] > m ? m8[j] : m;                           \
        for (i = 0; i + 8 <= n; i += 8)                                                  \
          for (int j = 0; j < 8; j++) {                                                  \
            T e = EXP(xr[i + j] - m);                                                    \
            if (!logsm) yr[i + j] = e;                                                   \
            s8[j] += e;                                                                  \
          }                                                                              \
        for (; i < n; i++) {                                                             \
          T e = EXP(xr[i] - m);                                                          \
          if (!logsm) yr[i] = e;                                                         \
          s += e;                                                                        \
        }                                                                                \
        for (int j = 0; j < 8; j++) s += s8[j];                                          \
        if (logsm) {                                                                     \
          const T l = m + GF(log, s);                                                    \
          for (i = 0; i < n; i++) yr[i] = xr[i] - l;                                     \
        } else {                                                                         \
          const T r = (T)1 / s;                                                          \
          for (i = 0; i < n; i++) yr[i] *= r;                                            \
        }                                                                                \
      }                                                                                  \
      return;                                                                            \
    }                                                                                    \
    T *mx = tmp, *sm = tmp + inner;                                                      \
    for (int64_t o = 0; o < outer; o++) {                                                \
      const T *xb = x + o * n * inner;                                                   \
      T *yb = y + o * n * inner;                                                         \
      for (int64_t j = 0; j < inner; j++) mx[j] = -INFINITY, sm[j] = 0;                  \
      for (int64_t k = 0; k < n; k++)                                                    \
        for (int64_t j = 0; j < inner; j++) {                                            \
          T v = xb[k * inner + j];                                                       \
          mx[j] = v > mx[j] ? v : mx[j];                                                 \
        }                                                                                \
      for (int64_t k = 0; k < n; k++)                                                    \
        for (int64_t j = 0; j < inner; j++) {                                            \
          T e = EXP(xb[k * inner + j] - mx[j]);                                      \
          if (!logsm) yb[k * inner + j] = e;                                             \
          sm[j] += e;                                                                    \
        }                                                                                \
      if (logsm) {                                                                       \
        for (int64_t j = 0; j < inner; j++) sm[j] = mx[j] + GF(log, sm[j]);              \
        for (int64_t k = 0; k < n; k++)                                                  \
          for (int64_t j = 0; j < inner; j++) yb[k * inner + j] = xb[k * inner + j] - sm[j]; \
      } else {                                                                           \
        for (int64_t j = 0; j < inner; j++) sm[j] = (T)1 / sm[j];                        \
        for (int64_t k = 0; k < n; k++)                                                  \
          for (int64_t j = 0; j < inner; j++) yb[k * inner + j] *= sm[j];                \
      }                                                                                  \
    }                                                                                    \
  }
DEF_SOFTMAX(float, f32, expf)
DEF_SOFTMAX(double, f64, exp)

static ivm_status run_softmax(const rt_call *c, const char *op, int logsm) {
  IVM_TRY(ew_check_io(c, op, 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype;
  if (y->dtype != dt || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "%s: output type differs from input", op);
  /* ops.def shares isa_infer_unary with the unary ops, so the axis is checked here. */
  int64_t axis = ew_attr_i(c, ISA_A_Softmax_axis, -1), r = x->rank;
  int64_t lim = r > 0 ? r : 1; /* a scalar behaves as a 1-element vector */
  if (axis < -lim || axis >= lim)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: axis %lld out of range for rank %lld", op,
                     (long long)axis, (long long)r);
  if (axis < 0) axis += lim;
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < r; i++) {
    if (i < axis) outer *= x->dims[i];
    else if (i == axis) n = x->dims[i];
    else inner *= x->dims[i];
  }
  int64_t numel = outer * n * inner;
  if (numel == 0) return NULL;
  void *tmp = NULL;
  size_t tmpb = inner > 1 ? 2 * (size_t)inner * (dt == IVM_DT_F64 ? 8 : 4) : 0;
  switch (dt) {
    case IVM_DT_F32:
      if (tmpb) IVM_TRY(rt_scratch_get(c->scratch, tmpb, &tmp));
      softmax_f32(x->data, y->data, outer, n, inner, logsm, tmp);
      return NULL;
    case IVM_DT_F64:
      if (tmpb) IVM_TRY(rt_scratch_get(c->scratch, tmpb, &tmp));
      softmax_f64(x->data, y->data, outer, n, inner, logsm, tmp);
      return NULL;
    case IVM_DT_F16:
    case IVM_DT_BF16: {
      IVM_TRY(rt_scratch_get(c->scratch, (size_t)numel * 4 + tmpb, &tmp));
      float *w = tmp;
      ew_half_to_f32(dt, x->data, w, numel);
      softmax_f32(w, w, outer, n, inner, logsm, w + numel);
      ew_f32_to_half(dt, w, y->data, numel);
      return NULL;
    }
    default: return ew_bad_dtype(op, dt);
  }
}

ivm_status rt_k_Softmax(const rt_call *c) { return run_softmax(c, "Softmax", 0); }
ivm_status rt_k_LogSoftmax(const rt_call *c) { return run_softmax(c, "LogSoftmax", 1); }

/* ---- BatchNormalization ---------------------------------------------------------------
 * Y = X * a[c] + b[c] with a = scale / sqrt(var + eps), b = B - mean * a, folded per
 * channel in double. X is [N, C, spatial...]; rank 1 means C = 1. */
#define DEF_BN(T, CT, LD, ST, suf)                                                        \
  static void bn_##suf(const T *x, T *y, int64_t N, int64_t C, int64_t S, const double *ab) { \
    for (int64_t nn = 0; nn < N; nn++)                                                    \
      for (int64_t cc = 0; cc < C; cc++) {                                                \
        const CT a = (CT)ab[2 * cc], b = (CT)ab[2 * cc + 1];                              \
        const T *xs = x + (nn * C + cc) * S;                                              \
        T *ys = y + (nn * C + cc) * S;                                                    \
        for (int64_t s = 0; s < S; s++) ys[s] = ST(LD(xs[s]) * a + b);                    \
      }                                                                                   \
  }
DEF_BN(float, float, EW_ID, EW_ID, f32)
DEF_BN(double, double, EW_ID, EW_ID, f64)
DEF_BN(uint16_t, float, ew_f16_to_f32, ew_f32_to_f16, f16)
DEF_BN(uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16, bf16)

ivm_status rt_k_BatchNormalization(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "BatchNormalization", 5, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype;
  if (y->dtype != dt || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "BatchNormalization: output type differs from input");
  if (x->rank < 1) return ivm_error(IVM_ERR_INTERNAL, "BatchNormalization: X must have rank >= 1");
  int64_t N = x->dims[0], C = x->rank >= 2 ? x->dims[1] : 1, S = 1;
  for (int i = 2; i < x->rank; i++) S *= x->dims[i];
  for (int k = 1; k < 5; k++)
    if (rt_numel(c->in[k]) != C || !isa_dtype_is_float(c->in[k]->dtype))
      return ivm_error(IVM_ERR_INTERNAL, "BatchNormalization: input %d must have %lld floats", k,
                       (long long)C);
  if (rt_numel(x) == 0) return NULL;
  double eps = ew_attr_f(c, ISA_A_BatchNormalization_epsilon, 1e-5f);
  double *ab;
  IVM_TRY(rt_scratch_get(c->scratch, 2 * (size_t)C * sizeof(double), (void **)&ab));
  const rt_tensor *sc = c->in[1], *bi = c->in[2], *me = c->in[3], *va = c->in[4];
  for (int64_t k = 0; k < C; k++) {
    double a = ew_load_d(sc->dtype, sc->data, k) / sqrt(ew_load_d(va->dtype, va->data, k) + eps);
    ab[2 * k] = a;
    ab[2 * k + 1] = ew_load_d(bi->dtype, bi->data, k) - ew_load_d(me->dtype, me->data, k) * a;
  }
  switch (dt) {
    case IVM_DT_F32: bn_f32(x->data, y->data, N, C, S, ab); break;
    case IVM_DT_F64: bn_f64(x->data, y->data, N, C, S, ab); break;
    case IVM_DT_F16: bn_f16(x->data, y->data, N, C, S, ab); break;
    case IVM_DT_BF16: bn_bf16(x->data, y->data, N, C, S, ab); break;
    default: return ew_bad_dtype("BatchNormalization", dt);
  }
  return NULL;
}

/* ---- LayerNormalization ---------------------------------------------------------------
 * X viewed as [outer, n] with n = prod(dims[axis:]). Two passes per row (mean, then the
 * mean of squared deviations) accumulated in double over 8 lanes, which the compiler
 * vectorises. Scale and B broadcast to dims[axis:]; when they are not already n elements
 * they are expanded once into scratch. */
#define DEF_LN(T, suf)                                                                   \
  static void ln_##suf(const T *x, T *y, int64_t outer, int64_t n, const T *scale,        \
                       const T *bias, double eps, double *mean_out, double *inv_out) {    \
    for (int64_t o = 0; o < outer; o++) {                                                \
      const T *xr = x + o * n;                                                           \
      T *yr = y + o * n;                                                                 \
      double acc[8] = {0}, s = 0;                                                        \
      int64_t i = 0;                                                                     \
      for (; i + 8 <= n; i += 8)                                                         \
        for (int j = 0; j < 8; j++) acc[j] += xr[i + j];                                 \
      for (; i < n; i++) s += xr[i];                                                     \
      for (int j = 0; j < 8; j++) s += acc[j];                                           \
      const double mean = s / (double)n;                                                 \
      double vacc[8] = {0}, v = 0;                                                       \
      for (i = 0; i + 8 <= n; i += 8)                                                    \
        for (int j = 0; j < 8; j++) {                                                    \
          double d = xr[i + j] - mean;                                                   \
          vacc[j] += d * d;                                                              \
        }                                                                                \
      for (; i < n; i++) v += (xr[i] - mean) * (xr[i] - mean);                           \
      for (int j = 0; j < 8; j++) v += vacc[j];                                          \
      const double inv = 1.0 / sqrt(v / (double)n + eps);                                \
      mean_out[o] = mean;                                                                \
      inv_out[o] = inv;                                                                  \
      const T tm = (T)mean, ti = (T)inv;                                                 \
      if (bias)                                                                          \
        for (i = 0; i < n; i++) yr[i] = (xr[i] - tm) * ti * scale[i] + bias[i];          \
      else                                                                               \
        for (i = 0; i < n; i++) yr[i] = (xr[i] - tm) * ti * scale[i];                    \
    }                                                                                    \
  }
DEF_LN(float, f32)
DEF_LN(double, f64)

/* Writes p broadcast to shape dims[0..rank) into dst (n elements) in the compute dtype. */
static void ln_expand(const rt_tensor *p, int rank, const int64_t *dims, int64_t n, int cdt,
                      void *dst) {
  int64_t pst[ISA_MAX_RANK], s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    int j = i - (rank - p->rank);
    int64_t d = j >= 0 ? p->dims[j] : 1;
    pst[i] = d == 1 ? 0 : s;
    s *= d;
  }
  for (int64_t e = 0; e < n; e++) {
    int64_t rem = e, off = 0;
    for (int i = rank - 1; i >= 0; i--) {
      off += (rem % dims[i]) * pst[i];
      rem /= dims[i];
    }
    ew_store_d(cdt, dst, e, ew_load_d(p->dtype, p->data, off));
  }
}

ivm_status rt_k_LayerNormalization(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "LayerNormalization", 2, 1));
  const rt_tensor *x = c->in[0], *scale = c->in[1];
  const rt_tensor *bias = c->n_in > 2 ? c->in[2] : NULL;
  rt_tensor *y = c->out[0];
  rt_tensor *mo = c->n_out > 1 ? c->out[1] : NULL, *io = c->n_out > 2 ? c->out[2] : NULL;
  int dt = x->dtype;
  if (y->dtype != dt || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "LayerNormalization: output type differs from input");
  int64_t r = x->rank, axis = ew_attr_i(c, ISA_A_LayerNormalization_axis, -1);
  if (axis < -r || axis >= r)
    return ivm_error(IVM_ERR_INTERNAL, "LayerNormalization: axis %lld out of range",
                     (long long)axis);
  if (axis < 0) axis += r;
  int64_t outer = 1, n = 1;
  for (int64_t i = 0; i < r; i++) {
    if (i < axis) outer *= x->dims[i];
    else n *= x->dims[i];
  }
  /* Scale / B must broadcast to dims[axis:] (inference checked; re-checked as it guards
   * the reads), Mean / InvStdDev must hold `outer` elements. */
  int nr = (int)(r - axis);
  const int64_t *nd = x->dims + axis;
  for (int k = 0; k < 2; k++) {
    const rt_tensor *p = k ? bias : scale;
    if (!p) continue;
    int ok = p->rank <= nr && isa_dtype_is_float(p->dtype);
    for (int i = 0; ok && i < p->rank; i++) {
      int64_t d = p->dims[i], want = nd[nr - p->rank + i];
      ok = d == want || d == 1;
    }
    if (!ok) return ivm_error(IVM_ERR_INTERNAL, "LayerNormalization: %s does not broadcast",
                              k ? "B" : "Scale");
  }
  for (int k = 0; k < 2; k++) {
    const rt_tensor *s = k ? io : mo;
    if (s && (rt_numel(s) != outer || !isa_dtype_is_float(s->dtype)))
      return ivm_error(IVM_ERR_INTERNAL, "LayerNormalization: output %d has the wrong size",
                       k + 1);
  }
  if (outer * n == 0) return NULL;

  /* Scratch: [scale n][bias n][mean outer][inv outer] in double-sized slots, then for
   * f16/bf16 a widened copy of X (f32, also used for Y). */
  int cdt = dt == IVM_DT_F64 ? IVM_DT_F64 : IVM_DT_F32;
  size_t bytes = 2 * (size_t)n * 8 + 2 * (size_t)outer * 8;
  if (ew_is_half(dt)) bytes += (size_t)(outer * n) * 4;
  else if (dt != IVM_DT_F32 && dt != IVM_DT_F64) return ew_bad_dtype("LayerNormalization", dt);
  char *buf;
  IVM_TRY(rt_scratch_get(c->scratch, bytes, (void **)&buf));
  void *ps = buf, *pb = bias ? buf + (size_t)n * 8 : NULL;
  double *mean = (double *)(buf + 2 * (size_t)n * 8), *inv = mean + outer;
  ln_expand(scale, nr, nd, n, cdt, ps);
  if (bias) ln_expand(bias, nr, nd, n, cdt, pb);
  double eps = ew_attr_f(c, ISA_A_LayerNormalization_epsilon, 1e-5f);
  if (dt == IVM_DT_F32) {
    ln_f32(x->data, y->data, outer, n, ps, pb, eps, mean, inv);
  } else if (dt == IVM_DT_F64) {
    ln_f64(x->data, y->data, outer, n, ps, pb, eps, mean, inv);
  } else {
    float *w = (float *)(inv + outer);
    ew_half_to_f32(dt, x->data, w, outer * n);
    ln_f32(w, w, outer, n, ps, pb, eps, mean, inv);
    ew_f32_to_half(dt, w, y->data, outer * n);
  }
  for (int64_t o = 0; o < outer; o++) {
    if (mo) ew_store_d(mo->dtype, mo->data, o, mean[o]);
    if (io) ew_store_d(io->dtype, io->data, o, inv[o]);
  }
  return NULL;
}
