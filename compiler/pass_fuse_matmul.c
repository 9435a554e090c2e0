/* Fusions around matrix products (isa/ops_fused.def):
 *
 * Epilogue: MatMul(A, B) [+ bias] [-> activation] [+ Z]  and  Gemm(A, B, C) -> activation
 * [+ Z] become FusedMatMul, which applies bias, activation and Z to each output panel
 * while it is in cache. B must be 2-D (a weight: MatMul's batch broadcasting is not
 * FusedMatMul's), the bias a length-N row (rank <= Y's, leading dims 1), Z of Y's exact
 * static shape; Gemm only with transA 0, alpha 1 and beta 1.
 *
 * Attention: MatMul(Q, Kt) [/ c or * c] [+ Mask] -> Softmax(last axis) -> MatMul(., V)
 * becomes FusedAttention when Q, Kt and V have the same rank and provably equal batch
 * dims (no broadcasting) and c is a one-element constant. */
#include <string.h>

#include "compiler/pass_fuse.h"
#include "isa/infer_fused.h"

static const isa_type *type_of(const cc_graph *g, int32_t v) { return &g->values[v].type; }

static int is_f32(const cc_graph *g, int32_t v) {
  return v >= 0 && type_of(g, v)->dtype == IVM_DT_F32 && type_of(g, v)->rank >= 0;
}

/* v's static type is a length-N row that adds to a rank-r product without widening it. */
static int bias_shaped(const cc_graph *g, int32_t v, int64_t N, int r) {
  if (!is_f32(g, v)) return 0;
  const isa_type *t = type_of(g, v);
  if (t->rank < 1 || t->rank > r || t->dims[t->rank - 1] != N) return 0;
  for (int k = 0; k + 1 < t->rank; k++)
    if (t->dims[k] != 1) return 0;
  return 1;
}

static int same_static_type(const isa_type *a, const isa_type *b) {
  if (a->dtype != b->dtype || a->rank != b->rank || a->rank < 0) return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] < 0 || a->dims[k] != b->dims[k]) return 0;
  return 1;
}

/* ---- MatMul / Gemm epilogue ------------------------------------------------------------- */
static isa_builtin_op activation_reader(fuse_ctx *f, int32_t y, int32_t *node) {
  for (uint32_t k = 0; k < isa_fused_activation_count; k++) {
    *node = fuse_single_reader(f, y, isa_fused_activation_ops[k]);
    if (*node >= 0) return isa_fused_activation_ops[k];
  }
  *node = -1;
  return ISA_OP_COUNT;
}

ivm_status fuse_copy_activation_attrs(cc_graph *g, uint32_t id, const cc_node *act) {
  static const struct {
    const char *from, *to;
  } map[] = {{"alpha", "act_alpha"}, {"beta", "act_beta"}, {"approximate", "act_approximate"}};
  for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
    int s = isa_attr_index(act->desc, map[k].from);
    if (s < 0) continue;
    const isa_attr *a = &act->slots[s];
    if (a->type == ISA_ATTR_FLOAT)
      IVM_TRY(cc_node_set_float(g, id, map[k].to, a->v.f));
    else if (a->type == ISA_ATTR_STRING)
      IVM_TRY(cc_node_set_attr(g, id, map[k].to, ISA_ATTR_STRING, 0, 0, a->v.s, NULL, 1));
  }
  return NULL;
}

/* Node i is a MatMul or Gemm. */
static ivm_status try_epilogue(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *mm = &g->nodes[i];
  int gemm = mm->op == ISA_OP_Gemm;
  if (mm->n_in < 2 || mm->out[0] < 0) return NULL;
  int32_t A = mm->in[0], B = mm->in[1], bias = -1, z = -1, y = mm->out[0];
  if (!is_f32(g, A) || !is_f32(g, B) || type_of(g, B)->rank != 2 || type_of(g, A)->rank < 1)
    return NULL;
  int tb = 0;
  if (gemm) {
    if (mm->slots[ISA_A_Gemm_transA].v.i != 0 || mm->slots[ISA_A_Gemm_alpha].v.f != 1.0f ||
        type_of(g, A)->rank != 2)
      return NULL;
    tb = mm->slots[ISA_A_Gemm_transB].v.i != 0;
    if (mm->n_in > 2 && mm->in[2] >= 0) {
      if (mm->slots[ISA_A_Gemm_beta].v.f != 1.0f) return NULL;
      bias = mm->in[2];
    }
  }
  int64_t N = type_of(g, B)->dims[tb ? 0 : 1];
  int r = type_of(g, y)->rank;
  if (N < 0 || r < 1 || (bias >= 0 && !bias_shaped(g, bias, N, 2))) return NULL;
  uint32_t dead[4], n_dead = 0, last = i;
  if (!gemm) {
    int32_t add = fuse_single_reader(f, y, ISA_OP_Add);
    int32_t other = add >= 0 ? fuse_other_input(&g->nodes[add], y) : -1;
    if (other >= 0 && bias_shaped(g, other, N, r)) {
      bias = other;
      dead[n_dead++] = last;
      last = (uint32_t)add;
      y = g->nodes[add].out[0];
    }
  }
  int32_t act_n;
  isa_builtin_op act = activation_reader(f, y, &act_n);
  if (act != ISA_OP_COUNT) {
    dead[n_dead++] = last;
    last = (uint32_t)act_n;
    y = g->nodes[act_n].out[0];
  }
  int32_t add = fuse_single_reader(f, y, ISA_OP_Add);
  int32_t other = add >= 0 ? fuse_other_input(&g->nodes[add], y) : -1;
  if (other >= 0 && is_f32(g, other) &&
      same_static_type(type_of(g, other), type_of(g, g->nodes[add].out[0])) &&
      same_static_type(type_of(g, y), type_of(g, other))) {
    z = other;
    dead[n_dead++] = last;
    last = (uint32_t)add;
  }
  /* Nothing to gain unless something joins the product (a Gemm has its bias already). */
  if (n_dead == 0) return NULL;
  int32_t in[4] = {A, B, bias, z};
  const cc_node act_node = act != ISA_OP_COUNT ? g->nodes[act_n] : g->nodes[i];
  cc_node saved;
  IVM_TRY(fuse_rewrite(f, last, ISA_OP_FusedMatMul, in, z >= 0 ? 4 : bias >= 0 ? 3 : 2, &saved));
  if (tb) IVM_TRY(cc_node_set_int(g, last, "transB", 1));
  if (act != ISA_OP_COUNT) {
    IVM_TRY(cc_node_set_attr(g, last, "activation", ISA_ATTR_STRING, 0, 0,
                             isa_builtin_desc(act)->name, NULL, 1));
    IVM_TRY(fuse_copy_activation_attrs(g, last, &act_node));
  }
  return fuse_commit(f, last, &saved, dead, n_dead, done);
}

ivm_status fuse_matmul_epilogue(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_epilogue, count, ISA_OP_MatMul, ISA_OP_Gemm);
}

/* ---- attention ---------------------------------------------------------------------------- */
/* Equal batch dims (all but the last two) that are known to be equal: the same number or
 * the same symbol. */
static int same_batch(const isa_type *a, const isa_type *b) {
  if (a->rank < 2 || a->rank != b->rank) return 0;
  for (int k = 0; k + 2 < a->rank; k++)
    if (a->dims[k] == ISA_DIM_ANY || a->dims[k] != b->dims[k]) return 0;
  return 1;
}

/* The mask adds to the scores without widening them, provably: each of its dims is 1 or
 * the scores' dim (the same number or the same symbol). */
static int mask_fits(const isa_type *m, const isa_type *s) {
  if (m->dtype != IVM_DT_F32 || m->rank < 0 || m->rank > s->rank) return 0;
  for (int k = 0; k < m->rank; k++) {
    int64_t d = m->dims[k], want = s->dims[s->rank - m->rank + k];
    if (d != 1 && (d == ISA_DIM_ANY || d != want)) return 0;
  }
  return 1;
}

/* The scores feeding a softmax: v = MatMul(Q, Kt) [/ c or * c], read by `user`. */
typedef struct scores {
  int32_t qk, scale_node; /* nodes; scale_node -1 when absent */
  float scale;
  int divide;
} scores;

static int match_scores(const fuse_ctx *f, int32_t v, uint32_t user, int r, scores *out) {
  const cc_graph *g = f->g;
  *out = (scores){-1, -1, 1.0f, 0};
  int32_t sc = fuse_single_producer(f, v, ISA_OP_Div, user);
  int ok = 0;
  if (sc >= 0) {
    out->scale = fuse_const_scalar_f32(g, g->nodes[sc].in[1], r, &ok);
    out->divide = 1;
    v = g->nodes[sc].in[0];
  } else if ((sc = fuse_single_producer(f, v, ISA_OP_Mul, user)) >= 0) {
    for (int k = 0; k < 2 && !ok; k++) {
      out->scale = fuse_const_scalar_f32(g, g->nodes[sc].in[k], r, &ok);
      if (ok) v = g->nodes[sc].in[1 - k];
    }
  }
  if (sc >= 0) {
    if (!ok) return 0;
    out->scale_node = sc;
    user = (uint32_t)sc;
  }
  out->qk = fuse_single_producer(f, v, ISA_OP_MatMul, user);
  return out->qk >= 0;
}

/* Node i is a Softmax. */
static ivm_status try_attention(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *sm = &g->nodes[i];
  int32_t s = sm->in[0];
  if (s < 0 || sm->out[0] < 0 || !is_f32(g, s)) return NULL;
  int r = type_of(g, s)->rank;
  int64_t axis = sm->slots[ISA_A_Softmax_axis].v.i;
  if (r < 2 || (axis != -1 && axis != r - 1)) return NULL;
  uint32_t dead[4], n_dead = 0;
  scores sc;
  int32_t mask = -1;
  if (!match_scores(f, s, i, r, &sc)) {
    /* scores + Mask, in either order */
    int32_t add = fuse_single_producer(f, s, ISA_OP_Add, i);
    if (add < 0) return NULL;
    const cc_node *a = &g->nodes[add];
    int32_t raw = -1;
    for (int k = 0; k < 2 && mask < 0; k++)
      if (a->in[1 - k] >= 0 && match_scores(f, a->in[k], (uint32_t)add, r, &sc)) {
        mask = a->in[1 - k];
        raw = a->in[k];
      }
    if (mask < 0 || !mask_fits(type_of(g, mask), type_of(g, raw))) return NULL;
    dead[n_dead++] = (uint32_t)add;
  }
  int32_t Q = g->nodes[sc.qk].in[0], Kt = g->nodes[sc.qk].in[1];
  int32_t pv = fuse_single_reader(f, sm->out[0], ISA_OP_MatMul);
  if (pv < 0 || g->nodes[pv].in[0] != sm->out[0]) return NULL;
  int32_t V = g->nodes[pv].in[1];
  if (!is_f32(g, Q) || !is_f32(g, Kt) || !is_f32(g, V) || type_of(g, Q)->rank != r ||
      !same_batch(type_of(g, Q), type_of(g, Kt)) || !same_batch(type_of(g, Q), type_of(g, V)))
    return NULL;
  if (sc.scale_node >= 0) dead[n_dead++] = (uint32_t)sc.scale_node;
  dead[n_dead++] = (uint32_t)sc.qk;
  dead[n_dead++] = i;
  int32_t in[4] = {Q, Kt, V, mask};
  cc_node saved;
  IVM_TRY(fuse_rewrite(f, (uint32_t)pv, ISA_OP_FusedAttention, in, mask >= 0 ? 4 : 3, &saved));
  if (sc.scale_node >= 0) IVM_TRY(cc_node_set_float(g, (uint32_t)pv, "scale", sc.scale));
  if (sc.divide) IVM_TRY(cc_node_set_int(g, (uint32_t)pv, "divide", 1));
  return fuse_commit(f, (uint32_t)pv, &saved, dead, n_dead, done);
}

ivm_status fuse_attention(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_attention, count, ISA_OP_Softmax);
}
