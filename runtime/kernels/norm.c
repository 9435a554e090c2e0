/* Softmax, LogSoftmax, BatchNormalization (inference mode) and LayerNormalization.
 * f32 and f64 have native paths; f16 / bf16 are widened to f32 in scratch, computed, and
 * narrowed back. */
#include <math.h>

#include "runtime/kernels/ew.h"
#include "runtime/kernels/vmath.h"

#define GF(name, x) _Generic((x), float: name##f, default: name)(x)

/* ---- Softmax / LogSoftmax ------------------------------------------------------------
 * X viewed as [outer, n, inner] around the softmax axis. Stable form: subtract the max
 * along the axis before exp. With inner > 1 the reduction runs across rows of `inner`
 * contiguous elements (tmp holds a max and a sum per inner position) so the loops stay
 * unit-stride and vectorisable; a call covers inner positions [j0, j1).
 *
 * Across the pool: rows (inner == 1) in runs of rows; otherwise items (outer index, run
 * of inner positions), handed out as `ranges` runs with a tmp buffer each. */
#define DEF_SOFTMAX(T, suf, EXP)                                                         \
  static void softmax_##suf(const T *x, T *y, int64_t outer, int64_t n, int64_t inner,   \
                            int64_t j0, int64_t j1, int logsm, T *tmp) {                 \
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
      for (int64_t j = j0; j < j1; j++) mx[j] = -INFINITY, sm[j] = 0;                    \
      for (int64_t k = 0; k < n; k++)                                                    \
        for (int64_t j = j0; j < j1; j++) {                                              \
          T v = xb[k * inner + j];                                                       \
          mx[j] = v > mx[j] ? v : mx[j];                                                 \
        }                                                                                \
      for (int64_t k = 0; k < n; k++)                                                    \
        for (int64_t j = j0; j < j1; j++) {                                              \
          T e = EXP(xb[k * inner + j] - mx[j]);                                          \
          if (!logsm) yb[k * inner + j] = e;                                             \
          sm[j] += e;                                                                    \
        }                                                                                \
      if (logsm) {                                                                       \
        for (int64_t j = j0; j < j1; j++) sm[j] = mx[j] + GF(log, sm[j]);                \
        for (int64_t k = 0; k < n; k++)                                                  \
          for (int64_t j = j0; j < j1; j++) yb[k * inner + j] = xb[k * inner + j] - sm[j]; \
      } else {                                                                           \
        for (int64_t j = j0; j < j1; j++) sm[j] = (T)1 / sm[j];                          \
        for (int64_t k = 0; k < n; k++)                                                  \
          for (int64_t j = j0; j < j1; j++) yb[k * inner + j] *= sm[j];                  \
      }                                                                                  \
    }                                                                                    \
  }
DEF_SOFTMAX(float, f32, expf)
DEF_SOFTMAX(double, f64, exp)

#if VM_HAVE_VEC
/* f32 rows (inner == 1): e^(x - max) on vectors (v_exp_full, within 2 ulp of expf), the
 * row's tail through a padded copy; the sum over VW lanes plus the tail, in a fixed order. */
VM_FMA_ATTR static void softmax_rows_f32(const float *x, float *y, int64_t outer, int64_t n,
                                         int logsm) {
  for (int64_t o = 0; o < outer; o++) {
    const float *xr = x + o * n;
    float *yr = y + o * n;
    float m8[8], m = -INFINITY, s = 0;
    for (int j = 0; j < 8; j++) m8[j] = -INFINITY;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; j++) m8[j] = xr[i + j] > m8[j] ? xr[i + j] : m8[j];
    for (; i < n; i++) m = xr[i] > m ? xr[i] : m;
    for (int j = 0; j < 8; j++) m = m8[j] > m ? m8[j] : m;
    const vf mv = splat(m);
    vf sv = (vf){0};
    for (i = 0; i + VW <= n; i += VW) {
      vf e = v_exp_full(ldv(xr + i) - mv);
      if (!logsm) stv(yr + i, e);
      sv += e;
    }
    if (i < n) {
      float pad[VW] = {0};
      memcpy(pad, xr + i, (size_t)(n - i) * sizeof(float));
      stv(pad, v_exp_full(ldv(pad) - mv));
      for (int64_t k = 0; k < n - i; k++) s += pad[k];
      if (!logsm) memcpy(yr + i, pad, (size_t)(n - i) * sizeof(float));
    }
    float lanes[VW];
    stv(lanes, sv);
    for (int j = 0; j < VW; j++) s += lanes[j];
    if (logsm) {
      const float l = m + logf(s);
      for (i = 0; i < n; i++) yr[i] = xr[i] - l;
    } else {
      const float r = 1.0f / s;
      for (i = 0; i < n; i++) yr[i] *= r;
    }
  }
}
#endif

/* Elements per range: exp and two more passes make a softmax element a few nanoseconds. */
#define SM_GRAIN ((int64_t)16384)

typedef struct sm_job {
  int dt, logsm; /* f16 / bf16 jobs run on an f32 copy */
  int64_t outer, n, inner;
  int64_t width, runs; /* inner positions per item, items per outer index */
  int64_t ranges;
  void *x, *y;
  char *tmp;
  size_t tmp_bytes;
} sm_job;

static void sm_call(const sm_job *j, int64_t o0, int64_t o1, int64_t j0, int64_t j1, void *tmp) {
  int64_t off = o0 * j->n * j->inner;
#if VM_HAVE_VEC
  if (j->dt != IVM_DT_F64 && j->inner == 1) {
    softmax_rows_f32((const float *)j->x + off, (float *)j->y + off, o1 - o0, j->n, j->logsm);
    return;
  }
#endif
  if (j->dt == IVM_DT_F64)
    softmax_f64((const double *)j->x + off, (double *)j->y + off, o1 - o0, j->n, j->inner, j0,
                j1, j->logsm, tmp);
  else
    softmax_f32((const float *)j->x + off, (float *)j->y + off, o1 - o0, j->n, j->inner, j0, j1,
                j->logsm, tmp);
}

static void sm_rows_task(void *vjob, int64_t o0, int64_t o1) { sm_call(vjob, o0, o1, 0, 1, NULL); }

static void sm_items_task(void *vjob, int64_t r0, int64_t r1) {
  const sm_job *j = vjob;
  int64_t items = j->outer * j->runs;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t it = r * items / j->ranges; it < (r + 1) * items / j->ranges; it++) {
      int64_t o = it / j->runs, j0 = it % j->runs * j->width;
      int64_t j1 = j0 + j->width < j->inner ? j0 + j->width : j->inner;
      sm_call(j, o, o + 1, j0, j1, j->tmp + (size_t)r * j->tmp_bytes);
    }
}

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
  if (dt != IVM_DT_F32 && dt != IVM_DT_F64 && !ew_is_half(dt)) return ew_bad_dtype(op, dt);
  sm_job j = {dt, logsm, outer, n, inner, 1, 1, 1, x->data, y->data, NULL, 0};
  size_t esz = dt == IVM_DT_F64 ? 8 : 4, half_bytes = 0;
  rt_pool *pool = ew_pool(c);
  if (inner > 1) {
    /* Enough items for the threads worth using, runs of 16 inner positions at least. */
    int64_t worth = numel / SM_GRAIN, t = rt_pool_threads(pool);
    if (t > worth) t = worth < 1 ? 1 : worth;
    j.ranges = t;
    if (outer < t) {
      int64_t width = (inner + (t + outer - 1) / outer - 1) / ((t + outer - 1) / outer);
      width = (width + 15) / 16 * 16;
      j.width = width < inner ? width : inner;
      j.runs = (inner + j.width - 1) / j.width;
    } else {
      j.width = inner;
    }
    if (j.ranges > outer * j.runs) j.ranges = outer * j.runs;
    j.tmp_bytes = ew_align64(2 * (size_t)inner * esz);
  }
  if (ew_is_half(dt)) half_bytes = ew_align64((size_t)numel * 4);
  char *mem = NULL;
  size_t bytes = half_bytes + (size_t)j.ranges * j.tmp_bytes;
  if (bytes) {
    IVM_TRY(rt_scratch_get(c->scratch, bytes, (void **)&mem));
    j.tmp = mem + half_bytes;
  }
  if (half_bytes) { /* f16 / bf16: computed on an f32 copy, in place */
    ew_half_to_f32(dt, x->data, (float *)mem, numel);
    j.x = j.y = mem;
  }
  if (inner == 1) {
    int64_t rows = SM_GRAIN / n;
    rt_pool_for(pool, outer, rows < 1 ? 1 : rows, sm_rows_task, &j);
  } else {
    rt_pool_for(pool, j.ranges, 1, sm_items_task, &j);
  }
  if (half_bytes) ew_f32_to_half(dt, (const float *)mem, y->data, numel);
  return NULL;
}

ivm_status rt_k_Softmax(const rt_call *c) { return run_softmax(c, "Softmax", 0); }
ivm_status rt_k_LogSoftmax(const rt_call *c) { return run_softmax(c, "LogSoftmax", 1); }

/* ---- BatchNormalization ---------------------------------------------------------------
 * Y = X * a[c] + b[c] with a = scale / sqrt(var + eps), b = B - mean * a, folded per
 * channel in double. X is [N, C, spatial...]; rank 1 means C = 1. */
#define DEF_BN(T, CT, LD, ST, suf)                                                        \
  static void bn_##suf(const T *x, T *y, int64_t q0, int64_t q1, int64_t C, int64_t S,      \
                       const double *ab) {                                                  \
    for (int64_t q = q0; q < q1; q++) { /* plane q: image q / C, channel q % C */           \
      int64_t cc = q % C;                                                                   \
      const CT a = (CT)ab[2 * cc], b = (CT)ab[2 * cc + 1];                                  \
      const T *xs = x + q * S;                                                              \
      T *ys = y + q * S;                                                                    \
      for (int64_t s = 0; s < S; s++) ys[s] = ST(LD(xs[s]) * a + b);                        \
    }                                                                                       \
  }
DEF_BN(float, float, EW_ID, EW_ID, f32)
DEF_BN(double, double, EW_ID, EW_ID, f64)
DEF_BN(uint16_t, float, ew_f16_to_f32, ew_f32_to_f16, f16)
DEF_BN(uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16, bf16)

typedef struct bn_job {
  int dt;
  const void *x;
  void *y;
  int64_t C, S;
  const double *ab;
} bn_job;

static void bn_task(void *vjob, int64_t q0, int64_t q1) {
  const bn_job *j = vjob;
  switch (j->dt) {
    case IVM_DT_F32: bn_f32(j->x, j->y, q0, q1, j->C, j->S, j->ab); break;
    case IVM_DT_F64: bn_f64(j->x, j->y, q0, q1, j->C, j->S, j->ab); break;
    case IVM_DT_F16: bn_f16(j->x, j->y, q0, q1, j->C, j->S, j->ab); break;
    case IVM_DT_BF16: bn_bf16(j->x, j->y, q0, q1, j->C, j->S, j->ab); break;
    default: break;
  }
}

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
  if (!isa_dtype_is_float(dt)) return ew_bad_dtype("BatchNormalization", dt);
  bn_job job = {dt, x->data, y->data, C, S, ab};
  int64_t planes = S ? EW_GRAIN / S : 1;
  rt_pool_for(ew_pool(c), N * C, planes < 1 ? 1 : planes, bn_task, &job);
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

typedef struct ln_job {
  int f64;
  const void *x;
  void *y;
  int64_t n;
  const void *scale, *bias;
  double eps;
  double *mean, *inv;
} ln_job;

/* Rows [o0, o1). */
static void ln_task(void *vjob, int64_t o0, int64_t o1) {
  const ln_job *j = vjob;
  size_t off = (size_t)(o0 * j->n);
  if (j->f64)
    ln_f64((const double *)j->x + off, (double *)j->y + off, o1 - o0, j->n, j->scale, j->bias,
           j->eps, j->mean + o0, j->inv + o0);
  else
    ln_f32((const float *)j->x + off, (float *)j->y + off, o1 - o0, j->n, j->scale, j->bias,
           j->eps, j->mean + o0, j->inv + o0);
}

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

/* Scale or B as n elements of the compute dtype: the tensor itself when it already is
 * that (the usual case: a copy per call took longer than normalising a 128-wide row),
 * else broadcast and converted into dst. */
static const void *ln_params(const rt_tensor *p, int64_t n, int cdt, void *dst, int rank,
                             const int64_t *dims) {
  if (p->dtype == cdt && rt_numel(p) == n) return p->data;
  ln_expand(p, rank, dims, n, cdt, dst);
  return dst;
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
  const void *ps = ln_params(scale, n, cdt, buf, nr, nd);
  const void *pb = bias ? ln_params(bias, n, cdt, buf + (size_t)n * 8, nr, nd) : NULL;
  double *mean = (double *)(buf + 2 * (size_t)n * 8), *inv = mean + outer;
  double eps = ew_attr_f(c, ISA_A_LayerNormalization_epsilon, 1e-5f);
  ln_job job = {dt == IVM_DT_F64, x->data, y->data, n, ps, pb, eps, mean, inv};
  if (ew_is_half(dt)) { /* computed on an f32 copy, in place */
    float *w = (float *)(inv + outer);
    ew_half_to_f32(dt, x->data, w, outer * n);
    job.x = job.y = w;
  }
  int64_t rows = SM_GRAIN / n;
  rt_pool_for(ew_pool(c), outer, rows < 1 ? 1 : rows, ln_task, &job);
  if (ew_is_half(dt)) ew_f32_to_half(dt, job.y, y->data, outer * n);
  for (int64_t o = 0; o < outer; o++) {
    if (mo) ew_store_d(mo->dtype, mo->data, o, mean[o]);
    if (io) ew_store_d(io->dtype, io->data, o, inv[o]);
  }
  return NULL;
}
