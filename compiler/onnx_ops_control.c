/* ONNX -> IVM translation for the control op family. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_control(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
