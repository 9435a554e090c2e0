/* Softmax / LogSoftmax, LayerNormalization, BatchNormalization and the Reduce* kernels and
 * their inference rules, run through rt_run_builtin. Expected values come from numpy. */
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

static isa_attr attrs_buf[8];
static isa_attr *defaults(isa_builtin_op op) {
  isa_attrs_init_defaults(isa_builtin_desc(op), attrs_buf);
  return attrs_buf;
}

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
    float err = fabsf(g[i] - want[i]), lim = tol * (1.0f + fabsf(want[i]));
    cr_assert(err <= lim, "element %lld: got %.9g, want %.9g", (long long)i, g[i], want[i]);
  }
}

/* ---- softmax ------------------------------------------------------------------------------ */
static const float sx[] = {1, 2, 3, 4, 5, 7};

static void softmax_case(isa_builtin_op op, int64_t axis, const float *want) {
  isa_attr *at = defaults(op);
  at[ISA_A_Softmax_axis].v.i = axis;
  rt_tensor tx = T(IVM_DT_F32, 2, D(2, 3), sx), out;
  const rt_tensor *in[] = {&tx};
  cr_assert_eq(run(op, 1, in, at, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 2, D(2, 3));
  expect_f32(&out, want, 6, 1e-6f);
  free(out.data);
}

Test(softmax, axes_and_log) {
  const float ax1[] = {0.0900305733f, 0.244728461f, 0.665240943f, 0.0420100652f, 0.114195198f, 0.843794703f};
  const float ax0[] = {0.0474258736f, 0.0474258736f, 0.0179862101f, 0.952574134f, 0.952574134f, 0.982013762f};
  softmax_case(ISA_OP_Softmax, 1, ax1);
  softmax_case(ISA_OP_Softmax, -1, ax1);
  softmax_case(ISA_OP_Softmax, 0, ax0); /* reduction across rows (inner > 1) */
  softmax_case(ISA_OP_LogSoftmax, 1, (float[]){-2.40760589f, -1.40760601f, -0.407605976f, -3.16984606f, -2.16984606f, -0.169846013f});
  softmax_case(ISA_OP_LogSoftmax, -2, (float[]){-3.04858732f, -3.04858732f, -4.01814985f, -0.048587352f, -0.048587352f, -0.0181499273f});
}

Test(softmax, large_numbers_are_stable) {
  float x[] = {10000, 10001, 10002, 10003};
  rt_tensor tx = T(IVM_DT_F32, 2, D(1, 4), x), out;
  const rt_tensor *in[] = {&tx};
  cr_assert_eq(run(ISA_OP_Softmax, 1, in, NULL, 1, &out), 0);
  /* numpy softmax([0,1,2,3]) */
  expect_f32(&out, (float[]){0.0320586041f, 0.0871443227f, 0.236882806f, 0.643914282f}, 4, 1e-6f);
  free(out.data);
}

Test(softmax, f64_f16_and_bad_axis) {
  double x[] = {1, 2, 3, 4, 5, 7};
  rt_tensor tx = T(IVM_DT_F64, 2, D(2, 3), x), out;
  const rt_tensor *in[] = {&tx};
  cr_assert_eq(run(ISA_OP_Softmax, 1, in, NULL, 1, &out), 0);
  cr_assert(fabs(((double *)out.data)[5] - 0.8437947344813395) < 1e-12);
  free(out.data);
  uint16_t h[] = {0x3c00, 0x4000}; /* f16 1, 2 */
  rt_tensor th = T(IVM_DT_F16, 1, D(2), h);
  const rt_tensor *in2[] = {&th};
  cr_assert_eq(run(ISA_OP_Softmax, 1, in2, NULL, 1, &out), 0);
  /* 0.268941421 -> f16 0x344e, 0.731058579 -> f16 0x39d9 (numpy) */
  cr_assert_eq(((uint16_t *)out.data)[0], 0x344e);
  cr_assert_eq(((uint16_t *)out.data)[1], 0x39d9);
  free(out.data);
  isa_attr *at = defaults(ISA_OP_Softmax);
  at[ISA_A_Softmax_axis].v.i = 2;
  cr_assert_eq(run(ISA_OP_Softmax, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  at[ISA_A_Softmax_axis].v.i = -3;
  cr_assert_eq(run(ISA_OP_LogSoftmax, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- layer normalization ------------------------------------------------------------------ */
Test(layernorm, last_axis_with_stats) {
  float x[] = {1, 2, 4, -1, 0, 5}, s[] = {1, 0.5f, 2}, b[] = {0, 1, -1};
  rt_tensor tx = T(IVM_DT_F32, 2, D(2, 3), x), ts = T(IVM_DT_F32, 1, D(3), s),
            tb = T(IVM_DT_F32, 1, D(3), b), out[3];
  const rt_tensor *in[] = {&tx, &ts, &tb};
  cr_assert_eq(run(ISA_OP_LayerNormalization, 3, in, NULL, 3, out), 0);
  expect_shape(&out[0], IVM_DT_F32, 2, D(2, 3));
  expect_shape(&out[1], IVM_DT_F32, 2, D(2, 1));
  expect_shape(&out[2], IVM_DT_F32, 2, D(2, 1));
  expect_f32(&out[0], (float[]){-1.06904149f, 0.866369784f, 1.67260385f, -0.889000237f, 0.745999932f, 1.79400074f}, 6, 1e-5f);
  expect_f32(&out[1], (float[]){2.33333325f, 1.33333337f}, 2, 1e-6f);
  expect_f32(&out[2], (float[]){0.801781178f, 0.381000102f}, 2, 1e-5f);
  for (int i = 0; i < 3; i++) free(out[i].data);
}

Test(layernorm, axis0_no_bias_and_broadcast_scale) {
  float x[] = {1, 2, 3, 5}, s[] = {1, 2, 3, 4};
  rt_tensor tx = T(IVM_DT_F32, 2, D(2, 2), x), ts = T(IVM_DT_F32, 2, D(2, 2), s), out;
  isa_attr *at = defaults(ISA_OP_LayerNormalization);
  at[ISA_A_LayerNormalization_axis].v.i = 0;
  const rt_tensor *in[] = {&tx, &ts};
  cr_assert_eq(run(ISA_OP_LayerNormalization, 2, in, at, 1, &out), 0);
  expect_f32(&out, (float[]){-1.18321323f, -1.01418281f, 0.507091403f, 6.08509684f}, 4, 1e-5f);
  free(out.data);
  /* scale [1] broadcasts over the normalised axes: plain standardisation */
  float one = 1;
  rt_tensor t1 = T(IVM_DT_F32, 1, D(1), &one);
  const rt_tensor *in2[] = {&tx, &t1};
  cr_assert_eq(run(ISA_OP_LayerNormalization, 2, in2, at, 1, &out), 0);
  expect_f32(&out, (float[]){-1.18321323f, -0.507091403f, 0.169030468f, 1.52127421f}, 4, 1e-5f);
  free(out.data);
  /* errors: axis out of range, scale that does not broadcast */
  at[ISA_A_LayerNormalization_axis].v.i = 2;
  cr_assert_eq(run(ISA_OP_LayerNormalization, 2, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  at[ISA_A_LayerNormalization_axis].v.i = -1;
  float s3[] = {1, 2, 3};
  rt_tensor ts3 = T(IVM_DT_F32, 1, D(3), s3);
  const rt_tensor *in3[] = {&tx, &ts3};
  cr_assert_eq(run(ISA_OP_LayerNormalization, 2, in3, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- batch normalization ------------------------------------------------------------------ */
Test(batchnorm, rank4_and_rank2) {
  float x[] = {1, 2, 3, 4, 5, 6, 7, 8}, sc[] = {1, 2}, b[] = {0.5f, -1}, mu[] = {2, 5},
        var[] = {4, 0.25f};
  rt_tensor tx = T(IVM_DT_F32, 4, D(2, 2, 1, 2), x), tsc = T(IVM_DT_F32, 1, D(2), sc),
            tb = T(IVM_DT_F32, 1, D(2), b), tmu = T(IVM_DT_F32, 1, D(2), mu),
            tv = T(IVM_DT_F32, 1, D(2), var), out;
  const rt_tensor *in[] = {&tx, &tsc, &tb, &tmu, &tv};
  cr_assert_eq(run(ISA_OP_BatchNormalization, 5, in, NULL, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 4, D(2, 2, 1, 2));
  float want[] = {6.24998847e-07f, 0.5f, -8.99983978f, -4.99991989f, 1.99999809f, 2.49999762f, 6.99983978f, 10.9997597f};
  const float *g = out.data;
  for (int i = 0; i < 8; i++) cr_assert(fabsf(g[i] - want[i]) < 1e-5f, "element %d: %g", i, g[i]);
  free(out.data);
  rt_tensor tx2 = T(IVM_DT_F32, 2, D(2, 2), x);
  const rt_tensor *in2[] = {&tx2, &tsc, &tb, &tmu, &tv};
  cr_assert_eq(run(ISA_OP_BatchNormalization, 5, in2, NULL, 1, &out), 0);
  float want2[] = {6.24998847e-07f, -12.9997597f, 0.999999404f, -4.99991989f};
  g = out.data;
  for (int i = 0; i < 4; i++) cr_assert(fabsf(g[i] - want2[i]) < 1e-5f, "element %d: %g", i, g[i]);
  free(out.data);
  /* channel count mismatch */
  float three[3] = {1, 1, 1};
  rt_tensor t3 = T(IVM_DT_F32, 1, D(3), three);
  const rt_tensor *in3[] = {&tx, &t3, &tb, &tmu, &tv};
  cr_assert_eq(run(ISA_OP_BatchNormalization, 5, in3, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- reductions --------------------------------------------------------------------------- */
/* R = arange(12).reshape(2,3,2) * 0.5 - 2 */
static const float rx[] = {-2, -1.5f, -1, -0.5f, 0, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f};

static int reduce(isa_builtin_op op, const rt_tensor *x, const int64_t *axes, int n_axes,
                  int keep, int noop, rt_tensor *out) {
  isa_attr *at = defaults(op);
  at[ISA_A_ReduceSum_keepdims].v.i = keep;
  at[ISA_A_ReduceSum_noop_with_empty_axes].v.i = noop;
  rt_tensor ta = T(IVM_DT_I64, 1, D(n_axes), axes);
  const rt_tensor *in[] = {x, n_axes >= 0 ? &ta : NULL};
  return run(op, 2, in, at, 1, out);
}

Test(reduce, sum_mean_max_min_f32) {
  rt_tensor tx = T(IVM_DT_F32, 3, D(2, 3, 2), rx), out;
  cr_assert_eq(reduce(ISA_OP_ReduceSum, &tx, D(1), 1, 1, 0, &out), 0);
  expect_shape(&out, IVM_DT_F32, 3, D(2, 1, 2));
  expect_f32(&out, (float[]){-3, -1.5f, 6, 7.5f}, 4, 0);
  free(out.data);
  cr_assert_eq(reduce(ISA_OP_ReduceMean, &tx, D(0, 2), 2, 0, 0, &out), 0);
  expect_shape(&out, IVM_DT_F32, 1, D(3));
  expect_f32(&out, (float[]){-0.25f, 0.75f, 1.75f}, 3, 1e-7f);
  free(out.data);
  cr_assert_eq(reduce(ISA_OP_ReduceMax, &tx, NULL, -1, 1, 0, &out), 0); /* no axes: all */
  expect_shape(&out, IVM_DT_F32, 3, D(1, 1, 1));
  expect_f32(&out, (float[]){3.5f}, 1, 0);
  free(out.data);
  cr_assert_eq(reduce(ISA_OP_ReduceMin, &tx, D(-1), 1, 0, 0, &out), 0);
  expect_shape(&out, IVM_DT_F32, 2, D(2, 3));
  expect_f32(&out, (float[]){-2, -1, 0, 1, 2, 3}, 6, 0);
  free(out.data);
  /* empty axes: all axes, or Y = X with noop_with_empty_axes */
  cr_assert_eq(reduce(ISA_OP_ReduceSum, &tx, D(0), 0, 0, 0, &out), 0);
  expect_shape(&out, IVM_DT_F32, 0, NULL);
  expect_f32(&out, (float[]){9}, 1, 0);
  free(out.data);
  cr_assert_eq(reduce(ISA_OP_ReduceSum, &tx, D(0), 0, 1, 1, &out), 0);
  expect_shape(&out, IVM_DT_F32, 3, D(2, 3, 2));
  expect_f32(&out, rx, 12, 0);
  free(out.data);
}

Test(reduce, long_rows_and_ints) {
  /* 1000 ones summed along the last axis exercises the 8-lane accumulators + tail */
  static float ones[3 * 1001];
  for (int i = 0; i < 3 * 1001; i++) ones[i] = (float)(i % 1001);
  rt_tensor tx = T(IVM_DT_F32, 2, D(3, 1001), ones), out;
  cr_assert_eq(reduce(ISA_OP_ReduceSum, &tx, D(1), 1, 0, 0, &out), 0);
  expect_f32(&out, (float[]){500500, 500500, 500500}, 3, 0);
  free(out.data);
  cr_assert_eq(reduce(ISA_OP_ReduceMax, &tx, D(1), 1, 0, 0, &out), 0);
  expect_f32(&out, (float[]){1000, 1000, 1000}, 3, 0);
  free(out.data);
  int32_t xi[] = {5, -3, 7, 2, 9, -8};
  rt_tensor ti = T(IVM_DT_I32, 2, D(2, 3), xi);
  cr_assert_eq(reduce(ISA_OP_ReduceMax, &ti, D(0), 1, 0, 0, &out), 0);
  cr_assert_eq(((int32_t *)out.data)[0], 5);
  cr_assert_eq(((int32_t *)out.data)[1], 9);
  cr_assert_eq(((int32_t *)out.data)[2], 7);
  free(out.data);
  cr_assert_eq(reduce(ISA_OP_ReduceMin, &ti, NULL, -1, 0, 0, &out), 0);
  cr_assert_eq(((int32_t *)out.data)[0], -8);
  free(out.data);
  /* integer mean truncates like numpy's mean(...).astype(int32): [3, 1] -> [3, 1] */
  cr_assert_eq(reduce(ISA_OP_ReduceMean, &ti, D(1), 1, 1, 0, &out), 0);
  expect_shape(&out, IVM_DT_I32, 2, D(2, 1));
  cr_assert_eq(((int32_t *)out.data)[0], 3);
  cr_assert_eq(((int32_t *)out.data)[1], 1);
  free(out.data);
  uint8_t u[256];
  for (int i = 0; i < 256; i++) u[i] = 200;
  rt_tensor tu = T(IVM_DT_U8, 1, D(256), u);
  cr_assert_eq(reduce(ISA_OP_ReduceMean, &tu, NULL, -1, 0, 0, &out), 0);
  cr_assert_eq(((uint8_t *)out.data)[0], 200);
  free(out.data);
}

Test(reduce, f16_and_errors) {
  uint16_t h[] = {0x3c00, 0x4000, 0x4200, 0x4400}; /* 1 2 3 4 */
  rt_tensor th = T(IVM_DT_F16, 2, D(2, 2), h), out;
  cr_assert_eq(reduce(ISA_OP_ReduceSum, &th, D(1), 1, 0, 0, &out), 0);
  cr_assert_eq(((uint16_t *)out.data)[0], 0x4200); /* 3 */
  cr_assert_eq(((uint16_t *)out.data)[1], 0x4700); /* 7 */
  free(out.data);
  rt_tensor tx = T(IVM_DT_F32, 3, D(2, 3, 2), rx);
  cr_assert_eq(reduce(ISA_OP_ReduceSum, &tx, D(3), 1, 1, 0, &out), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(reduce(ISA_OP_ReduceSum, &tx, D(1, -2), 2, 1, 0, &out), IVM_ERR_INVALID_ARGUMENT);
  int32_t bad[] = {0};
  rt_tensor tb = T(IVM_DT_I32, 1, D(1), bad);
  const rt_tensor *in[] = {&tx, &tb};
  cr_assert_eq(run(ISA_OP_ReduceMean, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

static isa_type ty(int dt, int rank, const int64_t *dims) {
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (int8_t)rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}

Test(reduce, infer_unknown_axes) {
  isa_type in[2] = {ty(IVM_DT_F32, 3, D(ISA_DIM_SYM(0), 1, 4)), ty(IVM_DT_I64, 1, D(2))}, out[1];
  const void *data[2] = {NULL, NULL};
  isa_attr *at = defaults(ISA_OP_ReduceSum);
  isa_infer_ctx ctx = {2, in, data, at, 1, out};
  cr_assert_null(isa_infer_reduce(&ctx)); /* keepdims=1: rank known, dims unknown */
  cr_assert_eq(out[0].rank, 3);
  cr_assert_eq(out[0].dims[0], ISA_DIM_ANY);
  cr_assert_eq(out[0].dims[1], 1);
  cr_assert_eq(out[0].dims[2], ISA_DIM_ANY);
  at[ISA_A_ReduceSum_keepdims].v.i = 0; /* two axes of rank 3 leave rank 1 */
  cr_assert_null(isa_infer_reduce(&ctx));
  cr_assert_eq(out[0].rank, 1);
  in[1] = ty(IVM_DT_I64, 1, D(ISA_DIM_ANY));
  cr_assert_null(isa_infer_reduce(&ctx));
  cr_assert_eq(out[0].rank, -1);
  const int64_t axes[] = {-1};
  in[1] = ty(IVM_DT_I64, 1, D(1));
  data[1] = axes;
  cr_assert_null(isa_infer_reduce(&ctx));
  cr_assert_eq(out[0].rank, 2);
  cr_assert_eq(out[0].dims[0], ISA_DIM_SYM(0));
  cr_assert_eq(out[0].dims[1], 1);
}
