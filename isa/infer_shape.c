/* PLACEHOLDER: replaced by the real inference rules. */
#include "isa/op.h"

ivm_status isa_infer_concat(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_concat: not implemented");
}
ivm_status isa_infer_constant_of_shape(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_constant_of_shape: not implemented");
}
ivm_status isa_infer_expand(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_expand: not implemented");
}
ivm_status isa_infer_flatten(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_flatten: not implemented");
}
ivm_status isa_infer_gather(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_gather: not implemented");
}
ivm_status isa_infer_pad(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_pad: not implemented");
}
ivm_status isa_infer_range(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_range: not implemented");
}
ivm_status isa_infer_reshape(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_reshape: not implemented");
}
ivm_status isa_infer_shape(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_shape: not implemented");
}
ivm_status isa_infer_size(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_size: not implemented");
}
ivm_status isa_infer_slice(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_slice: not implemented");
}
ivm_status isa_infer_split(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_split: not implemented");
}
ivm_status isa_infer_squeeze(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_squeeze: not implemented");
}
ivm_status isa_infer_tile(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_tile: not implemented");
}
ivm_status isa_infer_transpose(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_transpose: not implemented");
}
ivm_status isa_infer_unsqueeze(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "isa_infer_unsqueeze: not implemented");
}
