/* ONNX -> IVM translation for the signal op family.
 *
 * DFT-17, STFT-17, HannWindow / HammingWindow / BlackmanWindow-17 and MelWeightMatrix-17
 * have the canonical signatures and map by name. DFT-20 moved `axis` from an attribute to
 * an optional third input (default -2, counted from the back): it becomes the attribute
 * again when its value is a constant. */
#include <string.h>

#include "compiler/onnx_ops.h"

static ivm_status tr_dft20(tr *t) {
  int64_t axis = -2;
  if (t->n_in > 2 && t->in[2] >= 0) {
    const cc_value *v = &t->im->g->values[t->in[2]];
    if (v->kind != CC_V_CONST || !v->data)
      return cc_imp_unsupported(t->im, "op 'DFT' with a non-constant axis");
    if (v->type.dtype == IVM_DT_I64 && v->nbytes == 8) {
      memcpy(&axis, v->data, 8);
    } else if (v->type.dtype == IVM_DT_I32 && v->nbytes == 4) {
      int32_t a;
      memcpy(&a, v->data, 4);
      axis = a;
    } else {
      return cc_imp_unsupported(t->im, "op 'DFT': axis must be an i32 or i64 scalar");
    }
  }
  uint32_t nd;
  uint32_t n_in = t->n_in > 2 ? 2 : t->n_in;
  IVM_TRY(tr_node(t, ISA_OP_DFT, t->in, n_in, t->out, t->n_out, &nd));
  IVM_TRY(tr_copy_attrs(t, nd, NULL));
  return cc_node_set_int(t->im->g, nd, "axis", axis);
}

ivm_status cc_tr_signal(tr *t, int *handled) {
  *handled = 0;
  if (!strcmp(t->op_type, "DFT") && t->im->opset >= 20) {
    *handled = 1;
    return tr_dft20(t);
  }
  return NULL;
}
