/* Elementwise fusion of an Add with its operand's producer, so that the operand is never
 * stored and read back:
 * - a Mul read by nothing else: FusedMulAdd(P, Q, other), one pass over memory where the
 *   chain made two (ppocr_v4_det's x + x * s after every squeeze-excitation gate: 1 read
 *   and 1 write of x's size instead of 3 reads and 2 writes). The kernel rounds the
 *   product before the sum, so the bits are the chain's.
 * - a Resize read by nothing else, the other operand of the sum's own shape:
 *   FusedResizeAdd(other, Resize's inputs), Resize's attributes (a feature pyramid's
 *   x + upsample(y)); each output row gets C added as it is made.
 * Runs after every other fusion, which may want the same Mul or Add (an affine after a
 * conv, a MatMul's bias or residual, LayerNorm's scale and shift, GELU). f32 only. */
#include <string.h>

#include "compiler/pass_fuse.h"

static int all_f32(const cc_graph *g, const cc_node *n) {
  for (uint32_t k = 0; k < n->n_in; k++)
    if (n->in[k] < 0 || g->values[n->in[k]].type.dtype != IVM_DT_F32) return 0;
  return n->n_out == 1 && n->out[0] >= 0 && g->values[n->out[0]].type.dtype == IVM_DT_F32;
}

static ivm_status try_mul_add(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *add = &g->nodes[i];
  if (add->n_in != 2 || !all_f32(g, add)) return NULL;
  for (int s = 0; s < 2; s++) {
    int32_t m = fuse_single_producer(f, add->in[s], ISA_OP_Mul, i);
    if (m < 0) continue;
    const cc_node mul = g->nodes[m]; /* fuse_rewrite changes node i */
    if (mul.n_in != 2 || !all_f32(g, &mul)) continue;
    int32_t in[3] = {mul.in[0], mul.in[1], add->in[1 - s]};
    cc_node saved;
    IVM_TRY(fuse_rewrite(f, i, ISA_OP_FusedMulAdd, in, 3, &saved));
    uint32_t dead[1] = {(uint32_t)m};
    return fuse_commit(f, i, &saved, dead, 1, done);
  }
  return NULL;
}

static int same_shape(const isa_type *a, const isa_type *b) {
  return a->rank >= 0 && a->rank == b->rank &&
         memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) == 0;
}

static ivm_status try_resize_add(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  cc_graph *g = f->g;
  const cc_node *add = &g->nodes[i];
  if (add->n_in != 2 || !all_f32(g, add)) return NULL;
  for (int s = 0; s < 2; s++) {
    int32_t r = fuse_single_producer(f, add->in[s], ISA_OP_Resize, i);
    int32_t c = add->in[1 - s];
    if (r < 0 || !same_shape(&g->values[c].type, &g->values[add->out[0]].type)) continue;
    const cc_node rs = g->nodes[r]; /* fuse_rewrite changes node i */
    if (rs.n_in < 1 || rs.n_in > 4 || rs.in[0] < 0 || g->values[rs.in[0]].type.dtype != IVM_DT_F32)
      continue;
    int32_t in[5] = {c, -1, -1, -1, -1};
    for (uint32_t k = 0; k < rs.n_in; k++) in[1 + k] = rs.in[k];
    cc_node saved;
    IVM_TRY(fuse_rewrite(f, i, ISA_OP_FusedResizeAdd, in, 1 + rs.n_in, &saved));
    for (uint32_t k = 0; k < rs.n_attrs; k++) { /* Resize's, in the same slots */
      const isa_def_attr *a = &rs.attrs[k];
      IVM_TRY(cc_node_set_attr(g, i, a->name, a->type, a->v.i, a->v.f, a->v.s, a->v.ints,
                               a->count));
    }
    uint32_t dead[1] = {(uint32_t)r};
    return fuse_commit(f, i, &saved, dead, 1, done);
  }
  return NULL;
}

static ivm_status try_add(fuse_ctx *f, uint32_t i, int *done) {
  IVM_TRY(try_mul_add(f, i, done));
  return *done ? NULL : try_resize_add(f, i, done);
}

ivm_status fuse_mul_add(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_add, count, ISA_OP_Add);
}
