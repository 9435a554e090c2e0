/* Unit tests for the quant family: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
 * MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv, NegativeLogLikelihoodLoss and
 * SoftmaxCrossEntropyLoss, via rt_run_builtin; the integer GEMM against a naive loop; and
 * inference including error paths.
 *
 * Expected values are hand-worked or computed with numpy (float32, as the ONNX reference):
 * the ONNX operator examples for QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear
 * / MatMulInteger / QLinearMatMul / ConvInteger / QLinearConv, and for the losses
 * lp = x - max - log(sum(exp(x - max))) per row. Integer ops on larger shapes are checked
 * against direct loops written here (exact integer arithmetic). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa/infer_quant.h"
#include "runtime/kernels/quant_gemm.h"
#include "runtime/rt.h"

/* ---- helpers ------------------------------------------------------------------------- */
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define NARGS(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static rt_tensor tensor(int dtype, int rank, const int64_t *dims, const void *data) {
  rt_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dtype;
  t.rank = (uint8_t)rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  t.data = (void *)data;
  t.capacity = rt_nbytes(&t);
  return t;
}
/* T(dtype, data, dims...): a tensor over a compound literal / array. */
#define T(dt, data, ...) tensor(dt, NARGS(__VA_ARGS__), DIMS(__VA_ARGS__), data)
#define S(dt, data) tensor(dt, 0, NULL, data)

static isa_attr g_attrs[16];
static isa_attr *defaults(isa_builtin_op op) {
  isa_attrs_init_defaults(isa_builtin_desc(op), g_attrs);
  return g_attrs;
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
static void set_ints(isa_attr *a, const int64_t *v, uint32_t n) {
  a->present = 1;
  a->count = n;
  a->v.ints = v;
}
#define INTS(a, ...) set_ints(a, DIMS(__VA_ARGS__), (uint32_t)NARGS(__VA_ARGS__))

static ivm_status try_run(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in,
                          const isa_attr *a, uint32_t n_out, rt_tensor *out) {
  return rt_run_builtin(op, n_in, in, a, n_out, out);
}

static void run(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in, const isa_attr *a,
                uint32_t n_out, rt_tensor *out) {
  ivm_status st = try_run(op, n_in, in, a, n_out, out);
  cr_assert_null(st, "%s failed: %s", isa_builtin_desc(op)->name, ivm_status_message(st));
}

static void expect_fail(ivm_status_code code, isa_builtin_op op, uint32_t n_in,
                        const rt_tensor *const *in, const isa_attr *a, uint32_t n_out) {
  rt_tensor out[4];
  ivm_status st = try_run(op, n_in, in, a, n_out, out);
  cr_assert_not_null(st, "%s: expected an error", isa_builtin_desc(op)->name);
  cr_assert_eq(ivm_status_get_code(st), code, "code %d (%s), want %d",
               (int)ivm_status_get_code(st), ivm_status_message(st), (int)code);
  ivm_status_free(st);
}

static void expect_shape(const rt_tensor *t, int rank, const int64_t *dims) {
  cr_assert_eq(t->rank, rank, "rank %d, want %d", t->rank, rank);
  for (int i = 0; i < rank; i++) cr_assert_eq(t->dims[i], dims[i], "dim %d", i);
}
#define EXPECT_SHAPE(t, ...) expect_shape(t, NARGS(__VA_ARGS__), DIMS(__VA_ARGS__))

static int64_t elem_i(const rt_tensor *t, int64_t i) {
  switch (t->dtype) {
    case IVM_DT_U8: return ((const uint8_t *)t->data)[i];
    case IVM_DT_I8: return ((const int8_t *)t->data)[i];
    case IVM_DT_U16: return ((const uint16_t *)t->data)[i];
    case IVM_DT_I16: return ((const int16_t *)t->data)[i];
    case IVM_DT_I32: return ((const int32_t *)t->data)[i];
    default: return ((const int64_t *)t->data)[i];
  }
}

static void expect_ints(const rt_tensor *t, int dtype, const int64_t *want, int64_t n) {
  cr_assert_eq(t->dtype, dtype, "dtype %d, want %d", t->dtype, dtype);
  cr_assert_eq(rt_numel(t), n, "numel %lld, want %lld", (long long)rt_numel(t), (long long)n);
  for (int64_t i = 0; i < n; i++)
    cr_assert_eq(elem_i(t, i), want[i], "[%lld] got %lld want %lld", (long long)i,
                 (long long)elem_i(t, i), (long long)want[i]);
}
#define EXPECT_INTS(t, dt, ...) expect_ints(t, dt, DIMS(__VA_ARGS__), NARGS(__VA_ARGS__))

static void expect_f32(const rt_tensor *t, const float *want, int64_t n, double tol) {
  cr_assert_eq(t->dtype, IVM_DT_F32);
  cr_assert_eq(rt_numel(t), n, "numel %lld, want %lld", (long long)rt_numel(t), (long long)n);
  const float *got = t->data;
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])), "[%lld] got %.8g want %.8g",
              (long long)i, got[i], want[i]);
}
#define EXPECT_F32(t, ...)                                                              \
  expect_f32(t, (const float[]){__VA_ARGS__},                                           \
             (int64_t)(sizeof((float[]){__VA_ARGS__}) / sizeof(float)), 1e-6)

static void drop(rt_tensor *t, int n) {
  for (int i = 0; i < n; i++) {
    free(t[i].data);
    t[i].data = NULL;
  }
}

/* deterministic pseudo-random bytes */
static uint32_t g_rng = 12345;
static uint32_t rnd(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return g_rng >> 8;
}

/* ---- QuantizeLinear ---------------------------------------------------------------------- */
Test(quantize, per_tensor_u8_saturates) {
  /* ONNX example: x / 2 + 128, saturated */
  rt_tensor x = T(IVM_DT_F32, ((float[]){0, 2, 3, 1000, -254, -1000}), 6);
  rt_tensor s = S(IVM_DT_F32, ((float[]){2}));
  rt_tensor z = S(IVM_DT_U8, ((uint8_t[]){128}));
  const rt_tensor *in[] = {&x, &s, &z};
  rt_tensor out[1];
  run(ISA_OP_QuantizeLinear, 3, in, defaults(ISA_OP_QuantizeLinear), 1, out);
  EXPECT_SHAPE(&out[0], 6);
  EXPECT_INTS(&out[0], IVM_DT_U8, 128, 129, 130, 255, 1, 0);
  drop(out, 1);
}

Test(quantize, rounds_half_to_even_i8) {
  /* x / 2 = 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 300 -> 0, 2, 2, 0, -2, -2, 127 */
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 3, 5, -1, -3, -5, 600, -600}), 8);
  rt_tensor s = T(IVM_DT_F32, ((float[]){2}), 1);
  rt_tensor z = T(IVM_DT_I8, ((int8_t[]){0}), 1);
  const rt_tensor *in[] = {&x, &s, &z};
  rt_tensor out[1];
  run(ISA_OP_QuantizeLinear, 3, in, defaults(ISA_OP_QuantizeLinear), 1, out);
  EXPECT_INTS(&out[0], IVM_DT_I8, 0, 2, 2, 0, -2, -2, 127, -128);
  drop(out, 1);
}

Test(quantize, no_zero_point_defaults_u8_and_output_dtype) {
  rt_tensor x = T(IVM_DT_F32, ((float[]){-1, 0.4f, 0.6f, 300}), 4);
  rt_tensor s = S(IVM_DT_F32, ((float[]){1}));
  const rt_tensor *in[] = {&x, &s};
  rt_tensor out[1];
  run(ISA_OP_QuantizeLinear, 2, in, defaults(ISA_OP_QuantizeLinear), 1, out);
  EXPECT_INTS(&out[0], IVM_DT_U8, 0, 0, 1, 255);
  drop(out, 1);
  isa_attr *a = defaults(ISA_OP_QuantizeLinear);
  set_int(&a[ISA_A_QuantizeLinear_output_dtype], IVM_DT_I16);
  run(ISA_OP_QuantizeLinear, 2, in, a, 1, out);
  EXPECT_INTS(&out[0], IVM_DT_I16, -1, 0, 1, 300);
  drop(out, 1);
}

Test(quantize, per_axis) {
  /* ONNX example, axis 1 of [1, 3, 3, 2] */
  rt_tensor x = T(IVM_DT_F32,
                  ((float[]){-162, 10, -100, 232, -20, -50, -76, 0, 0, 252, 32, -44, 245, 485,
                             -960, -270, -375, -470}),
                  1, 3, 3, 2);
  rt_tensor s = T(IVM_DT_F32, ((float[]){2, 4, 5}), 3);
  rt_tensor z = T(IVM_DT_U8, ((uint8_t[]){84, 24, 196}), 3);
  const rt_tensor *in[] = {&x, &s, &z};
  rt_tensor out[1];
  run(ISA_OP_QuantizeLinear, 3, in, defaults(ISA_OP_QuantizeLinear), 1, out);
  EXPECT_SHAPE(&out[0], 1, 3, 3, 2);
  EXPECT_INTS(&out[0], IVM_DT_U8, 3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 255, 4,
              142, 121, 102);
  drop(out, 1);
  /* negative axis: same result */
  isa_attr *a = defaults(ISA_OP_QuantizeLinear);
  set_int(&a[ISA_A_QuantizeLinear_axis], -3);
  run(ISA_OP_QuantizeLinear, 3, in, a, 1, out);
  EXPECT_INTS(&out[0], IVM_DT_U8, 3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 255, 4,
              142, 121, 102);
  drop(out, 1);
}

Test(quantize, blocked) {
  /* numpy: rint(x / repeat(s, 2, axis=1)[:, :5]) + repeat(zp...), clipped to i8 */
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, -10}), 2, 5);
  rt_tensor s = T(IVM_DT_F32, ((float[]){0.5f, 1, 2, 2, 4, 8}), 2, 3);
  rt_tensor z = T(IVM_DT_I8, ((int8_t[]){1, 0, -1, 0, 2, 3}), 2, 3);
  const rt_tensor *in[] = {&x, &s, &z};
  isa_attr *a = defaults(ISA_OP_QuantizeLinear);
  set_int(&a[ISA_A_QuantizeLinear_block_size], 2);
  rt_tensor out[1];
  run(ISA_OP_QuantizeLinear, 3, in, a, 1, out);
  EXPECT_INTS(&out[0], IVM_DT_I8, 3, 5, 3, 4, 1, 3, 4, 4, 4, 2);
  drop(out, 1);
}

Test(quantize, errors) {
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 2, 3, 4, 5, 6}), 2, 3);
  rt_tensor s2 = T(IVM_DT_F32, ((float[]){1, 2}), 2);
  rt_tensor s1 = S(IVM_DT_F32, ((float[]){1}));
  rt_tensor zf = S(IVM_DT_F32, ((float[]){0}));
  rt_tensor z2 = T(IVM_DT_U8, ((uint8_t[]){0, 0, 0}), 3);
  rt_tensor xi = T(IVM_DT_I32, ((int32_t[]){1, 2}), 2);
  isa_attr *a = defaults(ISA_OP_QuantizeLinear);
  /* per-axis scale of the wrong length (axis 1 has 3) */
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QuantizeLinear, 2,
              (const rt_tensor *[]){&x, &s2}, a, 1);
  /* float zero point */
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QuantizeLinear, 3,
              (const rt_tensor *[]){&x, &s1, &zf}, a, 1);
  /* zero point shape differs from the scale's */
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QuantizeLinear, 3,
              (const rt_tensor *[]){&x, &s1, &z2}, a, 1);
  /* integer input */
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QuantizeLinear, 2,
              (const rt_tensor *[]){&xi, &s1}, a, 1);
  /* axis out of range */
  rt_tensor s3 = T(IVM_DT_F32, ((float[]){1, 2, 3}), 3);
  set_int(&a[ISA_A_QuantizeLinear_axis], 2);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QuantizeLinear, 2,
              (const rt_tensor *[]){&x, &s3}, a, 1);
  /* negative block size; bad output dtype */
  a = defaults(ISA_OP_QuantizeLinear);
  set_int(&a[ISA_A_QuantizeLinear_block_size], -1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QuantizeLinear, 2,
              (const rt_tensor *[]){&x, &s1}, a, 1);
  a = defaults(ISA_OP_QuantizeLinear);
  set_int(&a[ISA_A_QuantizeLinear_output_dtype], IVM_DT_F32);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QuantizeLinear, 2,
              (const rt_tensor *[]){&x, &s1}, a, 1);
}

/* ---- DequantizeLinear -------------------------------------------------------------------- */
Test(dequantize, per_tensor_u8_and_i32) {
  /* ONNX example: (x - 128) * 2 */
  rt_tensor x = T(IVM_DT_U8, ((uint8_t[]){0, 3, 128, 255}), 4);
  rt_tensor s = S(IVM_DT_F32, ((float[]){2}));
  rt_tensor z = S(IVM_DT_U8, ((uint8_t[]){128}));
  rt_tensor out[1];
  run(ISA_OP_DequantizeLinear, 3, (const rt_tensor *[]){&x, &s, &z},
      defaults(ISA_OP_DequantizeLinear), 1, out);
  EXPECT_F32(&out[0], -256, -250, 0, 254);
  drop(out, 1);
  rt_tensor xi = T(IVM_DT_I32, ((int32_t[]){-300, 0, 7, 1000000}), 4);
  rt_tensor si = S(IVM_DT_F32, ((float[]){0.5f}));
  run(ISA_OP_DequantizeLinear, 2, (const rt_tensor *[]){&xi, &si},
      defaults(ISA_OP_DequantizeLinear), 1, out);
  EXPECT_F32(&out[0], -150, 0, 3.5f, 500000);
  drop(out, 1);
}

Test(dequantize, per_axis_and_blocked) {
  /* ONNX example, axis 1 of [1, 3, 3, 2] */
  rt_tensor x = T(IVM_DT_U8,
                  ((uint8_t[]){3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 255, 4, 142,
                               121, 102}),
                  1, 3, 3, 2);
  rt_tensor s = T(IVM_DT_F32, ((float[]){2, 4, 5}), 3);
  rt_tensor z = T(IVM_DT_U8, ((uint8_t[]){84, 24, 196}), 3);
  rt_tensor out[1];
  run(ISA_OP_DequantizeLinear, 3, (const rt_tensor *[]){&x, &s, &z},
      defaults(ISA_OP_DequantizeLinear), 1, out);
  EXPECT_F32(&out[0], -162, 10, -100, 232, -20, -50, -76, 0, 0, 252, 32, -44, 245, 295, -960,
             -270, -375, -470);
  drop(out, 1);
  /* blocked along axis 0 with block 2: rows {0,1} use s[0], row 2 uses s[1] */
  rt_tensor xb = T(IVM_DT_I8, ((int8_t[]){1, -2, 3, -4, 5, -6}), 3, 2);
  rt_tensor sb = T(IVM_DT_F32, ((float[]){1, 10, 100, 1000}), 2, 2);
  rt_tensor zb = T(IVM_DT_I8, ((int8_t[]){0, 1, 2, 3}), 2, 2);
  isa_attr *a = defaults(ISA_OP_DequantizeLinear);
  set_int(&a[ISA_A_DequantizeLinear_axis], 0);
  set_int(&a[ISA_A_DequantizeLinear_block_size], 2);
  run(ISA_OP_DequantizeLinear, 3, (const rt_tensor *[]){&xb, &sb, &zb}, a, 1, out);
  EXPECT_F32(&out[0], 1, -30, 3, -50, 300, -9000);
  drop(out, 1);
}

Test(dequantize, f16_scale) {
  rt_tensor x = T(IVM_DT_I8, ((int8_t[]){-4, 6}), 2);
  uint16_t h = isa_f32_to_f16(0.25f);
  rt_tensor s = S(IVM_DT_F16, &h);
  rt_tensor out[1];
  run(ISA_OP_DequantizeLinear, 2, (const rt_tensor *[]){&x, &s},
      defaults(ISA_OP_DequantizeLinear), 1, out);
  cr_assert_eq(out[0].dtype, IVM_DT_F16);
  cr_assert_float_eq(isa_f16_to_f32(((uint16_t *)out[0].data)[0]), -1.0f, 1e-6);
  cr_assert_float_eq(isa_f16_to_f32(((uint16_t *)out[0].data)[1]), 1.5f, 1e-6);
  drop(out, 1);
}

Test(dequantize, errors) {
  rt_tensor x = T(IVM_DT_U8, ((uint8_t[]){1, 2}), 2);
  rt_tensor s = S(IVM_DT_F32, ((float[]){1}));
  rt_tensor zi8 = S(IVM_DT_I8, ((int8_t[]){0}));
  rt_tensor xf = T(IVM_DT_F32, ((float[]){1, 2}), 2);
  rt_tensor si = S(IVM_DT_I32, ((int32_t[]){1}));
  isa_attr *a = defaults(ISA_OP_DequantizeLinear);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_DequantizeLinear, 3,
              (const rt_tensor *[]){&x, &s, &zi8}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_DequantizeLinear, 2,
              (const rt_tensor *[]){&xf, &s}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_DequantizeLinear, 2,
              (const rt_tensor *[]){&x, &si}, a, 1);
}

/* ---- DynamicQuantizeLinear ----------------------------------------------------------------- */
Test(dynamic_quantize, onnx_example) {
  /* numpy: scale 0.019607844, zero point 153 */
  rt_tensor x = T(IVM_DT_F32, ((float[]){0, 2, -3, -2.5f, 1.34f, 0.5f}), 6);
  rt_tensor out[3];
  run(ISA_OP_DynamicQuantizeLinear, 1, (const rt_tensor *[]){&x}, NULL, 3, out);
  EXPECT_INTS(&out[0], IVM_DT_U8, 153, 255, 0, 26, 221, 179);
  cr_assert_eq(out[1].rank, 0);
  EXPECT_F32(&out[1], 0.019607844f);
  EXPECT_INTS(&out[2], IVM_DT_U8, 153);
  drop(out, 3);
}

Test(dynamic_quantize, all_positive_and_all_zero) {
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 2.1f, 1.3f, 2.5f, 3.34f, 4}), 2, 3);
  rt_tensor out[3];
  run(ISA_OP_DynamicQuantizeLinear, 1, (const rt_tensor *[]){&x}, NULL, 3, out);
  /* ONNX min_adjusted example: scale 4/255, zero point 0 */
  EXPECT_INTS(&out[0], IVM_DT_U8, 64, 134, 83, 159, 213, 255);
  EXPECT_INTS(&out[2], IVM_DT_U8, 0);
  drop(out, 3);
  rt_tensor z = T(IVM_DT_F32, ((float[]){0, 0}), 2);
  run(ISA_OP_DynamicQuantizeLinear, 1, (const rt_tensor *[]){&z}, NULL, 3, out);
  EXPECT_INTS(&out[0], IVM_DT_U8, 0, 0);
  EXPECT_F32(&out[1], 0);
  drop(out, 3);
  rt_tensor xi = T(IVM_DT_U8, ((uint8_t[]){0}), 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_DynamicQuantizeLinear, 1,
              (const rt_tensor *[]){&xi}, NULL, 3);
}

/* ---- integer GEMM ------------------------------------------------------------------------ */
static void check_qgemm(int64_t M, int64_t N, int64_t K) {
  int64_t Kp = rt_qgemm_kpad(K);
  uint8_t *A = malloc((size_t)(M * K));
  int8_t *B = malloc((size_t)(K * N));
  int16_t *Ap = malloc((size_t)(M * Kp) * 2), *Bp = malloc((size_t)(N * Kp) * 2);
  int32_t *C = malloc((size_t)(M * N) * 4), *za = malloc((size_t)M * 4), *zb = malloc((size_t)N * 4);
  for (int64_t i = 0; i < M * K; i++) A[i] = (uint8_t)rnd();
  for (int64_t i = 0; i < K * N; i++) B[i] = (int8_t)rnd();
  for (int64_t i = 0; i < M; i++) za[i] = (int32_t)(rnd() & 255);
  for (int64_t j = 0; j < N; j++) zb[j] = (int32_t)(int8_t)rnd();
  rt_qpack(M, K, Kp, A, IVM_DT_U8, K, 1, za, 1, Ap);
  rt_qpack(N, K, Kp, B, IVM_DT_I8, 1, N, zb, 1, Bp);
  rt_qgemm(M, N, Kp, Ap, Bp, C, N);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      int64_t s = 0;
      for (int64_t k = 0; k < K; k++)
        s += ((int64_t)A[i * K + k] - za[i]) * ((int64_t)B[k * N + j] - zb[j]);
      cr_assert_eq((int64_t)C[i * N + j], s, "M=%lld N=%lld K=%lld [%lld,%lld]: %d vs %lld",
                   (long long)M, (long long)N, (long long)K, (long long)i, (long long)j,
                   C[i * N + j], (long long)s);
    }
  free(A), free(B), free(Ap), free(Bp), free(C), free(za), free(zb);
}

Test(qgemm, against_naive) {
  check_qgemm(1, 1, 1);
  check_qgemm(3, 5, 7);
  check_qgemm(5, 130, 33);   /* odd rows, column tail past a 128 block */
  check_qgemm(4, 9, 2100);   /* K longer than one 2048 chunk */
  check_qgemm(17, 260, 300);
}

/* ---- MatMulInteger ------------------------------------------------------------------------ */
Test(matmul_integer, onnx_example) {
  rt_tensor a = T(IVM_DT_U8, ((uint8_t[]){11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0}), 4, 3);
  rt_tensor b = T(IVM_DT_U8, ((uint8_t[]){1, 4, 2, 5, 3, 6}), 3, 2);
  rt_tensor za = T(IVM_DT_U8, ((uint8_t[]){12}), 1);
  rt_tensor zb = T(IVM_DT_U8, ((uint8_t[]){0}), 1);
  rt_tensor out[1];
  run(ISA_OP_MatMulInteger, 4, (const rt_tensor *[]){&a, &b, &za, &zb}, NULL, 1, out);
  EXPECT_SHAPE(&out[0], 4, 2);
  EXPECT_INTS(&out[0], IVM_DT_I32, -38, -83, -44, -98, -50, -113, -56, -128);
  drop(out, 1);
  /* without zero points: plain product */
  run(ISA_OP_MatMulInteger, 2, (const rt_tensor *[]){&a, &b}, NULL, 1, out);
  EXPECT_INTS(&out[0], IVM_DT_I32, 34, 97, 28, 82, 22, 67, 16, 52);
  drop(out, 1);
}

Test(matmul_integer, per_row_col_zero_points_mixed_signs) {
  /* A i8 [2, 2] with per-row zp (1, -1); B u8 [2, 3] with per-column zp (0, 1, 2):
   * A - za = [[1, 1], [4, -1]], B - zb = [[1, 1, 1], [4, 4, 4]] -> [[5, 5, 5], [0, 0, 0]] */
  rt_tensor a = T(IVM_DT_I8, ((int8_t[]){2, 2, 3, -2}), 2, 2);
  rt_tensor b = T(IVM_DT_U8, ((uint8_t[]){1, 2, 3, 4, 5, 6}), 2, 3);
  rt_tensor za = T(IVM_DT_I8, ((int8_t[]){1, -1}), 2);
  rt_tensor zb = T(IVM_DT_U8, ((uint8_t[]){0, 1, 2}), 3);
  rt_tensor out[1];
  run(ISA_OP_MatMulInteger, 4, (const rt_tensor *[]){&a, &b, &za, &zb}, NULL, 1, out);
  EXPECT_INTS(&out[0], IVM_DT_I32, 5, 5, 5, 0, 0, 0);
  drop(out, 1);
  /* only b's zero point (a's absent) */
  run(ISA_OP_MatMulInteger, 4, (const rt_tensor *[]){&a, &b, NULL, &zb}, NULL, 1, out);
  /* [[2,2],[3,-2]] @ [[1,1,1],[4,4,4]] */
  EXPECT_INTS(&out[0], IVM_DT_I32, 10, 10, 10, -5, -5, -5);
  drop(out, 1);
}

Test(matmul_integer, batch_broadcast_and_nd_zero_point) {
  /* A [2, 1, 2, 2] broadcast against B [3, 2, 1]: output [2, 3, 2, 1] */
  rt_tensor a = T(IVM_DT_U8, ((uint8_t[]){1, 2, 3, 4, 5, 6, 7, 8}), 2, 1, 2, 2);
  rt_tensor b = T(IVM_DT_U8, ((uint8_t[]){1, 0, 0, 1, 1, 1}), 3, 2, 1);
  /* per-batch per-row zero points for A: shape [2, 1, 2, 1] */
  rt_tensor za = T(IVM_DT_U8, ((uint8_t[]){1, 0, 0, 2}), 2, 1, 2, 1);
  rt_tensor out[1];
  run(ISA_OP_MatMulInteger, 3, (const rt_tensor *[]){&a, &b, &za}, NULL, 1, out);
  EXPECT_SHAPE(&out[0], 2, 3, 2, 1);
  /* A - za: batch0 [[0,1],[3,4]], batch1 [[5,6],[5,6]];
   * B: [1,0]^T, [0,1]^T, [1,1]^T */
  EXPECT_INTS(&out[0], IVM_DT_I32, 0, 3, 1, 4, 1, 7, 5, 5, 6, 6, 11, 11);
  drop(out, 1);
}

Test(matmul_integer, one_d_operands) {
  rt_tensor a = T(IVM_DT_I8, ((int8_t[]){1, -2, 3}), 3);
  rt_tensor b = T(IVM_DT_I8, ((int8_t[]){4, 5, 6}), 3);
  rt_tensor out[1];
  run(ISA_OP_MatMulInteger, 2, (const rt_tensor *[]){&a, &b}, NULL, 1, out);
  cr_assert_eq(out[0].rank, 0);
  EXPECT_INTS(&out[0], IVM_DT_I32, 12);
  drop(out, 1);
}

Test(matmul_integer, larger_against_naive) {
  enum { M = 37, K = 70, N = 150 };
  static uint8_t A[M * K], B[K * N];
  for (int i = 0; i < M * K; i++) A[i] = (uint8_t)rnd();
  for (int i = 0; i < K * N; i++) B[i] = (uint8_t)rnd();
  uint8_t za = 131, zb = 7;
  rt_tensor a = T(IVM_DT_U8, A, M, K), b = T(IVM_DT_U8, B, K, N);
  rt_tensor tza = S(IVM_DT_U8, &za), tzb = S(IVM_DT_U8, &zb);
  rt_tensor out[1];
  run(ISA_OP_MatMulInteger, 4, (const rt_tensor *[]){&a, &b, &tza, &tzb}, NULL, 1, out);
  const int32_t *y = out[0].data;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      int32_t s = 0;
      for (int k = 0; k < K; k++) s += (A[i * K + k] - za) * (B[k * N + j] - zb);
      cr_assert_eq(y[i * N + j], s);
    }
  drop(out, 1);
}

Test(matmul_integer, errors) {
  rt_tensor a = T(IVM_DT_U8, ((uint8_t[]){1, 2, 3, 4}), 2, 2);
  rt_tensor b3 = T(IVM_DT_U8, ((uint8_t[]){1, 2, 3, 4, 5, 6}), 3, 2);
  rt_tensor f = T(IVM_DT_F32, ((float[]){1, 2, 3, 4}), 2, 2);
  rt_tensor zi8 = S(IVM_DT_I8, ((int8_t[]){0}));
  rt_tensor z3 = T(IVM_DT_U8, ((uint8_t[]){0, 0, 0}), 3);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_MatMulInteger, 2, (const rt_tensor *[]){&a, &b3}, NULL, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_MatMulInteger, 2, (const rt_tensor *[]){&a, &f}, NULL, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_MatMulInteger, 3,
              (const rt_tensor *[]){&a, &a, &zi8}, NULL, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_MatMulInteger, 3,
              (const rt_tensor *[]){&a, &a, &z3}, NULL, 1);
}

/* ---- QLinearMatMul ----------------------------------------------------------------------- */
Test(qlinear_matmul, onnx_example_2d_3d) {
  uint8_t A[] = {208, 236, 0, 238, 3, 214, 255, 29};
  uint8_t B[] = {152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247};
  rt_tensor sa = T(IVM_DT_F32, ((float[]){0.0066f}), 1);
  rt_tensor za = T(IVM_DT_U8, ((uint8_t[]){113}), 1);
  rt_tensor sb = T(IVM_DT_F32, ((float[]){0.00705f}), 1);
  rt_tensor zb = T(IVM_DT_U8, ((uint8_t[]){114}), 1);
  rt_tensor sy = T(IVM_DT_F32, ((float[]){0.0107f}), 1);
  rt_tensor zy = T(IVM_DT_U8, ((uint8_t[]){118}), 1);
  rt_tensor a = T(IVM_DT_U8, A, 2, 4), b = T(IVM_DT_U8, B, 4, 3);
  rt_tensor out[1];
  run(ISA_OP_QLinearMatMul, 8, (const rt_tensor *[]){&a, &sa, &za, &b, &sb, &zb, &sy, &zy}, NULL,
      1, out);
  EXPECT_SHAPE(&out[0], 2, 3);
  EXPECT_INTS(&out[0], IVM_DT_U8, 168, 115, 255, 1, 66, 151);
  drop(out, 1);
  /* A batched [2, 2, 4] against the shared B */
  uint8_t A2[16];
  memcpy(A2, A, 8);
  memcpy(A2 + 8, A, 8);
  rt_tensor a2 = T(IVM_DT_U8, A2, 2, 2, 4);
  run(ISA_OP_QLinearMatMul, 8, (const rt_tensor *[]){&a2, &sa, &za, &b, &sb, &zb, &sy, &zy}, NULL,
      1, out);
  EXPECT_SHAPE(&out[0], 2, 2, 3);
  EXPECT_INTS(&out[0], IVM_DT_U8, 168, 115, 255, 1, 66, 151, 168, 115, 255, 1, 66, 151);
  drop(out, 1);
}

Test(qlinear_matmul, per_row_per_column_i8) {
  /* A i8 [[10, -10], [4, 4]] zp 0, per-row a_scale (0.5, 1); B i8 identity * 2, per-column
   * b_scale (1, 0.25) zp 0; y_scale 1, zp -1 (i8):
   * acc = [[20, -20], [8, 8]]; scale[i][j] = sa[i] * sb[j] -> [[10, -2.5], [8, 2]]
   * rint: -2.5 -> -2 (half to even); + zp -> [[9, -3], [7, 1]] */
  rt_tensor a = T(IVM_DT_I8, ((int8_t[]){10, -10, 4, 4}), 2, 2);
  rt_tensor sa = T(IVM_DT_F32, ((float[]){0.5f, 1}), 2);
  rt_tensor za = S(IVM_DT_I8, ((int8_t[]){0}));
  rt_tensor b = T(IVM_DT_I8, ((int8_t[]){2, 0, 0, 2}), 2, 2);
  rt_tensor sb = T(IVM_DT_F32, ((float[]){1, 0.25f}), 2);
  rt_tensor zb = S(IVM_DT_I8, ((int8_t[]){0}));
  rt_tensor sy = S(IVM_DT_F32, ((float[]){1}));
  rt_tensor zy = S(IVM_DT_I8, ((int8_t[]){-1}));
  rt_tensor out[1];
  run(ISA_OP_QLinearMatMul, 8, (const rt_tensor *[]){&a, &sa, &za, &b, &sb, &zb, &sy, &zy}, NULL,
      1, out);
  EXPECT_INTS(&out[0], IVM_DT_I8, 9, -3, 7, 1);
  drop(out, 1);
  /* saturation: y_scale tiny */
  rt_tensor sy2 = S(IVM_DT_F32, ((float[]){0.01f}));
  run(ISA_OP_QLinearMatMul, 8, (const rt_tensor *[]){&a, &sa, &za, &b, &sb, &zb, &sy2, &zy}, NULL,
      1, out);
  EXPECT_INTS(&out[0], IVM_DT_I8, 127, -128, 127, 127);
  drop(out, 1);
  /* wrong scale length, wrong scale dtype */
  rt_tensor s3 = T(IVM_DT_F32, ((float[]){1, 1, 1}), 3);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QLinearMatMul, 8,
              (const rt_tensor *[]){&a, &s3, &za, &b, &sb, &zb, &sy, &zy}, NULL, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QLinearMatMul, 8,
              (const rt_tensor *[]){&a, &sa, &za, &b, &sb, &zb, &zy, &zy}, NULL, 1);
}

/* ---- ConvInteger / QLinearConv -------------------------------------------------------------- */
Test(conv_integer, onnx_examples) {
  rt_tensor x = T(IVM_DT_U8, ((uint8_t[]){2, 3, 4, 5, 6, 7, 8, 9, 10}), 1, 1, 3, 3);
  rt_tensor w = T(IVM_DT_U8, ((uint8_t[]){1, 1, 1, 1}), 1, 1, 2, 2);
  rt_tensor zx = S(IVM_DT_U8, ((uint8_t[]){1}));
  rt_tensor out[1];
  run(ISA_OP_ConvInteger, 3, (const rt_tensor *[]){&x, &w, &zx}, defaults(ISA_OP_ConvInteger), 1,
      out);
  EXPECT_SHAPE(&out[0], 1, 1, 2, 2);
  EXPECT_INTS(&out[0], IVM_DT_I32, 12, 16, 24, 28);
  drop(out, 1);
  isa_attr *a = defaults(ISA_OP_ConvInteger);
  INTS(&a[ISA_A_ConvInteger_pads], 1, 1, 1, 1);
  run(ISA_OP_ConvInteger, 3, (const rt_tensor *[]){&x, &w, &zx}, a, 1, out);
  EXPECT_SHAPE(&out[0], 1, 1, 4, 4);
  /* padding contributes 0 (it is x's zero point) */
  EXPECT_INTS(&out[0], IVM_DT_I32, 1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9);
  drop(out, 1);
}

/* Direct convolution of (x - zx) and (w - zw[m]) for 2-D, zero padding. */
static void conv_ref(const uint8_t *x, const int8_t *w, int N, int C, int H, int W, int M, int G,
                     int KH, int KW, int sh, int sw, int dh, int dw, int ph, int pw, int OH,
                     int OW, int zx, const int8_t *zw, int32_t *y) {
  int Cg = C / G, Mg = M / G;
  for (int n = 0; n < N; n++)
    for (int m = 0; m < M; m++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          int32_t s = 0;
          int g = m / Mg;
          for (int c = 0; c < Cg; c++)
            for (int kh = 0; kh < KH; kh++)
              for (int kw = 0; kw < KW; kw++) {
                int ih = oh * sh + kh * dh - ph, iw = ow * sw + kw * dw - pw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                int xv = x[((n * C + g * Cg + c) * H + ih) * W + iw] - zx;
                int wv = w[((m * Cg + c) * KH + kh) * KW + kw] - zw[m];
                s += xv * wv;
              }
          y[((n * M + m) * OH + oh) * OW + ow] = s;
        }
}

Test(conv_integer, groups_strides_dilations_per_channel_zp) {
  enum { N = 2, C = 4, H = 7, W = 6, M = 6, G = 2, KH = 3, KW = 2 };
  /* strides (2, 1), dilations (1, 2), pads (1, 0, 2, 1): OH = (7+3-3)/2+1 = 4,
   * OW = (6+1-3)/1+1 = 5 */
  enum { OH = 4, OW = 5 };
  static uint8_t X[N * C * H * W];
  static int8_t Wt[M * (C / G) * KH * KW];
  for (size_t i = 0; i < sizeof X; i++) X[i] = (uint8_t)rnd();
  for (size_t i = 0; i < sizeof Wt; i++) Wt[i] = (int8_t)rnd();
  int8_t zw[M] = {0, 1, -2, 3, -4, 5};
  uint8_t zx = 100;
  rt_tensor x = T(IVM_DT_U8, X, N, C, H, W), w = T(IVM_DT_I8, Wt, M, C / G, KH, KW);
  rt_tensor tzx = S(IVM_DT_U8, &zx), tzw = T(IVM_DT_I8, zw, M);
  isa_attr *a = defaults(ISA_OP_ConvInteger);
  set_int(&a[ISA_A_ConvInteger_group], G);
  INTS(&a[ISA_A_ConvInteger_strides], 2, 1);
  INTS(&a[ISA_A_ConvInteger_dilations], 1, 2);
  INTS(&a[ISA_A_ConvInteger_pads], 1, 0, 2, 1);
  rt_tensor out[1];
  run(ISA_OP_ConvInteger, 4, (const rt_tensor *[]){&x, &w, &tzx, &tzw}, a, 1, out);
  EXPECT_SHAPE(&out[0], N, M, OH, OW);
  static int32_t ref[N * M * OH * OW];
  conv_ref(X, Wt, N, C, H, W, M, G, KH, KW, 2, 1, 1, 2, 1, 0, OH, OW, zx, zw, ref);
  const int32_t *y = out[0].data;
  for (int i = 0; i < N * M * OH * OW; i++) cr_assert_eq(y[i], ref[i], "[%d] %d vs %d", i, y[i], ref[i]);
  drop(out, 1);
}

Test(conv_integer, auto_pad_same_upper_and_1d) {
  /* 1-D: x = [1..5] (zp 0), w = [1, 1, 1], SAME_UPPER stride 2: out 3, pads (1, 1):
   * windows [0,1,2], [2,3,4], [4,5,0] -> 3, 9, 9 */
  rt_tensor x = T(IVM_DT_I8, ((int8_t[]){1, 2, 3, 4, 5}), 1, 1, 5);
  rt_tensor w = T(IVM_DT_I8, ((int8_t[]){1, 1, 1}), 1, 1, 3);
  isa_attr *a = defaults(ISA_OP_ConvInteger);
  set_str(&a[ISA_A_ConvInteger_auto_pad], "SAME_UPPER");
  INTS(&a[ISA_A_ConvInteger_strides], 2);
  rt_tensor out[1];
  run(ISA_OP_ConvInteger, 2, (const rt_tensor *[]){&x, &w}, a, 1, out);
  EXPECT_SHAPE(&out[0], 1, 1, 3);
  EXPECT_INTS(&out[0], IVM_DT_I32, 3, 9, 9);
  drop(out, 1);
}

Test(conv_integer, errors) {
  rt_tensor x = T(IVM_DT_U8, ((uint8_t[]){1, 2, 3, 4}), 1, 1, 2, 2);
  rt_tensor w = T(IVM_DT_U8, ((uint8_t[]){1}), 1, 1, 1, 1);
  rt_tensor w2 = T(IVM_DT_U8, ((uint8_t[]){1, 1}), 1, 2, 1, 1);
  rt_tensor zx2 = T(IVM_DT_U8, ((uint8_t[]){1, 1}), 2);
  rt_tensor zw3 = T(IVM_DT_U8, ((uint8_t[]){1, 1, 1}), 3);
  isa_attr *a = defaults(ISA_OP_ConvInteger);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_ConvInteger, 2, (const rt_tensor *[]){&x, &w2}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_ConvInteger, 3,
              (const rt_tensor *[]){&x, &w, &zx2}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_ConvInteger, 4,
              (const rt_tensor *[]){&x, &w, NULL, &zw3}, a, 1);
  set_int(&a[ISA_A_ConvInteger_group], 0);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_ConvInteger, 2, (const rt_tensor *[]){&x, &w}, a, 1);
}

Test(qlinear_conv, onnx_example) {
  uint8_t X[] = {255, 174, 162, 25,  203, 168, 58,  15,  59,  237, 95,  129, 0,   64,  56,  242, 153,
                 221, 168, 12,  166, 232, 178, 186, 195, 237, 162, 237, 188, 39,  124, 77,  80,  102,
                 43,  127, 230, 21,  83,  41,  40,  134, 255, 154, 92,  141, 42,  148, 247};
  rt_tensor x = T(IVM_DT_U8, X, 1, 1, 7, 7);
  rt_tensor sx = S(IVM_DT_F32, ((float[]){0.00369204697f}));
  rt_tensor zx = S(IVM_DT_U8, ((uint8_t[]){132}));
  rt_tensor w = T(IVM_DT_U8, ((uint8_t[]){0}), 1, 1, 1, 1);
  rt_tensor sw = T(IVM_DT_F32, ((float[]){0.00172794575f}), 1);
  rt_tensor zw = T(IVM_DT_U8, ((uint8_t[]){255}), 1);
  rt_tensor sy = S(IVM_DT_F32, ((float[]){0.00162681262f}));
  rt_tensor zy = S(IVM_DT_U8, ((uint8_t[]){123}));
  rt_tensor out[1];
  run(ISA_OP_QLinearConv, 8, (const rt_tensor *[]){&x, &sx, &zx, &w, &sw, &zw, &sy, &zy},
      defaults(ISA_OP_QLinearConv), 1, out);
  EXPECT_SHAPE(&out[0], 1, 1, 7, 7);
  EXPECT_INTS(&out[0], IVM_DT_U8, 0, 81, 93, 230, 52, 87, 197, 240, 196, 18, 160, 126, 255, 191,
              199, 13, 102, 34, 87, 243, 89, 23, 77, 69, 60, 18, 93, 18, 67, 216, 131, 178, 175,
              153, 212, 128, 25, 234, 172, 214, 215, 121, 0, 101, 163, 114, 213, 107, 8);
  drop(out, 1);
}

Test(qlinear_conv, bias_and_per_channel_scale) {
  /* x i8 [1, 1, 1, 3] = (1, 2, 3), zp 0, scale 1; w i8 [2, 1, 1, 2] = (1, 1), (1, -1),
   * zp 0, per-channel scales (0.5, 2); bias (10, -1); y scale 1, zp 0:
   * channel 0: acc (3, 5) + 10 = (13, 15) * 0.5 = 6.5 -> 6, 7.5 -> 8 (half to even)
   * channel 1: acc (-1, -1) - 1 = -2 * 2 = -4 */
  rt_tensor x = T(IVM_DT_I8, ((int8_t[]){1, 2, 3}), 1, 1, 1, 3);
  rt_tensor one = S(IVM_DT_F32, ((float[]){1}));
  rt_tensor z0 = S(IVM_DT_I8, ((int8_t[]){0}));
  rt_tensor w = T(IVM_DT_I8, ((int8_t[]){1, 1, 1, -1}), 2, 1, 1, 2);
  rt_tensor sw = T(IVM_DT_F32, ((float[]){0.5f, 2}), 2);
  rt_tensor zw = T(IVM_DT_I8, ((int8_t[]){0, 0}), 2);
  rt_tensor b = T(IVM_DT_I32, ((int32_t[]){10, -1}), 2);
  rt_tensor out[1];
  run(ISA_OP_QLinearConv, 9, (const rt_tensor *[]){&x, &one, &z0, &w, &sw, &zw, &one, &z0, &b},
      defaults(ISA_OP_QLinearConv), 1, out);
  EXPECT_SHAPE(&out[0], 1, 2, 1, 2);
  EXPECT_INTS(&out[0], IVM_DT_I8, 6, 8, -4, -4);
  drop(out, 1);
  /* bias must be i32 */
  rt_tensor bf = T(IVM_DT_F32, ((float[]){10, -1}), 2);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QLinearConv, 9,
              (const rt_tensor *[]){&x, &one, &z0, &w, &sw, &zw, &one, &z0, &bf},
              defaults(ISA_OP_QLinearConv), 1);
  /* x scale must be one element */
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_QLinearConv, 8,
              (const rt_tensor *[]){&x, &sw, &z0, &w, &sw, &zw, &one, &z0},
              defaults(ISA_OP_QLinearConv), 1);
}

/* ---- losses -------------------------------------------------------------------------------- */
Test(nll_loss, reductions_weights_ignore_index) {
  /* input [2, 3], target (2, 0), weight (1, 2, 3): l = (-3 * -3, -1 * -0.5) = (9, 0.5) */
  rt_tensor x = T(IVM_DT_F32, ((float[]){-1, -2, -3, -0.5f, -1.5f, -2.5f}), 2, 3);
  rt_tensor t = T(IVM_DT_I64, ((int64_t[]){2, 0}), 2);
  rt_tensor w = T(IVM_DT_F32, ((float[]){1, 2, 3}), 3);
  const rt_tensor *in[] = {&x, &t, &w};
  rt_tensor out[1];
  isa_attr *a = defaults(ISA_OP_NegativeLogLikelihoodLoss);
  set_str(&a[ISA_A_NegativeLogLikelihoodLoss_reduction], "none");
  run(ISA_OP_NegativeLogLikelihoodLoss, 3, in, a, 1, out);
  EXPECT_SHAPE(&out[0], 2);
  EXPECT_F32(&out[0], 9, 0.5f);
  drop(out, 1);
  set_str(&a[ISA_A_NegativeLogLikelihoodLoss_reduction], "sum");
  run(ISA_OP_NegativeLogLikelihoodLoss, 3, in, a, 1, out);
  cr_assert_eq(out[0].rank, 0);
  EXPECT_F32(&out[0], 9.5f);
  drop(out, 1);
  /* mean divides by the weights taken: 9.5 / (3 + 1) */
  a = defaults(ISA_OP_NegativeLogLikelihoodLoss);
  run(ISA_OP_NegativeLogLikelihoodLoss, 3, in, a, 1, out);
  EXPECT_F32(&out[0], 2.375f);
  drop(out, 1);
  /* ignore_index 0: element 1 drops out -> 9 / 3 */
  set_int(&a[ISA_A_NegativeLogLikelihoodLoss_ignore_index], 0);
  run(ISA_OP_NegativeLogLikelihoodLoss, 3, in, a, 1, out);
  EXPECT_F32(&out[0], 3);
  drop(out, 1);
  /* no weights, mean over elements: (3 + 0.5) / 2 */
  a = defaults(ISA_OP_NegativeLogLikelihoodLoss);
  run(ISA_OP_NegativeLogLikelihoodLoss, 2, in, a, 1, out);
  EXPECT_F32(&out[0], 1.75f);
  drop(out, 1);
}

Test(nll_loss, nd_input_i32_target_negative_ignore_index) {
  /* input [1, 2, 3] (N, C, d1), target [1, 3] = (1, -5, 0), ignore_index -5:
   * l = (-x[0][1][0], 0, -x[0][0][2]) = (-4, 0, -3) */
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 2, 3, 4, 5, 6}), 1, 2, 3);
  rt_tensor t = T(IVM_DT_I32, ((int32_t[]){1, -5, 0}), 1, 3);
  isa_attr *a = defaults(ISA_OP_NegativeLogLikelihoodLoss);
  set_str(&a[ISA_A_NegativeLogLikelihoodLoss_reduction], "none");
  set_int(&a[ISA_A_NegativeLogLikelihoodLoss_ignore_index], -5);
  rt_tensor out[1];
  run(ISA_OP_NegativeLogLikelihoodLoss, 2, (const rt_tensor *[]){&x, &t}, a, 1, out);
  EXPECT_SHAPE(&out[0], 1, 3);
  EXPECT_F32(&out[0], -4, 0, -3);
  drop(out, 1);
}

Test(nll_loss, f64) {
  rt_tensor x = T(IVM_DT_F64, ((double[]){-0.25, -4}), 1, 2);
  rt_tensor t = T(IVM_DT_I64, ((int64_t[]){1}), 1);
  rt_tensor out[1];
  run(ISA_OP_NegativeLogLikelihoodLoss, 2, (const rt_tensor *[]){&x, &t},
      defaults(ISA_OP_NegativeLogLikelihoodLoss), 1, out);
  cr_assert_eq(out[0].dtype, IVM_DT_F64);
  cr_assert_float_eq(*(double *)out[0].data, 4.0, 1e-12);
  drop(out, 1);
}

Test(nll_loss, errors) {
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 2, 3, 4}), 2, 2);
  rt_tensor t = T(IVM_DT_I64, ((int64_t[]){0, 2}), 2);
  rt_tensor t2 = T(IVM_DT_I64, ((int64_t[]){0, 1, 1}), 3);
  rt_tensor tf = T(IVM_DT_F32, ((float[]){0, 1}), 2);
  rt_tensor w3 = T(IVM_DT_F32, ((float[]){1, 1, 1}), 3);
  rt_tensor x1 = T(IVM_DT_F32, ((float[]){1, 2}), 2);
  isa_attr *a = defaults(ISA_OP_NegativeLogLikelihoodLoss);
  /* target 2 out of range for C = 2: a run-time error */
  expect_fail(IVM_ERR_RUNTIME, ISA_OP_NegativeLogLikelihoodLoss, 2, (const rt_tensor *[]){&x, &t}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_NegativeLogLikelihoodLoss, 2,
              (const rt_tensor *[]){&x, &t2}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_NegativeLogLikelihoodLoss, 2,
              (const rt_tensor *[]){&x, &tf}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_NegativeLogLikelihoodLoss, 3,
              (const rt_tensor *[]){&x, &t, &w3}, a, 1);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_NegativeLogLikelihoodLoss, 2,
              (const rt_tensor *[]){&x1, &t}, a, 1);
  set_str(&a[ISA_A_NegativeLogLikelihoodLoss_reduction], "max");
  rt_tensor t0 = T(IVM_DT_I64, ((int64_t[]){0, 1}), 2);
  expect_fail(IVM_ERR_INVALID_ARGUMENT, ISA_OP_NegativeLogLikelihoodLoss, 2,
              (const rt_tensor *[]){&x, &t0}, a, 1);
}

Test(sce_loss, log_prob_and_weighted_mean) {
  /* numpy: lp = x - max - log(sum(exp(x - max))) per row
   * row 0 (1, 2, 3): (-2.4076061, -1.407606, -0.407606)
   * row 1 (0.5, -1, 4): (-3.5362697, -5.0362697, -0.036269564)
   * targets (2, 1), weights (0.5, 2, 3): l = (1.222818, 10.07254); mean = 11.295358 / 5 */
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 2, 3, 0.5f, -1, 4}), 2, 3);
  rt_tensor t = T(IVM_DT_I64, ((int64_t[]){2, 1}), 2);
  rt_tensor w = T(IVM_DT_F32, ((float[]){0.5f, 2, 3}), 3);
  rt_tensor out[2];
  run(ISA_OP_SoftmaxCrossEntropyLoss, 3, (const rt_tensor *[]){&x, &t, &w},
      defaults(ISA_OP_SoftmaxCrossEntropyLoss), 2, out);
  cr_assert_eq(out[0].rank, 0);
  expect_f32(&out[0], (const float[]){2.2590716f}, 1, 1e-6);
  EXPECT_SHAPE(&out[1], 2, 3);
  expect_f32(&out[1],
             (const float[]){-2.4076061f, -1.4076060f, -0.40760601f, -3.5362697f, -5.0362697f,
                             -0.036269564f},
             6, 1e-6);
  drop(out, 2);
  isa_attr *a = defaults(ISA_OP_SoftmaxCrossEntropyLoss);
  set_str(&a[ISA_A_SoftmaxCrossEntropyLoss_reduction], "none");
  run(ISA_OP_SoftmaxCrossEntropyLoss, 3, (const rt_tensor *[]){&x, &t, &w}, a, 1, out);
  expect_f32(&out[0], (const float[]){1.2228180f, 10.072539f}, 2, 1e-6);
  drop(out, 1);
}

Test(sce_loss, nd_ignore_index_all_ignored_is_nan) {
  /* [1, 2, 2] scores, targets (7, 7) all ignored: mean = 0 / 0 */
  rt_tensor x = T(IVM_DT_F32, ((float[]){1, 2, 3, 4}), 1, 2, 2);
  rt_tensor t = T(IVM_DT_I32, ((int32_t[]){7, 7}), 1, 2);
  isa_attr *a = defaults(ISA_OP_SoftmaxCrossEntropyLoss);
  set_int(&a[ISA_A_SoftmaxCrossEntropyLoss_ignore_index], 7);
  rt_tensor out[1];
  run(ISA_OP_SoftmaxCrossEntropyLoss, 2, (const rt_tensor *[]){&x, &t}, a, 1, out);
  cr_assert(isnan(*(float *)out[0].data));
  drop(out, 1);
  /* sum: 0 */
  set_str(&a[ISA_A_SoftmaxCrossEntropyLoss_reduction], "sum");
  run(ISA_OP_SoftmaxCrossEntropyLoss, 2, (const rt_tensor *[]){&x, &t}, a, 1, out);
  EXPECT_F32(&out[0], 0);
  drop(out, 1);
  /* without ignore_index the 7s are out of range */
  expect_fail(IVM_ERR_RUNTIME, ISA_OP_SoftmaxCrossEntropyLoss, 2, (const rt_tensor *[]){&x, &t},
              defaults(ISA_OP_SoftmaxCrossEntropyLoss), 1);
}

/* ---- inference with unknown dims -------------------------------------------------------------- */
Test(infer, unknown_dims_propagate) {
  isa_type in[4];
  memset(in, 0, sizeof in);
  in[0].dtype = IVM_DT_U8;
  in[0].rank = 2;
  in[0].dims[0] = ISA_DIM_ANY;
  in[0].dims[1] = 4;
  in[1].dtype = IVM_DT_U8;
  in[1].rank = -1;
  const void *data[4] = {0};
  isa_type out[1];
  isa_infer_ctx ctx = {2, in, data, NULL, 1, out};
  cr_assert_null(isa_infer_quant_matmul_integer(&ctx));
  cr_assert_eq(out[0].dtype, IVM_DT_I32);
  cr_assert_eq(out[0].rank, -1);
  /* loss: unknown N, reduction none keeps it */
  in[0].dtype = IVM_DT_F32;
  in[0].rank = 3;
  in[0].dims[0] = ISA_DIM_ANY;
  in[0].dims[1] = 5;
  in[0].dims[2] = 7;
  in[1].dtype = IVM_DT_I64;
  in[1].rank = 2;
  in[1].dims[0] = ISA_DIM_ANY;
  in[1].dims[1] = ISA_DIM_ANY;
  isa_attr *a = defaults(ISA_OP_NegativeLogLikelihoodLoss);
  set_str(&a[ISA_A_NegativeLogLikelihoodLoss_reduction], "none");
  isa_infer_ctx lc = {2, in, data, a, 1, out};
  cr_assert_null(isa_infer_quant_loss(&lc));
  cr_assert_eq(out[0].rank, 2);
  cr_assert_eq(out[0].dims[0], ISA_DIM_ANY);
  cr_assert_eq(out[0].dims[1], 7);
}
