/* ONNX -> IVM translation for the index op family. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_index(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
