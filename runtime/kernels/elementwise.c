/* PLACEHOLDER: replaced by the real kernels. */
#include "runtime/rt.h"

ivm_status rt_k_Add(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Add: kernel not implemented");
}
ivm_status rt_k_Sub(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Sub: kernel not implemented");
}
ivm_status rt_k_Mul(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Mul: kernel not implemented");
}
ivm_status rt_k_Div(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Div: kernel not implemented");
}
ivm_status rt_k_Pow(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Pow: kernel not implemented");
}
ivm_status rt_k_Min(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Min: kernel not implemented");
}
ivm_status rt_k_Max(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Max: kernel not implemented");
}
ivm_status rt_k_Equal(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Equal: kernel not implemented");
}
ivm_status rt_k_Greater(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Greater: kernel not implemented");
}
ivm_status rt_k_Less(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Less: kernel not implemented");
}
ivm_status rt_k_Where(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Where: kernel not implemented");
}
ivm_status rt_k_Sqrt(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Sqrt: kernel not implemented");
}
ivm_status rt_k_Exp(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Exp: kernel not implemented");
}
ivm_status rt_k_Log(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Log: kernel not implemented");
}
ivm_status rt_k_Neg(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Neg: kernel not implemented");
}
ivm_status rt_k_Abs(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Abs: kernel not implemented");
}
ivm_status rt_k_Reciprocal(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Reciprocal: kernel not implemented");
}
ivm_status rt_k_Floor(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Floor: kernel not implemented");
}
ivm_status rt_k_Ceil(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Ceil: kernel not implemented");
}
ivm_status rt_k_Relu(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Relu: kernel not implemented");
}
ivm_status rt_k_LeakyRelu(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "LeakyRelu: kernel not implemented");
}
ivm_status rt_k_Sigmoid(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Sigmoid: kernel not implemented");
}
ivm_status rt_k_Tanh(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Tanh: kernel not implemented");
}
ivm_status rt_k_HardSigmoid(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "HardSigmoid: kernel not implemented");
}
ivm_status rt_k_HardSwish(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "HardSwish: kernel not implemented");
}
ivm_status rt_k_Erf(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Erf: kernel not implemented");
}
ivm_status rt_k_Not(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Not: kernel not implemented");
}
ivm_status rt_k_Clip(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Clip: kernel not implemented");
}
ivm_status rt_k_Cast(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Cast: kernel not implemented");
}
ivm_status rt_k_Identity(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Identity: kernel not implemented");
}
ivm_status rt_k_Softmax(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Softmax: kernel not implemented");
}
ivm_status rt_k_LogSoftmax(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "LogSoftmax: kernel not implemented");
}
ivm_status rt_k_BatchNormalization(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "BatchNormalization: kernel not implemented");
}
ivm_status rt_k_LayerNormalization(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "LayerNormalization: kernel not implemented");
}
ivm_status rt_k_ReduceSum(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ReduceSum: kernel not implemented");
}
ivm_status rt_k_ReduceMean(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ReduceMean: kernel not implemented");
}
ivm_status rt_k_ReduceMax(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ReduceMax: kernel not implemented");
}
ivm_status rt_k_ReduceMin(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ReduceMin: kernel not implemented");
}
