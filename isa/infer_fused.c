/* Shape and type inference for the fused family (isa/ops_fused.def): FusedMatMul and
 * FusedAttention. Both are f32 only (the passes fuse f32 chains only) and accept exactly
 * the shapes whose chain they stand for, so a module's fused instruction can never be
 * handed operands its kernel would misread. */
#include <string.h>

#include "isa/infer_fused.h"
#include "isa/infer_util.h"

#define BAD(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* ---- activations ---------------------------------------------------------------------- */
const isa_builtin_op isa_fused_activation_ops[] = {
    ISA_OP_Relu,     ISA_OP_LeakyRelu, ISA_OP_Sigmoid,  ISA_OP_Tanh,  ISA_OP_Gelu,
    ISA_OP_HardSigmoid, ISA_OP_HardSwish, ISA_OP_Elu,   ISA_OP_Celu,  ISA_OP_Softplus,
    ISA_OP_Softsign, ISA_OP_Mish,      ISA_OP_ThresholdedRelu,
};
const uint32_t isa_fused_activation_count =
    sizeof isa_fused_activation_ops / sizeof isa_fused_activation_ops[0];

int isa_fused_activation(const char *name, isa_builtin_op *out) {
  *out = ISA_OP_COUNT;
  if (!name || !*name) return 1;
  for (uint32_t k = 0; k < isa_fused_activation_count; k++)
    if (strcmp(isa_builtin_desc(isa_fused_activation_ops[k])->name, name) == 0) {
      *out = isa_fused_activation_ops[k];
      return 1;
    }
  return 0;
}

void isa_fused_activation_attrs(isa_builtin_op act, const isa_attr *fused, int act_slot,
                                isa_attr *slots) {
  const isa_op_desc *d = isa_builtin_desc(act);
  if (!d) return;
  isa_attrs_init_defaults(d, slots);
  if (!fused) return;
  static const struct {
    const char *name;
    int slot;
  } map[] = {{"alpha", 1}, {"beta", 2}, {"approximate", 3}}; /* after `activation` */
  for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
    int s = isa_attr_index(d, map[k].name);
    const isa_attr *from = &fused[act_slot + map[k].slot];
    if (s < 0 || !from->present || d->attrs[s].type != from->type) continue;
    slots[s] = *from;
  }
}

_Static_assert(ISA_A_FusedMatMul_act_alpha == ISA_A_FusedMatMul_activation + 1 &&
                   ISA_A_FusedMatMul_act_beta == ISA_A_FusedMatMul_activation + 2 &&
                   ISA_A_FusedMatMul_act_approximate == ISA_A_FusedMatMul_activation + 3,
               "FusedMatMul's activation attributes are consecutive");
_Static_assert(ISA_A_FusedConv_act_alpha == ISA_A_FusedConv_activation + 1 &&
                   ISA_A_FusedConv_act_beta == ISA_A_FusedConv_activation + 2 &&
                   ISA_A_FusedConv_act_approximate == ISA_A_FusedConv_activation + 3,
               "FusedConv's activation attributes are consecutive");
_Static_assert((int)ISA_A_FusedConv_auto_pad == (int)ISA_A_Conv_auto_pad &&
                   (int)ISA_A_FusedConv_dilations == (int)ISA_A_Conv_dilations &&
                   (int)ISA_A_FusedConv_group == (int)ISA_A_Conv_group &&
                   (int)ISA_A_FusedConv_kernel_shape == (int)ISA_A_Conv_kernel_shape &&
                   (int)ISA_A_FusedConv_pads == (int)ISA_A_Conv_pads &&
                   (int)ISA_A_FusedConv_strides == (int)ISA_A_Conv_strides,
               "FusedConv's slots read as Conv's");

/* ---- helpers -------------------------------------------------------------------------- */
static ivm_status need_f32(const isa_infer_ctx *ctx, uint32_t i, const char *what) {
  if (ctx->in[i].dtype != IVM_DT_F32)
    return BAD("input %u (%s): expected f32, got %s", i, what, iu_dtn(ctx->in[i].dtype));
  return NULL;
}

/* Dims a and b must be equal where both are known. */
static ivm_status merge(int64_t a, int64_t b, const char *what, int64_t *out) {
  if (!iu_merge_dim(a, b, out))
    return BAD("%s: %lld vs %lld", what, (long long)a, (long long)b);
  return NULL;
}

/* ---- FusedMatMul ---------------------------------------------------------------------- */
ivm_status isa_infer_fused_matmul(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 4, 1, 1));
  IVM_TRY(need_f32(ctx, 0, "A"));
  IVM_TRY(need_f32(ctx, 1, "B"));
  int has_bias = iu_present(ctx, 2), has_z = iu_present(ctx, 3);
  if (has_bias) IVM_TRY(need_f32(ctx, 2, "Bias"));
  if (has_z) IVM_TRY(need_f32(ctx, 3, "Z"));
  isa_builtin_op act;
  const char *an = ctx->attrs ? ctx->attrs[ISA_A_FusedMatMul_activation].v.s : "";
  if (!isa_fused_activation(an, &act)) return BAD("attribute activation: '%s' is not supported", an);
  int64_t tb = iu_attr_i(ctx, ISA_A_FusedMatMul_transB, 0);
  if (tb != 0 && tb != 1) return BAD("attribute transB: must be 0 or 1, got %lld", (long long)tb);
  const isa_type *a = &ctx->in[0], *b = &ctx->in[1];
  isa_type *o = &ctx->out[0];
  if (a->rank == 0) return BAD("input 0 (A): expected rank >= 1, got 0");
  if (b->rank >= 0 && b->rank != 2) return BAD("input 1 (B): expected rank 2, got %d", b->rank);
  if (a->rank < 0) {
    iu_set_unknown_rank(o, IVM_DT_F32);
    return NULL;
  }
  int64_t k, n = b->rank == 2 ? b->dims[tb ? 0 : 1] : ISA_DIM_ANY;
  IVM_TRY(merge(a->dims[a->rank - 1], b->rank == 2 ? b->dims[tb ? 1 : 0] : ISA_DIM_ANY,
                "inner dimension", &k));
  iu_set_like(o, IVM_DT_F32, a);
  o->dims[a->rank - 1] = n;
  if (has_bias && ctx->in[2].rank >= 0) {
    /* Bias broadcasts along rows only: (N) or (1, ..., 1, N), never widening Y. */
    const isa_type *c = &ctx->in[2];
    if (c->rank == 0 || c->rank > a->rank)
      return BAD("input 2 (Bias): rank %d, expected 1..%d", c->rank, a->rank);
    for (int i = 0; i + 1 < c->rank; i++)
      if (c->dims[i] != 1) return BAD("input 2 (Bias): dim %d is %lld, expected 1", i, (long long)c->dims[i]);
    IVM_TRY(merge(c->dims[c->rank - 1], n, "Bias length vs N", &o->dims[a->rank - 1]));
  }
  if (has_z && ctx->in[3].rank >= 0) {
    const isa_type *z = &ctx->in[3];
    if (z->rank != o->rank) return BAD("input 3 (Z): rank %d, expected %d", z->rank, o->rank);
    for (int i = 0; i < o->rank; i++)
      IVM_TRY(merge(z->dims[i], o->dims[i], "Z dim vs Y dim", &o->dims[i]));
  }
  return NULL;
}

/* ---- FusedAttention ------------------------------------------------------------------- */
ivm_status isa_infer_fused_attention(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 3, 4, 1, 1));
  static const char *const names[] = {"Q", "Kt", "V", "Mask"};
  for (uint32_t i = 0; i < ctx->n_in; i++)
    if (iu_present(ctx, i)) IVM_TRY(need_f32(ctx, i, names[i]));
  int64_t dv = iu_attr_i(ctx, ISA_A_FusedAttention_divide, 0);
  if (dv != 0 && dv != 1) return BAD("attribute divide: must be 0 or 1, got %lld", (long long)dv);
  const isa_type *q = &ctx->in[0], *kt = &ctx->in[1], *v = &ctx->in[2];
  isa_type *o = &ctx->out[0];
  int r = q->rank >= 0 ? q->rank : kt->rank >= 0 ? kt->rank : v->rank;
  if (r < 0) {
    iu_set_unknown_rank(o, IVM_DT_F32);
    return NULL;
  }
  if (r < 2) return BAD("expected rank >= 2, got %d", r);
  for (int i = 0; i < 3; i++)
    if (ctx->in[i].rank >= 0 && ctx->in[i].rank != r)
      return BAD("input %d (%s): rank %d, expected %d (Q, Kt and V share their rank)", i,
                 names[i], ctx->in[i].rank, r);
  memset(o, 0, sizeof *o);
  o->dtype = IVM_DT_F32;
  o->rank = (int8_t)r;
  int64_t sq = ISA_DIM_ANY, dk = ISA_DIM_ANY, sk = ISA_DIM_ANY, dvv = ISA_DIM_ANY;
  for (int i = 0; i < r - 2; i++) {
    int64_t d = ISA_DIM_ANY;
    for (int t = 0; t < 3; t++)
      if (ctx->in[t].rank >= 0) IVM_TRY(merge(d, ctx->in[t].dims[i], "batch dim", &d));
    o->dims[i] = d;
  }
  if (q->rank >= 0) sq = q->dims[r - 2], dk = q->dims[r - 1];
  if (kt->rank >= 0) {
    IVM_TRY(merge(dk, kt->dims[r - 2], "Q's last dim vs Kt's rows", &dk));
    sk = kt->dims[r - 1];
  }
  if (v->rank >= 0) {
    IVM_TRY(merge(sk, v->dims[r - 2], "Kt's columns vs V's rows", &sk));
    dvv = v->dims[r - 1];
  }
  o->dims[r - 2] = sq;
  o->dims[r - 1] = dvv;
  if (iu_present(ctx, 3) && ctx->in[3].rank >= 0) {
    /* The mask broadcasts to the scores (..., Sq, Sk) without widening them. */
    const isa_type *m = &ctx->in[3];
    if (m->rank > r) return BAD("input 3 (Mask): rank %d exceeds %d", m->rank, r);
    for (int i = 0; i < m->rank; i++) {
      int ax = r - m->rank + i;
      int64_t want = ax == r - 2 ? sq : ax == r - 1 ? sk : o->dims[ax];
      int64_t d = m->dims[i];
      if (d >= 0 && d != 1 && want >= 0 && d != want)
        return BAD("input 3 (Mask): dim %d is %lld, expected 1 or %lld", i, (long long)d,
                   (long long)want);
    }
  }
  return NULL;
}

/* ---- FusedConv ------------------------------------------------------------------------ */
/* A, B, C: f32, three-way numpy broadcasting (the shape Mul then Add give). */
ivm_status isa_infer_fused_muladd(isa_infer_ctx *ctx) {
  static const char *const names[3] = {"A", "B", "C"};
  if (ctx->n_in != 3 || ctx->n_out != 1)
    return BAD("expected 3 inputs and 1 output, got %u and %u", ctx->n_in, ctx->n_out);
  for (uint32_t k = 0; k < 3; k++) IVM_TRY(need_f32(ctx, k, names[k]));
  const isa_type *ts[3] = {&ctx->in[0], &ctx->in[1], &ctx->in[2]};
  iu_set_unknown_rank(&ctx->out[0], IVM_DT_F32);
  return iu_broadcast(ts, 3, &ctx->out[0]);
}

/* C, then Resize's X, roi, scales, sizes: Resize's rule, with C of the output's type. */
ivm_status isa_infer_fused_resize_add(isa_infer_ctx *ctx) {
  if (ctx->n_in < 2 || ctx->n_in > 5 || ctx->n_out != 1)
    return BAD("expected 2-5 inputs and 1 output, got %u and %u", ctx->n_in, ctx->n_out);
  IVM_TRY(need_f32(ctx, 0, "C"));
  IVM_TRY(need_f32(ctx, 1, "X"));
  isa_infer_ctx sub = {ctx->n_in - 1, ctx->in + 1, ctx->in_data ? ctx->in_data + 1 : NULL,
                       ctx->attrs, 1, ctx->out};
  IVM_TRY(isa_infer_nn_resize(&sub));
  const isa_type *c = &ctx->in[0];
  isa_type *y = &ctx->out[0];
  if (c->rank >= 0 && y->rank >= 0 && c->rank != y->rank)
    return BAD("input 0 (C): rank %d, the resized X's is %d", c->rank, y->rank);
  for (int d = 0; c->rank >= 0 && d < c->rank; d++) {
    if (y->rank < 0) break;
    IVM_TRY(merge(c->dims[d], y->dims[d], "input 0 (C) against the resized X", &y->dims[d]));
  }
  if (y->rank < 0 && c->rank >= 0) iu_set_like(y, IVM_DT_F32, c);
  return NULL;
}

/* transW = 2: W is Winograd F(2x2, 3x3)'s transformed weights (16, C, M) of a 2-D 3x3
 * conv with stride 1, dilation 1 and group 1 (runtime/kernels/conv_wino.c). */
static ivm_status infer_winograd_weights(const isa_infer_ctx *ctx) {
  const isa_attr *at = ctx->attrs, *ks = &at[ISA_A_FusedConv_kernel_shape];
  if (at[ISA_A_FusedConv_group].v.i != 1) return BAD("attribute transW: 2 needs group 1");
  if (ks->count != 2 || ks->v.ints[0] != 3 || ks->v.ints[1] != 3)
    return BAD("attribute transW: 2 needs kernel_shape [3, 3]");
  static const struct {
    int slot;
    const char *name;
  } ones[] = {{ISA_A_FusedConv_strides, "strides"}, {ISA_A_FusedConv_dilations, "dilations"}};
  for (int k = 0; k < 2; k++) {
    const isa_attr *a = &at[ones[k].slot];
    for (uint32_t i = 0; i < a->count; i++)
      if (a->v.ints[i] != 1) return BAD("attribute transW: 2 needs %s of 1", ones[k].name);
  }
  const isa_type *wt = &ctx->in[1];
  if (ctx->in[0].rank >= 0 && ctx->in[0].rank != 4)
    return BAD("input 0 (X): transW 2 needs rank 4, got %d", ctx->in[0].rank);
  if (wt->rank >= 0 && wt->rank != 3)
    return BAD("input 1 (W): Winograd's (transW 2), expected rank 3, got %d", wt->rank);
  if (wt->rank == 3 && wt->dims[0] >= 0 && wt->dims[0] != 16)
    return BAD("input 1 (W): Winograd's (transW 2), expected 16 rows, got %lld",
               (long long)wt->dims[0]);
  isa_type in[3] = {ctx->in[0], *wt, ctx->n_in > 2 ? ctx->in[2] : ctx->in[0]};
  isa_type *w = &in[1];
  w->rank = 4;
  w->dims[0] = wt->rank == 3 ? wt->dims[2] : ISA_DIM_ANY;
  w->dims[1] = wt->rank == 3 ? wt->dims[1] : ISA_DIM_ANY;
  w->dims[2] = w->dims[3] = 3;
  isa_infer_ctx sub = {ctx->n_in, in, ctx->in_data, ctx->attrs, ctx->n_out, ctx->out};
  return isa_infer_conv(&sub);
}

/* ---- the channel-blocked layout (FusedConv layout 1, ToBlocked, FromBlocked) ---------- */
#define BLOCK 16

/* A known channel count times 16 (blocks to channels); unknown stays unknown. */
static int64_t blocks_to_channels(int64_t d) { return d >= 0 ? d * BLOCK : ISA_DIM_ANY; }

/* Conv's rule on the NCHW operands in[] the stored ones stand for, then Y in blocks. */
static ivm_status infer_blocked_y(isa_infer_ctx *ctx, isa_type *in) {
  isa_infer_ctx sub = {ctx->n_in, in, ctx->in_data, ctx->attrs, ctx->n_out, ctx->out};
  IVM_TRY(isa_infer_conv(&sub));
  isa_type *y = &ctx->out[0];
  if (y->rank == 4) {
    y->rank = 5;
    y->dims[1] = y->dims[1] >= 0 ? y->dims[1] / BLOCK : ISA_DIM_ANY; /* M = 16 * W's blocks */
    y->dims[4] = BLOCK;
  }
  return NULL;
}

/* FusedConv layout 2, a chain's head: X NCHW (any C), W (M / 16, taps, C, 16), Y blocked. */
static ivm_status infer_head_conv(isa_infer_ctx *ctx, int64_t taps) {
  const isa_attr *at = ctx->attrs, *ks = &at[ISA_A_FusedConv_kernel_shape];
  if (at[ISA_A_FusedConv_group].v.i != 1) return BAD("attribute layout: 2 needs group 1");
  const isa_type *xt = &ctx->in[0], *wt = &ctx->in[1];
  if (xt->rank >= 0 && xt->rank != 4)
    return BAD("input 0 (X): layout 2 reads it as (N, C, H, W), got rank %d", xt->rank);
  if (wt->rank >= 0 && wt->rank != 4)
    return BAD("input 1 (W): layout 2, expected rank 4, got %d", wt->rank);
  isa_type in[3] = {*xt, *wt, ctx->n_in > 2 ? ctx->in[2] : *xt};
  isa_type *w = &in[1];
  if (wt->rank == 4) {
    if ((wt->dims[1] >= 0 && wt->dims[1] != taps) || (wt->dims[3] >= 0 && wt->dims[3] != BLOCK))
      return BAD("input 1 (W): layout 2 is (M / 16, %lld, C, %d), got dims %lld and %lld",
                 (long long)taps, BLOCK, (long long)wt->dims[1], (long long)wt->dims[3]);
    w->dims[0] = blocks_to_channels(wt->dims[0]);
    w->dims[1] = wt->dims[2];
    w->dims[2] = ks->v.ints[0];
    w->dims[3] = ks->v.ints[1];
  }
  return infer_blocked_y(ctx, in);
}

/* FusedConv layout 1: Conv's rule on the NCHW operands the blocked ones stand for, then Y
 * back in blocks. */
static ivm_status infer_blocked_conv(isa_infer_ctx *ctx) {
  const isa_attr *at = ctx->attrs, *ks = &at[ISA_A_FusedConv_kernel_shape];
  if (at[ISA_A_FusedConv_transW].v.i) return BAD("attribute layout: needs transW 0");
  if (ks->count != 2) return BAD("attribute layout: needs a 2-D kernel_shape");
  int64_t taps = 1;
  for (int i = 0; i < 2; i++) {
    if (ks->v.ints[i] < 1 || ks->v.ints[i] > 4096)
      return BAD("attribute kernel_shape: %lld out of range", (long long)ks->v.ints[i]);
    taps *= ks->v.ints[i];
  }
  const isa_type *xt = &ctx->in[0], *wt = &ctx->in[1];
  int64_t group = at[ISA_A_FusedConv_group].v.i;
  if (at[ISA_A_FusedConv_layout].v.i == 2) return infer_head_conv(ctx, taps);
  if (xt->rank >= 0 && xt->rank != 5)
    return BAD("input 0 (X): channel-blocked (layout 1), expected rank 5, got %d", xt->rank);
  if (xt->rank == 5 && xt->dims[4] >= 0 && xt->dims[4] != BLOCK)
    return BAD("input 0 (X): channel-blocked, last dim must be %d, got %lld", BLOCK,
               (long long)xt->dims[4]);
  int w_rank = group == 1 ? 5 : 3; /* dense or depthwise */
  if (wt->rank >= 0 && wt->rank != w_rank)
    return BAD("input 1 (W): channel-blocked %s, expected rank %d, got %d",
               group == 1 ? "dense" : "depthwise", w_rank, wt->rank);
  isa_type in[3] = {*xt, *wt, ctx->n_in > 2 ? ctx->in[2] : *xt};
  isa_type *x = &in[0], *w = &in[1];
  x->rank = xt->rank < 0 ? -1 : 4;
  if (xt->rank == 5) x->dims[1] = blocks_to_channels(xt->dims[1]);
  w->rank = wt->rank < 0 ? -1 : 4;
  if (wt->rank == w_rank) {
    int64_t want[5] = {-1, -1, taps, BLOCK, BLOCK};
    if (group != 1) want[1] = taps, want[2] = BLOCK;
    for (int d = 1; d < w_rank; d++)
      if (want[d] >= 0 && wt->dims[d] >= 0 && wt->dims[d] != want[d])
        return BAD("input 1 (W): channel-blocked, dim %d must be %lld, got %lld", d,
                   (long long)want[d], (long long)wt->dims[d]);
    w->dims[0] = blocks_to_channels(wt->dims[0]);
    w->dims[1] = group == 1 ? blocks_to_channels(wt->dims[1]) : 1;
    w->dims[2] = ks->v.ints[0];
    w->dims[3] = ks->v.ints[1];
    if (group != 1 && ((w->dims[0] >= 0 && w->dims[0] != group) ||
                       (x->rank == 4 && x->dims[1] >= 0 && x->dims[1] != group)))
      return BAD("attribute group: channel-blocked convs are dense (group 1) or depthwise "
                 "(group = C = M), got group %lld", (long long)group);
  }
  return infer_blocked_y(ctx, in);
}

ivm_status isa_infer_to_blocked(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  IVM_TRY(need_f32(ctx, 0, "X"));
  const isa_type *x = &ctx->in[0];
  if (x->rank >= 0 && x->rank != 4) return BAD("input 0 (X): expected rank 4, got %d", x->rank);
  if (x->rank == 4 && x->dims[1] >= 0 && x->dims[1] % BLOCK)
    return BAD("input 0 (X): %lld channels, not a multiple of %d", (long long)x->dims[1], BLOCK);
  isa_type *y = &ctx->out[0];
  *y = *x;
  if (x->rank == 4) {
    y->rank = 5;
    y->dims[1] = x->dims[1] >= 0 ? x->dims[1] / BLOCK : ISA_DIM_ANY;
    y->dims[4] = BLOCK;
  }
  return NULL;
}

ivm_status isa_infer_from_blocked(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  IVM_TRY(need_f32(ctx, 0, "X"));
  const isa_type *x = &ctx->in[0];
  if (x->rank >= 0 && x->rank != 5) return BAD("input 0 (X): expected rank 5, got %d", x->rank);
  if (x->rank == 5 && x->dims[4] >= 0 && x->dims[4] != BLOCK)
    return BAD("input 0 (X): last dim must be %d, got %lld", BLOCK, (long long)x->dims[4]);
  isa_type *y = &ctx->out[0];
  *y = *x;
  if (x->rank == 5) {
    y->rank = 4;
    y->dims[1] = blocks_to_channels(x->dims[1]);
  }
  return NULL;
}

/* FusedConv's Z (input 3) when given: f32 of Y's shape, as far as both are known. */
static ivm_status check_residual(isa_infer_ctx *ctx) {
  if (ctx->n_in < 4 || !iu_present(ctx, 3)) return NULL;
  IVM_TRY(need_f32(ctx, 3, "Z"));
  const isa_type *z = &ctx->in[3], *y = &ctx->out[0];
  if (z->rank < 0 || y->rank < 0) return NULL;
  if (z->rank != y->rank) return BAD("input 3 (Z): rank %d, Y's is %d", z->rank, y->rank);
  for (int d = 0; d < z->rank; d++)
    if (z->dims[d] >= 0 && y->dims[d] >= 0 && z->dims[d] != y->dims[d])
      return BAD("input 3 (Z): dim %d is %lld, Y's is %lld", d, (long long)z->dims[d],
                 (long long)y->dims[d]);
  return NULL;
}

static ivm_status infer_fused_conv_y(isa_infer_ctx *ctx);

ivm_status isa_infer_fused_conv(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 4, 1, 1));
  /* Y as the conv alone gives it (Conv's rule sees X, W and B), then Z against it */
  isa_infer_ctx conv = *ctx;
  if (conv.n_in > 3) conv.n_in = 3;
  IVM_TRY(infer_fused_conv_y(&conv));
  return check_residual(ctx);
}

static ivm_status infer_fused_conv_y(isa_infer_ctx *ctx) {
  IVM_TRY(need_f32(ctx, 0, "X"));
  IVM_TRY(need_f32(ctx, 1, "W"));
  if (iu_present(ctx, 2)) IVM_TRY(need_f32(ctx, 2, "B"));
  isa_builtin_op act;
  const char *an = ctx->attrs ? ctx->attrs[ISA_A_FusedConv_activation].v.s : "";
  if (!isa_fused_activation(an, &act)) return BAD("attribute activation: '%s' is not supported", an);
  static const struct {
    int slot;
    const char *name;
  } clips[] = {{ISA_A_FusedConv_clip_min, "clip_min"}, {ISA_A_FusedConv_clip_max, "clip_max"}};
  /* The kernels' comparisons assume a number; out_scale / out_shift may be anything. */
  for (int k = 0; k < 2 && ctx->attrs; k++) {
    const isa_attr *a = &ctx->attrs[clips[k].slot];
    if (a->present && a->v.f != a->v.f) return BAD("attribute %s: NaN", clips[k].name);
  }
  if (ctx->attrs && ctx->attrs[ISA_A_FusedConv_layout].v.i) {
    int64_t lo = ctx->attrs[ISA_A_FusedConv_layout].v.i;
    if (lo != 1 && lo != 2)
      return BAD("attribute layout: must be 0, 1 or 2, got %lld",
                 (long long)ctx->attrs[ISA_A_FusedConv_layout].v.i);
    return infer_blocked_conv(ctx);
  }
  if (!ctx->attrs || !ctx->attrs[ISA_A_FusedConv_transW].v.i)
    return isa_infer_conv(ctx); /* the slots read as Conv's (asserted above) */
  /* transW: Conv's rule on the W it stands for, (M, C, k...) from (C * k, M), or from
   * Winograd's (16, C, M). */
  const isa_attr *at = ctx->attrs, *ks = &at[ISA_A_FusedConv_kernel_shape];
  int64_t tw = at[ISA_A_FusedConv_transW].v.i;
  if (tw == 2) return infer_winograd_weights(ctx);
  if (tw != 1) return BAD("attribute transW: must be 0, 1 or 2, got %lld", (long long)tw);
  if (at[ISA_A_FusedConv_group].v.i != 1) return BAD("attribute transW: needs group 1");
  if (ks->count < 1 || ks->count > ISA_MAX_RANK - 2)
    return BAD("attribute transW: needs kernel_shape");
  const isa_type *wt = &ctx->in[1];
  if (wt->rank >= 0 && wt->rank != 2)
    return BAD("input 1 (W): transposed (transW), expected rank 2, got %d", wt->rank);
  int64_t k = 1;
  for (uint32_t i = 0; i < ks->count; i++) {
    int64_t v = ks->v.ints[i];
    if (v < 1 || v > ((int64_t)1 << 31) / k) /* the product stays far from overflow */
      return BAD("attribute kernel_shape: %lld out of range with transW", (long long)v);
    k *= v;
  }
  isa_type in[3] = {ctx->in[0], *wt, ctx->n_in > 2 ? ctx->in[2] : ctx->in[0]};
  isa_type *w = &in[1];
  w->rank = (int)ks->count + 2;
  w->dims[0] = wt->rank == 2 ? wt->dims[1] : ISA_DIM_ANY;
  w->dims[1] = ISA_DIM_ANY;
  if (wt->rank == 2 && wt->dims[0] >= 0) {
    if (wt->dims[0] % k)
      return BAD("input 1 (W): %lld rows, not a multiple of the kernel's %lld",
                 (long long)wt->dims[0], (long long)k);
    w->dims[1] = wt->dims[0] / k;
  }
  for (uint32_t i = 0; i < ks->count; i++) w->dims[2 + i] = ks->v.ints[i];
  isa_infer_ctx sub = {ctx->n_in, in, ctx->in_data, ctx->attrs, ctx->n_out, ctx->out};
  return isa_infer_conv(&sub);
}
