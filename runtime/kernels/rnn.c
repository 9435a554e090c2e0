/* RNN, LSTM and GRU (ONNX semantics, f32). The input projection X W^T (+ biases) of every
 * time step and both directions is one matrix multiply; only the recurrent part H R^T runs
 * step by step. Per-batch sequence lengths: batch b runs steps 0..len[b)-1 (a reverse
 * direction walks its own sequence backwards from len[b]-1), Y is zero past len[b], and
 * Y_h / Y_c keep the state after the last valid step. */
#include <math.h>
#include <string.h>

#include "isa/infer_rnn.h"
#include "runtime/kernels/gemm.h"
#include "runtime/rt.h"

#define RT_ERR(...) ivm_error(IVM_ERR_RUNTIME, __VA_ARGS__)

/* ---- activations ---------------------------------------------------------------------- */
static void act_vec(int code, float alpha, float beta, float *x, int64_t n) {
  switch (code) {
    case ISA_RNN_RELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case ISA_RNN_TANH:
      for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
      break;
    case ISA_RNN_SIGMOID:
      for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
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
    case ISA_RNN_SCALED_TANH:
      for (int64_t i = 0; i < n; i++) x[i] = alpha * tanhf(beta * x[i]);
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

static void clip_vec(float clip, float *x, int64_t n) {
  if (clip <= 0.0f) return;
  for (int64_t i = 0; i < n; i++) x[i] = x[i] < -clip ? -clip : x[i] > clip ? clip : x[i];
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
  if (f32 && t->dtype != IVM_DT_F32)
    return RT_ERR("%s: expected f32", name);
  if (!t->data && rt_shape_numel(rank, d) > 0) return RT_ERR("%s: no data", name);
  return NULL;
}

/* a * b (+ c) without size_t overflow; 0 on overflow. */
static int mul_ok(size_t a, size_t b, size_t *out) {
  if (a && b > SIZE_MAX / a) return 0;
  *out = a * b;
  return 1;
}

typedef struct rnn_ctx {
  isa_rnn_attrs p;
  int64_t T, B, I, H, nd, G, GH;
  const float *X, *W, *R, *Bias, *H0, *C0, *P;
  float *Y, *Yh, *Yc;
  /* scratch */
  float *xw;    /* [T*B rows in X's order][nd * G*H] input projection plus biases */
  float *pack;  /* rt_sgemm packing buffer */
  float *h, *c; /* [nd][B][H] running state */
  float *gates; /* [B][G*H] recurrent part of the current step */
  float *tmp;   /* [B][H] GRU r (.) H_{t-1} */
  int64_t *len; /* [B] */
} rnn_ctx;

/* Offset of state (d, b) in Y_h / initial_h for the layout. */
static int64_t state_off(const rnn_ctx *k, int64_t d, int64_t b) {
  return (k->p.layout ? b * k->nd + d : d * k->B + b) * k->H;
}

/* out[b][j] = sum_p h[b][p] * Rm[j][p] for j < N (Rm rows of length K = H), row stride ldc. */
static void recur_mm(const rnn_ctx *k, const float *h, const float *Rm, int64_t N, float *out,
                     int64_t ldc, int64_t K) {
  if (k->B >= 4) {
    rt_sgemm(k->B, N, K, 1.0f, h, K, 1, Rm, 1, K, 0.0f, out, ldc, k->pack);
    return;
  }
  /* Small batches: dot products along R's contiguous rows, 8 partial sums (vectorisable). */
  for (int64_t b = 0; b < k->B; b++) {
    const float *hb = h + b * K;
    float *ob = out + b * ldc;
    for (int64_t j = 0; j < N; j++) {
      const float *r = Rm + j * K;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t q = 0;
      for (; q + 8 <= K; q += 8)
        for (int l = 0; l < 8; l++) acc[l] += hb[q + l] * r[q + l];
      float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      for (; q < K; q++) s += hb[q] * r[q];
      ob[j] = s;
    }
  }
}

static void run_direction(rnn_ctx *k, int64_t d) {
  const isa_rnn_attrs *p = &k->p;
  const int64_t T = k->T, B = k->B, H = k->H, GH = k->GH, nd = k->nd;
  const int rev = p->direction == ISA_RNN_REVERSE || d == 1;
  const float *Rd = k->R + d * GH * H;
  const float *Pd = k->P ? k->P + d * 3 * H : NULL;
  /* GRU linear_before_reset: Rb_h stays inside r (.) (H R_h^T + Rb_h). */
  const float *Rbh = (p->kind == ISA_RNN_KIND_GRU && p->linear_before_reset && k->Bias)
                         ? k->Bias + d * 2 * GH + GH + 2 * H
                         : NULL;
  const int *act = p->act[d];
  const float *al = p->alpha[d], *be = p->beta[d];
  float *h = k->h + d * B * H, *c = k->c ? k->c + d * B * H : NULL;
  for (int64_t b = 0; b < B; b++) {
    if (k->H0) memcpy(h + b * H, k->H0 + state_off(k, d, b), (size_t)H * sizeof(float));
    else memset(h + b * H, 0, (size_t)H * sizeof(float));
    if (c) {
      if (k->C0) memcpy(c + b * H, k->C0 + state_off(k, d, b), (size_t)H * sizeof(float));
      else memset(c + b * H, 0, (size_t)H * sizeof(float));
    }
  }
  int64_t max_len = 0;
  for (int64_t b = 0; b < B; b++) max_len = k->len[b] > max_len ? k->len[b] : max_len;
  const int gru_split = p->kind == ISA_RNN_KIND_GRU && !p->linear_before_reset;

  for (int64_t s = 0; s < max_len; s++) {
    recur_mm(k, h, Rd, gru_split ? 2 * H : GH, k->gates, GH, H);
    for (int64_t b = 0; b < B; b++) {
      float *g = k->gates + b * GH, *hb = h + b * H;
      if (s >= k->len[b]) {
        if (gru_split) memset(k->tmp + b * H, 0, (size_t)H * sizeof(float));
        continue;
      }
      int64_t t = rev ? k->len[b] - 1 - s : s;
      int64_t row = p->layout ? b * T + t : t * B + b;
      const float *xg = k->xw + row * nd * GH + d * GH;
      if (p->kind == ISA_RNN_KIND_RNN) {
        for (int64_t j = 0; j < H; j++) g[j] += xg[j];
        clip_vec(p->clip, g, H);
        act_vec(act[0], al[0], be[0], g, H);
        memcpy(hb, g, (size_t)H * sizeof(float));
      } else if (p->kind == ISA_RNN_KIND_LSTM) {
        /* gate blocks: i, o, f, c */
        float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H, *cb = c + b * H;
        for (int64_t j = 0; j < GH; j++) g[j] += xg[j];
        if (Pd)
          for (int64_t j = 0; j < H; j++) {
            gi[j] += Pd[j] * cb[j];
            gf[j] += Pd[2 * H + j] * cb[j];
          }
        clip_vec(p->clip, gi, H);
        clip_vec(p->clip, gf, H);
        clip_vec(p->clip, gc, H);
        act_vec(act[0], al[0], be[0], gi, H);
        if (p->input_forget)
          for (int64_t j = 0; j < H; j++) gf[j] = 1.0f - gi[j];
        else
          act_vec(act[0], al[0], be[0], gf, H);
        act_vec(act[1], al[1], be[1], gc, H);
        for (int64_t j = 0; j < H; j++) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
        if (Pd)
          for (int64_t j = 0; j < H; j++) go[j] += Pd[H + j] * cb[j];
        clip_vec(p->clip, go, H);
        act_vec(act[0], al[0], be[0], go, H);
        memcpy(gc, cb, (size_t)H * sizeof(float));
        act_vec(act[2], al[2], be[2], gc, H);
        for (int64_t j = 0; j < H; j++) hb[j] = go[j] * gc[j];
      } else {
        /* gate blocks: z, r, h */
        float *gz = g, *gr = g + H;
        for (int64_t j = 0; j < 2 * H; j++) g[j] += xg[j];
        clip_vec(p->clip, g, 2 * H);
        act_vec(act[0], al[0], be[0], gz, H);
        act_vec(act[0], al[0], be[0], gr, H);
        if (gru_split) {
          float *tb = k->tmp + b * H;
          for (int64_t j = 0; j < H; j++) tb[j] = gr[j] * hb[j];
        } else {
          float *gh = g + 2 * H;
          const float *xh = xg + 2 * H;
          for (int64_t j = 0; j < H; j++) gh[j] = xh[j] + gr[j] * (gh[j] + (Rbh ? Rbh[j] : 0.0f));
          clip_vec(p->clip, gh, H);
          act_vec(act[1], al[1], be[1], gh, H);
          for (int64_t j = 0; j < H; j++) hb[j] = (1.0f - gz[j]) * gh[j] + gz[j] * hb[j];
        }
      }
    }
    if (gru_split) {
      /* (r (.) H_{t-1}) R_h^T, then the candidate and the update. */
      recur_mm(k, k->tmp, Rd + 2 * H * H, H, k->gates + 2 * H, GH, H);
      for (int64_t b = 0; b < B; b++) {
        if (s >= k->len[b]) continue;
        int64_t t = rev ? k->len[b] - 1 - s : s;
        int64_t row = p->layout ? b * T + t : t * B + b;
        const float *xh = k->xw + row * nd * GH + d * GH + 2 * H;
        float *g = k->gates + b * GH, *gz = g, *gh = g + 2 * H, *hb = h + b * H;
        for (int64_t j = 0; j < H; j++) gh[j] += xh[j];
        clip_vec(p->clip, gh, H);
        act_vec(act[1], al[1], be[1], gh, H);
        for (int64_t j = 0; j < H; j++) hb[j] = (1.0f - gz[j]) * gh[j] + gz[j] * hb[j];
      }
    }
    if (k->Y)
      for (int64_t b = 0; b < B; b++) {
        if (s >= k->len[b]) continue;
        int64_t t = rev ? k->len[b] - 1 - s : s;
        int64_t off = p->layout ? ((b * T + t) * nd + d) * H : ((t * nd + d) * B + b) * H;
        memcpy(k->Y + off, h + b * H, (size_t)H * sizeof(float));
      }
  }
  for (int64_t b = 0; b < B; b++) {
    if (k->Yh) memcpy(k->Yh + state_off(k, d, b), h + b * H, (size_t)H * sizeof(float));
    if (k->Yc && c) memcpy(k->Yc + state_off(k, d, b), c + b * H, (size_t)H * sizeof(float));
  }
}

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
  const int64_t T = k.T, B = k.B, H = k.H, nd = k.nd, GH = k.GH;
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

  /* Scratch: xw, pack, h, c, gates, tmp, len (each 64-byte aligned). */
  size_t rows, xw_n, sz_xw, sz_h, sz_g, pack1, pack2, sz_len;
  if (!mul_ok((size_t)T, (size_t)B, &rows) || !mul_ok(rows, (size_t)(nd * GH), &xw_n) ||
      !mul_ok(xw_n, sizeof(float), &sz_xw) || !mul_ok((size_t)(nd * B), (size_t)H * sizeof(float), &sz_h) ||
      !mul_ok((size_t)B, (size_t)GH * sizeof(float), &sz_g))
    return RT_ERR("RNN: operands too large");
  pack1 = rt_sgemm_pack_bytes((int64_t)rows, nd * GH, k.I);
  pack2 = rt_sgemm_pack_bytes(B, GH, H);
  sz_len = (size_t)B * sizeof(int64_t);
  size_t total = rt_align64(sz_xw) + rt_align64(pack1 > pack2 ? pack1 : pack2) +
                 2 * rt_align64(sz_h) + rt_align64(sz_g) + rt_align64(sz_g) + rt_align64(sz_len);
  if (total < sz_xw) return RT_ERR("RNN: operands too large");
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, total, &mem));
  char *cur = mem;
  k.xw = (float *)cur; cur += rt_align64(sz_xw);
  k.pack = (float *)cur; cur += rt_align64(pack1 > pack2 ? pack1 : pack2);
  k.h = (float *)cur; cur += rt_align64(sz_h);
  k.c = kind == ISA_RNN_KIND_LSTM ? (float *)cur : NULL; cur += rt_align64(sz_h);
  k.gates = (float *)cur; cur += rt_align64(sz_g);
  k.tmp = (float *)cur; cur += rt_align64(sz_g);
  k.len = (int64_t *)cur;

  for (int64_t b = 0; b < B; b++) {
    int64_t L = T;
    if (in[4]) L = in[4]->dtype == IVM_DT_I32 ? ((const int32_t *)in[4]->data)[b]
                                             : ((const int64_t *)in[4]->data)[b];
    if (L < 0 || L > T)
      return RT_ERR("sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b, (long long)L,
                    (long long)T);
    k.len[b] = L;
  }

  /* Input projection for every step and direction at once: xw = X W^T (+ biases). */
  int64_t N = nd * GH;
  if (rows > 0) {
    if (k.I > 0)
      rt_sgemm((int64_t)rows, N, k.I, 1.0f, k.X, k.I, 1, k.W, 1, k.I, 0.0f, k.xw, N, k.pack);
    else
      memset(k.xw, 0, sz_xw);
    if (k.Bias) {
      for (int64_t d = 0; d < nd; d++) {
        const float *wb = k.Bias + d * 2 * GH, *rb = wb + GH;
        /* GRU with linear_before_reset keeps Rb_h for the recurrent side. */
        int64_t rb_end = (kind == ISA_RNN_KIND_GRU && p->linear_before_reset) ? 2 * H : GH;
        for (int64_t r = 0; r < (int64_t)rows; r++) {
          float *xr = k.xw + r * N + d * GH;
          for (int64_t j = 0; j < GH; j++) xr[j] += wb[j];
          for (int64_t j = 0; j < rb_end; j++) xr[j] += rb[j];
        }
      }
    }
  }
  if (k.Y && in[4]) memset(k.Y, 0, rt_nbytes(out[0])); /* steps past a length stay 0 */
  for (int64_t d = 0; d < nd; d++) run_direction(&k, d);
  return NULL;
}

ivm_status rt_k_RNN(const rt_call *call) { return rnn_kernel(call, ISA_RNN_KIND_RNN); }
ivm_status rt_k_LSTM(const rt_call *call) { return rnn_kernel(call, ISA_RNN_KIND_LSTM); }
ivm_status rt_k_GRU(const rt_call *call) { return rnn_kernel(call, ISA_RNN_KIND_GRU); }
