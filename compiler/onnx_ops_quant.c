/* ONNX -> IVM translation for the quant op family. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_quant(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
