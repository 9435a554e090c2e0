/* The index op family (isa/ops_index.def) run through rt_run_builtin (inference, then the
 * kernel), plus direct inference calls with unknown values. Expected values are hand-worked
 * or were printed by numpy (np.take_along_axis, fancy indexing, np.argsort(kind='stable'),
 * np.argmax, np.cumsum, np.triu/np.tril, np.eye, np.nonzero, np.compress, np.unique with
 * return_index/return_inverse/return_counts); NMS cases are the ONNX backend examples. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "tests/unit/kernel_test_util.h"

/* ---- helpers ------------------------------------------------------------------------ */
#define F(...) ((const float[]){__VA_ARGS__})
#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define NARG(...) (sizeof((const double[]){__VA_ARGS__}) / sizeof(double))











static void i32_is(const rt_tensor *t, const int32_t *want, size_t n) {
  cr_assert_eq(rt_numel(t), (int64_t)n);
  const int32_t *g = t->data;
  for (size_t i = 0; i < n; i++) cr_assert_eq(g[i], want[i], "[%zu] = %d, expected %d", i, g[i], want[i]);
}

static float *iota_f32(int64_t n) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = (float)i;
  return p;
}

static void free_outs(rt_tensor *o, int n) {
  for (int i = 0; i < n; i++) free(o[i].data);
}

static ivm_status infer(isa_builtin_op op, uint32_t n_in, const isa_type *in,
                        const void *const *data, const isa_attr *attrs, uint32_t n_out,
                        isa_type *out) {
  isa_attr def[16];
  if (!attrs) attrs = defaults(op, def);
  const void *none[8] = {0};
  isa_infer_ctx ctx = {n_in, in, data ? data : none, attrs, n_out, out};
  return isa_builtin_desc(op)->infer(&ctx);
}

static isa_type ty(int dt, int rank, const int64_t *dims) {
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (int8_t)rank;
  for (int k = 0; k < rank && k < ISA_MAX_RANK; k++) t.dims[k] = dims[k];
  return t;
}

/* ---- GatherElements ------------------------------------------------------------------- */

Test(gather_elements, axis0_and_axis1_with_negative_indices) {
  float *xd = iota_f32(12);
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 4), xd), out;
  const int64_t i0[] = {2, -1, 0, 1, 0, 0, 2, 2};
  rt_tensor idx = mk(IVM_DT_I64, 2, D(2, 4), i0);
  const rt_tensor *in[] = {&x, &idx};
  ok(run(ISA_OP_GatherElements, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(2, 4));
  f32_is(&out, F(8, 9, 2, 7, 0, 1, 10, 11), 8);
  free(out.data);

  const int32_t i1[] = {3, -4, 0, 1, -1, 2};
  idx = mk(IVM_DT_I32, 2, D(3, 2), i1);
  isa_attr a[2];
  defaults(ISA_OP_GatherElements, a);
  set_int(&a[ISA_A_GatherElements_axis], 1);
  ok(run(ISA_OP_GatherElements, 2, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 2));
  f32_is(&out, F(3, 0, 4, 5, 11, 10), 6);
  free(out.data);
  free(xd);
}

Test(gather_elements, errors) {
  float *xd = iota_f32(12);
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 4), xd), out;
  rt_tensor idx = mk(IVM_DT_I64, 2, D(1, 1), I64(3));
  const rt_tensor *in[] = {&x, &idx};
  fails(run(ISA_OP_GatherElements, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  idx = mk(IVM_DT_I64, 2, D(1, 1), I64(-4));
  fails(run(ISA_OP_GatherElements, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  /* rank mismatch, indices wider than the data off the axis, float indices */
  idx = mk(IVM_DT_I64, 1, D(1), I64(0));
  fails(run(ISA_OP_GatherElements, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  int64_t z[10] = {0};
  idx = mk(IVM_DT_I64, 2, D(1, 5), z);
  fails(run(ISA_OP_GatherElements, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  idx = mk(IVM_DT_F32, 2, D(1, 1), F(0));
  fails(run(ISA_OP_GatherElements, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  free(xd);
}

/* ---- GatherND ----------------------------------------------------------------------- */

Test(gather_nd, tuples_and_batch_dims) {
  float *xd = iota_f32(24);
  rt_tensor x = mk(IVM_DT_F32, 3, D(2, 3, 4), xd), out;
  rt_tensor idx = mk(IVM_DT_I64, 2, D(2, 2), I64(0, 1, 1, -1));
  const rt_tensor *in[] = {&x, &idx};
  ok(run(ISA_OP_GatherND, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(2, 4));
  f32_is(&out, F(4, 5, 6, 7, 20, 21, 22, 23), 8);
  free(out.data);

  /* a full tuple gives scalars */
  idx = mk(IVM_DT_I64, 2, D(2, 3), I64(1, 2, 3, 0, 0, 1));
  ok(run(ISA_OP_GatherND, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 1, D(2));
  f32_is(&out, F(23, 1), 2);
  free(out.data);

  isa_attr a[1];
  defaults(ISA_OP_GatherND, a);
  set_int(&a[ISA_A_GatherND_batch_dims], 1);
  idx = mk(IVM_DT_I64, 3, D(2, 2, 1), I64(1, 0, 2, 2));
  ok(run(ISA_OP_GatherND, 2, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(2, 2, 4));
  f32_is(&out, F(4, 5, 6, 7, 0, 1, 2, 3, 20, 21, 22, 23, 20, 21, 22, 23), 16);
  free(out.data);

  /* out of range; tuple too long; batch dims differ */
  idx = mk(IVM_DT_I64, 3, D(2, 2, 1), I64(1, 0, 3, 2));
  fails(run(ISA_OP_GatherND, 2, in, a, 1, &out), IVM_ERR_RUNTIME);
  idx = mk(IVM_DT_I64, 2, D(1, 2), I64(2, 0));
  fails(run(ISA_OP_GatherND, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  int64_t z[8] = {0};
  idx = mk(IVM_DT_I64, 2, D(1, 4), z);
  fails(run(ISA_OP_GatherND, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  idx = mk(IVM_DT_I64, 2, D(3, 1), z);
  fails(run(ISA_OP_GatherND, 2, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  free(xd);
}

/* ---- ScatterND ------------------------------------------------------------------------ */

Test(scatter_nd, none_add_mul) {
  float *xd = iota_f32(8);
  rt_tensor x = mk(IVM_DT_F32, 1, D(8), xd), out;
  rt_tensor idx = mk(IVM_DT_I64, 2, D(4, 1), I64(4, 3, 1, 7));
  rt_tensor upd = mk(IVM_DT_F32, 1, D(4), F(9, 10, 11, 12));
  const rt_tensor *in[] = {&x, &idx, &upd};
  ok(run(ISA_OP_ScatterND, 3, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 1, D(8));
  f32_is(&out, F(0, 11, 2, 10, 9, 5, 6, 12), 8);
  free(out.data);

  isa_attr a[1];
  defaults(ISA_OP_ScatterND, a);
  set_str(&a[ISA_A_ScatterND_reduction], "add");
  idx = mk(IVM_DT_I64, 2, D(3, 1), I64(1, -7, 6));
  upd = mk(IVM_DT_F32, 1, D(3), F(5, 6, -1));
  ok(run(ISA_OP_ScatterND, 3, in, a, 1, &out));
  f32_is(&out, F(0, 12, 2, 3, 4, 5, 5, 7), 8);
  free(out.data);
  set_str(&a[ISA_A_ScatterND_reduction], "mul");
  ok(run(ISA_OP_ScatterND, 3, in, a, 1, &out));
  f32_is(&out, F(0, 30, 2, 3, 4, 5, -6, 7), 8);
  free(out.data);

  set_str(&a[ISA_A_ScatterND_reduction], "sum");
  fails(run(ISA_OP_ScatterND, 3, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  idx = mk(IVM_DT_I64, 2, D(3, 1), I64(1, 8, 6));
  fails(run(ISA_OP_ScatterND, 3, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  /* updates of the wrong shape */
  upd = mk(IVM_DT_F32, 1, D(2), F(5, 6));
  fails(run(ISA_OP_ScatterND, 3, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  free(xd);
}

Test(scatter_nd, row_slices_int32) {
  int32_t xd[12];
  for (int i = 0; i < 12; i++) xd[i] = i;
  const int32_t ud[] = {-1, -2, -3, -4, 7, 7, 7, 7};
  rt_tensor x = mk(IVM_DT_I32, 2, D(3, 4), xd), out;
  rt_tensor idx = mk(IVM_DT_I32, 2, D(2, 1), ((const int32_t[]){2, 0}));
  rt_tensor upd = mk(IVM_DT_I32, 2, D(2, 4), ud);
  const rt_tensor *in[] = {&x, &idx, &upd};
  ok(run(ISA_OP_ScatterND, 3, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I32, 2, D(3, 4));
  i32_is(&out, ((const int32_t[]){7, 7, 7, 7, 4, 5, 6, 7, -1, -2, -3, -4}), 12);
  free(out.data);
}

/* ---- ScatterElements ------------------------------------------------------------------ */

Test(scatter_elements, onnx_example_and_reductions) {
  float zd[9] = {0};
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 3), zd), out;
  rt_tensor idx = mk(IVM_DT_I64, 2, D(2, 3), I64(1, 0, 2, 0, 2, 1));
  rt_tensor upd = mk(IVM_DT_F32, 2, D(2, 3), F(1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f));
  const rt_tensor *in[] = {&x, &idx, &upd};
  ok(run(ISA_OP_ScatterElements, 3, in, NULL, 1, &out));
  f32_is(&out, F(2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f), 9);
  free(out.data);

  float *xd = iota_f32(10);
  x = mk(IVM_DT_F32, 2, D(2, 5), xd);
  idx = mk(IVM_DT_I64, 2, D(2, 3), I64(1, -1, 1, 0, 0, 4));
  upd = mk(IVM_DT_F32, 2, D(2, 3), F(10, 20, 30, 1, 2, 3));
  isa_attr a[2];
  defaults(ISA_OP_ScatterElements, a);
  set_int(&a[ISA_A_ScatterElements_axis], -1);
  static const char *const reds[] = {"add", "mul", "max", "min"};
  static const float want[4][10] = {{0, 41, 2, 3, 24, 8, 6, 7, 8, 12},
                                    {0, 300, 2, 3, 80, 10, 6, 7, 8, 27},
                                    {0, 30, 2, 3, 20, 5, 6, 7, 8, 9},
                                    {0, 1, 2, 3, 4, 1, 6, 7, 8, 3}};
  for (int r = 0; r < 4; r++) {
    set_str(&a[ISA_A_ScatterElements_reduction], reds[r]);
    ok(run(ISA_OP_ScatterElements, 3, in, a, 1, &out));
    shape_is(&out, IVM_DT_F32, 2, D(2, 5));
    f32_is(&out, want[r], 10);
    free(out.data);
  }
  idx = mk(IVM_DT_I64, 2, D(2, 3), I64(1, -6, 1, 0, 0, 4));
  fails(run(ISA_OP_ScatterElements, 3, in, a, 1, &out), IVM_ERR_RUNTIME);
  idx = mk(IVM_DT_I64, 2, D(2, 3), I64(1, 5, 1, 0, 0, 4));
  fails(run(ISA_OP_ScatterElements, 3, in, a, 1, &out), IVM_ERR_RUNTIME);
  /* updates shape differs from the indices' */
  upd = mk(IVM_DT_F32, 2, D(3, 2), F(10, 20, 30, 1, 2, 3));
  fails(run(ISA_OP_ScatterElements, 3, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  free(xd);
}

/* ---- OneHot ---------------------------------------------------------------------- */

Test(onehot, negative_and_out_of_range_indices) {
  rt_tensor idx = mk(IVM_DT_I64, 1, D(4), I64(0, -1, 2, 5)), out;
  rt_tensor depth = mk(IVM_DT_F32, 0, NULL, F(3.0f));
  rt_tensor vals = mk(IVM_DT_F32, 1, D(2), F(2, 7));
  const rt_tensor *in[] = {&idx, &depth, &vals};
  ok(run(ISA_OP_OneHot, 3, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(4, 3));
  f32_is(&out, F(7, 2, 2, 2, 2, 7, 2, 2, 7, 2, 2, 2), 12);
  free(out.data);

  isa_attr a[1];
  defaults(ISA_OP_OneHot, a);
  set_int(&a[ISA_A_OneHot_axis], 0);
  ok(run(ISA_OP_OneHot, 3, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 4));
  f32_is(&out, F(7, 2, 2, 2, 2, 2, 2, 2, 2, 7, 7, 2), 12);
  free(out.data);

  /* float indices truncate; i32 values give an i32 output */
  rt_tensor fidx = mk(IVM_DT_F32, 1, D(2), F(1.7f, -0.5f));
  rt_tensor ivals = mk(IVM_DT_I32, 1, D(2), ((const int32_t[]){0, 1}));
  const rt_tensor *in2[] = {&fidx, &depth, &ivals};
  ok(run(ISA_OP_OneHot, 3, in2, NULL, 1, &out));
  shape_is(&out, IVM_DT_I32, 2, D(2, 3));
  i32_is(&out, ((const int32_t[]){0, 1, 0, 1, 0, 0}), 6);
  free(out.data);

  rt_tensor neg = mk(IVM_DT_I64, 0, NULL, I64(-2));
  in[1] = &neg;
  fails(run(ISA_OP_OneHot, 3, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(onehot, unknown_depth_gives_any) {
  isa_type in[3] = {ty(IVM_DT_I64, 2, D(2, 5)), ty(IVM_DT_I64, 1, D(1)), ty(IVM_DT_F32, 1, D(2))};
  isa_type out[1];
  ok(infer(ISA_OP_OneHot, 3, in, NULL, NULL, 1, out));
  cr_assert_eq(out[0].rank, 3);
  cr_assert_eq(out[0].dims[0], 2);
  cr_assert_eq(out[0].dims[1], 5);
  cr_assert_eq(out[0].dims[2], ISA_DIM_ANY);
}

/* ---- TopK ------------------------------------------------------------------------- */

Test(topk, largest_smallest_ties_keep_lower_index) {
  rt_tensor x = mk(IVM_DT_F32, 2, D(2, 4), F(1, 3, 3, 2, 5, 4, 4, 6)), out[2];
  rt_tensor k = mk(IVM_DT_I64, 1, D(1), I64(2));
  const rt_tensor *in[] = {&x, &k};
  ok(run(ISA_OP_TopK, 2, in, NULL, 2, out));
  shape_is(&out[0], IVM_DT_F32, 2, D(2, 2));
  shape_is(&out[1], IVM_DT_I64, 2, D(2, 2));
  f32_is(&out[0], F(3, 3, 6, 5), 4);
  i64_is(&out[1], I64(1, 2, 3, 0), 4);
  free_outs(out, 2);

  isa_attr a[3];
  defaults(ISA_OP_TopK, a);
  set_int(&a[ISA_A_TopK_largest], 0);
  ok(run(ISA_OP_TopK, 2, in, a, 2, out));
  f32_is(&out[0], F(1, 2, 4, 4), 4);
  i64_is(&out[1], I64(0, 3, 1, 2), 4);
  free_outs(out, 2);

  defaults(ISA_OP_TopK, a);
  set_int(&a[ISA_A_TopK_axis], 0);
  k = mk(IVM_DT_I64, 1, D(1), I64(1));
  ok(run(ISA_OP_TopK, 2, in, a, 2, out));
  shape_is(&out[0], IVM_DT_F32, 2, D(1, 4));
  f32_is(&out[0], F(5, 4, 4, 6), 4);
  i64_is(&out[1], I64(1, 1, 1, 1), 4);
  free_outs(out, 2);

  /* k = 0 is empty; i64 data; k too large */
  k = mk(IVM_DT_I64, 1, D(1), I64(0));
  ok(run(ISA_OP_TopK, 2, in, NULL, 2, out));
  shape_is(&out[0], IVM_DT_F32, 2, D(2, 0));
  free_outs(out, 2);
  rt_tensor xi = mk(IVM_DT_I64, 1, D(5), I64(INT64_MAX, -3, INT64_MAX - 1, 9, INT64_MIN));
  k = mk(IVM_DT_I64, 1, D(1), I64(3));
  const rt_tensor *in2[] = {&xi, &k};
  ok(run(ISA_OP_TopK, 2, in2, NULL, 2, out));
  i64_is(&out[0], I64(INT64_MAX, INT64_MAX - 1, 9), 3);
  i64_is(&out[1], I64(0, 2, 3), 3);
  free_outs(out, 2);
  k = mk(IVM_DT_I64, 1, D(1), I64(5));
  in[1] = &k;
  fails(run(ISA_OP_TopK, 2, in, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT);
}

Test(topk, unknown_k_gives_any) {
  isa_type in[2] = {ty(IVM_DT_F32, 2, D(3, 7)), ty(IVM_DT_I64, 1, D(1))}, out[2];
  ok(infer(ISA_OP_TopK, 2, in, NULL, NULL, 2, out));
  cr_assert_eq(out[0].rank, 2);
  cr_assert_eq(out[0].dims[0], 3);
  cr_assert_eq(out[0].dims[1], ISA_DIM_ANY);
  cr_assert_eq(out[1].dtype, IVM_DT_I64);
  cr_assert_eq(out[1].dims[1], ISA_DIM_ANY);
  const int64_t kv[] = {4};
  const void *data[2] = {NULL, kv};
  ok(infer(ISA_OP_TopK, 2, in, data, NULL, 2, out));
  cr_assert_eq(out[0].dims[1], 4);
}

/* ---- ArgMax / ArgMin ------------------------------------------------------------------- */

Test(arg, max_min_keepdims_select_last) {
  const int32_t xd[] = {1, 5, 5, 7, 2, 7};
  rt_tensor x = mk(IVM_DT_I32, 2, D(2, 3), xd), out;
  const rt_tensor *in[] = {&x};
  isa_attr a[3];
  defaults(ISA_OP_ArgMax, a);
  set_int(&a[ISA_A_ArgMax_axis], 1);
  ok(run(ISA_OP_ArgMax, 1, in, a, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(2, 1));
  i64_is(&out, I64(1, 0), 2);
  free(out.data);
  set_int(&a[ISA_A_ArgMax_select_last_index], 1);
  set_int(&a[ISA_A_ArgMax_keepdims], 0);
  ok(run(ISA_OP_ArgMax, 1, in, a, 1, &out));
  shape_is(&out, IVM_DT_I64, 1, D(2));
  i64_is(&out, I64(2, 2), 2);
  free(out.data);
  ok(run(ISA_OP_ArgMin, 1, in, a, 1, &out));
  i64_is(&out, I64(0, 1), 2);
  free(out.data);

  defaults(ISA_OP_ArgMax, a);
  ok(run(ISA_OP_ArgMax, 1, in, a, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(1, 3));
  i64_is(&out, I64(1, 0, 1), 3);
  free(out.data);
  set_int(&a[ISA_A_ArgMin_select_last_index], 1);
  ok(run(ISA_OP_ArgMin, 1, in, a, 1, &out));
  i64_is(&out, I64(0, 1, 0), 3);
  free(out.data);

  set_int(&a[ISA_A_ArgMax_axis], 2);
  fails(run(ISA_OP_ArgMax, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- CumSum ---------------------------------------------------------------------- */

Test(cumsum, exclusive_reverse_and_axes) {
  const double xd[] = {1, 2, 3, 4, 5};
  rt_tensor x = mk(IVM_DT_F64, 1, D(5), xd), out;
  rt_tensor ax = mk(IVM_DT_I32, 0, NULL, ((const int32_t[]){0}));
  const rt_tensor *in[] = {&x, &ax};
  static const double want[4][5] = {
      {1, 3, 6, 10, 15}, {0, 1, 3, 6, 10}, {15, 14, 12, 9, 5}, {14, 12, 9, 5, 0}};
  isa_attr a[2];
  for (int m = 0; m < 4; m++) {
    defaults(ISA_OP_CumSum, a);
    set_int(&a[ISA_A_CumSum_exclusive], m & 1);
    set_int(&a[ISA_A_CumSum_reverse], m >> 1);
    ok(run(ISA_OP_CumSum, 2, in, a, 1, &out));
    shape_is(&out, IVM_DT_F64, 1, D(5));
    for (int i = 0; i < 5; i++) cr_assert_eq(((double *)out.data)[i], want[m][i], "mode %d [%d]", m, i);
    free(out.data);
  }

  const int32_t yd[] = {1, 2, 3, 4, 5, 6};
  rt_tensor y = mk(IVM_DT_I32, 2, D(2, 3), yd);
  const rt_tensor *in2[] = {&y, &ax};
  ok(run(ISA_OP_CumSum, 2, in2, NULL, 1, &out));
  i32_is(&out, ((const int32_t[]){1, 2, 3, 5, 7, 9}), 6);
  free(out.data);
  rt_tensor axm = mk(IVM_DT_I64, 1, D(1), I64(-1));
  in2[1] = &axm;
  ok(run(ISA_OP_CumSum, 2, in2, NULL, 1, &out));
  i32_is(&out, ((const int32_t[]){1, 3, 6, 4, 9, 15}), 6);
  free(out.data);
  rt_tensor bad = mk(IVM_DT_I64, 1, D(1), I64(2));
  in2[1] = &bad;
  fails(run(ISA_OP_CumSum, 2, in2, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Trilu / EyeLike ------------------------------------------------------------------- */

Test(trilu, upper_lower_k) {
  int64_t xd[24];
  for (int i = 0; i < 24; i++) xd[i] = i;
  rt_tensor x = mk(IVM_DT_I64, 2, D(3, 4), xd), out;
  rt_tensor k1 = mk(IVM_DT_I64, 0, NULL, I64(1)), km1 = mk(IVM_DT_I64, 1, D(1), I64(-1));
  const rt_tensor *in[] = {&x, &k1};
  ok(run(ISA_OP_Trilu, 2, in, NULL, 1, &out));
  i64_is(&out, I64(0, 1, 2, 3, 0, 0, 6, 7, 0, 0, 0, 11), 12);
  free(out.data);
  isa_attr a[1];
  defaults(ISA_OP_Trilu, a);
  set_int(&a[ISA_A_Trilu_upper], 0);
  in[1] = &km1;
  ok(run(ISA_OP_Trilu, 2, in, a, 1, &out));
  i64_is(&out, I64(0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0), 12);
  free(out.data);
  /* no k: main diagonal; batched */
  rt_tensor x3 = mk(IVM_DT_I64, 3, D(2, 3, 4), xd);
  const rt_tensor *in1[] = {&x3};
  ok(run(ISA_OP_Trilu, 1, in1, a, 1, &out));
  shape_is(&out, IVM_DT_I64, 3, D(2, 3, 4));
  i64_is(&out, I64(0, 0, 0, 0, 4, 5, 0, 0, 8, 9, 10, 0, 12, 0, 0, 0, 16, 17, 0, 0, 20, 21, 22, 0), 24);
  free(out.data);
  rt_tensor k_huge = mk(IVM_DT_I64, 0, NULL, I64(INT64_MIN));
  in[1] = &k_huge;
  ok(run(ISA_OP_Trilu, 2, in, NULL, 1, &out)); /* upper with k = -inf keeps everything */
  i64_is(&out, xd, 12);
  free(out.data);
  rt_tensor v = mk(IVM_DT_I64, 1, D(4), xd);
  in1[0] = &v;
  fails(run(ISA_OP_Trilu, 1, in1, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(eyelike, dtype_and_k) {
  float zd[12] = {0};
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 4), zd), out;
  const rt_tensor *in[] = {&x};
  isa_attr a[2];
  defaults(ISA_OP_EyeLike, a);
  set_int(&a[ISA_A_EyeLike_dtype], IVM_DT_I32);
  set_int(&a[ISA_A_EyeLike_k], 1);
  ok(run(ISA_OP_EyeLike, 1, in, a, 1, &out));
  shape_is(&out, IVM_DT_I32, 2, D(3, 4));
  i32_is(&out, ((const int32_t[]){0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}), 12);
  free(out.data);
  defaults(ISA_OP_EyeLike, a);
  set_int(&a[ISA_A_EyeLike_k], -2);
  ok(run(ISA_OP_EyeLike, 1, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 4));
  f32_is(&out, F(0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), 12);
  free(out.data);
  set_int(&a[ISA_A_EyeLike_k], INT64_MAX);
  ok(run(ISA_OP_EyeLike, 1, in, a, 1, &out));
  f32_is(&out, zd, 12);
  free(out.data);
  set_int(&a[ISA_A_EyeLike_dtype], 99);
  fails(run(ISA_OP_EyeLike, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- NonZero / Compress ------------------------------------------------------------- */

Test(nonzero, ints_and_floats) {
  rt_tensor x = mk(IVM_DT_I64, 2, D(2, 2), I64(1, 0, 0, 3)), out;
  const rt_tensor *in[] = {&x};
  ok(run(ISA_OP_NonZero, 1, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(2, 2));
  i64_is(&out, I64(0, 1, 0, 1), 4);
  free(out.data);
  rt_tensor f = mk(IVM_DT_F32, 1, D(4), F(0.0f, -0.0f, NAN, 2.0f));
  in[0] = &f;
  ok(run(ISA_OP_NonZero, 1, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(1, 2));
  i64_is(&out, I64(2, 3), 2);
  free(out.data);
  const uint8_t bd[] = {0, 0, 0, 0, 0, 0};
  rt_tensor b = mk(IVM_DT_BOOL, 3, D(1, 2, 3), bd);
  in[0] = &b;
  ok(run(ISA_OP_NonZero, 1, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(3, 0));
  free(out.data);

  isa_type t[1] = {ty(IVM_DT_F32, 3, D(2, 3, 4))}, o[1];
  ok(infer(ISA_OP_NonZero, 1, t, NULL, NULL, 1, o));
  cr_assert_eq(o[0].rank, 2);
  cr_assert_eq(o[0].dims[0], 3);
  cr_assert_eq(o[0].dims[1], ISA_DIM_ANY);
}

Test(compress, axes_and_short_condition) {
  float *xd = iota_f32(6);
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 2), xd), out;
  const uint8_t c0[] = {0, 1, 1};
  rt_tensor cond = mk(IVM_DT_BOOL, 1, D(3), c0);
  const rt_tensor *in[] = {&x, &cond};
  isa_attr a[1];
  defaults(ISA_OP_Compress, a);
  ok(run(ISA_OP_Compress, 2, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(2, 2));
  f32_is(&out, F(2, 3, 4, 5), 4);
  free(out.data);
  const uint8_t c1[] = {1};
  cond = mk(IVM_DT_BOOL, 1, D(1), c1);
  set_int(&a[ISA_A_Compress_axis], -1);
  ok(run(ISA_OP_Compress, 2, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 1));
  f32_is(&out, F(0, 2, 4), 3);
  free(out.data);
  cond = mk(IVM_DT_BOOL, 1, D(3), c0);
  fails(run(ISA_OP_Compress, 2, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);

  isa_type t[2] = {ty(IVM_DT_F32, 2, D(3, 2)), ty(IVM_DT_BOOL, 1, D(2))}, o[1];
  ok(infer(ISA_OP_Compress, 2, t, NULL, a, 1, o));
  cr_assert_eq(o[0].dims[0], 3);
  cr_assert_eq(o[0].dims[1], ISA_DIM_ANY);
  free(xd);
}

/* ---- Unique ------------------------------------------------------------------------ */

Test(unique, sorted_and_first_occurrence) {
  rt_tensor x = mk(IVM_DT_F32, 1, D(6), F(2, 1, 1, 3, 4, 3)), out[4];
  const rt_tensor *in[] = {&x};
  isa_attr a[2];
  defaults(ISA_OP_Unique, a);
  ok(run(ISA_OP_Unique, 1, in, a, 4, out));
  shape_is(&out[0], IVM_DT_F32, 1, D(4));
  f32_is(&out[0], F(1, 2, 3, 4), 4);
  i64_is(&out[1], I64(1, 0, 3, 4), 4);
  i64_is(&out[2], I64(1, 0, 0, 2, 3, 2), 6);
  i64_is(&out[3], I64(2, 1, 2, 1), 4);
  free_outs(out, 4);
  set_int(&a[ISA_A_Unique_sorted], 0);
  ok(run(ISA_OP_Unique, 1, in, a, 4, out));
  f32_is(&out[0], F(2, 1, 3, 4), 4);
  i64_is(&out[1], I64(0, 1, 3, 4), 4);
  i64_is(&out[2], I64(0, 1, 1, 2, 3, 2), 6);
  i64_is(&out[3], I64(1, 2, 2, 1), 4);
  free_outs(out, 4);
}

Test(unique, along_an_axis) {
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 3), F(1, 0, 0, 1, 0, 0, 2, 3, 4)), out[4];
  const rt_tensor *in[] = {&x};
  isa_attr a[2];
  defaults(ISA_OP_Unique, a);
  ok(run(ISA_OP_Unique, 1, in, a, 4, out));
  shape_is(&out[0], IVM_DT_F32, 2, D(2, 3));
  f32_is(&out[0], F(1, 0, 0, 2, 3, 4), 6);
  i64_is(&out[1], I64(0, 2), 2);
  i64_is(&out[2], I64(0, 0, 1), 3);
  i64_is(&out[3], I64(2, 1), 2);
  free_outs(out, 4);

  rt_tensor xi = mk(IVM_DT_I64, 2, D(2, 4), I64(3, 1, 3, 0, 2, 5, 2, 0));
  in[0] = &xi;
  set_int(&a[ISA_A_Unique_axis], 1);
  ok(run(ISA_OP_Unique, 1, in, a, 2, out)); /* only Y and indices requested */
  shape_is(&out[0], IVM_DT_I64, 2, D(2, 3));
  i64_is(&out[0], I64(0, 1, 3, 0, 5, 2), 6);
  i64_is(&out[1], I64(3, 1, 0), 3);
  free_outs(out, 2);

  isa_type t[1] = {ty(IVM_DT_F32, 2, D(3, 3))}, o[4];
  ok(infer(ISA_OP_Unique, 1, t, NULL, a, 4, o));
  cr_assert_eq(o[0].dims[0], 3);
  cr_assert_eq(o[0].dims[1], ISA_DIM_ANY);
  cr_assert_eq(o[1].dims[0], ISA_DIM_ANY);
  cr_assert_eq(o[2].dims[0], 3);
}

/* ---- ReverseSequence ---------------------------------------------------------------- */

Test(reverse_sequence, batch_and_time_axes) {
  float *xd = iota_f32(16);
  rt_tensor x = mk(IVM_DT_F32, 2, D(4, 4), xd), out;
  rt_tensor lens = mk(IVM_DT_I64, 1, D(4), I64(4, 3, 2, 1));
  const rt_tensor *in[] = {&x, &lens};
  isa_attr a[2];
  defaults(ISA_OP_ReverseSequence, a);
  set_int(&a[ISA_A_ReverseSequence_batch_axis], 0);
  set_int(&a[ISA_A_ReverseSequence_time_axis], 1);
  ok(run(ISA_OP_ReverseSequence, 2, in, a, 1, &out));
  f32_is(&out, F(3, 2, 1, 0, 6, 5, 4, 7, 9, 8, 10, 11, 12, 13, 14, 15), 16);
  free(out.data);
  ok(run(ISA_OP_ReverseSequence, 2, in, NULL, 1, &out)); /* batch 1, time 0 */
  f32_is(&out, F(12, 9, 6, 3, 8, 5, 2, 7, 4, 1, 10, 11, 0, 13, 14, 15), 16);
  free(out.data);
  lens = mk(IVM_DT_I64, 1, D(4), I64(4, 5, 2, 1));
  fails(run(ISA_OP_ReverseSequence, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  lens = mk(IVM_DT_I64, 1, D(4), I64(4, -1, 2, 1));
  fails(run(ISA_OP_ReverseSequence, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  set_int(&a[ISA_A_ReverseSequence_time_axis], 0);
  fails(run(ISA_OP_ReverseSequence, 2, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  free(xd);
}

/* ---- NonMaxSuppression ------------------------------------------------------------- */

static const float nms_boxes[] = {0.5f, 0.5f, 1.0f, 1.0f, 0.5f, 0.6f, 1.0f, 1.0f,
                                  0.5f, 0.4f, 1.0f, 1.0f, 0.5f, 10.5f, 1.0f, 1.0f,
                                  0.5f, 10.6f, 1.0f, 1.0f, 0.5f, 100.5f, 1.0f, 1.0f};
static const float nms_corner[] = {0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.1f, 1.0f, 1.1f,
                                   0.0f, -0.1f, 1.0f, 0.9f, 0.0f, 10.0f, 1.0f, 11.0f,
                                   0.0f, 10.1f, 1.0f, 11.1f, 0.0f, 100.0f, 1.0f, 101.0f};
static const float nms_scores[] = {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f};

Test(nms, onnx_examples) {
  rt_tensor boxes = mk(IVM_DT_F32, 3, D(1, 6, 4), nms_corner), out;
  rt_tensor scores = mk(IVM_DT_F32, 3, D(1, 1, 6), nms_scores);
  rt_tensor mo = mk(IVM_DT_I64, 1, D(1), I64(3));
  rt_tensor iou = mk(IVM_DT_F32, 1, D(1), F(0.5f));
  rt_tensor sth = mk(IVM_DT_F32, 1, D(1), F(0.0f));
  const rt_tensor *in[] = {&boxes, &scores, &mo, &iou, &sth};
  /* suppress_by_IOU */
  ok(run(ISA_OP_NonMaxSuppression, 5, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(3, 3));
  i64_is(&out, I64(0, 0, 3, 0, 0, 0, 0, 0, 5), 9);
  free(out.data);
  /* suppress_by_IOU_and_scores */
  rt_tensor sth4 = mk(IVM_DT_F32, 1, D(1), F(0.4f));
  in[4] = &sth4;
  ok(run(ISA_OP_NonMaxSuppression, 5, in, NULL, 1, &out));
  i64_is(&out, I64(0, 0, 3, 0, 0, 0), 6);
  free(out.data);
  /* center_point_box */
  rt_tensor cboxes = mk(IVM_DT_F32, 3, D(1, 6, 4), nms_boxes);
  in[0] = &cboxes;
  in[4] = &sth;
  isa_attr a[1];
  defaults(ISA_OP_NonMaxSuppression, a);
  set_int(&a[ISA_A_NonMaxSuppression_center_point_box], 1);
  ok(run(ISA_OP_NonMaxSuppression, 5, in, a, 1, &out));
  i64_is(&out, I64(0, 0, 3, 0, 0, 0, 0, 0, 5), 9);
  free(out.data);
  /* no max_output_boxes_per_class: nothing selected */
  in[0] = &boxes;
  ok(run(ISA_OP_NonMaxSuppression, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(0, 3));
  free(out.data);
  /* two classes, limited output, no thresholds given */
  float s2[12];
  memcpy(s2, nms_scores, sizeof nms_scores);
  memcpy(s2 + 6, nms_scores, sizeof nms_scores);
  rt_tensor scores2 = mk(IVM_DT_F32, 3, D(1, 2, 6), s2);
  rt_tensor mo2 = mk(IVM_DT_I64, 1, D(1), I64(2));
  const rt_tensor *in3[] = {&boxes, &scores2, &mo2, &iou};
  ok(run(ISA_OP_NonMaxSuppression, 4, in3, NULL, 1, &out));
  i64_is(&out, I64(0, 0, 3, 0, 0, 0, 0, 1, 3, 0, 1, 0), 12);
  free(out.data);
  /* wrong box coordinates count */
  rt_tensor b3 = mk(IVM_DT_F32, 3, D(1, 8, 3), nms_corner);
  rt_tensor s8 = mk(IVM_DT_F32, 3, D(1, 1, 8), s2);
  const rt_tensor *in4[] = {&b3, &s8, &mo};
  fails(run(ISA_OP_NonMaxSuppression, 3, in4, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(nms, unknown_values_give_any_rows) {
  isa_type t[3] = {ty(IVM_DT_F32, 3, D(1, 6, 4)), ty(IVM_DT_F32, 3, D(1, 1, 6)),
                   ty(IVM_DT_I64, 1, D(1))}, o[1];
  ok(infer(ISA_OP_NonMaxSuppression, 3, t, NULL, NULL, 1, o));
  cr_assert_eq(o[0].rank, 2);
  cr_assert_eq(o[0].dims[0], ISA_DIM_ANY);
  cr_assert_eq(o[0].dims[1], 3);
}

Test(unique, empty_slices_are_one_group) {
  /* np.unique(np.zeros((0, 3)), axis=1, ...) -> shape (0, 1), [0], [0, 0, 0], [3] */
  rt_tensor x = mk(IVM_DT_F32, 2, D(0, 3), NULL), out[4];
  const rt_tensor *in[] = {&x};
  isa_attr a[2];
  defaults(ISA_OP_Unique, a);
  set_int(&a[ISA_A_Unique_axis], 1);
  ok(run(ISA_OP_Unique, 1, in, a, 4, out));
  shape_is(&out[0], IVM_DT_F32, 2, D(0, 1));
  i64_is(&out[1], I64(0), 1);
  i64_is(&out[2], I64(0, 0, 0), 3);
  i64_is(&out[3], I64(3), 1);
  free_outs(out, 4);
}

Test(scatter_elements, bool_and_int_reductions) {
  const uint8_t bd[] = {0, 1, 0, 1};
  const uint8_t ud[] = {1, 0};
  rt_tensor x = mk(IVM_DT_BOOL, 1, D(4), bd), out;
  rt_tensor idx = mk(IVM_DT_I32, 1, D(2), ((const int32_t[]){0, 3}));
  rt_tensor upd = mk(IVM_DT_BOOL, 1, D(2), ud);
  const rt_tensor *in[] = {&x, &idx, &upd};
  isa_attr a[2];
  defaults(ISA_OP_ScatterElements, a);
  set_str(&a[ISA_A_ScatterElements_reduction], "add"); /* logical or */
  ok(run(ISA_OP_ScatterElements, 3, in, a, 1, &out));
  cr_assert_eq(memcmp(out.data, ((const uint8_t[]){1, 1, 0, 1}), 4), 0);
  free(out.data);
  set_str(&a[ISA_A_ScatterElements_reduction], "mul"); /* logical and */
  ok(run(ISA_OP_ScatterElements, 3, in, a, 1, &out));
  cr_assert_eq(memcmp(out.data, ((const uint8_t[]){0, 1, 0, 0}), 4), 0);
  free(out.data);

  /* u8 wraps: 250 + 10 = 4 (mod 256) */
  const uint8_t xd[] = {250, 3};
  const uint8_t u8[] = {10, 200};
  rt_tensor xu = mk(IVM_DT_U8, 1, D(2), xd), uu = mk(IVM_DT_U8, 1, D(2), u8);
  rt_tensor iu = mk(IVM_DT_I64, 1, D(2), I64(0, 1));
  const rt_tensor *in2[] = {&xu, &iu, &uu};
  set_str(&a[ISA_A_ScatterElements_reduction], "add");
  ok(run(ISA_OP_ScatterElements, 3, in2, a, 1, &out));
  cr_assert_eq(((uint8_t *)out.data)[0], 4);
  cr_assert_eq(((uint8_t *)out.data)[1], 203);
  free(out.data);
}

/* Unknown ranks everywhere: inference succeeds and leaves what it cannot know unknown. */
Test(infer, unknown_ranks) {
  static const struct {
    isa_builtin_op op;
    uint32_t n_in, n_out;
    uint8_t dt[5];
  } cases[] = {
      {ISA_OP_GatherElements, 2, 1, {IVM_DT_F32, IVM_DT_I64}},
      {ISA_OP_GatherND, 2, 1, {IVM_DT_F32, IVM_DT_I64}},
      {ISA_OP_ScatterND, 3, 1, {IVM_DT_F32, IVM_DT_I64, IVM_DT_F32}},
      {ISA_OP_ScatterElements, 3, 1, {IVM_DT_F32, IVM_DT_I64, IVM_DT_F32}},
      {ISA_OP_OneHot, 3, 1, {IVM_DT_I64, IVM_DT_I64, IVM_DT_F32}},
      {ISA_OP_TopK, 2, 2, {IVM_DT_F32, IVM_DT_I64}},
      {ISA_OP_ArgMax, 1, 1, {IVM_DT_F32}},
      {ISA_OP_ArgMin, 1, 1, {IVM_DT_F32}},
      {ISA_OP_CumSum, 2, 1, {IVM_DT_F32, IVM_DT_I64}},
      {ISA_OP_Trilu, 2, 1, {IVM_DT_F32, IVM_DT_I64}},
      {ISA_OP_EyeLike, 1, 1, {IVM_DT_F32}},
      {ISA_OP_NonZero, 1, 1, {IVM_DT_F32}},
      {ISA_OP_Compress, 2, 1, {IVM_DT_F32, IVM_DT_BOOL}},
      {ISA_OP_Unique, 1, 4, {IVM_DT_F32}},
      {ISA_OP_ReverseSequence, 2, 1, {IVM_DT_F32, IVM_DT_I64}},
      {ISA_OP_NonMaxSuppression, 5, 1, {IVM_DT_F32, IVM_DT_F32, IVM_DT_I64, IVM_DT_F32, IVM_DT_F32}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    isa_type in[5], out[4];
    for (uint32_t i = 0; i < cases[c].n_in; i++) {
      memset(&in[i], 0, sizeof in[i]);
      in[i].dtype = cases[c].dt[i];
      in[i].rank = -1;
    }
    ok(infer(cases[c].op, cases[c].n_in, in, NULL, NULL, cases[c].n_out, out));
    for (uint32_t k = 0; k < cases[c].n_out; k++)
      cr_assert(out[k].dtype != IVM_DT_NONE, "%s output %u has no dtype",
                isa_builtin_desc(cases[c].op)->name, k);
  }
}
