/* Fast paths of elementwise and resampling kernels: nearest Resize (index tables and row
 * copies), the vectorised LeakyRelu / Relu / Sigmoid, broadcast Add, Pow by 1 / 2 / 3,
 * GlobalAveragePool and row Softmax. Expected values come from numpy (the scripts
 * tests/data/gen_*.py write the *_fixture.h files included below) or from the ONNX
 * definition applied to each element here. Unary results are checked bit for bit at every
 * length 1..40 and start offset 0..7, since the pool and ivm.FusedMatMul call kernels on
 * arbitrary sub-ranges. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_test_util.h"
#include "runtime/kernels/gemm.h"
#include "runtime/pool.h"

typedef struct rn_case {
  const char *name;
  int rank;
  const int64_t *xdims;
  const float *x, *scales, *roi;
  const int64_t *ydims;
  const float *y;
  const char *ctm, *nearest;
} rn_case;

#include "../data/resize_nearest_fixture.h"

typedef struct gap_case {
  const char *name;
  int rank;
  const int64_t *dims;
  const float *x, *y;
} gap_case;

#include "../data/global_avgpool_fixture.h"
#include "../data/sigmoid_fixture.h"
#include "../data/gelu_fixture.h"
#include "../data/pow_scalar_fixture.h"

typedef struct smr_case {
  int n;
  const float *x, *sm, *lsm;
} smr_case;

#include "../data/softmax_rows_fixture.h"

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

Test(fast_resize, nearest_against_numpy) {
  for (size_t k = 0; k < sizeof rn_cases / sizeof rn_cases[0]; k++) {
    const rn_case *c = &rn_cases[k];
    isa_attr at[16];
    defaults(ISA_OP_Resize, at);
    set_str(&at[ISA_A_Resize_coordinate_transformation_mode], c->ctm);
    set_str(&at[ISA_A_Resize_nearest_mode], c->nearest);
    at[ISA_A_Resize_extrapolation_value].v.f = -7.0f;
    at[ISA_A_Resize_extrapolation_value].present = 1;
    rt_tensor x = mk(IVM_DT_F32, c->rank, c->xdims, c->x);
    rt_tensor roi = mk(IVM_DT_F32, 1, D(2 * c->rank), c->roi);
    rt_tensor sc = mk(IVM_DT_F32, 1, D(c->rank), c->scales);
    const rt_tensor *in[] = {&x, c->roi ? &roi : NULL, &sc};
    rt_tensor out;
    ok(run(ISA_OP_Resize, 3, in, at, 1, &out));
    shape_is(&out, IVM_DT_F32, c->rank, c->ydims);
    const float *g = out.data;
    for (int64_t i = 0; i < rt_numel(&out); i++)
      cr_assert_eq(bits(g[i]), bits(c->y[i]), "%s: [%lld] = %g, numpy %g", c->name,
                   (long long)i, g[i], c->y[i]);
    free(out.data);
  }
}

/* Other element sizes go through the same row copies: u8 and i64, scale 2 and 3. */
Test(fast_resize, nearest_u8_i64) {
  isa_attr at[16];
  defaults(ISA_OP_Resize, at);
  set_str(&at[ISA_A_Resize_coordinate_transformation_mode], "asymmetric");
  set_str(&at[ISA_A_Resize_nearest_mode], "floor");
  const uint8_t xb[] = {1, 2, 3, 4, 5, 6};
  rt_tensor x = mk(IVM_DT_U8, 2, D(2, 3), xb), sc = mk(IVM_DT_F32, 1, D(2), (float[]){2, 3});
  const rt_tensor *in[] = {&x, NULL, &sc};
  rt_tensor out;
  ok(run(ISA_OP_Resize, 3, in, at, 1, &out));
  shape_is(&out, IVM_DT_U8, 2, D(4, 9));
  const uint8_t want8[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 2, 2, 2, 3, 3, 3,
                           4, 4, 4, 5, 5, 5, 6, 6, 6, 4, 4, 4, 5, 5, 5, 6, 6, 6};
  cr_assert(memcmp(out.data, want8, sizeof want8) == 0);
  free(out.data);
  /* above 2^53: exact copies */
  const int64_t xl[] = {(1LL << 60) + 1, -3};
  rt_tensor xi = mk(IVM_DT_I64, 2, D(1, 2), xl), sc2 = mk(IVM_DT_F32, 1, D(2), (float[]){1, 2});
  const rt_tensor *in2[] = {&xi, NULL, &sc2};
  ok(run(ISA_OP_Resize, 3, in2, at, 1, &out));
  i64_is(&out, (const int64_t[]){(1LL << 60) + 1, (1LL << 60) + 1, -3, -3}, 4);
  free(out.data);
}

/* FusedResizeAdd(C, X, roi, scales) gives the bits of Resize then Add(C, .): nearest by an
 * integer factor (rows built once and copied, which the fused kernel must not copy with C
 * added), nearest by other factors (gathered columns), linear (resized, then C added in a
 * second pass); and refuses a C of another shape. */
Test(fast_resize, fused_add_equals_resize_then_add) {
  static const struct {
    const char *mode, *ctm, *nearest;
    float scales[4];
    int64_t ydims[4];
  } cases[] = {
      {"nearest", "asymmetric", "floor", {1, 1, 2, 2}, {1, 3, 10, 14}},
      {"nearest", "half_pixel", "round_prefer_floor", {1, 1, 1.5f, 0.75f}, {1, 3, 7, 5}},
      {"linear", "half_pixel", "round_prefer_floor", {1, 1, 2, 2}, {1, 3, 10, 14}},
  };
  float xv[3 * 5 * 7], cv[3 * 10 * 14];
  for (int i = 0; i < 3 * 5 * 7; i++) xv[i] = (float)((i * 37) % 29 - 14) * 0.3171f;
  for (int i = 0; i < 3 * 10 * 14; i++) cv[i] = (float)((i * 53) % 31 - 15) * 0.1113f;
  rt_tensor x = mk(IVM_DT_F32, 4, D(1, 3, 5, 7), xv);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    isa_attr at[16];
    defaults(ISA_OP_Resize, at);
    set_str(&at[ISA_A_Resize_mode], cases[k].mode);
    set_str(&at[ISA_A_Resize_coordinate_transformation_mode], cases[k].ctm);
    set_str(&at[ISA_A_Resize_nearest_mode], cases[k].nearest);
    rt_tensor sc = mk(IVM_DT_F32, 1, D(4), cases[k].scales);
    rt_tensor c = mk(IVM_DT_F32, 4, cases[k].ydims, cv);
    const rt_tensor *in[] = {&x, NULL, &sc};
    rt_tensor r, want, got;
    ok(run(ISA_OP_Resize, 3, in, at, 1, &r));
    shape_is(&r, IVM_DT_F32, 4, cases[k].ydims);
    const rt_tensor *ain[] = {&c, &r};
    ok(run(ISA_OP_Add, 2, ain, NULL, 1, &want));
    const rt_tensor *fin[] = {&c, &x, NULL, &sc};
    ok(run(ISA_OP_FusedResizeAdd, 4, fin, at, 1, &got)); /* Resize's slots */
    shape_is(&got, IVM_DT_F32, 4, cases[k].ydims);
    cr_assert(memcmp(got.data, want.data, rt_nbytes(&want)) == 0, "%s %s: bits differ",
              cases[k].mode, cases[k].ctm);
    free(r.data), free(want.data), free(got.data);
  }
  isa_attr at[16];
  defaults(ISA_OP_Resize, at);
  rt_tensor sc = mk(IVM_DT_F32, 1, D(4), cases[0].scales);
  rt_tensor c = mk(IVM_DT_F32, 4, D(1, 3, 10, 13), cv), out;
  const rt_tensor *fin[] = {&c, &x, NULL, &sc};
  ivm_status st = run(ISA_OP_FusedResizeAdd, 4, fin, at, 1, &out);
  cr_assert_not_null(st, "a C of another shape accepted");
  cr_expect(strstr(ivm_status_message(st), "C"), "%s", ivm_status_message(st));
  ivm_status_free(st);
}

/* ---- unary: every length and offset, bit for bit -------------------------------------- */
#define NV 48
static void fill_special(float *v) {
  const float sp[] = {-0.0f, 0.0f, NAN, -INFINITY, INFINITY, 1e-40f, -1e-40f, -FLT_MAX};
  for (int i = 0; i < NV; i++) v[i] = (float)((i * 37) % 23 - 11) * 0.37f;
  for (int i = 0; i < 8; i++) v[i * 5 + 2] = sp[i];
}

static void check_unary_ranges(isa_builtin_op op, float alpha) {
  float v[NV];
  fill_special(v);
  isa_attr at[16];
  defaults(op, at);
  if (op == ISA_OP_LeakyRelu) at[ISA_A_LeakyRelu_alpha].v.f = alpha;
  for (int off = 0; off < 8; off++)
    for (int n = 1; n <= 40; n++) {
      rt_tensor x = mk(IVM_DT_F32, 1, D(n), v + off), out;
      const rt_tensor *in[] = {&x};
      ok(run(op, 1, in, at, 1, &out));
      const float *g = out.data;
      for (int i = 0; i < n; i++) {
        float a = v[off + i];
        /* the ONNX definitions: LeakyRelu alpha * x for x < 0; Relu max(0, x) with NaN kept */
        float want = op == ISA_OP_LeakyRelu ? (a < 0 ? alpha * a : a) : (a < 0 ? 0.0f : a);
        cr_assert_eq(bits(g[i]), bits(want), "op %d off %d n %d [%d]: %g, expected %g", op, off,
                     n, i, g[i], want);
      }
      free(out.data);
    }
}

Test(fast_unary, leaky_relu_every_range) {
  check_unary_ranges(ISA_OP_LeakyRelu, 0.01f);
  check_unary_ranges(ISA_OP_LeakyRelu, 0.3f);
}

Test(fast_unary, relu_every_range) { check_unary_ranges(ISA_OP_Relu, 0); }

/* ---- broadcast Add / Mul / Max --------------------------------------------------------- */
Test(fast_binary, per_channel_and_same_shape) {
  enum { C = 3, H = 5, W = 7, N = C * H * W };
  float x[N], y[N], b[C] = {0.5f, -1.25f, 1e30f};
  for (int i = 0; i < N; i++) {
    x[i] = (float)(i % 13) * 0.1f - 0.6f;
    y[i] = (float)(i % 7) * -0.3f + 0.2f;
  }
  rt_tensor tx = mk(IVM_DT_F32, 4, D(1, C, H, W), x), tb = mk(IVM_DT_F32, 4, D(1, C, 1, 1), b);
  rt_tensor ty = mk(IVM_DT_F32, 4, D(1, C, H, W), y), out;
  const rt_tensor *pc[] = {&tx, &tb}, *cp[] = {&tb, &tx}, *ss[] = {&tx, &ty};
  ok(run(ISA_OP_Add, 2, pc, NULL, 1, &out));
  for (int i = 0; i < N; i++) cr_assert_eq(bits(((float *)out.data)[i]), bits(x[i] + b[i / (H * W)]));
  free(out.data);
  ok(run(ISA_OP_Mul, 2, cp, NULL, 1, &out));
  for (int i = 0; i < N; i++) cr_assert_eq(bits(((float *)out.data)[i]), bits(b[i / (H * W)] * x[i]));
  free(out.data);
  ok(run(ISA_OP_Add, 2, ss, NULL, 1, &out));
  for (int i = 0; i < N; i++) cr_assert_eq(bits(((float *)out.data)[i]), bits(x[i] + y[i]));
  free(out.data);
  ok(run(ISA_OP_Max, 2, ss, NULL, 1, &out));
  for (int i = 0; i < N; i++) cr_assert_eq(((float *)out.data)[i], x[i] > y[i] ? x[i] : y[i]);
  free(out.data);
}

/* ---- GlobalAveragePool: numpy means (tests/data/gen_global_avgpool.py) ------------------
 * Planes of 1, 7, 17, 1000 and 1600 elements around +-100: a sum kept in double rounds to
 * the float nearest numpy's float64 mean, so at most one ulp apart. */
static int32_t ulp_dist(float a, float b) {
  int32_t ia, ib;
  memcpy(&ia, &a, 4);
  memcpy(&ib, &b, 4);
  if (ia < 0) ia = INT32_MIN - ia;
  if (ib < 0) ib = INT32_MIN - ib;
  return ia > ib ? ia - ib : ib - ia;
}

Test(fast_pool, global_average_against_numpy) {
  for (size_t k = 0; k < sizeof gap_cases / sizeof *gap_cases; k++) {
    const gap_case *gc = &gap_cases[k];
    rt_tensor x = mk(IVM_DT_F32, gc->rank, gc->dims, gc->x), out;
    const rt_tensor *in[] = {&x};
    ok(run(ISA_OP_GlobalAveragePool, 1, in, NULL, 1, &out));
    int64_t planes = gc->dims[0] * gc->dims[1];
    cr_assert_eq(rt_numel(&out), planes);
    for (int64_t p = 0; p < planes; p++) {
      float g = ((const float *)out.data)[p];
      cr_assert_leq(ulp_dist(g, gc->y[p]), 1, "%s plane %lld: %.9g, expected %.9g", gc->name,
                    (long long)p, g, gc->y[p]);
    }
    free(out.data);
  }
}

/* ---- Sigmoid f32: numpy's 1 / (1 + e^-x) (tests/data/gen_sigmoid.py) --------------------
 * Within 2 ulp where the result is a normal float; below FLT_MIN (x < -87.3) within a few
 * subnormal steps (1e-44), reaching 0 where numpy does. NaN stays NaN, +-inf give 1 / 0.
 * Every element has the same bits whatever the run's length and start. */
Test(fast_unary, sigmoid_against_numpy) {
  enum { N = sizeof sig_x / sizeof *sig_x };
  rt_tensor x = mk(IVM_DT_F32, 1, D(N), sig_x), out;
  const rt_tensor *in[] = {&x};
  ok(run(ISA_OP_Sigmoid, 1, in, NULL, 1, &out));
  const float *g = out.data;
  for (int i = 0; i < N; i++) {
    float w = sig_y[i];
    cr_assert(ulp_dist(g[i], w) <= 2 || (w < FLT_MIN && fabsf(g[i] - w) <= 1e-44f),
              "sigmoid(%.9g) = %.9g, expected %.9g", sig_x[i], g[i], w);
    if (sig_x[i] <= -104.0f) cr_assert_eq(g[i], 0.0f);
    if (sig_x[i] >= 17.0f) cr_assert_eq(g[i], 1.0f);
  }
  /* every length 1..40 at offsets 0..7: the same bits as in the long run */
  for (int off = 0; off < 8; off++)
    for (int n = 1; n <= 40; n++) {
      rt_tensor xs = mk(IVM_DT_F32, 1, D(n), sig_x + off), o2;
      const rt_tensor *in2[] = {&xs};
      ok(run(ISA_OP_Sigmoid, 1, in2, NULL, 1, &o2));
      cr_assert(memcmp(o2.data, g + off, (size_t)n * sizeof(float)) == 0, "off %d n %d", off, n);
      free(o2.data);
    }
  free(out.data);
  const float sp[] = {NAN, -NAN, INFINITY, -INFINITY, 2.5f};
  rt_tensor xs = mk(IVM_DT_F32, 1, D(5), sp);
  const rt_tensor *in3[] = {&xs};
  ok(run(ISA_OP_Sigmoid, 1, in3, NULL, 1, &out));
  g = out.data;
  cr_assert(isnan(g[0]) && isnan(g[1]));
  cr_assert_eq(g[2], 1.0f);
  cr_assert_eq(g[3], 0.0f);
  free(out.data);
}

/* ---- Gelu f32 (exact erf): x/2 erfc(-x / sqrt 2) by math.erfc (tests/data/gen_gelu.py) -
 * Within GELU_ULP ulp where the result is a normal float (5 measured: the erfc fit's 1e-7
 * plus a few roundings; the former x/2 (1 + erff) lost up to 11 bits to cancellation
 * below x = -3), within a subnormal step or two below; NaN stays NaN, +inf gives +inf;
 * every element the same bits whatever the run's length and start. */
#define GELU_ULP 6
Test(fast_unary, gelu_erf_against_numpy) {
  enum { N = sizeof gelu_x / sizeof *gelu_x };
  rt_tensor x = mk(IVM_DT_F32, 1, D(N), gelu_x), out;
  const rt_tensor *in[] = {&x};
  isa_attr at[4];
  defaults(ISA_OP_Gelu, at);
  ok(run(ISA_OP_Gelu, 1, in, at, 1, &out));
  const float *g = out.data;
  int32_t worst = 0;
  for (int i = 0; i < N; i++) {
    float w = gelu_y[i];
    if (fabsf(w) >= FLT_MIN && ulp_dist(g[i], w) > worst) worst = ulp_dist(g[i], w);
    cr_assert(ulp_dist(g[i], w) <= GELU_ULP || (fabsf(w) < FLT_MIN && fabsf(g[i] - w) <= 3e-45f),
              "gelu(%.9g) = %.9g, expected %.9g", gelu_x[i], g[i], w);
  }
  cr_log_info("Gelu f32: worst %d ulp over the normal results", worst);
  for (int off = 0; off < 8; off++)
    for (int n = 1; n <= 40; n++) {
      rt_tensor xs = mk(IVM_DT_F32, 1, D(n), gelu_x + 100 + off), o2;
      const rt_tensor *in2[] = {&xs};
      ok(run(ISA_OP_Gelu, 1, in2, at, 1, &o2));
      cr_assert(memcmp(o2.data, g + 100 + off, (size_t)n * sizeof(float)) == 0, "off %d n %d",
                off, n);
      free(o2.data);
    }
  free(out.data);
  const float sp[] = {NAN, INFINITY, 2.5f};
  rt_tensor xs = mk(IVM_DT_F32, 1, D(3), sp);
  const rt_tensor *in3[] = {&xs};
  ok(run(ISA_OP_Gelu, 1, in3, at, 1, &out));
  g = out.data;
  cr_assert(isnan(g[0]));
  cr_assert_eq(g[1], INFINITY);
  free(out.data);
}

/* The 16-lane build of the same code (AVX-512, used when the matrix kernel is) gives the
 * 8-lane one's bits: every float of a sweep over [-12, 12] that hits each exponent, the
 * fixture, and NaN / infinities / subnormals / signed zeros, at lengths that leave tails. */
Test(fast_unary, gelu_erf_same_bits_at_16_and_8_lanes) {
  enum { N = 200003 };
  float *x = malloc(N * sizeof *x);
  cr_assert(x);
  uint32_t seed = 99u;
  for (int i = 0; i < N; i++) {
    seed = seed * 1664525u + 1013904223u;
    float u = (float)(seed >> 8) / 16777216.0f; /* [0, 1) */
    x[i] = (i & 1 ? -1.0f : 1.0f) * 12.0f * u * u * u; /* dense near 0 */
  }
  const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f, FLT_MIN,
                           -3.0e38f, 3.0e38f, 27.9f, -27.9f, 40.0f, -40.0f};
  memcpy(x, special, sizeof special);
  memcpy(x + 100, gelu_x, sizeof gelu_x);
  isa_attr at[4];
  defaults(ISA_OP_Gelu, at);
  rt_tensor tx = mk(IVM_DT_F32, 1, D(N), x), wide, narrow;
  const rt_tensor *in[] = {&tx};
  const char *wide_kernel = rt_sgemm_kernel_name(rt_sgemm_current_kernel());
  ok(run(ISA_OP_Gelu, 1, in, at, 1, &wide));
  rt_sgemm_use_kernel(RT_SGEMM_AVX2);
  ok(run(ISA_OP_Gelu, 1, in, at, 1, &narrow));
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
  const uint32_t *a = wide.data, *b = narrow.data;
  for (int i = 0; i < N; i++)
    cr_assert(a[i] == b[i] || (isnan(((float *)wide.data)[i]) && isnan(((float *)narrow.data)[i])),
              "gelu(%.9g): %.9g at %s, %.9g at 8 lanes", x[i], ((float *)wide.data)[i],
              wide_kernel, ((float *)narrow.data)[i]);
  free(wide.data);
  free(narrow.data);
  free(x);
}

/* ---- Pow f32 ^ one-element f32 exponent: numpy (tests/data/gen_pow_scalar.py) ---------
 * 1 and 2 are exact (x, the correctly rounded square), 3 within 1 ulp, other exponents
 * (powf) within 1 ulp; NaN stays NaN; broadcast shapes of the scalar side. */
static void check_pow(const float *x, int n, float e, const float *want, int max_ulp) {
  rt_tensor tx = mk(IVM_DT_F32, 1, D(n), x), te = mk(IVM_DT_F32, 0, NULL, &e), out;
  const rt_tensor *in[] = {&tx, &te};
  ok(run(ISA_OP_Pow, 2, in, NULL, 1, &out));
  const float *g = out.data;
  for (int i = 0; i < n; i++)
    cr_assert(ulp_dist(g[i], want[i]) <= max_ulp, "%.9g ^ %g = %.9g, expected %.9g", x[i], e,
              g[i], want[i]);
  free(out.data);
}

Test(fast_binary, pow_scalar_exponent_against_numpy) {
  enum { N = sizeof pw_x / sizeof *pw_x };
  check_pow(pw_x, N, 1.0f, pw_y_1, 0);
  check_pow(pw_x, N, 2.0f, pw_y_2, 0);
  check_pow(pw_x, N, 3.0f, pw_y_3, 1);
  check_pow(pw_xpos, N, 0.5f, pw_y_half, 1);
  check_pow(pw_xpos, N, -2.0f, pw_y_m2, 1);
  /* NaN stays NaN; in place (output over X) */
  const float es[] = {1.0f, 2.0f, 3.0f};
  for (int k = 0; k < 3; k++) {
    float v[3] = {NAN, -2.0f, 0.5f};
    rt_tensor tx = mk(IVM_DT_F32, 1, D(3), v), te = mk(IVM_DT_F32, 1, D(1), &es[k]);
    const rt_tensor *in[] = {&tx, &te};
    rt_tensor *outp[] = {&tx};
    isa_attr at[16];
    rt_call call = {2, 1, in, outp, defaults(ISA_OP_Pow, at), NULL, NULL};
    ok(rt_builtin_kernel(ISA_OP_Pow)(&call));
    cr_assert(isnan(v[0]), "NaN ^ %g", es[k]);
    cr_assert_eq(v[1], k == 0 ? -2.0f : k == 1 ? 4.0f : -8.0f);
    cr_assert_eq(v[2], k == 0 ? 0.5f : k == 1 ? 0.25f : 0.125f);
  }
  /* the exponent of higher rank than X; both sides one element */
  float e2 = 2.0f, x6[6] = {1, -2, 3, -4, 5, -6}, x1 = -3.0f;
  rt_tensor tx = mk(IVM_DT_F32, 2, D(2, 3), x6), te = mk(IVM_DT_F32, 3, D(1, 1, 1), &e2), out;
  const rt_tensor *in[] = {&tx, &te};
  ok(run(ISA_OP_Pow, 2, in, NULL, 1, &out));
  shape_is(&out, IVM_DT_F32, 3, D(1, 2, 3));
  f32_is(&out, (const float[]){1, 4, 9, 16, 25, 36}, 6);
  free(out.data);
  rt_tensor t1 = mk(IVM_DT_F32, 0, NULL, &x1);
  const rt_tensor *in1[] = {&t1, &te};
  ok(run(ISA_OP_Pow, 2, in1, NULL, 1, &out));
  f32_is(&out, (const float[]){9}, 1);
  free(out.data);
}

/* ---- Softmax / LogSoftmax f32 along rows: numpy (tests/data/gen_softmax_rows.py) -------
 * Rows of 1, 7, 17 and 1000 elements, alone and stacked two high (the second row's start
 * is not a multiple of the vector width); -inf entries give 0 / -inf. */
static void check_softmax_rows(isa_builtin_op op, const smr_case *sc, int rows) {
  int n = sc->n;
  float *x = malloc((size_t)(rows * n) * sizeof *x);
  for (int r = 0; r < rows; r++) memcpy(x + r * n, sc->x, (size_t)n * sizeof *x);
  rt_tensor tx = mk(IVM_DT_F32, 2, D(rows, n), x), out;
  const rt_tensor *in[] = {&tx};
  ok(run(op, 1, in, NULL, 1, &out));
  const float *g = out.data, *want = op == ISA_OP_Softmax ? sc->sm : sc->lsm;
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < n; i++) {
      float w = want[i], v = g[r * n + i];
      if (isinf(w)) cr_assert_eq(v, w, "n %d [%d]: %g, expected %g", n, i, v, w);
      else
        cr_assert(fabsf(v - w) <= 1e-5f * fabsf(w) + (op == ISA_OP_Softmax ? 1e-37f : 1e-5f),
                  "op %d n %d row %d [%d]: %.9g, expected %.9g", op, n, r, i, v, w);
    }
  free(out.data);
  free(x);
}

Test(fast_norm, softmax_rows_against_numpy) {
  for (size_t k = 0; k < sizeof smr_cases / sizeof *smr_cases; k++)
    for (int rows = 1; rows <= 2; rows++) {
      check_softmax_rows(ISA_OP_Softmax, &smr_cases[k], rows);
      check_softmax_rows(ISA_OP_LogSoftmax, &smr_cases[k], rows);
    }
}

/* ---- MaxPool 2-D f32: the row-wise fast path against the generic N-D path ------------
 * With an Indices output MaxPool takes the generic odometer; without it the 2-D path. Both
 * must give the same bits on data with NaN, -inf, +0 / -0 and repeated values, for pads,
 * strides, ceil_mode and dilation; rows of 37 reach the vector loop of the column-pair
 * pools (kernel 2, stride 2 across) and its tail. */
Test(fast_pool, maxpool_2d_matches_the_generic_path) {
  const float pool_vals[] = {1.5f, -0.0f, 0.0f, NAN, -INFINITY, 1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.0f};
  enum { C = 3, H = 11, W = 37 };
  float x[C * H * W];
  uint32_t seed = 12345;
  for (int i = 0; i < C * H * W; i++) {
    seed = seed * 1664525u + 1013904223u;
    uint32_t r = seed >> 8;
    x[i] = r % 3 ? (float)(r % 1000) * 0.01f - 5.0f : pool_vals[r % 11];
  }
  struct {
    int64_t k[2], s[2], pads[4], dil[2];
    int ceil;
  } cases[] = {{{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 0}, {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 0},
               {{3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 0}, {{3, 2}, {2, 3}, {1, 0, 0, 1}, {1, 1}, 1},
               {{2, 3}, {1, 2}, {0, 1, 1, 1}, {2, 2}, 0}, {{1, 13}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 0},
               /* column pairs: 2x2/2, 1x2/2, padded rows, 3x2/(3,2), and ceil_mode's
                * partial last window (not pairs: the general path) */
               {{1, 2}, {1, 2}, {0, 0, 0, 0}, {1, 1}, 0}, {{2, 2}, {2, 2}, {1, 0, 1, 0}, {1, 1}, 0},
               {{3, 2}, {3, 2}, {0, 0, 0, 0}, {2, 1}, 0}, {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    isa_attr at[16];
    defaults(ISA_OP_MaxPool, at);
    set_ints(&at[ISA_A_MaxPool_kernel_shape], cases[k].k, 2);
    set_ints(&at[ISA_A_MaxPool_strides], cases[k].s, 2);
    set_ints(&at[ISA_A_MaxPool_pads], cases[k].pads, 4);
    set_ints(&at[ISA_A_MaxPool_dilations], cases[k].dil, 2);
    set_int(&at[ISA_A_MaxPool_ceil_mode], cases[k].ceil);
    rt_tensor tx = mk(IVM_DT_F32, 4, D(1, C, H, W), x), fast, gen[2];
    const rt_tensor *in[] = {&tx};
    ok(run(ISA_OP_MaxPool, 1, in, at, 1, &fast));
    ok(run(ISA_OP_MaxPool, 1, in, at, 2, gen));
    cr_assert_eq(rt_numel(&fast), rt_numel(&gen[0]));
    cr_assert(memcmp(fast.data, gen[0].data, rt_nbytes(&fast)) == 0, "case %zu differs", k);
    free(fast.data);
    free(gen[0].data);
    free(gen[1].data);
  }
}

/* Large enough to be split across threads: the same bits as the generic path on 1, 2 and
 * 3 threads, by rows (3x3/2) and by column pairs (2x2/2). */
static void maxpool_split_bits(int64_t C, int64_t H, int64_t W) {
  float *x = malloc(sizeof(float) * (size_t)(C * H * W));
  cr_assert(x);
  uint32_t seed = 777;
  for (int64_t i = 0; i < C * H * W; i++) {
    seed = seed * 1664525u + 1013904223u;
    uint32_t r = seed >> 8;
    x[i] = r % 17 == 0 ? NAN : r % 13 == 0 ? -0.0f : (float)(r % 100) * 0.25f - 12.0f;
  }
  struct {
    int64_t k, s, pad;
  } cases[] = {{3, 2, 1}, {2, 2, 0}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    isa_attr at[16];
    defaults(ISA_OP_MaxPool, at);
    int64_t ks[2] = {cases[k].k, cases[k].k}, st[2] = {cases[k].s, cases[k].s};
    int64_t pads[4] = {cases[k].pad, cases[k].pad, cases[k].pad, cases[k].pad};
    set_ints(&at[ISA_A_MaxPool_kernel_shape], ks, 2);
    set_ints(&at[ISA_A_MaxPool_strides], st, 2);
    set_ints(&at[ISA_A_MaxPool_pads], pads, 4);
    rt_tensor tx = mk(IVM_DT_F32, 4, D(1, C, H, W), x), gen[2];
    const rt_tensor *in[] = {&tx};
    ok(run(ISA_OP_MaxPool, 1, in, at, 2, gen));
    for (int threads = 1; threads <= 3; threads++) {
      float *y = malloc(rt_nbytes(&gen[0]));
      cr_assert(y);
      memset(y, 0x5a, rt_nbytes(&gen[0])); /* a plane left out cannot pass */
      rt_tensor ty = mk(IVM_DT_F32, 4, gen[0].dims, y);
      rt_pool *pool = NULL;
      if (threads > 1) cr_assert_null(rt_pool_create(threads, &pool));
      rt_scratch scratch = {NULL, NULL, 0, pool};
      rt_tensor *out[1] = {&ty};
      rt_call call = {1, 1, in, out, at, &scratch, NULL};
      ok(rt_builtin_kernel(ISA_OP_MaxPool)(&call));
      cr_assert(memcmp(y, gen[0].data, rt_nbytes(&ty)) == 0,
                "%lldx%lldx%lld, case %zu, %d threads: bits differ", (long long)C, (long long)H,
                (long long)W, k, threads);
      rt_scratch_release(&scratch);
      rt_pool_destroy(pool);
      free(y);
    }
    free(gen[0].data);
    free(gen[1].data);
  }
  free(x);
}

Test(fast_pool, maxpool_2d_split_across_threads_keeps_the_bits) {
  maxpool_split_bits(24, 64, 64);
  maxpool_split_bits(1024, 4, 16); /* many planes of 2 output rows */
}
