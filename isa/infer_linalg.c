/* PLACEHOLDER: replaced by the real inference rules. */
#include "isa/op.h"

ivm_status isa_infer_conv(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_conv: not implemented");
}
ivm_status isa_infer_gemm(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_gemm: not implemented");
}
ivm_status isa_infer_global_pool(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_global_pool: not implemented");
}
ivm_status isa_infer_matmul(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_matmul: not implemented");
}
ivm_status isa_infer_pool(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_pool: not implemented");
}
