/* The fast recurrent kernels (runtime/kernels/rnn.c, rnn_vec.c) against an independent
 * double-precision reference of the ONNX equations written here, over attribute
 * combinations and shapes that reach every path: packed R and plain dot products, the
 * input projection as sgemm and as dot products, batches across several panel passes,
 * hidden sizes that are not multiples of the vector width or the panel, steps split
 * across a pool. Also: results bitwise equal for 1..4 threads, the AVX2 fallback, and the
 * vector sigmoid / tanh against libm. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa/infer_rnn.h"
#include "runtime/kernels/gemm.h"
#include "runtime/kernels/rnn_vec.h"
#include "runtime/pool.h"
#include "runtime/rt.h"

/* ---- vector activations against libm ------------------------------------------------------ */
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Max error of fn over xs against ref, as |got - want| / max(|want|, floor). */
static double max_rel_err(void (*fn)(float *, int64_t), double (*ref)(double), const float *xs,
                          int64_t n, double floor_abs) {
  float *y = malloc((size_t)n * sizeof(float));
  memcpy(y, xs, (size_t)n * sizeof(float));
  fn(y, n);
  double worst = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double want = ref((double)xs[i]);
    double e = fabs((double)y[i] - want) / fmax(fabs(want), floor_abs);
    if (e > worst) worst = e;
  }
  free(y);
  return worst;
}

Test(rnn_vec, sigmoid_and_tanh_match_libm) {
  /* Dense over [-40, 40] and every power of two down to 2^-60 (both signs): tanh's small
   * branch must keep relative accuracy near 0. n is not a multiple of 8 (padded tail). */
  enum { DENSE = 400003, POWERS = 2 * 61 };
  int64_t n = DENSE + POWERS;
  float *xs = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < DENSE; i++) xs[i] = (float)(-40.0 + 80.0 * (double)i / (DENSE - 1));
  for (int e = 0; e <= 60; e++) {
    xs[DENSE + 2 * e] = ldexpf(1.0f, -e);
    xs[DENSE + 2 * e + 1] = -ldexpf(1.0f, -e);
  }
  /* f32 rounding alone is 6e-8 relative; a few ulp are allowed. */
  double es = max_rel_err(rt_rnn_sigmoid, ref_sigmoid, xs, n, 1e-30);
  double et = max_rel_err(rt_rnn_tanh, tanh, xs, n, 1e-30);
  cr_assert(es < 5e-7, "sigmoid: max relative error %g", es);
  cr_assert(et < 5e-7, "tanh: max relative error %g", et);
  /* Sigmoid far below 0 underflows: the absolute error is what matters there. */
  float lo[3] = {-100.0f, -88.5f, -87.5f};
  rt_rnn_sigmoid(lo, 3);
  for (int i = 0; i < 3; i++) cr_assert(lo[i] >= 0.0f && lo[i] < 1e-37f, "sigmoid low %g", lo[i]);
  free(xs);
}

Test(rnn_vec, special_values) {
  float s[6] = {INFINITY, -INFINITY, NAN, 0.0f, 1e30f, -1e30f};
  float t[6];
  memcpy(t, s, sizeof s);
  rt_rnn_sigmoid(s, 6);
  rt_rnn_tanh(t, 6);
  cr_assert_eq(s[0], 1.0f);
  cr_assert(s[1] >= 0.0f && s[1] < 1e-37f);
  cr_assert(isnan(s[2]));
  cr_assert_eq(s[3], 0.5f);
  cr_assert_eq(s[4], 1.0f);
  cr_assert(s[5] >= 0.0f && s[5] < 1e-37f);
  cr_assert_eq(t[0], 1.0f);
  cr_assert_eq(t[1], -1.0f);
  cr_assert(isnan(t[2]));
  cr_assert_eq(t[3], 0.0f);
  cr_assert_eq(t[4], 1.0f);
  cr_assert_eq(t[5], -1.0f);
}

/* ---- products against plain loops ------------------------------------------------------- */
static uint32_t lcg_state = 12345u;
static float frand(float scale) {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return ((float)(lcg_state >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
}

static void check_products(void) {
  for (int64_t K = 1; K <= 70; K += 23)
    for (int64_t H = 5; H <= 140; H += 67) {
      const int64_t G = 2, B = 13;
      float *R = malloc((size_t)(G * H * K) * sizeof(float));
      float *x = malloc((size_t)(B * K) * sizeof(float));
      float *pk = malloc(rt_rnn_packed_floats(G, H, K) * sizeof(float));
      float *out = malloc((size_t)(B * G * H) * sizeof(float));
      for (int64_t i = 0; i < G * H * K; i++) R[i] = frand(1.0f);
      for (int64_t i = 0; i < B * K; i++) x[i] = frand(1.0f);
      int64_t Q = (H + RT_RNN_PANEL - 1) / RT_RNN_PANEL;
      rt_rnn_pack(R, G, H, K, 0, Q, pk);
      for (int64_t nb = 1; nb <= B; nb += 5) {
        for (int64_t q = 0; q < Q; q++)
          for (int64_t g = 0; g < G; g++) {
            int64_t j0 = q * RT_RNN_PANEL, w = H - j0 < RT_RNN_PANEL ? H - j0 : RT_RNN_PANEL;
            rt_rnn_panel_mv(pk + rt_rnn_panel_off(G, K, q, g), K, x, K, nb, out + g * H + j0,
                            G * H, w);
          }
        for (int64_t b = 0; b < nb; b++)
          for (int64_t r = 0; r < G * H; r++) {
            double want = 0.0;
            for (int64_t p = 0; p < K; p++) want += (double)R[r * K + p] * x[b * K + p];
            double got = out[b * G * H + r];
            cr_assert(fabs(got - want) <= 1e-5 * (1.0 + fabs(want)),
                      "panel K %lld H %lld nb %lld b %lld row %lld: %g vs %g", (long long)K,
                      (long long)H, (long long)nb, (long long)b, (long long)r, got, want);
          }
      }
      rt_rnn_rows_mv(R, G * H, K, x, out);
      for (int64_t r = 0; r < G * H; r++) {
        double want = 0.0;
        for (int64_t p = 0; p < K; p++) want += (double)R[r * K + p] * x[p];
        cr_assert(fabs(out[r] - want) <= 1e-5 * (1.0 + fabs(want)), "rows K %lld row %lld",
                  (long long)K, (long long)r);
      }
      free(R), free(x), free(pk), free(out);
    }
}

Test(rnn_vec, panel_and_row_products) { check_products(); }
Test(rnn_vec, panel_and_row_products_avx2) {
  rt_sgemm_use_kernel(RT_SGEMM_AVX2); /* each test runs in its own process */
  check_products();
}

/* ---- a double-precision reference of RNN / LSTM / GRU -------------------------------------- */
typedef struct rcase {
  isa_builtin_op op;
  int64_t T, B, I, H;
  const char *dir;
  int layout, has_b, h0, c0, peep, input_forget, lbr;
  const int32_t *seq; /* B lengths, or NULL */
  float clip, scale;  /* scale: of W, R, B (larger values reach the clip) */
  uint32_t n_acts;    /* 0: defaults */
  int64_t acts[6];
  float alpha[6], beta[6];
} rcase;

static int gates_of(isa_builtin_op op) { return op == ISA_OP_LSTM ? 4 : op == ISA_OP_GRU ? 3 : 1; }
static int funcs_of(isa_builtin_op op) { return op == ISA_OP_LSTM ? 3 : op == ISA_OP_GRU ? 2 : 1; }
static int64_t dirs_of(const rcase *c) { return !strcmp(c->dir, "bidirectional") ? 2 : 1; }

static double ref_act(int64_t code, double a, double b, double x) {
  switch (code) {
    case ISA_RNN_RELU: return x > 0 ? x : 0;
    case ISA_RNN_TANH: return tanh(x);
    case ISA_RNN_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case ISA_RNN_AFFINE: return a * x + b;
    case ISA_RNN_LEAKY_RELU: return x < 0 ? a * x : x;
    case ISA_RNN_THRESHOLDED_RELU: return x > a ? x : 0;
    case ISA_RNN_SCALED_TANH: return a * tanh(b * x);
    case ISA_RNN_HARD_SIGMOID: return fmin(1.0, fmax(0.0, a * x + b));
    case ISA_RNN_ELU: return x < 0 ? a * (exp(x) - 1) : x;
    case ISA_RNN_SOFTSIGN: return x / (1 + fabs(x));
    default: return log1p(exp(x)); /* softplus */
  }
}

typedef struct operands {
  rt_tensor t[8];
  const rt_tensor *in[8];
  uint32_t n_in;
  isa_attr a[16];
} operands;

static rt_tensor mkt(uint8_t dtype, int rank, const int64_t *dims) {
  rt_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dtype;
  t.rank = (uint8_t)rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  t.capacity = rt_nbytes(&t);
  t.data = calloc(1, t.capacity ? t.capacity : 1);
  return t;
}

static rt_tensor mkrand(int rank, const int64_t *dims, float scale) {
  rt_tensor t = mkt(IVM_DT_F32, rank, dims);
  for (int64_t i = 0; i < rt_numel(&t); i++) ((float *)t.data)[i] = frand(scale);
  return t;
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

static void build(const rcase *c, operands *o) {
  const int64_t nd = dirs_of(c), G = gates_of(c->op), H = c->H, B = c->B;
  memset(o, 0, sizeof *o);
  lcg_state = 777u;
  o->t[0] = c->layout ? mkrand(3, DIMS(B, c->T, c->I), 1.0f) : mkrand(3, DIMS(c->T, B, c->I), 1.0f);
  o->t[1] = mkrand(3, DIMS(nd, G * H, c->I), c->scale);
  o->t[2] = mkrand(3, DIMS(nd, G * H, H), c->scale);
  o->in[0] = &o->t[0], o->in[1] = &o->t[1], o->in[2] = &o->t[2];
  o->n_in = 3;
  if (c->has_b)
    o->t[3] = mkrand(2, DIMS(nd, 2 * G * H), c->scale), o->in[3] = &o->t[3], o->n_in = 4;
  if (c->seq) {
    o->t[4] = mkt(IVM_DT_I32, 1, DIMS(B));
    memcpy(o->t[4].data, c->seq, (size_t)B * sizeof(int32_t));
    o->in[4] = &o->t[4], o->n_in = 5;
  }
  const int64_t *hd = c->layout ? DIMS(B, nd, H) : DIMS(nd, B, H);
  if (c->h0) o->t[5] = mkrand(3, hd, 0.5f), o->in[5] = &o->t[5], o->n_in = 6;
  if (c->c0) o->t[6] = mkrand(3, hd, 0.5f), o->in[6] = &o->t[6], o->n_in = 7;
  if (c->peep) o->t[7] = mkrand(2, DIMS(nd, 3 * H), 0.5f), o->in[7] = &o->t[7], o->n_in = 8;
  isa_attr *a = o->a;
  isa_attrs_init_defaults(isa_builtin_desc(c->op), a);
  a[ISA_A_RNN_hidden_size].v.i = H;
  a[ISA_A_RNN_hidden_size].present = 1;
  a[ISA_A_RNN_direction].v.s = c->dir;
  a[ISA_A_RNN_direction].count = (uint32_t)strlen(c->dir);
  a[ISA_A_RNN_direction].present = 1;
  a[ISA_A_RNN_layout].v.i = c->layout;
  a[ISA_A_RNN_clip].v.f = c->clip;
  if (c->n_acts) {
    a[ISA_A_RNN_activations].v.ints = c->acts;
    a[ISA_A_RNN_activations].count = c->n_acts;
    a[ISA_A_RNN_activations].present = 1;
    a[ISA_A_RNN_activation_alpha].v.floats = c->alpha;
    a[ISA_A_RNN_activation_alpha].count = c->n_acts;
    a[ISA_A_RNN_activation_alpha].present = 1;
    a[ISA_A_RNN_activation_beta].v.floats = c->beta;
    a[ISA_A_RNN_activation_beta].count = c->n_acts;
    a[ISA_A_RNN_activation_beta].present = 1;
  }
  if (c->op == ISA_OP_LSTM) a[ISA_A_LSTM_input_forget].v.i = c->input_forget;
  if (c->op == ISA_OP_GRU) a[ISA_A_GRU_linear_before_reset].v.i = c->lbr;
}

static void free_operands(operands *o) {
  for (int i = 0; i < 8; i++) free(o->t[i].data);
}

/* Y, Y_h, Y_c of the reference, in the case's layout (Y zero past a sequence's end). */
static void reference(const rcase *c, const operands *o, double *Y, double *Yh, double *Yc) {
  const int64_t T = c->T, B = c->B, I = c->I, H = c->H, nd = dirs_of(c), G = gates_of(c->op);
  const int nf = funcs_of(c->op);
  const float *X = o->t[0].data, *W = o->t[1].data, *R = o->t[2].data;
  const float *Bb = c->has_b ? o->t[3].data : NULL, *H0 = c->h0 ? o->t[5].data : NULL;
  const float *C0 = c->c0 ? o->t[6].data : NULL, *P = c->peep ? o->t[7].data : NULL;
  memset(Y, 0, (size_t)(T * nd * B * H) * sizeof(double));
  double *h = malloc((size_t)H * sizeof(double)), *cc = malloc((size_t)H * sizeof(double));
  double *xp = malloc((size_t)(G * H) * sizeof(double));
  double *hp = malloc((size_t)(G * H) * sizeof(double));
  double *rh = malloc((size_t)H * sizeof(double));
  static const int64_t defaults[3][3] = {{ISA_RNN_TANH},
                                         {ISA_RNN_SIGMOID, ISA_RNN_TANH, ISA_RNN_TANH},
                                         {ISA_RNN_SIGMOID, ISA_RNN_TANH}};
  int kind_i = c->op == ISA_OP_RNN ? 0 : c->op == ISA_OP_LSTM ? 1 : 2;
#define CLIP(v) (c->clip > 0 ? fmin((double)c->clip, fmax(-(double)c->clip, (v))) : (v))
  for (int64_t d = 0; d < nd; d++) {
    const int rev = !strcmp(c->dir, "reverse") || d == 1;
    int64_t code[3];
    double al[3], be[3];
    for (int f = 0; f < nf; f++) {
      code[f] = c->n_acts ? c->acts[d * nf + f] : defaults[kind_i][f];
      al[f] = c->n_acts ? c->alpha[d * nf + f] : 0;
      be[f] = c->n_acts ? c->beta[d * nf + f] : 0;
    }
    const float *Wd = W + d * G * H * I, *Rd = R + d * G * H * H;
    const float *wb = Bb ? Bb + d * 2 * G * H : NULL, *rb = Bb ? wb + G * H : NULL;
    const float *Pd = P ? P + d * 3 * H : NULL;
    for (int64_t b = 0; b < B; b++) {
      int64_t so = (c->layout ? b * nd + d : d * B + b) * H;
      for (int64_t j = 0; j < H; j++) {
        h[j] = H0 ? H0[so + j] : 0.0;
        cc[j] = C0 ? C0[so + j] : 0.0;
      }
      int64_t L = c->seq ? c->seq[b] : T;
      for (int64_t s = 0; s < L; s++) {
        int64_t t = rev ? L - 1 - s : s;
        const float *x = X + (c->layout ? b * T + t : t * B + b) * I;
        for (int64_t r = 0; r < G * H; r++) {
          double sx = wb ? wb[r] : 0.0, sh = rb ? rb[r] : 0.0;
          for (int64_t i = 0; i < I; i++) sx += (double)Wd[r * I + i] * x[i];
          for (int64_t p = 0; p < H; p++) sh += (double)Rd[r * H + p] * h[p];
          xp[r] = sx, hp[r] = sh;
        }
        if (c->op == ISA_OP_RNN) {
          for (int64_t j = 0; j < H; j++)
            h[j] = ref_act(code[0], al[0], be[0], CLIP(xp[j] + hp[j]));
        } else if (c->op == ISA_OP_LSTM) { /* gates i, o, f, c; P = [Pi, Po, Pf] */
          for (int64_t j = 0; j < H; j++) {
            double pi = Pd ? Pd[j] : 0, po = Pd ? Pd[H + j] : 0, pf = Pd ? Pd[2 * H + j] : 0;
            double ig = ref_act(code[0], al[0], be[0], CLIP(xp[j] + hp[j] + pi * cc[j]));
            double pre_f = xp[2 * H + j] + hp[2 * H + j] + pf * cc[j];
            double fg = c->input_forget ? 1.0 - ig : ref_act(code[0], al[0], be[0], CLIP(pre_f));
            double cg = ref_act(code[1], al[1], be[1], CLIP(xp[3 * H + j] + hp[3 * H + j]));
            cc[j] = fg * cc[j] + ig * cg;
            double og = ref_act(code[0], al[0], be[0], CLIP(xp[H + j] + hp[H + j] + po * cc[j]));
            h[j] = og * ref_act(code[2], al[2], be[2], cc[j]);
          }
        } else { /* gates z, r, h */
          double *z = malloc((size_t)H * sizeof(double));
          for (int64_t j = 0; j < H; j++) {
            z[j] = ref_act(code[0], al[0], be[0], CLIP(xp[j] + hp[j]));
            double r = ref_act(code[0], al[0], be[0], CLIP(xp[H + j] + hp[H + j]));
            rh[j] = r;
          }
          double *cand = malloc((size_t)H * sizeof(double));
          for (int64_t j = 0; j < H; j++) {
            double v;
            if (c->lbr) {
              v = xp[2 * H + j] + rh[j] * hp[2 * H + j];
            } else {
              double acc = rb ? rb[2 * H + j] : 0.0;
              for (int64_t p = 0; p < H; p++) acc += (double)Rd[(2 * H + j) * H + p] * rh[p] * h[p];
              v = xp[2 * H + j] + acc;
            }
            cand[j] = ref_act(code[1], al[1], be[1], CLIP(v));
          }
          for (int64_t j = 0; j < H; j++) h[j] = (1 - z[j]) * cand[j] + z[j] * h[j];
          free(z), free(cand);
        }
        int64_t yo = c->layout ? ((b * T + t) * nd + d) * H : ((t * nd + d) * B + b) * H;
        memcpy(Y + yo, h, (size_t)H * sizeof(double));
      }
      memcpy(Yh + so, h, (size_t)H * sizeof(double));
      if (Yc) memcpy(Yc + so, cc, (size_t)H * sizeof(double));
    }
  }
#undef CLIP
  free(h), free(cc), free(xp), free(hp), free(rh);
}

/* Runs the kernel on a pool of `threads` (outputs allocated here; free with free()). */
static void run_kernel(const rcase *c, operands *o, int threads, rt_tensor *out) {
  const int64_t nd = dirs_of(c), T = c->T, B = c->B, H = c->H;
  uint32_t n_out = c->op == ISA_OP_LSTM ? 3 : 2;
  out[0] = c->layout ? mkt(IVM_DT_F32, 4, DIMS(B, T, nd, H))
                     : mkt(IVM_DT_F32, 4, DIMS(T, nd, B, H));
  const int64_t *hd = c->layout ? DIMS(B, nd, H) : DIMS(nd, B, H);
  out[1] = mkt(IVM_DT_F32, 3, hd);
  out[2] = mkt(IVM_DT_F32, 3, hd);
  /* Garbage in Y: every element must be written. */
  for (int64_t i = 0; i < rt_numel(&out[0]); i++) ((float *)out[0].data)[i] = NAN;
  rt_pool *pool = NULL;
  if (threads > 1) cr_assert_null(rt_pool_create(threads, &pool));
  rt_scratch scratch = {NULL, NULL, 0, pool};
  rt_tensor *outs[3] = {&out[0], &out[1], &out[2]};
  rt_call call = {o->n_in, n_out, o->in, outs, o->a, &scratch, NULL};
  rt_kernel_fn fn = rt_builtin_kernel(c->op);
  ivm_status st = fn(&call);
  cr_assert_null(st, "kernel failed: %s", ivm_status_message(st));
  rt_scratch_release(&scratch);
  rt_pool_destroy(pool);
}

static void expect_close(const float *got, const double *want, int64_t n, const char *what,
                         int threads) {
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabs(got[i] - want[i]) <= 3e-5 + 3e-5 * fabs(want[i]),
              "%s[%lld] (%d threads): got %.8g, reference %.8g", what, (long long)i, threads,
              got[i], want[i]);
}

/* Against the reference at 1 and 3 threads, and bitwise equal at 1, 2, 3 and 4. */
static void check_case(const rcase *c) {
  operands o;
  build(c, &o);
  const int64_t ny = c->T * dirs_of(c) * c->B * c->H, nh = dirs_of(c) * c->B * c->H;
  double *Y = malloc((size_t)ny * sizeof(double) + 8), *Yh = malloc((size_t)nh * sizeof(double));
  double *Yc = malloc((size_t)nh * sizeof(double));
  reference(c, &o, Y, Yh, c->op == ISA_OP_LSTM ? Yc : NULL);
  rt_tensor first[3];
  for (int threads = 1; threads <= 4; threads++) {
    rt_tensor out[3];
    run_kernel(c, &o, threads, out);
    if (threads == 1 || threads == 3) {
      expect_close(out[0].data, Y, ny, "Y", threads);
      expect_close(out[1].data, Yh, nh, "Y_h", threads);
      if (c->op == ISA_OP_LSTM) expect_close(out[2].data, Yc, nh, "Y_c", threads);
    }
    if (threads == 1) {
      memcpy(first, out, sizeof out);
      continue;
    }
    for (int k = 0; k < (c->op == ISA_OP_LSTM ? 3 : 2); k++)
      cr_assert(!memcmp(first[k].data, out[k].data, rt_nbytes(&out[k])),
                "output %d differs between 1 and %d threads", k, threads);
    for (int k = 0; k < 3; k++) free(out[k].data);
  }
  for (int k = 0; k < 3; k++) free(first[k].data);
  free(Y), free(Yh), free(Yc);
  free_operands(&o);
}

/* ---- LSTM ---------------------------------------------------------------------------------- */
/* H 136: three panels, the last partial, the tail not a multiple of 8; steps large enough
 * to be split across the pool; B 8: two panel passes (6 + 2). */
Test(rnn_fast, lstm_bidirectional_seq_lens_peepholes_initial_state) {
  static const int32_t seq[8] = {12, 3, 0, 12, 7, 1, 11, 5};
  rcase c = {.op = ISA_OP_LSTM, .T = 12, .B = 8, .I = 40, .H = 136, .dir = "bidirectional",
             .has_b = 1, .h0 = 1, .c0 = 1, .peep = 1, .seq = seq, .scale = 0.15f};
  check_case(&c);
}

Test(rnn_fast, lstm_layout1_clip_input_forget_reverse) {
  static const int32_t seq[3] = {5, 9, 2};
  rcase c = {.op = ISA_OP_LSTM, .T = 9, .B = 3, .I = 7, .H = 70, .dir = "reverse", .layout = 1,
             .has_b = 1, .h0 = 1, .peep = 1, .seq = seq, .clip = 0.6f, .scale = 0.5f,
             .input_forget = 1};
  check_case(&c);
}

Test(rnn_fast, lstm_other_activations) {
  rcase c = {.op = ISA_OP_LSTM, .T = 6, .B = 2, .I = 5, .H = 13, .dir = "bidirectional",
             .has_b = 1, .scale = 0.4f, .n_acts = 6,
             .acts = {ISA_RNN_HARD_SIGMOID, ISA_RNN_SCALED_TANH, ISA_RNN_SOFTSIGN, ISA_RNN_SIGMOID,
                      ISA_RNN_ELU, ISA_RNN_TANH},
             .alpha = {0.2f, 1.5f, 0, 0, 0.8f, 0}, .beta = {0.5f, 0.7f, 0, 0, 0, 0}};
  check_case(&c);
}

/* T = 1, B = 1 (silero): R and W as plain dot products. */
Test(rnn_fast, lstm_single_step_dot_products) {
  rcase c = {.op = ISA_OP_LSTM, .T = 1, .B = 1, .I = 128, .H = 128, .dir = "forward",
             .has_b = 1, .h0 = 1, .c0 = 1, .scale = 0.1f};
  check_case(&c);
  rcase c2 = {.op = ISA_OP_LSTM, .T = 3, .B = 1, .I = 33, .H = 67, .dir = "bidirectional",
              .has_b = 1, .scale = 0.2f};
  check_case(&c2);
}

/* Big steps on one batch row (perf_rnn's shape, shorter): the step split across threads. */
Test(rnn_fast, lstm_batch1_long) {
  rcase c = {.op = ISA_OP_LSTM, .T = 40, .B = 1, .I = 64, .H = 256, .dir = "forward",
             .has_b = 1, .scale = 0.08f};
  check_case(&c);
}

/* ---- GRU ----------------------------------------------------------------------------------- */
Test(rnn_fast, gru_linear_before_reset_0_and_1) {
  static const int32_t seq[5] = {10, 4, 10, 0, 6};
  for (int lbr = 0; lbr <= 1; lbr++) {
    rcase c = {.op = ISA_OP_GRU, .T = 10, .B = 5, .I = 24, .H = 136, .dir = "bidirectional",
               .has_b = 1, .h0 = 1, .seq = seq, .scale = 0.15f, .lbr = lbr};
    check_case(&c);
  }
}

Test(rnn_fast, gru_layout1_clip_no_bias) {
  for (int lbr = 0; lbr <= 1; lbr++) {
    rcase c = {.op = ISA_OP_GRU, .T = 7, .B = 7, .I = 9, .H = 29, .dir = "reverse", .layout = 1,
               .clip = 0.5f, .scale = 0.6f, .lbr = lbr};
    check_case(&c);
  }
}

Test(rnn_fast, gru_batch1_long_and_single_step) {
  rcase c = {.op = ISA_OP_GRU, .T = 30, .B = 1, .I = 256, .H = 256, .dir = "forward",
             .has_b = 1, .scale = 0.06f};
  check_case(&c);
  rcase c1 = {.op = ISA_OP_GRU, .T = 1, .B = 2, .I = 17, .H = 40, .dir = "bidirectional",
              .has_b = 1, .h0 = 1, .scale = 0.3f, .lbr = 1, .n_acts = 4,
              .acts = {ISA_RNN_HARD_SIGMOID, ISA_RNN_LEAKY_RELU, ISA_RNN_SIGMOID, ISA_RNN_SOFTPLUS},
              .alpha = {0.25f, 0.1f, 0, 0}, .beta = {0.5f, 0, 0, 0}};
  check_case(&c1);
}

/* Few products (plain dot products on R) but steps big enough to split across the pool. */
Test(rnn_fast, gru_dot_products_split_steps) {
  for (int lbr = 0; lbr <= 1; lbr++) {
    rcase c = {.op = ISA_OP_GRU, .T = 1, .B = 3, .I = 21, .H = 160, .dir = "bidirectional",
               .has_b = 1, .h0 = 1, .scale = 0.1f, .lbr = lbr};
    check_case(&c);
  }
}

/* ---- RNN ----------------------------------------------------------------------------------- */
Test(rnn_fast, rnn_bidirectional_relu_seq_lens) {
  static const int32_t seq[4] = {8, 2, 5, 8};
  rcase c = {.op = ISA_OP_RNN, .T = 8, .B = 4, .I = 16, .H = 200, .dir = "bidirectional",
             .has_b = 1, .h0 = 1, .seq = seq, .scale = 0.07f, .n_acts = 2,
             .acts = {ISA_RNN_RELU, ISA_RNN_TANH}};
  check_case(&c);
}

Test(rnn_fast, rnn_layout1_clip_affine) {
  rcase c = {.op = ISA_OP_RNN, .T = 5, .B = 3, .I = 4, .H = 9, .dir = "forward", .layout = 1,
             .has_b = 1, .clip = 0.7f, .scale = 0.5f, .n_acts = 1, .acts = {ISA_RNN_AFFINE},
             .alpha = {0.9f}, .beta = {0.1f}};
  check_case(&c);
}

/* No inputs features (I = 0): the projection is the bias alone. */
Test(rnn_fast, rnn_zero_input_size) {
  rcase c = {.op = ISA_OP_RNN, .T = 4, .B = 2, .I = 0, .H = 6, .dir = "forward", .has_b = 1,
             .h0 = 1, .scale = 0.5f};
  check_case(&c);
}

/* ---- the AVX2 fallback (the same cases' paths without AVX-512) ------------------------------ */
Test(rnn_fast, avx2_fallback) {
  rt_sgemm_use_kernel(RT_SGEMM_AVX2);
  static const int32_t seq[8] = {12, 3, 0, 12, 7, 1, 11, 5};
  rcase c = {.op = ISA_OP_LSTM, .T = 12, .B = 8, .I = 40, .H = 136, .dir = "bidirectional",
             .has_b = 1, .h0 = 1, .c0 = 1, .peep = 1, .seq = seq, .scale = 0.15f};
  check_case(&c);
  rcase g = {.op = ISA_OP_GRU, .T = 1, .B = 1, .I = 50, .H = 70, .dir = "forward",
             .has_b = 1, .scale = 0.2f};
  check_case(&g);
}

/* ---- errors -------------------------------------------------------------------------------- */
Test(rnn_fast, sequence_length_out_of_range_is_an_error) {
  static const int32_t seq[2] = {3, 9};
  rcase c = {.op = ISA_OP_GRU, .T = 8, .B = 2, .I = 4, .H = 70, .dir = "forward", .has_b = 1,
             .seq = seq, .scale = 0.5f};
  operands o;
  build(&c, &o);
  rt_tensor out[3];
  out[0] = mkt(IVM_DT_F32, 4, DIMS(8, 1, 2, 70));
  out[1] = mkt(IVM_DT_F32, 3, DIMS(1, 2, 70));
  rt_tensor *outs[2] = {&out[0], &out[1]};
  rt_scratch scratch = {NULL, NULL, 0, NULL};
  rt_call call = {o.n_in, 2, o.in, outs, o.a, &scratch, NULL};
  ivm_status st = rt_k_GRU(&call);
  cr_assert_not_null(st);
  cr_assert(strstr(ivm_status_message(st), "sequence_lens[1]"), "%s", ivm_status_message(st));
  ivm_status_free(st);
  rt_scratch_release(&scratch);
  free(out[0].data), free(out[1].data);
  free_operands(&o);
}
