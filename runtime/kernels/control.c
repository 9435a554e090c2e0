/* Kernels of the control op family. The structured control-flow ops and the scan
 * accumulators (ISA_OPF_CONTROL) are executed by the VM itself (vm/session.c); their
 * kernel entries only report misuse (e.g. rt_run_builtin on them). */
#include <string.h>

#include "runtime/rt.h"

static ivm_status vm_only(const char *op) {
  return ivm_error(IVM_ERR_UNSUPPORTED, "%s is executed by the VM, not by a kernel", op);
}

ivm_status rt_k_IfThen(const rt_call *call) { (void)call; return vm_only("IfThen"); }
ivm_status rt_k_Else(const rt_call *call) { (void)call; return vm_only("Else"); }
ivm_status rt_k_EndIf(const rt_call *call) { (void)call; return vm_only("EndIf"); }
ivm_status rt_k_LoopBegin(const rt_call *call) { (void)call; return vm_only("LoopBegin"); }
ivm_status rt_k_LoopEnd(const rt_call *call) { (void)call; return vm_only("LoopEnd"); }
ivm_status rt_k_ScanInit(const rt_call *call) { (void)call; return vm_only("ScanInit"); }
ivm_status rt_k_ScanAppend(const rt_call *call) { (void)call; return vm_only("ScanAppend"); }

ivm_status rt_k_Copy(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  if (x->dtype != y->dtype || rt_numel(x) != rt_numel(y))
    return ivm_error(IVM_ERR_RUNTIME, "Copy: output holds %lld elements, input %lld",
                     (long long)rt_numel(y), (long long)rt_numel(x));
  size_t n = rt_nbytes(x);
  if (n && y->data != x->data) memmove(y->data, x->data, n);
  return NULL;
}

ivm_status rt_k_ScanSlice(const rt_call *call) {
  const rt_tensor *x = call->in[0], *it = call->in[1];
  rt_tensor *y = call->out[0];
  int64_t axis = call->attrs[ISA_A_ScanSlice_axis].v.i;
  int rev = call->attrs[ISA_A_ScanSlice_reverse].v.i != 0;
  if (x->rank < 1 || rt_numel(it) != 1 || it->dtype != IVM_DT_I64)
    return ivm_error(IVM_ERR_RUNTIME, "ScanSlice: bad operands");
  if (axis < 0) axis += x->rank;
  if (axis < 0 || axis >= x->rank) return ivm_error(IVM_ERR_RUNTIME, "ScanSlice: bad axis");
  int64_t n = x->dims[axis], i = *(const int64_t *)it->data;
  if (i < 0 || i >= n)
    return ivm_error(IVM_ERR_RUNTIME, "ScanSlice: iteration %lld outside [0, %lld)", (long long)i,
                     (long long)n);
  if (rev) i = n - 1 - i;
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; k++) outer *= x->dims[k];
  for (int64_t k = axis + 1; k < x->rank; k++) inner *= x->dims[k];
  if (rt_numel(y) != outer * inner || y->dtype != x->dtype)
    return ivm_error(IVM_ERR_RUNTIME, "ScanSlice: output does not hold %lld elements",
                     (long long)(outer * inner));
  size_t es = ivm_dtype_size((ivm_dtype)x->dtype), row = (size_t)inner * es;
  const uint8_t *src = x->data;
  uint8_t *dst = y->data;
  for (int64_t o = 0; o < outer; o++)
    if (row) memcpy(dst + (size_t)o * row, src + ((size_t)o * (size_t)n + (size_t)i) * row, row);
  return NULL;
}
