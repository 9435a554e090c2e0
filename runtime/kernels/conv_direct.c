/* Direct Conv, f32, 1-D and 2-D, on the AVX-512 register tile: no im2col matrix.
 *
 * im2col copies every input element kernel-size times into a column matrix that the
 * matrix product then packs once more; for a 3x3 conv that data movement took more time
 * than the multiply-adds (measured on ppocr_v4_det: 23 % im2col, 19 % memmove, 10 %
 * packing, 29 % in the tile). Here the input of one (image, group) is copied once into a
 * zero-padded buffer whose columns are split by phase modulo the horizontal stride
 * (phase q holds padded columns q, q + sw, ...) and its rows modulo the vertical one, so
 * the inputs of consecutive output positions under one kernel tap are contiguous. The register tile then reads them in
 * place: m output channels x 16 or 32 positions, summing over input channels and taps
 * (each weight broadcast from W itself, [oc][c][tap], one row per output channel: no
 * packing, so small convs pay nothing per call for it), exactly like a matrix product
 * whose B operand is addressed through per-tap offsets.
 *
 * Positions run either along output rows (tiles of one row) or over the buffer's rows
 * flattened with its row pitch (consecutive output rows are consecutive rows of a row
 * phase): narrow outputs then fill whole vectors, and the few positions that fall in the
 * padding columns are computed and dropped.
 *
 * With both strides 1 and the output no wider than the input (the common "same" and
 * "valid" convs) there is no buffer at all: positions are flattened with the input's own
 * row pitch and each tap's vector is a masked load from X, its lanes that fall in the
 * padding masked to zero (a masked-out lane never faults, so the taps may point before
 * or past X). The copy and its zeroing took ~20 % of oww_embedding's time. Every output is bias + the products in (channel, tap) order in
 * one register, whatever tile, thread or position it is computed in, so the results are
 * the same for any thread count. */
#include <string.h>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm_par.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "runtime/kernels/conv_act512.h"

#define CD_FN CONV512_FN
#define CD_MR 14       /* output channels per tile: 28 accumulators + 2 loads + 1 broadcast */
#define CD_MAX_TAPS 256

static __mmask16 lanes16(int64_t n) { /* the first n lanes, n clamped to 0..16 */
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}
#ifndef CD_MIN_POSITIONS
#define CD_MIN_POSITIONS 17 /* > CONV_DOT_POSITIONS (conv.c) */
#endif
/* Runs of position tiles per thread: enough that the split can follow uneven thread
 * speeds (a run is at most 1/8 of a thread's share), few enough that claiming them
 * costs nothing. */
#define CD_RUNS_PER_THREAD 8
#define CONV_DIRECT_SPLIT_GAIN 8.0
#ifndef CD_MIN_POSITIONS_IN_PLACE
#define CD_MIN_POSITIONS_IN_PLACE 8
#endif

typedef struct cd_job {
  const conv_plan *p;
  const float *X, *W, *B;
  float *Y;
  int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t ph, pw;  /* rows and width (row pitch) of one phase of the padded buffer */
  int64_t plane;   /* floats per input channel in the buffer: sh * sw * ph * pw */
  int64_t taps, toff[CD_MAX_TAPS]; /* tap t of position 0 reads buf + toff[t] */
  int flat;        /* positions flattened over rows of pitch pw (else per row) */
  int inplace;     /* flat over X itself (pw == iw), taps as masked loads: no buffer */
  int halves;      /* vectors of 16 positions per tile */
  int64_t tw, tiles_per_row, units;
  int64_t mr, mblocks;
  float *buf;      /* the padded input */
  int64_t n, g;    /* the pair being computed */
  int ranges;
} cd_job;

/* Stride 1 and no wider than the input: the taps read X in place (see the top). */
static int cd_inplace_ok(const conv_plan *p) {
  const isa_window *w = &p->w;
  for (int d = 0; d < w->n; d++)
    if (w->stride[d] != 1) return 0;
  return w->out[w->n - 1] <= w->in[w->n - 1];
}

int rt_conv_direct_ok(const conv_plan *p) {
  /* Few output positions leave the tile's vectors mostly empty; conv.c's transposed
   * im2col and dot products take those (silero_vad's 1-D convs are 1-4 positions wide).
   * In place (no copy to pay for) a half-full 16-lane vector already wins: oww_embedding's
   * last convs, 12-16 positions. */
  int64_t min_positions = cd_inplace_ok(p) ? CD_MIN_POSITIONS_IN_PLACE : CD_MIN_POSITIONS;
  /* A strided 1x1 conv reads one phase of sh * sw: im2col gathers just those inputs, where
   * the phase buffer would copy them all (perf_cnn's 1x1/2 shortcuts: 188 -> 137 µs). */
  return (p->w.n == 1 || p->w.n == 2) && !p->pointwise && !p->trans_w && p->k_sz > 1 &&
         (p->Cg > 1 || p->G == 1) &&
         p->out_sz >= min_positions &&
         p->k_sz <= CD_MAX_TAPS && rt_sgemm_current_kernel() == RT_SGEMM_AVX512;
}

/* How a tile's results leave the registers: rows ldo apart, the lanes in k0 | k1 (of 32),
 * after Relu, LeakyRelu or HardSwish when act says so (the same bits as their kernels:
 * max(0, x) keeps -0 and NaN like x < 0 ? 0 : x), then the clip (conv_clip's bits), then
 * the affine (Mul's and Add's bits). */
typedef struct cd_store {
  int64_t ldo;
  __mmask16 k0, k1;
  int act; /* conv_act's kind; CONV_ACT_CALL: none here */
  float alpha;
  int has_min, has_max;
  float min, max;
  int has_scale, has_shift;
  float scale, shift;
  const float *z; /* Z at out's offset in Y (rows ldo apart), added first; NULL: none */
} cd_store;

/* out[i][0..16*halves) = bias[i] + sum over (c, t) of a[(c, t)][i] * src[c * cs + toff[t] + ..],
 * when `masked`, tap t's lanes outside lm[2t] | lm[2t + 1] << 16 read as zero (masked loads
 * cost ~20 % of the tile's speed here, so only tiles that need them mask). */
CD_FN static inline __attribute__((always_inline)) void
cd_tile(int m, int halves, int masked, const float *restrict a, int64_t lda, const float *restrict src,
        int64_t C, int64_t cs, const int64_t *toff, const __mmask16 *lm, int64_t taps,
        const float *bias, float *out, const cd_store *st) {
  __m512 lo[CD_MR], hi[CD_MR];
#pragma GCC unroll 14
  for (int i = 0; i < m; i++) {
    lo[i] = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
    hi[i] = lo[i];
  }
  for (int64_t c = 0; c < C; c++, src += cs)
    for (int64_t t = 0; t < taps; t++) {
      const float *bp = src + toff[t];
      __m512 b0 = masked ? _mm512_maskz_loadu_ps(lm[2 * t], bp) : _mm512_loadu_ps(bp);
      __m512 b1 = halves != 2 ? b0
                  : masked    ? _mm512_maskz_loadu_ps(lm[2 * t + 1], bp + 16)
                              : _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 14
      for (int i = 0; i < m; i++) {
        __m512 ai = _mm512_set1_ps(a[i * lda]);
        lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);
        if (halves == 2) hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);
      }
      a++;
    }
  if (st->z) {
#pragma GCC unroll 14
    for (int i = 0; i < m; i++) {
      lo[i] = _mm512_add_ps(lo[i], _mm512_maskz_loadu_ps(st->k0, st->z + i * st->ldo));
      if (halves == 2)
        hi[i] = _mm512_add_ps(hi[i], _mm512_maskz_loadu_ps(st->k1, st->z + i * st->ldo + 16));
    }
  }
  const __m512 alpha = _mm512_set1_ps(st->alpha);
  if (st->act == CONV_ACT_HARD_SWISH) {
#pragma GCC unroll 14
    for (int i = 0; i < m; i++) {
      lo[i] = conv512_hard_swish(lo[i]);
      if (halves == 2) hi[i] = conv512_hard_swish(hi[i]);
    }
  } else if (st->act == CONV_ACT_RELU) {
#pragma GCC unroll 14
    for (int i = 0; i < m; i++) {
      lo[i] = conv512_relu(lo[i]);
      if (halves == 2) hi[i] = conv512_relu(hi[i]);
    }
  } else if (st->act == CONV_ACT_LEAKY_RELU) {
#pragma GCC unroll 14
    for (int i = 0; i < m; i++) {
      lo[i] = conv512_leaky_relu(lo[i], alpha);
      if (halves == 2) hi[i] = conv512_leaky_relu(hi[i], alpha);
    }
  }
  if (st->has_min || st->has_max) {
#pragma GCC unroll 14
    for (int i = 0; i < m; i++) {
      lo[i] = conv512_clip(lo[i], st->has_min, st->min, st->has_max, st->max);
      if (halves == 2) hi[i] = conv512_clip(hi[i], st->has_min, st->min, st->has_max, st->max);
    }
  }
  if (st->has_scale || st->has_shift) {
#pragma GCC unroll 14
    for (int i = 0; i < m; i++) {
      lo[i] = conv512_affine(lo[i], st->has_scale, st->scale, st->has_shift, st->shift);
      if (halves == 2)
        hi[i] = conv512_affine(hi[i], st->has_scale, st->scale, st->has_shift, st->shift);
    }
  }
  const int64_t ldo = st->ldo;
#pragma GCC unroll 14
  for (int i = 0; i < m; i++) {
    _mm512_mask_storeu_ps(out + i * ldo, st->k0, lo[i]);
    if (halves == 2) _mm512_mask_storeu_ps(out + i * ldo + 16, st->k1, hi[i]);
  }
}

typedef void (*cd_tile_fn)(const float *a, int64_t lda, const float *src, int64_t C,
                           int64_t cs, const int64_t *toff, const __mmask16 *lm, int64_t taps,
                           const float *bias, float *out, const cd_store *st);
#define CD_TILE(m, h)                                                                      \
  CD_FN static void cd_tile_##m##x##h(const float *a, int64_t lda, const float *src,       \
                                      int64_t C, int64_t cs, const int64_t *toff,          \
                                      const __mmask16 *lm, int64_t taps, const float *bias, \
                                      float *out, const cd_store *st) {                    \
    if (lm)                                                                                \
      cd_tile(m, h, 1, a, lda, src, C, cs, toff, lm, taps, bias, out, st);                 \
    else                                                                                   \
      cd_tile(m, h, 0, a, lda, src, C, cs, toff, lm, taps, bias, out, st);                 \
  }
#define CD_TILES(m) CD_TILE(m, 1) CD_TILE(m, 2)
CD_TILES(1) CD_TILES(2) CD_TILES(3) CD_TILES(4) CD_TILES(5) CD_TILES(6) CD_TILES(7)
CD_TILES(8) CD_TILES(9) CD_TILES(10) CD_TILES(11) CD_TILES(12) CD_TILES(13) CD_TILES(14)
#define CD_ROW(m) {cd_tile_##m##x1, cd_tile_##m##x2}
static const cd_tile_fn cd_tiles[CD_MR + 1][2] = {
    {NULL, NULL}, CD_ROW(1),  CD_ROW(2),  CD_ROW(3),  CD_ROW(4),  CD_ROW(5),  CD_ROW(6),
    CD_ROW(7),    CD_ROW(8),  CD_ROW(9),  CD_ROW(10), CD_ROW(11), CD_ROW(12), CD_ROW(13),
    CD_ROW(14)};

/* The padded, phase-split copy of input channels [c0, c1) of the current pair. */
static void fill_task(void *vjob, int64_t c0, int64_t c1) {
  const cd_job *j = vjob;
  const conv_plan *p = j->p;
  for (int64_t c = c0; c < c1; c++)
    rt_conv_fill_phases(j->X + (j->n * p->C + j->g * p->Cg + c) * p->in_sz, j->ih, j->iw, j->pt,
                        j->pl, j->sh, j->sw, j->ph, j->pw, j->buf + c * j->plane);
}

/* Lanes [lo, hi) of a 32-lane tile, 0 <= lo, hi <= 32 (none when hi <= lo). */
static uint32_t lane_range(int64_t lo, int64_t hi) {
  if (hi <= lo) return 0;
  uint32_t n = hi - lo >= 32 ? ~0u : (1u << (hi - lo)) - 1;
  return n << lo;
}

/* Lane masks of tap t (lm[2t], lm[2t + 1]) for the in-place tile of positions
 * [f0, f0 + 32) flattened with X's row pitch: a lane reads when it is an output (a row
 * below oh, a column left of ow) and its input under the tap lies inside the plane.
 * Built one row segment of the tile at a time: a tap's valid columns are one range.
 * Returns whether any of the tile's lanes is masked for any tap. */
static int inplace_masks(const cd_job *j, int64_t f0, __mmask16 *lm) {
  uint32_t rows[CD_MAX_TAPS], cols[CD_MAX_TAPS];
  memset(rows, 0, (size_t)j->kh * sizeof rows[0]);
  memset(cols, 0, (size_t)j->kw * sizeof cols[0]);
  int64_t oy = f0 / j->iw, ox = f0 % j->iw;
  for (int64_t l = 0; l < 32 && oy < j->oh; oy++, ox = 0) {
    int64_t n = j->iw - ox < 32 - l ? j->iw - ox : 32 - l;   /* lanes on this row */
    int64_t end = ox + n < j->ow ? ox + n : j->ow;            /* its outputs: [ox, end) */
    uint32_t outputs = lane_range(l, l + end - ox);
    for (int64_t ky = 0; ky < j->kh; ky++) {
      int64_t iy = oy + ky * j->dh - j->pt;
      if (iy >= 0 && iy < j->ih) rows[ky] |= outputs;
    }
    for (int64_t kx = 0; kx < j->kw; kx++) { /* columns c with 0 <= c + kx*dw - pl < iw */
      int64_t c0 = j->pl - kx * j->dw, c1 = c0 + j->iw;
      if (c0 < ox) c0 = ox;
      if (c1 > end) c1 = end;
      cols[kx] |= lane_range(l + c0 - ox, l + c1 - ox);
    }
    l += n;
  }
  uint32_t all = j->tw == 32 ? ~0u : 0xffffu, full = all;
  for (int64_t ky = 0; ky < j->kh; ky++)
    for (int64_t kx = 0; kx < j->kw; kx++) {
      uint32_t both = rows[ky] & cols[kx];
      full &= both;
      lm[2 * (ky * j->kw + kx)] = (__mmask16)(both & 0xffff);
      lm[2 * (ky * j->kw + kx) + 1] = (__mmask16)(both >> 16);
    }
  return (full & all) != all; /* some lane masked: the tile must mask */
}

/* Unit u: one tile of positions for every block of output channels. */
static void unit(const cd_job *j, int64_t u) {
  const conv_plan *p = j->p;
  int64_t oy, ox, f0;
  if (j->flat) {
    f0 = u * j->tw;
    oy = f0 / j->pw;
    ox = f0 % j->pw;
  } else {
    oy = u / j->tiles_per_row;
    ox = u % j->tiles_per_row * j->tw;
    f0 = oy * j->pw + ox; /* the buffer's rows are split by phase: output row oy is row oy */
  }
  float out[CD_MR * 32];
  __mmask16 masks[2 * CD_MAX_TAPS];
  const __mmask16 *lm = NULL; /* every lane of every tap read */
  const float *src = j->buf + f0;
  int64_t cs = j->plane;
  if (j->inplace) {
    if (inplace_masks(j, f0, masks)) lm = masks;
    src = j->X + (j->n * p->C + j->g * p->Cg) * p->in_sz + f0;
    cs = p->in_sz;
  }
  const int64_t K = p->Cg * j->taps; /* weights [oc][c][tap], read in place */
  /* A tile along one output row, or flattened over X's rows when the output is as wide,
   * goes straight to Y (its valid positions); any other flattened tile spans rows and
   * padding columns, through `out`. */
  int64_t valid, yoff = -1;
  if (!j->flat) {
    valid = j->ow - ox < j->tw ? j->ow - ox : j->tw;
    yoff = oy * j->ow + ox;
  } else if (j->inplace && j->ow == j->iw) {
    valid = p->out_sz - f0 < j->tw ? p->out_sz - f0 : j->tw;
    yoff = f0;
  } else {
    valid = j->tw;
  }
  /* The epilogue in registers when the activation is one they apply, and Z (if any) can
   * be read at the tile's place in Y; else all of it in rt_conv_activate. */
  int inline_act = p->act && p->act->kind != CONV_ACT_CALL && (!p->act->z || yoff >= 0);
  cd_store st = {yoff >= 0 ? p->out_sz : 32, lanes16(valid), lanes16(valid - 16),
                 inline_act ? p->act->kind : CONV_ACT_CALL, inline_act ? p->act->alpha : 0.0f,
                 inline_act && p->act->has_min, inline_act && p->act->has_max,
                 inline_act ? p->act->min : 0.0f, inline_act ? p->act->max : 0.0f,
                 inline_act && p->act->has_scale, inline_act && p->act->has_shift,
                 inline_act ? p->act->scale : 1.0f, inline_act ? p->act->shift : 0.0f, NULL};
  for (int64_t b = 0; b < j->mblocks; b++) {
    int64_t i0 = b * j->mr, m = p->Mg - i0 < j->mr ? p->Mg - i0 : j->mr;
    int64_t oc0 = j->g * p->Mg + i0;
    float *y = j->Y + (j->n * p->M + oc0) * p->out_sz;
    if (yoff >= 0) {
      float *yt = y + yoff;
      if (inline_act && p->act->z) st.z = p->act->z + (yt - p->act->y);
      cd_tiles[m][j->halves - 1](j->W + oc0 * K, K, src, p->Cg, cs, j->toff, lm, j->taps,
                                 j->B ? j->B + oc0 : NULL, yt, &st);
      if (p->act && !inline_act)
        for (int64_t i = 0; i < m; i++) rt_conv_activate(p, yt + i * p->out_sz, valid);
      continue;
    }
    cd_tiles[m][j->halves - 1](j->W + oc0 * K, K, src, p->Cg, cs, j->toff, lm, j->taps,
                               j->B ? j->B + oc0 : NULL, out, &st);
    /* dropped positions too: a value ignores its neighbours (a Z, though, is added in Y) */
    if (p->act && !inline_act && !p->act->z) rt_conv_activate(p, out, m * 32);
    /* the tile's positions, row segment by row segment */
    for (int64_t k = 0, r = oy, c = ox; k < j->tw && r < j->oh;) {
      int64_t span = j->pw - c;
      if (span > j->tw - k) span = j->tw - k;
      int64_t seg = j->ow - c < span ? j->ow - c : span;
      if (seg > 0)
        for (int64_t i = 0; i < m; i++) {
          float *dst = y + i * p->out_sz + r * j->ow + c;
          memcpy(dst, out + i * 32 + k, (size_t)seg * sizeof(float));
          if (p->act && p->act->z) rt_conv_activate(p, dst, seg);
        }
      k += span;
      r++;
      c = 0;
    }
  }
}

static void units_task(void *vjob, int64_t r0, int64_t r1) {
  const cd_job *j = vjob;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t u = r * j->units / j->ranges; u < (r + 1) * j->units / j->ranges; u++)
      unit(j, u);
}

ivm_status rt_conv_direct_f32(const rt_call *call, const conv_plan *p) {
  const isa_window *w = &p->w;
  int two = w->n == 2; /* 1-D runs as one row */
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  cd_job job = {.p = p, .X = call->in[0]->data, .W = call->in[1]->data,
                .B = bt ? bt->data : NULL, .Y = call->out[0]->data};
  cd_job *j = &job;
  j->ih = two ? w->in[0] : 1;
  j->oh = two ? w->out[0] : 1;
  j->kh = two ? w->kernel[0] : 1;
  j->sh = two ? w->stride[0] : 1;
  j->dh = two ? w->dilation[0] : 1;
  j->pt = two ? w->pad_begin[0] : 0;
  int last = w->n - 1;
  j->iw = w->in[last];
  j->ow = w->out[last];
  j->kw = w->kernel[last];
  j->sw = w->stride[last];
  j->dw = w->dilation[last];
  j->pl = w->pad_begin[last];
  j->taps = j->kh * j->kw;
  int64_t reach = (j->kw - 1) * j->dw / j->sw; /* phase columns a row's taps reach past ox */
  j->ph = j->oh + (j->kh - 1) * j->dh / j->sh; /* rows per row phase */
  /* Per-row tiles waste the rounding of each row to whole vectors; flattened rows waste
   * the `reach` padding columns of each row instead. The buffer's rows are split by phase
   * like its columns, so rows flatten whatever the vertical stride: a 14 x 14 output of
   * a stride-2 conv takes 32-position tiles, not one 16-lane vector per row holding 14
   * (twice the weight reads from L2, half the accumulators). */
  j->halves = j->ow <= 16 ? 1 : 2;
  j->tw = 16 * j->halves;
  j->tiles_per_row = (j->ow + j->tw - 1) / j->tw;
  double row_waste = (double)(j->tiles_per_row * j->tw) / (double)j->ow;
  double flat_waste = (double)(j->ow + reach) / (double)j->ow;
  j->inplace = cd_inplace_ok(p);
  j->flat = j->inplace || flat_waste < row_waste;
  if (j->flat) {
    j->halves = j->inplace && j->oh * j->iw <= 16 ? 1 : 2;
    j->tw = 16 * j->halves;
    j->pw = j->inplace ? j->iw : j->ow + reach;
    j->units = (j->oh * j->pw + j->tw - 1) / j->tw;
  } else {
    j->pw = j->tiles_per_row * j->tw + reach;
    j->units = j->oh * j->tiles_per_row;
  }
  j->plane = j->sh * j->sw * j->ph * j->pw;
  for (int64_t ky = 0; ky < j->kh; ky++)
    for (int64_t kx = 0; kx < j->kw; kx++) {
      int64_t o = kx * j->dw, d = ky * j->dh;
      j->toff[ky * j->kw + kx] =
          j->inplace ? (d - j->pt) * j->iw + o - j->pl
                     : (((d % j->sh) * j->sw + o % j->sw) * j->ph + d / j->sh) * j->pw + o / j->sw;
    }
  j->mblocks = (p->Mg + CD_MR - 1) / CD_MR;
  j->mr = (p->Mg + j->mblocks - 1) / j->mblocks;
  if (!j->inplace) {
    /* Scratch: the padded input with a vector's slack (junk positions past the last row
     * read there). */
    size_t buf_floats = (size_t)(p->Cg * j->plane + 2 * j->tw + j->pw);
    IVM_TRY(rt_scratch_get(call->scratch, buf_floats * sizeof(float), (void **)&j->buf));
    memset(j->buf + p->Cg * j->plane, 0,
           (buf_floats - (size_t)(p->Cg * j->plane)) * sizeof(float));
  }
  rt_pool *pool = rt_call_pool(call);
  double macs = (double)p->Mg * (double)(j->units * j->tw) * (double)(p->Cg * j->taps);
  /* Nothing is packed per thread, and the pool hands the runs of position tiles out from
   * both ends, so each thread's share is contiguous (its rows, which the next conv reads
   * back) and follows its actual speed: a split pays from an eighth of the work a packed
   * matrix product needs (measured: oww_embedding's 1-4M multiply-add convs, 0.52 ->
   * 0.32 ms on 2 threads when the second core is free). */
  int threads = rt_gemm_threads(pool, macs * CONV_DIRECT_SPLIT_GAIN);
  j->ranges = (int)(j->units < CD_RUNS_PER_THREAD * threads ? j->units
                                                           : CD_RUNS_PER_THREAD * threads);
  int64_t cgrain = (p->Cg + threads - 1) / threads;
  for (j->n = 0; j->n < p->N; j->n++)
    for (j->g = 0; j->g < p->G; j->g++) {
      if (!j->inplace) rt_pool_for(threads > 1 ? pool : NULL, p->Cg, cgrain, fill_task, j);
      rt_pool_for(threads > 1 ? pool : NULL, j->ranges, 1, units_task, j);
    }
  return NULL;
}

/* rt_conv_activate_fast's pass: whole vectors, then the tail masked. */
CD_FN static void activate512(const conv_act *act, float *x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(x + i, conv512_activate(act, _mm512_loadu_ps(x + i)));
  if (i < n) {
    __mmask16 k = lanes16(n - i);
    _mm512_mask_storeu_ps(x + i, k, conv512_activate(act, _mm512_maskz_loadu_ps(k, x + i)));
  }
}

int rt_conv_activate_fast(const conv_act *act, float *x, int64_t n) {
  if (act->kind == CONV_ACT_CALL || rt_sgemm_current_kernel() != RT_SGEMM_AVX512) return 0;
  activate512(act, x, n);
  return 1;
}

#else
int rt_conv_activate_fast(const conv_act *act, float *x, int64_t n) {
  (void)act;
  (void)x;
  (void)n;
  return 0;
}
int rt_conv_direct_ok(const conv_plan *p) {
  (void)p;
  return 0;
}
ivm_status rt_conv_direct_f32(const rt_call *call, const conv_plan *p) {
  (void)call;
  (void)p;
  return ivm_error(IVM_ERR_RUNTIME, "Conv: direct kernel not built");
}
#endif
