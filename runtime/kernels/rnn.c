/* RNN, LSTM and GRU (ONNX semantics, f32).
 *
 * The input projection X W^T (+ Wb + Rb) of every time step and both directions is one
 * sgemm before the time loop, split across the pool. Only H R^T runs step by step: for
 * more than a few products R is first packed into unit panels (rnn_vec.h) that one step
 * streams once, then each step is a panel matrix-vector product for every batch row and
 * the gate math, vectorised. Large steps are split across the pool by ranges of hidden
 * units (whole panels), which also keeps each thread's share of R in its own cache; the
 * next step needs every unit of H, so a step ends when all ranges are done (H is
 * double-buffered). Every element is computed the same way whatever the range holding it,
 * so results are bitwise the same for any thread count.
 *
 * Per-batch sequence lengths: batch b runs steps 0..len[b)-1 (a reverse direction walks its
 * own sequence backwards from len[b]-1), Y is zero past len[b], and Y_h / Y_c keep the
 * state after the last valid step. */
#include <math.h>
#include <string.h>

#include "isa/infer_rnn.h"
#include "runtime/kernels/gemm_par.h"
#include "runtime/kernels/rnn_vec.h"
#include "runtime/rt.h"

#define RT_ERR(...) ivm_error(IVM_ERR_RUNTIME, __VA_ARGS__)

/* Below this many products H R^T in a direction (steps x batch), packing R costs more than
 * it saves: dot products run on R's rows as they are. */
#define RNN_PACK_MIN_PRODUCTS 4
/* Input projections of fewer rows run as dot products (rt_sgemm would pack all of W). */
#define RNN_SGEMM_MIN_ROWS 4
/* A step is split across the pool from this many multiply-adds (about 4 µs on one
 * thread); smaller steps would wait on the hand-over more than they gain. */
#define RNN_STEP_PAR_MACS ((int64_t)1 << 17)

/* ---- activations ---------------------------------------------------------------------- */
static void act_scalar(int code, float alpha, float beta, float *x, int64_t n) {
  switch (code) {
    case ISA_RNN_RELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case ISA_RNN_AFFINE:
      for (int64_t i = 0; i < n; i++) x[i] = alpha * x[i] + beta;
      break;
    case ISA_RNN_LEAKY_RELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? alpha * x[i] : x[i];
      break;
    case ISA_RNN_THRESHOLDED_RELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > alpha ? x[i] : 0.0f;
      break;
    case ISA_RNN_HARD_SIGMOID:
      for (int64_t i = 0; i < n; i++) {
        float v = alpha * x[i] + beta;
        x[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
      }
      break;
    case ISA_RNN_ELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? alpha * (expf(x[i]) - 1.0f) : x[i];
      break;
    case ISA_RNN_SOFTSIGN:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fabsf(x[i]));
      break;
    case ISA_RNN_SOFTPLUS:
      for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 20.0f ? x[i] + log1pf(expf(-x[i])) : log1pf(expf(x[i]));
      break;
    default: break; /* codes are validated by isa_rnn_decode */
  }
}

static void act_range(int code, float alpha, float beta, float *x, int64_t n) {
  switch (code) {
    case ISA_RNN_SIGMOID: rt_rnn_sigmoid(x, n); break;
    case ISA_RNN_TANH: rt_rnn_tanh(x, n); break;
    case ISA_RNN_SCALED_TANH:
      for (int64_t i = 0; i < n; i++) x[i] *= beta;
      rt_rnn_tanh(x, n);
      for (int64_t i = 0; i < n; i++) x[i] *= alpha;
      break;
    default: act_scalar(code, alpha, beta, x, n); break;
  }
}

static void clip_range(float clip, float *x, int64_t n) {
  if (clip <= 0.0f) return;
  for (int64_t i = 0; i < n; i++) x[i] = x[i] < -clip ? -clip : x[i] > clip ? clip : x[i];
}

static void add_into(float *restrict y, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* ---- operand checks ------------------------------------------------------------------- */
static ivm_status check_dims(const rt_tensor *t, const char *name, int rank, const int64_t *d,
                             int f32) {
  if (!t) return NULL;
  if (t->rank != rank) return RT_ERR("%s: expected rank %d, got %d", name, rank, t->rank);
  for (int k = 0; k < rank; k++)
    if (t->dims[k] != d[k])
      return RT_ERR("%s: dim %d is %lld, expected %lld", name, k, (long long)t->dims[k],
                    (long long)d[k]);
  if (f32 && t->dtype != IVM_DT_F32) return RT_ERR("%s: expected f32", name);
  if (!t->data && rt_shape_numel(rank, d) > 0) return RT_ERR("%s: no data", name);
  return NULL;
}

/* a * b without size_t overflow; 0 on overflow. */
static int mul_ok(size_t a, size_t b, size_t *out) {
  if (a && b > SIZE_MAX / a) return 0;
  *out = a * b;
  return 1;
}

/* Adds 64-byte-aligned n to *total; 0 on overflow. */
static int add_ok(size_t *total, size_t n) {
  size_t a = rt_align64(n);
  if (a < n || *total + a < *total) return 0;
  *total += a;
  return 1;
}

/* ---- state ------------------------------------------------------------------------------ */
enum { PHASE_ALL, PHASE_GRU_ZR, PHASE_GRU_H };

typedef struct rnn_ctx {
  isa_rnn_attrs p;
  int64_t T, B, I, H, nd, G, GH, N; /* N = nd * GH: the columns of xw */
  const float *X, *W, *R, *Bias, *H0, *C0, *P;
  float *Y, *Yh, *Yc;
  const int64_t *len; /* [B] */
  float *xw;          /* [T*B rows in X's order][N] X W^T plus biases */
  float *bsum;        /* [N] Wb + Rb (GRU linear_before_reset: Wb alone for the h gate) */
  float *packed;      /* R of the running direction in panels, or NULL: dot products */
  float *hbuf;        /* [2][B][H] H_{t-1} and H_t, swapped every step */
  float *c;           /* [B][H] LSTM cell */
  float *rec;         /* [B][GH] the recurrent products of the running step */
  float *tmp;         /* [B][H] GRU r (.) H_{t-1} */
  /* the running direction */
  int64_t d;
  int rev, lstm_default; /* lstm_default: sigmoid, tanh, tanh; no peepholes, clip, input_forget */
  const float *Rd, *Pd, *Rbh;
  /* the running step and its split: ranges of whole panels of Q */
  int64_t s, Q;
  int phase, ranges;
  const float *hp;
  float *hn;
} rnn_ctx;

/* Offset of state (d, b) in Y_h / initial_h for the layout. */
static int64_t state_off(const rnn_ctx *k, int64_t d, int64_t b) {
  return (k->p.layout ? b * k->nd + d : d * k->B + b) * k->H;
}

/* Time index of step s for batch b, or -1 when b's sequence has ended. */
static int64_t step_time(const rnn_ctx *k, int64_t b) {
  if (k->s >= k->len[b]) return -1;
  return k->rev ? k->len[b] - 1 - k->s : k->s;
}

static const float *xw_row(const rnn_ctx *k, int64_t b, int64_t t) {
  int64_t row = k->p.layout ? b * k->T + t : t * k->B + b;
  return k->xw + row * k->N + k->d * k->GH;
}

/* rec[b][g*H + j] = x[b] . R_d[g*H + j] for gates [g0, g1), units [u0, u1) (whole panels
 * [q0, q1) in the packed form), every batch row. */
static void recurrent(const rnn_ctx *k, int64_t g0, int64_t g1, const float *x, int64_t q0,
                      int64_t q1, int64_t u0, int64_t u1) {
  const int64_t H = k->H, B = k->B, GH = k->GH;
  if (k->packed) {
    /* Odd steps walk the panels backwards: what the last step read last is still in
     * cache when R does not fit (an LRU cache keeps nothing of a cyclic sweep). */
    const int back = (int)(k->s & 1);
    const int64_t n = (q1 - q0) * (g1 - g0);
    for (int64_t i = 0; i < n; i++) {
      int64_t at = back ? n - 1 - i : i;
      int64_t q = q0 + at / (g1 - g0), g = g0 + at % (g1 - g0);
      int64_t j0 = q * RT_RNN_PANEL, width = H - j0 < RT_RNN_PANEL ? H - j0 : RT_RNN_PANEL;
      rt_rnn_panel_mv(k->packed + rt_rnn_panel_off(k->G, H, q, g), H, x, H, B,
                      k->rec + g * H + j0, GH, width);
    }
    return;
  }
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = g0; g < g1; g++)
      rt_rnn_rows_mv(k->Rd + (g * H + u0) * H, u1 - u0, H, x + b * H,
                     k->rec + b * GH + g * H + u0);
}

/* ---- gate math on units [u0, u1) of one batch row ---------------------------------------- */
static void lstm_units(const rnn_ctx *k, int64_t b, const float *xg, int64_t u0, int64_t n) {
  const isa_rnn_attrs *p = &k->p;
  const int64_t H = k->H;
  const int *act = p->act[k->d];
  const float *al = p->alpha[k->d], *be = p->beta[k->d];
  /* gate blocks: i, o, f, c */
  float *g = k->rec + b * k->GH + u0;
  float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
  float *cb = k->c + b * H + u0, *hn = k->hn + b * H + u0;
  if (k->lstm_default) {
    rt_rnn_lstm_default(g, xg + u0, H, cb, hn, n);
    return;
  }
  for (int q = 0; q < 4; q++) add_into(g + q * H, xg + q * H + u0, n);
  if (k->Pd) {
    const float *pi = k->Pd + u0, *pf = k->Pd + 2 * H + u0;
    for (int64_t j = 0; j < n; j++) {
      gi[j] += pi[j] * cb[j];
      gf[j] += pf[j] * cb[j];
    }
  }
  clip_range(p->clip, gi, n);
  clip_range(p->clip, gf, n);
  clip_range(p->clip, gc, n);
  act_range(act[0], al[0], be[0], gi, n);
  if (p->input_forget)
    for (int64_t j = 0; j < n; j++) gf[j] = 1.0f - gi[j];
  else
    act_range(act[0], al[0], be[0], gf, n);
  act_range(act[1], al[1], be[1], gc, n);
  for (int64_t j = 0; j < n; j++) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
  if (k->Pd) {
    const float *po = k->Pd + H + u0;
    for (int64_t j = 0; j < n; j++) go[j] += po[j] * cb[j];
  }
  clip_range(p->clip, go, n);
  act_range(act[0], al[0], be[0], go, n);
  memcpy(hn, cb, (size_t)n * sizeof(float));
  act_range(act[2], al[2], be[2], hn, n);
  for (int64_t j = 0; j < n; j++) hn[j] *= go[j];
}

static void rnn_units(const rnn_ctx *k, int64_t b, const float *xg, int64_t u0, int64_t n) {
  const isa_rnn_attrs *p = &k->p;
  float *g = k->rec + b * k->GH + u0, *hn = k->hn + b * k->H + u0;
  add_into(g, xg + u0, n);
  clip_range(p->clip, g, n);
  act_range(p->act[k->d][0], p->alpha[k->d][0], p->beta[k->d][0], g, n);
  memcpy(hn, g, (size_t)n * sizeof(float));
}

/* GRU z and r (gate blocks z, r, h). Without linear_before_reset this phase ends with
 * tmp = r (.) H_{t-1}, the input of the h gate's product. */
static void gru_zr_units(const rnn_ctx *k, int64_t b, const float *xg, int64_t u0, int64_t n) {
  const isa_rnn_attrs *p = &k->p;
  const int64_t H = k->H;
  float *gz = k->rec + b * k->GH + u0, *gr = gz + H;
  add_into(gz, xg + u0, n);
  add_into(gr, xg + H + u0, n);
  clip_range(p->clip, gz, n);
  clip_range(p->clip, gr, n);
  act_range(p->act[k->d][0], p->alpha[k->d][0], p->beta[k->d][0], gz, n);
  act_range(p->act[k->d][0], p->alpha[k->d][0], p->beta[k->d][0], gr, n);
  if (k->phase == PHASE_GRU_ZR) {
    const float *hp = k->hp + b * H + u0;
    float *tb = k->tmp + b * H + u0;
    for (int64_t j = 0; j < n; j++) tb[j] = gr[j] * hp[j];
  }
}

/* GRU candidate and update; z (and r with linear_before_reset) are already activated. */
static void gru_h_units(const rnn_ctx *k, int64_t b, const float *xg, int64_t u0, int64_t n) {
  const isa_rnn_attrs *p = &k->p;
  const int64_t H = k->H;
  float *gz = k->rec + b * k->GH + u0, *gr = gz + H, *gh = gz + 2 * H;
  const float *xh = xg + 2 * H + u0, *hp = k->hp + b * H + u0;
  float *hn = k->hn + b * H + u0;
  if (k->phase == PHASE_GRU_H) {
    add_into(gh, xh, n);
  } else if (k->Rbh) { /* linear_before_reset: Rb_h stays inside r (.) (H R_h^T + Rb_h) */
    const float *rb = k->Rbh + u0;
    for (int64_t j = 0; j < n; j++) gh[j] = xh[j] + gr[j] * (gh[j] + rb[j]);
  } else {
    for (int64_t j = 0; j < n; j++) gh[j] = xh[j] + gr[j] * gh[j];
  }
  clip_range(p->clip, gh, n);
  act_range(p->act[k->d][1], p->alpha[k->d][1], p->beta[k->d][1], gh, n);
  for (int64_t j = 0; j < n; j++) hn[j] = (1.0f - gz[j]) * gh[j] + gz[j] * hp[j];
}

/* One phase of the running step on units [u0, u1) = panels [q0, q1). */
static void step_units(const rnn_ctx *k, int64_t q0, int64_t q1, int64_t u0, int64_t u1) {
  const int64_t H = k->H, B = k->B, n = u1 - u0;
  const int kind = k->p.kind;
  if (k->phase == PHASE_GRU_ZR) recurrent(k, 0, 2, k->hp, q0, q1, u0, u1);
  else if (k->phase == PHASE_GRU_H) recurrent(k, 2, 3, k->tmp, q0, q1, u0, u1);
  else recurrent(k, 0, k->G, k->hp, q0, q1, u0, u1);
  for (int64_t b = 0; b < B; b++) {
    int64_t t = step_time(k, b);
    if (t < 0) { /* sequence over: the state stays */
      if (k->phase == PHASE_GRU_ZR) memset(k->tmp + b * H + u0, 0, (size_t)n * sizeof(float));
      else memcpy(k->hn + b * H + u0, k->hp + b * H + u0, (size_t)n * sizeof(float));
      continue;
    }
    const float *xg = xw_row(k, b, t);
    if (kind == ISA_RNN_KIND_LSTM) {
      lstm_units(k, b, xg, u0, n);
    } else if (kind == ISA_RNN_KIND_RNN) {
      rnn_units(k, b, xg, u0, n);
    } else if (k->phase == PHASE_GRU_ZR) {
      gru_zr_units(k, b, xg, u0, n);
      continue;
    } else {
      if (k->phase == PHASE_ALL) gru_zr_units(k, b, xg, u0, n);
      gru_h_units(k, b, xg, u0, n);
    }
    if (k->Y) {
      const int64_t nd = k->nd, d = k->d;
      int64_t off = k->p.layout ? ((b * k->T + t) * nd + d) * H : ((t * nd + d) * B + b) * H;
      memcpy(k->Y + off + u0, k->hn + b * H + u0, (size_t)n * sizeof(float));
    }
  }
}

/* rt_pool_task over ranges of panels. */
static void step_task(void *vk, int64_t r0, int64_t r1) {
  const rnn_ctx *k = vk;
  for (int64_t r = r0; r < r1; r++) {
    int64_t q0 = r * k->Q / k->ranges, q1 = (r + 1) * k->Q / k->ranges;
    int64_t u0 = q0 * RT_RNN_PANEL, u1 = q1 * RT_RNN_PANEL < k->H ? q1 * RT_RNN_PANEL : k->H;
    if (u0 < u1) step_units(k, q0, q1, u0, u1);
  }
}

static void pack_task(void *vk, int64_t q0, int64_t q1) {
  const rnn_ctx *k = vk;
  rt_rnn_pack(k->Rd, k->G, k->H, k->H, q0, q1, k->packed);
}

static void run_direction(rnn_ctx *k, int64_t d, rt_pool *pool) {
  const isa_rnn_attrs *p = &k->p;
  const int64_t B = k->B, H = k->H, GH = k->GH;
  k->d = d;
  k->rev = p->direction == ISA_RNN_REVERSE || d == 1;
  k->Rd = k->R + d * GH * H;
  k->Pd = k->P ? k->P + d * 3 * H : NULL;
  const int *act = p->act[d];
  k->lstm_default = p->kind == ISA_RNN_KIND_LSTM && !k->Pd && p->clip <= 0.0f &&
                    !p->input_forget && act[0] == ISA_RNN_SIGMOID && act[1] == ISA_RNN_TANH &&
                    act[2] == ISA_RNN_TANH;
  k->Rbh = (p->kind == ISA_RNN_KIND_GRU && p->linear_before_reset && k->Bias)
               ? k->Bias + d * 2 * GH + GH + 2 * H
               : NULL;
  float *h = k->hbuf;
  for (int64_t b = 0; b < B; b++) {
    if (k->H0) memcpy(h + b * H, k->H0 + state_off(k, d, b), (size_t)H * sizeof(float));
    else memset(h + b * H, 0, (size_t)H * sizeof(float));
    if (k->c) {
      if (k->C0) memcpy(k->c + b * H, k->C0 + state_off(k, d, b), (size_t)H * sizeof(float));
      else memset(k->c + b * H, 0, (size_t)H * sizeof(float));
    }
  }
  int64_t max_len = 0;
  for (int64_t b = 0; b < B; b++) max_len = k->len[b] > max_len ? k->len[b] : max_len;
  if (k->packed && max_len > 0) {
    if (k->ranges > 1) rt_pool_for(pool, k->Q, 1, pack_task, k);
    else pack_task(k, 0, k->Q);
  }

  const int gru_split = p->kind == ISA_RNN_KIND_GRU && !p->linear_before_reset;
  int cur = 0;
  for (k->s = 0; k->s < max_len; k->s++) {
    k->hp = k->hbuf + cur * B * H;
    k->hn = k->hbuf + (1 - cur) * B * H;
    if (gru_split) {
      k->phase = PHASE_GRU_ZR;
      rt_pool_for(pool, k->ranges, 1, step_task, k);
      k->phase = PHASE_GRU_H;
    } else {
      k->phase = PHASE_ALL;
    }
    rt_pool_for(pool, k->ranges, 1, step_task, k);
    cur = 1 - cur;
  }
  h = k->hbuf + cur * B * H;
  for (int64_t b = 0; b < B; b++) {
    if (k->Yh) memcpy(k->Yh + state_off(k, d, b), h + b * H, (size_t)H * sizeof(float));
    if (k->Yc && k->c)
      memcpy(k->Yc + state_off(k, d, b), k->c + b * H, (size_t)H * sizeof(float));
  }
}

/* ---- input projection -------------------------------------------------------------------- */
typedef struct proj_job {
  const rnn_ctx *k;
  rt_gemm_split sp;
  char *pack;
  size_t pack_bytes;
} proj_job;

static void add_bias(const rnn_ctx *k, int64_t i0, int64_t m, int64_t j0, int64_t n) {
  if (!k->Bias) return;
  for (int64_t i = i0; i < i0 + m; i++) add_into(k->xw + i * k->N + j0, k->bsum + j0, n);
}

/* Runs r0..r1: each run its panels of xw = X W^T with its own packing buffer. */
static void proj_task(void *vj, int64_t r0, int64_t r1) {
  const proj_job *j = vj;
  const rnn_ctx *k = j->k;
  const rt_gemm_split *sp = &j->sp;
  for (int64_t r = r0; r < r1; r++) {
    float *pack = (float *)(j->pack + (size_t)r * j->pack_bytes);
    int64_t lo = r * sp->items / sp->ranges, hi = (r + 1) * sp->items / sp->ranges;
    for (int64_t it = lo; it < hi; it++) {
      int64_t i0, m, j0, n;
      rt_gemm_panel(sp, it, &i0, &m, &j0, &n);
      rt_sgemm(m, n, k->I, 1.0f, k->X + i0 * k->I, k->I, 1, k->W + j0 * k->I, 1, k->I, 0.0f,
               k->xw + i0 * k->N + j0, k->N, pack);
      add_bias(k, i0, m, j0, n); /* while the panel is in cache */
    }
  }
}

static void project_inputs(const rnn_ctx *k, int64_t rows, proj_job *job, rt_pool *pool) {
  if (rows == 0) return;
  if (k->I == 0) {
    memset(k->xw, 0, (size_t)rows * (size_t)k->N * sizeof(float));
    add_bias(k, 0, rows, 0, k->N);
  } else if (job->pack) {
    rt_pool_for(pool, job->sp.ranges, 1, proj_task, job);
  } else {
    for (int64_t r = 0; r < rows; r++)
      rt_rnn_rows_mv(k->W, k->N, k->I, k->X + r * k->I, k->xw + r * k->N);
    add_bias(k, 0, rows, 0, k->N);
  }
}

/* ---- the kernel ---------------------------------------------------------------------------- */
static ivm_status rnn_kernel(const rt_call *call, int kind) {
  rnn_ctx k;
  memset(&k, 0, sizeof k);
  uint32_t max_in = kind == ISA_RNN_KIND_LSTM ? 8 : 6, max_out = kind == ISA_RNN_KIND_LSTM ? 3 : 2;
  if (call->n_in < 3 || call->n_in > max_in || call->n_out > max_out || !call->in[0] ||
      !call->in[1] || !call->in[2])
    return ivm_error(IVM_ERR_INTERNAL, "RNN: bad operand count");
  ivm_status st = isa_rnn_decode(kind, call->attrs, &k.p);
  if (st) return ivm_status_wrap(st, "RNN");
  const rt_tensor *x = call->in[0];
  const rt_tensor *in[8] = {0};
  for (uint32_t i = 0; i < call->n_in; i++) in[i] = call->in[i];
  rt_tensor *out[3] = {0};
  for (uint32_t i = 0; i < call->n_out; i++) out[i] = call->out[i];
  if (x->rank != 3) return RT_ERR("X: expected rank 3, got %d", x->rank);
  const isa_rnn_attrs *p = &k.p;
  k.T = p->layout ? x->dims[1] : x->dims[0];
  k.B = p->layout ? x->dims[0] : x->dims[1];
  k.I = x->dims[2];
  k.H = p->hidden;
  k.nd = p->num_dirs;
  k.G = p->gates;
  k.GH = k.G * k.H;
  k.N = k.nd * k.GH;
  const int64_t T = k.T, B = k.B, H = k.H, nd = k.nd, GH = k.GH, N = k.N;
  {
    int64_t dx[3] = {x->dims[0], x->dims[1], k.I}, dw[3] = {nd, GH, k.I}, dr[3] = {nd, GH, H},
            db[2] = {nd, 2 * GH}, ds[1] = {B}, dp[2] = {nd, 3 * H};
    int64_t dh[3] = {p->layout ? B : nd, p->layout ? nd : B, H};
    int64_t dy[4] = {p->layout ? B : T, p->layout ? T : nd, p->layout ? nd : B, H};
    IVM_TRY(check_dims(x, "X", 3, dx, 1));
    IVM_TRY(check_dims(in[1], "W", 3, dw, 1));
    IVM_TRY(check_dims(in[2], "R", 3, dr, 1));
    IVM_TRY(check_dims(in[3], "B", 2, db, 1));
    IVM_TRY(check_dims(in[4], "sequence_lens", 1, ds, 0));
    IVM_TRY(check_dims(in[5], "initial_h", 3, dh, 1));
    IVM_TRY(check_dims(in[6], "initial_c", 3, dh, 1));
    IVM_TRY(check_dims(in[7], "P", 2, dp, 1));
    IVM_TRY(check_dims(out[0], "Y", 4, dy, 1));
    IVM_TRY(check_dims(out[1], "Y_h", 3, dh, 1));
    IVM_TRY(check_dims(out[2], "Y_c", 3, dh, 1));
    if (in[4] && in[4]->dtype != IVM_DT_I32 && in[4]->dtype != IVM_DT_I64)
      return RT_ERR("sequence_lens: expected i32 or i64");
  }
  k.X = x->data;
  k.W = in[1]->data;
  k.R = in[2]->data;
  k.Bias = in[3] ? in[3]->data : NULL;
  k.H0 = in[5] ? in[5]->data : NULL;
  k.C0 = in[6] ? in[6]->data : NULL;
  k.P = in[7] ? in[7]->data : NULL;
  k.Y = out[0] ? out[0]->data : NULL;
  k.Yh = out[1] ? out[1]->data : NULL;
  k.Yc = out[2] ? out[2]->data : NULL;
  if (B == 0 || (!k.Y && !k.Yh && !k.Yc)) return NULL;
  rt_pool *pool = rt_call_pool(call);

  /* Plans: the input projection's split, the form of R, the split of a step. */
  size_t rows;
  if (!mul_ok((size_t)T, (size_t)B, &rows)) return RT_ERR("RNN: operands too large");
  proj_job job = {&k, {0}, NULL, 0};
  int proj_sgemm = rows >= RNN_SGEMM_MIN_ROWS && k.I > 0;
  if (proj_sgemm) {
    double macs = (double)rows * (double)N * (double)k.I;
    rt_gemm_split_plan(rt_gemm_threads(pool, macs), 1, (int64_t)rows, N, k.I, &job.sp);
    job.pack_bytes = rt_gemm_split_pack_bytes(&job.sp);
  }
  int packed = (double)T * (double)B >= RNN_PACK_MIN_PRODUCTS;
  k.Q = (H + RT_RNN_PANEL - 1) / RT_RNN_PANEL;
  int threads = rt_pool_threads(pool);
  double step_macs = (double)B * (double)GH * (double)H;
  k.ranges = threads > 1 && k.Q > 1 && step_macs >= (double)RNN_STEP_PAR_MACS
                 ? (int)(k.Q < threads ? k.Q : threads)
                 : 1;

  /* Scratch: xw, packing buffers, packed R, bsum, h (x2), c, rec, tmp, len. */
  size_t total = 0, sz_xw, sz_bh, sz_bgh, sz_pk = 0, sz_proj = 0;
  int ok = mul_ok(rows, (size_t)N * sizeof(float), &sz_xw) &&
           mul_ok((size_t)B, (size_t)H * sizeof(float), &sz_bh) &&
           mul_ok((size_t)B, (size_t)GH * sizeof(float), &sz_bgh) &&
           (!proj_sgemm || mul_ok((size_t)job.sp.ranges, job.pack_bytes, &sz_proj)) &&
           (!packed || mul_ok(rt_rnn_packed_floats(k.G, H, H), sizeof(float), &sz_pk));
  ok = ok && add_ok(&total, sz_xw) && add_ok(&total, sz_proj) && add_ok(&total, sz_pk) &&
       add_ok(&total, (size_t)N * sizeof(float)) && add_ok(&total, sz_bh) &&
       add_ok(&total, sz_bh) && add_ok(&total, sz_bh) && add_ok(&total, sz_bgh) &&
       add_ok(&total, sz_bh) && add_ok(&total, (size_t)B * sizeof(int64_t));
  if (!ok) return RT_ERR("RNN: operands too large");
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, total, &mem));
  char *cur = mem;
#define TAKE(ptr, type, bytes) ((ptr) = (type)(void *)cur, cur += rt_align64(bytes))
  TAKE(k.xw, float *, sz_xw);
  TAKE(job.pack, char *, sz_proj);
  TAKE(k.packed, float *, sz_pk);
  TAKE(k.bsum, float *, (size_t)N * sizeof(float));
  TAKE(k.hbuf, float *, 2 * sz_bh);
  TAKE(k.c, float *, sz_bh);
  TAKE(k.rec, float *, sz_bgh);
  TAKE(k.tmp, float *, sz_bh);
  int64_t *len;
  TAKE(len, int64_t *, (size_t)B * sizeof(int64_t));
#undef TAKE
  if (!proj_sgemm) job.pack = NULL;
  if (!packed) k.packed = NULL;
  if (kind != ISA_RNN_KIND_LSTM) k.c = NULL;
  k.len = len;

  for (int64_t b = 0; b < B; b++) {
    int64_t L = T;
    if (in[4]) L = in[4]->dtype == IVM_DT_I32 ? ((const int32_t *)in[4]->data)[b]
                                             : ((const int64_t *)in[4]->data)[b];
    if (L < 0 || L > T)
      return RT_ERR("sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b, (long long)L,
                    (long long)T);
    len[b] = L;
  }
  if (k.Bias)
    for (int64_t d = 0; d < nd; d++) {
      const float *wb = k.Bias + d * 2 * GH, *rb = wb + GH;
      /* GRU with linear_before_reset keeps Rb_h for the recurrent side. */
      int64_t rb_end = (kind == ISA_RNN_KIND_GRU && p->linear_before_reset) ? 2 * H : GH;
      float *bs = k.bsum + d * GH;
      for (int64_t j = 0; j < GH; j++) bs[j] = j < rb_end ? wb[j] + rb[j] : wb[j];
    }

  project_inputs(&k, (int64_t)rows, &job, pool);
  if (k.Y && in[4]) memset(k.Y, 0, rt_nbytes(out[0])); /* steps past a length stay 0 */
  for (int64_t d = 0; d < nd; d++) run_direction(&k, d, pool);
  return NULL;
}

ivm_status rt_k_RNN(const rt_call *call) { return rnn_kernel(call, ISA_RNN_KIND_RNN); }
ivm_status rt_k_LSTM(const rt_call *call) { return rnn_kernel(call, ISA_RNN_KIND_LSTM); }
ivm_status rt_k_GRU(const rt_call *call) { return rnn_kernel(call, ISA_RNN_KIND_GRU); }
