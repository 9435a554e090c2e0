/* train family kernels and inference (isa/ops_train.def) through rt_run_builtin:
 * Adagrad, Adam, Momentum (standard / nesterov), TfIdfVectorizer and training-mode
 * Dropout. Expected values computed with numpy from the ONNX operator definitions
 * (onnx/backend/test/case/node/{adagrad,adam,momentum}.py formulas; a direct-loop n-gram
 * counter for TfIdfVectorizer, checked against the ONNX backend test outputs). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"

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
#define F(...) ((const float[]){__VA_ARGS__})

static isa_attr attrs_buf[16];
static isa_attr *defaults(isa_builtin_op op) {
  isa_attrs_init_defaults(isa_builtin_desc(op), attrs_buf);
  return attrs_buf;
}
static void set_f(isa_attr *a, float v) {
  a->present = 1;
  a->v.f = v;
}
static void set_i(isa_attr *a, int64_t v) {
  a->present = 1;
  a->v.i = v;
}
static void set_ints(isa_attr *a, const int64_t *v, uint32_t n) {
  a->present = 1;
  a->count = n;
  a->v.ints = v;
}
static void set_floats(isa_attr *a, const float *v, uint32_t n) {
  a->present = 1;
  a->count = n;
  a->v.floats = v;
}
static void set_str(isa_attr *a, const char *s) {
  a->present = 1;
  a->count = (uint32_t)strlen(s);
  a->v.s = s;
}

static int run(isa_builtin_op op, int n_in, const rt_tensor *const *in, const isa_attr *at,
               int n_out, rt_tensor *out) {
  if (!at) at = defaults(op);
  memset(out, 0, sizeof(rt_tensor) * (size_t)n_out);
  ivm_status st = rt_run_builtin(op, (uint32_t)n_in, in, at, (uint32_t)n_out, out);
  int code = ivm_status_get_code(st);
  if (st) cr_log_info("status: %s", ivm_status_message(st));
  ivm_status_free(st);
  return code;
}

static void free_out(rt_tensor *out, int n) {
  for (int i = 0; i < n; i++) free(out[i].data);
}

static void expect_shape(const rt_tensor *t, int rank, const int64_t *dims) {
  cr_assert_eq(t->rank, rank, "rank %d != %d", t->rank, rank);
  for (int i = 0; i < rank; i++)
    cr_assert_eq(t->dims[i], dims[i], "dim %d: %lld != %lld", i, (long long)t->dims[i],
                 (long long)dims[i]);
}

static void expect_f32(const rt_tensor *t, const float *want, int64_t n, float tol) {
  cr_assert_eq(t->dtype, IVM_DT_F32);
  cr_assert_eq(rt_numel(t), n, "numel %lld != %lld", (long long)rt_numel(t), (long long)n);
  const float *g = t->data;
  for (int64_t i = 0; i < n; i++) {
    float err = fabsf(g[i] - want[i]), lim = tol * (1.0f + fabsf(want[i]));
    cr_assert(err <= lim, "element %lld: got %.9g, want %.9g", (long long)i, g[i], want[i]);
  }
}

static const float one_r_f32 = 0.1f;

/* ==== Adagrad ============================================================================ */
Test(train_adagrad, one_tensor) {
  float r = one_r_f32;
  int64_t t = 1;
  rt_tensor R = T(IVM_DT_F32, 0, NULL, &r), Tt = T(IVM_DT_I64, 0, NULL, &t);
  rt_tensor X = T(IVM_DT_F32, 1, D(2), F(1.0f, -2.0f)), G = T(IVM_DT_F32, 1, D(2), F(-1.0f, 0.5f));
  rt_tensor H = T(IVM_DT_F32, 1, D(2), F(2.0f, 0.25f));
  const rt_tensor *in[] = {&R, &Tt, &X, &G, &H};
  isa_attr *a = defaults(ISA_OP_Adagrad);
  set_f(&a[ISA_A_Adagrad_decay_factor], 0.1f);
  set_f(&a[ISA_A_Adagrad_epsilon], 1e-5f);
  set_f(&a[ISA_A_Adagrad_norm_coefficient], 0.001f);
  rt_tensor out[2];
  cr_assert_eq(run(ISA_OP_Adagrad, 5, in, a, 2, out), IVM_OK);
  expect_shape(&out[0], 1, D(2));
  expect_f32(&out[0], F(1.05245113f, -2.06415248f), 2, 1e-6f);
  expect_f32(&out[1], F(2.9980011f, 0.498003989f), 2, 1e-6f);
  free_out(out, 2);
}

Test(train_adagrad, f64_and_only_x_output) {
  double r = 0.1;
  int64_t t = 1;
  const double x[] = {1.0, -2.0}, g[] = {-1.0, 0.5}, h[] = {2.0, 0.25};
  rt_tensor R = T(IVM_DT_F64, 1, D(1), &r), Tt = T(IVM_DT_I64, 0, NULL, &t);
  rt_tensor X = T(IVM_DT_F64, 1, D(2), x), G = T(IVM_DT_F64, 1, D(2), g), H = T(IVM_DT_F64, 1, D(2), h);
  const rt_tensor *in[] = {&R, &Tt, &X, &G, &H};
  isa_attr *a = defaults(ISA_OP_Adagrad);
  set_f(&a[ISA_A_Adagrad_decay_factor], 0.1f);
  set_f(&a[ISA_A_Adagrad_epsilon], 1e-5f);
  set_f(&a[ISA_A_Adagrad_norm_coefficient], 0.001f);
  rt_tensor out[1];
  cr_assert_eq(run(ISA_OP_Adagrad, 5, in, a, 1, out), IVM_OK);
  cr_assert_eq(out[0].dtype, IVM_DT_F64);
  const double *y = out[0].data;
  cr_assert(fabs(y[0] - 1.05245113) < 1e-6 && fabs(y[1] + 2.06415248) < 1e-6);
  free_out(out, 1);
}

Test(train_adagrad, errors) {
  float r = 0.1f, x = 1.0f;
  int64_t t = 0;
  rt_tensor R = T(IVM_DT_F32, 0, NULL, &r), Tt = T(IVM_DT_I64, 0, NULL, &t);
  rt_tensor X = T(IVM_DT_F32, 1, D(1), &x), X2 = T(IVM_DT_F32, 1, D(2), F(1.0f, 2.0f));
  rt_tensor Tf = T(IVM_DT_F32, 0, NULL, &r), Rv = T(IVM_DT_F32, 1, D(2), F(1.0f, 2.0f));
  rt_tensor Xi = T(IVM_DT_I64, 1, D(1), &t);
  rt_tensor out[3];
  const rt_tensor *in4[] = {&R, &Tt, &X, &X}; /* not 2 + 3n inputs */
  cr_assert_eq(run(ISA_OP_Adagrad, 4, in4, NULL, 1, out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *tf[] = {&R, &Tf, &X, &X, &X}; /* T must be i64 */
  cr_assert_eq(run(ISA_OP_Adagrad, 5, tf, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *rv[] = {&Rv, &Tt, &X, &X, &X}; /* R must be one element */
  cr_assert_eq(run(ISA_OP_Adagrad, 5, rv, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *sh[] = {&R, &Tt, &X, &X2, &X}; /* G's shape differs from X's */
  cr_assert_eq(run(ISA_OP_Adagrad, 5, sh, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *dt[] = {&R, &Tt, &X, &Xi, &X}; /* mixed dtypes */
  cr_assert_eq(run(ISA_OP_Adagrad, 5, dt, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *ok[] = {&R, &Tt, &X, &X, &X}; /* 3 outputs for n = 1 */
  cr_assert_eq(run(ISA_OP_Adagrad, 5, ok, NULL, 3, out), IVM_ERR_INVALID_ARGUMENT);
}

/* ==== Adam =============================================================================== */
static void adam_attrs(isa_attr *a) {
  set_f(&a[ISA_A_Adam_alpha], 0.9f);
  set_f(&a[ISA_A_Adam_beta], 0.99f);
  set_f(&a[ISA_A_Adam_epsilon], 1e-6f);
  set_f(&a[ISA_A_Adam_norm_coefficient], 0.01f);
  set_f(&a[ISA_A_Adam_norm_coefficient_post], 0.05f);
}

Test(train_adam, two_tensors_bias_corrected) {
  float r = 0.05f;
  int64_t t = 2;
  rt_tensor R = T(IVM_DT_F32, 0, NULL, &r), Tt = T(IVM_DT_I64, 0, NULL, &t);
  rt_tensor X1 = T(IVM_DT_F32, 1, D(1), F(0.5f)), X2 = T(IVM_DT_F32, 1, D(3), F(1.0f, -1.0f, 3.0f));
  rt_tensor G1 = T(IVM_DT_F32, 1, D(1), F(2.0f)), G2 = T(IVM_DT_F32, 1, D(3), F(0.2f, -0.4f, 1.0f));
  rt_tensor V1 = T(IVM_DT_F32, 1, D(1), F(0.1f)), V2 = T(IVM_DT_F32, 1, D(3), F(0.0f, 0.5f, -0.5f));
  rt_tensor H1 = T(IVM_DT_F32, 1, D(1), F(0.3f)), H2 = T(IVM_DT_F32, 1, D(3), F(1.0f, 0.0f, 2.0f));
  const rt_tensor *in[] = {&R, &Tt, &X1, &X2, &G1, &G2, &V1, &V2, &H1, &H2};
  isa_attr *a = defaults(ISA_OP_Adam);
  adam_attrs(a);
  rt_tensor out[6];
  cr_assert_eq(run(ISA_OP_Adam, 10, in, a, 6, out), IVM_OK);
  expect_f32(&out[0], F(0.457357168f), 1, 1e-6f);
  expect_f32(&out[1], F(0.949255824f, -1.30179965f, 2.85867357f), 3, 1e-6f);
  expect_f32(&out[2], F(0.290499985f), 1, 1e-6f);
  expect_f32(&out[3], F(0.0209999997f, 0.409000009f, -0.347000003f), 3, 1e-6f);
  expect_f32(&out[4], F(0.337200254f), 1, 1e-6f);
  expect_f32(&out[5], F(0.990441024f, 0.00168099999f, 1.99060905f), 3, 1e-5f);
  free_out(out, 6);
}

Test(train_adam, t0_no_bias_correction) {
  float r = 0.05f;
  int64_t t = 0;
  rt_tensor R = T(IVM_DT_F32, 0, NULL, &r), Tt = T(IVM_DT_I64, 0, NULL, &t);
  rt_tensor X = T(IVM_DT_F32, 1, D(1), F(0.5f)), G = T(IVM_DT_F32, 1, D(1), F(2.0f));
  rt_tensor V = T(IVM_DT_F32, 1, D(1), F(0.1f)), H = T(IVM_DT_F32, 1, D(1), F(0.3f));
  const rt_tensor *in[] = {&R, &Tt, &X, &G, &V, &H};
  isa_attr *a = defaults(ISA_OP_Adam);
  adam_attrs(a);
  rt_tensor out[3];
  cr_assert_eq(run(ISA_OP_Adam, 6, in, a, 3, out), IVM_OK);
  expect_f32(&out[0], F(0.451237351f), 1, 1e-6f);
  free_out(out, 3);
  /* Adam has 4 tensor groups: 5 inputs is not 2 + 4n */
  cr_assert_eq(run(ISA_OP_Adam, 5, in, a, 1, out), IVM_ERR_INVALID_ARGUMENT);
}

/* ==== Momentum =========================================================================== */
static int momentum(const char *mode, int64_t t, rt_tensor *out) {
  float r = 0.1f;
  rt_tensor R = T(IVM_DT_F32, 0, NULL, &r), Tt = T(IVM_DT_I64, 0, NULL, &t);
  rt_tensor X = T(IVM_DT_F32, 2, D(1, 3), F(1.0f, 2.0f, -3.0f));
  rt_tensor G = T(IVM_DT_F32, 2, D(1, 3), F(0.5f, -1.0f, 2.0f));
  rt_tensor V = T(IVM_DT_F32, 2, D(1, 3), F(0.1f, 0.2f, -0.3f));
  const rt_tensor *in[] = {&R, &Tt, &X, &G, &V};
  isa_attr *a = defaults(ISA_OP_Momentum);
  set_f(&a[ISA_A_Momentum_alpha], 0.9f);
  set_f(&a[ISA_A_Momentum_beta], 0.5f);
  set_f(&a[ISA_A_Momentum_norm_coefficient], 0.01f);
  set_str(&a[ISA_A_Momentum_mode], mode);
  return run(ISA_OP_Momentum, 5, in, a, 2, out);
}

Test(train_momentum, standard) {
  rt_tensor out[2];
  cr_assert_eq(momentum("standard", 0, out), IVM_OK); /* T = 0: beta counts as 1 */
  expect_shape(&out[0], 2, D(1, 3));
  expect_f32(&out[0], F(0.939999998f, 2.07999992f, -3.17000008f), 3, 1e-6f);
  expect_f32(&out[1], F(0.600000024f, -0.800000012f, 1.70000005f), 3, 1e-6f);
  free_out(out, 2);
  cr_assert_eq(momentum("standard", 3, out), IVM_OK);
  expect_f32(&out[0], F(0.965499997f, 2.0309999f, -3.07150006f), 3, 1e-6f);
  expect_f32(&out[1], F(0.344999999f, -0.310000002f, 0.714999974f), 3, 1e-6f);
  free_out(out, 2);
}

Test(train_momentum, nesterov) {
  rt_tensor out[2];
  cr_assert_eq(momentum("nesterov", 0, out), IVM_OK);
  expect_f32(&out[0], F(0.894999981f, 2.17000008f, -3.3499999f), 3, 1e-6f);
  free_out(out, 2);
  cr_assert_eq(momentum("nesterov", 3, out), IVM_OK);
  expect_f32(&out[0], F(0.917949975f, 2.12590003f, -3.26134992f), 3, 1e-6f);
  expect_f32(&out[1], F(0.344999999f, -0.310000002f, 0.714999974f), 3, 1e-6f);
  free_out(out, 2);
}

Test(train_momentum, bad_mode) {
  rt_tensor out[2];
  cr_assert_eq(momentum("heavy", 1, out), IVM_ERR_INVALID_ARGUMENT);
}

/* ==== TfIdfVectorizer ===================================================================== */
/* pool: unigrams 1, 2, 4; bigrams (1,2) (2,3) (4,4); trigram (1,2,3). */
static const int64_t tf_pool[] = {1, 2, 4, 1, 2, 2, 3, 4, 4, 1, 2, 3};
static const int64_t tf_counts[] = {0, 3, 9};
static const int64_t tf_idx[] = {6, 0, 1, 2, 3, 4, 5};
static const float tf_w[] = {0.5f, 2.0f, 1.5f, 0.25f, 3.0f, 1.0f, -1.0f};
static const int64_t tf_x[] = {1, 2, 3, 1, 2, 4, 1, 2, 3, 5, 4, 4, 4, 2, 3, 1, 2, 2, 3, 1};

static isa_attr *tfidf_attrs(const char *mode, int64_t min_n, int64_t max_n, int64_t skip, int weights) {
  isa_attr *a = defaults(ISA_OP_TfIdfVectorizer);
  set_str(&a[ISA_A_TfIdfVectorizer_mode], mode);
  set_i(&a[ISA_A_TfIdfVectorizer_min_gram_length], min_n);
  set_i(&a[ISA_A_TfIdfVectorizer_max_gram_length], max_n);
  set_i(&a[ISA_A_TfIdfVectorizer_max_skip_count], skip);
  set_ints(&a[ISA_A_TfIdfVectorizer_ngram_counts], tf_counts, 3);
  set_ints(&a[ISA_A_TfIdfVectorizer_ngram_indexes], tf_idx, 7);
  set_ints(&a[ISA_A_TfIdfVectorizer_pool_int64s], tf_pool, 12);
  if (weights) set_floats(&a[ISA_A_TfIdfVectorizer_weights], tf_w, 7);
  return a;
}

Test(train_tfidf, modes_2d) {
  rt_tensor X = T(IVM_DT_I64, 2, D(2, 10), tf_x);
  const rt_tensor *in[] = {&X};
  rt_tensor out[1];
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, tfidf_attrs("TF", 1, 3, 1, 1), 1, out), IVM_OK);
  expect_shape(&out[0], 2, D(2, 7));
  expect_f32(&out[0], F(3, 1, 3, 2, 0, 2, 3, 3, 3, 2, 3, 3, 0, 2), 14, 0);
  free_out(out, 1);
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, tfidf_attrs("IDF", 1, 3, 1, 1), 1, out), IVM_OK);
  expect_f32(&out[0], F(2, 1.5f, 0.25f, 3, 0, -1, 0.5f, 2, 1.5f, 0.25f, 3, 1, 0, 0.5f), 14, 0);
  free_out(out, 1);
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, tfidf_attrs("TFIDF", 1, 3, 1, 1), 1, out), IVM_OK);
  expect_f32(&out[0], F(6, 1.5f, 0.75f, 6, 0, -2, 1.5f, 6, 4.5f, 0.5f, 9, 3, 0, 1), 14, 0);
  free_out(out, 1);
}

Test(train_tfidf, i32_1d_min2_skip2) {
  int32_t x[10];
  for (int i = 0; i < 10; i++) x[i] = (int32_t)tf_x[i];
  rt_tensor X = T(IVM_DT_I32, 1, D(10), x);
  const rt_tensor *in[] = {&X};
  rt_tensor out[1];
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, tfidf_attrs("TF", 2, 3, 2, 0), 1, out), IVM_OK);
  expect_shape(&out[0], 1, D(7));
  expect_f32(&out[0], F(0, 0, 3, 2, 0, 2, 0), 7, 0);
  free_out(out, 1);
}

Test(train_tfidf, errors) {
  rt_tensor X = T(IVM_DT_I64, 2, D(2, 10), tf_x);
  rt_tensor Xf = T(IVM_DT_F32, 1, D(2), F(1, 2));
  const rt_tensor *in[] = {&X}, *inf[] = {&Xf};
  rt_tensor out[1];
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, tfidf_attrs("BM25", 1, 3, 1, 0), 1, out),
               IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, tfidf_attrs("TF", 3, 2, 1, 0), 1, out),
               IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, inf, tfidf_attrs("TF", 1, 3, 1, 0), 1, out),
               IVM_ERR_INVALID_ARGUMENT);
  isa_attr *a = tfidf_attrs("TF", 1, 3, 1, 0);
  static const int64_t bad_counts[] = {0, 4, 9}; /* 5 values of bigrams */
  set_ints(&a[ISA_A_TfIdfVectorizer_ngram_counts], bad_counts, 3);
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, a, 1, out), IVM_ERR_INVALID_ARGUMENT);
  a = tfidf_attrs("TF", 1, 3, 1, 0);
  set_ints(&a[ISA_A_TfIdfVectorizer_ngram_indexes], tf_idx, 6); /* 7 n-grams in the pool */
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, a, 1, out), IVM_ERR_INVALID_ARGUMENT);
  a = tfidf_attrs("TF", 1, 3, 1, 0);
  static const int64_t neg_idx[] = {6, 0, 1, -2, 3, 4, 5};
  set_ints(&a[ISA_A_TfIdfVectorizer_ngram_indexes], neg_idx, 7);
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, a, 1, out), IVM_ERR_INVALID_ARGUMENT);
  a = tfidf_attrs("TF", 1, 3, 1, 0);
  set_floats(&a[ISA_A_TfIdfVectorizer_weights], tf_w, 3);
  cr_assert_eq(run(ISA_OP_TfIdfVectorizer, 1, in, a, 1, out), IVM_ERR_INVALID_ARGUMENT);
}

/* ==== Dropout ============================================================================ */
#define DN 10000
static float dx[DN];

static int dropout(int dt_ratio, double ratio, int training, int64_t seed, int n_out, rt_tensor *out) {
  for (int i = 0; i < DN; i++) dx[i] = (float)(i % 97) - 48.0f;
  float rf = (float)ratio;
  double rd = ratio;
  uint8_t tm = (uint8_t)training;
  rt_tensor X = T(IVM_DT_F32, 2, D(100, 100), dx);
  rt_tensor R = dt_ratio == IVM_DT_F64 ? T(IVM_DT_F64, 0, NULL, &rd) : T(IVM_DT_F32, 0, NULL, &rf);
  rt_tensor M = T(IVM_DT_BOOL, 0, NULL, &tm);
  const rt_tensor *in[] = {&X, &R, &M};
  isa_attr *a = defaults(ISA_OP_Dropout);
  if (seed >= 0) set_i(&a[ISA_A_Dropout_seed], seed);
  return run(ISA_OP_Dropout, 3, in, a, n_out, out);
}

Test(train_dropout, inference_and_zero_ratio_are_identity) {
  rt_tensor out[2];
  for (int k = 0; k < 2; k++) {
    cr_assert_eq(dropout(IVM_DT_F32, k ? 0.0 : 0.7, k, 1, 2, out), IVM_OK);
    expect_shape(&out[0], 2, D(100, 100));
    expect_f32(&out[0], dx, DN, 0);
    cr_assert_eq(out[1].dtype, IVM_DT_BOOL);
    const uint8_t *m = out[1].data;
    for (int i = 0; i < DN; i++) cr_assert_eq(m[i], 1);
    free_out(out, 2);
  }
}

Test(train_dropout, training_keeps_about_1_minus_ratio) {
  rt_tensor out[2], again[2], other[2];
  cr_assert_eq(dropout(IVM_DT_F64, 0.75, 1, 7, 2, out), IVM_OK);
  const float *y = out[0].data;
  const uint8_t *m = out[1].data;
  int kept = 0;
  for (int i = 0; i < DN; i++) {
    cr_assert_eq(y[i], m[i] ? dx[i] * 4.0f : 0.0f, "element %d", i);
    kept += m[i];
  }
  cr_assert(kept > 2300 && kept < 2700, "kept %d of %d", kept, DN);
  /* same seed, same mask; another seed, another mask */
  cr_assert_eq(dropout(IVM_DT_F64, 0.75, 1, 7, 2, again), IVM_OK);
  cr_assert_eq(memcmp(out[1].data, again[1].data, DN), 0);
  cr_assert_eq(dropout(IVM_DT_F64, 0.75, 1, 8, 2, other), IVM_OK);
  cr_assert_neq(memcmp(out[1].data, other[1].data, DN), 0);
  free_out(out, 2);
  free_out(again, 2);
  free_out(other, 2);
}

Test(train_dropout, default_ratio_half_and_f16) {
  uint16_t x[4] = {0x3c00, 0x4000, 0xbc00, 0x4200}; /* 1, 2, -1, 3 */
  uint8_t tm = 1;
  rt_tensor X = T(IVM_DT_F16, 1, D(4), x), M = T(IVM_DT_BOOL, 0, NULL, &tm);
  const rt_tensor *in[] = {&X, NULL, &M};
  rt_tensor out[2];
  cr_assert_eq(run(ISA_OP_Dropout, 3, in, NULL, 2, out), IVM_OK);
  cr_assert_eq(out[0].dtype, IVM_DT_F16);
  const uint16_t *y = out[0].data;
  const uint8_t *m = out[1].data;
  for (int i = 0; i < 4; i++) {
    float want = m[i] ? 2.0f * isa_f16_to_f32(x[i]) : 0.0f;
    cr_assert_eq(isa_f16_to_f32(y[i]), want, "element %d", i);
  }
  free_out(out, 2);
}

Test(train_dropout, errors) {
  rt_tensor out[2];
  cr_assert_eq(dropout(IVM_DT_F32, 1.0, 1, 0, 1, out), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(dropout(IVM_DT_F32, -0.1, 1, 0, 1, out), IVM_ERR_INVALID_ARGUMENT);
  int64_t xi[2] = {1, 2};
  float r = 0.5f;
  rt_tensor Xi = T(IVM_DT_I64, 1, D(2), xi), Xf = T(IVM_DT_F32, 1, D(2), F(1, 2));
  rt_tensor R = T(IVM_DT_F32, 0, NULL, &r), Mb = T(IVM_DT_F32, 0, NULL, &r);
  const rt_tensor *a[] = {&Xi}, *b[] = {&Xf, &R, &Mb};
  cr_assert_eq(run(ISA_OP_Dropout, 1, a, NULL, 1, out), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(run(ISA_OP_Dropout, 3, b, NULL, 1, out), IVM_ERR_INVALID_ARGUMENT);
}

/* The mask follows numpy's legacy generator: np.random.seed(0);
 * np.random.uniform(0, 1, 5) = [0.5488, 0.7152, 0.6028, 0.5449, 0.4237], so with ratio 0.55
 * the keep mask (u >= ratio) is [0, 1, 1, 0, 0]. Seed 1: [0.4170, 0.7203, 0.0001, 0.3023,
 * 0.1468] -> [0, 1, 0, 0, 0]. */
Test(train_dropout, mask_matches_numpy_legacy_random_stream) {
  float x[5] = {1, 2, 3, 4, 5}, ratio = 0.55f;
  uint8_t tm = 1;
  const uint8_t want0[5] = {0, 1, 1, 0, 0}, want1[5] = {0, 1, 0, 0, 0};
  for (int seed = 0; seed < 2; seed++) {
    rt_tensor X = T(IVM_DT_F32, 1, D(5), x), R = T(IVM_DT_F32, 0, NULL, &ratio),
              M = T(IVM_DT_BOOL, 0, NULL, &tm);
    const rt_tensor *in[] = {&X, &R, &M};
    isa_attr *a = defaults(ISA_OP_Dropout);
    set_i(&a[ISA_A_Dropout_seed], seed);
    rt_tensor out[2];
    cr_assert_eq(run(ISA_OP_Dropout, 3, in, a, 2, out), IVM_OK);
    const uint8_t *m = out[1].data;
    const float *y = out[0].data;
    for (int i = 0; i < 5; i++) {
      cr_assert_eq(m[i], (seed ? want1 : want0)[i], "seed %d element %d", seed, i);
      cr_assert_float_eq(y[i], m[i] ? x[i] / (1.0f - ratio) : 0.0f, 1e-5, "element %d", i);
    }
    free_out(out, 2);
  }
}
