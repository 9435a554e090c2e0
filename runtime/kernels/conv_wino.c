/* Winograd F(2x2, 3x3) Conv (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016), f32, dense 2-D convs with a 3x3 kernel, stride 1, dilation 1, any pads.
 *
 * Each 2x2 block of outputs (a tile) of output channel m is A^T [sum_c U(m,c) .* V(c)] A,
 * where V(c) = B^T d B for the tile's 4x4 input patch d in channel c (zeros outside the
 * image) and U(m,c) = G g G^T for the 3x3 kernel g: 16 products per tile and channel
 * where direct summation takes 36. Over the channels, each of the 16 elements e of the
 * 4x4 domain is an independent matrix product O_e (M x tiles) = U_e (M x C) @ V_e
 * (C x tiles), done by rt_sgemm.
 *
 * The tiles run in blocks, rectangles of up to 32 tile columns and a few tile rows, so
 * that a block's V (16 x C x tiles) stays in L2 between the transform that writes it and
 * the products that read it: per block, the input transform, 16 rt_sgemm calls, and the
 * output transform, which adds the bias and applies FusedConv's activation, clip and affine.
 * The transforms take 16 tiles of a tile row per AVX-512 vector (one lane per tile) and
 * walk down the block's tile rows, so each input row is loaded and transformed once (a
 * tile row's last two input rows are the next one's first two). Loads whose columns
 * stick out of the image are masked, their padding lanes read as zero.
 *
 * U is stored (16, C, M): U_e transposed, the layout rt_sgemm packs by copying runs
 * (row-major M x C it transposes 16 x 16 blocks on every call). The compiler stores a
 * constant W already transformed so (FusedConv transW = 2, compiler/pass_layout.c, with
 * rt_conv_winograd_weights); otherwise the weights are transformed per call into scratch
 * (the module is immutable and shared). On perf_cnn that per-call transform took 9 % of
 * the whole model, its packing transposes ~3 % more.
 *
 * Threads take whole blocks (each with its own V, O and packing buffers); with few
 * blocks for many weights (small images, many channels) they instead split the output
 * channels, each transforming its own weights and repeating the cheaper input
 * transform. Either way every output is computed by the same instructions, whatever
 * block, lane or thread it falls in: its lane of the transforms, and rt_sgemm's
 * summation over C, which depends on K only. So the results are the same for any
 * thread count. They differ from direct summation by the transforms' rounding (tests:
 * tests/unit/test_conv_fast.c, case table `winograd`).
 *
 * Without the AVX-512 matrix kernel (another CPU), a portable path computes the same
 * transforms with scalar code and rt_sgemm's portable kernel: a module whose weights the
 * compiler transformed runs anywhere. */
#include <string.h>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm_par.h"

/* The same operations in the same order as the AVX-512 per-call transform below (adds,
 * subtractions and products by 1/2, nothing a compiler may contract), so the same bits. */
void rt_conv_winograd_weights(const float *W, int64_t M, int64_t C, float *U) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const float *g = W + (m * C + c) * 9;
      float a[4][3], *u = U + c * M + m;
      for (int col = 0; col < 3; col++) { /* t = G g */
        float g0 = g[col], g1 = g[3 + col], g2 = g[6 + col];
        a[0][col] = g0;
        a[1][col] = 0.5f * ((g0 + g1) + g2);
        a[2][col] = 0.5f * ((g0 - g1) + g2);
        a[3][col] = g2;
      }
      for (int r = 0; r < 4; r++) { /* u = t G^T */
        float t0 = a[r][0], t1 = a[r][1], t2 = a[r][2];
        float v[4] = {t0, 0.5f * ((t0 + t1) + t2), 0.5f * ((t0 - t1) + t2), t2};
        for (int q = 0; q < 4; q++) u[(r * 4 + q) * C * M] = v[q];
      }
    }
}

/* Where it measured faster than the direct kernel on 1 and 2 threads (a 2-core Zen 5
 * VM; single convs, minimum of 7 runs): 0.57-0.9x its time for 32-256 channels from
 * 14x14 up (ppocr_v4_det's 96 -> 24 at 160x160: 3.8 vs 5.8 ms on 1 thread, 1.9 vs 2.7 on
 * 2; ResNet's 64-256 channels at 56x56-14x14: 0.57-0.80x). It loses on small images
 * (7x7-12x12: the transformed weights U, 16 M C floats, cost more than the few tiles
 * save), with 16 channels at 2 threads (products with K = 16 run well below the tile's
 * speed, and direct splits better), below ~8M multiply-adds (per-call costs), and with
 * 512 x 512 channels (U of 16 MB: 1.7x direct at 14x14). */
int rt_conv_winograd_worth(int64_t N, int64_t C, int64_t M, int64_t OH, int64_t OW) {
  int64_t tiles = (OH + 1) / 2 * ((OW + 1) / 2);
  double macs = 9.0 * (double)(N * OH * OW) * (double)M * (double)C;
  return C >= 32 && M >= 24 && M * C <= 256 * 256 && tiles >= 49 && macs >= 8e6;
}

static int winograd_shape(const conv_plan *p) {
  const isa_window *w = &p->w;
  if (w->n != 2 || p->G != 1 || p->trans_w == CONV_W_TRANSPOSED) return 0;
  for (int d = 0; d < 2; d++)
    if (w->kernel[d] != 3 || w->stride[d] != 1 || w->dilation[d] != 1) return 0;
  return 1;
}

/* ---- portable: scalar transforms, rt_sgemm's current kernel ------------------------- */
typedef struct wp_job {
  const conv_plan *p;
  const float *X, *U, *B;
  float *Y;
  int64_t th, tw, rows;  /* tile rows and columns of an image; tile rows per item */
  int64_t items, ranges; /* (image, tile-row block) items; ranges over them */
  size_t range_bytes;    /* per range: V (16 x C x T), O (16 x M x T), rt_sgemm's pack */
  char *mem;
} wp_job;

/* Image n's tile rows [ty0, ty0 + rows), all tile columns: T = rows * tw tiles. */
static void wp_item(const wp_job *j, int64_t n, int64_t ty0, int64_t rows, char *mem) {
  const conv_plan *p = j->p;
  const isa_window *w = &p->w;
  int64_t C = p->C, M = p->M, H = w->in[0], Wd = w->in[1], OH = w->out[0], OW = w->out[1];
  int64_t T = rows * j->tw;
  float *V = (float *)mem, *O = V + 16 * C * T;
  float *pack = (float *)(mem + rt_align64((size_t)(16 * (C + M) * T) * sizeof(float)));
  for (int64_t c = 0; c < C; c++) {
    const float *xc = j->X + (n * C + c) * H * Wd;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t tx = 0; tx < j->tw; tx++) {
        int64_t iy0 = 2 * (ty0 + r) - w->pad_begin[0], ix0 = 2 * tx - w->pad_begin[1];
        float h[4][4]; /* rows of d B, as row_transform computes them */
        for (int i = 0; i < 4; i++) {
          float d[4];
          for (int k = 0; k < 4; k++) {
            int64_t iy = iy0 + i, ix = ix0 + k;
            d[k] = iy >= 0 && iy < H && ix >= 0 && ix < Wd ? xc[iy * Wd + ix] : 0.0f;
          }
          h[i][0] = d[0] - d[2], h[i][1] = d[1] + d[2], h[i][2] = d[2] - d[1];
          h[i][3] = d[1] - d[3];
        }
        float *v = V + c * T + r * j->tw + tx;
        for (int q = 0; q < 4; q++) { /* B^T down the columns */
          v[(0 * 4 + q) * C * T] = h[0][q] - h[2][q];
          v[(1 * 4 + q) * C * T] = h[1][q] + h[2][q];
          v[(2 * 4 + q) * C * T] = h[2][q] - h[1][q];
          v[(3 * 4 + q) * C * T] = h[1][q] - h[3][q];
        }
      }
  }
  for (int e = 0; e < 16; e++)
    rt_sgemm(M, T, C, 1.0f, j->U + e * C * M, 1, M, V + e * C * T, T, 1, 0.0f, O + e * M * T, T,
             pack);
  for (int64_t m = 0; m < M; m++) {
    float bias = j->B ? j->B[m] : 0.0f, *ym = j->Y + (n * M + m) * OH * OW;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t tx = 0; tx < j->tw; tx++) {
        const float *o = O + m * T + r * j->tw + tx;
        float s[2][4];
        for (int q = 0; q < 4; q++) { /* A^T down each column q */
          float m0 = o[(0 * 4 + q) * M * T], m1 = o[(1 * 4 + q) * M * T];
          float m2 = o[(2 * 4 + q) * M * T], m3 = o[(3 * 4 + q) * M * T];
          s[0][q] = (m0 + m1) + m2;
          s[1][q] = (m1 - m2) - m3;
        }
        for (int hh = 0; hh < 2; hh++) {
          int64_t oy = 2 * (ty0 + r) + hh, ox = 2 * tx;
          if (oy >= OH) break;
          ym[oy * OW + ox] = ((s[hh][0] + s[hh][1]) + s[hh][2]) + bias;
          if (ox + 1 < OW) ym[oy * OW + ox + 1] = ((s[hh][1] - s[hh][2]) - s[hh][3]) + bias;
        }
      }
    int64_t oy0 = 2 * ty0, oy1 = 2 * (ty0 + rows) < OH ? 2 * (ty0 + rows) : OH;
    rt_conv_activate(p, ym + oy0 * OW, (oy1 - oy0) * OW);
  }
}

static void wp_task(void *vjob, int64_t r0, int64_t r1) {
  const wp_job *j = vjob;
  int64_t per_image = (j->th + j->rows - 1) / j->rows;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t it = r * j->items / j->ranges; it < (r + 1) * j->items / j->ranges; it++) {
      int64_t n = it / per_image, ty0 = it % per_image * j->rows;
      wp_item(j, n, ty0, j->th - ty0 < j->rows ? j->th - ty0 : j->rows,
              j->mem + (size_t)r * j->range_bytes);
    }
}

static ivm_status winograd_portable(const rt_call *call, const conv_plan *p) {
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  wp_job j = {.p = p, .X = call->in[0]->data, .B = bt ? bt->data : NULL,
              .Y = call->out[0]->data};
  j.th = (p->w.out[0] + 1) / 2;
  j.tw = (p->w.out[1] + 1) / 2;
  /* About 256 tiles per item, whole tile rows: V and O of a few hundred KiB. */
  j.rows = 256 / j.tw < 1 ? 1 : 256 / j.tw;
  if (j.rows > j.th) j.rows = j.th;
  j.items = p->N * ((j.th + j.rows - 1) / j.rows);
  rt_pool *pool = rt_call_pool(call);
  double macs = 9.0 * (double)(p->N * p->out_sz) * (double)p->M * (double)p->C;
  int threads = rt_gemm_threads(pool, macs);
  j.ranges = j.items < threads ? j.items : threads;
  int64_t T = j.rows * j.tw;
  size_t u_bytes = p->trans_w == CONV_W_WINOGRAD
                       ? 0 : rt_align64((size_t)(16 * p->M * p->C) * sizeof(float));
  j.range_bytes = rt_align64((size_t)(16 * (p->C + p->M) * T) * sizeof(float)) +
                  rt_align64(rt_sgemm_pack_bytes(p->M, T, p->C));
  char *mem;
  IVM_TRY(rt_scratch_get(call->scratch, u_bytes + (size_t)j.ranges * j.range_bytes,
                         (void **)&mem));
  if (u_bytes) {
    rt_conv_winograd_weights(call->in[1]->data, p->M, p->C, (float *)mem);
    j.U = (const float *)mem;
  } else {
    j.U = call->in[1]->data;
  }
  j.mem = mem + u_bytes;
  rt_pool_for(j.ranges > 1 ? pool : NULL, j.ranges, 1, wp_task, &j);
  return NULL;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "runtime/kernels/conv_act512.h"

#define CW_FN CONV512_FN

/* Blocks: CW_BW tile columns (a multiple of the 16 lanes) and as many tile rows as keep
 * the block's transformed input (16 x C x tiles floats) near CW_V_BYTES, where L2 holds it
 * with the products; but at least min(2 M, CW_TB_PACK) tiles, since rt_sgemm packs
 * U_e (M x C) once per block (measured on 64-256 channels: 128-256 tiles per block beat
 * 48-96 by 5-15 %, although V then leaves L2). */
#define CW_BW 32
#define CW_V_BYTES (384 * 1024)
#define CW_TB_PACK 256
/* Up to this many (output, input) channel pairs, each thread transforms all the weights
 * itself: cheaper than a pass across the pool before the blocks (and than reading U from
 * another core's cache): ppocr_v4_det's 96 -> 24 convs, 2 threads, 8-20 % faster. */
#define CW_DUP_PAIRS 8192
/* The input transform prefetches the block's rows of the channel this far ahead. */
#define CW_PREFETCH_CHANNELS 2

typedef struct cw_job {
  const conv_plan *p;
  const float *X, *W, *B;
  float *Y;
  int64_t H, Wd, OH, OW, pt, pl;
  int64_t th, tw;           /* tile rows and columns of one image */
  int64_t bh, bw;           /* a block's tile rows and columns (fewer at the edges) */
  int64_t nrb, ncb, blocks; /* blocks down and across one image; over the batch */
  int64_t ld;               /* row pitch of V_e and O_e */
  int64_t ve, oe;           /* V_e = V + e * ve, O_e = O + e * oe */
  const float *U;           /* transformed weights: U_e = U + e * C * M, C x M row-major */
  char *mem;                /* per range: [its own U], V (16 x ve), O (16 x oe), rt_sgemm's pack */
  size_t u_bytes, v_bytes, o_bytes, pack_bytes, range_bytes;
  int ranges;
  int split_m; /* each run takes a slice of the output channels of every block */
  int dup_w;   /* each run transforms all the weights into its own U (CW_DUP_PAIRS) */
  int given_u; /* W is U already (transW = 2): no transform */
} cw_job;

static __mmask16 cw_lanes(int64_t n) { /* the first n lanes, n clamped to 0..16 */
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* ---- weights: U_e[c][m] = (G g G^T)_e, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] ---------- */
/* Output channels [m0, m1) for every input channel, 16 at a time (each lane computes its
 * (m, c) alone, as rt_conv_winograd_weights does): g's 9 taps of 16 output channels are
 * gathered (stride 9 C in W), and U_e's 16 floats are contiguous. */
CW_FN static void weights(const cw_job *j, float *U, int64_t m0, int64_t m1) {
  int64_t M = j->p->M, C = j->p->C, plane = M * C;
  const __m512i step = _mm512_mullo_epi32(_mm512_set1_epi32((int)(9 * C)),
                                          _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                            11, 12, 13, 14, 15));
  const __m512 half = _mm512_set1_ps(0.5f);
  for (int64_t c = 0; c < C; c++)
    for (int64_t q = m0; q < m1; q += 16) {
      __mmask16 k = cw_lanes(m1 - q);
      const float *w = j->W + (q * C + c) * 9;
      __m512 g[9];
      for (int t = 0; t < 9; t++)
        g[t] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, step, w + t, 4);
      /* t = G g (4 x 3), row by row of g's columns */
      __m512 a[4][3];
      for (int col = 0; col < 3; col++) {
        __m512 g0 = g[col], g1 = g[3 + col], g2 = g[6 + col];
        a[0][col] = g0;
        a[1][col] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(g0, g1), g2));
        a[2][col] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(g0, g1), g2));
        a[3][col] = g2;
      }
      float *u = U + c * M + q;
      for (int r = 0; r < 4; r++) { /* u = t G^T */
        __m512 t0 = a[r][0], t1 = a[r][1], t2 = a[r][2];
        __m512 v[4] = {t0, _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(t0, t1), t2)),
                       _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(t0, t1), t2)), t2};
        for (int e = 0; e < 4; e++) _mm512_mask_storeu_ps(u + (r * 4 + e) * plane, k, v[e]);
      }
    }
}

/* ---- input: V_e[c][tile] = (B^T d B)_e, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] -- */
/* Row iy's part of 16 tiles whose columns start at x0: the horizontal transform d B of
 * each tile's 4 columns (x0 + 2i .. x0 + 2i + 3 for tile i), h[0..3]. A row outside the
 * image is zero; unless `inside`, loads at x0, x0 + 16, x0 + 2, x0 + 18 take only lanes
 * lm[0..3] (columns inside the row: the rest read as zero and are never accessed, though
 * the pointer may lie before or past the row, as conv_direct.c's taps do). */
CW_FN static inline __attribute__((always_inline)) void
row_transform(const cw_job *j, const float *xc, int64_t iy, int64_t x0, int inside,
              const __mmask16 *lm, __m512 h[4]) {
  if (iy < 0 || iy >= j->H) {
    h[0] = h[1] = h[2] = h[3] = _mm512_setzero_ps();
    return;
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const float *row = xc + iy * j->Wd + x0;
  __m512 l0, l1, m0, m1;
  if (inside) {
    l0 = _mm512_loadu_ps(row), l1 = _mm512_loadu_ps(row + 16);
    m0 = _mm512_loadu_ps(row + 2), m1 = _mm512_loadu_ps(row + 18);
  } else {
    l0 = _mm512_maskz_loadu_ps(lm[0], row);
    l1 = _mm512_maskz_loadu_ps(lm[1], row + 16);
    m0 = _mm512_maskz_loadu_ps(lm[2], row + 2);
    m1 = _mm512_maskz_loadu_ps(lm[3], row + 18);
  }
  __m512 d0 = _mm512_permutex2var_ps(l0, even, l1), d1 = _mm512_permutex2var_ps(l0, odd, l1);
  __m512 d2 = _mm512_permutex2var_ps(m0, even, m1), d3 = _mm512_permutex2var_ps(m0, odd, m1);
  h[0] = _mm512_sub_ps(d0, d2);
  h[1] = _mm512_add_ps(d1, d2);
  h[2] = _mm512_sub_ps(d2, d1);
  h[3] = _mm512_sub_ps(d1, d3);
}

/* Lanes l of a 16-float load at column x with 0 <= x + l < w. */
static __mmask16 cols_inside(int64_t x, int64_t w) {
  int64_t lo = x < 0 ? -x : 0, hi = w - x;
  return (__mmask16)(cw_lanes(hi) & ~cw_lanes(lo));
}

/* One column of k <= 16 tiles (lanes) whose input columns start at x0, down tile rows
 * ty0 .. ty0 + rows - 1 of channel plane xc, into V (tile row r at v + r * vrow, V_e
 * rows vstride apart). Walking down, each input row is loaded and transformed once: a
 * tile row's last two rows are the next one's first two. */
CW_FN static inline __attribute__((always_inline)) void
input_column(const cw_job *j, const float *xc, int64_t ty0, int64_t rows, int64_t x0, int64_t k,
             int inside, float *v, int64_t vrow, int64_t vstride) {
  __mmask16 lm[4] = {0, 0, 0, 0};
  if (!inside)
    for (int i = 0; i < 4; i++) lm[i] = cols_inside(x0 + (i & 1) * 16 + (i >> 1) * 2, j->Wd);
  __mmask16 km = cw_lanes(k);
  int64_t iy = 2 * ty0 - j->pt;
  __m512 a[4], b[4], c[4], d[4];
  row_transform(j, xc, iy, x0, inside, lm, a);
  row_transform(j, xc, iy + 1, x0, inside, lm, b);
  for (int64_t r = 0; r < rows; r++, iy += 2, v += vrow) {
    row_transform(j, xc, iy + 2, x0, inside, lm, c);
    row_transform(j, xc, iy + 3, x0, inside, lm, d);
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) { /* B^T down the columns */
      _mm512_mask_storeu_ps(v + (0 * 4 + q) * vstride, km, _mm512_sub_ps(a[q], c[q]));
      _mm512_mask_storeu_ps(v + (1 * 4 + q) * vstride, km, _mm512_add_ps(b[q], c[q]));
      _mm512_mask_storeu_ps(v + (2 * 4 + q) * vstride, km, _mm512_sub_ps(c[q], b[q]));
      _mm512_mask_storeu_ps(v + (3 * 4 + q) * vstride, km, _mm512_sub_ps(b[q], d[q]));
      a[q] = c[q];
      b[q] = d[q];
    }
  }
}

CW_FN static void input_column_inside(const cw_job *j, const float *xc, int64_t ty0,
                                      int64_t rows, int64_t x0, int64_t k, float *v,
                                      int64_t vrow, int64_t vstride) {
  input_column(j, xc, ty0, rows, x0, k, 1, v, vrow, vstride);
}
CW_FN static void input_column_edge(const cw_job *j, const float *xc, int64_t ty0,
                                    int64_t rows, int64_t x0, int64_t k, float *v,
                                    int64_t vrow, int64_t vstride) {
  input_column(j, xc, ty0, rows, x0, k, 0, v, vrow, vstride);
}

/* ---- output: Y = A^T O A + bias, A^T = [1 1 1 0; 0 1 -1 -1] ------------------------- */
/* One column of k <= 16 tiles whose outputs start at column ox0, down tile rows
 * ty0 .. ty0 + rows - 1 of output channel plane ym, from O (tile row r at o + r * orow,
 * O_e rows ostride apart). */
CW_FN static void output_column(const cw_job *j, const float *o, int64_t orow, int64_t ostride,
                                float bias, float *ym, int64_t ty0, int64_t rows, int64_t ox0,
                                int64_t k) {
  const conv_plan *p = j->p;
  const __m512 vb = _mm512_set1_ps(bias);
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  /* Z, when given, joins the epilogue in registers (an activation there too), else all of
   * it in rt_conv_activate */
  int inline_act = p->act && p->act->kind != CONV_ACT_CALL;
  int64_t valid = j->OW - ox0 < 2 * k ? j->OW - ox0 : 2 * k; /* output columns */
  __mmask16 km = cw_lanes(k), k0 = cw_lanes(valid), k1 = cw_lanes(valid - 16);
  for (int64_t r = 0; r < rows; r++, o += orow) {
    __m512 s[2][4];
    for (int q = 0; q < 4; q++) { /* A^T down each column q */
      __m512 m0 = _mm512_maskz_loadu_ps(km, o + (0 * 4 + q) * ostride);
      __m512 m1 = _mm512_maskz_loadu_ps(km, o + (1 * 4 + q) * ostride);
      __m512 m2 = _mm512_maskz_loadu_ps(km, o + (2 * 4 + q) * ostride);
      __m512 m3 = _mm512_maskz_loadu_ps(km, o + (3 * 4 + q) * ostride);
      s[0][q] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
      s[1][q] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
    for (int h = 0; h < 2; h++) { /* then along the rows: output rows 2 ty + h */
      int64_t oy = 2 * (ty0 + r) + h;
      if (oy >= j->OH) break;
      __m512 y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[h][0], s[h][1]), s[h][2]), vb);
      __m512 y1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[h][1], s[h][2]), s[h][3]), vb);
      float *dst = ym + oy * j->OW + ox0;
      __m512 v0 = _mm512_permutex2var_ps(y0, lo, y1), v1 = _mm512_permutex2var_ps(y0, hi, y1);
      if (inline_act) { /* elementwise: after the interleave as well as before */
        if (p->act->z) {
          const float *z = p->act->z + (dst - p->act->y);
          _mm_prefetch((const char *)(z + 2 * j->OW), _MM_HINT_T0);
          _mm_prefetch((const char *)(z + 2 * j->OW + 16), _MM_HINT_T0);
          v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(k0, z));
          v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(k1, z + 16));
        }
        v0 = conv512_activate(p->act, v0);
        v1 = conv512_activate(p->act, v1);
      }
      _mm512_mask_storeu_ps(dst, k0, v0);
      if (valid > 16) _mm512_mask_storeu_ps(dst + 16, k1, v1);
      if (p->act && !inline_act) rt_conv_activate(p, dst, valid);
    }
  }
}

/* ---- blocks ------------------------------------------------------------------------- */
/* Output channels [m0, m1) of block b: tile rows [ty0, ty0 + rows) x tile columns
 * [tx0, tx0 + cols) of one image; V's and O's column of tile (ty, tx) is
 * (ty - ty0) * cols + tx - tx0. */
CW_FN static void block(const cw_job *j, const float *U, int64_t b, int64_t m0, int64_t m1,
                        char *mem) {
  const conv_plan *p = j->p;
  int64_t C = p->C, M = p->M, ld = j->ld, plane = j->H * j->Wd, mm = m1 - m0;
  int64_t per_image = j->nrb * j->ncb, n = b / per_image;
  int64_t rb = b % per_image / j->ncb, tx0 = b % j->ncb * j->bw;
  int64_t ty0 = rb * j->th / j->nrb, rows = (rb + 1) * j->th / j->nrb - ty0;
  int64_t cols = j->tw - tx0 < j->bw ? j->tw - tx0 : j->bw;
  float *V = (float *)mem, *O = (float *)(mem + j->v_bytes);
  float *pack = (float *)(mem + j->v_bytes + j->o_bytes);
  const float *X = j->X + n * C * plane;
  /* the block's input rectangle, for prefetching the channels ahead */
  int64_t iy0 = 2 * ty0 - j->pt, iy1 = iy0 + 2 * rows + 2;
  int64_t ix0 = 2 * tx0 - j->pl, ix1 = ix0 + 2 * cols + 2;
  iy0 = iy0 < 0 ? 0 : iy0, iy1 = iy1 > j->H ? j->H : iy1;
  ix0 = ix0 < 0 ? 0 : ix0, ix1 = ix1 > j->Wd ? j->Wd : ix1;
  const int64_t pfd = CW_PREFETCH_CHANNELS;
  for (int64_t c = 0; c < C; c++) {
    const float *xc = X + c * plane;
    if (c + pfd < C && ix1 > ix0)
      for (int64_t iy = iy0; iy < iy1; iy++) {
        const float *r = xc + pfd * plane + iy * j->Wd;
        for (int64_t x = ix0; x < ix1; x += 16) _mm_prefetch((const char *)(r + x), _MM_HINT_T0);
        _mm_prefetch((const char *)(r + ix1 - 1), _MM_HINT_T0);
      }
    for (int64_t g = 0; g < cols; g += 16) {
      int64_t x0 = 2 * (tx0 + g) - j->pl, k = cols - g < 16 ? cols - g : 16;
      if (x0 >= 0 && x0 + 34 <= j->Wd)
        input_column_inside(j, xc, ty0, rows, x0, k, V + c * ld + g, cols, j->ve);
      else
        input_column_edge(j, xc, ty0, rows, x0, k, V + c * ld + g, cols, j->ve);
    }
  }
  for (int e = 0; e < 16; e++)
    rt_sgemm(mm, rows * cols, C, 1.0f, U + e * C * M + m0, 1, M, V + e * j->ve, ld, 1, 0.0f,
             O + e * j->oe, ld, pack);
  float *Y = j->Y + n * M * j->OH * j->OW;
  for (int64_t m = m0; m < m1; m++) {
    float bias = j->B ? j->B[m] : 0.0f, *ym = Y + m * j->OH * j->OW;
    for (int64_t g = 0; g < cols; g += 16)
      output_column(j, O + (m - m0) * ld + g, cols, j->oe, bias, ym, ty0, rows, 2 * (tx0 + g),
                    cols - g < 16 ? cols - g : 16);
  }
}

static void weights_task(void *vjob, int64_t q0, int64_t q1) {
  const cw_job *j = vjob;
  weights(j, (float *)j->U, q0 * 16, q1 * 16 < j->p->M ? q1 * 16 : j->p->M);
}

/* Run r: its share of the blocks, all output channels; or with split_m, output channels
 * [r * M / ranges, (r + 1) * M / ranges) of every block, their weights transformed here. */
static void ranges_task(void *vjob, int64_t r0, int64_t r1) {
  const cw_job *j = vjob;
  int64_t M = j->p->M;
  for (int64_t r = r0; r < r1; r++) {
    char *mem = j->mem + (size_t)r * j->range_bytes;
    if (j->split_m) {
      int64_t m0 = r * M / j->ranges, m1 = (r + 1) * M / j->ranges;
      if (!j->given_u) weights(j, (float *)j->U, m0, m1);
      for (int64_t b = 0; b < j->blocks; b++) block(j, j->U, b, m0, m1, mem);
    } else {
      const float *U = j->U;
      if (j->dup_w) {
        weights(j, (float *)mem, 0, M);
        U = (const float *)mem;
        mem += j->u_bytes;
      }
      for (int64_t b = r * j->blocks / j->ranges; b < (r + 1) * j->blocks / j->ranges; b++)
        block(j, U, b, 0, M, mem);
    }
  }
}

/* n floats rounded up to an odd number of cache lines: rows (and the 16 planes V_e, O_e)
 * that far apart start on 64-byte lines that fall into different L1 sets, where an even
 * pitch (a power of two above all) makes the 16 streams of the transforms, or the rows
 * rt_sgemm reads in place, evict each other (measured: 3x slower input transform). */
static int64_t odd_lines(int64_t n) {
  int64_t lines = (n + 15) / 16;
  return (lines | 1) * 16;
}

int rt_conv_winograd_ok(const conv_plan *p) {
  if (!winograd_shape(p) || rt_sgemm_current_kernel() != RT_SGEMM_AVX512) return 0;
  return rt_conv_winograd_worth(p->N, p->C, p->M, p->w.out[0], p->w.out[1]);
}

static ivm_status winograd_avx512(const rt_call *call, const conv_plan *p) {
  const isa_window *w = &p->w;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  cw_job job = {.p = p, .X = call->in[0]->data, .W = call->in[1]->data,
                .B = bt ? bt->data : NULL, .Y = call->out[0]->data,
                .given_u = p->trans_w == CONV_W_WINOGRAD};
  cw_job *j = &job;
  j->H = w->in[0];
  j->Wd = w->in[1];
  j->OH = w->out[0];
  j->OW = w->out[1];
  j->pt = w->pad_begin[0];
  j->pl = w->pad_begin[1];
  j->tw = (j->OW + 1) / 2;
  j->th = (j->OH + 1) / 2;
  /* Blocks of about tb tiles (see CW_BW): column blocks evened out in whole groups of 16. */
  int64_t tb = (int64_t)(CW_V_BYTES / (16 * sizeof(float))) / p->C;
  int64_t tb_pack = 2 * p->M < CW_TB_PACK ? 2 * p->M : CW_TB_PACK;
  if (tb < tb_pack) tb = tb_pack;
  j->ncb = (j->tw + CW_BW - 1) / CW_BW;
  j->bw = (j->tw + j->ncb - 1) / j->ncb;
  if (j->ncb > 1) j->bw = (j->bw + 15) / 16 * 16;
  j->ncb = (j->tw + j->bw - 1) / j->bw;
  rt_pool *pool = rt_call_pool(call);
  /* Threads as for the direct kernel's multiply-adds, so that a conv that direct would
   * split is split here too (Winograd's fewer products cost more each in transforms). */
  double macs = 9.0 * (double)(p->N * p->out_sz) * (double)p->M * (double)p->C;
  int threads = rt_gemm_threads(pool, macs);
  int64_t bh = tb / j->bw < 1 ? 1 : tb / j->bw;
  j->nrb = (j->th + bh - 1) / bh;
  j->bh = (j->th + j->nrb - 1) / j->nrb; /* row blocks are th / nrb rows, give or take one */
  j->blocks = p->N * j->nrb * j->ncb;
  /* Splitting the blocks, every thread streams all of U (16 M C floats) per block;
   * splitting the output channels, every thread repeats the input transform (16 C tiles
   * floats) instead. The latter is cheaper when M * threads > tiles * (threads - 1): few
   * tiles for many weights (at 14x14, 256 channels, 2 threads: 0.55 ms, not 1.0). */
  double tiles_all = (double)(p->N * j->th * j->tw);
  j->split_m = threads > 1 && (double)p->M * threads > tiles_all * (threads - 1);
  /* Otherwise, few blocks: a multiple of the threads (a little thinner), so that none
   * idles while another finishes a last block. */
  if (!j->split_m && threads > 1 && j->blocks < 8 * threads && j->blocks % threads)
    for (int64_t r = j->nrb + 1; r <= j->th && r <= 2 * j->nrb; r++)
      if (p->N * j->ncb * r % threads == 0) {
        j->nrb = r;
        j->bh = (j->th + r - 1) / r;
        j->blocks = p->N * j->ncb * r;
        break;
      }
  if (j->split_m && p->M < threads) threads = (int)p->M; /* a slice of at least one row */
  j->ld = odd_lines(j->bh * j->bw);
  j->ve = odd_lines(p->C * j->ld);
  j->oe = odd_lines(p->M * j->ld);
  j->ranges = j->split_m || j->blocks >= threads ? threads : (int)j->blocks;
  j->v_bytes = (size_t)(16 * j->ve) * sizeof(float);
  j->o_bytes = (size_t)(16 * j->oe) * sizeof(float);
  j->pack_bytes = rt_align64(rt_sgemm_pack_bytes(p->M, j->bh * j->bw, p->C));
  j->u_bytes = j->given_u ? 0 : rt_align64((size_t)(16 * p->M * p->C) * sizeof(float));
  j->dup_w = !j->given_u && j->ranges > 1 && !j->split_m && p->M * p->C <= CW_DUP_PAIRS;
  j->range_bytes = (j->dup_w ? j->u_bytes : 0) + j->v_bytes + j->o_bytes + j->pack_bytes;
  char *mem;
  IVM_TRY(rt_scratch_get(call->scratch,
                         (j->dup_w ? 0 : j->u_bytes) + (size_t)j->ranges * j->range_bytes,
                         (void **)&mem));
  j->U = j->given_u ? j->W : (const float *)mem;
  j->mem = mem + (j->dup_w ? 0 : j->u_bytes);
  int64_t groups = (p->M + 15) / 16;
  if (!j->given_u && !j->split_m && !j->dup_w)
    rt_pool_for(threads > 1 ? pool : NULL, groups, (groups + threads - 1) / threads,
                weights_task, j);
  rt_pool_for(threads > 1 ? pool : NULL, j->ranges, 1, ranges_task, j);
  return NULL;
}

#else
int rt_conv_winograd_ok(const conv_plan *p) {
  (void)p;
  return 0;
}
#endif

ivm_status rt_conv_winograd_f32(const rt_call *call, const conv_plan *p) {
  if (!winograd_shape(p))
    return ivm_error(IVM_ERR_INTERNAL, "Conv: Winograd F(2x2, 3x3) given another shape");
  if (p->N == 0 || p->M == 0 || p->out_sz == 0) return NULL;
#if defined(__GNUC__) && defined(__x86_64__)
  if (rt_sgemm_current_kernel() == RT_SGEMM_AVX512) return winograd_avx512(call, p);
#endif
  return winograd_portable(call, p);
}
