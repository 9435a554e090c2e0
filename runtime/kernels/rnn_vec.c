/* Vector building blocks of the recurrent kernels (see rnn_vec.h). Products run on
 * AVX-512 when rt_sgemm does (same CPU check and IVM_SGEMM_KERNEL override), else on
 * GCC generic vectors (AVX2 in Release builds); the activations on generic vectors
 * (runtime/kernels/vmath.h, shared with the unary kernels). */
#include "runtime/kernels/rnn_vec.h"

#include <math.h>
#include <string.h>

#include "runtime/kernels/gemm.h"
#include "runtime/kernels/vmath.h"

static int use_avx512(void) { return rt_sgemm_current_kernel() == RT_SGEMM_AVX512; }

/* ---- packing ------------------------------------------------------------------------- */
size_t rt_rnn_packed_floats(int64_t G, int64_t H, int64_t K) {
  int64_t Q = (H + RT_RNN_PANEL - 1) / RT_RNN_PANEL;
  return (size_t)Q * (size_t)G * (size_t)K * RT_RNN_PANEL;
}

/* Scalar packing of panel lanes [l0, l1), columns [p0, K), of gate g's panel q. */
static void pack_lanes(const float *R, int64_t H, int64_t K, int64_t g, int64_t j0, int64_t l0,
                       int64_t l1, int64_t p0, float *panel) {
  for (int64_t l = l0; l < l1; l++) {
    const float *row = R + (g * H + j0 + l) * K;
    for (int64_t p = p0; p < K; p++) panel[p * RT_RNN_PANEL + l] = row[p];
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
static void pack_blocks_avx512(const float *R, int64_t H, int64_t K, int64_t g, int64_t j0,
                               int64_t width, float *panel);
#endif

void rt_rnn_pack(const float *R, int64_t G, int64_t H, int64_t K, int64_t q0, int64_t q1,
                 float *out) {
  for (int64_t q = q0; q < q1; q++)
    for (int64_t g = 0; g < G; g++) {
      float *panel = out + rt_rnn_panel_off(G, K, q, g);
      int64_t j0 = q * RT_RNN_PANEL, width = H - j0 < RT_RNN_PANEL ? H - j0 : RT_RNN_PANEL;
      if (width < RT_RNN_PANEL) memset(panel, 0, (size_t)K * RT_RNN_PANEL * sizeof(float));
#if defined(__GNUC__) && defined(__x86_64__)
      if (use_avx512()) { /* 16 x 16 blocks transposed in registers, then the edges */
        pack_blocks_avx512(R, H, K, g, j0, width, panel);
        int64_t lw = width / 16 * 16, pk = K / 16 * 16;
        pack_lanes(R, H, K, g, j0, 0, lw, pk, panel);
        pack_lanes(R, H, K, g, j0, lw, width, 0, panel);
        continue;
      }
#endif
      pack_lanes(R, H, K, g, j0, 0, width, 0, panel);
    }
}

/* ---- portable products ----------------------------------------------------------------- */
#if defined(__GNUC__)
static inline float hsum(vf v) {
  float a[VW];
  memcpy(a, &v, sizeof a);
  for (int w = VW / 2; w > 0; w /= 2) /* pairwise: a[i] += a[i + w] */
    for (int i = 0; i < w; i++) a[i] += a[i + w];
  return a[0];
}

VM_FMA_ATTR static void panel_mv_portable(const float *panel, int64_t K, const float *x,
                                           int64_t ldx, int64_t nb, float *out, int64_t ldo,
                                           int64_t width) {
  for (int64_t b = 0; b < nb; b++) {
    enum { NV = RT_RNN_PANEL / VW };
    vf acc[NV];
    for (int v = 0; v < NV; v++) acc[v] = (vf){0};
    const float *xb = x + b * ldx;
    for (int64_t p = 0; p < K; p++) {
      vf xv = splat(xb[p]);
      const float *w = panel + p * RT_RNN_PANEL;
      for (int v = 0; v < NV; v++) acc[v] += ldv(w + VW * v) * xv;
    }
    float tmp[RT_RNN_PANEL];
    for (int v = 0; v < NV; v++) stv(tmp + VW * v, acc[v]);
    memcpy(out + b * ldo, tmp, (size_t)width * sizeof(float));
  }
}

VM_FMA_ATTR static void rows_mv_portable(const float *rows, int64_t nrows, int64_t K,
                                          const float *x, float *out) {
  for (int64_t r = 0; r < nrows; r++) {
    const float *w = rows + r * K;
    vf acc = (vf){0};
    int64_t p = 0;
    for (; p + VW <= K; p += VW) acc += ldv(w + p) * ldv(x + p);
    float tail = 0.0f;
    for (; p < K; p++) tail += w[p] * x[p];
    out[r] = hsum(acc) + tail;
  }
}
#else
static void panel_mv_portable(const float *panel, int64_t K, const float *x, int64_t ldx,
                              int64_t nb, float *out, int64_t ldo, int64_t width) {
  for (int64_t b = 0; b < nb; b++)
    for (int64_t l = 0; l < width; l++) {
      float s = 0.0f;
      for (int64_t p = 0; p < K; p++) s += x[b * ldx + p] * panel[p * RT_RNN_PANEL + l];
      out[b * ldo + l] = s;
    }
}
static void rows_mv_portable(const float *rows, int64_t nrows, int64_t K, const float *x,
                             float *out) {
  for (int64_t r = 0; r < nrows; r++) {
    float s = 0.0f;
    for (int64_t p = 0; p < K; p++) s += rows[r * K + p] * x[p];
    out[r] = s;
  }
}
#endif

/* ---- AVX-512 products ------------------------------------------------------------------ */
#if defined(__GNUC__) && defined(__x86_64__)
#define RNN_HAS_AVX512 1
#include <immintrin.h>

#include "runtime/kernels/transpose512.h"

#define AVX512_FN __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

static __mmask16 lanes16(int64_t n) {
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* The whole 16 x 16 blocks of one panel: lanes [0, width / 16 * 16), columns [0, K / 16 * 16). */
AVX512_FN static void pack_blocks_avx512(const float *R, int64_t H, int64_t K, int64_t g,
                                         int64_t j0, int64_t width, float *panel) {
  for (int64_t l0 = 0; l0 + 16 <= width; l0 += 16) {
    const float *rows = R + (g * H + j0 + l0) * K;
    for (int64_t p0 = 0; p0 + 16 <= K; p0 += 16) {
      __m512 v[16];
      for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(rows + i * K + p0);
      t512_transpose16(v);
      for (int i = 0; i < 16; i++) _mm512_storeu_ps(panel + (p0 + i) * RT_RNN_PANEL + l0, v[i]);
    }
  }
}

/* nb (1..6) rows of x against one panel: 4 zmm accumulators per row, one FMA chain per
 * lane in order of p, the panel row loaded once for all nb rows. */
AVX512_FN static inline __attribute__((always_inline)) void
z_panel(const float *panel, int64_t K, const float *x, int64_t ldx, const int nb, float *out,
        int64_t ldo, int64_t width) {
  __m512 acc[6][4];
  for (int b = 0; b < nb; b++)
    for (int v = 0; v < 4; v++) acc[b][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < K; p++) {
    const float *w = panel + p * RT_RNN_PANEL;
    __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
    __m512 w2 = _mm512_loadu_ps(w + 32), w3 = _mm512_loadu_ps(w + 48);
    for (int b = 0; b < nb; b++) {
      __m512 xv = _mm512_set1_ps(x[b * ldx + p]);
      acc[b][0] = _mm512_fmadd_ps(w0, xv, acc[b][0]);
      acc[b][1] = _mm512_fmadd_ps(w1, xv, acc[b][1]);
      acc[b][2] = _mm512_fmadd_ps(w2, xv, acc[b][2]);
      acc[b][3] = _mm512_fmadd_ps(w3, xv, acc[b][3]);
    }
  }
  for (int b = 0; b < nb; b++)
    for (int v = 0; v < 4; v++)
      _mm512_mask_storeu_ps(out + b * ldo + 16 * v, lanes16(width - 16 * v), acc[b][v]);
}

AVX512_FN static void panel_mv_avx512(const float *panel, int64_t K, const float *x,
                                      int64_t ldx, int64_t nb, float *out, int64_t ldo,
                                      int64_t width) {
  for (int64_t b = 0; b < nb; b += 6) {
    const float *xb = x + b * ldx;
    float *ob = out + b * ldo;
    switch (nb - b < 6 ? nb - b : 6) {
      case 1: z_panel(panel, K, xb, ldx, 1, ob, ldo, width); break;
      case 2: z_panel(panel, K, xb, ldx, 2, ob, ldo, width); break;
      case 3: z_panel(panel, K, xb, ldx, 3, ob, ldo, width); break;
      case 4: z_panel(panel, K, xb, ldx, 4, ob, ldo, width); break;
      case 5: z_panel(panel, K, xb, ldx, 5, ob, ldo, width); break;
      default: z_panel(panel, K, xb, ldx, 6, ob, ldo, width); break;
    }
  }
}

/* nr (1 or 4) dot products; each row's arithmetic is the same in either block size. */
AVX512_FN static inline __attribute__((always_inline)) void
z_dots(const float *rows, const int nr, int64_t K, const float *x, float *out) {
  __m512 acc[4];
  for (int r = 0; r < nr; r++) acc[r] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= K; p += 16) {
    __m512 xv = _mm512_loadu_ps(x + p);
    for (int r = 0; r < nr; r++)
      acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(rows + r * K + p), xv, acc[r]);
  }
  if (p < K) {
    __mmask16 m = lanes16(K - p);
    __m512 xv = _mm512_maskz_loadu_ps(m, x + p);
    for (int r = 0; r < nr; r++)
      acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, rows + r * K + p), xv, acc[r]);
  }
  for (int r = 0; r < nr; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
}

AVX512_FN static void rows_mv_avx512(const float *rows, int64_t nrows, int64_t K,
                                     const float *x, float *out) {
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) z_dots(rows + r * K, 4, K, x, out + r);
  for (; r < nrows; r++) z_dots(rows + r * K, 1, K, x, out + r);
}
#endif

void rt_rnn_panel_mv(const float *panel, int64_t K, const float *x, int64_t ldx, int64_t nb,
                     float *out, int64_t ldo, int64_t width) {
#ifdef RNN_HAS_AVX512
  if (use_avx512()) {
    panel_mv_avx512(panel, K, x, ldx, nb, out, ldo, width);
    return;
  }
#endif
  panel_mv_portable(panel, K, x, ldx, nb, out, ldo, width);
}

void rt_rnn_rows_mv(const float *rows, int64_t nrows, int64_t K, const float *x, float *out) {
#ifdef RNN_HAS_AVX512
  if (use_avx512()) {
    rows_mv_avx512(rows, nrows, K, x, out);
    return;
  }
#endif
  rows_mv_portable(rows, nrows, K, x, out);
}

/* ---- activations (runtime/kernels/vmath.h) ------------------------------------------ */
#if defined(__GNUC__)
void rt_rnn_sigmoid(float *x, int64_t n) { VM_MAP(v_sigmoid, x, x, n); }
void rt_rnn_tanh(float *x, int64_t n) { VM_MAP(v_tanh, x, x, n); }

/* One vector of units: gate pre-activations are products plus projections, i o f c. */
VM_FMA_ATTR static inline void lstm_vec(const float *g, const float *x, int64_t gs, float *c,
                                         float *h) {
  vf i = v_sigmoid(ldv(g) + ldv(x));
  vf o = v_sigmoid(ldv(g + gs) + ldv(x + gs));
  vf f = v_sigmoid(ldv(g + 2 * gs) + ldv(x + 2 * gs));
  vf cand = v_tanh(ldv(g + 3 * gs) + ldv(x + 3 * gs));
  vf cn = f * ldv(c) + i * cand;
  stv(c, cn);
  stv(h, o * v_tanh(cn));
}

void rt_rnn_lstm_default(const float *g, const float *x, int64_t gs, float *c, float *h,
                         int64_t n) {
  int64_t j = 0;
  for (; j + VW <= n; j += VW) lstm_vec(g + j, x + j, gs, c + j, h + j);
  if (j < n) { /* the tail through padded copies, by the same instructions */
    size_t tail = (size_t)(n - j) * sizeof(float);
    float pg[4 * VW] = {0}, px[4 * VW] = {0}, pc[VW] = {0}, ph[VW];
    for (int q = 0; q < 4; q++) {
      memcpy(pg + q * VW, g + q * gs + j, tail);
      memcpy(px + q * VW, x + q * gs + j, tail);
    }
    memcpy(pc, c + j, tail);
    lstm_vec(pg, px, VW, pc, ph);
    memcpy(c + j, pc, tail);
    memcpy(h + j, ph, tail);
  }
}
#else
void rt_rnn_sigmoid(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}
void rt_rnn_tanh(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}
void rt_rnn_lstm_default(const float *g, const float *x, int64_t gs, float *c, float *h,
                         int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    float i = 1.0f / (1.0f + expf(-(g[j] + x[j])));
    float o = 1.0f / (1.0f + expf(-(g[gs + j] + x[gs + j])));
    float f = 1.0f / (1.0f + expf(-(g[2 * gs + j] + x[2 * gs + j])));
    c[j] = f * c[j] + i * tanhf(g[3 * gs + j] + x[3 * gs + j]);
    h[j] = o * tanhf(c[j]);
  }
}
#endif
