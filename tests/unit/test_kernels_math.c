/* Math-family kernels and inference (isa/ops_math.def) through rt_run_builtin. Expected
 * values are hand-worked or computed with numpy (noted where not obvious). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"

/* ---- helpers ------------------------------------------------------------------------ */
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

static isa_attr attrs_buf[16];
static isa_attr *defaults(isa_builtin_op op) {
  isa_attrs_init_defaults(isa_builtin_desc(op), attrs_buf);
  return attrs_buf;
}
static isa_attr *with_int(isa_builtin_op op, int slot, int64_t v) {
  isa_attr *a = defaults(op);
  a[slot].v.i = v;
  a[slot].present = 1;
  return a;
}
static isa_attr *with_float(isa_builtin_op op, int slot, float v) {
  isa_attr *a = defaults(op);
  a[slot].v.f = v;
  a[slot].present = 1;
  return a;
}
static isa_attr *with_string(isa_builtin_op op, int slot, const char *s) {
  isa_attr *a = defaults(op);
  a[slot].type = ISA_ATTR_STRING;
  a[slot].v.s = s;
  a[slot].count = (uint32_t)strlen(s);
  a[slot].present = 1;
  return a;
}

static int run(isa_builtin_op op, int n_in, const rt_tensor *const *in, const isa_attr *at,
               rt_tensor *out) {
  if (!at) at = defaults(op);
  memset(out, 0, sizeof *out);
  ivm_status st = rt_run_builtin(op, (uint32_t)n_in, in, at, 1, out);
  int code = ivm_status_get_code(st);
  if (st) cr_log_info("status: %s", ivm_status_message(st));
  ivm_status_free(st);
  return code;
}

static int run1(isa_builtin_op op, const rt_tensor *x, const isa_attr *at, rt_tensor *out) {
  const rt_tensor *in[] = {x};
  return run(op, 1, in, at, out);
}
static int run2(isa_builtin_op op, const rt_tensor *a, const rt_tensor *b, const isa_attr *at,
                rt_tensor *out) {
  const rt_tensor *in[] = {a, b};
  return run(op, 2, in, at, out);
}

static void expect_shape(const rt_tensor *t, int dt, int rank, const int64_t *dims) {
  cr_assert_eq(t->dtype, dt, "dtype %d != %d", t->dtype, dt);
  cr_assert_eq(t->rank, rank, "rank %d != %d", t->rank, rank);
  for (int i = 0; i < rank; i++) cr_assert_eq(t->dims[i], dims[i], "dim %d", i);
}

static void expect_f32(const rt_tensor *t, const float *want, int64_t n, float tol) {
  cr_assert_eq(t->dtype, IVM_DT_F32);
  cr_assert_eq(rt_numel(t), n);
  const float *g = t->data;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(want[i])) {
      cr_assert(isnan(g[i]), "element %lld: got %g, want NaN", (long long)i, g[i]);
      continue;
    }
    if (isinf(want[i])) {
      cr_assert(g[i] == want[i], "element %lld: got %g, want %g", (long long)i, g[i], want[i]);
      continue;
    }
    float err = fabsf(g[i] - want[i]), lim = tol * (1.0f + fabsf(want[i]));
    cr_assert(err <= lim, "element %lld: got %.9g, want %.9g", (long long)i, g[i], want[i]);
  }
}

static void expect_f64(const rt_tensor *t, const double *want, int64_t n, double tol) {
  cr_assert_eq(t->dtype, IVM_DT_F64);
  cr_assert_eq(rt_numel(t), n);
  const double *g = t->data;
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabs(g[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
              "element %lld: got %.17g, want %.17g", (long long)i, g[i], want[i]);
}

#define EXPECT_EQ_ARR(t, CT, want, n)                                                  \
  do {                                                                                 \
    cr_assert_eq(rt_numel(t), (n));                                                    \
    const CT *g_ = (const CT *)(t)->data;                                              \
    for (int64_t i_ = 0; i_ < (n); i_++)                                               \
      cr_assert_eq(g_[i_], (want)[i_], "element %lld: got %lld, want %lld", (long long)i_, \
                   (long long)g_[i_], (long long)(want)[i_]);                          \
  } while (0)

#define F32_UNARY(op, at, xs, want, tol)                                             \
  do {                                                                               \
    float x_[] = xs;                                                                 \
    int64_t n_ = (int64_t)(sizeof x_ / sizeof x_[0]);                                \
    rt_tensor tx_ = T(IVM_DT_F32, 1, D(n_), x_), o_;                                 \
    cr_assert_eq(run1(op, &tx_, at, &o_), 0);                                        \
    expect_shape(&o_, IVM_DT_F32, 1, D(n_));                                         \
    expect_f32(&o_, (float[])want, n_, tol);                                         \
    free(o_.data);                                                                   \
  } while (0)
#define L(...) {__VA_ARGS__}

/* ---- logical / comparison --------------------------------------------------------------- */
Test(logical, and_or_xor_broadcast) {
  uint8_t a[] = {0, 0, 1, 1, 1, 0}, b[] = {0, 1, 1};
  rt_tensor ta = T(IVM_DT_BOOL, 2, D(2, 3), a), tb = T(IVM_DT_BOOL, 1, D(3), b), o;
  cr_assert_eq(run2(ISA_OP_And, &ta, &tb, NULL, &o), 0);
  expect_shape(&o, IVM_DT_BOOL, 2, D(2, 3));
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 0, 1, 0, 1, 0}), 6);
  free(o.data);
  cr_assert_eq(run2(ISA_OP_Or, &ta, &tb, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 1, 1, 1, 1, 1}), 6);
  free(o.data);
  cr_assert_eq(run2(ISA_OP_Xor, &ta, &tb, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 1, 0, 1, 0, 1}), 6);
  free(o.data);
}

Test(logical, outer_broadcast_both_sides) {
  uint8_t a[] = {1, 0}, b[] = {1, 0, 1};
  rt_tensor ta = T(IVM_DT_BOOL, 2, D(2, 1), a), tb = T(IVM_DT_BOOL, 2, D(1, 3), b), o;
  cr_assert_eq(run2(ISA_OP_And, &ta, &tb, NULL, &o), 0);
  expect_shape(&o, IVM_DT_BOOL, 2, D(2, 3));
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){1, 0, 1, 0, 0, 0}), 6);
  free(o.data);
}

Test(logical, rejects_non_bool_and_bad_shapes) {
  float a[] = {1, 2};
  uint8_t b3[] = {1, 0, 1}, b2[] = {1, 0};
  rt_tensor ta = T(IVM_DT_F32, 1, D(2), a), tb = T(IVM_DT_F32, 1, D(2), a), o;
  cr_assert_eq(run2(ISA_OP_Or, &ta, &tb, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
  rt_tensor t3 = T(IVM_DT_BOOL, 1, D(3), b3), t2 = T(IVM_DT_BOOL, 1, D(2), b2);
  cr_assert_eq(run2(ISA_OP_Xor, &t3, &t2, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
}

Test(compare, ge_le_f32_with_nan) {
  float a[] = {1, 2, 3, NAN}, b[] = {2, 2, 2, 2};
  rt_tensor ta = T(IVM_DT_F32, 1, D(4), a), tb = T(IVM_DT_F32, 1, D(4), b), o;
  cr_assert_eq(run2(ISA_OP_GreaterOrEqual, &ta, &tb, NULL, &o), 0);
  expect_shape(&o, IVM_DT_BOOL, 1, D(4));
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 1, 1, 0}), 4);
  free(o.data);
  cr_assert_eq(run2(ISA_OP_LessOrEqual, &ta, &tb, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){1, 1, 0, 0}), 4);
  free(o.data);
}

Test(compare, ge_i64_scalar_broadcast) {
  int64_t a[] = {-5, 0, 7}, b[] = {0};
  rt_tensor ta = T(IVM_DT_I64, 1, D(3), a), tb = T(IVM_DT_I64, 0, NULL, b), o;
  cr_assert_eq(run2(ISA_OP_GreaterOrEqual, &ta, &tb, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 1, 1}), 3);
  free(o.data);
  int32_t c[] = {1};
  rt_tensor tc = T(IVM_DT_I32, 1, D(1), c);
  cr_assert_eq(run2(ISA_OP_LessOrEqual, &ta, &tc, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Mod -------------------------------------------------------------------------------- */
Test(mod, int_sign_follows_divisor) { /* numpy: np.mod([-7,7,-7,7],[3,3,-3,-3]) */
  int32_t a[] = {-7, 7, -7, 7}, b[] = {3, 3, -3, -3};
  rt_tensor ta = T(IVM_DT_I32, 1, D(4), a), tb = T(IVM_DT_I32, 1, D(4), b), o;
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tb, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, int32_t, ((int32_t[]){2, 1, -1, -2}), 4);
  free(o.data);
}

Test(mod, int_fmod_sign_follows_dividend) { /* np.fmod */
  int64_t a[] = {-7, 7, -7, 7}, b[] = {3, 3, -3, -3};
  rt_tensor ta = T(IVM_DT_I64, 1, D(4), a), tb = T(IVM_DT_I64, 1, D(4), b), o;
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tb, with_int(ISA_OP_Mod, ISA_A_Mod_fmod, 1), &o), 0);
  EXPECT_EQ_ARR(&o, int64_t, ((int64_t[]){-1, 1, -1, 1}), 4);
  free(o.data);
}

Test(mod, int_min_by_minus_one_and_broadcast) {
  int8_t a[] = {INT8_MIN, 5, -5}, b[] = {-1};
  rt_tensor ta = T(IVM_DT_I8, 1, D(3), a), tb = T(IVM_DT_I8, 1, D(1), b), o;
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tb, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, int8_t, ((int8_t[]){0, 0, 0}), 3);
  free(o.data);
}

Test(mod, float_fmod_and_floor) { /* np.fmod / np.mod of [-7.5, 7.5] by [2, -2] */
  float a[] = {-7.5f, 7.5f}, b[] = {2, -2};
  rt_tensor ta = T(IVM_DT_F32, 1, D(2), a), tb = T(IVM_DT_F32, 1, D(2), b), o;
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tb, with_int(ISA_OP_Mod, ISA_A_Mod_fmod, 1), &o), 0);
  expect_f32(&o, (float[]){-1.5f, 1.5f}, 2, 0);
  free(o.data);
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tb, NULL, &o), 0);
  expect_f32(&o, (float[]){0.5f, -0.5f}, 2, 0);
  free(o.data);
}

Test(mod, unsigned_and_errors) {
  uint16_t a[] = {7, 65535, 4}, b[] = {3, 10, 5}, z[] = {3, 0, 1};
  rt_tensor ta = T(IVM_DT_U16, 1, D(3), a), tb = T(IVM_DT_U16, 1, D(3), b), o;
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tb, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, uint16_t, ((uint16_t[]){1, 5, 4}), 3);
  free(o.data);
  rt_tensor tz = T(IVM_DT_U16, 1, D(3), z);
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tz, NULL, &o), IVM_ERR_RUNTIME);
  cr_assert_eq(run2(ISA_OP_Mod, &ta, &tb, with_int(ISA_OP_Mod, ISA_A_Mod_fmod, 2), &o),
               IVM_ERR_INVALID_ARGUMENT);
}

/* ---- BitShift ---------------------------------------------------------------------------- */
Test(bitshift, left_right_and_wide_shifts) {
  uint8_t a[] = {16, 4, 1, 255}, b[] = {1, 2, 8, 9};
  rt_tensor ta = T(IVM_DT_U8, 1, D(4), a), tb = T(IVM_DT_U8, 1, D(4), b), o;
  cr_assert_eq(run2(ISA_OP_BitShift, &ta, &tb,
                    with_string(ISA_OP_BitShift, ISA_A_BitShift_direction, "LEFT"), &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){32, 16, 0, 0}), 4);
  free(o.data);
  cr_assert_eq(run2(ISA_OP_BitShift, &ta, &tb,
                    with_string(ISA_OP_BitShift, ISA_A_BitShift_direction, "RIGHT"), &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){8, 1, 0, 0}), 4);
  free(o.data);
}

Test(bitshift, u64_and_errors) {
  uint64_t a[] = {1, UINT64_MAX}, b[] = {63, 64};
  rt_tensor ta = T(IVM_DT_U64, 1, D(2), a), tb = T(IVM_DT_U64, 1, D(2), b), o;
  cr_assert_eq(run2(ISA_OP_BitShift, &ta, &tb,
                    with_string(ISA_OP_BitShift, ISA_A_BitShift_direction, "LEFT"), &o), 0);
  EXPECT_EQ_ARR(&o, uint64_t, ((uint64_t[]){1ull << 63, 0}), 2);
  free(o.data);
  cr_assert_eq(run2(ISA_OP_BitShift, &ta, &tb,
                    with_string(ISA_OP_BitShift, ISA_A_BitShift_direction, "UP"), &o),
               IVM_ERR_INVALID_ARGUMENT);
  int32_t s[] = {1, 2};
  rt_tensor ts = T(IVM_DT_I32, 1, D(2), s);
  cr_assert_eq(run2(ISA_OP_BitShift, &ts, &ts,
                    with_string(ISA_OP_BitShift, ISA_A_BitShift_direction, "LEFT"), &o),
               IVM_ERR_INVALID_ARGUMENT);
}

/* ---- PRelu -------------------------------------------------------------------------------- */
Test(prelu, slope_broadcasts) {
  float x[] = {-1, 2, -3, 4, -5, 6}, s[] = {0.5f, 2, 0.1f};
  rt_tensor tx = T(IVM_DT_F32, 2, D(2, 3), x), ts = T(IVM_DT_F32, 1, D(3), s), o;
  cr_assert_eq(run2(ISA_OP_PRelu, &tx, &ts, NULL, &o), 0);
  expect_shape(&o, IVM_DT_F32, 2, D(2, 3));
  expect_f32(&o, (float[]){-0.5f, 2, -0.3f, 4, -10, 6}, 6, 1e-6f);
  free(o.data);
  float s2[] = {1, 2, 3, 4};
  rt_tensor bad = T(IVM_DT_F32, 1, D(4), s2);
  cr_assert_eq(run2(ISA_OP_PRelu, &tx, &bad, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
  rt_tensor big = T(IVM_DT_F32, 3, D(1, 2, 3), x);
  cr_assert_eq(run2(ISA_OP_PRelu, &tx, &big, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- unary -------------------------------------------------------------------------------- */
Test(unary, sign_float_int) {
  F32_UNARY(ISA_OP_Sign, NULL, L(-2.5f, 0.0f, 3.0f, NAN), L(-1, 0, 1, NAN), 0);
  int16_t a[] = {-300, 0, 7};
  rt_tensor ta = T(IVM_DT_I16, 1, D(3), a), o;
  cr_assert_eq(run1(ISA_OP_Sign, &ta, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, int16_t, ((int16_t[]){-1, 0, 1}), 3);
  free(o.data);
}

Test(unary, round_half_to_even) { /* np.round */
  F32_UNARY(ISA_OP_Round, NULL, L(-2.5f, -0.5f, 0.5f, 1.5f, 2.5f, -1.0f, 2.6f),
            L(-2, -0.0f, 0, 2, 2, -1, 3), 0);
}

Test(unary, round_f64_and_int_rejected) {
  double x[] = {0.5, 1.5, -3.5};
  rt_tensor tx = T(IVM_DT_F64, 1, D(3), x), o;
  cr_assert_eq(run1(ISA_OP_Round, &tx, NULL, &o), 0);
  expect_f64(&o, (double[]){0, 2, -4}, 3, 0);
  free(o.data);
  int32_t i[] = {1};
  rt_tensor ti = T(IVM_DT_I32, 1, D(1), i);
  cr_assert_eq(run1(ISA_OP_Round, &ti, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
}

Test(unary, isnan_isinf) {
  float x[] = {1, NAN, INFINITY, -INFINITY, 0};
  rt_tensor tx = T(IVM_DT_F32, 1, D(5), x), o;
  cr_assert_eq(run1(ISA_OP_IsNaN, &tx, NULL, &o), 0);
  expect_shape(&o, IVM_DT_BOOL, 1, D(5));
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 1, 0, 0, 0}), 5);
  free(o.data);
  cr_assert_eq(run1(ISA_OP_IsInf, &tx, NULL, &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 0, 1, 1, 0}), 5);
  free(o.data);
  cr_assert_eq(run1(ISA_OP_IsInf, &tx, with_int(ISA_OP_IsInf, ISA_A_IsInf_detect_negative, 0), &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 0, 1, 0, 0}), 5);
  free(o.data);
  cr_assert_eq(run1(ISA_OP_IsInf, &tx, with_int(ISA_OP_IsInf, ISA_A_IsInf_detect_positive, 0), &o), 0);
  EXPECT_EQ_ARR(&o, uint8_t, ((uint8_t[]){0, 0, 0, 1, 0}), 5);
  free(o.data);
}

Test(unary, trigonometric) { /* numpy float32 */
  F32_UNARY(ISA_OP_Sin, NULL, L(0.5f, -0.25f, 0.9f), L(0.47942555f, -0.24740396f, 0.7833269f), 1e-6f);
  F32_UNARY(ISA_OP_Cos, NULL, L(0.5f, -0.25f, 0.9f), L(0.87758255f, 0.9689124f, 0.62161f), 1e-6f);
  F32_UNARY(ISA_OP_Tan, NULL, L(0.5f, -0.25f, 0.9f), L(0.5463025f, -0.25534192f, 1.2601581f), 1e-6f);
  F32_UNARY(ISA_OP_Asin, NULL, L(0.5f, -0.25f, 0.9f), L(0.5235988f, -0.25268024f, 1.1197696f), 1e-6f);
  F32_UNARY(ISA_OP_Acos, NULL, L(0.5f, -0.25f, 0.9f), L(1.0471976f, 1.8234766f, 0.45102686f), 1e-6f);
  F32_UNARY(ISA_OP_Atan, NULL, L(0.5f, -0.25f, 0.9f), L(0.4636476f, -0.24497867f, 0.7328151f), 1e-6f);
  F32_UNARY(ISA_OP_Sinh, NULL, L(0.5f, -0.25f, 0.9f), L(0.5210953f, -0.25261232f, 1.0265167f), 1e-6f);
  F32_UNARY(ISA_OP_Cosh, NULL, L(0.5f, -0.25f, 0.9f), L(1.1276261f, 1.0314132f, 1.4330864f), 1e-6f);
  F32_UNARY(ISA_OP_Asinh, NULL, L(0.5f, -0.25f, 0.9f), L(0.4812118f, -0.24746646f, 0.8088669f), 1e-6f);
  F32_UNARY(ISA_OP_Atanh, NULL, L(0.5f, -0.25f, 0.9f), L(0.54930615f, -0.25541282f, 1.4722193f), 1e-6f);
  F32_UNARY(ISA_OP_Acosh, NULL, L(1, 2, 10, 0.5f), L(0, 1.316958f, 2.993223f, NAN), 1e-6f);
}

Test(unary, trig_f16) { /* sin(0.5) = 0.4794 in f16: 0x37AC */
  uint16_t x[] = {0x3800 /* 0.5 */};
  rt_tensor tx = T(IVM_DT_F16, 1, D(1), x), o;
  cr_assert_eq(run1(ISA_OP_Sin, &tx, NULL, &o), 0);
  expect_shape(&o, IVM_DT_F16, 1, D(1));
  cr_assert(fabsf(isa_f16_to_f32(((uint16_t *)o.data)[0]) - 0.47942555f) < 1e-3f);
  free(o.data);
}

Test(activation, selu_elu_celu) { /* numpy, x = [-3, -1, 0, 1, 2] */
  F32_UNARY(ISA_OP_Selu, NULL, L(-3, -1, 0, 1, 2),
            L(-1.6705687f, -1.1113307f, 0, 1.050701f, 2.101402f), 1e-6f);
  F32_UNARY(ISA_OP_Elu, with_float(ISA_OP_Elu, ISA_A_Elu_alpha, 2.0f), L(-3, -1, 0, 1, 2),
            L(-1.9004259f, -1.2642412f, 0, 1, 2), 1e-6f);
  F32_UNARY(ISA_OP_Celu, with_float(ISA_OP_Celu, ISA_A_Celu_alpha, 2.0f), L(-3, -1, 0, 1, 2),
            L(-1.5537397f, -0.78693867f, 0, 1, 2), 1e-6f);
}

Test(activation, thresholded_softplus_softsign_mish) {
  F32_UNARY(ISA_OP_ThresholdedRelu, with_float(ISA_OP_ThresholdedRelu, ISA_A_ThresholdedRelu_alpha, 1.0f),
            L(-3, 0.5f, 1, 1.5f, 2), L(0, 0, 0, 1.5f, 2), 0);
  F32_UNARY(ISA_OP_Softplus, NULL, L(-3, -1, 0, 1, 2, 100, -100),
            L(0.048587352f, 0.3132617f, 0.6931472f, 1.3132616f, 2.126928f, 100, 3.7200760e-44f), 1e-6f);
  F32_UNARY(ISA_OP_Softsign, NULL, L(-3, -1, 0, 1, 2), L(-0.75f, -0.5f, 0, 0.5f, 0.6666667f), 1e-6f);
  F32_UNARY(ISA_OP_Mish, NULL, L(-3, -1, 0, 1, 2),
            L(-0.14564747f, -0.30340147f, 0, 0.8650984f, 1.943959f), 1e-6f);
}

Test(activation, gelu_erf_and_tanh) {
  F32_UNARY(ISA_OP_Gelu, NULL, L(-3, -1, 0, 1, 2),
            L(-0.00404969f, -0.15865525f, 0, 0.84134475f, 1.95449974f), 1e-5f);
  F32_UNARY(ISA_OP_Gelu, with_string(ISA_OP_Gelu, ISA_A_Gelu_approximate, "tanh"), L(-3, -1, 0, 1, 2),
            L(-0.00363739f, -0.15880801f, 0, 0.84119199f, 1.95459769f), 1e-5f);
  float x[] = {1};
  rt_tensor tx = T(IVM_DT_F32, 1, D(1), x), o;
  cr_assert_eq(run1(ISA_OP_Gelu, &tx, with_string(ISA_OP_Gelu, ISA_A_Gelu_approximate, "fast"), &o),
               IVM_ERR_INVALID_ARGUMENT);
}

Test(activation, shrink_float_and_int) {
  isa_attr *a = with_float(ISA_OP_Shrink, ISA_A_Shrink_lambd, 1.5f);
  a[ISA_A_Shrink_bias].v.f = 1.5f;
  F32_UNARY(ISA_OP_Shrink, a, L(-2, -1, 0, 1, 2), L(-0.5f, 0, 0, 0, 0.5f), 0);
  a = with_float(ISA_OP_Shrink, ISA_A_Shrink_lambd, 1.5f);
  F32_UNARY(ISA_OP_Shrink, a, L(-2, -1, 0, 1, 2), L(-2, 0, 0, 0, 2), 0);
  int32_t xi[] = {-5, 1, 5};
  rt_tensor ti = T(IVM_DT_I32, 1, D(3), xi), o;
  a = with_float(ISA_OP_Shrink, ISA_A_Shrink_bias, 2.0f);
  cr_assert_eq(run1(ISA_OP_Shrink, &ti, a, &o), 0);
  EXPECT_EQ_ARR(&o, int32_t, ((int32_t[]){-3, -1, 3}), 3);
  free(o.data);
}

Test(activation, float_only_ops_reject_ints) {
  int32_t x[] = {1};
  rt_tensor tx = T(IVM_DT_I32, 1, D(1), x), o;
  cr_assert_eq(run1(ISA_OP_Selu, &tx, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(run1(ISA_OP_IsNaN, &tx, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Hardmax ------------------------------------------------------------------------------ */
Test(hardmax, axes_and_ties) {
  float x[] = {3, 1, 3, 2, /* row 2 */ 0, 5, 4, 5};
  rt_tensor tx = T(IVM_DT_F32, 2, D(2, 4), x), o;
  cr_assert_eq(run1(ISA_OP_Hardmax, &tx, NULL, &o), 0);
  expect_f32(&o, (float[]){1, 0, 0, 0, 0, 1, 0, 0}, 8, 0);
  free(o.data);
  cr_assert_eq(run1(ISA_OP_Hardmax, &tx, with_int(ISA_OP_Hardmax, ISA_A_Hardmax_axis, 0), &o), 0);
  expect_f32(&o, (float[]){1, 0, 0, 0, 0, 1, 1, 1}, 8, 0);
  free(o.data);
  cr_assert_eq(run1(ISA_OP_Hardmax, &tx, with_int(ISA_OP_Hardmax, ISA_A_Hardmax_axis, 2), &o),
               IVM_ERR_INVALID_ARGUMENT);
}

/* ---- reductions -------------------------------------------------------------------------- */
static const float red_x[] = {1, -2, 3, 4, 5, 6, -7, 8, 0.5f, 2, 1, -1}; /* [3, 2, 2] */

static int run_red(isa_builtin_op op, const int64_t *axes, int n_axes, int keep, rt_tensor *o) {
  rt_tensor tx = T(IVM_DT_F32, 3, D(3, 2, 2), red_x);
  rt_tensor ta = T(IVM_DT_I64, 1, D(n_axes), axes);
  const rt_tensor *in[] = {&tx, &ta};
  isa_attr *a = defaults(op);
  a[0].v.i = keep; /* keepdims: slot 0 of IVM_ATTRS_Reduce */
  return run(op, axes ? 2 : 1, in, a, o);
}

Test(reduce, l1_l2) {
  rt_tensor o;
  cr_assert_eq(run_red(ISA_OP_ReduceL1, D(2), 1, 0, &o), 0);
  expect_shape(&o, IVM_DT_F32, 2, D(3, 2));
  expect_f32(&o, (float[]){3, 7, 11, 15, 2.5f, 2}, 6, 1e-6f);
  free(o.data);
  cr_assert_eq(run_red(ISA_OP_ReduceL2, NULL, 0, 1, &o), 0);
  expect_shape(&o, IVM_DT_F32, 3, D(1, 1, 1));
  expect_f32(&o, (float[]){14.5f}, 1, 1e-6f);
  free(o.data);
}

Test(reduce, prod_sumsquare_negative_axis) {
  rt_tensor o;
  cr_assert_eq(run_red(ISA_OP_ReduceProd, D(1), 1, 1, &o), 0);
  expect_shape(&o, IVM_DT_F32, 3, D(3, 1, 2));
  expect_f32(&o, (float[]){3, -8, -35, 48, 0.5f, -2}, 6, 1e-6f);
  free(o.data);
  cr_assert_eq(run_red(ISA_OP_ReduceSumSquare, D(-1), 1, 0, &o), 0);
  expect_f32(&o, (float[]){5, 25, 61, 113, 4.25f, 2}, 6, 1e-6f);
  free(o.data);
}

Test(reduce, logsum) { /* np.log(np.sum(|x|, axis=0)) with x >= 0 */
  float x[] = {1, 2, 3, 4, 5, 6, 7, 8, 0.5f, 2, 1, 1};
  rt_tensor tx = T(IVM_DT_F32, 3, D(3, 2, 2), x), ta = T(IVM_DT_I64, 1, D(1), D(0)), o;
  const rt_tensor *in[] = {&tx, &ta};
  isa_attr *a = defaults(ISA_OP_ReduceLogSum);
  a[ISA_A_ReduceLogSum_keepdims].v.i = 0;
  cr_assert_eq(run(ISA_OP_ReduceLogSum, 2, in, a, &o), 0);
  expect_f32(&o, (float[]){logf(6.5f), logf(10), logf(11), logf(13)}, 4, 1e-6f);
  free(o.data);
}

Test(reduce, logsumexp_no_overflow) {
  double x[] = {1000, 1000, 1, 2, -1e30, 0, -INFINITY, -INFINITY};
  rt_tensor tx = T(IVM_DT_F64, 2, D(4, 2), x), ta = T(IVM_DT_I64, 1, D(1), D(1)), o;
  const rt_tensor *in[] = {&tx, &ta};
  isa_attr *a = defaults(ISA_OP_ReduceLogSumExp);
  a[ISA_A_ReduceLogSumExp_keepdims].v.i = 0;
  cr_assert_eq(run(ISA_OP_ReduceLogSumExp, 2, in, a, &o), 0);
  const double *g = o.data;
  cr_assert(fabs(g[0] - 1000.693147181) < 1e-9);
  cr_assert(fabs(g[1] - 2.313261688) < 1e-9);
  cr_assert(fabs(g[2]) < 1e-12);
  cr_assert(isinf(g[3]) && g[3] < 0);
  free(o.data);
}

Test(reduce, int_prod_wraps_and_noop) {
  int32_t x[] = {65536, 65536, 3, -2};
  rt_tensor tx = T(IVM_DT_I32, 2, D(2, 2), x), ta = T(IVM_DT_I64, 1, D(1), D(1)), o;
  const rt_tensor *in[] = {&tx, &ta};
  isa_attr *a = defaults(ISA_OP_ReduceProd);
  a[ISA_A_ReduceProd_keepdims].v.i = 0;
  cr_assert_eq(run(ISA_OP_ReduceProd, 2, in, a, &o), 0);
  EXPECT_EQ_ARR(&o, int32_t, ((int32_t[]){0, -6}), 2);
  free(o.data);
  a = defaults(ISA_OP_ReduceL1);
  a[ISA_A_ReduceL1_noop_with_empty_axes].v.i = 1;
  rt_tensor empty = T(IVM_DT_I64, 1, D(0), D(0));
  const rt_tensor *in2[] = {&tx, &empty};
  cr_assert_eq(run(ISA_OP_ReduceL1, 2, in2, a, &o), 0);
  expect_shape(&o, IVM_DT_I32, 2, D(2, 2));
  EXPECT_EQ_ARR(&o, int32_t, x, 4);
  free(o.data);
}

Test(reduce, errors) {
  rt_tensor o;
  cr_assert_eq(run_red(ISA_OP_ReduceL2, D(3), 1, 1, &o), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(run_red(ISA_OP_ReduceL2, D(0, 0), 2, 1, &o), IVM_ERR_INVALID_ARGUMENT);
  uint8_t b[] = {1};
  rt_tensor tb = T(IVM_DT_BOOL, 1, D(1), b);
  cr_assert_eq(run1(ISA_OP_ReduceProd, &tb, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Det ---------------------------------------------------------------------------------- */
Test(det, batch_and_singular) {
  float x[] = {1, 2, 3, 4, /* */ 2, 0, 0, 3, /* */ 1, 2, 2, 4};
  rt_tensor tx = T(IVM_DT_F32, 3, D(3, 2, 2), x), o;
  cr_assert_eq(run1(ISA_OP_Det, &tx, NULL, &o), 0);
  expect_shape(&o, IVM_DT_F32, 1, D(3));
  expect_f32(&o, (float[]){-2, 6, 0}, 3, 1e-6f);
  free(o.data);
}

Test(det, needs_pivoting_f64) { /* np.linalg.det([[0,2,1],[1,1,1],[2,0,3]]) = -4 */
  double x[] = {0, 2, 1, 1, 1, 1, 2, 0, 3};
  rt_tensor tx = T(IVM_DT_F64, 2, D(3, 3), x), o;
  cr_assert_eq(run1(ISA_OP_Det, &tx, NULL, &o), 0);
  expect_shape(&o, IVM_DT_F64, 0, NULL);
  expect_f64(&o, (double[]){-4}, 1, 1e-12);
  free(o.data);
}

Test(det, rejects_non_square) {
  float x[6] = {0};
  rt_tensor tx = T(IVM_DT_F32, 2, D(2, 3), x), t1 = T(IVM_DT_F32, 1, D(6), x), o;
  cr_assert_eq(run1(ISA_OP_Det, &tx, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(run1(ISA_OP_Det, &t1, NULL, &o), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Einsum ------------------------------------------------------------------------------- */
static int einsum(const char *eq, int n, const rt_tensor *const *in, rt_tensor *o) {
  return run(ISA_OP_Einsum, n, in, with_string(ISA_OP_Einsum, ISA_A_Einsum_equation, eq), o);
}

static float es_x[24], es_y[8];
static void es_init(void) {
  for (int i = 0; i < 24; i++) es_x[i] = (float)i;
  for (int i = 0; i < 8; i++) es_y[i] = (float)i;
}

Test(einsum, batch_matmul_broadcast_operand, .init = es_init) {
  /* np.einsum('bij,jk->bik', arange(24).reshape(2,3,4), arange(8).reshape(4,2)) */
  rt_tensor tx = T(IVM_DT_F32, 3, D(2, 3, 4), es_x), ty = T(IVM_DT_F32, 2, D(4, 2), es_y), o;
  const rt_tensor *in[] = {&tx, &ty};
  cr_assert_eq(einsum("bij, jk -> bik", 2, in, &o), 0);
  expect_shape(&o, IVM_DT_F32, 3, D(2, 3, 2));
  expect_f32(&o, (float[]){28, 34, 76, 98, 124, 162, 172, 226, 220, 290, 268, 354}, 12, 0);
  free(o.data);
}

Test(einsum, ellipsis_transpose_and_implicit, .init = es_init) {
  rt_tensor tx = T(IVM_DT_F32, 3, D(2, 3, 4), es_x), o;
  const rt_tensor *in[] = {&tx};
  cr_assert_eq(einsum("...ij->...ji", 1, in, &o), 0);
  expect_shape(&o, IVM_DT_F32, 3, D(2, 4, 3));
  expect_f32(&o, (float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23}, 24, 0);
  free(o.data);
  /* implicit output: labels in ASCII order, so 'ji' transposes */
  rt_tensor t2 = T(IVM_DT_F32, 2, D(3, 4), es_x);
  const rt_tensor *in2[] = {&t2};
  cr_assert_eq(einsum("ji", 1, in2, &o), 0);
  expect_shape(&o, IVM_DT_F32, 2, D(4, 3));
  expect_f32(&o, (float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, 12, 0);
  free(o.data);
}

Test(einsum, trace_diagonal_and_sum, .init = es_init) {
  rt_tensor tm = T(IVM_DT_F32, 2, D(3, 3), es_x), o;
  const rt_tensor *in[] = {&tm};
  cr_assert_eq(einsum("ii", 1, in, &o), 0);
  expect_shape(&o, IVM_DT_F32, 0, NULL);
  expect_f32(&o, (float[]){12}, 1, 0);
  free(o.data);
  cr_assert_eq(einsum("ii->i", 1, in, &o), 0);
  expect_f32(&o, (float[]){0, 4, 8}, 3, 0);
  free(o.data);
  cr_assert_eq(einsum("ij->", 1, in, &o), 0);
  expect_f32(&o, (float[]){36}, 1, 0);
  free(o.data);
}

Test(einsum, three_operands_int) { /* 'i,i,i' = sum(a*b*c) = 1*4*7 + 2*5*8 + 3*6*9 = 270 */
  int64_t a[] = {1, 2, 3}, b[] = {4, 5, 6}, c[] = {7, 8, 9};
  rt_tensor ta = T(IVM_DT_I64, 1, D(3), a), tb = T(IVM_DT_I64, 1, D(3), b),
            tc = T(IVM_DT_I64, 1, D(3), c), o;
  const rt_tensor *in[] = {&ta, &tb, &tc};
  cr_assert_eq(einsum("i,i,i", 3, in, &o), 0);
  expect_shape(&o, IVM_DT_I64, 0, NULL);
  EXPECT_EQ_ARR(&o, int64_t, ((int64_t[]){270}), 1);
  free(o.data);
  cr_assert_eq(einsum("i,j->ij", 2, in, &o), 0); /* outer product */
  EXPECT_EQ_ARR(&o, int64_t, ((int64_t[]){4, 5, 6, 8, 10, 12, 12, 15, 18}), 9);
  free(o.data);
}

Test(einsum, errors, .init = es_init) {
  rt_tensor tx = T(IVM_DT_F32, 2, D(3, 4), es_x), ty = T(IVM_DT_F32, 2, D(3, 4), es_x), o;
  const rt_tensor *in[] = {&tx, &ty};
  cr_assert_eq(einsum("ij,jk", 2, in, &o), IVM_ERR_INVALID_ARGUMENT);   /* 4 vs 3 */
  cr_assert_eq(einsum("ijk,ij", 2, in, &o), IVM_ERR_INVALID_ARGUMENT);  /* rank */
  cr_assert_eq(einsum("ij", 2, in, &o), IVM_ERR_INVALID_ARGUMENT);      /* term count */
  cr_assert_eq(einsum("ij,ij->k", 2, in, &o), IVM_ERR_INVALID_ARGUMENT); /* unknown label */
  cr_assert_eq(einsum("ij,ij->ii", 2, in, &o), IVM_ERR_INVALID_ARGUMENT); /* repeated */
  cr_assert_eq(einsum("i.j,ij", 2, in, &o), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(einsum("i1,ij", 2, in, &o), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(einsum("ii", 1, in, &o), IVM_ERR_INVALID_ARGUMENT);      /* 3 != 4 diagonal */
  rt_tensor t3 = T(IVM_DT_F32, 3, D(2, 3, 4), es_x);
  const rt_tensor *in3[] = {&t3};
  cr_assert_eq(einsum("...ij->ij", 1, in3, &o), IVM_ERR_INVALID_ARGUMENT);
}
