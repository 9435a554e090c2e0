/* Shape and type inference for RNN, LSTM and GRU (ONNX semantics; canonical attributes in
 * isa/ops_rnn.def). */
#include <ctype.h>
#include <string.h>

#include "isa/infer_rnn.h"
#include "isa/infer_util.h"

#define BAD(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* ---- activations -------------------------------------------------------------------- */
static const char *const k_act_names[ISA_RNN_ACT_COUNT] = {
    "relu", "tanh", "sigmoid", "affine", "leakyrelu", "thresholdedrelu",
    "scaledtanh", "hardsigmoid", "elu", "softsign", "softplus"};

int isa_rnn_act_from_name(const char *name, size_t len) {
  if (!name) return -1;
  for (int c = 0; c < ISA_RNN_ACT_COUNT; c++) {
    const char *k = k_act_names[c];
    if (strlen(k) != len) continue;
    size_t i = 0;
    while (i < len && tolower((unsigned char)name[i]) == k[i]) i++;
    if (i == len) return c;
  }
  return -1;
}

int isa_rnn_act_uses_alpha(int code) {
  switch (code) {
    case ISA_RNN_AFFINE: case ISA_RNN_LEAKY_RELU: case ISA_RNN_THRESHOLDED_RELU:
    case ISA_RNN_SCALED_TANH: case ISA_RNN_HARD_SIGMOID: case ISA_RNN_ELU: return 1;
    default: return 0;
  }
}

int isa_rnn_act_uses_beta(int code) {
  return code == ISA_RNN_AFFINE || code == ISA_RNN_SCALED_TANH || code == ISA_RNN_HARD_SIGMOID;
}

float isa_rnn_act_default_alpha(int code) {
  switch (code) {
    case ISA_RNN_LEAKY_RELU: return 0.01f;
    case ISA_RNN_HARD_SIGMOID: return 0.2f;
    case ISA_RNN_AFFINE: case ISA_RNN_THRESHOLDED_RELU: case ISA_RNN_SCALED_TANH:
    case ISA_RNN_ELU: return 1.0f;
    default: return 0.0f;
  }
}

float isa_rnn_act_default_beta(int code) {
  switch (code) {
    case ISA_RNN_HARD_SIGMOID: return 0.5f;
    case ISA_RNN_SCALED_TANH: return 1.0f;
    default: return 0.0f;
  }
}

/* ---- attributes ----------------------------------------------------------------------- */
ivm_status isa_rnn_decode(int kind, const isa_attr *a, isa_rnn_attrs *p) {
  memset(p, 0, sizeof *p);
  if (!a) return BAD("RNN: attributes missing");
  static const int gates[3] = {1, 4, 3}, nf[3] = {1, 3, 2};
  static const int defaults[3][3] = {{ISA_RNN_TANH, 0, 0},
                                     {ISA_RNN_SIGMOID, ISA_RNN_TANH, ISA_RNN_TANH},
                                     {ISA_RNN_SIGMOID, ISA_RNN_TANH, 0}};
  if (kind < 0 || kind > 2) return BAD("RNN: bad kind %d", kind);
  p->kind = kind;
  p->gates = gates[kind];
  p->n_funcs = nf[kind];

  const isa_attr *dir = &a[ISA_A_RNN_direction];
  const char *ds = dir->type == ISA_ATTR_STRING && dir->v.s ? dir->v.s : "forward";
  if (!strcmp(ds, "forward") || !*ds) p->direction = ISA_RNN_FORWARD;
  else if (!strcmp(ds, "reverse")) p->direction = ISA_RNN_REVERSE;
  else if (!strcmp(ds, "bidirectional")) p->direction = ISA_RNN_BIDIRECTIONAL;
  else return BAD("direction must be forward, reverse or bidirectional, got '%.32s'", ds);
  p->num_dirs = p->direction == ISA_RNN_BIDIRECTIONAL ? 2 : 1;

  int64_t layout = a[ISA_A_RNN_layout].v.i;
  if (layout != 0 && layout != 1) return BAD("layout must be 0 or 1, got %lld", (long long)layout);
  p->layout = (int)layout;
  int64_t h = a[ISA_A_RNN_hidden_size].v.i;
  if (h < 1 || h > ISA_RNN_MAX_HIDDEN) return BAD("hidden_size %lld out of range", (long long)h);
  p->hidden = h;
  float clip = a[ISA_A_RNN_clip].v.f;
  if (!(clip >= 0.0f)) return BAD("clip must be >= 0 (0: none)");
  p->clip = clip;
  if (kind == ISA_RNN_KIND_LSTM) {
    int64_t v = a[ISA_A_LSTM_input_forget].v.i;
    if (v != 0 && v != 1) return BAD("input_forget must be 0 or 1, got %lld", (long long)v);
    p->input_forget = (int)v;
  }
  if (kind == ISA_RNN_KIND_GRU) {
    int64_t v = a[ISA_A_GRU_linear_before_reset].v.i;
    if (v != 0 && v != 1) return BAD("linear_before_reset must be 0 or 1, got %lld", (long long)v);
    p->linear_before_reset = (int)v;
  }

  const isa_attr *acts = &a[ISA_A_RNN_activations], *al = &a[ISA_A_RNN_activation_alpha],
                 *be = &a[ISA_A_RNN_activation_beta];
  uint32_t n = (uint32_t)(p->num_dirs * p->n_funcs);
  uint32_t na = acts->type == ISA_ATTR_INTS ? acts->count : 0;
  uint32_t nal = al->type == ISA_ATTR_FLOATS ? al->count : 0;
  uint32_t nbe = be->type == ISA_ATTR_FLOATS ? be->count : 0;
  if (na != 0 && na != n)
    return BAD("activations: expected %u codes (num_directions * %d), got %u", n, p->n_funcs, na);
  if (nal != 0 && nal != na)
    return BAD("activation_alpha: expected %u values (one per activation), got %u", na, nal);
  if (nbe != 0 && nbe != na)
    return BAD("activation_beta: expected %u values (one per activation), got %u", na, nbe);
  if ((na && !acts->v.ints) || (nal && !al->v.floats) || (nbe && !be->v.floats))
    return BAD("activations: missing list data");
  for (int d = 0; d < p->num_dirs; d++)
    for (int f = 0; f < p->n_funcs; f++) {
      uint32_t k = (uint32_t)(d * p->n_funcs + f);
      int64_t c = na ? acts->v.ints[k] : defaults[kind][f];
      if (c < 0 || c >= ISA_RNN_ACT_COUNT)
        return BAD("activations[%u]: unknown code %lld", k, (long long)c);
      p->act[d][f] = (int)c;
      p->alpha[d][f] = nal ? al->v.floats[k] : isa_rnn_act_default_alpha((int)c);
      p->beta[d][f] = nbe ? be->v.floats[k] : isa_rnn_act_default_beta((int)c);
    }
  return NULL;
}

/* ---- shapes ----------------------------------------------------------------------------- */
/* Both dims must agree where known; keeps the better-known one. */
static ivm_status merge(int64_t *acc, int64_t d, const char *what) {
  if (*acc >= 0 && d >= 0 && *acc != d)
    return BAD("%s mismatch: %lld vs %lld", what, (long long)*acc, (long long)d);
  if (*acc >= 0 || d == ISA_DIM_ANY) return NULL;
  if (d >= 0 || *acc == ISA_DIM_ANY) *acc = d;
  else if (d != *acc) *acc = ISA_DIM_ANY; /* two different symbols */
  return NULL;
}

/* Input i (when present with a known rank) must have rank r; its dims are merged into
 * acc[k] (NULL: not checked). */
static ivm_status check_in(const isa_infer_ctx *ctx, uint32_t i, const char *name, int r,
                           int64_t *const *acc, const char *const *what) {
  if (!iu_present(ctx, i)) return NULL;
  const isa_type *t = &ctx->in[i];
  if (t->rank < 0) {
    if (t->rank != -1) return BAD("input %u (%s): bad rank %d", i, name, t->rank);
    return NULL;
  }
  if (t->rank != r) return BAD("input %u (%s): expected rank %d, got %d", i, name, r, t->rank);
  for (int k = 0; k < r; k++) {
    if (!acc[k]) continue;
    ivm_status st = merge(acc[k], t->dims[k], what[k]);
    if (st) return ivm_status_wrap(st, "input %u (%s)", i, name);
  }
  return NULL;
}

static void set_shape(isa_type *o, int dtype, int rank, const int64_t *dims) {
  memset(o, 0, sizeof *o);
  o->dtype = (uint8_t)dtype;
  o->rank = (int8_t)rank;
  for (int k = 0; k < rank; k++) o->dims[k] = dims[k];
}

static ivm_status infer_rnn(isa_infer_ctx *ctx, int kind) {
  uint32_t max_in = kind == ISA_RNN_KIND_LSTM ? 8 : 6, max_out = kind == ISA_RNN_KIND_LSTM ? 3 : 2;
  if (ctx->n_in < 3 || ctx->n_in > max_in)
    return BAD("expected 3..%u inputs, got %u", max_in, ctx->n_in);
  if (ctx->n_out > max_out) return BAD("expected at most %u outputs, got %u", max_out, ctx->n_out);
  for (uint32_t i = 0; i < 3; i++)
    if (!iu_present(ctx, i)) return BAD("input %u is required", i);
  isa_rnn_attrs p;
  IVM_TRY(isa_rnn_decode(kind, ctx->attrs, &p));

  int dt = ctx->in[0].dtype;
  if (dt != IVM_DT_F32)
    return BAD("input 0: unsupported dtype %s (f32 only)", ivm_dtype_name((ivm_dtype)dt));
  static const char *const names[8] = {"X", "W", "R", "B", "sequence_lens",
                                       "initial_h", "initial_c", "P"};
  for (uint32_t i = 1; i < ctx->n_in; i++) {
    if (!iu_present(ctx, i)) continue;
    int di = ctx->in[i].dtype;
    if (i == 4) {
      if (di != IVM_DT_I32 && di != IVM_DT_I64)
        return BAD("input 4 (sequence_lens): expected i32 or i64, got %s",
                   ivm_dtype_name((ivm_dtype)di));
    } else if (di != dt) {
      return BAD("input %u (%s): expected %s, got %s", i, names[i], ivm_dtype_name((ivm_dtype)dt),
                 ivm_dtype_name((ivm_dtype)di));
    }
  }

  int64_t T = ISA_DIM_ANY, B = ISA_DIM_ANY, I = ISA_DIM_ANY;
  int64_t nd = p.num_dirs, H = p.hidden, GH = p.gates * p.hidden, GH2 = 2 * GH, H3 = 3 * H;
  const char *const w_what[3] = {"num_directions", "gates * hidden_size", "input_size"};
  const char *const x_what[3] = {p.layout ? "batch" : "seq_length", p.layout ? "seq_length" : "batch",
                                 "input_size"};
  const char *const r_what[3] = {"num_directions", "gates * hidden_size", "hidden_size"};
  const char *const b_what[2] = {"num_directions", "2 * gates * hidden_size"};
  const char *const s_what[1] = {"batch"};
  const char *const h_what[3] = {p.layout ? "batch" : "num_directions",
                                 p.layout ? "num_directions" : "batch", "hidden_size"};
  const char *const p_what[2] = {"num_directions", "3 * hidden_size"};
  int64_t ndw = nd, ghw = GH, hw = H, gh2 = GH2, h3 = H3;
  int64_t *xacc[3] = {p.layout ? &B : &T, p.layout ? &T : &B, &I};
  int64_t *wacc[3] = {&ndw, &ghw, &I};
  int64_t *racc[3] = {&ndw, &ghw, &hw};
  int64_t *bacc[2] = {&ndw, &gh2};
  int64_t *sacc[1] = {&B};
  int64_t *hacc[3] = {p.layout ? &B : &ndw, p.layout ? &ndw : &B, &hw};
  int64_t *pacc[2] = {&ndw, &h3};
  IVM_TRY(check_in(ctx, 0, "X", 3, xacc, x_what));
  IVM_TRY(check_in(ctx, 1, "W", 3, wacc, w_what));
  IVM_TRY(check_in(ctx, 2, "R", 3, racc, r_what));
  IVM_TRY(check_in(ctx, 3, "B", 2, bacc, b_what));
  IVM_TRY(check_in(ctx, 4, "sequence_lens", 1, sacc, s_what));
  IVM_TRY(check_in(ctx, 5, "initial_h", 3, hacc, h_what));
  if (kind == ISA_RNN_KIND_LSTM) {
    IVM_TRY(check_in(ctx, 6, "initial_c", 3, hacc, h_what));
    IVM_TRY(check_in(ctx, 7, "P", 2, pacc, p_what));
  }

  if (ctx->n_out > 0) {
    int64_t y[4];
    if (p.layout) {
      y[0] = B; y[1] = T; y[2] = nd; y[3] = H;
    } else {
      y[0] = T; y[1] = nd; y[2] = B; y[3] = H;
    }
    set_shape(&ctx->out[0], dt, 4, y);
  }
  int64_t s[3] = {p.layout ? B : nd, p.layout ? nd : B, H};
  for (uint32_t k = 1; k < ctx->n_out; k++) set_shape(&ctx->out[k], dt, 3, s);
  return NULL;
}

ivm_status isa_infer_rnn_rnn(isa_infer_ctx *ctx) { return infer_rnn(ctx, ISA_RNN_KIND_RNN); }
ivm_status isa_infer_rnn_lstm(isa_infer_ctx *ctx) { return infer_rnn(ctx, ISA_RNN_KIND_LSTM); }
ivm_status isa_infer_rnn_gru(isa_infer_ctx *ctx) { return infer_rnn(ctx, ISA_RNN_KIND_GRU); }
