/* ONNX -> IVM translation for the nn op family. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_nn(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
