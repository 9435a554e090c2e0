/* Kernels of the seq op family (isa/ops_seq.def). Sequences and optionals are owned by the
 * session, so these ops (ISA_OPF_SEQ) are executed by the VM itself (vm/seq.c); their
 * kernel entries only report misuse (e.g. rt_run_builtin on them). */
#include "runtime/rt.h"

static ivm_status vm_only(const char *op) {
  return ivm_error(IVM_ERR_UNSUPPORTED, "%s is executed by the VM, not by a kernel", op);
}

#define SEQ_VM_ONLY(Name) \
  ivm_status rt_k_##Name(const rt_call *call) { (void)call; return vm_only(#Name); }
SEQ_VM_ONLY(SequenceEmpty)
SEQ_VM_ONLY(SequenceConstruct)
SEQ_VM_ONLY(SequenceInsert)
SEQ_VM_ONLY(SequenceErase)
SEQ_VM_ONLY(SequenceAt)
SEQ_VM_ONLY(SequenceLength)
SEQ_VM_ONLY(SplitToSequence)
SEQ_VM_ONLY(ConcatFromSequence)
SEQ_VM_ONLY(Optional)
SEQ_VM_ONLY(OptionalHasElement)
SEQ_VM_ONLY(OptionalGetElement)
SEQ_VM_ONLY(CopyValue)
