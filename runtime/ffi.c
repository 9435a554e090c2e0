/* Placeholder for the ivm.ffi family (being written). */
#include "runtime/rt.h"

static ivm_status ffi_infer(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ivm.ffi ops are not built yet");
}
static ivm_status ffi_kernel(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ivm.ffi ops are not built yet");
}
static const isa_attr_schema ffi_attrs[] = {
    {"symbol", ISA_ATTR_STRING, 1, {.s = ""}},
    {"signature", ISA_ATTR_STRING, 1, {.s = ""}},
    {"library", ISA_ATTR_STRING, 0, {.s = ""}},
};
const isa_op_desc rt_ffi_family_desc = {"ivm.ffi", "*", 1, 1, ISA_VARIADIC, 1, ISA_VARIADIC,
                                        ISA_OPF_SIDE_EFFECTS, ISA_OP_KIND_FFI, 3, ffi_attrs,
                                        ffi_infer, "Y := SYMBOL(X...)", "Foreign function."};
const rt_op_impl rt_ffi_family_impl = {ffi_kernel, NULL, NULL};
