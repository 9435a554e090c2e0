/* Activation layout for chains of convs: the channel-blocked layout (N, C / 16, H, W, 16).
 *
 * A conv kernel reading NCHW rearranges its input every call: the depthwise kernels
 * transpose 16 channels at a time into a [row][column][16] buffer (conv_dwc.c) or copy
 * each plane padded (conv_dw.c), the matrix kernel packs X's panels. In the blocked layout
 * (runtime/kernels/conv_nchwc.c) a vector is the 16 channels of one position, which both
 * the depthwise and the dense kernels read in place. So where convs feed convs, the
 * compiler keeps the values between them blocked (FusedConv layout 1). A dense conv
 * starts a chain reading its X as it is, NCHW with any number of channels (layout 2, the
 * head: an image's 3 channels too), a depthwise one after a ToBlocked; one FromBlocked
 * serves each value the rest of the graph reads.
 *
 * The choice, per chain (convs linked by values one writes and another reads as X or Z):
 * blocked when it has a depthwise conv and the values passed inside it (read by nothing
 * in NCHW) outnumber the reorders its borders need (choose), so a lone pair of convs is
 * left alone. A conv may join one when: f32, 2-D, its
 * W a constant of its own, M a multiple of 16 and C too unless it is a head, dense
 * (group 1) or depthwise (group = C = M), at least BLOCKED_MIN_POSITIONS outputs, and not
 * a conv the Winograd kernel takes (it stays faster than any direct kernel there). Graphs
 * with control flow are left alone. IVM_FUSE=0 or IVM_BLOCKED=0 leaves the pass out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"
#include "runtime/kernels/conv.h"

#define BLOCKED_MIN_POSITIONS 64

typedef struct blocked_ctx {
  cc_graph *g;
  uint8_t *joins;     /* per node: how a conv may join (JOIN_*; after choose: does) */
  int32_t *parent;    /* per node: union-find over linked convs */
  int32_t *blk;       /* per value: the value holding it blocked, -1: none */
  uint8_t *nchw_read; /* per value: read in NCHW by some live node or as an output */
} blocked_ctx;

static int is_conv(const cc_node *n) {
  return !n->dead && (n->op == ISA_OP_Conv || n->op == ISA_OP_FusedConv);
}

/* How a conv may join a chain: not at all, only as its head (a dense conv whose X has
 * channels in no multiple of 16: it reads X as it is, layout 2), or anywhere. */
enum { JOIN_NONE = 0, JOIN_HEAD = 1, JOIN_ANY = 2 };

static int may_join(const cc_graph *g, const cc_node *n) {
  if (!is_conv(n) || n->n_in < 2 || n->n_out != 1 || n->in[0] < 0 || n->in[1] < 0 ||
      n->out[0] < 0)
    return 0;
  /* FusedConv's slots read as Conv's (isa/infer_fused.c) */
  if (n->op == ISA_OP_FusedConv &&
      (n->slots[ISA_A_FusedConv_transW].v.i || n->slots[ISA_A_FusedConv_layout].v.i))
    return 0;
  const cc_value *x = &g->values[n->in[0]], *w = &g->values[n->in[1]];
  const cc_value *y = &g->values[n->out[0]];
  if (w->kind != CC_V_CONST || !w->data || w->is_output || w->type.dtype != IVM_DT_F32 ||
      x->type.dtype != IVM_DT_F32 || x->is_var || y->is_var || w->type.rank != 4 ||
      !cc_type_static(&x->type) || !cc_type_static(&w->type) || !cc_type_static(&y->type) ||
      cc_value_uses(g, n->in[1]) != 1)
    return 0;
  for (uint32_t k = 2; k < n->n_in; k++)
    if (n->in[k] >= 0 && (g->values[n->in[k]].type.dtype != IVM_DT_F32 ||
                          g->values[n->in[k]].is_var))
      return 0;
  int64_t C = x->type.dims[1], M = w->type.dims[0], G = n->slots[ISA_A_Conv_group].v.i;
  if (M % CONV_BLOCK || C == 0 || M == 0) return 0;
  if (G != 1 && !(G == C && M == C)) return 0;
  if (y->type.dims[2] * y->type.dims[3] < BLOCKED_MIN_POSITIONS) return 0;
  if (G == 1 && w->type.dims[2] == 3 && w->type.dims[3] == 3) {
    int unit = 1;
    for (int k = 0; k < 2; k++) {
      const isa_attr *a = &n->slots[k == 0 ? ISA_A_Conv_strides : ISA_A_Conv_dilations];
      for (uint32_t d = 0; d < a->count; d++) unit &= a->v.ints[d] == 1;
    }
    if (unit && rt_conv_winograd_worth(y->type.dims[0], C, M, y->type.dims[2], y->type.dims[3]))
      return 0;
  }
  return C % CONV_BLOCK ? JOIN_HEAD : JOIN_ANY;
}

static int dense(const cc_node *n) { return n->slots[ISA_A_Conv_group].v.i == 1; }

static int32_t find(int32_t *parent, int32_t i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}

/* Whether node r reads value v only where a blocked conv reads its operand blocked. */
static int reads_blocked(const blocked_ctx *b, uint32_t r, int32_t v) {
  const cc_node *n = &b->g->nodes[r];
  if (!b->joins[r]) return 0;
  for (uint32_t k = 0; k < n->n_in; k++)
    if (n->in[k] == v && k != 3 && (k != 0 || b->joins[r] != JOIN_ANY)) return 0;
  return 1;
}

/* Which values something reads in NCHW: a node other than a blocked conv's X or Z, or
 * the graph's outputs. */
static void mark_nchw_reads(blocked_ctx *b) {
  cc_graph *g = b->g;
  for (uint32_t v = 0; v < g->n_values; v++) b->nchw_read[v] = g->values[v].is_output;
  for (uint32_t r = 0; r < g->n_nodes; r++) {
    const cc_node *n = &g->nodes[r];
    if (n->dead) continue;
    for (uint32_t k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0 && !reads_blocked(b, r, n->in[k])) b->nchw_read[n->in[k]] = 1;
  }
}

/* Links convs through the values between them, then leaves out each chain whose borders
 * would need as many reorders as it passes values inside that nothing else reads (a
 * value also read in NCHW needs its FromBlocked anyway), and each chain of dense convs
 * alone: the blocked dense kernels run at the NCHW ones' speed on one thread (1x1 convs
 * 0.93-0.97x from 96 channels up), and oww_embedding's chain of four 1x3 / 3x1 convs on
 * 36 x 16 planes ran 1.02x at 1 thread and 1.23x at 2; what a chain gains is in its
 * depthwise convs (0.29-0.71x) and the reorders they no longer make. */
static void choose(blocked_ctx *b) {
  cc_graph *g = b->g;
  for (uint32_t i = 0; i < g->n_nodes; i++) b->parent[i] = (int32_t)i;
  for (uint32_t r = 0; r < g->n_nodes; r++) {
    if (!b->joins[r]) continue;
    const cc_node *n = &g->nodes[r];
    for (uint32_t k = 0; k < n->n_in; k += 3) { /* X and Z */
      if (k >= n->n_in || n->in[k] < 0 || (k == 0 && b->joins[r] != JOIN_ANY)) continue;
      int32_t p = g->values[n->in[k]].producer;
      if (p >= 0 && b->joins[p]) b->parent[find(b->parent, p)] = find(b->parent, (int32_t)r);
    }
  }
  /* per chain (its root): values passed inside that nothing reads in NCHW, minus the
   * reorders at its borders; and whether it has a depthwise conv */
  int64_t *score = calloc(g->n_nodes, sizeof *score);
  uint8_t *counted = calloc(g->n_values, 1), *has_dw = calloc(g->n_nodes, 1);
  if (!score || !counted || !has_dw) { /* out of memory: leave every conv as it is */
    memset(b->joins, 0, g->n_nodes);
    goto done;
  }
  for (uint32_t r = 0; r < g->n_nodes; r++) {
    if (!b->joins[r]) continue;
    const cc_node *n = &g->nodes[r];
    int32_t root = find(b->parent, (int32_t)r);
    has_dw[root] |= !dense(n);
    for (uint32_t k = 0; k < n->n_in; k += 3) {
      if (k >= n->n_in || n->in[k] < 0) continue;
      int32_t v = n->in[k], p = g->values[v].producer;
      if (p >= 0 && b->joins[p] && (k || b->joins[r] == JOIN_ANY)) {
        /* passed blocked; a value also read in NCHW pays its FromBlocked anyway */
        if (!b->nchw_read[v]) score[root]++;
      } else if (k == 0 && dense(n)) {
        continue; /* a head: reads X as it is */
      } else if (!counted[v]) {
        counted[v] = 1, score[root]--; /* a ToBlocked */
      }
    }
    if (b->nchw_read[n->out[0]]) score[root]--; /* a FromBlocked */
  }
  for (uint32_t r = 0; r < g->n_nodes; r++) {
    int32_t root = find(b->parent, (int32_t)r);
    if (b->joins[r] && (score[root] <= 0 || !has_dw[root])) b->joins[r] = 0;
  }
done:
  free(score);
  free(counted);
  free(has_dw);
}

/* Node i (a chosen conv) as FusedConv layout 1 with its weights blocked, or as a chain's
 * head (layout 2: X read as it is). */
static ivm_status block_weights(cc_graph *g, uint32_t i, int head) {
  const cc_node *n = &g->nodes[i];
  const cc_value *w = &g->values[n->in[1]];
  int64_t M = w->type.dims[0], Cg = w->type.dims[1], kh = w->type.dims[2], kw = w->type.dims[3];
  int64_t G = n->slots[ISA_A_Conv_group].v.i;
  size_t bytes = (size_t)(M * Cg * kh * kw) * sizeof(float);
  float *packed = malloc(bytes ? bytes : 1);
  if (!packed) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  if (head) rt_conv_nchwc_head_weights(w->data, M, Cg, kh * kw, packed);
  else rt_conv_nchwc_weights(w->data, M, Cg, G, kh * kw, packed);
  int64_t dims[3][5] = {{M / CONV_BLOCK, Cg / CONV_BLOCK, kh * kw, CONV_BLOCK, CONV_BLOCK},
                        {M / CONV_BLOCK, kh * kw, CONV_BLOCK},
                        {M / CONV_BLOCK, kh * kw, Cg, CONV_BLOCK}};
  int form = head ? 2 : G == 1 ? 0 : 1;
  char name[256];
  snprintf(name, sizeof name, "%s.nchw16c", w->name ? w->name : "W");
  int32_t id;
  IVM_TRY(cc_add_const(g, name, IVM_DT_F32, form == 0 ? 5 : form == 1 ? 3 : 4, dims[form],
                       packed, bytes, &id));
  cc_node *nd = &g->nodes[i]; /* cc_add_const may have moved the values, not the nodes */
  if (nd->op == ISA_OP_Conv) {
    nd->op = ISA_OP_FusedConv;
    nd->desc = isa_builtin_desc(ISA_OP_FusedConv);
    cc_node_decode(nd);
  }
  int64_t kernel[2] = {kh, kw};
  nd->in[1] = id;
  IVM_TRY(cc_node_set_attr(g, i, "kernel_shape", ISA_ATTR_INTS, 0, 0, NULL, kernel, 2));
  return cc_node_set_int(g, i, "layout", head ? 2 : 1);
}

typedef struct insertion {
  uint32_t at;
  isa_builtin_op op;
  int32_t from, to;
  const char *name;
} insertion;

static int by_place_descending(const void *a, const void *b) {
  const insertion *x = a, *y = b;
  return x->at < y->at ? 1 : x->at > y->at ? -1 : 0;
}

/* Gives every chosen conv its blocked operands and output, and lists the reorders. */
static ivm_status rewrite(blocked_ctx *b, insertion *ins, uint32_t *n_ins, uint32_t *first) {
  cc_graph *g = b->g;
  *first = g->n_nodes;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    if (!b->joins[i]) continue;
    if (i < *first) *first = i;
    int head = 0;
    for (uint32_t k = 0; k < g->nodes[i].n_in; k += 3) {
      int32_t v = g->nodes[i].in[k];
      if (v < 0) continue;
      if (k == 0 && b->blk[v] < 0 && dense(&g->nodes[i])) { /* a head reads X as it is */
        head = 1;
        continue;
      }
      if (b->blk[v] < 0) { /* not produced blocked: reorder it before its first reader */
        int32_t t = cc_add_value(g, NULL, CC_V_INTER);
        if (t < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
        b->blk[v] = t;
        ins[(*n_ins)++] = (insertion){i, ISA_OP_ToBlocked, v, t, g->nodes[i].name};
      }
      g->nodes[i].in[k] = b->blk[v];
    }
    int32_t y = g->nodes[i].out[0];
    if (b->nchw_read[y]) { /* written blocked, reordered back for the other readers */
      int32_t t = cc_add_value(g, NULL, CC_V_INTER);
      if (t < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
      g->nodes[i].out[0] = t;
      g->values[t].producer = (int32_t)i;
      b->blk[y] = t;
      ins[(*n_ins)++] = (insertion){i + 1, ISA_OP_FromBlocked, t, y, g->nodes[i].name};
    } else {
      b->blk[y] = y;
    }
    IVM_TRY(block_weights(g, i, head));
  }
  return NULL;
}

ivm_status cc_pass_blocked_layout(cc_graph *g) {
  const char *env = getenv("IVM_FUSE"), *off = getenv("IVM_BLOCKED");
  if ((env && strcmp(env, "0") == 0) || (off && strcmp(off, "0") == 0)) return NULL;
  for (uint32_t i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].desc && (g->nodes[i].desc->flags & ISA_OPF_CONTROL))
      return NULL;
  blocked_ctx b = {g, calloc(g->n_nodes + 1, 1), calloc(g->n_nodes + 1, sizeof(int32_t)),
                   NULL, calloc(g->n_values + 1, 1)};
  ivm_status st = NULL;
  insertion *ins = NULL;
  uint32_t n_values = g->n_values, n_ins = 0, first = 0, any = 0;
  if (!b.joins || !b.parent || !b.nchw_read) goto oom;
  for (uint32_t i = 0; i < g->n_nodes; i++) any |= b.joins[i] = (uint8_t)may_join(g, &g->nodes[i]);
  if (!any) goto done;
  mark_nchw_reads(&b);
  choose(&b);
  mark_nchw_reads(&b); /* convs left out of a chain read NCHW again */
  /* every chosen conv adds at most 2 new values (X, Z) and one for Y */
  b.blk = malloc((size_t)(n_values + 3 * g->n_nodes + 1) * sizeof *b.blk);
  ins = malloc((size_t)(3 * g->n_nodes + 1) * sizeof *ins);
  if (!b.blk || !ins) goto oom;
  for (uint32_t v = 0; v < n_values + 3 * g->n_nodes; v++) b.blk[v] = -1;
  IVM_TRY_GOTO(st, rewrite(&b, ins, &n_ins, &first), done);
  if (first == g->n_nodes) goto done;
  qsort(ins, n_ins, sizeof *ins, by_place_descending);
  for (uint32_t k = 0; k < n_ins; k++) /* later places first: earlier ones do not move */
    IVM_TRY_GOTO(st, cc_insert_node(g, ins[k].at, ins[k].op, ins[k].name, &ins[k].from, 1,
                                    &ins[k].to, 1), done);
  for (uint32_t i = first; i < g->n_nodes; i++)
    if (!g->nodes[i].dead) IVM_TRY_GOTO(st, cc_infer_node(g, i), done);
  st = cc_pass_dce(g);
  goto done;
oom:
  st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
done:
  free(b.joins);
  free(b.parent);
  free(b.blk);
  free(b.nchw_read);
  free(ins);
  return st;
}
