/* The Conv kernels (runtime/kernels/conv.c, conv_dw.c, conv_dwc.c, conv_direct.c) against a
 * double-precision reference written here from the ONNX definition, over shapes that
 * reach every path: depthwise (strides 1-3, dilation, asymmetric pads, channel
 * multiplier, 1-D, narrow and wide rows), direct (in place with masked taps, per-row and
 * flattened positions,
 * groups, 1-D, output channels that are not a multiple of the 14-row tile, narrow rows,
 * stride 2 and 3 phases), im2col with tiled columns (forced with the AVX2 matrix kernel,
 * which the direct kernel does not use) and 1x1, Winograd F(2x2, 3x3) (conv_wino.c: called
 * itself on small and odd shapes, through Conv on the shapes it is dispatched for), plain
 * and as FusedConv with an activation, clip and affine. Also: results bitwise equal on 1, 2
 * and 3 threads, every output written (Y starts as NaN), and FusedConv's epilogue on every
 * path bitwise equal to the chain of kernels it replaces. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm.h"
#include "runtime/pool.h"
#include "runtime/rt.h"
#include "kernel_test_util.h"

typedef struct ccase {
  int64_t N, C, M, G, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  int one_d; /* input [N, C, W] with kh == 1 */
} ccase;

static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) {
  return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

/* The activation FusedConv applies in the current test ("" : plain Conv). */
static const char *g_act = "";
static const float g_alpha = 0.1f;

/* FusedConv's clip_min / clip_max in the current test (given when g_clip). */
static int g_clip = 0;
static const float g_clip_min = -0.25f, g_clip_max = 0.75f;

/* FusedConv's out_scale / out_shift in the current test (given when g_affine): not powers
 * of two, so a product and sum contracted into one FMA would round differently. */
static int g_affine = 0;
static const float g_scale = 0.7f, g_shift = -0.3f;

static double activate(double v) {
  if (!strcmp(g_act, "LeakyRelu")) v = v < 0 ? g_alpha * v : v;
  if (!strcmp(g_act, "Relu")) v = v < 0 ? 0 : v;
  if (!strcmp(g_act, "HardSwish")) v = v * fmin(fmax(v / 6 + 0.5, 0), 1);
  if (!strcmp(g_act, "Sigmoid")) v = 1 / (1 + exp(-v));
  if (g_clip) v = fmin(fmax(v, g_clip_min), g_clip_max);
  if (g_affine) v = v * g_scale + g_shift;
  return v;
}

/* y = the conv in double; mag (when not NULL) = |bias| + the sum of |w * x| over the
 * window, the scale of each output's rounding error. */
static void reference(const ccase *c, const float *x, const float *w, const float *b, double *y,
                      double *mag, int64_t OH, int64_t OW) {
  int64_t Cg = c->C / c->G, Mg = c->M / c->G;
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t m = 0; m < c->M; m++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          double s = b[m], a = fabs(b[m]);
          for (int64_t ci = 0; ci < Cg; ci++)
            for (int64_t ky = 0; ky < c->kh; ky++)
              for (int64_t kx = 0; kx < c->kw; kx++) {
                int64_t iy = oy * c->sh + ky * c->dh - c->pt, ix = ox * c->sw + kx * c->dw - c->pl;
                if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) continue;
                int64_t ch = m / Mg * Cg + ci;
                double t = (double)w[((m * Cg + ci) * c->kh + ky) * c->kw + kx] *
                           (double)x[((n * c->C + ch) * c->H + iy) * c->W + ix];
                s += t;
                a += fabs(t);
              }
          y[((n * c->M + m) * OH + oy) * OW + ox] = activate(s);
          if (mag) mag[((n * c->M + m) * OH + oy) * OW + ox] = a;
        }
}

static float rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* FusedConv with W given in Winograd's layout (transW 2, rt_conv_winograd_weights) in the
 * current test: what the compiler stores for a constant conv the Winograd kernel takes. */
static int g_wino_w = 0;

/* FusedConv's Z (residual, Y's shape) in the current test; NULL: none. */
static const float *g_z = NULL;

/* Runs Conv (FusedConv with g_act) through its kernel on `threads` threads into y. */
static void run_conv(const ccase *c, const float *x, const float *w, const float *b, float *y,
                     int64_t OH, int64_t OW, int threads) {
  rt_tensor tx = c->one_d ? mk(IVM_DT_F32, 3, D(c->N, c->C, c->W), x)
                          : mk(IVM_DT_F32, 4, D(c->N, c->C, c->H, c->W), x);
  rt_tensor tw = c->one_d ? mk(IVM_DT_F32, 3, D(c->M, c->C / c->G, c->kw), w)
                          : mk(IVM_DT_F32, 4, D(c->M, c->C / c->G, c->kh, c->kw), w);
  rt_tensor tb = mk(IVM_DT_F32, 1, D(c->M), b);
  rt_tensor ty = c->one_d ? mk(IVM_DT_F32, 3, D(c->N, c->M, OW), y)
                          : mk(IVM_DT_F32, 4, D(c->N, c->M, OH, OW), y);
  isa_attr a[16];
  isa_builtin_op op =
      *g_act || g_clip || g_affine || g_wino_w || g_z ? ISA_OP_FusedConv : ISA_OP_Conv;
  defaults(op, a);
  float *u = NULL;
  int64_t k3[2] = {3, 3}; /* set_ints keeps the pointer */
  if (g_wino_w) {
    cr_assert(c->kh == 3 && c->kw == 3 && c->G == 1 && !c->one_d);
    u = malloc((size_t)(16 * c->C * c->M) * sizeof(float));
    cr_assert(u);
    rt_conv_winograd_weights(w, c->M, c->C, u);
    tw = mk(IVM_DT_F32, 3, D(16, c->C, c->M), u);
    set_ints(&a[ISA_A_FusedConv_kernel_shape], k3, 2);
    set_int(&a[ISA_A_FusedConv_transW], 2);
  }
  if (*g_act) {
    set_str(&a[ISA_A_FusedConv_activation], g_act);
    a[ISA_A_FusedConv_act_alpha].v.f = g_alpha;
    a[ISA_A_FusedConv_act_alpha].present = 1;
  }
  if (g_clip) {
    a[ISA_A_FusedConv_clip_min].v.f = g_clip_min;
    a[ISA_A_FusedConv_clip_min].present = 1;
    a[ISA_A_FusedConv_clip_max].v.f = g_clip_max;
    a[ISA_A_FusedConv_clip_max].present = 1;
  }
  if (g_affine) {
    a[ISA_A_FusedConv_out_scale].v.f = g_scale;
    a[ISA_A_FusedConv_out_scale].present = 1;
    a[ISA_A_FusedConv_out_shift].v.f = g_shift;
    a[ISA_A_FusedConv_out_shift].present = 1;
  }
  int64_t strides[2] = {c->sh, c->sw}, dil[2] = {c->dh, c->dw};
  int64_t pads[4] = {c->pt, c->pl, c->pb, c->pr};
  int64_t s1[1] = {c->sw}, d1[1] = {c->dw}, p1[2] = {c->pl, c->pr};
  set_int(&a[ISA_A_Conv_group], c->G);
  if (c->one_d) {
    set_ints(&a[ISA_A_Conv_strides], s1, 1);
    set_ints(&a[ISA_A_Conv_dilations], d1, 1);
    set_ints(&a[ISA_A_Conv_pads], p1, 2);
  } else {
    set_ints(&a[ISA_A_Conv_strides], strides, 2);
    set_ints(&a[ISA_A_Conv_dilations], dil, 2);
    set_ints(&a[ISA_A_Conv_pads], pads, 4);
  }
  for (int64_t i = 0; i < rt_numel(&ty); i++) y[i] = NAN;
  rt_pool *pool = NULL;
  if (threads > 1) cr_assert_null(rt_pool_create(threads, &pool));
  rt_scratch scratch = {NULL, NULL, 0, pool};
  rt_tensor tz = mk(IVM_DT_F32, ty.rank, ty.dims, (void *)g_z);
  const rt_tensor *in[4] = {&tx, &tw, &tb, &tz};
  rt_tensor *out[1] = {&ty};
  rt_call call = {g_z ? 4 : 3, 1, in, out, a, &scratch, NULL};
  ivm_status st = rt_builtin_kernel(op)(&call);
  cr_assert_null(st, "Conv failed: %s", ivm_status_message(st));
  rt_scratch_release(&scratch);
  rt_pool_destroy(pool);
  free(u);
}

/* A case's random input, weights and bias (seeded by the case), its output size. */
typedef struct cdata {
  int64_t OH, OW, ny;
  float *x, *w, *b;
} cdata;

static cdata case_data(const ccase *c, unsigned seed) {
  cdata d;
  d.OH = out_len(c->H, c->kh, c->sh, c->dh, c->pt, c->pb);
  d.OW = out_len(c->W, c->kw, c->sw, c->dw, c->pl, c->pr);
  int64_t nx = c->N * c->C * c->H * c->W, nw = c->M * (c->C / c->G) * c->kh * c->kw;
  d.ny = c->N * c->M * d.OH * d.OW;
  d.x = malloc((size_t)nx * sizeof(float));
  d.w = malloc((size_t)nw * sizeof(float));
  d.b = malloc((size_t)c->M * sizeof(float));
  cr_assert(d.x && d.w && d.b);
  for (int64_t i = 0; i < nx; i++) d.x[i] = rnd(&seed);
  for (int64_t i = 0; i < nw; i++) d.w[i] = rnd(&seed);
  for (int64_t i = 0; i < c->M; i++) d.b[i] = rnd(&seed);
  return d;
}

static void cdata_free(cdata *d) {
  free(d->x);
  free(d->w);
  free(d->b);
}

typedef void (*conv_runner)(const ccase *c, const float *x, const float *w, const float *b,
                            float *y, int64_t OH, int64_t OW, int threads);

/* Runs c through `run` on 1, 2 and 3 threads: every output near the reference, and the
 * same bits on every thread count. ulps == 0: the direct summation's bound,
 * 1e-5 * K * (1 + |ref|); else |y - ref| <= ulps * eps * (mag + |ref|) (see WINO_ULPS). */
static void check_with(const ccase *c, conv_runner run, double ulps) {
  cdata d = case_data(c, 12345u + (unsigned)(c->C * 7 + c->M * 131 + c->W));
  int64_t OH = d.OH, OW = d.OW, ny = d.ny;
  float *x = d.x, *w = d.w, *b = d.b;
  float *y[3];
  double *want = malloc((size_t)ny * sizeof(double)), *mag = malloc((size_t)ny * sizeof(double));
  cr_assert(want && mag);
  reference(c, x, w, b, want, mag, OH, OW);
  double tol = 1e-5 * (double)((c->C / c->G) * c->kh * c->kw);
  for (int t = 0; t < 3; t++) {
    y[t] = malloc((size_t)ny * sizeof(float));
    run(c, x, w, b, y[t], OH, OW, t + 1);
    for (int64_t i = 0; i < ny; i++) {
      double err = fabs(y[t][i] - want[i]);
      double bound = ulps == 0 ? tol * (1 + fabs(want[i]))
                               : ulps * FLT_EPSILON * (mag[i] + fabs(want[i]));
      cr_assert(err <= bound,
                "N%lld C%lld M%lld G%lld %lldx%lld k%lldx%lld s%lld,%lld: y[%lld] = %.8g, "
                "reference %.8g (%d threads)",
                (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->G,
                (long long)c->H, (long long)c->W, (long long)c->kh, (long long)c->kw,
                (long long)c->sh, (long long)c->sw, (long long)i, y[t][i], want[i], t + 1);
    }
    if (t > 0)
      cr_assert(memcmp(y[t], y[0], (size_t)ny * sizeof(float)) == 0,
                "results differ between 1 and %d threads", t + 1);
  }
  for (int t = 0; t < 3; t++) free(y[t]);
  free(want);
  free(mag);
  cdata_free(&d);
}

static void check(const ccase *c) { check_with(c, run_conv, 0); }

/*             N  C   M   G   H   W  kh kw sh sw dh dw pt pl pb pr 1d */
static const ccase depthwise[] = {
    {1, 16, 16, 16, 40, 40, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0},   /* wide rows */
    {2, 5, 5, 5, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},       /* narrow rows: 4-row blocks */
    {1, 6, 6, 6, 33, 70, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0},      /* stride 2: de-interleave */
    {1, 4, 4, 4, 20, 41, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 0},
    {1, 3, 6, 3, 11, 29, 3, 3, 3, 3, 2, 2, 0, 1, 2, 0, 0},      /* multiplier 2, stride 3 */
    {1, 4, 4, 4, 1, 77, 1, 5, 1, 1, 1, 2, 0, 4, 0, 4, 1},       /* 1-D, dilation 2 */
    {1, 8, 8, 8, 7, 7, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 0},        /* kernel as big as input */
    {1, 3, 3, 3, 12, 12, 3, 3, 2, 1, 1, 1, 1, 0, 1, 0, 0},      /* stride only vertical */
    /* rows narrower than 4 vectors: positions flattened over rows (row phases) */
    {1, 8, 8, 8, 20, 20, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0},      /* ppocr_v4_det's 20 x 20 */
    {1, 5, 5, 5, 40, 40, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 0},      /* 5x5/2 */
    {1, 4, 4, 4, 23, 19, 3, 3, 3, 2, 2, 1, 2, 1, 1, 2, 0},      /* strides 3, 2, dilation */
    {1, 3, 3, 3, 10, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},     /* wide rows: 7 vectors */
    {1, 2, 2, 2, 4, 96, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0},       /* 6 vectors (cls) */
    {1, 2, 2, 2, 3, 150, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},      /* 8 + 2 vectors */
};
static const ccase direct[] = {
    {1, 16, 24, 1, 30, 45, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},    /* flattened rows */
    {2, 3, 16, 1, 33, 35, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0},     /* stride 2: row phases flat */
    {1, 5, 14, 1, 30, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0},     /* stride 2: per-row tiles */
    {1, 6, 20, 1, 23, 23, 5, 5, 3, 3, 2, 2, 2, 2, 2, 2, 0},     /* stride 3, dilation 2 */
    {1, 7, 12, 1, 28, 28, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 0},     /* 7x7/2 stem: 14 x 14 */
    {1, 8, 10, 1, 15, 9, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 0},      /* 1x1/2: 8 x 5 */
    {1, 9, 16, 1, 17, 12, 3, 2, 2, 1, 1, 1, 1, 0, 1, 1, 0},     /* stride 2 down only */
    {1, 8, 29, 1, 12, 70, 3, 3, 1, 3, 1, 1, 1, 1, 1, 1, 0},     /* 3 phases, 29 = 15 + 14 */
    {1, 24, 24, 1, 12, 32, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 0},    /* 1x3 */
    {1, 24, 40, 1, 12, 4, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},     /* 3x1 on 4 columns */
    {1, 12, 15, 3, 9, 8, 3, 3, 2, 1, 1, 1, 0, 1, 2, 0, 0},      /* 3 groups */
    {1, 6, 9, 1, 10, 40, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0},      /* dilation 2 */
    {1, 10, 7, 1, 1, 50, 1, 5, 1, 2, 1, 1, 0, 2, 0, 1, 1},      /* 1-D, stride 2 */
    {1, 96, 1, 1, 3, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},      /* one output channel */
    {1, 4, 30, 1, 5, 5, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0},       /* 2x2, no padding */
    /* stride 1, output no wider than the input: taps read X in place, masked */
    {1, 5, 17, 1, 7, 9, 3, 3, 1, 1, 1, 1, 2, 2, 0, 0, 0},       /* pads only before */
    {1, 7, 11, 1, 6, 10, 3, 5, 1, 1, 1, 1, 0, 0, 2, 4, 0},      /* pads only after */
    {1, 3, 20, 1, 1, 45, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3, 1},      /* 1-D, same length */
    {2, 9, 13, 1, 1, 40, 1, 3, 1, 1, 1, 3, 0, 1, 0, 1, 1},      /* 1-D, dilation 3, narrower */
    {1, 4, 6, 1, 3, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},       /* last tile: one position */
    /* stride 1 but wider than the input: the padded buffer */
    {1, 6, 10, 1, 8, 9, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 0},
};
/* Large enough for the tiled im2col path (column matrix over 256 KiB) and 1x1. */
static const ccase im2col[] = {
    {1, 32, 20, 1, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {1, 16, 30, 2, 30, 50, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {2, 24, 36, 1, 17, 23, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
};

/* At most 16 output positions: the column matrix is multiplied transposed (one dot
 * product per output), whole (pairs) or in row panels across threads. */
static const ccase few_positions[] = {
    {1, 1, 257, 1, 1, 1760, 1, 512, 1, 160, 1, 1, 0, 0, 0, 0, 1}, /* STFT: 8 positions */
    /* one channel, 1-D: X's windows read in place unless dilated or padded */
    {2, 1, 257, 1, 1, 1760, 1, 512, 1, 160, 1, 1, 0, 0, 0, 0, 1}, /* batch: pairs */
    {1, 1, 64, 1, 1, 1632, 1, 512, 1, 160, 1, 1, 0, 0, 0, 0, 1},  /* last window at the end */
    {1, 1, 100, 1, 1, 1200, 1, 256, 1, 128, 1, 1, 0, 64, 0, 0, 1},   /* padded before */
    {1, 1, 100, 1, 1, 1000, 1, 256, 1, 128, 1, 1, 0, 0, 0, 128, 1},  /* padded after */
    {1, 1, 40, 1, 1, 100, 1, 9, 1, 10, 1, 2, 0, 0, 0, 0, 1},      /* dilation 2 */
    {1, 2, 300, 1, 1, 900, 1, 256, 1, 80, 1, 1, 0, 0, 0, 0, 1},   /* 2 channels, row panels */
    {1, 96, 96, 1, 4, 2, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},        /* 2 x 2 outputs */
    {2, 64, 200, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},       /* 1x1 on 3 x 3 */
    {1, 256, 512, 1, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},      /* row panels */
    {1, 40, 30, 2, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0},        /* groups, 9 positions */
    /* 8-16 positions, stride 1: the direct kernel in place on one 16-lane vector */
    {1, 96, 96, 1, 8, 2, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},        /* 6 x 2 outputs */
    {1, 20, 30, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},        /* 3 x 3, padded */
};

Test(conv_fast, few_positions) {
  for (size_t i = 0; i < sizeof few_positions / sizeof *few_positions; i++)
    check(&few_positions[i]);
  rt_sgemm_use_kernel(RT_SGEMM_AVX2);
  for (size_t i = 0; i < sizeof few_positions / sizeof *few_positions; i++)
    check(&few_positions[i]);
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

/* At least 16 channels, one output each, small planes: the channel-blocked kernel
 * (conv_dwc.c) with AVX-512. */
static const ccase depthwise_blocked[] = {
    {1, 20, 20, 20, 20, 20, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0},   /* 16 + 4 channels */
    {2, 32, 32, 32, 40, 40, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 0},   /* stride 2, batch 2 */
    {1, 17, 17, 17, 23, 19, 3, 3, 3, 2, 2, 1, 2, 1, 1, 2, 0},   /* strides 3, 2, dilation */
    {1, 16, 16, 16, 9, 63, 3, 3, 1, 1, 1, 1, 0, 1, 1, 0, 0},    /* 63 wide, pads one side */
    {1, 48, 48, 48, 7, 7, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 0},     /* kernel as big as input */
    {1, 24, 24, 24, 12, 96, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0},   /* cls: rows of 96, s (2, 1) */
};

/* A depthwise conv's sum, written out: 0 + bias, then one fused multiply-add (fmaf: one
 * rounding) per tap in row-major tap order, a tap in the padding adding w * 0. Both
 * depthwise kernels sum that way with AVX-512 intrinsics, in any build, so they are held
 * to the bits (conv_dw.c's 8-float portable blocks only where the compiler contracts). */
static void fma_chain(const ccase *c, const float *x, const float *w, const float *b, float *y,
                      int64_t OH, int64_t OW) {
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t m = 0; m < c->M; m++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          float acc = 0.0f + b[m];
          for (int64_t ky = 0; ky < c->kh; ky++)
            for (int64_t kx = 0; kx < c->kw; kx++) {
              int64_t iy = oy * c->sh + ky * c->dh - c->pt, ix = ox * c->sw + kx * c->dw - c->pl;
              float v = iy >= 0 && iy < c->H && ix >= 0 && ix < c->W
                            ? x[((n * c->C + m / (c->M / c->C)) * c->H + iy) * c->W + ix]
                            : 0.0f;
              acc = fmaf(w[(m * c->kh + ky) * c->kw + kx], v, acc);
            }
          y[((n * c->M + m) * OH + oy) * OW + ox] = acc;
        }
}

/* Case c (seeded by i) on the kernel in use, 2 threads: fma_chain's bits. */
static void fma_bits(const ccase *c, size_t i) {
  cdata d = case_data(c, 777u + (unsigned)i);
  float *y = malloc((size_t)d.ny * sizeof(float)), *want = malloc((size_t)d.ny * sizeof(float));
  cr_assert(y && want);
  run_conv(c, d.x, d.w, d.b, y, d.OH, d.OW, 2);
  fma_chain(c, d.x, d.w, d.b, want, d.OH, d.OW);
  for (int64_t k = 0; k < d.ny; k++)
    cr_assert(memcmp(&y[k], &want[k], sizeof(float)) == 0, "case %zu: y[%lld] = %.9g, %.9g", i,
              (long long)k, y[k], want[k]);
  free(y);
  free(want);
  cdata_free(&d);
}

Test(conv_fast, depthwise_sums_one_fma_per_tap) {
  for (size_t i = 0; i < sizeof depthwise_blocked / sizeof *depthwise_blocked; i++)
    check(&depthwise_blocked[i]);
  if (rt_sgemm_current_kernel() != RT_SGEMM_AVX512) return; /* 8-float blocks: contraction */
  for (size_t i = 0; i < sizeof depthwise_blocked / sizeof *depthwise_blocked; i++)
    fma_bits(&depthwise_blocked[i], i);
  for (size_t i = 0; i < sizeof depthwise / sizeof *depthwise; i++) /* conv_dw.c */
    fma_bits(&depthwise[i], 100 + i);
}

Test(conv_fast, depthwise) {
  for (size_t i = 0; i < sizeof depthwise / sizeof *depthwise; i++) check(&depthwise[i]);
  rt_sgemm_use_kernel(RT_SGEMM_AVX2); /* 8-float vectors: other rows are narrow */
  for (size_t i = 0; i < sizeof depthwise / sizeof *depthwise; i++) check(&depthwise[i]);
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

Test(conv_fast, direct) {
  for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) check(&direct[i]);
}

Test(conv_fast, im2col_and_pointwise) {
  for (size_t i = 0; i < sizeof im2col / sizeof *im2col; i++) check(&im2col[i]);
}

/* ---- Winograd F(2x2, 3x3) ----------------------------------------------------------- */
/* Its rounding: the input transform sums up to 4 inputs (B^T d B), the weight transform
 * up to 9 taps times 1/4 (G g G^T), the output transform 9 of the 16 products' sums
 * (A^T m A), which largely cancel; so an output's error scales with eps times its mag
 * (the sum of |w x| over its window, the scale of direct summation's error too) times
 * the transforms' small norms, not with the output itself. The bound is
 * WINO_ULPS * eps * (mag + |ref|), the |ref| for the activation's own rounding. Measured
 * over these cases, FusedConv's included: at most 1.15 of those units (trial cases with
 * 256 and 512 input channels: 0.71, 0.37; direct summation on the direct cases: 1.38);
 * the bound allows 3x that. */
#define WINO_ULPS 3.5

static conv_plan winograd_plan(const ccase *c, int64_t OH, int64_t OW) {
  conv_plan p;
  memset(&p, 0, sizeof p);
  p.w.n = 2;
  int64_t in[2] = {c->H, c->W}, out[2] = {OH, OW}, pb[2] = {c->pt, c->pl}, pe[2] = {c->pb, c->pr};
  for (int d = 0; d < 2; d++) {
    p.w.in[d] = in[d];
    p.w.kernel[d] = 3;
    p.w.stride[d] = p.w.dilation[d] = 1;
    p.w.pad_begin[d] = pb[d];
    p.w.pad_end[d] = pe[d];
    p.w.out[d] = out[d];
  }
  p.N = c->N, p.C = p.Cg = c->C, p.M = p.Mg = c->M, p.G = 1;
  p.in_sz = c->H * c->W, p.out_sz = OH * OW, p.k_sz = 9;
  return p;
}

/* rt_conv_winograd_f32 itself (the dispatch takes bigger shapes), plain Conv. */
static void run_winograd(const ccase *c, const float *x, const float *w, const float *b,
                         float *y, int64_t OH, int64_t OW, int threads) {
  cr_assert(c->G == 1 && c->kh == 3 && c->kw == 3 && c->sh == 1 && c->sw == 1 && c->dh == 1 &&
            c->dw == 1 && !c->one_d);
  conv_plan p = winograd_plan(c, OH, OW);
  rt_tensor tx = mk(IVM_DT_F32, 4, D(c->N, c->C, c->H, c->W), x);
  rt_tensor tw = mk(IVM_DT_F32, 4, D(c->M, c->C, 3, 3), w);
  rt_tensor tb = mk(IVM_DT_F32, 1, D(c->M), b);
  rt_tensor ty = mk(IVM_DT_F32, 4, D(c->N, c->M, OH, OW), y);
  for (int64_t i = 0; i < rt_numel(&ty); i++) y[i] = NAN;
  rt_pool *pool = NULL;
  if (threads > 1) cr_assert_null(rt_pool_create(threads, &pool));
  rt_scratch scratch = {NULL, NULL, 0, pool};
  const rt_tensor *in[3] = {&tx, &tw, &tb};
  rt_tensor *out[1] = {&ty};
  rt_call call = {3, 1, in, out, NULL, &scratch, NULL};
  ivm_status st = rt_conv_winograd_f32(&call, &p);
  cr_assert_null(st, "Winograd failed: %s", ivm_status_message(st));
  rt_scratch_release(&scratch);
  rt_pool_destroy(pool);
}

/* Small and odd shapes: tiles cut by the image's last row and column, pads 0, 1, 2 and
 * asymmetric, a batch, rows narrower than a 16-tile group (every load masked) and wider
 * (unmasked groups between masked ones, several column blocks, a last block one tile
 * wide), one tile row, output channels that are not a multiple of the matrix tile, and
 * few tiles for many output channels (on 2 and 3 threads the threads split the output
 * channels); and enough weights that threads share one transformed copy. */
/*             N  C   M   G   H   W  kh kw sh sw dh dw pt pl pb pr 1d */
static const ccase winograd[] = {
    {1, 16, 24, 1, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},     /* 9 x 13: last tiles cut */
    {2, 17, 19, 1, 11, 7, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 0},     /* batch, pads 2 */
    {1, 8, 30, 1, 12, 40, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0},     /* pads 0 */
    {1, 5, 3, 1, 6, 71, 3, 3, 1, 1, 1, 1, 0, 1, 2, 0, 0},       /* asymmetric, wide rows */
    {1, 33, 29, 1, 37, 20, 3, 3, 1, 1, 1, 1, 1, 2, 0, 1, 0},    /* asymmetric */
    {1, 40, 48, 1, 70, 66, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},    /* blocks 32 + 1 tiles wide */
    {1, 16, 16, 1, 1, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},     /* one input row */
    {1, 3, 40, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},       /* 9 tiles, 40 channels */
    {2, 4, 5, 1, 2, 2, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 0},        /* 2 x 2 input, pads 2 */
    {1, 1, 1, 1, 4, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0},        /* one tile */
    {1, 92, 90, 1, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},    /* weights shared by threads */
};
/* Shapes the dispatch gives Winograd (checked below), through Conv and FusedConv. */
static const ccase winograd_dispatch[] = {
    {1, 32, 24, 1, 41, 43, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {2, 40, 30, 1, 30, 27, 3, 3, 1, 1, 1, 1, 0, 1, 2, 1, 0},
};

/* With whichever matrix kernel the CPU has (without AVX-512: the portable path). */
Test(conv_fast, winograd) {
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
  for (size_t i = 0; i < sizeof winograd / sizeof *winograd; i++)
    check_with(&winograd[i], run_winograd, WINO_ULPS);
}

/* Winograd's weight layout (transW 2) by hand: G g G^T for g = [1 2 3; 4 5 6; 7 8 9] is
 * G g = [1 2 3; 6 7.5 9; 2 2.5 3; 7 8 9] times G^T, row by row [t0, (t0 + t1 + t2) / 2,
 * (t0 - t1 + t2) / 2, t2]: all exact in float. Put at output channel 1, input channel 2
 * of W (2, 3, 3, 3), zeros elsewhere; U is (16, C, M). */
Test(conv_fast, winograd_weights_by_hand) {
  float w[2 * 3 * 9] = {0}, u[16 * 3 * 2];
  for (int t = 0; t < 9; t++) w[(1 * 3 + 2) * 9 + t] = (float)(t + 1);
  static const float want[16] = {1, 3,     1,    3, 6, 11.25f, 3.75f, 9,
                                 2, 3.75f, 1.25f, 3, 7, 12,     4,     9};
  memset(u, 0xff, sizeof u); /* NaN: every element must be written */
  rt_conv_winograd_weights(w, 2, 3, u);
  for (int e = 0; e < 16; e++)
    for (int c = 0; c < 3; c++)
      for (int m = 0; m < 2; m++) {
        float got = u[(e * 3 + c) * 2 + m], expect = c == 2 && m == 1 ? want[e] : 0.0f;
        cr_assert(got == expect, "U[%d][%d][%d] = %g, want %g", e, c, m, got, expect);
      }
}

/* FusedConv given U (transW 2) computes what Winograd computes from W per call, bit for
 * bit, on 1-3 threads, with the AVX-512 kernel and the portable path alike; through the
 * dispatch (transW 2 always takes Winograd) and with every epilogue. */
static void activation_bits(const ccase *c, unsigned seed);

static void winograd_given_weights(void) {
  const ccase *tables[2] = {winograd, winograd_dispatch};
  size_t counts[2] = {sizeof winograd / sizeof *winograd,
                      sizeof winograd_dispatch / sizeof *winograd_dispatch};
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i < counts[t]; i++) {
      const ccase *c = &tables[t][i];
      cdata d = case_data(c, 4242u + (unsigned)i);
      /* full mantissas: case_data's multiples of 2^-15 add exactly in any order, so a
       * transform that summed in another order would give the same bits */
      for (int64_t k = 0; k < c->M * c->C * 9; k++) d.w[k] /= 3.0f;
      float *per_call = malloc((size_t)d.ny * sizeof(float));
      float *given = malloc((size_t)d.ny * sizeof(float));
      cr_assert(per_call && given);
      for (int threads = 1; threads <= 3; threads++) {
        run_winograd(c, d.x, d.w, d.b, per_call, d.OH, d.OW, threads);
        g_wino_w = 1;
        run_conv(c, d.x, d.w, d.b, given, d.OH, d.OW, threads);
        g_wino_w = 0;
        cr_assert(memcmp(per_call, given, (size_t)d.ny * sizeof(float)) == 0,
                  "table %d case %zu, %d threads: transW 2 differs from W per call", t, i,
                  threads);
      }
      free(per_call), free(given);
      cdata_free(&d);
    }
  g_wino_w = 1;
  for (size_t i = 0; i < counts[1]; i++) {
    check_with(&winograd_dispatch[i], run_conv, WINO_ULPS);
    activation_bits(&winograd_dispatch[i], 321u + (unsigned)i);
  }
  g_wino_w = 0;
}

Test(conv_fast, winograd_given_weights) {
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
  winograd_given_weights();
}

Test(conv_fast, winograd_given_weights_portable) {
  rt_sgemm_use_kernel(RT_SGEMM_AVX2);
  winograd_given_weights();
  for (size_t i = 0; i < sizeof winograd / sizeof *winograd; i++)
    check_with(&winograd[i], run_winograd, WINO_ULPS);
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

/* Conv and FusedConv take Winograd on these shapes: with each activation (Relu,
 * LeakyRelu and HardSwish in registers, Sigmoid through its kernel), the clip and the
 * affine. */
Test(conv_fast, winograd_dispatch) {
  if (rt_sgemm_use_kernel(RT_SGEMM_AUTO) != RT_SGEMM_AVX512)
    cr_skip_test("the Winograd kernel needs the AVX-512 matrix kernel");
  for (size_t i = 0; i < sizeof winograd_dispatch / sizeof *winograd_dispatch; i++) {
    const ccase *c = &winograd_dispatch[i];
    conv_plan p = winograd_plan(c, out_len(c->H, 3, 1, 1, c->pt, c->pb),
                                out_len(c->W, 3, 1, 1, c->pl, c->pr));
    cr_assert(rt_conv_winograd_ok(&p), "case %zu is not dispatched to Winograd", i);
  }
  const char *acts[10] = {"", "LeakyRelu", "HardSwish", "Relu", "LeakyRelu", "Sigmoid", "",
                          "HardSwish", "Sigmoid", ""};
  for (int k = 0; k < 10; k++) {
    g_act = acts[k];
    g_clip = k >= 4 && k < 7;
    g_affine = k >= 6;
    for (size_t i = 0; i < sizeof winograd_dispatch / sizeof *winograd_dispatch; i++)
      check_with(&winograd_dispatch[i], run_conv, WINO_ULPS);
  }
  g_act = "";
  g_clip = g_affine = 0;
}

/* With the portable matrix kernel the dense cases take im2col (tiled when large). */
Test(conv_fast, portable_kernel) {
  rt_sgemm_use_kernel(RT_SGEMM_AVX2); /* depthwise: 8-float vectors instead of 16 */
  for (size_t i = 0; i < sizeof depthwise / sizeof *depthwise; i++) check(&depthwise[i]);
  for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) check(&direct[i]);
  for (size_t i = 0; i < sizeof im2col / sizeof *im2col; i++) check(&im2col[i]);
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

/* FusedConv: the activation on every path (Relu, LeakyRelu and HardSwish in the direct
 * kernel's registers, others through their kernels), LeakyRelu's alpha reaching it; then
 * the clip, after an activation in registers, after a called one (Sigmoid) and alone; then
 * the affine, after the clip, after an activation in registers or a called one, and alone. */
Test(conv_fast, fused_activation_on_every_path) {
  const char *acts[9] = {"LeakyRelu", "HardSwish", "Relu", "LeakyRelu", "Sigmoid", "",
                         "HardSwish", "Sigmoid", ""};
  for (int k = 0; k < 9; k++) {
    g_act = acts[k];
    g_clip = k >= 3 && k < 6;
    g_affine = k >= 5;
    for (size_t i = 0; i < sizeof depthwise / sizeof *depthwise; i++) check(&depthwise[i]);
    for (size_t i = 0; i < sizeof depthwise_blocked / sizeof *depthwise_blocked; i++)
      check(&depthwise_blocked[i]);
    for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) check(&direct[i]);
    for (size_t i = 0; i < sizeof im2col / sizeof *im2col; i++) check(&im2col[i]);
    rt_sgemm_use_kernel(RT_SGEMM_AVX2);
    for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) check(&direct[i]);
    for (size_t i = 0; i < sizeof im2col / sizeof *im2col; i++) check(&im2col[i]);
    rt_sgemm_use_kernel(RT_SGEMM_AUTO);
  }
  g_act = "";
  g_clip = g_affine = 0;
}

/* Runs the one-input kernel of op (or Max / Min / Mul / Add by the scalar k) on n floats in
 * place. */
static void apply_op(isa_builtin_op op, float *x, int64_t n, float k) {
  isa_attr a[16];
  defaults(op, a);
  if (op == ISA_OP_LeakyRelu) a[ISA_A_LeakyRelu_alpha].v.f = g_alpha;
  rt_tensor tin = mk(IVM_DT_F32, 1, D(n), x), tk = mk(IVM_DT_F32, 0, NULL, &k);
  const rt_tensor *in[2] = {&tin, &tk};
  rt_tensor *out[1] = {&tin};
  rt_scratch scratch = {NULL, NULL, 0, NULL};
  int binary = op == ISA_OP_Max || op == ISA_OP_Min || op == ISA_OP_Mul || op == ISA_OP_Add;
  rt_call call = {binary ? 2 : 1, 1, in, out, a, &scratch, NULL};
  cr_assert_null(rt_builtin_kernel(op)(&call));
  rt_scratch_release(&scratch);
}

/* FusedConv's epilogues for the bitwise checks: an activation (and its op), the clip, the
 * affine. */
typedef struct epilogue {
  const char *act;
  isa_builtin_op op; /* ISA_OP_COUNT: no activation */
  int clip, affine;
} epilogue;
static const epilogue epilogues[] = {
    {"Relu", ISA_OP_Relu, 0, 0},           {"LeakyRelu", ISA_OP_LeakyRelu, 0, 0},
    {"HardSwish", ISA_OP_HardSwish, 0, 0}, {"LeakyRelu", ISA_OP_LeakyRelu, 1, 0},
    {"HardSwish", ISA_OP_HardSwish, 0, 1}, {"", ISA_OP_COUNT, 0, 1},
    {"LeakyRelu", ISA_OP_LeakyRelu, 1, 1}, {"Sigmoid", ISA_OP_Sigmoid, 0, 1},
};

/* The epilogue's ops on x, each through its own kernel: activation, clip, affine. */
static void apply_epilogue(const epilogue *e, float *x, int64_t n) {
  if (e->op != ISA_OP_COUNT) apply_op(e->op, x, n, 0);
  if (e->clip) {
    apply_op(ISA_OP_Max, x, n, g_clip_min);
    apply_op(ISA_OP_Min, x, n, g_clip_max);
  }
  if (e->affine) {
    apply_op(ISA_OP_Mul, x, n, g_scale);
    apply_op(ISA_OP_Add, x, n, g_shift);
  }
}

/* Every epilogue on case c gives the bits of the chain the compiler folds into it: the plain
 * Conv's output through the activation's own kernel, then the Max and Min kernels by the
 * clip bounds, then the Mul and Add kernels by the scale and shift. Relu, LeakyRelu,
 * HardSwish, the clip and the affine run in the direct, Winograd and channel-blocked
 * depthwise kernels' registers;
 * elsewhere (depthwise, im2col, 1x1, a called activation) in rt_conv_activate. */
static void activation_bits(const ccase *c, unsigned seed) {
  for (size_t k = 0; k < sizeof epilogues / sizeof *epilogues; k++) {
    const epilogue *e = &epilogues[k];
    cdata d = case_data(c, seed);
    int64_t ny = d.ny;
    float *plain = malloc((size_t)ny * sizeof(float)), *want = malloc((size_t)ny * sizeof(float));
    float *fused = malloc((size_t)ny * sizeof(float));
    run_conv(c, d.x, d.w, d.b, plain, d.OH, d.OW, 1);
    g_act = e->act;
    g_clip = e->clip;
    g_affine = e->affine;
    run_conv(c, d.x, d.w, d.b, fused, d.OH, d.OW, 2);
    g_act = "";
    g_clip = g_affine = 0;
    memcpy(want, plain, (size_t)ny * sizeof(float));
    apply_epilogue(e, want, ny);
    cr_assert(memcmp(fused, want, (size_t)ny * sizeof(float)) == 0,
              "%s%s%s, C%lld M%lld G%lld %lldx%lld k%lldx%lld: bits differ", e->act,
              e->clip ? " + clip" : "", e->affine ? " + affine" : "", (long long)c->C,
              (long long)c->M, (long long)c->G, (long long)c->H, (long long)c->W,
              (long long)c->kh, (long long)c->kw);
    free(plain), free(want), free(fused);
    cdata_free(&d);
  }
}

/* FusedConv with Z (a residual of Y's shape) gives the bits of Conv, then Add of Z, then
 * the epilogue's ops, on every path: in the direct and Winograd kernels' registers where
 * the tile's place in Y is known, else in rt_conv_activate on Y. */
static void residual_bits(const ccase *c, unsigned seed) {
  static const epilogue with_z[] = {{"", ISA_OP_COUNT, 0, 0},
                                    {"Relu", ISA_OP_Relu, 0, 0},
                                    {"HardSwish", ISA_OP_HardSwish, 0, 1},
                                    {"LeakyRelu", ISA_OP_LeakyRelu, 1, 0},
                                    {"Sigmoid", ISA_OP_Sigmoid, 0, 0}};
  for (size_t k = 0; k < sizeof with_z / sizeof *with_z; k++) {
    const epilogue *e = &with_z[k];
    cdata d = case_data(c, seed);
    int64_t ny = d.ny;
    float *plain = malloc((size_t)ny * sizeof(float)), *z = malloc((size_t)ny * sizeof(float));
    float *fused = malloc((size_t)ny * sizeof(float));
    cr_assert(plain && z && fused);
    unsigned zs = seed * 7u + 1u;
    for (int64_t i = 0; i < ny; i++) z[i] = rnd(&zs) / 3.0f; /* full mantissas */
    run_conv(c, d.x, d.w, d.b, plain, d.OH, d.OW, 1);
    for (int threads = 1; threads <= 2; threads++) {
      g_act = e->act;
      g_clip = e->clip;
      g_affine = e->affine;
      g_z = z;
      run_conv(c, d.x, d.w, d.b, fused, d.OH, d.OW, threads);
      g_act = "";
      g_clip = g_affine = 0;
      g_z = NULL;
      float *want = malloc((size_t)ny * sizeof(float));
      cr_assert(want);
      for (int64_t i = 0; i < ny; i++) want[i] = plain[i] + z[i];
      apply_epilogue(e, want, ny);
      cr_assert(memcmp(fused, want, (size_t)ny * sizeof(float)) == 0,
                "Z then %s%s%s, C%lld M%lld G%lld %lldx%lld k%lldx%lld s%lld, %d threads: bits "
                "differ", *e->act ? e->act : "nothing", e->clip ? " + clip" : "",
                e->affine ? " + affine" : "", (long long)c->C, (long long)c->M, (long long)c->G,
                (long long)c->H, (long long)c->W, (long long)c->kh, (long long)c->kw,
                (long long)c->sh, threads);
      free(want);
    }
    free(plain), free(z), free(fused);
    cdata_free(&d);
  }
}

Test(conv_fast, residual_on_every_path) {
  for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) residual_bits(&direct[i], 71u + (unsigned)i);
  for (size_t i = 0; i < sizeof winograd_dispatch / sizeof *winograd_dispatch; i++)
    residual_bits(&winograd_dispatch[i], 72u + (unsigned)i);
  for (size_t i = 0; i < sizeof depthwise_blocked / sizeof *depthwise_blocked; i++)
    residual_bits(&depthwise_blocked[i], 73u + (unsigned)i);
  for (size_t i = 0; i < sizeof depthwise / sizeof *depthwise; i++)
    residual_bits(&depthwise[i], 74u + (unsigned)i);
  for (size_t i = 0; i < sizeof im2col / sizeof *im2col; i++) residual_bits(&im2col[i], 75u + (unsigned)i);
  for (size_t i = 0; i < sizeof few_positions / sizeof *few_positions; i++)
    residual_bits(&few_positions[i], 76u + (unsigned)i);
  rt_sgemm_use_kernel(RT_SGEMM_AVX2); /* im2col, portable Winograd */
  for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) residual_bits(&direct[i], 77u + (unsigned)i);
  g_wino_w = 1;
  for (size_t i = 0; i < sizeof winograd_dispatch / sizeof *winograd_dispatch; i++)
    residual_bits(&winograd_dispatch[i], 78u + (unsigned)i);
  g_wino_w = 0;
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

Test(conv_fast, activation_in_registers_matches_its_kernel) {
  for (size_t i = 0; i < sizeof direct / sizeof *direct; i++)
    activation_bits(&direct[i], 777u + (unsigned)i);
  for (size_t i = 0; i < sizeof winograd_dispatch / sizeof *winograd_dispatch; i++)
    activation_bits(&winograd_dispatch[i], 888u + (unsigned)i);
  for (size_t i = 0; i < sizeof depthwise_blocked / sizeof *depthwise_blocked; i++)
    activation_bits(&depthwise_blocked[i], 999u + (unsigned)i);
}

/* The same chains where the epilogue runs in rt_conv_activate: depthwise, im2col (tiled
 * and 1x1), few positions (dot products), and the direct cases under the portable matrix
 * kernel (im2col). */
Test(conv_fast, epilogue_elsewhere_matches_its_kernels) {
  for (size_t i = 0; i < sizeof depthwise / sizeof *depthwise; i++)
    activation_bits(&depthwise[i], 555u + (unsigned)i);
  for (size_t i = 0; i < sizeof im2col / sizeof *im2col; i++)
    activation_bits(&im2col[i], 666u + (unsigned)i);
  for (size_t i = 0; i < sizeof few_positions / sizeof *few_positions; i++)
    activation_bits(&few_positions[i], 444u + (unsigned)i);
  rt_sgemm_use_kernel(RT_SGEMM_AVX2);
  for (size_t i = 0; i < sizeof direct / sizeof *direct; i++)
    activation_bits(&direct[i], 333u + (unsigned)i);
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}
