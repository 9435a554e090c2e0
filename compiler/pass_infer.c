/* Shape/type inference pass: runs each op descriptor's infer function, passing the
 * values of constant inputs so that data-dependent shapes (Reshape, Slice...) resolve. */
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"

ivm_status cc_infer_node(cc_graph *g, uint32_t node) {
  cc_node *n = &g->nodes[node];
  /* Sequence / optional values go only to seq ops (ISA_OPF_SEQ, isa/ops_seq.def); an
   * Identity of one is a deep copy. */
  if (!(n->desc->flags & ISA_OPF_SEQ))
    for (uint32_t i = 0; i < n->n_in; i++) {
      if (n->in[i] < 0 || !g->values[n->in[i]].type.vkind) continue;
      if (n->op == ISA_OP_Identity) {
        n->op = ISA_OP_CopyValue;
        n->desc = isa_builtin_desc(ISA_OP_CopyValue);
        break;
      }
      char buf[300];
      return ivm_error(IVM_ERR_UNSUPPORTED, "%s: input %u '%s' is a %s value; the op takes tensors",
                       cc_node_desc(g, node, buf, sizeof buf), i, g->values[n->in[i]].name,
                       isa_vkind_name(g->values[n->in[i]].type.vkind));
    }
  const isa_op_desc *d = n->desc;
  isa_type stack_in[8], stack_out[8];
  const void *stack_data[8];
  isa_type *tin = stack_in, *tout = stack_out;
  const void **din = stack_data;
  if (n->n_in > 8 || n->n_out > 8) {
    tin = calloc(n->n_in + 1, sizeof *tin);
    tout = calloc(n->n_out + 1, sizeof *tout);
    din = calloc(n->n_in + 1, sizeof *din);
    if (!tin || !tout || !din) {
      free(tin == stack_in ? NULL : tin);
      free(tout == stack_out ? NULL : tout);
      free(din == stack_data ? NULL : (void *)din);
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    }
  }
  for (uint32_t i = 0; i < n->n_in; i++) {
    memset(&tin[i], 0, sizeof tin[i]);
    din[i] = NULL;
    if (n->in[i] < 0) continue;
    const cc_value *v = &g->values[n->in[i]];
    tin[i] = v->type;
    if (v->kind == CC_V_CONST) din[i] = v->data;
    else if (n->loose)
      for (int k = 0; k < tin[i].rank; k++) tin[i].dims[k] = ISA_DIM_ANY;
  }
  for (uint32_t i = 0; i < n->n_out; i++) {
    memset(&tout[i], 0, sizeof tout[i]);
    tout[i].rank = -1;
  }
  isa_infer_ctx ctx = {n->n_in, tin, din, n->slots, n->n_out, tout};
  ivm_status st = d->infer(&ctx);
  if (!st)
    for (uint32_t i = 0; i < n->n_out && !st; i++) {
      if (n->out[i] < 0) continue;
      cc_value *ov = &g->values[n->out[i]];
      if (ov->kind == CC_V_CONST) continue;
      if (!ov->is_var || ov->type.dtype == IVM_DT_NONE) {
        ov->type = tout[i];
      } else if (ov->type.dtype != tout[i].dtype || ov->type.vkind != tout[i].vkind) {
        /* A var keeps the type its translator gave it; every write must agree. */
        st = ivm_error(IVM_ERR_INVALID_ARGUMENT, "var '%s' is %s %s, but this node writes %s %s",
                       ov->name, isa_vkind_name(ov->type.vkind),
                       ivm_dtype_name((ivm_dtype)ov->type.dtype), isa_vkind_name(tout[i].vkind),
                       ivm_dtype_name((ivm_dtype)tout[i].dtype));
      }
    }
  if (tin != stack_in) {
    free(tin);
    free(tout);
    free((void *)din);
  }
  if (st) {
    char buf[300];
    return ivm_status_wrap(st, "%s", cc_node_desc(g, node, buf, sizeof buf));
  }
  return NULL;
}

ivm_status cc_pass_infer(cc_graph *g) {
  for (uint32_t i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead) IVM_TRY(cc_infer_node(g, i));
  return NULL;
}
