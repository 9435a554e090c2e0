/* Cache-blocked sgemm (GotoBLAS loop order: N blocks, K blocks with B packed, M blocks with
 * A packed, then MR x NR register tiles) and the Gemm kernel.
 *
 * Two register-tile implementations share the loop nest: a portable one written with
 * generic vectors (6 x 16; AVX2 in Release builds, which target x86-64-v3) and an AVX-512
 * one (up to 14 x 32) compiled for avx512f with a target attribute and chosen at run time
 * from CPUID, so the same binary still runs on AVX2-only CPUs. Each brings its own packing,
 * since the packed panel layout is the tile's shape.
 *
 * Around the loop nest: blocks are split evenly (no thin last block), B is packed a chunk
 * at a time just before use, and a row-major B small enough to stay in cache is not
 * packed at all (AVX-512 path). On the AVX-512 machine IVM is developed on
 * (bench/sgemm.c), the AVX-512 path runs one core at 90-93% of its measured FMA peak from
 * 128^3 to 1024^3; the portable one reaches about 87% of the ymm peak, half as much. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels/gemm.h"
#include "runtime/kernels/gemm_par.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* One register-tile implementation: its tile and block sizes and the routines the loop
 * nest calls. macro() runs every tile of one packed mc x kc A block against a kc x nc
 * panel of B, and writes C = alpha * A B + (first ? beta C : C): first marks the first K
 * block, the one that applies beta. */
typedef struct sgemm_impl {
  int64_t mr, nr, mc, kc, nc;
  int reads_in_place; /* macro() takes an unpacked row-major A (lda != 0) and B (ldb != 0) */
  void (*pack_a)(int64_t mc, int64_t kc, const float *A, int64_t rsa, int64_t csa, float *ap);
  void (*pack_b)(int64_t kc, int64_t nc, const float *B, int64_t rsb, int64_t csb, float *bp);
  /* ap: packed panels when lda is 0, else A itself with row stride lda; bp likewise. */
  void (*macro)(int64_t mc, int64_t nc, int64_t kc, const float *ap, int64_t lda,
                const float *bp, int64_t ldb, float *C, int64_t ldc, float alpha, float beta,
                int first);
  /* C = alpha * A B + beta * C for row-major A against column-major B (rsb == 1) when
   * M <= DOT_MAX_ROWS or N <= DOT_MAX_COLS: one dot product per element (NULL: none). */
  void (*dot)(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              const float *B, int64_t csb, float beta, float *C, int64_t ldc);
} sgemm_impl;
#define DOT_MAX_ROWS 4
#define DOT_MAX_COLS 16

/* ---- Portable path: 6 x 16 tiles of generic vectors ------------------------------------ */
#define MR 6
#define NR 16
#define MC 96  /* MC x KC A block stays in L2 */
#define KC 256
#define NC 2048 /* KC x NC B panel stays in L3 */

/* Packs the mc x kc block of A into MR-row panels, p-major: ap[panel][p][i]; rows past mc
 * are zero so the micro-kernel always runs full tiles. */
static void pack_a(int64_t mc, int64_t kc, const float *A, int64_t rsa, int64_t csa, float *ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    int64_t mr = min64(MR, mc - i0);
    if (mr == MR && csa == 1) {
      const float *r[MR];
      for (int i = 0; i < MR; i++) r[i] = A + (i0 + i) * rsa;
      for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < MR; i++) *ap++ = r[i][p];
    } else {
      for (int64_t p = 0; p < kc; p++) {
        int64_t i = 0;
        for (; i < mr; i++) *ap++ = A[(i0 + i) * rsa + p * csa];
        for (; i < MR; i++) *ap++ = 0.0f;
      }
    }
  }
}

/* Packs the kc x nc block of B into NR-column panels: bp[panel][p][j]. */
static void pack_b(int64_t kc, int64_t nc, const float *B, int64_t rsb, int64_t csb, float *bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    int64_t nr = min64(NR, nc - j0);
    if (nr == NR && csb == 1) {
      for (int64_t p = 0; p < kc; p++) {
        memcpy(bp, B + p * rsb + j0, NR * sizeof(float));
        bp += NR;
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        int64_t j = 0;
        for (; j < nr; j++) *bp++ = B[p * rsb + (j0 + j) * csb];
        for (; j < NR; j++) *bp++ = 0.0f;
      }
    }
  }
}

/* The register tile: MR x NR accumulators over kc steps, then
 * C = alpha*acc + (first ? beta*C : C). With GCC the accumulators are written as generic
 * vectors (no intrinsics; AVX2 gives 12 ymm registers for 6x16), elsewhere as scalars. */
#if defined(__GNUC__) && !defined(__clang__)
#define RT_FMA_ATTR __attribute__((optimize("fp-contract=fast")))
#else
#define RT_FMA_ATTR
#endif

#if defined(__GNUC__)
#if defined(__AVX__)
#define VW 8 /* floats per vector register */
#else
#define VW 4
#endif
#define NV (NR / VW)
typedef float vf __attribute__((vector_size(VW * sizeof(float))));

RT_FMA_ATTR static void tile(int64_t kc, const float *restrict a, const float *restrict b,
                             float acc_out[MR][NR]) {
  vf acc[MR][NV];
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) acc[i][v] = (vf){0};
  for (int64_t p = 0; p < kc; p++) {
    vf bv[NV]; /* memcpy: no aliasing or alignment assumptions; compiles to vmovups */
    for (int v = 0; v < NV; v++) memcpy(&bv[v], b + v * VW, sizeof bv[v]);
    for (int i = 0; i < MR; i++) {
      vf ai = (vf){0} + a[i];
      for (int v = 0; v < NV; v++) acc[i][v] += ai * bv[v];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) memcpy(&acc_out[i][v * VW], &acc[i][v], sizeof acc[i][v]);
}
#else
static void tile(int64_t kc, const float *restrict a, const float *restrict b,
                 float acc[MR][NR]) {
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = 0.0f;
  for (int64_t p = 0; p < kc; p++) {
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    a += MR;
    b += NR;
  }
}
#endif

static void micro_kernel(int64_t kc, const float *restrict a, const float *restrict b,
                         float *restrict c, int64_t ldc, int64_t mr, int64_t nr, float alpha,
                         float beta, int first) {
  float acc[MR][NR];
  tile(kc, a, b, acc);
  if (mr == MR && nr == NR) {
    if (!first || beta == 1.0f) {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] += alpha * acc[i][j];
    } else if (beta == 0.0f) {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = alpha * acc[i][j];
    } else {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = alpha * acc[i][j] + beta * c[i * ldc + j];
    }
    return;
  }
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) {
      float v = alpha * acc[i][j];
      float *cp = &c[i * ldc + j];
      if (!first || beta == 1.0f) *cp += v;
      else if (beta == 0.0f) *cp = v;
      else *cp = v + beta * *cp;
    }
}

static void macro_kernel(int64_t mc, int64_t nc, int64_t kc, const float *ap, int64_t lda,
                         const float *bp, int64_t ldb, float *C, int64_t ldc, float alpha,
                         float beta, int first) {
  (void)lda, (void)ldb; /* always packed (reads_in_place is 0) */
  for (int64_t jr = 0; jr < nc; jr += NR)
    for (int64_t ir = 0; ir < mc; ir += MR)
      micro_kernel(kc, ap + ir * kc, bp + jr * kc, C + ir * ldc + jr, ldc, min64(MR, mc - ir),
                   min64(NR, nc - jr), alpha, beta, first);
}

static const sgemm_impl portable_impl = {MR, NR, MC, KC, NC, 0, pack_a, pack_b, macro_kernel,
                                         NULL};

/* ---- AVX-512 path: tiles of up to 14 x 32 ---------------------------------------------------- */
#if defined(__GNUC__) && defined(__x86_64__)
#define RT_SGEMM_HAS_AVX512 1
#include <immintrin.h>

#include "runtime/kernels/transpose512.h"

#define AVX512_FN __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
/* 28 zmm accumulators + 2 for B + 1 broadcast of A: 31 of the 32 registers. */
#define ZMR 14
#define ZNR 32
/* The 32 x KC B micro-panel (32 KiB) stays in L1 (48 KiB) while the MC x KC A block
 * (336 KiB) streams from L2 (1 MiB); the KC x NC B panel (4 MiB) lives in L3. */
#define ZMC 336
#define ZKC 256
#define ZNC 4096

static __mmask16 lanes(int64_t n) { /* mask of the first n (clamped to 0..16) lanes */
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Reads `rows` (<= 16; the rest count as zero) rows of `cols` (1..16) floats, ld apart,
 * and writes column q of that block to dst + q*dst_ld (the lanes in dst_mask), q < cols. */
AVX512_FN static void z_transpose_block(const float *src, int64_t ld, int64_t rows, int64_t cols,
                                        float *dst, int64_t dst_ld, __mmask16 dst_mask) {
  __m512 r[16];
  __mmask16 cm = lanes(cols);
  for (int i = 0; i < 16; i++)
    r[i] = i < rows ? _mm512_maskz_loadu_ps(cm, src + i * ld) : _mm512_setzero_ps();
  t512_transpose16(r);
  for (int q = 0; q < 16; q++)
    if (q < cols) _mm512_mask_storeu_ps(dst + q * dst_ld, dst_mask, r[q]);
}

/* Rows of tile t when mc rows are shared out as evenly as possible among the fewest
 * tiles of at most ZMR rows (128 = 8 x 13 + 2 x 12 rather than 9 x 14 + 2): a thin tile
 * has too few accumulators to cover the FMA latency. Tile t starts at row
 * t * base + min(t, extra). */
typedef struct z_rows {
  int64_t tiles, base, extra;
} z_rows;
static z_rows z_row_split(int64_t mc) {
  z_rows r;
  r.tiles = (mc + ZMR - 1) / ZMR;
  r.base = mc / r.tiles;
  r.extra = mc % r.tiles;
  return r;
}

/* A into one panel per row tile: the tile of m rows starting at row r0 is stored at
 * ap + r0 * kc as ap[p][i] (i < m). Row-major A is transposed 16 x 16 at a time;
 * column-major A (rsa == 1) copies m contiguous floats per p. */
AVX512_FN static void z_pack_a(int64_t mc, int64_t kc, const float *A, int64_t rsa, int64_t csa,
                               float *ap) {
  z_rows split = z_row_split(mc);
  for (int64_t t = 0, r0 = 0; t < split.tiles; t++) {
    int64_t m = split.base + (t < split.extra);
    const float *a = A + r0 * rsa;
    float *dst = ap + r0 * kc;
    __mmask16 rows = lanes(m);
    if (csa == 1) {
      for (int64_t p0 = 0; p0 < kc; p0 += 16)
        z_transpose_block(a + p0, rsa, m, min64(16, kc - p0), dst + p0 * m, m, rows);
    } else if (rsa == 1) {
      for (int64_t p = 0; p < kc; p++)
        _mm512_mask_storeu_ps(dst + p * m, rows, _mm512_maskz_loadu_ps(rows, a + p * csa));
    } else {
      for (int64_t p = 0; p < kc; p++)
        for (int64_t i = 0; i < m; i++) dst[p * m + i] = a[i * rsa + p * csa];
    }
    r0 += m;
  }
}

/* B into ZNR-column panels, bp[panel][p][j], columns past nc zero. Row-major B copies
 * rows; column-major B (rsb == 1, e.g. Gemm transB) is transposed 16 x 16 at a time. */
AVX512_FN static void z_pack_b(int64_t kc, int64_t nc, const float *B, int64_t rsb, int64_t csb,
                               float *bp) {
  if (csb == 1) { /* row by row: reads stay sequential, each row feeds every panel */
    for (int64_t p = 0; p < kc; p++) {
      const float *b = B + p * rsb;
      float *dst = bp + p * ZNR;
      int64_t j0 = 0;
      for (; j0 + ZNR <= nc; j0 += ZNR, dst += ZNR * kc) {
        _mm512_storeu_ps(dst, _mm512_loadu_ps(b + j0));
        _mm512_storeu_ps(dst + 16, _mm512_loadu_ps(b + j0 + 16));
      }
      if (j0 < nc) {
        _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps(lanes(nc - j0), b + j0));
        _mm512_storeu_ps(dst + 16, _mm512_maskz_loadu_ps(lanes(nc - j0 - 16), b + j0 + 16));
      }
    }
    return;
  }
  for (int64_t j0 = 0; j0 < nc; j0 += ZNR, bp += ZNR * kc) {
    int64_t nr = min64(ZNR, nc - j0);
    const float *b = B + j0 * csb;
    if (rsb == 1) {
      for (int64_t h = 0; h < ZNR; h += 16)
        for (int64_t p0 = 0; p0 < kc; p0 += 16)
          z_transpose_block(b + h * csb + p0, csb, nr - h, min64(16, kc - p0), bp + p0 * ZNR + h,
                            ZNR, 0xffff);
    } else {
      for (int64_t p = 0; p < kc; p++)
        for (int64_t j = 0; j < ZNR; j++) bp[p * ZNR + j] = j < nr ? b[p * rsb + j * csb] : 0.0f;
    }
  }
}

/* The register tile for m (compile-time, 1..ZMR) rows and `halves` (compile-time, 1 or
 * 2) 16-column halves: m x 16*halves accumulators over kc steps (per step one load of B
 * per half, m broadcasts of A, m FMAs per half; the A panel is m wide, or with `lda`
 * (compile-time non-zero) A's own rows lda apart), then
 * C = alpha*acc + (first ? beta*C : C) on the columns in masks c0 | c1. Instantiated per
 * shape, so every tile runs with its accumulators in registers, and a last panel of at
 * most 16 columns costs half a full one. */
typedef struct z_update {
  float alpha, beta;
  int first;
  __mmask16 c0, c1; /* the tile's columns (of 32) */
  int64_t ldb;      /* B row stride: ZNR in a packed panel, rsb when read in place */
} z_update;

/* How the update reaches the tile matters: as a pointer it is read only after the loop,
 * whereas alpha and beta passed as floats stay live in vector registers across it and
 * GCC then spills a B vector for some tile heights. */
AVX512_FN static inline __attribute__((always_inline)) void
z_tile(int m, int halves, int a_in_place, int64_t kc, const float *restrict a, int64_t lda,
       const float *restrict b, float *restrict c, int64_t ldc, const z_update *up) {
  __m512 lo[ZMR], hi[ZMR];
  const int64_t ldb = up->ldb;
  const __mmask16 b0_cols = up->c0, b1_cols = up->c1;
#pragma GCC unroll 14
  for (int i = 0; i < m; i++) {
    lo[i] = _mm512_setzero_ps();
    hi[i] = _mm512_setzero_ps();
    _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T1);
    if (halves == 2) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T1);
  }
  /* The C tile goes to L2 first and to L1 only for the last steps: rows a power of two
   * apart share an L1 set, where the streaming panels would evict them again. */
  int64_t p = 0, near_end = kc - 48;
  for (int pass = 0; pass < 2; pass++) {
    for (; p < near_end; p++) {
      /* Masked: B read in place has only the tile's columns. */
      __m512 b0 = _mm512_maskz_loadu_ps(b0_cols, b);
      __m512 b1 = halves == 2 ? _mm512_maskz_loadu_ps(b1_cols, b + 16) : b0;
#pragma GCC unroll 14
      for (int i = 0; i < m; i++) {
        __m512 ai = _mm512_set1_ps(a_in_place ? a[i * lda] : a[i]);
        lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);
        if (halves == 2) hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);
      }
      a += a_in_place ? 1 : m;
      b += ldb;
    }
    if (pass == 0) {
#pragma GCC unroll 14
      for (int i = 0; i < m; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (halves == 2) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
      }
    }
    near_end = kc;
  }
  __m512 va = _mm512_set1_ps(up->alpha), vb = _mm512_set1_ps(up->beta);
  int accumulate = !up->first || up->beta == 1.0f, overwrite = up->first && up->beta == 0.0f;
  __mmask16 c0 = up->c0, c1 = up->c1;
#pragma GCC unroll 14
  for (int i = 0; i < m; i++) {
    float *ci = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(lo[i], va);
    if (!overwrite) {
      __m512 o0 = _mm512_maskz_loadu_ps(c0, ci);
      r0 = accumulate ? _mm512_add_ps(r0, o0) : _mm512_fmadd_ps(vb, o0, r0);
    }
    _mm512_mask_storeu_ps(ci, c0, r0);
    if (halves == 1) continue;
    __m512 r1 = _mm512_mul_ps(hi[i], va);
    if (!overwrite) {
      __m512 o1 = _mm512_maskz_loadu_ps(c1, ci + 16);
      r1 = accumulate ? _mm512_add_ps(r1, o1) : _mm512_fmadd_ps(vb, o1, r1);
    }
    _mm512_mask_storeu_ps(ci + 16, c1, r1);
  }
}

typedef void (*z_tile_fn)(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                          int64_t ldc, const z_update *up);
#define Z_TILE(m, h, in_place, name)                                                       \
  AVX512_FN static void name(int64_t kc, const float *a, int64_t lda, const float *b,       \
                             float *c, int64_t ldc, const z_update *up) {                   \
    z_tile(m, h, in_place, kc, a, lda, b, c, ldc, up);                                      \
  }
#define Z_TILES(m)                                                                         \
  Z_TILE(m, 1, 0, z_tile_##m##x1) Z_TILE(m, 2, 0, z_tile_##m##x2)                          \
  Z_TILE(m, 1, 1, z_tile_a##m##x1) Z_TILE(m, 2, 1, z_tile_a##m##x2)
Z_TILES(1) Z_TILES(2) Z_TILES(3) Z_TILES(4) Z_TILES(5) Z_TILES(6) Z_TILES(7)
Z_TILES(8) Z_TILES(9) Z_TILES(10) Z_TILES(11) Z_TILES(12) Z_TILES(13) Z_TILES(14)
/* [a in place][rows][halves - 1] */
#define Z_ROW(m) {z_tile_##m##x1, z_tile_##m##x2}
#define Z_AROW(m) {z_tile_a##m##x1, z_tile_a##m##x2}
static const z_tile_fn z_tiles[2][ZMR + 1][2] = {
    {{NULL, NULL}, Z_ROW(1),  Z_ROW(2),  Z_ROW(3),  Z_ROW(4),  Z_ROW(5),  Z_ROW(6), Z_ROW(7),
     Z_ROW(8),     Z_ROW(9),  Z_ROW(10), Z_ROW(11), Z_ROW(12), Z_ROW(13), Z_ROW(14)},
    {{NULL, NULL}, Z_AROW(1),  Z_AROW(2),  Z_AROW(3),  Z_AROW(4),  Z_AROW(5),  Z_AROW(6),
     Z_AROW(7),    Z_AROW(8),  Z_AROW(9),  Z_AROW(10), Z_AROW(11), Z_AROW(12), Z_AROW(13),
     Z_AROW(14)}};

AVX512_FN static void z_macro(int64_t mc, int64_t nc, int64_t kc, const float *ap,
                              int64_t lda, const float *bp, int64_t ldb, float *C, int64_t ldc,
                              float alpha, float beta, int first) {
  z_rows split = z_row_split(mc);
  for (int64_t jr = 0; jr < nc; jr += ZNR) {
    z_update up = {alpha, beta, first, lanes(nc - jr), lanes(nc - jr - 16), ldb ? ldb : ZNR};
    const float *b = ldb ? bp + jr : bp + jr * kc;
    int halves = nc - jr > 16 ? 2 : 1;
    for (int64_t t = 0, r0 = 0; t < split.tiles; t++) {
      int64_t m = split.base + (t < split.extra);
      z_tiles[lda != 0][m][halves - 1](kc, lda ? ap + r0 * lda : ap + r0 * kc, lda, b,
                                       C + r0 * ldc + jr, ldc, &up);
      r0 += m;
    }
  }
}

/* Dot products of rows of A against a column-major B (rsb == 1) when C has few rows
 * (Gemm transB with one input row, the usual Linear layer at batch 1) or few columns (a
 * conv's weights against a few output positions, their inputs laid out transposed): the
 * tile would need B packed into row panels (a transpose of the whole weight matrix on
 * every call) or fill only part of its vectors, whereas rows of A and columns of B are
 * both contiguous here and every lane does useful work. out[i][j] for i < mm, j < g
 * (compile-time): 16 lanes per product (lane l sums p = l mod 16 in order), then the
 * lanes in a fixed tree; so each element depends on K alone, whatever rows and columns
 * share its call. Whether a call takes this path depends on M and N, and the thread
 * panels of gemm_par.h keep it: column panels are >= 48 wide, row panels >= 8 rows. */
AVX512_FN static inline __attribute__((always_inline)) void
z_dot_tile(int mm, int g, int64_t K, const float *a, int64_t lda, const float *b, int64_t ldb,
           float out[4][8]) {
  __m512 acc[4][8];
#pragma GCC unroll 4
  for (int i = 0; i < mm; i++)
#pragma GCC unroll 8
    for (int j = 0; j < g; j++) acc[i][j] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p <= K - 16; p += 16) {
    __m512 av[4];
#pragma GCC unroll 4
    for (int i = 0; i < mm; i++) av[i] = _mm512_loadu_ps(a + i * lda + p);
#pragma GCC unroll 8
    for (int j = 0; j < g; j++) {
      __m512 bv = _mm512_loadu_ps(b + j * ldb + p);
#pragma GCC unroll 4
      for (int i = 0; i < mm; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
    }
  }
  if (p < K) {
    __mmask16 rest = lanes(K - p);
    __m512 av[4];
#pragma GCC unroll 4
    for (int i = 0; i < mm; i++) av[i] = _mm512_maskz_loadu_ps(rest, a + i * lda + p);
#pragma GCC unroll 8
    for (int j = 0; j < g; j++) {
      __m512 bv = _mm512_maskz_loadu_ps(rest, b + j * ldb + p);
#pragma GCC unroll 4
      for (int i = 0; i < mm; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < mm; i++)
#pragma GCC unroll 8
    for (int j = 0; j < g; j++) out[i][j] = _mm512_reduce_add_ps(acc[i][j]);
}

typedef void (*z_dot_fn)(int64_t K, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float out[4][8]);
#define Z_DOT(mm, g)                                                                       \
  AVX512_FN static void z_dot_##mm##x##g(int64_t K, const float *a, int64_t lda,            \
                                         const float *b, int64_t ldb, float out[4][8]) {    \
    z_dot_tile(mm, g, K, a, lda, b, ldb, out);                                              \
  }
Z_DOT(1, 1) Z_DOT(1, 2) Z_DOT(1, 3) Z_DOT(1, 4) Z_DOT(1, 5) Z_DOT(1, 6) Z_DOT(1, 7) Z_DOT(1, 8)
Z_DOT(2, 1) Z_DOT(2, 2) Z_DOT(2, 3) Z_DOT(2, 4)
Z_DOT(3, 1) Z_DOT(3, 2) Z_DOT(3, 3) Z_DOT(3, 4)
Z_DOT(4, 1) Z_DOT(4, 2) Z_DOT(4, 3) Z_DOT(4, 4)
/* [rows][columns]: 8 columns at a time for one row, 4 for more (at most 16 accumulators). */
static const z_dot_fn z_dots[5][9] = {
    {NULL},
    {NULL, z_dot_1x1, z_dot_1x2, z_dot_1x3, z_dot_1x4, z_dot_1x5, z_dot_1x6, z_dot_1x7, z_dot_1x8},
    {NULL, z_dot_2x1, z_dot_2x2, z_dot_2x3, z_dot_2x4},
    {NULL, z_dot_3x1, z_dot_3x2, z_dot_3x3, z_dot_3x4},
    {NULL, z_dot_4x1, z_dot_4x2, z_dot_4x3, z_dot_4x4}};

static void z_dot(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
                  const float *B, int64_t csb, float beta, float *C, int64_t ldc) {
  float out[4][8];
  for (int64_t i0 = 0; i0 < M; i0 += 4) {
    int64_t mm = min64(4, M - i0), width = mm == 1 ? 8 : 4;
    for (int64_t j0 = 0; j0 < N; j0 += width) {
      int64_t g = min64(width, N - j0);
      z_dots[mm][g](K, A + i0 * rsa, rsa, B + j0 * csb, csb, out);
      for (int64_t i = 0; i < mm; i++)
        for (int64_t j = 0; j < g; j++) {
          float v = alpha * out[i][j], *c = C + (i0 + i) * ldc + j0 + j;
          *c = beta == 0.0f ? v : beta == 1.0f ? *c + v : v + beta * *c;
        }
    }
  }
}

static const sgemm_impl avx512_impl = {ZMR, ZNR, ZMC, ZKC, ZNC, 1, z_pack_a, z_pack_b, z_macro,
                                       z_dot};

static int cpu_has_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
#else
static int cpu_has_avx512(void) { return 0; }
#endif

/* ---- Kernel choice ------------------------------------------------------------------------ */
static const sgemm_impl *const all_impls[] = {
    &portable_impl,
#ifdef RT_SGEMM_HAS_AVX512
    &avx512_impl,
#endif
};

/* RT_SGEMM_AUTO until the first call decides; read and written with atomics because
 * sgemm calls run on several threads at once. */
static _Atomic int kernel_in_use = RT_SGEMM_AUTO;

static rt_sgemm_kernel resolve(rt_sgemm_kernel want) {
  int avx512 = cpu_has_avx512();
  if (want == RT_SGEMM_AUTO) {
    const char *env = getenv("IVM_SGEMM_KERNEL");
    want = env && strcmp(env, "avx2") == 0 ? RT_SGEMM_AVX2 : RT_SGEMM_AVX512;
  }
  return want == RT_SGEMM_AVX512 && avx512 ? RT_SGEMM_AVX512 : RT_SGEMM_AVX2;
}

rt_sgemm_kernel rt_sgemm_current_kernel(void) {
  int k = atomic_load_explicit(&kernel_in_use, memory_order_relaxed);
  if (k == RT_SGEMM_AUTO) { /* first use; a choice made meanwhile wins */
    int auto_k = RT_SGEMM_AUTO, chosen = (int)resolve(RT_SGEMM_AUTO);
    k = atomic_compare_exchange_strong(&kernel_in_use, &auto_k, chosen) ? chosen : auto_k;
  }
  return (rt_sgemm_kernel)k;
}

rt_sgemm_kernel rt_sgemm_use_kernel(rt_sgemm_kernel want) {
  rt_sgemm_kernel k = resolve(want);
  atomic_store_explicit(&kernel_in_use, (int)k, memory_order_relaxed);
  return k;
}

const char *rt_sgemm_kernel_name(rt_sgemm_kernel k) {
#if defined(__AVX2__)
  const char *portable = "avx2";
#else
  const char *portable = "portable";
#endif
  return k == RT_SGEMM_AVX512 ? "avx512" : k == RT_SGEMM_AVX2 ? portable : "auto";
}

static const sgemm_impl *impl_in_use(void) {
#ifdef RT_SGEMM_HAS_AVX512
  if (rt_sgemm_current_kernel() == RT_SGEMM_AVX512) return &avx512_impl;
#endif
  return &portable_impl;
}

/* ---- Driver -------------------------------------------------------------------------------- */
/* B is packed this many micro-panels at a time: wide enough that each row of B is read
 * in runs of several cache lines (for NR 32, 128 floats), small enough to stay in L2. */
#define B_CHUNK_PANELS 4

static int64_t a_block_floats(const sgemm_impl *im, int64_t M, int64_t K) {
  return rt_align64((size_t)(min64(round_up(M, im->mr), im->mc) * min64(K, im->kc)) *
                    sizeof(float)) / sizeof(float);
}

/* The largest need over every implementation, so a buffer stays valid whichever kernel
 * runs, plus 64 bytes to align the panels whatever the caller's buffer alignment. */
size_t rt_sgemm_pack_bytes(int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0 || K <= 0) return 64;
  size_t most = 0;
  for (size_t i = 0; i < sizeof all_impls / sizeof all_impls[0]; i++) {
    const sgemm_impl *im = all_impls[i];
    int64_t kc = min64(K, im->kc), nc = min64(round_up(N, im->nr), im->nc);
    size_t bytes = (size_t)a_block_floats(im, M, K) * sizeof(float) +
                   (size_t)(kc * nc) * sizeof(float);
    if (bytes > most) most = bytes;
  }
  return most + 64;
}

/* The step that splits n into the fewest blocks of at most cap, all about the same size
 * (a multiple of unit): 1024 rows in blocks of <= 336 become 266+266+266+226, not
 * 336+336+336+16, whose thin last block would stream all of B for little work. */
static int64_t block_step(int64_t n, int64_t cap, int64_t unit) {
  int64_t blocks = (n + cap - 1) / cap;
  return min64(round_up((n + blocks - 1) / blocks, unit), cap);
}

static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

static int takes_dots(const sgemm_impl *im, int64_t M, int64_t N, int64_t rsb, int64_t csa) {
  return im->dot && (M <= DOT_MAX_ROWS || N <= DOT_MAX_COLS) && rsb == 1 && csa == 1;
}

int rt_sgemm_takes_dots(int64_t M, int64_t N, int64_t rsb, int64_t csa) {
  return takes_dots(impl_in_use(), M, N, rsb, csa);
}

void rt_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t ldc, float *pack) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    if (beta != 1.0f) scale_c(M, N, beta, C, ldc);
    return;
  }
  const sgemm_impl *im = impl_in_use();
  if (takes_dots(im, M, N, rsb, csa)) {
    im->dot(M, N, K, alpha, A, rsa, B, csb, beta, C, ldc);
    return;
  }
  float *ap = (float *)(((uintptr_t)pack + 63) & ~(uintptr_t)63);
  float *bp = ap + a_block_floats(im, M, K);
  int64_t nc_step = block_step(N, im->nc, im->nr), kc_step = block_step(K, im->kc, 16);
  int64_t mc_step = block_step(M, im->mc, im->mr);
  /* Packing B pays off through reuse and cache-friendly panels; a row-major B that spans
   * at most 64 KiB is cheaper read where it is (measured: 64^3 +9%, 128^3 +3%), whereas
   * longer strides let its rows collide in L1 (128 x 1024 x 64: -10%). With one row tile
   * there is no reuse: each panel would be written once and read once. Likewise A when
   * B is one panel wide (a conv's weights against a few output positions). */
  int b_in_place = im->reads_in_place && csb == 1 && rsb >= N && (K * rsb <= 16384 || M <= im->mr);
  int a_in_place = im->reads_in_place && csa == 1 && rsa > 0 && N <= im->nr; /* lda 0: packed */
  for (int64_t jc = 0; jc < N; jc += nc_step) {
    int64_t nc = min64(nc_step, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_step) {
      int64_t kc = min64(kc_step, K - pc);
      for (int64_t ic = 0; ic < M; ic += mc_step) {
        int64_t mc = min64(mc_step, M - ic);
        float *c = C + ic * ldc + jc;
        const float *a = A + ic * rsa + pc * csa;
        int64_t lda = a_in_place ? rsa : 0;
        if (!a_in_place) {
          im->pack_a(mc, kc, a, rsa, csa, ap);
          a = ap;
        }
        if (b_in_place) {
          im->macro(mc, nc, kc, a, lda, B + pc * rsb + jc, rsb, c, ldc, alpha, beta, pc == 0);
          continue;
        }
        if (ic > 0) {
          im->macro(mc, nc, kc, a, lda, bp, 0, c, ldc, alpha, beta, pc == 0);
          continue;
        }
        /* The first A block packs B a chunk at a time, just before using it, so the chunk
         * is still in cache. With one A block only, no later block needs the panels:
         * every chunk goes to the same place, which stays in cache. */
        for (int64_t jr = 0; jr < nc; jr += B_CHUNK_PANELS * im->nr) {
          int64_t nr = min64(B_CHUNK_PANELS * im->nr, nc - jr);
          float *bpj = mc == M ? bp : bp + jr * kc;
          im->pack_b(kc, nr, B + pc * rsb + (jc + jr) * csb, rsb, csb, bpj);
          im->macro(mc, nr, kc, a, lda, bpj, 0, c + jr, ldc, alpha, beta, pc == 0);
        }
      }
    }
  }
}

ivm_status rt_sgemm_scratch(rt_scratch *scratch, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t rsa, int64_t csa, const float *B,
                            int64_t rsb, int64_t csb, float beta, float *C, int64_t ldc) {
  void *pack;
  IVM_TRY(rt_scratch_get(scratch, rt_sgemm_pack_bytes(M, N, K), &pack));
  rt_sgemm(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, (float *)pack);
  return NULL;
}

/* ---- Gemm --------------------------------------------------------------------------- */
/* Offset of C's element broadcast to (i, j). */
static int64_t c_index(const rt_tensor *c, int64_t i, int64_t j) {
  if (c->rank == 0) return 0;
  if (c->rank == 1) return c->dims[0] == 1 ? 0 : j;
  return (c->dims[0] == 1 ? 0 : i) * c->dims[1] + (c->dims[1] == 1 ? 0 : j);
}

/* Y = alpha * A' @ B' + beta * C for the non-f32 types: a plain loop. Integer products
 * accumulate in the unsigned type of the same width (wrap-around, no UB); the scaled
 * result saturates when converted back. */
#define GEMM_GENERIC(T, ACC, CONV)                                                         \
  static void gemm_##T(const rt_tensor *a, const rt_tensor *b, const rt_tensor *c,          \
                       rt_tensor *y, int ta, int tb, double alpha, double beta) {           \
    int64_t M = y->dims[0], N = y->dims[1], K = ta ? a->dims[0] : a->dims[1];              \
    const T *A = a->data, *B = b->data;                                                     \
    T *Y = y->data;                                                                         \
    int64_t rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;         \
    for (int64_t i = 0; i < M; i++)                                                         \
      for (int64_t j = 0; j < N; j++) {                                                     \
        ACC s = 0;                                                                          \
        for (int64_t p = 0; p < K; p++)                                                     \
          s += (ACC)A[i * rsa + p * csa] * (ACC)B[p * rsb + j * csb];                       \
        double v = alpha * (double)(T)s;                                                    \
        if (c) v += beta * (double)((const T *)c->data)[c_index(c, i, j)];                  \
        Y[i * N + j] = CONV(v);                                                             \
      }                                                                                     \
  }

static double to_f64(double v) { return v; }
static int32_t to_i32(double v) {
  return !(v > INT32_MIN) ? INT32_MIN : v >= INT32_MAX ? INT32_MAX : (int32_t)v;
}
static int64_t to_i64(double v) {
  return !(v > -9223372036854775808.0) ? INT64_MIN
         : v >= 9223372036854775807.0  ? INT64_MAX
                                       : (int64_t)v;
}
static uint32_t to_u32(double v) { return !(v > 0) ? 0 : v >= UINT32_MAX ? UINT32_MAX : (uint32_t)v; }
static uint64_t to_u64(double v) {
  return !(v > 0) ? 0 : v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
}

GEMM_GENERIC(double, double, to_f64)
GEMM_GENERIC(int32_t, uint32_t, to_i32)
GEMM_GENERIC(int64_t, uint64_t, to_i64)
GEMM_GENERIC(uint32_t, uint32_t, to_u32)
GEMM_GENERIC(uint64_t, uint64_t, to_u64)

ivm_status rt_k_Gemm(const rt_call *call) {
  const rt_tensor *a = call->in[0], *b = call->in[1];
  const rt_tensor *c = call->n_in > 2 ? call->in[2] : NULL;
  rt_tensor *y = call->out[0];
  float alpha = call->attrs[ISA_A_Gemm_alpha].v.f, beta = call->attrs[ISA_A_Gemm_beta].v.f;
  int ta = call->attrs[ISA_A_Gemm_transA].v.i != 0, tb = call->attrs[ISA_A_Gemm_transB].v.i != 0;
  /* Inference guarantees these; re-checked cheaply so a kernel never indexes out of
   * bounds whatever it is handed. */
  if (a->rank != 2 || b->rank != 2 || y->rank != 2 || a->dims[ta ? 0 : 1] != b->dims[tb ? 1 : 0] ||
      y->dims[0] != a->dims[ta ? 1 : 0] || y->dims[1] != b->dims[tb ? 0 : 1])
    return ivm_error(IVM_ERR_RUNTIME, "Gemm: operand shapes do not match");
  if (c) {
    int ok = c->rank <= 2;
    for (int i = 0; ok && i < c->rank; i++) {
      int64_t want = y->dims[2 - c->rank + i];
      ok = c->dims[i] == 1 || c->dims[i] == want;
    }
    if (!ok) return ivm_error(IVM_ERR_RUNTIME, "Gemm: C does not broadcast to the output");
  }
  if (c && beta == 0.0f) c = NULL; /* ONNX: beta * C with beta 0 contributes nothing */
  switch (y->dtype) {
    case IVM_DT_F32: break;
    case IVM_DT_F64: gemm_double(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_I32: gemm_int32_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_I64: gemm_int64_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_U32: gemm_uint32_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_U64: gemm_uint64_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "Gemm: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)y->dtype));
  }
  int64_t M = y->dims[0], N = y->dims[1], K = ta ? a->dims[0] : a->dims[1];
  float *Y = y->data;
  float b_eff = 0.0f;
  if (c) {
    /* Y = broadcast(C); then Y = alpha*A'B' + beta*Y. */
    const float *C = c->data;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) Y[i * N + j] = C[c_index(c, i, j)];
    b_eff = beta;
  }
  return rt_sgemm_par(call->scratch, M, N, K, alpha, a->data, ta ? 1 : K, ta ? M : 1, b->data,
                      tb ? 1 : N, tb ? K : 1, b_eff, Y, N);
}
