/* Graph fusions that change no result beyond rounding: they remove whole instructions.
 *
 * Conv + BatchNormalization (inference): BN(conv(x, W) + b) with constant W, b, scale,
 * bias, mean and var is conv(x, W') + b' where, per output channel c,
 *   s = scale[c] / sqrt(var[c] + eps),  W'[c] = W[c] * s,  b'[c] = (b[c] - mean[c]) * s + B[c].
 * The Conv then writes the BN's output and the BN instruction disappears. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"

static int64_t numel(const isa_type *t) {
  int64_t n = 1;
  for (int k = 0; k < t->rank; k++) n *= t->dims[k];
  return n;
}

/* A constant f32 value with `count` elements, or NULL. */
static const float *const_f32(const cc_graph *g, int32_t v, int64_t count) {
  if (v < 0) return NULL;
  const cc_value *x = &g->values[v];
  if (x->kind != CC_V_CONST || x->type.dtype != IVM_DT_F32 || !x->data || x->type.rank < 0 ||
      numel(&x->type) != count)
    return NULL;
  return x->data;
}

static uint32_t count_uses(const cc_graph *g, int32_t v) {
  uint32_t uses = 0;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    const cc_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (uint32_t k = 0; k < n->n_in; k++) uses += n->in[k] == v;
  }
  for (uint32_t i = 0; i < g->n_outputs; i++) uses += g->outputs[i] == v;
  return uses;
}

static ivm_status fold_conv_bn(cc_graph *g, uint32_t bn_id, int *folded) {
  cc_node *bn = &g->nodes[bn_id];
  *folded = 0;
  int32_t x = bn->in[0], y = bn->out[0];
  if (x < 0 || y < 0 || bn->n_out != 1) return NULL;
  cc_value *xv = &g->values[x];
  if (xv->kind != CC_V_INTER || xv->is_output || xv->is_var || xv->producer < 0) return NULL;
  uint32_t conv_id = (uint32_t)xv->producer;
  cc_node *conv = &g->nodes[conv_id];
  if (conv->dead || conv->op != ISA_OP_Conv || conv->out[0] != x || g->values[y].is_var)
    return NULL;
  const cc_value *wv = conv->in[1] >= 0 ? &g->values[conv->in[1]] : NULL;
  if (!wv || wv->type.rank < 3 || xv->type.dtype != IVM_DT_F32) return NULL;
  int64_t oc = wv->type.dims[0], per = numel(&wv->type) / (oc ? oc : 1);
  const float *w = const_f32(g, conv->in[1], oc * per);
  const float *b = conv->n_in > 2 && conv->in[2] >= 0 ? const_f32(g, conv->in[2], oc) : NULL;
  const float *scale = const_f32(g, bn->in[1], oc), *bias = const_f32(g, bn->in[2], oc);
  const float *mean = const_f32(g, bn->in[3], oc), *var = const_f32(g, bn->in[4], oc);
  if (!w || !scale || !bias || !mean || !var || (conv->n_in > 2 && conv->in[2] >= 0 && !b))
    return NULL;
  if (count_uses(g, x) != 1) return NULL; /* the un-normalised conv output is read elsewhere */
  double eps = bn->slots[ISA_A_BatchNormalization_epsilon].v.f;
  float *w2 = malloc((size_t)(oc * per) * sizeof *w2), *b2 = malloc((size_t)oc * sizeof *b2);
  if (!w2 || !b2) {
    free(w2);
    free(b2);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  for (int64_t c = 0; c < oc; c++) {
    double s = scale[c] / sqrt((double)var[c] + eps);
    for (int64_t k = 0; k < per; k++) w2[c * per + k] = (float)(w[c * per + k] * s);
    b2[c] = (float)(((b ? b[c] : 0.0) - mean[c]) * s + bias[c]);
  }
  int32_t wid, bid;
  int wrank = wv->type.rank;
  int64_t wdims[ISA_MAX_RANK];
  memcpy(wdims, wv->type.dims, sizeof wdims); /* cc_add_const may move g->values */
  ivm_status st = cc_add_const(g, NULL, IVM_DT_F32, wrank, wdims, w2,
                               (size_t)(oc * per) * sizeof *w2, &wid);
  if (st) {
    free(b2);
    return st;
  }
  int64_t bdims[1] = {oc};
  IVM_TRY(cc_add_const(g, NULL, IVM_DT_F32, 1, bdims, b2, (size_t)oc * sizeof *b2, &bid));
  /* cc_add_* may move the node array. */
  conv = &g->nodes[conv_id];
  bn = &g->nodes[bn_id];
  conv->in[1] = wid;
  conv->in[2] = bid; /* node input arrays have one spare slot (ir.c) */
  if (conv->n_in < 3) conv->n_in = 3;
  conv->out[0] = y;
  g->values[y].producer = (int32_t)conv_id;
  g->values[x].producer = -1;
  bn->dead = 1;
  *folded = 1;
  return NULL;
}

ivm_status cc_pass_fuse(cc_graph *g, cc_fuse_stats *stats) {
  if (stats) memset(stats, 0, sizeof *stats);
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].dead || g->nodes[i].op != ISA_OP_BatchNormalization) continue;
    int folded = 0;
    IVM_TRY(fold_conv_bn(g, i, &folded));
    if (stats) stats->conv_bn += (uint32_t)folded;
  }
  return NULL;
}
