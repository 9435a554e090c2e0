/* ONNX -> IVM translation for the math op family. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_math(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
