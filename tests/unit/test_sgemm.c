/* rt_sgemm against a naive triple loop in double precision, on both register-tile kernels
 * (the portable AVX2 one and, where the CPU has it, the AVX-512 one): many shapes (edge
 * tiles, 1 x N, M x 1, K = 1, sizes across the cache blocks), every stride layout the
 * interface allows (row-major, transposed, padded leading dimension, both strides
 * non-unit, row stride 0), alpha/beta variants, a padded C whose padding must stay untouched, and
 * packing buffers of exactly rt_sgemm_pack_bytes at any alignment (ASan sees overruns).
 *
 * Error bound: |C - ref| <= 1e-5 * (|alpha| * sum_p |A(i,p) B(p,j)| + |beta C(i,j)|), the
 * relative error against the magnitudes summed, so cancellation cannot make it flaky. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels/gemm.h"

static unsigned rng_state = 1;
static unsigned rng(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}
static float rnd_float(void) { return (float)(rng() % 20001) / 10000.0f - 1.0f; } /* [-1, 1] */

/* The strided storage of an r x c operand X(i, j) = X[i*rs + j*cs]. */
typedef enum layout { ROW_MAJOR, TRANSPOSED, PADDED, STRIDED, ROW_BROADCAST, N_LAYOUTS } layout;
static const char *layout_name[] = {"row-major", "transposed", "padded", "strided",
                                    "one row repeated"};

static void strides(layout l, int64_t r, int64_t c, int64_t *rs, int64_t *cs) {
  switch (l) {
    case ROW_MAJOR: *rs = c, *cs = 1; break;
    case TRANSPOSED: *rs = 1, *cs = r; break;
    case PADDED: *rs = c + 3, *cs = 1; break;
    case STRIDED: *rs = 2, *cs = 2 * r + 1; break; /* every other element, transposed */
    default: *rs = 0, *cs = 1; break;                /* row stride 0: a broadcast row */
  }
}

/* Exactly as many floats as the last element needs, so ASan sees any overread. */
static float *operand(int64_t r, int64_t c, int64_t rs, int64_t cs) {
  size_t n = (size_t)((r - 1) * rs + (c - 1) * cs + 1);
  float *x = malloc(n * sizeof(float));
  cr_assert(x);
  for (size_t i = 0; i < n; i++) x[i] = rnd_float();
  return x;
}

typedef struct gemm_case {
  int64_t M, N, K;
  layout la, lb;
  float alpha, beta;
  int64_t c_pad;    /* ldc = N + c_pad; the padding must stay untouched */
  size_t pack_off;  /* bytes the packing buffer is offset from malloc's pointer */
} gemm_case;

static void check(const gemm_case *g) {
  int64_t M = g->M, N = g->N, K = g->K, ldc = N + g->c_pad, rsa, csa, rsb, csb;
  strides(g->la, M, K, &rsa, &csa);
  strides(g->lb, K, N, &rsb, &csb);
  float *A = operand(M, K, rsa, csa), *B = operand(K, N, rsb, csb);
  float *C = malloc(sizeof(float) * (size_t)(M * ldc)), *C0 = malloc(sizeof(float) * (size_t)(M * ldc));
  for (int64_t i = 0; i < M * ldc; i++) {
    int pad = i % ldc >= N;
    C[i] = pad ? 1234.5f : g->beta == 0.0f ? NAN : rnd_float(); /* beta 0 never reads C */
    C0[i] = C[i];
  }
  size_t bytes = rt_sgemm_pack_bytes(M, N, K);
  char *buf = malloc(bytes + g->pack_off);
  cr_assert(buf);
  rt_sgemm(M, N, K, g->alpha, A, rsa, csa, B, rsb, csb, g->beta, C, ldc,
           (float *)(buf + g->pack_off));

  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < ldc; j++) {
      float got = C[i * ldc + j];
      if (j >= N) {
        cr_assert(got == 1234.5f, "%s: C padding (%lld, %lld) was written",
                  rt_sgemm_kernel_name(rt_sgemm_current_kernel()), (long long)i, (long long)j);
        continue;
      }
      double sum = 0, mag = 0;
      for (int64_t p = 0; p < K; p++) {
        double prod = (double)A[i * rsa + p * csa] * (double)B[p * rsb + j * csb];
        sum += prod;
        mag += fabs(prod);
      }
      double ref = (double)g->alpha * sum, scale = fabs((double)g->alpha) * mag;
      if (g->beta != 0.0f) {
        ref += (double)g->beta * C0[i * ldc + j];
        scale += fabs((double)g->beta * C0[i * ldc + j]);
      }
      cr_assert(fabs((double)got - ref) <= 1e-5 * scale + 1e-30,
                "%s: M%lld N%lld K%lld A %s, B %s, alpha %g beta %g ldc %lld: C(%lld, %lld) "
                "= %.9g, want %.9g",
                rt_sgemm_kernel_name(rt_sgemm_current_kernel()), (long long)M, (long long)N,
                (long long)K, layout_name[g->la], layout_name[g->lb], g->alpha, g->beta,
                (long long)ldc, (long long)i, (long long)j, got, ref);
    }
  free(A);
  free(B);
  free(C);
  free(C0);
  free(buf);
}

/* Runs fn once per kernel this CPU can run, and leaves the default choice in place. */
static void on_each_kernel(void (*fn)(void)) {
  rt_sgemm_kernel kernels[] = {RT_SGEMM_AVX2, RT_SGEMM_AVX512};
  for (size_t k = 0; k < 2; k++) {
    rt_sgemm_kernel got = rt_sgemm_use_kernel(kernels[k]);
    if (got != kernels[k]) {
      cr_log_warn("sgemm kernel %s not available on this CPU: not tested",
                  rt_sgemm_kernel_name(kernels[k]));
      continue;
    }
    fn();
  }
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

static const float alpha_beta[][2] = {{1, 0}, {1, 1}, {0.5f, -1.5f}, {-2, 0}, {1, 0.25f}};
#define N_AB (sizeof alpha_beta / sizeof alpha_beta[0])

/* Tile edges (14 x 32 and 6 x 16 tiles, 16-wide transposes), vectors, K = 1: every layout
 * pair, two alpha/beta variants each. */
static void edge_shapes(void) {
  static const int64_t shapes[][3] = {
      {1, 1, 1},   {1, 37, 5},  {37, 1, 5},   {1, 1, 300},  {14, 32, 1},  {13, 31, 1},
      {15, 33, 17}, {28, 64, 16}, {29, 65, 47}, {6, 16, 1},  {7, 17, 2},   {100, 1, 100},
      {1, 100, 100}, {150, 150, 1}, {16, 16, 16}, {17, 17, 17}, {2, 3, 300}, {42, 96, 33},
  };
  int v = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int la = 0; la < N_LAYOUTS; la++)
      for (int lb = 0; lb < N_LAYOUTS; lb++)
        for (int r = 0; r < 2; r++, v++) {
          gemm_case g = {shapes[s][0], shapes[s][1], shapes[s][2], la, lb,
                         alpha_beta[v % N_AB][0], alpha_beta[v % N_AB][1], v % 3, (size_t)(v % 5) * 4};
          check(&g);
        }
}
Test(sgemm, edge_shapes_every_layout) { on_each_kernel(edge_shapes); }

/* Sizes 1..300 (a quarter of them 1..20), layouts and alpha/beta in turn. */
static void random_shapes(void) {
  rng_state = 42;
  for (int s = 0; s < 60; s++) {
    int64_t d[3];
    for (int k = 0; k < 3; k++) d[k] = rng() % 4 == 0 ? 1 + rng() % 20 : 1 + rng() % 300;
    gemm_case g = {d[0], d[1], d[2], s % N_LAYOUTS, (s / N_LAYOUTS) % N_LAYOUTS,
                   alpha_beta[s % N_AB][0], alpha_beta[s % N_AB][1], s % 2 ? 5 : 0,
                   (size_t)(s % 3) * 8};
    check(&g);
  }
}
Test(sgemm, random_shapes) { on_each_kernel(random_shapes); }

/* M, N and K each past their cache block (MC 96/336, NC 2048/4096, KC 256): the later K
 * blocks accumulate onto the first, which alone applies beta, and later M blocks reuse
 * the B panels the first one packed. (A row-major B spanning at most 16384 floats is
 * read in place instead: edge_shapes and random_shapes cover both.) */
static void block_boundaries(void) {
  gemm_case tall = {350, 100, 300, ROW_MAJOR, ROW_MAJOR, 0.5f, 0.5f, 0, 0};
  gemm_case wide = {15, 4200, 270, ROW_MAJOR, TRANSPOSED, 1.0f, -1.0f, 3, 4};
  gemm_case deep = {20, 50, 700, TRANSPOSED, ROW_MAJOR, 1.0f, 0.0f, 0, 0};
  check(&tall);
  check(&wide);
  check(&deep);
}
Test(sgemm, crosses_cache_blocks) { on_each_kernel(block_boundaries); }

/* C computed as separate calls on column panels and row panels (how callers split the
 * work between threads) equals one call, bit for bit: a panel's elements see the same
 * K blocking and summation order as in the whole, whether a panel is narrow enough for
 * A to be read in place (<= 32 columns) or short enough for B (<= 14 rows), or not.
 * With B transposed and M <= 4 (one dot product per element), column panels too. */
static void sub_panels_of(int64_t M, int64_t N, int64_t K, int b_transposed, const int64_t *col_cut,
                          const int64_t *row_cut) {
  int64_t rsb = b_transposed ? 1 : N, csb = b_transposed ? K : 1;
  float *A = operand(M, K, K, 1), *B = operand(K, N, rsb, csb);
  float *whole = calloc(M * N, sizeof(float)), *cols = calloc(M * N, sizeof(float));
  float *rows = calloc(M * N, sizeof(float));
  float *pack = malloc(rt_sgemm_pack_bytes(M, N, K));
  rt_sgemm(M, N, K, 1.0f, A, K, 1, B, rsb, csb, 0.0f, whole, N, pack);
  for (int c = 0; col_cut[c] < N; c++) {
    int64_t j0 = col_cut[c], n = col_cut[c + 1] - j0;
    rt_sgemm(M, n, K, 1.0f, A, K, 1, B + j0 * csb, rsb, csb, 0.0f, cols + j0, N, pack);
  }
  for (int r = 0; row_cut[r] < M; r++) {
    int64_t i0 = row_cut[r], m = row_cut[r + 1] - i0;
    rt_sgemm(m, N, K, 1.0f, A + i0 * K, K, 1, B, rsb, csb, 0.0f, rows + i0 * N, N, pack);
  }
  for (int i = 0; i < M * N; i++) {
    cr_assert(cols[i] == whole[i], "%s: column panels differ at %d: %.9g vs %.9g",
              rt_sgemm_kernel_name(rt_sgemm_current_kernel()), i, cols[i], whole[i]);
    cr_assert(rows[i] == whole[i], "%s: row panels differ at %d: %.9g vs %.9g",
              rt_sgemm_kernel_name(rt_sgemm_current_kernel()), i, rows[i], whole[i]);
  }
  free(A);
  free(B);
  free(whole);
  free(cols);
  free(rows);
  free(pack);
}
static void sub_panels(void) {
  static const int64_t cols[] = {0, 20, 64, 101, 170}, rows[] = {0, 14, 30, 45};
  sub_panels_of(45, 170, 300, 0, cols, rows);
  sub_panels_of(45, 170, 300, 1, cols, rows);
  static const int64_t dot_cols[] = {0, 3, 8, 13, 64, 170}, dot_rows[] = {0, 1, 3};
  sub_panels_of(3, 170, 301, 1, dot_cols, dot_rows);
  sub_panels_of(3, 170, 301, 0, dot_cols, dot_rows);
}
Test(sgemm, panels_match_the_whole) { on_each_kernel(sub_panels); }

/* A stored transposed (column-major, as the compiler stores a 1x1 conv's weights:
 * FusedConv transW) gives C bit for bit as A row-major does: packing copies runs of it
 * where row-major A is transposed, or a narrow C reads row-major A in place, but each
 * element sums the same products in the same order. Shapes past the M and K blocks,
 * ragged tiles, N <= 32. */
static void transposed_a_same_bits(void) {
  static const int64_t shapes[][3] = {{50, 200, 70},  {130, 300, 40}, {29, 33, 1},
                                      {400, 64, 300}, {15, 20, 17},   {7, 100, 520}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    float *A = operand(M, K, K, 1), *At = malloc((size_t)(M * K) * sizeof(float));
    float *B = operand(K, N, N, 1);
    float *C1 = calloc((size_t)(M * N), sizeof(float)), *C2 = calloc((size_t)(M * N), sizeof(float));
    float *pack = malloc(rt_sgemm_pack_bytes(M, N, K));
    cr_assert(At && C1 && C2 && pack);
    for (int64_t i = 0; i < M; i++)
      for (int64_t p = 0; p < K; p++) At[p * M + i] = A[i * K + p];
    rt_sgemm(M, N, K, 1.0f, A, K, 1, B, N, 1, 0.0f, C1, N, pack);
    rt_sgemm(M, N, K, 1.0f, At, 1, M, B, N, 1, 0.0f, C2, N, pack);
    for (int64_t i = 0; i < M * N; i++)
      cr_assert(C1[i] == C2[i], "%s %lldx%lldx%lld: differs at %lld: %.9g vs %.9g",
                rt_sgemm_kernel_name(rt_sgemm_current_kernel()), (long long)M, (long long)N,
                (long long)K, (long long)i, C1[i], C2[i]);
    free(A), free(At), free(B), free(C1), free(C2), free(pack);
  }
}
Test(sgemm, transposed_a_same_bits) { on_each_kernel(transposed_a_same_bits); }

/* alpha 0 or K 0: C = beta * C without touching A or B; beta 0 overwrites NaN. */
static void scale_only(void) {
  float C[6] = {1, 2, 3, 4, 5, 6}, Z[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, pack[16];
  float A[4] = {NAN, NAN, NAN, NAN}, B[4] = {NAN, NAN, NAN, NAN};
  rt_sgemm(2, 2, 2, 0.0f, A, 2, 1, B, 2, 1, 2.0f, C, 3, pack); /* ldc 3: C[2], C[5] padding */
  cr_assert(C[0] == 2 && C[1] == 4 && C[2] == 3 && C[3] == 8 && C[4] == 10 && C[5] == 6);
  rt_sgemm(2, 3, 0, 1.0f, NULL, 0, 1, NULL, 0, 1, 0.0f, Z, 3, pack);
  for (int i = 0; i < 6; i++) cr_assert(Z[i] == 0.0f);
}
Test(sgemm, alpha_or_k_zero_only_scales) { on_each_kernel(scale_only); }

Test(sgemm, kernel_choice) {
  int has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  rt_sgemm_kernel best = has512 ? RT_SGEMM_AVX512 : RT_SGEMM_AVX2;
  cr_assert(rt_sgemm_use_kernel(RT_SGEMM_AVX2) == RT_SGEMM_AVX2);
  cr_assert(rt_sgemm_current_kernel() == RT_SGEMM_AVX2);
  cr_assert(rt_sgemm_use_kernel(RT_SGEMM_AVX512) == best);
  cr_assert_str_eq(rt_sgemm_kernel_name(RT_SGEMM_AVX512), "avx512");
  setenv("IVM_SGEMM_KERNEL", "avx2", 1);
  cr_assert(rt_sgemm_use_kernel(RT_SGEMM_AUTO) == RT_SGEMM_AVX2);
  unsetenv("IVM_SGEMM_KERNEL");
  cr_assert(rt_sgemm_use_kernel(RT_SGEMM_AUTO) == best);
  cr_assert(rt_sgemm_current_kernel() == best);
}
