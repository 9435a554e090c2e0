/* Resize: N-D nearest / linear / cubic resampling, every ONNX
 * coordinate_transformation_mode and nearest_mode (plus "simple", the Upsample /
 * Resize-10 rounding). Output dims, scales and roi come from isa_nn_resize_resolve, the
 * function inference uses. Per axis, each output index gets up to 4 (input index, weight)
 * taps; an output element is the sum over the tensor product of its axes' taps, which
 * equals ONNX's axis-by-axis interpolation. tf_crop_and_resize coordinates outside the
 * input give extrapolation_value. Arithmetic in double. */
#include <math.h>

#include "isa/infer_nn.h"
#include "runtime/kernels/ew.h"

typedef struct tap {
  int64_t idx[4]; /* input index along the axis, clamped */
  double w[4];
  int n;          /* 1..4 */
  int outside;    /* tf_crop_and_resize: coordinate outside the input */
} tap;

/* x_original for output index o along axis d. `len` is ONNX's length_resized: the
 * output size, or scale * input size when scales were given (it may be fractional). */
static double source_coord(const isa_nn_resize *r, int d, int64_t o, int64_t in, int64_t out) {
  double s = r->scale[d], x = (double)o, len = r->out_len[d];
  switch (r->ctm) {
    case ISA_NN_CTM_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case ISA_NN_CTM_HALF_PIXEL_SYMMETRIC: {
      double adj = len != 0 ? (double)out / len : 1.0;
      double center = (double)in / 2.0;
      return center * (1.0 - adj) + (x + 0.5) / s - 0.5;
    }
    case ISA_NN_CTM_PYTORCH_HALF_PIXEL: return len > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case ISA_NN_CTM_ALIGN_CORNERS:
      return len == 1 ? 0.0 : x * (double)(in - 1) / (len - 1);
    case ISA_NN_CTM_ASYMMETRIC: return x / s;
    case ISA_NN_CTM_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / s;
    case ISA_NN_CTM_TF_CROP_AND_RESIZE: {
      double lo = r->roi_lo[d], hi = r->roi_hi[d];
      if (len != 1) return lo * (double)(in - 1) + x * (hi - lo) * (double)(in - 1) / (len - 1);
      return 0.5 * (lo + hi) * (double)(in - 1);
    }
    default: return x;
  }
}

static int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

/* floor of a finite double as int64, saturated well inside the int64 range */
static int64_t ifloor(double v) {
  if (!(v > -1e15)) return (int64_t)-1e15;
  if (v > 1e15) return (int64_t)1e15;
  return (int64_t)floor(v);
}

static void make_taps(const isa_nn_resize *r, int d, int64_t in, int64_t out, tap *t) {
  /* An axis that is not resized (scale 1, same length) maps each index to itself, as in
   * ONNX Runtime: taken literally, tf_half_pixel_for_nn (x + 0.5) with round_prefer_ceil
   * or ceil would shift such an axis (e.g. the channels of an NCHW image) by one. */
  int identity = r->mode == ISA_NN_RESIZE_NEAREST && r->scale[d] == 1.0 && in == out &&
                 r->ctm != ISA_NN_CTM_TF_CROP_AND_RESIZE;
  for (int64_t o = 0; o < out; o++, t++) {
    double x = identity ? (double)o : source_coord(r, d, o, in, out);
    t->outside = 0;
    if (x != x) x = 0; /* NaN cannot come from validated attributes; stay in bounds anyway */
    if (r->ctm == ISA_NN_CTM_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1))) {
      t->outside = 1;
      t->n = 1;
      t->idx[0] = 0;
      t->w[0] = 0;
      continue;
    }
    int64_t fl = ifloor(x);
    double ratio = x - (double)fl;
    if (r->mode == ISA_NN_RESIZE_NEAREST) {
      int64_t i;
      if (r->nearest == ISA_NN_NEAREST_SIMPLE) {
        i = r->scale[d] < 1.0 ? ifloor(ceil(x)) : (x < 0 ? ifloor(ceil(x)) : fl);
      } else if (ratio == 0) {
        i = fl;
      } else {
        switch (r->nearest) {
          case ISA_NN_NEAREST_ROUND_PREFER_FLOOR: i = ratio <= 0.5 ? fl : fl + 1; break;
          case ISA_NN_NEAREST_ROUND_PREFER_CEIL: i = ratio < 0.5 ? fl : fl + 1; break;
          case ISA_NN_NEAREST_FLOOR: i = fl; break;
          default: i = fl + 1; break;
        }
      }
      t->n = 1;
      t->idx[0] = clampi(i, in - 1);
      t->w[0] = 1;
      continue;
    }
    if (r->mode == ISA_NN_RESIZE_LINEAR) {
      t->n = 0;
      if (1.0 - ratio != 0) {
        t->idx[t->n] = clampi(fl, in - 1);
        t->w[t->n++] = 1.0 - ratio;
      }
      if (ratio != 0) {
        t->idx[t->n] = clampi(fl + 1, in - 1);
        t->w[t->n++] = ratio;
      }
      continue;
    }
    /* cubic, taps at fl-1 .. fl+2 */
    double A = r->cubic_a, c[4];
    double t0 = ratio + 1, t1 = ratio, t2 = 1 - ratio, t3 = 2 - ratio;
    c[0] = ((A * t0 - 5 * A) * t0 + 8 * A) * t0 - 4 * A;
    c[1] = ((A + 2) * t1 - (A + 3)) * t1 * t1 + 1;
    c[2] = ((A + 2) * t2 - (A + 3)) * t2 * t2 + 1;
    c[3] = ((A * t3 - 5 * A) * t3 + 8 * A) * t3 - 4 * A;
    if (r->exclude_outside) {
      double sum = 0;
      for (int k = 0; k < 4; k++) {
        int64_t i = fl - 1 + k;
        if (i < 0 || i >= in) c[k] = 0;
        sum += c[k];
      }
      if (sum != 0)
        for (int k = 0; k < 4; k++) c[k] /= sum;
    }
    t->n = 0;
    for (int k = 0; k < 4; k++) {
      if (c[k] == 0) continue;
      t->idx[t->n] = clampi(fl - 1 + k, in - 1);
      t->w[t->n++] = c[k];
    }
    if (t->n == 0) { /* all weights vanished: keep one zero tap */
      t->n = 1;
      t->idx[0] = clampi(fl, in - 1);
      t->w[0] = 0;
    }
  }
}

#define ST_F(v) (v)
#define ST_U8(v) ew_sat_u8(nearbyint(v))
#define ST_I8(v) ew_sat_i8(nearbyint(v))
#define ST_I32(v) ew_sat_i32(nearbyint(v))
#define ST_I64(v) ew_sat_i64(nearbyint(v))

#define RESIZE(T, suf, ST)                                                                   \
  static void resize_##suf(int rank, const int64_t *in_dims, const int64_t *out_dims,      \
                           tap *const *taps, double extrap, const T *x, T *y) {            \
    int64_t stride[ISA_MAX_RANK], o[ISA_MAX_RANK] = {0}, total = 1;                        \
    int64_t acc = 1;                                                                        \
    for (int d = rank - 1; d >= 0; d--) {                                                   \
      stride[d] = acc;                                                                      \
      acc *= in_dims[d];                                                                    \
      total *= out_dims[d];                                                                 \
    }                                                                                       \
    for (int64_t e = 0; e < total; e++) {                                                   \
      const tap *tp[ISA_MAX_RANK];                                                          \
      int outside = 0;                                                                      \
      for (int d = 0; d < rank; d++) {                                                      \
        tp[d] = &taps[d][o[d]];                                                             \
        outside |= tp[d]->outside;                                                          \
      }                                                                                     \
      double v = 0;                                                                         \
      if (outside) {                                                                        \
        v = extrap;                                                                         \
      } else {                                                                              \
        int k[ISA_MAX_RANK] = {0};                                                          \
        for (;;) {                                                                          \
          double w = 1;                                                                     \
          int64_t off = 0;                                                                  \
          for (int d = 0; d < rank; d++) {                                                  \
            w *= tp[d]->w[k[d]];                                                            \
            off += tp[d]->idx[k[d]] * stride[d];                                            \
          }                                                                                 \
          v += w * (double)x[off];                                                          \
          int d = rank - 1;                                                                 \
          for (; d >= 0; d--) {                                                             \
            if (++k[d] < tp[d]->n) break;                                                   \
            k[d] = 0;                                                                       \
          }                                                                                 \
          if (d < 0) break;                                                                 \
        }                                                                                   \
      }                                                                                     \
      y[e] = (T)ST(v);                                                                      \
      for (int d = rank - 1; d >= 0; d--) {                                                 \
        if (++o[d] < out_dims[d]) break;                                                    \
        o[d] = 0;                                                                           \
      }                                                                                     \
    }                                                                                       \
  }

RESIZE(float, f32, ST_F)
RESIZE(double, f64, ST_F)
RESIZE(uint8_t, u8, ST_U8)
RESIZE(int8_t, i8, ST_I8)
RESIZE(int32_t, i32, ST_I32)
RESIZE(int64_t, i64, ST_I64)

/* ---- nearest fast path ---------------------------------------------------------------
 * When every output index of every axis has one tap (nearest mode, nothing outside the
 * input), an output element is a copy of one input element: the generic loop's double
 * round trip is exact for f32, f64, i8, u8 and i32 (for i64 the copy is exact where the
 * generic loop would round above 2^53). Output rows are built by a gather along the last
 * axis (k stores per input element when the axis is an integer upsample by k), and an
 * output row whose source row equals the previous row's is a copy of that already-built
 * row. The index tables come from make_taps, so the mapping is the generic path's. */
typedef struct nn_job {
  int rank;
  size_t esz;
  int64_t in_stride[ISA_MAX_RANK], out_dims[ISA_MAX_RANK];
  tap *const *taps;
  const int64_t *ix; /* last axis: input index per output index */
  int64_t rep;       /* > 0: ix[j] == j / rep for every j */
  int64_t row_in, row_out;
  const char *x;
  char *y;
  const float *add; /* FusedResizeAdd's C (f32, the output's shape), or NULL */
} nn_job;

#define NN_GATHER(T)                                                                     \
  static void nn_row_##T(const nn_job *j, const T *src, T *dst) {                        \
    int64_t n = j->row_out;                                                              \
    if (j->rep == 1) {                                                                   \
      memcpy(dst, src, (size_t)n * sizeof(T));                                           \
    } else if (j->rep == 2) {                                                            \
      for (int64_t i = 0; i < n / 2; i++) dst[2 * i] = dst[2 * i + 1] = src[i];          \
    } else if (j->rep > 2) {                                                             \
      int64_t k = j->rep;                                                                \
      for (int64_t i = 0; i < n / k; i++)                                                \
        for (int64_t r = 0; r < k; r++) dst[i * k + r] = src[i];                         \
    } else {                                                                             \
      const int64_t *ix = j->ix;                                                         \
      for (int64_t i = 0; i < n; i++) dst[i] = src[ix[i]];                               \
    }                                                                                    \
  }
NN_GATHER(uint8_t)
NN_GATHER(uint32_t)
NN_GATHER(uint64_t)
#undef NN_GATHER

static void nn_task(void *vjob, int64_t begin, int64_t end) {
  const nn_job *j = vjob;
  int R = j->rank;
  size_t rb = (size_t)j->row_out * j->esz;
  int64_t o[ISA_MAX_RANK] = {0}, prev_src = -1, rem = begin;
  for (int d = R - 2; d >= 0; d--) {
    o[d] = rem % j->out_dims[d];
    rem /= j->out_dims[d];
  }
  for (int64_t row = begin; row < end; row++) {
    int64_t src = 0;
    for (int d = 0; d < R - 1; d++) src += j->taps[d][o[d]].idx[0] * j->in_stride[d];
    char *dst = j->y + (size_t)row * rb;
    if (src == prev_src && !j->add) { /* same source row as the row just built here */
      memcpy(dst, dst - rb, rb);
    } else {
      const char *s = j->x + (size_t)src * j->esz;
      switch (j->esz) {
        case 1: nn_row_uint8_t(j, (const uint8_t *)s, (uint8_t *)dst); break;
        case 4: nn_row_uint32_t(j, (const uint32_t *)s, (uint32_t *)dst); break;
        default: nn_row_uint64_t(j, (const uint64_t *)s, (uint64_t *)dst); break;
      }
    }
    if (j->add) { /* C + the row, while the row is in cache (the sum is commutative) */
      float *d = (float *)dst;
      const float *c = j->add + row * j->row_out;
      for (int64_t i = 0; i < j->row_out; i++) d[i] = c[i] + d[i];
    }
    prev_src = src;
    for (int d = R - 2; d >= 0; d--) {
      if (++o[d] < j->out_dims[d]) break;
      o[d] = 0;
    }
  }
}

/* 1 when the fast path ran. */
static int resize_nearest_fast(const rt_call *call, const rt_tensor *x, rt_tensor *y,
                               tap *const *taps, int64_t *ix, const float *add) {
  int R = x->rank;
  size_t esz = ivm_dtype_size((ivm_dtype)x->dtype);
  if (R < 1 || (esz != 1 && esz != 4 && esz != 8)) return 0;
  for (int d = 0; d < R; d++)
    for (int64_t o = 0; o < y->dims[d]; o++)
      if (taps[d][o].n != 1 || taps[d][o].outside || taps[d][o].w[0] != 1.0) return 0;
  nn_job j;
  j.rank = R;
  j.esz = esz;
  j.taps = taps;
  int64_t acc = 1;
  for (int d = R - 1; d >= 0; d--) {
    j.in_stride[d] = acc;
    acc *= x->dims[d];
    j.out_dims[d] = y->dims[d];
  }
  j.row_in = x->dims[R - 1];
  j.row_out = y->dims[R - 1];
  for (int64_t o = 0; o < j.row_out; o++) ix[o] = taps[R - 1][o].idx[0];
  j.ix = ix;
  /* An integer upsample (or identity) of the last axis whose indices are o / k. */
  j.rep = 0;
  if (j.row_out % j.row_in == 0) {
    int64_t k = j.row_out / j.row_in;
    j.rep = k;
    for (int64_t o = 0; o < j.row_out && j.rep; o++)
      if (ix[o] != o / k) j.rep = 0;
  }
  j.x = x->data;
  j.y = y->data;
  j.add = add;
  int64_t rows = rt_numel(y) / j.row_out;
  int64_t grain = EW_GRAIN / j.row_out;
  rt_pool_for(ew_pool(call), rows, grain < 1 ? 1 : grain, nn_task, &j);
  return 1;
}

/* Resize, then (FusedResizeAdd) C added to the result: in each row as it is made on the
 * nearest fast path, else in a pass after it. */
static ivm_status resize_run(const rt_call *call, const rt_tensor *c) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  isa_type types[4];
  const void *data[4] = {NULL, NULL, NULL, NULL};
  uint32_t n_in = call->n_in > 4 ? 4 : call->n_in;
  memset(types, 0, sizeof types);
  for (uint32_t i = 0; i < n_in; i++) {
    const rt_tensor *t = call->in[i];
    if (!t) continue;
    types[i].dtype = t->dtype;
    types[i].rank = (int8_t)t->rank;
    memcpy(types[i].dims, t->dims, sizeof types[i].dims);
    data[i] = t->data;
  }
  int rank = x->rank;
  isa_nn_resize r;
  IVM_TRY(isa_nn_resize_resolve(call->attrs, rank, x->dims, n_in, types, data, &r));
  if (y->rank != rank) return ivm_error(IVM_ERR_RUNTIME, "Resize: output shape mismatch");
  int64_t total_taps = 0;
  for (int d = 0; d < rank; d++) {
    if (y->dims[d] != r.out[d]) return ivm_error(IVM_ERR_RUNTIME, "Resize: output shape mismatch");
    total_taps += r.out[d];
  }
  if (rt_numel(y) == 0) return NULL;
  if (rt_numel(x) == 0) return ivm_error(IVM_ERR_RUNTIME, "Resize: empty input, non-empty output");
  void *mem;
  size_t taps_bytes = ew_align64((size_t)total_taps * sizeof(tap));
  int64_t last = rank > 0 ? r.out[rank - 1] : 0;
  IVM_TRY(rt_scratch_get(call->scratch, taps_bytes + (size_t)last * sizeof(int64_t), &mem));
  tap *taps[ISA_MAX_RANK], *next = mem;
  for (int d = 0; d < rank; d++) {
    taps[d] = next;
    make_taps(&r, d, x->dims[d], r.out[d], next);
    next += r.out[d];
  }
  int fast_dt = x->dtype == IVM_DT_F32 || x->dtype == IVM_DT_F64 || x->dtype == IVM_DT_U8 ||
                x->dtype == IVM_DT_I8 || x->dtype == IVM_DT_I32 || x->dtype == IVM_DT_I64;
  const float *add = c ? c->data : NULL;
  if (r.mode == ISA_NN_RESIZE_NEAREST && fast_dt &&
      resize_nearest_fast(call, x, y, taps, (int64_t *)((char *)mem + taps_bytes), add))
    return NULL;
  switch (x->dtype) {
    case IVM_DT_F32: resize_f32(rank, x->dims, y->dims, taps, r.extrapolation, x->data, y->data); break;
    case IVM_DT_F64: resize_f64(rank, x->dims, y->dims, taps, r.extrapolation, x->data, y->data); break;
    case IVM_DT_U8: resize_u8(rank, x->dims, y->dims, taps, r.extrapolation, x->data, y->data); break;
    case IVM_DT_I8: resize_i8(rank, x->dims, y->dims, taps, r.extrapolation, x->data, y->data); break;
    case IVM_DT_I32: resize_i32(rank, x->dims, y->dims, taps, r.extrapolation, x->data, y->data); break;
    case IVM_DT_I64: resize_i64(rank, x->dims, y->dims, taps, r.extrapolation, x->data, y->data); break;
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "Resize: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)x->dtype));
  }
  if (add) {
    float *yf = y->data;
    for (int64_t i = 0, n = rt_numel(y); i < n; i++) yf[i] = add[i] + yf[i];
  }
  return NULL;
}

ivm_status rt_k_Resize(const rt_call *call) { return resize_run(call, NULL); }

/* C, then Resize's inputs (inference: C and X f32, C of the output's shape). */
ivm_status rt_k_FusedResizeAdd(const rt_call *call) {
  if (call->n_in < 2 || call->n_out != 1 || !call->in[0] || !call->in[1])
    return ivm_error(IVM_ERR_RUNTIME, "FusedResizeAdd: expected C, X and an output");
  const rt_tensor *c = call->in[0], *y = call->out[0];
  if (c->dtype != IVM_DT_F32 || call->in[1]->dtype != IVM_DT_F32 || y->dtype != IVM_DT_F32 ||
      c->rank != y->rank || memcmp(c->dims, y->dims, (size_t)c->rank * sizeof c->dims[0]))
    return ivm_error(IVM_ERR_RUNTIME, "FusedResizeAdd: C must be f32 of the output's shape");
  rt_call sub = *call;
  sub.in = call->in + 1;
  sub.n_in = call->n_in - 1;
  return resize_run(&sub, c);
}
