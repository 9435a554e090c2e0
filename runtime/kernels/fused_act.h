/* A fused op's activation (FusedMatMul, FusedConv): its name looked up among the fused
 * activations and its act_alpha / act_beta / act_approximate mapped onto the activation
 * op's own attribute slots. Resolved once at load by the ops' prepare hook and handed to
 * the kernel as call->state; a kernel run without one (constant folding, tests) resolves
 * it per call. */
#ifndef IVM_RUNTIME_KERNELS_FUSED_ACT_H
#define IVM_RUNTIME_KERNELS_FUSED_ACT_H

#include "runtime/rt.h"

typedef struct rt_fused_act {
  isa_builtin_op op; /* ISA_OP_COUNT: none */
  isa_attr attrs[16];
} rt_fused_act;

/* From the fused op's attributes; act_slot: its `activation` slot. */
ivm_status rt_fused_act_resolve(const isa_attr *fused, int act_slot, const char *op_name,
                                rt_fused_act *out);
/* call->state when the prepare hook made it, else resolved into *tmp. */
ivm_status rt_fused_act_of(const rt_call *call, int act_slot, const char *op_name,
                           rt_fused_act *tmp, const rt_fused_act **out);

/* The registry entries of FusedMatMul and FusedConv: kernel and prepare hook. */
extern const rt_op_impl rt_fused_matmul_impl, rt_fused_conv_impl;

#endif
