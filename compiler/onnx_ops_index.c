/* ONNX -> IVM translation for the index op family (isa/ops_index.def). Ops whose ONNX form
 * equals the canonical one (GatherElements, GatherND, ScatterND, ScatterElements, OneHot,
 * TopK-10+, ArgMax, ArgMin, CumSum, Trilu, EyeLike, NonZero, ReverseSequence,
 * NonMaxSuppression) map by name; this file rewrites the others:
 *   Scatter-9/10 (deprecated)   -> ScatterElements
 *   TopK-1 (k attribute)        -> TopK with k as an i64 input
 *   Compress / Unique without axis -> Reshape(X, [-1]) then the op with axis 0 */
#include <string.h>

#include "compiler/onnx_ops.h"

/* op(Reshape(X, [-1]), ...) with axis = 0 and the node's other attributes. */
static ivm_status tr_flattened(tr *t, isa_builtin_op op, uint32_t n_out) {
  int32_t flat = tr_tmp(t), shape;
  if (flat < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  int64_t m1 = -1;
  IVM_TRY(tr_const_i64(t, &m1, 1, 1, &shape));
  int32_t rin[2] = {t->in[0], shape};
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_Reshape, rin, 2, &flat, 1, &nd));
  int32_t in[MAX_IO];
  for (uint32_t i = 0; i < t->n_in; i++) in[i] = t->in[i];
  in[0] = flat;
  IVM_TRY(tr_node(t, op, in, t->n_in, t->out, n_out, &nd));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "axis", 0));
  static const char *const ign[] = {"axis", NULL};
  return tr_copy_attrs(t, nd, ign);
}

ivm_status cc_tr_index(tr *t, int *handled) {
  const char *o = t->op_type;
  *handled = 0;
  if (!strcmp(o, "Scatter")) {
    *handled = 1;
    return tr_direct(t, ISA_OP_ScatterElements, NULL);
  }
  if (!strcmp(o, "TopK") && t->im->opset < 10) {
    *handled = 1;
    const Onnx__AttributeProto *a = tr_attr(t, "k");
    if (!a || t->n_in < 1 || t->in[0] < 0)
      return cc_imp_unsupported(t->im, "op 'TopK' (opset %lld) without k", (long long)t->im->opset);
    int64_t k = a->i;
    int32_t in[2] = {t->in[0], CC_NONE};
    IVM_TRY(tr_const_i64(t, &k, 1, 1, &in[1]));
    uint32_t nd;
    IVM_TRY(tr_node(t, ISA_OP_TopK, in, 2, t->out, t->n_out, &nd));
    static const char *const ign[] = {"k", NULL};
    return tr_copy_attrs(t, nd, ign);
  }
  if (!strcmp(o, "Compress") || !strcmp(o, "Unique")) {
    *handled = 1;
    isa_builtin_op op = o[0] == 'C' ? ISA_OP_Compress : ISA_OP_Unique;
    if (t->n_in < 1 || t->in[0] < 0)
      return cc_imp_unsupported(t->im, "op '%s' without input", o);
    if (tr_attr(t, "axis")) return tr_direct(t, op, NULL);
    return tr_flattened(t, op, t->n_out);
  }
  return NULL;
}
