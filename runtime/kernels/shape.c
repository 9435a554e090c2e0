/* PLACEHOLDER: replaced by the real kernels. */
#include "runtime/rt.h"

ivm_status rt_k_Reshape(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Reshape: kernel not implemented");
}
ivm_status rt_k_Flatten(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Flatten: kernel not implemented");
}
ivm_status rt_k_Squeeze(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Squeeze: kernel not implemented");
}
ivm_status rt_k_Unsqueeze(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Unsqueeze: kernel not implemented");
}
ivm_status rt_k_Transpose(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Transpose: kernel not implemented");
}
ivm_status rt_k_Concat(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Concat: kernel not implemented");
}
ivm_status rt_k_Split(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Split: kernel not implemented");
}
ivm_status rt_k_Slice(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Slice: kernel not implemented");
}
ivm_status rt_k_Gather(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Gather: kernel not implemented");
}
ivm_status rt_k_Expand(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Expand: kernel not implemented");
}
ivm_status rt_k_Tile(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Tile: kernel not implemented");
}
ivm_status rt_k_Pad(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Pad: kernel not implemented");
}
ivm_status rt_k_Shape(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Shape: kernel not implemented");
}
ivm_status rt_k_Size(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Size: kernel not implemented");
}
ivm_status rt_k_ConstantOfShape(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ConstantOfShape: kernel not implemented");
}
ivm_status rt_k_Range(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "Range: kernel not implemented");
}
