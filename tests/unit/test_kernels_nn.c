/* nn family kernels and inference (isa/ops_nn.def) through rt_run_builtin: ConvTranspose,
 * Resize, DepthToSpace / SpaceToDepth, MaxUnpool, LRN, InstanceNormalization,
 * MeanVarianceNormalization, GlobalMaxPool / GlobalLpPool, LpNormalization, LpPool,
 * RoiAlign, GridSample. Expected values are hand-worked or computed with numpy
 * (direct-loop reference implementations of the ONNX definitions). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/pool.h"
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
static void set_ints(isa_attr *a, const int64_t *v, uint32_t n) {
  a->present = 1;
  a->count = n;
  a->v.ints = v;
}
static void set_str(isa_attr *a, const char *s) {
  a->present = 1;
  a->count = (uint32_t)strlen(s);
  a->v.s = s;
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
#define N_(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static const float ct_x[] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f};
static const float ct_w[] = {1.0f, -2.0f, 0.5f, 3.0f, 2.0f, 1.0f, -1.0f, 0.25f};
static const float ct_y[] = {0.0f, -2.75f, -1.0f, 1.0f, 0.5f, 0.0f, 0.75f, 2.5f, 4.25f, 0.5f, 0.5f, 0.5f, -3.0f, -3.0f, -3.375f, 6.0f, 10.5f, 12.0f, -4.5f, -4.125f, -4.5f, -1.0f, -1.0f, -1.0f};
static const float ct1_y[] = {1.0f, 2.0f, 13.0f, 20.0f, 130.0f, 200.0f, 300.0f, 2.0f, 4.0f, 26.0f, 40.0f, 260.0f, 400.0f, 600.0f};
static const float d2s_dcr[] = {0.0f, 4.0f, 1.0f, 5.0f, 8.0f, 12.0f, 9.0f, 13.0f, 2.0f, 6.0f, 3.0f, 7.0f, 10.0f, 14.0f, 11.0f, 15.0f};
static const float d2s_crd[] = {0.0f, 2.0f, 1.0f, 3.0f, 4.0f, 6.0f, 5.0f, 7.0f, 8.0f, 10.0f, 9.0f, 11.0f, 12.0f, 14.0f, 13.0f, 15.0f};
static const float s2d_y[] = {0.0f, 2.0f, 8.0f, 10.0f, 16.0f, 18.0f, 24.0f, 26.0f, 1.0f, 3.0f, 9.0f, 11.0f, 17.0f, 19.0f, 25.0f, 27.0f, 4.0f, 6.0f, 12.0f, 14.0f, 20.0f, 22.0f, 28.0f, 30.0f, 5.0f, 7.0f, 13.0f, 15.0f, 21.0f, 23.0f, 29.0f, 31.0f};
static const float lrn_x[] = {-3.0f, -2.7f, -2.4f, -2.1f, -1.8f, -1.5f, -1.2f, -0.9f, -0.6f, -0.3f, 0.0f, 0.3f, 0.6f, 0.9f, 1.2f, 1.5f, 1.8f, 2.1f, 2.4f, 2.7f, 3.0f, 3.3f, 3.6f, 3.9f};
static const float lrn_y[] = {-2.2890109f, -2.0724934f, -1.85166953f, -1.62706325f, -1.39923998f, -1.1688008f, -0.914765382f, -0.689394781f, -0.461195429f, -0.231080961f, 0.0f, 0.231080961f, 0.461195429f, 0.689394781f, 0.914765382f, 1.13644427f, 1.35363283f, 1.56560796f, 1.85166953f, 2.0724934f, 2.2890109f, 2.50074429f, 2.70726566f, 2.90819943f};
static const float in_x[] = {1.0f, 2.0f, 4.0f, 8.0f, 3.0f, -1.0f, 0.0f, 2.0f, 0.5f, 0.5f, 1.0f, -3.0f, 2.0f, 2.0f, 2.0f, 5.0f};
static const float in_y[] = {-1.43852591f, -0.879061942f, 0.239865992f, 2.47772186f, -0.432329079f, 0.832329079f, 0.516164539f, -0.116164539f, 0.80264484f, 0.80264484f, 1.27107473f, -2.47636441f, 0.488589639f, 0.488589639f, 0.488589639f, -0.665768918f};
static const float mvn_y_def[] = {-0.251754407f, 0.0839181358f, 0.755263222f, 2.0979534f, 0.665299143f, -1.70020892f, -1.10883191f, 0.0739221271f, -0.419590679f, -0.419590679f, -0.251754407f, -1.59444458f, 0.0739221271f, 0.0739221271f, 0.0739221271f, 1.84805318f};
static const float mvn_y_23[] = {-1.02575529f, -0.652753366f, 0.0932504808f, 1.58525817f, 1.26491106f, -1.26491106f, -0.632455532f, 0.632455532f, 0.468521285f, 0.468521285f, 0.780868809f, -1.71791138f, -0.577350269f, -0.577350269f, -0.577350269f, 1.73205081f};
static const float mvn_y_1[] = {-0.999999999f, 0.999999999f, 0.999999999f, 1.0f, 0.999999999f, -0.999999999f, -0.999999999f, -1.0f, -0.999999999f, -0.999999999f, -0.999999998f, -1.0f, 0.999999999f, 0.999999999f, 0.999999998f, 1.0f};
static const float lpn_y2_ax1[] = {0.6f, -0.8f, 0.0f, 0.333333333f, 0.666666667f, -0.666666667f};
static const float lpn_y1_ax0[] = {0.75f, -0.666666667f, 0.0f, 0.25f, 0.333333333f, -1.0f};
static const float lpp_x[] = {-4.0f, -3.0f, -2.0f, -1.0f, 0.0f, 1.0f, 2.0f, 3.0f, 4.0f};
static const float lpp_y[] = {4.0f, 5.0f, 3.60555128f, 2.0f, 4.12310563f, 5.09901951f, 3.74165739f, 2.23606798f, 2.23606798f, 3.74165739f, 5.09901951f, 4.12310563f, 2.0f, 3.60555128f, 5.0f, 4.0f};
static const float lpp3_y[] = {4.51435744f, 3.30192725f, 3.30192725f, 4.51435744f};
static const float glp_y[] = {7.74596669f};
static const float cub_x[] = {1.0f, 4.0f, 2.0f, 8.0f, -3.0f, 5.0f};
static const float cub_y[] = {0.68359375f, 1.75f, 3.53125f, 3.65234375f, 1.92578125f, 3.53515625f, 7.73046875f, 5.859375f, -1.140625f, -2.34765625f, 2.80078125f, 5.84375f};
static const float cub_y_ex[] = {0.735294118f, 1.61313869f, 3.47328244f, 3.6640625f, 2.0546875f, 3.3359375f, 7.5078125f, 6.0f, -1.1875f, -1.98473282f, 3.24087591f, 5.70588235f};

/* ---- ConvTranspose -------------------------------------------------------------------- */
Test(nn_convtranspose, group_stride_pads_output_padding) {
  isa_attr *at = defaults(ISA_OP_ConvTranspose);
  at[ISA_A_ConvTranspose_group].v.i = 2;
  set_ints(&at[ISA_A_ConvTranspose_strides], D(2, 1), 2);
  set_ints(&at[ISA_A_ConvTranspose_pads], D(1, 0, 0, 1), 4);
  set_ints(&at[ISA_A_ConvTranspose_output_padding], D(1, 0), 2);
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 2, 2, 3), ct_x), w = T(IVM_DT_F32, 4, D(2, 1, 2, 2), ct_w);
  rt_tensor b = T(IVM_DT_F32, 1, D(2), F(0.5f, -1.0f)), out;
  const rt_tensor *in[] = {&x, &w, &b};
  cr_assert_eq(run(ISA_OP_ConvTranspose, 3, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 2, 4, 3));
  expect_f32(&out, ct_y, N_(ct_y), 1e-6f);
  free(out.data);
}

/* f32 against a double loop written from the ONNX definition (Y[m][y*s + k - p] +=
 * W[c][m][k] X[c][y], 2-D, groups), on 1, 2 and 3 threads with bitwise-equal results:
 * a 2x2 stride 2 kernel (segmentation upsampling: the output tiled without overlap, and
 * large enough to split the product and the scatter) and an overlapping 3x3 stride 2. */
static void convt_case(int64_t C, int64_t M, int64_t G, int64_t H, int64_t W, int64_t k,
                       int64_t s, int64_t pad) {
  int64_t Cg = C / G, Mg = M / G, OH = (H - 1) * s + k - 2 * pad, OW = (W - 1) * s + k - 2 * pad;
  int64_t nx = C * H * W, nw = C * Mg * k * k, ny = M * OH * OW;
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(M * 4);
  double *want = calloc(ny, sizeof(double));
  unsigned seed = 99;
  for (int64_t i = 0; i < nx; i++) x[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0x3ff) / 512.0f - 1.0f;
  for (int64_t i = 0; i < nw; i++) w[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0x3ff) / 512.0f - 1.0f;
  for (int64_t i = 0; i < M; i++) b[i] = (float)i * 0.25f - 1.0f;
  for (int64_t m = 0; m < M; m++)
    for (int64_t i = 0; i < OH * OW; i++) want[m * OH * OW + i] = b[m];
  for (int64_t c = 0; c < C; c++)
    for (int64_t mg = 0; mg < Mg; mg++)
      for (int64_t iy = 0; iy < H; iy++)
        for (int64_t ix = 0; ix < W; ix++)
          for (int64_t ky = 0; ky < k; ky++)
            for (int64_t kx = 0; kx < k; kx++) {
              int64_t oy = iy * s + ky - pad, ox = ix * s + kx - pad, m = c / Cg * Mg + mg;
              if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
              want[(m * OH + oy) * OW + ox] +=
                  (double)w[((c * Mg + mg) * k + ky) * k + kx] * (double)x[(c * H + iy) * W + ix];
            }
  float *y[3];
  for (int t = 0; t < 3; t++) {
    isa_attr *at = defaults(ISA_OP_ConvTranspose);
    at[ISA_A_ConvTranspose_group].v.i = G;
    set_ints(&at[ISA_A_ConvTranspose_strides], D(s, s), 2);
    int64_t pads[4] = {pad, pad, pad, pad};
    set_ints(&at[ISA_A_ConvTranspose_pads], pads, 4);
    rt_tensor tx = T(IVM_DT_F32, 4, D(1, C, H, W), x), tw = T(IVM_DT_F32, 4, D(C, Mg, k, k), w);
    rt_tensor tb = T(IVM_DT_F32, 1, D(M), b);
    y[t] = malloc(ny * 4);
    rt_tensor ty = T(IVM_DT_F32, 4, D(1, M, OH, OW), y[t]);
    rt_pool *pool = NULL;
    if (t > 0) cr_assert_null(rt_pool_create(t + 1, &pool));
    rt_scratch scratch = {NULL, NULL, 0, pool};
    const rt_tensor *in[3] = {&tx, &tw, &tb};
    rt_tensor *out[1] = {&ty};
    rt_call call = {3, 1, in, out, at, &scratch, NULL};
    cr_assert_null(rt_builtin_kernel(ISA_OP_ConvTranspose)(&call));
    rt_scratch_release(&scratch);
    rt_pool_destroy(pool);
    for (int64_t i = 0; i < ny; i++)
      cr_assert(fabs(y[t][i] - want[i]) <= 1e-5 * Cg * (1 + fabs(want[i])),
                "k%lld s%lld: y[%lld] = %.8g, reference %.8g (%d threads)", (long long)k,
                (long long)s, (long long)i, y[t][i], want[i], t + 1);
    if (t) cr_assert(memcmp(y[t], y[0], ny * 4) == 0, "%d threads differ from 1", t + 1);
  }
  for (int t = 0; t < 3; t++) free(y[t]);
  free(x), free(w), free(b), free(want);
}

Test(nn_convtranspose, tiled_and_overlapping_on_several_threads) {
  convt_case(32, 24, 1, 40, 41, 2, 2, 0); /* 2x2/2: output tiled, product split too */
  convt_case(8, 6, 2, 9, 13, 3, 2, 1);    /* 3x3/2 pad 1, 2 groups: scatter-add */
  convt_case(4, 3, 1, 5, 6, 3, 3, 0);     /* kernel = stride 3: tiled, 3 columns */
}

Test(nn_convtranspose, dilated_1d_f64) {
  isa_attr *at = defaults(ISA_OP_ConvTranspose);
  set_ints(&at[ISA_A_ConvTranspose_dilations], D(2), 1);
  double xd[] = {1, 2, 3}, wd[] = {1, 10, 100, 2, 20, 200};
  rt_tensor x = T(IVM_DT_F64, 3, D(1, 1, 3), xd), w = T(IVM_DT_F64, 3, D(1, 2, 3), wd), out;
  const rt_tensor *in[] = {&x, &w};
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 3, D(1, 2, 7));
  for (int i = 0; i < 14; i++) cr_assert_float_eq(((double *)out.data)[i], (double)ct1_y[i], 1e-9);
  free(out.data);
}

Test(nn_convtranspose, output_shape_and_same_upper) {
  /* X (1,1,3), W (1,1,3), stride 2: full length 7; output_shape 8 puts the extra at the end */
  isa_attr *at = defaults(ISA_OP_ConvTranspose);
  set_ints(&at[ISA_A_ConvTranspose_strides], D(2), 1);
  set_ints(&at[ISA_A_ConvTranspose_output_shape], D(8), 1);
  rt_tensor x = T(IVM_DT_F32, 3, D(1, 1, 3), F(1, 2, 3)), w = T(IVM_DT_F32, 3, D(1, 1, 3), F(1, 1, 1)), out;
  const rt_tensor *in[] = {&x, &w};
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 3, D(1, 1, 8));
  expect_f32(&out, F(1, 1, 3, 2, 5, 3, 3, 0), 8, 1e-6f);
  free(out.data);
  /* SAME_UPPER: output 6, total padding 1, at the end */
  at = defaults(ISA_OP_ConvTranspose);
  set_ints(&at[ISA_A_ConvTranspose_strides], D(2), 1);
  set_str(&at[ISA_A_ConvTranspose_auto_pad], "SAME_UPPER");
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 3, D(1, 1, 6));
  expect_f32(&out, F(1, 1, 3, 2, 5, 3), 6, 1e-6f);
  free(out.data);
  /* SAME_LOWER: the extra pad at the beginning */
  set_str(&at[ISA_A_ConvTranspose_auto_pad], "SAME_LOWER");
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in, at, 1, &out), IVM_OK);
  expect_f32(&out, F(1, 3, 2, 5, 3, 3), 6, 1e-6f);
  free(out.data);
}

Test(nn_convtranspose, errors) {
  isa_attr *at = defaults(ISA_OP_ConvTranspose);
  rt_tensor x = T(IVM_DT_F32, 3, D(1, 2, 3), ct_x), w = T(IVM_DT_F32, 3, D(1, 1, 3), F(1, 1, 1)), out;
  const rt_tensor *in[] = {&x, &w};
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  rt_tensor x1 = T(IVM_DT_F32, 3, D(1, 1, 3), ct_x);
  const rt_tensor *in1[] = {&x1, &w};
  set_ints(&at[ISA_A_ConvTranspose_output_padding], D(1), 1); /* must be < stride */
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in1, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  at = defaults(ISA_OP_ConvTranspose);
  set_str(&at[ISA_A_ConvTranspose_auto_pad], "SAME");
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in1, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  at = defaults(ISA_OP_ConvTranspose);
  set_ints(&at[ISA_A_ConvTranspose_pads], D(4, 4), 2); /* pads larger than the output */
  cr_assert_eq(run(ISA_OP_ConvTranspose, 2, in1, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- Resize ------------------------------------------------------------------------------ */
static int resize(isa_attr *at, const rt_tensor *x, const float *scales, int64_t n_scales,
                  const int64_t *sizes, int64_t n_sizes, const float *roi, rt_tensor *out) {
  rt_tensor r = T(IVM_DT_F32, 1, D(roi ? 2 * (n_scales ? n_scales : n_sizes) : 0), roi);
  rt_tensor s = T(IVM_DT_F32, 1, D(n_scales), scales), z = T(IVM_DT_I64, 1, D(n_sizes), sizes);
  const rt_tensor *in[] = {x, roi ? &r : NULL, scales ? &s : NULL, sizes ? &z : NULL};
  return run(ISA_OP_Resize, sizes ? 4 : 3, in, at, 1, out);
}

Test(nn_resize, nearest_modes) {
  rt_tensor x = T(IVM_DT_F32, 1, D(4), F(1, 2, 3, 4)), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "asymmetric");
  cr_assert_eq(resize(at, &x, F(2), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_shape(&out, 1, D(8));
  expect_f32(&out, F(1, 1, 2, 2, 3, 3, 4, 4), 8, 0);
  free(out.data);
  /* half_pixel, scale 0.75: x = (o + .5)/.75 - .5 = 0.1667, 1.5, 2.833 */
  at = defaults(ISA_OP_Resize);
  cr_assert_eq(resize(at, &x, F(0.75f), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_f32(&out, F(1, 2, 4), 3, 0); /* round_prefer_floor: 1.5 -> 1 */
  free(out.data);
  set_str(&at[ISA_A_Resize_nearest_mode], "round_prefer_ceil");
  cr_assert_eq(resize(at, &x, F(0.75f), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_f32(&out, F(1, 3, 4), 3, 0);
  free(out.data);
  set_str(&at[ISA_A_Resize_nearest_mode], "ceil");
  cr_assert_eq(resize(at, &x, F(0.75f), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_f32(&out, F(2, 3, 4), 3, 0);
  free(out.data);
  /* "simple" (Upsample / Resize-10), downsampling rounds up: x = 0, 2 */
  at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "asymmetric");
  set_str(&at[ISA_A_Resize_nearest_mode], "simple");
  cr_assert_eq(resize(at, &x, F(0.6f), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_shape(&out, 1, D(2));
  expect_f32(&out, F(1, 3), 2, 0); /* x = 0, 1.667 -> ceil 2 */
  free(out.data);
}

Test(nn_resize, nearest_tf_half_pixel_keeps_unscaled_axes) {
  /* [2,3] scaled by [1, 2]: the scale-1 axis must map row r to row r (as ONNX Runtime
   * does), not (r + 0.5) rounded up to r + 1. Columns: x = (o + .5)/2 = .25 .75 1.25
   * 1.75 2.25 2.75 -> round_prefer_ceil 0 1 1 2 2 3 (clamped to 2). */
  rt_tensor x = T(IVM_DT_F32, 2, D(2, 3), F(1, 2, 3, 4, 5, 6)), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "tf_half_pixel_for_nn");
  set_str(&at[ISA_A_Resize_nearest_mode], "round_prefer_ceil");
  cr_assert_eq(resize(at, &x, F(1, 2), 2, NULL, 0, NULL, &out), IVM_OK);
  expect_shape(&out, 2, D(2, 6));
  expect_f32(&out, F(1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 6, 6), 12, 0);
  free(out.data);
  set_str(&at[ISA_A_Resize_nearest_mode], "ceil"); /* columns 1 1 2 2 2 2 */
  cr_assert_eq(resize(at, &x, F(1, 2), 2, NULL, 0, NULL, &out), IVM_OK);
  expect_f32(&out, F(2, 2, 3, 3, 3, 3, 5, 5, 6, 6, 6, 6), 12, 0);
  free(out.data);
}

Test(nn_resize, linear_2d_sizes_and_align_corners) {
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 1, 2, 2), F(1, 2, 3, 4)), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_mode], "linear");
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "align_corners");
  cr_assert_eq(resize(at, &x, NULL, 0, D(1, 1, 3, 3), 4, NULL, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 3, 3));
  expect_f32(&out, F(1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4), 9, 1e-6f);
  free(out.data);
  /* half_pixel 1-D upsample by 2: x = -0.25, 0.25, 0.75, 1.25 */
  rt_tensor x1 = T(IVM_DT_F32, 1, D(2), F(1, 3));
  at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_mode], "linear");
  cr_assert_eq(resize(at, &x1, F(2), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_f32(&out, F(1, 1.5f, 2.5f, 3), 4, 1e-6f);
  free(out.data);
}

Test(nn_resize, cubic_and_exclude_outside) {
  rt_tensor x = T(IVM_DT_F32, 1, D(6), cub_x), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_mode], "cubic");
  cr_assert_eq(resize(at, &x, F(2), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_f32(&out, cub_y, N_(cub_y), 1e-5f);
  free(out.data);
  at[ISA_A_Resize_cubic_coeff_a].v.f = -0.5f;
  at[ISA_A_Resize_exclude_outside].v.i = 1;
  cr_assert_eq(resize(at, &x, F(2), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_f32(&out, cub_y_ex, N_(cub_y_ex), 1e-5f);
  free(out.data);
}

Test(nn_resize, tf_crop_and_resize_extrapolation) {
  /* roi [0.5, 1.5] of 4 points: x = 1.5, 3.0, 4.5 (outside) */
  rt_tensor x = T(IVM_DT_F32, 1, D(4), F(1, 2, 3, 4)), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_mode], "linear");
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "tf_crop_and_resize");
  at[ISA_A_Resize_extrapolation_value].v.f = 9;
  cr_assert_eq(resize(at, &x, NULL, 0, D(3), 1, F(0.5f, 1.5f), &out), IVM_OK);
  expect_f32(&out, F(2.5f, 4, 9), 3, 1e-6f);
  free(out.data);
}

Test(nn_resize, axes_and_keep_aspect_ratio) {
  rt_tensor x = T(IVM_DT_F32, 2, D(2, 2), F(1, 2, 3, 4)), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  set_ints(&at[ISA_A_Resize_axes], D(1), 1);
  cr_assert_eq(resize(at, &x, F(2), 1, NULL, 0, NULL, &out), IVM_OK);
  expect_shape(&out, 2, D(2, 4));
  expect_f32(&out, F(1, 1, 2, 2, 3, 3, 4, 4), 8, 0);
  free(out.data);
  at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_keep_aspect_ratio_policy], "not_larger");
  cr_assert_eq(resize(at, &x, NULL, 0, D(4, 6), 2, NULL, &out), IVM_OK);
  expect_shape(&out, 2, D(4, 4));
  free(out.data);
}

Test(nn_resize, integer_dtype) {
  uint8_t xd[] = {0, 100};
  rt_tensor x = T(IVM_DT_U8, 1, D(2), xd), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_mode], "linear");
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "align_corners");
  cr_assert_eq(resize(at, &x, NULL, 0, D(5), 1, NULL, &out), IVM_OK);
  const uint8_t want[] = {0, 25, 50, 75, 100};
  cr_assert_arr_eq(out.data, want, 5);
  free(out.data);
}

Test(nn_resize, errors) {
  rt_tensor x = T(IVM_DT_F32, 1, D(4), F(1, 2, 3, 4)), out;
  isa_attr *at = defaults(ISA_OP_Resize);
  rt_tensor s = T(IVM_DT_F32, 1, D(1), F(2)), z = T(IVM_DT_I64, 1, D(1), D(3));
  const rt_tensor *both[] = {&x, NULL, &s, &z};
  cr_assert_eq(run(ISA_OP_Resize, 4, both, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  const rt_tensor *none[] = {&x};
  cr_assert_eq(run(ISA_OP_Resize, 1, none, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(resize(at, &x, F(-1), 1, NULL, 0, NULL, &out), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_eq(resize(at, &x, F(1, 2), 2, NULL, 0, NULL, &out), IVM_ERR_INVALID_ARGUMENT);
  set_str(&at[ISA_A_Resize_mode], "bilinear");
  cr_assert_eq(resize(at, &x, F(2), 1, NULL, 0, NULL, &out), IVM_ERR_INVALID_ARGUMENT);
  at = defaults(ISA_OP_Resize);
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "tf_crop_and_resize");
  cr_assert_eq(resize(at, &x, F(2), 1, NULL, 0, NULL, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- DepthToSpace / SpaceToDepth ------------------------------------------------------- */
Test(nn_depth_space, dcr_crd_and_inverse) {
  float xd[16], x2[32];
  for (int i = 0; i < 16; i++) xd[i] = (float)i;
  for (int i = 0; i < 32; i++) x2[i] = (float)i;
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 8, 1, 2), xd), out;
  const rt_tensor *in[] = {&x};
  isa_attr *at = defaults(ISA_OP_DepthToSpace);
  at[ISA_A_DepthToSpace_blocksize].v.i = 2;
  cr_assert_eq(run(ISA_OP_DepthToSpace, 1, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 2, 2, 4));
  expect_f32(&out, d2s_dcr, 16, 0);
  free(out.data);
  set_str(&at[ISA_A_DepthToSpace_mode], "CRD");
  cr_assert_eq(run(ISA_OP_DepthToSpace, 1, in, at, 1, &out), IVM_OK);
  expect_f32(&out, d2s_crd, 16, 0);
  free(out.data);
  rt_tensor xs = T(IVM_DT_F32, 4, D(1, 2, 4, 4), x2);
  const rt_tensor *ins[] = {&xs};
  at = defaults(ISA_OP_SpaceToDepth);
  at[ISA_A_SpaceToDepth_blocksize].v.i = 2;
  cr_assert_eq(run(ISA_OP_SpaceToDepth, 1, ins, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 8, 2, 2));
  expect_f32(&out, s2d_y, 32, 0);
  /* DepthToSpace (DCR) undoes SpaceToDepth */
  rt_tensor back;
  const rt_tensor *inb[] = {&out};
  isa_attr *ad = defaults(ISA_OP_DepthToSpace);
  ad[ISA_A_DepthToSpace_blocksize].v.i = 2;
  cr_assert_eq(run(ISA_OP_DepthToSpace, 1, inb, ad, 1, &back), IVM_OK);
  expect_f32(&back, x2, 32, 0);
  free(back.data);
  free(out.data);
}

Test(nn_depth_space, errors) {
  float xd[12] = {0};
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 3, 2, 2), xd), out;
  const rt_tensor *in[] = {&x};
  isa_attr *at = defaults(ISA_OP_DepthToSpace);
  at[ISA_A_DepthToSpace_blocksize].v.i = 2;
  cr_assert_eq(run(ISA_OP_DepthToSpace, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  at[ISA_A_DepthToSpace_blocksize].v.i = 0;
  cr_assert_eq(run(ISA_OP_DepthToSpace, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  rt_tensor x3 = T(IVM_DT_F32, 4, D(1, 1, 3, 4), xd);
  const rt_tensor *in3[] = {&x3};
  isa_attr *as = defaults(ISA_OP_SpaceToDepth);
  as[ISA_A_SpaceToDepth_blocksize].v.i = 2;
  cr_assert_eq(run(ISA_OP_SpaceToDepth, 1, in3, as, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- MaxUnpool ------------------------------------------------------------------------- */
Test(nn_maxunpool, default_and_output_shape) {
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 1, 2, 2), F(5, 6, 7, 8));
  rt_tensor i = T(IVM_DT_I64, 4, D(1, 1, 2, 2), D(5, 7, 13, 15)), out;
  isa_attr *at = defaults(ISA_OP_MaxUnpool);
  set_ints(&at[ISA_A_MaxUnpool_kernel_shape], D(2, 2), 2);
  set_ints(&at[ISA_A_MaxUnpool_strides], D(2, 2), 2);
  const rt_tensor *in[] = {&x, &i};
  cr_assert_eq(run(ISA_OP_MaxUnpool, 2, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 4, 4));
  expect_f32(&out, F(0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8), 16, 0);
  free(out.data);
  /* output_shape 5x5: indices keep their (row, col) in the default 4x4 layout */
  rt_tensor os = T(IVM_DT_I64, 1, D(4), D(1, 1, 5, 5));
  const rt_tensor *in3[] = {&x, &i, &os};
  cr_assert_eq(run(ISA_OP_MaxUnpool, 3, in3, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 5, 5));
  expect_f32(&out, F(0, 0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 8, 0, 0, 0, 0, 0, 0), 25, 0);
  free(out.data);
  /* index out of range is a runtime error */
  rt_tensor bad = T(IVM_DT_I64, 4, D(1, 1, 2, 2), D(5, 7, 13, 16));
  const rt_tensor *inb[] = {&x, &bad};
  cr_assert_eq(run(ISA_OP_MaxUnpool, 2, inb, at, 1, &out), IVM_ERR_RUNTIME);
  /* I with another shape */
  rt_tensor i3 = T(IVM_DT_I64, 4, D(1, 1, 1, 2), D(5, 7));
  const rt_tensor *ins[] = {&x, &i3};
  cr_assert_eq(run(ISA_OP_MaxUnpool, 2, ins, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- LRN / InstanceNormalization / MVN ------------------------------------------------- */
Test(nn_norm, lrn) {
  isa_attr *at = defaults(ISA_OP_LRN);
  at[ISA_A_LRN_alpha].v.f = 0.02f;
  at[ISA_A_LRN_beta].v.f = 0.6f;
  at[ISA_A_LRN_bias].v.f = 1.5f;
  at[ISA_A_LRN_size].v.i = 3;
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 4, 2, 3), lrn_x), out;
  const rt_tensor *in[] = {&x};
  cr_assert_eq(run(ISA_OP_LRN, 1, in, at, 1, &out), IVM_OK);
  expect_f32(&out, lrn_y, 24, 1e-5f);
  free(out.data);
  at[ISA_A_LRN_size].v.i = 0;
  cr_assert_eq(run(ISA_OP_LRN, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(nn_norm, instancenorm) {
  isa_attr *at = defaults(ISA_OP_InstanceNormalization);
  at[ISA_A_InstanceNormalization_epsilon].v.f = 1e-3f;
  rt_tensor x = T(IVM_DT_F32, 4, D(2, 2, 2, 2), in_x), out;
  rt_tensor s = T(IVM_DT_F32, 1, D(2), F(1.5f, -0.5f)), b = T(IVM_DT_F32, 1, D(2), F(0.1f, 0.2f));
  const rt_tensor *in[] = {&x, &s, &b};
  cr_assert_eq(run(ISA_OP_InstanceNormalization, 3, in, at, 1, &out), IVM_OK);
  expect_f32(&out, in_y, 16, 1e-5f);
  free(out.data);
  rt_tensor s3 = T(IVM_DT_F32, 1, D(3), F(1, 1, 1));
  const rt_tensor *bad[] = {&x, &s3, &b};
  cr_assert_eq(run(ISA_OP_InstanceNormalization, 3, bad, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(nn_norm, mvn) {
  rt_tensor x = T(IVM_DT_F32, 4, D(2, 2, 2, 2), in_x), out;
  const rt_tensor *in[] = {&x};
  isa_attr *at = defaults(ISA_OP_MeanVarianceNormalization);
  cr_assert_eq(run(ISA_OP_MeanVarianceNormalization, 1, in, at, 1, &out), IVM_OK);
  expect_f32(&out, mvn_y_def, 16, 1e-5f);
  free(out.data);
  set_ints(&at[ISA_A_MeanVarianceNormalization_axes], D(2, -1), 2);
  cr_assert_eq(run(ISA_OP_MeanVarianceNormalization, 1, in, at, 1, &out), IVM_OK);
  expect_f32(&out, mvn_y_23, 16, 1e-5f);
  free(out.data);
  set_ints(&at[ISA_A_MeanVarianceNormalization_axes], D(1), 1);
  cr_assert_eq(run(ISA_OP_MeanVarianceNormalization, 1, in, at, 1, &out), IVM_OK);
  expect_f32(&out, mvn_y_1, 16, 1e-5f);
  free(out.data);
  set_ints(&at[ISA_A_MeanVarianceNormalization_axes], D(4), 1);
  cr_assert_eq(run(ISA_OP_MeanVarianceNormalization, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- pooling and Lp ------------------------------------------------------------------- */
Test(nn_pool, global_max_and_lp) {
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 1, 3, 3), lpp_x), out;
  const rt_tensor *in[] = {&x};
  cr_assert_eq(run(ISA_OP_GlobalMaxPool, 1, in, NULL, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 1, 1));
  expect_f32(&out, F(4), 1, 0);
  free(out.data);
  cr_assert_eq(run(ISA_OP_GlobalLpPool, 1, in, NULL, 1, &out), IVM_OK);
  expect_f32(&out, glp_y, 1, 1e-6f);
  free(out.data);
  rt_tensor x2 = T(IVM_DT_F32, 2, D(3, 3), lpp_x);
  const rt_tensor *in2[] = {&x2};
  cr_assert_eq(run(ISA_OP_GlobalMaxPool, 1, in2, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(nn_pool, lppool) {
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 1, 3, 3), lpp_x), out;
  const rt_tensor *in[] = {&x};
  isa_attr *at = defaults(ISA_OP_LpPool);
  set_ints(&at[ISA_A_LpPool_kernel_shape], D(2, 2), 2);
  set_ints(&at[ISA_A_LpPool_pads], D(1, 1, 1, 1), 4);
  cr_assert_eq(run(ISA_OP_LpPool, 1, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 4, 4));
  expect_f32(&out, lpp_y, 16, 1e-6f);
  free(out.data);
  at = defaults(ISA_OP_LpPool);
  set_ints(&at[ISA_A_LpPool_kernel_shape], D(2, 2), 2);
  at[ISA_A_LpPool_p].v.i = 3;
  cr_assert_eq(run(ISA_OP_LpPool, 1, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 2, 2));
  expect_f32(&out, lpp3_y, 4, 1e-6f);
  free(out.data);
  at[ISA_A_LpPool_p].v.i = 0;
  cr_assert_eq(run(ISA_OP_LpPool, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(nn_pool, lpnormalization) {
  rt_tensor x = T(IVM_DT_F32, 2, D(2, 3), F(3, -4, 0, 1, 2, -2)), out;
  const rt_tensor *in[] = {&x};
  isa_attr *at = defaults(ISA_OP_LpNormalization);
  cr_assert_eq(run(ISA_OP_LpNormalization, 1, in, at, 1, &out), IVM_OK);
  expect_f32(&out, lpn_y2_ax1, 6, 1e-6f);
  free(out.data);
  at[ISA_A_LpNormalization_axis].v.i = 0;
  at[ISA_A_LpNormalization_p].v.i = 1;
  cr_assert_eq(run(ISA_OP_LpNormalization, 1, in, at, 1, &out), IVM_OK);
  expect_f32(&out, lpn_y1_ax0, 6, 1e-6f);
  free(out.data);
  at[ISA_A_LpNormalization_p].v.i = 3;
  cr_assert_eq(run(ISA_OP_LpNormalization, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  at[ISA_A_LpNormalization_p].v.i = 2;
  at[ISA_A_LpNormalization_axis].v.i = 2;
  cr_assert_eq(run(ISA_OP_LpNormalization, 1, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- RoiAlign ---------------------------------------------------------------------------- */
Test(nn_roialign, avg_max_and_coordinate_modes) {
  float xd[16];
  for (int i = 0; i < 16; i++) xd[i] = (float)i;
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 1, 4, 4), xd), out;
  rt_tensor rois = T(IVM_DT_F32, 2, D(1, 4), F(0, 0, 3, 3));
  rt_tensor bi = T(IVM_DT_I64, 1, D(1), D(0));
  const rt_tensor *in[] = {&x, &rois, &bi};
  isa_attr *at = defaults(ISA_OP_RoiAlign);
  at[ISA_A_RoiAlign_sampling_ratio].v.i = 1;
  set_str(&at[ISA_A_RoiAlign_coordinate_transformation_mode], "output_half_pixel");
  /* one sample at (1.5, 1.5): bilinear of 5, 6, 9, 10 */
  cr_assert_eq(run(ISA_OP_RoiAlign, 3, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 1, 1));
  expect_f32(&out, F(7.5f), 1, 1e-6f);
  free(out.data);
  set_str(&at[ISA_A_RoiAlign_mode], "max"); /* largest weighted corner: 0.25 * 10 */
  cr_assert_eq(run(ISA_OP_RoiAlign, 3, in, at, 1, &out), IVM_OK);
  expect_f32(&out, F(2.5f), 1, 1e-6f);
  free(out.data);
  /* half_pixel shifts the roi by -0.5: the sample lands on (1, 1) = 5 */
  at = defaults(ISA_OP_RoiAlign);
  at[ISA_A_RoiAlign_sampling_ratio].v.i = 1;
  cr_assert_eq(run(ISA_OP_RoiAlign, 3, in, at, 1, &out), IVM_OK);
  expect_f32(&out, F(5), 1, 1e-6f);
  free(out.data);
  /* 2x2 bins, adaptive sampling (ceil(3/2) = 2 per axis) over the whole image */
  at[ISA_A_RoiAlign_output_height].v.i = 2;
  at[ISA_A_RoiAlign_output_width].v.i = 2;
  at[ISA_A_RoiAlign_sampling_ratio].v.i = 0;
  rt_tensor rois2 = T(IVM_DT_F32, 2, D(1, 4), F(0.5f, 0.5f, 3.5f, 3.5f));
  const rt_tensor *in2[] = {&x, &rois2, &bi};
  cr_assert_eq(run(ISA_OP_RoiAlign, 3, in2, at, 1, &out), IVM_OK);
  /* bin (0,0) samples at 0.375 and 1.125 per axis: mean = 0.75*4 + 0.75 */
  expect_f32(&out, F(3.75f, 5.25f, 9.75f, 11.25f), 4, 1e-5f);
  free(out.data);
  rt_tensor bad = T(IVM_DT_I64, 1, D(1), D(1));
  const rt_tensor *inb[] = {&x, &rois, &bad};
  cr_assert_eq(run(ISA_OP_RoiAlign, 3, inb, at, 1, &out), IVM_ERR_RUNTIME);
  set_str(&at[ISA_A_RoiAlign_mode], "min");
  cr_assert_eq(run(ISA_OP_RoiAlign, 3, in, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- GridSample -------------------------------------------------------------------------- */
static float grid1(const char *mode, const char *pad, int align, float gx, float gy) {
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 1, 2, 2), F(1, 2, 3, 4));
  float g[2] = {gx, gy};
  rt_tensor gr = T(IVM_DT_F32, 4, D(1, 1, 1, 2), g), out;
  const rt_tensor *in[] = {&x, &gr};
  isa_attr *at = defaults(ISA_OP_GridSample);
  set_str(&at[ISA_A_GridSample_mode], mode);
  set_str(&at[ISA_A_GridSample_padding_mode], pad);
  at[ISA_A_GridSample_align_corners].v.i = align;
  cr_assert_eq(run(ISA_OP_GridSample, 2, in, at, 1, &out), IVM_OK);
  expect_shape(&out, 4, D(1, 1, 1, 1));
  float v = ((float *)out.data)[0];
  free(out.data);
  return v;
}

Test(nn_gridsample, modes_and_padding) {
  cr_assert_float_eq(grid1("bilinear", "zeros", 0, 0, 0), 2.5f, 1e-6f);
  cr_assert_float_eq(grid1("bilinear", "zeros", 1, -1, -1), 1.0f, 1e-6f);
  cr_assert_float_eq(grid1("nearest", "zeros", 1, -1, 1), 3.0f, 1e-6f);
  /* (2, 2) with align_corners: pixel coordinate 1.5 on both axes */
  cr_assert_float_eq(grid1("bilinear", "zeros", 1, 2, 2), 1.0f, 1e-6f);
  cr_assert_float_eq(grid1("bilinear", "border", 1, 2, 2), 4.0f, 1e-6f);
  cr_assert_float_eq(grid1("bilinear", "reflection", 1, 2, 2), 2.5f, 1e-6f);
  /* bicubic at a pixel centre reproduces the pixel */
  cr_assert_float_eq(grid1("bicubic", "border", 1, 1, -1), 2.0f, 1e-6f);
}

Test(nn_gridsample, errors) {
  rt_tensor x = T(IVM_DT_F32, 4, D(1, 1, 2, 2), F(1, 2, 3, 4));
  rt_tensor gr = T(IVM_DT_F32, 4, D(1, 1, 1, 3), F(0, 0, 0)), out;
  const rt_tensor *in[] = {&x, &gr};
  cr_assert_eq(run(ISA_OP_GridSample, 2, in, NULL, 1, &out), IVM_ERR_INVALID_ARGUMENT);
  rt_tensor g2 = T(IVM_DT_F32, 4, D(1, 1, 1, 2), F(0, 0));
  const rt_tensor *in2[] = {&x, &g2};
  isa_attr *at = defaults(ISA_OP_GridSample);
  set_str(&at[ISA_A_GridSample_padding_mode], "wrap");
  cr_assert_eq(run(ISA_OP_GridSample, 2, in2, at, 1, &out), IVM_ERR_INVALID_ARGUMENT);
}
