/* Weight layout: the compiler stores a constant weight in the layout its kernel reads
 * best, so no run rearranges it and the module stays zero-copy at load.
 *
 * A 1x1 conv (group 1, stride 1) is a matrix product W (M x C) @ X (C x positions). The
 * matrix kernel's register tile wants, per step over C, the tile's output channels
 * side by side: W's columns. Stored as ONNX has it (row-major M x C) the kernel
 * transposes it, 16 x 16 at a time, on every call (4.7 % of ppocr_v4_rec's time);
 * stored transposed (C x M) packing it is a copy of contiguous runs (3.1 %). Reading
 * W^T in place without any copy measured no faster: a tile's 13-14 values per step then
 * span two cache lines, and those lines with the B panel overflow L1. So such a Conv or
 * FusedConv becomes a FusedConv with transW = 1 and W^T as its weight; the results are
 * the same bits (the tile sums the same products in the same order; test_sgemm.c).
 *
 * Only where the tile runs: more than CONV_DOT_POSITIONS output positions (with fewer,
 * conv.c takes one dot product per output from row-major W), every dim known. The other
 * conv kernels (direct, Winograd, depthwise) read W row by row as ONNX has it and keep
 * it. IVM_FUSE=0 leaves this pass out as it does the fusions: the module as the graph
 * says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"

#define LAYOUT_MIN_POSITIONS 17 /* > CONV_DOT_POSITIONS (runtime/kernels/conv.c) */

/* Node i is a Conv or FusedConv. */
static ivm_status transpose_pointwise(cc_graph *g, uint32_t i) {
  const cc_node *n = &g->nodes[i];
  if (n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0 || n->n_out != 1 || n->out[0] < 0) return NULL;
  if (n->op == ISA_OP_FusedConv && n->slots[ISA_A_FusedConv_transW].v.i) return NULL;
  /* FusedConv's slots read as Conv's (isa/infer_fused.c) */
  if (n->slots[ISA_A_Conv_group].v.i != 1) return NULL;
  const cc_value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
  const cc_value *y = &g->values[n->out[0]];
  if (w->kind != CC_V_CONST || !w->data || w->is_output || w->type.dtype != IVM_DT_F32 ||
      x->type.dtype != IVM_DT_F32 || w->type.rank < 3 || !cc_type_static(&w->type) ||
      !cc_type_static(&y->type) || y->type.rank != w->type.rank)
    return NULL;
  for (uint32_t k = 2; k < n->n_in; k++) /* FusedConv is f32 throughout */
    if (n->in[k] >= 0 && g->values[n->in[k]].type.dtype != IVM_DT_F32) return NULL;
  int sp = w->type.rank - 2;
  const isa_attr *strides = &n->slots[ISA_A_Conv_strides];
  int64_t positions = 1;
  for (int d = 0; d < sp; d++) {
    if (w->type.dims[2 + d] != 1) return NULL;
    if (strides->count > (uint32_t)d && strides->v.ints[d] != 1) return NULL;
    positions *= y->type.dims[2 + d];
  }
  if (positions < LAYOUT_MIN_POSITIONS || cc_value_uses(g, n->in[1]) != 1) return NULL;
  int64_t M = w->type.dims[0], C = w->type.dims[1];
  size_t bytes = (size_t)(M * C) * sizeof(float);
  float *t = malloc(bytes ? bytes : 1);
  if (!t) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  const float *src = w->data;
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) t[c * M + m] = src[m * C + c];
  char name[256];
  snprintf(name, sizeof name, "%s.T", w->name ? w->name : "W");
  int64_t dims[2] = {C, M};
  int32_t id;
  IVM_TRY(cc_add_const(g, name, IVM_DT_F32, 2, dims, t, bytes, &id));
  cc_node *nd = &g->nodes[i]; /* cc_add_const may have moved the values, not the nodes */
  if (nd->op == ISA_OP_Conv) { /* FusedConv without activation: Conv's attributes as given */
    nd->op = ISA_OP_FusedConv;
    nd->desc = isa_builtin_desc(ISA_OP_FusedConv);
    cc_node_decode(nd);
  }
  int64_t ones[ISA_MAX_RANK];
  for (int d = 0; d < sp; d++) ones[d] = 1;
  nd->in[1] = id;
  IVM_TRY(cc_node_set_attr(g, i, "kernel_shape", ISA_ATTR_INTS, 0, 0, NULL, ones, (uint32_t)sp));
  IVM_TRY(cc_node_set_int(g, i, "transW", 1));
  return cc_infer_node(g, i);
}

ivm_status cc_pass_weight_layout(cc_graph *g) {
  const char *env = getenv("IVM_FUSE");
  if (env && strcmp(env, "0") == 0) return NULL;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    const cc_node *n = &g->nodes[i];
    if (!n->dead && (n->op == ISA_OP_Conv || n->op == ISA_OP_FusedConv))
      IVM_TRY(transpose_pointwise(g, i));
  }
  return cc_pass_dce(g);
}
