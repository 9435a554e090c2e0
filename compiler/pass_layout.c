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
 * conv.c takes one dot product per output from row-major W), every dim known.
 *
 * A 3x3 conv (2-D, stride 1, dilation 1, group 1) of the channels and sizes where the
 * Winograd kernel measured faster than direct summation (rt_conv_winograd_worth, the
 * runtime's own rule) stores its weights transformed: U = G g G^T for every kernel g, as
 * (16, C, M) (FusedConv transW = 2, rt_conv_winograd_weights: the bits the kernel's own
 * transform gives). That transform took 9 % of perf_cnn's time per run, its packing
 * transposes ~3 % more. U is 16/9 of W's bytes. The kernel then always takes Winograd,
 * on any CPU (without AVX-512 by its portable path), as the runtime would choose on this
 * one.
 *
 * The other conv kernels (direct, depthwise) read W row by row as ONNX has it and keep
 * it. IVM_FUSE=0 leaves this pass out as it does the fusions: the module as the graph
 * says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"
#include "runtime/kernels/conv.h"

#define LAYOUT_MIN_POSITIONS 17 /* > CONV_DOT_POSITIONS (runtime/kernels/conv.c) */

/* Replaces node i's W by w_data (dims given, its own buffer, freed here on failure) and
 * turns it into a FusedConv with kernel_shape and transW = layout. */
static ivm_status store_weights(cc_graph *g, uint32_t i, const char *suffix, float *w_data,
                                int rank, const int64_t *dims, const int64_t *kernel, int sp,
                                int64_t layout) {
  const cc_value *w = &g->values[g->nodes[i].in[1]];
  size_t bytes = sizeof(float);
  for (int d = 0; d < rank; d++) bytes *= (size_t)dims[d];
  char name[256];
  snprintf(name, sizeof name, "%s.%s", w->name ? w->name : "W", suffix);
  int32_t id;
  IVM_TRY(cc_add_const(g, name, IVM_DT_F32, rank, dims, w_data, bytes, &id));
  cc_node *nd = &g->nodes[i]; /* cc_add_const may have moved the values, not the nodes */
  if (nd->op == ISA_OP_Conv) { /* FusedConv without activation: Conv's attributes as given */
    nd->op = ISA_OP_FusedConv;
    nd->desc = isa_builtin_desc(ISA_OP_FusedConv);
    cc_node_decode(nd);
  }
  nd->in[1] = id;
  IVM_TRY(cc_node_set_attr(g, i, "kernel_shape", ISA_ATTR_INTS, 0, 0, NULL, kernel, (uint32_t)sp));
  IVM_TRY(cc_node_set_int(g, i, "transW", layout));
  return cc_infer_node(g, i);
}

/* Whether node i (a Conv or FusedConv) may have its weights stored in another layout:
 * W constant, f32, read by it alone; every operand f32; the output's shape known. */
static int layout_candidate(const cc_graph *g, const cc_node *n) {
  if (n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0 || n->n_out != 1 || n->out[0] < 0) return 0;
  if (n->op == ISA_OP_FusedConv &&
      (n->slots[ISA_A_FusedConv_transW].v.i || n->slots[ISA_A_FusedConv_layout].v.i))
    return 0; /* already in a layout of its own */
  /* FusedConv's slots read as Conv's (isa/infer_fused.c) */
  const cc_value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
  const cc_value *y = &g->values[n->out[0]];
  if (w->kind != CC_V_CONST || !w->data || w->is_output || w->type.dtype != IVM_DT_F32 ||
      x->type.dtype != IVM_DT_F32 || w->type.rank < 3 || !cc_type_static(&w->type) ||
      !cc_type_static(&y->type) || y->type.rank != w->type.rank)
    return 0;
  for (uint32_t k = 2; k < n->n_in; k++) /* FusedConv is f32 throughout */
    if (n->in[k] >= 0 && g->values[n->in[k]].type.dtype != IVM_DT_F32) return 0;
  return cc_value_uses(g, n->in[1]) == 1;
}

/* Node i is a Conv or FusedConv. */
static ivm_status transpose_pointwise(cc_graph *g, uint32_t i) {
  const cc_node *n = &g->nodes[i];
  if (!layout_candidate(g, n) || n->slots[ISA_A_Conv_group].v.i != 1) return NULL;
  const cc_value *w = &g->values[n->in[1]], *y = &g->values[n->out[0]];
  int sp = w->type.rank - 2;
  const isa_attr *strides = &n->slots[ISA_A_Conv_strides];
  int64_t positions = 1;
  for (int d = 0; d < sp; d++) {
    if (w->type.dims[2 + d] != 1) return NULL;
    if (strides->count > (uint32_t)d && strides->v.ints[d] != 1) return NULL;
    positions *= y->type.dims[2 + d];
  }
  if (positions < LAYOUT_MIN_POSITIONS) return NULL;
  int64_t M = w->type.dims[0], C = w->type.dims[1];
  size_t bytes = (size_t)(M * C) * sizeof(float);
  float *t = malloc(bytes ? bytes : 1);
  if (!t) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  const float *src = w->data;
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) t[c * M + m] = src[m * C + c];
  int64_t dims[2] = {C, M}, ones[ISA_MAX_RANK];
  for (int d = 0; d < sp; d++) ones[d] = 1;
  return store_weights(g, i, "T", t, 2, dims, ones, sp, 1);
}

/* Node i is a Conv or FusedConv. */
static ivm_status winograd_weights(cc_graph *g, uint32_t i) {
  const cc_node *n = &g->nodes[i];
  if (!layout_candidate(g, n) || n->slots[ISA_A_Conv_group].v.i != 1) return NULL;
  const cc_value *w = &g->values[n->in[1]], *y = &g->values[n->out[0]];
  if (w->type.rank != 4 || w->type.dims[2] != 3 || w->type.dims[3] != 3) return NULL;
  static const int slots[2] = {ISA_A_Conv_strides, ISA_A_Conv_dilations};
  for (int k = 0; k < 2; k++)
    for (uint32_t d = 0; d < n->slots[slots[k]].count; d++)
      if (n->slots[slots[k]].v.ints[d] != 1) return NULL;
  int64_t M = w->type.dims[0], C = w->type.dims[1];
  if (!rt_conv_winograd_worth(y->type.dims[0], C, M, y->type.dims[2], y->type.dims[3]))
    return NULL;
  size_t bytes = (size_t)(16 * M * C) * sizeof(float);
  float *u = malloc(bytes ? bytes : 1);
  if (!u) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  rt_conv_winograd_weights(w->data, M, C, u);
  int64_t dims[3] = {16, C, M}, kernel[2] = {3, 3};
  return store_weights(g, i, "winograd", u, 3, dims, kernel, 2, 2);
}

ivm_status cc_pass_weight_layout(cc_graph *g) {
  const char *env = getenv("IVM_FUSE");
  if (env && strcmp(env, "0") == 0) return NULL;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    const cc_node *n = &g->nodes[i];
    if (!n->dead && (n->op == ISA_OP_Conv || n->op == ISA_OP_FusedConv))
      IVM_TRY(transpose_pointwise(g, i));
    n = &g->nodes[i];
    if (!n->dead && (n->op == ISA_OP_Conv || n->op == ISA_OP_FusedConv))
      IVM_TRY(winograd_weights(g, i));
  }
  return cc_pass_dce(g);
}
