/* PLACEHOLDER: replaced by the real kernels. */
#include "runtime/rt.h"

ivm_status rt_k_MatMul(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "MatMul: kernel not implemented");
}
ivm_status rt_k_Gemm(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Gemm: kernel not implemented");
}
ivm_status rt_k_Conv(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Conv: kernel not implemented");
}
ivm_status rt_k_MaxPool(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "MaxPool: kernel not implemented");
}
ivm_status rt_k_AveragePool(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "AveragePool: kernel not implemented");
}
ivm_status rt_k_GlobalAveragePool(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "GlobalAveragePool: kernel not implemented");
}
