/* Ops that only relabel the shape (Reshape, Flatten, Squeeze, Unsqueeze: a byte copy, or
 * nothing when the planner made the output an alias of the input) and the ops that read
 * the shape itself (Shape, Size). */
#include <string.h>

#include "runtime/kernels/shape_util.h"

/* Copies input 0 to output 0 unchanged; the element counts must agree. */
static ivm_status copy_same_bytes(const rt_call *call, const char *op) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  size_t n = rt_nbytes(x);
  if (rt_numel(x) != rt_numel(y) || x->dtype != y->dtype)
    return ivm_error(IVM_ERR_RUNTIME, "%s: output holds %lld elements, input %lld", op,
                     (long long)rt_numel(y), (long long)rt_numel(x));
  if (n && y->data != x->data) memmove(y->data, x->data, n);
  return NULL;
}

ivm_status rt_k_Reshape(const rt_call *call) { return copy_same_bytes(call, "Reshape"); }
ivm_status rt_k_Flatten(const rt_call *call) { return copy_same_bytes(call, "Flatten"); }
ivm_status rt_k_Squeeze(const rt_call *call) { return copy_same_bytes(call, "Squeeze"); }
ivm_status rt_k_Unsqueeze(const rt_call *call) { return copy_same_bytes(call, "Unsqueeze"); }

ivm_status rt_k_Shape(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  int64_t r = x->rank, s = call->attrs[ISA_A_Shape_start].v.i, e = call->attrs[ISA_A_Shape_end].v.i;
  if (s < 0) s += r;
  if (e < 0) e += r;
  s = s < 0 ? 0 : s > r ? r : s;
  e = e < 0 ? 0 : e > r ? r : e;
  int64_t n = e > s ? e - s : 0;
  if (y->dtype != IVM_DT_I64 || rt_numel(y) != n)
    return ivm_error(IVM_ERR_RUNTIME, "Shape: output does not hold %lld i64 values", (long long)n);
  if (n) memcpy(y->data, x->dims + s, (size_t)n * sizeof(int64_t));
  return NULL;
}

ivm_status rt_k_Size(const rt_call *call) {
  rt_tensor *y = call->out[0];
  if (y->dtype != IVM_DT_I64 || rt_numel(y) != 1)
    return ivm_error(IVM_ERR_RUNTIME, "Size: output is not one i64");
  int64_t n = rt_numel(call->in[0]);
  memcpy(y->data, &n, sizeof n);
  return NULL;
}
