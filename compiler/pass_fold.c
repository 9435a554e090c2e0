/* Constant folding: a node whose inputs are all constants is run once at compile time
 * with the runtime's own kernels (rt_run_builtin), so folded values match run time
 * exactly. Shape/Size of a statically shaped value fold without running anything. */
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"
#include "runtime/rt.h"

static void make_const(cc_graph *g, uint32_t node, int32_t vid, int dtype, int rank,
                       const int64_t *dims, void *data, size_t nbytes) {
  cc_value *v = &g->values[vid];
  free(v->data);
  v->kind = CC_V_CONST;
  v->producer = -1;
  v->type.dtype = (uint8_t)dtype;
  v->type.rank = (int8_t)rank;
  memset(v->type.dims, 0, sizeof v->type.dims);
  for (int k = 0; k < rank; k++) v->type.dims[k] = dims[k];
  v->data = data;
  v->nbytes = nbytes;
  (void)node;
}

static ivm_status fold_shape(cc_graph *g, uint32_t node, int *folded) {
  cc_node *n = &g->nodes[node];
  const cc_value *x = &g->values[n->in[0]];
  if (!cc_type_static(&x->type) || n->out[0] < 0) return NULL;
  int64_t r = x->type.rank;
  if (n->op == ISA_OP_Size) {
    int64_t *d = malloc(sizeof *d);
    if (!d) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    *d = 1;
    for (int k = 0; k < r; k++) *d *= x->type.dims[k];
    make_const(g, node, n->out[0], IVM_DT_I64, 0, NULL, d, sizeof *d);
  } else {
    int64_t s = n->slots[ISA_A_Shape_start].v.i, e = n->slots[ISA_A_Shape_end].v.i;
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : s > r ? r : s;
    e = e < 0 ? 0 : e > r ? r : e;
    int64_t cnt = e > s ? e - s : 0;
    int64_t *d = malloc(cnt ? (size_t)cnt * sizeof *d : 1);
    if (!d) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    for (int64_t k = 0; k < cnt; k++) d[k] = x->type.dims[s + k];
    make_const(g, node, n->out[0], IVM_DT_I64, 1, &cnt, d, (size_t)cnt * sizeof *d);
  }
  n->dead = 1;
  *folded = 1;
  return NULL;
}

ivm_status cc_fold_node(cc_graph *g, uint32_t node, int *folded) {
  *folded = 0;
  cc_node *n = &g->nodes[node];
  if (n->dead) return NULL;
  /* Control instructions and writes of vars are never folded (a var is not a constant). */
  /* Only built-ins fold: a custom op's code runs when the host loads the module. */
  if (n->op == CC_OP_CUSTOM ||
      (n->desc->flags & (ISA_OPF_CONTROL | ISA_OPF_SEQ | ISA_OPF_SIDE_EFFECTS)))
    return NULL;
  for (uint32_t i = 0; i < n->n_out; i++)
    if (n->out[i] >= 0 && g->values[n->out[i]].is_var) return NULL;
  if ((n->op == ISA_OP_Shape || n->op == ISA_OP_Size) && n->in[0] >= 0)
    return fold_shape(g, node, folded);
  if (n->n_in > 16 || n->n_out > 16) return NULL;
  int any = 0;
  for (uint32_t i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) continue;
    if (g->values[n->in[i]].kind != CC_V_CONST) return NULL;
    any = 1;
  }
  if (!any) {
    /* Only ConstantOfShape-like ops have no inputs; nothing to fold. */
    return NULL;
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < n->n_out; i++) {
    if (n->out[i] < 0) continue;
    const isa_type *t = &g->values[n->out[i]].type;
    if (!cc_type_static(t)) return NULL;
    size_t nb = cc_type_nbytes(t);
    if (nb == SIZE_MAX) return NULL;
    total += nb;
  }
  if (total > CC_PLAN_MAX_FOLD_BYTES) return NULL;

  rt_tensor tin[16];
  const rt_tensor *pin[16];
  rt_tensor tout[16];
  for (uint32_t i = 0; i < n->n_in; i++) {
    pin[i] = NULL;
    if (n->in[i] < 0) continue;
    const cc_value *v = &g->values[n->in[i]];
    memset(&tin[i], 0, sizeof tin[i]);
    tin[i].data = v->data;
    tin[i].dtype = v->type.dtype;
    tin[i].rank = (uint8_t)v->type.rank;
    memcpy(tin[i].dims, v->type.dims, sizeof tin[i].dims);
    tin[i].capacity = v->nbytes;
    pin[i] = &tin[i];
  }
  ivm_status st = rt_run_builtin(n->op, n->n_in, pin, n->slots, n->n_out, tout);
  if (st) {
    /* Not fatal: the node simply runs at run time (where the error, if real, shows). */
    ivm_status_free(st);
    return NULL;
  }
  for (uint32_t i = 0; i < n->n_out; i++) {
    if (n->out[i] < 0) {
      free(tout[i].data);
      continue;
    }
    make_const(g, node, n->out[i], tout[i].dtype, tout[i].rank, tout[i].dims, tout[i].data,
               rt_nbytes(&tout[i]));
  }
  n->dead = 1;
  *folded = 1;
  return NULL;
}

ivm_status cc_pass_fold(cc_graph *g) {
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    int folded;
    IVM_TRY(cc_fold_node(g, i, &folded));
  }
  return NULL;
}
