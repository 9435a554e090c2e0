/* Unit tests for MatMul, Gemm, Conv, MaxPool, AveragePool, GlobalAveragePool: kernels via
 * rt_run_builtin, the sgemm against a naive loop, and shape inference including errors.
 *
 * Inputs are filled with fill(): x[i] = ((7*i + 3*seed) % 11) - 5. The k_* arrays are the
 * expected outputs for those inputs, computed with numpy reference implementations
 * (direct convolution over a zero-padded input; pooling by enumerating each window's
 * coordinates, ceil_mode dropping windows that start in the end padding, count_include_pad
 * counting taps inside [-pad_begin, in + pad_end)). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa/infer_linalg.h"
#include "runtime/kernels/gemm.h"
#include "runtime/rt.h"

/* ---- numpy fixtures ------------------------------------------------------------------ */
static const float k_conv1d[18] = {-13, 25, -19, -34, 27, 24, 11, -26, 12, 14, -44, 30, 12, -8, -18, -23, 17, -22}; /* shape [1, 6, 3] */
static const float k_conv2d[120] = {-31, 29, 34, -38, 49, 41, 41, -47, 96, -4, 29, -31, 63, -41, -19, 34, -25, 26, 33, -66, -25, 33, 36, -104, 15, 42, 17, -85, 66, 16, -33, 31, 7, -28, 28, 52, -30, -13, 92, -21, -33, -12, 64, -124, -15, 43, -56, 43, 43, -76, -91, 83, 26, -196, 31, 68, 3, -117, 71, 9, 34, -38, 77, -17, -75, -47, 96, -36, -91, 61, 63, -41, -24, 81, -10, 26, 33, -103, 36, 32, 36, -104, 64, 45, -60, -85, 66, 8, -94, 16, 7, -28, 69, -43, -70, -13, 92, -122, -61, 39, 64, -124, -4, 61, -24, 43, 43, -155, 43, 48, 26, -196, 88, 20, -16, -117, 71, -5, -26, 24}; /* shape [2, 4, 3, 5] */
static const float k_conv2d_same_upper[45] = {27, -19, 23, -33, -17, -17, -27, -26, 20, 23, 64, 2, 0, 50, -2, -4, -14, 35, 26, 68, -14, 34, 18, -30, 9, -54, -24, -12, -33, -31, 9, -9, -41, -14, -67, 0, -26, -15, 30, -27, 15, 38, -13, 16, 28}; /* shape [1, 3, 5, 3] */
static const float k_conv2d_same_lower[45] = {12, -25, 7, 27, -19, 23, -33, -17, -17, -27, -26, 20, 23, 64, 2, -26, 18, 7, -4, -14, 35, 26, 68, -14, 34, 18, -30, 9, -54, -24, 2, 17, -26, 9, -9, -41, -14, -67, 0, -26, -15, 30, -27, 15, 38}; /* shape [1, 3, 5, 3] */
static const float k_conv2d_valid[12] = {22, -44, -33, -11, 24, 52, -45, -50, -7, -39, -13, 43}; /* shape [1, 3, 2, 2] */
static const float k_conv3d[120] = {5, -21, 32, 6, 22, -50, 16, -8, 19, 7, 20, 0, -10, 42, 6, -25, -20, 11, 7, 43, 14, 35, -15, -8, 13, 8, 5, 17, 10, -49, 46, -3, 31, -11, -17, 17, -8, 51, -29, -18, -26, 12, 30, 28, 4, -13, -19, -2, 16, 8, -4, 8, -2, 6, 35, -40, -2, 16, -25, 25, 3, -6, 12, -4, -3, 9, 28, -12, -26, 46, -31, 2, -39, 40, -33, 7, 28, -75, 14, 12, 20, -18, 16, 15, 20, 1, 27, -14, 2, -49, 51, -24, -15, 41, -68, 10, -9, 28, -34, 9, 9, 21, 11, 6, 27, -21, -42, 27, 21, -29, 12, -6, -44, 31, 2, -6, 4, -8, 4, 12}; /* shape [1, 2, 5, 3, 4] */
static const float k_conv_pointwise[160] = {10, 13, 16, 8, 11, 14, 6, -24, 12, 4, -26, 10, 13, 16, 8, 11, 6, 10, 3, 7, 11, 4, 8, -32, 5, 9, -31, 6, 10, 3, 7, 11, 2, 7, -10, 6, 11, -6, 10, -40, -2, 14, -36, 2, 7, -10, 6, 11, 9, -29, 21, 5, -33, 17, 1, 18, 13, -3, 14, 9, -29, 21, 5, -33, 5, -32, 8, 4, -33, 7, 3, 10, 6, 2, 9, 5, -32, 8, 4, -33, 11, 14, 6, -24, 12, 4, -26, 10, 13, 16, 8, 11, 14, 6, -24, 12, 11, 4, 8, -32, 5, 9, -31, 6, 10, 3, 7, 11, 4, 8, -32, 5, 11, -6, 10, -40, -2, 14, -36, 2, 7, -10, 6, 11, -6, 10, -40, -2, -33, 17, 1, 18, 13, -3, 14, 9, -29, 21, 5, -33, 17, 1, 18, 13, -33, 7, 3, 10, 6, 2, 9, 5, -32, 8, 4, -33, 7, 3, 10, 6}; /* shape [2, 5, 4, 4] */
static const float k_conv_depthwise[100] = {19, 13, -22, 20, 14, 4, 34, -42, 3, 23, -46, 39, -4, -36, 32, 3, 11, 34, -42, 8, 18, -22, 51, -30, 6, -10, 12, 16, -35, 47, -9, -8, 35, -43, 37, 4, -46, 30, 7, -1, 28, -40, -8, 35, -50, 34, -27, -36, 43, -26, -37, -30, 57, -32, -39, -19, 4, 12, 9, 10, 2, -11, -47, 38, 13, 12, 7, 4, 12, 5, 8, 4, 1, -35, -1, 48, -36, 24, 18, -2, 7, 4, -45, 38, -14, -52, 34, -4, 13, -14, -1, 9, 4, -45, 8, 6, -28, 8, 11, 15}; /* shape [1, 4, 5, 5] */
static const float k_maxpool2d[18] = {3, 4, 4, 1, 4, 5, -3, 0, 3, 4, 5, 5, 2, 5, 5, -2, 1, 4}; /* shape [1, 2, 3, 3] */
static const int64_t k_maxpool2d_idx[18] = {1, 9, 9, 7, 9, 17, 19, 21, 23, 31, 39, 39, 37, 39, 39, 49, 51, 53}; /* shape [1, 2, 3, 3] */
static const int64_t k_maxpool2d_idx_cm[18] = {5, 16, 16, 6, 16, 27, 8, 18, 28, 35, 46, 46, 36, 46, 46, 38, 48, 58}; /* shape [1, 2, 3, 3] */
static const float k_maxpool2d_ceil[24] = {-4, 3, 2, -2, 5, 1, 4, 5, 1, 4, 5, 3, -3, 4, 3, -1, 4, 2, 5, -3, 2, 5, 1, 4}; /* shape [1, 2, 3, 4] */
static const float k_maxpool1d_drop[3] = {-1, 2, 5}; /* shape [1, 1, 3] */
static const uint8_t k_maxpool1d_u8[10] = {140, 200, 180, 180, 160, 80, 140, 200, 180, 180}; /* shape [1, 2, 5] */
static const float k_maxpool3d[12] = {5, 5, 4, 5, 5, 5, 2, 5, 5, 4, 5, 5}; /* shape [1, 1, 2, 2, 3] */
static const int64_t k_maxpool3d_idx_cm[12] = {0, 25, 36, 18, 18, 43, 1, 25, 50, 4, 43, 43}; /* shape [1, 1, 2, 2, 3] */
static const float k_avgpool_excl[18] = {-0.5, 0.833333333, 0.166666667, 0.166666667, 0.888888889, 0.222222222, -1, 0.333333333, -0.333333333, 0.5, 0, -0.666666667, 1.16666667, -0.555555556, 0, 0, -0.5, 0.666666667}; /* shape [1, 2, 3, 3] */
static const float k_avgpool_incl[18] = {-0.222222222, 0.555555556, 0.111111111, 0.111111111, 0.888888889, 0.222222222, -0.444444444, 0.222222222, -0.222222222, 0.222222222, 0, -0.444444444, 0.777777778, -0.555555556, 0, 0, -0.333333333, 0.444444444}; /* shape [1, 2, 3, 3] */
static const float k_avgpool_ceil_excl[18] = {-0.666666667, 0.5, 0, 0, 0.555555556, -1.16666667, 0.666666667, 0, -0.5, 0.333333333, -0.333333333, 1, -0.222222222, -0.888888889, -0.166666667, -0.166666667, -0.833333333, 0.5}; /* shape [1, 2, 3, 3] */
static const float k_avgpool_ceil_incl[18] = {-0.444444444, 0.333333333, 0, 0, 0.555555556, -1.16666667, 0.444444444, 0, -0.333333333, 0.222222222, -0.222222222, 0.666666667, -0.222222222, -0.888888889, -0.166666667, -0.111111111, -0.555555556, 0.333333333}; /* shape [1, 2, 3, 3] */
static const float k_avgpool_ceil_drop[18] = {-0.75, -1, -0.25, -0.25, 0.5, -2, 0.5, 2, 1.5, -0.5, -0.5, 0, 0.25, -1.25, -1.5, 1, 0.25, 2}; /* shape [1, 2, 3, 3] */
static const float k_avgpool_same_lower[18] = {0.5, 0, -0.666666667, 0.25, 0.666666667, 0, -1, 0.333333333, -0.333333333, 1.5, 1, 0.333333333, 1.25, -0.166666667, -0.833333333, 0, -0.5, 0.666666667}; /* shape [1, 2, 3, 3] */
static const float k_gap[6] = {-0.833333333, 0.833333333, -1.16666667, 0.5, 0.333333333, 0.166666667}; /* shape [2, 3, 1, 1] */
static const float k_mm_bcast[36] = {-10, 16, -11, 18, -12, 20, -11, 26, -10, -36, -9, 23, -34, 25, 24, -35, -39, 26, 9, -33, -14, 24, 7, -29, 3, 16, -7, 20, 5, 13, 19, 10, -44, 27, 14, 11}; /* shape [2, 3, 3, 2] */
static const float k_mm_1d_left[6] = {3, -34, 6, -34, 6, 2}; /* shape [2, 3] */
static const float k_mm_1d_right[6] = {-27, -3, -34, -10, 3, -17}; /* shape [2, 3] */
static const float k_mm_1d_both[1] = {1}; /* shape [] */
static const float k_mm_shared_b[24] = {10, 4, -24, 3, 1, -34, 8, 6, 3, -28, -4, -2, -17, 44, 17, -10, -15, 50, 5, -18, 9, 1, -18, 7}; /* shape [3, 2, 4] */
static const float k_gemm_all[15] = {-0.5, 1.2, -0.95, 3.5, -1.4, -7.75, -5.3, -6.7, 9.5, -5.65, -1.25, 1.95, 1.3, -1, 3.85}; /* shape [3, 5] */
static const float k_gemm_col_bias[12] = {5, 7, -24, 0, 7, -9, -36, 14, -13, -14, -4, -16}; /* shape [3, 4] */
static const float k_gemm_scalar_bias[12] = {3.5, 5.5, -25.5, -1.5, 9.5, -6.5, -33.5, 16.5, -6.5, -7.5, 2.5, -9.5}; /* shape [3, 4] */

/* ---- helpers ------------------------------------------------------------------------- */
static double fillv(int64_t i, int seed) { return (double)(((i * 7 + seed * 3) % 11) - 5); }

static rt_tensor mk(int dtype, int rank, const int64_t *dims, int seed) {
  rt_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dtype;
  t.rank = (uint8_t)rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  int64_t n = rt_numel(&t);
  size_t nb = rt_nbytes(&t);
  t.data = malloc(nb ? nb : 1);
  t.capacity = nb;
  for (int64_t i = 0; i < n; i++) {
    double v = fillv(i, seed);
    switch (dtype) {
      case IVM_DT_F32: ((float *)t.data)[i] = (float)v; break;
      case IVM_DT_F64: ((double *)t.data)[i] = v; break;
      case IVM_DT_I32: ((int32_t *)t.data)[i] = (int32_t)v; break;
      case IVM_DT_I64: ((int64_t *)t.data)[i] = (int64_t)v; break;
      case IVM_DT_U8: ((uint8_t *)t.data)[i] = (uint8_t)((v + 5) * 20); break;
      default: break;
    }
  }
  return t;
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define MK(dt, seed, ...) \
  mk(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), DIMS(__VA_ARGS__), seed)

static const isa_op_desc *D(isa_builtin_op op) { return isa_builtin_desc(op); }

static void set_ints(isa_attr *a, const int64_t *v, uint32_t n) {
  a->present = 1;
  a->count = n;
  a->v.ints = v;
}
static void set_int(isa_attr *a, int64_t v) {
  a->present = 1;
  a->v.i = v;
}
static void set_str(isa_attr *a, const char *s) {
  a->present = 1;
  a->v.s = s;
  a->count = (uint32_t)strlen(s);
}
#define INTS(a, ...) \
  set_ints(a, DIMS(__VA_ARGS__), (uint32_t)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* Runs op and checks the status. */
static void run(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in, const isa_attr *a,
                uint32_t n_out, rt_tensor *out) {
  ivm_status st = rt_run_builtin(op, n_in, in, a, n_out, out);
  cr_assert_null(st, "%s failed: %s", D(op)->name, ivm_status_message(st));
}

static void expect_shape(const rt_tensor *t, int rank, const int64_t *dims) {
  cr_assert_eq(t->rank, rank, "rank %d, want %d", t->rank, rank);
  for (int i = 0; i < rank; i++)
    cr_assert_eq(t->dims[i], dims[i], "dim %d: %lld, want %lld", i, (long long)t->dims[i],
                 (long long)dims[i]);
}

static void expect_f32(const rt_tensor *t, const float *want, int64_t n, double tol) {
  cr_assert_eq(t->dtype, IVM_DT_F32);
  cr_assert_eq(rt_numel(t), n, "numel %lld, want %lld", (long long)rt_numel(t), (long long)n);
  const float *got = t->data;
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])), "[%lld] got %.7g want %.7g",
              (long long)i, got[i], want[i]);
}

#define EXPECT_F32(t, arr) expect_f32(t, arr, (int64_t)(sizeof(arr) / sizeof(arr[0])), 1e-5)
#define EXPECT_SHAPE(t, ...) \
  expect_shape(t, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), DIMS(__VA_ARGS__))

static void drop(rt_tensor *t) {
  free(t->data);
  t->data = NULL;
}

/* ---- sgemm --------------------------------------------------------------------------- */
static void check_sgemm(int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha,
                        float beta) {
  float *A = malloc(sizeof(float) * (size_t)(M * K + 1));
  float *B = malloc(sizeof(float) * (size_t)(K * N + 1));
  float *C = malloc(sizeof(float) * (size_t)(M * N + 1));
  float *R = malloc(sizeof(float) * (size_t)(M * N + 1));
  for (int64_t i = 0; i < M * K; i++) A[i] = (float)fillv(i, 1) / 4;
  for (int64_t i = 0; i < K * N; i++) B[i] = (float)fillv(i, 2) / 4;
  for (int64_t i = 0; i < M * N; i++) C[i] = beta == 0.0f ? NAN : (float)fillv(i, 3);
  /* A is stored M x K (or K x M when transposed), B likewise. */
  int64_t rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t p = 0; p < K; p++) s += (double)A[i * rsa + p * csa] * B[p * rsb + j * csb];
      R[i * N + j] = (float)(alpha * s + (beta == 0.0f ? 0.0 : beta * C[i * N + j]));
    }
  float *pack = aligned_alloc(64, rt_align64(rt_sgemm_pack_bytes(M, N, K)));
  rt_sgemm(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, N, pack);
  for (int64_t i = 0; i < M * N; i++)
    cr_assert(fabsf(C[i] - R[i]) <= 1e-4f * (1 + fabsf(R[i])),
              "M%lld N%lld K%lld ta%d tb%d [%lld]: got %g want %g", (long long)M, (long long)N,
              (long long)K, ta, tb, (long long)i, C[i], R[i]);
  free(A);
  free(B);
  free(C);
  free(R);
  free(pack);
}

Test(sgemm, odd_sizes_and_transposes) {
  static const int64_t sz[][3] = {{1, 1, 1}, {7, 13, 5}, {65, 33, 17}, {6, 16, 1}, {13, 1, 40}};
  for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) check_sgemm(sz[s][0], sz[s][1], sz[s][2], ta, tb, 1.0f, 0.0f);
}

Test(sgemm, alpha_beta) {
  check_sgemm(7, 13, 5, 0, 0, 0.5f, 1.0f);
  check_sgemm(65, 33, 17, 1, 0, -2.0f, 0.25f);
  check_sgemm(9, 9, 9, 0, 1, 0.0f, 3.0f); /* alpha 0: C scaled only */
}

Test(sgemm, crosses_every_block_boundary) {
  /* M > MC (96), N > NC (2048), K > KC (256) */
  check_sgemm(101, 2061, 263, 0, 0, 1.0f, 0.5f);
}

Test(sgemm, degenerate_k) {
  float C[4] = {1, 2, 3, 4}, pack[64];
  rt_sgemm(2, 2, 0, 1.0f, NULL, 0, 1, NULL, 0, 1, 2.0f, C, 2, pack);
  cr_assert(C[0] == 2 && C[3] == 8);
}

/* ---- MatMul -------------------------------------------------------------------------- */
static void matmul_case(rt_tensor a, rt_tensor b, rt_tensor *y) {
  const rt_tensor *in[2] = {&a, &b};
  run(ISA_OP_MatMul, 2, in, NULL, 1, y);
  drop(&a);
  drop(&b);
}

Test(matmul, batch_broadcast) {
  rt_tensor y;
  matmul_case(MK(IVM_DT_F32, 10, 2, 1, 3, 4), MK(IVM_DT_F32, 11, 3, 4, 2), &y);
  EXPECT_SHAPE(&y, 2, 3, 3, 2);
  EXPECT_F32(&y, k_mm_bcast);
  drop(&y);
}

Test(matmul, one_d_promotion) {
  rt_tensor y;
  matmul_case(MK(IVM_DT_F32, 12, 4), MK(IVM_DT_F32, 13, 2, 4, 3), &y);
  EXPECT_SHAPE(&y, 2, 3);
  EXPECT_F32(&y, k_mm_1d_left);
  drop(&y);
  matmul_case(MK(IVM_DT_F32, 14, 2, 3, 4), MK(IVM_DT_F32, 15, 4), &y);
  EXPECT_SHAPE(&y, 2, 3);
  EXPECT_F32(&y, k_mm_1d_right);
  drop(&y);
  matmul_case(MK(IVM_DT_F32, 16, 5), MK(IVM_DT_F32, 17, 5), &y);
  cr_assert_eq(y.rank, 0);
  EXPECT_F32(&y, k_mm_1d_both);
  drop(&y);
}

Test(matmul, shared_b_folds_batch) {
  rt_tensor y;
  matmul_case(MK(IVM_DT_F32, 18, 3, 2, 5), MK(IVM_DT_F32, 19, 5, 4), &y);
  EXPECT_SHAPE(&y, 3, 2, 4);
  EXPECT_F32(&y, k_mm_shared_b);
  drop(&y);
}

Test(matmul, f64_and_integers) {
  rt_tensor y;
  matmul_case(MK(IVM_DT_F64, 10, 2, 1, 3, 4), MK(IVM_DT_F64, 11, 3, 4, 2), &y);
  cr_assert_eq(y.dtype, IVM_DT_F64);
  for (int i = 0; i < 36; i++) cr_assert_eq(((double *)y.data)[i], (double)k_mm_bcast[i]);
  drop(&y);
  matmul_case(MK(IVM_DT_I64, 10, 2, 1, 3, 4), MK(IVM_DT_I64, 11, 3, 4, 2), &y);
  for (int i = 0; i < 36; i++) cr_assert_eq(((int64_t *)y.data)[i], (int64_t)k_mm_bcast[i]);
  drop(&y);
  matmul_case(MK(IVM_DT_I32, 14, 2, 3, 4), MK(IVM_DT_I32, 15, 4), &y);
  for (int i = 0; i < 6; i++) cr_assert_eq(((int32_t *)y.data)[i], (int32_t)k_mm_1d_right[i]);
  drop(&y);
}

/* ---- Gemm ---------------------------------------------------------------------------- */
Test(gemm, transposes_alpha_beta_row_bias) {
  isa_attr a[ISA_A_Gemm__count];
  isa_attrs_init_defaults(D(ISA_OP_Gemm), a);
  a[ISA_A_Gemm_alpha].v.f = 0.25f;
  a[ISA_A_Gemm_beta].v.f = 0.35f;
  set_int(&a[ISA_A_Gemm_transA], 1);
  set_int(&a[ISA_A_Gemm_transB], 1);
  rt_tensor A = MK(IVM_DT_F32, 20, 4, 3), B = MK(IVM_DT_F32, 21, 5, 4), C = MK(IVM_DT_F32, 22, 1, 5);
  const rt_tensor *in[3] = {&A, &B, &C};
  rt_tensor y;
  run(ISA_OP_Gemm, 3, in, a, 1, &y);
  EXPECT_SHAPE(&y, 3, 5);
  EXPECT_F32(&y, k_gemm_all);
  drop(&y);
  drop(&A);
  drop(&B);
  drop(&C);
}

Test(gemm, column_and_scalar_bias) {
  isa_attr a[ISA_A_Gemm__count];
  isa_attrs_init_defaults(D(ISA_OP_Gemm), a);
  rt_tensor A = MK(IVM_DT_F32, 23, 3, 6), B = MK(IVM_DT_F32, 24, 6, 4), C = MK(IVM_DT_F32, 25, 3, 1);
  const rt_tensor *in[3] = {&A, &B, &C};
  rt_tensor y;
  run(ISA_OP_Gemm, 3, in, a, 1, &y);
  EXPECT_F32(&y, k_gemm_col_bias);
  drop(&y);
  float two5 = 2.5f;
  rt_tensor S = {.data = &two5, .dtype = IVM_DT_F32, .rank = 0, .capacity = 4};
  in[2] = &S;
  run(ISA_OP_Gemm, 3, in, a, 1, &y);
  EXPECT_F32(&y, k_gemm_scalar_bias);
  drop(&y);
  /* f64 through the generic loop */
  rt_tensor A2 = MK(IVM_DT_F64, 23, 3, 6), B2 = MK(IVM_DT_F64, 24, 6, 4);
  double d25 = 2.5;
  rt_tensor S2 = {.data = &d25, .dtype = IVM_DT_F64, .rank = 0, .capacity = 8};
  const rt_tensor *in2[3] = {&A2, &B2, &S2};
  run(ISA_OP_Gemm, 3, in2, a, 1, &y);
  for (int i = 0; i < 12; i++) cr_assert_eq(((double *)y.data)[i], (double)k_gemm_scalar_bias[i]);
  drop(&y);
  drop(&A);
  drop(&B);
  drop(&C);
  drop(&A2);
  drop(&B2);
}

Test(gemm, no_bias_matches_sgemm_reference) {
  isa_attr a[ISA_A_Gemm__count];
  isa_attrs_init_defaults(D(ISA_OP_Gemm), a);
  rt_tensor A = MK(IVM_DT_F32, 23, 3, 6), B = MK(IVM_DT_F32, 24, 6, 4);
  const rt_tensor *in[3] = {&A, &B, NULL};
  rt_tensor y;
  run(ISA_OP_Gemm, 3, in, a, 1, &y);
  for (int i = 0; i < 12; i++)
    cr_assert_float_eq(((float *)y.data)[i], k_gemm_scalar_bias[i] - 2.5f, 1e-5);
  drop(&y);
  drop(&A);
  drop(&B);
}

/* ---- Conv ---------------------------------------------------------------------------- */
static void conv_run(rt_tensor x, rt_tensor w, int bias_seed, const isa_attr *a, rt_tensor *y) {
  rt_tensor b;
  int64_t m = w.dims[0];
  if (bias_seed) b = mk(x.dtype, 1, &m, bias_seed);
  const rt_tensor *in[3] = {&x, &w, bias_seed ? &b : NULL};
  run(ISA_OP_Conv, 3, in, a, 1, y);
  drop(&x);
  drop(&w);
  if (bias_seed) drop(&b);
}

Test(conv, conv1d_groups_pads_strides_dilations) {
  isa_attr a[ISA_A_Conv__count];
  isa_attrs_init_defaults(D(ISA_OP_Conv), a);
  set_int(&a[ISA_A_Conv_group], 2);
  INTS(&a[ISA_A_Conv_pads], 1, 2);
  INTS(&a[ISA_A_Conv_strides], 2);
  INTS(&a[ISA_A_Conv_dilations], 2);
  rt_tensor y;
  conv_run(MK(IVM_DT_F32, 1, 1, 4, 7), MK(IVM_DT_F32, 2, 6, 2, 3), 3, a, &y);
  EXPECT_SHAPE(&y, 1, 6, 3);
  EXPECT_F32(&y, k_conv1d);
  drop(&y);
}

Test(conv, conv2d_asymmetric_pads) {
  isa_attr a[ISA_A_Conv__count];
  isa_attrs_init_defaults(D(ISA_OP_Conv), a);
  INTS(&a[ISA_A_Conv_pads], 1, 0, 2, 1);
  INTS(&a[ISA_A_Conv_strides], 2, 1);
  INTS(&a[ISA_A_Conv_dilations], 1, 2);
  INTS(&a[ISA_A_Conv_kernel_shape], 3, 2);
  rt_tensor y;
  conv_run(MK(IVM_DT_F32, 1, 2, 3, 5, 6), MK(IVM_DT_F32, 2, 4, 3, 3, 2), 3, a, &y);
  EXPECT_SHAPE(&y, 2, 4, 3, 5);
  EXPECT_F32(&y, k_conv2d);
  drop(&y);
  /* f64 through the generic path */
  conv_run(MK(IVM_DT_F64, 1, 2, 3, 5, 6), MK(IVM_DT_F64, 2, 4, 3, 3, 2), 3, a, &y);
  cr_assert_eq(y.dtype, IVM_DT_F64);
  for (int i = 0; i < 120; i++) cr_assert_eq(((double *)y.data)[i], (double)k_conv2d[i]);
  drop(&y);
}

Test(conv, auto_pad) {
  isa_attr a[ISA_A_Conv__count];
  rt_tensor y;
  isa_attrs_init_defaults(D(ISA_OP_Conv), a);
  set_str(&a[ISA_A_Conv_auto_pad], "SAME_UPPER");
  INTS(&a[ISA_A_Conv_strides], 1, 2);
  conv_run(MK(IVM_DT_F32, 1, 1, 2, 5, 5), MK(IVM_DT_F32, 2, 3, 2, 2, 3), 0, a, &y);
  EXPECT_SHAPE(&y, 1, 3, 5, 3);
  EXPECT_F32(&y, k_conv2d_same_upper);
  drop(&y);
  set_str(&a[ISA_A_Conv_auto_pad], "SAME_LOWER");
  conv_run(MK(IVM_DT_F32, 1, 1, 2, 5, 5), MK(IVM_DT_F32, 2, 3, 2, 2, 3), 0, a, &y);
  EXPECT_F32(&y, k_conv2d_same_lower);
  drop(&y);
  set_str(&a[ISA_A_Conv_auto_pad], "VALID");
  INTS(&a[ISA_A_Conv_strides], 2, 2);
  INTS(&a[ISA_A_Conv_pads], 5, 5, 5, 5); /* ignored under auto_pad */
  conv_run(MK(IVM_DT_F32, 1, 1, 2, 5, 5), MK(IVM_DT_F32, 2, 3, 2, 3, 3), 0, a, &y);
  EXPECT_SHAPE(&y, 1, 3, 2, 2);
  EXPECT_F32(&y, k_conv2d_valid);
  drop(&y);
}

Test(conv, conv3d_groups) {
  isa_attr a[ISA_A_Conv__count];
  isa_attrs_init_defaults(D(ISA_OP_Conv), a);
  set_int(&a[ISA_A_Conv_group], 2);
  INTS(&a[ISA_A_Conv_pads], 1, 1, 1, 1, 1, 1);
  INTS(&a[ISA_A_Conv_strides], 1, 2, 1);
  rt_tensor y;
  conv_run(MK(IVM_DT_F32, 1, 1, 2, 4, 5, 3), MK(IVM_DT_F32, 2, 2, 1, 2, 3, 2), 3, a, &y);
  EXPECT_SHAPE(&y, 1, 2, 5, 3, 4);
  EXPECT_F32(&y, k_conv3d);
  drop(&y);
}

Test(conv, pointwise_and_depthwise) {
  isa_attr a[ISA_A_Conv__count];
  isa_attrs_init_defaults(D(ISA_OP_Conv), a);
  rt_tensor y;
  conv_run(MK(IVM_DT_F32, 1, 2, 3, 4, 4), MK(IVM_DT_F32, 2, 5, 3, 1, 1), 3, a, &y);
  EXPECT_SHAPE(&y, 2, 5, 4, 4);
  EXPECT_F32(&y, k_conv_pointwise);
  drop(&y);
  set_int(&a[ISA_A_Conv_group], 4);
  INTS(&a[ISA_A_Conv_pads], 1, 1, 1, 1);
  conv_run(MK(IVM_DT_F32, 1, 1, 4, 5, 5), MK(IVM_DT_F32, 2, 4, 1, 3, 3), 3, a, &y);
  EXPECT_SHAPE(&y, 1, 4, 5, 5);
  EXPECT_F32(&y, k_conv_depthwise);
  drop(&y);
}

/* ---- pooling ------------------------------------------------------------------------- */
static void maxpool_attrs(isa_attr *a) { isa_attrs_init_defaults(D(ISA_OP_MaxPool), a); }
static void avgpool_attrs(isa_attr *a) { isa_attrs_init_defaults(D(ISA_OP_AveragePool), a); }

static void pool_run(isa_builtin_op op, rt_tensor x, const isa_attr *a, uint32_t n_out,
                     rt_tensor *y) {
  const rt_tensor *in[1] = {&x};
  run(op, 1, in, a, n_out, y);
  drop(&x);
}

static void expect_i64(const rt_tensor *t, const int64_t *want, int64_t n) {
  cr_assert_eq(t->dtype, IVM_DT_I64);
  cr_assert_eq(rt_numel(t), n);
  for (int64_t i = 0; i < n; i++)
    cr_assert_eq(((int64_t *)t->data)[i], want[i], "[%lld] got %lld want %lld", (long long)i,
                 (long long)((int64_t *)t->data)[i], (long long)want[i]);
}

Test(maxpool, pads_strides_dilations_indices) {
  isa_attr a[ISA_A_MaxPool__count];
  maxpool_attrs(a);
  INTS(&a[ISA_A_MaxPool_kernel_shape], 3, 2);
  INTS(&a[ISA_A_MaxPool_pads], 1, 1, 1, 0);
  INTS(&a[ISA_A_MaxPool_strides], 2, 2);
  INTS(&a[ISA_A_MaxPool_dilations], 1, 2);
  rt_tensor y[2];
  pool_run(ISA_OP_MaxPool, MK(IVM_DT_F32, 4, 1, 2, 5, 6), a, 2, y);
  EXPECT_SHAPE(&y[0], 1, 2, 3, 3);
  EXPECT_SHAPE(&y[1], 1, 2, 3, 3);
  EXPECT_F32(&y[0], k_maxpool2d);
  expect_i64(&y[1], k_maxpool2d_idx, 18);
  drop(&y[0]);
  drop(&y[1]);
  set_int(&a[ISA_A_MaxPool_storage_order], 1);
  pool_run(ISA_OP_MaxPool, MK(IVM_DT_F32, 4, 1, 2, 5, 6), a, 2, y);
  EXPECT_F32(&y[0], k_maxpool2d);
  expect_i64(&y[1], k_maxpool2d_idx_cm, 18);
  drop(&y[0]);
  drop(&y[1]);
}

Test(maxpool, ceil_mode) {
  isa_attr a[ISA_A_MaxPool__count];
  maxpool_attrs(a);
  INTS(&a[ISA_A_MaxPool_kernel_shape], 2, 2);
  INTS(&a[ISA_A_MaxPool_pads], 1, 1, 1, 1);
  INTS(&a[ISA_A_MaxPool_strides], 2, 2);
  set_int(&a[ISA_A_MaxPool_ceil_mode], 1);
  rt_tensor y;
  pool_run(ISA_OP_MaxPool, MK(IVM_DT_F32, 4, 1, 2, 5, 6), a, 1, &y);
  EXPECT_SHAPE(&y, 1, 2, 3, 4);
  EXPECT_F32(&y, k_maxpool2d_ceil);
  drop(&y);
  /* length 5, k 2, s 2, pads 1/1: ceil gives 4 windows, the last starts in the padding */
  INTS(&a[ISA_A_MaxPool_kernel_shape], 2);
  INTS(&a[ISA_A_MaxPool_pads], 1, 1);
  INTS(&a[ISA_A_MaxPool_strides], 2);
  pool_run(ISA_OP_MaxPool, MK(IVM_DT_F32, 5, 1, 1, 5), a, 1, &y);
  EXPECT_SHAPE(&y, 1, 1, 3);
  EXPECT_F32(&y, k_maxpool1d_drop);
  drop(&y);
}

Test(maxpool, uint8_and_3d) {
  isa_attr a[ISA_A_MaxPool__count];
  maxpool_attrs(a);
  INTS(&a[ISA_A_MaxPool_kernel_shape], 3);
  INTS(&a[ISA_A_MaxPool_pads], 1, 1);
  INTS(&a[ISA_A_MaxPool_strides], 2);
  rt_tensor y;
  pool_run(ISA_OP_MaxPool, MK(IVM_DT_U8, 6, 1, 2, 9), a, 1, &y);
  cr_assert_eq(y.dtype, IVM_DT_U8);
  EXPECT_SHAPE(&y, 1, 2, 5);
  cr_assert_arr_eq(y.data, k_maxpool1d_u8, sizeof k_maxpool1d_u8);
  drop(&y);
  maxpool_attrs(a);
  INTS(&a[ISA_A_MaxPool_kernel_shape], 2, 2, 3);
  INTS(&a[ISA_A_MaxPool_pads], 0, 1, 1, 0, 0, 1);
  INTS(&a[ISA_A_MaxPool_strides], 1, 2, 2);
  set_int(&a[ISA_A_MaxPool_storage_order], 1);
  rt_tensor y2[2];
  pool_run(ISA_OP_MaxPool, MK(IVM_DT_F32, 7, 1, 1, 3, 4, 5), a, 2, y2);
  EXPECT_SHAPE(&y2[0], 1, 1, 2, 2, 3);
  EXPECT_F32(&y2[0], k_maxpool3d);
  expect_i64(&y2[1], k_maxpool3d_idx_cm, 12);
  drop(&y2[0]);
  drop(&y2[1]);
}

Test(averagepool, count_include_pad) {
  isa_attr a[ISA_A_AveragePool__count];
  avgpool_attrs(a);
  INTS(&a[ISA_A_AveragePool_kernel_shape], 3, 3);
  INTS(&a[ISA_A_AveragePool_pads], 1, 1, 1, 1);
  INTS(&a[ISA_A_AveragePool_strides], 2, 2);
  rt_tensor y;
  pool_run(ISA_OP_AveragePool, MK(IVM_DT_F32, 8, 1, 2, 5, 6), a, 1, &y);
  EXPECT_SHAPE(&y, 1, 2, 3, 3);
  EXPECT_F32(&y, k_avgpool_excl);
  drop(&y);
  set_int(&a[ISA_A_AveragePool_count_include_pad], 1);
  pool_run(ISA_OP_AveragePool, MK(IVM_DT_F32, 8, 1, 2, 5, 6), a, 1, &y);
  EXPECT_F32(&y, k_avgpool_incl);
  drop(&y);
}

Test(averagepool, ceil_mode) {
  isa_attr a[ISA_A_AveragePool__count];
  avgpool_attrs(a);
  INTS(&a[ISA_A_AveragePool_kernel_shape], 3, 3);
  INTS(&a[ISA_A_AveragePool_pads], 1, 0, 1, 0);
  INTS(&a[ISA_A_AveragePool_strides], 2, 2);
  set_int(&a[ISA_A_AveragePool_ceil_mode], 1);
  rt_tensor y;
  pool_run(ISA_OP_AveragePool, MK(IVM_DT_F32, 8, 1, 2, 5, 6), a, 1, &y);
  EXPECT_SHAPE(&y, 1, 2, 3, 3);
  EXPECT_F32(&y, k_avgpool_ceil_excl);
  drop(&y);
  /* the last column window reaches past the input: the divisor counts only the part
   * inside the padded input */
  set_int(&a[ISA_A_AveragePool_count_include_pad], 1);
  pool_run(ISA_OP_AveragePool, MK(IVM_DT_F32, 8, 1, 2, 5, 6), a, 1, &y);
  EXPECT_F32(&y, k_avgpool_ceil_incl);
  drop(&y);
  INTS(&a[ISA_A_AveragePool_kernel_shape], 2, 2);
  INTS(&a[ISA_A_AveragePool_pads], 1, 1, 1, 1);
  INTS(&a[ISA_A_AveragePool_strides], 2, 3);
  pool_run(ISA_OP_AveragePool, MK(IVM_DT_F32, 8, 1, 2, 5, 6), a, 1, &y);
  EXPECT_SHAPE(&y, 1, 2, 3, 3);
  EXPECT_F32(&y, k_avgpool_ceil_drop);
  drop(&y);
}

Test(averagepool, same_lower) {
  isa_attr a[ISA_A_AveragePool__count];
  avgpool_attrs(a);
  INTS(&a[ISA_A_AveragePool_kernel_shape], 2, 3);
  INTS(&a[ISA_A_AveragePool_strides], 2, 2);
  set_str(&a[ISA_A_AveragePool_auto_pad], "SAME_LOWER");
  rt_tensor y;
  pool_run(ISA_OP_AveragePool, MK(IVM_DT_F32, 8, 1, 2, 5, 6), a, 1, &y);
  EXPECT_SHAPE(&y, 1, 2, 3, 3);
  EXPECT_F32(&y, k_avgpool_same_lower);
  drop(&y);
}

Test(globalaveragepool, mean_over_spatial) {
  rt_tensor y;
  pool_run(ISA_OP_GlobalAveragePool, MK(IVM_DT_F32, 9, 2, 3, 2, 3), NULL, 1, &y);
  EXPECT_SHAPE(&y, 2, 3, 1, 1);
  EXPECT_F32(&y, k_gap);
  drop(&y);
}

/* ---- inference ----------------------------------------------------------------------- */
static isa_type ty(int dtype, int rank, const int64_t *dims) {
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dtype;
  t.rank = (int8_t)rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}
#define TY(dt, ...) \
  ty(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), DIMS(__VA_ARGS__))

static ivm_status infer(isa_builtin_op op, uint32_t n_in, const isa_type *in, const isa_attr *a,
                        uint32_t n_out, isa_type *out) {
  const void *data[4] = {NULL, NULL, NULL, NULL};
  isa_infer_ctx ctx = {n_in, in, data, a, n_out, out};
  return D(op)->infer(&ctx);
}

static void expect_err(ivm_status st) {
  cr_assert_not_null(st, "expected an error");
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT, "%s", ivm_status_message(st));
  ivm_status_free(st);
}

static void expect_type(const isa_type *t, int dtype, int rank, const int64_t *dims) {
  cr_assert_eq(t->dtype, dtype);
  cr_assert_eq(t->rank, rank, "rank %d want %d", t->rank, rank);
  for (int i = 0; i < rank; i++)
    cr_assert_eq(t->dims[i], dims[i], "dim %d: %lld want %lld", i, (long long)t->dims[i],
                 (long long)dims[i]);
}
#define EXPECT_TYPE(t, dt, ...) \
  expect_type(t, dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), DIMS(__VA_ARGS__))

Test(infer, matmul_shapes) {
  isa_type in[2], out[1];
  in[0] = TY(IVM_DT_F32, ISA_DIM_SYM(0), 1, 3, 4);
  in[1] = TY(IVM_DT_F32, 5, 4, ISA_DIM_ANY);
  cr_assert_null(infer(ISA_OP_MatMul, 2, in, NULL, 1, out));
  EXPECT_TYPE(out, IVM_DT_F32, ISA_DIM_SYM(0), 5, 3, ISA_DIM_ANY);
  in[0] = TY(IVM_DT_F32, 4);
  in[1] = TY(IVM_DT_F32, 2, 4, 3);
  cr_assert_null(infer(ISA_OP_MatMul, 2, in, NULL, 1, out));
  EXPECT_TYPE(out, IVM_DT_F32, 2, 3);
  in[1] = TY(IVM_DT_F32, 4);
  cr_assert_null(infer(ISA_OP_MatMul, 2, in, NULL, 1, out));
  cr_assert_eq(out->rank, 0);
  in[1].rank = -1;
  cr_assert_null(infer(ISA_OP_MatMul, 2, in, NULL, 1, out));
  cr_assert_eq(out->rank, -1);
}

Test(infer, matmul_errors) {
  isa_type in[2], out[1];
  in[0] = TY(IVM_DT_F32, 3, 4);
  in[1] = TY(IVM_DT_F32, 5, 2);
  expect_err(infer(ISA_OP_MatMul, 2, in, NULL, 1, out)); /* K mismatch */
  in[0] = TY(IVM_DT_F32, 2, 3, 4);
  in[1] = TY(IVM_DT_F32, 3, 4, 2);
  expect_err(infer(ISA_OP_MatMul, 2, in, NULL, 1, out)); /* batch 2 vs 3 */
  in[0] = TY(IVM_DT_F32, 3, 4);
  in[1] = TY(IVM_DT_F64, 4, 2);
  expect_err(infer(ISA_OP_MatMul, 2, in, NULL, 1, out)); /* dtype mismatch */
  in[1] = ty(IVM_DT_F32, 0, NULL);
  expect_err(infer(ISA_OP_MatMul, 2, in, NULL, 1, out)); /* scalar */
  in[0] = TY(IVM_DT_BOOL, 3, 4);
  in[1] = TY(IVM_DT_BOOL, 4, 2);
  expect_err(infer(ISA_OP_MatMul, 2, in, NULL, 1, out)); /* dtype */
  expect_err(infer(ISA_OP_MatMul, 1, in, NULL, 1, out)); /* arity */
}

Test(infer, gemm) {
  isa_attr a[ISA_A_Gemm__count];
  isa_attrs_init_defaults(D(ISA_OP_Gemm), a);
  isa_type in[3], out[1];
  in[0] = TY(IVM_DT_F32, ISA_DIM_ANY, 3);
  in[1] = TY(IVM_DT_F32, 3, 4);
  in[2] = TY(IVM_DT_F32, 7, 1);
  cr_assert_null(infer(ISA_OP_Gemm, 3, in, a, 1, out));
  EXPECT_TYPE(out, IVM_DT_F32, 7, 4); /* M learnt from C */
  in[2] = TY(IVM_DT_F32, 2, 4);
  in[0] = TY(IVM_DT_F32, 3, 3);
  expect_err(infer(ISA_OP_Gemm, 3, in, a, 1, out)); /* C rows 2 vs M 3 */
  in[2] = TY(IVM_DT_F32, 5);
  expect_err(infer(ISA_OP_Gemm, 3, in, a, 1, out)); /* C cols 5 vs N 4 */
  in[2] = TY(IVM_DT_F32, 1, 2, 3);
  expect_err(infer(ISA_OP_Gemm, 3, in, a, 1, out)); /* C rank 3 */
  set_int(&a[ISA_A_Gemm_transA], 2);
  expect_err(infer(ISA_OP_Gemm, 2, in, a, 1, out));
  set_int(&a[ISA_A_Gemm_transA], 1);
  in[0] = TY(IVM_DT_F32, 5, 3);
  expect_err(infer(ISA_OP_Gemm, 2, in, a, 1, out)); /* K 5 vs 3 */
  in[0] = TY(IVM_DT_F32, 3, 3, 3);
  expect_err(infer(ISA_OP_Gemm, 2, in, a, 1, out)); /* rank 3 */
}

Test(infer, conv) {
  isa_attr a[ISA_A_Conv__count];
  isa_attrs_init_defaults(D(ISA_OP_Conv), a);
  isa_type in[3], out[1];
  in[0] = TY(IVM_DT_F32, ISA_DIM_SYM(0), 4, 9, ISA_DIM_ANY);
  in[1] = TY(IVM_DT_F32, 6, 2, 3, 3);
  in[2] = TY(IVM_DT_F32, 6);
  set_int(&a[ISA_A_Conv_group], 2);
  INTS(&a[ISA_A_Conv_strides], 2, 2);
  set_str(&a[ISA_A_Conv_auto_pad], "SAME_UPPER");
  cr_assert_null(infer(ISA_OP_Conv, 3, in, a, 1, out));
  EXPECT_TYPE(out, IVM_DT_F32, ISA_DIM_SYM(0), 6, 5, ISA_DIM_ANY);
  in[2] = TY(IVM_DT_F32, 5);
  expect_err(infer(ISA_OP_Conv, 3, in, a, 1, out)); /* bias length */
  in[1] = TY(IVM_DT_F32, 6, 3, 3, 3);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* 3 * 2 != 4 channels */
  in[1] = TY(IVM_DT_F32, 5, 2, 3, 3);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* M 5 not divisible by 2 */
  in[1] = TY(IVM_DT_F32, 6, 2, 3, 3);
  set_str(&a[ISA_A_Conv_auto_pad], "SAME");
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out));
  set_str(&a[ISA_A_Conv_auto_pad], "NOTSET");
  INTS(&a[ISA_A_Conv_strides], 0, 1);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out));
  INTS(&a[ISA_A_Conv_strides], 1, 1, 1);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* strides length */
  INTS(&a[ISA_A_Conv_strides], 1, 1);
  INTS(&a[ISA_A_Conv_pads], 1, 1);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* pads length */
  INTS(&a[ISA_A_Conv_pads], -1, 0, 0, 0);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* negative pad */
  INTS(&a[ISA_A_Conv_pads], 0, 0, 0, 0);
  INTS(&a[ISA_A_Conv_kernel_shape], 3, 2);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* kernel_shape vs W */
  INTS(&a[ISA_A_Conv_kernel_shape], 3, 3);
  INTS(&a[ISA_A_Conv_dilations], 1, 0);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out));
  INTS(&a[ISA_A_Conv_dilations], 1, 5);
  in[0] = TY(IVM_DT_F32, 1, 4, 9, 9);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* dilated kernel 11 > 9 */
  INTS(&a[ISA_A_Conv_dilations], 1, 4);
  cr_assert_null(infer(ISA_OP_Conv, 2, in, a, 1, out));
  EXPECT_TYPE(out, IVM_DT_F32, 1, 6, 7, 1);
  set_int(&a[ISA_A_Conv_group], 0);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out));
  set_int(&a[ISA_A_Conv_group], 2);
  in[0] = TY(IVM_DT_F32, 1, 4);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* rank 2 */
  in[0] = TY(IVM_DT_I64, 1, 4, 9, 9);
  in[1] = TY(IVM_DT_I64, 6, 2, 3, 3);
  expect_err(infer(ISA_OP_Conv, 2, in, a, 1, out)); /* dtype */
}

Test(infer, pools) {
  isa_attr a[ISA_A_MaxPool__count];
  maxpool_attrs(a);
  isa_type in[1], out[2];
  in[0] = TY(IVM_DT_F32, 2, 3, 32, ISA_DIM_ANY);
  INTS(&a[ISA_A_MaxPool_kernel_shape], 3, 3);
  INTS(&a[ISA_A_MaxPool_strides], 2, 2);
  set_int(&a[ISA_A_MaxPool_ceil_mode], 1);
  cr_assert_null(infer(ISA_OP_MaxPool, 1, in, a, 2, out));
  EXPECT_TYPE(&out[0], IVM_DT_F32, 2, 3, 16, ISA_DIM_ANY);
  EXPECT_TYPE(&out[1], IVM_DT_I64, 2, 3, 16, ISA_DIM_ANY);
  INTS(&a[ISA_A_MaxPool_pads], 3, 0, 0, 0);
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out)); /* pad >= kernel */
  INTS(&a[ISA_A_MaxPool_pads], 0, 0, 0);
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out));
  INTS(&a[ISA_A_MaxPool_pads], 0, 0, 0, 0);
  set_int(&a[ISA_A_MaxPool_storage_order], 2);
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out));
  set_int(&a[ISA_A_MaxPool_storage_order], 0);
  set_int(&a[ISA_A_MaxPool_ceil_mode], 3);
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out));
  set_int(&a[ISA_A_MaxPool_ceil_mode], 0);
  INTS(&a[ISA_A_MaxPool_kernel_shape], 3);
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out)); /* rank vs kernel_shape */
  INTS(&a[ISA_A_MaxPool_kernel_shape], 0, 3);
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out));
  a[ISA_A_MaxPool_kernel_shape].count = 0;
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out)); /* required */
  INTS(&a[ISA_A_MaxPool_kernel_shape], 40, 3);
  expect_err(infer(ISA_OP_MaxPool, 1, in, a, 1, out)); /* kernel > input */

  isa_attr b[ISA_A_AveragePool__count];
  avgpool_attrs(b);
  INTS(&b[ISA_A_AveragePool_kernel_shape], 2, 2);
  set_str(&b[ISA_A_AveragePool_auto_pad], "SAME_LOWER");
  in[0] = TY(IVM_DT_F32, 1, 3, 31, 32);
  cr_assert_null(infer(ISA_OP_AveragePool, 1, in, b, 1, out));
  EXPECT_TYPE(&out[0], IVM_DT_F32, 1, 3, 31, 32);
  expect_err(infer(ISA_OP_AveragePool, 1, in, b, 2, out)); /* one output only */
  set_int(&b[ISA_A_AveragePool_count_include_pad], 7);
  expect_err(infer(ISA_OP_AveragePool, 1, in, b, 1, out));
  set_int(&b[ISA_A_AveragePool_count_include_pad], 0);
  in[0] = TY(IVM_DT_U8, 1, 3, 31, 32);
  expect_err(infer(ISA_OP_AveragePool, 1, in, b, 1, out)); /* u8 only for MaxPool */
  INTS(&a[ISA_A_MaxPool_kernel_shape], 3, 3);
  cr_assert_null(infer(ISA_OP_MaxPool, 1, in, a, 1, out));
  EXPECT_TYPE(&out[0], IVM_DT_U8, 1, 3, 15, 15);

  in[0] = TY(IVM_DT_F32, 2, 3, 7, 5, 4);
  cr_assert_null(infer(ISA_OP_GlobalAveragePool, 1, in, NULL, 1, out));
  EXPECT_TYPE(&out[0], IVM_DT_F32, 2, 3, 1, 1, 1);
  in[0] = TY(IVM_DT_F32, 2, 3);
  expect_err(infer(ISA_OP_GlobalAveragePool, 1, in, NULL, 1, out));
}

Test(infer, window_resolve_ceil_drop) {
  /* length 5, k 2, s 2, pads 1/1, ceil: 4 by the formula, the last window starts at 6 >=
   * 5 + 1 and is dropped. */
  isa_attr pads = {.type = ISA_ATTR_INTS, .present = 1, .count = 2, .v.ints = DIMS(1, 1)};
  isa_attr strides = {.type = ISA_ATTR_INTS, .present = 1, .count = 1, .v.ints = DIMS(2)};
  isa_window w;
  cr_assert_null(isa_window_resolve(1, DIMS(5), DIMS(2), NULL, &pads, &strides, NULL, 1, 1, &w));
  cr_assert_eq(w.out[0], 3);
  cr_assert_null(isa_window_resolve(1, DIMS(6), DIMS(2), NULL, &pads, &strides, NULL, 1, 1, &w));
  cr_assert_eq(w.out[0], 4);
}

Test(kernels, bad_runtime_shapes_are_errors) {
  /* A kernel handed operands that do not match its attributes reports, never crashes. */
  isa_attr a[ISA_A_Conv__count];
  isa_attrs_init_defaults(D(ISA_OP_Conv), a);
  rt_tensor x = MK(IVM_DT_F32, 1, 1, 4, 5, 5), w = MK(IVM_DT_F32, 2, 2, 3, 3, 3);
  rt_tensor y = MK(IVM_DT_F32, 0, 1, 2, 3, 3);
  const rt_tensor *in[3] = {&x, &w, NULL};
  rt_tensor *out[1] = {&y};
  rt_scratch s = {NULL, NULL, 0, NULL};
  rt_call call = {3, 1, in, out, a, &s, NULL};
  ivm_status st = rt_k_Conv(&call);
  cr_assert_not_null(st);
  ivm_status_free(st);
  drop(&x);
  drop(&w);
  drop(&y);
  /* MatMul batch dims 2 vs 3 */
  rt_tensor ma = MK(IVM_DT_F32, 1, 2, 3, 4), mb = MK(IVM_DT_F32, 2, 3, 4, 2);
  rt_tensor my = MK(IVM_DT_F32, 0, 3, 3, 2);
  const rt_tensor *min[2] = {&ma, &mb};
  rt_tensor *mout[1] = {&my};
  rt_call mcall = {2, 1, min, mout, NULL, &s, NULL};
  st = rt_k_MatMul(&mcall);
  cr_assert_not_null(st);
  ivm_status_free(st);
  /* Gemm with C (2, 2) against a (3, 2) output */
  isa_attr g[ISA_A_Gemm__count];
  isa_attrs_init_defaults(D(ISA_OP_Gemm), g);
  rt_tensor ga = MK(IVM_DT_F32, 1, 3, 4), gb = MK(IVM_DT_F32, 2, 4, 2), gc = MK(IVM_DT_F32, 3, 2, 2);
  rt_tensor gy = MK(IVM_DT_F32, 0, 3, 2);
  const rt_tensor *gin[3] = {&ga, &gb, &gc};
  rt_tensor *gout[1] = {&gy};
  rt_call gcall = {3, 1, gin, gout, g, &s, NULL};
  st = rt_k_Gemm(&gcall);
  cr_assert_not_null(st);
  ivm_status_free(st);
  rt_scratch_release(&s);
  drop(&ma);
  drop(&mb);
  drop(&my);
  drop(&ga);
  drop(&gb);
  drop(&gc);
  drop(&gy);
}
