/* Layer normalisation written out by exporters becomes LayerNormalization (axis -1):
 *
 *   mu = ReduceMean(x, [-1]);  d = x - mu;  var = ReduceMean(d^2, [-1])
 *   y  = d / Sqrt(var + eps)  [* scale]  [+ bias]
 *
 * d^2 as Pow(d, 2) or Mul(d, d); both ReduceMeans over the last axis only, keepdims 1;
 * eps a one-element constant; scale and bias f32 constants of the last axis's length (or
 * one element, broadcast). The chain is matched from its Div. */
#include <stdlib.h>
#include <string.h>

#include "compiler/pass_fuse.h"

/* ReduceMean over the last axis of a rank-r input, dims kept. */
static int mean_over_last_axis(const cc_graph *g, const cc_node *n, int r) {
  if (n->slots[ISA_A_ReduceMean_keepdims].v.i != 1) return 0;
  if (n->n_in < 2 || n->in[1] < 0) /* no axes: all of them, the last one when r == 1 */
    return r == 1 && n->slots[ISA_A_ReduceMean_noop_with_empty_axes].v.i == 0;
  const cc_value *ax = &g->values[n->in[1]];
  if (ax->kind != CC_V_CONST || !ax->data || ax->type.dtype != IVM_DT_I64 || ax->type.rank != 1 ||
      ax->type.dims[0] != 1)
    return 0;
  int64_t a = *(const int64_t *)ax->data;
  return a == -1 || a == r - 1;
}

/* A constant usable as LayerNormalization's Scale / B for a last axis of length D: D f32
 * elements along the last axis (leading dims 1), or one element. Returns the value id to
 * use, adding a rank-1 copy when the constant is not already (D); -1 if it does not fit. */
static ivm_status affine_param(cc_graph *g, int32_t v, int64_t D, int r, int32_t *out) {
  *out = -1;
  if (v < 0) return NULL;
  const cc_value *c = &g->values[v];
  if (c->kind != CC_V_CONST || !c->data || c->type.dtype != IVM_DT_F32 || c->type.rank < 0 ||
      c->type.rank > r)
    return NULL;
  int64_t n = 1;
  for (int k = 0; k < c->type.rank; k++) n *= c->type.dims[k];
  int row = n == D && c->type.rank >= 1 && c->type.dims[c->type.rank - 1] == D;
  if (!row && n != 1) return NULL;
  if (row && c->type.rank == 1) {
    *out = v;
    return NULL;
  }
  float *data = malloc((size_t)D * sizeof *data + 1);
  if (!data) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  const float *src = c->data;
  for (int64_t k = 0; k < D; k++) data[k] = row ? src[k] : src[0];
  int64_t dims[1] = {D};
  return cc_add_const(g, NULL, IVM_DT_F32, 1, dims, data, (size_t)D * sizeof *data, out);
}

static ivm_status ones(cc_graph *g, int64_t D, int32_t *out) {
  float *data = malloc((size_t)D * sizeof *data + 1);
  if (!data) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  for (int64_t k = 0; k < D; k++) data[k] = 1.0f;
  int64_t dims[1] = {D};
  return cc_add_const(g, NULL, IVM_DT_F32, 1, dims, data, (size_t)D * sizeof *data, out);
}

/* Node i = Div(d, sd). */
static ivm_status try_layernorm(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *div = &g->nodes[i];
  if (div->n_in != 2 || div->out[0] < 0) return NULL;
  int32_t d = div->in[0];
  int32_t sqrt_n = fuse_single_producer(f, div->in[1], ISA_OP_Sqrt, i);
  if (sqrt_n < 0) return NULL;
  int32_t add_n = fuse_single_producer(f, g->nodes[sqrt_n].in[0], ISA_OP_Add, (uint32_t)sqrt_n);
  if (add_n < 0) return NULL;
  /* var + eps, in either order */
  int32_t var = -1;
  float eps = 0;
  for (int s = 0; s < 2 && var < 0; s++) {
    int ok, r_add = g->values[g->nodes[add_n].out[0]].type.rank;
    eps = fuse_const_scalar_f32(g, g->nodes[add_n].in[s], r_add, &ok);
    if (ok) var = g->nodes[add_n].in[1 - s];
  }
  int32_t var_n = fuse_single_producer(f, var, ISA_OP_ReduceMean, (uint32_t)add_n);
  if (var_n < 0) return NULL;
  int32_t sq = g->nodes[var_n].in[0];
  int32_t sq_n = fuse_single_producer(f, sq, ISA_OP_Pow, (uint32_t)var_n);
  if (sq_n >= 0) {
    if (g->nodes[sq_n].in[0] != d ||
        !fuse_const_scalar_is(g, g->nodes[sq_n].in[1], 2.0, 0, g->values[sq].type.rank))
      return NULL;
  } else {
    sq_n = fuse_single_producer(f, sq, ISA_OP_Mul, (uint32_t)var_n);
    if (sq_n < 0 || g->nodes[sq_n].in[0] != d || g->nodes[sq_n].in[1] != d) return NULL;
  }
  /* d = x - mu, read only by the square and the Div. */
  const cc_value *dv = &g->values[d];
  uint32_t d_reads = g->nodes[sq_n].op == ISA_OP_Mul ? 3 : 2;
  if (dv->kind != CC_V_INTER || dv->is_output || dv->is_var || f->uses[d] != d_reads) return NULL;
  int32_t sub_n = fuse_producer(f, d, ISA_OP_Sub, (uint32_t)sq_n);
  if (sub_n < 0) return NULL;
  int32_t x = g->nodes[sub_n].in[0];
  int32_t mu_n = fuse_single_producer(f, g->nodes[sub_n].in[1], ISA_OP_ReduceMean, (uint32_t)sub_n);
  if (mu_n < 0 || g->nodes[mu_n].in[0] != x || x < 0) return NULL;
  const isa_type *xt = &g->values[x].type;
  int r = xt->rank;
  if (xt->dtype != IVM_DT_F32 || r < 1 || xt->dims[r - 1] <= 0) return NULL;
  if (!mean_over_last_axis(g, &g->nodes[mu_n], r) || !mean_over_last_axis(g, &g->nodes[var_n], r))
    return NULL;
  int64_t D = xt->dims[r - 1];
  uint32_t dead[8] = {(uint32_t)mu_n, (uint32_t)sub_n, (uint32_t)sq_n, (uint32_t)var_n,
                      (uint32_t)add_n, (uint32_t)sqrt_n};
  uint32_t n_dead = 6;
  /* Optional affine tail: * scale, then + bias (or + bias alone). */
  uint32_t last = i;
  int32_t y = div->out[0], scale = -1, bias = -1;
  int32_t mul_n = fuse_single_reader(f, y, ISA_OP_Mul);
  if (mul_n >= 0) {
    IVM_TRY(affine_param(g, fuse_other_input(&g->nodes[mul_n], y), D, r, &scale));
    if (scale >= 0) {
      dead[n_dead++] = last;
      last = (uint32_t)mul_n;
      y = g->nodes[mul_n].out[0];
    }
  }
  int32_t add2_n = fuse_single_reader(f, y, ISA_OP_Add);
  if (add2_n >= 0) {
    IVM_TRY(affine_param(g, fuse_other_input(&g->nodes[add2_n], y), D, r, &bias));
    if (bias >= 0) {
      dead[n_dead++] = last;
      last = (uint32_t)add2_n;
    }
  }
  if (scale < 0) IVM_TRY(ones(g, D, &scale));
  int32_t in[3] = {x, scale, bias};
  cc_node saved;
  IVM_TRY(fuse_rewrite(f, last, ISA_OP_LayerNormalization, in, bias >= 0 ? 3 : 2, &saved));
  IVM_TRY(cc_node_set_int(g, last, "axis", -1));
  IVM_TRY(cc_node_set_float(g, last, "epsilon", eps));
  return fuse_commit(f, last, &saved, dead, n_dead, done);
}

ivm_status fuse_layernorm(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_layernorm, count, ISA_OP_Div);
}
