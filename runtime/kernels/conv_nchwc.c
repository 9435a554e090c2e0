/* Conv in the channel-blocked layout (FusedConv layout 1, "NCHW16c"), f32, 2-D: dense
 * (group 1) and depthwise (one channel per group).
 *
 * X, Y and Z are [N][C / 16][H][W][16]: a vector is the 16 channels of one position, so
 * every lane is useful whatever the plane's width and nothing is transposed. W comes in
 * the layouts rt_conv_nchwc_weights packs (conv.h).
 *
 * Dense (oneDNN's design): output channels in lanes. A register tile is 1-3 blocks of 16
 * output channels x up to 24 / 12 / 8 consecutive output positions along a row; each step
 * (input block, tap, input lane) loads one weight vector per block and broadcasts one
 * input float per position (strided addresses for stride > 1), nb * r FMAs. Every output
 * is 0 + bias, then the products in (input block, tap row, tap column, input lane) order
 * in one register, whichever tile or thread computes it: the same bits for any thread
 * count. A 1x1 stride-1 conv with no pads runs over the plane flattened into one row,
 * cut into chunks whose inputs stay in L2 while every group of output blocks sweeps
 * them. Pads (or a window past the input) take a zero-padded copy of X, plain row
 * copies in this layout; without them the taps read X in place.
 *
 * A chain's head (trans_w CONV_W_NCHW16C_HEAD) reads X as ONNX has it, NCHW with any
 * channel count (an image's 3), and writes Y blocked, so no reorder of the input is
 * needed: the same tiles with the input lanes generalised, all C channels one "block"
 * whose lanes are a plane apart (layout 1's stay 16 adjacent floats, a compile-time
 * constant), positions stride floats apart, W [M/16][tap][C][16 out] so a step still loads
 * one weight vector per output block. Sums go 0 + bias, then (tap row, tap column,
 * channel). Without pads X is read in place (a 1x1 flattened and chunked as above); with
 * them a range copies the rows a band of output rows reads, zero-padded, channel by
 * channel into a buffer that stays in L2 (a full padded copy of a 640 x 640 image would
 * go through memory).
 *
 * Depthwise: one vector per position; a tile is 16 positions along an output row, 16
 * accumulators, and each tap a weight vector and 16 input loads sw * 16 floats apart, as
 * conv_dwc.c's compute() but reading and writing the blocked layout directly. Rows of 5
 * tiles or more (3 when strided) read X in place, except tiles whose window reaches the
 * padding, which read a zero-padded copy of just that window; narrower rows copy each
 * block in bands of rows (at most 256 KiB, so they stay in L2) into a zero-padded
 * buffer. The sum is 0 + bias then one FMA per tap in row-major tap order, a padding tap
 * adding w * 0: the bits of the NCHW depthwise kernels on AVX-512.
 *
 * FusedConv's epilogue (conv_act) is applied as a tile is stored where its activation
 * runs in registers (Z added there first, as Add rounds it); an activation called through
 * its kernel (CONV_ACT_CALL) goes through rt_conv_activate on each stored row segment.
 * Without AVX-512 (the AVX-512 matrix kernel not in use, or not x86-64) a portable loop
 * computes the same sums in the same order, each product and sum rounded apart. */
#include <string.h>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm_par.h"

int rt_conv_nchwc_ok(const conv_plan *p) {
  if (p->trans_w == CONV_W_NCHW16C_HEAD)
    return p->w.n == 2 && p->N >= 0 && p->C > 0 && p->M > 0 && p->M % CONV_BLOCK == 0 &&
           p->G == 1 && p->Cg == p->C;
  return p->w.n == 2 && p->N >= 0 && p->C > 0 && p->M > 0 && p->C % CONV_BLOCK == 0 &&
         p->M % CONV_BLOCK == 0 &&
         ((p->G == 1 && p->Cg == p->C) || (p->G == p->C && p->G == p->M && p->Cg == 1));
}

void rt_conv_nchwc_weights(const float *W, int64_t M, int64_t Cg, int64_t G, int64_t k_sz,
                           float *out) {
  const int64_t B = CONV_BLOCK;
  if (G == 1) { /* [M/16][C/16][tap][16 in][16 out] */
    for (int64_t ob = 0; ob < M / B; ob++)
      for (int64_t cb = 0; cb < Cg / B; cb++)
        for (int64_t t = 0; t < k_sz; t++)
          for (int64_t i = 0; i < B; i++)
            for (int64_t o = 0; o < B; o++)
              *out++ = W[((ob * B + o) * Cg + cb * B + i) * k_sz + t];
  } else { /* [C/16][tap][16] */
    for (int64_t cb = 0; cb < M / B; cb++)
      for (int64_t t = 0; t < k_sz; t++)
        for (int64_t c = 0; c < B; c++) *out++ = W[(cb * B + c) * k_sz + t];
  }
}

void rt_conv_nchwc_head_weights(const float *W, int64_t M, int64_t C, int64_t k_sz, float *out) {
  const int64_t B = CONV_BLOCK; /* [M/16][tap][C][16 out] */
  for (int64_t ob = 0; ob < M / B; ob++)
    for (int64_t t = 0; t < k_sz; t++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t o = 0; o < B; o++) *out++ = W[((ob * B + o) * C + c) * k_sz + t];
}

typedef struct nc_job {
  const conv_plan *p;
  const float *X, *W, *B;
  float *Y;
  int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t C16, M16, taps; /* the head: C16 1 (one "block" of all p->C channels) */
  int head;                /* p->trans_w CONV_W_NCHW16C_HEAD: X NCHW */
  /* The taps' source: X itself (srows = ih, scols = iw) or a zero-padded copy whose
   * (r, q) is input (r - pt, q - pl); blocks srows * scols positions apart. */
  const float *src;
  int64_t srows, scols;
  int flat;                      /* dense: the plane as one row of oh * ow positions */
  int64_t rows, len, chunk, chunks; /* dense: rows of len positions, in chunks */
  int inplace;                   /* depthwise: taps read X (cols: a tile's window width) */
  int64_t band, bands, cols;     /* depthwise, padded head: output rows per band, buffer width */
  int64_t units;
  int ranges;
  size_t buf_bytes; /* depthwise, padded head: one band buffer (or window copy) per range */
  void (*band_unit)(const struct nc_job *j, int64_t u, float *buf); /* for band_task */
  char *mem;
} nc_job;

/* ---- portable path ------------------------------------------------------------------- */

/* Dense: output row oy of block ob of image n; taps in the padding skipped. */
static void dense_row_c(const nc_job *j, int64_t n, int64_t ob, int64_t oy) {
  const conv_plan *p = j->p;
  float *y = j->Y + (((n * j->M16 + ob) * j->oh + oy) * j->ow) * 16;
  for (int64_t ox = 0; ox < j->ow; ox++) {
    float acc[16];
    for (int o = 0; o < 16; o++) acc[o] = 0.0f + (j->B ? j->B[ob * 16 + o] : 0.0f);
    for (int64_t cb = 0; cb < j->C16; cb++) {
      const float *x = j->X + (n * j->C16 + cb) * j->ih * j->iw * 16;
      const float *w = j->W + (ob * j->C16 + cb) * j->taps * 256;
      for (int64_t ky = 0; ky < j->kh; ky++) {
        int64_t iy = oy * j->sh + ky * j->dh - j->pt;
        for (int64_t kx = 0; kx < j->kw; kx++) {
          int64_t ix = ox * j->sw + kx * j->dw - j->pl;
          if (iy < 0 || iy >= j->ih || ix < 0 || ix >= j->iw) continue;
          const float *xp = x + (iy * j->iw + ix) * 16, *wp = w + (ky * j->kw + kx) * 256;
          for (int i = 0; i < 16; i++)
            for (int o = 0; o < 16; o++) acc[o] += wp[i * 16 + o] * xp[i];
        }
      }
    }
    memcpy(y + ox * 16, acc, sizeof acc);
  }
  rt_conv_activate(p, y, j->ow * 16);
}

/* The head (X NCHW): output row oy of block ob of image n, products in (tap row, tap
 * column, channel) order, taps in the padding skipped. */
static void head_row_c(const nc_job *j, int64_t n, int64_t ob, int64_t oy) {
  const conv_plan *p = j->p;
  const int64_t C = p->C, plane = j->ih * j->iw;
  const float *x = j->X + n * C * plane, *w = j->W + ob * j->taps * C * 16;
  float *y = j->Y + (((n * j->M16 + ob) * j->oh + oy) * j->ow) * 16;
  for (int64_t ox = 0; ox < j->ow; ox++) {
    float acc[16];
    for (int o = 0; o < 16; o++) acc[o] = 0.0f + (j->B ? j->B[ob * 16 + o] : 0.0f);
    for (int64_t ky = 0; ky < j->kh; ky++) {
      int64_t iy = oy * j->sh + ky * j->dh - j->pt;
      for (int64_t kx = 0; kx < j->kw; kx++) {
        int64_t ix = ox * j->sw + kx * j->dw - j->pl;
        if (iy < 0 || iy >= j->ih || ix < 0 || ix >= j->iw) continue;
        const float *xp = x + iy * j->iw + ix, *wp = w + (ky * j->kw + kx) * C * 16;
        for (int64_t c = 0; c < C; c++)
          for (int o = 0; o < 16; o++) acc[o] += wp[c * 16 + o] * xp[c * plane];
      }
    }
    memcpy(y + ox * 16, acc, sizeof acc);
  }
  rt_conv_activate(p, y, j->ow * 16);
}

/* Depthwise: output row oy of block cb of image n, 0 + bias then a product per tap in
 * order (w * 0 in the padding). */
static void depthwise_row_c(const nc_job *j, int64_t n, int64_t cb, int64_t oy) {
  const float *x = j->X + (n * j->C16 + cb) * j->ih * j->iw * 16;
  const float *w = j->W + cb * j->taps * 16;
  float *y = j->Y + (((n * j->C16 + cb) * j->oh + oy) * j->ow) * 16;
  for (int64_t ox = 0; ox < j->ow; ox++) {
    float acc[16];
    for (int c = 0; c < 16; c++) acc[c] = 0.0f + (j->B ? j->B[cb * 16 + c] : 0.0f);
    for (int64_t ky = 0; ky < j->kh; ky++) {
      int64_t iy = oy * j->sh + ky * j->dh - j->pt;
      for (int64_t kx = 0; kx < j->kw; kx++) {
        int64_t ix = ox * j->sw + kx * j->dw - j->pl;
        const float *wp = w + (ky * j->kw + kx) * 16;
        if (iy < 0 || iy >= j->ih || ix < 0 || ix >= j->iw) {
          for (int c = 0; c < 16; c++) acc[c] += wp[c] * 0.0f;
          continue;
        }
        const float *xp = x + (iy * j->iw + ix) * 16;
        for (int c = 0; c < 16; c++) acc[c] += wp[c] * xp[c];
      }
    }
    memcpy(y + ox * 16, acc, sizeof acc);
  }
  rt_conv_activate(j->p, y, j->ow * 16);
}

/* Units: rows of output blocks, (image, block, row). */
static void portable_task(void *vjob, int64_t r0, int64_t r1) {
  const nc_job *j = vjob;
  int dense = j->p->G == 1;
  int64_t blocks = dense ? j->M16 : j->C16;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t u = r * j->units / j->ranges; u < (r + 1) * j->units / j->ranges; u++) {
      int64_t oy = u % j->oh, b = u / j->oh % blocks, n = u / j->oh / blocks;
      if (j->head) head_row_c(j, n, b, oy);
      else if (dense) dense_row_c(j, n, b, oy);
      else depthwise_row_c(j, n, b, oy);
    }
}

static ivm_status run_portable(const rt_call *call, nc_job *j) {
  const conv_plan *p = j->p;
  j->units = p->N * (p->G == 1 ? j->M16 : j->C16) * j->oh;
  double macs = (double)p->N * (double)p->M * (double)(j->oh * j->ow) * (double)(p->Cg * j->taps);
  rt_pool *pool = rt_call_pool(call);
  int threads = rt_gemm_threads(pool, p->G == 1 ? macs : 4.0 * macs);
  j->ranges = (int)(j->units < threads ? j->units : threads);
  rt_pool_for(j->ranges > 1 ? pool : NULL, j->ranges, 1, portable_task, j);
  return NULL;
}

/* ---- AVX-512 path -------------------------------------------------------------------- */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "runtime/kernels/conv_act512.h"

#define NC_FN CONV512_FN
#define NC_INLINE CONV512_FN static inline __attribute__((always_inline))
/* Positions per tile for 1, 2, 3 blocks of output channels: 24 accumulators, the weight
 * vectors and a broadcast within the 32 registers. */
#define NC_R1 24
#define NC_R2 12
#define NC_R3 8
#define NC_BAND_BYTES (256 * 1024) /* depthwise band buffer: stays in L2 */
#define NC_CHUNK_BYTES (96 * 1024) /* flattened 1x1: inputs of one chunk */
#define NC_RUNS_PER_THREAD 4
/* Depthwise rows of at least this many 16-position tiles read X in place (tiles whose
 * window reaches the padding through a small zero-padded copy of it); narrower rows take
 * the padded band copy, whose cost per output a stride multiplies. Measured on
 * ppocr_v4_det's shapes, in place / band: stride 1 0.9x on 320 and 160 outputs a row, 1.0x
 * on 80, 1.2x on 40 and 20; stride 2 0.65-0.8x on 160, 80 and 40, 1.1x on 20. */
#define NC_DW_INPLACE_TILES 5
#define NC_DW_INPLACE_TILES_STRIDED 3
#define NC_DW_INPLACE_BAND 8

/* Rows [r0, r0 + nrows) of a padded copy of one plane x (ih x iw positions of e floats:
 * 16, a block, or 1, an NCHW channel) into dst, `cols` positions wide: (r, q) holds input
 * (r - pt, q - pl), zero outside (pt and pl may be negative: a window inside the plane). */
static inline void fill_rows_e(int64_t e, const float *x, int64_t ih, int64_t iw, int64_t pt,
                               int64_t pl, int64_t r0, int64_t nrows, int64_t cols, float *dst) {
  int64_t q0 = pl < 0 ? 0 : pl < cols ? pl : cols;
  int64_t q1 = pl + iw < cols ? pl + iw : cols;
  if (q1 < q0) q1 = q0;
  for (int64_t r = 0; r < nrows; r++, dst += cols * e) {
    int64_t iy = r0 + r - pt;
    if (iy < 0 || iy >= ih) {
      memset(dst, 0, (size_t)(cols * e) * sizeof(float));
      continue;
    }
    memset(dst, 0, (size_t)(q0 * e) * sizeof(float));
    if (q1 > q0)
      memcpy(dst + q0 * e, x + (iy * iw + q0 - pl) * e, (size_t)((q1 - q0) * e) * sizeof(float));
    memset(dst + q1 * e, 0, (size_t)((cols - q1) * e) * sizeof(float));
  }
}

static void fill_rows(const float *x, int64_t ih, int64_t iw, int64_t pt, int64_t pl,
                      int64_t r0, int64_t nrows, int64_t cols, float *dst) {
  fill_rows_e(16, x, ih, iw, pt, pl, r0, nrows, cols, dst);
}

/* Whether the epilogue runs in registers (Z, if any, added there first). */
static int reg_act(const conv_plan *p) { return p->act && p->act->kind != CONV_ACT_CALL; }

typedef struct nc_tile_args {
  const float *x;       /* tap (0, 0) of the tile's first position, input block 0 */
  const float *w;       /* the first output block's weights, input block 0, tap 0 */
  const float *b;       /* bias of the first output block; NULL: none */
  float *y;             /* the first position of the first output block */
  const float *z;       /* Z at y's place; NULL: none */
  const conv_act *act;  /* the epilogue in registers; NULL: none */
  int64_t C16, kh, kw;
  int64_t x_cb, x_pos, x_ky, x_kx; /* floats between input blocks, positions, tap rows / columns */
  int64_t lanes, x_lane; /* the head: channels (input lanes) and floats between them */
  int64_t w_ob, y_ob;   /* floats between output blocks in W and in Y */
} nc_tile_args;

/* nb blocks x r positions; s: the position step in floats when a constant (16 * stride,
 * the head: stride), else 0 (a->x_pos); L: 16, the input lanes of a block, adjacent
 * (layout 1), or 0, the head's a->lanes channels a->x_lane floats apart, one block. The
 * unroll pragmas keep the accumulators in registers: without them GCC left the loops of
 * the wider tiles rolled, accumulators in memory (1-block 3x3 tiles ran 1.6x slower). */
NC_INLINE void nc_tile(int nb, int r, int s, int L, const nc_tile_args *a) {
  __m512 acc[3][NC_R1];
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 3
  for (int b = 0; b < nb; b++) {
    __m512 bias = _mm512_add_ps(zero, a->b ? _mm512_loadu_ps(a->b + b * 16) : zero);
#pragma GCC unroll 24
    for (int i = 0; i < r; i++) acc[b][i] = bias;
  }
  const int64_t xs = s ? s : a->x_pos, w_ob = a->w_ob;
  const float *x = a->x, *w = a->w;
  if (L) {
    for (int64_t cb = 0; cb < a->C16; cb++, x += a->x_cb)
      for (int64_t ky = 0; ky < a->kh; ky++)
        for (int64_t kx = 0; kx < a->kw; kx++, w += 256) {
          const float *xp = x + ky * a->x_ky + kx * a->x_kx;
#pragma GCC unroll 2
          for (int l = 0; l < 16; l++) {
            __m512 wv[3];
#pragma GCC unroll 3
            for (int b = 0; b < nb; b++) wv[b] = _mm512_loadu_ps(w + b * w_ob + l * 16);
#pragma GCC unroll 24
            for (int i = 0; i < r; i++) {
              __m512 xv = _mm512_set1_ps(xp[i * xs + l]);
#pragma GCC unroll 3
              for (int b = 0; b < nb; b++) acc[b][i] = _mm512_fmadd_ps(wv[b], xv, acc[b][i]);
            }
          }
        }
  } else {
    const int64_t lanes = a->lanes, x_lane = a->x_lane;
    for (int64_t ky = 0; ky < a->kh; ky++)
      for (int64_t kx = 0; kx < a->kw; kx++) {
        const float *xp = x + ky * a->x_ky + kx * a->x_kx;
#pragma GCC unroll 1
        for (int64_t l = 0; l < lanes; l++, xp += x_lane, w += 16) {
          __m512 wv[3];
#pragma GCC unroll 3
          for (int b = 0; b < nb; b++) wv[b] = _mm512_loadu_ps(w + b * w_ob);
#pragma GCC unroll 24
          for (int i = 0; i < r; i++) {
            __m512 xv = _mm512_set1_ps(xp[i * xs]);
#pragma GCC unroll 3
            for (int b = 0; b < nb; b++) acc[b][i] = _mm512_fmadd_ps(wv[b], xv, acc[b][i]);
          }
        }
      }
  }
#pragma GCC unroll 3
  for (int b = 0; b < nb; b++)
#pragma GCC unroll 24
    for (int i = 0; i < r; i++) {
      __m512 v = acc[b][i];
      if (a->z) v = _mm512_add_ps(v, _mm512_loadu_ps(a->z + b * a->y_ob + i * 16));
      if (a->act) v = conv512_activate(a->act, v);
      _mm512_storeu_ps(a->y + b * a->y_ob + i * 16, v);
    }
}

typedef void (*nc_tile_fn)(const nc_tile_args *a);
#define NC_TILE(nb, r)                                                                     \
  NC_FN static void nc_tile_##nb##_##r(const nc_tile_args *a) {                            \
    if (a->x_pos == 16) nc_tile(nb, r, 16, 16, a);                                         \
    else if (a->x_pos == 32) nc_tile(nb, r, 32, 16, a);                                    \
    else nc_tile(nb, r, 0, 16, a);                                                         \
  }                                                                                        \
  NC_FN static void nc_head_##nb##_##r(const nc_tile_args *a) {                            \
    if (a->x_pos == 1) nc_tile(nb, r, 1, 0, a);                                            \
    else if (a->x_pos == 2) nc_tile(nb, r, 2, 0, a);                                       \
    else nc_tile(nb, r, 0, 0, a);                                                          \
  }
#define NC_TILES8(nb) NC_TILE(nb, 1) NC_TILE(nb, 2) NC_TILE(nb, 3) NC_TILE(nb, 4)          \
  NC_TILE(nb, 5) NC_TILE(nb, 6) NC_TILE(nb, 7) NC_TILE(nb, 8)
NC_TILES8(1) NC_TILES8(2) NC_TILES8(3)
NC_TILE(1, 9) NC_TILE(1, 10) NC_TILE(1, 11) NC_TILE(1, 12) NC_TILE(1, 13) NC_TILE(1, 14)
NC_TILE(1, 15) NC_TILE(1, 16) NC_TILE(1, 17) NC_TILE(1, 18) NC_TILE(1, 19) NC_TILE(1, 20)
NC_TILE(1, 21) NC_TILE(1, 22) NC_TILE(1, 23) NC_TILE(1, 24)
NC_TILE(2, 9) NC_TILE(2, 10) NC_TILE(2, 11) NC_TILE(2, 12)
#define NC_ROW8(f, nb) f##nb##_1, f##nb##_2, f##nb##_3, f##nb##_4, f##nb##_5, f##nb##_6, \
  f##nb##_7, f##nb##_8
/* [layout 1, head][nb - 1][r] */
static const nc_tile_fn nc_tiles1[2][NC_R1 + 1] = {
    {NULL, NC_ROW8(nc_tile_, 1), nc_tile_1_9, nc_tile_1_10, nc_tile_1_11, nc_tile_1_12,
     nc_tile_1_13, nc_tile_1_14, nc_tile_1_15, nc_tile_1_16, nc_tile_1_17, nc_tile_1_18,
     nc_tile_1_19, nc_tile_1_20, nc_tile_1_21, nc_tile_1_22, nc_tile_1_23, nc_tile_1_24},
    {NULL, NC_ROW8(nc_head_, 1), nc_head_1_9, nc_head_1_10, nc_head_1_11, nc_head_1_12,
     nc_head_1_13, nc_head_1_14, nc_head_1_15, nc_head_1_16, nc_head_1_17, nc_head_1_18,
     nc_head_1_19, nc_head_1_20, nc_head_1_21, nc_head_1_22, nc_head_1_23, nc_head_1_24}};
static const nc_tile_fn nc_tiles2[2][NC_R2 + 1] = {
    {NULL, NC_ROW8(nc_tile_, 2), nc_tile_2_9, nc_tile_2_10, nc_tile_2_11, nc_tile_2_12},
    {NULL, NC_ROW8(nc_head_, 2), nc_head_2_9, nc_head_2_10, nc_head_2_11, nc_head_2_12}};
static const nc_tile_fn nc_tiles3[2][NC_R3 + 1] = {{NULL, NC_ROW8(nc_tile_, 3)},
                                                   {NULL, NC_ROW8(nc_head_, 3)}};

/* Positions [0, len) from the tile arguments' x and y on (a row, a chunk of the flattened
 * plane, of image n), every output block; a holds the geometry, x and y0 (the first
 * position's offset in a block of Y) where the run starts. */
static inline void nc_sweep(const nc_job *j, nc_tile_args *a, int64_t n, const float *x0,
                            int64_t y0, int64_t len) {
  const conv_plan *p = j->p;
  int in_regs = reg_act(p);
  for (int64_t ob = 0; ob < j->M16;) {
    int64_t left = j->M16 - ob;
    int nb = left == 1 ? 1 : left == 3 ? 3 : 2;
    int rmax = nb == 1 ? NC_R1 : nb == 2 ? NC_R2 : NC_R3;
    const nc_tile_fn *tiles = nb == 1 ? nc_tiles1[j->head] : nb == 2 ? nc_tiles2[j->head]
                                                                      : nc_tiles3[j->head];
    float *y = j->Y + (n * j->M16 + ob) * a->y_ob + y0;
    a->w = j->W + ob * a->w_ob;
    a->b = j->B ? j->B + ob * 16 : NULL;
    for (int64_t x = 0; x < len;) {
      int r = len - x < rmax ? (int)(len - x) : rmax;
      a->x = x0 + x * a->x_pos;
      a->y = y + x * 16;
      a->z = in_regs && p->act->z ? p->act->z + (a->y - p->act->y) : NULL;
      tiles[r](a);
      x += r;
    }
    if (p->act && !in_regs)
      for (int b = 0; b < nb; b++) rt_conv_activate(p, y + b * a->y_ob, len * 16);
    ob += nb;
  }
}

/* Dense unit u: one chunk of one row of one image, for every output block; the source
 * (X or its padded copy) blocked, or the head's X in place, its positions e = 1 float
 * each and channels a plane apart. Either way an image is p->C * srows * scols floats
 * and an output block's weights p->C * taps * 16. */
static void dense_unit(const nc_job *j, int64_t u) {
  const conv_plan *p = j->p;
  int64_t per_image = j->rows * j->chunks;
  int64_t n = u / per_image, row = u % per_image / j->chunks, c = u % j->chunks;
  int64_t x0 = c * j->chunk, x1 = x0 + j->chunk < j->len ? x0 + j->chunk : j->len;
  const int64_t e = j->head ? 1 : 16, plane = j->srows * j->scols * e;
  nc_tile_args a = {.act = reg_act(p) ? p->act : NULL, .C16 = j->C16, .kh = j->kh,
                    .kw = j->kw, .x_cb = plane, .x_pos = (j->flat ? 1 : j->sw) * e,
                    .x_ky = j->dh * (j->flat ? j->iw : j->scols) * e, .x_kx = j->dw * e,
                    .lanes = p->C, .x_lane = plane, .w_ob = p->C * j->taps * 16,
                    .y_ob = j->oh * j->ow * 16};
  const float *src = j->src + n * p->C * j->srows * j->scols;
  /* the chunk's first position: in the source and in a block of Y */
  const float *xs0 = src + (j->flat ? x0 : row * j->sh * j->scols + x0 * j->sw) * e;
  int64_t y0 = (j->flat ? x0 : row * j->ow + x0) * 16;
  nc_sweep(j, &a, n, xs0, y0, x1 - x0);
}

static void dense_task(void *vjob, int64_t r0, int64_t r1) {
  const nc_job *j = vjob;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t u = r * j->units / j->ranges; u < (r + 1) * j->units / j->ranges; u++)
      dense_unit(j, u);
}

/* Dense units over j->src: output rows, or (a 1x1 stride-1 conv read in place) the plane
 * flattened into one row cut into chunks whose inputs stay in L2; contiguous runs of
 * units per range. */
static void sweep_rows(nc_job *j, rt_pool *pool, int threads, int may_flatten) {
  const conv_plan *p = j->p;
  j->flat = may_flatten && j->kw == 1 && j->sh == 1 && j->sw == 1 && j->ow == j->iw;
  if (j->flat) {
    j->rows = 1;
    j->len = j->oh * j->ow;
    int64_t chunk = NC_CHUNK_BYTES / (p->C * (int64_t)sizeof(float)) / 24 * 24;
    j->chunk = chunk < 24 ? 24 : chunk;
  } else {
    j->rows = j->oh;
    j->len = j->ow;
    j->chunk = j->ow;
  }
  j->chunks = (j->len + j->chunk - 1) / j->chunk;
  j->units = p->N * j->rows * j->chunks;
  int64_t runs = (int64_t)NC_RUNS_PER_THREAD * threads;
  j->ranges = (int)(threads == 1 ? 1 : j->units < runs ? j->units : runs);
  rt_pool_for(j->ranges > 1 ? pool : NULL, j->ranges, 1, dense_task, j);
}

/* The padded copy of blocks [b0, b1) over the batch. */
static void pad_task(void *vjob, int64_t b0, int64_t b1) {
  const nc_job *j = vjob;
  int64_t plane = j->srows * j->scols * 16;
  for (int64_t b = b0; b < b1; b++)
    fill_rows(j->X + b * j->ih * j->iw * 16, j->ih, j->iw, j->pt, j->pl, 0, j->srows, j->scols,
              (float *)j->src + b * plane);
}

static ivm_status run_dense(const rt_call *call, nc_job *j) {
  const conv_plan *p = j->p;
  /* the rows and columns the taps reach */
  int64_t rows = (j->oh - 1) * j->sh + (j->kh - 1) * j->dh + 1;
  int64_t cols = (j->ow - 1) * j->sw + (j->kw - 1) * j->dw + 1;
  int inplace = j->pt == 0 && j->pl == 0 && rows <= j->ih && cols <= j->iw;
  rt_pool *pool = rt_call_pool(call);
  double macs = (double)p->N * (double)p->M * (double)(j->oh * j->ow) * (double)(p->C * j->taps);
  int threads = rt_gemm_threads(pool, macs);
  if (inplace) {
    j->src = j->X;
    j->srows = j->ih;
    j->scols = j->iw;
  } else {
    float *buf;
    size_t bytes = (size_t)(p->N * j->C16 * rows * cols * 16) * sizeof(float);
    IVM_TRY(rt_scratch_get(call->scratch, bytes, (void **)&buf));
    j->src = buf;
    j->srows = rows;
    j->scols = cols;
    int64_t blocks = p->N * j->C16;
    rt_pool_for(threads > 1 ? pool : NULL, blocks, (blocks + threads - 1) / threads, pad_task, j);
  }
  sweep_rows(j, pool, threads, inplace);
  return NULL;
}

/* The head with pads, unit u: one band of output rows of image n, from a zero-padded copy
 * of the rows of each channel the band reads (buf: [channel][row][j->cols]). */
static void head_band_unit(const nc_job *j, int64_t u, float *buf) {
  const conv_plan *p = j->p;
  int64_t band = u % j->bands, n = u / j->bands;
  int64_t oy0 = band * j->band, oy1 = oy0 + j->band < j->oh ? oy0 + j->band : j->oh;
  int64_t nrows = (oy1 - oy0 - 1) * j->sh + (j->kh - 1) * j->dh + 1, plane = nrows * j->cols;
  for (int64_t c = 0; c < p->C; c++)
    fill_rows_e(1, j->X + (n * p->C + c) * j->ih * j->iw, j->ih, j->iw, j->pt, j->pl,
                oy0 * j->sh, nrows, j->cols, buf + c * plane);
  nc_tile_args a = {.act = reg_act(p) ? p->act : NULL, .C16 = 1, .kh = j->kh, .kw = j->kw,
                    .x_pos = j->sw, .x_ky = j->dh * j->cols, .x_kx = j->dw, .lanes = p->C,
                    .x_lane = plane, .w_ob = p->C * j->taps * 16, .y_ob = j->oh * j->ow * 16};
  for (int64_t oy = oy0; oy < oy1; oy++)
    nc_sweep(j, &a, n, buf + (oy - oy0) * j->sh * j->cols, oy * j->ow * 16, j->ow);
}

/* Ranges of units that each need a buffer (buf_bytes per range): j->band_unit's. */
static void band_task(void *vjob, int64_t r0, int64_t r1) {
  const nc_job *j = vjob;
  for (int64_t r = r0; r < r1; r++) {
    float *buf = (float *)(j->mem + (size_t)r * j->buf_bytes);
    for (int64_t u = r * j->units / j->ranges; u < (r + 1) * j->units / j->ranges; u++)
      j->band_unit(j, u, buf);
  }
}

/* The head: X (NCHW) read in place as layout 1 reads its blocks where no pads are needed
 * (dense_unit), else bands of output rows from padded copies of their rows that stay in
 * L2. */
static ivm_status run_head(const rt_call *call, nc_job *j) {
  const conv_plan *p = j->p;
  int64_t reach = (j->kh - 1) * j->dh + 1; /* input rows of one output row */
  int64_t rows = (j->oh - 1) * j->sh + reach;
  int64_t cols = (j->ow - 1) * j->sw + (j->kw - 1) * j->dw + 1;
  rt_pool *pool = rt_call_pool(call);
  double macs = (double)p->N * (double)p->M * (double)(j->oh * j->ow) * (double)(p->C * j->taps);
  int threads = rt_gemm_threads(pool, macs);
  if (j->pt == 0 && j->pl == 0 && rows <= j->ih && cols <= j->iw) {
    j->src = j->X;
    j->srows = j->ih;
    j->scols = j->iw;
    sweep_rows(j, pool, threads, 1);
    return NULL;
  }
  j->cols = cols;
  int64_t row_bytes = p->C * cols * (int64_t)sizeof(float); /* a padded row of every channel */
  int64_t fit = NC_BAND_BYTES / row_bytes;
  j->band = fit <= reach ? 1 : (fit - reach) / j->sh + 1;
  if (j->band > j->oh) j->band = j->oh;
  /* bands of even heights, at least one per thread, a multiple of the threads per image */
  int64_t per_image = (threads + p->N - 1) / p->N, bands = (j->oh + j->band - 1) / j->band;
  bands = (bands + per_image - 1) / per_image * per_image;
  j->band = (j->oh + bands - 1) / bands;
  j->bands = (j->oh + j->band - 1) / j->band;
  j->units = p->N * j->bands;
  j->ranges = (int)(j->units < threads ? j->units : threads);
  j->buf_bytes = rt_align64((size_t)(((j->band - 1) * j->sh + reach) * row_bytes));
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)j->ranges * j->buf_bytes, (void **)&j->mem));
  j->band_unit = head_band_unit;
  rt_pool_for(j->ranges > 1 ? pool : NULL, j->ranges, 1, band_task, j);
  return NULL;
}

/* Depthwise: the epilogue and store of 16 accumulators, positions [ox, ox + 16) of a row
 * of ow (those below ow). */
NC_INLINE void dw_store(const nc_job *j, __m512 *acc, int64_t ox, float *y, const float *z,
                        const conv_act *act) {
  int64_t valid = j->ow - ox;
#pragma GCC unroll 16
  for (int i = 0; i < 16; i++) { /* constant indices: acc stays in registers */
    if (i >= valid) break;
    __m512 v = acc[i];
    if (z) v = _mm512_add_ps(v, _mm512_loadu_ps(z + (ox + i) * 16));
    if (act) v = conv512_activate(act, v);
    _mm512_storeu_ps(y + (ox + i) * 16, v);
  }
}

/* Depthwise: 16 positions' sums over the taps, read from src (tap (0, 0) of the first
 * position) with rows `pitch` floats apart; s: the position step when a constant (16 *
 * stride), else 0. */
NC_INLINE void dw_taps(const nc_job *j, int s, const float *src, int64_t pitch,
                       const float *wt, __m512 *acc) {
  const int64_t step = s ? s : j->sw * 16;
  const float *w = wt;
  for (int64_t ky = 0; ky < j->kh; ky++)
    for (int64_t kx = 0; kx < j->kw; kx++, w += 16) {
      const float *sp = src + ky * j->dh * pitch + kx * j->dw * 16;
      __m512 wv = _mm512_loadu_ps(w);
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++)
        acc[i] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(sp + i * step), acc[i]);
    }
}

/* Depthwise from the padded band buffer: output row oy, whose first tap row is buffer
 * row brow. */
NC_INLINE void dw_row(const nc_job *j, int s, const float *buf, int64_t brow, const float *wt,
                      __m512 bias, float *y, const float *z, const conv_act *act, float *strip) {
  (void)strip;
  for (int64_t ox = 0; ox < j->ow; ox += 16) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = bias;
    dw_taps(j, s, buf + (brow * j->cols + ox * j->sw) * 16, j->cols * 16, wt, acc);
    dw_store(j, acc, ox, y, z, act);
  }
}

/* Depthwise reading the block's plane x in place, output row oy: a tile whose taps all lie
 * inside reads x itself; any other takes a zero-padded copy of the window it reads
 * (strip: reach rows of j->cols positions), so every sum is the padded buffer's. */
NC_INLINE void dw_row_x(const nc_job *j, int s, const float *x, int64_t oy, const float *wt,
                        __m512 bias, float *y, const float *z, const conv_act *act,
                        float *strip) {
  const int64_t sw = s ? s / 16 : j->sw;
  const int64_t reach = (j->kh - 1) * j->dh + 1, iy0 = oy * j->sh - j->pt;
  const int rows_inside = iy0 >= 0 && iy0 + reach <= j->ih;
  for (int64_t ox = 0; ox < j->ow; ox += 16) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = bias;
    int64_t c0 = ox * sw - j->pl; /* input column of position ox under tap column 0 */
    if (rows_inside && c0 >= 0 && c0 + j->cols <= j->iw) {
      dw_taps(j, s, x + (iy0 * j->iw + c0) * 16, j->iw * 16, wt, acc);
    } else {
      fill_rows(x, j->ih, j->iw, -iy0, -c0, 0, reach, j->cols, strip);
      dw_taps(j, s, strip, j->cols * 16, wt, acc);
    }
    dw_store(j, acc, ox, y, z, act);
  }
}

typedef void (*dw_row_fn)(const nc_job *j, const float *src, int64_t row, const float *wt,
                          __m512 bias, float *y, const float *z, const conv_act *act,
                          float *strip);
#define DW_ROWS(name, s)                                                                   \
  NC_FN static void dw_buf_##name(const nc_job *j, const float *src, int64_t row,          \
                                  const float *wt, __m512 bias, float *y, const float *z,  \
                                  const conv_act *act, float *strip) {                     \
    dw_row(j, s, src, row, wt, bias, y, z, act, strip);                                    \
  }                                                                                        \
  NC_FN static void dw_x_##name(const nc_job *j, const float *src, int64_t row,            \
                                const float *wt, __m512 bias, float *y, const float *z,    \
                                const conv_act *act, float *strip) {                       \
    dw_row_x(j, s, src, row, wt, bias, y, z, act, strip);                                  \
  }
DW_ROWS(s1, 16)
DW_ROWS(s2, 32)
DW_ROWS(sn, 0)

/* Depthwise unit u: one band of output rows of one block of one image. */
NC_FN static void dw_unit(const nc_job *j, int64_t u, float *buf) {
  const conv_plan *p = j->p;
  int64_t band = u % j->bands, b = u / j->bands; /* b: block over the batch */
  int64_t cb = b % j->C16;
  int64_t oy0 = band * j->band, oy1 = oy0 + j->band < j->oh ? oy0 + j->band : j->oh;
  const float *x = j->X + b * j->ih * j->iw * 16;
  int inplace = j->inplace;
  if (!inplace) {
    int64_t nrows = (oy1 - oy0 - 1) * j->sh + (j->kh - 1) * j->dh + 1;
    fill_rows(x, j->ih, j->iw, j->pt, j->pl, oy0 * j->sh, nrows, j->cols, buf);
  }
  dw_row_fn row_fn = inplace ? (j->sw == 1 ? dw_x_s1 : j->sw == 2 ? dw_x_s2 : dw_x_sn)
                             : (j->sw == 1 ? dw_buf_s1 : j->sw == 2 ? dw_buf_s2 : dw_buf_sn);
  const float *wt = j->W + cb * j->taps * 16;
  /* 0 + bias, as conv_dw.c starts its sums (a -0 bias starts at +0) */
  __m512 bias = _mm512_add_ps(_mm512_setzero_ps(),
                              j->B ? _mm512_loadu_ps(j->B + cb * 16) : _mm512_setzero_ps());
  int in_regs = reg_act(p);
  const conv_act *act = in_regs ? p->act : NULL;
  for (int64_t oy = oy0; oy < oy1; oy++) {
    float *y = j->Y + (b * j->oh + oy) * j->ow * 16;
    const float *z = in_regs && p->act->z ? p->act->z + (y - p->act->y) : NULL;
    row_fn(j, inplace ? x : buf, inplace ? oy : (oy - oy0) * j->sh, wt, bias, y, z, act, buf);
    if (p->act && !in_regs) rt_conv_activate(p, y, j->ow * 16);
  }
}

static ivm_status run_depthwise(const rt_call *call, nc_job *j) {
  const conv_plan *p = j->p;
  int64_t tiles = (j->ow + 15) / 16;
  int64_t min_tiles = j->sh > 1 || j->sw > 1 ? NC_DW_INPLACE_TILES_STRIDED : NC_DW_INPLACE_TILES;
  if (tiles >= min_tiles) {
    j->inplace = 1;
    j->band = NC_DW_INPLACE_BAND < j->oh ? NC_DW_INPLACE_BAND : j->oh;
    /* the strip for tiles whose window reaches the padding */
    j->cols = 15 * j->sw + (j->kw - 1) * j->dw + 1;
    j->buf_bytes = rt_align64((size_t)(((j->kh - 1) * j->dh + 1) * j->cols * 16) * sizeof(float));
  } else {
    j->inplace = 0;
    /* the buffer's width: every column the taps of 16-position tiles reach */
    j->cols = (tiles * 16 - 1) * j->sw + (j->kw - 1) * j->dw + 1;
    int64_t row_bytes = j->cols * 16 * (int64_t)sizeof(float);
    int64_t reach = (j->kh - 1) * j->dh + 1; /* buffer rows of one output row */
    int64_t fit = NC_BAND_BYTES / row_bytes;  /* buffer rows that fit */
    j->band = fit <= reach ? 1 : (fit - reach) / j->sh + 1;
    if (j->band > j->oh) j->band = j->oh;
    j->buf_bytes = rt_align64((size_t)(((j->band - 1) * j->sh + reach) * row_bytes));
  }
  j->bands = (j->oh + j->band - 1) / j->band;
  j->units = p->N * j->C16 * j->bands;
  rt_pool *pool = rt_call_pool(call);
  double macs = 4.0 * (double)p->N * (double)p->M * (double)(j->oh * j->ow) * (double)j->taps;
  int threads = rt_gemm_threads(pool, macs);
  j->ranges = (int)(j->units < threads ? j->units : threads);
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)j->ranges * j->buf_bytes, (void **)&j->mem));
  j->band_unit = dw_unit;
  rt_pool_for(j->ranges > 1 ? pool : NULL, j->ranges, 1, band_task, j);
  return NULL;
}
#endif

ivm_status rt_conv_nchwc_f32(const rt_call *call, const conv_plan *p) {
  if (!rt_conv_nchwc_ok(p) && p->trans_w == CONV_W_NCHW16C_HEAD)
    return ivm_error(IVM_ERR_RUNTIME,
                     "Conv NCHW16c head: needs 2-D, group 1 (group %lld) and output channels in "
                     "multiples of 16 (M %lld)",
                     (long long)p->G, (long long)p->M);
  if (!rt_conv_nchwc_ok(p))
    return ivm_error(IVM_ERR_RUNTIME,
                     "Conv NCHW16c: needs 2-D, channels in multiples of 16 (C %lld, M %lld) "
                     "and group 1 or depthwise (group %lld)",
                     (long long)p->C, (long long)p->M, (long long)p->G);
  if (p->trans_w != CONV_W_NCHW16C && p->trans_w != CONV_W_NCHW16C_HEAD)
    return ivm_error(IVM_ERR_RUNTIME, "Conv NCHW16c: W must be in the blocked layout (transW %d)",
                     p->trans_w);
  if (call->n_in < 2 || !call->in[0] || !call->in[1] || call->n_out < 1 || !call->out[0])
    return ivm_error(IVM_ERR_RUNTIME, "Conv NCHW16c: missing operands");
  const isa_window *w = &p->w;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  nc_job job = {.p = p, .X = call->in[0]->data, .W = call->in[1]->data,
                .B = bt ? bt->data : NULL, .Y = call->out[0]->data};
  nc_job *j = &job;
  j->ih = w->in[0], j->iw = w->in[1], j->oh = w->out[0], j->ow = w->out[1];
  j->kh = w->kernel[0], j->kw = w->kernel[1], j->sh = w->stride[0], j->sw = w->stride[1];
  j->dh = w->dilation[0], j->dw = w->dilation[1];
  j->pt = w->pad_begin[0], j->pl = w->pad_begin[1];
  j->taps = j->kh * j->kw;
  j->head = p->trans_w == CONV_W_NCHW16C_HEAD;
  j->C16 = j->head ? 1 : p->C / 16;
  j->M16 = p->M / 16;
  if (p->N == 0 || j->oh <= 0 || j->ow <= 0) return NULL;
#if defined(__GNUC__) && defined(__x86_64__)
  if (rt_sgemm_current_kernel() == RT_SGEMM_AVX512)
    return j->head ? run_head(call, j) : p->G == 1 ? run_dense(call, j) : run_depthwise(call, j);
#endif
  return run_portable(call, j);
}
