/* MaxPool (optional Indices), AveragePool and GlobalAveragePool over N-D windows. The
 * window geometry (pads, output sizes) comes from isa_window_resolve, the same function
 * inference uses. Padding never contributes: MaxPool pads with -inf, AveragePool divides
 * by the number of real elements unless count_include_pad. */
#include <string.h>

#include "isa/infer_linalg.h"
#include "runtime/kernels/ew.h"
#include "runtime/kernels/vmath.h"
#include "runtime/rt.h"

typedef struct pool_plan {
  isa_window w;
  int64_t planes, in_sz, out_sz;
} pool_plan;

static ivm_status make_plan(const rt_call *call, int is_max, pool_plan *p) {
  const rt_tensor *x = call->in[0], *y = call->out[0];
  const isa_attr *at = call->attrs;
  int n = x->rank - 2;
  const isa_attr *ks = &at[is_max ? ISA_A_MaxPool_kernel_shape : ISA_A_AveragePool_kernel_shape];
  if (n < 1 || (int)ks->count != n || y->rank != x->rank)
    return ivm_error(IVM_ERR_RUNTIME, "pool: bad operand ranks");
  if (is_max)
    IVM_TRY(isa_window_resolve(n, x->dims + 2, ks->v.ints, &at[ISA_A_MaxPool_auto_pad],
                               &at[ISA_A_MaxPool_pads], &at[ISA_A_MaxPool_strides],
                               &at[ISA_A_MaxPool_dilations], at[ISA_A_MaxPool_ceil_mode].v.i, 1,
                               &p->w));
  else
    IVM_TRY(isa_window_resolve(n, x->dims + 2, ks->v.ints, &at[ISA_A_AveragePool_auto_pad],
                               &at[ISA_A_AveragePool_pads], &at[ISA_A_AveragePool_strides], NULL,
                               at[ISA_A_AveragePool_ceil_mode].v.i, 1, &p->w));
  if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1])
    return ivm_error(IVM_ERR_RUNTIME, "pool: output shape mismatch");
  p->planes = x->dims[0] * x->dims[1];
  p->in_sz = p->out_sz = 1;
  for (int i = 0; i < n; i++) {
    if (y->dims[2 + i] != p->w.out[i]) return ivm_error(IVM_ERR_RUNTIME, "pool: output shape mismatch");
    p->in_sz *= p->w.in[i];
    p->out_sz *= p->w.out[i];
  }
  return NULL;
}

/* One output position's window, clipped to the input: per dim the kernel taps
 * [klo, khi) land inside the input, starting at input coordinate start + k*dilation. */
typedef struct win {
  int64_t start[ISA_MAX_RANK], klo[ISA_MAX_RANK], khi[ISA_MAX_RANK];
  int64_t count; /* taps inside the input */
} win;

static void window_at(const isa_window *w, const int64_t *o, win *v) {
  v->count = 1;
  for (int d = 0; d < w->n; d++) {
    int64_t s = o[d] * w->stride[d] - w->pad_begin[d], dl = w->dilation[d];
    int64_t lo = s >= 0 ? 0 : (-s + dl - 1) / dl;
    int64_t hi = w->in[d] - s <= 0 ? 0 : (w->in[d] - s + dl - 1) / dl;
    if (hi > w->kernel[d]) hi = w->kernel[d];
    if (hi < lo) hi = lo;
    v->start[d] = s;
    v->klo[d] = lo;
    v->khi[d] = hi;
    v->count *= hi - lo;
  }
}

/* Advances the output odometer o over w->out. */
static void next_pos(const isa_window *w, int64_t *o) {
  for (int d = w->n - 1; d >= 0; d--) {
    if (++o[d] < w->out[d]) return;
    o[d] = 0;
  }
}

/* Visits each tap of window v: BODY sees `idx`, the row-major spatial input index, and
 * `ci`, the per-dim input coordinates. */
#define FOR_EACH_TAP(w, v, BODY)                                                        \
  do {                                                                                  \
    int64_t k_[ISA_MAX_RANK], ci[ISA_MAX_RANK];                                         \
    int n_ = (w)->n, last_ = n_ - 1;                                                    \
    for (int d_ = 0; d_ < n_; d_++) k_[d_] = (v)->klo[d_];                              \
    for (;;) {                                                                          \
      int64_t base_ = 0;                                                                \
      for (int d_ = 0; d_ < last_; d_++) {                                              \
        ci[d_] = (v)->start[d_] + k_[d_] * (w)->dilation[d_];                           \
        base_ = base_ * (w)->in[d_] + ci[d_];                                           \
      }                                                                                 \
      base_ *= (w)->in[last_];                                                          \
      for (int64_t kl_ = (v)->klo[last_]; kl_ < (v)->khi[last_]; kl_++) {               \
        ci[last_] = (v)->start[last_] + kl_ * (w)->dilation[last_];                     \
        int64_t idx = base_ + ci[last_];                                                \
        BODY;                                                                           \
      }                                                                                 \
      int d_ = last_ - 1;                                                               \
      for (; d_ >= 0; d_--) {                                                           \
        if (++k_[d_] < (v)->khi[d_]) break;                                             \
        k_[d_] = (v)->klo[d_];                                                          \
      }                                                                                 \
      if (d_ < 0) break;                                                                \
    }                                                                                   \
  } while (0)

/* ---- MaxPool ------------------------------------------------------------------------ */
#define MAXPOOL(T)                                                                        \
  static void maxpool_##T(const pool_plan *p, const T *X, T *Y, int64_t *I, int col_major) { \
    const isa_window *w = &p->w;                                                          \
    int64_t cstride[ISA_MAX_RANK], acc = 1;                                               \
    for (int d = 0; d < w->n; d++) {                                                      \
      cstride[d] = acc;                                                                   \
      acc *= w->in[d];                                                                    \
    }                                                                                     \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                          \
      const T *x = X + pl * p->in_sz;                                                     \
      int64_t o[ISA_MAX_RANK] = {0};                                                      \
      for (int64_t t = 0; t < p->out_sz; t++) {                                           \
        win v;                                                                            \
        window_at(w, o, &v);                                                              \
        T best = 0;                                                                       \
        int64_t bi = -1, bcol = -1;                                                       \
        if (v.count > 0) {                                                                \
          FOR_EACH_TAP(w, &v, {                                                           \
            if (bi < 0 || x[idx] > best) {                                                \
              best = x[idx];                                                              \
              bi = idx;                                                                   \
              if (col_major) {                                                            \
                bcol = 0;                                                                 \
                for (int d = 0; d < w->n; d++) bcol += ci[d] * cstride[d];                \
              }                                                                           \
            }                                                                             \
          });                                                                             \
        }                                                                                 \
        Y[pl * p->out_sz + t] = best;                                                     \
        if (I) I[pl * p->out_sz + t] = bi < 0 ? -1 : pl * p->in_sz + (col_major ? bcol : bi); \
        next_pos(w, o);                                                                   \
      }                                                                                   \
    }                                                                                     \
  }

MAXPOOL(float)
MAXPOOL(double)
MAXPOOL(uint8_t)
MAXPOOL(int8_t)

/* Taps [lo, hi) of one axis' window at output position o (as window_at). */
static void axis_taps(const isa_window *w, int d, int64_t o, int64_t *start, int64_t *lo,
                      int64_t *hi) {
  int64_t s = o * w->stride[d] - w->pad_begin[d], dl = w->dilation[d];
  *lo = s >= 0 ? 0 : (-s + dl - 1) / dl;
  *hi = w->in[d] - s <= 0 ? 0 : (w->in[d] - s + dl - 1) / dl;
  if (*hi > w->kernel[d]) *hi = w->kernel[d];
  if (*hi < *lo) *hi = *lo;
  *start = s;
}

/* The common case (2-D f32, no Indices output), without the N-D odometer: column windows
 * are resolved once per call into scratch. Same result as maxpool_float: the first tap
 * seeds the maximum and a later tap replaces it only when greater.
 *
 * Without dilation, the windows that lie wholly inside a row range (interior columns) are
 * computed by rows: for each window row, h[c] folds taps c .. c + K - 1 (the first window
 * row seeded by its first tap, later rows by -inf), and acc[c] takes h[c] when greater;
 * every loop runs over contiguous c and vectorises. This picks the same tap as the flat
 * fold: a NaN seed stays, later NaN taps are skipped, and among equal values (+0 / -0)
 * the first in row-major order wins, since every comparison is strict. */
static void maxpool_row_fold(const float *row, int64_t n, int64_t K, int seeded, float *h) {
  if (seeded) {
    for (int64_t c = 0; c < n; c++) h[c] = row[c];
  } else {
    for (int64_t c = 0; c < n; c++) h[c] = -INFINITY;
    for (int64_t c = 0; c < n; c++) h[c] = row[c] > h[c] ? row[c] : h[c];
  }
  for (int64_t k = 1; k < K; k++)
    for (int64_t c = 0; c < n; c++) h[c] = row[c + k] > h[c] ? row[c + k] : h[c];
}

#define MP_GT(v, t) ((v) > (t) ? (v) : (t))
/* One window row into acc (the first row seeds it); K = 2 and 3 in one pass. */
static void maxpool_row_into(const float *row, int64_t n, int64_t K, int first, float *acc,
                             float *h) {
  if (K == 3 && first) {
    for (int64_t c = 0; c < n; c++) {
      float t = row[c];
      t = MP_GT(row[c + 1], t);
      acc[c] = MP_GT(row[c + 2], t);
    }
  } else if (K == 3) {
    for (int64_t c = 0; c < n; c++) {
      float t = MP_GT(row[c], -INFINITY);
      t = MP_GT(row[c + 1], t);
      t = MP_GT(row[c + 2], t);
      acc[c] = MP_GT(t, acc[c]);
    }
  } else if (K == 2 && first) {
    for (int64_t c = 0; c < n; c++) acc[c] = MP_GT(row[c + 1], row[c]);
  } else if (K == 2) {
    for (int64_t c = 0; c < n; c++) {
      float t = MP_GT(row[c + 1], MP_GT(row[c], -INFINITY));
      acc[c] = MP_GT(t, acc[c]);
    }
  } else if (first) {
    maxpool_row_fold(row, n, K, 1, acc);
  } else {
    maxpool_row_fold(row, n, K, 0, h);
    for (int64_t c = 0; c < n; c++) acc[c] = MP_GT(h[c], acc[c]);
  }
}
#undef MP_GT

/* Pairs of columns (kernel 2, stride 2 across, no column padding or dilation, every
 * window inside the row: the 2x2/2 and 1x2/2 pools of CNNs), a vector of outputs at a
 * time: even and odd columns de-interleaved, then folded in row-major tap order with the
 * same strict comparison as the flat fold, so the bits and NaN choices are the same. */
static int maxpool_pairs_ok(const isa_window *w) {
  return w->kernel[1] == 2 && w->stride[1] == 2 && w->dilation[1] == 1 &&
         w->pad_begin[1] == 0 && 2 * w->out[1] <= w->in[1];
}

#define MP_GT(v, t) ((v) > (t) ? (v) : (t))
static void maxpool_pairs_row(const float *row, int64_t OW, int first, float *y) {
  int64_t o = 0;
#if VM_HAVE_VEC
  for (; o + VW <= OW; o += VW) {
    vf a = ldv(row + 2 * o), b = ldv(row + 2 * o + VW);
#if VW == 8
    vf e = __builtin_shuffle(a, b, (vi){0, 2, 4, 6, 8, 10, 12, 14});
    vf d = __builtin_shuffle(a, b, (vi){1, 3, 5, 7, 9, 11, 13, 15});
#else
    vf e = __builtin_shuffle(a, b, (vi){0, 2, 4, 6});
    vf d = __builtin_shuffle(a, b, (vi){1, 3, 5, 7});
#endif
    vf t = first ? e : blend(e > ldv(y + o), e, ldv(y + o));
    stv(y + o, blend(d > t, d, t));
  }
#endif
  for (; o < OW; o++) {
    float t = first ? row[2 * o] : MP_GT(row[2 * o], y[o]);
    y[o] = MP_GT(row[2 * o + 1], t);
  }
}
#undef MP_GT

/* The 2-D f32 MaxPool of planes [p0, p1) by column pairs. */
static void maxpool_pairs(const pool_plan *p, const float *X, float *Y, int64_t p0, int64_t p1) {
  const isa_window *w = &p->w;
  int64_t H = w->in[0], W = w->in[1], OH = w->out[0], OW = w->out[1], dh = w->dilation[0];
  for (int64_t pl = p0; pl < p1; pl++) {
    const float *x = X + pl * H * W;
    float *y = Y + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
      int64_t sh, hlo, hhi;
      axis_taps(w, 0, oh, &sh, &hlo, &hhi);
      if (hlo >= hhi) { /* no tap inside the input (pool pads forbid it) */
        memset(y + oh * OW, 0, (size_t)OW * sizeof(float));
        continue;
      }
      for (int64_t kh = hlo; kh < hhi; kh++)
        maxpool_pairs_row(x + (sh + kh * dh) * W, OW, kh == hlo, y + oh * OW);
    }
  }
}

/* The 2-D f32 MaxPool of planes [p0, p1) by rows; col: the column taps (axis_taps) of
 * each output column, acc and h: nrow floats each. */
static void maxpool_rows(const pool_plan *p, const int64_t *col, int64_t nrow, const float *X,
                         float *Y, int64_t p0, int64_t p1, float *acc, float *h) {
  const isa_window *w = &p->w;
  int64_t H = w->in[0], W = w->in[1], OH = w->out[0], OW = w->out[1], KW = w->kernel[1];
  int64_t dh = w->dilation[0], dw = w->dilation[1];
  for (int64_t pl = p0; pl < p1; pl++) {
    const float *x = X + pl * H * W;
    float *y = Y + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
      int64_t sh, hlo, hhi;
      axis_taps(w, 0, oh, &sh, &hlo, &hhi);
      int rows_done = nrow > 0 && hlo < hhi;
      if (rows_done)
        for (int64_t kh = hlo; kh < hhi; kh++)
          maxpool_row_into(x + (sh + kh * dh) * W, nrow, KW, kh == hlo, acc, h);
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t sw = col[3 * ow], wlo = col[3 * ow + 1], whi = col[3 * ow + 2];
        if (hlo >= hhi || wlo >= whi) { /* no tap inside the input (pool pads forbid it) */
          y[oh * OW + ow] = 0;
          continue;
        }
        if (rows_done && sw >= 0 && sw < nrow) { /* all KW taps inside the row */
          y[oh * OW + ow] = acc[sw];
          continue;
        }
        float best = x[(sh + hlo * dh) * W + sw + wlo * dw];
        for (int64_t kh = hlo; kh < hhi; kh++) {
          const float *row = x + (sh + kh * dh) * W + sw;
          for (int64_t kw = wlo; kw < whi; kw++) {
            float v = row[kw * dw];
            best = v > best ? v : best; /* a NaN seed stays; a later NaN is skipped */
          }
        }
        y[oh * OW + ow] = best;
      }
    }
  }
}

/* Planes split into `ranges` runs across the pool, each run with its own acc / h (2 * nrow
 * floats at mem + r * stride); a plane's outputs are the same whichever run takes it. */
typedef struct mp_job {
  const pool_plan *p;
  const int64_t *col; /* NULL: column pairs */
  int64_t nrow, stride;
  const float *X;
  float *Y, *mem;
  int64_t ranges;
} mp_job;

static void mp_task(void *vjob, int64_t r0, int64_t r1) {
  const mp_job *j = vjob;
  for (int64_t r = r0; r < r1; r++) {
    int64_t p0 = r * j->p->planes / j->ranges, p1 = (r + 1) * j->p->planes / j->ranges;
    if (!j->col) {
      maxpool_pairs(j->p, j->X, j->Y, p0, p1);
    } else {
      float *acc = j->mem + r * j->stride;
      maxpool_rows(j->p, j->col, j->nrow, j->X, j->Y, p0, p1, acc, acc + j->nrow);
    }
  }
}

static ivm_status maxpool2d_f32(const rt_call *call, const pool_plan *p, const float *X,
                                float *Y) {
  const isa_window *w = &p->w;
  int64_t W = w->in[1], OW = w->out[1], KW = w->kernel[1], dw = w->dilation[1];
  rt_pool *pool = ew_pool(call);
  /* Runs of planes across the pool when there is enough to split (about EW_GRAIN input
   * floats a run at least): a CNN's first pool reads 3 MB. */
  int64_t in_floats = p->planes * w->in[0] * W;
  int64_t ranges = in_floats / EW_GRAIN, threads = rt_pool_threads(pool);
  if (ranges > threads) ranges = threads;
  if (ranges > p->planes) ranges = p->planes;
  if (ranges < 1) ranges = 1;
  mp_job job = {p, NULL, 0, 0, X, Y, NULL, ranges};
  if (!maxpool_pairs_ok(w)) {
    /* windows whose start c = sw lies in [0, W - KW]: by rows (dilation 1 only) */
    job.nrow = dw == 1 && KW <= W ? W - KW + 1 : 0;
    job.stride = (int64_t)(ew_align64(2 * (size_t)job.nrow * sizeof(float)) / sizeof(float));
    size_t tab = ew_align64((size_t)(3 * OW + 1) * sizeof(int64_t));
    char *mem;
    IVM_TRY(rt_scratch_get(call->scratch, tab + (size_t)(ranges * job.stride) * sizeof(float),
                           (void **)&mem));
    int64_t *col = (int64_t *)mem;
    for (int64_t ow = 0; ow < OW; ow++)
      axis_taps(w, 1, ow, &col[3 * ow], &col[3 * ow + 1], &col[3 * ow + 2]);
    job.col = col;
    job.mem = (float *)(mem + tab);
  }
  rt_pool_for(ranges > 1 ? pool : NULL, ranges, 1, mp_task, &job);
  return NULL;
}

ivm_status rt_k_MaxPool(const rt_call *call) {
  pool_plan p;
  IVM_TRY(make_plan(call, 1, &p));
  rt_tensor *ind = call->n_out > 1 ? call->out[1] : NULL;
  int64_t *I = ind ? ind->data : NULL;
  int col_major = call->attrs[ISA_A_MaxPool_storage_order].v.i != 0;
  const void *X = call->in[0]->data;
  void *Y = call->out[0]->data;
  if (!I && p.w.n == 2 && call->out[0]->dtype == IVM_DT_F32) return maxpool2d_f32(call, &p, X, Y);
  switch (call->out[0]->dtype) {
    case IVM_DT_F32: maxpool_float(&p, X, Y, I, col_major); return NULL;
    case IVM_DT_F64: maxpool_double(&p, X, Y, I, col_major); return NULL;
    case IVM_DT_U8: maxpool_uint8_t(&p, X, Y, I, col_major); return NULL;
    case IVM_DT_I8: maxpool_int8_t(&p, X, Y, I, col_major); return NULL;
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "MaxPool: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)call->out[0]->dtype));
  }
}

/* ---- AveragePool -------------------------------------------------------------------- */
/* count_include_pad divides by the window clipped to the padded input
 * [-pad_begin, in + pad_end) (a ceil_mode window may reach past it); otherwise by the
 * number of real elements. */
#define AVGPOOL(T)                                                                        \
  static void avgpool_##T(const pool_plan *p, const T *X, T *Y, int include_pad) {        \
    const isa_window *w = &p->w;                                                          \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                          \
      const T *x = X + pl * p->in_sz;                                                     \
      int64_t o[ISA_MAX_RANK] = {0};                                                      \
      for (int64_t t = 0; t < p->out_sz; t++) {                                           \
        win v;                                                                            \
        window_at(w, o, &v);                                                              \
        double s = 0;                                                                     \
        if (v.count > 0) FOR_EACH_TAP(w, &v, s += x[idx]);                                \
        int64_t div = v.count;                                                            \
        if (include_pad) {                                                                \
          div = 1;                                                                        \
          for (int d = 0; d < w->n; d++) {                                                \
            int64_t end = v.start[d] + w->kernel[d], lim = w->in[d] + w->pad_end[d];      \
            div *= (end < lim ? end : lim) - v.start[d];                                  \
          }                                                                               \
        }                                                                                 \
        Y[pl * p->out_sz + t] = div > 0 ? (T)(s / (double)div) : (T)0;                    \
        next_pos(w, o);                                                                   \
      }                                                                                   \
    }                                                                                     \
  }

AVGPOOL(float)
AVGPOOL(double)

/* The common case (2-D f32) without the N-D odometer: each axis' windows (start, taps,
 * divisor factor) are resolved once per call into scratch, and planes are split across the
 * pool. Same taps in the same order, summed in double, and the same divisor as
 * avgpool_float, so the same bits. */
typedef struct avg2d_job {
  const pool_plan *p;
  const int64_t *row, *col; /* per output row / column: start, lo, hi, divisor factor */
  const float *X;
  float *Y;
} avg2d_job;

static void avg2d_task(void *vjob, int64_t p0, int64_t p1) {
  const avg2d_job *j = vjob;
  const isa_window *w = &j->p->w;
  int64_t H = w->in[0], W = w->in[1], OH = w->out[0], OW = w->out[1];
  int64_t dh = w->dilation[0], dw = w->dilation[1];
  for (int64_t pl = p0; pl < p1; pl++) {
    const float *x = j->X + pl * H * W;
    float *y = j->Y + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
      const int64_t *r = j->row + 4 * oh;
      for (int64_t ow = 0; ow < OW; ow++) {
        const int64_t *c = j->col + 4 * ow;
        double s = 0;
        for (int64_t kh = r[1]; kh < r[2]; kh++) {
          const float *xr = x + (r[0] + kh * dh) * W + c[0];
          for (int64_t kw = c[1]; kw < c[2]; kw++) s += xr[kw * dw];
        }
        int64_t div = r[3] * c[3];
        y[oh * OW + ow] = div > 0 ? (float)(s / (double)div) : 0.0f;
      }
    }
  }
}

static ivm_status avgpool2d_f32(const rt_call *call, const pool_plan *p, const float *X,
                                float *Y, int include_pad) {
  const isa_window *w = &p->w;
  int64_t OH = w->out[0], OW = w->out[1], *t;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)(4 * (OH + OW)) * sizeof *t, (void **)&t));
  for (int d = 0; d < 2; d++)
    for (int64_t o = 0; o < w->out[d]; o++) {
      int64_t *e = t + 4 * (d ? OH + o : o);
      axis_taps(w, d, o, &e[0], &e[1], &e[2]);
      int64_t end = e[0] + w->kernel[d], lim = w->in[d] + w->pad_end[d];
      e[3] = include_pad ? (end < lim ? end : lim) - e[0] : e[2] - e[1];
    }
  avg2d_job job = {p, t, t + 4 * OH, X, Y};
  int64_t grain = p->in_sz > 0 && p->in_sz < EW_GRAIN ? EW_GRAIN / p->in_sz : 1;
  rt_pool_for(ew_pool(call), p->planes, grain, avg2d_task, &job);
  return NULL;
}

ivm_status rt_k_AveragePool(const rt_call *call) {
  pool_plan p;
  IVM_TRY(make_plan(call, 0, &p));
  int include_pad = call->attrs[ISA_A_AveragePool_count_include_pad].v.i != 0;
  const void *X = call->in[0]->data;
  void *Y = call->out[0]->data;
  if (p.w.n == 2 && call->out[0]->dtype == IVM_DT_F32)
    return avgpool2d_f32(call, &p, X, Y, include_pad);
  switch (call->out[0]->dtype) {
    case IVM_DT_F32: avgpool_float(&p, X, Y, include_pad); return NULL;
    case IVM_DT_F64: avgpool_double(&p, X, Y, include_pad); return NULL;
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "AveragePool: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)call->out[0]->dtype));
  }
}

/* ---- GlobalAveragePool --------------------------------------------------------------
 * One mean per (n, c) plane. A plane is summed in double by vm_sum_f32 (independent
 * vector accumulators, an order fixed by the plane size), always by one thread, so the
 * results are bitwise the same for any thread count; planes are split across the pool
 * in ranges of about EW_GRAIN elements. */
typedef struct gap_job {
  int dt;
  const void *x;
  void *y;
  int64_t sz;
} gap_job;

static void gap_task(void *vjob, int64_t begin, int64_t end) {
  const gap_job *j = vjob;
  int64_t sz = j->sz;
  if (j->dt == IVM_DT_F32) {
    const float *X = j->x;
    float *Y = j->y;
    for (int64_t pl = begin; pl < end; pl++)
      Y[pl] = sz ? (float)(vm_sum_f32(X + pl * sz, sz) / (double)sz) : 0.0f;
  } else {
    const double *X = j->x;
    double *Y = j->y;
    for (int64_t pl = begin; pl < end; pl++) {
      double s = 0;
      for (int64_t i = 0; i < sz; i++) s += X[pl * sz + i];
      Y[pl] = sz ? s / (double)sz : 0.0;
    }
  }
}

ivm_status rt_k_GlobalAveragePool(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  if (x->rank < 3) return ivm_error(IVM_ERR_RUNTIME, "GlobalAveragePool: rank < 3");
  if (x->dtype != IVM_DT_F32 && x->dtype != IVM_DT_F64)
    return ivm_error(IVM_ERR_UNSUPPORTED, "GlobalAveragePool: dtype %s not supported",
                     ivm_dtype_name((ivm_dtype)x->dtype));
  int64_t planes = x->dims[0] * x->dims[1];
  gap_job job = {x->dtype, x->data, call->out[0]->data, rt_shape_numel(x->rank - 2, x->dims + 2)};
  int64_t grain = job.sz > 0 && job.sz < EW_GRAIN ? EW_GRAIN / job.sz : 1;
  rt_pool_for(ew_pool(call), planes, grain, gap_task, &job);
  return NULL;
}
