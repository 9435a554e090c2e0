/* Graph fusions that change no result beyond rounding: they remove whole instructions.
 * This file holds the driver, the bookkeeping the fusion passes share (pass_fuse.h) and
 * the Conv + BatchNormalization fold; the pattern passes live in pass_fuse_*.c.
 *
 * Conv + BatchNormalization (inference): BN(conv(x, W) + b) with constant W, b, scale,
 * bias, mean and var is conv(x, W') + b' where, per output channel c,
 *   s = scale[c] / sqrt(var[c] + eps),  W'[c] = W[c] * s,  b'[c] = (b[c] - mean[c]) * s + B[c].
 * The Conv then writes the BN's output and the BN instruction disappears. Conv followed
 * by Mul / Add of a per-channel constant folds the same way (fold_conv_affine). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/pass_fuse.h"

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

static int same_type(const isa_type *a, const isa_type *b);

/* Which output channel each weight feeds, for the folds of a per-channel scale into a
 * Conv's W (M, C/G, k...): element e feeds e / (numel / M); or into a group-1
 * ConvTranspose's W (C, M, k...): (e / k) % M (ppocr_v4_det's head: ConvTranspose, bias
 * Add, BatchNormalization). */
typedef struct wmap {
  int64_t M, n, inner;
  int transposed;
} wmap;

static int weight_map(const cc_node *conv, const cc_value *wv, wmap *m) {
  if (wv->type.rank < 3 || !cc_type_static(&wv->type)) return 0;
  m->n = numel(&wv->type);
  m->transposed = conv->op == ISA_OP_ConvTranspose;
  if (m->transposed && conv->slots[ISA_A_ConvTranspose_group].v.i != 1) return 0;
  m->M = wv->type.dims[m->transposed ? 1 : 0];
  int64_t k = 1;
  for (int d = 2; d < wv->type.rank; d++) k *= wv->type.dims[d];
  m->inner = m->transposed ? k : m->n / (m->M ? m->M : 1);
  return m->M > 0;
}

static int64_t wmap_channel(const wmap *m, int64_t e) {
  return m->transposed ? e / m->inner % m->M : e / m->inner;
}

static int is_conv_op(isa_builtin_op op) { return op == ISA_OP_Conv || op == ISA_OP_ConvTranspose; }

static ivm_status fold_conv_bn(cc_graph *g, uint32_t bn_id, int *folded) {
  cc_node *bn = &g->nodes[bn_id];
  *folded = 0;
  int32_t x = bn->in[0], y = bn->out[0];
  if (x < 0 || y < 0 || bn->n_out != 1) return NULL;
  cc_value *xv = &g->values[x];
  if (xv->kind != CC_V_INTER || xv->is_output || xv->is_var || xv->producer < 0) return NULL;
  uint32_t conv_id = (uint32_t)xv->producer;
  cc_node *conv = &g->nodes[conv_id];
  if (conv->dead || !is_conv_op(conv->op) || conv->out[0] != x || g->values[y].is_var)
    return NULL;
  const cc_value *wv = conv->in[1] >= 0 ? &g->values[conv->in[1]] : NULL;
  wmap wm;
  if (!wv || !weight_map(conv, wv, &wm) || xv->type.dtype != IVM_DT_F32) return NULL;
  int64_t oc = wm.M, nw = wm.n;
  const float *w = const_f32(g, conv->in[1], nw);
  const float *b = conv->n_in > 2 && conv->in[2] >= 0 ? const_f32(g, conv->in[2], oc) : NULL;
  const float *scale = const_f32(g, bn->in[1], oc), *bias = const_f32(g, bn->in[2], oc);
  const float *mean = const_f32(g, bn->in[3], oc), *var = const_f32(g, bn->in[4], oc);
  if (!w || !scale || !bias || !mean || !var || (conv->n_in > 2 && conv->in[2] >= 0 && !b))
    return NULL;
  if (cc_value_uses(g, x) != 1) return NULL; /* the un-normalised conv output is read elsewhere */
  double eps = bn->slots[ISA_A_BatchNormalization_epsilon].v.f;
  float *w2 = malloc((size_t)nw * sizeof *w2), *b2 = malloc((size_t)oc * sizeof *b2);
  double *sc = malloc((size_t)oc * sizeof *sc);
  if (!w2 || !b2 || !sc) {
    free(w2);
    free(b2);
    free(sc);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  for (int64_t c = 0; c < oc; c++) {
    sc[c] = scale[c] / sqrt((double)var[c] + eps);
    b2[c] = (float)(((b ? b[c] : 0.0) - mean[c]) * sc[c] + bias[c]);
  }
  for (int64_t e = 0; e < nw; e++) w2[e] = (float)(w[e] * sc[wmap_channel(&wm, e)]);
  free(sc);
  int32_t wid, bid;
  int wrank = wv->type.rank;
  int64_t wdims[ISA_MAX_RANK];
  memcpy(wdims, wv->type.dims, sizeof wdims); /* cc_add_const may move g->values */
  ivm_status st = cc_add_const(g, NULL, IVM_DT_F32, wrank, wdims, w2,
                               (size_t)nw * sizeof *w2, &wid);
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

/* Conv (or group-1 ConvTranspose) + Mul / Add by a per-channel constant (exporters write
 * BatchNormalization, a learned scale and shift, or a ConvTranspose's bias this way): Mul by s folds into W'[c] = W[c] * s[c] and
 * b'[c] = b[c] * s[c]; Add of t into b'[c] = b[c] + t[c]. The constant must broadcast
 * against the conv output without widening it: one element, or M elements on the
 * channel axis (shape [M, 1, ...] or [1, M, 1, ...]). */
static int channel_const(const cc_graph *g, int32_t v, int rank, int64_t M, const float **vals,
                         int64_t *stride) {
  if (v < 0) return 0;
  const cc_value *c = &g->values[v];
  if (c->kind != CC_V_CONST || c->type.dtype != IVM_DT_F32 || !c->data || c->type.rank < 0 ||
      c->type.rank > rank)
    return 0;
  int64_t n = numel(&c->type);
  *vals = c->data;
  if (n == 1) {
    *stride = 0;
    return 1;
  }
  int axis = 1 - (rank - c->type.rank); /* the channel axis in the constant's dims */
  if (axis < 0 || n != M || c->type.dims[axis] != M) return 0;
  *stride = 1;
  return 1;
}

static ivm_status fold_conv_affine(cc_graph *g, uint32_t id, int *folded) {
  *folded = 0;
  cc_node *n = &g->nodes[id];
  if (n->n_in != 2 || n->n_out != 1 || n->out[0] < 0 || g->values[n->out[0]].is_var) return NULL;
  int32_t y = n->out[0];
  for (int side = 0; side < 2; side++) {
    int32_t x = n->in[side], k = n->in[1 - side];
    if (x < 0 || k < 0 || x == k) continue;
    cc_value *xv = &g->values[x];
    if (xv->kind != CC_V_INTER || xv->is_output || xv->is_var || xv->producer < 0) continue;
    uint32_t conv_id = (uint32_t)xv->producer;
    const cc_node *conv = &g->nodes[conv_id];
    if (conv->dead || !is_conv_op(conv->op) || conv->out[0] != x || conv_id >= id) continue;
    const cc_value *wv = conv->in[1] >= 0 ? &g->values[conv->in[1]] : NULL;
    wmap wm;
    if (!wv || !weight_map(conv, wv, &wm) || xv->type.dtype != IVM_DT_F32 ||
        !same_type(&xv->type, &g->values[y].type))
      continue;
    int64_t oc = wm.M, nw = wm.n;
    const float *w = const_f32(g, conv->in[1], nw), *kv;
    int has_b = conv->n_in > 2 && conv->in[2] >= 0;
    const float *b = has_b ? const_f32(g, conv->in[2], oc) : NULL;
    int64_t ks;
    if (!w || (has_b && !b) || !channel_const(g, k, wv->type.rank, oc, &kv, &ks)) continue;
    if (cc_value_uses(g, x) != 1) continue;
    int mul = n->op == ISA_OP_Mul;
    float *w2 = mul ? malloc((size_t)nw * sizeof *w2) : NULL;
    float *b2 = malloc((size_t)oc * sizeof *b2);
    if ((mul && !w2) || !b2) {
      free(w2);
      free(b2);
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    }
    for (int64_t c = 0; c < oc; c++) {
      float f = kv[c * ks], bc = b ? b[c] : 0.0f;
      b2[c] = mul ? bc * f : bc + f;
    }
    for (int64_t e = 0; mul && e < nw; e++) w2[e] = w[e] * kv[wmap_channel(&wm, e) * ks];
    int32_t wid = conv->in[1], bid;
    if (mul) {
      int wrank = wv->type.rank;
      int64_t wdims[ISA_MAX_RANK];
      memcpy(wdims, wv->type.dims, sizeof wdims); /* cc_add_const may move g->values */
      ivm_status st = cc_add_const(g, NULL, IVM_DT_F32, wrank, wdims, w2,
                                   (size_t)nw * sizeof *w2, &wid);
      if (st) {
        free(b2);
        return st;
      }
    }
    int64_t bdims[1] = {oc};
    IVM_TRY(cc_add_const(g, NULL, IVM_DT_F32, 1, bdims, b2, (size_t)oc * sizeof *b2, &bid));
    cc_node *cv = &g->nodes[conv_id]; /* cc_add_* may move the node array */
    cv->in[1] = wid;
    cv->in[2] = bid; /* node input arrays have one spare slot (ir.c) */
    if (cv->n_in < 3) cv->n_in = 3;
    cv->out[0] = y;
    g->values[y].producer = (int32_t)conv_id;
    g->values[x].producer = -1;
    g->nodes[id].dead = 1;
    *folded = 1;
    return NULL;
  }
  return NULL;
}

/* Mul / Add by a per-input-channel (or scalar) constant feeding a Conv without padding
 * (PP-LCNetV3's learnable scale and shift after an activation, before a 1x1 conv): Mul by
 * s folds into W'[m][c] = W[m][c] * s[c]; Add of t into b'[m] = b[m] + sum over c and
 * taps of W[m][c][k] * t[c]. Padding would read the zeros unshifted, so pads must be 0.
 * Returns with *folded set when the conv's input producer was folded (call again: an
 * Add's own input may be a Mul). */
static ivm_status fold_affine_into_conv(cc_graph *g, uint32_t conv_id, int *folded) {
  *folded = 0;
  const cc_node *conv = &g->nodes[conv_id];
  if (conv->n_in < 2 || conv->in[0] < 0 || conv->in[1] < 0) return NULL;
  const isa_attr *pads = &conv->slots[ISA_A_Conv_pads];
  for (uint32_t k = 0; k < pads->count; k++)
    if (pads->v.ints[k] != 0) return NULL;
  const char *ap = conv->slots[ISA_A_Conv_auto_pad].v.s;
  if (ap && strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0) return NULL;
  int32_t x = conv->in[0];
  const cc_value *xv = &g->values[x];
  if (xv->kind != CC_V_INTER || xv->is_output || xv->is_var || xv->producer < 0 ||
      xv->type.dtype != IVM_DT_F32)
    return NULL;
  uint32_t aff_id = (uint32_t)xv->producer;
  const cc_node *aff = &g->nodes[aff_id];
  if (aff->dead || (aff->op != ISA_OP_Mul && aff->op != ISA_OP_Add) || aff->n_in != 2 ||
      aff->out[0] != x || cc_value_uses(g, x) != 1)
    return NULL;
  const cc_value *wv = &g->values[conv->in[1]];
  int rank = wv->type.rank;
  if (rank < 3 || xv->type.rank != rank) return NULL;
  int64_t M = wv->type.dims[0], Cg = wv->type.dims[1], G = conv->slots[ISA_A_Conv_group].v.i;
  if (M <= 0 || Cg <= 0 || G <= 0 || M % G != 0 || xv->type.dims[1] != Cg * G) return NULL;
  int64_t per = numel(&wv->type) / M, taps = per / Cg;
  const float *w = const_f32(g, conv->in[1], M * per);
  int has_b = conv->n_in > 2 && conv->in[2] >= 0;
  const float *b = has_b ? const_f32(g, conv->in[2], M) : NULL;
  if (!w || (has_b && !b)) return NULL;
  for (int side = 0; side < 2; side++) {
    int32_t a = aff->in[side], k = aff->in[1 - side];
    const float *kv;
    int64_t ks;
    if (a < 0 || k < 0 || a == k || !same_type(&g->values[a].type, &xv->type) ||
        !channel_const(g, k, rank, Cg * G, &kv, &ks))
      continue;
    int mul = aff->op == ISA_OP_Mul;
    float *w2 = mul ? malloc((size_t)(M * per) * sizeof *w2) : NULL;
    float *b2 = mul ? NULL : malloc((size_t)M * sizeof *b2);
    if ((mul && !w2) || (!mul && !b2)) {
      free(w2);
      free(b2);
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    }
    for (int64_t m = 0; m < M; m++) {
      int64_t c0 = m / (M / G) * Cg; /* the group's first input channel */
      double sum = b ? b[m] : 0.0;
      for (int64_t c = 0; c < Cg; c++)
        for (int64_t t = 0; t < taps; t++) {
          int64_t e = m * per + c * taps + t;
          if (mul) w2[e] = w[e] * kv[(c0 + c) * ks];
          else sum += (double)w[e] * (double)kv[(c0 + c) * ks];
        }
      if (!mul) b2[m] = (float)sum;
    }
    int32_t wid = conv->in[1], bid = has_b ? conv->in[2] : -1;
    if (mul) {
      int64_t wdims[ISA_MAX_RANK];
      memcpy(wdims, wv->type.dims, sizeof wdims); /* cc_add_const may move g->values */
      IVM_TRY(cc_add_const(g, NULL, IVM_DT_F32, rank, wdims, w2, (size_t)(M * per) * sizeof *w2,
                           &wid));
    } else {
      int64_t bdims[1] = {M};
      IVM_TRY(cc_add_const(g, NULL, IVM_DT_F32, 1, bdims, b2, (size_t)M * sizeof *b2, &bid));
    }
    cc_node *cv = &g->nodes[conv_id]; /* cc_add_* may move the node array */
    cv->in[0] = a;
    cv->in[1] = wid;
    if (bid >= 0) {
      cv->in[2] = bid; /* node input arrays have one spare slot (ir.c) */
      if (cv->n_in < 3) cv->n_in = 3;
    }
    g->values[x].producer = -1;
    g->nodes[aff_id].dead = 1;
    *folded = 1;
    return NULL;
  }
  return NULL;
}

/* ---- bookkeeping shared by the pattern passes (pass_fuse.h) ----------------------------- */
static int is_region_marker(isa_builtin_op op) {
  return op == ISA_OP_IfThen || op == ISA_OP_Else || op == ISA_OP_EndIf ||
         op == ISA_OP_LoopBegin || op == ISA_OP_LoopEnd;
}

ivm_status fuse_ctx_init(fuse_ctx *f, cc_graph *g) {
  memset(f, 0, sizeof *f);
  f->g = g;
  f->uses = calloc(g->n_values + 1, sizeof *f->uses);
  f->reader = malloc((g->n_values + 1) * sizeof *f->reader);
  f->block = calloc(g->n_nodes + 1, sizeof *f->block);
  if (!f->uses || !f->reader || !f->block) {
    fuse_ctx_free(f);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  f->cap = g->n_values;
  for (uint32_t v = 0; v < g->n_values; v++) f->reader[v] = -1;
  uint32_t b = 0;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    const cc_node *n = &g->nodes[i];
    if (n->dead) {
      f->block[i] = b;
      continue;
    }
    if (is_region_marker(n->op)) { /* a marker is a block of its own */
      f->block[i] = ++b;
      b++;
    } else {
      f->block[i] = b;
    }
    for (uint32_t k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) {
        f->uses[n->in[k]]++;
        f->reader[n->in[k]] = (int32_t)i;
      }
  }
  for (uint32_t k = 0; k < g->n_outputs; k++)
    if (g->outputs[k] >= 0) f->uses[g->outputs[k]]++;
  return NULL;
}

void fuse_ctx_free(fuse_ctx *f) {
  free(f->uses);
  free(f->reader);
  free(f->block);
  memset(f, 0, sizeof *f);
}

/* v is an intermediate a fusion may swallow: produced by a node, read once, not an
 * output, not a var. */
static int private_value(const fuse_ctx *f, int32_t v) {
  if (v < 0 || (uint32_t)v >= f->cap) return 0; /* values added since are constants */
  const cc_value *x = &f->g->values[v];
  return x->kind == CC_V_INTER && !x->is_output && !x->is_var && x->producer >= 0 &&
         f->uses[v] == 1;
}

int32_t fuse_producer(const fuse_ctx *f, int32_t v, isa_builtin_op op, uint32_t user) {
  if (v < 0 || (uint32_t)v >= f->g->n_values) return -1;
  const cc_value *x = &f->g->values[v];
  if (x->kind != CC_V_INTER || x->is_var || x->producer < 0) return -1;
  uint32_t p = (uint32_t)x->producer;
  const cc_node *n = &f->g->nodes[p];
  if (n->dead || n->op != op || p >= user || f->block[p] != f->block[user]) return -1;
  return (int32_t)p;
}

int32_t fuse_single_producer(const fuse_ctx *f, int32_t v, isa_builtin_op op, uint32_t user) {
  if (!private_value(f, v)) return -1;
  int32_t p = fuse_producer(f, v, op, user);
  if (p < 0) return -1;
  /* Other outputs of the node would be lost with it. */
  const cc_node *n = &f->g->nodes[p];
  for (uint32_t k = 0; k < n->n_out; k++) {
    int32_t o = n->out[k];
    if (o >= 0 && o != v && (f->uses[o] || f->g->values[o].is_output || f->g->values[o].is_var))
      return -1;
  }
  return p;
}

int32_t fuse_single_reader(fuse_ctx *f, int32_t v, isa_builtin_op op) {
  if (!private_value(f, v)) return -1;
  const cc_graph *g = f->g;
  int32_t r = f->reader[v];
  int reads = 0;
  if (r >= 0 && !g->nodes[r].dead)
    for (uint32_t k = 0; k < g->nodes[r].n_in; k++) reads |= g->nodes[r].in[k] == v;
  if (!reads) { /* the cached reader went away with an earlier fusion: look again */
    r = -1;
    for (uint32_t i = 0; i < g->n_nodes && r < 0; i++) {
      const cc_node *n = &g->nodes[i];
      if (n->dead) continue;
      for (uint32_t k = 0; k < n->n_in; k++)
        if (n->in[k] == v) r = (int32_t)i;
    }
    if (r < 0) return -1;
    f->reader[v] = r;
  }
  const cc_node *n = &g->nodes[r];
  uint32_t p = (uint32_t)g->values[v].producer;
  if (n->op != op || f->block[r] != f->block[p] || (uint32_t)r <= p) return -1;
  return r;
}

static int const_scalar(const cc_graph *g, int32_t v, int rank, double *out) {
  if (v < 0 || (uint32_t)v >= g->n_values) return 0;
  const cc_value *x = &g->values[v];
  if (x->kind != CC_V_CONST || !x->data || x->type.rank < 0 || x->type.rank > rank ||
      numel(&x->type) != 1)
    return 0;
  switch (x->type.dtype) {
    case IVM_DT_F32: *out = *(const float *)x->data; return 1;
    case IVM_DT_F64: *out = *(const double *)x->data; return 1;
    case IVM_DT_F16: *out = isa_f16_to_f32(*(const uint16_t *)x->data); return 1;
    default: return 0;
  }
}

int fuse_const_scalar_is(const cc_graph *g, int32_t v, double want, double rel_tol, int rank) {
  double c;
  if (!const_scalar(g, v, rank, &c)) return 0;
  return rel_tol == 0 ? c == want : fabs(c - want) <= rel_tol * fabs(want);
}

float fuse_const_scalar_f32(const cc_graph *g, int32_t v, int rank, int *ok) {
  double c;
  *ok = v >= 0 && (uint32_t)v < g->n_values && g->values[v].type.dtype == IVM_DT_F32 &&
        const_scalar(g, v, rank, &c);
  return *ok ? (float)c : 0.0f;
}

int32_t fuse_other_input(const cc_node *n, int32_t v) {
  if (n->n_in != 2) return -1;
  if (n->in[0] == v && n->in[1] != v) return n->in[1];
  if (n->in[1] == v && n->in[0] != v) return n->in[0];
  return -1;
}

ivm_status fuse_rewrite(fuse_ctx *f, uint32_t id, isa_builtin_op op, const int32_t *in,
                        uint32_t n_in, cc_node *saved) {
  cc_node *n = &f->g->nodes[id];
  *saved = *n;
  int32_t *arr = cc_alloc(f->g, (n_in + 1) * sizeof *arr);
  if (!arr) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  memcpy(arr, in, n_in * sizeof *arr);
  n->op = op;
  n->desc = isa_builtin_desc(op);
  n->in = arr;
  n->n_in = n_in;
  n->n_attrs = 0;
  cc_node_decode(n);
  return NULL;
}

static int same_type(const isa_type *a, const isa_type *b) {
  if (a->dtype != b->dtype || a->vkind != b->vkind || a->rank != b->rank) return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] != b->dims[k]) return 0;
  return 1;
}

/* Inference of node id's outputs into out (n_out <= 4), without touching the graph. */
static int infer_matches(const cc_graph *g, uint32_t id) {
  const cc_node *n = &g->nodes[id];
  isa_type tin[8], tout[4];
  const void *din[8];
  if (n->n_in > 8 || n->n_out > 4) return 0;
  for (uint32_t k = 0; k < n->n_in; k++) {
    memset(&tin[k], 0, sizeof tin[k]);
    din[k] = NULL;
    if (n->in[k] < 0) continue;
    const cc_value *v = &g->values[n->in[k]];
    tin[k] = v->type;
    if (v->kind == CC_V_CONST) din[k] = v->data;
  }
  for (uint32_t k = 0; k < n->n_out; k++) {
    memset(&tout[k], 0, sizeof tout[k]);
    tout[k].rank = -1;
  }
  isa_infer_ctx ctx = {n->n_in, tin, din, n->slots, n->n_out, tout};
  ivm_status st = n->desc->infer(&ctx);
  if (st) {
    ivm_status_free(st);
    return 0;
  }
  for (uint32_t k = 0; k < n->n_out; k++)
    if (n->out[k] >= 0 && !same_type(&tout[k], &g->values[n->out[k]].type)) return 0;
  return 1;
}

/* Extends uses / reader over the values added since fuse_ctx_init (new constants). */
static ivm_status fit_values(fuse_ctx *f) {
  uint32_t n = f->g->n_values;
  if (n <= f->cap) return NULL;
  uint32_t *uses = realloc(f->uses, (n + 1) * sizeof *uses);
  if (uses) f->uses = uses;
  int32_t *reader = uses ? realloc(f->reader, (n + 1) * sizeof *reader) : NULL;
  if (!uses || !reader) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  f->reader = reader;
  for (uint32_t v = f->cap; v < n; v++) {
    f->uses[v] = 0;
    f->reader[v] = -1;
  }
  f->cap = n;
  return NULL;
}

ivm_status fuse_each(fuse_ctx *f, const isa_builtin_op *ops, int n_ops, fuse_try_fn try_fn,
                     uint32_t *count) {
  for (uint32_t i = 0; i < f->g->n_nodes; i++) {
    const cc_node *n = &f->g->nodes[i];
    if (n->dead) continue;
    int wanted = n_ops == 0;
    for (int k = 0; k < n_ops && !wanted; k++) wanted = n->op == ops[k];
    if (!wanted) continue;
    int done = 0;
    IVM_TRY(try_fn(f, i, &done));
    *count += (uint32_t)done;
  }
  return NULL;
}

ivm_status fuse_commit(fuse_ctx *f, uint32_t id, const cc_node *saved, const uint32_t *dead,
                       uint32_t n_dead, int *done) {
  cc_graph *g = f->g;
  *done = 0;
  IVM_TRY(fit_values(f));
  /* The fused node reads its inputs later than the chain's first node did: a var could
   * have been written in between. */
  int reads_var = 0;
  for (uint32_t k = 0; k < g->nodes[id].n_in; k++)
    if (g->nodes[id].in[k] >= 0 && g->values[g->nodes[id].in[k]].is_var) reads_var = 1;
  if (reads_var || !infer_matches(g, id)) {
    g->nodes[id] = *saved;
    return NULL;
  }
  for (uint32_t k = 0; k < saved->n_in; k++)
    if (saved->in[k] >= 0) f->uses[saved->in[k]]--;
  const cc_node *n = &g->nodes[id];
  for (uint32_t k = 0; k < n->n_in; k++)
    if (n->in[k] >= 0) {
      f->uses[n->in[k]]++;
      f->reader[n->in[k]] = (int32_t)id;
    }
  for (uint32_t d = 0; d < n_dead; d++) {
    cc_node *x = &g->nodes[dead[d]];
    for (uint32_t k = 0; k < x->n_in; k++)
      if (x->in[k] >= 0) f->uses[x->in[k]]--;
    for (uint32_t k = 0; k < x->n_out; k++)
      if (x->out[k] >= 0) g->values[x->out[k]].producer = -1;
    x->dead = 1;
  }
  *done = 1;
  return NULL;
}

/* ---- the driver ------------------------------------------------------------------------- */
ivm_status cc_pass_fuse(cc_graph *g, cc_fuse_stats *stats) {
  if (stats) memset(stats, 0, sizeof *stats);
  /* In graph order, so that a conv's bias Add folds before the BatchNormalization after
   * it looks for the conv (ppocr_v4_det's head: ConvTranspose, Add, BatchNormalization). */
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    isa_builtin_op op = g->nodes[i].op;
    if (g->nodes[i].dead) continue;
    int folded = 0;
    if (op == ISA_OP_BatchNormalization) {
      IVM_TRY(fold_conv_bn(g, i, &folded));
      if (stats) stats->conv_bn += (uint32_t)folded;
    } else if (op == ISA_OP_Mul || op == ISA_OP_Add) {
      IVM_TRY(fold_conv_affine(g, i, &folded));
      if (stats) stats->conv_affine += (uint32_t)folded;
    }
  }
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].dead || g->nodes[i].op != ISA_OP_Conv) continue;
    for (int folded = 1; folded;) {
      IVM_TRY(fold_affine_into_conv(g, i, &folded));
      if (stats) stats->conv_affine += (uint32_t)folded;
    }
  }
  /* IVM_FUSE=0 leaves the pattern fusions out (A/B comparisons, bisecting a problem). */
  const char *env = getenv("IVM_FUSE");
  if (env && strcmp(env, "0") == 0) return NULL;
  fuse_ctx f;
  IVM_TRY(fuse_ctx_init(&f, g));
  /* Order matters: GELU chains become Gelu before the MatMul epilogue looks for an
   * activation, and attention claims its MatMuls before the epilogue pass sees them. */
  uint32_t count = 0;
  ivm_status st = fuse_gelu(&f, &count);
  if (!st) st = fuse_hardswish(&f, &count);
  if (!st) st = fuse_layernorm(&f, &count);
  if (!st) st = fuse_attention(&f, &count);
  if (!st) st = fuse_matmul_epilogue(&f, &count);
  if (!st) st = fuse_conv_residual(&f, &count);
  if (!st) st = fuse_conv_activation(&f, &count);
  if (!st) st = fuse_conv_clip(&f, &count);
  if (!st) st = fuse_conv_affine(&f, &count);
  if (!st) st = fuse_mul_add(&f, &count); /* the Muls and Adds no fusion above took */
  fuse_ctx_free(&f);
  return st;
}
