/* Shape and data-movement ops (Reshape ... Range) run through rt_run_builtin, which runs
 * inference then the kernel, plus direct inference calls for unknown values. Expected
 * values are hand-worked or computed with numpy (the tables below were printed by numpy:
 * np.transpose, basic slicing, np.pad, np.broadcast_to, np.tile, np.take, np.arange). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "runtime/kernels/gemm.h"
#include "tests/unit/kernel_test_util.h"

/* ---- expected values computed with numpy ------------------------------------------- */
/* np.transpose(arange(24).reshape(2,3,4), (0, 1, 2)) */
static const float exp_tr0[] = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f, 9.0f, 10.0f, 11.0f, 12.0f, 13.0f, 14.0f, 15.0f, 16.0f, 17.0f, 18.0f, 19.0f, 20.0f, 21.0f, 22.0f, 23.0f};
/* np.transpose(arange(24).reshape(2,3,4), (0, 2, 1)) */
static const float exp_tr1[] = {0.0f, 4.0f, 8.0f, 1.0f, 5.0f, 9.0f, 2.0f, 6.0f, 10.0f, 3.0f, 7.0f, 11.0f, 12.0f, 16.0f, 20.0f, 13.0f, 17.0f, 21.0f, 14.0f, 18.0f, 22.0f, 15.0f, 19.0f, 23.0f};
/* np.transpose(arange(24).reshape(2,3,4), (1, 0, 2)) */
static const float exp_tr2[] = {0.0f, 1.0f, 2.0f, 3.0f, 12.0f, 13.0f, 14.0f, 15.0f, 4.0f, 5.0f, 6.0f, 7.0f, 16.0f, 17.0f, 18.0f, 19.0f, 8.0f, 9.0f, 10.0f, 11.0f, 20.0f, 21.0f, 22.0f, 23.0f};
/* np.transpose(arange(24).reshape(2,3,4), (1, 2, 0)) */
static const float exp_tr3[] = {0.0f, 12.0f, 1.0f, 13.0f, 2.0f, 14.0f, 3.0f, 15.0f, 4.0f, 16.0f, 5.0f, 17.0f, 6.0f, 18.0f, 7.0f, 19.0f, 8.0f, 20.0f, 9.0f, 21.0f, 10.0f, 22.0f, 11.0f, 23.0f};
/* np.transpose(arange(24).reshape(2,3,4), (2, 0, 1)) */
static const float exp_tr4[] = {0.0f, 4.0f, 8.0f, 12.0f, 16.0f, 20.0f, 1.0f, 5.0f, 9.0f, 13.0f, 17.0f, 21.0f, 2.0f, 6.0f, 10.0f, 14.0f, 18.0f, 22.0f, 3.0f, 7.0f, 11.0f, 15.0f, 19.0f, 23.0f};
/* np.transpose(arange(24).reshape(2,3,4), (2, 1, 0)) */
static const float exp_tr5[] = {0.0f, 12.0f, 4.0f, 16.0f, 8.0f, 20.0f, 1.0f, 13.0f, 5.0f, 17.0f, 9.0f, 21.0f, 2.0f, 14.0f, 6.0f, 18.0f, 10.0f, 22.0f, 3.0f, 15.0f, 7.0f, 19.0f, 11.0f, 23.0f};
/* numpy sl1: shape (2, 2, 5) */
static const float exp_sl1[] = {5.0f, 6.0f, 7.0f, 8.0f, 9.0f, 10.0f, 11.0f, 12.0f, 13.0f, 14.0f, 25.0f, 26.0f, 27.0f, 28.0f, 29.0f, 30.0f, 31.0f, 32.0f, 33.0f, 34.0f};
/* numpy sl2: shape (3, 4, 5) */
static const float exp_sl2[] = {15.0f, 16.0f, 17.0f, 18.0f, 19.0f, 10.0f, 11.0f, 12.0f, 13.0f, 14.0f, 5.0f, 6.0f, 7.0f, 8.0f, 9.0f, 0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 35.0f, 36.0f, 37.0f, 38.0f, 39.0f, 30.0f, 31.0f, 32.0f, 33.0f, 34.0f, 25.0f, 26.0f, 27.0f, 28.0f, 29.0f, 20.0f, 21.0f, 22.0f, 23.0f, 24.0f, 55.0f, 56.0f, 57.0f, 58.0f, 59.0f, 50.0f, 51.0f, 52.0f, 53.0f, 54.0f, 45.0f, 46.0f, 47.0f, 48.0f, 49.0f, 40.0f, 41.0f, 42.0f, 43.0f, 44.0f};
/* numpy sl3: shape (2, 1, 2) */
static const float exp_sl3[] = {59.0f, 57.0f, 39.0f, 37.0f};
/* numpy sl4: shape (3, 4, 2) */
static const float exp_sl4[] = {1.0f, 3.0f, 6.0f, 8.0f, 11.0f, 13.0f, 16.0f, 18.0f, 21.0f, 23.0f, 26.0f, 28.0f, 31.0f, 33.0f, 36.0f, 38.0f, 41.0f, 43.0f, 46.0f, 48.0f, 51.0f, 53.0f, 56.0f, 58.0f};
/* numpy sl7: shape (1, 4, 5) */
static const float exp_sl7[] = {20.0f, 21.0f, 22.0f, 23.0f, 24.0f, 25.0f, 26.0f, 27.0f, 28.0f, 29.0f, 30.0f, 31.0f, 32.0f, 33.0f, 34.0f, 35.0f, 36.0f, 37.0f, 38.0f, 39.0f};
/* numpy sl8: shape (3, 4, 1) */
static const float exp_sl8[] = {4.0f, 9.0f, 14.0f, 19.0f, 24.0f, 29.0f, 34.0f, 39.0f, 44.0f, 49.0f, 54.0f, 59.0f};
/* numpy pad_const: shape (4, 7) */
static const float exp_pad_const[] = {9.5f, 9.5f, 9.5f, 9.5f, 9.5f, 9.5f, 9.5f, 9.5f, 9.5f, 0.0f, 1.0f, 2.0f, 3.0f, 9.5f, 9.5f, 9.5f, 4.0f, 5.0f, 6.0f, 7.0f, 9.5f, 9.5f, 9.5f, 8.0f, 9.0f, 10.0f, 11.0f, 9.5f};
/* numpy pad_reflect: shape (6, 12) */
static const float exp_pad_reflect[] = {11.0f, 10.0f, 9.0f, 8.0f, 9.0f, 10.0f, 11.0f, 10.0f, 9.0f, 8.0f, 9.0f, 10.0f, 7.0f, 6.0f, 5.0f, 4.0f, 5.0f, 6.0f, 7.0f, 6.0f, 5.0f, 4.0f, 5.0f, 6.0f, 3.0f, 2.0f, 1.0f, 0.0f, 1.0f, 2.0f, 3.0f, 2.0f, 1.0f, 0.0f, 1.0f, 2.0f, 7.0f, 6.0f, 5.0f, 4.0f, 5.0f, 6.0f, 7.0f, 6.0f, 5.0f, 4.0f, 5.0f, 6.0f, 11.0f, 10.0f, 9.0f, 8.0f, 9.0f, 10.0f, 11.0f, 10.0f, 9.0f, 8.0f, 9.0f, 10.0f, 7.0f, 6.0f, 5.0f, 4.0f, 5.0f, 6.0f, 7.0f, 6.0f, 5.0f, 4.0f, 5.0f, 6.0f};
/* numpy pad_edge: shape (5, 5) */
static const float exp_pad_edge[] = {0.0f, 0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f, 8.0f, 9.0f, 10.0f, 11.0f, 8.0f, 8.0f, 9.0f, 10.0f, 11.0f, 8.0f, 8.0f, 9.0f, 10.0f, 11.0f};
/* numpy pad_wrap: shape (5, 9) */
static const float exp_pad_wrap[] = {9.0f, 10.0f, 11.0f, 8.0f, 9.0f, 10.0f, 11.0f, 8.0f, 9.0f, 1.0f, 2.0f, 3.0f, 0.0f, 1.0f, 2.0f, 3.0f, 0.0f, 1.0f, 5.0f, 6.0f, 7.0f, 4.0f, 5.0f, 6.0f, 7.0f, 4.0f, 5.0f, 9.0f, 10.0f, 11.0f, 8.0f, 9.0f, 10.0f, 11.0f, 8.0f, 9.0f, 1.0f, 2.0f, 3.0f, 0.0f, 1.0f, 2.0f, 3.0f, 0.0f, 1.0f};
/* numpy pad_crop: shape (2, 3) */
static const float exp_pad_crop[] = {0.0f, 4.0f, 5.0f, 0.0f, 8.0f, 9.0f};
/* numpy pad_crop_reflect: shape (2, 6) */
static const float exp_pad_crop_reflect[] = {6.0f, 5.0f, 4.0f, 5.0f, 6.0f, 7.0f, 10.0f, 9.0f, 8.0f, 9.0f, 10.0f, 11.0f};
/* numpy expand [3,1] -> [2,1,6]: (2, 3, 6) */
static const float exp_expand[] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 3.0f, 3.0f, 3.0f, 3.0f, 3.0f, 3.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 3.0f, 3.0f, 3.0f, 3.0f, 3.0f, 3.0f};
/* np.tile(arange(6).reshape(2,3),(2,3)): (4, 9) */
static const int64_t exp_tile[] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 3, 4, 5, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 3, 4, 5};
/* np.take(arange(24).reshape(2,3,4), [[2,0],[-1,1]], axis=1): (2, 2, 2, 4) */
static const float exp_gather[] = {8.0f, 9.0f, 10.0f, 11.0f, 0.0f, 1.0f, 2.0f, 3.0f, 8.0f, 9.0f, 10.0f, 11.0f, 4.0f, 5.0f, 6.0f, 7.0f, 20.0f, 21.0f, 22.0f, 23.0f, 12.0f, 13.0f, 14.0f, 15.0f, 20.0f, 21.0f, 22.0f, 23.0f, 16.0f, 17.0f, 18.0f, 19.0f};
/* np.arange(0.5, 3.7, 0.4) f32: (8,) */
static const float exp_range_f[] = {0.5f, 0.8999999761581421f, 1.2999999523162842f, 1.6999999284744263f, 2.0999999046325684f, 2.5f, 2.8999998569488525f, 3.299999713897705f};

/* ---- helpers ------------------------------------------------------------------------ */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))








/* Runs op on inputs (NULL entries: absent) with attrs (NULL: defaults). */




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

/* Direct inference call with some input values unknown (data NULL). */
static ivm_status infer(isa_builtin_op op, uint32_t n_in, const isa_type *in,
                        const void *const *data, const isa_attr *attrs, uint32_t n_out,
                        isa_type *out) {
  isa_attr def[8];
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

/* ---- Reshape ------------------------------------------------------------------------ */

Test(reshape, zero_copies_and_minus_one_infers) {
  float *xd = iota_f32(24);
  rt_tensor x = mk(IVM_DT_F32, 3, D(2, 3, 4), xd), out;
  const int64_t s1[] = {2, 0, 1, -1};
  rt_tensor sh = mk(IVM_DT_I64, 1, D(4), s1);
  const rt_tensor *in[] = {&x, &sh};
  ok(run(ISA_OP_Reshape, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 4, D(2, 3, 1, 4));
  f32_is(&out, xd, 24);
  free(out.data);

  const int64_t s2[] = {-1, 2, 3, 4};
  sh = mk(IVM_DT_I64, 1, D(4), s2);
  ok(run(ISA_OP_Reshape, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 4, D(1, 2, 3, 4));
  free(out.data);

  const int64_t s3[] = {24};
  sh = mk(IVM_DT_I64, 1, D(1), s3);
  ok(run(ISA_OP_Reshape, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 1, D(24));
  f32_is(&out, xd, 24);
  free(out.data);
  free(xd);
}

Test(reshape, allowzero_keeps_zero) {
  rt_tensor x = mk(IVM_DT_F32, 3, D(0, 3, 4), NULL), out;
  const int64_t s[] = {3, 4, 0};
  rt_tensor sh = mk(IVM_DT_I64, 1, D(3), s);
  const rt_tensor *in[] = {&x, &sh};
  isa_attr a[4];
  set_int(&defaults(ISA_OP_Reshape, a)[ISA_A_Reshape_allowzero], 1);
  ok(run(ISA_OP_Reshape, 2, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(3, 4, 0));
  free(out.data);
  /* allowzero with both 0 and -1 is invalid */
  const int64_t s2[] = {0, -1};
  sh = mk(IVM_DT_I64, 1, D(2), s2);
  fails(run(ISA_OP_Reshape, 2, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(reshape, errors) {
  float xd[6] = {0};
  rt_tensor x = mk(IVM_DT_F32, 2, D(2, 3), xd), out;
  const rt_tensor *in[2] = {&x, NULL};
  const int64_t bad_count[] = {4, 2}, two_neg[] = {-1, -1}, too_far[] = {0, 0, 0},
                neg[] = {-2, 3}, not_mult[] = {-1, 4};
  const int32_t i32s[] = {6};
  rt_tensor sh = mk(IVM_DT_I64, 1, D(2), bad_count);
  in[1] = &sh;
  fails(run(ISA_OP_Reshape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  sh = mk(IVM_DT_I64, 1, D(2), two_neg);
  fails(run(ISA_OP_Reshape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  sh = mk(IVM_DT_I64, 1, D(3), too_far);
  fails(run(ISA_OP_Reshape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  sh = mk(IVM_DT_I64, 1, D(2), neg);
  fails(run(ISA_OP_Reshape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  sh = mk(IVM_DT_I64, 1, D(2), not_mult);
  fails(run(ISA_OP_Reshape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  sh = mk(IVM_DT_I32, 1, D(1), i32s);
  fails(run(ISA_OP_Reshape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* target rank above the maximum */
  int64_t big[ISA_MAX_RANK + 1];
  for (int k = 0; k <= ISA_MAX_RANK; k++) big[k] = 1;
  sh = mk(IVM_DT_I64, 1, D(ISA_MAX_RANK + 1), big);
  fails(run(ISA_OP_Reshape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(reshape, unknown_shape_value) {
  isa_type in[2] = {ty(IVM_DT_F32, 2, D(2, 3)), ty(IVM_DT_I64, 1, D(3))}, out;
  ok(infer(ISA_OP_Reshape, 2, in, NULL, NULL, 1, &out));
  cr_assert_eq(out.rank, 3);
  for (int k = 0; k < 3; k++) cr_assert_eq(out.dims[k], ISA_DIM_ANY);
  in[1] = ty(IVM_DT_I64, 1, D(ISA_DIM_ANY));
  ok(infer(ISA_OP_Reshape, 2, in, NULL, NULL, 1, &out));
  cr_assert_eq(out.rank, -1);
  /* a symbolic input dim is copied by 0; -1 stays unknown */
  const int64_t s[] = {0, -1};
  const void *data[] = {NULL, s};
  in[0] = ty(IVM_DT_F32, 2, D(ISA_DIM_SYM(0), 6));
  in[1] = ty(IVM_DT_I64, 1, D(2));
  ok(infer(ISA_OP_Reshape, 2, in, data, NULL, 1, &out));
  cr_assert_eq(out.rank, 2);
  cr_assert_eq(out.dims[0], ISA_DIM_SYM(0));
  cr_assert_eq(out.dims[1], ISA_DIM_ANY);
}

/* ---- Flatten ------------------------------------------------------------------------ */

Test(flatten, axes) {
  float *xd = iota_f32(120);
  rt_tensor x = mk(IVM_DT_F32, 4, D(2, 3, 4, 5), xd), out;
  const rt_tensor *in[] = {&x};
  const struct { int64_t axis, d0, d1; } cases[] = {
      {0, 1, 120}, {1, 2, 60}, {2, 6, 20}, {3, 24, 5}, {4, 120, 1}, {-1, 24, 5}, {-4, 1, 120}};
  for (size_t i = 0; i < NELEM(cases); i++) {
    isa_attr a[2];
    set_int(&defaults(ISA_OP_Flatten, a)[ISA_A_Flatten_axis], cases[i].axis);
    ok(run(ISA_OP_Flatten, 1, in, a, 1, &out));
    shape_is(&out, IVM_DT_F32, 2, D(cases[i].d0, cases[i].d1));
    f32_is(&out, xd, 120);
    free(out.data);
  }
  isa_attr a[2];
  set_int(&defaults(ISA_OP_Flatten, a)[ISA_A_Flatten_axis], 5);
  fails(run(ISA_OP_Flatten, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  set_int(&a[ISA_A_Flatten_axis], -5);
  fails(run(ISA_OP_Flatten, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  free(xd);
}

/* ---- Squeeze / Unsqueeze --------------------------------------------------------------- */

Test(squeeze, with_and_without_axes) {
  float *xd = iota_f32(15);
  rt_tensor x = mk(IVM_DT_F32, 4, D(1, 3, 1, 5), xd), out;
  const int64_t ax[] = {-2};
  rt_tensor axes = mk(IVM_DT_I64, 1, D(1), ax);
  const rt_tensor *in[] = {&x, &axes};
  ok(run(ISA_OP_Squeeze, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(1, 3, 5));
  f32_is(&out, xd, 15);
  free(out.data);
  ok(run(ISA_OP_Squeeze, 1, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 5));
  free(out.data);
  const rt_tensor *in_absent[] = {&x, NULL};
  ok(run(ISA_OP_Squeeze, 2, in_absent, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 5));
  free(out.data);
  free(xd);
}

Test(squeeze, errors) {
  float xd[15] = {0};
  rt_tensor x = mk(IVM_DT_F32, 4, D(1, 3, 1, 5), xd), out;
  const int64_t non1[] = {1}, dup[] = {0, -4}, range[] = {4};
  rt_tensor axes = mk(IVM_DT_I64, 1, D(1), non1);
  const rt_tensor *in[] = {&x, &axes};
  fails(run(ISA_OP_Squeeze, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  axes = mk(IVM_DT_I64, 1, D(2), dup);
  fails(run(ISA_OP_Squeeze, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  axes = mk(IVM_DT_I64, 1, D(1), range);
  fails(run(ISA_OP_Squeeze, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(unsqueeze, positions) {
  float *xd = iota_f32(60);
  rt_tensor x = mk(IVM_DT_F32, 3, D(3, 4, 5), xd), out;
  const int64_t unsorted[] = {5, 4, 2}, neg[] = {-1}, first[] = {0};
  rt_tensor axes = mk(IVM_DT_I64, 1, D(3), unsorted);
  const rt_tensor *in[] = {&x, &axes};
  ok(run(ISA_OP_Unsqueeze, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 6, D(3, 4, 1, 5, 1, 1));
  f32_is(&out, xd, 60);
  free(out.data);
  axes = mk(IVM_DT_I64, 1, D(1), neg);
  ok(run(ISA_OP_Unsqueeze, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 4, D(3, 4, 5, 1));
  free(out.data);
  axes = mk(IVM_DT_I64, 1, D(1), first);
  ok(run(ISA_OP_Unsqueeze, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 4, D(1, 3, 4, 5));
  free(out.data);
  /* scalar -> [1] */
  float s = 7;
  rt_tensor sc = mk(IVM_DT_F32, 0, NULL, &s);
  const rt_tensor *in2[] = {&sc, &axes};
  ok(run(ISA_OP_Unsqueeze, 2, in2, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 1, D(1));
  cr_assert_eq(((float *)out.data)[0], 7.0f);
  free(out.data);
  free(xd);
}

Test(unsqueeze, errors) {
  float xd[60] = {0};
  rt_tensor x = mk(IVM_DT_F32, 3, D(3, 4, 5), xd), out;
  const int64_t dup[] = {1, 1}, range[] = {5}, range_neg[] = {-5};
  rt_tensor axes = mk(IVM_DT_I64, 1, D(2), dup);
  const rt_tensor *in[] = {&x, &axes};
  fails(run(ISA_OP_Unsqueeze, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  axes = mk(IVM_DT_I64, 1, D(1), range);
  fails(run(ISA_OP_Unsqueeze, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  axes = mk(IVM_DT_I64, 1, D(1), range_neg);
  fails(run(ISA_OP_Unsqueeze, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *absent[] = {&x, NULL};
  fails(run(ISA_OP_Unsqueeze, 2, absent, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Transpose ---------------------------------------------------------------------- */

Test(transpose, all_permutations_of_rank3) {
  static const int64_t perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                      {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  const float *want[6] = {exp_tr0, exp_tr1, exp_tr2, exp_tr3, exp_tr4, exp_tr5};
  float *xd = iota_f32(24);
  rt_tensor x = mk(IVM_DT_F32, 3, D(2, 3, 4), xd), out;
  const rt_tensor *in[] = {&x};
  const int64_t dims[] = {2, 3, 4};
  for (int p = 0; p < 6; p++) {
    isa_attr a[2];
    set_ints(&defaults(ISA_OP_Transpose, a)[ISA_A_Transpose_perm], perms[p], 3);
    ok(run(ISA_OP_Transpose, 1, in, a, 1, &out));
    shape_is(&out, IVM_DT_F32, 3, D(dims[perms[p][0]], dims[perms[p][1]], dims[perms[p][2]]));
    f32_is(&out, want[p], 24);
    free(out.data);
  }
  /* default: reversed */
  ok(run(ISA_OP_Transpose, 1, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(4, 3, 2));
  f32_is(&out, exp_tr5, 24);
  free(out.data);
  free(xd);
}

/* A naive reference: out[o] = in[sum(o_j * in_stride[perm[j]])], checked for every
 * element size and for shapes that exercise the tiled and the row paths. */
static void check_transpose_naive(int dt, int r, const int64_t *dims, const int64_t *perm) {
  size_t es = ivm_dtype_size((ivm_dtype)dt);
  int64_t n = rt_shape_numel(r, dims);
  unsigned char *xd = malloc((size_t)n * es);
  for (int64_t i = 0; i < n * (int64_t)es; i++) xd[i] = (unsigned char)(i * 7 + i / 13);
  rt_tensor x = mk(dt, r, dims, xd), out;
  const rt_tensor *in[] = {&x};
  isa_attr a[2];
  set_ints(&defaults(ISA_OP_Transpose, a)[ISA_A_Transpose_perm], perm, (uint32_t)r);
  ok(run(ISA_OP_Transpose, 1, in, a, 1, &out));
  int64_t istr[ISA_MAX_RANK], od[ISA_MAX_RANK], idx[ISA_MAX_RANK] = {0};
  int64_t s = 1;
  for (int k = r - 1; k >= 0; k--) {
    istr[k] = s;
    s *= dims[k];
  }
  for (int j = 0; j < r; j++) od[j] = dims[perm[j]];
  shape_is(&out, dt, r, od);
  const unsigned char *y = out.data;
  for (int64_t o = 0; o < n; o++) {
    int64_t src = 0;
    for (int j = 0; j < r; j++) src += idx[j] * istr[perm[j]];
    cr_assert(memcmp(y + o * es, xd + src * es, es) == 0, "dtype %d: element %lld differs", dt,
              (long long)o);
    for (int j = r - 1; j >= 0; j--) {
      if (++idx[j] < od[j]) break;
      idx[j] = 0;
    }
  }
  free(out.data);
  free(xd);
}

Test(transpose, matches_naive_reference) {
  const int dts[] = {IVM_DT_U8, IVM_DT_F16, IVM_DT_F32, IVM_DT_I64, IVM_DT_BOOL};
  for (size_t i = 0; i < NELEM(dts); i++) {
    check_transpose_naive(dts[i], 2, D(67, 45), D(1, 0));
    check_transpose_naive(dts[i], 3, D(5, 33, 40), D(0, 2, 1));
    check_transpose_naive(dts[i], 5, D(3, 1, 7, 2, 41), D(4, 2, 0, 1, 3));
    check_transpose_naive(dts[i], 4, D(2, 3, 4, 5), D(1, 0, 2, 3));
    check_transpose_naive(dts[i], 6, D(1, 2, 3, 2, 2, 3), D(0, 1, 4, 2, 5, 3));
    check_transpose_naive(dts[i], 4, D(2, 1, 1, 3), D(3, 2, 1, 0));
  }
}

Test(transpose, bad_perm_rejected) {
  float xd[24] = {0};
  rt_tensor x = mk(IVM_DT_F32, 3, D(2, 3, 4), xd), out;
  const rt_tensor *in[] = {&x};
  const int64_t dup[] = {0, 0, 1}, range[] = {0, 1, 3}, neg[] = {-1, 0, 1}, short_[] = {1, 0};
  isa_attr a[2];
  defaults(ISA_OP_Transpose, a);
  set_ints(&a[ISA_A_Transpose_perm], dup, 3);
  fails(run(ISA_OP_Transpose, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  set_ints(&a[ISA_A_Transpose_perm], range, 3);
  fails(run(ISA_OP_Transpose, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  set_ints(&a[ISA_A_Transpose_perm], neg, 3);
  fails(run(ISA_OP_Transpose, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  set_ints(&a[ISA_A_Transpose_perm], short_, 2);
  fails(run(ISA_OP_Transpose, 1, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* unknown input rank: the perm fixes it */
  isa_type tin = ty(IVM_DT_F32, -1, NULL), tout;
  set_ints(&a[ISA_A_Transpose_perm], short_, 2);
  ok(infer(ISA_OP_Transpose, 1, &tin, NULL, a, 1, &tout));
  cr_assert_eq(tout.rank, 2);
}

/* ---- Concat / Split ----------------------------------------------------------------- */

Test(concat, axes_and_inputs) {
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8}, c[] = {9, 10};
  rt_tensor ta = mk(IVM_DT_F32, 2, D(2, 2), a), tb = mk(IVM_DT_F32, 2, D(2, 2), b), out;
  rt_tensor tc = mk(IVM_DT_F32, 2, D(2, 1), c);
  const rt_tensor *in[] = {&ta, &tb, &tc};
  isa_attr at[2];
  set_int(&defaults(ISA_OP_Concat, at)[ISA_A_Concat_axis], -1);
  ok(run(ISA_OP_Concat, 3, in, at, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(2, 5));
  const float w1[] = {1, 2, 5, 6, 9, 3, 4, 7, 8, 10};
  f32_is(&out, w1, 10);
  free(out.data);
  set_int(&at[ISA_A_Concat_axis], 0);
  ok(run(ISA_OP_Concat, 2, in, at, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(4, 2));
  const float w0[] = {1, 2, 3, 4, 5, 6, 7, 8};
  f32_is(&out, w0, 8);
  free(out.data);
  /* errors: mismatched non-axis dim, dtype, rank, axis */
  fails(run(ISA_OP_Concat, 3, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  const int32_t ci[] = {1, 2, 3, 4};
  rt_tensor ti = mk(IVM_DT_I32, 2, D(2, 2), ci), tr = mk(IVM_DT_F32, 1, D(4), a);
  const rt_tensor *bad_dt[] = {&ta, &ti}, *bad_rank[] = {&ta, &tr};
  fails(run(ISA_OP_Concat, 2, bad_dt, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  fails(run(ISA_OP_Concat, 2, bad_rank, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  set_int(&at[ISA_A_Concat_axis], 2);
  fails(run(ISA_OP_Concat, 2, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(concat, int64_shapes_and_empty_inputs) {
  const int64_t a[] = {1, 2}, b[] = {3};
  rt_tensor ta = mk(IVM_DT_I64, 1, D(2), a), tb = mk(IVM_DT_I64, 1, D(1), b);
  rt_tensor te = mk(IVM_DT_I64, 1, D(0), NULL), out;
  const rt_tensor *in[] = {&te, &ta, &te, &tb};
  ok(run(ISA_OP_Concat, 4, in, NULL, 1, &out));
  const int64_t w[] = {1, 2, 3};
  shape_is(&out, IVM_DT_I64, 1, D(3));
  i64_is(&out, w, 3);
  free(out.data);
}

Test(split, equal_and_variable) {
  const float x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  rt_tensor t1 = mk(IVM_DT_F32, 1, D(6), x), out[3];
  const rt_tensor *in1[] = {&t1};
  ok(run(ISA_OP_Split, 1, in1, NULL, 3, out));
  for (int j = 0; j < 3; j++) {
    shape_is(&out[j], IVM_DT_F32, 1, D(2));
    f32_is(&out[j], x + 2 * j, 2);
    free(out[j].data);
  }
  rt_tensor t2 = mk(IVM_DT_F32, 2, D(2, 6), x);
  const int64_t sp[] = {2, 4};
  rt_tensor tsp = mk(IVM_DT_I64, 1, D(2), sp);
  const rt_tensor *in2[] = {&t2, &tsp};
  isa_attr a[2];
  set_int(&defaults(ISA_OP_Split, a)[ISA_A_Split_axis], 1);
  ok(run(ISA_OP_Split, 2, in2, a, 2, out));
  shape_is(&out[0], IVM_DT_F32, 2, D(2, 2));
  shape_is(&out[1], IVM_DT_F32, 2, D(2, 4));
  const float w0[] = {1, 2, 7, 8}, w1[] = {3, 4, 5, 6, 9, 10, 11, 12};
  f32_is(&out[0], w0, 4);
  f32_is(&out[1], w1, 8);
  free(out[0].data);
  free(out[1].data);
  /* equal split along a negative axis */
  set_int(&a[ISA_A_Split_axis], -1);
  ok(run(ISA_OP_Split, 1, in2, a, 2, out));
  const float e0[] = {1, 2, 3, 7, 8, 9}, e1[] = {4, 5, 6, 10, 11, 12};
  f32_is(&out[0], e0, 6);
  f32_is(&out[1], e1, 6);
  free(out[0].data);
  free(out[1].data);
}

Test(split, zero_sizes_and_errors) {
  rt_tensor x = mk(IVM_DT_F32, 1, D(0), NULL), out[3];
  const int64_t z[] = {0, 0, 0};
  rt_tensor sp = mk(IVM_DT_I64, 1, D(3), z);
  const rt_tensor *in[] = {&x, &sp};
  ok(run(ISA_OP_Split, 2, in, NULL, 3, out));
  for (int j = 0; j < 3; j++) {
    shape_is(&out[j], IVM_DT_F32, 1, D(0));
    free(out[j].data);
  }
  const float xd[5] = {0};
  rt_tensor x5 = mk(IVM_DT_F32, 1, D(5), xd);
  const rt_tensor *in5[] = {&x5, NULL};
  fails(run(ISA_OP_Split, 1, in5, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT); /* 5 / 2 */
  const int64_t bad_sum[] = {2, 2}, neg[] = {6, -1}, three[] = {1, 2, 2};
  sp = mk(IVM_DT_I64, 1, D(2), bad_sum);
  in5[1] = &sp;
  fails(run(ISA_OP_Split, 2, in5, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT);
  sp = mk(IVM_DT_I64, 1, D(2), neg);
  fails(run(ISA_OP_Split, 2, in5, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT);
  sp = mk(IVM_DT_I64, 1, D(3), three);
  fails(run(ISA_OP_Split, 2, in5, NULL, 2, out), IVM_ERR_INVALID_ARGUMENT); /* 3 sizes, 2 outs */
}

/* ---- Slice -------------------------------------------------------------------------- */

typedef struct slice_case {
  int n;
  int64_t starts[3], ends[3], axes[3], steps[3];
  int has_axes, has_steps;
  int64_t out_dims[3];
  const float *want;
} slice_case;

static void run_slice(const slice_case *c, int index_dt) {
  float *xd = iota_f32(60);
  rt_tensor x = mk(IVM_DT_F32, 3, D(3, 4, 5), xd), out;
  int32_t s32[4][3];
  const void *p[4] = {c->starts, c->ends, c->axes, c->steps};
  if (index_dt == IVM_DT_I32) {
    const int64_t *src[4] = {c->starts, c->ends, c->axes, c->steps};
    for (int i = 0; i < 4; i++) {
      for (int k = 0; k < c->n; k++) {
        int64_t v = src[i][k];
        s32[i][k] = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
      }
      p[i] = s32[i];
    }
  }
  rt_tensor t[4];
  for (int i = 0; i < 4; i++) t[i] = mk(index_dt, 1, D(c->n), p[i]);
  const rt_tensor *in[] = {&x, &t[0], &t[1], c->has_axes ? &t[2] : NULL, c->has_steps ? &t[3] : NULL};
  ok(run(ISA_OP_Slice, 5, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, c->out_dims);
  f32_is(&out, c->want, (size_t)rt_numel(&out));
  free(out.data);
  free(xd);
}

Test(slice, numpy_cases_i64_and_i32) {
  const slice_case cases[] = {
      {2, {0, 1}, {2, 3}, {0, 1}, {1, 1}, 1, 1, {2, 2, 5}, exp_sl1},
      {1, {-1}, {-1000}, {1}, {-1}, 1, 1, {3, 4, 5}, exp_sl2},
      {3, {20, 10, 4}, {0, 0, 1}, {0, 1, 2}, {-1, -3, -2}, 1, 1, {2, 1, 2}, exp_sl3},
      {1, {1}, {INT64_MAX}, {-1}, {2}, 1, 1, {3, 4, 2}, exp_sl4},
      {1, {1}, {-1}, {0}, {1}, 0, 0, {1, 4, 5}, exp_sl7},
      {1, {-1}, {INT64_MIN}, {2}, {INT64_MIN}, 1, 1, {3, 4, 1}, exp_sl8},
  };
  for (size_t i = 0; i < NELEM(cases); i++) {
    run_slice(&cases[i], IVM_DT_I64);
    if (cases[i].steps[0] != INT64_MIN) run_slice(&cases[i], IVM_DT_I32);
  }
}

Test(slice, out_of_bounds_starts_give_empty) {
  float *xd = iota_f32(60);
  rt_tensor x = mk(IVM_DT_F32, 3, D(3, 4, 5), xd), out;
  const int64_t st[] = {1000}, en[] = {1000}, ax[] = {1};
  rt_tensor ts = mk(IVM_DT_I64, 1, D(1), st), te = mk(IVM_DT_I64, 1, D(1), en);
  rt_tensor ta = mk(IVM_DT_I64, 1, D(1), ax);
  const rt_tensor *in[] = {&x, &ts, &te, &ta};
  ok(run(ISA_OP_Slice, 4, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(3, 0, 5));
  free(out.data);
  free(xd);
}

Test(slice, errors) {
  float xd[60] = {0};
  rt_tensor x = mk(IVM_DT_F32, 3, D(3, 4, 5), xd), out;
  const int64_t one[] = {0}, two[] = {0, 1}, zero_step[] = {0}, bad_axis[] = {3};
  const int64_t dup_axes[] = {1, -2};
  rt_tensor ts = mk(IVM_DT_I64, 1, D(1), one), te = mk(IVM_DT_I64, 1, D(2), two);
  const rt_tensor *in[5] = {&x, &ts, &te, NULL, NULL};
  fails(run(ISA_OP_Slice, 5, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT); /* lengths */
  te = mk(IVM_DT_I64, 1, D(1), one);
  rt_tensor tz = mk(IVM_DT_I64, 1, D(1), zero_step);
  in[4] = &tz;
  fails(run(ISA_OP_Slice, 5, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT); /* step 0 */
  in[4] = NULL;
  rt_tensor tax = mk(IVM_DT_I64, 1, D(1), bad_axis);
  in[3] = &tax;
  fails(run(ISA_OP_Slice, 5, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT); /* axis */
  ts = mk(IVM_DT_I64, 1, D(2), two);
  te = mk(IVM_DT_I64, 1, D(2), two);
  tax = mk(IVM_DT_I64, 1, D(2), dup_axes);
  fails(run(ISA_OP_Slice, 5, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT); /* dup axes */
  const float fs[] = {0};
  rt_tensor tf = mk(IVM_DT_F32, 1, D(1), fs);
  const rt_tensor *inf[] = {&x, &tf, &tf};
  fails(run(ISA_OP_Slice, 3, inf, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT); /* f32 starts */
}

Test(slice, unknown_values_keep_other_dims) {
  const int64_t ax[] = {1};
  isa_type in[4] = {ty(IVM_DT_F32, 3, D(3, 4, 5)), ty(IVM_DT_I64, 1, D(1)),
                    ty(IVM_DT_I64, 1, D(1)), ty(IVM_DT_I64, 1, D(1))}, out;
  const void *data[] = {NULL, NULL, NULL, ax};
  ok(infer(ISA_OP_Slice, 4, in, data, NULL, 1, &out));
  cr_assert_eq(out.rank, 3);
  cr_assert_eq(out.dims[0], 3);
  cr_assert_eq(out.dims[1], ISA_DIM_ANY);
  cr_assert_eq(out.dims[2], 5);
}

/* ---- Gather ------------------------------------------------------------------------- */

Test(gather, axes_and_negative_indices) {
  float *xd = iota_f32(24);
  rt_tensor x = mk(IVM_DT_F32, 3, D(2, 3, 4), xd), out;
  const int64_t idx[] = {2, 0, -1, 1};
  rt_tensor ti = mk(IVM_DT_I64, 2, D(2, 2), idx);
  const rt_tensor *in[] = {&x, &ti};
  isa_attr a[2];
  set_int(&defaults(ISA_OP_Gather, a)[ISA_A_Gather_axis], 1);
  ok(run(ISA_OP_Gather, 2, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, 4, D(2, 2, 2, 4));
  f32_is(&out, exp_gather, 32);
  free(out.data);
  /* i32 indices, negative axis, 1-D data as in test_gather_negative_indices */
  float *x10 = iota_f32(10);
  rt_tensor t10 = mk(IVM_DT_F32, 1, D(10), x10);
  const int32_t i3[] = {0, -9, -10};
  rt_tensor ti3 = mk(IVM_DT_I32, 1, D(3), i3);
  const rt_tensor *in2[] = {&t10, &ti3};
  set_int(&a[ISA_A_Gather_axis], -1);
  ok(run(ISA_OP_Gather, 2, in2, a, 1, &out));
  const float w[] = {0, 1, 0};
  shape_is(&out, IVM_DT_F32, 1, D(3));
  f32_is(&out, w, 3);
  free(out.data);
  /* scalar index removes the axis (i64 data, as for shape values) */
  const int64_t shp[] = {5, 7, 9}, one = 1;
  rt_tensor ts = mk(IVM_DT_I64, 1, D(3), shp), t1 = mk(IVM_DT_I64, 0, NULL, &one);
  const rt_tensor *in3[] = {&ts, &t1};
  ok(run(ISA_OP_Gather, 2, in3, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 0, NULL);
  cr_assert_eq(((int64_t *)out.data)[0], 7);
  free(out.data);
  free(xd);
  free(x10);
}

Test(gather, index_out_of_range_is_runtime_error) {
  float *x10 = iota_f32(10);
  rt_tensor t10 = mk(IVM_DT_F32, 1, D(10), x10), out;
  const int64_t hi[] = {0, 10}, lo[] = {-11};
  rt_tensor ti = mk(IVM_DT_I64, 1, D(2), hi);
  const rt_tensor *in[] = {&t10, &ti};
  fails(run(ISA_OP_Gather, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  ti = mk(IVM_DT_I64, 1, D(1), lo);
  fails(run(ISA_OP_Gather, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  const int32_t big[] = {INT32_MAX};
  ti = mk(IVM_DT_I32, 1, D(1), big);
  fails(run(ISA_OP_Gather, 2, in, NULL, 1, &out), IVM_ERR_RUNTIME);
  /* empty axis: any index is out of range */
  rt_tensor te = mk(IVM_DT_F32, 2, D(0, 3), NULL);
  const int64_t zero[] = {0};
  ti = mk(IVM_DT_I64, 1, D(1), zero);
  const rt_tensor *in2[] = {&te, &ti};
  fails(run(ISA_OP_Gather, 2, in2, NULL, 1, &out), IVM_ERR_RUNTIME);
  /* bad indices dtype, axis out of range: inference errors */
  const float fi[] = {0};
  rt_tensor tf = mk(IVM_DT_F32, 1, D(1), fi);
  in[1] = &tf;
  fails(run(ISA_OP_Gather, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  in[1] = &ti;
  isa_attr a[2];
  set_int(&defaults(ISA_OP_Gather, a)[ISA_A_Gather_axis], 1);
  fails(run(ISA_OP_Gather, 2, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  free(x10);
}

/* ---- Expand / Tile ------------------------------------------------------------------ */

Test(expand, bidirectional) {
  const float x[] = {1, 2, 3};
  rt_tensor tx = mk(IVM_DT_F32, 2, D(3, 1), x), out;
  const int64_t s1[] = {2, 1, 6}, s2[] = {3, 4}, s3[] = {1};
  rt_tensor ts = mk(IVM_DT_I64, 1, D(3), s1);
  const rt_tensor *in[] = {&tx, &ts};
  ok(run(ISA_OP_Expand, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(2, 3, 6));
  f32_is(&out, exp_expand, 36);
  free(out.data);
  ts = mk(IVM_DT_I64, 1, D(2), s2);
  ok(run(ISA_OP_Expand, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 4));
  const float w2[] = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
  f32_is(&out, w2, 12);
  free(out.data);
  /* shape smaller than the input: the input's shape wins */
  ts = mk(IVM_DT_I64, 1, D(1), s3);
  ok(run(ISA_OP_Expand, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(3, 1));
  f32_is(&out, x, 3);
  free(out.data);
  /* row broadcast, i64 */
  const int64_t row[] = {7, 8, 9}, s4[] = {2, 3};
  rt_tensor tr = mk(IVM_DT_I64, 1, D(3), row);
  ts = mk(IVM_DT_I64, 1, D(2), s4);
  const rt_tensor *in2[] = {&tr, &ts};
  ok(run(ISA_OP_Expand, 2, in2, NULL, 1, &out));
  const int64_t w4[] = {7, 8, 9, 7, 8, 9};
  i64_is(&out, w4, 6);
  free(out.data);
}

Test(expand, errors) {
  const float x[] = {1, 2, 3, 4, 5, 6};
  rt_tensor tx = mk(IVM_DT_F32, 2, D(3, 2), x), out;
  const int64_t bad[] = {3, 4}, neg[] = {-1, 2};
  rt_tensor ts = mk(IVM_DT_I64, 1, D(2), bad);
  const rt_tensor *in[] = {&tx, &ts};
  fails(run(ISA_OP_Expand, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  ts = mk(IVM_DT_I64, 1, D(2), neg);
  fails(run(ISA_OP_Expand, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* unknown shape value: known non-1 input dims survive */
  isa_type tin[2] = {ty(IVM_DT_F32, 2, D(3, 1)), ty(IVM_DT_I64, 1, D(3))}, tout;
  ok(infer(ISA_OP_Expand, 2, tin, NULL, NULL, 1, &tout));
  cr_assert_eq(tout.rank, 3);
  cr_assert_eq(tout.dims[0], ISA_DIM_ANY);
  cr_assert_eq(tout.dims[1], 3);
  cr_assert_eq(tout.dims[2], ISA_DIM_ANY);
}

Test(tile, repeats) {
  const int64_t x[] = {0, 1, 2, 3, 4, 5}, rep[] = {2, 3};
  rt_tensor tx = mk(IVM_DT_I64, 2, D(2, 3), x), tr = mk(IVM_DT_I64, 1, D(2), rep), out;
  const rt_tensor *in[] = {&tx, &tr};
  ok(run(ISA_OP_Tile, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 2, D(4, 9));
  i64_is(&out, exp_tile, 36);
  free(out.data);
  /* test_tile_precomputed */
  const float p[] = {0, 1, 2, 3}, wp[] = {0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3};
  const int64_t r2[] = {2, 2};
  rt_tensor tp = mk(IVM_DT_F32, 2, D(2, 2), p);
  tr = mk(IVM_DT_I64, 1, D(2), r2);
  const rt_tensor *in2[] = {&tp, &tr};
  ok(run(ISA_OP_Tile, 2, in2, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(4, 4));
  f32_is(&out, wp, 16);
  free(out.data);
  /* zero repeat gives an empty output; errors: negative, wrong length */
  const int64_t r0[] = {0, 2}, rn[] = {1, -1}, r3[] = {1, 1, 1};
  tr = mk(IVM_DT_I64, 1, D(2), r0);
  ok(run(ISA_OP_Tile, 2, in2, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 2, D(0, 4));
  free(out.data);
  tr = mk(IVM_DT_I64, 1, D(2), rn);
  fails(run(ISA_OP_Tile, 2, in2, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  tr = mk(IVM_DT_I64, 1, D(3), r3);
  fails(run(ISA_OP_Tile, 2, in2, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Pad ---------------------------------------------------------------------------- */

static void run_pad(const char *mode, const int64_t *pads, const float *value, int rank_out0,
                    const int64_t *out_dims, const float *want) {
  float *xd = iota_f32(12);
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 4), xd), out;
  rt_tensor tp = mk(IVM_DT_I64, 1, D(4), pads), tv = mk(IVM_DT_F32, 0, NULL, value);
  const rt_tensor *in[] = {&x, &tp, value ? &tv : NULL};
  isa_attr a[2];
  set_str(&defaults(ISA_OP_Pad, a)[ISA_A_Pad_mode], mode);
  ok(run(ISA_OP_Pad, 3, in, a, 1, &out));
  shape_is(&out, IVM_DT_F32, rank_out0, out_dims);
  f32_is(&out, want, (size_t)rt_numel(&out));
  free(out.data);
  free(xd);
}

Test(pad, modes_match_numpy) {
  const float v = 9.5f;
  run_pad("constant", D(1, 2, 0, 1), &v, 2, D(4, 7), exp_pad_const);
  run_pad("reflect", D(2, 3, 1, 5), NULL, 2, D(6, 12), exp_pad_reflect);
  run_pad("edge", D(0, 1, 2, 0), NULL, 2, D(5, 5), exp_pad_edge);
  run_pad("wrap", D(1, 3, 1, 2), NULL, 2, D(5, 9), exp_pad_wrap);
  run_pad("constant", D(-1, 1, 0, -2), NULL, 2, D(2, 3), exp_pad_crop);
  run_pad("reflect", D(-1, 2, 0, 0), NULL, 2, D(2, 6), exp_pad_crop_reflect);
}

Test(pad, int32_edge_and_reflect_as_onnx_tests) {
  /* test_edge_pad / test_reflect_pad shapes: [1,3,4,5] with pads (0,0,1,1,0,0,1,1) */
  int32_t *xd = malloc(60 * sizeof *xd);
  for (int i = 0; i < 60; i++) xd[i] = i;
  rt_tensor x = mk(IVM_DT_I32, 4, D(1, 3, 4, 5), xd), out;
  const int64_t pads[] = {0, 0, 1, 1, 0, 0, 1, 1};
  rt_tensor tp = mk(IVM_DT_I64, 1, D(8), pads);
  const rt_tensor *in[] = {&x, &tp};
  isa_attr a[2];
  set_str(&defaults(ISA_OP_Pad, a)[ISA_A_Pad_mode], "edge");
  ok(run(ISA_OP_Pad, 2, in, a, 1, &out));
  shape_is(&out, IVM_DT_I32, 4, D(1, 3, 6, 7));
  /* hand-worked: channel 0, first two padded rows are copies of input row 0 */
  const int32_t row0[] = {0, 0, 1, 2, 3, 4, 4};
  const int32_t *g = out.data;
  for (int k = 0; k < 7; k++) {
    cr_assert_eq(g[k], row0[k]);
    cr_assert_eq(g[7 + k], row0[k]);
  }
  cr_assert_eq(g[42 * 2 + 7 * 5 + 6], 59); /* last element of channel 2: edge of 59 */
  free(out.data);
  set_str(&a[ISA_A_Pad_mode], "reflect");
  ok(run(ISA_OP_Pad, 2, in, a, 1, &out));
  g = out.data;
  /* reflect: padded row 0 mirrors input row 1 = {5..9} -> {6,5,6,7,8,9,8} */
  const int32_t r0[] = {6, 5, 6, 7, 8, 9, 8};
  for (int k = 0; k < 7; k++) cr_assert_eq(g[k], r0[k]);
  free(out.data);
  free(xd);
}

Test(pad, errors) {
  float xd[12] = {0};
  rt_tensor x = mk(IVM_DT_F32, 2, D(3, 4), xd), out;
  const int64_t short_pads[] = {1, 1}, crop_all[] = {-2, 0, -2, 0}, ok_pads[] = {1, 1, 1, 1};
  rt_tensor tp = mk(IVM_DT_I64, 1, D(2), short_pads);
  const rt_tensor *in[3] = {&x, &tp, NULL};
  fails(run(ISA_OP_Pad, 3, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  tp = mk(IVM_DT_I64, 1, D(4), crop_all);
  fails(run(ISA_OP_Pad, 3, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  tp = mk(IVM_DT_I64, 1, D(4), ok_pads);
  const int32_t iv = 1;
  rt_tensor tv = mk(IVM_DT_I32, 0, NULL, &iv);
  in[2] = &tv;
  fails(run(ISA_OP_Pad, 3, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT); /* value dtype */
  in[2] = NULL;
  isa_attr a[2];
  set_str(&defaults(ISA_OP_Pad, a)[ISA_A_Pad_mode], "mirror");
  fails(run(ISA_OP_Pad, 3, in, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* reflect/edge cannot pad an empty axis */
  rt_tensor te = mk(IVM_DT_F32, 2, D(0, 4), NULL);
  const rt_tensor *in2[] = {&te, &tp};
  set_str(&a[ISA_A_Pad_mode], "edge");
  fails(run(ISA_OP_Pad, 2, in2, a, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Shape / Size ------------------------------------------------------------------- */

Test(shape, start_end_clamping) {
  rt_tensor x = mk(IVM_DT_F32, 3, D(3, 4, 5), NULL), out;
  float dummy[60] = {0};
  x.data = dummy;
  const rt_tensor *in[] = {&x};
  const struct { int64_t start, end; int n; int64_t v[3]; } cases[] = {
      {0, INT64_MAX, 3, {3, 4, 5}}, {0, 10, 3, {3, 4, 5}}, {-10, INT64_MAX, 3, {3, 4, 5}},
      {0, 1, 1, {3}},                {0, -1, 2, {3, 4}},   {1, INT64_MAX, 2, {4, 5}},
      {1, 2, 1, {4}},                {1, -1, 1, {4}},      {-1, INT64_MAX, 1, {5}},
      {2, 1, 0, {0}},
  };
  for (size_t i = 0; i < NELEM(cases); i++) {
    isa_attr a[2];
    defaults(ISA_OP_Shape, a);
    set_int(&a[ISA_A_Shape_start], cases[i].start);
    set_int(&a[ISA_A_Shape_end], cases[i].end);
    ok(run(ISA_OP_Shape, 1, in, a, 1, &out));
    shape_is(&out, IVM_DT_I64, 1, D(cases[i].n));
    i64_is(&out, cases[i].v, (size_t)cases[i].n);
    free(out.data);
  }
  /* unknown rank: a 1-D i64 of unknown length */
  isa_type tin = ty(IVM_DT_F32, -1, NULL), tout;
  ok(infer(ISA_OP_Shape, 1, &tin, NULL, NULL, 1, &tout));
  cr_assert_eq(tout.dtype, IVM_DT_I64);
  cr_assert_eq(tout.rank, 1);
  cr_assert_eq(tout.dims[0], ISA_DIM_ANY);
}

Test(size, counts) {
  float d[60] = {0};
  rt_tensor x = mk(IVM_DT_F32, 3, D(3, 4, 5), d), out;
  const rt_tensor *in[] = {&x};
  ok(run(ISA_OP_Size, 1, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I64, 0, NULL);
  cr_assert_eq(((int64_t *)out.data)[0], 60);
  free(out.data);
  rt_tensor e = mk(IVM_DT_U8, 2, D(7, 0), NULL);
  in[0] = &e;
  ok(run(ISA_OP_Size, 1, in, NULL, 1, &out));
  cr_assert_eq(((int64_t *)out.data)[0], 0);
  free(out.data);
}

/* ---- ConstantOfShape / Range --------------------------------------------------------- */

Test(constant_of_shape, values_and_defaults) {
  const int64_t s[] = {4, 3, 2};
  const float one = 1.0f;
  rt_tensor ts = mk(IVM_DT_I64, 1, D(3), s), tv = mk(IVM_DT_F32, 1, D(1), &one), out;
  const rt_tensor *in[] = {&ts, &tv};
  ok(run(ISA_OP_ConstantOfShape, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(4, 3, 2));
  for (int i = 0; i < 24; i++) cr_assert_eq(((float *)out.data)[i], 1.0f);
  free(out.data);
  /* no value: f32 zeros */
  const rt_tensor *in0[] = {&ts, NULL};
  ok(run(ISA_OP_ConstantOfShape, 2, in0, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(4, 3, 2));
  for (int i = 0; i < 24; i++) cr_assert_eq(((float *)out.data)[i], 0.0f);
  free(out.data);
  /* i32 value, and an empty shape */
  const int32_t iv = -7;
  const int64_t s0[] = {0}, s2[] = {10, 6};
  rt_tensor ti = mk(IVM_DT_I32, 1, D(1), &iv);
  ts = mk(IVM_DT_I64, 1, D(2), s2);
  const rt_tensor *in2[] = {&ts, &ti};
  ok(run(ISA_OP_ConstantOfShape, 2, in2, NULL, 1, &out));
  shape_is(&out, IVM_DT_I32, 2, D(10, 6));
  for (int i = 0; i < 60; i++) cr_assert_eq(((int32_t *)out.data)[i], -7);
  free(out.data);
  ts = mk(IVM_DT_I64, 1, D(1), s0);
  ok(run(ISA_OP_ConstantOfShape, 2, in2, NULL, 1, &out));
  shape_is(&out, IVM_DT_I32, 1, D(0));
  free(out.data);
  /* rank-0 output from an empty shape vector */
  ts = mk(IVM_DT_I64, 1, D(0), NULL);
  ok(run(ISA_OP_ConstantOfShape, 2, in2, NULL, 1, &out));
  shape_is(&out, IVM_DT_I32, 0, NULL);
  cr_assert_eq(((int32_t *)out.data)[0], -7);
  free(out.data);
}

Test(constant_of_shape, errors) {
  const int64_t neg[] = {2, -1}, s[] = {2};
  const float two[] = {1, 2};
  rt_tensor ts = mk(IVM_DT_I64, 1, D(2), neg), out;
  const rt_tensor *in[2] = {&ts, NULL};
  fails(run(ISA_OP_ConstantOfShape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  ts = mk(IVM_DT_I64, 1, D(1), s);
  rt_tensor tv = mk(IVM_DT_F32, 1, D(2), two);
  in[1] = &tv;
  fails(run(ISA_OP_ConstantOfShape, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  const int32_t s32[] = {2};
  rt_tensor t32 = mk(IVM_DT_I32, 1, D(1), s32);
  const rt_tensor *in2[] = {&t32, NULL};
  fails(run(ISA_OP_ConstantOfShape, 2, in2, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* unknown value: rank from the shape's length */
  isa_type tin[2] = {ty(IVM_DT_I64, 1, D(3)), ty(IVM_DT_NONE, 0, NULL)}, tout;
  ok(infer(ISA_OP_ConstantOfShape, 2, tin, NULL, NULL, 1, &tout));
  cr_assert_eq(tout.rank, 3);
  cr_assert_eq(tout.dtype, IVM_DT_F32);
  cr_assert_eq(tout.dims[1], ISA_DIM_ANY);
}

Test(range, dtypes) {
  rt_tensor out;
  /* test_range_float_type_positive_delta: 1, 5, 2 -> [1, 3] */
  const float fs = 1, fl = 5, fd = 2;
  rt_tensor a = mk(IVM_DT_F32, 0, NULL, &fs), b = mk(IVM_DT_F32, 0, NULL, &fl),
            c = mk(IVM_DT_F32, 0, NULL, &fd);
  const rt_tensor *in[] = {&a, &b, &c};
  ok(run(ISA_OP_Range, 3, in, NULL, 1, &out));
  const float w[] = {1, 3};
  shape_is(&out, IVM_DT_F32, 1, D(2));
  f32_is(&out, w, 2);
  free(out.data);
  /* np.arange(0.5, 3.7, 0.4, dtype=float32) */
  const float gs = 0.5f, gl = 3.7f, gd = 0.4f;
  a = mk(IVM_DT_F32, 0, NULL, &gs);
  b = mk(IVM_DT_F32, 0, NULL, &gl);
  c = mk(IVM_DT_F32, 0, NULL, &gd);
  ok(run(ISA_OP_Range, 3, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 1, D(8));
  for (int i = 0; i < 8; i++) cr_assert(fabsf(((float *)out.data)[i] - exp_range_f[i]) < 1e-5f);
  free(out.data);
  /* test_range_int32_type_negative_delta: 10, 6, -3 -> [10, 7] */
  const int32_t is = 10, il = 6, id = -3;
  a = mk(IVM_DT_I32, 0, NULL, &is);
  b = mk(IVM_DT_I32, 0, NULL, &il);
  c = mk(IVM_DT_I32, 0, NULL, &id);
  ok(run(ISA_OP_Range, 3, in, NULL, 1, &out));
  const int32_t wi[] = {10, 7};
  shape_is(&out, IVM_DT_I32, 1, D(2));
  i32_is(&out, wi, 2);
  free(out.data);
  /* i64 0..10 step 3; f64 -1 .. 1 step 0.5; i16 empty (limit below start) */
  const int64_t ls = 0, ll = 10, ld = 3;
  a = mk(IVM_DT_I64, 0, NULL, &ls);
  b = mk(IVM_DT_I64, 0, NULL, &ll);
  c = mk(IVM_DT_I64, 0, NULL, &ld);
  ok(run(ISA_OP_Range, 3, in, NULL, 1, &out));
  const int64_t wl[] = {0, 3, 6, 9};
  i64_is(&out, wl, 4);
  free(out.data);
  const double ds = -1, dl = 1, dd = 0.5;
  a = mk(IVM_DT_F64, 0, NULL, &ds);
  b = mk(IVM_DT_F64, 0, NULL, &dl);
  c = mk(IVM_DT_F64, 0, NULL, &dd);
  ok(run(ISA_OP_Range, 3, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F64, 1, D(4));
  const double wd[] = {-1, -0.5, 0, 0.5};
  for (int i = 0; i < 4; i++) cr_assert_eq(((double *)out.data)[i], wd[i]);
  free(out.data);
  const int16_t hs = 5, hl = 1, hd = 2;
  a = mk(IVM_DT_I16, 0, NULL, &hs);
  b = mk(IVM_DT_I16, 0, NULL, &hl);
  c = mk(IVM_DT_I16, 0, NULL, &hd);
  ok(run(ISA_OP_Range, 3, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_I16, 1, D(0));
  free(out.data);
}

Test(range, errors) {
  rt_tensor out;
  const int64_t s = 0, l = 10, z = 0;
  const int32_t l32 = 10;
  rt_tensor a = mk(IVM_DT_I64, 0, NULL, &s), b = mk(IVM_DT_I64, 0, NULL, &l),
            c = mk(IVM_DT_I64, 0, NULL, &z), b32 = mk(IVM_DT_I32, 0, NULL, &l32);
  const rt_tensor *in[] = {&a, &b, &c};
  fails(run(ISA_OP_Range, 3, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT); /* delta 0 */
  const rt_tensor *mixed[] = {&a, &b32, &c};
  fails(run(ISA_OP_Range, 3, mixed, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  const uint8_t u = 1;
  rt_tensor tu = mk(IVM_DT_U8, 0, NULL, &u);
  const rt_tensor *u8s[] = {&tu, &tu, &tu};
  fails(run(ISA_OP_Range, 3, u8s, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* huge i64 range is refused, not allocated */
  const int64_t lo = INT64_MIN, hi = INT64_MAX, one = 1;
  rt_tensor tlo = mk(IVM_DT_I64, 0, NULL, &lo), thi = mk(IVM_DT_I64, 0, NULL, &hi),
            t1 = mk(IVM_DT_I64, 0, NULL, &one);
  const rt_tensor *huge[] = {&tlo, &thi, &t1};
  fails(run(ISA_OP_Range, 3, huge, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  /* unknown values: 1-D of unknown length */
  isa_type tin[3] = {ty(IVM_DT_F32, 0, NULL), ty(IVM_DT_F32, 0, NULL), ty(IVM_DT_F32, 0, NULL)}, tout;
  ok(infer(ISA_OP_Range, 3, tin, NULL, NULL, 1, &tout));
  cr_assert_eq(tout.rank, 1);
  cr_assert_eq(tout.dims[0], ISA_DIM_ANY);
}

/* ---- untrusted types reaching inference --------------------------------------------- */

Test(inference, rejects_malformed_types) {
  isa_type tin[2] = {ty(IVM_DT_F32, 2, D(2, 3)), ty(IVM_DT_I64, 1, D(2))}, tout;
  tin[0].rank = ISA_MAX_RANK + 1;
  fails(infer(ISA_OP_Reshape, 2, tin, NULL, NULL, 1, &tout), IVM_ERR_INVALID_ARGUMENT);
  tin[0] = ty(99, 2, D(2, 3));
  fails(infer(ISA_OP_Transpose, 1, tin, NULL, NULL, 1, &tout), IVM_ERR_INVALID_ARGUMENT);
  tin[0] = ty(IVM_DT_F32, 2, D(2, 3));
  fails(infer(ISA_OP_Reshape, 1, tin, NULL, NULL, 1, &tout), IVM_ERR_INVALID_ARGUMENT);
  /* a 2-D shape input */
  tin[1] = ty(IVM_DT_I64, 2, D(1, 2));
  fails(infer(ISA_OP_Reshape, 2, tin, NULL, NULL, 1, &tout), IVM_ERR_INVALID_ARGUMENT);
  /* huge dims from untrusted values overflow checks */
  const int64_t big[] = {INT64_MAX / 2, 4};
  const void *data[] = {NULL, big};
  tin[1] = ty(IVM_DT_I64, 1, D(2));
  isa_type c[1] = {ty(IVM_DT_I64, 1, D(2))};
  const void *cdata[] = {big};
  fails(infer(ISA_OP_ConstantOfShape, 1, c, cdata, NULL, 1, &tout), IVM_ERR_INVALID_ARGUMENT);
  tin[0] = ty(IVM_DT_F32, 2, D(4, 4));
  fails(infer(ISA_OP_Tile, 2, tin, data, NULL, 1, &tout), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- ToBlocked / FromBlocked ------------------------------------------------------------ */
/* x.reshape(N, C / 16, 16, H, W).transpose(0, 1, 3, 4, 2), numpy's reading of the blocked
 * layout, and back; with the AVX-512 transposes and the portable loops, over plane sizes
 * with and without a partial group of 16 positions. */
Test(blocked, to_and_from_blocked_move_every_element) {
  static const int64_t shapes[][4] = {{1, 16, 1, 1}, {2, 32, 5, 19}, {1, 48, 17, 16}};
  for (int kernel = 0; kernel < 2; kernel++) {
    rt_sgemm_use_kernel(kernel ? RT_SGEMM_AVX2 : RT_SGEMM_AUTO);
    for (size_t s = 0; s < NELEM(shapes); s++) {
      int64_t N = shapes[s][0], C = shapes[s][1], H = shapes[s][2], W = shapes[s][3];
      float *xd = iota_f32((size_t)(N * C * H * W));
      rt_tensor x = mk(IVM_DT_F32, 4, shapes[s], xd), blk, back;
      const rt_tensor *in[] = {&x};
      ok(run(ISA_OP_ToBlocked, 1, in, NULL, 1, &blk));
      shape_is(&blk, IVM_DT_F32, 5, D(N, C / 16, H, W, 16));
      const float *b = blk.data;
      for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
          for (int64_t p = 0; p < H * W; p++)
            cr_assert_eq(b[((n * (C / 16) + c / 16) * H * W + p) * 16 + c % 16],
                         xd[(n * C + c) * H * W + p], "n %lld c %lld position %lld",
                         (long long)n, (long long)c, (long long)p);
      const rt_tensor *bin[] = {&blk};
      ok(run(ISA_OP_FromBlocked, 1, bin, NULL, 1, &back));
      shape_is(&back, IVM_DT_F32, 4, shapes[s]);
      cr_assert_arr_eq(back.data, xd, (size_t)(N * C * H * W) * sizeof(float));
      free(blk.data);
      free(back.data);
      free(xd);
    }
  }
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

Test(blocked, channels_must_fill_blocks_of_16) {
  float xd[24 * 2] = {0};
  rt_tensor x = mk(IVM_DT_F32, 4, D(1, 24, 1, 2), xd), out;
  const rt_tensor *in[] = {&x};
  fails(run(ISA_OP_ToBlocked, 1, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  rt_tensor y = mk(IVM_DT_F32, 5, D(1, 1, 1, 2, 8), xd);
  const rt_tensor *yin[] = {&y};
  fails(run(ISA_OP_FromBlocked, 1, yin, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}
