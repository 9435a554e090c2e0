/* Elementwise, compare/where, unary, clip and cast kernels and their inference rules,
 * run through rt_run_builtin. Expected values are hand-worked or from numpy. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"

/* ---- helpers -------------------------------------------------------------------------- */
static rt_tensor T(int dt, int rank, const int64_t *dims, const void *data) {
  rt_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (uint8_t)rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  t.data = (void *)data;
  t.capacity = rt_nbytes(&t);
  return t;
}
#define D(...) ((const int64_t[]){__VA_ARGS__})

static isa_attr attrs_buf[8];
static isa_attr *defaults(isa_builtin_op op) {
  isa_attrs_init_defaults(isa_builtin_desc(op), attrs_buf);
  return attrs_buf;
}

/* Runs op; returns the status code (the status is freed). */
static int run(isa_builtin_op op, int n_in, const rt_tensor *const *in, const isa_attr *at,
               int n_out, rt_tensor *out) {
  if (!at) at = defaults(op);
  ivm_status st = rt_run_builtin(op, (uint32_t)n_in, in, at, (uint32_t)n_out, out);
  int code = ivm_status_get_code(st);
  if (st) cr_log_info("status: %s", ivm_status_message(st));
  ivm_status_free(st);
  return code;
}

static void expect_shape(const rt_tensor *t, int dt, int rank, const int64_t *dims) {
  cr_assert_eq(t->dtype, dt, "dtype %d != %d", t->dtype, dt);
  cr_assert_eq(t->rank, rank, "rank %d != %d", t->rank, rank);
  for (int i = 0; i < rank; i++) cr_assert_eq(t->dims[i], dims[i], "dim %d", i);
}

static void expect_f32(const rt_tensor *t, const float *want, int64_t n, float tol) {
  cr_assert_eq(rt_numel(t), n);
  const float *g = t->data;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(want[i])) {
      cr_assert(isnan(g[i]), "element %lld: got %g, want NaN", (long long)i, g[i]);
      continue;
    }
    float err = fabsf(g[i] - want[i]), lim = tol * (1.0f + fabsf(want[i]));
    cr_assert(err <= lim, "element %lld: got %.9g, want %.9g", (long long)i, g[i], want[i]);
  }
}

#define EXPECT_EQ_ARR(t, CT, want, n)                                                  \
  do {                                                                                 \
    cr_assert_eq(rt_numel(t), (n));                                                    \
    const CT *g_ = (const CT *)(t)->data;                                              \
    for (int64_t i_ = 0; i_ < (n); i_++)                                               \
      cr_assert_eq(g_[i_], (want)[i_], "element %lld: got %lld, want %lld", (long long)i_, \
                   (long long)g_[i_], (long long)(want)[i_]);                          \
  } while (0)

/* ---- binary arithmetic with broadcasting ---------------------------------------------- */
Test(binary, add_f32_broadcast_row) {
  float a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30};
  rt_tensor ta = T(IVM_DT_F32, 2, D(2, 3), a), tb = T(IVM_DT_F32, 1, D(3), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Add, 2, in, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 2, D(2, 3));
  expect_f32(&out, (float[]){11, 22, 33, 14, 25, 36}, 6, 0);
  free(out.data);
}

Test(binary, sub_i32_outer_broadcast) {
  int32_t a[] = {10, 20}, b[] = {1, 2, 3};
  rt_tensor ta = T(IVM_DT_I32, 2, D(2, 1), a), tb = T(IVM_DT_I32, 2, D(1, 3), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Sub, 2, in, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_I32, 2, D(2, 3));
  EXPECT_EQ_ARR(&out, int32_t, ((int32_t[]){9, 8, 7, 19, 18, 17}), 6);
  free(out.data);
}

Test(binary, middle_axis_broadcast_and_scalar) {
  /* [2,1,2] * [3,1] -> [2,3,2]; then a rank-0 scalar on the left */
  float a[] = {1, 2, 3, 4}, b[] = {1, 10, 100};
  rt_tensor ta = T(IVM_DT_F32, 3, D(2, 1, 2), a), tb = T(IVM_DT_F32, 2, D(3, 1), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Mul, 2, in, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 3, D(2, 3, 2));
  expect_f32(&out, (float[]){1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 300, 400}, 12, 0);
  free(out.data);
  float s = 2;
  rt_tensor ts = T(IVM_DT_F32, 0, NULL, &s);
  const rt_tensor *in2[] = {&ts, &ta};
  cr_assert_eq(run(ISA_OP_Sub, 2, in2, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 3, D(2, 1, 2));
  expect_f32(&out, (float[]){1, 0, -1, -2}, 4, 0);
  free(out.data);
}

Test(binary, add_u8_wraps_mul_i64) {
  uint8_t a[] = {200, 1}, b[] = {100, 2};
  rt_tensor ta = T(IVM_DT_U8, 1, D(2), a), tb = T(IVM_DT_U8, 1, D(2), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Add, 2, in, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){44, 3}), 2);
  free(out.data);
  int64_t c[] = {3, -4, 5000000000LL}, d = -3;
  rt_tensor tc = T(IVM_DT_I64, 1, D(3), c), td = T(IVM_DT_I64, 0, NULL, &d);
  const rt_tensor *in2[] = {&tc, &td};
  cr_assert_eq(run(ISA_OP_Mul, 2, in2, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int64_t, ((int64_t[]){-9, 12, -15000000000LL}), 3);
  free(out.data);
}

Test(binary, div_int_truncates_and_checks_zero) {
  int32_t a[] = {7, -7, 7, -7}, b[] = {2, 2, -2, -2};
  rt_tensor ta = T(IVM_DT_I32, 1, D(4), a), tb = T(IVM_DT_I32, 1, D(4), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Div, 2, in, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int32_t, ((int32_t[]){3, -3, -3, 3}), 4);
  free(out.data);
  int8_t c[] = {-128, 9}, d[] = {-1, -1};
  rt_tensor tc = T(IVM_DT_I8, 1, D(2), c), td = T(IVM_DT_I8, 1, D(2), d);
  const rt_tensor *in2[] = {&tc, &td};
  cr_assert_eq(run(ISA_OP_Div, 2, in2, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int8_t, ((int8_t[]){-128, -9}), 2);
  free(out.data);
  int32_t z[] = {1, 0, 1, 1};
  rt_tensor tz = T(IVM_DT_I32, 1, D(4), z);
  const rt_tensor *in3[] = {&ta, &tz};
  cr_assert_eq(run(ISA_OP_Div, 2, in3, NULL, 1, &out), IVM_ERR_RUNTIME);
  uint8_t u[] = {200, 7}, v[] = {3, 2};
  rt_tensor tu = T(IVM_DT_U8, 1, D(2), u), tv = T(IVM_DT_U8, 1, D(2), v);
  const rt_tensor *in4[] = {&tu, &tv};
  cr_assert_eq(run(ISA_OP_Div, 2, in4, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){66, 3}), 2);
  free(out.data);
}

Test(binary, min_max_nan_and_ints) {
  float a[] = {1, NAN, 3, -1}, b[] = {2, 0, NAN, -2};
  rt_tensor ta = T(IVM_DT_F32, 1, D(4), a), tb = T(IVM_DT_F32, 1, D(4), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Min, 2, in, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){1, NAN, NAN, -2}, 4, 0);
  free(out.data);
  cr_assert_eq(run(ISA_OP_Max, 2, in, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){2, NAN, NAN, -1}, 4, 0);
  free(out.data);
  uint64_t c[] = {UINT64_MAX, 5}, d[] = {1, 6};
  rt_tensor tc = T(IVM_DT_U64, 1, D(2), c), td = T(IVM_DT_U64, 1, D(2), d);
  const rt_tensor *in2[] = {&tc, &td};
  cr_assert_eq(run(ISA_OP_Max, 2, in2, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint64_t, ((uint64_t[]){UINT64_MAX, 6}), 2);
  free(out.data);
  /* f16: 1.5 = 0x3e00, -2.25 = 0xc080 (numpy) */
  uint16_t h1[] = {0x3e00, 0xc080}, h2[] = {0xc080, 0x3e00};
  rt_tensor th1 = T(IVM_DT_F16, 1, D(2), h1), th2 = T(IVM_DT_F16, 1, D(2), h2);
  const rt_tensor *in3[] = {&th1, &th2};
  cr_assert_eq(run(ISA_OP_Min, 2, in3, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint16_t, ((uint16_t[]){0xc080, 0xc080}), 2);
  free(out.data);
}

Test(binary, pow_types) {
  float a[] = {2, 1.5f, 4}, b[] = {0.5f, 3, -1};
  rt_tensor ta = T(IVM_DT_F32, 1, D(3), a), tb = T(IVM_DT_F32, 1, D(3), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Pow, 2, in, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){1.41421354f, 3.375f, 0.25f}, 3, 1e-6f);
  free(out.data);
  int64_t e[] = {3, 2, 0};
  rt_tensor te = T(IVM_DT_I64, 1, D(3), e);
  const rt_tensor *in2[] = {&ta, &te};
  cr_assert_eq(run(ISA_OP_Pow, 2, in2, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 1, D(3));
  expect_f32(&out, (float[]){8, 2.25f, 1}, 3, 0);
  free(out.data);
  int64_t x[] = {2, -2, 3, 2, 1}, y[] = {10, 3, 3, -1, -5};
  rt_tensor tx = T(IVM_DT_I64, 1, D(5), x), ty = T(IVM_DT_I64, 1, D(5), y);
  const rt_tensor *in3[] = {&tx, &ty};
  cr_assert_eq(run(ISA_OP_Pow, 2, in3, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int64_t, ((int64_t[]){1024, -8, 27, 0, 1}), 5);
  free(out.data);
  int32_t xi[] = {2, 9};
  float yf[] = {0.5f, 0.5f};
  rt_tensor txi = T(IVM_DT_I32, 1, D(2), xi), tyf = T(IVM_DT_F32, 1, D(2), yf);
  const rt_tensor *in4[] = {&txi, &tyf};
  cr_assert_eq(run(ISA_OP_Pow, 2, in4, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_I32, 1, D(2));
  EXPECT_EQ_ARR(&out, int32_t, ((int32_t[]){1, 3}), 2);
  free(out.data);
}

/* ---- compare / where ------------------------------------------------------------------- */
Test(compare, equal_greater_less_broadcast) {
  float a[] = {1, 2, 3, 4, 5, 6}, b[] = {2, 5};
  rt_tensor ta = T(IVM_DT_F32, 2, D(3, 2), a), tb = T(IVM_DT_F32, 1, D(2), b), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Equal, 2, in, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_BOOL, 2, D(3, 2));
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){0, 0, 0, 0, 0, 0}), 6);
  free(out.data);
  cr_assert_eq(run(ISA_OP_Greater, 2, in, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){0, 0, 1, 0, 1, 1}), 6);
  free(out.data);
  cr_assert_eq(run(ISA_OP_Less, 2, in, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){1, 1, 0, 1, 0, 0}), 6);
  free(out.data);
  int64_t c[] = {1, 2, 3}, d[] = {3, 2, 1};
  rt_tensor tc = T(IVM_DT_I64, 1, D(3), c), td = T(IVM_DT_I64, 1, D(3), d);
  const rt_tensor *in2[] = {&tc, &td};
  cr_assert_eq(run(ISA_OP_Equal, 2, in2, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){0, 1, 0}), 3);
  free(out.data);
  uint8_t p[] = {1, 0, 1}, q[] = {1, 1, 0};
  rt_tensor tp = T(IVM_DT_BOOL, 1, D(3), p), tq = T(IVM_DT_BOOL, 1, D(3), q);
  const rt_tensor *in3[] = {&tp, &tq};
  cr_assert_eq(run(ISA_OP_Equal, 2, in3, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){1, 0, 0}), 3);
  free(out.data);
}

Test(compare, where_three_way_broadcast) {
  uint8_t c[] = {1, 0};
  int64_t x[] = {1, 2, 3}, y = -1;
  rt_tensor tc = T(IVM_DT_BOOL, 2, D(2, 1), c), tx = T(IVM_DT_I64, 2, D(1, 3), x),
            ty = T(IVM_DT_I64, 0, NULL, &y), out;
  const rt_tensor *in[] = {&tc, &tx, &ty};
  cr_assert_eq(run(ISA_OP_Where, 3, in, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_I64, 2, D(2, 3));
  EXPECT_EQ_ARR(&out, int64_t, ((int64_t[]){1, 2, 3, -1, -1, -1}), 6);
  free(out.data);
  uint8_t c2[] = {1, 0, 0, 1};
  float x2[] = {1, 2, 3, 4}, y2[] = {9, 8, 7, 6};
  rt_tensor tc2 = T(IVM_DT_BOOL, 2, D(2, 2), c2), tx2 = T(IVM_DT_F32, 2, D(2, 2), x2),
            ty2 = T(IVM_DT_F32, 2, D(2, 2), y2);
  const rt_tensor *in2[] = {&tc2, &tx2, &ty2};
  cr_assert_eq(run(ISA_OP_Where, 3, in2, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){1, 8, 7, 4}, 4, 0);
  free(out.data);
}

/* ---- FusedMulAdd ------------------------------------------------------------------------- */
/* By hand: 1.5 * 2 + 0.25 = 3.25; and a * b + c with a = b = 1 + 2^-12, c = -(1 + 2^-11):
 * a * b = 1 + 2^-11 + 2^-24 rounds (a tie, to even) to 1 + 2^-11, so the sum is 0, where
 * one FMA (a single rounding) gives 2^-24. */
Test(muladd, rounds_the_product_then_the_sum) {
  float a[] = {1.5f, 1.0f + 0x1p-12f}, b[] = {2.0f, 1.0f + 0x1p-12f}, c[] = {0.25f, -(1.0f + 0x1p-11f)};
  rt_tensor ta = T(IVM_DT_F32, 1, D(2), a), tb = T(IVM_DT_F32, 1, D(2), b),
            tc = T(IVM_DT_F32, 1, D(2), c), out;
  const rt_tensor *in[] = {&ta, &tb, &tc};
  cr_assert_eq(run(ISA_OP_FusedMulAdd, 3, in, NULL, 1, &out), 0);
  const float *y = out.data;
  cr_expect(y[0] == 3.25f, "1.5 * 2 + 0.25 = %g", y[0]);
  cr_expect(y[1] == 0.0f, "product and sum rounded apart: got %a, not 0 (one FMA gives 0x1p-24)",
            y[1]);
  free(out.data);
}

static float frand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return ((float)((*s >> 8) & 0xffffff) / 16777216.0f - 0.5f) * 3.1f; /* full mantissas */
}

/* Every loop of the kernel (all runs, B per channel, A scalar, the strided rest), three-way
 * broadcasting, and an output big enough to be split across the pool: the bits of Mul
 * then Add. */
Test(muladd, equals_mul_then_add_under_broadcasting) {
  static const struct {
    int64_t a[4], b[4], c[4];
  } cases[] = {
      {{2, 3, 5, 7}, {2, 3, 5, 7}, {2, 3, 5, 7}},
      {{2, 3, 5, 7}, {1, 3, 1, 1}, {2, 3, 5, 7}},
      {{1, 1, 1, 1}, {2, 3, 5, 7}, {2, 3, 5, 7}},
      {{2, 3, 5, 7}, {2, 3, 5, 1}, {1, 1, 1, 7}},
      {{2, 1, 5, 1}, {1, 3, 1, 7}, {1, 1, 1, 1}},
      {{1, 96, 80, 80}, {1, 96, 1, 1}, {1, 96, 80, 80}},
  };
  unsigned seed = 7;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    float *v[3];
    rt_tensor t[3];
    const int64_t *dims[3] = {cases[k].a, cases[k].b, cases[k].c};
    for (int i = 0; i < 3; i++) {
      int64_t n = dims[i][0] * dims[i][1] * dims[i][2] * dims[i][3];
      v[i] = malloc((size_t)n * sizeof(float));
      for (int64_t e = 0; e < n; e++) v[i][e] = frand(&seed);
      t[i] = T(IVM_DT_F32, 4, dims[i], v[i]);
    }
    rt_tensor fused, prod, want;
    const rt_tensor *in[] = {&t[0], &t[1], &t[2]};
    cr_assert_eq(run(ISA_OP_FusedMulAdd, 3, in, NULL, 1, &fused), 0);
    const rt_tensor *mi[] = {&t[0], &t[1]};
    cr_assert_eq(run(ISA_OP_Mul, 2, mi, NULL, 1, &prod), 0);
    const rt_tensor *ai[] = {&prod, &t[2]};
    cr_assert_eq(run(ISA_OP_Add, 2, ai, NULL, 1, &want), 0);
    expect_shape(&fused, IVM_DT_F32, want.rank, want.dims);
    cr_assert(memcmp(fused.data, want.data, rt_nbytes(&want)) == 0, "case %zu: bits differ", k);
    free(fused.data), free(prod.data), free(want.data);
    for (int i = 0; i < 3; i++) free(v[i]);
  }
}

Test(muladd, inference_wants_f32_and_broadcastable_shapes) {
  int32_t i = 1;
  float f = 1;
  rt_tensor ti = T(IVM_DT_I32, 0, NULL, &i), tf = T(IVM_DT_F32, 0, NULL, &f), out;
  const rt_tensor *in[] = {&tf, &ti, &tf};
  cr_assert_neq(run(ISA_OP_FusedMulAdd, 3, in, NULL, 1, &out), 0, "i32 B accepted");
  float x3[3] = {0}, x2[2] = {0};
  rt_tensor t3 = T(IVM_DT_F32, 1, D(3), x3), t2 = T(IVM_DT_F32, 1, D(2), x2);
  const rt_tensor *in2[] = {&t3, &tf, &t2};
  cr_assert_neq(run(ISA_OP_FusedMulAdd, 3, in2, NULL, 1, &out), 0, "(3) with (2) accepted");
}

/* ---- unary ------------------------------------------------------------------------------- */
static const float ux[] = {-2.0f, -0.5f, 0.0f, 0.5f, 1.0f, 3.0f};

static void check_unary(isa_builtin_op op, const isa_attr *at, const float *want, float tol) {
  rt_tensor tx = T(IVM_DT_F32, 2, D(2, 3), ux), out;
  const rt_tensor *in[] = {&tx};
  cr_assert_eq(run(op, 1, in, at, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 2, D(2, 3));
  expect_f32(&out, want, 6, tol);
  free(out.data);
}

Test(unary, float_functions) {
  check_unary(ISA_OP_Exp, NULL, (float[]){0.135335281f, 0.606530666f, 1, 1.64872122f, 2.71828198f, 20.085537f}, 1e-6f);
  check_unary(ISA_OP_Sigmoid, NULL, (float[]){0.119202919f, 0.377540678f, 0.5f, 0.622459352f, 0.731058598f, 0.952574134f}, 1e-6f);
  check_unary(ISA_OP_Tanh, NULL, (float[]){-0.964027584f, -0.462117195f, 0, 0.462117195f, 0.761594176f, 0.995054781f}, 1e-6f);
  check_unary(ISA_OP_Erf, NULL, (float[]){-0.995322287f, -0.520499885f, 0, 0.520499885f, 0.842700779f, 0.999977887f}, 1e-6f);
  check_unary(ISA_OP_HardSigmoid, NULL, (float[]){0.1f, 0.4f, 0.5f, 0.6f, 0.7f, 1}, 1e-6f);
  check_unary(ISA_OP_HardSwish, NULL, (float[]){-0.333333313f, -0.208333328f, 0, 0.291666657f, 0.666666687f, 3}, 1e-6f);
  check_unary(ISA_OP_Relu, NULL, (float[]){0, 0, 0, 0.5f, 1, 3}, 0);
  check_unary(ISA_OP_LeakyRelu, NULL, (float[]){-0.02f, -0.005f, 0, 0.5f, 1, 3}, 1e-6f);
  check_unary(ISA_OP_Neg, NULL, (float[]){2, 0.5f, 0, -0.5f, -1, -3}, 0);
  check_unary(ISA_OP_Abs, NULL, (float[]){2, 0.5f, 0, 0.5f, 1, 3}, 0);
  check_unary(ISA_OP_Floor, NULL, (float[]){-2, -1, 0, 0, 1, 3}, 0);
  check_unary(ISA_OP_Ceil, NULL, (float[]){-2, 0, 0, 1, 1, 3}, 0);
  isa_attr *at = defaults(ISA_OP_LeakyRelu);
  at[ISA_A_LeakyRelu_alpha].v.f = 0.1f;
  check_unary(ISA_OP_LeakyRelu, at, (float[]){-0.2f, -0.05f, 0, 0.5f, 1, 3}, 1e-6f);
  at = defaults(ISA_OP_HardSigmoid);
  at[ISA_A_HardSigmoid_alpha].v.f = 0.5f;
  at[ISA_A_HardSigmoid_beta].v.f = 0.25f;
  check_unary(ISA_OP_HardSigmoid, at, (float[]){0, 0, 0.25f, 0.5f, 0.75f, 1}, 1e-6f);
}

Test(unary, sqrt_log_reciprocal_and_ints) {
  float p[] = {0.25f, 1, 4, 9};
  rt_tensor tp = T(IVM_DT_F32, 1, D(4), p), out;
  const rt_tensor *in[] = {&tp};
  cr_assert_eq(run(ISA_OP_Sqrt, 1, in, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){0.5f, 1, 2, 3}, 4, 1e-7f);
  free(out.data);
  cr_assert_eq(run(ISA_OP_Log, 1, in, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){-1.38629436f, 0, 1.38629436f, 2.19722462f}, 4, 1e-6f);
  free(out.data);
  cr_assert_eq(run(ISA_OP_Reciprocal, 1, in, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){4, 1, 0.25f, 0.111111112f}, 4, 1e-7f);
  free(out.data);
  int64_t v[] = {-3, 0, INT64_MIN, 7};
  rt_tensor tv = T(IVM_DT_I64, 1, D(4), v);
  const rt_tensor *in2[] = {&tv};
  cr_assert_eq(run(ISA_OP_Neg, 1, in2, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int64_t, ((int64_t[]){3, 0, INT64_MIN, -7}), 4);
  free(out.data);
  int32_t w[] = {-5, 5, 0};
  rt_tensor tw = T(IVM_DT_I32, 1, D(3), w);
  const rt_tensor *in3[] = {&tw};
  cr_assert_eq(run(ISA_OP_Abs, 1, in3, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int32_t, ((int32_t[]){5, 5, 0}), 3);
  free(out.data);
  cr_assert_eq(run(ISA_OP_Relu, 1, in3, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int32_t, ((int32_t[]){0, 5, 0}), 3);
  free(out.data);
  /* a float-only function on an integer tensor is refused, not crashed */
  cr_assert_eq(run(ISA_OP_Exp, 1, in3, NULL, 1, &out), IVM_ERR_UNSUPPORTED);
}

Test(unary, not_identity) {
  uint8_t b[] = {1, 0, 0, 1};
  rt_tensor tb = T(IVM_DT_BOOL, 2, D(2, 2), b), out;
  const rt_tensor *in[] = {&tb};
  cr_assert_eq(run(ISA_OP_Not, 1, in, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_BOOL, 2, D(2, 2));
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){0, 1, 1, 0}), 4);
  free(out.data);
  int16_t s[] = {1, -2, 3};
  rt_tensor ts = T(IVM_DT_I16, 1, D(3), s);
  const rt_tensor *in2[] = {&ts};
  cr_assert_eq(run(ISA_OP_Identity, 1, in2, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_I16, 1, D(3));
  EXPECT_EQ_ARR(&out, int16_t, s, 3);
  free(out.data);
  float f[] = {1};
  rt_tensor tf = T(IVM_DT_F32, 1, D(1), f);
  const rt_tensor *in3[] = {&tf};
  cr_assert_eq(run(ISA_OP_Not, 1, in3, NULL, 1, &out), IVM_ERR_UNSUPPORTED);
}

/* ---- clip ------------------------------------------------------------------------------- */
Test(clip, bounds_present_absent_and_inverted) {
  float x[] = {-3, -1, 0, 2, 5, NAN}, lo = -1.5f, hi = 2.5f;
  rt_tensor tx = T(IVM_DT_F32, 1, D(6), x), tlo = T(IVM_DT_F32, 0, NULL, &lo),
            thi = T(IVM_DT_F32, 1, D(1), &hi), out;
  const rt_tensor *in[] = {&tx, &tlo, &thi};
  cr_assert_eq(run(ISA_OP_Clip, 3, in, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){-1.5f, -1, 0, 2, 2.5f, NAN}, 6, 0);
  free(out.data);
  const rt_tensor *in2[] = {&tx, NULL, &thi};
  cr_assert_eq(run(ISA_OP_Clip, 3, in2, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){-3, -1, 0, 2, 2.5f, NAN}, 6, 0);
  free(out.data);
  const rt_tensor *in3[] = {&tx};
  cr_assert_eq(run(ISA_OP_Clip, 1, in3, NULL, 1, &out), 0);
  expect_f32(&out, x, 6, 0);
  free(out.data);
  /* min > max: everything becomes max (ONNX reference: min(max(x, lo), hi)) */
  float lo2 = 3, hi2 = 1;
  rt_tensor tlo2 = T(IVM_DT_F32, 0, NULL, &lo2), thi2 = T(IVM_DT_F32, 0, NULL, &hi2);
  const rt_tensor *in4[] = {&tx, &tlo2, &thi2};
  cr_assert_eq(run(ISA_OP_Clip, 3, in4, NULL, 1, &out), 0);
  expect_f32(&out, (float[]){1, 1, 1, 1, 1, NAN}, 6, 0);
  free(out.data);
  int8_t xi[] = {-128, -5, 0, 100, 127}, mi = -10;
  rt_tensor txi = T(IVM_DT_I8, 1, D(5), xi), tmi = T(IVM_DT_I8, 0, NULL, &mi);
  const rt_tensor *in5[] = {&txi, &tmi};
  cr_assert_eq(run(ISA_OP_Clip, 2, in5, NULL, 1, &out), 0);
  EXPECT_EQ_ARR(&out, int8_t, ((int8_t[]){-10, -5, 0, 100, 127}), 5);
  free(out.data);
}

/* ---- cast -------------------------------------------------------------------------------- */
static int cast(const rt_tensor *x, int to, rt_tensor *out) {
  isa_attr *at = defaults(ISA_OP_Cast);
  at[ISA_A_Cast_to].v.i = to;
  at[ISA_A_Cast_to].present = 1;
  const rt_tensor *in[] = {x};
  return run(ISA_OP_Cast, 1, in, at, 1, out);
}

Test(cast, float_half_bfloat) {
  /* numpy: f16(1.5)=0x3e00, f16(-2.25)=0xc080, f16(65504)=0x7bff, f16(0.1)=0x2e66 */
  float x[] = {1.5f, -2.25f, 65504.0f, 0.1f};
  rt_tensor tx = T(IVM_DT_F32, 1, D(4), x), out, back;
  cr_assert_eq(cast(&tx, IVM_DT_F16, &out), 0);
  expect_shape(&out, IVM_DT_F16, 1, D(4));
  EXPECT_EQ_ARR(&out, uint16_t, ((uint16_t[]){0x3e00, 0xc080, 0x7bff, 0x2e66}), 4);
  cr_assert_eq(cast(&out, IVM_DT_F32, &back), 0);
  expect_f32(&back, (float[]){1.5f, -2.25f, 65504.0f, 0.0999755859f}, 4, 0);
  free(back.data);
  cr_assert_eq(cast(&out, IVM_DT_F64, &back), 0);
  cr_assert_eq(((double *)back.data)[1], -2.25);
  free(back.data);
  free(out.data);
  /* f32 -> bf16 truncates like the ONNX 1.12 test data: 0.1f (0x3dcccccd) -> 0x3dcc */
  cr_assert_eq(cast(&tx, IVM_DT_BF16, &out), 0);
  EXPECT_EQ_ARR(&out, uint16_t, ((uint16_t[]){0x3fc0, 0xc010, 0x477f, 0x3dcc}), 4);
  cr_assert_eq(cast(&out, IVM_DT_F32, &back), 0);
  expect_f32(&back, (float[]){1.5f, -2.25f, 65280.0f, 0.099609375f}, 4, 0);
  free(back.data);
  free(out.data);
  double dd[] = {0.15896958, -1e300};
  rt_tensor td = T(IVM_DT_F64, 1, D(2), dd);
  cr_assert_eq(cast(&td, IVM_DT_F32, &out), 0);
  cr_assert_eq(((float *)out.data)[0], 0.15896958f);
  cr_assert(isinf(((float *)out.data)[1]) && ((float *)out.data)[1] < 0);
  free(out.data);
}

Test(cast, int_bool_saturation) {
  float x[] = {1.9f, -1.9f, 3e9f, -3e9f, NAN, 0};
  rt_tensor tx = T(IVM_DT_F32, 1, D(6), x), out;
  cr_assert_eq(cast(&tx, IVM_DT_I32, &out), 0);
  EXPECT_EQ_ARR(&out, int32_t, ((int32_t[]){1, -1, INT32_MAX, INT32_MIN, 0, 0}), 6);
  free(out.data);
  cr_assert_eq(cast(&tx, IVM_DT_U8, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){1, 0, 255, 0, 0, 0}), 6);
  free(out.data);
  cr_assert_eq(cast(&tx, IVM_DT_BOOL, &out), 0);
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){1, 1, 1, 1, 1, 0}), 6);
  free(out.data);
  int64_t v[] = {0, 5, -1, 300};
  rt_tensor tv = T(IVM_DT_I64, 1, D(4), v);
  cr_assert_eq(cast(&tv, IVM_DT_U8, &out), 0); /* integer -> integer wraps */
  EXPECT_EQ_ARR(&out, uint8_t, ((uint8_t[]){0, 5, 255, 44}), 4);
  free(out.data);
  cr_assert_eq(cast(&tv, IVM_DT_I64, &out), 0);
  EXPECT_EQ_ARR(&out, int64_t, v, 4);
  free(out.data);
  uint8_t b[] = {1, 0, 1};
  rt_tensor tb = T(IVM_DT_BOOL, 1, D(3), b);
  cr_assert_eq(cast(&tb, IVM_DT_F64, &out), 0);
  cr_assert_eq(((double *)out.data)[0], 1.0);
  cr_assert_eq(((double *)out.data)[1], 0.0);
  free(out.data);
  /* `to` must name a dtype IVM knows (8 is ONNX STRING) */
  cr_assert_eq(cast(&tv, 8, &out), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(cast(&tv, 99, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- inference -------------------------------------------------------------------------- */
Test(infer, binary_errors) {
  float a[6] = {0};
  int32_t b[3] = {0};
  rt_tensor ta = T(IVM_DT_F32, 2, D(2, 3), a), tb = T(IVM_DT_I32, 1, D(3), b),
            tc = T(IVM_DT_F32, 1, D(4), a), out;
  const rt_tensor *in[] = {&ta, &tb};
  cr_assert_eq(run(ISA_OP_Add, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *in2[] = {&ta, &tc};
  cr_assert_eq(run(ISA_OP_Mul, 2, in2, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(run(ISA_OP_Equal, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *in3[] = {&ta, &ta, &ta};
  cr_assert_eq(run(ISA_OP_Where, 3, in3, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  uint8_t bb[2] = {0};
  rt_tensor tbool = T(IVM_DT_BOOL, 1, D(2), bb);
  const rt_tensor *in4[] = {&tbool, &tbool};
  cr_assert_eq(run(ISA_OP_Add, 2, in4, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* Clip bound with two elements, or of another dtype */
  float two[2] = {0, 1};
  rt_tensor t2 = T(IVM_DT_F32, 1, D(2), two);
  const rt_tensor *in5[] = {&ta, &t2};
  cr_assert_eq(run(ISA_OP_Clip, 2, in5, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  int32_t one = 0;
  rt_tensor t1 = T(IVM_DT_I32, 0, NULL, &one);
  const rt_tensor *in6[] = {&ta, &t1};
  cr_assert_eq(run(ISA_OP_Clip, 2, in6, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

static isa_type ty(int dt, int rank, const int64_t *dims) {
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (int8_t)rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}

Test(infer, symbolic_and_unknown_dims) {
  isa_type in[3], out[1];
  const void *data[3] = {NULL, NULL, NULL};
  isa_infer_ctx ctx = {2, in, data, NULL, 1, out};
  /* [s0, 3] + [1, 3] -> [s0, 3]; [s0] + [s1] -> [?]; [s0] + [4] -> [4]; [s0] + [s0] -> [s0] */
  in[0] = ty(IVM_DT_F32, 2, D(ISA_DIM_SYM(0), 3));
  in[1] = ty(IVM_DT_F32, 2, D(1, 3));
  cr_assert_null(isa_infer_broadcast(&ctx));
  cr_assert_eq(out[0].rank, 2);
  cr_assert_eq(out[0].dims[0], ISA_DIM_SYM(0));
  cr_assert_eq(out[0].dims[1], 3);
  in[0] = ty(IVM_DT_F32, 1, D(ISA_DIM_SYM(0)));
  in[1] = ty(IVM_DT_F32, 1, D(ISA_DIM_SYM(1)));
  cr_assert_null(isa_infer_broadcast(&ctx));
  cr_assert_eq(out[0].dims[0], ISA_DIM_ANY);
  in[1] = ty(IVM_DT_F32, 1, D(4));
  cr_assert_null(isa_infer_broadcast(&ctx));
  cr_assert_eq(out[0].dims[0], 4);
  in[1] = ty(IVM_DT_F32, 1, D(ISA_DIM_SYM(0)));
  cr_assert_null(isa_infer_compare(&ctx));
  cr_assert_eq(out[0].dtype, IVM_DT_BOOL);
  cr_assert_eq(out[0].dims[0], ISA_DIM_SYM(0));
  in[1] = ty(IVM_DT_F32, -1, NULL);
  cr_assert_null(isa_infer_broadcast(&ctx));
  cr_assert_eq(out[0].rank, -1);
  /* Pow: Y's dtype may differ, the result is X's */
  in[0] = ty(IVM_DT_I32, 1, D(3));
  in[1] = ty(IVM_DT_F32, 0, NULL);
  cr_assert_null(isa_infer_pow(&ctx));
  cr_assert_eq(out[0].dtype, IVM_DT_I32);
  cr_assert_eq(out[0].rank, 1);
  /* Where with three ranks */
  ctx.n_in = 3;
  in[0] = ty(IVM_DT_BOOL, 3, D(2, 1, 1));
  in[1] = ty(IVM_DT_I64, 1, D(5));
  in[2] = ty(IVM_DT_I64, 2, D(3, 1));
  cr_assert_null(isa_infer_where(&ctx));
  cr_assert_eq(out[0].rank, 3);
  cr_assert_eq(out[0].dims[0], 2);
  cr_assert_eq(out[0].dims[1], 3);
  cr_assert_eq(out[0].dims[2], 5);
  /* wrong arity is an error, not a crash */
  ctx.n_in = 1;
  ivm_status st = isa_infer_broadcast(&ctx);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
}
