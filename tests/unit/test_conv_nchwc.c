/* The channel-blocked (NCHW16c) Conv kernels (runtime/kernels/conv_nchwc.c), called
 * directly, against a double-precision NCHW conv written here from the ONNX definition;
 * the blocked operands come from a plain reorder loop here and W from
 * rt_conv_nchwc_weights, itself checked against the layout's formula. Dense convs (1x1
 * flattened, in place and strided; padded 3x3, 5x5, dilated, asymmetric and oversized
 * pads; 1x1 inputs; batch 2; odd and even output block counts), depthwise convs (3x3 and
 * 5x5, strides 1-3, planes up to 320 x 320, through the padded copy and in place),
 * FusedConv's epilogue (bias, activations in registers and through their kernel, Z,
 * clip, affine), on the AVX-512 path and the portable one, results bitwise equal on 1, 2
 * and 3 threads, every output written (Y starts as NaN), depthwise bits equal to the NCHW
 * depthwise kernel's, and a geometry the kernels do not take refused with an error. A
 * chain's head (X NCHW with any channel count, W from rt_conv_nchwc_head_weights, Y and Z
 * blocked): 1, 3, 5 and 32 channels, 16-80 outputs, padded (bands of padded rows) and in
 * place (rows and the flattened 1x1), strides 1-3, dilation, 7x7, batch 2, the epilogue,
 * the portable path, 1-3 threads, and its refusals. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm.h"
#include "runtime/pool.h"
#include "runtime/rt.h"
#include "kernel_test_util.h"

typedef struct ncase {
  int64_t N, C, M, G, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
} ncase;

/* FusedConv's epilogue in a test: activation ("" none), Z, clip, affine. */
typedef struct epi {
  const char *act;
  int z, clip, affine;
} epi;

static const float k_alpha = 0.1f, k_min = -0.25f, k_max = 0.75f, k_scale = 0.7f,
                   k_shift = -0.3f;

static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) {
  return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

static float rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* NCHW <-> [N][C/16][H][W][16]. */
static void to_blocked(const float *x, int64_t N, int64_t C, int64_t HW, float *out) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < HW; i++)
        out[((n * (C / 16) + c / 16) * HW + i) * 16 + c % 16] = x[(n * C + c) * HW + i];
}

static void from_blocked(const float *x, int64_t N, int64_t C, int64_t HW, float *out) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < HW; i++)
        out[(n * C + c) * HW + i] = x[((n * (C / 16) + c / 16) * HW + i) * 16 + c % 16];
}

/* The plan as conv.c's make_plan fills it, for W in layout trans_w. */
static void plan_of(const ncase *c, int trans_w, conv_plan *p) {
  isa_attr a[16];
  defaults(ISA_OP_Conv, a);
  int64_t strides[2] = {c->sh, c->sw}, dil[2] = {c->dh, c->dw};
  int64_t pads[4] = {c->pt, c->pl, c->pb, c->pr};
  int64_t in[2] = {c->H, c->W}, k[2] = {c->kh, c->kw};
  set_ints(&a[ISA_A_Conv_strides], strides, 2);
  set_ints(&a[ISA_A_Conv_dilations], dil, 2);
  set_ints(&a[ISA_A_Conv_pads], pads, 4);
  memset(p, 0, sizeof *p);
  ivm_status st = isa_window_resolve(2, in, k, &a[ISA_A_Conv_auto_pad], &a[ISA_A_Conv_pads],
                                     &a[ISA_A_Conv_strides], &a[ISA_A_Conv_dilations], 0, 0, &p->w);
  cr_assert_null(st, "window: %s", ivm_status_message(st));
  p->N = c->N, p->C = c->C, p->M = c->M, p->G = c->G;
  p->Cg = c->C / c->G, p->Mg = c->M / c->G;
  p->in_sz = c->H * c->W;
  p->out_sz = p->w.out[0] * p->w.out[1];
  p->k_sz = c->kh * c->kw;
  p->pointwise = c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && !c->pt && !c->pl &&
                 !c->pb && !c->pr;
  p->trans_w = trans_w;
  p->act = NULL;
}

/* conv_act as rt_k_FusedConv builds it; NULL when e asks for nothing. */
static conv_act *act_of(const epi *e, conv_act *act, const float *z, const float *y) {
  memset(act, 0, sizeof *act);
  atomic_init(&act->error, NULL);
  act->kind = CONV_ACT_NONE;
  isa_builtin_op op = !strcmp(e->act, "Relu")        ? ISA_OP_Relu
                      : !strcmp(e->act, "LeakyRelu") ? ISA_OP_LeakyRelu
                      : !strcmp(e->act, "HardSwish") ? ISA_OP_HardSwish
                      : !strcmp(e->act, "Sigmoid")   ? ISA_OP_Sigmoid
                                                     : ISA_OP_COUNT;
  if (op != ISA_OP_COUNT) {
    act->fn = rt_builtin_kernel(op);
    defaults(op, act->attrs);
    if (op == ISA_OP_LeakyRelu) {
      act->attrs[ISA_A_LeakyRelu_alpha].v.f = k_alpha;
      act->attrs[ISA_A_LeakyRelu_alpha].present = 1;
    }
    act->kind = op == ISA_OP_Relu        ? CONV_ACT_RELU
                : op == ISA_OP_LeakyRelu ? CONV_ACT_LEAKY_RELU
                : op == ISA_OP_HardSwish ? CONV_ACT_HARD_SWISH
                                         : CONV_ACT_CALL;
    act->alpha = k_alpha;
  }
  act->has_min = act->has_max = e->clip;
  act->min = k_min, act->max = k_max;
  act->has_scale = act->has_shift = e->affine;
  act->scale = k_scale, act->shift = k_shift;
  if (e->z) {
    act->z = z;
    act->y = y;
  }
  return act->fn || e->clip || e->affine || e->z ? act : NULL;
}

/* The epilogue on one output, in float, in FusedConv's order. */
static float epilogue(const epi *e, float v, float z) {
  if (e->z) v = v + z;
  if (!strcmp(e->act, "Relu")) v = v < 0 ? 0.0f : v;
  if (!strcmp(e->act, "LeakyRelu")) v = v < 0 ? k_alpha * v : v;
  if (!strcmp(e->act, "HardSwish")) v = v * fminf(fmaxf(v / 6.0f + 0.5f, 0.0f), 1.0f);
  if (!strcmp(e->act, "Sigmoid")) v = 1.0f / (1.0f + expf(-v));
  if (e->clip) v = fminf(fmaxf(v, k_min), k_max);
  if (e->affine) v = v * k_scale + k_shift;
  return v;
}

/* The conv in double (NCHW), and mag = |bias| + the sum of |w * x| over the window. */
static void reference(const ncase *c, const float *x, const float *w, const float *b, double *y,
                      double *mag, int64_t OH, int64_t OW) {
  int64_t Cg = c->C / c->G, Mg = c->M / c->G;
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t m = 0; m < c->M; m++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          double s = b ? b[m] : 0.0, a = b ? fabs(b[m]) : 0.0;
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
          y[((n * c->M + m) * OH + oy) * OW + ox] = s;
          mag[((n * c->M + m) * OH + oy) * OW + ox] = a;
        }
}

/* A case's data: NCHW x, ONNX w, b, Z (Y's shape), and their blocked forms (wh: W in
 * the head layout). */
typedef struct ndata {
  int64_t OH, OW, nx, nw, ny;
  float *x, *w, *b, *z, *xb, *wb, *zb, *wh;
} ndata;

static ndata data_of(const ncase *c, unsigned seed) {
  ndata d;
  d.OH = out_len(c->H, c->kh, c->sh, c->dh, c->pt, c->pb);
  d.OW = out_len(c->W, c->kw, c->sw, c->dw, c->pl, c->pr);
  d.nx = c->N * c->C * c->H * c->W;
  d.nw = c->M * (c->C / c->G) * c->kh * c->kw;
  d.ny = c->N * c->M * d.OH * d.OW;
  d.x = malloc((size_t)d.nx * sizeof(float));
  d.xb = malloc((size_t)d.nx * sizeof(float));
  d.w = malloc((size_t)d.nw * sizeof(float));
  d.wb = malloc((size_t)d.nw * sizeof(float));
  d.wh = malloc((size_t)d.nw * sizeof(float));
  d.b = malloc((size_t)c->M * sizeof(float));
  d.z = malloc((size_t)d.ny * sizeof(float));
  d.zb = malloc((size_t)d.ny * sizeof(float));
  cr_assert(d.x && d.xb && d.w && d.wb && d.wh && d.b && d.z && d.zb);
  for (int64_t i = 0; i < d.nx; i++) d.x[i] = rnd(&seed);
  for (int64_t i = 0; i < d.nw; i++) d.w[i] = rnd(&seed);
  for (int64_t i = 0; i < c->M; i++) d.b[i] = rnd(&seed);
  for (int64_t i = 0; i < d.ny; i++) d.z[i] = rnd(&seed);
  /* channels not in blocks of 16 (a refused geometry): the data as it is */
  if (c->C % 16) memcpy(d.xb, d.x, (size_t)d.nx * sizeof(float));
  else to_blocked(d.x, c->N, c->C, c->H * c->W, d.xb);
  if (c->M % 16) memcpy(d.zb, d.z, (size_t)d.ny * sizeof(float));
  else to_blocked(d.z, c->N, c->M, d.OH * d.OW, d.zb);
  rt_conv_nchwc_weights(d.w, c->M, c->C / c->G, c->G, c->kh * c->kw, d.wb);
  if (c->G == 1 && c->M % 16 == 0) rt_conv_nchwc_head_weights(d.w, c->M, c->C, c->kh * c->kw, d.wh);
  else memcpy(d.wh, d.w, (size_t)d.nw * sizeof(float));
  return d;
}

static void data_free(ndata *d) {
  free(d->x), free(d->xb), free(d->w), free(d->wb), free(d->wh), free(d->b), free(d->z),
      free(d->zb);
}

/* Runs the blocked kernel on `threads` threads into yb (blocked), epilogue e; a head
 * reads x (NCHW) and W in the head layout. */
static void run_nchwc(const ncase *c, int head, const ndata *d, const epi *e, int bias,
                      int threads, float *yb) {
  conv_plan p;
  plan_of(c, head ? CONV_W_NCHW16C_HEAD : CONV_W_NCHW16C, &p);
  conv_act act;
  p.act = act_of(e, &act, d->zb, yb);
  rt_tensor tx = mk(IVM_DT_F32, 4, D(c->N, c->C, c->H, c->W), head ? d->x : d->xb);
  rt_tensor tw = mk(IVM_DT_F32, 1, D(d->nw), head ? d->wh : d->wb);
  rt_tensor tb = mk(IVM_DT_F32, 1, D(c->M), d->b);
  rt_tensor ty = mk(IVM_DT_F32, 4, D(c->N, c->M, d->OH, d->OW), yb);
  for (int64_t i = 0; i < d->ny; i++) yb[i] = NAN;
  rt_pool *pool = NULL;
  if (threads > 1) cr_assert_null(rt_pool_create(threads, &pool));
  rt_scratch scratch = {NULL, NULL, 0, pool};
  const rt_tensor *in[3] = {&tx, &tw, bias ? &tb : NULL};
  rt_tensor *out[1] = {&ty};
  rt_call call = {3, 1, in, out, NULL, &scratch, NULL};
  ivm_status st = rt_conv_nchwc_f32(&call, &p);
  cr_assert_null(st, "NCHW16c conv failed: %s", ivm_status_message(st));
  if (p.act) cr_assert_null(atomic_load(&act.error));
  rt_scratch_release(&scratch);
  rt_pool_destroy(pool);
}

/* c (head: as a chain's head) with epilogue e on 1, 2 and 3 threads: every output near
 * the reference, the same bits on every thread count. */
static void check_head_epi(const ncase *c, int head, const epi *e, int bias) {
  ndata d = data_of(c, 4242u + (unsigned)(c->C * 7 + c->M * 131 + c->W * 3 + c->kh));
  double *want = malloc((size_t)d.ny * sizeof(double));
  double *mag = malloc((size_t)d.ny * sizeof(double));
  float *yb[3], *y = malloc((size_t)d.ny * sizeof(float));
  cr_assert(want && mag && y);
  reference(c, d.x, d.w, bias ? d.b : NULL, want, mag, d.OH, d.OW);
  for (int t = 0; t < 3; t++) {
    yb[t] = malloc((size_t)d.ny * sizeof(float));
    cr_assert(yb[t]);
    run_nchwc(c, head, &d, e, bias, t + 1, yb[t]);
    if (t > 0)
      cr_assert(memcmp(yb[t], yb[0], (size_t)d.ny * sizeof(float)) == 0,
                "results differ between 1 and %d threads", t + 1);
  }
  from_blocked(yb[0], c->N, c->M, d.OH * d.OW, y);
  for (int64_t i = 0; i < d.ny; i++) {
    float ref = epilogue(e, (float)want[i], d.z[i]);
    /* the sum's rounding (slopes of the activations at most 1.5) plus the epilogue's */
    double tol = 1e-5 * (mag[i] + (e->z ? fabs(d.z[i]) : 0.0)) + 1e-6 * (1 + fabs(ref));
    cr_assert(fabs(y[i] - ref) <= tol,
              "%sN%lld C%lld M%lld G%lld %lldx%lld k%lldx%lld s%lld,%lld d%lld pads %lld %lld "
              "%lld %lld act '%s' z%d clip%d affine%d: y[%lld] = %.8g, reference %.8g",
              head ? "head " : "", (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->G,
              (long long)c->H, (long long)c->W, (long long)c->kh, (long long)c->kw,
              (long long)c->sh, (long long)c->sw, (long long)c->dh, (long long)c->pt,
              (long long)c->pl, (long long)c->pb, (long long)c->pr, e->act, e->z, e->clip,
              e->affine, (long long)i, y[i], ref);
  }
  for (int t = 0; t < 3; t++) free(yb[t]);
  free(y), free(want), free(mag);
  data_free(&d);
}

static const epi plain = {"", 0, 0, 0};
static void check_epi(const ncase *c, const epi *e, int bias) { check_head_epi(c, 0, e, bias); }
static void check(const ncase *c) { check_epi(c, &plain, 1); }
static void check_head(const ncase *c) { check_head_epi(c, 1, &plain, 1); }

#define COUNT(a) (sizeof(a) / sizeof *(a))

/*             N  C    M    G  H   W  kh kw sh sw dh dw pt pl pb pr */
static const ncase dense[] = {
    {1, 16, 32, 1, 20, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    /* 1x1: flattened */
    {1, 16, 32, 1, 7, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 48, 48, 1, 20, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    /* 3 blocks: one tile of 3 */
    {1, 48, 48, 1, 7, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 96, 192, 1, 20, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 96, 192, 1, 7, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 384, 32, 1, 12, 13, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},   /* several chunks */
    {1, 32, 48, 1, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* 3x3 pads 1 */
    {1, 48, 64, 1, 15, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},    /* 3x3 stride 2 */
    {1, 16, 32, 1, 9, 10, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},     /* 5x5 pads 2 */
    {1, 32, 32, 1, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},    /* dilation 2 */
    {1, 16, 48, 1, 8, 11, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0},     /* asymmetric pads */
    {1, 16, 16, 1, 5, 6, 1, 1, 1, 1, 1, 1, 2, 3, 2, 1},      /* pads wider than 1x1 */
    {1, 16, 32, 1, 4, 3, 3, 3, 1, 1, 1, 1, 4, 4, 4, 4},      /* pads wider than 3x3 */
    {1, 32, 32, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      /* 1x1 input */
    {2, 32, 80, 1, 6, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      /* batch 2, 5 blocks: 2 + 3 */
    {1, 16, 32, 1, 13, 14, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},    /* stride 3 */
    {1, 32, 32, 1, 10, 10, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0},    /* 1x1 stride 2: in place */
    {1, 16, 32, 1, 9, 7, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0},      /* 3x1: flattened, tap rows */
    {1, 16, 16, 1, 30, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* 1 block: rows of 24 + 6 */
    {1, 32, 32, 1, 9, 12, 3, 3, 1, 2, 1, 1, 0, 0, 0, 0},     /* no pads, in place, s (1, 2) */
    {1, 96, 96, 1, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* threads */
    {2, 16, 48, 1, 5, 4, 2, 2, 2, 1, 1, 1, 0, 0, 1, 1},      /* 2x2, pads after only */
};

static const ncase depthwise[] = {
    {1, 16, 16, 16, 320, 320, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* bands of rows */
    {1, 48, 48, 48, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 48, 48, 48, 40, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 96, 96, 96, 20, 20, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},
    {1, 96, 96, 96, 20, 20, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2},
    {1, 16, 16, 16, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 48, 48, 48, 7, 5, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2},
    {2, 32, 32, 32, 20, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   /* batch 2 */
    {1, 16, 16, 16, 23, 19, 3, 3, 3, 2, 2, 1, 2, 1, 1, 2},   /* strides 3, 2, dilation */
    {1, 32, 32, 32, 9, 40, 3, 3, 1, 1, 1, 1, 0, 3, 2, 0},    /* asymmetric, wide pads */
    {1, 16, 16, 16, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* 1x1 input */
    {1, 16, 16, 16, 96, 300, 3, 3, 2, 3, 1, 1, 1, 1, 1, 1},  /* stride 3 columns, in place */
    {1, 16, 16, 16, 30, 100, 5, 5, 2, 2, 2, 2, 3, 4, 1, 2},  /* in place, dilation 2, pads */
    {2, 32, 32, 32, 12, 130, 3, 3, 2, 2, 1, 1, 0, 1, 2, 0},  /* in place, batch 2 */
    {1, 16, 16, 16, 5, 260, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2},   /* in place, stride 1 */
    {1, 96, 96, 96, 40, 40, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},   /* band copies on 3 threads */
};

/* Chain heads: X NCHW, any channel count. */
/*             N  C    M    G  H   W  kh kw sh sw dh dw pt pl pb pr */
static const ncase heads[] = {
    {1, 3, 16, 1, 64, 63, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  /* a model's first conv */
    {1, 3, 16, 1, 17, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 3, 32, 1, 20, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* stride 1 */
    {1, 3, 48, 1, 23, 29, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3},  /* 7x7 stride 2, 3 blocks */
    {1, 3, 64, 1, 9, 31, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},   /* 1x1: flattened, in place */
    {1, 1, 16, 1, 15, 26, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* one channel */
    {1, 1, 32, 1, 12, 12, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},  /* in place, stride 2 */
    {1, 32, 48, 1, 14, 13, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, /* 32 channels 1x1 */
    {1, 32, 64, 1, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* 32 channels 3x3 */
    {2, 3, 32, 1, 21, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  /* batch 2 */
    {2, 32, 80, 1, 6, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* batch 2, 5 blocks: 2 + 3 */
    {1, 3, 16, 1, 20, 40, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},  /* stride 3 */
    {1, 3, 32, 1, 14, 16, 3, 3, 1, 2, 2, 2, 2, 0, 1, 2},  /* dilation 2, asymmetric */
    {1, 5, 16, 1, 13, 30, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},  /* in place, stride 1 rows */
    {1, 3, 16, 1, 9, 7, 1, 1, 1, 1, 1, 1, 2, 3, 2, 1},    /* pads wider than 1x1 */
    {1, 3, 16, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* 1x1 input */
    {1, 3, 48, 1, 160, 161, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},/* threads: bands */
    {1, 32, 64, 1, 24, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* threads: bands, C 32 */
    {1, 32, 48, 1, 80, 80, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, /* threads: chunks in place */
    {1, 3, 32, 1, 200, 160, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},/* threads: rows in place */
};

Test(conv_nchwc, weights_layout) {
  /* dense: M 32, C 48, 3x2 kernel; depthwise: 32 channels, 3x3 */
  int64_t M = 32, C = 48, k = 6;
  float *w = malloc((size_t)(M * C * k) * sizeof(float));
  float *o = malloc((size_t)(M * C * k) * sizeof(float));
  cr_assert(w && o);
  for (int64_t i = 0; i < M * C * k; i++) w[i] = (float)i;
  rt_conv_nchwc_weights(w, M, C, 1, k, o);
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t t = 0; t < k; t++)
        cr_assert_eq(o[((((m / 16) * (C / 16) + c / 16) * k + t) * 16 + c % 16) * 16 + m % 16],
                     w[(m * C + c) * k + t], "dense m %lld c %lld t %lld", (long long)m,
                     (long long)c, (long long)t);
  /* the head: M 32, C 3 and 5, 3x3 */
  for (int64_t hc = 3; hc <= 5; hc += 2) {
    rt_conv_nchwc_head_weights(w, M, hc, 9, o);
    for (int64_t m = 0; m < M; m++)
      for (int64_t c = 0; c < hc; c++)
        for (int64_t t = 0; t < 9; t++)
          cr_assert_eq(o[(((m / 16) * 9 + t) * hc + c) * 16 + m % 16], w[(m * hc + c) * 9 + t],
                       "head C %lld m %lld c %lld t %lld", (long long)hc, (long long)m,
                       (long long)c, (long long)t);
  }
  k = 9;
  rt_conv_nchwc_weights(w, M, 1, M, k, o);
  for (int64_t m = 0; m < M; m++)
    for (int64_t t = 0; t < k; t++)
      cr_assert_eq(o[((m / 16) * k + t) * 16 + m % 16], w[m * k + t], "depthwise m %lld t %lld",
                   (long long)m, (long long)t);
  free(w), free(o);
}

Test(conv_nchwc, dense) {
  for (size_t i = 0; i < COUNT(dense); i++) check(&dense[i]);
}

Test(conv_nchwc, depthwise) {
  for (size_t i = 0; i < COUNT(depthwise); i++) check(&depthwise[i]);
}

Test(conv_nchwc, head) {
  for (size_t i = 0; i < COUNT(heads); i++) check_head(&heads[i]);
}

Test(conv_nchwc, portable) {
  rt_sgemm_use_kernel(RT_SGEMM_AVX2);
  for (size_t i = 0; i < COUNT(dense); i++)
    if (dense[i].H * dense[i].W <= 400) check(&dense[i]);
  for (size_t i = 0; i < COUNT(depthwise); i++)
    if (depthwise[i].H * depthwise[i].W <= 1600) check(&depthwise[i]);
  static const epi some[] = {{"HardSwish", 1, 1, 1}, {"Sigmoid", 1, 0, 1}, {"Relu", 0, 1, 0}};
  for (size_t i = 0; i < COUNT(heads); i++)
    if (heads[i].H * heads[i].W <= 1000) check_head(&heads[i]);
  for (size_t k = 0; k < COUNT(some); k++) {
    check_epi(&dense[7], &some[k], 1);
    check_epi(&depthwise[5], &some[k], 1);
    check_head_epi(&heads[0], 1, &some[k], 1);
    check_head_epi(&heads[4], 1, &some[k], 1);
  }
  rt_sgemm_use_kernel(RT_SGEMM_AUTO);
}

/* Every epilogue on a dense conv with pads (whole rows), a flattened 1x1, depthwise convs
 * and heads (padded bands, the flattened 1x1 in place, batch 2, rows in place): in
 * registers, with Z, and through the activation's kernel. */
Test(conv_nchwc, epilogue) {
  static const epi epis[] = {
      {"Relu", 0, 0, 0},      {"LeakyRelu", 0, 0, 0}, {"HardSwish", 0, 0, 0},
      {"Sigmoid", 0, 0, 0},   {"", 1, 0, 0},          {"Relu", 1, 0, 0},
      {"Sigmoid", 1, 0, 0},   {"", 0, 1, 0},          {"", 0, 0, 1},
      {"HardSwish", 0, 1, 1}, {"LeakyRelu", 1, 1, 1}, {"Sigmoid", 1, 1, 1},
  };
  const ncase *cases[] = {&dense[7],     &dense[2],      &dense[15], &depthwise[3],
                          &depthwise[6], &depthwise[13], &heads[0],  &heads[4],
                          &heads[9],     &heads[10],     &heads[13]};
  for (size_t i = 0; i < COUNT(cases); i++) {
    int head = i >= 6;
    check_head_epi(cases[i], head, &plain, 0); /* no bias */
    for (size_t k = 0; k < COUNT(epis); k++) check_head_epi(cases[i], head, &epis[k], 1);
  }
}

/* Depthwise: the bits of the NCHW depthwise kernel (conv_dw.c) on the same data, plain
 * and with an epilogue, where both sum with AVX-512 FMAs. */
static void dw_bits(const ncase *c, const epi *e) {
  ndata d = data_of(c, 99u + (unsigned)c->W);
  float *yb = malloc((size_t)d.ny * sizeof(float)), *y = malloc((size_t)d.ny * sizeof(float));
  float *want = malloc((size_t)d.ny * sizeof(float));
  cr_assert(yb && y && want);
  run_nchwc(c, 0, &d, e, 1, 2, yb);
  from_blocked(yb, c->N, c->M, d.OH * d.OW, y);
  conv_plan p;
  plan_of(c, CONV_W_ONNX, &p);
  conv_act act;
  p.act = act_of(e, &act, d.z, want);
  rt_tensor tx = mk(IVM_DT_F32, 4, D(c->N, c->C, c->H, c->W), d.x);
  rt_tensor tw = mk(IVM_DT_F32, 4, D(c->M, 1, c->kh, c->kw), d.w);
  rt_tensor tb = mk(IVM_DT_F32, 1, D(c->M), d.b);
  rt_tensor ty = mk(IVM_DT_F32, 4, D(c->N, c->M, d.OH, d.OW), want);
  rt_scratch scratch = {NULL, NULL, 0, NULL};
  const rt_tensor *in[3] = {&tx, &tw, &tb};
  rt_tensor *out[1] = {&ty};
  rt_call call = {3, 1, in, out, NULL, &scratch, NULL};
  cr_assert(rt_conv_depthwise_ok(&p));
  ivm_status st = rt_conv_depthwise_f32(&call, &p);
  cr_assert_null(st, "%s", ivm_status_message(st));
  rt_scratch_release(&scratch);
  for (int64_t i = 0; i < d.ny; i++)
    cr_assert(memcmp(&y[i], &want[i], sizeof(float)) == 0,
              "C%lld %lldx%lld k%lld s%lld act '%s': y[%lld] = %.9g, NCHW kernel %.9g",
              (long long)c->C, (long long)c->H, (long long)c->W, (long long)c->kh,
              (long long)c->sh, e->act, (long long)i, y[i], want[i]);
  free(yb), free(y), free(want);
  data_free(&d);
}

Test(conv_nchwc, depthwise_bits_of_nchw_kernel) {
  if (rt_sgemm_current_kernel() != RT_SGEMM_AVX512) return; /* 8-float blocks: contraction */
  static const epi fused = {"HardSwish", 1, 1, 1};
  for (size_t i = 0; i < COUNT(depthwise); i++) dw_bits(&depthwise[i], &plain);
  dw_bits(&depthwise[3], &fused);
  dw_bits(&depthwise[5], &fused);
  dw_bits(&depthwise[13], &fused);
}

static void refused(const ncase *c, int trans_w, int n) {
  ndata d = data_of(c, 1u);
  conv_plan p;
  plan_of(c, trans_w, &p);
  p.w.n = n;
  if (n == 2)
    cr_assert(!rt_conv_nchwc_ok(&p) ||
              (trans_w != CONV_W_NCHW16C && trans_w != CONV_W_NCHW16C_HEAD));
  float *y = malloc((size_t)d.ny * sizeof(float));
  cr_assert(y);
  rt_tensor tx = mk(IVM_DT_F32, 4, D(c->N, c->C, c->H, c->W), d.xb);
  rt_tensor tw = mk(IVM_DT_F32, 1, D(d.nw), d.w);
  rt_tensor ty = mk(IVM_DT_F32, 4, D(c->N, c->M, d.OH, d.OW), y);
  rt_scratch scratch = {NULL, NULL, 0, NULL};
  const rt_tensor *in[2] = {&tx, &tw};
  rt_tensor *out[1] = {&ty};
  rt_call call = {2, 1, in, out, NULL, &scratch, NULL};
  fails(rt_conv_nchwc_f32(&call, &p), IVM_ERR_RUNTIME);
  rt_scratch_release(&scratch);
  free(y);
  data_free(&d);
}

Test(conv_nchwc, refuses_other_geometry) {
  static const ncase c24 = {1, 24, 32, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  static const ncase m24 = {1, 32, 24, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  static const ncase groups = {1, 32, 32, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  static const ncase ok = {1, 32, 32, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  refused(&c24, CONV_W_NCHW16C, 2);
  refused(&m24, CONV_W_NCHW16C, 2);
  refused(&groups, CONV_W_NCHW16C, 2);
  refused(&ok, CONV_W_NCHW16C, 1); /* 1-D */
  refused(&ok, CONV_W_ONNX, 2);    /* W not blocked */
  conv_plan p;
  plan_of(&ok, CONV_W_NCHW16C, &p);
  cr_assert(rt_conv_nchwc_ok(&p));
  /* heads: outputs not in blocks of 16, groups, 1-D; 3 channels need the head's layout */
  static const ncase h24 = {1, 3, 24, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  static const ncase hgroups = {1, 4, 32, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  static const ncase h3 = {1, 3, 32, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  refused(&h24, CONV_W_NCHW16C_HEAD, 2);
  refused(&hgroups, CONV_W_NCHW16C_HEAD, 2);
  refused(&h3, CONV_W_NCHW16C_HEAD, 1);
  refused(&h3, CONV_W_NCHW16C, 2);
  plan_of(&h3, CONV_W_NCHW16C_HEAD, &p);
  cr_assert(rt_conv_nchwc_ok(&p));
  plan_of(&ok, CONV_W_NCHW16C_HEAD, &p);
  cr_assert(rt_conv_nchwc_ok(&p));
}

/* ToBlocked / FromBlocked across a pool of 2 and 3 threads (blocks of channels shared out):
 * every element where numpy's x.reshape(N, C/16, 16, H, W).transpose(0, 1, 3, 4, 2) puts
 * it, and back. */
Test(conv_nchwc, reorders_across_threads) {
  const int64_t N = 2, C = 96, H = 67, W = 83, n = N * C * H * W;
  float *x = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
  float *back = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) x[i] = (float)i;
  for (int threads = 2; threads <= 3; threads++) {
    rt_pool *pool = NULL;
    cr_assert_null(rt_pool_create(threads, &pool));
    rt_scratch scratch = {NULL, NULL, 0, pool};
    rt_tensor tx = mk(IVM_DT_F32, 4, D(N, C, H, W), x);
    rt_tensor tb = mk(IVM_DT_F32, 5, D(N, C / 16, H, W, 16), b);
    rt_tensor tback = mk(IVM_DT_F32, 4, D(N, C, H, W), back);
    memset(b, 0xff, (size_t)n * sizeof(float));
    memset(back, 0xff, (size_t)n * sizeof(float));
    const rt_tensor *in1[1] = {&tx}, *in2[1] = {&tb};
    rt_tensor *out1[1] = {&tb}, *out2[1] = {&tback};
    rt_call to = {1, 1, in1, out1, NULL, &scratch, NULL};
    rt_call from = {1, 1, in2, out2, NULL, &scratch, NULL};
    cr_assert_null(rt_k_ToBlocked(&to));
    cr_assert_null(rt_k_FromBlocked(&from));
    for (int64_t i = 0; i < n; i++) {
      int64_t p = i % (H * W), c = i / (H * W) % C, img = i / (H * W * C);
      cr_assert_eq(b[((img * (C / 16) + c / 16) * H * W + p) * 16 + c % 16], x[i],
                   "%d threads: element %lld", threads, (long long)i);
    }
    cr_assert_arr_eq(back, x, (size_t)n * sizeof(float), "%d threads: back", threads);
    rt_scratch_release(&scratch);
    rt_pool_destroy(pool);
  }
  free(x);
  free(b);
  free(back);
}
