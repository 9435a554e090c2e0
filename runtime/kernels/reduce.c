/* ReduceSum, ReduceMean, ReduceMax, ReduceMin over any set of axes.
 *
 * Size-1 dims are dropped and adjacent dims that are all reduced (or all kept) are merged,
 * leaving alternating runs. The output starts at the reduction's identity; one pass over
 * the input in memory order then folds each innermost run into it: a reduced run folds
 * into one output element ("row"), a kept run folds elementwise into a slice of the
 * output ("col"). Both are unit-stride loops; rows use 8 partial accumulators so they
 * vectorise without reassociating a single sum. f16/bf16 reduce in f32 scratch. */
#include <math.h>

#include "runtime/kernels/ew.h"

typedef void (*red_fn)(const char *x, int64_t n, char *o);

typedef struct red_ops {
  red_fn row, col;
  void (*init)(char *o, int64_t n); /* fill with the identity */
} red_ops;

/* Sum: floats add in T; integers add in UT (wrapping). */
#define DEF_SUM(suf, T, AT)                                                     \
  static void sum_row_##suf(const char *xv, int64_t n, char *ov) {              \
    const T *x = (const T *)xv;                                                 \
    AT acc[8] = {0}, s = 0;                                                     \
    int64_t i = 0;                                                              \
    for (; i + 8 <= n; i += 8)                                                  \
      for (int j = 0; j < 8; j++) acc[j] += (AT)x[i + j];                       \
    for (; i < n; i++) s += (AT)x[i];                                           \
    for (int j = 0; j < 8; j++) s += acc[j];                                    \
    T *o = (T *)ov;                                                             \
    *o = (T)((AT)*o + s);                                                       \
  }                                                                             \
  static void sum_col_##suf(const char *xv, int64_t n, char *ov) {              \
    const T *x = (const T *)xv;                                                 \
    T *o = (T *)ov;                                                             \
    for (int64_t i = 0; i < n; i++) o[i] = (T)((AT)o[i] + (AT)x[i]);            \
  }                                                                             \
  static void sum_init_##suf(char *ov, int64_t n) {                             \
    T *o = (T *)ov;                                                             \
    for (int64_t i = 0; i < n; i++) o[i] = 0;                                   \
  }

/* Max / Min: NaN propagates (once the accumulator is NaN no comparison replaces it). */
#define DEF_MAXMIN(suf, T, NAME, CMP, IDENT)                                    \
  static void NAME##_row_##suf(const char *xv, int64_t n, char *ov) {           \
    const T *x = (const T *)xv;                                                 \
    T *o = (T *)ov;                                                             \
    T acc[8], m = *o;                                                           \
    for (int j = 0; j < 8; j++) acc[j] = m;                                     \
    int64_t i = 0;                                                              \
    for (; i + 8 <= n; i += 8)                                                  \
      for (int j = 0; j < 8; j++) {                                             \
        T v = x[i + j];                                                         \
        acc[j] = (v CMP acc[j] || v != v) ? v : acc[j];                         \
      }                                                                         \
    for (; i < n; i++) m = (x[i] CMP m || x[i] != x[i]) ? x[i] : m;             \
    for (int j = 0; j < 8; j++) m = (acc[j] CMP m || acc[j] != acc[j]) ? acc[j] : m; \
    *o = m;                                                                     \
  }                                                                             \
  static void NAME##_col_##suf(const char *xv, int64_t n, char *ov) {           \
    const T *x = (const T *)xv;                                                 \
    T *o = (T *)ov;                                                             \
    for (int64_t i = 0; i < n; i++) {                                           \
      T v = x[i];                                                               \
      o[i] = (v CMP o[i] || v != v) ? v : o[i];                                 \
    }                                                                           \
  }                                                                             \
  static void NAME##_init_##suf(char *ov, int64_t n) {                          \
    T *o = (T *)ov;                                                             \
    for (int64_t i = 0; i < n; i++) o[i] = IDENT;                               \
  }

#define DEF_RED_TYPE(suf, T, AT, LO, HI) \
  DEF_SUM(suf, T, AT) DEF_MAXMIN(suf, T, max, >, LO) DEF_MAXMIN(suf, T, min, <, HI)
DEF_RED_TYPE(f32, float, float, -INFINITY, INFINITY)
DEF_RED_TYPE(f64, double, double, -INFINITY, INFINITY)
DEF_RED_TYPE(u8, uint8_t, uint32_t, 0, UINT8_MAX)
DEF_RED_TYPE(i8, int8_t, uint32_t, INT8_MIN, INT8_MAX)
DEF_RED_TYPE(u16, uint16_t, uint32_t, 0, UINT16_MAX)
DEF_RED_TYPE(i16, int16_t, uint32_t, INT16_MIN, INT16_MAX)
DEF_RED_TYPE(u32, uint32_t, uint32_t, 0, UINT32_MAX)
DEF_RED_TYPE(i32, int32_t, uint32_t, INT32_MIN, INT32_MAX)
DEF_RED_TYPE(u64, uint64_t, uint64_t, 0, UINT64_MAX)
DEF_RED_TYPE(i64, int64_t, uint64_t, INT64_MIN, INT64_MAX)

enum { R_SUM, R_MEAN, R_MAX, R_MIN };

/* Ops for storage dtype dt (f16/bf16 are handled as f32 by the caller). bool reduces as
 * u8 for Max / Min (any / all). */
static int red_lookup(int kind, int dt, red_ops *ops) {
#define RCASE(DT, suf)                                                            \
  case DT:                                                                        \
    if (kind == R_SUM || kind == R_MEAN)                                          \
      *ops = (red_ops){sum_row_##suf, sum_col_##suf, sum_init_##suf};             \
    else if (kind == R_MAX)                                                       \
      *ops = (red_ops){max_row_##suf, max_col_##suf, max_init_##suf};             \
    else                                                                          \
      *ops = (red_ops){min_row_##suf, min_col_##suf, min_init_##suf};             \
    return 1;
  switch (dt) {
    RCASE(IVM_DT_F32, f32)
    RCASE(IVM_DT_F64, f64)
    RCASE(IVM_DT_U8, u8)
    RCASE(IVM_DT_I8, i8)
    RCASE(IVM_DT_U16, u16)
    RCASE(IVM_DT_I16, i16)
    RCASE(IVM_DT_U32, u32)
    RCASE(IVM_DT_I32, i32)
    RCASE(IVM_DT_U64, u64)
    RCASE(IVM_DT_I64, i64)
    case IVM_DT_BOOL:
      if (kind == R_MAX) *ops = (red_ops){max_row_u8, max_col_u8, max_init_u8};
      else if (kind == R_MIN) *ops = (red_ops){min_row_u8, min_col_u8, min_init_u8};
      else return 0;
      return 1;
    default: return 0;
  }
#undef RCASE
}

/* Folds x (collapsed dims[0..m), red[d] = reduced) into o, which holds the identity. */
static void red_drive(const char *x, char *o, size_t esz, int m, const int64_t *dims,
                      const uint8_t *red, const red_ops *ops) {
  int64_t ost[ISA_MAX_RANK], s = 1;
  for (int d = m - 1; d >= 0; d--) {
    ost[d] = red[d] ? 0 : s;
    if (!red[d]) s *= dims[d];
  }
  int64_t inner = dims[m - 1], outer = 1, idx[ISA_MAX_RANK] = {0}, off = 0;
  for (int d = 0; d < m - 1; d++) outer *= dims[d];
  red_fn fn = red[m - 1] ? ops->row : ops->col;
  for (int64_t r = 0; r < outer; r++) {
    fn(x + (size_t)(r * inner) * esz, inner, o + (size_t)off * esz);
    for (int d = m - 2; d >= 0; d--) {
      off += ost[d];
      if (++idx[d] < dims[d]) break;
      off -= ost[d] * dims[d];
      idx[d] = 0;
    }
  }
}

/* ---- across the pool: only splits that keep every output element's order of folding.
 * Outermost dim kept: each of its indices owns a slice of X and of Y. Otherwise, for
 * [reduced, kept]: runs of output columns, each folding every row in turn. */
typedef struct red_job {
  const char *x;
  char *o;
  size_t esz;
  int m;
  const int64_t *dims;
  const uint8_t *red;
  const red_ops *ops;
  int64_t x_step, o_step; /* elements per index of dims[0] */
} red_job;

static void red_outer_task(void *vjob, int64_t i0, int64_t i1) {
  const red_job *j = vjob;
  int64_t dims[ISA_MAX_RANK];
  memcpy(dims, j->dims, (size_t)j->m * sizeof *dims);
  dims[0] = i1 - i0;
  red_drive(j->x + (size_t)(i0 * j->x_step) * j->esz, j->o + (size_t)(i0 * j->o_step) * j->esz,
            j->esz, j->m, dims, j->red, j->ops);
}

static void red_cols_task(void *vjob, int64_t c0, int64_t c1) {
  const red_job *j = vjob;
  int64_t rows = j->dims[0], cols = j->dims[1];
  for (int64_t r = 0; r < rows; r++)
    j->ops->col(j->x + (size_t)(r * cols + c0) * j->esz, c1 - c0, j->o + (size_t)c0 * j->esz);
}

static void red_parallel(rt_pool *pool, const char *x, char *o, size_t esz, int m,
                         const int64_t *dims, const uint8_t *red, const red_ops *ops) {
  red_job j = {x, o, esz, m, dims, red, ops, 1, 1};
  for (int d = 1; d < m; d++) {
    j.x_step *= dims[d];
    if (!red[d]) j.o_step *= dims[d];
  }
  if (!red[0] && dims[0] > 1) {
    int64_t grain = EW_GRAIN / j.x_step;
    rt_pool_for(pool, dims[0], grain < 1 ? 1 : grain, red_outer_task, &j);
  } else if (m == 2 && red[0]) {
    int64_t grain = (EW_GRAIN / dims[0] + 15) / 16 * 16; /* whole cache lines of Y */
    rt_pool_for(pool, dims[1], grain, red_cols_task, &j);
  } else {
    red_drive(x, o, esz, m, dims, red, ops);
  }
}

/* Mean: divides the f32/f64 sums by count (0/0 gives NaN for an empty reduction). */
static void red_divide(int dt, void *o, int64_t n, int64_t count) {
  if (dt == IVM_DT_F32) {
    float *p = o, d = (float)count;
    for (int64_t i = 0; i < n; i++) p[i] /= d;
  } else {
    double *p = o, d = (double)count;
    for (int64_t i = 0; i < n; i++) p[i] /= d;
  }
}

static ivm_status run_reduce(const rt_call *c, const char *op, int kind, int slot_keep,
                             int slot_noop) {
  IVM_TRY(ew_check_io(c, op, 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype, r = x->rank;
  if (y->dtype != dt) return ivm_error(IVM_ERR_INTERNAL, "%s: output dtype differs", op);
  (void)slot_keep; /* keepdims only changes the output shape, which is already set */

  uint8_t mask[ISA_MAX_RANK] = {0};
  int noop;
  IVM_TRY(ew_reduce_axes(c, op, slot_noop, mask, &noop));
  if (noop) { /* Y = X */
    if (rt_numel(y) != rt_numel(x)) return ivm_error(IVM_ERR_INTERNAL, "%s: output size", op);
    if (rt_numel(x) && y->data != x->data) memmove(y->data, x->data, rt_nbytes(x));
    return NULL;
  }
  int64_t count = 1, kept = 1;
  for (int i = 0; i < r; i++) {
    if (mask[i]) count *= x->dims[i];
    else kept *= x->dims[i];
  }
  if (rt_numel(y) != kept)
    return ivm_error(IVM_ERR_INTERNAL, "%s: output has %lld elements, expected %lld", op,
                     (long long)rt_numel(y), (long long)kept);

  /* collapse: drop size-1 dims, merge neighbours with the same flag */
  int64_t dims[ISA_MAX_RANK];
  uint8_t red[ISA_MAX_RANK];
  int m = 0;
  for (int i = 0; i < r; i++) {
    if (x->dims[i] == 1) continue;
    if (m > 0 && red[m - 1] == mask[i]) {
      dims[m - 1] *= x->dims[i];
    } else {
      dims[m] = x->dims[i];
      red[m] = mask[i];
      m++;
    }
  }
  if (m == 0) dims[0] = 1, red[0] = 1, m = 1;

  /* f16/bf16 reduce in f32; integer means in f64 (a sum in the integer type would
   * overflow), then convert back like numpy's astype (truncating, here saturating). */
  int widen = ew_is_half(dt) || (kind == R_MEAN && isa_dtype_is_int(dt));
  int cdt = ew_is_half(dt) ? IVM_DT_F32 : widen ? IVM_DT_F64 : dt;
  if (kind == R_MEAN && !isa_dtype_is_float(dt) && !isa_dtype_is_int(dt)) return ew_bad_dtype(op, dt);
  red_ops ops;
  if (!red_lookup(kind, cdt, &ops)) return ew_bad_dtype(op, dt);
  int64_t nx = rt_numel(x);
  size_t ce = ivm_dtype_size((ivm_dtype)cdt);
  const char *xs = x->data;
  char *ys = y->data;
  if (widen) { /* scratch: [x widened (nx)][y widened (kept)] */
    char *buf;
    IVM_TRY(rt_scratch_get(c->scratch, (size_t)(nx + kept) * ce, (void **)&buf));
    if (cdt == IVM_DT_F32) {
      ew_half_to_f32(dt, x->data, (float *)buf, nx);
    } else {
      for (int64_t i = 0; i < nx; i++) ((double *)buf)[i] = ew_load_d(dt, x->data, i);
    }
    xs = buf;
    ys = buf + (size_t)nx * ce;
  }
  ops.init(ys, kept);
  if (nx > 0) red_parallel(ew_pool(c), xs, ys, ce, m, dims, red, &ops);
  if (kind == R_MEAN) red_divide(cdt, ys, kept, count);
  if (widen) {
    if (cdt == IVM_DT_F32) {
      ew_f32_to_half(dt, (const float *)ys, y->data, kept);
    } else {
      for (int64_t i = 0; i < kept; i++) ew_store_d(dt, y->data, i, ((const double *)ys)[i]);
    }
  }
  return NULL;
}

ivm_status rt_k_ReduceSum(const rt_call *c) {
  return run_reduce(c, "ReduceSum", R_SUM, ISA_A_ReduceSum_keepdims,
                    ISA_A_ReduceSum_noop_with_empty_axes);
}
ivm_status rt_k_ReduceMean(const rt_call *c) {
  return run_reduce(c, "ReduceMean", R_MEAN, ISA_A_ReduceMean_keepdims,
                    ISA_A_ReduceMean_noop_with_empty_axes);
}
ivm_status rt_k_ReduceMax(const rt_call *c) {
  return run_reduce(c, "ReduceMax", R_MAX, ISA_A_ReduceMax_keepdims,
                    ISA_A_ReduceMax_noop_with_empty_axes);
}
ivm_status rt_k_ReduceMin(const rt_call *c) {
  return run_reduce(c, "ReduceMin", R_MIN, ISA_A_ReduceMin_keepdims,
                    ISA_A_ReduceMin_noop_with_empty_axes);
}
