/* ONNX -> IVM translation for the control op family: If, Loop and Scan become structured
 * bytecode regions (isa/ops_control.def), not calls into a second interpreter. Subgraphs
 * (then_branch, else_branch, body) are imported into the same graph inside a name scope:
 * inner names shadow outer ones, and outer names stay visible (captured values).
 *
 *   If:    IfThen cond; <then nodes>; R := Copy(then_out)...; Else; <else nodes>;
 *          R := Copy(else_out)...; EndIf                        (R: the If's outputs, vars)
 *   Loop:  V := Copy(v_initial)...; [C := Copy(cond)]; Acc := ScanInit...;
 *          i := LoopBegin M C; <body>; Acc := ScanAppend Acc scan_out...;
 *          V := Copy(carried_out)... ; [C := Copy(cond_out)]; LoopEnd
 *   Scan:  the same loop with M = the scan inputs' length, body inputs sliced by ScanSlice
 *          and scan outputs moved to their axis by a Transpose after the loop.
 *   Scan-8 (batched, sequence_lens): an outer loop over the batch around that loop (see
 *          tr_scan8). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/onnx_ops.h"

static const Onnx__GraphProto *graph_attr(tr *t, const char *name) {
  const Onnx__AttributeProto *a = tr_attr(t, name);
  return a && a->g ? a->g : NULL;
}

static ivm_status add(tr *t, isa_builtin_op op, const int32_t *in, uint32_t n_in,
                      const int32_t *out, uint32_t n_out, uint32_t *node) {
  uint32_t nd;
  IVM_TRY(cc_add_node(t->im->g, op, t->im->node_name, in, n_in, out, n_out, &nd));
  if (node) *node = nd;
  return NULL;
}

/* A fresh var of the given type. */
static ivm_status new_var(tr *t, const isa_type *ty, int32_t *id) {
  *id = tr_tmp(t);
  if (*id < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  t->im->g->values[*id].is_var = 1;
  t->im->g->values[*id].type = *ty;
  return NULL;
}

/* Makes value id (an output of the ONNX node, or CC_NONE) a var of type ty. */
static ivm_status as_var(tr *t, int32_t id, const isa_type *ty, int32_t *out) {
  if (id < 0) return new_var(t, ty, out);
  cc_value *v = &t->im->g->values[id];
  v->is_var = 1;
  v->type = *ty;
  *out = id;
  return NULL;
}

/* A type with the same dtype and rank and every dim unknown (a loop may change them). */
static isa_type loose(const isa_type *x) {
  isa_type r = *x;
  for (int k = 0; k < r.rank; k++) r.dims[k] = ISA_DIM_ANY;
  return r;
}

/* The common type of two writes of one var. */
static isa_type merge(const isa_type *a, const isa_type *b) {
  isa_type r = *a;
  if (a->rank != b->rank || a->rank < 0) {
    r.rank = -1;
    return r;
  }
  for (int k = 0; k < r.rank; k++)
    if (a->dims[k] != b->dims[k]) r.dims[k] = ISA_DIM_ANY;
  return r;
}

/* Looks up a subgraph output by name (in the subgraph's scope). */
static ivm_status sub_outputs(tr *t, const Onnx__GraphProto *gr, int32_t *ids) {
  for (size_t k = 0; k < gr->n_output; k++) {
    const Onnx__ValueInfoProto *vi = gr->output[k];
    const char *nm = vi && vi->name ? vi->name : "";
    ids[k] = cc_imp_lookup(t->im, nm);
    if (ids[k] < 0)
      return cc_imp_unsupported(t->im, "subgraph output '%s' is not defined", nm);
    if (!isa_dtype_valid(t->im->g->values[ids[k]].type.dtype))
      return cc_imp_unsupported(t->im, "subgraph output '%s' has no tensor type", nm);
  }
  return NULL;
}

/* dst[k] := src[k] for every k, as if at once: sources that are vars themselves (a body
 * may pass a carried value through, or swap two) are first copied to temporaries. */
/* Copy for tensors, CopyValue (a deep copy) for sequences and optionals. */
static isa_builtin_op copy_op(const cc_graph *g, int32_t v) {
  return g->values[v].type.vkind ? ISA_OP_CopyValue : ISA_OP_Copy;
}

static ivm_status parallel_copy(tr *t, const int32_t *dst, const int32_t *src, uint32_t n) {
  cc_graph *g = t->im->g;
  int32_t tmp[MAX_IO];
  for (uint32_t k = 0; k < n; k++) {
    tmp[k] = src[k];
    if (dst[k] < 0 || src[k] == dst[k]) continue;
    uint8_t dk = g->values[dst[k]].type.vkind, sk = g->values[src[k]].type.vkind;
    if (dk != sk) {
      /* A value into an optional var (Loop-16 carries optionals): wrap it. */
      if (dk != (sk | ISA_VK_OPT) || (sk & ISA_VK_OPT))
        return cc_imp_unsupported(t->im, "op '%s': a %s is assigned to a %s", t->op_type,
                                  isa_vkind_name(sk), isa_vkind_name(dk));
      int32_t x = tr_tmp(t);
      if (x < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
      uint32_t nd;
      IVM_TRY(add(t, ISA_OP_Optional, &src[k], 1, &x, 1, &nd));
      IVM_TRY(cc_infer_node(g, nd));
      tmp[k] = x;
      continue;
    }
    if (!g->values[src[k]].is_var) continue;
    int32_t x = tr_tmp(t);
    if (x < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    uint32_t nd;
    IVM_TRY(add(t, copy_op(g, src[k]), &src[k], 1, &x, 1, &nd));
    IVM_TRY(cc_infer_node(g, nd));
    tmp[k] = x;
  }
  for (uint32_t k = 0; k < n; k++) {
    if (dst[k] < 0 || tmp[k] == dst[k]) continue;
    const isa_type *vt = &g->values[dst[k]].type, *st = &g->values[tmp[k]].type;
    if (vt->dtype != st->dtype)
      return cc_imp_unsupported(t->im, "op '%s': a carried value changes dtype from %s to %s",
                                t->op_type, ivm_dtype_name((ivm_dtype)vt->dtype),
                                ivm_dtype_name((ivm_dtype)st->dtype));
    if (vt->rank >= 0 && st->rank != vt->rank) g->values[dst[k]].type.rank = -1;
    IVM_TRY(add(t, copy_op(g, tmp[k]), &tmp[k], 1, &dst[k], 1, NULL));
  }
  return NULL;
}

/* ---- If ------------------------------------------------------------------------------ */
static ivm_status tr_if(tr *t) {
  cc_graph *g = t->im->g;
  const Onnx__GraphProto *br[2] = {graph_attr(t, "then_branch"), graph_attr(t, "else_branch")};
  if (!br[0] || !br[1]) return cc_imp_unsupported(t->im, "op 'If' without both branches");
  if (t->n_in != 1 || t->in[0] < 0) return cc_imp_unsupported(t->im, "op 'If' needs cond");
  for (int b = 0; b < 2; b++)
    if (br[b]->n_output != t->n_out || br[b]->n_input)
      return cc_imp_unsupported(t->im, "op 'If': a branch has %zu inputs and %zu outputs",
                                br[b]->n_input, br[b]->n_output);
  uint32_t n_if, n_else;
  IVM_TRY(add(t, ISA_OP_IfThen, t->in, 1, NULL, 0, &n_if));
  int32_t res[MAX_IO], outs[2][MAX_IO];
  for (int b = 0; b < 2; b++) {
    if (b) IVM_TRY(add(t, ISA_OP_Else, NULL, 0, NULL, 0, &n_else));
    uint32_t mark = cc_imp_scope_push(t->im);
    t->im->if_branches++;
    ivm_status st = cc_imp_subgraph(t->im, br[b]);
    t->im->if_branches--;
    if (!st) st = sub_outputs(t, br[b], outs[b]);
    cc_imp_scope_pop(t->im, mark);
    if (st) return ivm_status_wrap(st, "%s_branch of If '%s'", b ? "else" : "then",
                                   t->im->node_name);
    for (uint32_t k = 0; k < t->n_out; k++) {
      const isa_type *ot = &g->values[outs[b][k]].type;
      if (!b) {
        IVM_TRY(as_var(t, t->out[k], ot, &res[k]));
      } else {
        cc_value *r = &g->values[res[k]];
        if (r->type.vkind != ot->vkind)
          return cc_imp_unsupported(t->im, "op 'If': output %u is a %s in one branch, a %s in "
                                    "the other", k, isa_vkind_name(r->type.vkind),
                                    isa_vkind_name(ot->vkind));
        if (r->type.dtype != ot->dtype)
          return cc_imp_unsupported(t->im, "op 'If': output %u is %s in one branch, %s in the "
                                    "other", k, ivm_dtype_name((ivm_dtype)r->type.dtype),
                                    ivm_dtype_name((ivm_dtype)ot->dtype));
        r->type = merge(&r->type, ot);
      }
    }
    IVM_TRY(parallel_copy(t, res, outs[b], t->n_out));
  }
  (void)n_if;
  (void)n_else;
  return add(t, ISA_OP_EndIf, NULL, 0, NULL, 0, NULL);
}

/* ---- Loop and Scan -------------------------------------------------------------------- */
typedef struct loop_spec {
  uint32_t n_carried, n_scan_in, n_scan_out;
  int32_t trip, cond;           /* M and cond values, or CC_NONE */
  const int32_t *init;          /* n_carried initial values */
  const int32_t *out;           /* n_carried + n_scan_out ONNX outputs (CC_NONE if absent) */
  const int32_t *scan_x;        /* Scan: n_scan_in sequences */
  const int64_t *in_axes, *in_dirs, *out_axes, *out_dirs; /* Scan: per input/output */
  int is_scan;
} loop_spec;

static ivm_status emit_loop(tr *t, const Onnx__GraphProto *body, const loop_spec *L) {
  cc_graph *g = t->im->g;
  uint32_t nc = L->n_carried, ns = L->n_scan_out, nb_in = (L->is_scan ? 0 : 2) + nc + L->n_scan_in,
           nb_out = (L->is_scan ? 0 : 1) + nc + ns;
  if (body->n_input != nb_in || body->n_output != nb_out || nb_out > MAX_IO)
    return cc_imp_unsupported(t->im, "op '%s': body has %zu inputs and %zu outputs, expected %u "
                              "and %u", t->op_type, body->n_input, body->n_output, nb_in, nb_out);
  /* Carried values. */
  int32_t var[MAX_IO], acc[MAX_IO];
  for (uint32_t j = 0; j < nc; j++) {
    isa_type ty = loose(&g->values[L->init[j]].type);
    /* An optional carried value: the ONNX output may be the unwrapped value (Loop-16),
     * which is known after the body; it is read from a separate var after the loop. */
    IVM_TRY(as_var(t, (ty.vkind & ISA_VK_OPT) ? CC_NONE : L->out[j], &ty, &var[j]));
    IVM_TRY(add(t, copy_op(g, L->init[j]), &L->init[j], 1, &var[j], 1, NULL));
  }
  int32_t cvar = CC_NONE;
  if (L->cond >= 0) {
    isa_type ty = g->values[L->cond].type;
    IVM_TRY(new_var(t, &ty, &cvar));
    IVM_TRY(add(t, ISA_OP_Copy, &L->cond, 1, &cvar, 1, NULL));
  }
  /* Scan accumulators; their dtype is patched once the body is known. */
  uint32_t init_node[MAX_IO];
  for (uint32_t k = 0; k < ns; k++) {
    isa_type ty;
    memset(&ty, 0, sizeof ty);
    ty.rank = -1;
    int32_t o = L->out[nc + k];
    int axis_moves = L->is_scan && L->out_axes && L->out_axes[k] != 0;
    IVM_TRY(as_var(t, axis_moves ? CC_NONE : o, &ty, &acc[k]));
    g->values[acc[k]].type.dtype = IVM_DT_NONE;
    IVM_TRY(add(t, ISA_OP_ScanInit, NULL, 0, &acc[k], 1, &init_node[k]));
    IVM_TRY(cc_node_set_int(g, init_node[k], "dtype", IVM_DT_F32));
  }
  /* The loop. */
  isa_type ity;
  memset(&ity, 0, sizeof ity);
  ity.dtype = IVM_DT_I64;
  int32_t iter;
  IVM_TRY(new_var(t, &ity, &iter));
  int32_t lin[2] = {L->trip, cvar};
  IVM_TRY(add(t, ISA_OP_LoopBegin, lin, cvar >= 0 ? 2 : (L->trip >= 0 ? 1 : 0), &iter, 1, NULL));

  uint32_t mark = cc_imp_scope_push(t->im);
  ivm_status st = NULL;
  uint32_t bi = 0;
  /* Body inputs. */
  if (!L->is_scan) {
    const char *inm = body->input[0] && body->input[0]->name ? body->input[0]->name : "";
    const char *cnm = body->input[1] && body->input[1]->name ? body->input[1]->name : "";
    if (*inm) st = cc_imp_define(t->im, inm, iter);
    if (!st && *cnm) {
      int32_t c = cvar;
      if (c < 0) st = tr_const_scalar(t, IVM_DT_BOOL, 1, 0, &c);
      if (!st) st = cc_imp_define(t->im, cnm, c);
    }
    bi = 2;
  }
  for (uint32_t j = 0; j < nc && !st; j++, bi++) {
    const char *nm = body->input[bi] && body->input[bi]->name ? body->input[bi]->name : "";
    if (*nm) st = cc_imp_define(t->im, nm, var[j]);
  }
  for (uint32_t s = 0; s < L->n_scan_in && !st; s++, bi++) {
    const char *nm = body->input[bi] && body->input[bi]->name ? body->input[bi]->name : "";
    int32_t e = tr_tmp(t), sin[2] = {L->scan_x[s], iter};
    uint32_t nd;
    if (e < 0) st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    if (!st) st = add(t, ISA_OP_ScanSlice, sin, 2, &e, 1, &nd);
    if (!st) st = cc_node_set_int(g, nd, "axis", L->in_axes ? L->in_axes[s] : 0);
    if (!st) st = cc_node_set_int(g, nd, "reverse", L->in_dirs ? L->in_dirs[s] != 0 : 0);
    if (!st) st = cc_infer_node(g, nd);
    if (!st && *nm) st = cc_imp_define(t->im, nm, e);
  }
  int32_t bout[MAX_IO];
  if (!st) st = cc_imp_subgraph(t->im, body);
  if (!st) st = sub_outputs(t, body, bout);
  cc_imp_scope_pop(t->im, mark);
  if (st) return ivm_status_wrap(st, "body of %s '%s'", t->op_type, t->im->node_name);

  const int32_t *carried_out = bout + (L->is_scan ? 0 : 1), *scan_out = carried_out + nc;
  /* Scan outputs first: they may read carried values of this iteration. */
  for (uint32_t k = 0; k < ns; k++) {
    const isa_type *yt = &g->values[scan_out[k]].type;
    cc_value *a = &g->values[acc[k]];
    a->type.dtype = yt->dtype;
    a->type.rank = -1;
    if (yt->rank >= 0 && yt->rank < ISA_MAX_RANK) {
      a->type.rank = (int8_t)(yt->rank + 1);
      a->type.dims[0] = ISA_DIM_ANY;
      for (int d = 0; d < yt->rank; d++) a->type.dims[d + 1] = yt->dims[d];
    }
    IVM_TRY(cc_node_set_int(g, init_node[k], "dtype", yt->dtype));
    int32_t ain[2] = {acc[k], scan_out[k]};
    uint32_t nd;
    IVM_TRY(add(t, ISA_OP_ScanAppend, ain, 2, &acc[k], 1, &nd));
    if (L->is_scan && L->out_dirs && L->out_dirs[k]) IVM_TRY(cc_node_set_int(g, nd, "prepend", 1));
  }
  int32_t dst[MAX_IO], src[MAX_IO];
  uint32_t n = 0;
  for (uint32_t j = 0; j < nc; j++) {
    dst[n] = var[j];
    src[n++] = carried_out[j];
  }
  if (cvar >= 0) {
    if (g->values[bout[0]].type.dtype != IVM_DT_BOOL)
      return cc_imp_unsupported(t->im, "op 'Loop': body condition output is not bool");
    dst[n] = cvar;
    src[n++] = bout[0];
  }
  IVM_TRY(parallel_copy(t, dst, src, n));
  IVM_TRY(add(t, ISA_OP_LoopEnd, NULL, 0, NULL, 0, NULL));
  for (uint32_t j = 0; j < nc; j++) {
    int32_t o = L->out[j];
    if (o < 0 || o == var[j]) continue;
    /* Optional carried values: the output has the body output's kind. */
    uint8_t ok = g->values[carried_out[j]].type.vkind;
    isa_builtin_op op = ok & ISA_VK_OPT ? ISA_OP_CopyValue : ISA_OP_OptionalGetElement;
    IVM_TRY(add(t, op, &var[j], 1, &o, 1, NULL));
  }

  /* Scan outputs on another axis: move the stacked axis 0 there. */
  for (uint32_t k = 0; L->is_scan && k < ns; k++) {
    int64_t ax = L->out_axes ? L->out_axes[k] : 0;
    if (ax == 0) continue;
    int r = g->values[acc[k]].type.rank;
    if (r < 0) return cc_imp_unsupported(t->im, "op 'Scan': output axis with unknown rank");
    if (ax < 0) ax += r;
    if (ax < 0 || ax >= r) return cc_imp_unsupported(t->im, "op 'Scan': bad scan_output_axes");
    int64_t perm[ISA_MAX_RANK];
    for (int d = 0, s = 1; d < r; d++) perm[d] = d == ax ? 0 : s++;
    int32_t o = L->out[nc + k];
    if (o < 0) continue;
    uint32_t nd;
    IVM_TRY(add(t, ISA_OP_Transpose, &acc[k], 1, &o, 1, &nd));
    IVM_TRY(cc_node_set_attr(g, nd, "perm", ISA_ATTR_INTS, 0, 0, NULL, perm, (uint32_t)r));
  }
  return NULL;
}

static ivm_status tr_loop(tr *t) {
  const Onnx__GraphProto *body = graph_attr(t, "body");
  if (!body) return cc_imp_unsupported(t->im, "op 'Loop' without a body");
  if (t->n_in < 2) return cc_imp_unsupported(t->im, "op 'Loop' with %u inputs", t->n_in);
  loop_spec L;
  memset(&L, 0, sizeof L);
  L.n_carried = t->n_in - 2;
  if (t->n_out < L.n_carried)
    return cc_imp_unsupported(t->im, "op 'Loop' with fewer outputs than carried values");
  L.n_scan_out = t->n_out - L.n_carried;
  L.trip = t->in[0];
  L.cond = t->in[1];
  L.init = t->in + 2;
  L.out = t->out;
  for (uint32_t j = 0; j < L.n_carried; j++)
    if (L.init[j] < 0) return cc_imp_unsupported(t->im, "op 'Loop' with an absent carried value");
  return emit_loop(t, body, &L);
}

static ivm_status ints_attr(tr *t, const char *name, uint32_t n, const int64_t **out) {
  const Onnx__AttributeProto *a = tr_attr(t, name);
  *out = NULL;
  if (!a) return NULL;
  if (a->n_ints != n)
    return cc_imp_unsupported(t->im, "op 'Scan': %s has %zu entries, expected %u", name,
                              a->n_ints, n);
  *out = a->ints;
  return NULL;
}

/* ---- Scan-8 ----------------------------------------------------------------------------
 * Inputs: sequence_lens? ([batch], i32/i64), initial states [batch, ...], scan inputs
 * [batch, seq, ...]; attribute directions (per scan input). Outputs: final states
 * [batch, ...] and scan outputs [batch, seq, ...]. Each batch element is scanned on its
 * own, so it becomes an outer loop over the batch around the Scan-9 lowering:
 *
 *   S := ScanInit...; O := ScanInit...; b := LoopBegin Shape(X0)[0]
 *     s_j := ScanSlice(S0_j, b); x_k := ScanSlice(X_k, b)
 *     [len := Cast(ScanSlice(sequence_lens, b)); x_k := x_k[0:len]]
 *     <the Scan-9 loop over x_k with carried s_j>  -> final f_j, scan outputs y_k
 *     [y_k := Pad(y_k, seq - len at the end of axis 0)]
 *     S_j := ScanAppend S_j f_j; O_k := ScanAppend O_k y_k
 *   LoopEnd
 *
 * Scan outputs past a batch element's sequence length are undefined in ONNX; they are
 * zero here (as in onnxruntime). */
static ivm_status node1(tr *t, isa_builtin_op op, const int32_t *in, uint32_t n_in,
                        int32_t *out, uint32_t *node) {
  uint32_t nd = 0;
  *out = tr_tmp(t);
  if (*out < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  IVM_TRY(add(t, op, in, n_in, out, 1, &nd));
  if (node) *node = nd;
  return NULL;
}

static ivm_status infer1(tr *t, isa_builtin_op op, const int32_t *in, uint32_t n_in,
                         int32_t *out) {
  uint32_t nd = 0;
  IVM_TRY(node1(t, op, in, n_in, out, &nd));
  return cc_infer_node(t->im->g, nd);
}

/* y := x[.., i, ..] on axis 0. */
static ivm_status slice0(tr *t, int32_t x, int32_t i, int32_t *y) {
  int32_t in[2] = {x, i};
  return infer1(t, ISA_OP_ScanSlice, in, 2, y);
}

/* y := Shape(x)[0:1]. */
static ivm_status dim0(tr *t, int32_t x, int32_t *y) {
  uint32_t nd = 0;
  IVM_TRY(node1(t, ISA_OP_Shape, &x, 1, y, &nd));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "start", 0));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "end", 1));
  return cc_infer_node(t->im->g, nd);
}

static ivm_status ints_attr(tr *t, const char *name, uint32_t n, const int64_t **out);

static ivm_status tr_scan8(tr *t, const Onnx__GraphProto *body) {
  cc_graph *g = t->im->g;
  int64_t nsi = tr_attr_int(t, "num_scan_inputs", -1);
  if (t->n_in < 2 || nsi < 1 || nsi > (int64_t)t->n_in - 1)
    return cc_imp_unsupported(t->im, "op 'Scan': bad num_scan_inputs");
  loop_spec L;
  memset(&L, 0, sizeof L);
  L.is_scan = 1;
  L.cond = CC_NONE;
  L.n_scan_in = (uint32_t)nsi;
  L.n_carried = t->n_in - 1 - L.n_scan_in;
  if (t->n_out < L.n_carried) return cc_imp_unsupported(t->im, "op 'Scan': too few outputs");
  L.n_scan_out = t->n_out - L.n_carried;
  IVM_TRY(ints_attr(t, "directions", L.n_scan_in, &L.in_dirs));
  for (uint32_t j = 1; j < t->n_in; j++) {
    if (t->in[j] < 0) return cc_imp_unsupported(t->im, "op 'Scan' with an absent input");
    const isa_type *ty = &g->values[t->in[j]].type;
    if (ty->vkind || (ty->rank >= 0 && ty->rank < (j <= L.n_carried ? 1 : 2)))
      return cc_imp_unsupported(t->im, "op 'Scan' (opset 8): input %u is not a batched tensor",
                                j);
  }
  int32_t lens = t->in[0];
  if (lens >= 0) {
    int dt = g->values[lens].type.dtype;
    if (dt != IVM_DT_I32 && dt != IVM_DT_I64)
      return cc_imp_unsupported(t->im, "op 'Scan': sequence_lens is %s, expected i32 or i64",
                                ivm_dtype_name((ivm_dtype)dt));
  }
  const int32_t *s_in = t->in + 1, *x_in = t->in + 1 + L.n_carried;
  uint32_t n_out = t->n_out;

  /* Outer accumulators (the Scan's outputs); dtypes patched once the body is known. */
  int32_t acc[MAX_IO], res[MAX_IO];
  uint32_t init_node[MAX_IO];
  for (uint32_t k = 0; k < n_out; k++) {
    isa_type ty;
    memset(&ty, 0, sizeof ty);
    ty.rank = -1;
    IVM_TRY(as_var(t, t->out[k], &ty, &acc[k]));
    g->values[acc[k]].type.dtype = IVM_DT_NONE;
    IVM_TRY(add(t, ISA_OP_ScanInit, NULL, 0, &acc[k], 1, &init_node[k]));
    IVM_TRY(cc_node_set_int(g, init_node[k], "dtype", IVM_DT_F32));
  }
  int32_t nb, b;
  IVM_TRY(dim0(t, x_in[0], &nb));
  isa_type ity;
  memset(&ity, 0, sizeof ity);
  ity.dtype = IVM_DT_I64;
  IVM_TRY(new_var(t, &ity, &b));
  IVM_TRY(add(t, ISA_OP_LoopBegin, &nb, 1, &b, 1, NULL));

  /* Batch element b. */
  int32_t init[MAX_IO], xs[MAX_IO], len = CC_NONE, len1 = CC_NONE, seq = CC_NONE;
  for (uint32_t j = 0; j < L.n_carried; j++) IVM_TRY(slice0(t, s_in[j], b, &init[j]));
  if (lens >= 0) {
    IVM_TRY(slice0(t, lens, b, &len));
    if (g->values[len].type.dtype != IVM_DT_I64) {
      uint32_t nd = 0;
      int32_t l64;
      IVM_TRY(node1(t, ISA_OP_Cast, &len, 1, &l64, &nd));
      IVM_TRY(cc_node_set_int(g, nd, "to", IVM_DT_I64));
      IVM_TRY(cc_infer_node(g, nd));
      len = l64;
    }
    int64_t one = 1;
    int32_t shp, rin[2];
    IVM_TRY(tr_const_i64(t, &one, 1, 1, &shp));
    rin[0] = len;
    rin[1] = shp;
    IVM_TRY(infer1(t, ISA_OP_Reshape, rin, 2, &len1));
  }
  for (uint32_t s = 0; s < L.n_scan_in; s++) {
    IVM_TRY(slice0(t, x_in[s], b, &xs[s]));
    if (s == 0) IVM_TRY(dim0(t, xs[0], &seq));
    if (lens >= 0) {
      /* Only the first len steps (reverse scans start at len - 1). */
      int64_t zero = 0;
      int32_t c0, sin[4];
      IVM_TRY(tr_const_i64(t, &zero, 1, 1, &c0));
      sin[0] = xs[s];
      sin[1] = c0;
      sin[2] = len1;
      sin[3] = c0;
      IVM_TRY(infer1(t, ISA_OP_Slice, sin, 4, &xs[s]));
    }
  }
  for (uint32_t k = 0; k < n_out; k++) {
    res[k] = tr_tmp(t);
    if (res[k] < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  L.init = init;
  L.scan_x = xs;
  L.out = res;
  L.trip = lens >= 0 ? len : seq;
  IVM_TRY(emit_loop(t, body, &L));

  for (uint32_t k = 0; k < n_out; k++) {
    int32_t y = res[k];
    if (k >= L.n_carried && lens >= 0) {
      /* Zeros after the first len steps: pad axis 0 at its end by seq - len. */
      int r = g->values[y].type.rank;
      if (r < 1 || r > ISA_MAX_RANK)
        return cc_imp_unsupported(t->im, "op 'Scan': scan output %u of unknown rank with "
                                  "sequence_lens", k - L.n_carried);
      int64_t zeros[ISA_MAX_RANK] = {0};
      int32_t z0, z1 = CC_NONE, d, pads, sub[2] = {seq, len1}, cat[3], pin[2];
      IVM_TRY(infer1(t, ISA_OP_Sub, sub, 2, &d));
      IVM_TRY(tr_const_i64(t, zeros, (size_t)r, 1, &z0));
      if (r > 1) IVM_TRY(tr_const_i64(t, zeros, (size_t)r - 1, 1, &z1));
      cat[0] = z0;
      cat[1] = d;
      cat[2] = z1;
      uint32_t nd = 0;
      IVM_TRY(node1(t, ISA_OP_Concat, cat, r > 1 ? 3 : 2, &pads, &nd));
      IVM_TRY(cc_node_set_int(g, nd, "axis", 0));
      IVM_TRY(cc_infer_node(g, nd));
      pin[0] = y;
      pin[1] = pads;
      IVM_TRY(infer1(t, ISA_OP_Pad, pin, 2, &y));
    }
    const isa_type *yt = &g->values[y].type;
    cc_value *a = &g->values[acc[k]];
    a->type.dtype = yt->dtype;
    a->type.rank = -1;
    if (yt->rank >= 0 && yt->rank < ISA_MAX_RANK) {
      a->type.rank = (int8_t)(yt->rank + 1);
      a->type.dims[0] = ISA_DIM_ANY;
      for (int q = 0; q < yt->rank; q++) a->type.dims[q + 1] = yt->dims[q];
    }
    IVM_TRY(cc_node_set_int(g, init_node[k], "dtype", yt->dtype));
    int32_t ain[2] = {acc[k], y};
    IVM_TRY(add(t, ISA_OP_ScanAppend, ain, 2, &acc[k], 1, NULL));
  }
  return add(t, ISA_OP_LoopEnd, NULL, 0, NULL, 0, NULL);
}

static ivm_status tr_scan(tr *t) {
  cc_graph *g = t->im->g;
  const Onnx__GraphProto *body = graph_attr(t, "body");
  if (!body) return cc_imp_unsupported(t->im, "op 'Scan' without a body");
  if (t->im->opset < 9) return tr_scan8(t, body);
  int64_t nsi = tr_attr_int(t, "num_scan_inputs", -1);
  if (nsi < 1 || nsi > t->n_in) return cc_imp_unsupported(t->im, "op 'Scan': bad num_scan_inputs");
  loop_spec L;
  memset(&L, 0, sizeof L);
  L.is_scan = 1;
  L.n_scan_in = (uint32_t)nsi;
  L.n_carried = t->n_in - L.n_scan_in;
  if (t->n_out < L.n_carried) return cc_imp_unsupported(t->im, "op 'Scan': too few outputs");
  L.n_scan_out = t->n_out - L.n_carried;
  L.init = t->in;
  L.scan_x = t->in + L.n_carried;
  L.out = t->out;
  L.cond = CC_NONE;
  IVM_TRY(ints_attr(t, "scan_input_axes", L.n_scan_in, &L.in_axes));
  IVM_TRY(ints_attr(t, "scan_input_directions", L.n_scan_in, &L.in_dirs));
  IVM_TRY(ints_attr(t, "scan_output_axes", L.n_scan_out, &L.out_axes));
  IVM_TRY(ints_attr(t, "scan_output_directions", L.n_scan_out, &L.out_dirs));
  for (uint32_t j = 0; j < t->n_in; j++)
    if (t->in[j] < 0) return cc_imp_unsupported(t->im, "op 'Scan' with an absent input");
  /* Trip count: the first scan input's length along its axis. */
  const isa_type *xt = &g->values[L.scan_x[0]].type;
  int64_t ax = L.in_axes ? L.in_axes[0] : 0;
  if (ax < 0) {
    if (xt->rank < 0) return cc_imp_unsupported(t->im, "op 'Scan': negative axis, unknown rank");
    ax += xt->rank;
  }
  int32_t m = tr_tmp(t);
  if (m < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  uint32_t nd;
  IVM_TRY(add(t, ISA_OP_Shape, &L.scan_x[0], 1, &m, 1, &nd));
  IVM_TRY(cc_node_set_int(g, nd, "start", ax));
  IVM_TRY(cc_node_set_int(g, nd, "end", ax + 1));
  IVM_TRY(cc_infer_node(g, nd));
  L.trip = m;
  return emit_loop(t, body, &L);
}

ivm_status cc_tr_control(tr *t, int *handled) {
  *handled = 0;
  if (!strcmp(t->op_type, "If")) {
    *handled = 1;
    return tr_if(t);
  }
  if (!strcmp(t->op_type, "Loop")) {
    *handled = 1;
    return tr_loop(t);
  }
  if (!strcmp(t->op_type, "Scan")) {
    *handled = 1;
    return tr_scan(t);
  }
  return NULL;
}
