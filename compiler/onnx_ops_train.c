/* ONNX -> IVM translation for the train op family (isa/ops_train.def).
 *
 *   Adagrad, Adam, Momentum   domain ai.onnx.preview.training (opset 1), same inputs,
 *                             outputs and attributes as the canonical ops; refused in
 *                             any other domain.
 *   TfIdfVectorizer           canonical; pool_strings (string tensors) is unsupported.
 *   Dropout, training mode    reached from onnx_ops.c's tr_dropout when training_mode is
 *                             not a constant false (opset >= 12) or is_test = 0 (opset
 *                             < 7): the train family's Dropout op (X, ratio?,
 *                             training_mode?; seed). Opset < 7's ratio attribute becomes
 *                             a constant input and its mask (X's dtype) a Cast of the
 *                             bool mask. */
#include <string.h>

#include "compiler/onnx_ops.h"

#define TRAIN_DOMAIN "ai.onnx.preview.training"

static int in_training_domain(const tr *t) {
  return t->n->domain && strcmp(t->n->domain, TRAIN_DOMAIN) == 0;
}

static ivm_status tr_optimizer(tr *t, isa_builtin_op op) {
  if (!in_training_domain(t))
    return cc_imp_unsupported(t->im, "op '%s' outside domain '" TRAIN_DOMAIN "'", t->op_type);
  for (uint32_t i = 0; i < t->n_in; i++)
    if (t->in[i] < 0) return cc_imp_unsupported(t->im, "op '%s' with absent input %u", t->op_type, i);
  return tr_direct(t, op, NULL);
}

static ivm_status tr_tfidf(tr *t) {
  const Onnx__AttributeProto *ps = tr_attr(t, "pool_strings");
  if (ps && ps->n_strings)
    return cc_imp_unsupported(t->im, "op 'TfIdfVectorizer' with pool_strings (string tensors are not supported)");
  static const char *const ign[] = {"pool_strings", NULL};
  return tr_direct(t, ISA_OP_TfIdfVectorizer, ign);
}

static ivm_status tr_dropout_training(tr *t) {
  uint32_t nd;
  if (t->im->opset >= 12) return tr_direct(t, ISA_OP_Dropout, NULL);
  if (t->im->opset >= 7)
    return cc_imp_unsupported(t->im, "op 'Dropout' in training mode (opset %lld has no training_mode)",
                              (long long)t->im->opset);
  /* Dropout-1/6 with is_test = 0: ratio attribute, mask of X's dtype. */
  int32_t in[3] = {t->in[0], CC_NONE, CC_NONE};
  IVM_TRY(tr_const_scalar(t, IVM_DT_F32, tr_attr_float(t, "ratio", 0.5f), 0, &in[1]));
  IVM_TRY(tr_const_scalar(t, IVM_DT_BOOL, 1, 0, &in[2]));
  int want_mask = t->n_out > 1 && t->out[1] >= 0;
  int32_t out[2] = {t->out[0], CC_NONE};
  if (want_mask) {
    out[1] = tr_tmp(t);
    if (out[1] < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  IVM_TRY(tr_node(t, ISA_OP_Dropout, in, 3, out, want_mask ? 2 : 1, &nd));
  if (!want_mask) return NULL;
  IVM_TRY(tr_node(t, ISA_OP_Cast, &out[1], 1, &t->out[1], 1, &nd));
  return cc_node_set_int(t->im->g, nd, "to", tr_vtype(t, t->in[0])->dtype);
}

ivm_status cc_tr_train(tr *t, int *handled) {
  const char *o = t->op_type;
  *handled = 1;
  if (!strcmp(o, "Adagrad")) return tr_optimizer(t, ISA_OP_Adagrad);
  if (!strcmp(o, "Adam")) return tr_optimizer(t, ISA_OP_Adam);
  if (!strcmp(o, "Momentum")) return tr_optimizer(t, ISA_OP_Momentum);
  if (!strcmp(o, "TfIdfVectorizer")) return tr_tfidf(t);
  if (!strcmp(o, "Dropout")) return tr_dropout_training(t);
  *handled = 0;
  return NULL;
}
