/* ONNX translation of the seq op family (isa/ops_seq.def). SequenceEmpty, SequenceConstruct,
 * SequenceInsert, SequenceErase, SequenceAt, SequenceLength, SplitToSequence,
 * ConcatFromSequence, OptionalHasElement and OptionalGetElement have the canonical
 * signature and map by name. Here: Optional (its `type` attribute is a TypeProto) and
 * SequenceMap, whose body is lowered to a loop over the sequence:
 *
 *   n := SequenceLength(x0); Y_j := SequenceEmpty (vars)
 *   i := LoopBegin n
 *     e_k := SequenceAt(x_k, i) for sequence inputs (tensor inputs are read as they are)
 *     <body>
 *     Y_j := SequenceInsert(Y_j, out_j)   (in place: appends)
 *   LoopEnd
 */
#include <string.h>

#include "compiler/onnx_ops.h"

static ivm_status add(tr *t, isa_builtin_op op, const int32_t *in, uint32_t n_in,
                      const int32_t *out, uint32_t n_out, uint32_t *node) {
  uint32_t nd;
  IVM_TRY(cc_add_node(t->im->g, op, t->im->node_name, in, n_in, out, n_out, &nd));
  if (node) *node = nd;
  return NULL;
}

static ivm_status tr_optional(tr *t) {
  cc_graph *g = t->im->g;
  if (t->n_out != 1 || t->n_in > 1) return cc_imp_unsupported(t->im, "op 'Optional' arity");
  uint32_t nd;
  if (t->n_in == 1 && t->in[0] >= 0) return tr_node(t, ISA_OP_Optional, t->in, 1, t->out, 1, &nd);
  const Onnx__AttributeProto *a = tr_attr(t, "type");
  if (!a || !a->tp) return cc_imp_unsupported(t->im, "op 'Optional' without an input or a type");
  isa_type ty;
  IVM_TRY(cc_type_from_type_proto(g, a->tp, "Optional.type", &ty));
  if (ty.vkind & ISA_VK_OPT) return cc_imp_unsupported(t->im, "op 'Optional' of an optional");
  IVM_TRY(add(t, ISA_OP_Optional, NULL, 0, t->out, 1, &nd));
  IVM_TRY(cc_node_set_int(g, nd, "dtype", ty.dtype));
  return cc_node_set_int(g, nd, "elem", ty.vkind == ISA_VK_SEQ);
}

static ivm_status tr_sequence_map(tr *t) {
  cc_graph *g = t->im->g;
  const Onnx__AttributeProto *ba = tr_attr(t, "body");
  const Onnx__GraphProto *body = ba ? ba->g : NULL;
  if (!body) return cc_imp_unsupported(t->im, "op 'SequenceMap' without a body");
  if (t->n_in < 1 || t->in[0] < 0 || body->n_input != t->n_in || body->n_output != t->n_out)
    return cc_imp_unsupported(t->im, "op 'SequenceMap': %u inputs and %u outputs, the body has "
                              "%zu and %zu", t->n_in, t->n_out, body->n_input, body->n_output);
  if (g->values[t->in[0]].type.vkind != ISA_VK_SEQ)
    return cc_imp_unsupported(t->im, "op 'SequenceMap': input 0 is not a sequence");
  int32_t len = tr_tmp(t), acc[MAX_IO], iter = tr_tmp(t);
  if (len < 0 || iter < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  uint32_t nd, empty[MAX_IO];
  IVM_TRY(add(t, ISA_OP_SequenceLength, t->in, 1, &len, 1, &nd));
  IVM_TRY(cc_infer_node(g, nd));
  for (uint32_t j = 0; j < t->n_out; j++) {
    acc[j] = t->out[j] >= 0 ? t->out[j] : tr_tmp(t);
    if (acc[j] < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    cc_value *v = &g->values[acc[j]];
    v->is_var = 1;
    memset(&v->type, 0, sizeof v->type);
    v->type.rank = -1;
    v->type.vkind = ISA_VK_SEQ; /* dtype: from the body, below */
    IVM_TRY(add(t, ISA_OP_SequenceEmpty, NULL, 0, &acc[j], 1, &empty[j]));
  }
  cc_value *iv = &g->values[iter];
  iv->is_var = 1;
  memset(&iv->type, 0, sizeof iv->type);
  iv->type.dtype = IVM_DT_I64;
  IVM_TRY(add(t, ISA_OP_LoopBegin, &len, 1, &iter, 1, NULL));

  uint32_t mark = cc_imp_scope_push(t->im);
  ivm_status st = NULL;
  for (uint32_t k = 0; k < t->n_in && !st; k++) {
    const char *nm = body->input[k] && body->input[k]->name ? body->input[k]->name : "";
    int32_t x = t->in[k];
    if (x < 0) {
      st = cc_imp_unsupported(t->im, "op 'SequenceMap' with an absent input");
      break;
    }
    if (g->values[x].type.vkind == ISA_VK_SEQ) {
      int32_t e = tr_tmp(t), in2[2] = {x, iter};
      if (e < 0) st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
      if (!st) st = add(t, ISA_OP_SequenceAt, in2, 2, &e, 1, &nd);
      if (!st) st = cc_infer_node(g, nd);
      x = e;
    } else if (g->values[x].type.vkind) {
      st = cc_imp_unsupported(t->im, "op 'SequenceMap': input %u is an optional", k);
    }
    if (!st && *nm) st = cc_imp_define(t->im, nm, x);
  }
  int32_t bout[MAX_IO];
  if (!st) st = cc_imp_subgraph(t->im, body);
  for (uint32_t j = 0; j < t->n_out && !st; j++) {
    const char *nm = body->output[j] && body->output[j]->name ? body->output[j]->name : "";
    bout[j] = cc_imp_lookup(t->im, nm);
    if (bout[j] < 0) st = cc_imp_unsupported(t->im, "body output '%s' is not defined", nm);
    else if (g->values[bout[j]].type.vkind || !isa_dtype_valid(g->values[bout[j]].type.dtype))
      st = cc_imp_unsupported(t->im, "body output '%s' is not a tensor", nm);
  }
  cc_imp_scope_pop(t->im, mark);
  if (st) return ivm_status_wrap(st, "body of SequenceMap '%s'", t->im->node_name);
  for (uint32_t j = 0; j < t->n_out; j++) {
    const isa_type *yt = &g->values[bout[j]].type;
    cc_value *v = &g->values[acc[j]];
    v->type.dtype = yt->dtype;
    v->type.rank = yt->rank; /* element shape: rank kept, sizes may vary per element */
    for (int k = 0; k < yt->rank; k++) v->type.dims[k] = ISA_DIM_ANY;
    IVM_TRY(cc_node_set_int(g, empty[j], "dtype", yt->dtype));
    int32_t ins[2] = {acc[j], bout[j]};
    IVM_TRY(add(t, ISA_OP_SequenceInsert, ins, 2, &acc[j], 1, NULL));
  }
  return add(t, ISA_OP_LoopEnd, NULL, 0, NULL, 0, NULL);
}

ivm_status cc_tr_seq(tr *t, int *handled) {
  *handled = 0;
  if (!strcmp(t->op_type, "Optional")) {
    *handled = 1;
    return tr_optional(t);
  }
  if (!strcmp(t->op_type, "SequenceMap")) {
    *handled = 1;
    return tr_sequence_map(t);
  }
  return NULL;
}
