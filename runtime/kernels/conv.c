/* Conv (1-D/2-D/3-D and up): per image and group, im2col into scratch and one matrix
 * product W_g (Mg x Cg*k) @ col (Cg*k x out) written straight into Y. A 1x1 kernel with
 * stride 1 and no padding uses X itself as the column matrix. f32 uses rt_sgemm, f64 a
 * plain loop.
 *
 * Across the worker pool, f32 takes one of two shapes. Many (image, group) pairs (a batch,
 * a grouped or depthwise conv): each thread takes whole pairs with its own column and
 * packing buffers. Few pairs (one image, one group): the pairs run in turn, each one's
 * product split into panels (gemm_par.h); a thread builds the im2col columns of its own
 * column panels, while row panels share one column matrix built by blocks of channels.
 * Either way every output element is computed exactly as on one thread. */
#include <string.h>

#include "isa/infer_fused.h"
#include "runtime/kernels/conv.h"
#include "runtime/kernels/fused_act.h"
#include "runtime/kernels/gemm_par.h"

static ivm_status finish_plan(const rt_call *call, conv_plan *p);

/* trans_w: W's layout, FusedConv's transW (CONV_W_*): transposed (C * k, M) for group 1,
 * or Winograd's (16, C, M); the kernel dims then in kernel_shape (inference checked it). */
static ivm_status make_plan(const rt_call *call, int trans_w, conv_plan *p) {
  const rt_tensor *x = call->in[0], *wt = call->in[1];
  const rt_tensor *y = call->out[0];
  const isa_attr *at = call->attrs;
  int n = x->rank - 2;
  const isa_attr *ks = &at[ISA_A_Conv_kernel_shape];
  int w_rank = trans_w == CONV_W_TRANSPOSED ? 2 : trans_w == CONV_W_WINOGRAD ? 3 : x->rank;
  if (n < 1 || wt->rank != w_rank || y->rank != x->rank || (trans_w && (int)ks->count != n) ||
      (trans_w == CONV_W_WINOGRAD && (n != 2 || wt->dims[0] != 16)))
    return ivm_error(IVM_ERR_RUNTIME, "Conv: bad operand ranks");
  const int64_t *kernel = trans_w ? ks->v.ints : wt->dims + 2;
  IVM_TRY(isa_window_resolve(n, x->dims + 2, kernel, &at[ISA_A_Conv_auto_pad],
                             &at[ISA_A_Conv_pads], &at[ISA_A_Conv_strides],
                             &at[ISA_A_Conv_dilations], 0, 0, &p->w));
  p->N = x->dims[0];
  p->C = x->dims[1];
  p->M = wt->dims[trans_w == CONV_W_TRANSPOSED ? 1 : trans_w == CONV_W_WINOGRAD ? 2 : 0];
  p->G = at[ISA_A_Conv_group].v.i;
  p->trans_w = trans_w;
  int64_t w_channels = wt->dims[1];
  if (trans_w == CONV_W_TRANSPOSED) {
    int64_t k = 1;
    for (int i = 0; i < n; i++) k *= kernel[i];
    w_channels = wt->dims[0] % k ? -1 : wt->dims[0] / k;
  }
  if (p->G < 1 || p->C % p->G || p->M % p->G || w_channels * p->G != p->C ||
      (trans_w && p->G != 1))
    return ivm_error(IVM_ERR_RUNTIME, "Conv: channels do not match group");
  p->Cg = p->C / p->G;
  p->Mg = p->M / p->G;
  if (y->dims[0] != p->N || y->dims[1] != p->M)
    return ivm_error(IVM_ERR_RUNTIME, "Conv: output shape mismatch");
  return finish_plan(call, p);
}

/* FusedConv layout 1: X, Y (N, C / 16, H, W, 16); W blocked (conv.h, CONV_W_NCHW16C).
 * Layout 2 (head = 1): X (N, C, H, W), W (M / 16, taps, C, 16) (CONV_W_NCHW16C_HEAD). */
static ivm_status make_blocked_plan(const rt_call *call, int head, conv_plan *p) {
  const rt_tensor *x = call->in[0], *wt = call->in[1], *y = call->out[0];
  const isa_attr *at = call->attrs, *ks = &at[ISA_A_Conv_kernel_shape];
  p->G = at[ISA_A_Conv_group].v.i;
  int w_rank = head ? 4 : p->G == 1 ? 5 : 3;
  if (x->rank != (head ? 4 : 5) || y->rank != 5 || wt->rank != w_rank || ks->count != 2 ||
      (!head && x->dims[4] != CONV_BLOCK) || y->dims[4] != CONV_BLOCK)
    return ivm_error(IVM_ERR_RUNTIME, "Conv: bad operand ranks for the channel-blocked layout");
  IVM_TRY(isa_window_resolve(2, x->dims + 2, ks->v.ints, &at[ISA_A_Conv_auto_pad],
                             &at[ISA_A_Conv_pads], &at[ISA_A_Conv_strides],
                             &at[ISA_A_Conv_dilations], 0, 0, &p->w));
  p->N = x->dims[0];
  p->C = head ? x->dims[1] : x->dims[1] * CONV_BLOCK;
  p->M = y->dims[1] * CONV_BLOCK;
  p->trans_w = head ? CONV_W_NCHW16C_HEAD : CONV_W_NCHW16C;
  int64_t taps = ks->v.ints[0] * ks->v.ints[1];
  int ok = head        ? p->G == 1 && wt->dims[0] * CONV_BLOCK == p->M && wt->dims[1] == taps &&
                      wt->dims[2] == p->C && wt->dims[3] == CONV_BLOCK
           : p->G == 1 ? wt->dims[0] * CONV_BLOCK == p->M && wt->dims[1] * CONV_BLOCK == p->C &&
                             wt->dims[2] == taps && wt->dims[3] == CONV_BLOCK &&
                             wt->dims[4] == CONV_BLOCK
                       : p->G == p->C && p->M == p->C && wt->dims[0] * CONV_BLOCK == p->C &&
                             wt->dims[1] == taps && wt->dims[2] == CONV_BLOCK;
  if (!ok || p->G < 1)
    return ivm_error(IVM_ERR_RUNTIME, "Conv: channel-blocked W does not match X and Y");
  p->Cg = p->C / p->G;
  p->Mg = p->M / p->G;
  if (y->dims[0] != p->N) return ivm_error(IVM_ERR_RUNTIME, "Conv: output shape mismatch");
  return finish_plan(call, p);
}

/* The spatial sizes, pointwise and the bias, common to both layouts (dims from dim 2). */
static ivm_status finish_plan(const rt_call *call, conv_plan *p) {
  const rt_tensor *y = call->out[0];
  int n = p->w.n;
  p->in_sz = p->out_sz = p->k_sz = 1;
  p->pointwise = 1;
  p->act = NULL;
  for (int i = 0; i < n; i++) {
    if (y->dims[2 + i] != p->w.out[i])
      return ivm_error(IVM_ERR_RUNTIME, "Conv: output shape mismatch");
    p->in_sz *= p->w.in[i];
    p->out_sz *= p->w.out[i];
    p->k_sz *= p->w.kernel[i];
    if (p->w.kernel[i] != 1 || p->w.stride[i] != 1 || p->w.pad_begin[i] != 0 ||
        p->w.pad_end[i] != 0)
      p->pointwise = 0;
  }
  const rt_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  if (b && (b->rank != 1 || b->dims[0] != p->M))
    return ivm_error(IVM_ERR_RUNTIME, "Conv: bias length mismatch");
  return NULL;
}

void rt_conv_activate(const conv_plan *p, float *x, int64_t n) {
  if (!p->act || n <= 0) return;
  if (p->act->z) { /* Z first, rounded as Add rounds it */
    const float *z = p->act->z + (x - p->act->y);
    for (int64_t i = 0; i < n; i++) x[i] = x[i] + z[i];
  }
  /* One pass where it can (ppocr_v4_det's 1x1 convs: HardSwish then the affine), instead of
   * the activation's kernel and a loop each for the clip and the affine. */
  if (rt_conv_activate_fast(p->act, x, n)) return;
  rt_tensor t = {.data = x, .dtype = IVM_DT_F32, .rank = 1, .dims = {n},
                 .capacity = (size_t)n * sizeof(float)};
  const rt_tensor *in[1] = {&t};
  rt_tensor *out[1] = {&t};
  rt_scratch inline_only = {0}; /* no pool: the caller is already one range of the pool */
  rt_call c = {1, 1, in, out, p->act->attrs, &inline_only, NULL};
  ivm_status st = p->act->fn ? p->act->fn(&c) : NULL;
  rt_scratch_release(&inline_only);
  ivm_status none = NULL;
  if (st && !atomic_compare_exchange_strong(&p->act->error, &none, st)) ivm_status_free(st);
  if (p->act->has_min || p->act->has_max)
    for (int64_t i = 0; i < n; i++) x[i] = conv_clip(p->act, x[i]);
  /* The affine's factors in locals (x might alias them otherwise: no vectors), one loop
   * per case so each vectorises. */
  const float scale = p->act->scale, shift = p->act->shift;
  if (p->act->has_scale && p->act->has_shift)
    for (int64_t i = 0; i < n; i++) {
      float v = x[i] * scale;
      x[i] = v + shift;
    }
  else if (p->act->has_scale)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * scale;
  else if (p->act->has_shift)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] + shift;
}

/* Column matrix for one image and group: row (c, k...) holds, for every output position,
 * the input element under kernel offset k (0 in the padding). Writes rows c in [c0, c1)
 * and output positions j in [j0, j1) (flattened over the spatial dims) at
 * col[(c * k_sz + k) * ldcol + (j - j0) * es], so threads can each fill a block of rows
 * or a panel of columns; es > 1 (with ldcol 1) writes the matrix transposed, a row of
 * inputs per output position. The last spatial dim runs as a contiguous range per row
 * segment. */
#define IM2COL(T)                                                                            \
  static inline __attribute__((always_inline)) void im2col_##T##_es(                        \
      const conv_plan *p, const T *x, T *col, int64_t ldcol, int64_t es, int64_t c0,         \
      int64_t c1, int64_t j0, int64_t j1) {                                                  \
    const isa_window *w = &p->w;                                                            \
    int n = w->n, last = n - 1;                                                             \
    int64_t in_last = w->in[last], out_last = w->out[last], s_last = w->stride[last];      \
    if (j1 <= j0 || out_last <= 0) return;                                                  \
    int64_t t0 = j0 / out_last, t1 = (j1 - 1) / out_last + 1; /* output rows touched */    \
    for (int64_t c = c0; c < c1; c++) {                                                     \
      const T *xc = x + c * p->in_sz;                                                       \
      int64_t k[ISA_MAX_RANK] = {0};                                                        \
      for (int64_t kk = 0; kk < p->k_sz; kk++) {                                            \
        T *dst = col + (c * p->k_sz + kk) * ldcol;                                          \
        int64_t off = k[last] * w->dilation[last] - w->pad_begin[last];                     \
        /* valid o in [lo, hi): 0 <= o*s + off < in_last */                                 \
        int64_t lo = off >= 0 ? 0 : (-off + s_last - 1) / s_last;                           \
        int64_t hi = in_last - off <= 0 ? 0 : (in_last - off + s_last - 1) / s_last;        \
        int64_t o[ISA_MAX_RANK] = {0}, rest = t0;                                           \
        for (int d = last - 1; d >= 0; d--) {                                               \
          o[d] = rest % w->out[d];                                                          \
          rest /= w->out[d];                                                                \
        }                                                                                   \
        for (int64_t t = t0; t < t1; t++) {                                                 \
          /* this row's part of [j0, j1): positions [a, b) of the last dim */               \
          int64_t a = t == t0 ? j0 - t * out_last : 0;                                      \
          int64_t b = t == t1 - 1 ? j1 - t * out_last : out_last;                           \
          int64_t base = 0, ok = 1;                                                         \
          for (int d = 0; d < last; d++) {                                                  \
            int64_t ix = o[d] * w->stride[d] + k[d] * w->dilation[d] - w->pad_begin[d];     \
            if (ix < 0 || ix >= w->in[d]) ok = 0;                                           \
            base = base * w->in[d] + ix;                                                    \
          }                                                                                 \
          if (!ok) {                                                                        \
            for (int64_t j = a; j < b; j++) dst[(j - a) * es] = 0;                          \
          } else {                                                                          \
            const T *row = xc + base * in_last;                                             \
            int64_t l = lo < a ? a : lo > b ? b : lo, h = hi < l ? l : hi > b ? b : hi;     \
            for (int64_t j = a; j < l; j++) dst[(j - a) * es] = 0;                          \
            if (s_last == 1 && es == 1 && h > l)                                            \
              memcpy(dst + (l - a), row + l + off, (size_t)(h - l) * sizeof(T));            \
            else                                                                            \
              for (int64_t j = l; j < h; j++) dst[(j - a) * es] = row[j * s_last + off];    \
            for (int64_t j = h; j < b; j++) dst[(j - a) * es] = 0;                          \
          }                                                                                 \
          dst += (b - a) * es;                                                              \
          for (int d = last - 1; d >= 0; d--) {                                             \
            if (++o[d] < w->out[d]) break;                                                  \
            o[d] = 0;                                                                       \
          }                                                                                 \
        }                                                                                   \
        for (int d = last; d >= 0; d--) {                                                   \
          if (++k[d] < w->kernel[d]) break;                                                 \
          k[d] = 0;                                                                         \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }                                                                                         \
  static void im2col_##T(const conv_plan *p, const T *x, T *col, int64_t ldcol, int64_t c0, \
                         int64_t c1, int64_t j0, int64_t j1) {                              \
    im2col_##T##_es(p, x, col, ldcol, 1, c0, c1, j0, j1);                                   \
  }

IM2COL(float)
IM2COL(double)

/* The whole column matrix transposed, a row of Kdim inputs per output position
 * (channels [c0, c1) of each row). */
static void im2col_t_float(const conv_plan *p, const float *x, float *colt, int64_t c0,
                           int64_t c1) {
  im2col_float_es(p, x, colt, 1, p->Cg * p->k_sz, c0, c1, 0, p->out_sz);
}

/* ---- f32 ------------------------------------------------------------------------------ */
/* An im2col matrix above this size is built and multiplied a tile of columns at a time
 * (it stays in L2 between the two); CONV_TILE_MIN bounds how narrow a tile gets. */
#ifndef CONV_COL_BYTES
#define CONV_COL_BYTES (256 * 1024)
#endif
#ifndef CONV_TILE_MIN
#define CONV_TILE_MIN 96
#endif
/* Up to this many output positions the column matrix goes to rt_sgemm transposed, a row
 * of Kdim inputs per position: it then takes one dot product per output (gemm.c) rather
 * than register tiles whose vectors would hold only out_sz of their 16 lanes (an STFT
 * as a strided 1-D conv, the last convs of a CNN, a 1x1 conv on a pooled vector). */
#define CONV_DOT_POSITIONS 16

typedef struct conv_job {
  const conv_plan *p;
  const float *X, *W, *Bias;
  float *Y;
  int64_t Kdim;
  size_t col_bytes, pack_bytes; /* per run of work: [col][pack] at mem + r * (both) */
  char *mem;
  int ranges;       /* whole pairs: runs of (image, group) pairs; tiles: runs of items */
  int64_t tiles, tile_w, items; /* tiles: per pair, their width, pairs * tiles */
  int64_t n, g;     /* panels: the pair being computed and how its product is split */
  rt_gemm_split sp;
  /* out_sz <= CONV_DOT_POSITIONS: the product reads the column matrix transposed, a row
   * of Kdim inputs per output position, dot_ld apart: built in col (dot_ld == Kdim), or
   * X's own windows (dot_ld: the stride; see windows_in_place). */
  int dot;
  int64_t dot_ld;
} conv_job;

static const float *pair_x(const conv_job *j, int64_t n, int64_t g) {
  return j->X + (n * j->p->C + g * j->p->Cg) * j->p->in_sz;
}
static float *pair_y(const conv_job *j, int64_t n, int64_t g) {
  return j->Y + (n * j->p->M + g * j->p->Mg) * j->p->out_sz;
}

/* Rows [m0, m1) and columns [j0, j0 + n) of a pair's output start at the bias. */
static void fill_bias(const conv_job *j, int64_t g, float *yg, int64_t m0, int64_t m1,
                      int64_t j0, int64_t n) {
  const conv_plan *p = j->p;
  for (int64_t m = m0; m < m1; m++) {
    float b = j->Bias[g * p->Mg + m], *row = yg + m * p->out_sz + j0;
    for (int64_t k = 0; k < n; k++) row[k] = b;
  }
}

/* Whether every output position's inputs are already a row of X: one channel per group,
 * 1-D, contiguous windows (dilation 1) that never reach the padding, as in an STFT
 * written as a strided conv. The product then reads X in place, `stride` apart. */
static int windows_in_place(const conv_plan *p) {
  const isa_window *w = &p->w;
  return p->Cg == 1 && w->n == 1 && w->dilation[0] == 1 && w->pad_begin[0] == 0 &&
         (w->out[0] - 1) * w->stride[0] + w->kernel[0] <= w->in[0];
}

/* The transposed column matrix of pair (n, g) (dot mode), built in col if need be. */
static const float *dot_cols(const conv_job *j, int64_t n, int64_t g, float *col) {
  if (j->dot_ld != j->Kdim) return pair_x(j, n, g);
  im2col_t_float(j->p, pair_x(j, n, g), col, 0, j->p->Cg);
  return col;
}

/* Rows [i0, i0 + m) and columns [c0, c0 + n) of pair (n, g) from the column matrix cm
 * (row stride ldcm, its column 0 is output position c0; with j->dot, cm is the whole
 * transposed matrix). */
static void pair_product(const conv_job *j, int64_t nn, int64_t g, int64_t i0, int64_t m,
                         int64_t c0, int64_t n, const float *cm, int64_t ldcm, float *pack) {
  const conv_plan *p = j->p;
  float *yg = pair_y(j, nn, g);
  if (j->Bias) fill_bias(j, g, yg, i0, i0 + m, c0, n);
  int64_t rsb = j->dot ? 1 : ldcm, csb = j->dot ? j->dot_ld : 1;
  if (j->dot) cm += c0 * j->dot_ld;
  /* W (M, Kdim) row-major, or transposed (group 1): the matrix kernel reads that in place */
  const float *a = p->trans_w ? j->W + i0 : j->W + (g * p->Mg + i0) * j->Kdim;
  int64_t rsa = p->trans_w ? 1 : j->Kdim, csa = p->trans_w ? p->M : 1;
  rt_sgemm(m, n, j->Kdim, 1.0f, a, rsa, csa, cm, rsb, csb, j->Bias ? 1.0f : 0.0f,
           yg + i0 * p->out_sz + c0, p->out_sz, pack);
  if (p->act) {
    if (c0 == 0 && n == p->out_sz)
      rt_conv_activate(p, yg + i0 * p->out_sz, m * n);
    else
      for (int64_t i = i0; i < i0 + m; i++) rt_conv_activate(p, yg + i * p->out_sz + c0, n);
  }
}

static void pairs_task(void *vjob, int64_t r0, int64_t r1) {
  const conv_job *j = vjob;
  const conv_plan *p = j->p;
  int64_t pairs = p->N * p->G;
  for (int64_t r = r0; r < r1; r++) {
    char *mem = j->mem + (size_t)r * (j->col_bytes + j->pack_bytes);
    float *col = (float *)mem, *pack = (float *)(mem + j->col_bytes);
    for (int64_t t = r * pairs / j->ranges; t < (r + 1) * pairs / j->ranges; t++) {
      int64_t n = t / p->G, g = t % p->G;
      const float *cm = pair_x(j, n, g);
      if (j->dot) {
        cm = dot_cols(j, n, g, col);
      } else if (!p->pointwise) {
        im2col_float(p, cm, col, p->out_sz, 0, p->Cg, 0, p->out_sz);
        cm = col;
      }
      pair_product(j, n, g, 0, p->Mg, 0, p->out_sz, cm, p->out_sz, pack);
    }
  }
}

/* Column tiles of every pair (the im2col matrix would not fit in cache): item t is tile
 * t % tiles of pair t / tiles; each run builds a tile's columns and multiplies them
 * while they are in cache. */
static void tiles_task(void *vjob, int64_t r0, int64_t r1) {
  const conv_job *j = vjob;
  const conv_plan *p = j->p;
  for (int64_t r = r0; r < r1; r++) {
    char *mem = j->mem + (size_t)r * (j->col_bytes + j->pack_bytes);
    float *col = (float *)mem, *pack = (float *)(mem + j->col_bytes);
    for (int64_t t = r * j->items / j->ranges; t < (r + 1) * j->items / j->ranges; t++) {
      int64_t pair = t / j->tiles, c0 = t % j->tiles * j->tile_w;
      int64_t n = pair / p->G, g = pair % p->G;
      int64_t w = p->out_sz - c0 < j->tile_w ? p->out_sz - c0 : j->tile_w;
      im2col_float(p, pair_x(j, n, g), col, w, 0, p->Cg, c0, c0 + w);
      pair_product(j, n, g, 0, p->Mg, c0, w, col, w, pack);
    }
  }
}

/* Column panels: each run builds the columns of its own panels (the data stays in the
 * cache of the thread that multiplies it) and multiplies them. */
static void col_panels_task(void *vjob, int64_t r0, int64_t r1) {
  const conv_job *j = vjob;
  const conv_plan *p = j->p;
  const rt_gemm_split *sp = &j->sp;
  for (int64_t r = r0; r < r1; r++) {
    char *mem = j->mem + (size_t)r * (j->col_bytes + j->pack_bytes);
    float *col = (float *)mem, *pack = (float *)(mem + j->col_bytes);
    for (int64_t pn = r * sp->items / sp->ranges; pn < (r + 1) * sp->items / sp->ranges; pn++) {
      int64_t i0, m, c0, n;
      rt_gemm_panel(sp, pn, &i0, &m, &c0, &n);
      const float *xg = pair_x(j, j->n, j->g);
      if (p->pointwise) {
        pair_product(j, j->n, j->g, i0, m, c0, n, xg + c0, p->out_sz, pack);
      } else {
        im2col_float(p, xg, col, n, 0, p->Cg, c0, c0 + n);
        pair_product(j, j->n, j->g, i0, m, c0, n, col, n, pack);
      }
    }
  }
}

/* Row panels (many output channels, few positions): the whole column matrix (transposed
 * in dot mode), built first by blocks of input channels, is shared by every panel. */
static void im2col_task(void *vjob, int64_t c0, int64_t c1) {
  const conv_job *j = vjob;
  const float *x = pair_x(j, j->n, j->g);
  if (j->dot)
    im2col_t_float(j->p, x, (float *)j->mem, c0, c1);
  else
    im2col_float(j->p, x, (float *)j->mem, j->p->out_sz, c0, c1, 0, j->p->out_sz);
}

static void row_panels_task(void *vjob, int64_t r0, int64_t r1) {
  const conv_job *j = vjob;
  const conv_plan *p = j->p;
  const rt_gemm_split *sp = &j->sp;
  const float *cm = (j->dot ? j->dot_ld != j->Kdim : p->pointwise) ? pair_x(j, j->n, j->g)
                                                                   : (const float *)j->mem;
  for (int64_t r = r0; r < r1; r++) {
    float *pack = (float *)(j->mem + j->col_bytes + (size_t)r * j->pack_bytes);
    for (int64_t pn = r * sp->items / sp->ranges; pn < (r + 1) * sp->items / sp->ranges; pn++) {
      int64_t i0, m, c0, n;
      rt_gemm_panel(sp, pn, &i0, &m, &c0, &n);
      pair_product(j, j->n, j->g, i0, m, c0, n, cm + c0, p->out_sz, pack);
    }
  }
}

static ivm_status conv_f32(const rt_call *call, const conv_plan *p) {
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  conv_job j = {.p = p, .X = call->in[0]->data, .W = call->in[1]->data,
                .Bias = bt ? bt->data : NULL, .Y = call->out[0]->data,
                .Kdim = p->Cg * p->k_sz};
  rt_pool *pool = rt_call_pool(call);
  int64_t pairs = p->N * p->G;
  /* Cost in multiply-adds: the products, plus im2col's copies at a few each. */
  double macs = (double)pairs * (double)p->Mg * (double)p->out_sz * (double)j.Kdim;
  if (!p->pointwise) macs += 8.0 * (double)pairs * (double)j.Kdim * (double)p->out_sz;
  /* col^T when the whole matrix is multiplied at once (pairs, row panels) */
  int dot = p->out_sz <= CONV_DOT_POSITIONS, in_place = dot && windows_in_place(p);
  /* Dot products pack nothing and each thread streams only its own rows of W. */
  int threads = dot ? rt_gemm_dot_threads(pool, (double)pairs * (double)p->Mg * (double)j.Kdim)
                    : rt_gemm_threads(pool, macs);
  size_t full_col = p->pointwise ? 0 : rt_align64((size_t)(j.Kdim * p->out_sz) * sizeof(float));
  size_t dot_col = in_place ? 0 : rt_align64((size_t)(j.Kdim * p->out_sz) * sizeof(float));
  j.dot_ld = in_place ? p->w.stride[0] : j.Kdim;
  if (full_col > CONV_COL_BYTES) {
    /* Tiles of about CONV_COL_BYTES of columns, at least CONV_TILE_MIN wide so that
     * packing the weights again per tile stays cheap, in whole register tiles. */
    int64_t w = (int64_t)(CONV_COL_BYTES / sizeof(float)) / j.Kdim;
    if (w < CONV_TILE_MIN) w = CONV_TILE_MIN;
    w = w / 32 * 32;
    j.tiles = (p->out_sz + w - 1) / w;
    j.tile_w = (p->out_sz + j.tiles - 1) / j.tiles;
    j.tile_w = (j.tile_w + 31) / 32 * 32;
    j.tiles = (p->out_sz + j.tile_w - 1) / j.tile_w;
    j.items = pairs * j.tiles;
    j.ranges = j.items < threads ? (int)j.items : threads;
    j.col_bytes = rt_align64((size_t)(j.Kdim * j.tile_w) * sizeof(float));
    j.pack_bytes = rt_align64(rt_sgemm_pack_bytes(p->Mg, j.tile_w, j.Kdim));
    IVM_TRY(rt_scratch_get(call->scratch, (size_t)j.ranges * (j.col_bytes + j.pack_bytes),
                           (void **)&j.mem));
    rt_pool_for(pool, j.ranges, 1, tiles_task, &j);
    return NULL;
  }
  if (threads < 2 || pairs >= 4 * (int64_t)threads || pairs % threads == 0) {
    j.ranges = pairs < threads ? (int)pairs : threads;
    j.dot = dot;
    j.col_bytes = dot ? dot_col : full_col;
    j.pack_bytes = rt_align64(rt_sgemm_pack_bytes(p->Mg, p->out_sz, j.Kdim));
    IVM_TRY(rt_scratch_get(call->scratch, (size_t)j.ranges * (j.col_bytes + j.pack_bytes),
                           (void **)&j.mem));
    rt_pool_for(pool, j.ranges, 1, pairs_task, &j);
    return NULL;
  }
  rt_gemm_split_plan(threads, 1, p->Mg, p->out_sz, j.Kdim, &j.sp);
  j.pack_bytes = rt_gemm_split_pack_bytes(&j.sp);
  size_t bytes;
  if (j.sp.by_rows) {
    j.dot = dot;
    j.col_bytes = dot ? dot_col : full_col;
    bytes = j.col_bytes + (size_t)j.sp.ranges * j.pack_bytes;
  } else {
    int64_t widest = 0;
    for (int64_t pn = 0; pn < j.sp.panels; pn++) {
      int64_t i0, m, c0, n;
      rt_gemm_panel(&j.sp, pn, &i0, &m, &c0, &n);
      if (n > widest) widest = n;
    }
    j.col_bytes = p->pointwise ? 0 : rt_align64((size_t)(j.Kdim * widest) * sizeof(float));
    bytes = (size_t)j.sp.ranges * (j.col_bytes + j.pack_bytes);
  }
  IVM_TRY(rt_scratch_get(call->scratch, bytes, (void **)&j.mem));
  int64_t cgrain = (p->Cg + threads - 1) / threads;
  for (j.n = 0; j.n < p->N; j.n++)
    for (j.g = 0; j.g < p->G; j.g++) {
      if (!j.sp.by_rows) {
        rt_pool_for(pool, j.sp.ranges, 1, col_panels_task, &j);
        continue;
      }
      if (j.dot ? !in_place : !p->pointwise) rt_pool_for(pool, p->Cg, cgrain, im2col_task, &j);
      rt_pool_for(pool, j.sp.ranges, 1, row_panels_task, &j);
    }
  return NULL;
}

static ivm_status conv_f64(const rt_call *call, const conv_plan *p) {
  const double *X = call->in[0]->data, *W = call->in[1]->data;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  const double *Bias = bt ? bt->data : NULL;
  double *Y = call->out[0]->data;
  int64_t Kdim = p->Cg * p->k_sz;
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)(Kdim * p->out_sz) * sizeof(double), &mem));
  double *col = mem;
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t g = 0; g < p->G; g++) {
      im2col_double(p, X + (n * p->C + g * p->Cg) * p->in_sz, col, p->out_sz, 0, p->Cg, 0,
                    p->out_sz);
      double *yg = Y + (n * p->M + g * p->Mg) * p->out_sz;
      const double *wg = W + g * p->Mg * Kdim;
      for (int64_t m = 0; m < p->Mg; m++)
        for (int64_t j = 0; j < p->out_sz; j++) {
          double s = Bias ? Bias[g * p->Mg + m] : 0.0;
          for (int64_t r = 0; r < Kdim; r++) s += wg[m * Kdim + r] * col[r * p->out_sz + j];
          yg[m * p->out_sz + j] = s;
        }
    }
  return NULL;
}

static ivm_status conv_run(const rt_call *call, conv_plan *p) {
  if (p->N == 0 || p->M == 0 || p->out_sz == 0) return NULL;
  switch (call->out[0]->dtype) {
    case IVM_DT_F32:
      /* W in Winograd's layout: only conv_wino.c reads it (inference: 2-D 3x3 stride 1) */
      if (p->trans_w == CONV_W_WINOGRAD) return rt_conv_winograd_f32(call, p);
      if (p->trans_w == CONV_W_NCHW16C || p->trans_w == CONV_W_NCHW16C_HEAD)
        return rt_conv_nchwc_f32(call, p);
      if (rt_conv_depthwise_blocked_ok(p)) return rt_conv_depthwise_blocked_f32(call, p);
      if (rt_conv_depthwise_ok(p)) return rt_conv_depthwise_f32(call, p);
      if (rt_conv_winograd_ok(p)) return rt_conv_winograd_f32(call, p);
      if (rt_conv_direct_ok(p)) return rt_conv_direct_f32(call, p);
      return conv_f32(call, p);
    case IVM_DT_F64: return conv_f64(call, p);
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "Conv: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)call->out[0]->dtype));
  }
}

ivm_status rt_k_Conv(const rt_call *call) {
  conv_plan p;
  IVM_TRY(make_plan(call, 0, &p));
  return conv_run(call, &p);
}

static int same_shape(const rt_tensor *a, const rt_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

ivm_status rt_k_FusedConv(const rt_call *call) {
  conv_plan p;
  /* FusedConv's slots read as Conv's (isa/infer_fused.c) */
  int64_t layout = call->attrs[ISA_A_FusedConv_transW].v.i;
  if (layout < CONV_W_ONNX || layout > CONV_W_WINOGRAD)
    return ivm_error(IVM_ERR_RUNTIME, "FusedConv: transW %lld unknown", (long long)layout);
  int64_t blocked = call->attrs[ISA_A_FusedConv_layout].v.i;
  if (blocked < 0 || blocked > 2 || (blocked && layout != CONV_W_ONNX))
    return ivm_error(IVM_ERR_RUNTIME, "FusedConv: layout %lld unknown", (long long)blocked);
  IVM_TRY(blocked ? make_blocked_plan(call, blocked == 2, &p) : make_plan(call, (int)layout, &p));
  if (call->out[0]->dtype != IVM_DT_F32)
    return ivm_error(IVM_ERR_RUNTIME, "FusedConv: operands must be f32");
  rt_fused_act local;
  const rt_fused_act *fa;
  IVM_TRY(rt_fused_act_of(call, ISA_A_FusedConv_activation, "FusedConv", &local, &fa));
  isa_builtin_op op = fa->op;
  conv_act act = {.fn = NULL, .kind = CONV_ACT_NONE};
  atomic_init(&act.error, NULL);
  const isa_attr *lo = &call->attrs[ISA_A_FusedConv_clip_min];
  const isa_attr *hi = &call->attrs[ISA_A_FusedConv_clip_max];
  act.has_min = lo->present && lo->v.f == lo->v.f; /* NaN: refused by inference */
  act.has_max = hi->present && hi->v.f == hi->v.f;
  act.min = lo->v.f;
  act.max = hi->v.f;
  const isa_attr *sc = &call->attrs[ISA_A_FusedConv_out_scale];
  const isa_attr *sh = &call->attrs[ISA_A_FusedConv_out_shift];
  act.has_scale = sc->present;
  act.has_shift = sh->present;
  act.scale = sc->v.f;
  act.shift = sh->v.f;
  if (op != ISA_OP_COUNT) {
    act.fn = rt_builtin_kernel(op);
    memcpy(act.attrs, fa->attrs, sizeof act.attrs);
    act.kind = op == ISA_OP_Relu        ? CONV_ACT_RELU
               : op == ISA_OP_LeakyRelu ? CONV_ACT_LEAKY_RELU
               : op == ISA_OP_HardSwish ? CONV_ACT_HARD_SWISH
                                        : CONV_ACT_CALL;
    act.alpha = op == ISA_OP_LeakyRelu ? act.attrs[ISA_A_LeakyRelu_alpha].v.f : 0.0f;
  }
  const rt_tensor *zt = call->n_in > 3 ? call->in[3] : NULL;
  if (zt) {
    if (zt->dtype != IVM_DT_F32 || !same_shape(zt, call->out[0]))
      return ivm_error(IVM_ERR_RUNTIME, "FusedConv: Z must be f32 of Y's shape");
    act.z = zt->data;
    act.y = call->out[0]->data;
  }
  if (act.fn || act.has_min || act.has_max || act.has_scale || act.has_shift || act.z)
    p.act = &act;
  IVM_TRY(conv_run(call, &p));
  return p.act ? atomic_load(&act.error) : NULL;
}
