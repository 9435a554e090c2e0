/* PLACEHOLDER: replaced by the real inference rules. */
#include "isa/op.h"

ivm_status isa_infer_batchnorm(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_batchnorm: not implemented");
}
ivm_status isa_infer_broadcast(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_broadcast: not implemented");
}
ivm_status isa_infer_cast(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_cast: not implemented");
}
ivm_status isa_infer_clip(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_clip: not implemented");
}
ivm_status isa_infer_compare(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_compare: not implemented");
}
ivm_status isa_infer_layernorm(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_layernorm: not implemented");
}
ivm_status isa_infer_pow(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_pow: not implemented");
}
ivm_status isa_infer_reduce(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_reduce: not implemented");
}
ivm_status isa_infer_unary(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_unary: not implemented");
}
ivm_status isa_infer_where(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_where: not implemented");
}
