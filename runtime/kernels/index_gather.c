/* Index family kernels that move or combine elements by index: GatherElements, GatherND,
 * ScatterND, ScatterElements, OneHot, Compress, NonZero, ReverseSequence, Trilu, EyeLike,
 * CumSum. Shapes were validated by isa/infer_index.c; every index value is checked here
 * before it is used (IVM_ERR_RUNTIME), so no access ever leaves a tensor. */
#include <string.h>

#include "runtime/kernels/ew.h"
#include "runtime/kernels/shape_util.h"

static ivm_status bad(const char *op, const char *what) {
  return ivm_error(IVM_ERR_RUNTIME, "%s: %s", op, what);
}

static int is_index_dt(int dt) { return dt == IVM_DT_I32 || dt == IVM_DT_I64; }

/* ---- elementwise combination of rows (scatter reductions, cumulative sums) ------------ */
enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int parse_reduction(const rt_call *call, int slot) {
  const char *s = call->attrs ? call->attrs[slot].v.s : NULL;
  if (!s || !strcmp(s, "none")) return RED_NONE;
  if (!strcmp(s, "add")) return RED_ADD;
  if (!strcmp(s, "mul")) return RED_MUL;
  if (!strcmp(s, "max")) return RED_MAX;
  if (!strcmp(s, "min")) return RED_MIN;
  return -1;
}

/* d[i] = d[i] op s[i]. Floats: NaN propagates through max/min; integers wrap. */
#define IX_ROWS_FLOAT(A, suf, DT, T, CT, LD, ST)                                         \
  static void rows_##suf(int red, unsigned char *dv, const unsigned char *sv, int64_t n) { \
    T *d = (T *)dv;                                                                       \
    const T *s = (const T *)sv;                                                           \
    switch (red) {                                                                        \
      case RED_ADD: for (int64_t i = 0; i < n; i++) d[i] = ST(LD(d[i]) + LD(s[i])); break; \
      case RED_MUL: for (int64_t i = 0; i < n; i++) d[i] = ST(LD(d[i]) * LD(s[i])); break; \
      case RED_MAX:                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                 \
          CT a = LD(d[i]), b = LD(s[i]);                                                  \
          if (b > a || b != b) d[i] = s[i];                                               \
        }                                                                                 \
        break;                                                                            \
      case RED_MIN:                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                 \
          CT a = LD(d[i]), b = LD(s[i]);                                                  \
          if (b < a || b != b) d[i] = s[i];                                               \
        }                                                                                 \
        break;                                                                            \
      default: memcpy(d, s, (size_t)n * sizeof(T)); break;                                \
    }                                                                                     \
  }
#define IX_ROWS_INT(A, suf, DT, T, UT)                                                    \
  static void rows_##suf(int red, unsigned char *dv, const unsigned char *sv, int64_t n) { \
    T *d = (T *)dv;                                                                       \
    const T *s = (const T *)sv;                                                           \
    switch (red) {                                                                        \
      case RED_ADD: for (int64_t i = 0; i < n; i++) d[i] = (T)((UT)d[i] + (UT)s[i]); break; \
      case RED_MUL: for (int64_t i = 0; i < n; i++) d[i] = (T)((UT)d[i] * (UT)s[i]); break; \
      case RED_MAX: for (int64_t i = 0; i < n; i++) d[i] = s[i] > d[i] ? s[i] : d[i]; break; \
      case RED_MIN: for (int64_t i = 0; i < n; i++) d[i] = s[i] < d[i] ? s[i] : d[i]; break; \
      default: memcpy(d, s, (size_t)n * sizeof(T)); break;                                \
    }                                                                                     \
  }
EW_FLOAT_TYPES(IX_ROWS_FLOAT, _)
EW_SINT_TYPES(IX_ROWS_INT, _)
EW_UINT_TYPES(IX_ROWS_INT, _)

static void rows_bool(int red, unsigned char *d, const unsigned char *s, int64_t n) {
  switch (red) {
    case RED_ADD:
    case RED_MAX: for (int64_t i = 0; i < n; i++) d[i] = (d[i] | s[i]) != 0; break;
    case RED_MUL:
    case RED_MIN: for (int64_t i = 0; i < n; i++) d[i] = (d[i] && s[i]); break;
    default: memcpy(d, s, (size_t)n); break;
  }
}

typedef void (*rows_fn)(int red, unsigned char *d, const unsigned char *s, int64_t n);

static rows_fn rows_for(int dt) {
  switch (dt) {
#define IX_CASE_F(A, suf, DT, ...) case DT: return rows_##suf;
    EW_FLOAT_TYPES(IX_CASE_F, _)
    EW_SINT_TYPES(IX_CASE_F, _)
    EW_UINT_TYPES(IX_CASE_F, _)
#undef IX_CASE_F
    case IVM_DT_BOOL: return rows_bool;
    default: return NULL;
  }
}

/* ---- GatherElements / ScatterElements ------------------------------------------------ */

/* Shared walk: for every position p of indices (row-major), the data element it addresses
 * (offset in elements). data, indices and updates shapes were checked by the caller. */
static ivm_status elements_walk(const char *op, const rt_tensor *x, const rt_tensor *idx,
                                int axis, unsigned char *y_gather,
                                const unsigned char *x_bytes, rows_fn rows, int red,
                                unsigned char *y_scatter, const unsigned char *upd) {
  int r = x->rank;
  int64_t xs[ISA_MAX_RANK], cnt[ISA_MAX_RANK] = {0};
  shp_strides(r, x->dims, xs);
  int64_t n = rt_numel(idx), d = x->dims[axis], base = 0;
  size_t es = shp_es(x);
  for (int64_t p = 0; p < n; p++) {
    int64_t v = shp_index_at(idx, p);
    if (v < -d || v >= d)
      return ivm_error(IVM_ERR_RUNTIME, "%s: index %lld (position %lld) out of range [%lld, %lld)",
                       op, (long long)v, (long long)p, (long long)-d, (long long)d);
    if (v < 0) v += d;
    int64_t off = base + v * xs[axis];
    if (y_gather)
      memcpy(y_gather + (size_t)p * es, x_bytes + (size_t)off * es, es);
    else
      rows(red, y_scatter + (size_t)off * es, upd + (size_t)p * es, 1);
    for (int k = r - 1; k >= 0; k--) {
      if (k != axis) base += xs[k];
      if (++cnt[k] < idx->dims[k]) break;
      if (k != axis) base -= xs[k] * idx->dims[k];
      cnt[k] = 0;
    }
  }
  return NULL;
}

static ivm_status check_elements(const char *op, const rt_tensor *x, const rt_tensor *idx,
                                 int axis) {
  if (axis < 0 || idx->rank != x->rank || !is_index_dt(idx->dtype))
    return bad(op, "operands do not match");
  for (int k = 0; k < x->rank; k++)
    if (k != axis && idx->dims[k] > x->dims[k]) return bad(op, "indices larger than the data");
  return NULL;
}

ivm_status rt_k_GatherElements(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "GatherElements", 2, 1));
  const rt_tensor *x = call->in[0], *idx = call->in[1];
  rt_tensor *y = call->out[0];
  int axis = shp_axis(ew_attr_i(call, ISA_A_GatherElements_axis, 0), x->rank);
  IVM_TRY(check_elements("GatherElements", x, idx, axis));
  if (!ew_same_shape(y, idx) || y->dtype != x->dtype)
    return bad("GatherElements", "output does not match the indices");
  return elements_walk("GatherElements", x, idx, axis, y->data, x->data, NULL, 0, NULL, NULL);
}

ivm_status rt_k_ScatterElements(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "ScatterElements", 3, 1));
  const rt_tensor *x = call->in[0], *idx = call->in[1], *upd = call->in[2];
  rt_tensor *y = call->out[0];
  int axis = shp_axis(ew_attr_i(call, ISA_A_ScatterElements_axis, 0), x->rank);
  int red = parse_reduction(call, ISA_A_ScatterElements_reduction);
  rows_fn rows = rows_for(x->dtype);
  IVM_TRY(check_elements("ScatterElements", x, idx, axis));
  if (red < 0 || !rows || !ew_same_shape(y, x) || y->dtype != x->dtype ||
      !ew_same_shape(upd, idx) || upd->dtype != x->dtype)
    return bad("ScatterElements", "operands do not match");
  if (y->data != x->data && rt_nbytes(x)) memcpy(y->data, x->data, rt_nbytes(x));
  return elements_walk("ScatterElements", x, idx, axis, NULL, NULL, rows, red, y->data,
                       upd->data);
}

/* ---- GatherND / ScatterND ---------------------------------------------------------- */

/* Offset (elements, within one batch of x starting at dim b) of the tuple at t[0:m]. */
static ivm_status nd_offset(const char *op, const rt_tensor *x, int b, const rt_tensor *idx,
                            int64_t t, int64_t m, const int64_t *st, int64_t *off) {
  int64_t o = 0;
  for (int64_t k = 0; k < m; k++) {
    int64_t v = shp_index_at(idx, t + k), d = x->dims[b + k];
    if (v < -d || v >= d)
      return ivm_error(IVM_ERR_RUNTIME, "%s: index %lld out of range [%lld, %lld) on axis %lld",
                       op, (long long)v, (long long)-d, (long long)d, (long long)(b + k));
    if (v < 0) v += d;
    o += v * st[k];
  }
  *off = o;
  return NULL;
}

ivm_status rt_k_GatherND(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "GatherND", 2, 1));
  const rt_tensor *x = call->in[0], *idx = call->in[1];
  rt_tensor *y = call->out[0];
  int64_t b = ew_attr_i(call, ISA_A_GatherND_batch_dims, 0);
  int r = x->rank, q = idx->rank;
  if (!is_index_dt(idx->dtype) || q < 1 || b < 0 || b >= r || b >= q || y->dtype != x->dtype)
    return bad("GatherND", "operands do not match");
  int64_t m = idx->dims[q - 1];
  if (m < 1 || m > r - b) return bad("GatherND", "bad index tuple length");
  for (int k = 0; k < b; k++)
    if (x->dims[k] != idx->dims[k]) return bad("GatherND", "batch dims differ");
  int64_t B = rt_shape_numel((int)b, x->dims);
  int64_t G = rt_shape_numel(q - 1 - (int)b, idx->dims + b);
  int64_t slice = rt_shape_numel(r - (int)(b + m), x->dims + b + m);
  int64_t xb = rt_shape_numel(r - (int)b, x->dims + b);
  if (rt_numel(y) != B * G * slice) return bad("GatherND", "output size does not match");
  int64_t st[ISA_MAX_RANK];
  for (int64_t k = 0; k < m; k++) st[k] = rt_shape_numel(r - (int)(b + k + 1), x->dims + b + k + 1);
  size_t es = shp_es(x), blk = (size_t)slice * es;
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  for (int64_t bi = 0; bi < B; bi++)
    for (int64_t g = 0; g < G; g++) {
      int64_t off = 0;
      IVM_TRY(nd_offset("GatherND", x, (int)b, idx, (bi * G + g) * m, m, st, &off));
      if (blk) memcpy(out, in + (size_t)(bi * xb + off) * es, blk);
      out += blk;
    }
  return NULL;
}

ivm_status rt_k_ScatterND(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "ScatterND", 3, 1));
  const rt_tensor *x = call->in[0], *idx = call->in[1], *upd = call->in[2];
  rt_tensor *y = call->out[0];
  int r = x->rank, q = idx->rank;
  int red = parse_reduction(call, ISA_A_ScatterND_reduction);
  rows_fn rows = rows_for(x->dtype);
  if (!is_index_dt(idx->dtype) || q < 1 || r < 1 || red < 0 || !rows || !ew_same_shape(y, x) ||
      y->dtype != x->dtype || upd->dtype != x->dtype)
    return bad("ScatterND", "operands do not match");
  int64_t m = idx->dims[q - 1];
  if (m < 1 || m > r) return bad("ScatterND", "bad index tuple length");
  int64_t G = rt_shape_numel(q - 1, idx->dims);
  int64_t slice = rt_shape_numel(r - (int)m, x->dims + m);
  if (rt_numel(upd) != G * slice) return bad("ScatterND", "updates size does not match");
  int64_t st[ISA_MAX_RANK];
  for (int64_t k = 0; k < m; k++) st[k] = rt_shape_numel(r - (int)(k + 1), x->dims + k + 1);
  if (y->data != x->data && rt_nbytes(x)) memcpy(y->data, x->data, rt_nbytes(x));
  size_t es = shp_es(x);
  unsigned char *out = y->data;
  const unsigned char *u = upd->data;
  for (int64_t g = 0; g < G; g++) {
    int64_t off = 0;
    IVM_TRY(nd_offset("ScatterND", x, 0, idx, g * m, m, st, &off));
    if (slice) rows(red, out + (size_t)off * es, u + (size_t)(g * slice) * es, slice);
  }
  return NULL;
}

/* ---- OneHot ---------------------------------------------------------------------- */

ivm_status rt_k_OneHot(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "OneHot", 3, 1));
  const rt_tensor *idx = call->in[0], *vals = call->in[2];
  rt_tensor *y = call->out[0];
  int r = y->rank;
  int axis = shp_axis(ew_attr_i(call, ISA_A_OneHot_axis, -1), r);
  if (axis < 0 || r != idx->rank + 1 || y->dtype != vals->dtype || rt_numel(vals) != 2)
    return bad("OneHot", "operands do not match");
  for (int k = 0, j = 0; k < r; k++)
    if (k != axis && y->dims[k] != idx->dims[j++]) return bad("OneHot", "output does not match");
  int64_t D = y->dims[axis];
  int64_t outer = rt_shape_numel(axis, idx->dims);
  int64_t inner = rt_shape_numel(idx->rank - axis, idx->dims + axis);
  size_t es = shp_es(y);
  const unsigned char *off = vals->data, *on = off + es;
  unsigned char *out = y->data;
  shp_fill(out, off, rt_numel(y), es);
  int fl = isa_dtype_is_float(idx->dtype);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t p = o * inner + i, v;
      if (fl) {
        double dv = ew_load_d(idx->dtype, idx->data, p);
        if (!(dv > -9.0e18 && dv < 9.0e18)) continue; /* NaN or far out: all off */
        v = (int64_t)dv;
      } else {
        v = ew_load_i64(idx->dtype, idx->data, p);
        if (idx->dtype == IVM_DT_U64 && v < 0) continue;
      }
      if (v < 0) v += D;
      if (v < 0 || v >= D) continue; /* ONNX: out-of-range indices give all off values */
      memcpy(out + (size_t)((o * D + v) * inner + i) * es, on, es);
    }
  return NULL;
}

/* ---- Compress / NonZero ---------------------------------------------------------------- */

ivm_status rt_k_Compress(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "Compress", 2, 1));
  const rt_tensor *x = call->in[0], *cond = call->in[1];
  rt_tensor *y = call->out[0];
  int r = x->rank;
  int axis = shp_axis(ew_attr_i(call, ISA_A_Compress_axis, 0), r);
  if (axis < 0 || cond->dtype != IVM_DT_BOOL || cond->rank != 1 || y->rank != r ||
      y->dtype != x->dtype)
    return bad("Compress", "operands do not match");
  int64_t n = x->dims[axis], len = cond->dims[0];
  if (len > n) return bad("Compress", "condition longer than the axis");
  const unsigned char *c = cond->data;
  int64_t kept = 0;
  for (int64_t j = 0; j < len; j++) kept += c[j] != 0;
  for (int k = 0; k < r; k++)
    if (y->dims[k] != (k == axis ? kept : x->dims[k])) return bad("Compress", "output does not match");
  int64_t outer = rt_shape_numel(axis, x->dims), inner = rt_shape_numel(r - axis - 1, x->dims + axis + 1);
  size_t blk = (size_t)inner * shp_es(x);
  if (!blk) return NULL;
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < len; j++)
      if (c[j]) {
        memcpy(out, in + (size_t)(o * n + j) * blk, blk);
        out += blk;
      }
  return NULL;
}

static int nonzero_at(int dt, size_t es, const unsigned char *p, int64_t k) {
  const unsigned char *e = p + (size_t)k * es;
  if (dt == IVM_DT_F32) {
    uint32_t v;
    memcpy(&v, e, 4);
    return (v & 0x7fffffffu) != 0;
  }
  if (dt == IVM_DT_F64) {
    uint64_t v;
    memcpy(&v, e, 8);
    return (v & 0x7fffffffffffffffull) != 0;
  }
  if (dt == IVM_DT_F16 || dt == IVM_DT_BF16) {
    uint16_t v;
    memcpy(&v, e, 2);
    return (v & 0x7fffu) != 0;
  }
  for (size_t b = 0; b < es; b++)
    if (e[b]) return 1;
  return 0;
}

ivm_status rt_k_NonZero(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "NonZero", 1, 1));
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  int r = x->rank, R = r > 0 ? r : 1;
  size_t es = shp_es(x);
  int64_t n = rt_numel(x), nnz = 0;
  for (int64_t i = 0; i < n; i++) nnz += nonzero_at(x->dtype, es, x->data, i);
  if (y->dtype != IVM_DT_I64 || y->rank != 2 || y->dims[0] != R || y->dims[1] != nnz)
    return bad("NonZero", "output does not match");
  int64_t *out = y->data, cnt[ISA_MAX_RANK] = {0}, c = 0;
  for (int64_t i = 0; i < n; i++) {
    if (nonzero_at(x->dtype, es, x->data, i)) {
      for (int k = 0; k < R; k++) out[k * nnz + c] = r > 0 ? cnt[k] : 0;
      c++;
    }
    for (int k = r - 1; k >= 0; k--) {
      if (++cnt[k] < x->dims[k]) break;
      cnt[k] = 0;
    }
  }
  return NULL;
}

/* ---- ReverseSequence --------------------------------------------------------------- */

ivm_status rt_k_ReverseSequence(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "ReverseSequence", 2, 1));
  const rt_tensor *x = call->in[0], *lens = call->in[1];
  rt_tensor *y = call->out[0];
  int64_t ba = ew_attr_i(call, ISA_A_ReverseSequence_batch_axis, 1);
  int64_t ta = ew_attr_i(call, ISA_A_ReverseSequence_time_axis, 0);
  if (x->rank < 2 || (ba != 0 && ba != 1) || ba + ta != 1 || !is_index_dt(lens->dtype) ||
      lens->rank != 1 || lens->dims[0] != x->dims[ba] || !ew_same_shape(y, x) ||
      y->dtype != x->dtype)
    return bad("ReverseSequence", "operands do not match");
  int64_t B = x->dims[ba], T = x->dims[ta];
  int64_t inner = rt_shape_numel(x->rank - 2, x->dims + 2);
  size_t blk = (size_t)inner * shp_es(x);
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  for (int64_t b = 0; b < B; b++) {
    int64_t L = shp_index_at(lens, b);
    if (L < 0 || L > T)
      return ivm_error(IVM_ERR_RUNTIME, "ReverseSequence: length %lld of batch %lld not in [0, %lld]",
                       (long long)L, (long long)b, (long long)T);
    if (!blk) continue;
    for (int64_t t = 0; t < T; t++) {
      int64_t s = t < L ? L - 1 - t : t;
      int64_t dst = ba == 0 ? b * T + t : t * B + b, src = ba == 0 ? b * T + s : s * B + b;
      memcpy(out + (size_t)dst * blk, in + (size_t)src * blk, blk);
    }
  }
  return NULL;
}

/* ---- Trilu / EyeLike ------------------------------------------------------------------ */

ivm_status rt_k_Trilu(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "Trilu", 1, 1));
  const rt_tensor *x = call->in[0];
  const rt_tensor *kt = call->n_in > 1 ? call->in[1] : NULL;
  rt_tensor *y = call->out[0];
  int r = x->rank;
  if (r < 2 || !ew_same_shape(y, x) || y->dtype != x->dtype)
    return bad("Trilu", "operands do not match");
  int64_t k = 0;
  if (kt) {
    if (kt->dtype != IVM_DT_I64 || rt_numel(kt) != 1) return bad("Trilu", "k must be one i64");
    memcpy(&k, kt->data, 8);
  }
  int upper = ew_attr_i(call, ISA_A_Trilu_upper, 1) != 0;
  int64_t R = x->dims[r - 2], C = x->dims[r - 1], mats = rt_shape_numel(r - 2, x->dims);
  size_t es = shp_es(x);
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  for (int64_t m = 0; m < mats; m++)
    for (int64_t i = 0; i < R; i++) {
      size_t row = (size_t)((m * R + i) * C) * es;
      for (int64_t j = 0; j < C; j++) {
        int64_t dj = j - i; /* |j - i| < 2^62: no overflow against any k */
        int keep = upper ? dj >= k : dj <= k;
        if (keep)
          memcpy(out + row + (size_t)j * es, in + row + (size_t)j * es, es);
        else
          memset(out + row + (size_t)j * es, 0, es);
      }
    }
  return NULL;
}

ivm_status rt_k_EyeLike(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "EyeLike", 1, 1));
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  if (x->rank != 2 || !ew_same_shape(y, x)) return bad("EyeLike", "operands do not match");
  int64_t k = ew_attr_i(call, ISA_A_EyeLike_k, 0), R = y->dims[0], C = y->dims[1];
  size_t nb = rt_nbytes(y);
  if (nb) memset(y->data, 0, nb);
  for (int64_t i = 0; i < R; i++) {
    if (k > C || k < -R) break;
    int64_t j = i + k;
    if (j >= 0 && j < C) ew_store_d(y->dtype, y->data, i * C + j, 1.0);
  }
  return NULL;
}

/* ---- CumSum ---------------------------------------------------------------------- */

ivm_status rt_k_CumSum(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "CumSum", 2, 1));
  const rt_tensor *x = call->in[0], *at = call->in[1];
  rt_tensor *y = call->out[0];
  rows_fn rows = rows_for(x->dtype);
  if (!rows || x->dtype == IVM_DT_BOOL || !ew_same_shape(y, x) || y->dtype != x->dtype ||
      !is_index_dt(at->dtype) || rt_numel(at) != 1 || x->rank < 1)
    return bad("CumSum", "operands do not match");
  int axis = shp_axis(shp_index_at(at, 0), x->rank);
  if (axis < 0)
    return ivm_error(IVM_ERR_RUNTIME, "CumSum: axis %lld out of range for rank %d",
                     (long long)shp_index_at(at, 0), x->rank);
  int excl = ew_attr_i(call, ISA_A_CumSum_exclusive, 0) != 0;
  int rev = ew_attr_i(call, ISA_A_CumSum_reverse, 0) != 0;
  int64_t n = x->dims[axis], outer = rt_shape_numel(axis, x->dims);
  int64_t inner = rt_shape_numel(x->rank - axis - 1, x->dims + axis + 1);
  size_t es = shp_es(x), blk = (size_t)inner * es;
  if (!blk || !n) return NULL;
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  /* Row by row along the axis: out[t] = out[t-1] + in[t] (exclusive: + in[t-1]). */
  for (int64_t o = 0; o < outer; o++) {
    const unsigned char *xb = in + (size_t)(o * n) * blk;
    unsigned char *yb = out + (size_t)(o * n) * blk;
    for (int64_t s = 0; s < n; s++) {
      int64_t t = rev ? n - 1 - s : s, p = rev ? t + 1 : t - 1;
      unsigned char *yr = yb + (size_t)t * blk;
      if (excl) {
        if (s == 0) {
          memset(yr, 0, blk); /* zero is all-zero bytes in every numeric dtype */
        } else {
          memcpy(yr, xb + (size_t)p * blk, blk);
          rows(RED_ADD, yr, yb + (size_t)p * blk, inner);
        }
      } else {
        memcpy(yr, xb + (size_t)t * blk, blk);
        if (s > 0) rows(RED_ADD, yr, yb + (size_t)p * blk, inner);
      }
    }
  }
  return NULL;
}
