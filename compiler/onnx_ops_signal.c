/* ONNX -> IVM translation for the signal op family. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_signal(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
