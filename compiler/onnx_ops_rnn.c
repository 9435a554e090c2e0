/* ONNX -> IVM translation for the rnn op family. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_rnn(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
