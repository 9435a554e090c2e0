/* ONNX -> IVM translation for the quant op family. Every ONNX form of the family's ops
 * (QuantizeLinear / DequantizeLinear 10-21, DynamicQuantizeLinear, MatMulInteger,
 * QLinearMatMul, ConvInteger, QLinearConv, SoftmaxCrossEntropyLoss and
 * NegativeLogLikelihoodLoss 12-13) has the canonical signature: the same inputs, outputs
 * and attribute names (later-opset attributes such as axis / block_size / output_dtype
 * default to the older behaviour), so the importer maps them directly by name and nothing
 * is handled here. */
#include "compiler/onnx_ops.h"

ivm_status cc_tr_quant(tr *t, int *handled) {
  (void)t;
  *handled = 0;
  return NULL;
}
