/* Identity removal and dead-code elimination. */
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"

ivm_status cc_pass_identity(cc_graph *g) {
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    cc_node *n = &g->nodes[i];
    /* A loose Identity hides its input's static shape from the node after it (an If
     * branch that would not infer for the shapes given, onnx_import.c): it stays. */
    if (n->dead || n->op != ISA_OP_Identity || n->loose || n->in[0] < 0 || n->out[0] < 0)
      continue;
    int32_t x = n->in[0], y = n->out[0];
    if (x == y) continue;
    /* A var changes value over time: y = Identity(var) is a snapshot, not an alias. */
    if (g->values[x].is_var || g->values[y].is_var) continue;
    if (!g->values[y].is_output) {
      n->dead = 1;
      cc_replace_uses(g, y, x);
      g->values[y].producer = -1;
      continue;
    }
    /* y must keep its ONNX name: let x's producer write y directly, when x is an
     * ordinary intermediate that is not itself a graph output. */
    cc_value *xv = &g->values[x];
    if (xv->kind != CC_V_INTER || xv->is_output || xv->producer < 0) continue;
    cc_node *p = &g->nodes[xv->producer];
    if (p->dead) continue;
    int32_t pid = xv->producer;
    for (uint32_t k = 0; k < p->n_out; k++)
      if (p->out[k] == x) p->out[k] = y;
    n->dead = 1;
    cc_replace_uses(g, x, y);
    g->values[y].producer = pid;
    g->values[y].type = xv->type;
    xv->producer = -1;
  }
  return NULL;
}

ivm_status cc_pass_dce(cc_graph *g) {
  uint8_t *live = calloc(g->n_values + 1, 1);
  if (!live) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  for (uint32_t i = 0; i < g->n_outputs; i++) live[g->outputs[i]] = 1;
  for (uint32_t i = g->n_nodes; i-- > 0;) {
    cc_node *n = &g->nodes[i];
    if (n->dead) continue;
    /* Control instructions and writes of vars stay (liveness through loop back edges is
     * not tracked here; keeping them is conservative). */
    int used = (n->desc->flags & (ISA_OPF_CONTROL | ISA_OPF_SIDE_EFFECTS)) != 0;
    for (uint32_t k = 0; k < n->n_out; k++)
      if (n->out[k] >= 0 && (live[n->out[k]] || g->values[n->out[k]].is_var)) used = 1;
    if (!used) {
      n->dead = 1;
      continue;
    }
    for (uint32_t k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) live[n->in[k]] = 1;
  }
  free(live);
  return NULL;
}
