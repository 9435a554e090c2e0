/* Placeholder for the ivm.expr family (being written). */
#include "runtime/expr.h"

static ivm_status expr_infer(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ivm.expr ops are not built yet");
}
static ivm_status expr_kernel(const rt_call *call) {
  (void)call;
  return ivm_error(IVM_ERR_UNSUPPORTED, "ivm.expr ops are not built yet");
}
static const isa_attr_schema expr_attrs[] = {
    {"expr", ISA_ATTR_STRING, 1, {.s = ""}},
    {"inputs", ISA_ATTR_STRING, 0, {.s = ""}},
    {"param_names", ISA_ATTR_STRING, 0, {.s = ""}},
    {"params", ISA_ATTR_FLOATS, 0, {.i = 0}},
};
const isa_op_desc rt_expr_family_desc = {"ivm.expr", "*", 1, 1, ISA_VARIADIC, 1, 1,
                                         ISA_OPF_ELEMENTWISE, ISA_OP_KIND_EXPR, 4, expr_attrs,
                                         expr_infer, "Y := EXPR(X...)", "Expression."};
const rt_op_impl rt_expr_family_impl = {expr_kernel, NULL, NULL};
