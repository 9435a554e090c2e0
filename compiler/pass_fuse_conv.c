/* Conv -> activation becomes FusedConv: the activation runs on each block of the conv's
 * output right after the block is computed, while it is in cache, instead of as another
 * pass over the whole tensor. A Max or Min by a constant after it (oww_embedding floors
 * every LeakyRelu at -0.4) becomes the FusedConv's clip_min / clip_max the same way, and
 * then a Mul and an Add (or Sub) by a scalar constant (ppocr_v4_det's learnable affine
 * after every HardSwish) its out_scale / out_shift. The activation is one of the unary ops
 * FusedMatMul takes (isa_fused_activation_ops); the Conv must be f32 and its output read
 * by the activation alone. Conv + BatchNormalization and Conv + per-channel Mul / Add have
 * been folded into the Conv before this pass runs (pass_fuse.c), so Conv -> BN -> Relu
 * fuses too. The epilogue runs activation, clip, scale, shift in that order, so each step
 * joins only a conv without the later ones.
 *
 * Before those, an Add of a conv's output and a tensor Z of the same shape (a residual
 * connection: ResNet's conv(x) + shortcut) becomes FusedConv with Z, added to each block
 * before the activation, so ResNet's relu(conv(x) + shortcut) is one instruction. */
#include <string.h>

#include "compiler/pass_fuse.h"
#include "isa/infer_fused.h"

/* Whether every operand of conv is f32 (FusedConv's only type). */
static int conv_all_f32(const cc_graph *g, const cc_node *conv) {
  for (uint32_t k = 0; k < conv->n_in; k++)
    if (conv->in[k] >= 0 && g->values[conv->in[k]].type.dtype != IVM_DT_F32) return 0;
  return 1;
}

/* Node i becomes a FusedConv with conv's inputs and attributes as given; the caller adds
 * its own attributes, then commits (saved: node i as it was). */
static ivm_status rewrite_as_conv(fuse_ctx *f, uint32_t i, const cc_node *conv, cc_node *saved) {
  int32_t in[4] = {conv->in[0], conv->in[1], conv->n_in > 2 ? conv->in[2] : -1,
                   conv->n_in > 3 ? conv->in[3] : -1};
  uint32_t n_in = in[3] >= 0 ? 4 : in[2] >= 0 ? 3 : 2;
  IVM_TRY(fuse_rewrite(f, i, ISA_OP_FusedConv, in, n_in, saved));
  for (uint32_t k = 0; k < conv->n_attrs; k++) {
    const isa_def_attr *a = &conv->attrs[k];
    IVM_TRY(cc_node_set_attr(f->g, i, a->name, a->type, a->v.i, a->v.f, a->v.s, a->v.ints, a->count));
  }
  return NULL;
}

/* The FusedConv or Conv whose output y only node i reads (*from: which), or -1. */
static int32_t conv_producer(fuse_ctx *f, int32_t y, uint32_t i, isa_builtin_op *from) {
  *from = ISA_OP_FusedConv;
  int32_t c = fuse_single_producer(f, y, ISA_OP_FusedConv, i);
  if (c >= 0) return c;
  *from = ISA_OP_Conv;
  return fuse_single_producer(f, y, ISA_OP_Conv, i);
}

/* Whether a FusedConv has any step of the epilogue after Z (which a later step may join
 * only if none of the steps after it is there yet). */
static int has_activation(const cc_node *conv) {
  const isa_attr *a = &conv->slots[ISA_A_FusedConv_activation];
  return a->present && a->v.s && *a->v.s;
}

/* Node i, when it is an activation op FusedConv takes. */
static ivm_status try_conv_act(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *an = &g->nodes[i];
  isa_builtin_op op;
  if (!isa_fused_activation(an->desc ? an->desc->name : "", &op) || op == ISA_OP_COUNT ||
      op != an->op)
    return NULL;
  if (an->n_in != 1 || an->n_out != 1 || an->out[0] < 0) return NULL;
  isa_builtin_op from;
  int32_t c = conv_producer(f, an->in[0], i, &from);
  if (c < 0) return NULL;
  /* a FusedConv only as the residual fusion leaves it: Z, nothing after */
  const cc_node *fc = &g->nodes[c];
  if (from == ISA_OP_FusedConv &&
      (fc->n_in < 4 || has_activation(fc) || fc->slots[ISA_A_FusedConv_clip_min].present ||
       fc->slots[ISA_A_FusedConv_clip_max].present ||
       fc->slots[ISA_A_FusedConv_out_scale].present ||
       fc->slots[ISA_A_FusedConv_out_shift].present))
    return NULL;
  const cc_node conv = g->nodes[c], act = *an; /* fuse_rewrite changes node i */
  if (g->values[an->in[0]].type.dtype != IVM_DT_F32 || conv.n_in < 2 || !conv_all_f32(g, &conv))
    return NULL;
  cc_node saved;
  IVM_TRY(rewrite_as_conv(f, i, &conv, &saved));
  IVM_TRY(cc_node_set_attr(g, i, "activation", ISA_ATTR_STRING, 0, 0, act.desc->name, NULL, 1));
  IVM_TRY(fuse_copy_activation_attrs(g, i, &act));
  uint32_t dead[1] = {(uint32_t)c};
  return fuse_commit(f, i, &saved, dead, 1, done);
}

/* Node i is Add. One input a Conv's (or a plain FusedConv's) output read by the Add alone,
 * the other Z of the same static shape and f32: node i becomes FusedConv with Z. The conv
 * now runs where the Add ran, so none of its inputs may be a var (state an instruction in
 * between could change). */
static ivm_status try_conv_residual(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *an = &g->nodes[i];
  if (an->n_in != 2 || an->n_out != 1 || an->out[0] < 0) return NULL;
  const isa_type *yt = &g->values[an->out[0]].type;
  if (yt->dtype != IVM_DT_F32 || yt->rank < 0) return NULL;
  for (int d = 0; d < yt->rank; d++)
    if (yt->dims[d] < 0) return NULL;
  for (int s = 0; s < 2; s++) {
    int32_t y = an->in[s], z = an->in[1 - s];
    if (y < 0 || z < 0 || y == z) continue;
    const isa_type *zt = &g->values[z].type, *ct = &g->values[y].type;
    if (zt->dtype != IVM_DT_F32 || zt->rank != yt->rank || ct->rank != yt->rank ||
        memcmp(zt->dims, yt->dims, (size_t)yt->rank * sizeof yt->dims[0]) ||
        memcmp(ct->dims, yt->dims, (size_t)yt->rank * sizeof yt->dims[0]))
      continue;
    isa_builtin_op from;
    int32_t c = conv_producer(f, y, i, &from);
    if (c < 0) continue;
    const cc_node conv = g->nodes[c]; /* fuse_rewrite changes node i */
    if (conv.n_in < 2 || conv.n_in > 3 || !conv_all_f32(g, &conv)) continue;
    if (from == ISA_OP_FusedConv) continue; /* an epilogue already: Z would come after it */
    int var = 0;
    for (uint32_t k = 0; k < conv.n_in; k++) var |= conv.in[k] >= 0 && g->values[conv.in[k]].is_var;
    if (var) continue;
    cc_node saved;
    cc_node with_z = conv;
    int32_t ins[4] = {conv.in[0], conv.in[1], conv.n_in > 2 ? conv.in[2] : -1, z};
    with_z.in = ins;
    with_z.n_in = 4;
    IVM_TRY(rewrite_as_conv(f, i, &with_z, &saved));
    uint32_t dead[1] = {(uint32_t)c};
    return fuse_commit(f, i, &saved, dead, 1, done);
  }
  return NULL;
}

ivm_status fuse_conv_residual(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_conv_residual, count, ISA_OP_Add);
}

ivm_status fuse_conv_activation(fuse_ctx *f, uint32_t *count) {
  return fuse_each(f, NULL, 0, try_conv_act, count); /* try_conv_act picks activations */
}

/* Node i is Max or Min of two inputs, one a number constant. */
static ivm_status try_conv_clip(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *mn = &g->nodes[i];
  if (mn->n_in != 2 || mn->n_out != 1 || mn->out[0] < 0) return NULL;
  int is_max = mn->op == ISA_OP_Max;
  for (int s = 0; s < 2; s++) {
    int32_t y = mn->in[s], k = mn->in[1 - s];
    if (y < 0 || k < 0 || y == k || g->values[y].type.dtype != IVM_DT_F32) continue;
    int ok;
    float bound = fuse_const_scalar_f32(g, k, g->values[y].type.rank, &ok);
    if (!ok || bound != bound) continue; /* NaN would win every comparison */
    isa_builtin_op from;
    int32_t c = conv_producer(f, y, i, &from);
    if (c < 0) continue;
    const cc_node conv = g->nodes[c]; /* fuse_rewrite changes node i */
    if (conv.n_in < 2) continue;
    /* The clip runs Max before Min, and before the affine: a Max may join only a conv
     * without a clip or affine yet, a Min one without a clip_max or affine. */
    if (from == ISA_OP_FusedConv && (conv.slots[ISA_A_FusedConv_clip_max].present ||
                                     conv.slots[ISA_A_FusedConv_out_scale].present ||
                                     conv.slots[ISA_A_FusedConv_out_shift].present ||
                                     (is_max && conv.slots[ISA_A_FusedConv_clip_min].present)))
      continue;
    if (from == ISA_OP_Conv && !conv_all_f32(g, &conv)) return NULL;
    cc_node saved;
    IVM_TRY(rewrite_as_conv(f, i, &conv, &saved));
    IVM_TRY(cc_node_set_float(g, i, is_max ? "clip_min" : "clip_max", bound));
    uint32_t dead[1] = {(uint32_t)c};
    return fuse_commit(f, i, &saved, dead, 1, done);
  }
  return NULL;
}

ivm_status fuse_conv_clip(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_conv_clip, count, ISA_OP_Max, ISA_OP_Min);
}

/* Node i is Mul, Add or Sub of two inputs, one a scalar f32 constant: Mul (either order)
 * becomes out_scale, Add (either order) out_shift, Sub(y, c) out_shift = -c (x - c and
 * x + -c are the same IEEE operation); Sub(c, y) would negate y, so it stays. */
static ivm_status try_conv_affine(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *an = &g->nodes[i];
  if (an->n_in != 2 || an->n_out != 1 || an->out[0] < 0) return NULL;
  isa_builtin_op op = an->op;
  for (int s = 0; s < 2; s++) {
    if (op == ISA_OP_Sub && s == 1) break;
    int32_t y = an->in[s], k = an->in[1 - s];
    if (y < 0 || k < 0 || y == k || g->values[y].type.dtype != IVM_DT_F32) continue;
    int ok;
    float v = fuse_const_scalar_f32(g, k, g->values[y].type.rank, &ok);
    if (!ok || (op == ISA_OP_Sub && v != v)) continue; /* + -NaN: the other sign bit */
    isa_builtin_op from;
    int32_t c = conv_producer(f, y, i, &from);
    if (c < 0) continue;
    const cc_node conv = g->nodes[c]; /* fuse_rewrite changes node i */
    if (conv.n_in < 2) continue;
    /* The scale runs before the shift: a Mul may join only a conv without either yet. */
    if (from == ISA_OP_FusedConv &&
        (conv.slots[ISA_A_FusedConv_out_shift].present ||
         (op == ISA_OP_Mul && conv.slots[ISA_A_FusedConv_out_scale].present)))
      continue;
    if (from == ISA_OP_Conv && !conv_all_f32(g, &conv)) return NULL;
    cc_node saved;
    IVM_TRY(rewrite_as_conv(f, i, &conv, &saved));
    if (op == ISA_OP_Mul) IVM_TRY(cc_node_set_float(g, i, "out_scale", v));
    else IVM_TRY(cc_node_set_float(g, i, "out_shift", op == ISA_OP_Sub ? -v : v));
    uint32_t dead[1] = {(uint32_t)c};
    return fuse_commit(f, i, &saved, dead, 1, done);
  }
  return NULL;
}

ivm_status fuse_conv_affine(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_conv_affine, count, ISA_OP_Mul, ISA_OP_Add, ISA_OP_Sub);
}
