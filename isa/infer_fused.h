/* The fused family (isa/ops_fused.def): the activations FusedMatMul and FusedConv may
 * apply, shared by their inference (isa/infer_fused.c), kernels (runtime/kernels/fused.c,
 * conv.c) and the passes that make them (compiler/pass_fuse_matmul.c, pass_fuse_conv.c),
 * so all of them accept the same list. */
#ifndef IVM_ISA_INFER_FUSED_H
#define IVM_ISA_INFER_FUSED_H

#include "isa/op.h"

/* The unary op named by FusedMatMul's `activation` attribute: 1 and *out = the op, or
 * ISA_OP_COUNT for "" (no activation); 0 if the name is not an activation it supports.
 * Supported: elementwise unary ops whose only attributes are alpha, beta, approximate. */
int isa_fused_activation(const char *name, isa_builtin_op *out);

/* The supported activations themselves, for the pass that looks for one. */
extern const isa_builtin_op isa_fused_activation_ops[];
extern const uint32_t isa_fused_activation_count;

/* Fills `slots` (the activation op's schema, isa_builtin_desc(act)->n_attrs entries) with
 * the op's defaults, then with the fused op's act_alpha / act_beta / act_approximate where
 * those were given and the op has that attribute. fused: the fused op's slots (may be NULL:
 * defaults only); act_slot: the index of its `activation` attribute, which the other three
 * follow in that order (ISA_A_FusedMatMul_activation, ISA_A_FusedConv_activation). */
void isa_fused_activation_attrs(isa_builtin_op act, const isa_attr *fused, int act_slot,
                                isa_attr *slots);

#endif
