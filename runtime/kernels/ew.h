/* Private helpers shared by the elementwise, softmax, normalisation, reduction and cast
 * kernels (binary.c, unary.c, cast.c, norm.c, reduce.c and the math family's
 * math_binary.c, math_unary.c, math_reduce.c). Not part of any public contract. */
#ifndef IVM_RUNTIME_KERNELS_EW_H
#define IVM_RUNTIME_KERNELS_EW_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "runtime/pool.h"
#include "runtime/rt.h"

/* ---- dtype lists (X-macros) --------------------------------------------------------
 * Each list calls X(A, ...) per dtype; A is passed through (usually an op name) so one
 * callback macro can stamp out a function per (op, dtype).
 * Integers: X(A, suffix, IVM_DT_x, T, UT) where UT is an unsigned type at least as wide
 * as unsigned int, so arithmetic done in UT wraps instead of overflowing (signed overflow
 * is undefined behaviour, and u16*u16 would otherwise promote to a signed int). */
#define EW_UINT_TYPES(X, A)                                                           \
  X(A, u8, IVM_DT_U8, uint8_t, uint32_t) X(A, u16, IVM_DT_U16, uint16_t, uint32_t)    \
  X(A, u32, IVM_DT_U32, uint32_t, uint32_t) X(A, u64, IVM_DT_U64, uint64_t, uint64_t)
#define EW_SINT_TYPES(X, A)                                                           \
  X(A, i8, IVM_DT_I8, int8_t, uint32_t) X(A, i16, IVM_DT_I16, int16_t, uint32_t)      \
  X(A, i32, IVM_DT_I32, int32_t, uint32_t) X(A, i64, IVM_DT_I64, int64_t, uint64_t)

/* Floats: X(A, suffix, IVM_DT_x, T (storage), CT (compute), LD (T -> CT), ST (CT -> T)).
 * f16 and bf16 compute through float. */
#define EW_FLOAT_TYPES(X, A)                                                          \
  X(A, f32, IVM_DT_F32, float, float, EW_ID, EW_ID)                                   \
  X(A, f64, IVM_DT_F64, double, double, EW_ID, EW_ID)                                 \
  X(A, f16, IVM_DT_F16, uint16_t, float, ew_f16_to_f32, ew_f32_to_f16)                \
  X(A, bf16, IVM_DT_BF16, uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16)

#define EW_NDT 17 /* dispatch tables are indexed by dtype; the largest is BF16 = 16 */

#define EW_ID(x) (x)

/* The shared converters live in isa/dtype.c; these wrappers keep the call sites short. */
static inline float ew_f16_to_f32(uint16_t h) { return isa_f16_to_f32(h); }
static inline uint16_t ew_f32_to_f16(float f) { return isa_f32_to_f16(f); }
static inline float ew_bf16_to_f32(uint16_t h) { return isa_bf16_to_f32(h); }
static inline uint16_t ew_f32_to_bf16(float f) { return isa_f32_to_bf16(f); }


/* ---- saturating float -> integer conversion ------------------------------------------
 * C leaves out-of-range float->int conversion undefined; IVM saturates and maps NaN to 0. */
#define EW_SAT(name, T, LO, HI)                        \
  static inline T name(double v) {                     \
    if (v != v) return 0;                              \
    if (v <= (double)(LO)) return LO;                  \
    if (v >= (double)(HI)) return HI;                  \
    return (T)v;                                       \
  }
EW_SAT(ew_sat_u8, uint8_t, 0, UINT8_MAX)
EW_SAT(ew_sat_i8, int8_t, INT8_MIN, INT8_MAX)
EW_SAT(ew_sat_u16, uint16_t, 0, UINT16_MAX)
EW_SAT(ew_sat_i16, int16_t, INT16_MIN, INT16_MAX)
EW_SAT(ew_sat_u32, uint32_t, 0, UINT32_MAX)
EW_SAT(ew_sat_i32, int32_t, INT32_MIN, INT32_MAX)
#undef EW_SAT
/* (double)INT64_MAX rounds up to 2^63, so compare against the exact powers of two. */
static inline int64_t ew_sat_i64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775808.0) return INT64_MAX;
  if (v < -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}
static inline uint64_t ew_sat_u64(double v) {
  if (!(v > 0.0)) return 0;
  if (v >= 18446744073709551616.0) return UINT64_MAX;
  return (uint64_t)v;
}

/* ---- attributes --------------------------------------------------------------------- */
/* Kernels may be called with attrs == NULL by a careless caller: fall back to defaults. */
static inline int64_t ew_attr_i(const rt_call *c, int slot, int64_t def) {
  return c->attrs ? c->attrs[slot].v.i : def;
}
static inline float ew_attr_f(const rt_call *c, int slot, float def) {
  return c->attrs ? c->attrs[slot].v.f : def;
}

/* ---- checks ------------------------------------------------------------------------- */
/* Inputs 0..n-1 present, outputs 0..m-1 present. Inference already checked everything
 * else; this only keeps a kernel from dereferencing NULL when called out of contract. */
static inline ivm_status ew_check_io(const rt_call *c, const char *op, uint32_t n_in,
                                     uint32_t n_out) {
  if (c->n_in < n_in || c->n_out < n_out)
    return ivm_error(IVM_ERR_INTERNAL, "%s: expected %u inputs and %u outputs", op, n_in, n_out);
  for (uint32_t i = 0; i < n_in; i++)
    if (!c->in[i]) return ivm_error(IVM_ERR_INTERNAL, "%s: input %u missing", op, i);
  for (uint32_t i = 0; i < n_out; i++)
    if (!c->out[i]) return ivm_error(IVM_ERR_INTERNAL, "%s: output %u missing", op, i);
  return NULL;
}

static inline ivm_status ew_bad_dtype(const char *op, int dt) {
  return ivm_error(IVM_ERR_UNSUPPORTED, "%s: dtype %s not supported", op,
                   ivm_dtype_name((ivm_dtype)dt));
}

static inline int ew_same_shape(const rt_tensor *a, const rt_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

/* ---- f16 / bf16 staging ------------------------------------------------------------ */
/* Widens n f16/bf16 elements to f32 and back; complex kernels (softmax, norms, reductions)
 * run their f32 code on the widened copy. */
static inline void ew_half_to_f32(int dt, const uint16_t *src, float *dst, int64_t n) {
  if (dt == IVM_DT_F16)
    for (int64_t i = 0; i < n; i++) dst[i] = ew_f16_to_f32(src[i]);
  else
    for (int64_t i = 0; i < n; i++) dst[i] = ew_bf16_to_f32(src[i]);
}
static inline void ew_f32_to_half(int dt, const float *src, uint16_t *dst, int64_t n) {
  if (dt == IVM_DT_F16)
    for (int64_t i = 0; i < n; i++) dst[i] = ew_f32_to_f16(src[i]);
  else
    for (int64_t i = 0; i < n; i++) dst[i] = ew_f32_to_bf16(src[i]);
}
static inline int ew_is_half(int dt) { return dt == IVM_DT_F16 || dt == IVM_DT_BF16; }

/* Element i of any numeric tensor as double / int64 / stored from double (saturating
 * for integers): for scalars and small parameter vectors, not for hot loops. */
static inline double ew_load_d(int dt, const void *p, int64_t i) {
  switch (dt) {
    case IVM_DT_F32: return ((const float *)p)[i];
    case IVM_DT_F64: return ((const double *)p)[i];
    case IVM_DT_F16: return ew_f16_to_f32(((const uint16_t *)p)[i]);
    case IVM_DT_BF16: return ew_bf16_to_f32(((const uint16_t *)p)[i]);
    case IVM_DT_U8: return ((const uint8_t *)p)[i];
    case IVM_DT_I8: return ((const int8_t *)p)[i];
    case IVM_DT_U16: return ((const uint16_t *)p)[i];
    case IVM_DT_I16: return ((const int16_t *)p)[i];
    case IVM_DT_U32: return ((const uint32_t *)p)[i];
    case IVM_DT_I32: return ((const int32_t *)p)[i];
    case IVM_DT_U64: return (double)((const uint64_t *)p)[i];
    case IVM_DT_I64: return (double)((const int64_t *)p)[i];
    case IVM_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0.0;
  }
}
/* Integers only (u64 wraps into int64; callers reinterpret). */
static inline int64_t ew_load_i64(int dt, const void *p, int64_t i) {
  switch (dt) {
    case IVM_DT_U8: return ((const uint8_t *)p)[i];
    case IVM_DT_I8: return ((const int8_t *)p)[i];
    case IVM_DT_U16: return ((const uint16_t *)p)[i];
    case IVM_DT_I16: return ((const int16_t *)p)[i];
    case IVM_DT_U32: return ((const uint32_t *)p)[i];
    case IVM_DT_I32: return ((const int32_t *)p)[i];
    case IVM_DT_U64: return (int64_t)((const uint64_t *)p)[i];
    case IVM_DT_I64: return ((const int64_t *)p)[i];
    case IVM_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0;
  }
}
static inline void ew_store_d(int dt, void *p, int64_t i, double v) {
  switch (dt) {
    case IVM_DT_F32: ((float *)p)[i] = (float)v; break;
    case IVM_DT_F64: ((double *)p)[i] = v; break;
    case IVM_DT_F16: ((uint16_t *)p)[i] = ew_f32_to_f16((float)v); break;
    case IVM_DT_BF16: ((uint16_t *)p)[i] = ew_f32_to_bf16((float)v); break;
    case IVM_DT_U8: ((uint8_t *)p)[i] = ew_sat_u8(v); break;
    case IVM_DT_I8: ((int8_t *)p)[i] = ew_sat_i8(v); break;
    case IVM_DT_U16: ((uint16_t *)p)[i] = ew_sat_u16(v); break;
    case IVM_DT_I16: ((int16_t *)p)[i] = ew_sat_i16(v); break;
    case IVM_DT_U32: ((uint32_t *)p)[i] = ew_sat_u32(v); break;
    case IVM_DT_I32: ((int32_t *)p)[i] = ew_sat_i32(v); break;
    case IVM_DT_U64: ((uint64_t *)p)[i] = ew_sat_u64(v); break;
    case IVM_DT_I64: ((int64_t *)p)[i] = ew_sat_i64(v); break;
    case IVM_DT_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    default: break;
  }
}
/* Stores an integer value into an integer tensor with C's modular conversion. */
static inline void ew_store_i64(int dt, void *p, int64_t i, uint64_t v) {
  switch (dt) {
    case IVM_DT_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case IVM_DT_I8: ((int8_t *)p)[i] = (int8_t)v; break;
    case IVM_DT_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case IVM_DT_I16: ((int16_t *)p)[i] = (int16_t)v; break;
    case IVM_DT_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case IVM_DT_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case IVM_DT_U64: ((uint64_t *)p)[i] = v; break;
    case IVM_DT_I64: ((int64_t *)p)[i] = (int64_t)v; break;
    default: break;
  }
}

/* ---- broadcasting loop nest ---------------------------------------------------------- */
#define EW_BCAST_MAX_IN 3

/* The merge step of a broadcasting loop nest: given each input's element strides over the
 * output's R axes (full[k][i], 0 where broadcast), drops size-1 axes and merges an outer
 * axis into its inner neighbour when every input steps through both as one. Fills
 * dims[0..m) and st[k][0..m) and returns m (>= 1). */
static inline int ew_bcast_merge(int R, const int64_t *out_dims, int n_in,
                                 const int64_t (*full)[ISA_MAX_RANK], int64_t *dims,
                                 int64_t (*st)[ISA_MAX_RANK]) {
  int m = 0;
  for (int i = 0; i < R; i++) {
    int64_t d = out_dims[i];
    if (d == 1) continue;
    int merge = m > 0;
    for (int k = 0; merge && k < n_in; k++)
      if (st[k][m - 1] != full[k][i] * d) merge = 0;
    if (merge) {
      dims[m - 1] *= d;
      for (int k = 0; k < n_in; k++) st[k][m - 1] = full[k][i];
    } else {
      dims[m] = d;
      for (int k = 0; k < n_in; k++) st[k][m] = full[k][i];
      m++;
    }
  }
  if (m == 0) { /* every dim is 1: one element */
    dims[0] = 1;
    for (int k = 0; k < n_in; k++) st[k][0] = 0;
    m = 1;
  }
  return m;
}

/* Maps out's index space onto n_in (<= EW_BCAST_MAX_IN) inputs with numpy broadcasting: a
 * broadcast dim gets stride 0, size-1 output dims are dropped, and an outer dim merges into
 * its inner neighbour when every input steps through both as one. Gives the loop nest
 * dims[0..*m) and each input's element strides st[k][0..*m); the innermost strides are 0
 * or 1. *m = 0 when out has no elements (nothing to do). An input that does not broadcast
 * to out is IVM_ERR_INTERNAL (inference guarantees it does). */
static inline ivm_status ew_bcast_plan(const char *op, const rt_tensor *out, int n_in,
                                       const rt_tensor *const *in, int64_t *dims,
                                       int64_t (*st)[ISA_MAX_RANK], int *m_out) {
  int R = out->rank;
  int64_t full[EW_BCAST_MAX_IN][ISA_MAX_RANK];
  *m_out = 0;
  if (n_in < 1 || n_in > EW_BCAST_MAX_IN)
    return ivm_error(IVM_ERR_INTERNAL, "%s: %d broadcast inputs", op, n_in);
  for (int k = 0; k < n_in; k++) {
    const rt_tensor *t = in[k];
    if (t->rank > R)
      return ivm_error(IVM_ERR_INTERNAL, "%s: input %d rank %d exceeds output rank %d", op, k,
                       t->rank, R);
    int64_t s = 1;
    for (int i = R - 1; i >= 0; i--) {
      int j = i - (R - t->rank);
      int64_t d = j >= 0 ? t->dims[j] : 1;
      if (d != out->dims[i] && d != 1)
        return ivm_error(IVM_ERR_INTERNAL, "%s: input %d dim %d (%lld) does not broadcast to %lld",
                         op, k, i, (long long)d, (long long)out->dims[i]);
      full[k][i] = d == 1 ? 0 : s;
      s *= d;
    }
  }
  if (rt_numel(out) == 0) return NULL;
  *m_out = ew_bcast_merge(R, out->dims, n_in, (const int64_t(*)[ISA_MAX_RANK])full, dims, st);
  return NULL;
}

/* ---- the worker pool ------------------------------------------------------------------ */
/* The session's pool (NULL outside sessions: everything inline). */
static inline rt_pool *ew_pool(const rt_call *c) { return c->scratch ? c->scratch->pool : NULL; }

/* Elements per range for elementwise work split across the pool: at about a nanosecond an
 * element, 32K elements are tens of microseconds, well above a worker's wake-up. */
#define EW_GRAIN ((int64_t)32768)

/* Rounds a byte count up to 64 so several buffers can share one scratch block. */
static inline size_t ew_align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* ---- unary driver -------------------------------------------------------------------- */
/* An elementwise unary inner function: n elements in -> out, with up to two parameters. */
typedef void (*ew_unary_fn)(int64_t n, const void *in, void *out, const float *prm);

typedef struct ew_unary_job {
  ew_unary_fn fn;
  const char *in;
  char *out;
  size_t esz;
  const float *prm;
} ew_unary_job;

static inline void ew_unary_task(void *vjob, int64_t begin, int64_t end) {
  const ew_unary_job *j = vjob;
  j->fn(end - begin, j->in + (size_t)begin * j->esz, j->out + (size_t)begin * j->esz, j->prm);
}

/* Y = f(X) elementwise through tbl[dtype] (NULL: dtype unsupported), parameters p0, p1;
 * large tensors in chunks across the pool. */
static inline ivm_status ew_run_unary(const rt_call *c, const char *op, const ew_unary_fn *tbl,
                                      float p0, float p1) {
  IVM_TRY(ew_check_io(c, op, 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype;
  if (y->dtype != dt || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "%s: output type differs from input", op);
  ew_unary_fn fn = dt < EW_NDT ? tbl[dt] : NULL;
  if (!fn) return ew_bad_dtype(op, dt);
  const float prm[2] = {p0, p1};
  ew_unary_job job = {fn, x->data, y->data, ivm_dtype_size((ivm_dtype)dt), prm};
  rt_pool_for(ew_pool(c), rt_numel(x), EW_GRAIN, ew_unary_task, &job);
  return NULL;
}

/* ---- reduction axes ------------------------------------------------------------------ */
/* Sets mask[i] (zeroed by the caller) for each axis of X = c->in[0] that the Reduce* axes
 * input c->in[1] (i64, may be absent or empty) names; no axes means every axis, unless the
 * noop_with_empty_axes attribute in slot_noop is set: then *noop = 1 (Y = X) and mask is
 * left as it is. Out-of-range or repeated axes are IVM_ERR_RUNTIME. */
static inline ivm_status ew_reduce_axes(const rt_call *c, const char *op, int slot_noop,
                                        uint8_t *mask, int *noop) {
  const rt_tensor *x = c->in[0], *ax = c->n_in > 1 ? c->in[1] : NULL;
  int r = x->rank;
  int64_t n_axes = ax ? rt_numel(ax) : 0;
  *noop = 0;
  if (ax && ax->dtype != IVM_DT_I64) return ivm_error(IVM_ERR_INTERNAL, "%s: axes must be i64", op);
  if (n_axes == 0) {
    if (ew_attr_i(c, slot_noop, 0)) {
      *noop = 1;
      return NULL;
    }
    for (int i = 0; i < r; i++) mask[i] = 1;
  } else {
    const int64_t *a = ax->data;
    for (int64_t k = 0; k < n_axes; k++) {
      int64_t v = a[k];
      if (v < -r || v >= r)
        return ivm_error(IVM_ERR_RUNTIME, "%s: axis %lld out of range for rank %d", op,
                         (long long)v, r);
      if (v < 0) v += r;
      if (mask[v]) return ivm_error(IVM_ERR_RUNTIME, "%s: axis %lld repeated", op, (long long)a[k]);
      mask[v] = 1;
    }
  }
  return NULL;
}

#endif
